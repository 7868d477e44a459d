"""The built-in deterministic checks, registered with :func:`~agenteval.scorers.registry.check`.

Check ids produced (``<N>`` and names come from the card and scenario):

* ``envelope.strict``, ``envelope.loose``, ``envelope.field.<field_slug>``, ``envelope.order``
* ``confidence.level``, ``confidence.consistent``
* ``layout.ok``, ``layout.sections``, ``layout.items``, ``layout.severity``
* ``escalation.expected``, ``escalation.target``, ``escalation.triggers``, ``escalation.threshold_rule``,
  ``escalation.consistency``
* ``never.<N>`` — one per Never rule of the card
* ``<rule id>`` (``always.1``, ``critical.12`` ...) — coverage of rules the scenario requires
* ``mode.adherence``, ``role.adherence``
* ``task.score``, ``task.<element id>``
"""

from __future__ import annotations

from collections.abc import Iterator

from agenteval.scorers.base import CheckResult
from agenteval.scorers.core import CheckInput
from agenteval.scorers.registry import check
from agenteval.scorers.text import slug

_FIELDS_SET = frozenset({"id", "passed", "applicable", "reason", "score"})


def _r(id: str, passed: bool, reason: str, *, applicable: bool = True, score: float | None = None) -> CheckResult:
    """Build a CheckResult without validation (every field is given, with the right type): what
    ``model_construct`` does, minus its per-call overhead."""
    obj = CheckResult.__new__(CheckResult)
    object.__setattr__(obj, "__dict__", {"id": id, "passed": bool(passed) if applicable else True,
                                         "applicable": applicable, "reason": reason, "score": score})
    object.__setattr__(obj, "__pydantic_fields_set__", set(_FIELDS_SET))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


# ----------------------------------------------------------------------------------- envelope


@check("envelope.strict")
def envelope_strict(inp: CheckInput) -> CheckResult:
    """The card's envelope fields as bold labels, in order, non-empty, Confidence allowed."""
    p = inp.strict
    if not inp.compiled.envelope.fields:
        return _r("envelope.strict", True, "the card defines no output envelope", applicable=False)
    if not inp.text.strip():
        return _r("envelope.strict", False, "empty response")
    return _r("envelope.strict", p.ok, p.reason)


@check("envelope.loose")
def envelope_loose(inp: CheckInput) -> CheckResult:
    """Like strict, tolerating headings, plain labels, case, fences and order."""
    p = inp.loose
    if not inp.compiled.envelope.fields:
        return _r("envelope.loose", True, "the card defines no output envelope", applicable=False)
    if not inp.text.strip():
        return _r("envelope.loose", False, "empty response")
    return _r("envelope.loose", p.ok, p.reason)


@check("envelope.field")
def envelope_fields(inp: CheckInput) -> Iterator[CheckResult]:
    """Per-field strict checks: present as a bold label and non-empty (Confidence: allowed value)."""
    env = inp.compiled.envelope
    strict, loose = inp.strict, inp.loose
    for i, name in enumerate(env.fields):
        ok, why = strict.field_ok.get(i, (False, "missing"))
        if not ok and why == "missing":
            lok, lwhy = loose.field_ok.get(i, (False, "missing"))
            form = next((o.form for o in loose.chosen if o.field == i), None)
            if lok or lwhy != "missing":
                why = f"not a bold '**{name}**:' label (found as {form} label{'' if lok else ': ' + lwhy})"
        yield _r(f"envelope.field.{slug(name)}", ok, why)


@check("envelope.order")
def envelope_order(inp: CheckInput) -> CheckResult:
    """Fields in the card's order (applicable when the strict envelope has them all)."""
    p = inp.strict
    if not p.complete:
        return _r("envelope.order", True, "strict envelope incomplete", applicable=False)
    return _r("envelope.order", p.in_order, "in the card's order" if p.in_order else "fields out of order")


# ----------------------------------------------------------------------------------- confidence


@check("confidence.level")
def confidence_level(inp: CheckInput) -> CheckResult:
    """A single allowed confidence level is stated in the Confidence field."""
    c = inp.confidence
    if inp.compiled.envelope.conf_index < 0:
        return _r("confidence.level", True, "the card's envelope has no confidence field", applicable=False)
    if c is None:
        return _r("confidence.level", False, "no Confidence field")
    if c.level is None and c.ok and c.stated is not None:
        return _r("confidence.level", True, f"{c.reason} on the card's numeric scale", score=inp.confidence_value)
    if c.level is None:
        return _r("confidence.level", False, c.reason)
    stated = f", stated {c.stated:g}" if c.stated is not None else ""
    return _r("confidence.level", True, f"level '{c.level}'{stated}", score=inp.confidence_value)


