"""``agenteval report``: a self-contained HTML page and a markdown summary of one run.

The HTML page embeds its plots as PNG data URIs, carries no script at all and a Content-Security-Policy
that forbids scripts; every string that comes from the run (model text, check reasons, scenario ids)
is escaped by jinja2's autoescape. The markdown summary escapes the same strings for GitHub.

:func:`write_run_report` is what ``agenteval run`` calls when a run finishes: it writes ``report.html``
and ``report.md`` into the run directory. Plots use matplotlib's Agg canvas directly (no pyplot, no
global backend switch), imported only when a report is rendered.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agenteval.analysis.metrics import HEADLINE, Metric, failed_checks, item_passed, never_rule_ids, run_metrics
from agenteval.analysis.reports import grouped_reports
from agenteval.analysis.staleness import stale_report
from agenteval.analysis.stats import clustered_mean
from agenteval.analysis.summary import run_counts
from agenteval.backends.env import cost_note, is_default_endpoint
from agenteval.results.rundata import Cell, RunData, cell_of, ordered, read_run
from agenteval.results.store import ScoreLine, atomic_write_text
from agenteval.views.plots import figure, png

REPORT_HTML = "report.html"
REPORT_MD = "report.md"
WORST_CELLS = 15
MAX_RESPONSE_CHARS = 20_000
"""Longer responses are cut in the HTML report, with a note; transcripts.jsonl has the full text."""

# --------------------------------------------------------------------------- report content


def _metric_row(m: Metric) -> dict[str, Any]:
    return m.model_dump()


def envelope_fields(lines: Sequence[ScoreLine]) -> list[dict[str, Any]]:
    """Envelope compliance per field, strict vs loose, from the envelope checks in the data.

    Understood check ids: ``envelope.strict.<Field>`` / ``envelope.loose.<Field>``,
    ``envelope.<Field>.strict`` / ``envelope.<Field>.loose`` and ``envelope.field.<Field>`` (strict).
    The first row is the whole envelope (``envelope_ok`` / ``envelope_loose_ok``).
    """
    vals: dict[str, dict[str, tuple[list[float], list[str]]]] = defaultdict(dict)
    order: list[str] = []
    for s in lines:
        if s.status != "ok":
            continue
        for c in s.checks:
            parsed = parse_envelope_check(str(c.get("id", "")))
            if parsed is None or not c.get("applicable", True):
                continue
            fld, variant = parsed
            if fld not in vals:
                order.append(fld)
            v, cl = vals[fld].setdefault(variant, ([], []))
            v.append(float(bool(c.get("passed"))))
            cl.append(s.scenario_id)

    def est(pair: tuple[list[float], list[str]] | None) -> dict[str, Any] | None:
        if pair is None:
            return None
        e = clustered_mean(*pair)
        return e.model_dump()

    def overall(attr: str) -> dict[str, Any] | None:
        pairs = [
            (float(getattr(s, attr)), s.scenario_id) for s in lines if s.status == "ok" and getattr(s, attr) is not None
        ]
        return est(([v for v, _ in pairs], [c for _, c in pairs])) if pairs else None

    rows = [{"field": "whole envelope", "strict": overall("envelope_ok"), "loose": overall("envelope_loose_ok")}]
    for fld in order:
        rows.append({"field": fld, "strict": est(vals[fld].get("strict")), "loose": est(vals[fld].get("loose"))})
    return rows


def parse_envelope_check(check_id: str) -> tuple[str, str] | None:
    """(field, 'strict'|'loose') of a per-field envelope check id; None for other and overall checks.

    Understood: ``envelope.field.<field>[.loose]`` (strict unless suffixed), ``envelope.strict.<field>``,
    ``envelope.loose.<field>``, ``envelope.<field>.strict`` and ``envelope.<field>.loose``.
    ``envelope.strict``, ``envelope.loose``, ``envelope.order`` and the like are not per-field.
    """
    if not check_id.startswith("envelope."):
        return None
    rest = check_id[len("envelope.") :]
    variant: str | None = None
    for v in ("strict", "loose"):
        if rest.startswith(v + "."):
            variant, rest = v, rest[len(v) + 1 :]
            break
        if rest.endswith("." + v):
            variant, rest = v, rest[: -len(v) - 1]
            break
    if rest.startswith("field."):
        return (rest[len("field.") :], variant or "strict") if rest != "field." else None
    if variant is None or not rest:
        return None
    return rest, variant


def violations_table(lines: Sequence[ScoreLine], metrics: dict[str, Metric],
                     rule_texts: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Per Never rule: its text, items violating it, the rate with its clustered SE, the scenarios involved."""
    rows = []
    for rule in never_rule_ids(lines):
        m = metrics.get(f"violation.{rule}")
        count = sum(1 for s in lines if s.status == "ok" and rule in s.never_violations)
        scen = ordered([s.scenario_id for s in lines if s.status == "ok" and rule in s.never_violations])
        tempted = sum(1 for s in lines if s.status == "ok" and rule in s.tempted)
        ok = [s for s in lines if s.status == "ok"]
        judged = [s for s in ok if s.never_source == "judge"]
        rows.append(
            {
                "rule": rule,
                "text": (rule_texts or {}).get(rule),
                "count": count,
                "tempted": tempted,
                "metric": m.model_dump() if m else None,
                "scenarios": scen,
                # where the counted verdicts come from, and how the screen agrees with the judge where both exist
                "source": _source_label(len(judged), len(ok)),
                "screen_count": sum(1 for s in ok if rule in s.never_screen),
                "agreement": _agreement(judged, rule),
            }
        )
    return rows


