"""Scoring one response: compiled per-card scorers, the shared parses, and :func:`score_response`.

Everything a check needs is computed lazily once per response on a :class:`CheckInput` and shared:
the envelope parses, the layout result, the escalation analysis, the Never findings, adherence and
task results. Patterns are compiled once per card (keyed by the card's ``content_hash`` and the
config's fingerprint) and once per scenario.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from agenteval.inputs.card import AgentCard
from agenteval.inputs.scenario import Scenario
from agenteval.scorers.adherence import AdherenceSpec, ElementResult, TaskSpec, Verdict
from agenteval.scorers.base import CheckResult, ScoreContext, ScoreRecord
from agenteval.scorers.config import DEFAULT_CONFIG, ScoringConfig
from agenteval.scorers.envelope import Confidence, EnvelopeParse, EnvelopeSpec, Occurrence
from agenteval.scorers.escalation import EscalationResult, EscalationSpec
from agenteval.scorers.judge import JudgeOutcome
from agenteval.scorers.layout import LayoutResult, LayoutSpec
from agenteval.scorers.never import NeverFinding, NeverSpec
from agenteval.scorers.registry import registered_checks, run_check
from agenteval.scorers.text import Doc, normalize

K = TypeVar("K")
V = TypeVar("V")


class _LRU(OrderedDict[K, V]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: K, value: V) -> V:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)
        return value


class CompiledCard:
    """Every card-derived pattern the checks use, compiled once."""

    def __init__(self, card: AgentCard, config: ScoringConfig) -> None:
        self.card = card
        self.config = config
        self.envelope = EnvelopeSpec(card, config)
        self.layout = LayoutSpec(card, config)
        self.escalation = EscalationSpec(card)
        self.never = NeverSpec(card, config)
        self.adherence = AdherenceSpec(card)
        self.rule_ids = set(card.rule_ids)


_CARDS: _LRU[tuple[str, str], CompiledCard] = _LRU(32)
_SCENARIOS: _LRU[int, tuple[Scenario, TaskSpec]] = _LRU(512)
_FINGERPRINTS: _LRU[int, tuple[ScoringConfig, str]] = _LRU(64)


def _fingerprint(config: ScoringConfig) -> str:
    hit = _FINGERPRINTS.get(id(config))
    if hit is not None and hit[0] is config:
        return hit[1]
    return _FINGERPRINTS.put(id(config), (config, config.fingerprint()))[1]


def compile_card(card: AgentCard, config: ScoringConfig | None = None) -> CompiledCard:
    """The compiled scorer for a card (cached per ``content_hash`` and config)."""
    cfg = config or DEFAULT_CONFIG
    key = (card.content_hash, _fingerprint(cfg))
    hit = _CARDS.get(key)
    if hit is not None and hit.card is card:
        return hit
    if hit is not None:  # same content, another object: still valid
        return hit
    return _CARDS.put(key, CompiledCard(card, cfg))


def _task_spec(scenario: Scenario) -> TaskSpec:
    hit = _SCENARIOS.get(id(scenario))
    if hit is not None and hit[0] is scenario:
        return hit[1]
    return _SCENARIOS.put(id(scenario), (scenario, TaskSpec(scenario)))[1]


@dataclass
class CheckInput:
    """What a check sees: the response (normalised), where it came from, and shared parses."""

    text: str
    ctx: ScoreContext
    card: AgentCard
    scenario: Scenario | None
    config: ScoringConfig
    compiled: CompiledCard
    doc: Doc
    raw_was_none: bool = False
    judge: JudgeOutcome | None = None

    @property
    def tool_mode(self) -> str | None:
        """The tool mode of the item (context first, then the scenario)."""
        if self.ctx.tool_mode:
            return self.ctx.tool_mode
        return self.scenario.tool_mode if self.scenario is not None else None

    @cached_property
    def occurrences(self) -> list[Occurrence]:
        """Envelope field labels found anywhere (loosely)."""
        return self.compiled.envelope.occurrences(self.doc)

    @cached_property
    def strict(self) -> EnvelopeParse:
        """The strict envelope parse."""
        return self.compiled.envelope.parse(self.doc, self.occurrences, loose=False)

    @cached_property
    def loose(self) -> EnvelopeParse:
        """The loose envelope parse. Loose tolerates everything strict does: a valid strict envelope
        is a valid loose one, whatever else the response holds."""
        parse = self.compiled.envelope.parse(self.doc, self.occurrences, loose=True)
        strict = self.strict
        if strict.ok and not parse.ok:
            return EnvelopeParse("loose", True, True, strict.chosen, strict.field_ok, strict.in_order,
                                 strict.confidence, "strict envelope valid (loose accepts it)")
        return parse

    @cached_property
    def confidence(self) -> Confidence | None:
        """The Confidence value from the loose parse (last complete envelope, else last label)."""
        if self.loose.complete and self.loose.confidence is not None:
            return self.loose.confidence
        if self.loose.complete:
            return None
        return self.compiled.envelope.confidence_anywhere(self.occurrences, self.doc)

    @cached_property
    def confidence_value(self) -> float | None:
        """Numeric confidence: the stated number if any, else the level's configured value."""
        c = self.confidence
        if c is None:
            return None
        if c.stated is not None:
            return c.stated
        if c.level is not None:
            return self.compiled.envelope.level_values.get(c.level)
        return None

    @cached_property
    def uncertainty_value(self) -> str | None:
        """The value of the envelope's uncertainty field (a field named like 'Uncertainty'), if any."""
        env = self.compiled.envelope
        idx = next((i for i, n in enumerate(env.fields) if "uncertain" in n.lower()), -1)
        if idx < 0:
            return None
        chosen = self.loose.chosen or []
        for o in chosen:
            if o.field == idx:
                return o.value
        return None

    @cached_property
    def layout(self) -> LayoutResult:
        """The layout result for the item's tool mode."""
        return self.compiled.layout.check(self.doc, self.tool_mode)

    @cached_property
    def escalation(self) -> EscalationResult:
        """The escalation analysis."""
        return self.compiled.escalation.detect(self.doc)

    @cached_property
    def never(self) -> list[NeverFinding]:
        """One finding per Never rule."""
        tempted = set(self.scenario.expect.tempts) if self.scenario is not None else set()
        return self.compiled.never.check(self.doc, tempted, self.tool_mode, self.ctx.mode)

    @cached_property
    def never_verdict(self) -> tuple[list[str], str]:
        """(violated rule ids, source): the judge's verdicts when it has them, else the screen's."""
        if self.judge is not None and self.judge.verdicts is not None:
            v = self.judge.verdicts
            return [f.rule_id for f in self.never
                    if v.get(f.rule_id.replace(".", "_"), {}).get("verdict") == "fail"], "judge"
        return [f.rule_id for f in self.never if f.violated], "screen"

    @cached_property
    def mode_verdict(self) -> Verdict:
        """Cognitive-mode adherence."""
        return self.compiled.adherence.mode(self.ctx.mode, self.doc, self.uncertainty_value)

    @cached_property
    def role_verdict(self) -> Verdict:
        """Ensemble-role adherence."""
        return self.compiled.adherence.role(self.ctx.role, self.doc, self.uncertainty_value, self.scenario)

    @cached_property
    def elements(self) -> list[ElementResult] | None:
        """Planted defects / required elements results; None without a scenario."""
        if self.scenario is None:
            return None
        return _task_spec(self.scenario).check(self.doc)


