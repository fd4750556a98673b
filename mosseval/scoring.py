"""Scoring: per-sample scores from saved generations, and aggregate results with CIs.

Scoring never needs the model: ``mosseval score RUN_DIR`` re-runs it on a saved run.
Conventions (documented in docs/explanation/scoring.md):
- accuracy counts every sample: unparsed, ambiguous, empty and errored samples are wrong;
- parse-failure rate = share of samples whose answer could not be extracted (errors excluded);
- error rate = share of samples whose video or model call failed;
- PRR: format broken / no steps / errored → 0; no reference steps → "not applicable" (excluded
  from the mean and counted separately).
"""

from __future__ import annotations

import operator
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mosseval.errors import InternalError
from mosseval.extract import AnswerResult, check_mc
from mosseval.prr.format import answer_text, format_ok
from mosseval.recorddata import sample_field
from mosseval.records import Estimate, Generation, PRRConfig, Sample, SampleRecord, SampleScore, TaskResult, TaskSpec
from mosseval.registry import Registry
from mosseval.stats import mean_cis_at

METRIC_VERSION = "1"
"""Bump when a scoring rule changes: it enters every run identity."""

AnswerCheck = Callable[[str | None, Sample, TaskSpec, str | None], AnswerResult]
"""``check(text, sample, task, prefill) -> AnswerResult``: extracts and checks one answer."""

extractors: Registry[AnswerCheck] = Registry("extractors", "mosseval.extractors", "answer extractor")
"""Answer checks a task names in ``scoring.extractor``; third parties add theirs through the
``mosseval.extractors`` entry-point group."""
extractors.declare("mc_strict", "mosseval.scoring",
                   description="strict multiple-choice letter extraction; open-ended: normalised exact match")
extractors.declare("mvbench_official", "mosseval.data.mvbench",
                   description="VideoChat2's MVBench check (prefilled 'Best option:(')")
extractors.declare("mmvu_rules", "mosseval.data.mmvu",
                   description="MMVU rule-based offline approximation of the GPT-4o judge")
extractors.declare("videomme_official", "mosseval.data.videomme",
                   description="Video-MME's official answer parser (thanku-all/parse_answer); unanswered = wrong, "
                               "official-style accuracy (answered only) beside it")
extractors.declare("vcrbench_rules", "mosseval.data.vcrbench",
                   description="VCR-Bench offline approximation: official IoU rules on rule-extracted "
                               "intervals/boxes, strict letters, conservative open-ended match")


def register_extractor(name: str) -> Callable[[AnswerCheck], AnswerCheck]:
    """Decorator for answer-check functions: ``@register_extractor("my_check")``."""
    return extractors.register(name)


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


@register_extractor("mc_strict")
def strict_check(text: str | None, sample: Sample, task: TaskSpec, prefill: str | None) -> AnswerResult:
    return _strict(text, sample.question_type, sample.options, sample.answer)


@extractors.register_hook("mc_strict", "check_data")
def strict_check_data(text: str | None, data: dict[str, Any], task: TaskSpec, prefill: str | None) -> AnswerResult:
    """:func:`strict_check` of the sample's validated data (:mod:`mosseval.recorddata`)."""
    return _strict(text, sample_field(data, "question_type"), sample_field(data, "options"), data["answer"])


def _strict(text: str | None, question_type: str, options: dict[str, str], answer: str) -> AnswerResult:
    if question_type == "open-ended":
        ans = answer_text(text) if text else None
        cand = _norm(ans if ans is not None else (text or ""))
        if not cand:
            return AnswerResult(None, False, True, approximate=True, detail="empty")
        return AnswerResult(cand, cand == _norm(answer), False, approximate=True, detail="exact-match")
    return check_mc(text, options, answer)


def get_answer_check(name: str) -> AnswerCheck:
    return extractors.load(name)


def score_sample(task: TaskSpec, sample: Sample, gen: Generation, prefill: str | None = None) -> SampleScore:
    """Scores of one sample (see :func:`score_samples`)."""
    return score_samples(task, [(sample, gen)], prefill)[0]


