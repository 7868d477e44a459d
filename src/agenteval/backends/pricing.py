"""Model aliases and token prices, both read from package data files.

* ``data/models.yaml`` maps aliases (``sonnet``, ``opus``, ``haiku``) to model ids; :func:`resolve_model`
  turns a card's ``model:`` (or ``--model``) into the id to send.
* ``data/pricing.yaml`` holds, per model, USD per million tokens for input, output, cache writes (5 min and
  1 h TTL), cache reads and the batch discount; :func:`cost_usd` prices one answer's :class:`Usage`.

Both files are validated with pydantic; a broken file is an :class:`InputError` naming it. Nothing here
imports the Anthropic SDK.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agenteval.backends.base import Usage
from agenteval.errors import InputError, UsageError

CacheTTL = Literal["5m", "1h"]
_DATED = re.compile(r"^(?P<base>.+?)-\d{8}$")
#: The documented offline token estimate: about 3.5 characters per token for English prose and code.
CHARS_PER_TOKEN = 3.5


class PriceTier(BaseModel):
    """USD per million tokens of each kind."""

    model_config = ConfigDict(extra="forbid")
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_write_5m: float = Field(ge=0)
    cache_write_1h: float = Field(ge=0)
    cache_read: float = Field(ge=0)


class LongPromptTier(PriceTier):
    """Prices for a whole request whose prompt exceeds ``threshold_tokens``."""

    threshold_tokens: int = Field(gt=0)


class ModelPrice(PriceTier):
    """Prices of one model."""

    batch_discount: float = Field(default=0.5, ge=0, lt=1)
    long_prompt: LongPromptTier | None = None

    def tier(self, prompt_tokens: int) -> PriceTier:
        """The tier that applies to a request with ``prompt_tokens`` of prompt."""
        if self.long_prompt is not None and prompt_tokens > self.long_prompt.threshold_tokens:
            return self.long_prompt
        return self


class PricingTable(BaseModel):
    """The contents of ``pricing.yaml``."""

    model_config = ConfigDict(extra="forbid")
    as_of: str
    currency: Literal["USD"] = "USD"
    unit: Literal["per_million_tokens"] = "per_million_tokens"
    models: dict[str, ModelPrice]

    def price(self, model: str) -> ModelPrice | None:
        """Prices for ``model`` (a dated id falls back to its undated form), or None if unknown."""
        for cand in _candidates(model):
            if cand in self.models:
                return self.models[cand]
        return None

    def _rates(self, model: str, usage: Usage, cache_ttl: CacheTTL) -> tuple[Any, Any, float] | None:
        """(model price, the tier this prompt size falls in, cache-write rate for the TTL), or None."""
        p = self.price(model)
        if p is None:
            return None
        prompt = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
        t = p.tier(prompt)
        return p, t, (t.cache_write_1h if cache_ttl == "1h" else t.cache_write_5m)

    def cost(self, model: str, usage: Usage, *, batch: bool = False, cache_ttl: CacheTTL = "5m"
             ) -> float | None:
        """USD for one answer's usage, or None when the model has no price."""
        rates = self._rates(model, usage, cache_ttl)
        if rates is None:
            return None
        p, t, write = rates
        usd = (usage.input_tokens * t.input + usage.output_tokens * t.output
               + usage.cache_creation_input_tokens * write
               + usage.cache_read_input_tokens * t.cache_read) / 1e6
        if batch:
            usd *= 1.0 - p.batch_discount
        return usd

    def cache_saving(self, model: str, usage: Usage, *, batch: bool = False, cache_ttl: CacheTTL = "5m"
                     ) -> float | None:
        """USD that prompt caching saved on this answer (negative when writes cost more than reads saved)."""
        rates = self._rates(model, usage, cache_ttl)
        if rates is None:
            return None
        p, t, write = rates
        saved = (usage.cache_read_input_tokens * (t.input - t.cache_read)
                 - usage.cache_creation_input_tokens * (write - t.input)) / 1e6
        return saved * (1.0 - p.batch_discount) if batch else saved


class ModelInfo(BaseModel):
    """What ``models.yaml`` says of one model id."""

    model_config = ConfigDict(extra="allow")
    family: str


class ModelCatalog(BaseModel):
    """The contents of ``models.yaml``."""

    model_config = ConfigDict(extra="forbid")
    aliases: dict[str, str]
    models: dict[str, ModelInfo] = Field(default_factory=dict)


def _candidates(model: str) -> Iterable[str]:
    yield model
    m = _DATED.match(model)
    base = m.group("base") if m else model
    if base != model:
        yield base
    yield base + "-0"  # claude-sonnet-4-20250514 -> claude-sonnet-4-0


def _load_yaml(path: Path | None, name: str) -> tuple[Any, str]:
    if path is None:
        ref = resources.files("agenteval").joinpath("data", name)
        where = str(ref)
        try:
            text = ref.read_text(encoding="utf-8")
        except OSError as e:
            raise InputError(f"cannot read packaged {name}: {e}", path=where) from None
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise InputError(f"cannot read: {e.strerror or e}", path=where) from None
    try:
        return yaml.safe_load(text), where
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        raise InputError(f"invalid YAML: {e}", path=where,
                         line=line + 1 if line is not None else None) from None


def _validate(model: type[BaseModel], data: Any, where: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        raise InputError(err["msg"], path=where, field=field or None) from None


@functools.lru_cache(maxsize=8)
def load_pricing(path: Path | None = None) -> PricingTable:
    """The pricing table (the packaged ``data/pricing.yaml`` unless ``path`` is given)."""
    data, where = _load_yaml(path, "pricing.yaml")
    return _validate(PricingTable, data, where)


@functools.lru_cache(maxsize=8)
def load_models(path: Path | None = None) -> ModelCatalog:
    """The model catalog (the packaged ``data/models.yaml`` unless ``path`` is given)."""
    data, where = _load_yaml(path, "models.yaml")
    return _validate(ModelCatalog, data, where)


def resolve_model(name: str, *, catalog: ModelCatalog | None = None) -> str:
    """The model id for an alias (``sonnet`` -> ``claude-sonnet-...``) or a full id (unchanged).

    Raises:
        UsageError: ``name`` is neither an alias, a known id, nor a ``claude-...`` id (likely a typo).
    """
    cat = catalog or load_models()
    key = name.strip()
    if key.lower() in cat.aliases:
        return cat.aliases[key.lower()]
    if key in cat.models or key.startswith("claude-"):
        return key
    raise UsageError(f"unknown model '{name}' (aliases: {', '.join(sorted(cat.aliases))}; "
                     f"or a full model id such as {next(iter(cat.aliases.values()), 'claude-...')})")


def cost_usd(model: str, usage: Usage, *, batch: bool = False, cache_ttl: CacheTTL = "5m") -> float | None:
    """USD for one answer with the packaged prices; None when the model has no price."""
    return load_pricing().cost(model, usage, batch=batch, cache_ttl=cache_ttl)


def estimate_tokens(text: str) -> int:
    """Offline token estimate of a text: ``ceil(len(text) / 3.5)`` (see :data:`CHARS_PER_TOKEN`)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0
