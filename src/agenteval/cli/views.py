"""Commands over finished runs: ``report``, ``compare``, ``power``, ``trend``, ``gate``, ``export``, ``merge``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from agenteval.cli._app import _fail, app


def _write_out(path: str | None, text: str) -> None:
    if path:
        from agenteval.results.store import atomic_write_text

        atomic_write_text(Path(path), text)


@app.command("report")
def report_cmd(
    run_dir: Annotated[str, typer.Argument(help="run directory")],
    html: Annotated[str | None, typer.Option("--html", help="write the HTML report here")] = None,
    md: Annotated[str | None, typer.Option("--md", help="write the markdown summary here")] = None,
    n_boot: Annotated[int, typer.Option("--n-boot", help="bootstrap draws for ECE/AUROC SEs")] = 2000,
) -> None:
    """Write a run's report: self-contained HTML (plots embedded) and markdown. Default: into the run dir."""
    from agenteval.views.report import REPORT_HTML, REPORT_MD, write_report

    if n_boot < 100:
        _fail("--n-boot must be at least 100")
    if html is None and md is None:
        html, md = str(Path(run_dir) / REPORT_HTML), str(Path(run_dir) / REPORT_MD)
    h, m = write_report(run_dir, html=html, md=md, n_boot=n_boot)
    for p in (h, m):
        if p is not None:
            print(p)


@app.command("compare")
def compare_cmd(
    run_a: Annotated[str, typer.Argument(help="baseline run directory (A)")],
    run_b: Annotated[str, typer.Argument(help="candidate run directory (B); Δ = B − A")],
    json_out: Annotated[str | None, typer.Option("--json", help="write the full comparison as JSON")] = None,
    md: Annotated[str | None, typer.Option("--md", help="write a markdown summary (PR comment)")] = None,
    html: Annotated[str | None, typer.Option(
        "--html", help="write a side-by-side page: per regressed/improved cell, the two answers")] = None,
    n_boot: Annotated[int, typer.Option("--n-boot", help="paired cluster-bootstrap draws")] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="bootstrap seed")] = 0,
    alpha: Annotated[float, typer.Option("--alpha", help="significance level (Holm)")] = 0.05,
    card_a: Annotated[str | None, typer.Option("--card-a", help="card file of A (if changed)")] = None,
    card_b: Annotated[str | None, typer.Option("--card-b", help="card file of B (if changed)")] = None,
    fail_on_regression: Annotated[bool, typer.Option("--fail-on-regression",
                                                     help="exit 1 when B regressed significantly")] = False,
) -> None:
    """Paired comparison of two runs: Δ per metric with clustered SE, McNemar, bootstrap, cell changes."""
    from agenteval.results.rundata import read_run
    from agenteval.views.compare import compare_data, render_html, render_markdown, render_text

    if n_boot < 100:
        _fail("--n-boot must be at least 100")
    if not 0 < alpha < 1:
        _fail("--alpha must be in (0, 1)")
    a, b = read_run(run_a, transcripts=bool(html)), read_run(run_b, transcripts=bool(html))
    res = compare_data(a, b, n_boot=n_boot, seed=seed, alpha=alpha, card_a=card_a, card_b=card_b)
    _write_out(json_out, res.model_dump_json(indent=2) + "\n")
    _write_out(md, render_markdown(res))
    if html:
        _write_out(html, render_html(res, a, b))
    print(render_text(res))
    if fail_on_regression and res.regressions:
        raise typer.Exit(1)


