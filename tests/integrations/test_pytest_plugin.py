"""The pytest plugin, exercised in real pytest subprocesses (loaded through the pytest11 entry point)."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

import runfactory as rf
from agenteval.analysis.metrics import failed_checks, item_passed

ROOT = Path(__file__).resolve().parents[2]
SPEC = rf.Spec(
    scenarios=["sc-00", "sc-01", "sc-02"], modes=("generative", "critical"), roles=("solo",), epochs=2
)
PERFECT = rf.Profile(
    envelope=1.0,
    violation=0.0,
    escalate_when_should=1.0,
    escalate_when_not=0.0,
    threshold_rule=1.0,
    mode_adherence=1.0,
    role_adherence=1.0,
    scenario_spread=0.0,
)


def run_pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest in a fresh process, rooted in ``cwd`` (an empty pytest.ini pins the rootdir).

    Unrelated plugins are switched off to keep start-up short; the agenteval plugin loads as usual.
    """
    (cwd / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    quiet = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark", "-p", "no:anyio"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", *quiet, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def counts(out: str) -> dict[str, int]:
    last = [
        ln
        for ln in out.splitlines()
        if " in " in ln and ("passed" in ln or "failed" in ln or "skipped" in ln)
    ]
    return {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|deselected|error)", last[-1])}


def test_cells_become_items_with_failed_checks_and_reasons(tmp_path: Path) -> None:
    lines = rf.make_lines(SPEC, dataclasses.replace(PERFECT, envelope=0.7), seed=2)
    run = rf.write_run(tmp_path / "run", lines)
    cells: dict[tuple[str, str, str], bool] = {}
    for s in lines:
        key = (s.scenario_id, s.mode, s.role)
        cells[key] = cells.get(key, True) and bool(item_passed(s))
    n_fail = sum(not ok for ok in cells.values())
    assert 0 < n_fail < len(cells)
    r = run_pytest(tmp_path, "--agenteval-run", str(run), "-m", "agenteval")
    assert r.returncode == 1, r.stdout + r.stderr
    assert counts(r.stdout) == {"failed": n_fail, "passed": len(cells) - n_fail}
    bad = next(s for s in lines if not item_passed(s))
    from agenteval.analysis.verdict import grouped_failures

    assert f"epoch {bad.epoch}: {grouped_failures(failed_checks(bad))[0]}" in r.stdout  # one line per cause
    assert f"{bad.scenario_id}/{bad.mode}/{bad.role}" in r.stdout
    assert "Traceback" not in r.stdout and "def runtest" not in r.stdout  # the reasons, not plugin code
    # -k selects among the cells; --agenteval-k relaxes "every epoch"
    r_k = run_pytest(tmp_path, "--agenteval-run", str(run), "-k", "sc-01 and critical")
    assert sum(counts(r_k.stdout).get(k, 0) for k in ("passed", "failed")) == 1
    r_any = run_pytest(tmp_path, "--agenteval-run", str(run), "--agenteval-k", "1")
    assert counts(r_any.stdout).get("failed", 0) <= n_fail


def test_all_passing_run_and_stale_and_skipped_cells(tmp_path: Path) -> None:
    lines = rf.make_lines(SPEC, PERFECT)
    good = rf.write_run(tmp_path / "good", lines)
    r = run_pytest(tmp_path, "--agenteval-run", str(good))
    assert r.returncode == 0, r.stdout + r.stderr
    assert counts(r.stdout) == {"passed": 6}
    # stale answers in one cell, a whole cell skipped in another
    mixed = []
    for s in lines:
        if (s.scenario_id, s.mode) == ("sc-00", "generative"):
            s = s.model_copy(update={"stale": True})
        elif (s.scenario_id, s.mode) == ("sc-01", "critical"):
            s = s.model_copy(update={"status": "skipped", "checks": [], "envelope_ok": None})
        mixed.append(s)
    run = rf.write_run(tmp_path / "mixed", mixed)
    r = run_pytest(tmp_path, "--agenteval-run", str(run), "-rs")
    assert r.returncode == 1
    assert counts(r.stdout) == {"failed": 1, "passed": 4, "skipped": 1}
    assert "stale answer (recorded for a different card or scenario text)" in r.stdout
    assert "no scored epoch" in r.stdout
    r2 = run_pytest(tmp_path, "--agenteval-run", str(run), "--agenteval-allow-stale")
    assert r2.returncode == 0 and counts(r2.stdout) == {"passed": 5, "skipped": 1}


def test_plugin_is_inert_without_its_options(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text(
        "import sys\n\n"
        "def test_nothing_heavy_loaded(pytestconfig):\n"
        "    assert pytestconfig.pluginmanager.has_plugin('agenteval')\n"
        "    names = ('pandas', 'matplotlib', 'scipy', 'datasets', 'jinja2', 'agenteval.views.report')\n"
        "    heavy = [m for m in names if m in sys.modules]\n"
        "    assert heavy == []\n",
        encoding="utf-8",
    )
    r = run_pytest(tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert counts(r.stdout) == {"passed": 1}
    h = run_pytest(tmp_path, "--help")
    assert "--agenteval-run" in h.stdout


def test_bad_run_dir_is_a_collection_error(tmp_path: Path) -> None:
    r = run_pytest(tmp_path, "--agenteval-run", str(tmp_path / "nope"))
    assert r.returncode == 2
    assert "not a run directory" in r.stdout and "Traceback" not in r.stdout


def test_agenteval_start_failure_is_a_usage_error(tmp_path: Path) -> None:
    r = run_pytest(tmp_path, "--agenteval-start", "--backend nope")
    assert r.returncode != 0
    assert "agenteval run failed (exit 2)" in r.stderr + r.stdout


@pytest.mark.skipif(not (ROOT / "agenteval.yaml").exists(), reason="needs the project config")
def test_agenteval_start_runs_then_tests(tmp_path: Path) -> None:
    """A replay run started from pytest (no recordings: every cell is skipped, none fails)."""
    args = (
        f"--config {ROOT / 'agenteval.yaml'} --output-dir {tmp_path / 'results'} "
        f"--recordings {tmp_path / 'no-recordings'} --scenarios audit-broken-pipeline --modes critical"
    )
    r = run_pytest(tmp_path, "--agenteval-start", args, "-m", "agenteval")
    assert r.returncode in (0, 5) or counts(r.stdout).get("skipped"), r.stdout + r.stderr
    assert "agenteval:" in r.stdout
    assert list((tmp_path / "results").glob("*/scores.jsonl"))
