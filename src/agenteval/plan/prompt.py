"""Prompt assembly: the exact request sent for one cell (scenario × mode × role).

System prompt = the card body (block 1, marked for prompt caching: it is the same for every cell)
plus a run directive (block 2) naming the cognitive mode, the ensemble role and the tool mode, and,
for ensemble roles, what the other panelists said. The user message is the scenario prompt followed
by its context files, each fenced.

``prompt_hash`` covers exactly what the agent sees (system blocks and messages, not the model or
sampling parameters): a replay recording whose ``prompt_hash`` differs from the current one is stale.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from agenteval.inputs.card import AgentCard
from agenteval.inputs.scenario import Scenario

DEFAULT_MAX_TOKENS = 4096


class SystemBlock(BaseModel):
    """One text block of the system prompt."""

    text: str
    cache: bool = False

    def to_api(self) -> dict[str, Any]:
        """The Messages API form of this block."""
        d: dict[str, Any] = {"type": "text", "text": self.text}
        if self.cache:
            d["cache_control"] = {"type": "ephemeral"}
        return d


class Message(BaseModel):
    """One conversation turn."""

    role: Literal["user", "assistant"]
    content: str


class LLMRequest(BaseModel):
    """Everything a backend needs to produce one answer."""

    model: str
    system: list[SystemBlock]
    messages: list[Message]
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    output_config: dict[str, Any] | None = Field(
        default=None, description="structured output (JSON schema), e.g. for the LLM judge; omitted when None")

    def prompt_hash(self) -> str:
        """Hash of what the agent sees: system blocks' text and the messages."""
        payload = {"system": [b.text for b in self.system], "messages": [m.model_dump() for m in self.messages]}
        return "sha256:" + hashlib.sha256(_canon(payload)).hexdigest()

    def prefix_hash(self) -> str:
        """Hash of the cacheable prefix (the system blocks marked for caching, in order)."""
        payload = [b.text for b in self.system if b.cache]
        return "sha256:" + hashlib.sha256(_canon(payload)).hexdigest()

    def request_hash(self, epoch: int | None = None) -> str:
        """Hash of the full request (model, parameters, prompt), plus the epoch when given."""
        payload = self.to_api()
        payload["__epoch__"] = epoch
        return "sha256:" + hashlib.sha256(_canon(payload)).hexdigest()

    def to_api(self) -> dict[str, Any]:
        """Keyword arguments for ``client.messages.create``."""
        d: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": [b.to_api() for b in self.system],
            "messages": [m.model_dump() for m in self.messages],
        }
        if self.temperature is not None:
            d["temperature"] = self.temperature
        if self.output_config is not None:
            d["output_config"] = self.output_config
        return d



def _escalation_directive(card: AgentCard) -> str:
    """The escalation line of the run directive, from the card's own threshold and target(s)."""
    esc = card.escalation
    targets = " or ".join(esc.targets) if esc.targets else "a human reviewer"
    if esc.confidence_threshold is not None:
        return (f"- If your confidence is below {esc.confidence_threshold:g} or an escalation "
                f"trigger applies, escalate to {targets} and say why.")
    if esc.triggers or esc.targets:
        return f"- If an escalation trigger applies, escalate to {targets} and say why."
    return "- If the task is beyond what you can answer reliably, say so and escalate to a human reviewer."


def _canon(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def run_directive(card: AgentCard, scenario: Scenario, mode: str, role: str) -> str:
    """The per-cell directive appended to the card body."""
    m = card.cognitive_modes[mode]
    lines = [
        "# Run directive",
        "",
        f"- Cognitive mode: **{mode}**. Mindset: {m.mindset}. Expected output: {m.output}.",
        f"- Ensemble role: **{role}**." + (f" {card.ensemble_roles[role]}." if card.ensemble_roles[role] else ""),
    ]
    tools = card.tool_modes.get(scenario.tool_mode)
    tool_line = f"- Tool mode: **{scenario.tool_mode}**"
    if tools:
        tool_line += f" (tools: {', '.join(tools)})"
    lines.append(tool_line + ".")
    layout = card.output_format.layouts.get(scenario.tool_mode)
    if layout is not None:
        lines.append(f"- Use the card's layout for {scenario.tool_mode.title()} Mode "
                     f"({', '.join(layout.section_names)}).")
    lines.append(f"- End your answer with the required Output Envelope "
                 f"({', '.join(card.output_format.field_names)}).")
    lines.append(_escalation_directive(card))
    if role != "solo" and scenario.panel:
        lines += ["", "## What the other panelists said", ""]
        for p in scenario.panel:
            lines.append(f"- **{p.who}**: {p.said}")
    if scenario.decider and role == "input_provider":
        lines += ["", f"The decision belongs to: {scenario.decider}."]
    return "\n".join(lines)


def user_message(scenario: Scenario) -> str:
    """The scenario prompt followed by its context files, fenced."""
    parts = [scenario.prompt.strip()]
    for rel, text in scenario.context_files.items():
        fence = "```"
        while fence in text:
            fence += "`"
        parts.append(f"File `{rel}`:\n\n{fence}\n{text.rstrip()}\n{fence}")
    return "\n\n".join(parts)


def build_request(
    card: AgentCard,
    scenario: Scenario,
    mode: str,
    role: str,
    *,
    model: str,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    temperature: float | None = None,
) -> LLMRequest:
    """The exact request for one cell.

    Raises:
        KeyError: mode or role is not one of the card's.
    """
    if mode not in card.cognitive_modes:
        raise KeyError(f"unknown mode '{mode}'")
    if role not in card.ensemble_roles:
        raise KeyError(f"unknown role '{role}'")
    return LLMRequest(
        model=model,
        system=[SystemBlock(text=card.body, cache=True),
                SystemBlock(text=run_directive(card, scenario, mode, role))],
        messages=[Message(role="user", content=user_message(scenario))],
        max_tokens=max_tokens,
        temperature=temperature,
    )
