"""Structural import checks (no timings): the CLI stays cheap to start and a replay run stays offline.

``import agenteval.cli`` must not pull in the heavy analysis stack (pandas, matplotlib, datasets, scipy) or
the Anthropic SDK: ``agenteval --help`` and ``agenteval validate`` would pay for them on every call. A
replay ``agenteval run`` calls no API, so it must not import the SDK either. Each check runs in a fresh
interpreter, since this test process may already have imported anything.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("pandas", "matplotlib", "datasets", "scipy", "anthropic")

_REPORT = "\nprint(); print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(%r))))\n"


def _heavy_modules_after(body: str, *, cwd: Path = REPO) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    """Run ``body`` in a fresh interpreter; the heavy top-level packages it imported."""
    code = "import json, sys\n" + textwrap.dedent(body).strip() + _REPORT % (HEAVY,)
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=240,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc


def test_importing_the_cli_imports_no_heavy_library_and_no_sdk() -> None:
    heavy, _ = _heavy_modules_after("import agenteval.cli")
    assert heavy == [], f"import agenteval.cli imported {heavy}"


def test_cli_help_imports_no_heavy_library_and_no_sdk() -> None:
    heavy, proc = _heavy_modules_after("""
        from agenteval.cli import main
        rc = main(["--help"])
        assert rc == 0, rc
    """)
    assert "run" in proc.stdout
    assert heavy == [], f"agenteval --help imported {heavy}"


def test_replay_run_does_not_import_the_sdk(tmp_path: Path) -> None:
    out = tmp_path / "results"
    heavy, proc = _heavy_modules_after(f"""
        from agenteval.cli import main
        rc = main(["run", "--backend", "replay", "--scenarios", "audit-broken-pipeline",
                   "--output-dir", {str(out)!r}, "--no-report"])
        assert rc in (0, 3), rc
    """)
    assert list(out.iterdir()), proc.stdout  # the run happened and wrote its directory
    assert "anthropic" not in heavy, "a replay run imported the anthropic SDK"
