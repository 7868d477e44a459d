"""``agenteval gate``: pass/fail a run for CI against ``gates.yaml``.

Gates:

* **inputs** — the run finished; no stale replay answers (recorded for a different card or scenario
  text), no skipped and no errored items, no answer without a judge verdict when a judge was asked for
  (``judge_missing``), unless ``allow`` says so explicitly: a gate never passes on
  answers to a prompt that is no longer the one under test. Optionally the run's card hash must match
  a given card file.
* **metrics** — ``min``/``max`` thresholds on any metric of the run (``agenteval gate --list-metrics``),
  on the point estimate or, with ``bound: ci``, on the 95% confidence bound.
* **never_rules** — a maximum violation rate per Never rule (``"*"`` for every rule in the data).
* **k_of_n** — per scenario × mode × role cell: at least k of n epochs pass (every applicable
  compliance check — graded ones, ``task.*`` and rule coverage, only with ``graded_checks`` — minus
  ``ignore_checks``); one JUnit testcase per cell.
* **regression** — with ``--baseline``: no metric significantly worse than the baseline
  (``agenteval compare``: Holm-adjusted, optional practical margin ``min_delta``) and no significant
  McNemar regression of item pass/fail.

Exit codes: 0 pass, 1 fail, 2 bad config or input.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agenteval.analysis.metrics import SET_METRICS, Metric, fresh_lines, item_metrics, rule_metric, run_metrics
from agenteval.analysis.staleness import stale_report
from agenteval.analysis.verdict import CellVerdict, cell_verdict
from agenteval.errors import InputError
from agenteval.results.rundata import RunData, cell_of, read_run
from agenteval.results.store import ScoreLine

EXIT_PASS = 0
EXIT_FAIL = 1


# --------------------------------------------------------------------------- config


class Threshold(BaseModel):
    """A bound on one metric."""

    model_config = ConfigDict(extra="forbid")
    min: float | None = None
    max: float | None = None
    bound: Literal["point", "ci"] = Field(
        default="point",
        description="compare the point estimate, or the 95% CI bound (ci_low for min, ci_high for max)",
    )

    @model_validator(mode="after")
    def _one(self) -> Threshold:
        if self.min is None and self.max is None:
            raise ValueError("give min or max")
        return self


class Allow(BaseModel):
    """What the gate tolerates; everything is refused unless set to true here."""

    model_config = ConfigDict(extra="forbid")
    stale: bool = Field(default=False, description="stale replay answers (recorded for another card/scenario text)")
    skipped: bool = False
    errors: bool = False
    unfinished: bool = False
    judge_missing: bool = Field(
        default=False, description="answers a judge was asked about but has no verdict for (the screen decided)")


class _KOfNRule(BaseModel):
    """k of n epochs must pass; with another epoch count, the same fraction (rounded up)."""

    model_config = ConfigDict(extra="forbid")
    k: int = Field(default=1, ge=0)
    n: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _k_le_n(self) -> _KOfNRule:
        if self.k > self.n:
            raise ValueError("k must not exceed n")
        return self

    def required(self, epochs: int) -> int:
        """Passes needed in a cell with ``epochs`` scored epochs."""
        if epochs == self.n:
            return self.k
        return math.ceil(self.k / self.n * epochs - 1e-9)


class KOfN(_KOfNRule):
    """Per cell: at least ``k`` of ``n`` epochs must pass (scaled to the cell's epoch count if it differs)."""

    ignore_checks: list[str] = Field(default_factory=list, description="check ids or globs not counted")
    graded_checks: bool = Field(
        default=False, description="also count graded checks (task.*, rule coverage such as always.1)"
    )


class CellThreshold(_KOfNRule):
    """A per-cell k-of-n override (written by ``--calibrate-from``): key ``scenario/mode/role``."""

    k: int = Field(ge=0)
    n: int = Field(ge=1)


class Calibration(BaseModel):
    """Where the thresholds came from (``agenteval gate --calibrate-from``); informational."""

    model_config = ConfigDict(extra="forbid")
    run: str
    card_hash: str | None = None
    margin_se: float
    date: str | None = None


class Regression(BaseModel):
    """No significant regression against ``--baseline`` (uses ``agenteval compare``)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    metrics: Literal["all"] | list[str] = "all"
    alpha: float = Field(default=0.05, gt=0, lt=1)
    min_delta: float = Field(default=0.0, ge=0, description="ignore significant regressions smaller than this")
    mcnemar: bool = True
    allow_plan_mismatch: bool = Field(default=True, description="items only in one run are reported either way")
    n_boot: int = Field(default=10_000, ge=100)
    seed: int = 0


class GateConfig(BaseModel):
    """``gates.yaml``."""

    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = 1
    allow: Allow = Field(default_factory=Allow)
    card: str | None = Field(default=None, description="card file the run must have used (hash check)")
    metrics: dict[str, Threshold] = Field(default_factory=dict)
    never_rules: dict[str, Threshold] = Field(default_factory=dict)
    k_of_n: KOfN = Field(default_factory=KOfN)
    cells: dict[str, CellThreshold] = Field(
        default_factory=dict, description="per-cell k-of-n overrides keyed scenario/mode/role")
    regression: Regression = Field(default_factory=Regression)
    calibrated_from: Calibration | None = None


def load_gate_config(path: str | Path) -> GateConfig:
    """Read and validate ``gates.yaml``; every problem is an :class:`InputError` naming file and field."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", path=p) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", path=p) from None
    return load_gate_config_text(text, p)


