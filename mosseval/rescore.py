"""Re-scoring a saved run and aggregating records into a run log: ``mosseval score`` and the runner's finalize.

Kept apart from :mod:`mosseval.runner` so that ``mosseval score`` (and the readers that recompute a stale
``run.json``) import what scoring needs and not the model, video and data layers.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from mosseval.clock import utc_now
from mosseval.errors import UsageError
from mosseval.fileio import iter_jsonl
from mosseval.records import PRRDetail, RunLog, Sample, SampleRecord, SampleScore, TaskResult, TaskSpec
from mosseval.rundir import (
    SAMPLES_FILE,
    expected_records,
    gc_paused,
    read_run_log_text,
    rewrite_lines,
    run_lock,
    validate_record,
    write_run_log,
)
from mosseval.scoring import (
    SampleFacts,
    ScoreRow,
    TaskScorer,
    aggregate_group,
    aggregate_task,
    has_summary,
    score_row_of_fields,
    score_rows,
)

_INDEX = operator.attrgetter("index")


def finalize_log(log: RunLog, leaves: list[tuple[TaskSpec, str | None]],
                 records: Sequence[SampleRecord | ScoreRow], expected_keys: list[str] | None = None,
                 status_override: str | None = None) -> RunLog:
    """Aggregate records (or their :class:`~mosseval.scoring.ScoreRow`) into ``log.results`` /
    ``log.groups`` in deterministic (task, index) order."""
    rows = score_rows(records)
    order = {t.name: i for i, (t, _) in enumerate(leaves)}
    if expected_keys is not None:
        wanted = set(expected_keys)
        rows = [r for r in rows if r.key in wanted]
    if len(order) == 1:  # one task: its rows by index (the same order, without a key tuple per row)
        rows = sorted((r for r in rows if r.task in order), key=_INDEX)
    else:
        rows = sorted((r for r in rows if r.task in order), key=lambda r: (order[r.task], r.index))
    by_task: dict[str, list[ScoreRow]] = {}
    for r in rows:
        by_task.setdefault(r.task, []).append(r)
    results: dict[str, TaskResult] = {}
    for task, _ in leaves:
        if by_task.get(task.name):
            results[task.name] = aggregate_task(task, by_task[task.name])
    groups: dict[str, TaskResult] = {}
    for gname in dict.fromkeys(g for _, g in leaves if g):
        members = [t for t, g in leaves if g == gname]
        if any(by_task.get(t.name) for t in members):
            groups[gname] = aggregate_group(gname, members, rows)
    n_errors = sum(1 for r in rows if r.errored)
    n_expected = len(expected_keys) if expected_keys is not None else log.n_expected
    if status_override:
        status = status_override
    elif len(rows) < n_expected:
        status = "interrupted"
    else:
        status = "completed_with_errors" if n_errors else "completed"
    update = {"results": results, "groups": groups, "n_done": len(rows), "n_errors": n_errors,
              "n_expected": n_expected, "status": status, "updated_at": utc_now()}
    new = log.model_copy(update=update)
    from mosseval.published import check_run

    # comparisons with published numbers (mosseval reproduce); judged metrics need the judge's files and
    # are checked by `mosseval reproduce` and the leaderboard
    new.published = check_run(new)
    return new


def rescore(run_dir: Path, *, wait: bool = False, say: Callable[[str], None] | None = None) -> RunLog:
    """Re-score a saved run with its own task specs (no model, no video decoding).

    Holds the run directory's writer lock. Results cover the run's own samples (after ``--limit N``,
    the first N of each task), so they match what ``run`` reported.
    """
    # not a run directory (a typo): say so before the lock creates anything
    checked = read_run_log_text(Path(run_dir))
    with run_lock(run_dir, wait=wait, say=say), gc_paused():
        return _rescore_locked(Path(run_dir), checked)


_SCORE_JSON = SampleScore().model_dump(mode="json")
"""Every field of a stored score, with its default, in order (a score's JSON names them all)."""


def _score_json(new: dict[str, Any]) -> bytes:
    """``SampleScore(**new)`` as JSON (``new`` from ``score_fields``; what mosseval writes): every field with its
    default where ``new`` leaves it out, in order."""
    want = {**_SCORE_JSON, **new}
    detail = want["prr_detail"]
    if detail is not None and type(detail) is not dict:  # (a dict: a PRRDetail's fields, from score_batch)
        # a PRRDetail's fields as they are (orjson writes its tuples as the arrays pydantic's JSON mode makes);
        # a subclass (a serializer of its own) through pydantic
        want["prr_detail"] = detail.__dict__ if type(detail) is PRRDetail else \
            detail.__pydantic_serializer__.to_python(detail, mode="json")
    return orjson.dumps(want)


def _parsed_score_is(line: bytes, wanted: bytes) -> bool:
    """The score the line parses to (a JSON object's last ``score`` member) is, as JSON, ``wanted``."""
    try:
        old = orjson.loads(line)
    except ValueError:
        return False
    old = old.get("score") if type(old) is dict else None
    return type(old) is dict and orjson.dumps(old) == wanted


def _score_end(line: bytes) -> int:
    """What ``score`` keeps of a line while the run is re-scored, instead of the line (~2 KB): the ``hash`` of
    the score in its last member, where the line ends with a ``"score":`` member (-1 where not).

    A valid JSON object that ends with ``"score":`` + a score's JSON + ``}`` has that as its last member (outside a
    string a key's quotes are bare, inside one they are escaped; a nested "score" would leave the object unclosed):
    its score, which the parse keeps as the last of duplicate keys; what mosseval wrote ends so. Nowhere in the
    member but at its start is ``"score":`` (a string's quotes are escaped, no key of a score ends in ``score``),
    so such a line gives the hash of its score's JSON. A line that differs and hashes alike (a collision of the
    keyed 64-bit hash, about 2^-64 a line) would keep its old score's bytes (the run's results are computed from
    the new scores either way)."""
    at = line.rfind(b'"score":')
    return hash(line[at + 8:-1]) if at >= 0 and line.endswith(b"}") else -1


def _stored_is(end: int, wanted: bytes, line_at: Callable[[int], bytes], lineno: int) -> bool:
    """The score stored in line ``lineno`` (``end``: its ``_score_end``; ``line_at``: the line read in full, where
    the hash does not decide) is ``wanted`` (``_score_json``): same names in the same order, same values of the
    same JSON types. The line need not be rewritten."""
    return hash(wanted) == end or _parsed_score_is(line_at(lineno), wanted)


def _same_score(line: bytes, new: dict[str, Any]) -> bool:
    """:func:`_stored_is` of a line at hand and ``SampleScore(**new)`` (``new`` from ``score_fields``)."""
    return _stored_is(_score_end(line), _score_json(new), lambda _: line, 0)


_Stored = tuple[str, str, int, str, Sample | dict[str, Any], bool, dict[str, Any], int, int, SampleRecord | None]
"""One line of a run being re-scored, as a plain tuple (built once a line, ~8x cheaper than an instance): what
aggregation and the rewrite need of it (its sample is let go once its answer is checked: a 24,000-sample run is
not held as records) —

``(key, task, index, cluster, facts, errored, fields, lineno, end, record)``: ``facts`` is ``ScoreRow.facts``
(the breakdown values of the sample; the sample itself where its record is kept); ``errored``: the generation
failed; ``fields``: the new score's fields (``TaskScorer.add``; the PRR ones filled in once the run is read);
``end``: the hash of the score in the line's last member (``_score_end``; the whole line is read again from the
file where it is needed: where the score changed, or the file is rewritten); ``record``: the validated record,
where the line was read in full (a layout the fast read does not take, or a task whose extractor's summary reads
records)."""


class _LinesAgain:
    """``line_at(lineno)``: a stored line read in full again, where ``score`` needs more of it than its end (its
    score changed, or the file is rewritten). The file is read once more, on the first call, for the lines kept
    (under the run's lock: it is as it was read)."""

    __slots__ = ("path", "stored", "lines")

    def __init__(self, path: Path, stored: list[_Stored]) -> None:
        self.path, self.stored = path, stored
        self.lines: dict[int, bytes] | None = None

    def __call__(self, lineno: int) -> bytes:
        if self.lines is None:
            wanted = {st[7] for st in self.stored}
            self.lines = {n: line for n, line in iter_jsonl(self.path) if n in wanted}
        line = self.lines.get(lineno)
        if line is None:  # (only a writer that ignores the run's lock gets here)
            raise UsageError(f"{self.path} changed while `mosseval score` was reading it (line {lineno} is gone)",
                             hint="let the other writer finish, then run the same command again; nothing was "
                                  "rewritten")
        return line


class _Task:
    """A task of the run being re-scored: its scorer and what its rows keep."""

    __slots__ = ("scorer", "facts", "summarized", "data")

    def __init__(self, task: TaskSpec) -> None:
        self.scorer = TaskScorer(task, task.prompt.prefill if task.prompt else None)
        self.facts = SampleFacts(task.breakdowns)
        self.summarized = has_summary(task)  # its extractor's summary reads the full records
        # its samples are read as validated data, not Sample records: the answer check and the breakdowns read
        # the data (mosseval.recorddata) and the summary does not need the records
        self.data = self.scorer.check_data is not None and self.facts.reads_data and not self.summarized


def _read_scored(path: Path, specs: dict[str, TaskSpec]) -> tuple[list[_Stored], dict[str, _Task], bool, set[str]]:
    """The lines of ``samples.jsonl`` de-duplicated by key (the last wins, in file order), each answer checked
    as it is read (its PRR queued in its task's scorer); the tasks; whether the file holds exactly those lines
    (no duplicate, blank, padded or unterminated line); and the tasks without a spec in run.json.

    A line is parsed as JSON (``orjson``) and only its sample is validated: into plain dicts
    (:mod:`mosseval.recorddata`, the checks of :class:`Sample` without its model instances) where the task's
    answer check and breakdowns read such data, else into a record. A line of any other layout, or one that
    does not validate, is read in full (``rundir``'s reader: legacy layouts upgraded, a bad line reported with
    its number)."""
    from mosseval.recorddata import sample_cluster_key, sample_data_validator, sample_line_decoder

    fast = sample_line_decoder()  # the line decoded and its sample validated in one pass (msgspec), where it can
    loads = orjson.loads
    validate_sample = Sample.__pydantic_validator__.validate_python  # Sample.model_validate without its wrapper
    validate_data = sample_data_validator()
    by_key: dict[str, _Stored] = {}
    tasks: dict[str, _Task] = {}
    missing: set[str] = set()
    n_lines = n_bytes = 0
    for lineno, line in iter_jsonl(path):
        n_lines += 1
        n_bytes += len(line) + 1
        d: Any = None
        rec: SampleRecord | None = None
        t: _Task | None = None
        sample: Any  # a Sample, or its validated data (a dict)
        err: Any
        got = fast(line) if fast is not None else None
        if got is not None:  # what the lines below give (the same values: recorddata.sample_line_decoder)
            key, task, index, text, failed, sample = got
            err, data = (True if failed else None), True
            t = tasks.get(task)
            if t is None and task in specs:
                t = tasks[task] = _Task(specs[task])
            if t is None or not t.data:  # a task read as records (or none): this run is read the usual way
                got = fast = None
        if got is None:
            try:
                d = loads(line)
                key, task, index, g = d["key"], d["task"], d["index"], d["generation"]
                text, err = g.get("text"), g.get("error")
                if not (type(key) is str and type(task) is str and type(index) is int
                        and (text is None or type(text) is str) and (err is None or type(err) is dict)):
                    raise TypeError
                t = tasks.get(task)
                if t is None and task in specs:
                    t = tasks[task] = _Task(specs[task])
                if t is not None and t.data:
                    sample, data = validate_data(d["sample"]), True
                else:
                    sample, data = validate_sample(d["sample"]), False
            except (ValueError, KeyError, TypeError, AttributeError):
                rec = validate_record(path, lineno, line)
                key, task, index, sample = rec.key, rec.task, rec.index, rec.sample
                text, err = rec.generation.text, rec.generation.error
                data = False
        if rec is not None or t is None:
            t = tasks.get(task)
        if t is None:
            spec = specs.get(task)
            if spec is None:
                missing.add(task)
                continue
            t = tasks[task] = _Task(spec)
        if t.summarized and rec is None:
            rec = validate_record(path, lineno, line)
        if data:
            fields = t.scorer.add_data(sample, text, err is not None)
            cluster, facts = sample.get("cluster") or sample_cluster_key(sample), t.facts.of_data(sample)
        else:
            fields = t.scorer.add(sample, text, err is not None)
            cluster, facts = sample.cluster_key, sample if rec is not None else t.facts(sample)
        old = by_key.pop(key, None)
        if old is not None:  # an earlier line of the same sample: superseded
            tasks[old[1]].scorer.drop(old[6])
        # the stored score is compared with the new one by the hash of the line's end (_score_end): the parsed
        # tree is let go with the line's other objects, and the line itself
        by_key[key] = (key, task, index, cluster, facts, err is not None, fields, lineno, _score_end(line), rec)
    exact = n_lines == len(by_key) and n_bytes == (path.stat().st_size if path.exists() else 0)
    return list(by_key.values()), tasks, exact, missing


def _rescore_locked(run_dir: Path, checked: tuple[str, RunLog] | None = None) -> RunLog:
    log = read_run_log_text(run_dir, checked)[1]  # read again under the lock (the same text: not validated again)
    path = run_dir / SAMPLES_FILE
    specs = log.task_specs
    stored, tasks, exact, missing = _read_scored(path, specs)
    if missing:
        raise UsageError(f"{run_dir}: run.json lacks the task specs of {sorted(missing)}; cannot re-score")
    for t in tasks.values():  # each task's PRRs scored in one batch
        t.scorer.finish()
    rows: list[ScoreRow] = []
    changed: dict[int, bytes] = {}
    line_at = _LinesAgain(path, stored)
    for i, (key, task, index, cluster, facts, errored, f, lineno, end, rec) in enumerate(stored):
        # A line is rewritten only when its score changes (and then from the full record)
        wanted = _score_json(f)
        same = _stored_is(end, wanted, line_at, lineno)
        if rec is None and not same:
            rec = validate_record(path, lineno, line_at(lineno))
        if rec is not None:
            rec.score = SampleScore(**f)  # read for this call only: updated in place
            if not same:
                changed[i] = rec.model_dump_json().encode()
        rows.append(score_row_of_fields(key, task, index, cluster, facts, errored, f, rec))
    if changed or not exact:  # else the file already holds exactly these bytes
        rewrite_lines(run_dir, [changed[i] if i in changed else line_at(st[7]) for i, st in enumerate(stored)])
    del stored, changed, line_at
    leaves = [(specs[t.name], t.group) for t in log.spec.tasks if t.name in specs]
    own = expected_records(log, rows)
    # an unfinished run stays unfinished (running: its writer died); one whose samples are all there is
    # completed (with errors) whatever stopped its last writer (e.g. a full disk while writing run.json)
    keep = {"interrupted": "interrupted", "failed": "failed", "running": "interrupted"}
    status = keep.get(log.status) if len(own) < log.n_expected else None
    new = finalize_log(log, leaves, own, None, status_override=status)
    if new.model_copy(update={"updated_at": log.updated_at}) == log:
        return log  # run.json already says all this: not rewritten (nor fsynced)
    write_run_log(run_dir, new)
    return new


def recompute_stale(loaded: Any) -> Any:
    """A ``LoadedRun`` whose ``run.json`` disagrees with ``samples.jsonl`` (see
    ``rundir.verify_run``), with its results recomputed from the samples in memory (nothing is
    written): readers use this instead of trusting stale aggregates. A ``running`` status whose
    writer is gone becomes ``interrupted``."""
    from mosseval.fileio import is_locked
    from mosseval.rundir import LoadedRun

    log = loaded.log
    specs = log.task_specs
    leaves = [(specs[t.name], t.group) for t in log.spec.tasks if t.name in specs]
    status = None
    if log.status in ("interrupted", "failed"):
        status = log.status
    elif log.status == "running":
        status = "running" if is_locked(loaded.path) else "interrupted"
    new = finalize_log(log, leaves, expected_records(log, loaded.records), None, status_override=status)
    return LoadedRun(loaded.path, new, loaded.records)


__all__ = ["finalize_log", "rescore", "recompute_stale"]
