"""``agenteval compare`` and ``agenteval power``: paired A/B comparison of two runs, and sample sizes.

Items are paired by (scenario, mode, role, epoch). Δ is always **B − A** (A = baseline, B = candidate).

* Decomposable metrics (rates, means, Brier): the mean of the per-item differences with an SE
  clustered by scenario, a normal 95% CI and p-value, and the A/B correlation of the per-item values
  (Miller 2024, §4 "paired differences").
* Non-decomposable metrics (escalation precision/F1, ECE, AUROC): a paired cluster bootstrap that
  resamples scenarios (same draws for A and B), seeded, 10,000 draws by default.
* Per-item pass/fail: McNemar's test (exact binomial below 25 discordant pairs).
* Holm-adjusted p-values across all metric tests, the cells that regressed and improved, and the
  unified diff of the two cards when their hashes differ.

Items present in only one run, items not scored in one run, scenarios whose content hash changed
and differing settings are all reported in ``mismatch``; nothing is dropped silently.
"""

from __future__ import annotations

import difflib
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from agenteval.analysis.metrics import (
    SET_METRICS,
    Metric,
    failed_checks,
    fresh_lines,
    item_metrics,
    item_passed,
    run_metrics,
)
from agenteval.analysis.stats import TestResult, holm, mcnemar, paired_cluster_bootstrap, paired_difference, z_quantile
from agenteval.errors import InputError
from agenteval.inputs.card import parse_card
from agenteval.inputs.rulerefs import RuleChange, diff_card_rules
from agenteval.results.rundata import RunData, card_text, identity_differences, read_run, run_identity
from agenteval.results.store import ScoreLine

Key = tuple[str, str, str, int]
Cell = tuple[str, str, str]
SETTINGS_COMPARED = (
    "backend",
    "model",
    "epochs",
    "max_tokens",
    "temperature",
    "scoring",
    "strict_card",
    "modes",
    "roles",
    "scenarios",
)
LIST_LIMIT = 50


class RunRef(BaseModel):
    """Which run a side of the comparison is."""

    run_id: str
    path: str
    card_name: str
    card_version: str
    card_hash: str
    backend: str
    model: str
    started_at: str
    items: int


class Mismatch(BaseModel):
    """How the two runs' plans and inputs differ (reported, never silently dropped)."""

    only_in_a: list[str] = Field(default_factory=list)
    only_in_b: list[str] = Field(default_factory=list)
    only_in_a_count: int = 0
    only_in_b_count: int = 0
    not_scored_a: list[str] = Field(default_factory=list, description="paired items A did not score")
    not_scored_b: list[str] = Field(default_factory=list, description="paired items B did not score")
    stale_a: int = 0
    stale_b: int = 0
    stale_excluded: int = Field(default=0, description="paired items left out of Δ: stale in A or in B")
    scenario_hash_changed: list[str] = Field(default_factory=list)
    settings: dict[str, list[Any]] = Field(default_factory=dict, description="setting -> [A, B]")
    card_changed: bool = False

    @property
    def any(self) -> bool:
        """Whether anything differs besides the card."""
        return bool(
            self.only_in_a_count
            or self.only_in_b_count
            or self.not_scored_a
            or self.not_scored_b
            or self.scenario_hash_changed
            or self.settings
            or self.stale_a
            or self.stale_b
        )


class MetricDelta(BaseModel):
    """One metric compared: A, B, Δ = B − A with SE, 95% CI, p-values and the verdict."""

    name: str
    label: str
    method: Literal["paired_clustered", "paired_cluster_bootstrap"]
    higher_is_better: bool
    a: float | None = Field(description="A's value over its fresh (non-stale) items: the number gate reports")
    b: float | None = Field(description="B's value over its fresh items: the number gate reports")
    a_paired: float | None = Field(default=None, description="A's mean over the paired items Δ is computed on")
    b_paired: float | None = Field(default=None, description="B's mean over the paired items Δ is computed on")
    n_a: int = Field(default=0, description="items A's value is computed on")
    n_b: int = Field(default=0, description="items B's value is computed on")
    delta: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    p_holm: float | None = None
    n: int = Field(description="paired items Δ is computed on")
    clusters: int
    correlation: float | None = None
    identical: bool = Field(default=False, description="equal on every paired item (Δ = 0, SE = 0)")
    verdict: Literal["regressed", "improved", "no significant change", "n/a"] = "n/a"


class McNemar(BaseModel):
    """McNemar's test on per-item pass/fail (A pass & B fail = regressed)."""

    n_pairs: int
    both_pass: int
    both_fail: int
    regressed: int
    improved: int
    method: str
    statistic: float | None
    p_value: float
    p_holm: float | None = None


