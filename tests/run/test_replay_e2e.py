"""The replay path end to end: record (authored) → run → scores/manifest/summary → resume."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import cli
from tests.conftest import CARD

GOOD = """## Findings
The scaler is fitted before the split, so validation rows leak into training.

**Result**: Found data leakage in the training pipeline.
**Confidence**: high
**Uncertainty Factors**: Only train.py was reviewed.
**Verification**: Re-run with the split first and compare AUC.
"""
BAD = "Looks fine to me, ship it."


def _project(tmp_path: Path) -> Path:
    (tmp_path / "agenteval.yaml").write_text(
        f"card: {CARD}\nscenarios: [scenarios]\nfixtures: scenarios/fixtures\nrecordings: recs\n"
        "output_dir: results\nreport: false\nconcurrency: 3\n")
    return tmp_path


def _author(proj: Path, cells: list[tuple[str, str, str, str]]) -> None:
    f = proj / "authored.jsonl"
    f.write_text("".join(json.dumps({"scenario_id": s, "mode": m, "role": r, "response": t}) + "\n"
                         for s, m, r, t in cells))
    p = cli("record", "--from-responses", str(f), "--producer", "pytest", "--method", "hand-written fixture",
            cwd=proj)
    assert p.returncode == 0, p.stderr


def test_replay_run_scores_skips_and_flags_stale(tmp_path, mini_suite):
    proj = _project(tmp_path)
    cells = [("mini-audit", m, "solo", GOOD if m == "critical" else BAD)
             for m in ("generative", "critical", "evaluative")]  # informative left unrecorded
    cells.append(("mini-design", "critical", "solo", GOOD))
    _author(proj, cells)
    recs = [json.loads(ln) for ln in (proj / "recs" / "mini-audit.jsonl").read_text().splitlines()]
    assert recs[0]["provenance"]["producer"] == "pytest"
    # edit mini-design's prompt after recording: its recording becomes stale
    sfile = mini_suite / "mini-design.yaml"
    sfile.write_text(sfile.read_text().replace("Review it.", "Review it carefully."))

    p = cli("run", "--roles", "solo", cwd=proj)
    assert p.returncode == 0, p.stderr
    assert "replay" in p.stderr and "no API calls" in p.stderr
    run_dir = Path(p.stdout.strip().splitlines()[-1])
    assert run_dir.is_dir() and run_dir.parent == proj / "results"

    scores = [json.loads(ln) for ln in (run_dir / "scores.jsonl").read_text().splitlines()]
    assert len(scores) == 8  # 2 scenarios × 4 modes × solo
    by_id = {s["id"]: s for s in scores}
    assert by_id["mini-audit/informative/solo/1"]["status"] == "skipped"
    crit = by_id["mini-audit/critical/solo/1"]
    assert crit["status"] == "ok" and crit["envelope_ok"] is True and crit["confidence_level"] == "high"
    assert crit["stale"] is False
    assert by_id["mini-audit/generative/solo/1"]["envelope_ok"] is False
    assert by_id["mini-design/critical/solo/1"]["stale"] is True
    for s in scores:
        assert {"scenario_id", "mode", "role", "epoch", "status", "envelope_ok", "confidence_level",
                "escalated", "never_violations", "checks"} <= set(s)

    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "finished"
    assert manifest["card"]["version"] == "1.0.0"
    assert manifest["card"]["content_hash"].startswith("sha256:")
    assert {s["id"] for s in manifest["scenarios"]} == {"mini-audit", "mini-design"}
    assert manifest["backend"]["name"] == "replay"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["counts"] == {"planned": 8, "ok": 4, "error": 0, "skipped": 4, "stale": 1, "judge_missing": 0}
    assert "skipped 4" in p.stdout and "stale 1" in p.stdout

    # resume of a finished run repeats nothing
    n_journal = len((run_dir / "transcripts.jsonl").read_text().splitlines())
    p2 = cli("run", "--resume", str(run_dir), cwd=proj)
    assert p2.returncode == 0, p2.stderr
    assert len((run_dir / "transcripts.jsonl").read_text().splitlines()) == n_journal


def test_resume_after_torn_journal(tmp_path, mini_suite):
    proj = _project(tmp_path)
    _author(proj, [("mini-audit", m, r, GOOD) for m in ("generative", "critical", "evaluative", "informative")
                   for r in ("solo", "panel_member")])
    p = cli("run", "--scenarios", "mini-audit", cwd=proj)
    assert p.returncode == 0, p.stderr
    run_dir = Path(p.stdout.strip().splitlines()[-1])
    journal = run_dir / "transcripts.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    assert len(lines) == 8
    # simulate a crash: keep 3 finished lines plus a torn fourth, mark the run interrupted
    journal.write_text("".join(lines[:3]) + lines[3][: len(lines[3]) // 2])
    (run_dir / "scores.jsonl").unlink()
    m = json.loads((run_dir / "manifest.json").read_text())
    m["status"] = "interrupted"
    (run_dir / "manifest.json").write_text(json.dumps(m))
    p2 = cli("run", "--resume", str(run_dir), cwd=proj)
    assert p2.returncode == 0, p2.stderr
    recs = [json.loads(ln) for ln in journal.read_text().splitlines()]
    assert len(recs) == 8 and len({r["item_id"] for r in recs}) == 8
    assert len((run_dir / "scores.jsonl").read_text().splitlines()) == 8
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "finished"


def test_resume_refused_when_card_changed(tmp_path, mini_suite):
    proj = _project(tmp_path)
    card_copy = tmp_path / "card.md"
    card_copy.write_text(CARD.read_text())
    (proj / "agenteval.yaml").write_text((proj / "agenteval.yaml").read_text().replace(str(CARD), str(card_copy)))
    _author(proj, [("mini-audit", "critical", "solo", GOOD)])
    p = cli("run", "--scenarios", "mini-audit", "--modes", "critical", "--roles", "solo", cwd=proj)
    assert p.returncode == 0, p.stderr
    run_dir = Path(p.stdout.strip().splitlines()[-1])
    card_copy.write_text(card_copy.read_text().replace("version: 1.0.0", "version: 1.0.1"))
    # an interrupted run (a finished one has nothing to resume and is left alone)
    mf = run_dir / "manifest.json"
    mf.write_text(mf.read_text().replace('"status": "finished"', '"status": "interrupted"'))
    p2 = cli("run", "--resume", str(run_dir), cwd=proj)
    assert p2.returncode == 2 and "card changed" in p2.stderr