@app.command("power")
def power_cmd(
    from_run: Annotated[str, typer.Option("--from", help="run whose variances to use")],
    delta: Annotated[float, typer.Option("--delta", help="difference to detect (e.g. 0.05 = 5 points)")],
    alpha: Annotated[float, typer.Option("--alpha", help="two-sided significance level")] = 0.05,
    power: Annotated[float, typer.Option("--power", help="desired power")] = 0.8,
    corr: Annotated[float, typer.Option("--corr", help="assumed A/B correlation of scenario means")] = 0.0,
    metric: Annotated[list[str] | None, typer.Option("--metric", help="metric(s) (repeatable; default all)")]
    = None,
    json_out: Annotated[str | None, typer.Option("--json", help="write the results as JSON")] = None,
) -> None:
    """Scenarios × epochs needed to detect Δ (Miller 2024, paired design, the run's own variances)."""
    import json as _json

    from agenteval.plan.matrix import parse_list
    from agenteval.results.rundata import read_run
    from agenteval.views.compare import power_analysis, render_power

    res = power_analysis(read_run(from_run), delta, alpha=alpha, power=power, correlation=corr,
                         metrics=parse_list(metric))
    _write_out(json_out, _json.dumps([r.model_dump() for r in res], indent=2) + "\n")
    print(render_power(res))


@app.command("trend")
def trend_cmd(
    runs_dir: Annotated[str, typer.Argument(help="folder of run directories (e.g. results/)")],
    html: Annotated[str | None, typer.Option("--html", help="write the HTML page (CI bands)")] = None,
    md: Annotated[str | None, typer.Option("--md", help="write a markdown summary here")] = None,
    json_out: Annotated[str | None, typer.Option("--json", help="write series, tests, alerts")] = None,
    parquet: Annotated[str | None, typer.Option("--parquet", help="write the time series as parquet")] = None,
    window: Annotated[int, typer.Option("--window", help="reference window: runs before the two latest")] = 5,
    alpha: Annotated[float, typer.Option("--alpha", help="family-wise level per run (Holm)")] = 0.05,
    backend: Annotated[str | None, typer.Option("--backend", help="only runs of this backend")] = None,
    last: Annotated[int | None, typer.Option("--last", help="only the last N runs")] = None,
    fail_on_alert: Annotated[bool, typer.Option("--fail-on-alert", help="exit 1 on a drift alert")] = False,
) -> None:
    """Metrics across runs with CI bands, and drift tests of the latest runs against a reference window."""
    from agenteval.views.trend import render_html, render_markdown, render_text, trend, write_parquet

    if window < 1:
        _fail("--window must be at least 1")
    if not 0 < alpha < 1:
        _fail("--alpha must be in (0, 1)")
    res = trend(runs_dir, window=window, alpha=alpha, backend=backend, last=last)
    if parquet:
        write_parquet(res, parquet)
    _write_out(json_out, res.model_dump_json(indent=2) + "\n")
    _write_out(md, render_markdown(res))
    if html:
        _write_out(html, render_html(res))
    print(render_text(res))
    if fail_on_alert and res.alerts:
        raise typer.Exit(1)


