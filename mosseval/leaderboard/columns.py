"""Columns: one per (task, comparability key). Runs whose results on a task are not comparable
(``mosseval.comparability.task_key`` differs: prompt, frames, decoding, scoring, version, seed, metric
version, producing harness) never share a column: the task gets one column per variant, labelled by what
tells them apart (``mvbench [official, 16f]`` / ``mvbench [reasoning, 8f]``), and a warning."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from mosseval.comparability import changed_fields, key_hash
from mosseval.leaderboard.entries import Entry, RunDigest
from mosseval.leaderboard.records import Column


@dataclass
class _Variant:
    entry: Entry
    name: str
    runs: int = 0
    top: bool = False
    members: set[str] = field(default_factory=set)


def _split_label(task: str, variants: list[Entry], ckeys: list[dict], idx: int) -> str:
    """Label for one of several incompatible variants of the same task name: ``task [protocol, frames]``;
    the version is added when that is not enough, then a short hash of the comparability key."""
    origins = {e.info.origin for e in variants}

    def base(i: int) -> tuple:
        e = variants[i].info
        parts = []
        if len(origins) > 1 and e.origin != "mosseval":
            parts.append(e.origin)
        parts.append(str(e.protocol or "?"))
        if e.frames_label:
            parts.append(e.frames_label)
        return tuple(parts)

    others = [j for j in range(len(variants)) if j != idx]
    parts = list(base(idx))
    same = [j for j in others if base(j) == base(idx)]
    if same:
        parts.append(f"v{variants[idx].info.version}")
        same = [j for j in same if str(variants[j].info.version) == str(variants[idx].info.version)]
    if same:
        parts.append(f"cfg {key_hash(ckeys[idx], 6)}")
    return f"{task} [{', '.join(parts)}]"


def build_columns(runs: list[RunDigest]) -> tuple[list[Column], dict[tuple[int, int], str], list[str]]:
    """Group entries by name, split by comparability key. Returns the ordered columns, a map
    (run index, entry index) -> column id, and warnings."""
    variants: dict[str, _Variant] = {}
    by_name: dict[str, list[str]] = defaultdict(list)
    where: dict[tuple[int, int], str] = {}
    for ri, run in enumerate(runs):
        for ei, e in enumerate(run.entries):
            name = e.name if e.info.origin == "mosseval" else f"{e.info.origin}:{e.name}"
            cid = f"{name}@{key_hash(e.ckey, 8)}"
            if cid not in variants:
                variants[cid] = _Variant(e, name)
                by_name[name].append(cid)
            v = variants[cid]
            v.runs += 1
            v.top = v.top or e.top_level
            where[(ri, ei)] = cid
    for ri, run in enumerate(runs):  # member columns of a group column
        names = {e.name: ei for ei, e in enumerate(run.entries)}
        for ei, e in enumerate(run.entries):
            if e.kind == "group":
                for m in e.members:
                    if m in names:
                        variants[where[(ri, ei)]].members.add(where[(ri, names[m])])

    warnings: list[str] = []
    columns: list[Column] = []
    for cids in by_name.values():
        entries = [variants[c].entry for c in cids]
        ckeys = [e.ckey for e in entries]
        split = len(cids) > 1
        diffs = changed_fields(ckeys) if split else []
        for i, cid in enumerate(cids):
            v = variants[cid]
            e = v.entry
            external = e.info.origin != "mosseval"
            label = _split_label(e.name, entries, ckeys, i) if split else e.name
            if external and not split:
                label = f"{e.name} ({e.info.origin})"
            columns.append(Column(
                **e.info.model_dump(), id=cid, task=e.name, label=label, kind=e.kind,  # type: ignore[arg-type]
                top_level=v.top, group=e.group, members=sorted(v.members), external=external, split=split,
                split_differs=diffs, comparability_key=e.ckey, n_runs=v.runs, notes=list(e.notes)))
    by_id = {c.id: c for c in columns}
    for c in columns:
        for m in c.members:
            if m in by_id:
                by_id[m].group_column = c.id
    # group keys differ through their members' keys: name the members' differing fields instead
    for c in columns:
        if c.split and c.kind == "group":
            inner = sorted({d for m in c.members if m in by_id for d in by_id[m].split_differs})
            own = [d for d in c.split_differs if not d.startswith("members")]
            c.split_differs = own + [d for d in inner if d not in own] or c.split_differs
    done: set[str] = set()  # one warning per split task; subtasks of a split group are covered by it
    for c in columns:
        name = c.id.rsplit("@", 1)[0]
        if not c.split or name in done:
            continue
        group_of = [x for x in columns if x.id.rsplit("@", 1)[0] == name]
        if all(not x.top_level and by_id.get(x.group_column or "") and by_id[x.group_column].split  # type: ignore[index]
               for x in group_of):
            continue
        done.add(name)
        diffs = sorted({d for x in group_of for d in x.split_differs})
        subs = " (and its subtasks)" if c.kind == "group" else ""
        warnings.append(f"{c.task!r}{subs} was run under {len(group_of)} incompatible settings (differing: "
                        f"{', '.join(diffs)}); shown as separate columns, never merged")

    # mosseval before external; top-level columns alphabetically, each group followed by its subtasks
    def order(c: Column) -> tuple:
        return (c.external, c.task.lower(), c.label)

    ordered: list[Column] = []
    placed: set[str] = set()
    for c in sorted((c for c in columns if c.top_level), key=order):
        ordered.append(c)
        placed.add(c.id)
        for m in sorted((by_id[m] for m in c.members if m in by_id), key=order):
            if m.id not in placed and not m.top_level:
                ordered.append(m)
                placed.add(m.id)
    ordered.extend(sorted((c for c in columns if c.id not in placed), key=order))
    return ordered, where, warnings


__all__ = ["build_columns"]