def score_samples(task: TaskSpec, items: Sequence[tuple[Sample, Generation]],
                  prefill: str | None = None) -> list[SampleScore]:
    """Scores of many samples of one task; their PRRs are computed in one batch
    (:func:`mosseval.prr.score.score_batch`), with the values one-at-a-time scoring gives."""
    return [SampleScore(**f) for f in score_fields(
        task, [(sample, gen.text, gen.error is not None) for sample, gen in items], prefill)]


def score_fields(task: TaskSpec, items: Sequence[tuple[Sample, str | None, bool]],
                 prefill: str | None = None) -> list[dict[str, Any]]:
    """:func:`score_samples` from ``(sample, generated text, generation failed)`` items, as the keyword
    arguments of each :class:`SampleScore` (``score`` compares them with the stored score without
    building the record)."""
    scorer = TaskScorer(task, prefill)
    fields = [scorer.add(sample, text, errored) for sample, text, errored in items]
    scorer.finish()
    return fields


class TaskScorer:
    """Scores one task's samples as they come (:func:`score_fields` is this over a list): :meth:`add` checks a
    sample's answer and format at once and queues its PRR; :meth:`finish` scores every queued PRR in one
    batch (:func:`mosseval.prr.score.score_batch`, the values one-at-a-time scoring gives) and completes
    the fields :meth:`add` returned. A reader that streams a run (``score``) lets each sample go once added."""

    __slots__ = ("task", "prefill", "check", "check_data", "prr_cfg", "require_format", "approximate", "_fields",
                 "_items", "_dropped")

    def __init__(self, task: TaskSpec, prefill: str | None = None) -> None:
        spec = task.scoring
        self.task = task
        self.prefill = prefill
        self.check = get_answer_check(spec.extractor)
        self.check_data: Callable[[str | None, dict[str, Any], TaskSpec, str | None], AnswerResult] | None = \
            extractors.hook(spec.extractor, "check_data")
        """The extractor's check of a sample's validated data (:mod:`mosseval.recorddata`), where it has one
        (an extractor's ``check_data`` hook: the same result as its check of the :class:`Sample`)."""
        self.prr_cfg: PRRConfig | None = spec.prr
        self.require_format = spec.require_format
        self.approximate = spec.approximate
        # the queued PRRs: each one's fields and (completion, reference steps), in two lists (what the batch takes,
        # without one more pass over them), and the ids of the fields dropped since (rare: a superseded line)
        self._fields: list[dict[str, Any]] = []
        self._items: list[tuple[str, list[str]]] = []
        self._dropped: set[int] = set()

    def add(self, sample: Sample, text: str | None, errored: bool) -> dict[str, Any]:
        """The sample's score fields (the keyword arguments of its :class:`SampleScore`); the PRR ones are
        filled in by :meth:`finish`."""
        return self._add(sample, [s.text for s in sample.reference_steps], text, errored, self.check)

    def add_data(self, data: dict[str, Any], text: str | None, errored: bool) -> dict[str, Any]:
        """:meth:`add` of a sample's validated data (:mod:`mosseval.recorddata`); only where :attr:`check_data`
        is set."""
        if self.check_data is None:
            raise InternalError(f"{self.task.name}: its extractor has no check of a sample's data",
                                hint="a bug in mosseval: report it")
        return self._add(data, [s["text"] for s in data.get("reference_steps", ())], text, errored, self.check_data)

    def _add(self, sample: Any, refs: list[str], text: str | None, errored: bool, check: Callable[..., AnswerResult],
             ) -> dict[str, Any]:
        if errored or text is None:
            f: dict[str, Any] = {"correct": False, "parse_failed": False,
                                 "format_ok": False if self.require_format else None}
            if self.prr_cfg is not None:
                f["prr"], f["prr_status"] = (0.0, "no_steps") if refs else (None, "not_applicable")
            return f
        ans = check(text, sample, self.task, self.prefill)
        f = {
            "extracted": ans.extracted,
            "correct": bool(ans.correct),
            "parse_failed": bool(ans.parse_failed),
            "format_ok": format_ok(text) if self.require_format else None,
            "approximate": bool(ans.approximate or self.approximate),
        }
        if self.prr_cfg is not None:
            self._fields.append(f)
            self._items.append((text, refs))
        return f

    def drop(self, fields: dict[str, Any]) -> None:
        """Forget the queued PRR of fields :meth:`add` returned (a sample superseded by a later line)."""
        if self.prr_cfg is not None and "prr" not in fields:  # queued (fields not queued have their PRR already);
            self._dropped.add(id(fields))  # a queued one stays referenced until finish: its id is not reused

    def finish(self) -> None:
        """Score the queued PRRs in one batch into their fields."""
        fields, items, dropped = self._fields, self._items, self._dropped
        if not fields:
            return
        self._fields, self._items, self._dropped = [], [], set()
        if dropped:
            keep = [i for i, f in enumerate(fields) if id(f) not in dropped]
            fields, items = [fields[i] for i in keep], [items[i] for i in keep]
        from mosseval.prr.score import score_batch

        # the completions handed over (consume: let go once split into steps, a 24,000-sample `score`
        # holds ~12 MiB less while the distances are computed); each alignment as the data of its PRRDetail:
        # SampleScore(**fields) validates it where a score is built, and `score` compares most scores as JSON
        # without building one
        results = score_batch(items, self.prr_cfg, require_format=self.require_format, detail_data=True,
                              consume=True)
        for f, ps in zip(fields, results):
            # set one by one: update() with keywords builds a dict a sample first (~3x the cost at 24,000 samples)
            f["prr"] = ps.prr
            f["prr_status"] = ps.status
            f["steps"] = ps.steps
            f["steps_truncated"] = ps.truncated
            f["prr_detail"] = ps.detail


