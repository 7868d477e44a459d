"""gate --calibrate-from: thresholds from a baseline pass on the baseline and fail on a real regression."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import runfactory as rf
from agenteval.cli import main
from agenteval.views.gate import calibrate, load_gate_config, run_gate

ROOT = Path(__file__).resolve().parents[2]
SPEC = rf.Spec(scenarios=[f"sc-{i:02d}" for i in range(12)], epochs=3)
GOOD = rf.Profile(envelope=0.85, violation=0.04)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cal")
    return {
        "base": rf.make_run(d / "base", SPEC, GOOD, seed=3),
        "envelope_drop": rf.make_run(d / "env", SPEC, rf.Profile(envelope=0.55, violation=0.04), seed=3),
        "never_up": rf.make_run(d / "never", SPEC, rf.Profile(envelope=0.85, violation=0.25), seed=3),
    }


def _calibrated(runs: dict[str, Path], tmp_path: Path) -> Path:
    out = tmp_path / "gates.yaml"
    assert main(["gate", "--calibrate-from", str(runs["base"]), "--out", str(out), "--config",
                 str(tmp_path / "absent.yaml")]) == 0
    return out


def test_calibrated_gates_pass_on_the_baseline(runs: dict[str, Path], tmp_path: Path) -> None:
    out = _calibrated(runs, tmp_path)
    cfg = load_gate_config(out)
    assert cfg.calibrated_from is not None and cfg.calibrated_from.run == "base"
    assert "envelope_strict" in cfg.metrics and "*" in cfg.never_rules
    assert cfg.k_of_n.k == cfg.k_of_n.n == 3
    assert main(["gate", str(runs["base"]), "--config", str(out)]) == 0


@pytest.mark.parametrize(("run", "gate"), [("envelope_drop", "envelope_strict"), ("never_up", "never_clean")])
def test_real_regression_fails(runs: dict[str, Path], tmp_path: Path, run: str, gate: str) -> None:
    out = _calibrated(runs, tmp_path)
    res = run_gate(runs[run], load_gate_config(out))
    assert not res.passed
    failed = {c.name for c in res.checks if not c.passed}
    assert gate in failed, failed
    assert main(["gate", str(runs[run]), "--config", str(out)]) == 1


def test_thresholds_sit_a_margin_below_the_baseline(runs: dict[str, Path]) -> None:
    from agenteval.analysis.metrics import run_metrics
    from agenteval.results.rundata import read_run

    m = run_metrics(read_run(runs["base"]).lines)
    tight = calibrate(runs["base"], margin=0.0)
    wide = calibrate(runs["base"], margin=3.0)
    v = m["envelope_strict"].mean
    assert tight.metrics["envelope_strict"].min == pytest.approx(v, abs=1e-4)
    assert wide.metrics["envelope_strict"].min < tight.metrics["envelope_strict"].min <= v
    assert wide.metrics["over_escalation"].max > tight.metrics["over_escalation"].max
    # cells: a cell that fails some epochs in the baseline gets its own k; the default is all epochs
    assert all(c.k <= 3 for c in wide.cells.values())


def test_stale_baseline_is_refused(tmp_path: Path) -> None:
    run = rf.make_run(tmp_path / "stale", SPEC, rf.Profile(stale=0.2), seed=1)
    rc = main(["gate", "--calibrate-from", str(run)])
    assert rc == 2


def test_shipped_gates_pass_on_the_shipped_recordings(tmp_path: Path) -> None:
    """README's CI section: `agenteval run` then `agenteval gate RUN --config gates.yaml` exits 0.

    Fails after a deliberate change of scores: recalibrate with the command in gates.yaml's header.
    """
    env_cmd = [sys.executable, "-m", "agenteval.cli"]
    p = subprocess.run([*env_cmd, "run", "--no-report", "--output-dir", str(tmp_path)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    run = p.stdout.strip().splitlines()[-1]
    g = subprocess.run([*env_cmd, "gate", run, "--config", "gates.yaml"], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert g.returncode == 0, g.stdout[-3000:] + g.stderr