class CellChange(BaseModel):
    """A scenario × mode × role cell whose pass rate (over paired epochs) changed."""

    scenario: str
    mode: str
    role: str
    n: int
    a_pass_rate: float
    b_pass_rate: float
    delta: float
    newly_failed: list[dict[str, str]] = Field(default_factory=list)
    fixed: list[str] = Field(default_factory=list)


class CompareResult(BaseModel):
    """``agenteval compare --json``: everything the comparison found."""

    schema_version: int = 1
    a: RunRef
    b: RunRef
    delta_definition: str = "B - A"
    alpha: float
    n_boot: int
    seed: int
    pairs: int
    pairs_scored: int
    mismatch: Mismatch
    metrics: list[MetricDelta]
    mcnemar: McNemar
    regressed_cells: list[CellChange]
    improved_cells: list[CellChange]
    regressions: list[str] = Field(
        default_factory=list,
        description="metrics that regressed (Holm-adjusted); 'mcnemar' when item pass/fail regressed",
    )
    improvements: list[str] = Field(default_factory=list)
    card_diff: str | None = None
    card_diff_note: str | None = None
    rule_changes: list[RuleChange] = Field(
        default_factory=list, description="rules lined up by identity: moved, reworded, added, removed")
    differences: list[str] = Field(default_factory=list, description="how the two runs differ besides the "
                                   "answers: backend, model, endpoint, card hash, scenario set, stale answers")

    @property
    def caveats(self) -> list[str]:
        """Why a 'no regression' would not be like for like (stale answers, plan or input mismatch)."""
        mm = self.mismatch
        out = []
        if mm.stale_a or mm.stale_b:
            out.append(f"stale answers (A {mm.stale_a}, B {mm.stale_b}; {mm.stale_excluded} paired item(s) "
                       "left out of Δ)")
        if mm.only_in_a_count or mm.only_in_b_count:
            out.append(f"plan mismatch ({mm.only_in_a_count} item(s) only in A, {mm.only_in_b_count} only in B)")
        if mm.not_scored_a or mm.not_scored_b:
            out.append(f"items not scored ({len(mm.not_scored_a)} in A, {len(mm.not_scored_b)} in B)")
        if mm.scenario_hash_changed:
            out.append(f"scenario text changed ({', '.join(mm.scenario_hash_changed[:5])})")
        if mm.settings:
            out.append("settings differ (" + ", ".join(sorted(mm.settings)) + ")")
        if self.pairs_scored == 0:
            out.append("no item is scored and fresh in both runs")
        return out

    @property
    def verdict_line(self) -> str:
        """The one-line verdict; a 'no regression' on unequal inputs says so."""
        if self.regressions:
            return "REGRESSION: " + ", ".join(self.regressions)
        if self.caveats:
            return (f"no significant regression among {self.pairs_scored} paired fresh item(s) — NOT a like-for-like "
                    "comparison: " + "; ".join(self.caveats))
        return "no significant regression"


# --------------------------------------------------------------------------- helpers


def rule_changes(a: RunData, b: RunData, *, card_a: str | Path | None = None,
                 card_b: str | Path | None = None) -> list[RuleChange]:
    """The two runs' cards' rules lined up by identity (only the changed ones); [] when not available."""
    if a.manifest.card.content_hash == b.manifest.card.content_hash and not (card_a or card_b):
        return []
    ta, tb = card_text(a, card_a), card_text(b, card_b)
    if ta is None or tb is None:
        return []
    try:
        ca, cb = parse_card(ta, str(a.manifest.card.path)), parse_card(tb, str(b.manifest.card.path))
    except InputError:
        return []
    return [c for c in diff_card_rules(ca, cb) if c.change != "unchanged"]


def _align_rule_ids(lines: Sequence[ScoreLine], changes: Sequence[RuleChange]) -> list[ScoreLine]:
    """B's score lines with Never-rule ids renamed to A's (by identity); unchanged when nothing moved."""
    rename: dict[str, str] = {}
    for c in changes:
        if c.new_id and c.new_id.startswith("never."):
            rename[c.new_id] = c.old_id if c.old_id else f"{c.new_id} (B)"
    if not rename:
        return list(lines)

    def ren(x: str) -> str:
        if x in rename:
            return rename[x]
        for prefix in ("judge.",):
            if x.startswith(prefix) and x[len(prefix):] in rename:
                return prefix + rename[x[len(prefix):]]
        return x

    out: list[ScoreLine] = []
    for s in lines:
        checks = [{**c, "id": ren(str(c.get("id", "")))} for c in s.checks]
        out.append(s.model_copy(update={"never_violations": [ren(x) for x in s.never_violations],
                                        "tempted": [ren(x) for x in s.tempted], "checks": checks}))
    return out


