"""The board's one input path: run directories (and adapted lmms-eval results) as run records.

``expand_run_paths`` turns arguments into run directories; ``load_inputs`` yields one :class:`BoardInput`
per run — its ``RunLog``, its samples as a compact :class:`~mosseval.sampletable.SampleTable` (full records
are re-read only for the samples the page embeds) and the judge's summaries — whatever produced it.
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
from mosseval.records import RunLog
from mosseval.rundir import expected_records, load_run, read_run_log, run_problems
from mosseval.sampletable import SampleTable, read_table


@dataclass
class BoardInput:
    path: Path
    log: RunLog
    table: SampleTable
    """The run's own samples (``rundir.expected_records``) as compact columns; full records are re-read only
    for the samples the page embeds (``table.records``)."""
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


def read_checked(path: Path) -> tuple[RunLog, SampleTable, StaleNotice | None]:
    """A run's log and its own samples (``rundir.expected_records``) as a table, with the log's results
    recomputed from the samples when ``run.json`` disagrees with ``samples.jsonl`` (``rundir.run_problems``:
    counts, duplicate keys, a ``running`` status whose writer is gone)."""
    from mosseval.rescore import recompute_stale

    log = read_run_log(path)
    table = read_table(path)
    own = table.expected_rows(log)
    problems = run_problems(path, log, table.n_lines, len(table), len(own))
    if len(own) != len(table):
        table = table.subset(own)
    if not problems:
        return log, table, None
    reason = "stale run.json (it disagrees with samples.jsonl: " + "; ".join(problems) + ")"
    if not log.task_specs or any(t.name not in log.task_specs for t in log.spec.tasks):
        return log, table, StaleNotice(reason=reason + "; the run lacks its task specs, so its numbers are "
                                                       "run.json's and may be stale", recomputed=False)
    loaded = load_run(path)  # recomputing needs the full records (for this run only)
    fresh = recompute_stale(loaded).log.model_copy(update={"updated_at": log.updated_at})
    table = SampleTable.from_records(expected_records(loaded.log, loaded.records))
    return fresh, table, StaleNotice(reason=reason + "; numbers recomputed from samples.jsonl "
                                                     "(`mosseval score` rewrites run.json)", recomputed=True)


def load_run_input(path: Path) -> BoardInput:
    log, table, stale = read_checked(path)
    stored = read_judgements(path)
    if stored.log is not None:  # judge summaries read the judged samples' full records
        records = table.records(range(len(table)))
        return BoardInput(path, log, SampleTable.from_records(records), summarize_run(log, records, stored), stale)
    return BoardInput(path, log, table, RunJudgements(stored), stale)


def load_inputs(run_paths: list[Path], lmms: list[str] | None = None) -> Iterator[BoardInput]:
    """Every run the board shows, one at a time (a run's records are dropped once it is aggregated)."""
    for p in run_paths:
        yield load_run_input(p)
    if lmms:
        from mosseval.judge.store import StoredJudgements
        from mosseval.leaderboard.lmms import find_results_files, load_lmms_run

        for f in find_results_files(lmms):
            run = load_lmms_run(f)
            yield BoardInput(run.path, run.log, SampleTable.from_records(run.records), RunJudgements(StoredJudgements()), None,
                             list(run.notes))


__all__ = ["BoardInput", "expand_run_paths", "read_checked", "load_run_input", "load_inputs"]
