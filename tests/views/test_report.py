"""The run report: content, escaping (no executable script from model text), speed, CLI."""

from __future__ import annotations

import html.parser
import subprocess
import sys
import time
from pathlib import Path

import runfactory as rf
from agenteval.cli import main
from agenteval.results.store import ScoreLine
from agenteval.views import report

XSS = "<script>alert(1)</script>"


class _TagAudit(html.parser.HTMLParser):
    """Collects every tag and attribute the browser would see."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)


def _hostile_run(tmp_path: Path) -> Path:
    lines = rf.make_lines(rf.Spec(scenarios=["sc-00", "sc-01", "sc-02"], epochs=2), rf.Profile(envelope=0.4))
    hostile = []
    for i, s in enumerate(lines):
        if i == 0:
            checks = [
                {
                    "id": "envelope.strict",
                    "passed": False,
                    "applicable": True,
                    "reason": f"label not found near {XSS}",
                },
                *s.checks[1:],
            ]
            s = s.model_copy(
                update={
                    "checks": checks,
                    "envelope_ok": False,
                    "scenario_id": 'sc-00<img src=x onerror="alert(2)">',
                }
            )
        hostile.append(s)
    responses = {hostile[0].id: f'**Result**: {XSS}\n<a href="javascript:alert(3)">x</a>\n**Confidence**: high'}
    return rf.write_run(tmp_path / "run", hostile, responses=responses)


def test_html_report_of_a_script_response_contains_no_executable_script(tmp_path: Path) -> None:
    run = _hostile_run(tmp_path)
    report.write_run_report(run)
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown as text
    audit = _TagAudit()
    audit.feed(page)
    assert "script" not in audit.tags and "iframe" not in audit.tags
    assert not [a for a, _ in audit.attrs if a.lower().startswith("on")]  # no event handlers
    assert not [v for a, v in audit.attrs if a in ("href", "src") and v and v.lower().startswith("javascript:")]
    assert all(v.startswith(("data:image/png;base64,", "#")) for a, v in audit.attrs if a in ("src", "href") and v)
    assert "default-src 'none'" in page  # CSP forbids scripts even if one slipped in
    md = (run / "report.md").read_text(encoding="utf-8")
    assert "<script" not in md.lower() and "<img" not in md.lower()


def test_report_content(tmp_path: Path) -> None:
    run = rf.make_run(tmp_path / "r1", rf.Spec(epochs=2))
    report.write_run_report(run)
    page = (run / "report.html").read_text(encoding="utf-8")
    md = (run / "report.md").read_text(encoding="utf-8")
    for section in (
        "Headline metrics",
        "Pass rate by mode × role",
        "Never-rule violations",
        "Envelope compliance per field",
        "Escalation",
        "Calibration",
        "Cost and tokens",
        "Worst cells",
    ):
        assert section in page
    assert page.count("data:image/png;base64,") == 4  # heatmap, violations, envelope fields, reliability
    assert "TP " in md and "Recall" in md and "ECE" in md
    assert "| Uncertainty Factors |" in md  # per-field strict vs loose from the check ids
    assert "report.html#i-" in md and "(L" in md  # worst cells link to their transcripts
    assert "transcripts.jsonl line" in page


def test_report_data_values(tmp_path: Path) -> None:
    run = rf.make_run(tmp_path / "r2", rf.Spec(epochs=2))
    data = report.build_report(report.read_run(run, transcripts=True), n_boot=200)
    lines = rf.make_lines(rf.Spec(epochs=2))
    ok = [s for s in lines if s.status == "ok"]
    head = {m["name"]: m for m in data["headline"]}
    assert head["envelope_strict"]["mean"] == sum(bool(s.envelope_ok) for s in ok) / len(ok)
    esc = data["escalation"]
    assert esc["tp"] + esc["fp"] + esc["fn"] + esc["tn"] == len(ok)
    hm = data["heatmap"]
    assert hm["modes"] == ["generative", "critical"] and hm["roles"] == ["solo", "auditor"]
    assert sum(sum(r) for r in hm["n"]) == len(ok)
    assert [r["field"] for r in data["envelope_fields"]][:2] == ["whole envelope", "Result"]
    assert {g["group"] for g in data["by_mode"]} == {"generative", "critical"}
    assert data["cost"]["cost_usd"] > 0 and data["cost"]["tokens"]["input_tokens"] == 1200 * len(lines)
    assert len(data["worst"]) <= report.WORST_CELLS
    assert all(w["pass_rate"] is None or w["pass_rate"] < 1 for w in data["worst"])


def test_parse_envelope_check_ids() -> None:
    p = report.parse_envelope_check
    assert p("envelope.strict.Uncertainty Factors") == ("Uncertainty Factors", "strict")
    assert p("envelope.loose.Result") == ("Result", "loose")
    assert p("envelope.Confidence.loose") == ("Confidence", "loose")
    assert p("envelope.field.Verification") == ("Verification", "strict")
    assert p("envelope.field.uncertainty_factors.loose") == ("uncertainty_factors", "loose")
    assert p("envelope.strict") is None and p("never.1") is None and p("envelope.order") is None


def test_report_tolerates_errors_skips_stale_and_missing_checks(tmp_path: Path) -> None:
    lines = rf.make_lines(rf.Spec(scenarios=["a", "b"]))
    lines[0] = ScoreLine(
        id=lines[0].id,
        scenario_id="a",
        mode=lines[0].mode,
        role=lines[0].role,
        epoch=1,
        status="error",
        error="timeout",
    )
    lines[1] = lines[1].model_copy(update={"status": "skipped"})
    lines[2] = lines[2].model_copy(update={"stale": True})
    lines = [ln.model_copy(update={"checks": []}) for ln in lines]
    run = rf.write_run(tmp_path / "r3", lines, status="interrupted")
    report.write_run_report(run)
    md = (run / "report.md").read_text(encoding="utf-8")
    assert "stale" in md and "errored" in md and "skipped" in md and "interrupted" in md


def test_report_is_fast(tmp_path: Path) -> None:
    spec = rf.Spec(scenarios=[f"s{i}" for i in range(20)], modes=rf.MODES, roles=rf.ROLES[:3], epochs=2)
    run = rf.make_run(tmp_path / "big", spec)  # 480 items
    t0 = time.perf_counter()
    report.write_run_report(run)
    assert time.perf_counter() - t0 < 15  # generous for a shared CI machine; ~1-2 s locally


def test_cli_report(tmp_path: Path, capsys: object) -> None:
    run = rf.make_run(tmp_path / "r4")
    assert main(["report", str(run), "--html", str(tmp_path / "x.html"), "--md", str(tmp_path / "x.md")]) == 0
    assert (tmp_path / "x.html").stat().st_size > 1000 and "x.html#" in (tmp_path / "x.md").read_text()
    assert main(["report", str(run)]) == 0
    assert (run / "report.html").exists() and (run / "report.md").exists()
    assert main(["report", str(tmp_path / "nope")]) == 2


def test_cli_import_stays_light() -> None:
    code = (
        "import sys, agenteval.cli, agenteval.views.report, agenteval.integrations.pytest_plugin; "
        "heavy = [m for m in ('pandas', 'matplotlib', 'datasets', 'scipy', 'numpy', 'jinja2') "
        "if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def test_control_bidi_and_surrogate_characters_are_shown_visibly(tmp_path: Path) -> None:
    lines = rf.make_lines(rf.Spec(scenarios=["a", "b"]), rf.Profile(envelope=0.0))
    hidden = "evil\x00\x1b[2J \u202ereversed\u202c zero\u200bwidth lone\ud800 end"
    run = rf.write_run(tmp_path / "ctl", lines, responses={lines[0].id: hidden})
    report.write_run_report(run)
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "evil\\x00\\x1b[2J \\u202ereversed\\u202c zero\\u200bwidth lone\\ud800 end" in page
    invisible = [c for c in page if (ord(c) < 32 and c not in "\t\n\r") or 0x202A <= ord(c) <= 0x202E]
    assert invisible == []
    assert report.visible("tab\tnew\nline") == "tab\tnew\nline" and report.visible(3) == 3


def test_huge_response_is_cut_with_a_note(tmp_path: Path) -> None:
    lines = rf.make_lines(rf.Spec(scenarios=["a", "b"]), rf.Profile(envelope=0.0))
    huge = "HUGE-START " + "x" * (report.MAX_RESPONSE_CHARS + 5000) + " HUGE-END"
    run = rf.write_run(tmp_path / "huge", lines, responses={lines[0].id: huge})
    report.write_run_report(run)
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "HUGE-START" in page and "HUGE-END" not in page
    assert "truncated: 5020 more characters not shown" in page and "transcripts.jsonl line 1" in page
    assert len(page) < 1_000_000


def test_never_table_shows_the_source_and_screen_judge_agreement() -> None:
    from agenteval.results.store import ScoreLine
    from agenteval.views.report import violations_table

    def line(i: int, judged: list[str], screen: list[str], source: str = "judge") -> ScoreLine:
        return ScoreLine(id=f"s{i}/critical/solo/1", scenario_id=f"s{i}", mode="critical", role="solo", epoch=1,
                         status="ok", envelope_ok=True, never_violations=judged, never_screen=screen,
                         never_source=source)

    lines = [line(1, ["never.2"], ["never.2"]), line(2, ["never.2"], []), line(3, [], ["never.2"]),
             line(4, [], []), line(5, ["never.2"], ["never.2"], source="screen")]
    (row,) = [r for r in violations_table(lines, {}, {"never.2": "Skip drift monitoring"}) if r["rule"] == "never.2"]
    assert row["count"] == 3 and row["screen_count"] == 3
    assert row["source"] == "judge 4, screen 1"
    ag = row["agreement"]  # over the 4 judged items only
    assert (ag["n"], ag["both"], ag["judge_only"], ag["screen_only"]) == (4, 1, 1, 1)
    assert ag["kappa"] == 0.0  # p_o 0.5, p_e 0.5
