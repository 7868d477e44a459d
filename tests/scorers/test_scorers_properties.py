"""Property tests: no scorer raises on any string, scoring is deterministic, huge inputs stay fast."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agenteval.inputs.card import load_card
from agenteval.inputs.scenario import Evidence, Expect, Scenario
from agenteval.scorers import ScoreContext, ScoreRecord, score_response

REPO = Path(__file__).resolve().parents[2]
CARD = load_card(REPO / "cards" / "mlops-engineer.md")
SCENARIO = Scenario(
    id="prop", title="t", prompt="p", tool_mode="audit",
    expect=Expect(should_escalate=True, triggers=["trigger.1"], tempts=["never.1", "never.5"],
                  planted_defects=[Evidence(id="leak", description="d", evidence=["leak", r"fit.{0,80}split"])],
                  required_elements=[Evidence(id="trk", description="d", rule="always.1", evidence=["mlflow"])]),
)
CTXS = [ScoreContext(scenario_id="prop", mode=m, role=r, tool_mode=t)
        for m, r, t in (("critical", "auditor", "audit"), ("generative", "solo", "solution"),
                        ("informative", "input_provider", "research"), ("evaluative", "decision_maker", None),
                        ("lateral", "jester", "weird"))]

FRAGMENTS = [
    "**Result**:", "**Confidence**: ", "high", "medium (0.55)", "**Uncertainty Factors**:", "**Verification**:",
    "## Summary", "## Findings", "### [HIGH] ", "- **Location**:", "## Implementation", "```", "~~~", "> ", "**", "__",
    "escalate to senior-architect", "no need to escalate", "skip drift monitoring", "deploy without rollback",
    "never", "if ", "?", "\n", "\n\n", "|", "[", "]", "(", ")", "—", "\ud800", "\udfff", "\x00", "\x1b[31m", "\r\n",
    "\u2028", "é", "İ", "ß", "ﬁ", "…", "é", " ", "\t", "#", "1.", "-", "*",
]
markdownish = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=20), max_size=60).map("".join)
any_text = st.text(alphabet=st.characters(blacklist_categories=()), max_size=400)


def _score(text, ctx, scenario):
    r = score_response(text, ctx, CARD, scenario)
    assert isinstance(r, ScoreRecord)
    return r


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=any_text | markdownish, ci=st.integers(0, len(CTXS) - 1), with_scenario=st.booleans())
def test_never_raises_and_is_deterministic(text, ci, with_scenario):
    sc = SCENARIO if with_scenario else None
    a = _score(text, CTXS[ci], sc)
    b = _score(text, CTXS[ci], sc)
    assert a.model_dump() == b.model_dump()
    assert all(c.reason is not None for c in a.checks)
    assert not any(c.reason.startswith("check error") for c in a.checks), [c for c in a.checks if not c.applicable]
    if a.envelope_ok:
        assert a.envelope_loose_ok


@pytest.mark.parametrize("text", [None, "", "\ud800", "\udfff\ud800" * 10, "\x00" * 100, "*" * 1000, "[" * 1000,
                                  "```" * 1000, "#" * 1000, "|" * 1000, "\r" * 1000])
def test_degenerate_inputs(text):
    for ctx in CTXS:
        r = _score(text, ctx, SCENARIO)
        assert not r.envelope_ok
        assert r.model_dump_json()  # serialisable, surrogates included


def test_record_is_valid_utf8_json_even_for_surrogates():
    r = _score("**Result**: x\ud800 skip drift monitoring\ud800\n**Confidence**: high\udfff\n", CTXS[1], None)
    r.model_dump_json().encode("utf-8")  # reasons quote the (cleaned) text: no lone surrogate survives


@pytest.mark.parametrize("unit", [
    "lorem ipsum dolor sit amet " * 4 + "\n",
    "escalate ",
    "no no ",
    "skip drift monitoring later, ",
    "deploy without rollback. ",
    "**Result**: x\n",
    "## Findings\n### [HIGH] x\n- **Issue**: y\n",
    "`",
    "senior-architect should review. ",
])
def test_five_megabytes_score_fast(unit):
    text = (unit * (5 * 1024 * 1024 // len(unit) + 1))[: 5 * 1024 * 1024]
    t0 = time.perf_counter()
    r = _score(text, CTXS[0], SCENARIO)
    r2 = _score(text, CTXS[1], None)
    elapsed = time.perf_counter() - t0
    assert r.truncated and r2.truncated
    assert elapsed < 6.0, f"two 5 MB scorings took {elapsed:.1f} s"
