"""The one k-of-n cell verdict (used by gate and the pytest plugin)."""

from __future__ import annotations

from agenteval.analysis.verdict import cell_verdict
from agenteval.results.store import ScoreLine


def _line(epoch: int, passed: bool, **kw: object) -> ScoreLine:
    checks = [{"id": "envelope.strict", "passed": passed, "applicable": True, "reason": "missing Result"}]
    base = dict(id=f"s/m/r/{epoch}", scenario_id="s", mode="m", role="r", epoch=epoch, status="ok",
                envelope_ok=passed, checks=checks)
    base.update(kw)
    return ScoreLine.model_validate(base)


def test_k_of_n_pass_and_fail() -> None:
    lines = [_line(1, True), _line(2, False), _line(3, True)]
    v = cell_verdict(lines, required=lambda n: 2)
    assert v.outcome == "passed" and v.passed_epochs == 2 and not v.failures
    v = cell_verdict(lines, required=lambda n: 3)
    assert v.outcome == "failed"
    assert v.failures[0] == "2 of 3 epoch(s) passed, 3 required"
    assert v.failures[1] == "epoch 2: envelope.strict: missing Result"


def test_stale_policies() -> None:
    lines = [_line(1, True, stale=True), _line(2, True)]
    assert cell_verdict(lines, required=lambda n: n).outcome == "failed"
    ex = cell_verdict(lines, required=lambda n: n, stale="exclude")
    assert ex.outcome == "passed" and ex.stale == 1 and ex.scored == 1
    assert cell_verdict(lines, required=lambda n: n, stale="score").scored == 2


def test_errors_and_skips() -> None:
    err = _line(1, True, status="error", error="boom", envelope_ok=None, checks=[])
    v = cell_verdict([err], required=lambda n: n)
    assert v.outcome == "failed" and v.failures == ["epoch 1: error: boom"]
    assert cell_verdict([err], required=lambda n: n, allow_errors=True).outcome == "skipped"
    skip = _line(1, True, status="skipped", envelope_ok=None, checks=[])
    assert cell_verdict([skip], required=lambda n: n, allow_skipped=True).outcome == "skipped"


def test_ignore_checks() -> None:
    v = cell_verdict([_line(1, False)], required=lambda n: n, ignore_checks=["envelope.*"])
    assert v.outcome == "passed"


def test_one_failure_per_cause() -> None:
    from agenteval.analysis.verdict import grouped_failures

    failed = [("envelope.strict", "Confidence: 'medium-high' names two levels"),
              ("envelope.loose", "Confidence: 'medium-high' names two levels"),
              ("envelope.field.confidence", "'medium-high' names two levels"),
              ("confidence.level", "'medium-high' names two levels"),
              ("layout.ok", "'Recommendations' missing"), ("layout.sections", "'Recommendations' missing"),
              ("layout.items", "item lacks Recommendation"), ("never.1", "defers it"), ("never.4", "drops it")]
    out = grouped_failures(failed)
    assert len(out) == 4, out
    assert out[0].startswith("envelope: Confidence: 'medium-high' names two levels [envelope.strict,")
    assert out[1].startswith("layout: 'Recommendations' missing [layout.ok, layout.sections, layout.items]")
    assert out[2:] == ["never.1: defers it", "never.4: drops it"]
