"""Per-card data of the deterministic Never screen, keyed by each rule's text (its identity).

A card's screen vocabulary lives in a YAML file, never in Python: beside the card
(``<card>.never-screen.yaml``, e.g. ``cards/mlops-engineer.never-screen.yaml``) or shipped in the package
(``agenteval/data/cards/<card name>.never-screen.yaml``). Entries match the card's Never rules by their text
(exactly after folding case and punctuation, else when nearly the same words), so renumbering a card keeps
them. A card without such a file, or a rule without an entry, gets a detector derived from the rule's own
text, and the screen says so in its reasons.
"""

from __future__ import annotations

import difflib
import re
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agenteval.errors import InputError

SUFFIX = ".never-screen.yaml"
MATCH_RATIO = 0.9  # difflib ratio of the folded rule texts above which a reworded rule keeps its entry


def rule_key(text: str) -> str:
    """A rule's identity for matching: its words, lower-cased, punctuation and dashes folded."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


class ScreenViolation(BaseModel):
    """A violation phrase that counts only when all ``needs`` words occur in the answer."""

    model_config = ConfigDict(extra="forbid")
    needs: list[str]
    pattern: str


class ScreenEntry(BaseModel):
    """The screen vocabulary of one Never rule (field meanings: the header of the shipped YAML file)."""

    model_config = ConfigDict(extra="forbid")
    rule: str
    concept: list[str] = Field(default_factory=list)
    omit_extra: list[str] = Field(default_factory=list)
    bad: list[str] = Field(default_factory=list)
    action: list[str] = Field(default_factory=list)
    safeguard: list[str] = Field(default_factory=list)
    violation: list[str | ScreenViolation] = Field(default_factory=list)
    proposals: list[str] = Field(default_factory=list)
    structural: bool = False


class NeverScreenData(BaseModel):
    """One card's screen data file."""

    model_config = ConfigDict(extra="forbid")
    card: str
    rules: list[ScreenEntry]
    source: str = Field(default="", exclude=True)

    def entry_for(self, rule_text: str) -> ScreenEntry | None:
        """The entry for a rule text: exact identity first, else the closest text above :data:`MATCH_RATIO`."""
        key = rule_key(rule_text)
        keys = {rule_key(e.rule): e for e in self.rules}
        if key in keys:
            return keys[key]
        best = max(keys, key=lambda k: difflib.SequenceMatcher(None, k, key).ratio(), default=None)
        if best is not None and difflib.SequenceMatcher(None, best, key).ratio() >= MATCH_RATIO:
            return keys[best]
        return None


def _patterns(entry: ScreenEntry) -> list[tuple[str, str]]:
    out = [(f, p) for f in ("concept", "omit_extra", "bad", "action", "safeguard", "proposals")
           for p in getattr(entry, f)]
    out += [("violation", v if isinstance(v, str) else v.pattern) for v in entry.violation]
    return out


def read_screen_data(path: Path) -> NeverScreenData:
    """Read and validate one screen data file (every pattern must compile).

    Raises:
        InputError: unreadable, invalid YAML, a field of the wrong shape, or a pattern that does not compile.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read Never screen data: {exc}", path=path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"invalid YAML: {getattr(exc, 'problem', exc)}", path=path,
                         line=mark.line + 1 if mark is not None else None) from None
    try:
        screen = NeverScreenData.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError(err["msg"], path=path, field=".".join(str(x) for x in err["loc"])) from None
    for i, e in enumerate(screen.rules):
        for field, pat in _patterns(e):
            try:
                re.compile(pat)
            except re.error as exc:
                raise InputError(f"pattern does not compile ({exc})", path=path, field=f"rules.{i}.{field}") from None
    screen.source = path.name
    return screen


def load_screen_data(card_path: str | Path, card_name: str) -> NeverScreenData | None:
    """The screen data for a card: the file beside it, else the package's for its name, else None."""
    p = Path(card_path)
    beside = p.with_name(p.stem + SUFFIX)
    if beside.is_file():
        return read_screen_data(beside)
    shipped = resources.files("agenteval").joinpath("data", "cards", card_name + SUFFIX)
    if shipped.is_file():
        return read_screen_data(Path(str(shipped)))
    return None
