"""A report that cannot be written is an error with its cause, not silence."""

from __future__ import annotations

import pytest

import runfactory as rf
from agenteval.errors import ReportError
from agenteval.results.store import RunDir
from agenteval.run import runner


def test_write_report_failure_names_its_cause(tmp_path, monkeypatch) -> None:
    p = rf.make_run(tmp_path / "r1", rf.Spec(scenarios=["a"]))
    import agenteval.views.report as report

    def broken(run_dir):  # e.g. jinja2 missing from the environment
        raise ImportError("No module named 'jinja2'")

    monkeypatch.setattr(report, "write_run_report", broken)
    with pytest.raises(ReportError) as ei:
        runner._write_report(RunDir(p))
    msg = str(ei.value)
    assert "jinja2" in msg and "ImportError" in msg and "agenteval report" in msg
    assert ei.value.exit_code == 1
