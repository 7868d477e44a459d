"""What made a run's answers stale, and the command that fixes it.

A replay answer is *stale* when it was recorded for another prompt than the one the run sends: the card
or the scenario file changed since (or the prompt template did). Recordings made by this version carry
the card's and the scenario's content hash in their provenance, so the run can say which one changed;
older recordings carry only the prompt hash, and then the report says so.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from agenteval.results.rundata import RunData


def short_hash(h: str | None) -> str:
    """``sha256:`` and the first 12 hex digits (enough to tell two versions apart)."""
    if not h:
        return "?"
    algo, _, hexd = h.partition(":")
    return f"{algo}:{hexd[:12]}" if hexd else h[:12]


class StaleReport(BaseModel):
    """The stale answers of a run, and why."""

    count: int = 0
    scenarios: list[str] = Field(default_factory=list, description="scenario ids with stale answers")
    card_recorded: list[str] = Field(default_factory=list, description="card hashes the stale answers were "
                                     "recorded for, where known and different from the run's")
    card_now: str = ""
    card_path: str = ""
    scenario_changes: dict[str, tuple[str, str, str]] = Field(
        default_factory=dict, description="scenario id -> (file, recorded hash, current hash)")
    unexplained: list[str] = Field(default_factory=list, description="scenarios whose stale recordings carry "
                                   "no card/scenario hash (recorded before agenteval stored them)")
    all_scenarios: bool = False

    @property
    def fix_command(self) -> str:
        """The ``agenteval record`` command that records fresh answers for the stale cells."""
        cmd = f"agenteval record --card {self.card_path}"
        if self.scenarios and not self.all_scenarios:
            cmd += f" --scenarios {','.join(self.scenarios)}"
        return cmd

    def what_changed(self) -> str:
        """One sentence: card, which scenario files (by hash), or — for old recordings — the prompt."""
        parts = []
        if self.card_recorded:
            parts.append(f"the card changed ({self.card_path}: recorded for "
                         f"{', '.join(short_hash(h) for h in self.card_recorded)}, now {short_hash(self.card_now)})")
        if self.scenario_changes:
            items = [f"{f} ({short_hash(a)} -> {short_hash(b)})" for f, a, b in self.scenario_changes.values()]
            more = f" and {len(items) - 5} more" if len(items) > 5 else ""
            parts.append(f"scenario file(s) changed: {', '.join(items[:5])}{more}")
        if self.unexplained:
            who = ("every scenario" if self.all_scenarios and len(self.unexplained) == len(self.scenarios)
                   else ", ".join(self.unexplained[:5]) + (f" and {len(self.unexplained) - 5} more"
                                                            if len(self.unexplained) > 5 else ""))
            parts.append(f"the prompt changed for {who} (the card or the scenario text; these recordings "
                         "predate card/scenario hashes)")
        return "; ".join(parts) or "the prompt changed"

    def one_line(self) -> str:
        """``N stale answer(s) …: what changed; fix: command`` (empty when nothing is stale)."""
        if not self.count:
            return ""
        return (f"{self.count} stale answer(s) in {len(self.scenarios)} scenario(s), recorded for another "
                f"prompt: {self.what_changed()}; record fresh answers with `{self.fix_command}` "
                "(live; authored answers: `agenteval record --from-responses FILE --producer P --method M`)")


def stale_report(run: RunData) -> StaleReport:
    """Why the run's stale answers are stale (reads the provenance in the run's transcripts if loaded)."""
    m = run.manifest
    stale = [s for s in run.lines if s.stale and s.status == "ok"]
    rep = StaleReport(count=len(stale), card_now=m.card.content_hash, card_path=m.card.path)
    if not stale:
        return rep
    scen = {sc.id: sc for sc in m.scenarios}
    rep.scenarios = list(dict.fromkeys(s.scenario_id for s in stale))
    rep.all_scenarios = set(rep.scenarios) >= {s.scenario_id for s in run.lines if s.status == "ok"}
    cards: list[str] = []
    for s in stale:
        prov = (run.transcripts.get(s.id, (0, {}))[1] or {}).get("provenance") or {}
        ch, sh = prov.get("card_hash"), prov.get("scenario_hash")
        explained = False
        if ch and ch != m.card.content_hash:
            explained = True
            if ch not in cards:
                cards.append(ch)
        now = scen.get(s.scenario_id)
        if sh and now is not None and sh != now.content_hash:
            explained = True
            rep.scenario_changes[s.scenario_id] = (now.path or s.scenario_id, sh, now.content_hash)
        if not explained and s.scenario_id not in rep.unexplained:
            rep.unexplained.append(s.scenario_id)
    rep.card_recorded = cards
    return rep
