"""One run, digested for the board: its model, and one entry per task and group with a cell of numbers,
the comparability key of the column it belongs in, and compact per-sample outcomes for paired tests.

Numbers come from the run's ``RunLog`` (the runner's aggregates, recomputed when stale) and judge
summaries from the judge's own files; nothing is recomputed that the run or the judge already stored.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mosseval.comparability import group_key, task_key
from mosseval.judge.records import JudgeSummary
from mosseval.leaderboard.records import Cell, JudgeHeadline, RunEntry, TaskInfo
from mosseval.leaderboard.sources import BoardInput
from mosseval.records import FrameSpec, RunLog, TaskResult
from mosseval.sampletable import SampleTable


class ItemNumbering:
    """The board's item numbering (item key -> number, shared by every run's per-sample columns); equal
    sequences of numbers are held once (runs of one task list the same items in the same order: 50 runs
    share one array instead of holding 50 copies)."""

    __slots__ = ("number", "_seqs")

    def __init__(self) -> None:
        self.number: dict[str, int] = {}
        self._seqs: dict[tuple[int, int], list[array]] = {}

    def __len__(self) -> int:
        return len(self.number)

    def ids(self, keys: Iterable[str]) -> array:
        number = self.number
        seq = array("i", [number.setdefault(k, len(number)) for k in keys])
        same = self._seqs.setdefault((len(seq), hash(seq.tobytes())), [])
        for old in same:
            if old == seq:
                return old
        same.append(seq)
        return seq


class OutcomeColumn:
    """Per-sample values of one metric in one cell, compactly: board-wide item numbers (``array('i')``, shared
    by the cells that list the same items) and values (``array('d')``), in the order the run holds the items."""

    __slots__ = ("ids", "values")

    def __init__(self, values: dict[str, float], ids: ItemNumbering):
        self.ids = ids.ids(values)
        self.values = array("d", values.values())

    def __len__(self) -> int:
        return len(self.ids)


class Outcomes:
    """Compact per-sample columns of one cell: item (``task/sample id``) -> 1.0 / 0.0 correctness and -> PRR.
    Item keys are numbered once per board (``ids``), so runs on one task share them."""

    __slots__ = ("correct", "prr")

    def __init__(self, correct: dict[str, float], prr: dict[str, float], ids: ItemNumbering):
        self.correct = OutcomeColumn(correct, ids)
        self.prr = OutcomeColumn(prr, ids)

    def of(self, metric: str) -> OutcomeColumn:
        return self.correct if metric == "accuracy" else self.prr


@dataclass
class Entry:
    """One task or group result of one run, before columns are formed."""

    name: str
    kind: str  # "task" | "group"
    group: str | None
    ckey: dict[str, Any]
    top_level: bool
    cell: Cell
    outcomes: Outcomes
    info: TaskInfo
    members: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class RunDigest:
    entry: RunEntry
    """Everything but cells and overall (filled when the board is assembled)."""
    entries: list[Entry]


def frames_label(frames: FrameSpec | dict[str, Any] | None) -> str | None:
    """Short human description of a frame setting: ``16f``, ``1fps≤64``."""
    if not frames:
        return None
    f = frames.model_dump() if isinstance(frames, FrameSpec) else frames
    if f.get("recipe"):
        return f"{f['recipe']} recipe"
    if f.get("strategy") in ("fps", "linspace_fps"):
        fps = f.get("fps")
        fps_s = f"{fps:g}" if isinstance(fps, (int, float)) else "?"
        return f"{fps_s}fps" + (f"≤{f['max_frames']}" if f.get("max_frames") else "")
    return f"{f['num_frames']}f" if f.get("num_frames") else None


def chance_level(table: SampleTable, rows: list[int]) -> float | None:
    """Expected accuracy of a uniform guess over the options, averaged over the items (open-ended items
    count 0); None when no item has options."""
    n_opt = [table.n_options[i] for i in rows]
    if not n_opt or not any(n_opt):
        return None
    return sum(1.0 / k if k else 0.0 for k in n_opt) / len(n_opt)


def headline(judge: dict[str, JudgeSummary]) -> JudgeHeadline | None:
    """The judge number a cell shows: the first rubric (by name) with a value."""
    for name, s in sorted(judge.items()):
        e = s.main
        if e is not None and e.value is not None:
            ag = s.agreement
            return JudgeHeadline(rubric=name, kind=s.kind, value=e, scale=s.scale, n_errors=s.n_errors,
                                 n_pending=s.n_pending, agreement=ag.rate if ag else None,
                                 kappa=ag.cohen_kappa if ag else None)
    return None


def _est(e: Any) -> Any:
    return e if e is not None and e.value is not None else None


def make_cell(res: TaskResult, judge: dict[str, JudgeSummary]) -> Cell:
    return Cell(
        n=res.n, n_errors=res.n_errors, accuracy=_est(res.accuracy), prr=_est(res.prr),
        prr_correct=_est(res.prr_correct), prr_incorrect=_est(res.prr_incorrect),
        prr_not_applicable=res.prr_not_applicable, format_rate=res.format_rate,
        parse_failure_rate=res.parse_failure_rate, error_rate=res.error_rate, approximate=bool(res.approximate),
        judge=dict(judge), judge_primary=headline(judge),
        breakdowns={kind: {k: v for k, v in vals.items() if v.value is not None}
                    for kind, vals in res.breakdowns.items()},
        metric=res.metric, reported_accuracy=res.reported_accuracy, notes=list(res.notes))


def outcomes_of(table: SampleTable, rows: list[int], ids: ItemNumbering) -> Outcomes:
    """The cell's per-sample columns (a later row of the same item replaces the value, keeps the place)."""
    correct: dict[str, float] = {}
    prr: dict[str, float] = {}
    for i in rows:
        key = f"{table.task[i]}/{table.sample_id[i]}"
        correct[key] = 1.0 if table.correct[i] else 0.0
        p = table.prr[i]
        if p is not None:
            prr[key] = p
    return Outcomes(correct, prr, ids)


