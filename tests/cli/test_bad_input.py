"""Bad input (issue 7): every malformed file in ``tests/data/bad/`` gives exit 2 and one line naming the
file and the line or field, never a traceback, and leaves the results directory untouched.

Each case is copied into a fresh tmp project (so relative fixture paths work) whose ``results/`` already
holds an earlier run, then driven through the CLI entry point ``agenteval.cli.main`` in-process (fast);
a few cases also go through a real subprocess to prove the console path behaves the same. The 50 MB
files and the symlink are generated here, never committed. See ``tests/data/bad/README.md``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from agenteval.cli import main as cli_main
from tests.cli.test_cli import assert_one_line_error, cli
from tests.conftest import CARD, MINI_SCENARIO, REPO

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
FIFTY_MB = 50 * 1024 * 1024
EARLIER_RUN = "20250101T000000Z-mlops-engineer-abc123"


# --------------------------------------------------------------------------- the corpus table


@dataclass(frozen=True)
class Case:
    kind: str  # scenarios | cards | configs | responses | recordings | scoring
    name: str  # file name under tests/data/bad/<kind>/ (or a generated one)
    needles: tuple[str, ...]  # substrings of the one-line error besides the file name
    names: str = ""  # the file the error must name, when it is not the case file (default: ``name``)
    only: tuple[str, ...] = ()  # run only these commands of the kind (default: all of them)

    @property
    def culprit(self) -> str:
        return self.names or self.name


SCENARIOS = [
    Case("scenarios", "yaml_syntax_error.yaml", (":6:", "invalid YAML")),
    Case("scenarios", "top_level_list.yaml", (":1:", "top level must be a mapping, got list")),
    Case("scenarios", "top_level_scalar.yaml", (":1:", "top level must be a mapping, got str")),
    Case("scenarios", "unknown_field.yaml", (":5:", "colour: unknown field")),
    Case("scenarios", "unknown_nested_field.yaml", ("expect.shuold_escalate: unknown field",)),
    Case("scenarios", "wrong_type_escalate.yaml", (":5:", "expect.should_escalate:", "boolean")),
    Case("scenarios", "wrong_type_modes.yaml", (":5:", "modes:", "valid list")),
    Case("scenarios", "unknown_tool_mode.yaml", (":4:", "tool_mode:", "'audit'")),
    Case("scenarios", "bad_id.yaml", (":1:", "id:", "pattern")),
    Case("scenarios", "missing_prompt.yaml", ("prompt: required field is missing",)),
    Case("scenarios", "empty_prompt.yaml", (":3:", "prompt:", "at least 1 character")),
    Case("scenarios", "duplicate_id.yaml", ("id:", "duplicate scenario id 'mini-audit'", "mini-audit.yaml")),
    Case("scenarios", "unknown_mode.yaml", ("modes: unknown mode 'dreamy'",)),
    Case("scenarios", "unknown_primary_mode.yaml", ("primary_mode: unknown mode 'whimsical'",)),
    Case("scenarios", "unknown_role.yaml", ("roles: unknown role 'jester'",)),
    Case("scenarios", "unknown_never_rule.yaml", ("expect.tempts:", "'never.99'")),
    Case("scenarios", "unknown_trigger.yaml", ("expect.triggers:", "'trigger.42'")),
    Case("scenarios", "bad_regex.yaml", ("expect.planted_defects.0.evidence:", "not a valid regex")),
    Case("scenarios", "context_dotdot.yaml", ("context[1]:", "escapes scenarios/fixtures/ via '..'")),
    Case("scenarios", "context_absolute.yaml", ("context[0]:", "'/etc/passwd' is absolute")),
    Case("scenarios", "context_symlink.yaml", ("context[0]:", "outside scenarios/fixtures/")),
    Case("scenarios", "context_missing.yaml", ("context[0]:", "'pipe/nope.py' not found")),
    Case("scenarios", "python_tag.yaml", (":3:", "invalid YAML", "could not determine a constructor")),
    Case("scenarios", "billion_laughs.yaml", ("tags.0:",)),
    Case("scenarios", "control_char.yaml", (":2:", "invalid YAML", "#x0000")),
    Case("scenarios", "invalid_utf8.yaml", (":2:", "not valid UTF-8")),
    Case("scenarios", "empty.yaml", ("scenario file is empty",)),
    Case("scenarios", "whitespace_only.yaml", ("scenario file has no content",)),
    Case("scenarios", "deep_nesting.yaml", ("invalid YAML: nested too deeply",)),
    Case("scenarios", "huge_50mb.yaml", ("too large",)),  # generated
]

# (case, lint-card exit): lint-card reports a card it cannot parse as `PATH:LINE: error: ...` with exit 1
# and exits 2 only for a file it cannot read at all (README: "exit 0 warnings only, 1 errors, 2 unreadable").
CARDS = [
    (Case("cards", "frontmatter_not_mapping.md", (":2:", "frontmatter must be a YAML mapping")), 1),
    (Case("cards", "frontmatter_python_tag.md", (":2:", "could not determine a constructor")), 1),
    (Case("cards", "no_frontmatter.md", (":1:", "no YAML frontmatter")), 1),
    (Case("cards", "unclosed_frontmatter.md", (":1:", "not closed")), 1),
    (Case("cards", "empty.md", (":1:", "no YAML frontmatter")), 1),
    (Case("cards", "invalid_utf8.md", (":17:", "not valid UTF-8")), 2),
    (Case("cards", "huge_50mb.md", ("too large",)), 2),  # generated
]

# Issue 13: only a card with nothing to evaluate is an error; these load, each deviation a warning on its
# line (lint-card exit 0): (file, line, substring of the warning)
CARDS_THAT_LOAD = [
    ("no_output_format.md", 16, "no '## Output Format' section"),
    ("no_envelope.md", 32, "no envelope"),
    ("frontmatter_yaml_error.md", 3, "frontmatter block 'cognitive_modes' is not valid YAML"),
    ("frontmatter_bad_indent.md", 6, "frontmatter block 'cognitive_modes' is not valid YAML"),
    ("missing_escalation.md", 2, "no escalation"),
    ("bad_threshold.md", 11, "confidence_threshold 7 is not a number"),
    ("unknown_default_mode.md", 6, "default 'dreamy' is not one of"),
    ("wrong_type_mode.md", 5, "cognitive_modes.critical.mindset is not a string"),
    ("wrong_type_role.md", 8, "ensemble role 'solo' is a list"),
    ("deep_nesting.md", 14, "nested too deeply"),
]

CONFIGS = [
    Case("configs", "yaml_syntax_error.yaml", (":3:", "invalid YAML")),
    Case("configs", "top_level_list.yaml", (":1:", "top level must be a mapping")),
    Case("configs", "unknown_field.yaml", ("colour: unknown field",)),
    Case("configs", "wrong_type.yaml", ("epochs:", "valid integer")),
    Case("configs", "out_of_range.yaml", ("concurrency:", "greater than or equal to 1")),
    Case("configs", "unknown_backend.yaml", ("backend:", "'replay', 'anthropic' or 'agent'")),
    Case("configs", "scenarios_not_list.yaml", ("scenarios:", "valid list")),
    Case("configs", "python_tag.yaml", (":2:", "could not determine a constructor")),
    Case("configs", "invalid_utf8.yaml", (":2:", "not valid UTF-8")),
    Case("configs", "missing_card.yaml", ("missing_card.yaml", "card: card file"), names="cards/no-such-card.md"),
    Case("configs", "missing_scenarios_dir.yaml", ("scenario path not found",), names="no-such-folder"),
    Case("configs", "missing_scoring.yaml", ("scoring config not found",), names="no-such-scoring.yaml",
         only=("run",)),  # `validate` does not read the scoring config
    Case("configs", "deep_nesting.yaml", ("invalid YAML: nested too deeply",)),
    Case("configs", "huge_50mb.yaml", ("too large",)),  # generated
]

RESPONSES = [
    Case("responses", "broken_line.jsonl", (":2:", "not valid JSON")),
    Case("responses", "not_an_object.jsonl", (":2:", "not a JSON object")),
    Case("responses", "missing_field.jsonl", (":2:", "response: required field is missing")),
    Case("responses", "wrong_type.jsonl", (":1:", "response:", "valid string")),
    Case("responses", "duplicate_id.jsonl", (":2:", "id: duplicate id 'r1'")),
    Case("responses", "unknown_mode.jsonl", (":2:", "mode: unknown mode 'dreamy'")),
    Case("responses", "unknown_role.jsonl", (":1:", "role: unknown role 'jester'")),
    Case("responses", "invalid_utf8.jsonl", (":1:", "not valid UTF-8")),
    Case("responses", "deep_nesting.jsonl", (":1:", "nested too deeply")),
]

RECORDINGS = [
    Case("recordings", "broken_line.jsonl", (":2:", "not valid JSON")),
    Case("recordings", "missing_provenance.jsonl", (":1:", "provenance:")),
    Case("recordings", "deep_nesting.jsonl", (":1:", "nested too deeply")),
]

# the optional scoring config (`scoring:` in agenteval.yaml): loaded before a run directory is created
SCORING = [
    Case("scoring", "wrong_type.yaml", ("max_scan_chars:", "valid integer")),
    Case("scoring", "unknown_field.yaml", ("severity:",)),
    Case("scoring", "out_of_range.yaml", ("rank_high:",)),
    Case("scoring", "not_a_mapping.yaml", ("must be a mapping",)),
    Case("scoring", "yaml_syntax_error.yaml", ("cannot read scoring config",)),
]

GENERATED = {"huge_50mb.yaml", "huge_50mb.md"}


# --------------------------------------------------------------------------- the tmp project


def _project(root: Path) -> Path:
    """A tmp project: card, one valid scenario + fixture, an escaping symlink, and an earlier run."""
    (root / "agenteval.yaml").write_text(
        "card: cards/mlops-engineer.md\nscenarios: [scenarios]\nfixtures: scenarios/fixtures\n"
        "recordings: recs\noutput_dir: results\nreport: false\n")
    (root / "cards").mkdir()
    shutil.copy(CARD, root / "cards" / "mlops-engineer.md")
    sdir = root / "scenarios"
    (sdir / "fixtures" / "pipe").mkdir(parents=True)
    (sdir / "fixtures" / "pipe" / "train.py").write_text("scaler.fit(X)\nX_tr, X_va = split(X)\n")
    (sdir / "mini-audit.yaml").write_text(MINI_SCENARIO.format(id="mini-audit", tool_mode="audit"))
    # a folder outside the fixtures, reachable only through a symlink inside them (context_symlink.yaml)
    (root / "outside").mkdir()
    (root / "outside" / "secret.txt").write_text("not a fixture\n")
    (sdir / "fixtures" / "outside").symlink_to(root / "outside", target_is_directory=True)
    (root / "recs").mkdir()
    (root / "responses").mkdir()
    (root / "responses" / "ok.jsonl").write_text(
        '{"id": "r1", "scenario_id": "mini-audit", "mode": "critical", "role": "solo", "response": "fine"}\n')
    # an earlier run that no failed command may touch, and an earlier `score --out` file
    run = root / "results" / EARLIER_RUN
    run.mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"run_id": EARLIER_RUN, "status": "finished"}) + "\n")
    (run / "plan.json").write_text("[]\n")
    (run / "transcripts.jsonl").write_text('{"item_id": "a", "response": "earlier answer"}\n')
    (run / "scores.jsonl").write_text('{"id": "a", "status": "ok"}\n')
    (run / "summary.json").write_text("{}\n")
    (root / "results" / "notes.txt").write_text("kept\n")
    (root / "out.jsonl").write_text('{"id": "earlier", "envelope_ok": true}\n')
    return root


def _snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and folder (None) under results/, plus the earlier score output."""
    snap: dict[str, bytes | None] = {}
    for p in sorted((root / "results").rglob("*")):
        snap[str(p.relative_to(root))] = None if p.is_dir() else p.read_bytes()
    snap["out.jsonl"] = (root / "out.jsonl").read_bytes()
    return snap


