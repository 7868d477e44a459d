"""The deterministic scorers against the hand-labelled golden set (``golden/labelled/*.jsonl``).

Minimums (issue 4): envelope accuracy 0.97, escalation F1 0.95, confidence-level accuracy 0.97, Never-violation
F1 0.85 (micro over rules). Skipped, with the reason, only when the golden folder holds no files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agenteval.inputs.card import load_card
from agenteval.inputs.scenario import load_scenarios
from agenteval.run.validate import THRESHOLDS, format_report, main_validate_scorers, validate_scorers

REPO = Path(__file__).resolve().parents[2]
LABELS = REPO / "golden" / "labelled"
CARD_PATH = REPO / "cards" / "mlops-engineer.md"
SCENARIOS = REPO / "scenarios"

pytestmark = pytest.mark.skipif(not list(LABELS.glob("*.jsonl")),
                                reason="golden/labelled/ has no *.jsonl files yet")


@pytest.fixture(scope="module")
def report():
    card = load_card(CARD_PATH)
    scenarios = load_scenarios([SCENARIOS], card) if SCENARIOS.is_dir() else []
    return validate_scorers(LABELS, card, scenarios)


def test_golden_set_was_read(report):
    assert report.items > 0
    assert not [w for w in report.warnings if "not JSON" in w or "missing" in w], report.warnings


@pytest.mark.parametrize(("name", "metric", "minimum"), THRESHOLDS)
def test_threshold(report, name, metric, minimum):
    value = report.metric(name, metric)
    assert value is not None, f"no labels for {name}"
    assert value >= minimum, f"{name} {metric} {value:.3f} < {minimum}\n" + format_report(report)


def test_envelope_loose_and_layout_agree_well(report):
    for name in ("envelope_loose_ok", "layout_ok"):
        acc = report.metric(name, "accuracy")
        if acc is not None:
            assert acc >= 0.9, format_report(report)


def test_report_text_and_cli_body(report, capsys):
    text = format_report(report)
    assert "envelope_ok" in text and "precision" not in text.split("\n")[0]
    code = main_validate_scorers(str(LABELS), str(CARD_PATH), [str(SCENARIOS)])
    out = capsys.readouterr().out
    assert "never_violations" in out and "thresholds:" in out
    assert code == 0


def test_bad_labels_path_is_input_error(capsys):
    assert main_validate_scorers(str(REPO / "no-such-dir"), str(CARD_PATH), []) == 2
    assert "not found" in capsys.readouterr().err
