"""Compact per-sample columns of a run: what the leaderboard and ``compare`` read, without holding parsed records.

A parsed :class:`~mosseval.records.SampleRecord` takes ~13 KB of memory for ~1.9 KB on disk; a board or a
comparison needs a dozen small facts per sample (key, task, correctness, PRR, cluster, …). :func:`read_table`
streams ``samples.jsonl`` once (``orjson``, the collector paused), keeps those facts in one
:class:`SampleTable` (a list per column) and the byte offset of each line, and re-reads full records only
for the rows asked for (:meth:`SampleTable.records`, e.g. the samples a page embeds).

Every fact has ONE definition, on the typed record (:func:`row_of_record`). A line is read by msgspec into
the record's structs (:func:`mosseval.recorddata.record_struct_decoder`, :func:`_row_of_struct`: 240
fixed-run lines in 1.05 ms against 1.18 ms for ``orjson.loads`` and :func:`_row_of_json`), else directly
from its JSON (:func:`_row_of_json`) when each field used has its declared type, and any other line goes
through the record's own validation (legacy layouts are upgraded, bad lines raise the usual one-line error)
— ``tests/test_sampletable.py`` checks that all three give the same rows, and that msgspec takes no line the
others would refuse.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from mosseval.errors import UsageError, first_invalid
from mosseval.fileio import MAX_LINE_BYTES, iter_jsonl_at
from mosseval.recorddata import plain_free_form, record_struct_decoder
from mosseval.records import RunLog, Sample, SampleRecord

SAMPLES_FILE = "samples.jsonl"

COLUMNS = ("key", "task", "index", "sample_id", "cluster", "correct", "correct_score", "scored", "errored", "prr",
           "has_steps", "n_options", "qa")
"""The per-sample facts kept (see :func:`row_of_record` for each one's definition)."""

Row = tuple  # one value per name in COLUMNS, in that order

SPAN_READ = 1024 * 1024
"""Bytes :meth:`SampleTable.iter_lines` reads at once, when the rows asked for lie within them."""


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
        steps = s.get("reference_steps", [])
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
    except (KeyError, TypeError, AttributeError):  # (AttributeError: a generation that is not an object)
        return None


def _row_of_struct(d: Any) -> Row:
    """:func:`row_of_record` of a line decoded into the record's structs (``record_struct_decoder``: every field
    of its declared type, strictly — a line msgspec takes validates as the record, with the same values). A
    field left out is ``msgspec.UNSET``, read as its default: ``UNSET`` and None are false, a struct is true."""
    s, g, sc = d.sample, d.generation, d.score
    errored = bool(g.error)
    if sc:
        c, prr = sc.correct is True, sc.prr
        if type(prr) is not float:  # (msgspec reads an integer in a float field as a float)
            prr = None
    else:
        c, prr = False, None
    video, options = s.video, s.options
    cluster = Sample.cluster_key_of(s.cluster or None, video.path if video else None, s.id)
    return (d.key, d.task, d.index, s.id, cluster, c and not errored, c, bool(sc), errored, prr,
            bool(s.reference_steps), len(options) if options else 0, hash((s.question, s.answer)))


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
        for line in self._lines(rows):
            yield line, (lambda line=line: _validate(path, None, line))

    def _lines(self, rows: list[int]) -> Iterator[bytes]:
        """The given rows' lines (stripped), re-read from their byte offsets: the part of the file that holds
        them in one read where it is at most :data:`SPAN_READ` bytes (a small run: a seek and a buffered
        ``readline`` per row cost ~1.7 µs each), else line by line."""
        assert self.path is not None
        offsets = [self.offset[i] for i in rows]
        with self.path.open("rb") as fh:
            start = min(offsets)
            size = os.fstat(fh.fileno()).st_size - start
            if size <= SPAN_READ:  # every line asked for is in the last SPAN_READ bytes
                fh.seek(start)
                span = fh.read(size)
                for offset in offsets:
                    at = offset - start
                    end = span.find(b"\n", at)
                    yield span[at:end if end >= 0 else len(span)].strip()
                return
            for offset in offsets:
                fh.seek(offset)
                yield fh.readline(MAX_LINE_BYTES + 1).strip()

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


_CHUNK = 256


def _extend(columns: list[list], rows: list[Row]) -> None:
    """Move ``rows`` into ``columns`` (one list per name in :data:`COLUMNS`) and clear it."""
    for column, values in zip(columns, zip(*rows)):
        column.extend(values)
    rows.clear()


def read_table(run_dir: str | os.PathLike[str]) -> SampleTable:
    """Stream a run's ``samples.jsonl`` into a :class:`SampleTable` (memory: the columns, not the records)."""
    from mosseval.rundir import gc_paused

    path = Path(run_dir) / SAMPLES_FILE
    out = SampleTable(path)
    where: dict[str, int] = {}
    dropped: list[int] = []
    loads = orjson.loads
    decode = record_struct_decoder() or (lambda line: None)
    columns = [getattr(out, name) for name in COLUMNS]
    rows: list[Row] = []  # the latest rows, moved into the columns a chunk at a time (one C-level transpose)
    offsets = out.offset
    with gc_paused():
        for lineno, offset, line in iter_jsonl_at(path):
            out.n_lines += 1
            d = decode(line)
            if d is not None and plain_free_form(d):
                row = _row_of_struct(d)
            else:
                try:
                    row = _row_of_json(loads(line))
                except orjson.JSONDecodeError:
                    row = None
                if row is None:
                    row = row_of_record(_validate(path, lineno, line))
            old = where.get(row[0])
            if old is not None:
                dropped.append(old)
            where[row[0]] = len(offsets)
            offsets.append(offset)
            rows.append(row)
            if len(rows) == _CHUNK:
                _extend(columns, rows)
        _extend(columns, rows)
        if dropped:
            gone = set(dropped)
            out._keep([i for i in range(len(out.key)) if i not in gone])
    return out


__all__ = ["COLUMNS", "SampleTable", "read_table", "row_of_record"]