@dataclass(slots=True)
class ScoreRow:
    """What aggregation reads of one scored sample: :func:`score_row` of a record (the one definition),
    or :func:`score_row_of_fields` where ``score`` has the fields it just computed and no record."""

    key: str
    task: str
    index: int
    cluster: str
    """The sample's ``cluster_key``."""
    facts: Sample | dict[str, Any]
    """What breakdowns read of the sample: the sample itself, or (``score``, which lets each sample go once
    scored) :class:`SampleFacts` of it for its task's breakdown keys."""
    errored: bool
    """The generation failed."""
    correct: bool
    parse_failed: bool
    format_ok: bool | None
    approximate: bool
    prr: float | None
    prr_status: str
    record: SampleRecord | None = None
    """The full record, where read (an extractor's ``summarize`` hook reads records)."""


_NO_SCORE = SampleScore()


def score_row(rec: SampleRecord) -> ScoreRow:
    """The facts aggregation reads of a record (an unscored record: :class:`SampleScore`'s defaults)."""
    s = rec.score or _NO_SCORE
    return ScoreRow(rec.key, rec.task, rec.index, rec.sample.cluster_key, rec.sample, rec.generation.error is not None,
                    s.correct, s.parse_failed, s.format_ok, s.approximate, s.prr, s.prr_status, rec)


def score_row_of_fields(key: str, task: str, index: int, cluster: str, facts: Sample | dict[str, Any], errored: bool,
                        f: dict[str, Any], record: SampleRecord | None = None) -> ScoreRow:
    """:func:`score_row` of the record whose score is ``SampleScore(**f)`` (``f`` from :func:`score_fields`,
    whose values need no validation; a field left out takes its :class:`SampleScore` default)."""
    d = _NO_SCORE
    return ScoreRow(key, task, index, cluster, facts, errored, f["correct"], f["parse_failed"], f["format_ok"],
                    f.get("approximate", d.approximate), f.get("prr", d.prr), f.get("prr_status", d.prr_status),
                    record)


def _holds_record(ann: Any) -> bool:
    from typing import get_args

    from pydantic import BaseModel

    return (isinstance(ann, type) and issubclass(ann, BaseModel)) or any(_holds_record(a) for a in get_args(ann))


_RECORD_FIELDS = frozenset(name for name, f in Sample.model_fields.items() if _holds_record(f.annotation))
"""The :class:`Sample` fields that hold nested records (the video, the reference steps)."""

_LABEL_TYPES = frozenset({str, type(None)})
"""Values whose equality is their label's (shared :class:`SampleFacts` dicts are keyed by them)."""


