"""trend says how the runs differ, groups series by card hash × model × backend, tests drift within one."""

from __future__ import annotations

from pathlib import Path

import runfactory as rf
from agenteval.views.trend import render_html, render_markdown, render_text, trend, x_label

SPEC = rf.Spec(scenarios=[f"sc-{i:02d}" for i in range(6)])


def test_mixed_runs_are_named_and_grouped(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    for i in range(4):
        rf.make_run(root / f"r{i}-replay", SPEC, seed=i, started_at=f"2025-01-0{i + 1}T00:00:00.000Z")
    card_b = rf.CARD_V1 + "\n- Never ship on Fridays\n"
    for i in range(2):
        rf.make_run(root / f"r{i}-live", SPEC, rf.Profile(stale=0.5), seed=10 + i, backend="anthropic",
                    card_text=card_b, started_at=f"2025-01-1{i}T00:00:00.000Z")
    res = trend(root, n_boot=100)
    assert len({p.series for p in res.runs}) == 2
    text = render_text(res)
    first = text.splitlines()[0]
    assert first.startswith("runs differ in:")
    assert "backend: replay (4 run(s)), anthropic (2 run(s))" in first and "card hash" in first
    assert "stale answers:" in first
    assert text.count("  series card ") == 2
    # the latest run is 'live': drift is tested within its series only (2 runs: too few), and says so
    assert res.drift_series == res.runs[-1].series and not res.alerts
    assert "within the latest run's series only" in res.note
    # headers are not cut
    assert "escalation_recall" in text and "escalation_re " not in text
    assert x_label(res.runs[0]) == "2025-01-01 00:00"
    assert "Runs differ in:" in render_markdown(res)
    html = render_html(res)
    assert "The runs differ" in html and 'class="scroll"' in html
