"""``agenteval export``: one run as a table — parquet, CSV or a Hugging Face ``datasets`` Dataset.

One row per plan item: the score line's fields, each check flattened to ``check.<id>.passed`` /
``check.<id>.applicable`` (as :func:`agenteval.load_run` does), token usage flattened to
``usage.<kind>``, plus ``passed`` (every applicable compliance check passed, see
:func:`agenteval.analysis.stats.item_passed`), ``failed_checks`` (``id: reason``, graded checks included)
and, unless turned off, the latest ``response`` text from the journal. In CSV, list columns are JSON.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Literal

from agenteval.errors import InputError, UsageError

Format = Literal["parquet", "csv", "hf"]
FORMATS = ("parquet", "csv", "hf")


def export_frame(run_dir: str | Path, *, responses: bool = True) -> Any:
    """The run as a pandas DataFrame ready to export."""
    import pandas as pd

    from agenteval.analysis.metrics import failed_checks, item_passed
    from agenteval.results.rundata import read_run
    from agenteval.results.store import load_run

    run = read_run(run_dir, transcripts=responses)
    df = load_run(run_dir)
    if df.empty:
        return df
    by_id = {s.id: s for s in run.lines}
    df["passed"] = [item_passed(by_id[i]) for i in df["id"]]
    df["failed_checks"] = [[f"{c}: {r}" if r else c for c, r in failed_checks(by_id[i], graded=True)] for i in df["id"]]
    if "usage" in df.columns:
        usage = pd.DataFrame([u if isinstance(u, dict) else {} for u in df["usage"]], index=df.index)
        usage.columns = [f"usage.{c}" for c in usage.columns]
        df = pd.concat([df.drop(columns=["usage"]), usage], axis=1)
    if responses:
        df["response"] = [(run.transcripts.get(i, (None, {}))[1] or {}).get("response") for i in df["id"]]
    return df


def _jsonify_lists(df: Any) -> Any:
    out = df.copy()
    for col in out.columns:
        if out[col].map(lambda v: isinstance(v, list | dict)).any():
            out[col] = out[col].map(lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v)
    return out


def export_run(
    run_dir: str | Path, fmt: str, out: str | Path, *, responses: bool = True, overwrite: bool = False
) -> Path:
    """Write the run to ``out`` as parquet, CSV or a ``datasets`` Dataset directory; returns ``out``."""
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got '{fmt}'")
    dest = Path(out)
    if dest.exists() and not overwrite:
        if fmt == "hf" and dest.is_dir() and not any(dest.iterdir()):
            pass
        else:
            raise InputError("already exists (use --overwrite)", path=dest)
    df = export_frame(run_dir, responses=responses)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        df.to_parquet(dest, index=False)
    elif fmt == "csv":
        _jsonify_lists(df).to_csv(dest, index=False)
    else:
        import datasets

        datasets.disable_progress_bars()
        if dest.exists():
            shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
        datasets.Dataset.from_pandas(df, preserve_index=False).save_to_disk(str(dest))
    return dest
