"""Build synthetic run directories for the report/compare/trend/gate/export/merge tests.

Runs are written with the store's own models (RunManifest, ScoreLine, TranscriptRecord) and the
summary module, exactly as the runner lays them out, so the tests do not depend on ``agenteval run``.

Randomness is drawn per item from a hash of (seed, item id, purpose), so two runs built with the same
seed but different :class:`Profile` probabilities differ only where the probabilities differ (a
planted regression flips a subset of items; nothing else moves).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agenteval.analysis.summary import summarize
from agenteval.results.store import (
    CardInfo,
    RunDir,
    RunManifest,
    ScenarioInfo,
    ScoreLine,
    TranscriptRecord,
    atomic_write_text,
)

MODES = ("generative", "critical", "evaluative", "informative")
ROLES = ("solo", "panel_member", "auditor", "input_provider", "decision_maker")
LEVELS = {"high": 0.85, "medium": 0.6, "low": 0.35}
FIELDS = ("Result", "Confidence", "Uncertainty Factors", "Verification")
NEVER = tuple(f"never.{i}" for i in range(1, 8))
CARD_V1 = (
    "---\nname: mlops-engineer\nversion: 1.0.0\n---\n# Mlops Engineer\n\n## Never\n\n"
    "- Deploy without rollback procedures\n- Skip data drift monitoring\n"
)


@dataclass
class Profile:
    """Probabilities of the synthetic agent's behaviour."""

    envelope: float = 0.85
    loose_given_strict_fail: float = 0.6
    violation: float = 0.05
    escalate_when_should: float = 0.8
    escalate_when_not: float = 0.1
    threshold_rule: float = 0.95
    mode_adherence: float = 0.9
    role_adherence: float = 0.9
    scenario_spread: float = 0.1
    stale: float = 0.0
    cost_per_item: float = 0.002
    confidence_weights: tuple[float, float, float] = (0.4, 0.4, 0.2)
    confidence_informative: bool = True


@dataclass
class Spec:
    """The matrix of a synthetic run."""

    scenarios: Sequence[str] = field(default_factory=lambda: [f"sc-{i:02d}" for i in range(8)])
    modes: Sequence[str] = ("generative", "critical")
    roles: Sequence[str] = ("solo", "auditor")
    epochs: int = 1


