"""The golden labelled set and the replay recordings hold to their formats and cover the default plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from agenteval.backends.replay import load_recordings
from agenteval.errors import InputError
from agenteval.inputs.card import load_card
from agenteval.inputs.responses import read_golden
from agenteval.inputs.scenario import load_scenarios
from agenteval.plan.matrix import build_plan
from agenteval.plan.prompt import build_request
from tests.conftest import CARD, REPO

GOLDEN = REPO / "golden" / "labelled"


def golden_files() -> list[Path]:
    return sorted(GOLDEN.glob("*.jsonl"))


def test_golden_set_is_large_enough_and_ids_unique():
    items = [it for f in golden_files() for it in read_golden(f)]
    assert len(items) >= 120
    ids = [it.id for it in items]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("path", golden_files(), ids=lambda p: p.name)
def test_golden_file_matches_schema_and_card(path, card):
    scenarios = {s.id: s for s in load_scenarios([REPO / "scenarios"], card)}
    never_ids = {r.id for r in card.rules_of("never")}
    allowed = set(card.output_format.confidence_field.allowed_values)
    for it in read_golden(path):
        assert it.mode in card.cognitive_modes, it.id
        assert it.role in card.ensemble_roles, it.id
        lab = it.labels
        assert set(lab.never_violations) <= never_ids, it.id
        assert lab.confidence_level is None or lab.confidence_level in allowed, it.id
        if lab.elements_found is not None:
            sc = scenarios[it.scenario_id]
            known = {e.id for e in [*sc.expect.planted_defects, *sc.expect.required_elements]}
            assert set(lab.elements_found) <= known, it.id
        if it.tool_mode == "research":
            assert lab.layout_ok is None, it.id


def test_golden_distribution_has_failures_of_every_kind():
    items = [it for f in golden_files() for it in read_golden(f)]
    assert sum(not it.labels.envelope_ok for it in items) >= 30
    assert sum(it.labels.escalated for it in items) >= 25
    assert sum(not it.labels.escalated for it in items) >= 40
    assert sum(bool(it.labels.never_violations) for it in items) >= 20


def test_bad_golden_line_names_file_line_field(tmp_path):
    p = tmp_path / "g.jsonl"
    p.write_text('{"id": "x", "scenario_id": "s", "mode": "critical", "role": "solo", "tool_mode": "audit", '
                 '"response": "r", "labels": {"envelope_ok": "maybe"}, "rationale": {}}\n')
    with pytest.raises(InputError) as ei:
        read_golden(p)
    assert ei.value.line == 1 and ei.value.field.startswith("labels.")


def test_recordings_cover_default_plan_fresh_and_with_provenance():
    card = load_card(CARD)
    scenarios = load_scenarios([REPO / "scenarios"], card)
    by_id = {s.id: s for s in scenarios}
    recs = load_recordings(REPO / "golden" / "recordings")
    plan = build_plan(card, scenarios)
    missing = [i.id for i in plan if (i.scenario_id, i.mode, i.role, i.epoch) not in recs]
    assert not missing, f"{len(missing)} cells have no recording, e.g. {missing[:5]}"
    # every scenario in every mode as solo, plus every role of the three named scenarios
    for sid in ("audit-broken-pipeline", "design-canary-rollout", "compare-mlflow-kubeflow"):
        assert {(m, r) for (s, m, r, _e) in recs if s == sid} == {(m, r) for m in card.modes for r in card.roles}
    stale = []
    for key, rec in recs.items():
        sid, mode, role, _epoch = key
        assert rec.provenance.producer and rec.provenance.method and rec.provenance.recorded_at
        assert rec.provenance.prompt_hash == rec.prompt_hash
        if "anthropic-api" not in rec.provenance.producer:
            assert "not a Messages API call" in rec.provenance.method  # never posing as a live answer
        req = build_request(card, by_id[sid], mode, role, model=card.model)
        if req.prompt_hash() != rec.prompt_hash:
            stale.append(key)
    assert not stale, f"stale recordings: {stale[:5]}"