def _record(inp: CheckInput, checks: list[CheckResult]) -> ScoreRecord:
    conf = inp.confidence
    esc = inp.escalation
    elements = inp.elements
    found = [e.id for e in elements if e.found] if elements is not None else None
    task_score = (len(found) / len(elements)) if elements and found is not None else None
    mode_v = inp.mode_verdict
    role_v = inp.role_verdict
    return ScoreRecord.model_construct(
        envelope_ok=inp.strict.ok,
        envelope_loose_ok=inp.loose.ok,
        confidence_level=conf.level if conf is not None else None,
        confidence_value=inp.confidence_value,
        confidence_stated=conf.stated if conf is not None else None,
        escalated=esc.escalated,
        escalation_target=esc.target,
        triggers_cited=list(esc.triggers),
        never_violations=inp.never_verdict[0],
        never_source=inp.never_verdict[1],
        never_screen=[f.rule_id for f in inp.never if f.violated],
        judge_missing=inp.judge is not None and inp.judge.verdicts is None,
        layout_ok=inp.layout.ok if inp.layout.applicable else None,
        mode_adherence=mode_v.ok if mode_v.applicable else None,
        role_adherence=role_v.ok if role_v.applicable else None,
        elements_found=found,
        task_score=task_score,
        truncated=inp.doc.truncated,
        checks=checks,
    )


def score_response(
    response: str | None,
    ctx: ScoreContext,
    card: AgentCard,
    scenario: Scenario | None = None,
    config: ScoringConfig | None = None,
    judge: JudgeOutcome | None = None,
) -> ScoreRecord:
    """Score one response against the card (and the scenario, when known).

    Total and deterministic: any string (or ``None``) yields a record; a failing check becomes a
    not-applicable :class:`CheckResult` naming the error. ``scenario=None`` makes the
    scenario-specific checks (expected escalation, task elements, rule coverage) not applicable.
    ``judge``: the LLM judge's verdicts on this response (or why there are none); with verdicts they decide
    the ``never.<n>`` checks and ``never_violations``, the screen's own hits stay in ``never_screen``.
    """
    cfg = config or DEFAULT_CONFIG
    compiled = compile_card(card, cfg)
    text, truncated = normalize(response, cfg.max_scan_chars)
    doc = Doc(text, truncated)
    inp = CheckInput(text, ctx, card, scenario, cfg, compiled, doc, raw_was_none=response is None, judge=judge)
    results: list[CheckResult] = []
    for spec in registered_checks().values():
        if not spec.is_enabled(cfg):
            continue
        results.extend(run_check(spec, inp))
    try:
        return _record(inp, results)
    except Exception as exc:  # pragma: no cover - defensive: the record must always be produced
        return ScoreRecord(envelope_ok=False, checks=[*results, CheckResult(
            id="scoring.error", passed=False, applicable=False, reason=f"{type(exc).__name__}: {exc}")])
