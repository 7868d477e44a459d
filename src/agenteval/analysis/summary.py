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
    out = {
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
    costs = [s.cost_usd for s in lines if s.cost_usd is not None]
    if costs and cost > 0:
        out["cost_per_item_usd"] = {"mean": round(cost / len(costs), 6), "max": round(max(costs), 6),
                                    "n": len(costs)}
    agent = [s for s in lines if s.turns is not None]
    if agent:  # agent backend (or its replay): what the agent did with its tools
        n = len(agent)
        calls = sum(len(s.tool_calls) for s in agent)
        read = int(tokens.get("cache_read_input_tokens", 0))
        prompt = read + sum(int(tokens.get(k, 0)) for k in ("input_tokens", "cache_creation_input_tokens"))
        out["agent"] = {
            "items": n,
            "turns_mean": round(sum(s.turns or 0 for s in agent) / n, 3),
            "tool_calls_mean": round(calls / n, 3),
            "tool_permission_ok_rate": round(sum(bool(s.tool_permission_ok) for s in agent) / n, 3),
            "workspace_changed": sum(bool(s.workspace_changed) for s in agent),
            "cache_read_share": round(read / prompt, 3) if prompt else None,
            "per_item": [{"id": s.id, "status": s.status, "turns": s.turns, "tool_calls": len(s.tool_calls),
                          "cost_usd": s.cost_usd} for s in agent],
        }
    return out


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
    cpi = summary.get("cost_per_item_usd")
    if cpi:
        lines.append(f"  Cost per item: mean ${cpi['mean']:.4f}, max ${cpi['max']:.4f} (n {cpi['n']})")
    ag = summary.get("agent")
    if ag:
        share = f"{ag['cache_read_share']:.0%}" if ag.get("cache_read_share") is not None else "n/a"
        lines.append(f"  Agent: {ag['items']} items, {ag['turns_mean']:.1f} turns and {ag['tool_calls_mean']:.1f} "
                     f"tool calls per item, tool permissions kept {ag['tool_permission_ok_rate']:.0%}, "
                     f"workspace changed in {ag['workspace_changed']}; prompt-cache read share {share}")
    bs = summary.get("backend_stats")
    if bs and "agent_items" in bs:
        lines.append(f"  Runtime: {bs.get('api_requests', 0)} model requests, {bs.get('agent_killed', 0)} item(s) "
                     f"killed at a limit; prompt cache: {bs.get('agent_cache_write_tokens', 0)} tokens written, "
                     f"{bs.get('agent_cache_read_tokens', 0)} read, saved ${bs.get('cache_saving_usd', 0):.4f}")
    elif bs:
        lines.append(f"  API: {bs.get('api_requests', 0)} requests, {bs.get('retries', 0)} retries "
                     f"({bs.get('rate_limited', 0)} rate-limited, {bs.get('overloaded', 0)} overloaded, "
                     f"{bs.get('timeouts', 0)} timeouts)")
        lines.append(f"  Prompt cache: {bs.get('prompt_cache_writes', 0)} writes, "
                     f"{bs.get('prompt_cache_reads', 0)} reads, saved ${bs.get('cache_saving_usd', 0):.4f}; "
                     f"response cache hits: {bs.get('response_cache_hits', 0)}")
    if c["stale"]:
        lines.append(f"  WARNING: {c['stale']} answers are stale (recorded for a different card or scenario text)")
    return "\n".join(lines)
