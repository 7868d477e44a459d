"""The command line from outside: exit codes, one-line errors, the run contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CARD, REPO


def cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agenteval.cli", *args], cwd=cwd or REPO, capture_output=True,
                          text=True, timeout=120, env=env)


def assert_one_line_error(p: subprocess.CompletedProcess, *needles: str) -> None:
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    err = p.stderr.strip().splitlines()
    assert len([ln for ln in err if ln.startswith("agenteval: error:")]) == 1, p.stderr
    assert "Traceback" not in p.stderr
    for n in needles:
        assert n in p.stderr, p.stderr


def test_help_lists_commands():
    p = cli("--help")
    assert p.returncode == 0
    for c in ("run", "validate", "schema", "lint-card", "prompt", "score", "scenarios", "record"):
        assert c in p.stdout


def test_lint_card_codes(tmp_path):
    p = cli("lint-card", str(CARD))
    assert p.returncode == 0
    assert p.stdout.strip() == f"{CARD}:51: warning: list item written on its key's line (invalid YAML); " \
                               "repaired as a block list"
    assert cli("lint-card", "--strict", str(CARD)).returncode == 1
    bad = tmp_path / "bad.md"
    bad.write_text("---\ndescription: no name\n---\n# X\n")  # nothing to evaluate without a name
    p = cli("lint-card", str(bad))
    assert p.returncode == 1 and ": error:" in p.stdout
    odd = tmp_path / "odd.md"
    odd.write_text("---\nname: x\n---\n# X\n")  # loads with warnings (issue 13)
    p = cli("lint-card", str(odd))
    assert p.returncode == 0 and ": warning:" in p.stdout and ": error:" not in p.stdout
    p = cli("lint-card", str(tmp_path / "missing.md"))
    assert_one_line_error(p, "missing.md")


def test_schema_is_json():
    p = cli("schema")
    assert p.returncode == 0
    assert json.loads(p.stdout)["title"] == "agenteval scenario"


def _project(tmp_path: Path, mini_suite: Path) -> Path:
    (tmp_path / "agenteval.yaml").write_text(
        f"card: {CARD}\nscenarios: [scenarios]\nfixtures: scenarios/fixtures\nrecordings: recs\n"
        "output_dir: results\nreport: false\n")
    return tmp_path


def test_validate_and_bad_scenario(tmp_path, mini_suite):
    proj = _project(tmp_path, mini_suite)
    p = cli("validate", cwd=proj)
    assert p.returncode == 0, p.stderr
    assert "2 scenario(s) valid" in p.stdout
    (mini_suite / "broken.yaml").write_text("id: broken\ntitle: x\ntool_mode: audit\nexpect: {should_escalate: no}\n")
    p = cli("validate", cwd=proj)
    assert_one_line_error(p, "broken.yaml", "prompt")


def test_prompt_prints_exact_request(tmp_path, mini_suite):
    proj = _project(tmp_path, mini_suite)
    p = cli("prompt", "--scenario", "mini-audit", "--mode", "critical", "--role", "solo", "--json", cwd=proj)
    assert p.returncode == 0, p.stderr
    body = json.loads(p.stdout)
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    p = cli("prompt", "--scenario", "mini-audit", "--mode", "dreamy", "--role", "solo", cwd=proj)
    assert_one_line_error(p, "--mode", "dreamy")


def test_run_usage_errors(tmp_path, mini_suite):
    proj = _project(tmp_path, mini_suite)
    assert_one_line_error(cli("run", "--modes", "dreamy", cwd=proj), "--modes", "dreamy")
    assert_one_line_error(cli("run", "--backend", "nope", cwd=proj), "--backend")
    assert_one_line_error(cli("run", "--card", str(tmp_path / "nope.md"), cwd=proj), "nope.md")
    assert not (proj / "results").exists() or not any((proj / "results").iterdir())


@pytest.mark.parametrize("text,needle", [
    ("card: [unclosed\n", "agenteval.yaml"),
    ("colour: blue\n", "colour"),
    ("epochs: many\n", "epochs"),
])
def test_bad_config(tmp_path, text, needle):
    (tmp_path / "agenteval.yaml").write_text(text)
    assert_one_line_error(cli("run", cwd=tmp_path), needle)