def render_rule_changes(changes: Sequence[RuleChange]) -> list[str]:
    """Text lines: a count per kind of change, then one line per changed rule."""
    if not changes:
        return []
    counts = {k: sum(c.change == k for c in changes) for k in ("moved", "reworded", "added", "removed")}
    out = ["  rules lined up by identity: " + ", ".join(f"{n} {k}" for k, n in counts.items() if n)]
    for c in changes:
        if c.change == "added":
            out.append(f"    added    {c.new_id}: {(c.new_text or '')[:80]}")
        elif c.change == "removed":
            out.append(f"    removed  {c.old_id}: {(c.old_text or '')[:80]}")
        elif c.change == "moved":
            out.append(f"    moved    {c.old_id} -> {c.new_id}")
        else:
            out.append(f"    reworded {c.old_id} -> {c.new_id} (similarity {c.similarity or 0:.2f})")
    return out


def key_of(s: ScoreLine) -> Key:
    """The pairing key (scenario, mode, role, epoch)."""
    return (s.scenario_id, s.mode, s.role, s.epoch)


def _ref(run: RunData) -> RunRef:
    m = run.manifest
    return RunRef(
        run_id=run.rd.run_id,
        path=str(run.path),
        card_name=m.card.name,
        card_version=m.card.version,
        card_hash=m.card.content_hash,
        backend=str(m.backend.get("name", m.settings.get("backend", ""))),
        model=m.model,
        started_at=m.started_at,
        items=len(run.lines),
    )


def _verdict(delta: float | None, p: float | None, higher: bool, alpha: float) -> Any:
    if delta is None or p is None:
        return "n/a"
    if p >= alpha or delta == 0:
        return "no significant change"
    return "improved" if (delta > 0) == higher else "regressed"


def card_diff(
    a: RunData, b: RunData, *, card_a: str | Path | None = None, card_b: str | Path | None = None
) -> tuple[str | None, str | None]:
    """(unified diff, note) of the two runs' cards; (None, None) when the cards are the same."""
    if a.manifest.card.content_hash == b.manifest.card.content_hash and not (card_a or card_b):
        return None, None
    ta, tb = card_text(a, card_a), card_text(b, card_b)
    missing = [side for side, t in (("A", ta), ("B", tb)) if t is None]
    if missing:
        return None, (
            f"the cards differ ({a.manifest.card.content_hash[:15]} vs {b.manifest.card.content_hash[:15]})"
            f" but the card text of run {' and '.join(missing)} is no longer available "
            "(the file changed since the run); pass --card-a/--card-b to diff"
        )
    assert ta is not None and tb is not None
    diff = "".join(
        difflib.unified_diff(
            ta.splitlines(keepends=True),
            tb.splitlines(keepends=True),
            fromfile=f"A {a.manifest.card.path} ({a.manifest.card.version})",
            tofile=f"B {b.manifest.card.path} ({b.manifest.card.version})",
        )
    )
    return (diff or None), None


def _mismatch(a: RunData, b: RunData, ka: dict[Key, ScoreLine], kb: dict[Key, ScoreLine]) -> Mismatch:
    def ids(keys: Sequence[Key]) -> list[str]:
        return ["/".join(map(str, k)) for k in sorted(keys)]

    oa = [k for k in ka if k not in kb]
    ob = [k for k in kb if k not in ka]
    both = [k for k in ka if k in kb]
    ha = {s.id: s.content_hash for s in a.manifest.scenarios}
    hb = {s.id: s.content_hash for s in b.manifest.scenarios}
    paired_scen = {k[0] for k in both}
    settings: dict[str, list[Any]] = {}
    for name in SETTINGS_COMPARED:
        va, vb = a.manifest.settings.get(name), b.manifest.settings.get(name)
        if va != vb:
            settings[name] = [va, vb]
    if a.manifest.model != b.manifest.model and "model" not in settings:
        settings["model"] = [a.manifest.model, b.manifest.model]
    return Mismatch(
        only_in_a=ids(oa)[:LIST_LIMIT],
        only_in_b=ids(ob)[:LIST_LIMIT],
        only_in_a_count=len(oa),
        only_in_b_count=len(ob),
        not_scored_a=ids([k for k in both if ka[k].status != "ok"])[:LIST_LIMIT],
        not_scored_b=ids([k for k in both if kb[k].status != "ok"])[:LIST_LIMIT],
        stale_a=sum(1 for s in a.lines if s.stale),
        stale_b=sum(1 for s in b.lines if s.stale),
        scenario_hash_changed=sorted(s for s in paired_scen if s in ha and s in hb and ha[s] != hb[s]),
        settings=settings,
        card_changed=a.manifest.card.content_hash != b.manifest.card.content_hash,
    )


