"""Getting the LLM judge's Never verdicts: live through the backend layer, or recorded and replayed offline.

* ``--judge MODEL``: each answer's request (:func:`~agenteval.scorers.judge.build_judge_request`) goes through
  :class:`~agenteval.backends.anthropic.AnthropicBackend`, the same client, retry policy, rate limiter,
  response cache, timeouts and secret handling as the agent's own calls. Verdicts can be recorded
  (``record_to``) with provenance, so later runs replay them.
* ``--judge replay``: verdicts recorded under ``golden/judgements/`` (or ``--judgements DIR``) are matched to
  each answer by the hash of its judge request; no key, no network. An answer whose request has no recorded
  verdict is never given another's: it gets a :class:`JudgeOutcome` with ``missing`` set (the screen decides,
  ``judge_missing`` is counted).
* ``agenteval judge export`` / ``import``: the requests go out as JSON lines to be answered anywhere (a
  live model, another tool, a person) and come back checked against the exported request, with provenance.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from agenteval.errors import InputError, UsageError
from agenteval.fileio import atomic_write_jsonl, utcnow
from agenteval.inputs.card import AgentCard
from agenteval.inputs.judgements import (
    Judgement,
    JudgeRequestLine,
    load_judgements,
    read_requests,
    read_verdict_lines,
)
from agenteval.inputs.scenario import Scenario
from agenteval.plan.matrix import PlanItem
from agenteval.plan.prompt import LLMRequest
from agenteval.scorers.base import ScoreContext
from agenteval.scorers.judge import (
    JudgeAnswerError,
    JudgeOutcome,
    Policy,
    build_judge_request,
    generate_policy,
    parse_policy,
    parse_verdicts,
    request_hash,
    rubric_keys,
    task_text,
)
from agenteval.scorers.text import normalize

DEFAULT_JUDGEMENTS = "golden/judgements"
REPLAY = "replay"
EXPORT_MODEL = "claude-sonnet-4-5"  # the model named in exported requests (answerers may use any)
MISSING = "no recorded verdict for this exact judge request (new answer text, or a changed card, rubric or policy)"


@dataclass(frozen=True)
class Subject:
    """One answer to judge and the cell it answers."""

    id: str
    response: str
    ctx: ScoreContext
    scenario: Scenario | None = None
    task: str | None = None  # what the agent was asked, when no scenario says it (a responses line's ``task``)


@dataclass
class JudgeSettings:
    """How to get verdicts: ``judge`` is ``replay`` or a model; the rest tunes replay or the live judge."""

    judge: str
    judgements: str | Path = DEFAULT_JUDGEMENTS
    policy: str | Path | None = None
    cache_dir: str | None = None
    use_cache: bool = True
    concurrency: int = 8
    record_to: str | Path | None = None  # live only: also record the verdicts here, with provenance
    max_scan_chars: int = 400_000

    @property
    def replay(self) -> bool:
        """Whether verdicts come from recordings (no key, no network)."""
        return self.judge == REPLAY


@dataclass
class JudgeReport:
    """What getting the verdicts did, for one line on stderr and the run manifest."""

    mode: str
    answered: int = 0
    missing: int = 0
    failed: list[str] = field(default_factory=list)
    cost_usd: float = 0.0

    def line(self) -> str:
        """One human line."""
        what = "recorded verdicts" if self.mode == REPLAY else f"live judge {self.mode}"
        out = f"judge: {what}: {self.answered} answer(s) judged, {self.missing} without a verdict (judge_missing)"
        if self.mode != REPLAY:
            out += f", ${self.cost_usd:.4f} (estimate)"
        return out


def load_policy(path: str | Path | None, card: AgentCard) -> Policy:
    """The violation policy the judge applies: ``path`` when given, else one generated from the card's rules.

    Raises:
        InputError: ``path`` names no readable file.
    """
    if path:
        p = Path(path)
        try:
            return parse_policy(p.read_text(encoding="utf-8"), source=p.name)
        except FileNotFoundError:
            raise InputError("never policy not found", path=p) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read never policy: {exc}", path=p) from None
    return parse_policy(generated_policy(card), source=f"generated from the rules of card {card.name}")


def generated_policy(card: AgentCard) -> str:
    """A starting policy for ``card`` from its own Never rules (template ``data/never-policy-template.md``)."""
    template = resources.files("agenteval").joinpath("data", "never-policy-template.md").read_text(encoding="utf-8")
    return generate_policy(card, template)


def request_for(subject: Subject, card: AgentCard, policy: Policy, *, model: str = EXPORT_MODEL,
                max_scan_chars: int = 400_000) -> LLMRequest:
    """The judge's request for one answer (the answer normalised as the scorers see it)."""
    text = normalize(subject.response, max_scan_chars)[0]
    task = task_text(subject.scenario, subject.ctx.role) if subject.scenario is not None else (subject.task or "")
    return build_judge_request(card, text, task, policy=policy, model=model)


