"""Compact per-sample columns of a run: what the leaderboard and ``compare`` read, without holding parsed records.

A parsed :class:`~mosseval.records.SampleRecord` takes ~13 KB of memory for ~1.9 KB on disk; a board or a
comparison needs a dozen small facts per sample (key, task, correctness, PRR, cluster, …). :func:`read_table`
streams ``samples.jsonl`` once (``orjson``, the collector paused), keeps those facts in one
:class:`SampleTable` (a list per column) and the byte offset of each line, and re-reads full records only
for the rows asked for (:meth:`SampleTable.records`, e.g. the samples a page embeds).

Every fact has ONE definition, on the typed record (:func:`row_of_record`); a line is read directly from
its JSON (:func:`_row_of_json`) only when each field used has its declared type, and any other line goes
through the record's own validation (legacy layouts are upgraded, bad lines raise the usual one-line error)
— ``tests/test_sampletable.py`` checks that both give the same rows.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from mosseval.errors import UsageError, first_invalid
from mosseval.fileio import MAX_LINE_BYTES, iter_jsonl_at
from mosseval.records import RunLog, SampleRecord

SAMPLES_FILE = "samples.jsonl"

COLUMNS = ("key", "task", "index", "sample_id", "cluster", "correct", "correct_score", "scored", "errored", "prr",
           "has_steps", "n_options", "qa")
"""The per-sample facts kept (see :func:`row_of_record` for each one's definition)."""

Row = tuple  # one value per name in COLUMNS, in that order


def row_of_record(rec: SampleRecord) -> Row:
    """The facts of one record, the one definition:

    ``correct``: generated without error, scored, and the score says correct (errored and unscored samples
    count as wrong); ``correct_score``: the score says correct (whatever the generation); ``scored``: has a score; ``errored``: generation failed; ``prr``: the score's PRR or
    None; ``cluster``: ``Sample.cluster_key`` (items of one video are not independent); ``has_steps``: the
    sample has reference steps; ``n_options``: number of answer options; ``qa``: a hash of (question,
    answer), to tell two runs' samples of one key apart."""
    s, g, sc = rec.sample, rec.generation, rec.score
    errored = g.error is not None
    prr = None if sc is None or sc.prr is None else float(sc.prr)
    score_ok = bool(sc is not None and sc.correct)
    return (rec.key, rec.task, rec.index, s.id, s.cluster_key, score_ok and not errored, score_ok,
            sc is not None, errored, prr, bool(s.reference_steps), len(s.options), hash((s.question, s.answer)))


def _row_of_json(d: dict) -> Row | None:
    """:func:`row_of_record` read from the parsed JSON line; None when a field used is absent or not of its
    declared type (the caller then validates the line into a record)."""
    try:
        key, task, index, s, g = d["key"], d["task"], d["index"], d["sample"], d["generation"]
        sc = d.get("score")
        sid, question, answer = s["id"], s["question"], s["answer"]
        cluster = s.get("cluster")
        video = s.get("video")
        err = g.get("error")
        steps = s.get("reference_steps", ())
        options = s.get("options", {})
        if not (type(key) is str and type(task) is str and type(index) is int and type(sid) is str
                and type(question) is str and type(answer) is str and type(steps) is list
                and type(options) is dict and (err is None or type(err) is dict)):
            return None
        if not cluster:
            if cluster is not None and type(cluster) is not str:
                return None
            if video is not None:
                cluster = video["path"]
                if type(cluster) is not str:
                    return None
            else:
                cluster = sid
        elif type(cluster) is not str:
            return None
        if sc is None:
            c, prr = False, None
        else:
            if type(sc) is not dict:
                return None
            c = sc.get("correct", False)
            prr = sc.get("prr")
            if type(c) is not bool or not (prr is None or type(prr) is float or type(prr) is int):
                return None
            prr = None if prr is None else float(prr)
        return (key, task, index, sid, cluster, c and err is None, c, sc is not None, err is not None, prr, bool(steps),
                len(options), hash((question, answer)))
    except (KeyError, TypeError):
        return None


@dataclass
class SampleTable:
    """One run's samples as columns, de-duplicated by key (the last line of a key wins), in file order —
    the rows :func:`mosseval.rundir.read_records` would return, as facts."""

    path: Path | None = None
    """The samples file the rows come from (None: built from records in memory)."""
    key: list[str] = field(default_factory=list)
    task: list[str] = field(default_factory=list)
    index: list[int] = field(default_factory=list)
    sample_id: list[str] = field(default_factory=list)
    cluster: list[str] = field(default_factory=list)
    correct: list[bool] = field(default_factory=list)
    correct_score: list[bool] = field(default_factory=list)
    scored: list[bool] = field(default_factory=list)
    errored: list[bool] = field(default_factory=list)
    prr: list[float | None] = field(default_factory=list)
    has_steps: list[bool] = field(default_factory=list)
    n_options: list[int] = field(default_factory=list)
    qa: list[int] = field(default_factory=list)
    offset: list[int] = field(default_factory=list)
    """Byte offset of each row's line in ``path`` (empty when built from records)."""
    n_lines: int = 0
    """Complete non-empty lines read (duplicates of a key included)."""
    _records: list[SampleRecord] | None = None

    def __len__(self) -> int:
        return len(self.key)

    def _append(self, row: Row, offset: int | None) -> None:
        for name, value in zip(COLUMNS, row):
            getattr(self, name).append(value)
        if offset is not None:
            self.offset.append(offset)

    def _keep(self, rows: list[int]) -> None:
        for name in (*COLUMNS, "offset"):
            col = getattr(self, name)
            if col:
                setattr(self, name, [col[i] for i in rows])

    @classmethod
    def from_records(cls, records: Iterable[SampleRecord]) -> SampleTable:
        """The table of records already in memory (lmms-eval imports, judged runs, tests)."""
        out = cls()
        out._records = list(records)
        for rec in out._records:
            out._append(row_of_record(rec), None)
        out.n_lines = len(out._records)
        return out

    def records(self, rows: Iterable[int]) -> list[SampleRecord]:
        """The full, validated records of the given rows (re-read from their lines)."""
        return list(self.iter_records(rows))

    def iter_records(self, rows: Iterable[int]) -> Iterator[SampleRecord]:
        """:meth:`records` one at a time (a caller that keeps a smaller view of each holds one record)."""
        rows = list(rows)
        if self._records is not None:
            yield from (self._records[i] for i in rows)
            return
        if self.path is None or not rows:
            return
        with self.path.open("rb") as fh:
            for i in rows:
                fh.seek(self.offset[i])
                line = fh.readline(MAX_LINE_BYTES + 1)
                yield _validate(self.path, None, line.strip())

    def iter_lines(self, rows: Iterable[int]) -> Iterator[tuple[bytes | None, Callable[[], SampleRecord]]]:
        """For each row: its line (None when the table holds records), and a function that gives the full
        validated record (what :meth:`iter_records` yields). A reader that needs a few fields of a few rows
        reads them from the line without building the whole record."""
        rows = list(rows)
        if self._records is not None:
            for i in rows:
                yield None, (lambda rec=self._records[i]: rec)
            return
        if self.path is None or not rows:
            return
        path = self.path
        with path.open("rb") as fh:
            for i in rows:
                fh.seek(self.offset[i])
                line = fh.readline(MAX_LINE_BYTES + 1).strip()
                yield line, (lambda line=line: _validate(path, None, line))

    def subset(self, rows: list[int]) -> SampleTable:
        """A table of the given rows (same path and offsets)."""
        out = SampleTable(self.path, n_lines=self.n_lines)
        for name in (*COLUMNS, "offset"):
            col = getattr(self, name)
            setattr(out, name, [col[i] for i in rows] if col else [])
        if self._records is not None:
            out._records = [self._records[i] for i in rows]
        return out

    def expected_rows(self, log: RunLog) -> list[int]:
        """The rows a run's own results cover (``rundir.expected_records``: its tasks and, after
        ``--limit N``, the first N samples of each task)."""
        tasks = {t.name for t in log.spec.tasks}
        limit = log.spec.limit
        return [i for i, (t, x) in enumerate(zip(self.task, self.index)) if t in tasks and (limit is None or x < limit)]


def _validate(path: Path, lineno: int | None, line: bytes) -> SampleRecord:
    try:
        return SampleRecord.model_validate_json(line)
    except ValueError as exc:
        where = f"{path}:{lineno}" if lineno is not None else str(path)
        raise UsageError(f"{where}: invalid sample record: {first_invalid(exc)}",
                         hint="delete that line (the same `mosseval run` command re-runs the sample)") from None


def read_table(run_dir: str | os.PathLike[str]) -> SampleTable:
    """Stream a run's ``samples.jsonl`` into a :class:`SampleTable` (memory: the columns, not the records)."""
    from mosseval.rundir import gc_paused

    path = Path(run_dir) / SAMPLES_FILE
    out = SampleTable(path)
    where: dict[str, int] = {}
    dropped: list[int] = []
    loads = orjson.loads
    add = [getattr(out, name).append for name in COLUMNS]
    add_offset = out.offset.append
    with gc_paused():
        for lineno, offset, line in iter_jsonl_at(path):
            out.n_lines += 1
            try:
                row = _row_of_json(loads(line))
            except orjson.JSONDecodeError:
                row = None
            if row is None:
                row = row_of_record(_validate(path, lineno, line))
            old = where.get(row[0])
            if old is not None:
                dropped.append(old)
            where[row[0]] = len(out.key)
            for append, value in zip(add, row):
                append(value)
            add_offset(offset)
        if dropped:
            gone = set(dropped)
            out._keep([i for i in range(len(out.key)) if i not in gone])
    return out


__all__ = ["COLUMNS", "SampleTable", "read_table", "row_of_record"]
