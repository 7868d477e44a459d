"""The results store: one directory per run, written so that a crash loses nothing finished.

Layout of ``results/<run_id>/``::

    manifest.json      RunManifest: who/what/when, card and scenario hashes, backend, settings, counts
    plan.json          the planned items, in order
    card.md            a copy of the card the run used (compare diffs it)
    transcripts.jsonl  the journal: one TranscriptRecord per finished attempt, appended and flushed at once
    scores.jsonl       one ScoreLine per planned item (latest attempt), rewritten atomically at the end
    summary.json       headline metrics
    .lock              present while a process writes the run (holds its pid)

JSON files are written atomically (temp file + rename). The journal tolerates a torn last line: it is
ignored on read and cut off before a resumed run appends.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from agenteval.errors import InputError, ResultsDirError, RunLockedError
from agenteval.fileio import (  # noqa: F401  (re-exported: the store is where run files are read)
    atomic_write_json,
    atomic_write_jsonl,
    atomic_write_text,
    json_dumps,
    read_jsonl,
    read_jsonl_numbered,
    utcnow,
)
from agenteval.scorers.base import ScoreRecord

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

MANIFEST = "manifest.json"
PLAN = "plan.json"
TRANSCRIPTS = "transcripts.jsonl"
SCORES = "scores.jsonl"
SUMMARY = "summary.json"
CARD_COPY = "card.md"
LOCK = ".lock"
MIN_FREE_BYTES = 5 * 1024 * 1024


class CardInfo(BaseModel):
    """The card a run used."""

    path: str
    name: str
    version: str
    content_hash: str
    lint_warnings: int = 0


class ScenarioInfo(BaseModel):
    """A scenario a run used."""

    id: str
    path: str | None
    content_hash: str


class RunManifest(BaseModel):
    """``manifest.json``: everything needed to understand, reproduce and resume a run."""

    run_id: str
    status: Literal["running", "finished", "interrupted"] = "running"
    started_at: str
    finished_at: str | None = None
    agenteval_version: str
    git_commit: str | None = None
    command: list[str] = Field(default_factory=list)
    card: CardInfo
    scenarios: list[ScenarioInfo]
    scenario_paths: list[str] = Field(default_factory=list)
    fixtures_dir: str | None = None
    backend: dict[str, Any]
    model: str
    settings: dict[str, Any] = Field(default_factory=dict)
    plan_size: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    cost: dict[str, Any] = Field(default_factory=dict)
    batch_ids: list[str] = Field(default_factory=list)
    backend_stats: list[dict[str, Any]] = Field(
        default_factory=list, description="the backend's own totals (retries, prompt-cache writes/reads, "
        "throttling), one entry per session of the run (first run, then each resume)")
    resumed: list[str] = Field(default_factory=list, description="times at which the run was resumed")


class TranscriptRecord(BaseModel):
    """One journal line: the outcome of one attempt at one plan item."""

    item_id: str
    scenario_id: str
    mode: str
    role: str
    epoch: int
    tool_mode: str
    status: Literal["ok", "error", "skipped"]
    response: str | None = None
    error: str | None = None
    error_type: str | None = None
    model: str | None = None
    stop_reason: str | None = None
    usage: dict[str, int] = Field(default_factory=dict)
    cost_usd: float | None = None
    latency_s: float | None = None
    attempts: int = 1
    stale: bool = False
    cached: bool = False
    prompt_hash: str | None = None
    provenance: dict[str, Any] | None = None
    agent: dict[str, Any] | None = None  # agent backend: the whole conversation and the workspace's changes
    started_at: str | None = None
    finished_at: str | None = None


class ScoreLine(ScoreRecord):
    """One ``scores.jsonl`` line: a plan item, its status and what the scorers said.

    The scorer fields are :class:`~agenteval.scorers.base.ScoreRecord`'s, declared there once; only the
    ones a non-scored (error/skipped) line lacks become optional here, and checks are stored as plain
    JSON objects.
    """

    id: str
    scenario_id: str
    mode: str
    role: str
    epoch: int
    tool_mode: str | None = None
    status: Literal["ok", "error", "skipped"]
    stale: bool = False
    error: str | None = None
    should_escalate: bool | None = None
    tempted: list[str] = Field(default_factory=list)
    cost_usd: float | None = None
    usage: dict[str, int] = Field(default_factory=dict)
    # None on error/skipped lines (ScoreRecord requires or defaults them for a scored response)
    envelope_ok: bool | None = None  # type: ignore[assignment]
    escalated: bool | None = None  # type: ignore[assignment]
    checks: list[dict[str, Any]] = Field(default_factory=list)  # type: ignore[assignment]

    # agent backend (null/empty for single-call runs): what the agent did with its tools
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    tools_denied: list[str] = Field(default_factory=list)
    tool_permission_ok: bool | None = None
    workspace_changed: bool | None = None
    files_read: list[str] = Field(default_factory=list)
    turns: int | None = None

    def check(self, check_id: str) -> Any:
        """The stored check with this id (a JSON object), if it was run."""
        for c in self.checks:
            if c.get("id") == check_id:
                return c
        return None

    def as_row(self) -> dict[str, Any]:
        """JSON-ready dict in the file's key order: run fields, scorer fields (tempted after the
        violations), cost and usage, then the checks."""
        row = self.model_dump(mode="json")
        return {k: row[k] for k in _line_order()}


def _line_order() -> list[str]:
    run_first = ["id", "scenario_id", "mode", "role", "epoch", "tool_mode", "status", "stale", "error",
                 "should_escalate"]
    order = [*run_first]
    for name in ScoreRecord.model_fields:
        if name != "checks":
            order.append(name)
        if name == "never_violations":
            order.append("tempted")
    rest = [n for n in ScoreLine.model_fields if n not in order and n != "checks"]
    return [*order, *rest, "checks"]


class RunDir:
    """A run directory on disk."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # ---- creation / opening
    @classmethod
    def create(cls, results_dir: str | Path, card_name: str) -> RunDir:
        """Create a new, uniquely named run directory (safe against concurrent runs)."""
        root = Path(results_dir)
        check_writable(root)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in card_name)[:40] or "run"
        for _ in range(20):
            run_id = f"{stamp}-{safe}-{secrets.token_hex(3)}"
            p = root / run_id
            try:
                p.mkdir(parents=False, exist_ok=False)
            except FileExistsError:
                continue
            except OSError as exc:
                raise ResultsDirError(f"{root}: cannot create run directory: {exc.strerror}") from None
            return cls(p)
        raise ResultsDirError(f"{root}: could not find a free run id")

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """Open an existing run directory; InputError if it is not one."""
        p = Path(path)
        if not (p / MANIFEST).is_file():
            raise InputError("not a run directory (no manifest.json)", path=p)
        return cls(p)

    @property
    def run_id(self) -> str:
        """The directory's name."""
        return self.path.name

    # ---- manifest / plan / summary
    def write_manifest(self, manifest: RunManifest) -> None:
        """Write ``manifest.json`` atomically."""
        atomic_write_json(self.path / MANIFEST, manifest.model_dump(mode="json"))

    def read_manifest(self) -> RunManifest:
        """Read and validate ``manifest.json``."""
        p = self.path / MANIFEST
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
            return RunManifest.model_validate(data)
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read manifest: {exc}", path=p) from None
        except ValidationError as exc:
            err = exc.errors()[0]
            raise InputError(err["msg"], path=p, field=".".join(str(x) for x in err["loc"])) from None

    def write_plan(self, items: list[dict[str, Any]]) -> None:
        """Write ``plan.json`` atomically."""
        atomic_write_json(self.path / PLAN, items)

    def read_plan(self) -> list[dict[str, Any]]:
        """Read ``plan.json``."""
        p = self.path / PLAN
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read plan: {exc}", path=p) from None
        if not isinstance(data, list):
            raise InputError("plan must be a JSON list", path=p)
        return data

    def write_card(self, text: str) -> None:
        """Keep a copy of the run's card as ``card.md`` (what ``compare`` diffs)."""
        atomic_write_text(self.path / CARD_COPY, text)

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write ``summary.json`` atomically."""
        atomic_write_json(self.path / SUMMARY, summary)

    def read_summary(self) -> dict[str, Any]:
        """Read ``summary.json`` (empty dict if absent)."""
        p = self.path / SUMMARY
        if not p.exists():
            return {}
        return json.loads(p.read_text(encoding="utf-8"))

    # ---- journal
    def repair_journal(self) -> int:
        """Cut a torn last line off the journal; return the number of bytes removed."""
        p = self.path / TRANSCRIPTS
        if not p.exists():
            return 0
        data = p.read_bytes()
        if not data or data.endswith(b"\n"):
            return 0
        cut = data.rfind(b"\n") + 1
        with open(p, "r+b") as fh:
            fh.truncate(cut)
        return len(data) - cut

    def read_transcripts(self) -> list[TranscriptRecord]:
        """All journal records, a torn last line ignored."""
        p = self.path / TRANSCRIPTS
        if not p.exists():
            return []
        return [TranscriptRecord.model_validate(r) for r in read_jsonl(p, tolerate_torn_tail=True)]

    def latest_transcripts(self) -> dict[str, TranscriptRecord]:
        """The last journal record of each item (later attempts supersede earlier ones)."""
        out: dict[str, TranscriptRecord] = {}
        for rec in self.read_transcripts():
            out[rec.item_id] = rec
        return out

    def latest_transcript_rows(self) -> dict[str, tuple[int, dict[str, Any]]]:
        """item id -> (1-based line in ``transcripts.jsonl``, raw record) of each item's latest record.

        The raw rows (not :class:`TranscriptRecord`) keep fields a newer writer added; a torn last line
        is ignored; a missing journal reads as empty.
        """
        p = self.path / TRANSCRIPTS
        if not p.exists():
            return {}
        out: dict[str, tuple[int, dict[str, Any]]] = {}
        for i, rec in read_jsonl_numbered(p, tolerate_torn_tail=True):
            if "item_id" in rec:
                out[str(rec["item_id"])] = (i, rec)
        return out

    def journal(self) -> Journal:
        """An append-only writer for the journal."""
        return Journal(self.path / TRANSCRIPTS)

    # ---- scores
    def write_scores(self, lines: list[ScoreLine]) -> None:
        """Write ``scores.jsonl`` atomically."""
        atomic_write_jsonl(self.path / SCORES, (ln.as_row() for ln in lines))

    def read_scores(self) -> list[ScoreLine]:
        """Read ``scores.jsonl``."""
        return [ScoreLine.model_validate(r) for r in read_jsonl(self.path / SCORES)]

    # ---- locking
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the run's lock file; RunLockedError if a live process holds it.

        Taking the lock (and taking over the stale lock of a dead process) happens under an exclusive
        ``flock`` of the run directory where available, so two processes that find the same stale lock
        cannot both take it over (one would delete the other's fresh lock).
        """
        lock = self.path / LOCK
        with _dir_guard(self.path):
            for _ in range(2):
                try:
                    fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                except FileExistsError:
                    pid = _read_pid(lock)
                    if pid is not None and _pid_alive(pid):
                        raise RunLockedError(
                            f"{self.path}: run is in use by process {pid} (lock file {LOCK}); "
                            "wait for it to finish or stop it first"
                        ) from None
                    with contextlib.suppress(FileNotFoundError):
                        lock.unlink()  # stale lock of a dead process
                    continue
                except OSError as exc:  # e.g. the run directory is read-only
                    raise ResultsDirError(f"{lock}: cannot create the lock file: {exc.strerror or exc}") from None
                try:
                    with os.fdopen(fd, "w") as fh:
                        fh.write(str(os.getpid()))
                except OSError as exc:  # e.g. the disk is full
                    with contextlib.suppress(OSError):
                        lock.unlink()
                    raise ResultsDirError(f"{lock}: cannot write the lock file: {exc.strerror or exc}") from None
                break
            else:  # pragma: no cover - lost a race twice
                raise RunLockedError(f"{self.path}: run is in use by another process")
        try:
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()