def _outcome(j: Judgement) -> JudgeOutcome:
    who = j.producer + (f", {j.model}" if j.model else "")
    return JudgeOutcome(verdicts={k: v.model_dump() for k, v in j.verdicts.items()}, source=f"recorded: {who}")


def judge_outcomes(subjects: Sequence[Subject], card: AgentCard, settings: JudgeSettings
                   ) -> tuple[list[JudgeOutcome], JudgeReport]:
    """One outcome per subject, replayed or asked live (see the module docstring)."""
    policy = load_policy(settings.policy, card)
    if settings.replay:
        book = load_judgements(settings.judgements)
        outs: list[JudgeOutcome] = []
        rep = JudgeReport(REPLAY)
        for s in subjects:
            j = book.get(request_hash(request_for(s, card, policy, max_scan_chars=settings.max_scan_chars)))
            if j is None:
                rep.missing += 1
                outs.append(JudgeOutcome(missing=MISSING))
            else:
                rep.answered += 1
                outs.append(_outcome(j))
        return outs, rep
    return asyncio.run(_live(subjects, card, policy, settings))


async def _live(subjects: Sequence[Subject], card: AgentCard, policy: Policy, settings: JudgeSettings
                ) -> tuple[list[JudgeOutcome], JudgeReport]:
    from agenteval.backends.anthropic import AnthropicBackend
    from agenteval.backends.env import backend_env

    backend = AnthropicBackend(settings.judge, concurrency=settings.concurrency,
                               cache_dir=settings.cache_dir, use_cache=settings.use_cache, **backend_env())
    model = backend.model or settings.judge
    rep = JudgeReport(model)
    reqs = [request_for(s, card, policy, model=model, max_scan_chars=settings.max_scan_chars) for s in subjects]
    recorded: list[Judgement] = []

    async def one(s: Subject, req: LLMRequest) -> JudgeOutcome:
        item = PlanItem(scenario_id=s.ctx.scenario_id, mode=s.ctx.mode, role=s.ctx.role, epoch=1,
                        tool_mode=s.ctx.tool_mode or "solution")
        res = await backend.generate(req, item)
        rep.cost_usd += res.cost_usd or 0.0
        if res.status != "ok":
            rep.failed.append(f"{s.id}: {res.error}")
            return JudgeOutcome(missing=f"the judge failed: {res.error}")
        if res.stop_reason in ("refusal", "max_tokens"):
            rep.failed.append(f"{s.id}: stop_reason {res.stop_reason}")
            return JudgeOutcome(missing=f"the judge's answer stopped: {res.stop_reason}")
        try:
            verdicts = parse_verdicts(res.text or "", rubric_keys(req))
        except JudgeAnswerError as e:
            rep.failed.append(f"{s.id}: {e}")
            return JudgeOutcome(missing=f"the judge's answer does not fit the schema: {e}")
        recorded.append(Judgement(request_hash=request_hash(req), id=s.id, verdicts=verdicts,  # type: ignore[arg-type]
                                  producer=_producer(backend.base_url), method=_method(backend.base_url),
                                  model=res.model or model, imported_at=utcnow()))
        return JudgeOutcome(verdicts=verdicts, source=f"live: {res.model or model}")

    try:
        outs = list(await asyncio.gather(*(one(s, r) for s, r in zip(subjects, reqs, strict=True))))
    finally:
        await backend.aclose()
    rep.answered = sum(1 for o in outs if o.verdicts is not None)
    rep.missing = len(outs) - rep.answered
    if settings.record_to and recorded:
        write_judgements(settings.record_to, recorded, stem=f"live-{_slug(model)}")
    return outs, rep


