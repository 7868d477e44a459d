"""Benchmark 5 - replay end to end: the default suite from ``agenteval run`` to the written report.

Run: ``python benchmarks/bench_replay.py [--quick] [--repeats 3]``

``agenteval run`` with the repository's ``agenteval.yaml`` (replay backend: recorded answers from
``golden/recordings``, no API call), its run directory in a temporary folder, report on (``report.html`` and
``report.md`` are written). Printed: the median wall (min-max) against the goal (<= 15 s), peak RSS, and the
split into start-up (process start to the first journal record), answering (first to last record) and
finish (scoring, summary, report: last record to exit), from the journal's timestamps.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_TMP, ROOT, agenteval_exe, cli_env, header, median, spread

GOAL_S = 15.0


def _ts(s: str) -> float:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def one_run() -> dict[str, Any]:
    """One ``agenteval run`` of the default suite into a temporary results folder."""
    BENCH_TMP.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=BENCH_TMP) as out:
        t_spawn = time.time()
        t0 = time.perf_counter()
        proc = subprocess.run([*agenteval_exe(), "run", "--output-dir", out], cwd=ROOT, env=cli_env(),
                              capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        if proc.returncode not in (0, 3):
            raise RuntimeError(f"agenteval run failed ({proc.returncode}): {proc.stderr[-2000:]}")
        rd = Path(proc.stdout.strip().splitlines()[-1])
        recs = [json.loads(ln) for ln in (rd / "transcripts.jsonl").read_text().splitlines() if ln.strip()]
        reports = [p.name for p in (rd / "report.html", rd / "report.md") if p.exists()]
    first = min(_ts(r["started_at"]) for r in recs)
    last = max(_ts(r["finished_at"]) for r in recs)
    return {"wall_s": wall, "items": len(recs), "startup_s": first - t_spawn, "answer_s": last - first,
            "finish_s": t_spawn + wall - last, "reports": reports}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one run")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    header("Benchmark 5: replay end to end (`agenteval run`, default suite, report written)")
    runs = []
    for i in range(1 if args.quick else args.repeats):
        r = one_run()
        runs.append(r)
        print(f"  [{i + 1}] {r['wall_s']:.2f} s: start-up {r['startup_s']:.2f} s, answering {r['answer_s']:.2f} s, "
              f"finish (score, summary, report) {r['finish_s']:.2f} s; {r['items']} items; wrote "
              f"{', '.join(r['reports']) or 'no report'}", flush=True)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    wall = median(r["wall_s"] for r in runs)
    print(f"agenteval run (replay, {runs[0]['items']} items): {spread([r['wall_s'] for r in runs])} s "
          f"(goal <= {GOAL_S:g} s) -> {'OK' if wall <= GOAL_S else 'ABOVE GOAL'}; peak RSS {rss:.0f} MB")
    print(f"  start-up {median(r['startup_s'] for r in runs):.2f} s + answering "
          f"{median(r['answer_s'] for r in runs):.2f} s + finish {median(r['finish_s'] for r in runs):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
