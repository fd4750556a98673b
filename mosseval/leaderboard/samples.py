"""The sample browser's data: a bounded, deterministic selection of each run's samples, as typed views.

Selection per run (``select_samples``): about a third wrong answers, a third among the lowest PRR (only
samples whose PRR is below 1: a perfect trace is never "low"), the rest a draw ranked by a hash of
(task, sample id) so different runs show the same items side by side.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from mosseval.judge.summary import RunJudgements
from mosseval.leaderboard.records import AlignmentView, FramesView, ItemView, SampleView, VerdictView
from mosseval.records import (
    ErrorInfo,
    FrameInfo,
    Generation,
    JudgeVerdict,
    PRRDetail,
    ReferenceStep,
    Sample,
    SampleRecord,
    SampleScore,
    Usage,
    VideoRef,
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


def select_samples(table: SampleTable, k: int) -> list[tuple[int, str]]:
    """A deterministic mix of wrong answers, low PRR and a shared hash-ranked draw, in (task, index) order:
    the picked rows of ``table`` and why each was picked."""
    n = len(table)
    if k <= 0 or not n:
        return []
    task, index, prr = table.task, table.index, table.prr
    if n <= k:
        return sorted(((i, "all") for i in range(n)), key=lambda x: (task[x[0]], index[x[0]]))
    rank = [stable_rank(t, s) for t, s in zip(task, table.sample_id)]
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


# --------------------------------------------------------------------------- the same views, from the JSON line
#
# A board embeds up to 100 samples per run. Validating each embedded line into a ``SampleRecord`` (every field
# of the sample, generation and score), building the typed views and dumping them cost ~4x parsing the line.
# The views are plain JSON of what the line already holds, so they are read straight from the parsed line
# when every field they use has exactly its declared type (a float field holds a float, not an int that
# validation would convert) and no object has a field its record does not declare; any other line goes
# through ``item_view`` / ``sample_view`` of the validated record. ``tests/leaderboard/test_samples.py``
# checks that both give the same bytes on every fixed-run line, and that each kind of line the shortcut
# does not read falls back.

_QUESTION_TYPES = ("multiple-choice", "open-ended")
_VIDEO_KINDS = ("file", "frames")
_ERROR_KINDS = ("media", "model", "api", "timeout", "data", "judge")
_PRR_STATUSES = ("scored", "not_applicable", "no_steps", "format_broken", "disabled")
_RECORD_FIELDS = frozenset(SampleRecord.model_fields)
_SAMPLE_FIELDS = frozenset(Sample.model_fields)
_VIDEO_FIELDS = frozenset(VideoRef.model_fields)
_STEP_FIELDS = frozenset(ReferenceStep.model_fields) | {"t"}  # "t": the legacy single time
_GENERATION_FIELDS = frozenset(Generation.model_fields)
_FRAME_FIELDS = frozenset(FrameInfo.model_fields)
_SCORE_FIELDS = frozenset(SampleScore.model_fields) | {"judge"}  # a legacy judge entry is dropped either way
_DETAIL_FIELDS = frozenset(PRRDetail.model_fields)
_USAGE_FIELDS = frozenset(Usage.model_fields)
_ERROR_FIELDS = frozenset(ErrorInfo.model_fields)


class _NotPlain(Exception):
    """The line holds something the shortcut does not read exactly as validation would: use the record."""


def _typed(x: Any, t: type, optional: bool = True) -> Any:
    """``x`` when it is exactly of type ``t`` (or None, when ``optional``)."""
    if type(x) is t or (optional and x is None):
        return x
    raise _NotPlain


def _obj(x: Any, fields: frozenset[str]) -> dict:
    """``x`` when it is a JSON object with no field beyond ``fields``."""
    if type(x) is not dict or not fields.issuperset(x):
        raise _NotPlain
    return x


def _all(xs: Any, t: type) -> list:
    """``xs`` when it is a list of values of exactly type ``t``."""
    if type(xs) is not list or (xs and set(map(type, xs)) != {t}):
        raise _NotPlain
    return xs


def _one_of(x: Any, allowed: tuple[str, ...]) -> str:
    if type(x) is not str or x not in allowed:
        raise _NotPlain
    return x


def _text(x: Any, limit: int) -> str:
    return _cut(_typed(x, str, False), limit) or ""


def _video_of_json(v: Any) -> dict | None:
    if v is None:
        return None
    _obj(v, _VIDEO_FIELDS)
    return {"path": _typed(v["path"], str, False), "kind": _one_of(v.get("kind", "file"), _VIDEO_KINDS),
            "start": _typed(v.get("start"), float), "end": _typed(v.get("end"), float),
            "fps": _typed(v.get("fps"), float), "first_index": _typed(v.get("first_index", 1), int, False)}


def item_data_of_json(d: dict) -> dict | None:
    """``item_view(record).model_dump(mode="json")`` read from the record's parsed JSON line, or None when
    the line has to be validated into the record first."""
    try:
        s = _obj(_obj(d, _RECORD_FIELDS)["sample"], _SAMPLE_FIELDS)
        options = _obj(s.get("options", {}), frozenset(s.get("options", {})))
        _all(list(options.values()), str)
        steps = []
        for i, st in enumerate(_typed(s.get("reference_steps", []), list, False)):
            _obj(st, _STEP_FIELDS)
            text, start, _ = _typed(st["text"], str, False), _typed(st.get("start"), float), _typed(st.get("end"), float)
            if start is None and "t" in st:  # ReferenceStep._legacy_t: a single time "t" is the start
                start = _typed(st["t"], float)
            elif "t" in st:
                _typed(st["t"], float)
            if i < MAX_STEPS:
                steps.append([start, _cut(text, MAX_TEXT_CHARS) or ""])
        return {"task": _typed(d["task"], str, False), "id": _typed(s["id"], str, False),
                "question": _text(s["question"], MAX_TEXT_CHARS), "options": options,
                "answer": _text(s["answer"], MAX_TEXT_CHARS),
                "question_type": _one_of(s.get("question_type", "multiple-choice"), _QUESTION_TYPES),
                "category": _typed(s.get("category"), str), "level": _typed(s.get("level"), str),
                "video": _video_of_json(s.get("video")), "reference_steps": steps}
    except (_NotPlain, KeyError):
        return None


def item_id_of_data(item: dict) -> str:
    """:func:`item_id` of an item's JSON data (``item_data_of_json``): ``digest(item, 12)``, its canonical JSON
    written by orjson when that is byte for byte ``canonical_json``'s (every float between 1e-4 and 1e16 in
    magnitude, or 0: where json writes an exponent, e.g. ``1e-05``, orjson writes ``0.00001``)."""
    video = item["video"]
    floats = [st[0] for st in item["reference_steps"]]
    if video is not None:
        floats += (video["start"], video["end"], video["fps"])
    if all(x is None or x == 0 or 1e-4 <= abs(x) < 1e16 for x in floats):
        return hashlib.sha256(orjson.dumps(item, option=orjson.OPT_SORT_KEYS)).hexdigest()[:12]
    return digest(item, 12)


def _frames_of_json(f: Any) -> dict | None:
    if f is None:
        return None
    _obj(f, _FRAME_FIELDS)
    return {"indices": _all(f["indices"], int)[:MAX_FRAMES],
            "timestamps": [round(t, 3) for t in _all(f.get("timestamps", []), float)[:MAX_FRAMES]],
            "decoder": _typed(f["decoder"], str, False), "sampled_fps": _typed(f.get("sampled_fps"), float),
            "thumbnails": None}


def _alignment_of_json(p: Any) -> dict | None:
    if p is None:
        return None
    _obj(p, _DETAIL_FIELDS)
    path = _typed(p["path"], list, False)
    if not all(type(x) is list and len(x) == 2 and type(x[0]) is int and type(x[1]) is int for x in path):
        raise _NotPlain
    return {"cost": _typed(p["cost"], float, False), "normalized_cost": _typed(p["normalized_cost"], float, False),
            "path": path, "distances": [round(x, 4) for x in _all(p["step_distances"], float)]}


def sample_data_of_json(d: dict, item: str, why: str, judgements: RunJudgements) -> dict | None:
    """``sample_view(record, ...).model_dump(mode="json")`` read from the record's parsed JSON line, or None
    when the line has to be validated into the record first."""
    try:
        g = _obj(_obj(d, _RECORD_FIELDS)["generation"], _GENERATION_FIELDS)
        key = _typed(d["key"], str, False)
        text = _typed(g.get("text"), str)
        err = g.get("error")
        if err is not None:
            _obj(err, _ERROR_FIELDS)
            err = {"kind": _one_of(err["kind"], _ERROR_KINDS),
                   "message": _cut(redact_text(_typed(err["message"], str, False)), 500) or ""}
        usage = g.get("usage")
        tokens = None if usage is None else _typed(_obj(usage, _USAGE_FIELDS).get("completion_tokens"), int)
        out = {"key": key, "item": item, "task": _typed(d["task"], str, False), "index": _typed(d["index"], int, False),
               "why": why, "text": _cut(text, MAX_GENERATION_CHARS),
               "text_truncated": text is not None and len(text) > MAX_GENERATION_CHARS, "error": err,
               "latency_s": _typed(g.get("latency_s"), float), "tokens": tokens,
               "frames": _frames_of_json(g.get("frames")), "extracted": None, "correct": None, "parse_failed": None,
               "format_ok": None, "prr": None, "prr_status": "disabled", "approximate": False, "steps": [],
               "steps_truncated": False, "alignment": None}
        sc = d.get("score")
        if sc is not None:
            _obj(sc, _SCORE_FIELDS)
            out.update(extracted=_typed(sc.get("extracted"), str), correct=_typed(sc.get("correct", False), bool, False),
                       parse_failed=_typed(sc.get("parse_failed", False), bool, False),
                       format_ok=_typed(sc.get("format_ok"), bool), prr=_typed(sc.get("prr"), float),
                       prr_status=_one_of(sc.get("prr_status", "disabled"), _PRR_STATUSES),
                       approximate=_typed(sc.get("approximate", False), bool, False),
                       steps=[_cut(x, MAX_TEXT_CHARS) or "" for x in _all(sc.get("steps", []), str)[:MAX_STEPS]],
                       steps_truncated=_typed(sc.get("steps_truncated", False), bool, False),
                       alignment=_alignment_of_json(sc.get("prr_detail")))
        out["judge"] = {name: _verdict_view(v).model_dump(mode="json")
                        for name, v in sorted(judgements.verdicts.get(key, {}).items())}
        return out
    except (_NotPlain, KeyError):
        return None


__all__ = ["select_samples", "item_view", "item_id", "sample_view", "stable_rank", "item_data_of_json",
           "sample_data_of_json", "item_id_of_data"]
