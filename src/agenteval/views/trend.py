"""``agenteval trend``: metrics over a series of runs, and drift tests for nightly monitoring.

Time series: every metric of every finished run in RUNS_DIR (ordered by start time) with its
clustered SE and 95% CI, as a table, a parquet file and a plot with CI bands.

Drift: the latest run and the one before it are each tested against a *reference window* — the
``window`` runs before those two, pooled:

* χ² test of homogeneity on the distribution of Confidence levels (a missing level is its own category);
* two-sample Kolmogorov–Smirnov test on task scores;
* a two-proportion test on every rate (z-test, or Fisher's exact test when an expected count is < 5);
* PSI of the Confidence levels and of binned task scores, shown with a sample-size-aware threshold
  ((1/n_ref + 1/n_cur) · χ²₀.₉₅(bins − 1)) instead of the fixed 0.1/0.25 rule.

The p-values of one run are Holm-corrected across all its tests. An **alert** is raised only when the
same test is significant for both of the two latest runs, which keeps the false-alarm rate on
no-drift data well under 1% (see tests/test_trend.py).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from agenteval.analysis.metrics import TREND_PLOT_METRICS, ItemMetric, fresh_lines, item_metrics, run_metrics
from agenteval.analysis.stats import holm, psi, psi_threshold, two_proportion_test
from agenteval.errors import InputError
from agenteval.results.rundata import RunData, identity_differences, read_run, run_identity
from agenteval.results.store import MANIFEST, SCORES, ScoreLine

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

PLOT_METRICS = TREND_PLOT_METRICS
TASK_BINS = (0.0, 0.2, 0.4, 0.6, 0.8)
NO_LEVEL = "(none)"


# --------------------------------------------------------------------------- models


class RunPoint(BaseModel):
    """One run of the series."""

    run_id: str
    path: str
    started_at: str
    card_version: str
    card_hash: str
    backend: str
    model: str
    items: int
    stale: int = 0
    series: str = Field(default="", description="card hash × model × backend: runs of one series are comparable")


class SeriesRow(BaseModel):
    """One metric of one run (a row of the parquet file)."""

    run_id: str
    started_at: str
    card_version: str
    card_hash: str
    metric: str
    label: str
    mean: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    clusters: int


class DriftTest(BaseModel):
    """One drift test of one run against the reference window."""

    run_id: str
    test: str = Field(description="e.g. 'chi2:confidence_level', 'ks:task_score', 'prop:envelope_strict'")
    method: str
    statistic: float | None = None
    p_value: float
    p_holm: float | None = None
    significant: bool = False
    current: float | None = Field(default=None, description="the run's value (rate or mean)")
    reference: float | None = Field(default=None, description="the reference window's value")
    n_current: int = 0
    n_reference: int = 0


class PSIRow(BaseModel):
    """PSI of one distribution with its sample-size-aware threshold."""

    run_id: str
    variable: str
    psi: float
    threshold: float | None
    exceeds: bool
    fixed_rule: str = Field(description="what the fixed rule would say: stable <0.1, moderate <0.25, major")
    bins: int
    n_current: int
    n_reference: int


class Alert(BaseModel):
    """A drift test significant in two consecutive runs."""

    test: str
    runs: list[str]
    p_holm: list[float]
    current: float | None = None
    reference: float | None = None


class TrendResult(BaseModel):
    """``agenteval trend --json``."""

    schema_version: int = 1
    runs_dir: str
    runs: list[RunPoint]
    skipped: list[dict[str, str]] = Field(default_factory=list)
    window: int
    alpha: float
    reference_runs: list[str] = Field(default_factory=list)
    tests: list[DriftTest] = Field(
        default_factory=list, description="tests of the previous and the latest run"
    )
    psi: list[PSIRow] = Field(default_factory=list)
    alerts: list[Alert] = Field(default_factory=list)
    series: list[SeriesRow] = Field(default_factory=list)
    note: str = ""
    differences: list[str] = Field(default_factory=list, description="how the runs differ (backend, model, "
                                   "endpoint, card hash, scenario set, stale answers)")
    drift_series: str = Field(default="", description="the series the drift tests ran on (the latest run's)")


# --------------------------------------------------------------------------- aggregates for the tests


@dataclass
class RunAgg:
    """What the drift tests need of a run: successes/trials per rate, level counts, task scores."""

    rates: dict[str, tuple[int, int]] = field(default_factory=dict)
    levels: Counter[str] = field(default_factory=Counter)
    task: list[float] = field(default_factory=list)

    @property
    def n(self) -> int:
        """Items with a confidence-level observation."""
        return sum(self.levels.values())

    @staticmethod
    def pool(aggs: Sequence[RunAgg]) -> RunAgg:
        """The pooled reference window."""
        out = RunAgg()
        for a in aggs:
            for k, (x, n) in a.rates.items():
                px, pn = out.rates.get(k, (0, 0))
                out.rates[k] = (px + x, pn + n)
            out.levels.update(a.levels)
            out.task.extend(a.task)
        return out


class ItemTable:
    """Per-item arrays of one run (or a pool of items) from which :class:`RunAgg` are cut quickly.

    Used directly by the resampling simulation: a simulated run is ``table.agg(indices)``.
    """

    def __init__(self, lines: Sequence[ScoreLine], metrics: dict[str, ItemMetric]) -> None:
        import numpy as np

        ok = [s for s in lines if s.status == "ok"]
        self.names = [k for k, m in metrics.items() if m.binary]
        self.binary = np.full((len(ok), len(self.names)), np.nan)
        for i, s in enumerate(ok):
            for j, k in enumerate(self.names):
                v = metrics[k].fn(s)
                if v is not None:
                    self.binary[i, j] = v
        self.levels = np.array([s.confidence_level or NO_LEVEL for s in ok], dtype=object)
        self.task = np.array([np.nan if s.task_score is None else s.task_score for s in ok], dtype=float)
        self.size = len(ok)

    def agg(self, idx: np.ndarray | None = None) -> RunAgg:
        """Aggregate the rows ``idx`` (all rows when None)."""
        import numpy as np

        b = self.binary if idx is None else self.binary[idx]
        lv = self.levels if idx is None else self.levels[idx]
        tk = self.task if idx is None else self.task[idx]
        valid = ~np.isnan(b)
        x = np.nansum(b, axis=0)
        n = valid.sum(axis=0)
        rates = {k: (round(float(x[j])), int(n[j])) for j, k in enumerate(self.names) if n[j] > 0}
        levels: Counter[str] = Counter()
        if len(lv):
            u, c = np.unique(lv, return_counts=True)
            levels.update({str(a): int(b_) for a, b_ in zip(u.tolist(), c.tolist(), strict=True)})
        return RunAgg(
            rates=rates,
            levels=levels,
            task=[float(v) for v in tk[~np.isnan(tk)]],
        )


def _task_hist(values: Sequence[float]) -> Counter[str]:
    out: Counter[str] = Counter()
    for v in values:
        i = max(j for j, lo in enumerate(TASK_BINS) if v >= lo or j == 0)
        out[f"[{TASK_BINS[i]:.1f},{TASK_BINS[i + 1] if i + 1 < len(TASK_BINS) else 1.0:.1f}]"] += 1
    return out


def drift_tests(
    run_id: str, cur: RunAgg, ref: RunAgg, *, alpha: float = 0.05, min_task: int = 5
) -> list[DriftTest]:
    """All drift tests of one run against the pooled reference, Holm-corrected across them."""
    tests: list[DriftTest] = []
    cats = sorted(set(cur.levels) | set(ref.levels))
    cats = [c for c in cats if cur.levels.get(c, 0) + ref.levels.get(c, 0) > 0]
    if len(cats) >= 2 and cur.n and ref.n:
        from scipy.stats import chi2_contingency

        table = [[cur.levels.get(c, 0) for c in cats], [ref.levels.get(c, 0) for c in cats]]
        res = chi2_contingency(table, correction=False)
        tests.append(
            DriftTest(
                run_id=run_id,
                test="chi2:confidence_level",
                method=f"chi2 ({len(cats) - 1} df)",
                statistic=float(res.statistic),
                p_value=float(res.pvalue),
                n_current=cur.n,
                n_reference=ref.n,
            )
        )
    if len(cur.task) >= min_task and len(ref.task) >= min_task:
        from scipy.stats import ks_2samp

        res = ks_2samp(cur.task, ref.task)
        tests.append(
            DriftTest(
                run_id=run_id,
                test="ks:task_score",
                method="two-sample KS",
                statistic=float(res.statistic),
                p_value=float(res.pvalue),
                current=sum(cur.task) / len(cur.task),
                reference=sum(ref.task) / len(ref.task),
                n_current=len(cur.task),
                n_reference=len(ref.task),
            )
        )
    for k in sorted(set(cur.rates) & set(ref.rates)):
        x1, n1 = cur.rates[k]
        x2, n2 = ref.rates[k]
        tp = two_proportion_test(x1, n1, x2, n2)
        tests.append(
            DriftTest(
                run_id=run_id,
                test=f"prop:{k}",
                method=tp.method,
                statistic=tp.statistic,
                p_value=tp.p_value,
                current=x1 / n1 if n1 else None,
                reference=x2 / n2 if n2 else None,
                n_current=n1,
                n_reference=n2,
            )
        )
    adj = holm([t.p_value for t in tests])
    for t, p in zip(tests, adj, strict=True):
        t.p_holm = p
        t.significant = p < alpha
    return tests


def psi_rows(run_id: str, cur: RunAgg, ref: RunAgg, *, alpha: float = 0.05) -> list[PSIRow]:
    """PSI of the Confidence-level distribution and of binned task scores, with their thresholds."""
    out = []
    for variable, c, r in (
        ("confidence_level", cur.levels, ref.levels),
        ("task_score", _task_hist(cur.task), _task_hist(ref.task)),
    ):
        nc, nr = sum(c.values()), sum(r.values())
        if not nc or not nr:
            continue
        bins = len(set(c) | set(r))
        value = psi(r, c)
        thr = psi_threshold(nr, nc, bins, alpha=alpha)
        fixed = "stable (<0.1)" if value < 0.1 else "moderate (0.1-0.25)" if value < 0.25 else "major (>0.25)"
        out.append(
            PSIRow(
                run_id=run_id,
                variable=variable,
                psi=value,
                threshold=thr,
                exceeds=thr is not None and value > thr,
                fixed_rule=fixed,
                bins=bins,
                n_current=nc,
                n_reference=nr,
            )
        )
    return out


def detect(
    aggs: Sequence[RunAgg], run_ids: Sequence[str], *, window: int = 5, alpha: float = 0.05
) -> tuple[list[DriftTest], list[Alert], list[int]]:
    """Test the two latest runs against the ``window`` runs before them; alert on tests significant in both.

    Returns (tests of the previous and the latest run, alerts, indices of the reference runs).
    """
    n = len(aggs)
    if n < 3:
        return [], [], []
    ref_idx = list(range(max(0, n - 2 - window), n - 2))
    ref = RunAgg.pool([aggs[i] for i in ref_idx])
    prev = drift_tests(run_ids[n - 2], aggs[n - 2], ref, alpha=alpha)
    last = drift_tests(run_ids[n - 1], aggs[n - 1], ref, alpha=alpha)
    by_test = {t.test: t for t in prev}
    alerts = []
    for t in last:
        p = by_test.get(t.test)
        if p is not None and p.significant and t.significant:
            alerts.append(
                Alert(
                    test=t.test,
                    runs=[p.run_id, t.run_id],
                    p_holm=[p.p_holm or 0.0, t.p_holm or 0.0],
                    current=t.current,
                    reference=t.reference,
                )
            )
    return prev + last, alerts, ref_idx


# --------------------------------------------------------------------------- runs


def find_runs(
    runs_dir: str | Path, *, backend: str | None = None, last: int | None = None
) -> tuple[list[RunData], list[dict[str, str]]]:
    """Finished runs under ``runs_dir`` ordered by start time, and the folders skipped (with why)."""
    root = Path(runs_dir)
    if not root.is_dir():
        raise InputError("not a directory", path=root)
    runs: list[RunData] = []
    skipped: list[dict[str, str]] = []
    for p in sorted(root.iterdir()):
        if not p.is_dir() or not (p / MANIFEST).is_file():
            continue
        if not (p / SCORES).is_file():
            skipped.append({"path": str(p), "reason": "no scores.jsonl"})
            continue
        try:
            run = read_run(p)
        except InputError as exc:
            skipped.append({"path": str(p), "reason": str(exc)})
            continue
        if run.manifest.status != "finished":
            skipped.append({"path": str(p), "reason": f"status {run.manifest.status}"})
            continue
        b = str(run.manifest.backend.get("name", run.manifest.settings.get("backend", "")))
        if backend and b != backend:
            skipped.append({"path": str(p), "reason": f"backend {b}"})
            continue
        runs.append(run)
    runs.sort(key=lambda r: (r.manifest.started_at, r.rd.run_id))
    if last:
        runs = runs[-last:]
    return runs, skipped


def trend(
    runs_dir: str | Path,
    *,
    window: int = 5,
    alpha: float = 0.05,
    n_boot: int = 1000,
    seed: int = 0,
    backend: str | None = None,
    last: int | None = None,
) -> TrendResult:
    """Build the time series and run the drift tests over the runs in ``runs_dir``."""
    runs, skipped = find_runs(runs_dir, backend=backend, last=last)
    if not runs:
        raise InputError("no finished runs found", path=runs_dir)
    idents = [run_identity(r) for r in runs]
    all_lines = [s for r in runs for s in fresh_lines(r.lines)]
    ims = item_metrics(all_lines)
    points: list[RunPoint] = []
    series: list[SeriesRow] = []
    aggs: list[RunAgg] = []
    for r, ident in zip(runs, idents, strict=True):
        m = r.manifest
        fresh = fresh_lines(r.lines)
        points.append(
            RunPoint(
                run_id=r.rd.run_id,
                path=str(r.path),
                started_at=m.started_at,
                card_version=m.card.version,
                card_hash=m.card.content_hash,
                backend=str(m.backend.get("name", m.settings.get("backend", ""))),
                model=m.model,
                items=len(r.lines),
                stale=ident.stale,
                series=ident.series_key,
            )
        )
        for name, met in run_metrics(fresh, n_boot=n_boot, seed=seed).items():
            series.append(
                SeriesRow(
                    run_id=r.rd.run_id,
                    started_at=m.started_at,
                    card_version=m.card.version,
                    card_hash=m.card.content_hash,
                    metric=name,
                    label=met.label,
                    mean=met.mean,
                    se=met.se,
                    ci_low=met.ci_low,
                    ci_high=met.ci_high,
                    n=met.n,
                    clusters=met.clusters,
                )
            )
        aggs.append(ItemTable(fresh, ims).agg())
    # drift tests only within one series (same card, model and backend): the latest run's
    latest = points[-1].series
    in_series = [i for i, p in enumerate(points) if p.series == latest]
    ids = [points[i].run_id for i in in_series]
    s_aggs = [aggs[i] for i in in_series]
    tests, alerts, ref_idx = detect(s_aggs, ids, window=window, alpha=alpha)
    psis: list[PSIRow] = []
    note = ""
    if ref_idx:
        ref = RunAgg.pool([s_aggs[i] for i in ref_idx])
        for i in (len(s_aggs) - 2, len(s_aggs) - 1):
            psis += psi_rows(ids[i], s_aggs[i], ref, alpha=alpha)
    else:
        note = ("drift tests need at least 3 runs of one series (a reference window and two consecutive runs); "
                f"the latest series ({latest}) has {len(in_series)}")
    if len(in_series) < len(points):
        note = (note + "; " if note else "") + (
            f"drift tested within the latest run's series only ({len(in_series)} of {len(points)} runs): "
            "runs of another card, model or backend are not comparable")
    return TrendResult(
        runs_dir=str(runs_dir),
        runs=points,
        skipped=skipped,
        window=window,
        alpha=alpha,
        reference_runs=[ids[i] for i in ref_idx],
        tests=tests,
        psi=psis,
        alerts=alerts,
        series=series,
        note=note,
        differences=identity_differences([(p.run_id, i) for p, i in zip(points, idents, strict=True)]),
        drift_series=latest,
    )


# --------------------------------------------------------------------------- outputs


def to_dataframe(res: TrendResult) -> Any:
    """The time series as a long pandas DataFrame (one row per run × metric)."""
    import pandas as pd

    return pd.DataFrame([r.model_dump() for r in res.series])


def write_parquet(res: TrendResult, path: str | Path) -> None:
    """Write the time series as parquet."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    to_dataframe(res).to_parquet(p, index=False)


