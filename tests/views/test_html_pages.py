"""The HTML pages (run report, compare --html, trend) in headless Chromium: screenshots, no console errors,
no external requests; and their colours pass WCAG AA contrast.

Chromium runs with the flags below and a fresh --user-data-dir; its net log tells page requests
(initiator: the page's origin) from the browser's own background requests (initiator: "not an origin").
Two control pages (one loads an external image, one logs a console error) show the checks can fail.
The Chromium tests are skipped, saying why, only when no chromium binary is installed
(Debian: `apt-get install -y chromium`; .ci/run installs it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import runfactory as rf
from agenteval.views.report import contrast_ratio, text_color

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "agenteval" / "views" / "templates"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package "
                                    "`chromium`: apt-get install -y chromium); the page checks need a browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def _hex(c: str) -> tuple[float, float, float]:
    c = c.lstrip("#")
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)
    return tuple(int(c[i:i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def test_template_colours_pass_wcag_aa() -> None:
    """Every CSS rule that sets a text colour keeps ≥ 4.5:1 against its own background (or white)."""
    checked = 0
    for f in TEMPLATES.glob("*.html.j2"):
        for sel, body in re.findall(r"([^{}]+)\{([^{}]*)\}", f.read_text(encoding="utf-8")):
            fg = re.search(r"(?<![-\w])color:\s*(#[0-9a-fA-F]{3,6})", body)
            if not fg:
                continue
            bg = re.search(r"background(?:-color)?:\s*(#[0-9a-fA-F]{3,6})", body)
            ratio = contrast_ratio(_hex(fg.group(1)), _hex(bg.group(1) if bg else "#ffffff"))
            assert ratio >= 4.5, (f.name, sel.strip(), fg.group(1), ratio)
            checked += 1
    assert checked >= 8


def test_heatmap_numbers_contrast_with_their_cell() -> None:
    from matplotlib import colormaps

    cmap = colormaps["RdYlGn"]
    for i in range(101):
        bg = cmap(i / 100)
        fg = (0, 0, 0) if text_color(bg) == "black" else (1, 1, 1)
        assert contrast_ratio(bg, fg) >= 4.5, (i, bg)


def _browse(page: Path, out: Path, *, width: int = 1400) -> tuple[list[str], list[str], Path]:
    """(console lines, external URLs the page requested, screenshot) of ``page`` in headless Chromium."""
    ud = out / f"profile-{page.stem}"
    net = out / f"net-{page.stem}.json"
    shot = out / f"{page.stem}.png"
    p = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={ud}", "--enable-logging=stderr", "--v=0", f"--log-net-log={net}",
         "--host-resolver-rules=MAP * ~NOTFOUND", f"--window-size={width},1000", f"--screenshot={shot}",
         page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stderr[-2000:]
    console = [ln for ln in p.stderr.splitlines() if ":CONSOLE" in ln or "Refused to" in ln]
    log = json.loads(net.read_text(encoding="utf-8"))
    kinds = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    url_of: dict[int, str] = {}
    for e in log["events"]:
        url = (e.get("params") or {}).get("url")
        if url:
            url_of.setdefault(e["source"]["id"], str(url))
    external = []
    for e in log["events"]:
        prm = e.get("params") or {}
        if kinds.get(e["type"]) != "URL_REQUEST_START_JOB" or prm.get("initiator") in (None, "not an origin"):
            continue  # the browser's own background requests carry no page origin
        url = str(prm.get("url") or url_of.get(e["source"]["id"], "?"))
        if not url.startswith(("file:", "data:")) and url not in external:
            external.append(url)
    return console, external, shot


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from agenteval.results.rundata import read_run
    from agenteval.views.compare import compare_data, render_html
    from agenteval.views.report import write_report
    from agenteval.views.trend import render_html as trend_html
    from agenteval.views.trend import trend

    d = tmp_path_factory.mktemp("pages")
    spec = rf.Spec(scenarios=[f"sc-{i:02d}" for i in range(6)], epochs=2)
    runs = d / "runs"
    a = rf.make_run(runs / "a", spec, seed=1, started_at="2025-01-01T00:00:00.000Z")
    b = rf.make_run(runs / "b", spec, rf.Profile(envelope=0.5, violation=0.2), seed=1,
                    started_at="2025-01-02T00:00:00.000Z")
    rf.make_run(runs / "c", spec, seed=2, started_at="2025-01-03T00:00:00.000Z")
    out = {"report": d / "report.html", "compare": d / "compare.html", "trend": d / "trend.html"}
    write_report(b, html=out["report"], n_boot=100)
    ra, rb = read_run(a, transcripts=True), read_run(b, transcripts=True)
    out["compare"].write_text(render_html(compare_data(ra, rb, n_boot=200), ra, rb), encoding="utf-8")
    out["trend"].write_text(trend_html(trend(runs, n_boot=100)), encoding="utf-8")
    return out


@needs_chromium
def test_the_checks_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "control.html"
    bad.write_text('<!DOCTYPE html><html><body><img src="http://example.invalid/x.png">'
                   '<script>console.error("control")</script></body></html>', encoding="utf-8")
    console, external, _ = _browse(bad, tmp_path, width=600)
    assert any("control" in ln for ln in console)
    assert external == ["http://example.invalid/x.png"]


@needs_chromium
@pytest.mark.parametrize("name", ["report", "compare", "trend"])
def test_page_renders_without_errors_or_requests(pages: dict[str, Path], tmp_path: Path, name: str) -> None:
    console, external, shot = _browse(pages[name], tmp_path)
    assert console == [], console
    assert external == [], external
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_pages_link_cells_and_show_answers_side_by_side(pages: dict[str, Path]) -> None:
    report = pages["report"].read_text(encoding="utf-8")
    ids = set(re.findall(r'id="([^"]+)"', report))
    links = set(re.findall(r'href="#([^"]+)"', report))
    assert links and links <= ids  # every in-page link lands
    cells = re.findall(r'<section class="cell" id="([^"]+)"', report)
    assert len(cells) == 6 * 2 * 2  # every cell has its section (6 scenarios × 2 modes × 2 roles)
    assert all(c in links for c in cells)
    compare = pages["compare"].read_text(encoding="utf-8")
    assert compare.count('class="pair"') >= 1 and 'class="new"' in compare
    assert "<script" not in report + compare + pages["trend"].read_text(encoding="utf-8")
