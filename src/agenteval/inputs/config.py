"""The project config ``agenteval.yaml``: what ``agenteval run`` does with no arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agenteval.errors import InputError
from agenteval.inputs.card import read_text_file

CONFIG_NAME = "agenteval.yaml"


class ProjectConfig(BaseModel):
    """``agenteval.yaml``. Relative paths are relative to the config file's folder."""

    model_config = ConfigDict(extra="forbid")
    card: str = "cards/mlops-engineer.md"
    scenarios: list[str] = Field(default_factory=lambda: ["scenarios"])
    fixtures: str | None = Field(default=None, description="default: <first scenario dir>/fixtures")
    backend: Literal["replay", "anthropic", "agent"] = "replay"
    recordings: str = "golden/recordings"
    model: str | None = Field(default=None, description="model id or alias; default: the card's model alias")
    models: dict[str, str] = Field(default_factory=dict, description="extra alias -> model id entries")
    epochs: int = Field(default=1, ge=1)
    concurrency: int = Field(default=8, ge=1, le=1024)
    agent_concurrency: int = Field(default=4, ge=1, le=64, description="agent backend: items at once "
                                   "(each runs a Claude Code process, ~200 MB; 4 suits a 2-core machine, "
                                   "benchmarks/bench_agent.py)")
    agent_max_turns: int = Field(default=30, ge=1, le=200, description="agent backend: model turns per item")
    agent_timeout_s: float = Field(default=600.0, gt=0, le=3600, description="agent backend: seconds per item")
    max_tokens: int = Field(default=4096, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    output_dir: str = "results"
    strict_card: bool = False
    report: bool = True
    scoring: str | None = Field(default=None, description="optional scoring config YAML")
    judge: str | None = Field(default=None, description="Never-rule judge: 'replay' (recorded verdicts) or a model")
    judgements: str = Field(default="golden/judgements", description="recorded judge verdicts folder")
    never_policy: str | None = Field(default=None, description="the judge's violation policy (markdown)")

    base_dir: Path = Field(default=Path("."), exclude=True)
    source: str | None = Field(default=None, exclude=True, description="the config file, if one was read")
    searched_from: str | None = Field(default=None, exclude=True,
                                      description="where the search for a config started, when none was found")

    @property
    def card_path(self) -> str:
        """The card file; a missing one is an error naming the config file and its ``card`` field."""
        p = self.resolve(self.card)
        if self.source and not p.exists():
            raise InputError(f"card file '{p}' not found", path=self.source, field="card")
        if self.searched_from is not None and not p.exists():
            raise InputError(
                f"card not found, and no {CONFIG_NAME} in {self.searched_from} or any parent folder: "
                f"run from the project folder, pass --config FILE, or pass --card FILE", path=p)
        return str(p)

    def resolve(self, p: str) -> Path:
        """A config path resolved against the config file's folder."""
        q = Path(p)
        return q if q.is_absolute() else self.base_dir / q

    @property
    def fixtures_dir(self) -> Path:
        """Where scenario ``context`` files live."""
        if self.fixtures:
            return self.resolve(self.fixtures)
        first = self.resolve(self.scenarios[0]) if self.scenarios else Path("scenarios")
        return (first if first.is_dir() else first.parent) / "fixtures"


def find_config(start: str | Path | None = None) -> Path | None:
    """The nearest ``agenteval.yaml`` in ``start`` (default: the working directory) or a parent folder,
    like git and pytest find theirs; relative (``agenteval.yaml``) when it is in the working directory."""
    here = Path(start) if start is not None else Path.cwd()
    if (here / CONFIG_NAME).is_file():
        return Path(CONFIG_NAME) if start is None else here / CONFIG_NAME
    for d in here.resolve().parents:
        if (d / CONFIG_NAME).is_file():
            return d / CONFIG_NAME
    return None


def load_config(path: str | Path | None = None) -> ProjectConfig:
    """Load ``agenteval.yaml``: the given path, else the nearest one from the working directory up
    (:func:`find_config`), else built-in defaults (and then a missing card says no config was found)."""
    if path is None:
        found = find_config()
        if found is None:
            return ProjectConfig(base_dir=Path("."), searched_from=str(Path.cwd()))
        p = found
    else:
        p = Path(path)
    text = read_text_file(p, what="config file", max_bytes=1024 * 1024)
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except RecursionError:
        raise InputError("invalid YAML: nested too deeply", path=p) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        pos = getattr(exc, "position", None)  # yaml.ReaderError (e.g. a NUL byte) has a position, no mark
        line = mark.line + 1 if mark else (text[:pos].count("\n") + 1 if isinstance(pos, int) else None)
        problem = getattr(exc, "problem", None) or str(exc).split("\n")[0]
        raise InputError(f"invalid YAML: {problem}", path=p, line=line) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError("top level must be a mapping", path=p, line=1)
    try:
        cfg = ProjectConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        raise InputError(msg, path=p, field=".".join(str(x) for x in err["loc"])) from None
    cfg.base_dir = p.parent
    cfg.source = str(p)
    return cfg
