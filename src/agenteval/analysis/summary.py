"""Headline metrics of a run, computed from its score lines, with clustered standard errors."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from agenteval.analysis.metrics import SUMMARY_METRICS, MetricFn, item_metrics
from agenteval.analysis.stats import Estimate, clustered_mean
from agenteval.results.store import ScoreLine


def metric_estimate(lines: Sequence[ScoreLine], fn: MetricFn) -> Estimate:
    """Clustered-by-scenario estimate of a per-item metric over the scored (ok) items."""
    from agenteval.analysis.metrics import item_values

    return clustered_mean(*item_values(lines, fn))


def run_counts(lines: Sequence[ScoreLine]) -> dict[str, int]:
    """Planned, ok, error, skipped and stale (ok but answered for another prompt) item counts."""
    status = Counter(s.status for s in lines)
    return {
        "planned": len(lines),
        "ok": status.get("ok", 0),
        "error": status.get("error", 0),
        "skipped": status.get("skipped", 0),
        "stale": sum(1 for s in lines if s.stale and s.status == "ok"),
        "judge_missing": sum(1 for s in lines if s.status == "ok" and s.judge_missing),
    }


def summarize(lines: Sequence[ScoreLine], *, backend: str | None = None) -> dict[str, Any]:
    """The ``summary.json`` content: counts, metrics with SE, per-rule violations, cost."""
    from agenteval.analysis.reports import confusion_cell

    metrics: dict[str, Any] = {}
    registry = item_metrics()
    for key in SUMMARY_METRICS:
        im = registry[key]
        metrics[key] = {"label": im.label, **metric_estimate(lines, im.fn).model_dump()}
    per_rule: Counter[str] = Counter()
    per_rule_screen: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    for s in lines:
        if s.status == "ok":
            per_rule.update(set(s.never_violations))
            per_rule_screen.update(set(s.never_screen))
            sources[s.never_source] += 1
    tokens: Counter[str] = Counter()
    cost = 0.0
    for s in lines:
        tokens.update(s.usage)
        cost += s.cost_usd or 0.0
    esc: Counter[str] = Counter()
    for s in lines:
        if s.status == "ok" and s.escalated is not None and s.should_escalate is not None:
            esc[confusion_cell(s.escalated, s.should_escalate)] += 1
    return {
        "backend": backend,
        "counts": run_counts(lines),
        "metrics": metrics,
        "never_violations_by_rule": dict(sorted(per_rule.items())),
        "never_source": dict(sorted(sources.items())),
        "never_screen_by_rule": dict(sorted(per_rule_screen.items())),
        "escalation_confusion": {k: esc.get(k, 0) for k in ("tp", "fp", "fn", "tn")},
        "tokens": dict(tokens),
        "cost_usd": round(cost, 6),
    }


def render_summary(summary: dict[str, Any], run_dir: str, *, cost_note: str | None = None) -> str:
    """A plain-text table of the summary (what ``agenteval run`` prints before the run path).

    ``cost_note`` says why the cost is an estimate and not money spent (replay, a non-default endpoint).
    """
    c = summary["counts"]
    lines = []
    head = f"Run {run_dir}"
    if summary.get("backend") == "replay":
        head += "  [replay: recorded answers, not live model calls]"
    lines.append(head)
    rec = c["ok"]
    lines.append(f"  planned {c['planned']}  recorded/answered {rec}  skipped {c['skipped']}  "
                 f"errors {c['error']}  stale {c['stale']}")
    lines.append(f"  {'metric':<38} {'value':>7} {'± SE':>7} {'n':>5}")
    for m in summary["metrics"].values():
        if m["n"] == 0:
            continue
        se = f"{m['se']:.3f}" if m["se"] is not None else "  n/a"
        lines.append(f"  {m['label']:<38} {m['mean']:>7.3f} {se:>7} {m['n']:>5}")
    if summary["never_violations_by_rule"]:
        rules = ", ".join(f"{k}: {v}" for k, v in summary["never_violations_by_rule"].items())
        src = summary.get("never_source") or {}
        how = ", ".join(f"{v} by the {k}" for k, v in src.items())
        lines.append(f"  Never-rule violations: {rules}" + (f"  (verdicts: {how})" if how else ""))
    if c.get("judge_missing"):
        lines.append(f"  judge_missing: {c['judge_missing']} answer(s) had no judge verdict; the screen decided")
    e = summary["escalation_confusion"]
    lines.append(f"  Escalation confusion: TP {e['tp']}  FP {e['fp']}  FN {e['fn']}  TN {e['tn']}")
    if summary.get("cost_usd"):
        what = f"Cost ({cost_note})" if cost_note else "Cost"
        lines.append(f"  {what}: ${summary['cost_usd']:.4f}  tokens: {summary['tokens']}")
    bs = summary.get("backend_stats")
    if bs:
        lines.append(f"  API: {bs.get('api_requests', 0)} requests, {bs.get('retries', 0)} retries "
                     f"({bs.get('rate_limited', 0)} rate-limited, {bs.get('overloaded', 0)} overloaded, "
                     f"{bs.get('timeouts', 0)} timeouts)")
        lines.append(f"  Prompt cache: {bs.get('prompt_cache_writes', 0)} writes, "
                     f"{bs.get('prompt_cache_reads', 0)} reads, saved ${bs.get('cache_saving_usd', 0):.4f}; "
                     f"response cache hits: {bs.get('response_cache_hits', 0)}")
    if c["stale"]:
        lines.append(f"  WARNING: {c['stale']} answers are stale (recorded for a different card or scenario text)")
    return "\n".join(lines)