def _generate(case: Case, dest: Path) -> None:
    """Write a generated case (a 50 MB file) to ``dest``: a valid head, then padding in a comment/prompt."""
    head = {
        "scenarios": "id: huge\ntitle: Huge\ntool_mode: audit\nexpect: {should_escalate: false}\nprompt: |\n",
        "cards": CARD.read_text(encoding="utf-8") + "\n",
        "configs": "scenarios: [scenarios]\n",
    }[case.kind]
    pad = "  " if case.kind == "scenarios" else "# "
    line = (pad + "x" * 1000 + "\n").encode()
    with open(dest, "wb") as fh:
        fh.write(head.encode())
        fh.write(line * (FIFTY_MB // len(line) + 1))
    assert dest.stat().st_size > FIFTY_MB


def _place(case: Case, proj: Path) -> str:
    """Put the case file into the project; return its path relative to the project."""
    rel = {"scenarios": "scenarios", "cards": "cards", "configs": ".", "responses": "responses",
           "recordings": "recs", "scoring": "."}[case.kind]
    if case.kind == "scoring":
        cfg = proj / "agenteval.yaml"
        cfg.write_text(cfg.read_text() + f"scoring: {case.name}\n")
    dest = proj / rel / case.name
    if case.name in GENERATED:
        _generate(case, dest)
    else:
        shutil.copyfile(BAD / case.kind / case.name, dest)
    return str(Path(rel) / case.name) if rel != "." else case.name


def _commands(case: Case, rel: str) -> list[list[str]]:
    cmds = _all_commands(case, rel)
    return [c for c in cmds if c[0] in case.only] if case.only else cmds


def _all_commands(case: Case, rel: str) -> list[list[str]]:
    if case.kind == "scoring":
        return [["score", "--responses", "responses/ok.jsonl", "--out", "out.jsonl"], ["run"]]
    if case.kind == "scenarios":
        return [["validate", rel, "scenarios/mini-audit.yaml"], ["validate"], ["run"]]
    if case.kind == "cards":
        return [["validate", rel], ["run", "--card", rel]]
    if case.kind == "configs":
        return [["validate", "--config", rel], ["run", "--config", rel]]
    if case.kind == "responses":
        return [["score", "--responses", rel, "--out", "out.jsonl",
                 "--scenarios", "scenarios/mini-audit.yaml"]]
    return [["run"]]  # recordings


def _main(cwd: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
          *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI entry point in-process; return what a subprocess would (exit code, stdout, stderr)."""
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("AGENTEVAL_DEBUG", raising=False)
    capsys.readouterr()
    code = cli_main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["agenteval", *args], code, out, err)


def _check(p: subprocess.CompletedProcess[str], case: Case, rel: str) -> None:
    assert_one_line_error(p, *case.needles)
    line = next(ln for ln in p.stderr.splitlines() if ln.startswith("agenteval: error:"))
    # names the file: the case file itself, or (duplicate id) the other file with this one as "also in"
    assert case.culprit in line, line
    assert "internal error" not in p.stderr and "Traceback" not in p.stdout
    # the PATH[:LINE]: field: message shape
    assert re.match(r"^agenteval: error: \S+?(:\d+)?: ", line), line


ALL = [*SCENARIOS, *(c for c, _ in CARDS), *CONFIGS, *RESPONSES, *RECORDINGS, *SCORING]


def test_corpus_is_complete():
    """Every committed corpus file has a row in the table, and vice versa; there are at least 20."""
    committed = {f"{f.parent.name}/{f.name}" for f in BAD.glob("*/*") if f.is_file()}
    tabled = {f"{c.kind}/{c.name}" for c in ALL if c.name not in GENERATED}
    tabled |= {f"cards/{name}" for name, _line, _needle in CARDS_THAT_LOAD}
    assert committed == tabled
    assert len(ALL) >= 20
    readme = (BAD / "README.md").read_text(encoding="utf-8")
    for c in ALL:
        assert c.name in readme, f"{c.kind}/{c.name} is not described in tests/data/bad/README.md"
    assert not any(f.is_symlink() for f in BAD.rglob("*"))
    assert all(f.stat().st_size < 64 * 1024 for f in BAD.rglob("*") if f.is_file())


@pytest.mark.parametrize("case", ALL, ids=[f"{c.kind}/{c.name}" for c in ALL])
def test_bad_input_exit_2_one_line_results_untouched(case, tmp_path, capsys, monkeypatch):
    proj = _project(tmp_path)
    rel = _place(case, proj)
    before = _snapshot(proj)
    for args in _commands(case, rel):
        p = _main(proj, capsys, monkeypatch, *args)
        _check(p, case, rel)
        assert _snapshot(proj) == before, f"{args} changed results/ or out.jsonl"
        assert not (proj / "pwned.txt").exists(), "a YAML tag was executed"


@pytest.mark.parametrize(("name", "line", "needle"), CARDS_THAT_LOAD, ids=[c[0] for c in CARDS_THAT_LOAD])
def test_odd_card_loads_with_warning(name, line, needle, tmp_path, capsys, monkeypatch):
    """lint-card: a card with something to evaluate loads; each deviation is a warning with its line."""
    proj = _project(tmp_path)
    rel = _place(Case("cards", name, ()), proj)
    p = _main(proj, capsys, monkeypatch, "lint-card", rel)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr + p.stdout
    assert any(ln.startswith(f"{rel}:{line}: warning: ") and needle in ln for ln in p.stdout.splitlines()), p.stdout


@pytest.mark.parametrize("case,lint_exit", CARDS, ids=[c.name for c, _ in CARDS])
def test_bad_card_lint(case, lint_exit, tmp_path, capsys, monkeypatch):
    """lint-card: a card it cannot parse is one `PATH:LINE: error:` finding (exit 1); unreadable is exit 2."""
    proj = _project(tmp_path)
    rel = _place(case, proj)
    p = _main(proj, capsys, monkeypatch, "lint-card", rel)
    if lint_exit == 2:
        _check(p, case, rel)
        return
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr + p.stdout and not p.stderr.strip()
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1, p.stdout
    assert re.match(rf"^{re.escape(rel)}:\d+: error: ", lines[0]), lines[0]
    for n in case.needles:
        assert n in lines[0], (n, lines[0])


@pytest.mark.parametrize("case", [SCENARIOS[0], SCENARIOS[20], CARDS[0][0], CONFIGS[0], RESPONSES[0]],
                         ids=lambda c: f"{c.kind}/{c.name}")
def test_bad_input_through_subprocess(case, tmp_path):
    """The console path (a real process) prints the same single line and exit 2."""
    proj = _project(tmp_path)
    rel = _place(case, proj)
    before = _snapshot(proj)
    args = _commands(case, rel)[-1]
    p = cli(*args, cwd=proj)
    _check(p, case, rel)
    assert _snapshot(proj) == before


def test_fixture_symlink_pointing_inside_is_refused_too(tmp_path, capsys, monkeypatch):
    """A symlink inside the fixtures is refused even when it points back inside them."""
    proj = _project(tmp_path)
    fx = proj / "scenarios" / "fixtures"
    (fx / "alias.py").symlink_to(fx / "pipe" / "train.py")
    (proj / "scenarios" / "link.yaml").write_text(
        "id: link\ntitle: t\nprompt: p\ntool_mode: audit\ncontext: [alias.py]\n"
        "expect: {should_escalate: false}\n")
    before = _snapshot(proj)
    p = _main(proj, capsys, monkeypatch, "run")
    assert_one_line_error(p, "link.yaml", "context[0]", "symlink")
    assert _snapshot(proj) == before


@pytest.mark.parametrize("out", ["results", "out.jsonl/sub.jsonl", "/proc/no-such-dir/out.jsonl"])
def test_score_out_path_that_cannot_be_written(out, tmp_path, capsys, monkeypatch):
    """`score --out` a directory, a path under a file, or an impossible place: one line, exit 2."""
    proj = _project(tmp_path)
    before = _snapshot(proj)
    p = _main(proj, capsys, monkeypatch, "score", "--responses", "responses/ok.jsonl", "--out", out)
    assert_one_line_error(p, out, "cannot write")
    assert _snapshot(proj) == before
    assert not [f for f in proj.rglob(".*.tmp")], "a temp file was left behind"


def test_deeply_nested_scoring_config(tmp_path, capsys, monkeypatch):
    proj = _project(tmp_path)
    (proj / "deep.yaml").write_text("never_overrides: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n")
    cfg = proj / "agenteval.yaml"
    cfg.write_text(cfg.read_text() + "scoring: deep.yaml\n")
    before = _snapshot(proj)
    p = _main(proj, capsys, monkeypatch, "run")
    assert _snapshot(proj) == before
    assert_one_line_error(p, "deep.yaml")


def test_dangling_scenario_symlink(tmp_path, capsys, monkeypatch):
    """A dangling scenario symlink is a one-line error, not a traceback."""
    proj = _project(tmp_path)
    (proj / "scenarios" / "dangling.yaml").symlink_to(tmp_path / "nowhere.yaml")
    p = _main(proj, capsys, monkeypatch, "validate")
    assert_one_line_error(p, "dangling.yaml", "not found")


# --------------------------------------------------------------------------- safe YAML only

_UNSAFE_YAML = re.compile(
    r"yaml\.(load|load_all|full_load|full_load_all|unsafe_load|unsafe_load_all)\s*\("
    r"|yaml\.(Loader|FullLoader|UnsafeLoader|CLoader|CFullLoader|CUnsafeLoader|UnsafeConstructor|"
    r"FullConstructor|Constructor)\b"
    r"|from\s+yaml\s+import\s+[^\n]*\b(load|load_all|full_load|unsafe_load|Loader|FullLoader|UnsafeLoader)\b"
)


def test_yaml_is_only_loaded_safely():
    """No unsafe YAML loader anywhere in src/: only ``yaml.safe_load`` / ``SafeLoader``."""
    offenders = []
    for f in sorted((REPO / "src").rglob("*.py")):
        for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), start=1):
            if _UNSAFE_YAML.search(line):
                offenders.append(f"{f.relative_to(REPO)}:{i}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
    assert _UNSAFE_YAML.search("data = yaml.load(text, Loader=yaml.FullLoader)")
    assert not _UNSAFE_YAML.search("data = yaml.safe_load(text)")
