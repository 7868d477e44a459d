"""The shape of the house: one folder per stage, imports only down the flow, no cycles.

Every ``import`` and ``from … import`` under ``src/agenteval`` counts, including those inside functions;
only imports under ``if TYPE_CHECKING:`` are left out (they never run). See ARCHITECTURE.md for the flow.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "agenteval"

# The flow, lowest first. A module may import its own stage and any stage with a lower rank.
# Rank 0 is the shared base: leaf modules every stage may use.
RANK: dict[str, int] = {
    "_version": 0, "errors": 0, "redact": 0, "fileio": 0, "data": 0,
    "testing": 0,  # the fake API: a standalone server, imports only the base
    "inputs": 1,  # card, scenarios, config, coverage, golden sets
    "plan": 2,  # the matrix and the exact request per cell
    "backends": 3,  # replay, the Anthropic SDK, the agent runtime, rate limits, pricing
    "scorers": 4,  # pure checks; the judge asks the backend layer
    "results": 5,  # the run directory: the one reader and writer
    "analysis": 6,  # statistics, the metric registry, summary, k-of-n verdicts
    "views": 7,  # report, compare, trend, gate, export
    "run": 8,  # the engine that drives plan -> backend -> scorers -> results -> analysis -> views
    "integrations": 9,  # pytest plugin
    "cli": 10,
    "__init__": 11,  # the package's public surface (lazy re-exports)
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    name = ".".join(rel.parts)
    return name.removesuffix(".__init__")


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                for n in ast.walk(sub):
                    if hasattr(n, "lineno"):
                        lines.add(n.lineno)
    return lines


def _imports() -> dict[str, set[tuple[str, int]]]:
    """module -> {(imported agenteval module, line)} for every import that runs."""
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    out: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_lines(tree)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                if not mod.startswith("agenteval"):
                    continue
                subs = [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in modules]
                targets = subs or [mod]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("agenteval")]
            for t in targets:
                while t not in modules and "." in t:
                    t = t.rsplit(".", 1)[0]
                if t != name:
                    out[name].add((t, node.lineno))
    return out


def test_every_stage_folder_has_a_rank() -> None:
    stages = {p.stem if p.is_file() else p.name for p in SRC.iterdir()
              if (p.suffix == ".py" or (p.is_dir() and not p.name.startswith("__")))}
    unknown = stages - set(RANK)
    assert not unknown, f"new top-level module(s) {unknown}: give each a place in the flow (RANK, ARCHITECTURE.md)"


def test_imports_only_point_down_the_flow() -> None:
    bad = []
    for mod, targets in _imports().items():
        src = _stage(mod)
        for target, line in targets:
            dst = _stage(target)
            if dst == src:
                continue
            if target == "agenteval" and src != "__init__":
                bad.append(f"{mod}:{line} imports the package root (import the module it needs)")
            elif RANK[dst] > RANK[src]:
                bad.append(f"{mod}:{line} ({src}) imports {target} ({dst}), which is later in the flow")
    assert not bad, "\n".join(sorted(bad))


def test_no_import_cycles_including_imports_inside_functions() -> None:
    graph = {m: {t for t, _ in ts} for m, ts in _imports().items()}
    # A package's own __init__ importing its submodules (re-exports) is not a dependency of theirs on it.
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_rule_id_literal_in_source() -> None:
    """Nothing about one card in Python: rule ids like "never.3" live in data files keyed by rule identity."""
    pat = re.compile(r"""["'](?:never|always|generative|critical|evaluative|informative)\.\d+["']""")
    hits = [f"{p.relative_to(SRC)}:{i}" for p in SRC.rglob("*.py")
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pat.search(line)]
    assert not hits, hits


def test_tests_mirror_the_source_folders() -> None:
    tests = Path(__file__).resolve().parent
    for stage in ("inputs", "plan", "backends", "scorers", "results", "analysis", "views", "run", "cli"):
        assert (tests / stage).is_dir(), f"tests/{stage}/ missing: tests mirror src/agenteval/{stage}/"