def load_gate_config_text(text: str, p: str | Path = "gates.yaml") -> GateConfig:
    """Validate ``gates.yaml`` content (``p`` names it in errors)."""
    import yaml

    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(
            f"invalid YAML: {getattr(exc, 'problem', exc)}", path=p, line=mark.line + 1 if mark else None
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError("top level must be a mapping", path=p, line=1)
    try:
        cfg = GateConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        raise InputError(msg, path=p, field=".".join(str(x) for x in err["loc"])) from None
    for name in cfg.never_rules:
        if name != "*" and not re.fullmatch(r"never\.\d+", name):
            raise InputError("Never-rule ids look like never.N (or '*' for all)", path=p, field=f"never_rules.{name}")
    return cfg


def known_metrics(lines: list[ScoreLine] | None = None) -> list[str]:
    """Metric names a gate can use (violation.never.N for the rules in ``lines``)."""
    return [*item_metrics(lines or []), *SET_METRICS]


def _validate_metric_names(cfg: GateConfig, lines: list[ScoreLine], path: str | Path | None) -> None:
    known = set(known_metrics(lines))
    for name in cfg.metrics:
        if name in known or re.fullmatch(r"violation\.never\.\d+", name):
            continue
        raise InputError(
            f"unknown metric '{name}' (known: {', '.join(sorted(known))})", path=path, field=f"metrics.{name}"
        )
    if cfg.regression.metrics != "all":
        for name in cfg.regression.metrics:
            if name not in known and name != "mcnemar" and not re.fullmatch(r"violation\.never\.\d+", name):
                raise InputError(f"unknown metric '{name}'", path=path, field="regression.metrics")


# --------------------------------------------------------------------------- results


class GateCheck(BaseModel):
    """One run-level gate and its outcome."""

    name: str
    kind: Literal["inputs", "metric", "never_rule", "regression", "cells"]
    passed: bool
    message: str
    value: float | None = None
    threshold: float | None = None
    skipped: bool = Field(default=False, description="not measured: every item it applies to is stale (the "
                          "inputs.stale gate fails once for them)")


CellResult = CellVerdict
"""One scenario × mode × role cell (a JUnit testcase): the shared k-of-n verdict."""


class GateResult(BaseModel):
    """``agenteval gate``'s verdict."""

    run_id: str
    run_path: str
    baseline: str | None = None
    passed: bool
    checks: list[GateCheck]
    cells: list[CellResult]
    compare: dict[str, Any] | None = None


# --------------------------------------------------------------------------- evaluation


def evaluate_cells(lines: list[ScoreLine], cfg: GateConfig) -> list[CellResult]:
    """k-of-n per cell (:func:`agenteval.analysis.verdict.cell_verdict`): skipped/errored items fail their
    cell unless allowed; stale answers are left out of the verdict (unless ``allow.stale``) — the
    ``inputs.stale`` gate reports them once, with what changed."""
    groups: dict[tuple[str, str, str], list[ScoreLine]] = defaultdict(list)
    for s in lines:
        groups[cell_of(s)].append(s)
    return [
        cell_verdict(
            items,
            required=_cell_rule(cfg, cell).required,
            stale="score" if cfg.allow.stale else "exclude",
            allow_errors=cfg.allow.errors,
            allow_skipped=cfg.allow.skipped,
            ignore_checks=cfg.k_of_n.ignore_checks,
            graded=cfg.k_of_n.graded_checks,
        )
        for cell, items in groups.items()
    ]


def gated_lines(lines: list[ScoreLine], cfg: GateConfig) -> list[ScoreLine]:
    """The lines every metric of the gate is computed on: stale answers left out unless ``allow.stale``."""
    return list(lines) if cfg.allow.stale else fresh_lines(lines)


def k_of_n_text(lines: list[ScoreLine], cfg: GateConfig) -> str:
    """What a cell of this run needs, in the run's own epoch count (a 1-epoch run never reads k=2 of n=3)."""
    epochs = max((s.epoch for s in lines), default=1)
    need = cfg.k_of_n.required(epochs)
    text = f"each cell: {need} of {epochs} epoch(s) must pass"
    if (cfg.k_of_n.k, cfg.k_of_n.n) != (need, epochs):
        text += f", k={cfg.k_of_n.k} of n={cfg.k_of_n.n} scaled to the run"
    if cfg.cells:
        text += f"; {len(cfg.cells)} cell(s) with their own k (gates.yaml cells:)"
    return text


def _cell_rule(cfg: GateConfig, cell: tuple[str, str, str]) -> KOfN | CellThreshold:
    """The k-of-n rule of one cell: its override in ``cells``, else the global ``k_of_n``."""
    return cfg.cells.get("/".join(cell), cfg.k_of_n)


def _threshold_check(name: str, kind: Any, m: Metric | None, t: Threshold, stale: int = 0) -> GateCheck:
    label = m.label if m else name
    if (m is None or m.mean is None or m.n == 0) and stale:
        return GateCheck(name=name, kind=kind, passed=True, skipped=True,
                         message=f"{label}: not measured — its items are stale (see inputs.stale)")
    if m is None or m.mean is None or m.n == 0:
        return GateCheck(name=name, kind=kind, passed=False, message=f"{label}: no items to measure it on")
    parts = []
    ok = True
    for side, limit in (("min", t.min), ("max", t.max)):
        if limit is None:
            continue
        if t.bound == "ci":
            v = m.ci_low if side == "min" else m.ci_high
            what = "95% CI lower bound" if side == "min" else "95% CI upper bound"
            if v is None:  # no SE (one scenario): fall back to the point estimate, said so
                v, what = m.mean, "estimate (no CI: fewer than 2 scenarios)"
        else:
            v, what = m.mean, "estimate"
        good = v >= limit if side == "min" else v <= limit
        ok &= good
        parts.append(f"{what} {v:.4f} {'>=' if side == 'min' else '<='} {limit} {'ok' if good else 'FAILED'}")
    se = f" ± {m.se:.4f}" if m.se is not None else ""
    return GateCheck(
        name=name,
        kind=kind,
        passed=ok,
        value=m.mean,
        threshold=t.min if t.min is not None else t.max,
        message=f"{label} = {m.mean:.4f}{se} (n={m.n}): " + "; ".join(parts),
    )


def run_gate(
    run_path: str | Path,
    cfg: GateConfig,
    *,
    baseline: str | Path | None = None,
    card: str | Path | None = None,
    config_path: str | Path | None = None,
) -> GateResult:
    """Evaluate every gate of ``cfg`` on the run (and against ``baseline``)."""
    run = read_run(run_path, transcripts=True)
    _validate_metric_names(cfg, run.lines, config_path)
    # stale answers (to another prompt) count in no metric and no cell verdict; inputs.stale says so once
    lines = gated_lines(run.lines, cfg)
    checks: list[GateCheck] = []
    checks += _input_checks(run, cfg, card, config_path)
    metrics = run_metrics(lines)
    n_stale = len(run.lines) - len(lines)
    for name, t in cfg.metrics.items():
        checks.append(_threshold_check(name, "metric", metrics.get(name), t, n_stale))
    rules = sorted(
        {k.split(".", 1)[1] for k in metrics if k.startswith("violation.")},
        key=lambda r: int(r.split(".")[1]) if r.split(".")[1].isdigit() else 0,
    )
    per_rule: dict[str, Threshold] = {}
    if "*" in cfg.never_rules:
        per_rule.update({r: cfg.never_rules["*"] for r in rules})
    per_rule.update({r: t for r, t in cfg.never_rules.items() if r != "*"})  # a specific id overrides "*"
    for r in sorted(per_rule, key=lambda x: (len(x), x)):
        if f"violation.{r}" not in metrics:  # a rule no item broke and no check names: measure it anyway
            metrics[f"violation.{r}"] = rule_metric(lines, r)
        checks.append(_threshold_check(f"violation.{r}", "never_rule", metrics.get(f"violation.{r}"), per_rule[r],
                                       n_stale))
    cells = evaluate_cells(run.lines, cfg)
    failed_cells = [c for c in cells if c.outcome == "failed"]
    checks.append(
        GateCheck(
            name="cells.k_of_n",
            kind="cells",
            passed=not failed_cells,
            message=f"{sum(c.outcome == 'passed' for c in cells)} of {len(cells)} cells pass "
            f"({k_of_n_text(run.lines, cfg)})"
            + (f"; {sum(c.outcome == 'skipped' for c in cells)} without a scored epoch"
               if any(c.outcome == "skipped" for c in cells) else ""),
            value=float(len(failed_cells)),
            threshold=0.0,
        )
    )
    cmp_dump = None
    if baseline is not None and cfg.regression.enabled:
        cmp_checks, cmp_dump = _regression_checks(read_run(baseline), run, cfg)
        checks += cmp_checks
    elif cfg.regression.enabled:
        checks.append(
            GateCheck(
                name="regression",
                kind="regression",
                passed=True,
                message="no --baseline given: regression check not run",
            )
        )
    return GateResult(
        run_id=run.rd.run_id,
        run_path=str(run.path),
        baseline=str(baseline) if baseline else None,
        passed=all(c.passed for c in checks),
        checks=checks,
        cells=cells,
        compare=cmp_dump,
    )


def _input_checks(
    run: RunData, cfg: GateConfig, card: str | Path | None, config_path: str | Path | None
) -> list[GateCheck]:
    lines = run.lines
    out = []
    st = run.manifest.status
    out.append(
        GateCheck(
            name="inputs.finished",
            kind="inputs",
            passed=st == "finished" or cfg.allow.unfinished,
            message=f"run status {st}"
            + ("" if st == "finished" else " (allowed)" if cfg.allow.unfinished else " (not finished)"),
        )
    )
    scored = sum(1 for s in lines if s.status == "ok")
    out.append(
        GateCheck(
            name="inputs.scored",
            kind="inputs",
            passed=scored > 0,
            message=f"{scored} of {len(lines)} item(s) scored",
            value=float(scored),
        )
    )
    stale = stale_report(run)
    if stale.count:
        msg = stale.one_line() + ("; counted (allowed by config)" if cfg.allow.stale
                                  else "; left out of every metric and cell verdict")
    else:
        msg = "0 stale answers"
    out.append(GateCheck(name="inputs.stale", kind="inputs", passed=not stale.count or cfg.allow.stale,
                         message=msg, value=float(stale.count), threshold=0.0))
    for name, n, allowed, what in (
        (
            "inputs.skipped",
            sum(1 for s in lines if s.status == "skipped"),
            cfg.allow.skipped,
            "skipped item(s)",
        ),
        ("inputs.errors", sum(1 for s in lines if s.status == "error"), cfg.allow.errors, "errored item(s)"),
        (
            "inputs.judge_missing",
            sum(1 for s in lines if s.status == "ok" and s.judge_missing),
            cfg.allow.judge_missing,
            "answer(s) without a judge verdict (Never decided by the screen; record verdicts with "
            "`agenteval judge export` / `judge import`, or `record --judge MODEL`)",
        ),
    ):
        msg = f"{n} {what}" + (" (allowed by config)" if n and allowed else "")
        out.append(
            GateCheck(name=name, kind="inputs", passed=n == 0 or allowed, message=msg, value=float(n), threshold=0.0)
        )
    card_file = card or cfg.card
    if card_file:
        p = Path(card_file)
        if not p.is_absolute() and card is None and config_path is not None:
            p = Path(config_path).parent / p
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read card: {exc}", path=p) from None
        h = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
        same = h == run.manifest.card.content_hash
        out.append(
            GateCheck(
                name="inputs.card",
                kind="inputs",
                passed=same,
                message=f"run card {run.manifest.card.content_hash[:19]} "
                f"{'matches' if same else 'DIFFERS FROM'} {p} ({h[:19]})",
            )
        )
    return out


def _regression_checks(base: RunData, run: RunData, cfg: GateConfig) -> tuple[list[GateCheck], dict[str, Any]]:
    from agenteval.views.compare import compare_data

    rc = cfg.regression
    res = compare_data(base, run, n_boot=rc.n_boot, seed=rc.seed, alpha=rc.alpha)
    out = []
    mm = res.mismatch
    if res.pairs_scored == 0:
        out.append(
            GateCheck(
                name="regression.pairs",
                kind="regression",
                passed=False,
                message="no item is scored in both the run and the baseline: nothing to compare",
            )
        )
    mismatch_msg = (
        f"{mm.only_in_a_count} item(s) only in the baseline, {mm.only_in_b_count} only in the run, "
        f"{len(mm.scenario_hash_changed)} scenario(s) changed text"
    )
    out.append(
        GateCheck(
            name="regression.plan",
            kind="regression",
            passed=rc.allow_plan_mismatch or not (mm.only_in_a_count or mm.only_in_b_count),
            message=mismatch_msg + ("" if rc.allow_plan_mismatch else " (plan mismatch not allowed)"),
        )
    )
    selected = None if rc.metrics == "all" else set(rc.metrics)
    for m in res.metrics:
        if selected is not None and m.name not in selected:
            continue
        if m.verdict != "regressed":
            continue
        if m.delta is not None and abs(m.delta) < rc.min_delta:
            continue
        out.append(
            GateCheck(
                name=f"regression.{m.name}",
                kind="regression",
                passed=False,
                value=m.delta,
                message=f"{m.label}: {m.a:.4f} -> {m.b:.4f} (Δ {m.delta:+.4f}, 95% CI "
                f"{m.ci_low:+.4f}..{m.ci_high:+.4f}, p Holm {m.p_holm:.3g})",
            )
        )
    if rc.mcnemar and (selected is None or "mcnemar" in selected) and "mcnemar" in res.regressions:
        mc = res.mcnemar
        out.append(
            GateCheck(
                name="regression.mcnemar",
                kind="regression",
                passed=False,
                message=f"item pass/fail: {mc.regressed} regressed vs {mc.improved} improved "
                f"({mc.method}, p Holm {mc.p_holm:.3g})",
            )
        )
    if not [c for c in out if not c.passed and c.name not in ("regression.plan",)]:
        out.append(
            GateCheck(
                name="regression",
                kind="regression",
                passed=True,
                message=f"no significant regression vs {res.a.run_id} ({res.pairs_scored} paired items, "
                f"Holm α {rc.alpha})",
            )
        )
    return out, res.model_dump(mode="json")


# --------------------------------------------------------------------------- outputs


_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _x(s: str) -> str:
    return _XML_BAD.sub("?", s)


def junit_xml(res: GateResult) -> str:
    """JUnit XML: one testcase per scenario × mode × role, plus one per run-level gate."""
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name="agenteval gate")
    cells = ET.SubElement(root, "testsuite", name=f"agenteval.cells.{_x(res.run_id)}")
    nf = ns = 0
    for c in res.cells:
        tc = ET.SubElement(
            cells,
            "testcase",
            classname=_x(f"agenteval.{c.scenario}"),
            name=_x(f"{c.mode}/{c.role}"),
            time="0",
        )
        if c.outcome == "failed":
            nf += 1
            first = c.failures[0] if c.failures else "failed"
            el = ET.SubElement(tc, "failure", message=_x(first[:500]), type="agenteval.cell")
            el.text = _x("\n".join(c.failures))
        elif c.outcome == "skipped":
            ns += 1
            ET.SubElement(tc, "skipped", message="every epoch stale (see inputs.stale)" if c.stale
                          else "no scored epoch")
    cells.set("tests", str(len(res.cells)))
    cells.set("failures", str(nf))
    cells.set("skipped", str(ns))
    cells.set("errors", "0")
    gates = ET.SubElement(root, "testsuite", name="agenteval.gates")
    gf = 0
    for g in res.checks:
        tc = ET.SubElement(gates, "testcase", classname=f"agenteval.views.gate.{g.kind}", name=_x(g.name), time="0")
        if g.skipped:
            ET.SubElement(tc, "skipped", message=_x(g.message[:500]))
        elif not g.passed:
            gf += 1
            el = ET.SubElement(tc, "failure", message=_x(g.message[:500]), type=f"agenteval.{g.kind}")
            el.text = _x(g.message)
        else:
            out = ET.SubElement(tc, "system-out")
            out.text = _x(g.message)
    gates.set("tests", str(len(res.checks)))
    gates.set("failures", str(gf))
    gates.set("skipped", str(sum(1 for g in res.checks if g.skipped)))
    gates.set("errors", "0")
    root.set("tests", str(len(res.cells) + len(res.checks)))
    root.set("failures", str(nf + gf))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def render_text(res: GateResult) -> str:
    """Plain-text verdict (what ``agenteval gate`` prints)."""
    out = [f"gate {'PASSED' if res.passed else 'FAILED'}: {res.run_path}"]
    for g in res.checks:
        out.append(f"  [{'skip' if g.skipped else 'ok' if g.passed else 'FAIL'}] {g.name}: {g.message}")
    failed = [c for c in res.cells if c.outcome == "failed"]
    for c in failed[:20]:
        out.append(f"  cell {c.scenario}/{c.mode}/{c.role}: " + "; ".join(c.failures[:4]))
    if len(failed) > 20:
        out.append(f"  ... {len(failed) - 20} more failed cell(s)")
    return "\n".join(out)


