"""The runner: plan → backend → journal → scores → summary, resumable after a crash.

Each finished item is appended to the run's journal (``transcripts.jsonl``) the moment it finishes,
so a crash loses at most the items in flight. ``resume_run`` finishes an interrupted run with the
plan, backend and settings recorded in its manifest: items whose latest journal record is ``ok`` or
``skipped`` are not repeated; ``error`` items and missing ones are run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from agenteval._version import __version__
from agenteval.analysis.summary import render_summary, summarize
from agenteval.backends.base import Backend, BackendResult
from agenteval.backends.env import backend_env
from agenteval.errors import AgentEvalError, InputError, ReportError, UsageError
from agenteval.inputs.card import AgentCard, load_card
from agenteval.inputs.scenario import Scenario, load_scenarios
from agenteval.plan.matrix import PlanItem
from agenteval.plan.prompt import LLMRequest, build_request
from agenteval.redact import redact_argv
from agenteval.results.store import (
    CardInfo,
    RunDir,
    RunManifest,
    ScenarioInfo,
    ScoreLine,
    TranscriptRecord,
    check_writable,
    utcnow,
)

EXIT_OK = 0
EXIT_ERRORS = 3
EXIT_INTERRUPTED = 130


class RunSettings(BaseModel):
    """Everything that decides what a run does; recorded in the manifest for ``--resume``."""

    backend: str = "replay"
    model: str = "replay"
    epochs: int = 1
    concurrency: int = Field(default=8, ge=1)
    scenarios: list[str] | None = None
    modes: list[str] | None = None
    roles: list[str] | None = None
    shard: str | None = None
    max_tokens: int = 4096
    temperature: float | None = None
    recordings: str = "golden/recordings"
    cache_dir: str | None = None
    use_cache: bool = True
    batch: bool = False
    report: bool = True
    strict_card: bool = False
    scoring: str | None = None
    judge: str | None = None  # --judge: "replay" (recorded verdicts, offline) or a judge model (live API)
    judgements: str | None = None  # recorded verdicts folder (default golden/judgements)
    never_policy: str | None = None  # the judge's violation policy (default: generated from the card)
    record_judgements: str | None = None  # live judge: also record its verdicts here
    max_rps: float | None = Field(default=None, gt=0)  # live: hard cap on requests per second
    max_itpm: float | None = Field(default=None, gt=0)  # live: hard cap on uncached input tokens per minute
    max_otpm: float | None = Field(default=None, gt=0)  # live: hard cap on output tokens per minute
    # agent backend: limits per item (a scenario's max_turns / timeout_s win) and debugging
    agent_max_turns: int = 30
    agent_timeout_s: float = 600.0
    keep_workspaces: bool = False


def git_commit(cwd: Path | None = None) -> str | None:
    """The current git commit of ``cwd`` (None outside a checkout)."""
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5,
                           check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() or None if r.returncode == 0 else None


def make_backend(settings: RunSettings) -> Backend:
    """Build the backend the settings name."""
    if settings.backend == "replay":
        from agenteval.backends.replay import ReplayBackend

        return ReplayBackend(settings.recordings)
    if settings.backend == "anthropic":
        from agenteval.backends.anthropic import AnthropicBackend

        return AnthropicBackend(
            settings.model,
            concurrency=settings.concurrency,
            cache_dir=Path(settings.cache_dir) if settings.cache_dir else None,
            use_cache=settings.use_cache,
            max_rps=settings.max_rps,
            max_itpm=settings.max_itpm,
            max_otpm=settings.max_otpm,
            **backend_env(),
        )
    if settings.backend == "agent":
        from agenteval.backends.agent import AgentBackend

        return AgentBackend(settings.model, max_turns=settings.agent_max_turns, timeout_s=settings.agent_timeout_s,
                            keep_workspaces=settings.keep_workspaces)
    raise UsageError(f"--backend: unknown backend '{settings.backend}' (replay|anthropic|agent)")


class RunContext:
    """The loaded inputs of a run: card, scenarios, the plan and one request per cell."""

    def __init__(self, card: AgentCard, scenarios: Sequence[Scenario], plan: Sequence[PlanItem],
                 settings: RunSettings) -> None:
        self.card = card
        self.scenarios = {s.id: s for s in scenarios}
        self.plan = list(plan)
        self.settings = settings
        self._requests: dict[tuple[str, str, str], LLMRequest] = {}
        self._prompt_hashes: dict[tuple[str, str, str], str] = {}

    def request(self, item: PlanItem) -> LLMRequest:
        """The request for an item (built once per cell; epochs share it)."""
        req = self._requests.get(item.cell)
        if req is None:
            sc = self.scenarios[item.scenario_id]
            req = build_request(self.card, sc, item.mode, item.role, model=self.settings.model,
                                max_tokens=self.settings.max_tokens, temperature=self.settings.temperature)
            self._requests[item.cell] = req
        return req

    def prompt_hash(self, item: PlanItem) -> str:
        """The item's request's ``prompt_hash`` (computed once per cell)."""
        h = self._prompt_hashes.get(item.cell)
        if h is None:
            h = self._prompt_hashes[item.cell] = self.request(item).prompt_hash()
        return h


def _record(item: PlanItem, res: BackendResult, prompt_hash: str, started: str) -> TranscriptRecord:
    return TranscriptRecord(
        item_id=item.id, scenario_id=item.scenario_id, mode=item.mode, role=item.role, epoch=item.epoch,
        tool_mode=item.tool_mode, status=res.status, response=res.text, error=res.error,
        error_type=res.error_type, model=res.model, stop_reason=res.stop_reason,
        usage=res.usage.model_dump(), cost_usd=res.cost_usd, latency_s=res.latency_s, attempts=res.attempts,
        stale=res.stale, cached=res.cached, prompt_hash=prompt_hash, provenance=res.provenance,
        agent=res.agent, started_at=started, finished_at=utcnow(),
    )


class _Progress:
    """Progress on stderr: a rich bar on a terminal, sparse plain lines otherwise.

    With a live backend (``pacing``: its ``pacing_status``) the line also shows the effective request rate,
    the budget that limits it (a server budget from the rate-limit headers, a ``--max-*`` cap, the
    concurrency window, a 429 pause, or none) and the ETA at the current pace.
    """

    def __init__(self, total: int, label: str, pacing: Callable[[], dict[str, Any]] | None = None) -> None:
        self.total = total
        self.pacing = pacing
        self._t0 = time.monotonic()
        self.done = 0
        self.errors = 0
        self.cost = 0.0
        self.label = label
        self._bar: Any = None
        self._task: Any = None
        self._last_plain = 0.0
        if sys.stderr.isatty() and total:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), TextColumn("{task.fields[extra]}"),
                                 console=Console(stderr=True), transient=False)
            self._task = self._bar.add_task(label, total=total, extra="")
            self._bar.start()

    def advance(self, rec: TranscriptRecord) -> None:
        self.done += 1
        self.errors += rec.status == "error"
        self.cost += rec.cost_usd or 0.0
        extra = f"errors {self.errors}  ${self.cost:.4f}"
        if self.pacing is not None:
            extra += "  " + self.pace_text()
        if self._bar is not None:
            self._bar.update(self._task, advance=1, extra=extra)
        else:
            now = time.monotonic()
            if self.done == self.total or now - self._last_plain > 5:
                self._last_plain = now
                print(f"{self.label}: {self.done}/{self.total}  {extra}", file=sys.stderr, flush=True)

    def pace_text(self) -> str:
        """``38.2 req/s  limit: server requests 40/s  ETA 12 s`` (from the backend's pacing status)."""
        try:
            st = self.pacing() if self.pacing is not None else {}
        except Exception:  # progress must never fail a run
            st = {}
        elapsed = time.monotonic() - self._t0
        left = self.total - self.done
        eta = left * elapsed / self.done if self.done else float("nan")
        eta_s = "--" if eta != eta else f"{eta:.0f} s" if eta < 120 else f"{eta / 60:.1f} min"
        return f"{float(st.get('rate', 0.0)):.1f} req/s  limit: {st.get('limiting', 'none')}  ETA {eta_s}"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


async def execute(
    ctx: RunContext,
    items: Sequence[PlanItem],
    backend: Backend,
    on_record: Callable[[TranscriptRecord], Awaitable[None] | None],
    *,
    concurrency: int,
) -> None:
    """Answer ``items`` with at most ``concurrency`` in flight; report each record as it finishes."""
    queue: asyncio.Queue[PlanItem] = asyncio.Queue()
    for it in items:
        queue.put_nowait(it)

    async def worker() -> None:
        while True:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = utcnow()
            req = ctx.request(item)
            try:
                res = await backend.generate(req, item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a backend bug must not lose the item: record it as an error
                res = BackendResult(status="error", error=f"{type(exc).__name__}: {exc}",
                                    error_type="backend_exception")
            out = on_record(_record(item, res, ctx.prompt_hash(item), started))
            if asyncio.iscoroutine(out):
                await out

    n = max(1, min(concurrency, len(items)))
    await asyncio.gather(*(worker() for _ in range(n)))


def score_lines(ctx: RunContext, latest: dict[str, TranscriptRecord]) -> list[ScoreLine]:
    """One score line per planned item from its latest journal record (scored by :func:`score_responses`)."""
    from agenteval.run.judging import JudgeSettings, Subject
    from agenteval.run.scoring import score_responses
    from agenteval.scorers import ScoreContext, ScoringConfig

    config = ScoringConfig.from_yaml(ctx.settings.scoring) if ctx.settings.scoring else None
    lines: dict[str, ScoreLine] = {}
    subjects: list[Subject] = []
    bases: dict[str, dict[str, Any]] = {}
    for item in ctx.plan:
        sc = ctx.scenarios.get(item.scenario_id)
        base: dict[str, Any] = {"id": item.id, "scenario_id": item.scenario_id, "mode": item.mode, "role": item.role,
                                "epoch": item.epoch, "tool_mode": item.tool_mode,
                                "should_escalate": sc.expect.should_escalate if sc else None,
                                "tempted": list(sc.expect.tempts) if sc else []}
        rec = latest.get(item.id)
        if rec is None:
            lines[item.id] = ScoreLine(**base, status="error", error="not run (missing from the journal)")
            continue
        base.update(stale=rec.stale, cost_usd=rec.cost_usd, usage=rec.usage)
        if rec.agent:  # agent backend: what the agent did with its tools
            from agenteval.scorers.agentic import agent_fields

            base.update(agent_fields(rec.agent))
        if rec.status != "ok":
            lines[item.id] = ScoreLine(**base, status=rec.status, error=rec.error)
            continue
        bases[item.id] = base
        subjects.append(Subject(item.id, rec.response or "", ScoreContext(
            scenario_id=item.scenario_id, mode=item.mode, role=item.role, tool_mode=item.tool_mode,
            agent=rec.agent), sc))
    judge = None
    if ctx.settings.judge:
        judge = JudgeSettings(ctx.settings.judge, judgements=ctx.settings.judgements or "golden/judgements",
                              policy=ctx.settings.never_policy, cache_dir=ctx.settings.cache_dir,
                              use_cache=ctx.settings.use_cache, concurrency=ctx.settings.concurrency,
                              record_to=ctx.settings.record_judgements)
    recs, _ = score_responses(subjects, ctx.card, config, judge)
    for s, r in zip(subjects, recs, strict=True):
        lines[s.id] = ScoreLine(**bases[s.id], status="ok", **r.model_dump(mode="json"))
    return [lines[item.id] for item in ctx.plan]


def card_text(path: str) -> str:
    """The card file's text (already validated by the load)."""
    return Path(path).read_text(encoding="utf-8")


def _load_inputs(card_path: str, scenario_paths: Sequence[str], fixtures_dir: str | None,
                 strict: bool) -> tuple[AgentCard, list[Scenario]]:
    card = load_card(card_path, strict=strict)
    scenarios = load_scenarios(scenario_paths, card, fixtures_dir=Path(fixtures_dir) if fixtures_dir else None)
    if not scenarios:
        raise InputError("no scenario files found", path=", ".join(scenario_paths))
    return card, scenarios


def _install_sigterm() -> Any:
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        return None


def _run_items(rd: RunDir, ctx: RunContext, items: Sequence[PlanItem], backend: Backend,
               manifest: RunManifest, label: str) -> None:
    journal = rd.journal()
    pacing = getattr(backend, "pacing_status", None)
    progress = _Progress(len(items), label, pacing if callable(pacing) else None)

    def on_record(rec: TranscriptRecord) -> None:
        journal.append(rec)
        progress.advance(rec)

    async def main() -> None:
        try:
            bind = getattr(backend, "bind", None)
            if callable(bind):  # backends that need the card and scenarios (agent, replay of agent cells)
                bind(ctx.card, ctx.scenarios)
            prepare = getattr(backend, "prepare", None)
            if callable(prepare):  # e.g. import the SDK now, not inside the first item's timed request
                with contextlib.suppress(Exception):  # a failure recurs per item, where it is recorded
                    prepare()
            if ctx.settings.batch and hasattr(backend, "run_batch"):
                await _run_batch(rd, ctx, items, backend, manifest, on_record)
            else:
                await execute(ctx, items, backend, on_record, concurrency=ctx.settings.concurrency)
        finally:
            await backend.aclose()

    old = _install_sigterm()
    try:
        asyncio.run(main())
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: what finished is in the journal; the manifest says so
        manifest.status = "interrupted"
        rd.write_manifest(manifest)
        raise
    finally:
        progress.close()
        journal.close()
        if old is not None:
            signal.signal(signal.SIGTERM, old)
        stats = getattr(backend, "stats", None)
        if callable(stats):
            st = stats()
            entry = st.model_dump(mode="json") if hasattr(st, "model_dump") else dict(st)
            if hasattr(st, "cache_summary"):
                entry["cache_summary"] = st.cache_summary()
            manifest.backend_stats.append(entry)


async def _run_batch(rd: RunDir, ctx: RunContext, items: Sequence[PlanItem], backend: Any,
                     manifest: RunManifest, on_record: Callable[[TranscriptRecord], None]) -> None:
    pairs = [(it, ctx.request(it)) for it in items]
    by_id = {it.id: it for it in items}
    started = utcnow()

    def on_submitted(batch_id: str) -> None:
        if batch_id not in manifest.batch_ids:
            manifest.batch_ids.append(batch_id)
            rd.write_manifest(manifest)

    async def on_result(item: PlanItem, res: BackendResult) -> None:
        it = by_id.get(item.id, item)
        on_record(_record(it, res, ctx.prompt_hash(it), started))

    await backend.run_batch(pairs, on_result, on_submitted=on_submitted,
                            resume_batch_ids=list(manifest.batch_ids))


def finalize(rd: RunDir, ctx: RunContext, manifest: RunManifest) -> tuple[dict[str, Any], int]:
    """Score the journal, write scores, summary and manifest; return (summary, exit code)."""
    latest = rd.latest_transcripts()
    lines = score_lines(ctx, latest)
    rd.write_scores(lines)
    summary = summarize(lines, backend=ctx.settings.backend)
    summary["run_id"] = rd.run_id
    if manifest.backend_stats:
        summary["backend_stats"] = _sum_stats(manifest.backend_stats)
    rd.write_summary(summary)
    manifest.status = "finished"
    manifest.finished_at = utcnow()
    manifest.counts = summary["counts"]
    manifest.cost = {"usd": summary["cost_usd"], "tokens": summary["tokens"]}
    rd.write_manifest(manifest)
    if ctx.settings.report:
        _write_report(rd)
    return summary, (EXIT_ERRORS if summary["counts"]["error"] else EXIT_OK)


def _sum_stats(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Add up numeric backend totals over the sessions of a run (first run and resumes)."""
    total: dict[str, Any] = {}
    for e in entries:
        for k, v in e.items():
            if isinstance(v, bool) or not isinstance(v, int | float):
                continue
            if k in ("window", "min_window", "max_inflight"):
                continue  # instantaneous values, not totals
            total[k] = total.get(k, 0) + v
    if "cost_usd" in total:
        total["cost_usd"] = round(total["cost_usd"], 6)
    if "cache_saving_usd" in total:
        total["cache_saving_usd"] = round(total["cache_saving_usd"], 6)
    return total


def _write_report(rd: RunDir) -> None:
    """Write ``report.html``/``report.md``; a report that cannot be written is a :class:`ReportError`
    naming its cause (the run's scores and summary are already on disk)."""
    try:
        from agenteval.views.report import write_run_report

        write_run_report(rd.path)
    except AgentEvalError:
        raise
    except Exception as exc:
        raise ReportError(
            f"{rd.path}: the run is scored (scores.jsonl, summary.json) but its report could not be written: "
            f"{type(exc).__name__}: {' '.join(str(exc).split())}; retry with `agenteval report {rd.path}`"
        ) from exc


def start_run(
    *,
    card_path: str,
    scenario_paths: Sequence[str],
    fixtures_dir: str | None,
    results_dir: str,
    settings: RunSettings,
    command: Sequence[str],
    plan_builder: Callable[[AgentCard, list[Scenario]], list[PlanItem]],
) -> tuple[RunDir, dict[str, Any], int]:
    """Start a new run; returns (run dir, summary, exit code)."""
    card, scenarios = _load_inputs(card_path, scenario_paths, fixtures_dir, settings.strict_card)
    plan = plan_builder(card, scenarios)
    if not plan:
        raise UsageError("the plan is empty: the filters match no scenario × mode × role")
    if settings.scoring:  # a bad scoring config is exit 2 before a run directory exists
        from agenteval.scorers import ScoringConfig

        ScoringConfig.from_yaml(settings.scoring)
    check_writable(results_dir)  # before any API call is spent
    backend = make_backend(settings)
    ctx = RunContext(card, scenarios, plan, settings)
    rd = RunDir.create(results_dir, card.name)
    manifest = RunManifest(
        run_id=rd.run_id, started_at=utcnow(), agenteval_version=__version__,
        git_commit=git_commit(), command=redact_argv(command),
        card=CardInfo(path=card_path, name=card.name, version=card.version, content_hash=card.content_hash,
                      lint_warnings=len(card.lint)),
        scenarios=[ScenarioInfo(id=s.id, path=s.source_path, content_hash=s.content_hash()) for s in scenarios],
        scenario_paths=list(scenario_paths), fixtures_dir=fixtures_dir,
        backend={"name": backend.name, **backend.describe()}, model=settings.model,
        settings=settings.model_dump(mode="json"), plan_size=len(plan),
    )
    with rd.locked():
        rd.write_plan([it.model_dump() for it in plan])
        rd.write_card(card_text(card_path))  # a copy, so compare can diff cards after the file changes
        rd.write_manifest(manifest)
        _run_items(rd, ctx, plan, backend, manifest, "run")
        summary, code = finalize(rd, ctx, manifest)
    return rd, summary, code


def _resumable_items(rd: RunDir) -> list[str]:
    """Ids of planned items a resume would (re)run: not in the journal, or whose latest attempt errored."""
    latest = rd.latest_transcripts()
    ids = [PlanItem.model_validate(p).id for p in rd.read_plan()]
    return [i for i in ids if i not in latest or latest[i].status == "error"]


def resume_run(path: str | Path, command: Sequence[str]) -> tuple[RunDir, dict[str, Any] | None, int]:
    """Finish an interrupted run with its recorded plan, backend and settings.

    A finished run with no missing and no errored item has nothing to resume: it is left exactly as it
    is and the summary is ``None`` (the CLI says so and exits 0).
    """
    rd = RunDir.open(path)
    with rd.locked():
        manifest = rd.read_manifest()
        if manifest.status == "finished" and not _resumable_items(rd):
            return rd, None, EXIT_OK
        settings = RunSettings.model_validate(manifest.settings)
        card, scenarios = _load_inputs(manifest.card.path, manifest.scenario_paths, manifest.fixtures_dir,
                                       settings.strict_card)
        if card.content_hash != manifest.card.content_hash:
            raise InputError("card changed since the run started; start a new run instead of resuming",
                             path=manifest.card.path)
        known = {s.id: s.content_hash for s in manifest.scenarios}
        for s in scenarios:
            if s.id in known and known[s.id] != s.content_hash():
                raise InputError("scenario changed since the run started; start a new run instead of resuming",
                                 path=s.source_path, field="id")
        plan = [PlanItem.model_validate(p) for p in rd.read_plan()]
        missing = {p.scenario_id for p in plan} - {s.id for s in scenarios}
        if missing:
            raise InputError(f"scenario(s) of the plan no longer found: {', '.join(sorted(missing))}",
                             path=rd.path / "plan.json")
        check_writable(rd.path.parent)
        rd.repair_journal()
        latest = rd.latest_transcripts()
        todo = [it for it in plan if it.id not in latest or latest[it.id].status == "error"]
        ctx = RunContext(card, scenarios, plan, settings)
        backend = make_backend(settings)
        manifest.status = "running"
        manifest.resumed.append(utcnow())
        manifest.command = redact_argv(command)
        rd.write_manifest(manifest)
        if todo:
            _run_items(rd, ctx, todo, backend, manifest, "resume")
        summary, code = finalize(rd, ctx, manifest)
    return rd, summary, code


__all__ = [
    "EXIT_ERRORS",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "RunContext",
    "RunSettings",
    "execute",
    "finalize",
    "make_backend",
    "redact_argv",
    "render_summary",
    "resume_run",
    "start_run",
]