def published_checks(inp: BoardInput) -> list:
    """Published-number checks of a mosseval run, judged metrics included when it was judged."""
    if inp.log.origin != "mosseval":
        return []
    from mosseval.judge.summary import official_from
    from mosseval.published import check_run

    return check_run(inp.log, judged=official_from(inp.judgements))


def run_entry(inp: BoardInput, index: int) -> RunEntry:
    log: RunLog = inp.log
    spec = log.spec
    model = log.model_identity()
    notes = list(inp.notes)
    if inp.stale is not None:
        notes.insert(0, inp.stale.reason)
    from mosseval.redact import redact_value

    entry = RunEntry(
        run_id=log.run_id, display_name=spec.model, name=spec.model, backend=spec.backend, model=model,
        checkpoint=model.checkpoint, revision=model.revision, params=model.params, date=log.created_at or None,
        updated_at=log.updated_at or None, git_revision=spec.git_revision,
        mosseval_version=spec.mosseval_version or None, origin=log.origin, status=log.status, limit=spec.limit,
        seed=spec.seed, model_args=dict(spec.model_args), identity_hash=log.identity.hash(),
        model_hash=log.identity.model_hash(), eval_hash=log.identity.eval_hash(), run_dir=str(inp.path),
        n_samples=len(inp.table), n_expected=log.n_expected, n_errors=log.n_errors, packages=dict(spec.packages),
        order=index, judged=inp.judgements.judged, stale=inp.stale, published=published_checks(inp), notes=notes)
    return RunEntry.model_validate(redact_value(entry.model_dump(mode="json")))  # secrets never reach the board


def digest_run(inp: BoardInput, index: int, ids: ItemNumbering) -> RunDigest:
    """``ids``: the board's item numbering, extended with this run's items."""
    log = inp.log
    refs = {t.name: t for t in log.spec.tasks}
    by_task: dict[str, list[int]] = {}
    for i, task in enumerate(inp.table.task):
        by_task.setdefault(task, []).append(i)
    entries: list[Entry] = []
    run_frames = frames_label(log.spec.frames) if log.origin != "mosseval" else None
    for name, res in log.results.items():
        tspec = log.task_specs.get(name)
        ref = refs.get(name)
        group = ref.group if ref else None
        recs = by_task.get(name, [])
        entries.append(Entry(
            name=name, kind="task", group=group, ckey=task_key(log, name),
            top_level=group is None or group not in log.groups,
            cell=make_cell(res, inp.judgements.tasks.get(name, {})), outcomes=outcomes_of(inp.table, recs, ids),
            info=TaskInfo(version=res.version, protocol=res.protocol, frames=tspec.frames if tspec else None,
                          frames_label=frames_label(tspec.frames) if tspec else run_frames,
                          approximate=bool(res.approximate or (tspec.scoring.approximate if tspec else False)),
                          has_prr=res.prr is not None, has_format=res.format_rate is not None,
                          chance=chance_level(inp.table, recs), origin=log.origin),
            notes=[f"metric: {res.metric}"] if res.metric else []))
    for gname, res in log.groups.items():
        members = [t.name for t in log.spec.tasks if t.group == gname and t.name in log.results]
        recs = [r for m in members for r in by_task.get(m, [])]
        labels = sorted({x for x in (frames_label(log.task_specs[m].frames) for m in members if m in log.task_specs)
                         if x})
        entries.append(Entry(
            name=gname, kind="group", group=None, ckey=group_key(log, gname, members), top_level=True,
            cell=make_cell(res, inp.judgements.groups.get(gname, {})), outcomes=outcomes_of(inp.table, recs, ids),
            info=TaskInfo(version=res.version, protocol=res.protocol,
                          frames_label="/".join(labels) if labels else run_frames, approximate=bool(res.approximate),
                          has_prr=res.prr is not None, has_format=res.format_rate is not None,
                          chance=chance_level(inp.table, recs), origin=log.origin),
            members=members))
    return RunDigest(run_entry(inp, index), entries)


__all__ = ["ItemNumbering", "OutcomeColumn", "Outcomes", "Entry", "RunDigest", "frames_label", "chance_level", "headline", "make_cell", "digest_run"]
