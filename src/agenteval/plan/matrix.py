"""The plan: the matrix of cells (scenario × mode × role × epoch) a run must answer."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, Field

from agenteval.errors import UsageError, did_you_mean
from agenteval.inputs.card import AgentCard
from agenteval.inputs.scenario import Scenario


class PlanItem(BaseModel):
    """One cell of the matrix; ``id`` is ``scenario/mode/role/epoch``."""

    scenario_id: str
    mode: str
    role: str
    epoch: int = Field(ge=1)
    tool_mode: str

    @property
    def id(self) -> str:
        """Stable id of the item, unique within a plan."""
        return f"{self.scenario_id}/{self.mode}/{self.role}/{self.epoch}"

    @property
    def cell(self) -> tuple[str, str, str]:
        """(scenario, mode, role): the cell this item belongs to, whatever the epoch."""
        return (self.scenario_id, self.mode, self.role)


def parse_list(value: str | Sequence[str] | None) -> list[str] | None:
    """Parse a comma-separated option (``a,b,c``) into a list; None or empty means no filter."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else [x for v in value for x in v.split(",")]
    out = [x.strip() for x in items if x.strip()]
    return out or None


def build_plan(
    card: AgentCard,
    scenarios: Iterable[Scenario],
    *,
    scenario_ids: Sequence[str] | None = None,
    modes: Sequence[str] | None = None,
    roles: Sequence[str] | None = None,
    epochs: int = 1,
) -> list[PlanItem]:
    """Expand scenarios into plan items, filtered and sized.

    Each scenario runs in its own ``modes``/``roles`` (default: all of the card's), intersected with
    the filters. Unknown names in a filter are a usage error, so a typo never silently empties a run.
    """
    scenarios = list(scenarios)
    if epochs < 1:
        raise UsageError("--epochs must be at least 1")
    known_ids = {s.id for s in scenarios}
    for name, given, known in (("--scenarios", scenario_ids, known_ids), ("--modes", modes, set(card.modes)),
                               ("--roles", roles, set(card.roles))):
        for v in given or []:
            if v not in known:
                raise UsageError(f"{name}: unknown value '{v}'{did_you_mean(v, known)} "
                                 f"(known: {', '.join(sorted(known))})")
    items: list[PlanItem] = []
    for sc in scenarios:
        if scenario_ids and sc.id not in scenario_ids:
            continue
        for mode in sc.modes_for(card):
            if modes and mode not in modes:
                continue
            for role in sc.roles_for(card):
                if roles and role not in roles:
                    continue
                for epoch in range(1, epochs + 1):
                    items.append(PlanItem(scenario_id=sc.id, mode=mode, role=role, epoch=epoch,
                                          tool_mode=sc.tool_mode))
    return items


def shard(items: Sequence[PlanItem], spec: str | None) -> list[PlanItem]:
    """Keep shard ``i`` of ``n`` (``"i/n"``, 1-based), assigning whole cells round-robin by plan order."""
    if not spec:
        return list(items)
    try:
        i_s, n_s = spec.split("/")
        i, n = int(i_s), int(n_s)
    except ValueError:
        raise UsageError(f"--shard must look like i/n, got '{spec}'") from None
    if n < 1 or not 1 <= i <= n:
        raise UsageError(f"--shard {spec}: need 1 <= i <= n")
    cells: dict[tuple[str, str, str], int] = {}
    for it in items:
        cells.setdefault(it.cell, len(cells))
    return [it for it in items if cells[it.cell] % n == i - 1]
