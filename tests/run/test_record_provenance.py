"""Provenance that cannot lie: answers from a non-default endpoint are marked so; costs from a fake or replay
are estimates, not spend; `record --card` records for the given card and stores the card/scenario hashes."""

from __future__ import annotations

import json
from pathlib import Path

from agenteval.backends.env import cost_note, is_default_endpoint
from agenteval.testing.fake_api import FakeAnthropicAPI
from tests.conftest import CARD, REPO
from tests.run.test_storm import _agenteval, _env


def test_default_endpoint_detection() -> None:
    assert is_default_endpoint(None) and is_default_endpoint("https://api.anthropic.com")
    assert not is_default_endpoint("http://127.0.0.1:8080")
    assert not is_default_endpoint("https://api.anthropic.com.evil.example")
    assert cost_note({"name": "replay"}) and "nothing was spent" in cost_note({"name": "replay"})
    assert "non-default endpoint" in (cost_note({"name": "anthropic", "base_url": "http://127.0.0.1:1"}) or "")
    assert cost_note({"name": "anthropic", "base_url": "https://api.anthropic.com"}) is None


def test_record_against_a_fake_is_marked(tmp_path: Path) -> None:
    card = tmp_path / "card.md"
    card.write_text(CARD.read_text())
    (tmp_path / "agenteval.yaml").write_text(
        f"card: {REPO / 'cards' / 'mlops-engineer.md'}\nscenarios: [{REPO / 'scenarios'}]\n"
        f"fixtures: {REPO / 'scenarios' / 'fixtures'}\nrecordings: {tmp_path / 'recs'}\n"
        f"output_dir: {tmp_path / 'results'}\nreport: false\n")
    with FakeAnthropicAPI() as fake:
        env = _env(fake, tmp_path)
        p = _agenteval("record", "--config", str(tmp_path / "agenteval.yaml"), "--card", str(card),
                       "--scenarios", "audit-broken-pipeline", "--modes", "critical", "--roles", "solo", env=env)
        assert p.returncode == 0, p.stderr[-2000:]
        assert "Cost (estimate at list prices: answers from the non-default endpoint" in p.stdout
    recs = [json.loads(ln) for ln in (tmp_path / "recs" / "audit-broken-pipeline.jsonl").read_text().splitlines()]
    assert len(recs) == 1
    prov = recs[0]["provenance"]
    assert prov["producer"] == "non-default-endpoint" and prov["endpoint"] == "non-default"
    assert "live Messages API call" not in prov["method"] and fake.base_url in prov["method"]
    assert prov["base_url"] == fake.base_url.rstrip("/") or prov["base_url"].startswith("http://127.0.0.1")
    run = Path(p.stdout.strip().splitlines()[-1])
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["card"]["path"] == str(card)  # --card was used
    assert prov["card_hash"] == manifest["card"]["content_hash"]
    by_id = {sc["id"]: sc["content_hash"] for sc in manifest["scenarios"]}
    assert prov["scenario_hash"] == by_id["audit-broken-pipeline"]
