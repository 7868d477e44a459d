"""compare: planted regressions are found, identical runs show none, mismatches are reported; power."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import runfactory as rf
from agenteval.analysis.stats import z_quantile
from agenteval.cli import main
from agenteval.results.rundata import read_run
from agenteval.results.store import ScoreLine
from agenteval.views.compare import CompareResult, compare_runs, power_analysis, render_markdown, render_text

SPEC = rf.Spec(scenarios=[f"sc-{i:02d}" for i in range(12)], epochs=2)
N_BOOT = 1000


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cmp")
    return {
        "a": rf.make_run(d / "a", SPEC, rf.Profile(envelope=0.9), seed=3),
        "a2": rf.make_run(d / "a2", SPEC, rf.Profile(envelope=0.9), seed=3),
        "worse": rf.make_run(
            d / "worse",
            SPEC,
            rf.Profile(envelope=0.55),
            seed=3,
            card_text=rf.CARD_V1 + "- Accept skew between training and serving\n",
        ),
        "better": rf.make_run(d / "better", SPEC, rf.Profile(envelope=0.9, escalate_when_not=0.0), seed=3),
    }


def test_planted_regression_is_found(runs: dict[str, Path]) -> None:
    res = compare_runs(runs["a"], runs["worse"], n_boot=N_BOOT)
    m = {x.name: x for x in res.metrics}
    env = m["envelope_strict"]
    assert env.verdict == "regressed" and env.delta is not None and env.delta < -0.2
    assert env.ci_high is not None and env.ci_high < 0 and env.p_holm is not None and env.p_holm < 0.05
    assert env.correlation is not None and env.correlation > 0.3  # paired: same items, same draws
    assert "envelope_strict" in res.regressions and "mcnemar" in res.regressions
    assert res.mcnemar.regressed > 0 and res.mcnemar.improved == 0
    assert res.regressed_cells and not res.improved_cells
    assert all(c.b_pass_rate < c.a_pass_rate for c in res.regressed_cells)
    assert any(f["id"].startswith("envelope.") for c in res.regressed_cells for f in c.newly_failed)
    # behaviour that did not change is identical on every pair and never flagged
    assert m["escalation_correct"].identical and m["escalation_correct"].verdict == "no significant change"
    assert res.card_diff is not None and "+- Accept skew between training and serving" in res.card_diff
    assert res.mismatch.card_changed and not res.mismatch.any
    text = render_text(res)
    assert "REGRESSION: " in text and "envelope_strict" in text


def test_identical_runs_show_nothing(runs: dict[str, Path]) -> None:
    res = compare_runs(runs["a"], runs["a2"], n_boot=N_BOOT)
    assert res.regressions == [] and res.improvements == []
    assert all(m.identical for m in res.metrics if m.n > 0)
    assert all(m.delta in (0.0, None) for m in res.metrics)
    assert res.mcnemar.p_value == 1.0 and res.mcnemar.regressed == res.mcnemar.improved == 0
    assert res.regressed_cells == [] and res.improved_cells == []
    assert res.card_diff is None and res.card_diff_note is None
    assert res.pairs == res.pairs_scored == len(rf.make_lines(SPEC))
    assert "no significant regression" in render_text(res)


def test_improvement_is_an_improvement(runs: dict[str, Path]) -> None:
    res = compare_runs(runs["a"], runs["better"], n_boot=N_BOOT)
    m = {x.name: x for x in res.metrics}
    assert m["over_escalation"].delta is not None and m["over_escalation"].delta < 0
    assert m["over_escalation"].verdict in ("improved", "no significant change")
    assert "over_escalation" not in res.regressions
    assert res.improved_cells and not res.regressed_cells


def test_non_decomposable_metrics_use_the_paired_bootstrap(tmp_path: Path) -> None:
    a = rf.make_run(tmp_path / "a", SPEC, seed=4)
    b = rf.make_run(tmp_path / "b", SPEC, rf.Profile(confidence_informative=False), seed=4)
    res = compare_runs(a, b, n_boot=2000, seed=7)
    m = {x.name: x for x in res.metrics}
    for name in ("ece", "auroc", "escalation_f1", "escalation_precision"):
        assert m[name].method == "paired_cluster_bootstrap"
    assert m["auroc"].delta is not None and m["auroc"].delta < 0
    assert m["auroc"].verdict == "regressed"
    again = compare_runs(a, b, n_boot=2000, seed=7)
    assert {x.name: x.ci_low for x in again.metrics} == {x.name: x.ci_low for x in res.metrics}  # seeded


def test_mismatched_plans_are_reported(tmp_path: Path) -> None:
    a_lines = rf.make_lines(SPEC, seed=1)
    b_lines = [s for s in rf.make_lines(SPEC, seed=1) if s.scenario_id != "sc-00"]
    extra = b_lines[0].model_copy(update={"id": "sc-99/generative/solo/1", "scenario_id": "sc-99"})
    b_lines.append(extra)
    b_lines[3] = ScoreLine(**{**b_lines[3].model_dump(), "status": "error", "error": "boom", "checks": []})
    a = rf.write_run(tmp_path / "a", a_lines)
    b = rf.write_run(
        tmp_path / "b",
        b_lines,
        scenario_hashes={"sc-01": "sha256:changed"},
        settings={"epochs": 3, "temperature": 0.5},
    )
    res = compare_runs(a, b, n_boot=200)
    mm = res.mismatch
    n_sc0 = sum(1 for s in a_lines if s.scenario_id == "sc-00")
    assert mm.only_in_a_count == n_sc0 and mm.only_in_b_count == 1
    assert mm.only_in_b == ["sc-99/generative/solo/1"]
    assert len(mm.not_scored_b) == 1 and mm.scenario_hash_changed == ["sc-01"]
    assert mm.settings["temperature"] == [None, 0.5] and "epochs" in mm.settings
    assert res.pairs == len(a_lines) - n_sc0 and res.pairs_scored == res.pairs - 1
    text = render_text(res)
    assert "PLAN MISMATCH" in text and "scenario text changed: sc-01" in text
    md = render_markdown(res)
    assert "Plan mismatch" in md and "only in A" in md


def test_card_text_gone_is_a_note_not_a_crash(tmp_path: Path) -> None:
    a = rf.make_run(tmp_path / "a", SPEC, card_path=tmp_path / "card.md")
    b = rf.make_run(tmp_path / "b", SPEC, card_path=tmp_path / "card.md", card_text=rf.CARD_V1 + "- x\n")
    res = compare_runs(a, b, n_boot=200)  # the file now holds B's text only
    assert res.card_diff is None and res.card_diff_note and "run A" in res.card_diff_note
    old = tmp_path / "old.md"
    old.write_text(rf.CARD_V1, encoding="utf-8")
    res2 = compare_runs(a, b, n_boot=200, card_a=old)
    assert res2.card_diff is not None and "+- x" in res2.card_diff


def test_cli_compare_outputs(runs: dict[str, Path], tmp_path: Path) -> None:
    js, md = tmp_path / "c.json", tmp_path / "c.md"
    argv = [
        "compare",
        str(runs["a"]),
        str(runs["worse"]),
        "--json",
        str(js),
        "--md",
        str(md),
        "--n-boot",
        "500",
    ]
    assert main(argv) == 0
    res = CompareResult.model_validate_json(js.read_text())
    assert res.n_boot == 500 and "envelope_strict" in res.regressions
    assert json.loads(js.read_text())["delta_definition"] == "B - A"
    text = md.read_text()
    assert "❌ Significant regression" in text and "Cells that regressed" in text and "```diff" in text
    assert main([*argv, "--fail-on-regression"]) == 1
    assert main(["compare", str(runs["a"]), str(runs["a2"]), "--n-boot", "500", "--fail-on-regression"]) == 0
    assert main(["compare", str(runs["a"]), str(tmp_path / "missing")]) == 2


def test_cli_default_bootstrap_draws_are_at_least_10000() -> None:
    import inspect

    from agenteval.cli import views as cli
    from agenteval.views import compare

    assert inspect.signature(compare.compare_runs).parameters["n_boot"].default >= 10_000
    assert inspect.signature(cli.compare_cmd).parameters["n_boot"].default >= 10_000


# --------------------------------------------------------------------------- power


def _tiny_run(tmp_path: Path) -> Path:
    # one cell per scenario, 2 epochs; envelope values s1: [1, 1], s2: [1, 0], s3: [0, 0]
    vals = {"s1": (True, True), "s2": (True, False), "s3": (False, False)}
    lines = []
    for sid, pair in vals.items():
        for e, v in enumerate(pair, start=1):
            lines.append(
                ScoreLine(
                    id=f"{sid}/generative/solo/{e}",
                    scenario_id=sid,
                    mode="generative",
                    role="solo",
                    epoch=e,
                    status="ok",
                    envelope_ok=v,
                )
            )
    return rf.write_run(tmp_path / "tiny", lines)


def test_power_hand_computed(tmp_path: Path) -> None:
    run = read_run(_tiny_run(tmp_path))
    (r,) = power_analysis(run, 0.1, metrics=["envelope_strict"])
    # scenario means 1, .5, 0 -> Var = .25; within-cell variances 0, .5, 0 -> σ²_ε = 1/6
    # σ²_x = .25 - (1/6)/2 = 1/6; ω² = 2·σ²_x = 1/3
    assert r.within_var == pytest.approx(1 / 6) and r.between_var == pytest.approx(1 / 6)
    z2 = (z_quantile(0.975) + z_quantile(0.8)) ** 2
    rows = {x.epochs: x.scenarios for x in r.rows}
    assert rows[1] == math.ceil(z2 * (1 / 3 + 2 / 6) / 0.01)
    assert rows[10] == math.ceil(z2 * (1 / 3 + 2 / 60) / 0.01)
    assert r.epochs_needed_at_run_scenarios is None  # 3 scenarios can never detect 0.1
    assert r.mde_at_run_size == pytest.approx(math.sqrt(z2 * (1 / 3 + 2 / 6 / 2) / 3))
    (r_corr,) = power_analysis(run, 0.1, metrics=["envelope_strict"], correlation=0.5)
    assert {x.epochs: x.scenarios for x in r_corr.rows}[1] == math.ceil(z2 * (1 / 6 + 2 / 6) / 0.01)


def test_power_cli(runs: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    js = tmp_path / "p.json"
    assert (
        main(
            [
                "power",
                "--from",
                str(runs["a"]),
                "--delta",
                "0.05",
                "--metric",
                "envelope_strict,never_clean",
                "--json",
                str(js),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Envelope compliance (strict)" in out and "K=1" in out
    data = json.loads(js.read_text())
    assert [d["metric"] for d in data] == ["envelope_strict", "never_clean"]
    assert main(["power", "--from", str(runs["a"]), "--delta", "0"]) == 2
    assert main(["power", "--from", str(runs["a"]), "--delta", "0.05", "--metric", "nope"]) == 2