def check_live_judge(model: str) -> str:
    """The resolved judge model; an unknown model or a missing ``ANTHROPIC_API_KEY`` is a usage error.

    Raises:
        UsageError: no key, or a model that is neither a known alias nor a model id.
    """
    import os

    from agenteval.backends.pricing import resolve_model

    if not os.environ.get("ANTHROPIC_API_KEY"):
        raise UsageError(f"--judge {model}: a live judge needs ANTHROPIC_API_KEY (or use --judge replay with "
                         "recorded verdicts)")
    return resolve_model(model)


def _producer(base_url: str | None) -> str:
    return "anthropic-api" if not base_url or _default_endpoint(base_url) else f"endpoint {base_url}"


def _method(base_url: str | None) -> str:
    if not base_url or _default_endpoint(base_url):
        return "live Messages API call (agenteval --judge)"
    return "Messages API call to a non-default endpoint (not the Anthropic API; may be a fake or proxy)"


def _default_endpoint(url: str) -> bool:
    return bool(re.match(r"^https://api\.anthropic\.com/?$", url.strip()))


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")[:40] or "judge"


def write_judgements(folder: str | Path, lines: Sequence[Judgement], *, stem: str) -> Path:
    """Write recorded verdicts as a new file under ``folder`` (atomically); returns its path."""
    root = Path(folder)
    stamp = utcnow().replace(":", "").replace("-", "").split(".")[0]
    path = root / f"{stem}-{stamp}.jsonl"
    n = 1
    while path.exists():
        n += 1
        path = root / f"{stem}-{stamp}-{n}.jsonl"
    atomic_write_jsonl(path, (j.model_dump(mode="json", exclude_none=True) for j in lines))
    return path


# ------------------------------------------------------------------------------------------ export / import


def export_requests(subjects: Sequence[Subject], card: AgentCard, out: str | Path, *, policy_path: str | Path | None
                    ) -> int:
    """Write one ``{"id", "request_hash", "request"}`` line per answer; returns the count."""
    policy = load_policy(policy_path, card)
    rows = []
    for s in subjects:
        req = request_for(s, card, policy)
        rows.append(JudgeRequestLine(id=s.id, request_hash=request_hash(req), request=req.to_api()).model_dump())
    atomic_write_jsonl(Path(out), rows)
    return len(rows)


def import_verdicts(requests: str | Path, verdicts: str | Path, *, producer: str, method: str,
                    model: str | None, to: str | Path) -> tuple[Path, int]:
    """Check every verdict line against the exported request with its hash, then record them all.

    Raises:
        InputError: a non-JSON line, a hash not in the requests file, unknown or missing rubric keys, a verdict
            other than pass/fail (naming the file and line); nothing is written then.
        UsageError: empty producer or method.
    """
    if not producer.strip() or not method.strip():
        raise UsageError("--producer and --method must say who produced the verdicts and how")
    by_hash: dict[str, JudgeRequestLine] = {}
    for i, r in read_requests(requests):
        if request_hash(r.request) != r.request_hash:
            raise InputError("request_hash does not match the request (edited after export?)", path=requests,
                             line=i, field="request_hash")
        by_hash[r.request_hash] = r
    vpath = Path(verdicts)
    out: list[Judgement] = []
    stamp = utcnow()
    for i, v in read_verdict_lines(vpath):
        req = by_hash.get(v.request_hash)
        if req is None:
            raise InputError(f"request_hash {v.request_hash[:19]}… is not in {Path(requests).name}", path=vpath,
                             line=i, field="request_hash")
        try:
            checked = parse_verdicts({k: x.model_dump() for k, x in v.verdicts.items()}, rubric_keys(req.request))
        except JudgeAnswerError as e:
            raise InputError(str(e), path=vpath, line=i, field="verdicts") from None
        out.append(Judgement(request_hash=v.request_hash, id=req.id, verdicts=checked,  # type: ignore[arg-type]
                             producer=producer.strip(), method=method.strip(), model=model, imported_at=stamp))
    if not out:
        raise InputError("no verdict lines", path=vpath)
    return write_judgements(to, out, stem=_slug(producer)), len(out)


def print_report(rep: JudgeReport) -> None:
    """The report's line on stderr (and the first failures)."""
    print(f"agenteval: {rep.line()}", file=sys.stderr)
    for f in rep.failed[:5]:
        print(f"agenteval: judge: {f}", file=sys.stderr)


__all__ = ["DEFAULT_JUDGEMENTS", "REPLAY", "JudgeReport", "JudgeSettings", "Subject", "export_requests",
           "generated_policy", "import_verdicts", "judge_outcomes", "load_policy", "request_for", "write_judgements"]
