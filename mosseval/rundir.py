"""The run directory: one reloadable log per run.

    <output-dir>/<model>__<tasks>__<hash12>/
        run.json         RunLog (spec, identity + hash, status, aggregate results)
        samples.jsonl    one SampleRecord per finished sample, appended and flushed as it finishes
        .mosseval.lock   the writer lock (pid, command, start of the process writing the directory)

``samples.jsonl`` is append-only during a run. A process killed mid-write can leave a partial last
line; ``SampleWriter`` cuts it off before appending (a complete last record that only lacks its
newline is kept), and readers ignore it, so a resumed run never loses or duplicates a finished
sample. Every command that writes a run directory (``run`` and its finalize, ``score``,
``judge``, the data-parallel merge) holds ``run_lock`` for its whole write; readers never lock.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import orjson

from mosseval.errors import UsageError, first_invalid
from mosseval.fileio import (  # noqa: F401  (re-exported)
    DirLock,
    JsonlAppender,
    atomic_write_bytes,
    atomic_write_lines,
    canonical_json,
    is_locked,
    iter_jsonl,
    repair_jsonl_tail,
    write_json_atomic,
)
from mosseval.records import RunLog, SampleRecord, digest

RUN_FILE = "run.json"
SAMPLES_FILE = "samples.jsonl"


fingerprint = digest
"""SHA-256 of the canonical JSON (``mosseval.records.digest``: the one hash of every identity)."""


def run_lock(run_dir: str | os.PathLike[str], *, wait: bool = False, command: str | list[str] | None = None,
             say: Callable[[str], None] | None = None) -> DirLock:
    """The writer lock of a run directory (use as a context manager around the whole write)."""
    def waiting(holder: str) -> None:
        if say is not None:
            say(f"waiting for the other writer of {run_dir} ({holder}) to finish…")
    return DirLock(run_dir, command=command, wait=wait, on_wait=waiting)


def write_run_log(run_dir: Path, log: RunLog) -> None:
    write_json_atomic(Path(run_dir) / RUN_FILE, log.model_dump(mode="json"))


def read_run_log(run_dir: Path) -> RunLog:
    return read_run_log_text(run_dir)[1]


def read_run_log_text(run_dir: Path, known: tuple[str, RunLog] | None = None) -> tuple[str, RunLog]:
    """``run.json``'s text and :func:`read_run_log`; ``known``: an earlier answer for the same directory, given
    back when the text is unchanged (a reader that checked the run before taking its lock does not validate it
    twice)."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise UsageError(f"{run_dir} is not a mosseval run directory (no {RUN_FILE})",
                         hint="pass a directory created by `mosseval run`")
    try:
        text = path.read_text(encoding="utf-8")
        if known is not None and known[0] == text:
            return known
        return text, RunLog.model_validate_json(text)
    except ValueError as exc:
        raise UsageError(f"{path} is not a valid run log: {first_invalid(exc)}",
                         hint="run.json holds the run's task specs and identity: restore it from a copy, or run "
                              "the same `mosseval run` command with another --output-dir") from None


def validate_record(path: Path, lineno: int, line: bytes) -> SampleRecord:
    """Line ``lineno`` of the samples file ``path`` as a record, or the one-line error naming it."""
    try:
        return SampleRecord.model_validate_json(line)
    except ValueError as exc:
        raise UsageError(f"{path}:{lineno}: invalid sample record: {first_invalid(exc)}",
                         hint="delete that line (the same `mosseval run` command re-runs the sample)") from None


def iter_records(path: Path) -> Iterable[SampleRecord]:
    """Yield complete records of a samples file; a partial (unterminated) last line is skipped."""
    path = Path(path)
    for lineno, line in iter_jsonl(path):
        yield validate_record(path, lineno, line)


def errored_records(run_dir: Path) -> list[SampleRecord]:
    """The records of :func:`read_records` whose generation failed, in the same order.

    Only those are validated into records; the others are parsed as plain JSON (``orjson``) and dropped
    at once (``mosseval errors`` reads a 24,000-sample run at about the cost of ``json.loads``).
    """
    path = Path(run_dir) / SAMPLES_FILE
    if not path.exists():
        return []
    last: dict[object, tuple[int, bytes] | None] = {}
    with gc_paused():
        for lineno, line in iter_jsonl(path):
            try:
                data = orjson.loads(line)
                key = data["key"]
                failed = data["generation"]["error"] is not None
            except (ValueError, KeyError, TypeError):
                validate_record(path, lineno, line)  # raises the reader's usual message
                raise UsageError(f"{path}:{lineno}: invalid sample record") from None
            last.pop(key, None)
            last[key] = (lineno, line) if failed else None
        return [validate_record(path, n, line) for n, line in (v for v in last.values() if v is not None)]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while many (acyclic) records are parsed or built.

    Records are freed by reference counting; without the pause the collector re-scans the growing
    heap again and again and loading becomes superlinear (15.6 -> 96.8 us per record from 240 to
    24,000 records; flat at 12-15 us with the pause). On leaving the outermost pause the objects
    alive are frozen (``gc.freeze``): never scanned again, still freed when no longer referenced.
    Nests; restores the previous state.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            # What was parsed is long-lived and acyclic (freed by reference counting): move it out
            # of the collector's generations, or the first collection after re-enabling scans it
            # all once more (about a third of the parse time).
            gc.freeze()
            gc.enable()