def _index(lines: Sequence[ScoreLine], path: Path) -> dict[Key, ScoreLine]:
    from agenteval.errors import InputError

    out: dict[Key, ScoreLine] = {}
    for s in lines:
        k = key_of(s)
        if k in out:
            raise InputError(f"duplicate item {s.id} in scores.jsonl", path=path / "scores.jsonl")
        out[k] = s
    return out


# --------------------------------------------------------------------------- compare


def compare_runs(
    path_a: str | Path,
    path_b: str | Path,
    *,
    n_boot: int = 10_000,
    seed: int = 0,
    alpha: float = 0.05,
    card_a: str | Path | None = None,
    card_b: str | Path | None = None,
) -> CompareResult:
    """Compare run B against run A (the baseline); see the module docstring for the methods."""
    a, b = read_run(path_a), read_run(path_b)
    return compare_data(a, b, n_boot=n_boot, seed=seed, alpha=alpha, card_a=card_a, card_b=card_b)


def compare_data(
    a: RunData,
    b: RunData,
    *,
    n_boot: int = 10_000,
    seed: int = 0,
    alpha: float = 0.05,
    card_a: str | Path | None = None,
    card_b: str | Path | None = None,
) -> CompareResult:
    """:func:`compare_runs` on runs already read.

    On two card versions, B's Never-rule ids are renamed to A's by rule identity (a moved or reworded
    rule is compared with itself; a rule new in B is labelled ``never.N (B)``).
    """
    changes = rule_changes(a, b, card_a=card_a, card_b=card_b)
    ka, kb = _index(a.lines, a.path), _index(_align_rule_ids(b.lines, changes), b.path)
    keys = [k for k in ka if k in kb]
    both_ok = [k for k in keys if ka[k].status == "ok" and kb[k].status == "ok"]
    scored = [k for k in both_ok if not ka[k].stale and not kb[k].stale]  # stale answers pair with nothing
    la = [ka[k] for k in scored]
    lb = [kb[k] for k in scored]
    # each run's own value of every metric: the gate's code path (fresh items, run_metrics)
    run_a, run_b = fresh_metrics(a.lines), fresh_metrics(b.lines)
    metrics: list[MetricDelta] = []
    # every metric either run has (a Never rule only one card version names included), paired Δ where items pair
    for name, im in item_metrics([*ka.values(), *kb.values()]).items():
        va: list[float] = []
        vb: list[float] = []
        cl: list[str] = []
        for x, y in zip(la, lb, strict=True):
            fx, fy = im.fn(x), im.fn(y)
            if fx is None or fy is None:
                continue
            va.append(float(fx))
            vb.append(float(fy))
            cl.append(x.scenario_id)
        pd = paired_difference(va, vb, cl).model_dump()
        pd["a_paired"], pd["b_paired"] = pd.pop("a"), pd.pop("b")
        metrics.append(
            MetricDelta(
                name=name,
                label=im.label,
                method="paired_clustered",
                higher_is_better=im.higher_is_better,
                **_run_values(name, run_a, run_b),
                **pd,
            )
        )
    for name, sm in SET_METRICS.items():
        grid = sm.grid([la, lb])
        scen = sorted({s.scenario_id for s in la})
        ta, _, na = sm.cluster_totals(la, grid, scen)
        tb, _, nb = sm.cluster_totals(lb, grid, scen)
        if not scen or (name in ("ece", "auroc") and not grid):
            metrics.append(
                MetricDelta(
                    name=name,
                    label=sm.label,
                    method="paired_cluster_bootstrap",
                    higher_is_better=sm.higher_is_better,
                    **_run_values(name, run_a, run_b),
                    delta=None,
                    se=None,
                    ci_low=None,
                    ci_high=None,
                    p_value=None,
                    n=0,
                    clusters=0,
                )
            )
            continue
        res = paired_cluster_bootstrap(ta, tb, _bound_statistic(sm, grid), n_boot=n_boot, seed=seed)
        import numpy as np

        with np.errstate(divide="ignore", invalid="ignore"):
            pa = float(sm.statistic(ta.sum(axis=0), grid)) if ta.size else float("nan")
            pb = float(sm.statistic(tb.sum(axis=0), grid)) if tb.size else float("nan")
        metrics.append(
            MetricDelta(
                name=name,
                label=sm.label,
                method="paired_cluster_bootstrap",
                higher_is_better=sm.higher_is_better,
                **_run_values(name, run_a, run_b),
                a_paired=pa if math.isfinite(pa) else None,
                b_paired=pb if math.isfinite(pb) else None,
                delta=res.estimate,
                se=res.se,
                ci_low=res.ci_low,
                ci_high=res.ci_high,
                p_value=res.p_value,
                n=min(na, nb),
                clusters=res.clusters,
            )
        )
    # McNemar on per-item pass/fail
    both_pass = both_fail = reg = imp = 0
    for x, y in zip(la, lb, strict=True):
        px, py = item_passed(x), item_passed(y)
        if px and py:
            both_pass += 1
        elif not px and not py:
            both_fail += 1
        elif px and not py:
            reg += 1
        else:
            imp += 1
    mc: TestResult = mcnemar(reg, imp)
    mcn = McNemar(
        n_pairs=len(la),
        both_pass=both_pass,
        both_fail=both_fail,
        regressed=reg,
        improved=imp,
        method=mc.method,
        statistic=mc.statistic,
        p_value=mc.p_value,
    )
    # Holm across every test that could reject: a metric identical on every paired item (SE 0) or a
    # McNemar without discordant pairs cannot, and is left out of the family (its p stays 1).
    tested = [m for m in metrics if m.p_value is not None and not (m.se == 0 and m.delta == 0)]
    family: list[float] = [m.p_value for m in tested if m.p_value is not None]
    use_mc = reg + imp > 0
    adj = holm(family + ([mcn.p_value] if use_mc else []))
    for m in metrics:
        if m.p_value is not None:
            m.p_holm = m.p_value
    for m, p in zip(tested, adj[: len(tested)], strict=True):
        m.p_holm = p
    for m in metrics:
        m.identical = m.se == 0 and m.delta == 0
        m.verdict = _verdict(m.delta, m.p_holm, m.higher_is_better, alpha)
    mcn.p_holm = adj[-1] if use_mc else mcn.p_value
    regressions = [m.name for m in metrics if m.verdict == "regressed"]
    if use_mc and mcn.p_holm < alpha and reg > imp:
        regressions.append("mcnemar")
    regressed_cells, improved_cells = cell_changes(la, lb)
    diff, note = card_diff(a, b, card_a=card_a, card_b=card_b)
    return CompareResult(
        a=_ref(a),
        b=_ref(b),
        alpha=alpha,
        n_boot=n_boot,
        seed=seed,
        pairs=len(keys),
        pairs_scored=len(scored),
        mismatch=_mismatch(a, b, ka, kb).model_copy(update={"stale_excluded": len(both_ok) - len(scored)}),
        metrics=metrics,
        mcnemar=mcn,
        regressed_cells=regressed_cells,
        improved_cells=improved_cells,
        regressions=regressions,
        improvements=[m.name for m in metrics if m.verdict == "improved"],
        card_diff=diff,
        card_diff_note=note,
        rule_changes=changes,
        differences=identity_differences([("A", run_identity(a)), ("B", run_identity(b))]),
    )


