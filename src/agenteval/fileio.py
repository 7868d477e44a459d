"""Files written so that a crash loses nothing: atomic writes, JSON Lines with line numbers in errors.

The one place every stage reads and writes JSON/JSONL files through (run directories, recordings,
golden sets, judge verdicts). Pure standard library; imports nothing of agenteval but ``errors``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agenteval.errors import InputError, ResultsDirError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_current_umask()


def utcnow() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file in the same folder, fsync, rename).

    A lone surrogate (which UTF-8 cannot encode, e.g. from a model answer) is written as its ``\\udXXX``
    escape so the file stays valid UTF-8; JSON writers never hit this (see :func:`json_dumps`).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # an output path in a missing/unwritable place, or under a file
        raise ResultsDirError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        os.fchmod(fd, _FILE_MODE)  # mkstemp makes 0600; give the file the mode a plain open() would
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):  # e.g. the path is a directory, the disk is full
            raise ResultsDirError(f"{path}: cannot write: {exc.strerror or exc}") from None
        raise


def json_dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` with non-ASCII kept as is, unless the text holds a lone surrogate (e.g. a model
    answer decoded from a ``\\ud800`` JSON escape): then everything is escaped, so the file stays valid
    UTF-8 and reads back to exactly the same string."""
    s = json.dumps(obj, ensure_ascii=False, **kwargs)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        s = json.dumps(obj, ensure_ascii=True, **kwargs)
    return s


def atomic_write_json(path: Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    atomic_write_text(path, json_dumps(obj, indent=2, default=str) + "\n")


def atomic_write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Atomically write rows as JSON Lines."""
    atomic_write_text(path, "".join(json_dumps(r) + "\n" for r in rows))


def read_jsonl(path: Path, *, tolerate_torn_tail: bool = False) -> list[dict[str, Any]]:
    """Read a JSON Lines file; a bad line is an :class:`InputError` naming file and line.

    With ``tolerate_torn_tail`` a last line without its newline that does not parse (a write torn
    by a crash) is ignored.
    """
    return [row for _, row in read_jsonl_numbered(path, tolerate_torn_tail=tolerate_torn_tail)]


def read_jsonl_numbered(path: Path, *, tolerate_torn_tail: bool = False) -> list[tuple[int, dict[str, Any]]]:
    """Like :func:`read_jsonl`, each row with its 1-based line number in the file (blank lines count)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    lines = raw.split(b"\n")
    rows: list[tuple[int, dict[str, Any]]] = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        last = i == len(lines)  # no newline after it
        try:
            obj = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            if tolerate_torn_tail and last:
                break
            raise InputError(f"line is not valid UTF-8 (byte {exc.start} of the line)", path=path,
                             line=i) from None
        except RecursionError:
            raise InputError("line is not valid JSON (nested too deeply)", path=path, line=i) from None
        except json.JSONDecodeError as exc:
            if tolerate_torn_tail and last:
                break
            raise InputError(f"line is not valid JSON ({exc.msg}, column {exc.colno})", path=path,
                             line=i) from None
        if not isinstance(obj, dict):
            raise InputError("line is not a JSON object", path=path, line=i)
        rows.append((i, obj))
    return rows


