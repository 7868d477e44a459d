"""export (parquet, csv, hf) and merge of shards."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import runfactory as rf
from agenteval import load_run
from agenteval.analysis.summary import summarize
from agenteval.cli import main
from agenteval.errors import InputError
from agenteval.plan.matrix import PlanItem, shard
from agenteval.results.store import RunDir, ScoreLine
from agenteval.run.merge import merge_runs
from agenteval.views.export import export_frame, export_run

SPEC = rf.Spec(
    scenarios=[f"sc-{i:02d}" for i in range(5)],
    modes=("generative", "critical", "informative"),
    roles=("solo", "auditor"),
    epochs=2,
)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rf.make_run(tmp_path_factory.mktemp("exp") / "run", SPEC, seed=5)


# --------------------------------------------------------------------------- export


def test_export_frame_columns(run: Path) -> None:
    df = export_frame(run)
    n = len(rf.make_lines(SPEC))
    assert len(df) == n
    for col in (
        "id",
        "scenario_id",
        "mode",
        "role",
        "epoch",
        "status",
        "envelope_ok",
        "passed",
        "failed_checks",
        "response",
        "usage.input_tokens",
        "check.never.1.passed",
        "check.envelope.strict.Result.passed",
    ):
        assert col in df.columns
    assert df["response"].str.contains(r"\*\*Result\*\*").all()
    assert (df["passed"] == df["failed_checks"].map(len).eq(0)).all()
    assert len(load_run(run)) == n  # the public loader agrees


def test_export_parquet_csv_hf_round_trip(run: Path, tmp_path: Path) -> None:
    n = len(rf.make_lines(SPEC))
    pq = export_run(run, "parquet", tmp_path / "x.parquet")
    df = pd.read_parquet(pq)
    assert len(df) == n and list(df["never_violations"].iloc[0]) == list(
        export_frame(run)["never_violations"].iloc[0]
    )
    csv = export_run(run, "csv", tmp_path / "x.csv", responses=False)
    dc = pd.read_csv(csv)
    assert len(dc) == n and "response" not in dc.columns
    assert isinstance(json.loads(dc["failed_checks"].iloc[0]), list)  # list columns are JSON in CSV
    hf = export_run(run, "hf", tmp_path / "x.hf")
    from datasets import load_from_disk

    ds = load_from_disk(str(hf))
    assert ds.num_rows == n and "check.never.1.passed" in ds.column_names and "response" in ds.column_names
    with pytest.raises(InputError):
        export_run(run, "parquet", pq)
    assert export_run(run, "parquet", pq, overwrite=True) == pq


def test_export_run_with_errored_items(tmp_path: Path) -> None:
    lines = rf.make_lines(SPEC)
    lines[0] = ScoreLine(
        id=lines[0].id,
        scenario_id=lines[0].scenario_id,
        mode=lines[0].mode,
        role=lines[0].role,
        epoch=lines[0].epoch,
        status="error",
        error="overloaded",
    )
    run = rf.write_run(tmp_path / "err", lines)
    df = pd.read_parquet(export_run(run, "parquet", tmp_path / "e.parquet"))
    assert df.loc[0, "status"] == "error" and pd.isna(df.loc[0, "passed"])


def test_cli_export(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.csv"
    assert main(["export", str(run), "--format", "csv", "--out", str(out)]) == 0 and out.exists()
    assert main(["export", str(run), "--format", "xlsx", "--out", str(tmp_path / "y")]) == 2
    assert main(["export", str(run), "--format", "csv", "--out", str(out)]) == 2  # exists
    assert (
        main(["export", str(tmp_path / "missing"), "--format", "csv", "--out", str(tmp_path / "z.csv")]) == 2
    )


# --------------------------------------------------------------------------- merge


def _shards(tmp_path: Path, n: int, **kw: object) -> tuple[list[ScoreLine], list[Path]]:
    lines = rf.make_lines(SPEC, seed=5)
    items = [
        PlanItem(scenario_id=s.scenario_id, mode=s.mode, role=s.role, epoch=s.epoch, tool_mode="solution")
        for s in lines
    ]
    by_id = {s.id: s for s in lines}
    paths = []
    for i in range(1, n + 1):
        part = [by_id[it.id] for it in shard(items, f"{i}/{n}")]
        paths.append(
            rf.write_run(
                tmp_path / f"shard{i}",
                part,
                settings={"shard": f"{i}/{n}", "concurrency": i},
                card_path=tmp_path / "card.md",
                manifest_scenarios=SPEC.scenarios,
                started_at=f"2025-01-0{i}T00:00:00.000Z",
                **kw,
            )
        )
    return lines, paths


def test_merge_restores_the_unsharded_run(tmp_path: Path) -> None:
    lines, paths = _shards(tmp_path, 3)
    rd = merge_runs(paths, tmp_path / "merged", command=["agenteval", "merge"])
    merged = RunDir(rd.path)
    assert [f"{p['scenario_id']}/{p['mode']}/{p['role']}/{p['epoch']}" for p in merged.read_plan()] == [
        s.id for s in lines
    ]  # the plan order of an unsharded run
    assert [s.id for s in merged.read_scores()] == [s.id for s in lines]
    assert len(merged.read_transcripts()) == len(lines)
    expected = summarize(lines, backend="replay")
    summary = merged.read_summary()
    assert summary["counts"] == expected["counts"] and summary["metrics"] == expected["metrics"]
    m = merged.read_manifest()
    assert m.settings["shard"] is None and m.settings["merged_from"] == ["shard1", "shard2", "shard3"]
    assert m.plan_size == len(lines) and m.status == "finished" and m.started_at.startswith("2025-01-01")
    assert m.run_id == "merged" and m.command == ["agenteval", "merge"]
    assert (rd.path / "report.html").exists() and (rd.path / "report.md").exists()


def test_merge_validations(tmp_path: Path) -> None:
    lines, paths = _shards(tmp_path / "ok", 2)
    with pytest.raises(InputError, match="missing"):
        merge_runs(paths[:1], tmp_path / "m1")
    merge_runs(paths[:1], tmp_path / "m1b", allow_partial=True, report=False)
    with pytest.raises(InputError, match="twice"):
        merge_runs([paths[0], paths[0]], tmp_path / "m2")
    # a different card
    other = rf.write_run(
        tmp_path / "other" / "shard2",
        rf.make_lines(SPEC, seed=5)[:4],
        settings={"shard": "2/2"},
        card_text=rf.CARD_V1 + "- x\n",
        manifest_scenarios=SPEC.scenarios,
    )
    with pytest.raises(InputError, match="card differs"):
        merge_runs([paths[0], other], tmp_path / "m3")
    # overlapping items
    overlap = rf.write_run(
        tmp_path / "ov" / "s",
        [lines[0]],
        settings={"shard": None, "epochs": 2},
        card_path=tmp_path / "ok" / "card.md",
        manifest_scenarios=SPEC.scenarios,
    )
    with pytest.raises(InputError, match="overlap"):
        merge_runs([paths[0], overlap], tmp_path / "m4")
    # different settings (epochs); a different concurrency is fine (tested above)
    epochs = rf.write_run(
        tmp_path / "ep" / "s",
        [lines[1]],
        settings={"shard": None, "epochs": 9},
        card_path=tmp_path / "ok" / "card.md",
        manifest_scenarios=SPEC.scenarios,
    )
    with pytest.raises(InputError, match=r"settings\.epochs"):
        merge_runs([paths[0], epochs], tmp_path / "m5")
    # scenario text changed
    sh = rf.write_run(
        tmp_path / "sh" / "s",
        [lines[1]],
        settings={"shard": None, "epochs": 2},
        scenario_hashes={lines[1].scenario_id: "sha256:new"},
        card_path=tmp_path / "ok" / "card.md",
        manifest_scenarios=SPEC.scenarios,
    )
    with pytest.raises(InputError, match="scenario"):
        merge_runs([paths[0], sh], tmp_path / "m6")
    # unfinished shard
    unf = rf.write_run(
        tmp_path / "unf" / "s",
        [lines[1]],
        settings={"shard": None, "epochs": 2},
        status="interrupted",
        card_path=tmp_path / "ok" / "card.md",
        manifest_scenarios=SPEC.scenarios,
    )
    with pytest.raises(InputError, match="not finished"):
        merge_runs([paths[0], unf], tmp_path / "m7")
    # output exists and is not empty
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(InputError, match="not empty"):
        merge_runs(paths, tmp_path / "full")


def test_cli_merge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, paths = _shards(tmp_path, 2)
    out = tmp_path / "merged"
    assert main(["merge", *map(str, paths), "--out", str(out), "--no-report"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(out)
    assert not (out / "report.html").exists()
    assert main(["merge", str(paths[0]), "--out", str(tmp_path / "m2")]) == 2  # shard 2/2 missing
