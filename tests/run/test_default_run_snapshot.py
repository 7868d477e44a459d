"""The default replay run's scores.jsonl and summary.json, compared with a committed snapshot.

Behaviour that is meant to stay the same stays the same: a change that means to change scores updates the
snapshot in the same commit and says why (``python tests/run/test_default_run_snapshot.py --update``).
Run ids, timestamps and paths are left out of the comparison.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SNAP = REPO / "tests" / "data" / "snapshots"
VOLATILE = {"run_id", "started_at", "finished_at", "path", "run_dir", "created_at"}


def _scrub(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _scrub(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_scrub(v) for v in obj]
    return obj


def default_run(out: Path) -> Path:
    """Run `agenteval run` (the repo's config: replay, recorded judge verdicts) into ``out``; its run dir."""
    proc = subprocess.run([sys.executable, "-m", "agenteval.cli", "run", "--output-dir", str(out), "--no-report"],
                          cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return Path(proc.stdout.strip().splitlines()[-1])


def normalized(run_dir: Path) -> tuple[list[Any], Any]:
    scores = [_scrub(json.loads(x)) for x in (run_dir / "scores.jsonl").read_text().splitlines() if x.strip()]
    summary = _scrub(json.loads((run_dir / "summary.json").read_text()))
    return scores, summary


def _load(name: str) -> Any:
    with gzip.open(SNAP / name, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def test_default_replay_run_matches_the_snapshot(tmp_path: Path) -> None:
    scores, summary = normalized(default_run(tmp_path))
    want_scores, want_summary = _load("default-run.scores.json.gz"), _load("default-run.summary.json.gz")
    assert len(scores) == len(want_scores)
    for got, want in zip(scores, want_scores, strict=True):
        if got != want:
            diff = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
            raise AssertionError(f"{got.get('id')}: fields differ from the snapshot: {diff}")
    assert summary == want_summary


if __name__ == "__main__":  # python tests/run/test_default_run_snapshot.py --update
    import tempfile

    if "--update" not in sys.argv:
        sys.exit("usage: python tests/run/test_default_run_snapshot.py --update")
    with tempfile.TemporaryDirectory() as d:
        s, m = normalized(default_run(Path(d)))
    SNAP.mkdir(parents=True, exist_ok=True)
    for name, obj in (("default-run.scores.json.gz", s), ("default-run.summary.json.gz", m)):
        with gzip.open(SNAP / name, "wt", encoding="utf-8") as fh:
            json.dump(obj, fh, sort_keys=True, indent=0)
    print(f"snapshot updated: {len(s)} score lines")
