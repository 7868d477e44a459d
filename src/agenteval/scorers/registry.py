"""The check registry: ``@check("id")`` plugs a new check into :func:`score_response`.

A check is a function of one :class:`~agenteval.scorers.core.CheckInput` (the response, scenario,
card and config, plus the shared parses) returning a :class:`CheckResult` or an iterable of them
(a *family* such as ``never`` returns ``never.1``, ``never.2``, ...). Checks run in registration
order. A check that raises is reported as a not-applicable result naming the error; scoring never
fails because of one check.

Example::

    from agenteval.scorers import check, CheckResult

    @check("style.no_emoji")
    def no_emoji(inp):
        bad = any(ord(ch) > 0x1F000 for ch in inp.text)
        return CheckResult(id="style.no_emoji", passed=not bad, reason="emoji found" if bad else "none")
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agenteval.scorers.base import CheckResult

if TYPE_CHECKING:  # pragma: no cover
    from agenteval.scorers.config import ScoringConfig
    from agenteval.scorers.core import CheckInput

CheckOutput = CheckResult | Iterable[CheckResult]
CheckFn = Callable[["CheckInput"], CheckOutput]


@dataclass(frozen=True)
class CheckSpec:
    """A registered check."""

    id: str
    fn: CheckFn
    needs_scenario: bool = False
    enabled: Callable[[ScoringConfig], bool] | None = None
    doc: str = ""

    def is_enabled(self, config: ScoringConfig) -> bool:
        """Whether the check runs under ``config``."""
        return self.enabled is None or bool(self.enabled(config))


_REGISTRY: dict[str, CheckSpec] = {}


def check(
    check_id: str,
    *,
    needs_scenario: bool = False,
    enabled: Callable[[ScoringConfig], bool] | None = None,
    replace: bool = False,
) -> Callable[[CheckFn], CheckFn]:
    """Register a check under ``check_id`` (decorator).

    Args:
        check_id: the id (or id prefix, for a family of results).
        needs_scenario: when True and no scenario is given, the check is reported not applicable
            without being called.
        enabled: a predicate on the :class:`ScoringConfig`; the check only runs when it is true
            (used for the LLM-judge seam).
        replace: allow re-registering an existing id (otherwise a ``ValueError``).
    """

    def deco(fn: CheckFn) -> CheckFn:
        if check_id in _REGISTRY and not replace and _REGISTRY[check_id].fn is not fn:
            raise ValueError(f"check '{check_id}' is already registered")
        _REGISTRY[check_id] = CheckSpec(check_id, fn, needs_scenario, enabled, (fn.__doc__ or "").strip())
        return fn

    return deco


def unregister(check_id: str) -> None:
    """Remove a check from the registry (no error if absent)."""
    _REGISTRY.pop(check_id, None)


def registered_checks() -> dict[str, CheckSpec]:
    """The registered checks, in run order (a copy)."""
    return dict(_REGISTRY)


def run_check(spec: CheckSpec, inp: CheckInput) -> list[CheckResult]:
    """Run one check, never raising: errors become a not-applicable result with the reason."""
    if spec.needs_scenario and inp.scenario is None:
        return [CheckResult(id=spec.id, passed=True, applicable=False, reason="no scenario given")]
    try:
        out: Any = spec.fn(inp)
        if isinstance(out, CheckResult):
            return [out]
        if out is None:
            return []
        return [r for r in out if isinstance(r, CheckResult)]
    except Exception as exc:  # a broken check must not take scoring down
        return [CheckResult(id=spec.id, passed=False, applicable=False,
                            reason=f"check error: {type(exc).__name__}: {str(exc)[:200]}")]