MD_LIMIT = 20_000
"""``--md`` stays under this many bytes (a PR comment holds 65,536 characters, and compare.md is appended)."""


def render_markdown(res: GateResult, *, report_link: str | None = None, limit: int = MD_LIMIT) -> str:
    """Markdown verdict for a PR comment: at most ``limit`` bytes; the failed cells link to their section
    of the run's HTML report (``report_link``) where every answer and failed check is shown."""
    from agenteval.views.report import cell_anchor, environment

    tpl = environment(html=False).get_template("gate.md.j2")

    def anchor(c: CellResult) -> str:
        return cell_anchor((c.scenario, c.mode, c.role))

    text = ""
    for max_cells, reason_chars in ((50, 200), (30, 140), (15, 100), (5, 80), (0, 60)):
        text = str(tpl.render(g=res, report_link=report_link, max_cells=max_cells, reason_chars=reason_chars,
                              cell_anchor=anchor))
        if len(text.encode("utf-8")) <= limit:
            return text
    return text.encode("utf-8")[: limit - 40].decode("utf-8", "ignore") + "\n\n… (cut at the size limit)\n"


# --------------------------------------------------------------------------- calibration


DEFAULT_MARGIN_SE = 2.0
"""Calibrated thresholds sit this many standard errors below (or above) the baseline's value."""


