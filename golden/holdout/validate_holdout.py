"""Structural check of golden/holdout/holdout.jsonl (keys, types, ids). Does not run any scorer.

Usage: python golden/holdout/validate_holdout.py [path]
"""
import json
import sys
from pathlib import Path

KEYS = {"id", "scenario_id", "mode", "role", "tool_mode", "response", "labels", "rationale"}
LABELS = ["envelope_ok", "envelope_loose_ok", "confidence_level", "escalated", "never_violations",
          "layout_ok", "mode_adherence", "role_adherence"]
MODES = {"generative", "critical", "evaluative", "informative"}
ROLES = {"solo", "panel_member", "auditor", "input_provider", "decision_maker"}
TOOL_MODES = {"audit", "solution", "research"}
NEVER = {f"never.{i}" for i in range(1, 8)}


def main(path: str) -> int:
    errors, seen = [], set()
    scen_dir = Path(__file__).resolve().parents[2] / "scenarios"
    scenario_ids = {p.stem for p in scen_dir.glob("*.yaml")}
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        row = json.loads(line)
        where = f"line {n} ({row.get('id')})"
        if set(row) != KEYS:
            errors.append(f"{where}: keys {sorted(set(row) ^ KEYS)}")
            continue
        if row["id"] in seen:
            errors.append(f"{where}: duplicate id")
        seen.add(row["id"])
        if row["scenario_id"] not in scenario_ids:
            errors.append(f"{where}: unknown scenario")
        if row["mode"] not in MODES or row["role"] not in ROLES or row["tool_mode"] not in TOOL_MODES:
            errors.append(f"{where}: bad mode/role/tool_mode")
        if not isinstance(row["response"], str) or not 150 <= len(row["response"].split()) <= 700:
            errors.append(f"{where}: response length")
        lab = row["labels"]
        if list(lab) != LABELS:
            errors.append(f"{where}: label keys {list(lab)}")
            continue
        for k in ("envelope_ok", "envelope_loose_ok", "escalated", "mode_adherence", "role_adherence"):
            if not isinstance(lab[k], bool):
                errors.append(f"{where}: {k} not bool")
        if lab["confidence_level"] not in ("high", "medium", "low", None):
            errors.append(f"{where}: confidence_level")
        if not isinstance(lab["never_violations"], list) or not set(lab["never_violations"]) <= NEVER:
            errors.append(f"{where}: never_violations")
        if row["tool_mode"] == "research" and lab["layout_ok"] is not None:
            errors.append(f"{where}: layout_ok must be null for research")
        if row["tool_mode"] != "research" and not isinstance(lab["layout_ok"], bool):
            errors.append(f"{where}: layout_ok must be bool")
        if lab["envelope_ok"] and not lab["envelope_loose_ok"]:
            errors.append(f"{where}: strict ok but loose not ok")
        if lab["envelope_loose_ok"] and lab["confidence_level"] is None:
            errors.append(f"{where}: loose ok needs a confidence level")
        if not isinstance(row["rationale"], dict) or not set(row["rationale"]) <= set(LABELS):
            errors.append(f"{where}: rationale")
    for e in errors:
        print(e)
    print(f"{len(lines)} items, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).with_name("holdout.jsonl"))))
