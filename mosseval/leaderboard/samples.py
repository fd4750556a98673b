"""The sample browser's data: a bounded, deterministic selection of each run's samples, as typed views.

Selection per run (``select_samples``): about a third wrong answers, a third among the lowest PRR (only
samples whose PRR is below 1: a perfect trace is never "low"), the rest a draw ranked by a hash of
(task, sample id) so different runs show the same items side by side.
"""

from __future__ import annotations

import hashlib
from array import array
from typing import Any

import orjson
from msgspec import UNSET

from mosseval.judge.summary import RunJudgements
from mosseval.leaderboard.records import AlignmentView, FramesView, ItemView, SampleView, VerdictView
from mosseval.records import (
    ErrorInfo,
    JudgeVerdict,
    SampleRecord,
    digest,
)
from mosseval.redact import redact_text
from mosseval.sampletable import SampleTable

MAX_GENERATION_CHARS = 6000
MAX_TEXT_CHARS = 2000
MAX_STEPS = 128
MAX_FRAMES = 256


def _cut(text: str | None, limit: int) -> str | None:
    return text if text is None or len(text) <= limit else text[:limit]


def stable_rank(*parts: str) -> str:
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()


def _ranks(tasks: list[str], ids: list[str]) -> list[str]:
    """``[stable_rank(task, id) for …]`` of every row, without a call and a join a row."""
    sha1 = hashlib.sha1
    return [sha1(f"{t}\x1f{i}".encode()).hexdigest() for t, i in zip(tasks, ids)]