def _source_label(judged: int, ok: int) -> str:
    if not ok:
        return "–"
    if judged == ok:
        return f"judge ({ok})"
    return f"judge {judged}, screen {ok - judged}" if judged else f"screen ({ok})"


def _agreement(judged: Sequence[ScoreLine], rule: str) -> dict[str, Any] | None:
    """Screen vs judge on the items the judge decided: both, judge only, screen only, Cohen's κ."""
    if not judged:
        return None
    pairs = [(rule in s.never_violations, rule in s.never_screen) for s in judged]
    n = len(pairs)
    both = sum(1 for j, sc in pairs if j and sc)
    j_only = sum(1 for j, sc in pairs if j and not sc)
    s_only = sum(1 for j, sc in pairs if sc and not j)
    po = sum(1 for j, sc in pairs if j == sc) / n
    pj, ps = sum(j for j, _ in pairs) / n, sum(sc for _, sc in pairs) / n
    pe = pj * ps + (1 - pj) * (1 - ps)
    kappa = None if pe >= 1.0 else (po - pe) / (1 - pe)
    return {"n": n, "both": both, "judge_only": j_only, "screen_only": s_only, "kappa": kappa}


def heatmap_data(lines: Sequence[ScoreLine]) -> dict[str, Any]:
    """Pass rate by mode × role (modes and roles in data order) with n per cell."""
    modes = ordered([s.mode for s in lines])
    roles = ordered([s.role for s in lines])
    acc: dict[tuple[str, str], list[float]] = defaultdict(list)
    for s in lines:
        p = item_passed(s)
        if p is not None:
            acc[(s.mode, s.role)].append(float(p))
    grid = [[(sum(acc[(m, r)]) / len(acc[(m, r)]) if acc[(m, r)] else None) for r in roles] for m in modes]
    ns = [[len(acc[(m, r)]) for r in roles] for m in modes]
    return {"modes": modes, "roles": roles, "rates": grid, "n": ns}


