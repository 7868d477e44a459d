"""compare states how the runs differ, never calls a stale comparison clean, and agrees with gate."""

from __future__ import annotations

from pathlib import Path

import runfactory as rf
from agenteval.views.compare import compare_runs, render_markdown, render_text
from agenteval.views.gate import GateConfig, Threshold, run_gate

SPEC = rf.Spec(scenarios=[f"sc-{i:02d}" for i in range(10)], epochs=2)


def test_stale_comparison_is_not_called_clean(tmp_path: Path) -> None:
    a = rf.make_run(tmp_path / "a", SPEC, seed=4)
    b = rf.make_run(tmp_path / "b", SPEC, rf.Profile(stale=0.9), seed=4, card_text=rf.CARD_V1 + "\n- extra\n")
    res = compare_runs(a, b, n_boot=200)
    text = render_text(res)
    first = text.splitlines()[0]
    assert first.startswith("runs differ in:") and "card hash" in first and "stale answers: B" in first
    assert not res.regressions
    assert "NOT a like-for-like comparison" in text.splitlines()[-1] and "stale answers" in text.splitlines()[-1]
    md = render_markdown(res)
    assert "**Runs differ in:**" in md and "not a like-for-like comparison" in md
    assert "✅ No significant regression" not in md


def test_clean_comparison_says_so(tmp_path: Path) -> None:
    a = rf.make_run(tmp_path / "a", SPEC, seed=4)
    b = rf.make_run(tmp_path / "b", SPEC, seed=5)
    text = render_text(compare_runs(a, b, n_boot=200))
    assert text.splitlines()[0].startswith("runs agree on backend, model")


def test_compare_and_gate_agree_on_every_metric(tmp_path: Path) -> None:
    a = rf.make_run(tmp_path / "a", SPEC, seed=4)
    b = rf.make_run(tmp_path / "b", SPEC, rf.Profile(stale=0.3, envelope=0.6), seed=7)
    res = compare_runs(a, b, n_boot=200)
    names = [m.name for m in res.metrics if m.b is not None]
    assert "envelope_strict" in names and "escalation_f1" in names
    cfg = GateConfig(metrics={n: Threshold(min=0.0) for n in names}, allow={"stale": False})
    gate = {c.name: c for c in run_gate(b, cfg).checks}
    for m in res.metrics:
        if m.b is None:
            continue
        assert gate[m.name].value is not None
        assert abs(gate[m.name].value - m.b) < 1e-9, (m.name, gate[m.name].value, m.b)