def read_records(run_dir: Path) -> list[SampleRecord]:
    """All finished records, de-duplicated by key (last wins), in file order."""
    by_key: dict[str, SampleRecord] = {}
    with gc_paused():
        for rec in iter_records(Path(run_dir) / SAMPLES_FILE):
            by_key.pop(rec.key, None)
            by_key[rec.key] = rec
    return list(by_key.values())


def count_lines(path: Path) -> int:
    """Complete (non-empty) lines of a JSONL file."""
    return sum(1 for _ in iter_jsonl(path))


@dataclass
class LoadedRun:
    path: Path
    log: RunLog
    records: list[SampleRecord]


def load_run(run_dir: str | os.PathLike[str]) -> LoadedRun:
    run_dir = Path(run_dir)
    log = read_run_log(run_dir)
    return LoadedRun(run_dir, log, read_records(run_dir))


class _Placed(Protocol):
    @property
    def task(self) -> str: ...

    @property
    def index(self) -> int: ...


P = TypeVar("P", bound=_Placed)


def expected_records(log: RunLog, records: Sequence[P]) -> list[P]:
    """The records a run's own results cover: its tasks and, after ``--limit N``, the first N
    samples of each task (records beyond that stay in the file from a longer earlier run)."""
    tasks = {t.name for t in log.spec.tasks}
    limit = log.spec.limit
    return [r for r in records if r.task in tasks and (limit is None or r.index < limit)]


def verify_run(loaded: LoadedRun) -> list[str]:
    """Ways ``run.json`` disagrees with ``samples.jsonl`` (empty when they agree).

    Readers (the leaderboard) call this so that a stale ``run.json`` (a writer killed before its
    finalize, a file edited by hand) is noticed instead of trusted.
    """
    return run_problems(loaded.path, loaded.log, count_lines(loaded.path / SAMPLES_FILE), len(loaded.records),
                        len(expected_records(loaded.log, loaded.records)))


def run_problems(run_dir: Path, log: RunLog, n_lines: int, n_records: int, n_own: int) -> list[str]:
    """:func:`verify_run` from counts: complete lines of ``samples.jsonl``, records after de-duplication by
    key, and the run's own records among them (``expected_records``)."""
    problems = []
    if n_lines != n_records:
        problems.append(f"{SAMPLES_FILE} holds {n_lines - n_records} duplicate line(s)")
    if n_own != log.n_done:
        problems.append(f"run.json counts {log.n_done} finished samples, {SAMPLES_FILE} holds {n_own}")
    else:
        n_res = sum(r.n for r in log.results.values())
        if n_res != n_own:
            problems.append(f"run.json results cover {n_res} samples, {SAMPLES_FILE} holds {n_own}")
    if log.status == "running" and not is_locked(run_dir):
        problems.append("run.json says `running` but no process is writing it (the writer was killed)")
    return problems


def rewrite_records(run_dir: Path, records: list[SampleRecord]) -> None:
    """Atomically replace samples.jsonl (re-scoring, retried samples, the data-parallel merge).

    Only call it while holding ``run_lock``: replacing the file while another process appends to
    it would silently discard that process's later lines.
    """
    rewrite_lines(run_dir, (rec.model_dump_json().encode() for rec in records))


def rewrite_lines(run_dir: Path, lines: Iterable[bytes]) -> None:
    """:func:`rewrite_records` from the records' serialized lines (the same lock rule)."""
    atomic_write_bytes(Path(run_dir) / SAMPLES_FILE, b"".join(line + b"\n" for line in lines))


class SampleWriter:
    """Append-only writer for samples.jsonl (or a shard); every record is flushed (and fsynced)
    as it lands."""

    def __init__(self, run_dir: Path | None = None, fsync: bool = True, *, path: Path | None = None):
        if path is None:
            if run_dir is None:
                raise TypeError("SampleWriter needs run_dir or path")
            path = Path(run_dir) / SAMPLES_FILE
        self.path = Path(path)
        self.fsync = fsync
        self._out = JsonlAppender(self.path, fsync=fsync,
                                  hint="free disk space or choose another --output-dir; finished samples "
                                       "are kept and the same command resumes")

    def write(self, record: SampleRecord) -> None:
        self._out.write_line(record.model_dump_json())

    def write_many(self, records: Iterable[SampleRecord]) -> None:
        """Append records finished together (a model batch): one write and one fsync for all of them."""
        self._out.write_lines([rec.model_dump_json() for rec in records])

    def close(self) -> None:
        self._out.close()

    def __enter__(self) -> SampleWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