def _margin_se(m: Metric, values: list[float] | None = None) -> float:
    """The standard error a calibrated threshold keeps its margin in.

    For per-item metrics: the SE of the mean over the baseline's items (sd/√n) — the noise of a re-run on
    the same scenarios. The clustered SE the reports show also counts the sampling of scenarios, which does
    not vary between runs of one suite, and would let a 20-point drop through. A rate measured as exactly
    0 or 1 (sd 0) gets the SE of a rate half an item away from it, so one bad item is not yet a failure of
    a large suite. Set metrics (precision, F1, ECE, AUROC) keep their own SE (ratio or bootstrap).
    """
    if values:
        n = len(values)
        mean = sum(values) / n
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
        if sd > 0:
            return sd / math.sqrt(n)
        if 0.0 <= mean <= 1.0:
            p = (mean * n + 0.5) / (n + 1)
            return math.sqrt(p * (1 - p) / n)
        return 0.0
    if m.se:
        return m.se
    if m.mean is not None and m.n and 0.0 <= m.mean <= 1.0:  # a set metric at exactly 0 or 1
        p = (m.mean * m.n + 0.5) / (m.n + 1)
        return math.sqrt(p * (1 - p) / m.n)
    return 0.0


def _floor4(v: float) -> float:
    return math.floor(v * 10_000 + 1e-9) / 10_000


