"""``agenteval merge``: combine the shards of a matrix (``agenteval run --shard i/n``) into one run.

The shards must come from the same card and scenario texts (content hashes), the same backend, model
and settings (everything but ``shard`` and execution details such as ``concurrency``), and must not
share any item. When every shard of an ``i/n`` split is present, the plan is put back in the order an
unsharded run would have had (shards take whole cells round-robin); otherwise shards are concatenated
in the order given. The merged run directory has the usual files: ``manifest.json`` (with
``settings.merged_from``), ``plan.json``, ``transcripts.jsonl``, ``scores.jsonl``, ``summary.json``
and, unless disabled, the report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agenteval.errors import InputError
from agenteval.results.store import (
    MANIFEST,
    PLAN,
    SCORES,
    RunDir,
    RunManifest,
    ScoreLine,
    TranscriptRecord,
    atomic_write_jsonl,
    utcnow,
)

EXECUTION_SETTINGS = frozenset(
    {"shard", "concurrency", "cache_dir", "use_cache", "batch", "report", "merged_from"}
)
"""Settings that may differ between shards: they change how a shard ran, not what it measured."""


class _Shard:
    def __init__(self, path: Path) -> None:
        self.rd = RunDir.open(path)
        self.manifest: RunManifest = self.rd.read_manifest()
        if not (self.rd.path / SCORES).is_file():
            raise InputError("shard has no scores.jsonl (not finished)", path=self.rd.path / SCORES)
        self.plan = self.rd.read_plan()
        self.scores = self.rd.read_scores()
        self.transcripts = self.rd.read_transcripts()
        self.spec = _parse_shard(self.manifest.settings.get("shard"), self.rd.path)

    @property
    def path(self) -> Path:
        return self.rd.path


def _parse_shard(spec: Any, path: Path) -> tuple[int, int] | None:
    if not spec:
        return None
    try:
        i, n = (int(x) for x in str(spec).split("/"))
    except ValueError:
        raise InputError(f"bad shard spec '{spec}'", path=path / MANIFEST, field="settings.shard") from None
    return i, n


def item_id(p: dict[str, Any]) -> str:
    """The id of a plan item dict (``scenario/mode/role/epoch``)."""
    return f"{p['scenario_id']}/{p['mode']}/{p['role']}/{p['epoch']}"


def _validate(shards: Sequence[_Shard], *, allow_partial: bool, allow_unfinished: bool) -> None:
    first = shards[0]
    m0 = first.manifest
    seen_paths: set[Path] = set()
    for s in shards:
        rp = s.path.resolve()
        if rp in seen_paths:
            raise InputError("the same run directory is given twice", path=s.path)
        seen_paths.add(rp)
        m = s.manifest
        mp = s.path / MANIFEST
        if m.status != "finished" and not allow_unfinished:
            raise InputError(
                f"shard is not finished (status {m.status}); resume it first", path=mp, field="status"
            )
        if m.card.content_hash != m0.card.content_hash:
            raise InputError(
                f"card differs from {first.path.name} ({m.card.content_hash[:19]} vs "
                f"{m0.card.content_hash[:19]})",
                path=mp,
                field="card.content_hash",
            )
        h0 = {x.id: x.content_hash for x in m0.scenarios}
        h = {x.id: x.content_hash for x in m.scenarios}
        for sid in sorted(set(h0) | set(h)):
            if h0.get(sid) != h.get(sid):
                what = "missing in" if sid not in h else "not in" if sid not in h0 else "differs from"
                raise InputError(f"scenario '{sid}' {what} {first.path.name}", path=mp, field="scenarios")
        b0, b = m0.backend.get("name"), m.backend.get("name")
        if b0 != b:
            raise InputError(f"backend {b} differs from {first.path.name} ({b0})", path=mp, field="backend")
        if m.model != m0.model:
            raise InputError(
                f"model {m.model} differs from {first.path.name} ({m0.model})", path=mp, field="model"
            )
        for key in sorted(set(m.settings) | set(m0.settings)):
            if key in EXECUTION_SETTINGS:
                continue
            if m.settings.get(key) != m0.settings.get(key):
                raise InputError(
                    f"setting differs from {first.path.name}: {m.settings.get(key)!r} vs "
                    f"{m0.settings.get(key)!r}",
                    path=mp,
                    field=f"settings.{key}",
                )
        plan_ids = [item_id(p) for p in s.plan]
        score_ids = [x.id for x in s.scores]
        if Counter(plan_ids) != Counter(score_ids):
            missing = sorted(set(plan_ids) - set(score_ids))[:3]
            raise InputError(
                f"scores.jsonl does not match plan.json (e.g. {', '.join(missing) or 'extra items'})",
                path=s.path / SCORES,
            )
    owner: dict[str, str] = {}
    for s in shards:
        for p in s.plan:
            iid = item_id(p)
            if iid in owner:
                raise InputError(
                    f"item {iid} is in both {owner[iid]} and {s.path.name}: shards overlap",
                    path=s.path / PLAN,
                )
            owner[iid] = s.path.name
    specs = [s.spec for s in shards]
    if all(sp is not None for sp in specs):
        ns = {sp[1] for sp in specs if sp}
        if len(ns) > 1:
            raise InputError(
                f"shards of different splits: {', '.join(sorted(f'{sp[0]}/{sp[1]}' for sp in specs if sp))}",
                path=shards[0].path / MANIFEST,
                field="settings.shard",
            )
        n = ns.pop()
        idx = Counter(sp[0] for sp in specs if sp)
        dup = [i for i, k in idx.items() if k > 1]
        if dup:
            raise InputError(
                f"shard {dup[0]}/{n} given twice", path=shards[0].path / MANIFEST, field="settings.shard"
            )
        missing = [f"{i}/{n}" for i in range(1, n + 1) if i not in idx]
        if missing and not allow_partial:
            raise InputError(
                f"shard(s) {', '.join(missing)} missing (use --allow-partial to merge anyway)",
                path=shards[0].path / MANIFEST,
                field="settings.shard",
            )


def _merged_plan(shards: Sequence[_Shard]) -> list[dict[str, Any]]:
    specs = [s.spec for s in shards]
    if not all(sp is not None for sp in specs) or len({sp[1] for sp in specs if sp}) != 1:
        return [p for s in shards for p in s.plan]
    n = specs[0][1] if specs[0] else 1
    if len(shards) != n:
        return [p for s in sorted(shards, key=lambda s: s.spec or (0, 0)) for p in s.plan]
    # put whole cells back round-robin: the k-th cell of shard i was cell (i-1) + k·n of the full plan
    cells_per_shard: list[list[list[dict[str, Any]]]] = []
    for s in sorted(shards, key=lambda s: s.spec or (0, 0)):
        by_cell: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for p in s.plan:
            by_cell.setdefault((p["scenario_id"], p["mode"], p["role"]), []).append(p)
        cells_per_shard.append(list(by_cell.values()))
    out: list[dict[str, Any]] = []
    for k in range(max(len(c) for c in cells_per_shard)):
        for shard_cells in cells_per_shard:
            if k < len(shard_cells):
                out.extend(shard_cells[k])
    return out


def merge_runs(
    paths: Sequence[str | Path],
    out: str | Path,
    *,
    command: Sequence[str] = (),
    allow_partial: bool = False,
    allow_unfinished: bool = False,
    report: bool = True,
) -> RunDir:
    """Merge shard run directories into a new run directory ``out``; returns it."""
    from agenteval.analysis.summary import summarize

    if len(paths) < 1:
        raise InputError("give at least one run directory")
    dest = Path(out)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InputError("output directory exists and is not empty", path=dest)
    shards = [_Shard(Path(p)) for p in paths]
    _validate(shards, allow_partial=allow_partial, allow_unfinished=allow_unfinished)
    plan = _merged_plan(shards)
    scores: dict[str, ScoreLine] = {x.id: x for s in shards for x in s.scores}
    lines = [scores[item_id(p)] for p in plan]
    transcripts: list[TranscriptRecord] = [t for s in shards for t in s.transcripts]
    m0 = shards[0].manifest
    dest.mkdir(parents=True, exist_ok=True)
    rd = RunDir(dest)
    backend = str(m0.backend.get("name", m0.settings.get("backend", "")))
    summary = summarize(lines, backend=backend)
    summary["run_id"] = rd.run_id
    settings = dict(m0.settings)
    settings["shard"] = None
    settings["merged_from"] = [s.rd.run_id for s in shards]
    finished = [s.manifest.finished_at for s in shards if s.manifest.finished_at]
    manifest = m0.model_copy(
        update={
            "run_id": rd.run_id,
            "status": "finished" if all(s.manifest.status == "finished" for s in shards) else "interrupted",
            "started_at": min(s.manifest.started_at for s in shards),
            "finished_at": max(finished) if finished else utcnow(),
            "command": list(command) or m0.command,
            "settings": settings,
            "plan_size": len(plan),
            "counts": summary["counts"],
            "cost": {"usd": summary["cost_usd"], "tokens": summary["tokens"]},
            "batch_ids": [b for s in shards for b in s.manifest.batch_ids],
            "resumed": sorted(r for s in shards for r in s.manifest.resumed),
        }
    )
    with rd.locked():
        rd.write_plan(plan)
        atomic_write_jsonl(dest / "transcripts.jsonl", (t.model_dump(mode="json") for t in transcripts))
        rd.write_scores(lines)
        rd.write_summary(summary)
        rd.write_manifest(manifest)
    if report:
        from agenteval.views.report import write_run_report

        write_run_report(dest)
    return rd