def cell_rows(run: RunData) -> list[dict[str, Any]]:
    """Every cell (scenario × mode × role, over epochs) in plan order, with its failed checks (one line per
    cause) and each epoch's transcript entry: the report links every cell to its transcripts."""
    from agenteval.analysis.verdict import grouped_failures

    by_cell: dict[Cell, list[ScoreLine]] = defaultdict(list)
    for s in run.lines:
        by_cell[cell_of(s)].append(s)
    rows: list[dict[str, Any]] = []
    for cell, items in by_cell.items():
        passed = [item_passed(s) for s in items]
        scored = [p for p in passed if p is not None]
        bad_status = [s for s in items if s.status != "ok"]
        stale = [s for s in items if s.stale]
        reasons: Counter[str] = Counter()
        reason_text: dict[str, str] = {}
        for s in items:
            for cid, why in failed_checks(s):
                reasons[cid] += 1
                reason_text.setdefault(cid, why)
        entries = []
        for s in sorted(items, key=lambda x: x.epoch):
            ln, rec = run.transcripts.get(s.id, (None, {}))
            entries.append(
                {
                    "id": s.id,
                    "anchor": anchor(s.id),
                    "epoch": s.epoch,
                    "status": s.status,
                    "stale": s.stale,
                    "passed": item_passed(s),
                    "error": s.error,
                    "journal_line": ln,
                    **_shown_response(rec.get("response") if rec else None),
                    "failed": [{"id": c, "reason": r} for c, r in failed_checks(s)],
                    "causes": grouped_failures(failed_checks(s)),
                }
            )
        rate = sum(scored) / len(scored) if scored else None
        rows.append(
            {
                "scenario": cell[0],
                "mode": cell[1],
                "role": cell[2],
                "n": len(items),
                "pass_rate": rate,
                "ok": bool(scored) and all(scored) and not bad_status and not stale,
                "errors": len(bad_status),
                "stale": len(stale),
                "failed_checks": [
                    {"id": c, "count": k, "reason": reason_text.get(c, "")} for c, k in reasons.most_common()
                ],
                "entries": entries,
                "anchor": cell_anchor(cell),
            }
        )
    return rows


def worst_cells(run: RunData, limit: int = WORST_CELLS, rows: list[dict[str, Any]] | None = None
                ) -> list[dict[str, Any]]:
    """The cells that fail most (pass rate, then failed checks), with their failed checks and items."""
    bad = [r for r in (rows if rows is not None else cell_rows(run)) if not r["ok"]]
    bad.sort(
        key=lambda r: (
            r["pass_rate"] if r["pass_rate"] is not None else -1.0,
            -sum(c["count"] for c in r["failed_checks"]),
            r["scenario"],
            r["mode"],
            r["role"],
        )
    )
    return bad[:limit]


def run_card(run: RunData) -> Any:
    """The run's card parsed from its copy (``card.md``) or its path when the hash matches; None otherwise."""
    from agenteval.errors import AgentEvalError
    from agenteval.inputs.card import parse_card
    from agenteval.results.rundata import card_text

    text = card_text(run)
    if text is None:
        return None
    try:
        return parse_card(text, run.manifest.card.path)
    except AgentEvalError:
        return None


def _shown_response(text: str | None) -> dict[str, Any]:
    """The response as the report shows it: cut at :data:`MAX_RESPONSE_CHARS`, saying so."""
    if text is None:
        return {"response": None, "response_chars": 0, "response_cut": 0}
    if len(text) <= MAX_RESPONSE_CHARS:
        return {"response": text, "response_chars": len(text), "response_cut": 0}
    shown = text[:MAX_RESPONSE_CHARS]
    space = max(shown.rfind(" "), shown.rfind("\n"))
    if space > MAX_RESPONSE_CHARS - 200:  # end on a word boundary
        shown = shown[:space]
    return {"response": shown, "response_chars": len(text), "response_cut": len(text) - len(shown)}


def anchor(text: str) -> str:
    """An HTML id made of safe characters only."""
    import hashlib

    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "_" for ch in text)[:80]
    return f"i-{safe}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:6]}"