def _ceil4(v: float) -> float:
    return math.ceil(v * 10_000 - 1e-9) / 10_000


def calibrate(
    run_path: str | Path, *, margin: float = DEFAULT_MARGIN_SE, template: GateConfig | None = None
) -> GateConfig:
    """Thresholds from a baseline run: every headline metric and every Never rule at the baseline's value
    minus (or, for lower-is-better metrics, plus) ``margin`` standard errors, and every cell's k-of-n at
    its baseline pass count minus ``margin`` binomial SEs (cells that fail in the baseline are recorded as
    such, so the gate watches them get worse, not stay as bad).

    The baseline must be a finished run without stale, errored or skipped items: thresholds from answers
    to another prompt would gate nothing real. ``template`` keeps its ``allow``, ``card``,
    ``regression`` and ``k_of_n`` ignore/graded settings.
    """
    from agenteval.analysis.metrics import HEADLINE, item_values

    run = read_run(run_path)
    lines = run.lines
    bad = [s for s in lines if s.stale or s.status != "ok"]
    if run.manifest.status != "finished" or bad:
        why = f"status {run.manifest.status}" if run.manifest.status != "finished" else (
            f"{sum(1 for s in bad if s.stale)} stale, {sum(1 for s in bad if s.status == 'error')} errored, "
            f"{sum(1 for s in bad if s.status == 'skipped')} skipped item(s)")
        raise InputError(f"cannot calibrate from this run ({why}): record fresh answers "
                         "(`agenteval record`) and run again, then calibrate", path=run.path)
    base = template.model_copy(deep=True) if template is not None else GateConfig()
    metrics = run_metrics(lines)
    per_item = item_metrics(lines)

    def se(name: str, m: Metric) -> float:
        im = per_item.get(name)
        return _margin_se(m, item_values(lines, im.fn)[0] if im is not None else None)

    base.metrics = {}
    for name in HEADLINE:
        m = metrics.get(name)
        if m is None or m.mean is None or m.n == 0:
            continue
        d = margin * se(name, m)
        if m.higher_is_better:  # every calibrated metric lies in [0, 1]
            base.metrics[name] = Threshold(min=max(0.0, _floor4(m.mean - d)))
        else:
            base.metrics[name] = Threshold(max=min(1.0, _ceil4(m.mean + d)))
    n_ok = sum(1 for s in lines if s.status == "ok")
    zero = Metric(name="violation.*", label="", mean=0.0, se=0.0, n=n_ok, clusters=0)
    base.never_rules = {"*": Threshold(max=_ceil4(margin * _margin_se(zero, [0.0] * n_ok)))} if n_ok else {}
    for key, m in metrics.items():
        if key.startswith("violation.") and m.mean is not None and m.n:
            base.never_rules[key.split(".", 1)[1]] = Threshold(max=_ceil4(min(m.mean + margin * se(key, m), 1.0)))
    epochs = max((s.epoch for s in lines), default=1)
    base.k_of_n = KOfN(k=epochs, n=epochs, ignore_checks=base.k_of_n.ignore_checks,
                       graded_checks=base.k_of_n.graded_checks)
    base.cells = {}
    probe = base.model_copy(update={"allow": Allow()})
    for v in evaluate_cells(lines, probe):
        if not v.scored:
            continue
        q = v.passed_epochs / v.scored
        cell_se = math.sqrt(q * (1 - q) / v.scored)
        k = max(0, min(v.passed_epochs, math.ceil((q - margin * cell_se) * v.scored - 1e-9)))
        if k != base.k_of_n.required(v.scored):
            base.cells[f"{v.scenario}/{v.mode}/{v.role}"] = CellThreshold(k=k, n=v.scored)
    from agenteval.fileio import utcnow

    base.calibrated_from = Calibration(run=run.rd.run_id, card_hash=run.manifest.card.content_hash,
                                       margin_se=margin, date=utcnow()[:10])
    return base