class SampleFacts:
    """What a :class:`ScoreRow` keeps of a sample it does not keep: the values of breakdown ``keys`` (sample
    fields or ``metadata.<key>``; ``task`` is the row's own) as :func:`breakdown_value` reads them. Rows
    with the same text values share one (read-only) dict: a task has a few categories × levels, not a dict a row."""

    __slots__ = ("_fields", "_get", "_take", "_other", "_seen")

    def __init__(self, keys: Sequence[str]) -> None:
        self._fields = [k for k in dict.fromkeys(keys) if k in Sample.model_fields]
        # the sample's own fields read in one C-level call (every sample has them)
        self._get = operator.attrgetter(*self._fields) if len(self._fields) > 1 else None
        # the same fields of a sample's validated data, as a tuple
        self._take: Callable[[dict[str, Any]], tuple[Any, ...]] = \
            operator.itemgetter(*self._fields) if len(self._fields) > 1 else _Take(self._fields)
        self._other = [k for k in dict.fromkeys(keys) if k != "task" and k not in Sample.model_fields]
        self._seen: dict[tuple[Any, ...], dict[str, Any]] = {}

    def __call__(self, sample: Sample) -> dict[str, Any]:
        values: tuple[Any, ...] = self._get(sample) if self._get is not None else \
            tuple(getattr(sample, k) for k in self._fields)
        if self._other:
            values += tuple(_field(sample, k) for k in self._other)
        return self._shared(values)

    def of_data(self, data: dict[str, Any]) -> dict[str, Any]:
        """:meth:`__call__` of a sample's validated data (:mod:`mosseval.recorddata`)."""
        try:  # every field given (as mosseval writes samples): one C-level call
            values: tuple[Any, ...] = self._take(data)
        except KeyError:  # a field left out: its default
            values = tuple([data[k] if k in data else sample_field(data, k) for k in self._fields])
        if self._other:
            values += tuple(_metadata_value(sample_field(data, "metadata"), k) for k in self._other)
        return self._shared(values)

    @property
    def reads_data(self) -> bool:
        """:meth:`of_data` gives what :meth:`__call__` gives: every key is a plain field (not a nested record) or
        ``metadata.*`` (another name, e.g. a property of :class:`Sample`, needs the sample)."""
        return all(k.startswith("metadata.") for k in self._other) and not _RECORD_FIELDS.intersection(self._fields)

    def _shared(self, values: tuple[Any, ...]) -> dict[str, Any]:
        if not _LABEL_TYPES.issuperset(map(type, values)):
            # a number, a list, …: a dict of its own (equal keys need not give equal labels: 1, 1.0, True)
            return dict(zip(self._fields + self._other, values))
        try:
            return self._seen[values]
        except KeyError:
            pass
        if len(self._seen) >= 4096:
            self._seen.clear()
        out = self._seen[values] = dict(zip(self._fields + self._other, values))
        return out


class _Take:
    """``operator.itemgetter`` of none or one field, as a tuple (``itemgetter(k)`` gives the bare value)."""

    __slots__ = ("fields",)

    def __init__(self, fields: list[str]) -> None:
        self.fields = fields

    def __call__(self, data: dict[str, Any]) -> tuple[Any, ...]:
        return tuple([data[k] for k in self.fields])


def _field(sample: Sample, key: str) -> Any:
    if key.startswith("metadata."):
        return _metadata_value(sample.metadata, key)
    return getattr(sample, key, None)


def _metadata_value(metadata: Any, key: str) -> Any:
    """The value of a ``metadata.<a>.<b>`` breakdown key in a sample's metadata (None where missing)."""
    value = metadata
    for part in key.split(".")[1:]:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _fact(facts: Sample | dict[str, Any], key: str) -> Any:
    """:func:`_field` of a row's sample, or the value :class:`SampleFacts` kept of it."""
    return facts[key] if type(facts) is dict else _field(facts, key)  # type: ignore[arg-type]


def breakdown_value(rec: SampleRecord | ScoreRow, key: str) -> list[str]:
    """The group(s) a record falls in for a breakdown key (``task``, a sample field or
    ``metadata.<key>``); a list-valued field (e.g. MINERVA's skills) puts the record in each of its
    values, a missing one in none."""
    value = rec.task if key == "task" else _fact(rec.facts if isinstance(rec, ScoreRow) else rec.sample, key)
    if type(value) is str:
        return [value]
    values = dict.fromkeys(value) if isinstance(value, (list, tuple)) else [value]
    return [str(v) for v in values if v is not None]


