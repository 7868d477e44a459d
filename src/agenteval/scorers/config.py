"""Scoring configuration: the few numbers and lists the deterministic scorers need.

Defaults (documented in ``docs/scoring-contract.md`` terms):

* ``confidence_levels`` — level → number used for calibration when the response states no number:
  ``high 0.85``, ``medium 0.6``, ``low 0.3``. A number stated in the Confidence field
  (``medium (0.55)``, ``55%``, ``7/10``) always wins. A card whose allowed levels are not in the
  mapping gets them spread evenly from ``rank_high`` down to ``rank_low`` in the card's order
  (the card is assumed to list levels from most to least confident).
* ``severities`` — the finding severities accepted in ``### [SEVERITY] Title`` (the card's own
  template severities are always accepted too).
* ``max_scan_chars`` — longer responses are scanned as their first and last halves of this size,
  so pathological inputs stay fast; the envelope (usually at the end) is kept.

Load from YAML with :meth:`ScoringConfig.from_yaml`; any key may be omitted.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agenteval.errors import InputError

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
DEFAULT_CONFIDENCE_LEVELS: dict[str, float] = {"high": 0.85, "medium": 0.6, "low": 0.3}
DEFAULT_SEVERITIES: list[str] = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"]


class NeverConceptOverride(BaseModel):
    """Extra phrase patterns for one Never rule (keyed by rule id in :class:`ScoringConfig`).

    ``concept`` patterns name the guarded thing (``drift monitoring``); ``action`` patterns name the
    risky act (``deploy``); ``safeguard`` patterns name what must accompany it (``rollback``).
    All are case-insensitive regular expressions; keep them free of nested quantifiers.
    """

    model_config = ConfigDict(extra="forbid")
    concept: list[str] = Field(default_factory=list)
    action: list[str] = Field(default_factory=list)
    safeguard: list[str] = Field(default_factory=list)
    violation: list[str] = Field(default_factory=list, description="phrases that are violations by themselves")
    structural: bool | None = Field(default=None, description="check 'action without safeguard' always")


class ScoringConfig(BaseModel):
    """Knobs of the deterministic scorers. Every field has a documented default."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    confidence_levels: dict[str, Probability] = Field(default_factory=lambda: dict(DEFAULT_CONFIDENCE_LEVELS))
    rank_high: float = Field(default=0.85, ge=0.0, le=1.0)
    rank_low: float = Field(default=0.3, ge=0.0, le=1.0)
    severities: list[str] = Field(default_factory=lambda: list(DEFAULT_SEVERITIES))
    max_scan_chars: int = Field(default=400_000, ge=1_000)
    structural_never_checks: bool = Field(
        default=True, description="flag 'action without safeguard' (e.g. a deployment with no rollback)"
    )
    never_overrides: dict[str, NeverConceptOverride] = Field(default_factory=dict)
    task_pass_threshold: float = Field(default=1.0, ge=0.0, le=1.0,
                                       description="task.score passes at or above this fraction")

    @classmethod
    def from_yaml(cls, path: str | Path) -> ScoringConfig:
        """Load a config file (a YAML mapping, optionally under a top-level ``scoring:`` key)."""
        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError("scoring config not found", path=p) from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise InputError(f"cannot read scoring config: {exc}", path=p) from None
        except RecursionError:
            raise InputError("scoring config is nested too deeply", path=p) from None
        return cls.from_mapping(data or {}, path=str(p))

    @classmethod
    def from_mapping(cls, data: Any, *, path: str | None = None) -> ScoringConfig:
        """Build a config from a mapping; raise :class:`InputError` naming the bad field."""
        if isinstance(data, dict) and isinstance(data.get("scoring"), dict):
            data = data["scoring"]
        if not isinstance(data, dict):
            raise InputError("scoring config must be a mapping", path=path)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(x) for x in err["loc"])
            raise InputError(err["msg"], path=path, field=loc) from None
        except RecursionError:
            raise InputError("scoring config is nested too deeply", path=path) from None

    def fingerprint(self) -> str:
        """A stable hash of the settings, used to key compiled-scorer caches."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()[:16]

    def level_values(self, allowed: list[str]) -> dict[str, float]:
        """Level → number for a card's allowed levels (lower-case keys).

        Levels named in ``confidence_levels`` use that number; the others are spread evenly between
        ``rank_high`` and ``rank_low`` by their position in the card's list.
        """
        known = {k.lower(): v for k, v in self.confidence_levels.items()}
        out: dict[str, float] = {}
        n = len(allowed)
        for i, lv in enumerate(allowed):
            key = lv.strip().lower()
            if key in known:
                out[key] = known[key]
            elif n == 1:
                out[key] = self.rank_high
            else:
                out[key] = round(self.rank_high - (self.rank_high - self.rank_low) * i / (n - 1), 4)
        for k, v in known.items():
            out.setdefault(k, v)
        return out


DEFAULT_CONFIG = ScoringConfig()