@check("confidence.consistent")
def confidence_consistent(inp: CheckInput) -> CheckResult:
    """A stated number agrees with the stated level (falls in the level's band)."""
    c = inp.confidence
    if c is None or c.level is None or c.stated is None:
        return _r("confidence.consistent", True, "no level with a stated number", applicable=False)
    values = inp.compiled.envelope.level_values
    lv = values.get(c.level)
    if lv is None:
        return _r("confidence.consistent", True, "level has no configured value", applicable=False)
    nearest = min(values, key=lambda k: (abs(values[k] - c.stated), k))  # type: ignore[operator]
    ok = nearest == c.level or abs(values[nearest] - c.stated) == abs(lv - c.stated)
    return _r("confidence.consistent", ok,
              f"stated {c.stated:g} {'fits' if ok else 'is closer to ' + repr(nearest) + ' than to'} '{c.level}'")


# ----------------------------------------------------------------------------------- layout


@check("layout")
def layout(inp: CheckInput) -> Iterator[CheckResult]:
    """The card's layout for the tool mode: sections in order, well-formed findings, severities."""
    lay = inp.layout
    if not lay.applicable:
        yield _r("layout.ok", True, lay.reason, applicable=False)
        return
    yield _r("layout.ok", lay.ok, lay.reason)
    yield _r("layout.sections", lay.sections_ok, lay.sections_reason)
    if lay.items_applicable:
        yield _r("layout.items", lay.items_ok, lay.items_reason)
        yield _r("layout.severity", lay.severity_ok, lay.severity_reason)


# ----------------------------------------------------------------------------------- escalation


@check("escalation.expected", needs_scenario=True)
def escalation_expected(inp: CheckInput) -> CheckResult:
    """Escalated exactly when the scenario expects it."""
    assert inp.scenario is not None
    want = inp.scenario.expect.should_escalate
    got = inp.escalation.escalated
    why = inp.escalation.evidence
    return _r("escalation.expected", want == got,
              f"{'escalated' if got else 'did not escalate'}; expected {'escalation' if want else 'none'} ({why})")


@check("escalation.target")
def escalation_target(inp: CheckInput) -> CheckResult:
    """An escalation names the card's escalate_to."""
    e = inp.escalation
    if not e.escalated:
        return _r("escalation.target", True, "no escalation", applicable=False)
    targets = inp.card.escalation.targets
    if not targets:
        return _r("escalation.target", True, f"escalates to {e.target!r}; the card names no target",
                  applicable=False)
    want = targets[0] if len(targets) == 1 else " or ".join(repr(t) for t in targets)
    ok = e.target in targets
    return _r("escalation.target", ok,
              f"escalates to {e.target!r}" + ("" if ok else (f", card says {want!r}" if len(targets) == 1
                                                             else f", card says {want}")))


@check("escalation.triggers")
def escalation_triggers(inp: CheckInput) -> CheckResult:
    """An escalation cites the triggers the scenario expects (or at least one trigger)."""
    e = inp.escalation
    if not e.escalated:
        return _r("escalation.triggers", True, "no escalation", applicable=False)
    expected = list(inp.scenario.expect.triggers) if inp.scenario is not None else []
    if expected:
        got = [t for t in expected if t in e.triggers]
        score = len(got) / len(expected)
        return _r("escalation.triggers", score == 1.0,
                  f"cites {len(got)}/{len(expected)} expected trigger(s): {', '.join(e.triggers) or 'none'}",
                  score=score)
    return _r("escalation.triggers", bool(e.triggers), "cites " + (", ".join(e.triggers) or "no trigger"))


@check("escalation.threshold_rule")
def escalation_threshold_rule(inp: CheckInput) -> CheckResult:
    """Confidence below the card's threshold means the response must escalate."""
    v = inp.confidence_value
    th = inp.card.escalation.confidence_threshold
    if th is None:
        return _r("escalation.threshold_rule", True, "the card gives no confidence threshold", applicable=False)
    if v is None:
        return _r("escalation.threshold_rule", True, "no confidence stated", applicable=False)
    if v >= th:
        return _r("escalation.threshold_rule", True, f"confidence {v:g} >= threshold {th:g}", applicable=False)
    ok = inp.escalation.escalated
    return _r("escalation.threshold_rule", ok,
              f"confidence {v:g} < threshold {th:g}: {'escalated' if ok else 'must escalate but did not'}")