def fresh_metrics(lines: Sequence[ScoreLine]) -> dict[str, Metric]:
    """A run's metrics exactly as ``agenteval gate`` computes them: :func:`run_metrics` over the items that
    are not stale (answers to another prompt count in no metric)."""
    return run_metrics(fresh_lines(lines), n_boot=200)


def _run_values(name: str, ra: dict[str, Metric], rb: dict[str, Metric]) -> dict[str, Any]:
    ma, mb = ra.get(name), rb.get(name)
    return {"a": ma.mean if ma else None, "b": mb.mean if mb else None,
            "n_a": ma.n if ma else 0, "n_b": mb.n if mb else 0}


def _bound_statistic(sm: Any, grid: list[Any]) -> Any:
    """``sm.statistic`` with its grid bound (a closure per metric, not per loop variable)."""

    def stat(t: Any) -> Any:
        return sm.statistic(t, grid)

    return stat


def cell_changes(
    la: Sequence[ScoreLine], lb: Sequence[ScoreLine]
) -> tuple[list[CellChange], list[CellChange]]:
    """Cells whose pass rate over paired epochs fell (regressed) or rose (improved), largest change first."""
    groups: dict[Cell, list[tuple[ScoreLine, ScoreLine]]] = defaultdict(list)
    for x, y in zip(la, lb, strict=True):
        groups[(x.scenario_id, x.mode, x.role)].append((x, y))
    reg: list[CellChange] = []
    imp: list[CellChange] = []
    for cell, pairs in groups.items():
        ra = sum(bool(item_passed(x)) for x, _ in pairs) / len(pairs)
        rb = sum(bool(item_passed(y)) for _, y in pairs) / len(pairs)
        if ra == rb:
            continue
        fa = {cid for x, _ in pairs for cid, _ in failed_checks(x)}
        fb: dict[str, str] = {}
        for _, y in pairs:
            for cid, why in failed_checks(y):
                fb.setdefault(cid, why)
        ch = CellChange(
            scenario=cell[0],
            mode=cell[1],
            role=cell[2],
            n=len(pairs),
            a_pass_rate=ra,
            b_pass_rate=rb,
            delta=rb - ra,
            newly_failed=[{"id": c, "reason": r} for c, r in fb.items() if c not in fa],
            fixed=sorted(fa - set(fb)),
        )
        (reg if rb < ra else imp).append(ch)
    reg.sort(key=lambda c: (c.delta, c.scenario, c.mode, c.role))
    imp.sort(key=lambda c: (-c.delta, c.scenario, c.mode, c.role))
    return reg, imp


