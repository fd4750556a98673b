"""The sample browser's data: a bounded, deterministic selection of each run's samples, as typed views.

Selection per run (``select_samples``): about a third wrong answers, a third among the lowest PRR (only
samples whose PRR is below 1: a perfect trace is never "low"), the rest a draw ranked by a hash of
(task, sample id) so different runs show the same items side by side.
"""

from __future__ import annotations

import hashlib
import types
from itertools import chain
from operator import itemgetter, methodcaller
from typing import Any, Literal, Union, get_args, get_origin

import orjson
from pydantic import BaseModel

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

class _NotPlain(Exception):
    """The line holds something the shortcut does not read exactly as validation would: use the record."""


_NONE = type(None)
_ANY_JSON = frozenset({str, int, float, bool, list, dict, _NONE})


def _json_types(ann: Any) -> frozenset[type]:
    """The types of parsed JSON values that validating into ``ann`` keeps as they are."""
    origin = get_origin(ann)
    if origin in (Union, types.UnionType):
        return frozenset().union(*(_json_types(a) for a in get_args(ann)))
    if ann is _NONE or ann is None:
        return frozenset({_NONE})
    if ann in (str, int, float, bool):
        return frozenset({ann})
    if origin is Literal:
        return frozenset(type(a) for a in get_args(ann))
    if ann in (list, tuple) or origin in (list, tuple):
        return frozenset({list})
    if ann is dict or origin is dict or (isinstance(ann, type) and issubclass(ann, BaseModel)):
        return frozenset({dict})
    if ann is Any:
        return _ANY_JSON
    raise TypeError(f"no JSON type for {ann!r}")


class _Shape:
    """One record's fields as parsed JSON must hold them to come out of validation unchanged: exact types
    (no int where a float is declared: validation would convert it), Literal values, required fields, no
    undeclared field. Derived from the record's own declaration."""

    __slots__ = ("types", "values", "required", "_seen")

    def __init__(self, model: type[BaseModel], extra: dict[str, frozenset[type]] | None = None):
        self.types = {name: _json_types(f.annotation) for name, f in model.model_fields.items()}
        self.types.update(extra or {})
        self.values = {name: frozenset(get_args(f.annotation)) for name, f in model.model_fields.items()
                       if get_origin(f.annotation) is Literal}
        self.required = frozenset(name for name, f in model.model_fields.items() if f.is_required())
        self._seen: dict[tuple, bool] = {}
        """(field names, value types) -> plain: lines of one run share a handful of layouts."""

    def _plain(self, obj: dict) -> bool:
        types_ = self.types
        return self.required.issubset(obj) and all(k in types_ and type(v) in types_[k] for k, v in obj.items())

    def check(self, obj: Any) -> dict:
        if type(obj) is not dict:
            raise _NotPlain
        layout = (*obj, *map(type, obj.values()))
        plain = self._seen.get(layout)
        if plain is None:
            plain = self._plain(obj)
            if len(self._seen) < 4096:
                self._seen[layout] = plain
        if not plain:
            raise _NotPlain
        for k, allowed in self.values.items():
            if k in obj and obj[k] not in allowed:
                raise _NotPlain
        return obj


_RECORD = _Shape(SampleRecord)
_SAMPLE = _Shape(Sample)
_VIDEO = _Shape(VideoRef)
_GENERATION = _Shape(Generation)
_FRAMES = _Shape(FrameInfo)
_SCORE = _Shape(SampleScore, {"judge": _ANY_JSON})  # a legacy judge entry is dropped either way
_DETAIL = _Shape(PRRDetail)
_USAGE = _Shape(Usage)
_ERROR = _Shape(ErrorInfo)


def _all(xs: list, t: type) -> list:
    """``xs`` (a list) when every value in it is exactly of type ``t``."""
    if xs and set(map(type, xs)) != {t}:
        raise _NotPlain
    return xs


_STEP_KEYS = frozenset(ReferenceStep.model_fields) | {"t"}
_TIME_TYPES = {float, _NONE}


def _steps_plain(steps: Any) -> None:
    """``_STEP.check`` of every step, a pass per field instead of a call per step (a line holds 5–60)."""
    if type(steps) is not list:
        raise _NotPlain
    if not steps:
        return
    if set(map(type, steps)) != {dict} or not all(k <= _STEP_KEYS and "text" in k for k in set(map(frozenset, steps))):
        raise _NotPlain
    if set(map(type, map(itemgetter("text"), steps))) != {str}:
        raise _NotPlain
    for name in ("start", "end", "t"):
        if not _TIME_TYPES.issuperset(map(type, map(methodcaller("get", name), steps))):
            raise _NotPlain


_ROUNDED: dict[tuple[float, int], float] = {}
"""(value, digits) -> round(value, digits): frame times and step distances repeat across samples, and
``round`` with digits costs ~0.5 µs (it goes through decimal strings)."""


