"""trend: time series, drift tests, two-consecutive-runs alerts and the false-alarm rate."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import runfactory as rf
from agenteval.analysis.metrics import item_metrics
from agenteval.cli import main
from agenteval.views import trend

SPEC = rf.Spec(scenarios=[f"sc-{i:02d}" for i in range(10)], epochs=2)


def _series(root: Path, profiles: list[rf.Profile]) -> Path:
    for i, p in enumerate(profiles):
        rf.make_run(
            root / f"run{i:02d}", SPEC, p, seed=200 + i, started_at=f"2025-02-{i + 1:02d}T03:00:00.000Z"
        )
    return root


def test_time_series_parquet_and_ordering(tmp_path: Path) -> None:
    root = _series(tmp_path / "runs", [rf.Profile()] * 4)
    # an unfinished run, a non-run folder and a stray file are skipped
    rf.make_run(root / "zz-unfinished", SPEC, status="interrupted", started_at="2025-03-01T00:00:00.000Z")
    (root / "not-a-run").mkdir()
    (root / "notes.txt").write_text("x")
    res = trend.trend(root, n_boot=200)
    assert [p.run_id for p in res.runs] == ["run00", "run01", "run02", "run03"]
    assert any("interrupted" in s["reason"] for s in res.skipped)
    env = [r for r in res.series if r.metric == "envelope_strict"]
    assert len(env) == 4 and all(r.se is not None and r.ci_low is not None for r in env)
    out = tmp_path / "t.parquet"
    trend.write_parquet(res, out)
    df = pd.read_parquet(out)
    assert {"run_id", "started_at", "metric", "mean", "se", "ci_low", "ci_high", "n"} <= set(df.columns)
    assert len(df) == len(res.series)
    assert res.reference_runs == ["run00", "run01"] and len(res.psi) == 4


def test_drift_in_two_consecutive_runs_alerts(tmp_path: Path) -> None:
    profiles = [rf.Profile()] * 6 + [rf.Profile(envelope=0.45)] * 2
    res = trend.trend(_series(tmp_path / "runs", profiles), n_boot=200)
    tests = {a.test for a in res.alerts}
    assert "prop:envelope_strict" in tests
    assert res.reference_runs == [f"run{i:02d}" for i in range(1, 6)]  # window 5 before the last two
    for t in res.tests:
        assert t.p_holm is not None and t.p_holm >= t.p_value
    assert "ALERT" in trend.render_text(res)


def test_drift_in_only_the_latest_run_does_not_alert(tmp_path: Path) -> None:
    profiles = [rf.Profile()] * 7 + [rf.Profile(envelope=0.45)]
    res = trend.trend(_series(tmp_path / "runs", profiles), n_boot=200)
    latest = [t for t in res.tests if t.run_id == "run07" and t.test == "prop:envelope_strict"]
    assert latest and latest[0].significant  # seen...
    assert not [a for a in res.alerts if a.test == "prop:envelope_strict"]  # ...but one run is not an alert
    assert "no drift alert" in trend.render_text(res)


def test_too_few_runs_for_drift(tmp_path: Path) -> None:
    res = trend.trend(_series(tmp_path / "runs", [rf.Profile()] * 2), n_boot=200)
    assert res.tests == [] and res.alerts == [] and "at least 3 runs" in res.note


def test_drift_tests_cover_levels_scores_and_rates() -> None:
    lines = rf.make_lines(SPEC, seed=1)
    table = trend.ItemTable(lines, item_metrics(lines))
    agg = table.agg()
    tests = {t.test: t for t in trend.drift_tests("r", agg, agg)}
    assert "chi2:confidence_level" in tests and "ks:task_score" in tests and "prop:envelope_strict" in tests
    assert all(t.p_value > 0.99 and not t.significant for t in tests.values())  # identical samples


def test_false_alarm_rate_on_resampled_no_drift_data_is_at_most_one_percent() -> None:
    """Resample items of one run (no drift by construction) into series of runs; count alerts.

    Each replication: window + 2 = 7 runs of 48 items drawn with replacement from the same pool,
    the full battery of drift tests (χ², KS, ~20 two-proportion tests, Holm per run) on the two
    latest, and an alert when the same test fires in both.
    """
    lines = rf.make_lines(
        rf.Spec(scenarios=[f"s{i}" for i in range(12)], modes=rf.MODES, roles=rf.ROLES[:3]), seed=11
    )
    table = trend.ItemTable(lines, item_metrics(lines))
    rng = np.random.default_rng(2024)
    sims, m, window = 1000, 48, 5
    ids = [f"r{i}" for i in range(window + 2)]
    alerts = single = 0
    t0 = time.perf_counter()
    for _ in range(sims):
        aggs = [table.agg(rng.integers(0, table.size, size=m)) for _ in range(window + 2)]
        tests, found, _ = trend.detect(aggs, ids, window=window)
        alerts += bool(found)
        single += any(t.significant for t in tests if t.run_id == ids[-1])
    elapsed = time.perf_counter() - t0
    rate = alerts / sims
    print(f"false-alarm rate {rate:.4f} ({alerts}/{sims}); one-run rate {single / sims:.4f}; {elapsed:.1f}s")
    assert rate <= 0.01
    assert single / sims <= 0.06  # Holm keeps the per-run family-wise rate near α = 0.05
    assert elapsed < 20


def test_cli_trend_outputs(tmp_path: Path) -> None:
    root = _series(tmp_path / "runs", [rf.Profile()] * 5 + [rf.Profile(envelope=0.4)] * 2)
    html, md, js, pq = (tmp_path / f"t.{x}" for x in ("html", "md", "json", "parquet"))
    argv = [
        "trend",
        str(root),
        "--html",
        str(html),
        "--md",
        str(md),
        "--json",
        str(js),
        "--parquet",
        str(pq),
        "--window",
        "3",
    ]
    assert main(argv) == 0
    page = html.read_text()
    assert "<script" not in page.lower() and "data:image/png;base64," in page and "Drift alert" in page
    assert "Drift tests" in md.read_text()
    assert trend.TrendResult.model_validate_json(js.read_text()).alerts
    assert pq.stat().st_size > 0
    assert main([*argv, "--fail-on-alert"]) == 1
    assert main(["trend", str(tmp_path / "empty-nothing")]) == 2


@pytest.mark.parametrize("bad", [["--window", "0"], ["--alpha", "1.5"]])
def test_cli_trend_bad_usage(tmp_path: Path, bad: list[str]) -> None:
    root = _series(tmp_path / "runs", [rf.Profile()] * 3)
    assert main(["trend", str(root), *bad]) == 2
