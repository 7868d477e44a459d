from __future__ import annotations

import pytest

from agenteval.errors import UsageError
from agenteval.inputs.scenario import load_scenarios
from agenteval.plan.matrix import build_plan, parse_list, shard
from agenteval.plan.prompt import build_request


def test_plan_expansion_and_filters(mini_suite, card):
    scs = load_scenarios([mini_suite], card)
    items = build_plan(card, scs, epochs=3)
    assert len(items) == 2 * 4 * 2 * 3  # scenarios × modes × roles(solo, panel_member) × epochs
    assert len({i.id for i in items}) == len(items)
    assert items[0].id == "mini-audit/generative/solo/1"
    few = build_plan(card, scs, scenario_ids=["mini-design"], modes=["critical", "informative"],
                     roles=["panel_member"], epochs=1)
    assert [i.id for i in few] == ["mini-design/critical/panel_member/1", "mini-design/informative/panel_member/1"]
    assert build_plan(card, scs, roles=["auditor"]) == []  # scenarios do not run as auditor


@pytest.mark.parametrize("kw", [{"modes": ["dreamy"]}, {"roles": ["boss"]}, {"scenario_ids": ["nope"]},
                                {"epochs": 0}])
def test_plan_rejects_unknown_filters(mini_suite, card, kw):
    scs = load_scenarios([mini_suite], card)
    with pytest.raises(UsageError):
        build_plan(card, scs, **kw)


def test_parse_list():
    assert parse_list("a, b,,c") == ["a", "b", "c"]
    assert parse_list("") is None
    assert parse_list(None) is None


def test_shard_partitions_cells(mini_suite, card):
    scs = load_scenarios([mini_suite], card)
    items = build_plan(card, scs, epochs=2)
    parts = [shard(items, f"{i}/3") for i in (1, 2, 3)]
    ids = [i.id for p in parts for i in p]
    assert sorted(ids) == sorted(i.id for i in items)
    for p in parts:  # epochs of one cell stay together
        cells = {i.cell for i in p}
        assert all(sum(1 for i in p if i.cell == c) == 2 for c in cells)
    with pytest.raises(UsageError):
        shard(items, "4/3")


def test_request_contains_card_directive_and_context(mini_suite, card):
    sc = load_scenarios([mini_suite], card)[0]
    req = build_request(card, sc, "critical", "panel_member", model="m")
    body = req.to_api()
    assert body["system"][0]["text"] == card.body
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    directive = body["system"][1]["text"]
    assert "**critical**" in directive and "**panel_member**" in directive and "**audit**" in directive
    assert "data-scientist" in directive  # panel statements for panel roles
    assert "senior-architect" in directive
    user = body["messages"][0]["content"]
    assert user.startswith("Our nightly retrain job")
    assert "pipe/train.py" in user and "scaler.fit(X)" in user
    solo = build_request(card, sc, "critical", "solo", model="m")
    assert "data-scientist" not in solo.system[1].text
    assert solo.prompt_hash() != req.prompt_hash()
    assert solo.prefix_hash() == req.prefix_hash()
    other_model = build_request(card, sc, "critical", "solo", model="other")
    assert other_model.prompt_hash() == solo.prompt_hash()
    assert other_model.request_hash(1) != solo.request_hash(1)
    assert solo.request_hash(1) != solo.request_hash(2)


def test_unknown_mode_in_request(mini_suite, card):
    sc = load_scenarios([mini_suite], card)[0]
    with pytest.raises(KeyError):
        build_request(card, sc, "dreamy", "solo", model="m")
