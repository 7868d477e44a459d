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


@dataclass(frozen=True)
class RunIdentity:
    """What a run's numbers depend on besides the agent's behaviour: compare and trend say where runs differ."""

    backend: str
    model: str
    card_hash: str
    scenarios: frozenset[tuple[str, str]]
    stale: int
    endpoint: str | None = None

    @property
    def series_key(self) -> str:
        """``card sha256:… × model × backend``: runs with one key are one series in ``agenteval trend``."""
        return f"card {self.card_hash.partition(':')[2][:12] or self.card_hash[:12]} × {self.model} × {self.backend}"


def run_identity(run: RunData) -> RunIdentity:
    """The :class:`RunIdentity` of a run, from its manifest and score lines."""
    m = run.manifest
    return RunIdentity(
        backend=str(m.backend.get("name", m.settings.get("backend", ""))),
        model=m.model,
        card_hash=m.card.content_hash,
        scenarios=frozenset((s.id, s.content_hash) for s in m.scenarios
                            if any(ln.scenario_id == s.id for ln in run.lines)),
        stale=sum(1 for s in run.lines if s.stale and s.status == "ok"),
        endpoint=str(m.backend.get("base_url")) if m.backend.get("base_url") else None,
    )


def _short(h: str) -> str:
    algo, _, hexd = h.partition(":")
    return f"{algo}:{hexd[:12]}" if hexd else h[:12]


def identity_differences(ids: Sequence[tuple[str, RunIdentity]]) -> list[str]:
    """One line per way the runs differ (backend, model, endpoint, card hash, scenario set, stale answers);
    empty when they agree on all of it. ``ids`` pairs a label (run id, ``A``/``B``) with each identity."""
    out: list[str] = []
    if not ids:
        return out

    def vary(what: str, get: Any, fmt: Any = str) -> None:
        values = [get(i) for _, i in ids]
        if len(set(values)) > 1:
            if len(ids) == 2:
                out.append(f"{what}: {fmt(values[0])} -> {fmt(values[1])}")
            else:
                counts: dict[Any, int] = {}
                for v in values:
                    counts[v] = counts.get(v, 0) + 1
                out.append(f"{what}: " + ", ".join(f"{fmt(v)} ({n} run(s))" for v, n in counts.items()))

    vary("backend", lambda i: i.backend)
    vary("model", lambda i: i.model)
    vary("endpoint", lambda i: i.endpoint or "-")
    vary("card hash", lambda i: i.card_hash, _short)
    scen = [i.scenarios for _, i in ids]
    if len(set(scen)) > 1:
        first_ids = [{sid for sid, _ in s} for s in scen]
        common = set.intersection(*first_ids)
        union = set.union(*first_ids)
        changed = sorted({sid for sid in common if len({dict(s)[sid] for s in scen}) > 1})
        parts = []
        if union - common:
            extra = sorted(union - common)
            parts.append(f"{len(extra)} scenario(s) not in every run ({', '.join(extra[:5])}"
                         f"{' …' if len(extra) > 5 else ''})")
        if changed:
            parts.append(f"{len(changed)} scenario file(s) changed text ({', '.join(changed[:5])}"
                         f"{' …' if len(changed) > 5 else ''})")
        out.append("scenario set: " + "; ".join(parts))
    stale = [(label, i.stale) for label, i in ids if i.stale]
    if stale:
        out.append("stale answers: " + ", ".join(f"{label} {n}" for label, n in stale))
    return out


def card_text(run: RunData, override: str | Path | None = None) -> str | None:
    """The text of the card a run used, if a copy whose hash matches the manifest can be found.

    Looked for: ``override``, ``card.md`` in the run directory, then the card path the manifest names.
    """
    import hashlib

    want = run.manifest.card.content_hash
    candidates = [Path(override)] if override else []
    candidates += [run.path / "card.md", Path(run.manifest.card.path)]
    for c in candidates:
        try:
            text = c.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if override and c == Path(override):
            return text
        if "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest() == want:
            return text
    return None