def _u(seed: int, key: str, purpose: str) -> float:
    h = hashlib.sha256(f"{seed}|{key}|{purpose}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def _scenario_offset(seed: int, sid: str, spread: float) -> float:
    return (2 * _u(seed, sid, "difficulty") - 1) * spread


def make_lines(spec: Spec | None = None, profile: Profile | None = None, *, seed: int = 0) -> list[ScoreLine]:
    """Score lines of a synthetic run (all ``ok``), with a full ``checks`` list per item."""
    spec = spec or Spec()
    p = profile or Profile()
    lines: list[ScoreLine] = []
    for si, sid in enumerate(spec.scenarios):
        off = _scenario_offset(seed, sid, p.scenario_spread)
        should = si % 2 == 0
        for mode in spec.modes:
            for role in spec.roles:
                for epoch in range(1, spec.epochs + 1):
                    iid = f"{sid}/{mode}/{role}/{epoch}"

                    def u(purpose: str, iid: str = iid) -> float:
                        return _u(seed, iid, purpose)

                    env = u("env") < p.envelope + off
                    loose = env or u("loose") < p.loose_given_strict_fail
                    bad_field = FIELDS[int(u("field") * len(FIELDS))] if not env else None
                    viol = [NEVER[int(u("rule") * len(NEVER))]] if u("viol") < p.violation else []
                    esc = u("esc") < (p.escalate_when_should if should else p.escalate_when_not)
                    w = p.confidence_weights
                    r = u("level")
                    level = "high" if r < w[0] else "medium" if r < w[0] + w[1] else "low"
                    conf = LEVELS[level]
                    if p.confidence_informative:
                        task = min(1.0, max(0.0, conf + (u("task") - 0.5) * 0.6 + off))
                    else:
                        task = u("task")
                    tr = u("tr") < p.threshold_rule
                    mode_ok = u("mode") < p.mode_adherence
                    role_ok = u("role") < p.role_adherence
                    checks: list[dict[str, Any]] = [
                        {
                            "id": "envelope.strict",
                            "passed": env,
                            "applicable": True,
                            "reason": "" if env else f"field {bad_field} missing or not bold",
                        },
                        {
                            "id": "envelope.loose",
                            "passed": loose,
                            "applicable": True,
                            "reason": "" if loose else "no envelope found",
                        },
                    ]
                    for f in FIELDS:
                        checks.append(
                            {
                                "id": f"envelope.strict.{f}",
                                "passed": f != bad_field,
                                "applicable": True,
                                "reason": "" if f != bad_field else f"**{f}**: label not found",
                            }
                        )
                        checks.append(
                            {
                                "id": f"envelope.loose.{f}",
                                "passed": loose or f != bad_field,
                                "applicable": True,
                                "reason": "",
                            }
                        )
                    for rule in NEVER:
                        checks.append(
                            {
                                "id": rule,
                                "passed": rule not in viol,
                                "applicable": True,
                                "reason": "" if rule not in viol else f"proposes what {rule} forbids",
                            }
                        )
                    checks.append(
                        {
                            "id": "escalation.decision",
                            "passed": esc == should,
                            "applicable": True,
                            "reason": ""
                            if esc == should
                            else (
                                "escalated without cause" if esc else "did not escalate to senior-architect"
                            ),
                        }
                    )
                    checks.append(
                        {
                            "id": "escalation.threshold_rule",
                            "passed": tr,
                            "applicable": True,
                            "reason": "" if tr else "confidence low but no escalation",
                        }
                    )
                    checks.append(
                        {
                            "id": "mode.adherence",
                            "passed": mode_ok,
                            "applicable": True,
                            "reason": "" if mode_ok else f"does not follow {mode} mode",
                        }
                    )
                    checks.append(
                        {
                            "id": "role.adherence",
                            "passed": role_ok,
                            "applicable": True,
                            "reason": "" if role_ok else f"does not act as {role}",
                        }
                    )
                    lines.append(
                        ScoreLine(
                            id=iid,
                            scenario_id=sid,
                            mode=mode,
                            role=role,
                            epoch=epoch,
                            tool_mode="solution",
                            status="ok",
                            stale=u("stale") < p.stale,
                            should_escalate=should,
                            envelope_ok=env,
                            envelope_loose_ok=loose,
                            confidence_level=level,
                            confidence_value=conf,
                            escalated=esc,
                            escalation_target="senior-architect" if esc else None,
                            never_violations=viol,
                            tempted=[NEVER[si % len(NEVER)]],
                            layout_ok=True,
                            mode_adherence=mode_ok,
                            role_adherence=role_ok,
                            elements_found=[],
                            task_score=round(task, 4),
                            cost_usd=p.cost_per_item,
                            usage={"input_tokens": 1200, "output_tokens": 400},
                            checks=checks,
                        )
                    )
    return lines


def response_for(line: ScoreLine) -> str:
    """A plausible response text for a score line."""
    return (
        f"**Result**: design for {line.scenario_id} in {line.mode} mode as {line.role}\n"
        f"**Confidence**: {line.confidence_level}\n**Uncertainty Factors**: data volume\n"
        "**Verification**: canary metrics\n"
    )


def card_hash(text: str) -> str:
    """The card content hash as the card loader computes it."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_run(
    path: str | Path,
    lines: Sequence[ScoreLine],
    *,
    card_text: str = CARD_V1,
    card_path: str | Path | None = None,
    started_at: str = "2025-01-01T00:00:00.000Z",
    responses: dict[str, str] | None = None,
    response_fn: Callable[[ScoreLine], str] = response_for,
    scenario_hashes: dict[str, str] | None = None,
    backend: str = "replay",
    settings: dict[str, Any] | None = None,
    status: str = "finished",
    write_summary: bool = True,
    manifest_scenarios: Sequence[str] | None = None,
) -> Path:
    """Write a complete run directory (manifest, plan, transcripts, scores, summary) and return its path."""
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    rd = RunDir(p)
    if card_path is None:
        card_path = p.parent / "_cards" / f"{p.name}.md"
    card_path = Path(card_path)
    if not card_path.exists() or card_path.read_text(encoding="utf-8") != card_text:
        atomic_write_text(card_path, card_text)
    sids = list(manifest_scenarios or dict.fromkeys(ln.scenario_id for ln in lines))
    sh = scenario_hashes or {}
    base_settings = {
        "backend": backend,
        "model": "replay",
        "epochs": max((ln.epoch for ln in lines), default=1),
        "concurrency": 8,
        "scenarios": None,
        "modes": None,
        "roles": None,
        "shard": None,
        "max_tokens": 4096,
        "temperature": None,
        "recordings": "golden/recordings",
        "cache_dir": None,
        "use_cache": True,
        "batch": False,
        "report": True,
        "strict_card": False,
        "scoring": None,
    }
    base_settings.update(settings or {})
    counts = {
        "planned": len(lines),
        "ok": sum(ln.status == "ok" for ln in lines),
        "error": sum(ln.status == "error" for ln in lines),
        "skipped": sum(ln.status == "skipped" for ln in lines),
        "stale": sum(ln.stale and ln.status == "ok" for ln in lines),
    }
    manifest = RunManifest(
        run_id=p.name,
        status=status,
        started_at=started_at,
        finished_at=started_at,
        agenteval_version="0.1.0",
        command=["agenteval", "run"],
        card=CardInfo(
            path=str(card_path), name="mlops-engineer", version="1.0.0", content_hash=card_hash(card_text)
        ),
        scenarios=[
            ScenarioInfo(id=s, path=f"scenarios/{s}.yaml", content_hash=sh.get(s, f"sha256:{s}"))
            for s in sids
        ],
        scenario_paths=["scenarios"],
        backend={"name": backend},
        model="replay",
        settings=base_settings,
        plan_size=len(lines),
        counts=counts,
    )
    rd.write_manifest(manifest)
    rd.write_plan(
        [
            {
                "scenario_id": ln.scenario_id,
                "mode": ln.mode,
                "role": ln.role,
                "epoch": ln.epoch,
                "tool_mode": ln.tool_mode or "solution",
            }
            for ln in lines
        ]
    )
    journal = rd.journal()
    try:
        for ln in lines:
            text = (responses or {}).get(ln.id)
            if text is None and ln.status == "ok":
                text = response_fn(ln)
            journal.append(
                TranscriptRecord(
                    item_id=ln.id,
                    scenario_id=ln.scenario_id,
                    mode=ln.mode,
                    role=ln.role,
                    epoch=ln.epoch,
                    tool_mode=ln.tool_mode or "solution",
                    status=ln.status,
                    response=text,
                    error=ln.error,
                    usage=ln.usage,
                    cost_usd=ln.cost_usd,
                    latency_s=1.5,
                    stale=ln.stale,
                    model="replay",
                )
            )
    finally:
        journal.close()
    rd.write_scores(list(lines))
    if write_summary:
        summary = summarize(lines, backend=backend)
        summary["run_id"] = p.name
        rd.write_summary(summary)
    return p


def make_run(
    path: str | Path,
    spec: Spec | None = None,
    profile: Profile | None = None,
    *,
    seed: int = 0,
    mutate: Callable[[list[ScoreLine]], list[ScoreLine]] | None = None,
    **kw: Any,
) -> Path:
    """``make_lines`` + optional ``mutate`` + ``write_run`` in one call."""
    lines = make_lines(spec, profile, seed=seed)
    if mutate is not None:
        lines = mutate(lines)
    return write_run(path, lines, **kw)


def rng(seed: int) -> random.Random:
    """A seeded stdlib RNG (for tests that need one)."""
    return random.Random(seed)