def cell_anchor(cell: Cell) -> str:
    """The HTML id of a cell's section in the run report (gate and compare link to it)."""
    return anchor("/".join(cell))


def cost_table(run: RunData) -> dict[str, Any]:
    """Total cost and tokens, cost per item, per mode, and latency from the journal."""
    tokens: Counter[str] = Counter()
    cost = 0.0
    by_mode: dict[str, float] = defaultdict(float)
    by_role: dict[str, float] = defaultdict(float)
    for s in run.lines:
        tokens.update(s.usage)
        c = s.cost_usd or 0.0
        cost += c
        by_mode[s.mode] += c
        by_role[s.role] += c
    lat = sorted(float(r["latency_s"]) for _, r in run.transcripts.values() if r.get("latency_s") is not None)
    cached = sum(1 for _, r in run.transcripts.values() if r.get("cached"))
    n = len(run.lines)
    return {
        "cost_usd": cost,
        "cost_per_item": cost / n if n else None,
        "tokens": dict(tokens),
        "tokens_per_item": {k: v / n for k, v in tokens.items()} if n else {},
        "by_mode": dict(by_mode),
        "by_role": dict(by_role),
        "cached": cached,
        "latency_mean": sum(lat) / len(lat) if lat else None,
        "latency_p95": lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else None,
        "manifest_cost": run.manifest.cost,
    }