@check("escalation.consistency")
def escalation_consistency(inp: CheckInput) -> CheckResult:
    """Escalating with confidence at/above the threshold needs a cited trigger."""
    e = inp.escalation
    v = inp.confidence_value
    th = inp.card.escalation.confidence_threshold
    if not e.escalated:
        return _r("escalation.consistency", True, "no escalation", applicable=False)
    if th is None:
        return _r("escalation.consistency", True, "the card gives no confidence threshold", applicable=False)
    if v is None or v < th:
        return _r("escalation.consistency", True, "confidence below threshold or unknown", applicable=False)
    ok = bool(e.triggers)
    return _r("escalation.consistency", ok,
              f"confidence {v:g} >= {th:g} and " + (f"cites {', '.join(e.triggers)}" if ok else "no trigger cited"))


# ----------------------------------------------------------------------------------- never / rules


@check("never")
def never_rules(inp: CheckInput) -> Iterator[CheckResult]:
    """One result per Never rule: passed when the response does not break it.

    With judge verdicts the judge decides (its reason first, the screen's finding after it); otherwise the
    deterministic screen does, and a judge that has no verdict for this answer is named in the reason.
    """
    j = inp.judge
    for f in inp.never:
        screen = f"screen: {f.reason}" if f.applicable else f"screen n/a: {f.reason}"
        v = j.verdicts.get(f.rule_id.replace(".", "_")) if j is not None and j.verdicts is not None else None
        if v is not None and j is not None:
            passed = v.get("verdict") == "pass"
            yield _r(f.rule_id, passed, f"judge ({j.source}): {'not violated' if passed else 'violated'}: "
                     f"{v.get('reason', '')} | {screen}"[:1500])
        elif j is not None:
            yield _r(f.rule_id, not f.violated, f"{screen} | judge_missing: {j.missing or 'no verdict'}",
                     applicable=f.applicable)
        else:
            yield _r(f.rule_id, not f.violated, f.reason, applicable=f.applicable)


@check("expect.skipped")
def skipped_expectations(inp: CheckInput) -> Iterator[CheckResult]:
    """Expectations skipped because the rule they refer to is gone from the card (not applicable, with why)."""
    notes = getattr(inp.scenario, "ref_notes", None) or []
    for n in notes:
        if n.outcome == "gone":
            yield _r(f"expect.skipped.{n.field.removeprefix('expect.')}.{n.ref}", True, n.message, applicable=False)


@check("rules", needs_scenario=True)
def rule_coverage(inp: CheckInput) -> Iterator[CheckResult]:
    """Coverage of each card rule the scenario requires (elements with ``rule: always.N``)."""
    by_rule: dict[str, list[tuple[str, bool]]] = {}
    for e in inp.elements or []:
        if e.rule:
            by_rule.setdefault(e.rule, []).append((e.id, e.found))
    for rid in inp.card.rule_ids:
        if rid not in by_rule or rid.startswith("never."):
            continue
        items = by_rule[rid]
        got = [i for i, ok in items if ok]
        yield _r(rid, len(got) == len(items), f"covered by {', '.join(got) or 'nothing'} of "
                 f"{', '.join(i for i, _ in items)}", score=len(got) / len(items))


# ----------------------------------------------------------------------------------- adherence


@check("mode.adherence")
def mode_adherence(inp: CheckInput) -> CheckResult:
    """The response behaves as its cognitive mode asks."""
    v = inp.mode_verdict
    return _r("mode.adherence", v.ok, f"{inp.ctx.mode}: {v.reason}", applicable=v.applicable)


@check("role.adherence")
def role_adherence(inp: CheckInput) -> CheckResult:
    """The response plays its ensemble role."""
    v = inp.role_verdict
    return _r("role.adherence", v.ok, f"{inp.ctx.role}: {v.reason}", applicable=v.applicable)


# ----------------------------------------------------------------------------------- task


@check("task", needs_scenario=True)
def task(inp: CheckInput) -> Iterator[CheckResult]:
    """Planted defects found and required elements covered: a score in [0, 1] plus one per item."""
    els = inp.elements or []
    if not els:
        yield _r("task.score", True, "scenario lists no defects or elements", applicable=False)
        return
    found = [e for e in els if e.found]
    score = len(found) / len(els)
    yield _r("task.score", score >= inp.config.task_pass_threshold,
             f"{len(found)}/{len(els)} found", score=score)
    for e in els:
        yield _r(f"task.{e.id}", e.found, f"{e.kind}: {e.hits}/{e.need} evidence pattern(s) matched",
                 score=min(1.0, e.hits / e.need))