@app.command("gate")
def gate_cmd(
    run_dir: Annotated[str | None, typer.Argument(help="run directory to gate")] = None,
    config: Annotated[str, typer.Option("--config", help="gate configuration")] = "gates.yaml",
    calibrate_from: Annotated[str | None, typer.Option(
        "--calibrate-from", help="write thresholds calibrated from this baseline run (see --out, --margin)")] = None,
    out: Annotated[str | None, typer.Option("--out", help="with --calibrate-from: file to write "
                                            "(default: print)")] = None,
    margin: Annotated[float, typer.Option("--margin", help="with --calibrate-from: standard errors "
                                          "below the baseline")] = 2.0,
    baseline: Annotated[str | None, typer.Option("--baseline", help="baseline run (regression gate)")] = None,
    junit: Annotated[str | None, typer.Option("--junit", help="write JUnit XML (testcase per cell)")] = None,
    md: Annotated[str | None, typer.Option("--md", help="write a markdown summary (PR comment, <= 20 KB)")] = None,
    report_link: Annotated[str | None, typer.Option(
        "--report-link", help="--md links cells to this run report URL (default: the run's report.html, "
        "relative to the --md file)")] = None,
    json_out: Annotated[str | None, typer.Option("--json", help="write the verdict as JSON")] = None,
    card: Annotated[str | None, typer.Option("--card", help="card the run must have used")] = None,
    list_metrics: Annotated[bool, typer.Option("--list-metrics", help="print metric names, exit")] = False,
) -> None:
    """Pass/fail a run for CI. Exit 0 pass, 1 fail, 2 bad config or input."""
    from agenteval.views import gate as g

    if calibrate_from:
        if margin < 0:
            _fail("--margin must be >= 0")
        from pathlib import Path as _P

        template = g.load_gate_config(config) if _P(config).is_file() else None
        cal = g.calibrate(calibrate_from, margin=margin, template=template)
        cmd = f'agenteval gate --calibrate-from "$(agenteval run | tail -n 1)" --out {out or "gates.yaml"}' + (
            f" --margin {margin:g}" if margin != g.DEFAULT_MARGIN_SE else "")
        text = g.render_gate_config(cal, command=cmd)
        g.load_gate_config_text(text)  # what we write must load
        if out:
            _write_out(out, text)
            print(f"agenteval: wrote {out}: {len(cal.metrics)} metric, {len(cal.never_rules)} Never-rule and "
                  f"{len(cal.cells)} per-cell threshold(s) from {calibrate_from} (margin {margin:g} SE)",
                  file=sys.stderr)
        else:
            print(text, end="")
        return
    if run_dir is None:
        _fail("gate: give RUN_DIR (or --calibrate-from RUN to write thresholds)")
    if list_metrics:
        from agenteval.results.rundata import read_run

        for name in g.known_metrics(read_run(run_dir).lines):
            print(name)
        return
    cfg = g.load_gate_config(config)
    res = g.run_gate(run_dir, cfg, baseline=baseline, card=card, config_path=config)
    if junit:
        _write_out(junit, g.junit_xml(res))
    if md:
        link = report_link
        if link is None and (Path(run_dir) / "report.html").is_file():
            import os

            link = os.path.relpath(Path(run_dir) / "report.html", Path(md).resolve().parent)
        _write_out(md, g.render_markdown(res, report_link=link))
    _write_out(json_out, res.model_dump_json(indent=2) + "\n")
    print(g.render_text(res))
    raise typer.Exit(0 if res.passed else 1)


@app.command("export")
def export_cmd(
    run_dir: Annotated[str, typer.Argument(help="run directory")],
    fmt: Annotated[str, typer.Option("--format", help="parquet | csv | hf (datasets.save_to_disk)")],
    out: Annotated[str, typer.Option("--out", help="output file (parquet, csv) or folder (hf)")],
    no_responses: Annotated[bool, typer.Option("--no-responses", help="leave out the response text")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace an existing output")] = False,
) -> None:
    """Export a run as a table: one row per item, checks flattened to columns."""
    from agenteval.views.export import FORMATS, export_run

    if fmt not in FORMATS:
        from agenteval.errors import did_you_mean

        _fail(f"--format must be one of {', '.join(FORMATS)}, got '{fmt}'{did_you_mean(fmt, list(FORMATS))}")
    print(export_run(run_dir, fmt, out, responses=not no_responses, overwrite=overwrite))


@app.command("merge")
def merge_cmd(
    run_dirs: Annotated[list[str], typer.Argument(help="shard run directories")],
    out: Annotated[str, typer.Option("--out", help="new run directory to create")],
    allow_partial: Annotated[bool, typer.Option("--allow-partial", help="merge with shards missing")] = False,
    no_report: Annotated[bool, typer.Option("--no-report", help="write no report.html/report.md")] = False,
) -> None:
    """Merge the shards of a run (agenteval run --shard i/n) into one run directory."""
    from agenteval.analysis.summary import render_summary
    from agenteval.run.merge import merge_runs
    from agenteval.run.runner import redact_argv

    argv = redact_argv(["agenteval", *sys.argv[1:]])
    rd = merge_runs(run_dirs, out, command=argv, allow_partial=allow_partial, report=not no_report)
    from agenteval.backends.env import cost_note

    print(render_summary(rd.read_summary(), str(rd.path), cost_note=cost_note(rd.read_manifest().backend)))
    print(str(rd.path))