def render_gate_config(cfg: GateConfig, *, command: str) -> str:
    """``gates.yaml`` text for a (calibrated) config, with a header saying how to regenerate it."""
    import yaml

    data = cfg.model_dump(mode="json", exclude_none=True)

    def flow(d: dict[str, Any]) -> str:
        return "{" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}"

    out = [
        "# agenteval gate configuration: `agenteval gate RUN_DIR --config gates.yaml [--baseline RUN] "
        "[--junit FILE] [--md FILE]`",
        "# Exit codes: 0 all gates pass, 1 a gate failed, 2 this file (or an input) is invalid.",
        "# Metric names: `agenteval gate --list-metrics RUN_DIR`. Rates are fractions in [0, 1].",
        "#",
        "# CALIBRATED from a baseline run: each threshold is the baseline's value minus (plus, for",
        f"# lower-is-better metrics) {cfg.calibrated_from.margin_se if cfg.calibrated_from else '?'} standard "
        "errors; each cell needs its baseline pass count minus the same margin.",
        "# Regenerate after a deliberate change of scores (new recordings, scorer changes) with:",
        f"#   {command}",
        "version: 1",
        "",
        "# Stale replay answers (recorded for another card or scenario text), skipped and errored items fail",
        "# the gate unless allowed here.",
        yaml.safe_dump({"allow": data["allow"]}, sort_keys=False).rstrip(),
    ]
    if "card" in data:
        out.append(yaml.safe_dump({"card": data["card"]}, sort_keys=False).rstrip())
    if cfg.calibrated_from is not None:
        out += ["", yaml.safe_dump({"calibrated_from": data["calibrated_from"]}, sort_keys=False).rstrip()]
    out += ["", "# Thresholds on run metrics (bound: point compares the estimate, bound: ci the 95% CI bound).",
            "metrics:"]
    out += [f"  {k}: {flow(v)}" for k, v in data["metrics"].items()] or ["  {}"]
    out += ["", "# Maximum violation rate per Never rule: \"*\" for a rule the baseline did not measure (e.g. a new",
            "# one), each measured rule at its own baseline rate plus the margin.",
            "never_rules:"]
    out += [f"  {json_key(k)}: {flow(v)}" for k, v in data["never_rules"].items()] or ["  {}"]
    out += ["", "# Per scenario × mode × role cell: at least k of n epochs pass every applicable compliance check",
            "# (k/n scaled when the run has another number of epochs); `cells` overrides it per cell.",
            yaml.safe_dump({"k_of_n": data["k_of_n"]}, sort_keys=False, default_flow_style=None).rstrip()]
    if data["cells"]:
        out += ["", "# cells below the default in the baseline (k: 0 = failing there; the gate tracks the others)",
                "cells:"]
        out += [f"  {json_key(k)}: {flow(v)}" for k, v in data["cells"].items()]
    out += ["", "# With --baseline RUN: no significant regression (paired, Holm-adjusted, `agenteval compare`).",
            yaml.safe_dump({"regression": data["regression"]}, sort_keys=False).rstrip(), ""]
    return "\n".join(out)


def json_key(k: str) -> str:
    """A YAML mapping key, quoted (scenario ids, rule ids and '*' are safe as JSON strings)."""
    import json

    return json.dumps(k)