def _is_rate(name: str) -> bool:
    return name not in ("task_score", "brier", "ece", "auroc")


SERIES_COLORS = ("#1f497d", "#9c4f00", "#2e6b30", "#6a3d9a", "#8c2d04", "#005f73")
"""Series colours (each has ≥ 4.5:1 contrast on white)."""


def x_label(p: RunPoint) -> str:
    """The x-axis label of a run: its start date and time (UTC); the run id is in the series table."""
    return f"{p.started_at[:10]} {p.started_at[11:16]}"


def plot_series(res: TrendResult) -> str | None:
    """Small multiples of the headline metrics with 95% CI bands, one line per series (card hash × model ×
    backend), runs on the x-axis by start date/time and run id (PNG data URI)."""
    from agenteval.views.plots import figure, png

    names = [m for m in PLOT_METRICS if any(r.metric == m and r.mean is not None for r in res.series)]
    if not names:
        return None
    ids = [p.run_id for p in res.runs]
    keys = list(dict.fromkeys(p.series for p in res.runs))
    series_of = {p.run_id: p.series for p in res.runs}
    alerted = {a.test.split(":", 1)[1] for a in res.alerts if a.test.startswith("prop:")}
    cols = 3
    rows = math.ceil(len(names) / cols)
    fig = figure(max(4.0 * cols, 0.45 * len(ids) * cols), 2.9 * rows + 0.3)
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        pts = {r.run_id: r for r in res.series if r.metric == name}
        for si, key in enumerate(keys):
            xs = [j for j, rid in enumerate(ids) if series_of[rid] == key and rid in pts and pts[rid].mean is not None]
            if not xs:
                continue
            ys = [pts[ids[j]].mean for j in xs]
            lo = [pts[ids[j]].ci_low if pts[ids[j]].ci_low is not None else pts[ids[j]].mean for j in xs]
            hi = [pts[ids[j]].ci_high if pts[ids[j]].ci_high is not None else pts[ids[j]].mean for j in xs]
            color = SERIES_COLORS[si % len(SERIES_COLORS)]
            ax.fill_between(xs, lo, hi, alpha=0.2, color=color, linewidth=0)
            ax.plot(xs, ys, marker="os^Dvx"[si % 6], markersize=3, color=color, label=key if i == 0 else None)
        label = next((r.label for r in res.series if r.metric == name), name)
        ax.set_title(label + (" — ALERT" if name in alerted else ""), fontsize=9)
        if _is_rate(name) or name == "auroc":
            ax.set_ylim(-0.02, 1.02)
        ax.tick_params(labelsize=6)
        ax.set_xticks(range(len(ids)), [x_label(p) for p in res.runs], rotation=60, ha="right")
    fig.suptitle("Metrics per run (95% CI bands); x = run start (UTC); one line per series "
                 "(card hash × model × backend)", fontsize=10)
    fig.legend(loc="lower center", ncol=min(len(keys), 3), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.02 + 0.02 * min(len(keys), 3), 1, 0.97))
    return png(fig)


