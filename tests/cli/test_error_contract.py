"""The error contract: usage errors are one line, exit 2, with the nearest valid spelling."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import typer

import runfactory as rf
from agenteval.cli import app, main
from tests.cli.test_cli import cli


def _commands() -> list[str]:
    group = typer.main.get_command(app)
    return sorted(group.commands)  # type: ignore[attr-defined]


def test_every_command_is_covered() -> None:
    assert {"run", "record", "gate", "compare", "trend", "report", "export", "merge", "score"} <= set(_commands())


@pytest.mark.parametrize("command", _commands())
def test_misspelt_option_exits_2_with_one_line(command: str, capsys) -> None:
    group = typer.main.get_command(app)
    cmd = group.commands[command]  # type: ignore[attr-defined]
    longs = [o for p in cmd.params for o in getattr(p, "opts", []) if o.startswith("--") and o != "--help"]
    typo = (longs[0][:-1] if longs and len(longs[0]) > 4 else "--confgi")
    rc = main([command, typo, "x"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2, err
    assert len(err) == 1 and err[0].startswith("agenteval: error:"), err
    assert f"no such option '{typo}'" in err[0]
    if longs and len(longs[0]) > 4:
        assert f"did you mean '{longs[0]}'" in err[0], err


def test_typo_cases_from_the_issue(capsys) -> None:
    assert main(["run", "--epoch", "3"]) == 2
    assert "did you mean '--epochs'?" in capsys.readouterr().err
    assert main(["gate", "--confg", "gates.yaml"]) == 2
    assert "did you mean '--config'?" in capsys.readouterr().err
    # `agenteval judge` was an unknown command when the issue was filed; it is a command group now, and an
    # unknown command still lists the commands
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "no such command 'frobnicate'" in err and "gate" in err and "internal error" not in err
    assert main(["judgement"]) == 2
    assert "did you mean 'judge'?" in capsys.readouterr().err
    assert main(["judge", "exprt"]) == 2
    assert "did you mean 'export'?" in capsys.readouterr().err
    assert main(["gat"]) == 2
    assert "did you mean 'gate'?" in capsys.readouterr().err


def test_version(capsys) -> None:
    from agenteval._version import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"agenteval {__version__}"


def test_config_found_from_a_subdirectory(tmp_path: Path) -> None:
    from agenteval.inputs.config import find_config

    (tmp_path / "agenteval.yaml").write_text("card: cards/c.md\n")
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    assert find_config(sub) == tmp_path / "agenteval.yaml"
    p = cli("run", "--dry-run", cwd=sub)
    assert p.returncode == 2
    assert "agenteval.yaml" in p.stderr and "card file" in p.stderr  # the config was found and is named


def test_missing_config_is_named(tmp_path: Path) -> None:
    p = cli("run", cwd=tmp_path)
    assert p.returncode == 2
    assert "no agenteval.yaml in" in p.stderr and "--config" in p.stderr


def _digest(run: Path) -> dict[str, str]:
    return {str(f.relative_to(run)): hashlib.sha256(f.read_bytes()).hexdigest() for f in run.rglob("*") if f.is_file()}


def test_resume_of_finished_run_changes_nothing(tmp_path: Path) -> None:
    run = rf.make_run(tmp_path / "r1", rf.Spec(scenarios=["a"]))
    before = _digest(run)
    p = cli("run", "--resume", str(run), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "nothing to resume" in p.stderr
    assert p.stdout.strip().splitlines()[-1] == str(run)
    assert _digest(run) == before


def test_unknown_values_suggest_the_nearest(capsys) -> None:
    assert main(["run", "--backend", "replya"]) == 2
    assert "did you mean 'replay'?" in capsys.readouterr().err
    assert main(["export", "x", "--format", "parquett", "--out", "y"]) == 2
    assert "did you mean 'parquet'?" in capsys.readouterr().err
