"""Quoted snippets in check reasons end on word boundaries."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agenteval.scorers.text import clip_words, word_window


def test_clip_words_cuts_between_words() -> None:
    assert clip_words("medium-high. The findings are visible directly in the code", 40) == (
        "medium-high. The findings are visible…")
    assert clip_words("short", 40) == "short"


def test_word_window_never_starts_or_ends_mid_word() -> None:
    t = "We will retrain the recommendation model nightly. I agree MLflow can wait. A metadata.json is fine."
    i = t.index("MLflow")
    w = word_window(t, i, i + 6)
    assert w == "…nightly. I agree MLflow can wait. A…"


@given(st.lists(st.sampled_from(["alpha", "beta", "gamma-delta", "x", "longerword", "42"]), min_size=1,
                max_size=60), st.integers(min_value=0, max_value=400))
def test_window_words_are_whole(words: list[str], at: int) -> None:
    text = " ".join(words)
    s = min(at, len(text) - 1)
    w = word_window(text, s, min(len(text), s + 3), limit=60).strip("…")
    whole = set(text.split())
    pieces = w.split()
    for p in pieces[1:-1]:
        assert p in whole
    assert len(w) <= 60
