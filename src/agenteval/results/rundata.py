"""The one run-data reader: a finished (or interrupted) run as the views and integrations see it.

:func:`read_run` opens a run directory through :class:`~agenteval.results.store.RunDir` (manifest,
``scores.jsonl`` and, when asked, the latest transcript of each item with its journal line). Report,
compare, trend, gate, export and the pytest plugin all read runs here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agenteval.errors import InputError
from agenteval.results.store import SCORES, RunDir, RunManifest, ScoreLine

Cell = tuple[str, str, str]
"""(scenario, mode, role): one cell of the matrix, over its epochs."""


@dataclass
class RunData:
    """A run read from disk: its directory, manifest, score lines and latest transcripts."""

    rd: RunDir
    manifest: RunManifest
    lines: list[ScoreLine]
    transcripts: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        """The run directory."""
        return self.rd.path


def read_run(path: str | Path, *, transcripts: bool = False) -> RunData:
    """Open a run directory and read its manifest and scores (and optionally its transcripts)."""
    rd = RunDir.open(path)
    manifest = rd.read_manifest()
    if not (rd.path / SCORES).is_file():
        raise InputError("run has no scores.jsonl (unfinished or not scored yet)", path=rd.path / SCORES)
    lines = rd.read_scores()
    tr = rd.latest_transcript_rows() if transcripts else {}
    return RunData(rd=rd, manifest=manifest, lines=lines, transcripts=tr)


def cell_of(line: ScoreLine) -> Cell:
    """(scenario, mode, role) of a score line."""
    return (line.scenario_id, line.mode, line.role)


def ordered(values: Sequence[str]) -> list[str]:
    """Distinct values in order of first appearance."""
    return list(dict.fromkeys(values))
