"""The board's one input path: run directories (and adapted lmms-eval results) as run records.

``expand_run_paths`` turns arguments into run directories; ``load_inputs`` yields one :class:`BoardInput`
per run — its ``RunLog``, its ``SampleRecord`` list and the judge's summaries — whatever produced it.
A ``run.json`` that disagrees with its ``samples.jsonl`` (record count, duplicate keys) is not trusted:
the numbers are recomputed from the samples with the run's own task specs, and the run is marked.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mosseval.errors import UsageError
from mosseval.judge.store import read_judgements
from mosseval.judge.summary import RunJudgements, summarize_run
from mosseval.leaderboard.records import StaleNotice
from mosseval.records import RunLog, SampleRecord
from mosseval.rundir import SAMPLES_FILE, iter_records, read_run_log


@dataclass
class BoardInput:
    path: Path
    log: RunLog
    records: list[SampleRecord]
    judgements: RunJudgements
    stale: StaleNotice | None = None
    notes: list[str] = field(default_factory=list)


def expand_run_paths(items: Iterable[str | os.PathLike]) -> list[Path]:
    """Turn run directories, parent folders of runs and glob patterns into run directories.

    - a directory with ``run.json`` is a run;
    - a directory without one whose direct children are runs stands for those runs;
    - a glob pattern (``*``, ``?``, ``[``; ``**`` recursive) matches run directories or run.json files.
    Missing paths, patterns matching no run and directories that hold no run raise ``UsageError``
    naming the path.
    """
    out: list[Path] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        rp = p.resolve()
        if rp not in seen:
            seen.add(rp)
            out.append(p)

    for raw in items:
        text = os.fspath(raw)
        if any(ch in text for ch in "*?["):
            matches = sorted(glob.glob(os.path.expanduser(text), recursive=True))
            runs = []
            for m in matches:
                mp = Path(m)
                if mp.is_file() and mp.name == "run.json":
                    runs.append(mp.parent)
                elif mp.is_dir() and (mp / "run.json").is_file():
                    runs.append(mp)
            if not runs:
                raise UsageError(f"the pattern {text!r} matches no run directory "
                                 f"({len(matches)} path(s) matched, none holds a run.json)",
                                 hint="pass directories created by `mosseval run` (they contain run.json)")
            for r in runs:
                add(r)
            continue
        p = Path(text).expanduser()
        if not p.exists():
            raise UsageError(f"run directory {text!r} does not exist",
                             hint="pass directories created by `mosseval run`, or a glob such as 'runs/*'")
        if p.is_file():
            if p.name == "run.json":
                add(p.parent)
                continue
            raise UsageError(f"{text!r} is a file, not a run directory",
                             hint="pass the directory that contains run.json (lmms-eval results go to --lmms)")
        if (p / "run.json").is_file():
            add(p)
            continue
        children = sorted(c for c in p.iterdir() if c.is_dir() and (c / "run.json").is_file())
        if not children:
            raise UsageError(f"{text!r} is not a mosseval run directory (no run.json in it or in its "
                             f"sub-folders)", hint="pass directories created by `mosseval run`")
        for c in children:
            add(c)
    return out


def read_checked(path: Path) -> tuple[RunLog, list[SampleRecord], StaleNotice | None]:
    """A run's log and records, recomputing the log's results when ``samples.jsonl`` disagrees with it."""
    from mosseval.runner import finalize_log

    log = read_run_log(path)
    by_key: dict[str, SampleRecord] = {}
    lines = 0
    for rec in iter_records(path / SAMPLES_FILE):
        lines += 1
        by_key.pop(rec.key, None)
        by_key[rec.key] = rec  # the newest record of a key wins, as everywhere else
    records = list(by_key.values())
    dupes = lines - len(records)
    problems: list[str] = []
    if dupes:
        problems.append(f"{dupes} duplicate sample key(s) in {SAMPLES_FILE}")
    if len(records) != log.n_done:
        problems.append(f"{SAMPLES_FILE} holds {len(records)} sample(s), run.json counts {log.n_done}")
    counts: dict[str, int] = {}
    for rec in records:
        counts[rec.task] = counts.get(rec.task, 0) + 1
    wrong = [t for t, res in log.results.items() if counts.get(t, 0) != res.n]
    if wrong and len(records) == log.n_done:
        problems.append(f"per-task counts differ for {', '.join(sorted(wrong))}")
    if not problems:
        return log, records, None
    reason = "run.json disagrees with samples.jsonl: " + "; ".join(problems)
    if log.status == "running":
        reason += " (the run is still running)"
    specs = log.task_specs
    leaves = [(specs[t.name], t.group) for t in log.spec.tasks if t.name in specs]
    if len(leaves) != len(log.spec.tasks) or not leaves:
        return log, records, StaleNotice(reason=reason + "; the run lacks its task specs, so its numbers are "
                                                         "run.json's and may be stale", recomputed=False)
    keep = log.status if log.status in ("running", "failed", "interrupted") else None
    fresh = finalize_log(log, leaves, records, None, status_override=keep)
    fresh = fresh.model_copy(update={"updated_at": log.updated_at})
    return fresh, records, StaleNotice(reason=reason + "; numbers recomputed from samples.jsonl", recomputed=True)


def load_run_input(path: Path) -> BoardInput:
    log, records, stale = read_checked(path)
    return BoardInput(path, log, records, summarize_run(log, records, read_judgements(path)), stale)


def load_inputs(run_paths: list[Path], lmms: list[str] | None = None) -> Iterator[BoardInput]:
    """Every run the board shows, one at a time (a run's records are dropped once it is aggregated)."""
    for p in run_paths:
        yield load_run_input(p)
    if lmms:
        from mosseval.judge.store import StoredJudgements
        from mosseval.leaderboard.lmms import find_results_files, load_lmms_run

        for f in find_results_files(lmms):
            run = load_lmms_run(f)
            yield BoardInput(run.path, run.log, run.records, RunJudgements(StoredJudgements()), None,
                             list(run.notes))


__all__ = ["BoardInput", "expand_run_paths", "read_checked", "load_run_input", "load_inputs"]