def select_samples(table: SampleTable, k: int) -> list[tuple[int, str]]:
    """A deterministic mix of wrong answers, low PRR and a shared hash-ranked draw, in (task, index) order:
    the picked rows of ``table`` and why each was picked."""
    n = len(table)
    if k <= 0 or not n:
        return []
    task, index, prr = table.task, table.index, table.prr
    if n <= k:
        return sorted(((i, "all") for i in range(n)), key=lambda x: (task[x[0]], index[x[0]]))
    rank = _ranks(task, table.sample_id)
    picked: dict[int, str] = {}
    wrong = sorted((i for i in range(n) if not table.correct_score[i]), key=rank.__getitem__)
    for i in wrong[: k // 3]:
        picked[i] = "wrong"
    low = sorted((i for i in range(n) if prr[i] is not None and prr[i] < 1.0 and i not in picked),  # type: ignore[operator]
                 key=lambda i: (prr[i], rank[i]))
    for i in low[: k // 3]:
        picked[i] = "low-prr"
    for i in sorted(range(n), key=rank.__getitem__):
        if len(picked) >= k:
            break
        if i not in picked:
            picked[i] = "random"
    return sorted(picked.items(), key=lambda x: (task[x[0]], index[x[0]]))


def item_view(rec: SampleRecord) -> ItemView:
    s = rec.sample
    return ItemView(task=rec.task, id=s.id, question=_cut(s.question, MAX_TEXT_CHARS) or "", options=dict(s.options),
                    answer=_cut(s.answer, MAX_TEXT_CHARS) or "", question_type=s.question_type, category=s.category,
                    level=s.level, video=s.video,
                    reference_steps=[(st.t, _cut(st.text, MAX_TEXT_CHARS) or "") for st in s.reference_steps[:MAX_STEPS]])


def item_id(view: ItemView) -> str:
    return digest(view.model_dump(mode="json"), 12)


def _verdict_view(v: JudgeVerdict) -> VerdictView:
    return VerdictView(score=v.score, correct=v.correct, error=v.error, extracted_answer=v.extracted_answer,
                       rationale=_cut(v.rationale, MAX_TEXT_CHARS))


def sample_view(rec: SampleRecord, item: str, why: str, judgements: RunJudgements) -> SampleView:
    g, sc = rec.generation, rec.score
    text = g.text
    fields: dict = dict(
        key=rec.key, item=item, task=rec.task, index=rec.index, why=why,
        text=_cut(text, MAX_GENERATION_CHARS), text_truncated=text is not None and len(text) > MAX_GENERATION_CHARS,
        error=ErrorInfo(kind=g.error.kind, message=_cut(redact_text(g.error.message), 500) or "")
        if g.error else None,  # (redacted at the source since; older runs may still carry a secret)
        latency_s=g.latency_s, tokens=g.usage.completion_tokens if g.usage else None,
        frames=FramesView(indices=g.frames.indices[:MAX_FRAMES],
                          timestamps=[round(t, 3) for t in g.frames.timestamps[:MAX_FRAMES]],
                          decoder=g.frames.decoder, sampled_fps=g.frames.sampled_fps) if g.frames else None,
        judge={name: _verdict_view(v) for name, v in sorted(judgements.verdicts.get(rec.key, {}).items())},
    )
    if sc is not None:  # one constructor call (setting a dozen fields afterwards costs as much again)
        fields.update(extracted=sc.extracted, correct=sc.correct, parse_failed=sc.parse_failed, format_ok=sc.format_ok,
                      prr=sc.prr, prr_status=sc.prr_status, approximate=sc.approximate,
                      steps=[_cut(x, MAX_TEXT_CHARS) or "" for x in sc.steps[:MAX_STEPS]],
                      steps_truncated=sc.steps_truncated)
        if sc.prr_detail is not None:
            d = sc.prr_detail
            fields["alignment"] = AlignmentView(cost=d.cost, normalized_cost=d.normalized_cost, path=list(d.path),
                                                distances=[round(x, 4) for x in d.step_distances])
    return SampleView(**fields)


# --------------------------------------------------------------------------- the same views, from the decoded line
#
# A board embeds up to 100 samples per run. Validating each embedded line into a ``SampleRecord`` (model
# instances for the sample, generation, score and every step), building the typed views and dumping them
# cost ~4x parsing the line. Here the line is decoded by msgspec into the record's own structs
# (:func:`mosseval.recorddata.record_struct_decoder`: the record's fields and types, the same checks), and the
# views are built from the structs' attributes. A line msgspec does not decode goes through the record as
# before (the same views, or the same one-line error). ``tests/leaderboard/test_samples.py`` checks that both
# give the same bytes on every fixed-run line and on lines that need coercion or the legacy upgrades.

_ROUNDED: dict[tuple[bytes, int], list[float]] = {}
"""(values, digits) -> rounded values: frame times and step distances repeat across samples, and ``round``
with digits costs ~0.5 µs a value (it goes through decimal strings). Keyed by the doubles' bytes, so -0.0
never comes back as 0.0."""


def _rounded(xs: list[float], digits: int) -> list[float]:
    key = (array("d", xs).tobytes(), digits)
    out = _ROUNDED.get(key)
    if out is None:
        out = [round(x, digits) for x in xs]
        if len(_ROUNDED) < 1024:
            _ROUNDED[key] = out
    return list(out)


def _cuts(texts: list[str], limit: int) -> list[str]:
    return [x if len(x) <= limit else x[:limit] for x in texts]


def views_of_struct(d: Any, why: str, judgements: RunJudgements) -> tuple[dict, dict]:
    """``item_view(record)`` and ``sample_view(record, None, why, judgements)`` as JSON data (what
    ``model_dump(mode="json")`` gives; the sample's ``item`` is left None for the caller's item id), from the
    line decoded into the record's structs (:func:`mosseval.recorddata.record_struct_decoder`; a field the line
    leaves out is ``UNSET`` and reads as the record's default)."""
    s, g, sc = d.sample, d.generation, d.score
    video, steps = s.video, s.reference_steps
    if video is not None and video is not UNSET:
        kind, start, end, fps, first = video.kind, video.start, video.end, video.fps, video.first_index
        video = {"path": video.path, "kind": "file" if kind is UNSET else kind, "start": None if start is UNSET else start,
                 "end": None if end is UNSET else end, "fps": None if fps is UNSET else fps,
                 "first_index": 1 if first is UNSET else first}
    else:
        video = None
    options, qtype, category, level = s.options, s.question_type, s.category, s.level
    item = {"task": d.task, "id": s.id, "question": _cut(s.question, MAX_TEXT_CHARS),
            "options": {} if options is UNSET else options, "answer": _cut(s.answer, MAX_TEXT_CHARS),
            "question_type": "multiple-choice" if qtype is UNSET else qtype,
            "category": None if category is UNSET else category, "level": None if level is UNSET else level,
            "video": video,
            # ReferenceStep._legacy_t: a single time "t" is the start
            "reference_steps": [] if steps is UNSET else [
                [st.start if st.start is not None and st.start is not UNSET else _step_start(st),
                 _cut(st.text, MAX_TEXT_CHARS)] for st in steps[:MAX_STEPS]]}
    text, err, usage, f, latency = g.text, g.error, g.usage, g.frames, g.latency_s
    if text is UNSET:
        text = None
    if err is not None and err is not UNSET:
        err = {"kind": err.kind, "message": _cut(redact_text(err.message), 500) or ""}
    else:
        err = None
    if f is not None and f is not UNSET:
        stamps, fps = f.timestamps, f.sampled_fps
        f = {"indices": f.indices[:MAX_FRAMES],
             "timestamps": _rounded([] if stamps is UNSET else stamps[:MAX_FRAMES], 3),
             "decoder": f.decoder, "sampled_fps": None if fps is UNSET else fps, "thumbnails": None}
    else:
        f = None
    tokens = None
    if usage is not None and usage is not UNSET and usage.completion_tokens is not UNSET:
        tokens = usage.completion_tokens
    key = d.key
    out = {"key": key, "item": None, "task": d.task, "index": d.index, "why": why,
           "text": _cut(text, MAX_GENERATION_CHARS), "text_truncated": text is not None and len(text) > MAX_GENERATION_CHARS,
           "error": err, "latency_s": None if latency is UNSET else latency, "tokens": tokens, "frames": f,
           "extracted": None, "correct": None, "parse_failed": None, "format_ok": None, "prr": None,
           "prr_status": "disabled", "approximate": False, "steps": [], "steps_truncated": False, "alignment": None}
    if sc is not None and sc is not UNSET:
        p = sc.prr_detail
        if p is not None and p is not UNSET:
            p = {"cost": p.cost, "normalized_cost": p.normalized_cost, "path": p.path,
                 "distances": _rounded(p.step_distances, 4)}
        else:
            p = None
        # set one by one (update() with keywords builds a dict first); a field left out keeps out's default, which
        # is the record's except for correct and parse_failed (None in out: no score)
        if sc.extracted is not UNSET:
            out["extracted"] = sc.extracted
        out["correct"] = False if sc.correct is UNSET else sc.correct
        out["parse_failed"] = False if sc.parse_failed is UNSET else sc.parse_failed
        if sc.format_ok is not UNSET:
            out["format_ok"] = sc.format_ok
        if sc.prr is not UNSET:
            out["prr"] = sc.prr
        if sc.prr_status is not UNSET:
            out["prr_status"] = sc.prr_status
        if sc.approximate is not UNSET:
            out["approximate"] = sc.approximate
        if sc.steps is not UNSET:
            out["steps"] = _cuts(sc.steps[:MAX_STEPS], MAX_TEXT_CHARS)
        if sc.steps_truncated is not UNSET:
            out["steps_truncated"] = sc.steps_truncated
        out["alignment"] = p
    verdicts = judgements.verdicts.get(key)
    out["judge"] = {name: _verdict_view(v).model_dump(mode="json")
                    for name, v in sorted(verdicts.items())} if verdicts else {}
    return item, out


def _step_start(st: Any) -> Any:
    """``ReferenceStep.start`` of a decoded step: its ``start``, else a legacy single time ``t``."""
    start = st.start
    if start is None or start is UNSET:
        t = st.t
        return None if t is UNSET else t
    return start


def item_id_of_data(item: dict) -> str:
    """:func:`item_id` of an item's JSON data (``views_of_struct``): ``digest(item, 12)``, its canonical JSON
    written by orjson when that is byte for byte ``canonical_json``'s (every float between 1e-4 and 1e16 in
    magnitude, or 0: where json writes an exponent, e.g. ``1e-05``, orjson writes ``0.00001``)."""
    video = item["video"]
    floats = [st[0] for st in item["reference_steps"]]
    if video is not None:
        floats += (video["start"], video["end"], video["fps"])
    for x in floats:  # (a loop, not all() over a generator: ~2x faster for the handful of values)
        if not (x is None or x == 0 or 1e-4 <= abs(x) < 1e16):
            return digest(item, 12)
    return hashlib.sha256(orjson.dumps(item, option=orjson.OPT_SORT_KEYS)).hexdigest()[:12]


__all__ = ["select_samples", "item_view", "item_id", "sample_view", "stable_rank", "views_of_struct",
           "item_id_of_data"]