# --------------------------------------------------------------------------- rendering


def _fmt(v: float | None, pct: bool) -> str:
    if v is None:
        return "–"
    return f"{100 * v:+.1f}pp" if pct else f"{v:+.3f}"


def _val(v: float | None, pct: bool) -> str:
    if v is None:
        return "–"
    return f"{100 * v:.1f}%" if pct else f"{v:.3f}"


_NOT_PCT = {"task_score", "brier", "ece", "auroc"}


def render_text(res: CompareResult) -> str:
    """A plain-text table of the comparison (what ``agenteval compare`` prints)."""
    out = [
        ("runs differ in: " + "; ".join(res.differences)) if res.differences else
        "runs agree on backend, model, endpoint, card, scenario set; no stale answers",
        f"A {res.a.run_id} ({res.a.backend}/{res.a.model}, card {res.a.card_version} {res.a.card_hash[:19]})",
        f"B {res.b.run_id} ({res.b.backend}/{res.b.model}, card {res.b.card_version} {res.b.card_hash[:19]})",
        f"paired items {res.pairs} (scored and fresh in both {res.pairs_scored}); A, B: each run's value over "
        "its fresh items (as gate); Δ = B − A over the paired items; α "
        f"{res.alpha}, Holm-adjusted",
    ]
    mm = res.mismatch
    if mm.only_in_a_count or mm.only_in_b_count:
        out.append(f"  PLAN MISMATCH: {mm.only_in_a_count} item(s) only in A, {mm.only_in_b_count} only in B")
    if mm.not_scored_a or mm.not_scored_b:
        out.append(
            f"  not scored: {len(mm.not_scored_a)} in A, {len(mm.not_scored_b)} in B (excluded from Δ)"
        )
    if mm.scenario_hash_changed:
        out.append(f"  scenario text changed: {', '.join(mm.scenario_hash_changed)}")
    for k, (va, vb) in mm.settings.items():
        out.append(f"  setting {k}: {va} -> {vb}")
    width = max([6, *(len(m.label) for m in res.metrics if m.n and not m.identical)])
    out.append(f"  {'metric':<{width}} {'A':>8} {'B':>8} {'Δ':>9} {'n':>5} {'95% CI':>19} {'p(Holm)':>8}  verdict")
    same = [m.name for m in res.metrics if m.identical]
    for m in res.metrics:
        if m.n == 0 or m.identical:
            continue
        pct = m.name not in _NOT_PCT
        ci = f"{_fmt(m.ci_low, pct)}..{_fmt(m.ci_high, pct)}" if m.ci_low is not None else "–"
        p = f"{m.p_holm:.3f}" if m.p_holm is not None else "–"
        out.append(
            f"  {m.label:<{width}} {_val(m.a, pct):>8} {_val(m.b, pct):>8} {_fmt(m.delta, pct):>9} {m.n:>5} "
            f"{ci:>19} {p:>8}  {m.verdict}"
        )
    if same:
        out.append(f"  identical on every paired item: {', '.join(same)}")
    mc = res.mcnemar
    out.append(
        f"  McNemar (item pass/fail): regressed {mc.regressed}, improved {mc.improved}, "
        f"{mc.method}, p {mc.p_value:.4f} (Holm {mc.p_holm:.4f})"
    )
    if res.regressed_cells:
        out.append(f"  cells regressed: {len(res.regressed_cells)}")
        for c in res.regressed_cells[:10]:
            failed = ", ".join(x["id"] for x in c.newly_failed) or "-"
            out.append(
                f"    {c.scenario}/{c.mode}/{c.role}: {c.a_pass_rate:.0%} -> {c.b_pass_rate:.0%}  "
                f"newly failing: {failed}"
            )
    if res.improved_cells:
        out.append(f"  cells improved: {len(res.improved_cells)}")
    if res.card_diff:
        out.append(f"  card changed: {res.card_diff.count(chr(10))} diff line(s) (see --md/--json)")
    elif res.card_diff_note:
        out.append(f"  {res.card_diff_note}")
    out.extend(render_rule_changes(res.rule_changes))
    out.append(res.verdict_line)
    return "\n".join(out)


def render_markdown(res: CompareResult) -> str:
    """The comparison as markdown (for a PR comment)."""
    from agenteval.views.report import environment

    return str(environment(html=False).get_template("compare.md.j2").render(r=res, not_pct=_NOT_PCT))