def render_text(res: TrendResult) -> str:
    """Plain-text summary: how the runs differ, the series of the headline metrics, the latest tests, alerts."""
    out = [
        ("runs differ in: " + "; ".join(res.differences)) if res.differences else
        "runs agree on backend, model, endpoint, card, scenario set; no stale answers",
        f"{len(res.runs)} run(s) in {res.runs_dir}" + (f"; {len(res.skipped)} skipped" if res.skipped else "")
        + "; stale answers are left out of every value",
    ]
    names = [m for m in PLOT_METRICS if any(r.metric == m and r.mean is not None for r in res.series)]
    widths = [max(13, len(n)) for n in names]
    keys = list(dict.fromkeys(p.series for p in res.runs))
    for key in keys:
        runs = [p for p in res.runs if p.series == key]
        out.append(f"  series {key} ({len(runs)} run(s))")
        out.append(f"  {'run':<36} {'started (UTC)':<16} " + " ".join(f"{n:>{w}}" for n, w in zip(names, widths,
                                                                                                     strict=True)))
        for p in runs:
            vals = {r.metric: r for r in res.series if r.run_id == p.run_id}
            cells = []
            for n, w in zip(names, widths, strict=True):
                r = vals.get(n)
                if r is None or r.mean is None:
                    cells.append(f"{'–':>{w}}")
                else:
                    se = f"±{r.se:.3f}" if r.se is not None else ""
                    cells.append(f"{f'{r.mean:.3f}{se}':>{w}}")
            stale = f"  ({p.stale} stale)" if p.stale else ""
            out.append(f"  {p.run_id:<36} {p.started_at[:16].replace('T', ' '):<16} " + " ".join(cells) + stale)
    if res.note:
        out.append(f"  {res.note}")
    if res.reference_runs:
        out.append(
            f"  reference window: {len(res.reference_runs)} run(s); α {res.alpha}, Holm within each run"
        )
        for t in res.tests:
            if t.significant:
                out.append(
                    f"  significant: {t.run_id} {t.test} p(Holm) {t.p_holm:.4g} "
                    f"(current {_f(t.current)}, reference {_f(t.reference)})"
                )
        for ps in res.psi:
            out.append(
                f"  PSI {ps.variable} {ps.run_id}: {ps.psi:.4f} (threshold at n: {_f(ps.threshold)}; "
                f"{'EXCEEDS' if ps.exceeds else 'ok'}; fixed rule would say {ps.fixed_rule})"
            )
    if res.alerts:
        for a in res.alerts:
            out.append(
                f"ALERT: {a.test} significant in two consecutive runs {a.runs[0]}, {a.runs[1]} "
                f"(p Holm {a.p_holm[0]:.3g}, {a.p_holm[1]:.3g})"
            )
    else:
        out.append("no drift alert")
    return "\n".join(out)


def _f(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def render_markdown(res: TrendResult) -> str:
    """The trend as markdown."""
    from agenteval.views.report import environment

    return str(
        environment(html=False)
        .get_template("trend.md.j2")
        .render(t=res, names=_names(res), table=series_table(res))
    )


def render_html(res: TrendResult) -> str:
    """The self-contained trend page with the CI-band plot."""
    from agenteval.views.report import environment

    return str(
        environment(html=True)
        .get_template("trend.html.j2")
        .render(t=res, names=_names(res), table=series_table(res), plot=plot_series(res))
    )


def _names(res: TrendResult) -> list[tuple[str, str]]:
    labels = {r.metric: r.label for r in res.series}
    return [(m, labels[m]) for m in PLOT_METRICS if m in labels]


def series_table(res: TrendResult) -> dict[str, dict[str, SeriesRow]]:
    """run id -> metric -> row (for the templates)."""
    out: dict[str, dict[str, SeriesRow]] = {}
    for r in res.series:
        out.setdefault(r.run_id, {})[r.metric] = r
    return out
