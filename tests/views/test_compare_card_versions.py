"""Issue 13: compare of runs on two card versions lines rules up by identity."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import cli
from tests.conftest import REPO

V2 = REPO / "tests" / "data" / "cards" / "mlops-engineer-v2.md"
PICK = "audit-serving-skew,evaluate-retraining-cadence,compare-mlflow-kubeflow"


def _run(tmp: Path, *extra: str) -> Path:
    p = cli("run", "--scenarios", PICK, "--output-dir", str(tmp), "--no-report", *extra)
    assert p.returncode == 0, p.stderr
    return Path(p.stdout.strip().splitlines()[-1])


def test_compare_lists_rule_changes_and_aligns_never_ids(tmp_path: Path) -> None:
    a = _run(tmp_path / "a")
    b = _run(tmp_path / "b", "--card", str(V2))
    out = tmp_path / "cmp.json"
    p = cli("compare", str(a), str(b), "--json", str(out), "--md", str(tmp_path / "cmp.md"))
    assert p.returncode == 0, p.stderr
    assert "rules lined up by identity:" in p.stdout
    assert "moved    never.7 -> never.8" in p.stdout
    assert "removed  evaluative.13" in p.stdout
    assert "reworded evaluative.11 -> evaluative.16" in p.stdout
    res = json.loads(out.read_text())
    kinds = {c["change"] for c in res["rule_changes"]}
    assert kinds == {"moved", "reworded", "added", "removed"}
    names = {m["name"] for m in res["metrics"]}
    # B's never.8 is A's never.7: one metric, not two; the Never rule new in B is labelled as such
    assert "violation.never.7" in names and "violation.never.8" not in names
    assert "violation.never.2 (B)" in names
    assert "Rules lined up by identity" in (tmp_path / "cmp.md").read_text()
