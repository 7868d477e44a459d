"""Scenario field ``workspace`` (agent backend): checked at load; a bad one is exit 2 naming file and field."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agenteval.errors import InputError
from agenteval.inputs import scenario as scmod
from agenteval.inputs.scenario import load_scenario

BASE = """\
id: ws-test
title: workspace test
tool_mode: audit
prompt: Review the files in your working directory.
expect:
  should_escalate: false
"""


def project(tmp_path: Path, workspace: str) -> tuple[Path, Path]:
    fx = tmp_path / "fixtures"
    (fx / "pipe").mkdir(parents=True)
    (fx / "pipe" / "train.py").write_text("x = 1\n")
    f = tmp_path / "s.yaml"
    f.write_text(BASE + f"workspace: {workspace}\n")
    return f, fx


def test_good_workspace_is_resolved_and_hashed(tmp_path: Path) -> None:
    f, fx = project(tmp_path, "pipe")
    sc = load_scenario(f, fixtures_dir=fx)
    assert sc.workspace_dir == (fx / "pipe").resolve()
    h1 = sc.workspace_hash
    assert h1 and h1.startswith("sha256:")
    (fx / "pipe" / "train.py").write_text("x = 2\n")
    assert load_scenario(f, fixtures_dir=fx).workspace_hash != h1  # contents are in the hash


@pytest.mark.parametrize(("value", "needle"), [
    ("missing", "not found"),
    ("../outside", "escapes"),
    ("/etc", "absolute"),
    ("link", "symlink"),
    ("pipe_with_link", "symlink"),
])
def test_bad_workspace_names_file_and_field(tmp_path: Path, value: str, needle: str) -> None:
    f, fx = project(tmp_path, value)
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", fx / "link")
    (fx / "pipe_with_link").mkdir()
    os.symlink("/etc/hostname", fx / "pipe_with_link" / "h")
    with pytest.raises(InputError) as ei:
        load_scenario(f, fixtures_dir=fx)
    msg = str(ei.value)
    assert str(f) in msg and "workspace" in msg and needle in msg, msg


def test_workspace_over_the_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f, fx = project(tmp_path, "pipe")
    monkeypatch.setattr(scmod, "MAX_WORKSPACE_BYTES", 4)
    with pytest.raises(InputError, match="larger than the limit"):
        load_scenario(f, fixtures_dir=fx)


def test_bad_workspace_through_the_cli_is_exit_2(tmp_path: Path) -> None:
    from tests.cli.test_cli import assert_one_line_error, cli

    f, _fx = project(tmp_path, "../../etc")
    p = cli("validate", str(f))
    assert_one_line_error(p, "s.yaml", "workspace")


def test_expected_edits_regexes_are_checked(tmp_path: Path) -> None:
    f, fx = project(tmp_path, "pipe")
    f.write_text(f.read_text().replace("expect:\n", "expect:\n  edits:\n    - path: train.py\n      contains: ['(']\n"))
    with pytest.raises(InputError, match=r"expect\.edits"):
        load_scenario(f, fixtures_dir=fx)