class Journal:
    """Append-only JSON Lines writer: each record is written and flushed at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def append(self, rec: TranscriptRecord) -> None:
        """Append one record and flush it to the OS (a crash of this process loses nothing)."""
        self._fh.write(json_dumps(rec.model_dump(mode="json")) + "\n")
        self._fh.flush()

    def sync(self) -> None:
        """fsync the journal (survives an OS crash)."""
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        """Flush, fsync and close."""
        if not self._fh.closed:
            self._fh.flush()
            with contextlib.suppress(OSError):
                os.fsync(self._fh.fileno())
            self._fh.close()


@contextlib.contextmanager
def _dir_guard(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` of the directory ``path`` while the block runs (no-op without fcntl)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - cannot open the directory: fall back to the plain lock file
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


def _read_pid(lock: Path) -> int | None:
    try:
        return int(lock.read_text().strip() or "0") or None
    except (OSError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_writable(results_dir: str | Path, min_free: int = MIN_FREE_BYTES) -> None:
    """Fail early (before any API call) if the results directory cannot take a run."""
    root = Path(results_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResultsDirError(f"{root}: results directory cannot be created: {exc.strerror}") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise ResultsDirError(f"{root}: results directory is not writable")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".probe.", dir=root)
        try:
            os.write(fd, b"x" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(tmp)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise ResultsDirError(f"{root}: no space left on device") from None
        raise ResultsDirError(f"{root}: results directory is not writable: {exc.strerror}") from None
    free = shutil.disk_usage(root).free
    if free < min_free:
        raise ResultsDirError(f"{root}: only {free} bytes free on the device (need {min_free})")


def load_run(path: str | Path) -> pd.DataFrame:
    """One run as a DataFrame: one row per plan item, each check flattened to columns.

    Check columns are ``check.<id>.passed`` / ``check.<id>.applicable``; list fields stay lists.
    """
    import pandas as pd

    rd = RunDir.open(path)
    rows: list[dict[str, Any]] = []
    for ln in rd.read_scores():
        row = ln.as_row()
        checks = row.pop("checks", [])
        for c in checks:
            cid = c.get("id")
            row[f"check.{cid}.passed"] = c.get("passed")
            row[f"check.{cid}.applicable"] = c.get("applicable")
        row["run_id"] = rd.run_id
        rows.append(row)
    return pd.DataFrame(rows)