def _plain_values(rows: Sequence[ScoreRow], key: str) -> list[Any]:
    """Each row's value of a plain breakdown key (``task`` or a sample field; None for ``metadata.*``,
    which :func:`breakdown_value` reads): one pass per key instead of a call per row and key."""
    if key == "task":
        return [r.task for r in rows]
    if key.startswith("metadata."):
        return [None] * len(rows)
    # (_fact, inlined; a row's facts are a Sample where they are not a dict)
    return [f[key] if type(f) is dict else _field(f, key) for f in [r.facts for r in rows]]  # type: ignore[arg-type]


_ROW_CLUSTER, _ROW_CORRECT, _ROW_ERRORED, _ROW_PARSE_FAILED, _ROW_APPROXIMATE, _ROW_FORMAT_OK, _ROW_PRR, \
    _ROW_PRR_STATUS = (operator.attrgetter(name) for name in ("cluster", "correct", "errored", "parse_failed",
                                                              "approximate", "format_ok", "prr", "prr_status"))
"""Column readers of :class:`ScoreRow` (one C-level call per row)."""


def _rate(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def score_rows(records: Sequence[SampleRecord | ScoreRow]) -> list[ScoreRow]:
    """The rows of records (rows pass through)."""
    return [r if isinstance(r, ScoreRow) else score_row(r) for r in records]


def aggregate(name: str, version: str, protocol: str, records: Sequence[SampleRecord | ScoreRow],
              breakdowns: list[str], approximate: bool = False,
              prr_enabled: bool = False, format_required: bool = False) -> TaskResult:
    import numpy as np

    from mosseval.stats import first_seen_codes

    rows = score_rows(records)
    # clusters numbered once; every estimate below takes its subset of the numbers (same intervals as labels)
    codes = first_seen_codes(list(map(_ROW_CLUSTER, rows)))
    is_correct = list(map(_ROW_CORRECT, rows))
    correct = [1.0 if c else 0.0 for c in is_correct]
    errors = list(map(_ROW_ERRORED, rows))
    n = len(rows)
    # every mean of the task (accuracy, PRRs, breakdown groups) computed in one call (mean_cis_at: the bits of
    # mean_ci on each subset)
    everyone = range(n)
    subsets: list[tuple[Sequence[int], bool]] = [(everyone, True)]
    prrs: list[Any] = []
    if prr_enabled:
        prrs = list(map(_ROW_PRR, rows))
        scored = [i for i, p in enumerate(prrs) if p is not None]
        # positions in the PRR column, which follows the n correctness values in the value array below
        ok = [i + n for i in scored if is_correct[i]]
        bad = [i + n for i in scored if not is_correct[i]]
        subsets += [([i + n for i in scored], False), (ok, False), (bad, False)]
    by_key: list[tuple[str, list[str]]] = []
    for key in breakdowns:
        values: dict[str, list[int]] = defaultdict(list)
        for i, value in enumerate(_plain_values(rows, key)):
            if type(value) is str:  # breakdown_value's answer for a string, without the call
                values[value].append(i)
                continue
            for v in breakdown_value(rows[i], key):
                values[v].append(i)
        if values:
            labels = sorted(values)
            by_key.append((key.removeprefix("metadata."), labels))
            subsets += [(values[v], True) for v in labels]
    # one value array: accuracy and breakdowns read the correctness of their items, the PRR means (items
    # with a PRR) the PRR
    items = np.asarray(correct, dtype=np.float64)
    if prr_enabled:
        items = np.concatenate([items, np.asarray([0.0 if p is None else p for p in prrs], dtype=np.float64)])
        codes = np.concatenate([codes, codes])
    estimates = iter(mean_cis_at(items, codes, subsets))
    result = TaskResult(
        task=name,
        version=version,
        protocol=protocol,
        n=n,
        n_errors=sum(errors),
        accuracy=next(estimates),
        parse_failure_rate=_rate(list(map(_ROW_PARSE_FAILED, rows))),
        error_rate=_rate(errors),
        approximate=approximate or any(map(_ROW_APPROXIMATE, rows)),
    )
    if format_required:
        result.format_rate = _rate([bool(f) for f in map(_ROW_FORMAT_OK, rows)])
    if prr_enabled:
        result.prr, result.prr_correct, result.prr_incorrect = next(estimates), next(estimates), next(estimates)
        result.prr_not_applicable = list(map(_ROW_PRR_STATUS, rows)).count("not_applicable")
    for label, labels in by_key:
        result.breakdowns[label] = {v: next(estimates) for v in labels}
    return result


def has_summary(task: TaskSpec) -> bool:
    """The task's extractor adds a summary of its own from the full records (a ``summarize`` hook)."""
    name = task.scoring.extractor
    return name in extractors and extractors.hook(name, "summarize") is not None


def aggregate_task(task: TaskSpec, records: Sequence[SampleRecord | ScoreRow]) -> TaskResult:
    rows = score_rows(records)
    result = aggregate(task.name, task.version, task.protocol, rows, task.breakdowns,
                       approximate=task.scoring.approximate, prr_enabled=task.scoring.prr is not None,
                       format_required=task.scoring.require_format)
    if task.scoring.prr is not None:
        result.prr_reference = task.scoring.prr.reference
    # an extractor may add a benchmark's own summary (e.g. Video-MME's official-style accuracy)
    summarize = extractors.hook(task.scoring.extractor, "summarize") if task.scoring.extractor in extractors else None
    if summarize is not None:
        full = [r.record for r in rows]
        if any(r is None for r in full):
            raise InternalError(f"{task.name}: its extractor's summary needs the full records",
                                hint="a bug in mosseval: report it")
        result.extra[task.scoring.extractor] = summarize(full, list(task.breakdowns))
    return result


OFFICIAL_STYLE_PREFIX = "official-style"
"""Label prefix of an extractor summary that reproduces a benchmark's own denominator (``TaskResult.extra``)."""


def official_style_summary(result: TaskResult) -> dict[str, Any] | None:
    """The official-style accuracy an extractor's ``summarize`` hook stored in ``result.extra`` (Video-MME:
    correct / answered, unanswered items left out as the official script does), or ``None``."""
    for summary in (result.extra or {}).values():
        if isinstance(summary, dict) and str(summary.get("label", "")).startswith(OFFICIAL_STYLE_PREFIX) \
                and summary.get("accuracy") is not None:
            return summary
    return None


def official_style_line(name: str, result: TaskResult) -> str | None:
    """One human line for the run table: the official-style number beside mosseval's accuracy, labelled."""
    from mosseval.units import pct

    summary = official_style_summary(result)
    if summary is None:
        return None
    return (f"† {name}: official-style accuracy {pct(summary['accuracy'])} % ({summary['correct']} of "
            f"{summary['answered']} answered; {summary['unanswered']} unanswered left out of the denominator as "
            f"the official script does; mosseval's accuracy above counts them wrong)")


def aggregate_group(group: str, tasks: list[TaskSpec], records: Sequence[SampleRecord | ScoreRow]) -> TaskResult:
    """A group's overall result: the mean over all of its items (not the mean of subtask means)."""
    names = {t.name for t in tasks}
    recs = [r for r in records if r.task in names]
    protocols = sorted({t.protocol for t in tasks})
    result = aggregate(group, "+".join(sorted({f"{t.name}@{t.version}" for t in tasks})),
                       "/".join(protocols), recs, ["task"],
                       approximate=any(t.scoring.approximate for t in tasks),
                       prr_enabled=any(t.scoring.prr is not None for t in tasks),
                       format_required=any(t.scoring.require_format for t in tasks))
    if "task" in result.breakdowns:
        result.breakdowns["subtask"] = result.breakdowns.pop("task")
    kinds = {t.scoring.prr.reference for t in tasks if t.scoring.prr is not None}
    if kinds:  # a group with any paragraph reference is labelled as one
        result.prr_reference = "paragraph" if "paragraph" in kinds else "steps"
    return result


def summarize_value(est: Estimate | None) -> str:
    """The value of an estimate alone, in percent with one decimal (``–`` when there is none)."""
    from mosseval.units import pct

    return pct(est.value if est is not None else None)


def summarize(est: Estimate | None) -> str:
    """An estimate for people: percent with one decimal and its 95 % interval, ``87.3 [84.1, 90.2]``."""
    from mosseval.units import pct_ci

    return pct_ci(est)