def _rounded(xs: list[float], digits: int) -> list[float]:
    out = []
    for x in xs:
        r = _ROUNDED.get((x, digits)) if x else None  # never 0.0 for -0.0: zeros are not cached
        if r is None:
            r = round(x, digits)
            if x and len(_ROUNDED) < 65536:
                _ROUNDED[(x, digits)] = r
        out.append(r)
    return out


def item_data_of_json(d: dict) -> dict | None:
    """``item_view(record).model_dump(mode="json")`` read from the record's parsed JSON line, or None when
    the line has to be validated into the record first."""
    try:
        s = _SAMPLE.check(_RECORD.check(d)["sample"])
        options = s.get("options", {})
        _all(list(options.values()), str)
        v = s.get("video")
        if v is not None:
            _VIDEO.check(v)
            v = {"path": v["path"], "kind": v.get("kind", "file"), "start": v.get("start"), "end": v.get("end"),
                 "fps": v.get("fps"), "first_index": v.get("first_index", 1)}
        steps = s.get("reference_steps", ())
        _steps_plain(steps)
        # ReferenceStep._legacy_t: a single time "t" is the start
        steps = [[st.get("start") if st.get("start") is not None else st.get("t"),
                  _cut(st["text"], MAX_TEXT_CHARS) or ""] for st in steps[:MAX_STEPS]]
        return {"task": d["task"], "id": s["id"], "question": _cut(s["question"], MAX_TEXT_CHARS) or "",
                "options": options, "answer": _cut(s["answer"], MAX_TEXT_CHARS) or "",
                "question_type": s.get("question_type", "multiple-choice"), "category": s.get("category"),
                "level": s.get("level"), "video": v, "reference_steps": steps}
    except _NotPlain:
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


def sample_data_of_json(d: dict, item: str, why: str, judgements: RunJudgements) -> dict | None:
    """``sample_view(record, ...).model_dump(mode="json")`` read from the record's parsed JSON line, or None
    when the line has to be validated into the record first."""
    try:
        g = _GENERATION.check(_RECORD.check(d)["generation"])
        key, text, err, usage, f = d["key"], g.get("text"), g.get("error"), g.get("usage"), g.get("frames")
        if err is not None:
            _ERROR.check(err)
            err = {"kind": err["kind"], "message": _cut(redact_text(err["message"]), 500) or ""}
        if usage is not None:
            usage = _USAGE.check(usage).get("completion_tokens")
        if f is not None:
            _FRAMES.check(f)
            f = {"indices": _all(f["indices"], int)[:MAX_FRAMES],
                 "timestamps": _rounded(_all(f.get("timestamps", []), float)[:MAX_FRAMES], 3),
                 "decoder": f["decoder"], "sampled_fps": f.get("sampled_fps"), "thumbnails": None}
        out = {"key": key, "item": item, "task": d["task"], "index": d["index"], "why": why,
               "text": _cut(text, MAX_GENERATION_CHARS),
               "text_truncated": text is not None and len(text) > MAX_GENERATION_CHARS, "error": err,
               "latency_s": g.get("latency_s"), "tokens": usage, "frames": f, "extracted": None, "correct": None,
               "parse_failed": None, "format_ok": None, "prr": None, "prr_status": "disabled", "approximate": False,
               "steps": [], "steps_truncated": False, "alignment": None}
        sc = d.get("score")
        if sc is not None:
            _SCORE.check(sc)
            p = sc.get("prr_detail")
            if p is not None:
                _DETAIL.check(p)
                path = p["path"]
                if path and (set(map(type, path)) != {list} or set(map(len, path)) != {2}):
                    raise _NotPlain
                _all(list(chain.from_iterable(path)), int)
                p = {"cost": p["cost"], "normalized_cost": p["normalized_cost"], "path": path,
                     "distances": _rounded(_all(p["step_distances"], float), 4)}
            out.update(extracted=sc.get("extracted"), correct=sc.get("correct", False),
                       parse_failed=sc.get("parse_failed", False), format_ok=sc.get("format_ok"), prr=sc.get("prr"),
                       prr_status=sc.get("prr_status", "disabled"), approximate=sc.get("approximate", False),
                       steps=[_cut(x, MAX_TEXT_CHARS) or "" for x in _all(sc.get("steps", []), str)[:MAX_STEPS]],
                       steps_truncated=sc.get("steps_truncated", False), alignment=p)
        verdicts = judgements.verdicts.get(key)
        out["judge"] = {name: _verdict_view(v).model_dump(mode="json")
                        for name, v in sorted(verdicts.items())} if verdicts else {}
        return out
    except _NotPlain:
        return None


__all__ = ["select_samples", "item_view", "item_id", "sample_view", "stable_rank", "item_data_of_json",
           "sample_data_of_json", "item_id_of_data"]