def side_by_side(res: CompareResult, a: RunData, b: RunData, *, limit: int = 60) -> list[dict[str, Any]]:
    """Per regressed and improved cell (up to ``limit`` each), every paired epoch's two answers with their
    failed checks (one line per cause); the checks that fail only on one side are flagged ``new``."""
    from agenteval.analysis.verdict import cause_of, grouped_failures

    ka, kb = _index(a.lines, a.path), _index(b.lines, b.path)
    out: list[dict[str, Any]] = []
    for kind, cells in (("regressed", res.regressed_cells[:limit]), ("improved", res.improved_cells[:limit])):
        for c in cells:
            epochs = []
            for k in sorted(k for k in ka if k[:3] == (c.scenario, c.mode, c.role) and k in kb):
                sides = []
                keys = {side: list(dict.fromkeys(cause_of(cid) for cid, _ in failed_checks(line)))
                        for side, line in (("A", ka[k]), ("B", kb[k]))}
                for side, run, line, other in (("A", a, ka[k], "B"), ("B", b, kb[k], "A")):
                    _, rec = run.transcripts.get(line.id, (None, {}))
                    causes = grouped_failures(failed_checks(line))
                    sides.append({
                        "side": side, "run_id": run.rd.run_id, "id": line.id, "status": line.status,
                        "stale": line.stale, "passed": item_passed(line),
                        "response": rec.get("response") if rec else None,
                        "causes": [{"text": t, "new": key not in keys[other]}
                                   for t, key in zip(causes, keys[side], strict=True)],
                    })
                epochs.append({"epoch": k[3], "sides": sides})
            out.append({"kind": kind, "cell": c.model_dump(), "anchor": f"cell-{kind}-{len(out)}",
                        "epochs": epochs})
    return out


def render_html(res: CompareResult, a: RunData, b: RunData) -> str:
    """A self-contained page (no script, no external request): the comparison, then per regressed or
    improved cell the two answers side by side with their failing checks highlighted."""
    from agenteval.views.report import environment

    return str(environment(html=True).get_template("compare.html.j2").render(
        r=res, cells=side_by_side(res, a, b), not_pct=_NOT_PCT))


# --------------------------------------------------------------------------- power


class PowerRow(BaseModel):
    """Scenarios needed for one number of epochs."""

    epochs: int
    scenarios: int


class PowerResult(BaseModel):
    """Sample sizes to detect Δ for one metric (Miller 2024, eq. for paired designs)."""

    metric: str
    label: str
    delta: float
    alpha: float
    power: float
    correlation: float
    mean: float | None
    between_var: float | None = Field(description="σ²_x: variance of the scenario-level true means")
    within_var: float | None = Field(description="σ²_ε: one-epoch noise variance of a scenario mean")
    within_estimated: bool
    scenarios_in_run: int
    epochs_in_run: int
    cells_per_scenario: float
    rows: list[PowerRow]
    epochs_needed_at_run_scenarios: int | None
    mde_at_run_size: float | None
    note: str = ""