def build_report(run: RunData, *, n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Everything the templates show, as plain data."""
    lines = run.lines
    metrics = run_metrics(lines, n_boot=n_boot, seed=seed)
    headline = [_metric_row(metrics[k]) for k in HEADLINE if k in metrics]
    m = run.manifest
    counts = run_counts(lines)
    warnings = []
    if m.status != "finished":
        warnings.append(f"run status is '{m.status}': the results are incomplete")
    if counts["skipped"]:
        warnings.append(f"{counts['skipped']} item(s) were skipped")
    if counts["error"]:
        warnings.append(f"{counts['error']} item(s) errored")
    card = run_card(run)
    if m.card.lint_warnings:
        found = [f"line {f.line}: {f.message}" for f in (card.lint if card is not None else [])]
        warnings.append(f"the card has {m.card.lint_warnings} lint warning(s)"
                        + (": " + "; ".join(found) if found else " (its text is no longer available to name them)"))
    base_url = m.backend.get("base_url")
    if base_url and not is_default_endpoint(str(base_url)):
        warnings.append(f"the answers come from the non-default endpoint {base_url}, not the Anthropic API")
    st = stale_report(run)
    if st.count:
        warnings.append(st.one_line())
    cells = cell_rows(run)
    groups = {
        by: [g.model_dump() for g in grouped_reports(lines, by, n_boot=n_boot, seed=seed)]
        for by in ("run", "mode", "role")
    }
    return {
        "run_id": run.rd.run_id,
        "manifest": m.model_dump(mode="json"),
        "backend_name": str(m.backend.get("name", m.settings.get("backend", ""))),
        "counts": counts,
        "warnings": warnings,
        "headline": headline,
        "metrics": {k: v.model_dump() for k, v in metrics.items()},
        "heatmap": heatmap_data(lines),
        "violations": violations_table(lines, metrics, {r.id: r.text for r in card.rules} if card else None),
        "envelope_fields": envelope_fields(lines),
        "escalation": groups["run"][0]["escalation"] if groups["run"] else None,
        "calibration": groups["run"][0]["calibration"] if groups["run"] else None,
        "by_mode": groups["mode"],
        "by_role": groups["role"],
        "cost": cost_table(run),
        "cost_note": cost_note(m.backend),
        "cells": cells,
        "worst": worst_cells(run, rows=cells),
        "n_boot": n_boot,
    }


# --------------------------------------------------------------------------- plots


def plot_heatmap(hm: dict[str, Any]) -> str | None:
    """Pass rate by mode × role as an annotated heatmap (PNG data URI)."""
    if not hm["modes"] or not hm["roles"]:
        return None
    import numpy as np

    data = np.array([[np.nan if v is None else v for v in row] for row in hm["rates"]], dtype=float)
    fig = figure(1.6 + 1.3 * len(hm["roles"]), 1.0 + 0.6 * len(hm["modes"]))
    ax = fig.add_subplot()
    im = ax.imshow(np.ma.masked_invalid(data), vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
    ax.set_xticks(range(len(hm["roles"])), [str(r) for r in hm["roles"]], rotation=30, ha="right")
    ax.set_yticks(range(len(hm["modes"])), [str(m) for m in hm["modes"]])
    for i in range(len(hm["modes"])):
        for j in range(len(hm["roles"])):
            n = hm["n"][i][j]
            txt = "—" if n == 0 else f"{data[i, j]:.0%}\nn={n}"
            ax.text(j, i, txt, ha="center", va="center", fontsize=8,
                    color="black" if n == 0 else text_color(im.cmap(im.norm(data[i, j]))))
    ax.set_title("Item pass rate by mode × role")
    fig.colorbar(im, ax=ax, fraction=0.04)
    return png(fig)


def _luminance(rgb: Sequence[float]) -> float:
    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(float(c)) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """WCAG contrast ratio of two sRGB colours (components in [0, 1])."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_color(background: Sequence[float]) -> str:
    """Black or white, whichever contrasts more with ``background`` (both pass WCAG AA on some side)."""
    return "black" if contrast_ratio(background, (0, 0, 0)) >= contrast_ratio(background, (1, 1, 1)) else "white"


def plot_violations(rows: list[dict[str, Any]]) -> str | None:
    """Violation rate per Never rule with ±1.96 SE bars."""
    if not rows:
        return None
    fig = figure(1.5 + 0.7 * len(rows), 2.8)
    ax = fig.add_subplot()
    rates = [(r["metric"] or {}).get("mean") or 0.0 for r in rows]
    errs = [1.96 * ((r["metric"] or {}).get("se") or 0.0) for r in rows]
    ax.bar(range(len(rows)), rates, yerr=errs, color="#c0504d", capsize=3)
    ax.set_xticks(range(len(rows)), [str(r["rule"]) for r in rows], rotation=30, ha="right")
    ax.set_ylabel("violation rate")
    ax.set_ylim(bottom=0)
    ax.set_title("Never-rule violations (95% CI)")
    return png(fig)


def plot_envelope(rows: list[dict[str, Any]]) -> str | None:
    """Envelope compliance per field, strict vs loose."""
    if not rows or all(r["strict"] is None and r["loose"] is None for r in rows):
        return None
    fig = figure(6.5, 0.8 + 0.45 * len(rows))
    ax = fig.add_subplot()
    y = list(range(len(rows)))
    for off, key, color in ((-0.2, "strict", "#4f81bd"), (0.2, "loose", "#9bbb59")):
        vals = [(r[key] or {}).get("mean") or 0.0 for r in rows]
        ax.barh([v + off for v in y], vals, height=0.4, label=key, color=color)
    ax.set_yticks(y, [str(r["field"]) for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("compliance")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.set_title("Envelope compliance per field")
    return png(fig)


def plot_reliability(cal: dict[str, Any] | None) -> str | None:
    """Reliability diagram: accuracy per confidence level against its mean confidence."""
    if not cal or not cal["bins"]:
        return None
    fig = figure(4.2, 4.0)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
    xs = [b["mean_confidence"] for b in cal["bins"]]
    ys = [b["accuracy"] for b in cal["bins"]]
    es = [1.96 * (b["accuracy_se"] or 0.0) for b in cal["bins"]]
    ax.errorbar(xs, ys, yerr=es, fmt="o", color="#1f497d", capsize=3, label="accuracy (95% CI)")
    for b in cal["bins"]:
        ax.annotate(
            f"{b['level']} (n={b['n']})",
            (b["mean_confidence"], b["accuracy"]),
            textcoords="offset points",
            xytext=(6, -10),
            fontsize=8,
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("stated confidence (confidence_value)")
    ax.set_ylabel(f"accuracy ({cal['correct_definition']})")
    ece = cal["ece"]["mean"]
    ax.set_title("Reliability" + (f" — ECE {ece:.3f}" if ece is not None else ""))
    ax.legend(loc="upper left", fontsize=8)
    return png(fig)


def plots(data: dict[str, Any]) -> dict[str, str | None]:
    """All report plots as PNG data URIs."""
    return {
        "heatmap": plot_heatmap(data["heatmap"]),
        "violations": plot_violations(data["violations"]),
        "envelope": plot_envelope(data["envelope_fields"]),
        "reliability": plot_reliability(data["calibration"]),
    }


# --------------------------------------------------------------------------- rendering


def fmt_num(v: Any, digits: int = 3) -> str:
    """A number with ``digits`` decimals, or an en dash for None."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    return f"{v:.{digits}f}"


def fmt_pct(v: Any, digits: int = 1) -> str:
    """A rate as a percentage, or an en dash for None."""
    return "–" if v is None else f"{100 * v:.{digits}f}%"


_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)


def visible(v: Any) -> Any:
    """Show control, zero-width, bidi and lone-surrogate characters as escapes (``\\x1b``, ``\\u202e``).

    Model text can then neither hide content nor reorder what a reader sees; other values pass through.
    """
    if not isinstance(v, str) or not _INVISIBLE.search(v):
        return v
    return _INVISIBLE.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", v
    )


def md_escape(v: Any) -> str:
    """Escape text for a markdown table cell: HTML specials, pipes, backticks, newlines."""
    s = "" if v is None else str(v)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for ch in ("\\", "|", "`", "*", "_", "[", "]"):
        s = s.replace(ch, "\\" + ch)
    return " ".join(s.split())


def environment(*, html: bool) -> Any:
    """A jinja2 environment over the package templates (autoescape on for HTML)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("agenteval.views", "templates"),
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=visible,
    )
    env.filters["num"] = fmt_num
    env.filters["pct"] = fmt_pct
    env.filters["md"] = md_escape
    env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False, default=str)
    return env


def render_html(data: dict[str, Any], figures: dict[str, str | None]) -> str:
    """The self-contained HTML report."""
    return str(environment(html=True).get_template("report.html.j2").render(d=data, fig=figures))


def render_markdown(data: dict[str, Any], *, html_name: str | None = REPORT_HTML) -> str:
    """The markdown summary (links to the HTML report's transcript anchors when ``html_name`` is set)."""
    return str(environment(html=False).get_template("report.md.j2").render(d=data, html_name=html_name))


def write_report(
    run_dir: str | Path,
    *,
    html: str | Path | None = None,
    md: str | Path | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[Path | None, Path | None]:
    """Write the HTML and/or markdown report of a run; returns the paths written."""
    run = read_run(run_dir, transcripts=True)
    data = build_report(run, n_boot=n_boot, seed=seed)
    html_path = Path(html) if html is not None else None
    md_path = Path(md) if md is not None else None
    if html_path is not None:
        atomic_write_text(html_path, render_html(data, plots(data)))
    if md_path is not None:
        link = None
        if html_path is not None:
            try:
                link = str(html_path.resolve().relative_to(md_path.resolve().parent))
            except ValueError:
                link = str(html_path.resolve())
        atomic_write_text(md_path, render_markdown(data, html_name=link))
    return html_path, md_path


def write_run_report(run_dir: Path) -> None:
    """Write ``report.html`` and ``report.md`` into the run directory (called by ``agenteval run``)."""
    p = Path(run_dir)
    write_report(p, html=p / REPORT_HTML, md=p / REPORT_MD)
