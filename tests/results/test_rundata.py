"""The one run-data reader reads runs through the store."""

from __future__ import annotations

import runfactory as rf
from agenteval.results.rundata import cell_of, read_run


def test_read_run_with_transcripts(tmp_path) -> None:
    p = rf.make_run(tmp_path / "r1", rf.Spec(scenarios=["a", "b"], epochs=2))
    run = read_run(p, transcripts=True)
    assert run.path == p and len(run.lines) == 16
    line_no, rec = run.transcripts[run.lines[0].id]
    assert line_no == 1 and rec["item_id"] == run.lines[0].id
    assert cell_of(run.lines[0]) == ("a", run.lines[0].mode, run.lines[0].role)


def test_score_line_derives_from_score_record() -> None:
    from agenteval.results.store import ScoreLine
    from agenteval.scorers.base import ScoreRecord

    assert issubclass(ScoreLine, ScoreRecord)
    assert set(ScoreRecord.model_fields) <= set(ScoreLine.model_fields)