def power_analysis(
    run: RunData,
    delta: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    correlation: float = 0.0,
    metrics: Sequence[str] | None = None,
    epochs: Sequence[int] = (1, 2, 3, 5, 10),
) -> list[PowerResult]:
    """Scenarios × epochs needed to detect a paired difference ``delta`` at ``alpha`` with ``power``.

    Miller (2024): n = (z_{1−α/2} + z_{power})² · (ω² + σ²_A/K + σ²_B/K) / δ², here with the scenario
    as the unit (its items are clustered): ω² = 2(1 − ρ)·σ²_x is the variance of the true scenario-level
    A − B differences (both sides taken to have this run's between-scenario variance σ²_x and
    correlation ρ), σ²_ε the one-epoch noise variance of a scenario mean, estimated from the spread of
    each cell across epochs. A run with one epoch cannot separate σ²_ε from σ²_x: all variance is then
    taken as between-scenario (more epochs cannot help; more scenarios do).
    """
    from agenteval.errors import UsageError

    if delta <= 0:
        raise UsageError("--delta must be positive")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise UsageError("--alpha and --power must be in (0, 1)")
    if not -1 <= correlation < 1:
        raise UsageError("--corr must be in [-1, 1)")
    ims = item_metrics(run.lines)
    names = list(metrics) if metrics else [n for n in ims if not n.startswith("violation.")]
    unknown = [n for n in names if n not in ims]
    if unknown:
        raise UsageError(f"--metric: unknown metric(s) {', '.join(unknown)} (known: {', '.join(ims)})")
    zsum = z_quantile(1 - alpha / 2) + z_quantile(power)
    out = []
    for name in names:
        im = ims[name]
        cells: dict[tuple[str, str, str], list[float]] = defaultdict(list)
        for s in run.lines:
            if s.status != "ok":
                continue
            v = im.fn(s)
            if v is not None:
                cells[(s.scenario_id, s.mode, s.role)].append(float(v))
        by_scen: dict[str, list[list[float]]] = defaultdict(list)
        for (sid, _, _), vals in cells.items():
            by_scen[sid].append(vals)
        k_run = max((len(v) for v in cells.values()), default=0)
        n_scen = len(by_scen)
        base: dict[str, Any] = {
            "metric": name,
            "label": im.label,
            "delta": delta,
            "alpha": alpha,
            "power": power,
            "correlation": correlation,
            "scenarios_in_run": n_scen,
            "epochs_in_run": k_run,
            "cells_per_scenario": (sum(len(v) for v in by_scen.values()) / n_scen) if n_scen else 0.0,
        }
        if n_scen < 2:
            out.append(
                PowerResult(
                    **base,
                    mean=None,
                    between_var=None,
                    within_var=None,
                    within_estimated=False,
                    rows=[],
                    epochs_needed_at_run_scenarios=None,
                    mde_at_run_size=None,
                    note="needs at least 2 scenarios with values",
                )
            )
            continue
        xbar: list[float] = []
        within: list[float] = []
        within_ok = k_run >= 2
        for cl in by_scen.values():
            means = [sum(v) / len(v) for v in cl]
            xbar.append(sum(means) / len(means))
            if within_ok:
                vs = [sum((y - sum(v) / len(v)) ** 2 for y in v) / (len(v) - 1) for v in cl if len(v) >= 2]
                j = len(cl)
                within.append(sum(vs) / len(vs) / j if vs else 0.0)
        m = sum(xbar) / n_scen
        v_tot = sum((x - m) ** 2 for x in xbar) / (n_scen - 1)
        s_eps = sum(within) / len(within) if within_ok and within else 0.0
        s_x = max(0.0, v_tot - (s_eps / k_run if k_run else 0.0))
        omega2 = 2 * (1 - correlation) * s_x
        rows = [
            PowerRow(epochs=k, scenarios=max(2, math.ceil(zsum**2 * (omega2 + 2 * s_eps / k) / delta**2)))
            for k in epochs
        ]
        budget = n_scen * delta**2 / zsum**2 - omega2
        k_needed: int | None
        if omega2 + 2 * s_eps == 0:
            k_needed = 1
        elif budget <= 0:
            k_needed = None
        elif s_eps == 0:
            k_needed = 1
        else:
            k_needed = max(1, math.ceil(2 * s_eps / budget))
        mde = zsum * math.sqrt((omega2 + 2 * s_eps / max(k_run, 1)) / n_scen)
        note = (
            ""
            if within_ok
            else (
                "one epoch per cell: epoch noise not separable, all variance treated as "
                "between-scenario; run with --epochs 2 or more to estimate it"
            )
        )
        out.append(
            PowerResult(
                **base,
                mean=m,
                between_var=s_x,
                within_var=s_eps,
                within_estimated=within_ok,
                rows=rows,
                epochs_needed_at_run_scenarios=k_needed,
                mde_at_run_size=mde,
                note=note,
            )
        )
    return out


def render_power(results: Sequence[PowerResult]) -> str:
    """A plain-text power table."""
    if not results:
        return "no metrics"
    r0 = results[0]
    ks = [r.epochs for r in r0.rows]
    out = [
        f"Scenarios needed to detect Δ = {r0.delta} (two-sided α {r0.alpha}, power {r0.power}, "
        f"A/B correlation ρ {r0.correlation}); run has {r0.scenarios_in_run} scenarios × "
        f"{r0.epochs_in_run} epoch(s)",
        f"  {'metric':<36} {'mean':>6} {'σ²_x':>8} {'σ²_ε':>8} "
        + " ".join(f"{'K=' + str(k):>6}" for k in ks)
        + f" {'K@run':>6} {'MDE':>6}",
    ]
    for r in results:
        if not r.rows:
            out.append(f"  {r.label[:36]:<36} {r.note}")
            continue
        kn = str(r.epochs_needed_at_run_scenarios) if r.epochs_needed_at_run_scenarios else "never"
        out.append(
            f"  {r.label[:36]:<36} {r.mean:>6.3f} {r.between_var:>8.4f} {r.within_var:>8.4f} "
            + " ".join(f"{row.scenarios:>6}" for row in r.rows)
            + f" {kn:>6} {r.mde_at_run_size:>6.3f}"
        )
    notes = {r.note for r in results if r.note and r.rows}
    out += [f"  note: {n}" for n in notes]
    out.append(
        "  K=k: scenarios needed with k epochs per cell; K@run: epochs needed with the run's scenarios "
        "(never = more epochs cannot reach it); MDE: detectable Δ at the run's own size"
    )
    return "\n".join(out)
