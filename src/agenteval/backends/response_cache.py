"""A content-addressed on-disk cache of successful answers.

The key is :meth:`LLMRequest.request_hash` of the request *as sent* (model id after alias resolution,
system, messages, parameters) plus the epoch, so epoch 2 of a cell is a real second sample while a rerun
of epoch 1 is served from disk. Only successful answers are stored; errors never are.

Layout: ``ROOT/<endpoint>/<2 hex>/<64 hex>.json``, one :class:`CachedResponse` per file, written
atomically (temp file + rename), so concurrent runs and a kill at any point leave no torn entry.
``<endpoint>`` is ``api.anthropic.com`` for the real API and the host:port otherwise, so answers of a fake
or proxy endpoint never masquerade as real ones.

The default root is ``$AGENTEVAL_CACHE_DIR``, else ``$XDG_CACHE_HOME/agenteval/responses``, else the
platform's user cache directory (``~/.cache``, ``~/Library/Caches``, ``%LOCALAPPDATA%``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, ValidationError

from agenteval.backends.base import Usage

DEFAULT_ENDPOINT = "api.anthropic.com"
_HEX = re.compile(r"^[0-9a-f]{64}$")


def default_cache_dir() -> Path:
    """Where answers are cached unless told otherwise (see the module docstring)."""
    env = os.environ.get("AGENTEVAL_CACHE_DIR")
    if env:
        return Path(env).expanduser() / "responses"
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "agenteval" / "responses"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "agenteval" / "responses"
    if sys.platform.startswith("win"):
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "agenteval" / "Cache" / "responses"
    return Path.home() / ".cache" / "agenteval" / "responses"


def endpoint_namespace(base_url: str | None) -> str:
    """A directory name for the API endpoint (``api.anthropic.com`` by default)."""
    if not base_url:
        return DEFAULT_ENDPOINT
    parts = urlsplit(base_url if "://" in base_url else "http://" + base_url)
    host = (parts.hostname or "unknown").lower()
    name = host if parts.port is None else f"{host}_{parts.port}"
    path = parts.path.strip("/")
    if path:
        name += "_" + path
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


class CachedResponse(BaseModel):
    """One cached answer (the file format)."""

    schema_version: Literal[1] = 1
    key: str
    created_at: str = Field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    model: str | None = None
    text: str
    stop_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    latency_s: float | None = None
    batch: bool = False
    provenance: dict[str, Any] | None = None


class ResponseCache:
    """Get/put answers by request hash under ``root`` (created on first write)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0
        self.writes = 0

    def path_for(self, key: str) -> Path:
        """The file for ``key`` (``sha256:<64 hex>``)."""
        digest = key.split(":", 1)[-1].lower()
        if not _HEX.match(digest):
            raise ValueError(f"not a sha256 key: {key!r}")
        return self.root / digest[:2] / f"{digest}.json"

    def get(self, key: str) -> CachedResponse | None:
        """The cached answer for ``key``, or None (a missing, unreadable or corrupt entry is a miss)."""
        try:
            raw = self.path_for(key).read_bytes()
            entry = CachedResponse.model_validate_json(raw)
        except (OSError, ValueError, ValidationError):
            self.misses += 1
            return None
        if entry.key != key:
            self.misses += 1
            return None
        self.hits += 1
        return entry

    def put(self, entry: CachedResponse) -> None:
        """Store ``entry`` atomically; a write failure (disk full, read-only) is ignored: it is a cache."""
        path = self.path_for(entry.key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(entry.model_dump_json().encode("utf-8"))
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError:
            return
        self.writes += 1
