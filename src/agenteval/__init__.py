"""agenteval: benchmark how an LLM agent defined by a persona card behaves.

The public surface is small on purpose:

* :func:`load_card` and :class:`AgentCard` — the agent under test;
* :func:`load_scenarios` and :class:`Scenario` — what it is asked;
* :func:`load_run` — one finished run as a pandas DataFrame.

Everything else is reached through the ``agenteval`` command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agenteval._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from agenteval.inputs.card import AgentCard
    from agenteval.inputs.scenario import Scenario

__all__ = ["AgentCard", "Scenario", "__version__", "load_card", "load_run", "load_scenarios"]


def __getattr__(name: str) -> Any:
    # Lazy: importing agenteval must stay cheap (the CLI imports it on every call).
    if name in ("load_card", "AgentCard"):
        from agenteval.inputs import card

        return getattr(card, name)
    if name in ("load_scenarios", "Scenario"):
        from agenteval.inputs import scenario

        return getattr(scenario, name)
    if name == "load_run":
        from agenteval.results.store import load_run

        return load_run
    raise AttributeError(f"module 'agenteval' has no attribute {name!r}")
