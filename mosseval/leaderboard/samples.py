"""The sample browser's data: a bounded, deterministic selection of each run's samples, as typed views.

Selection per run (``select_samples``): about a third wrong answers, a third among the lowest PRR (only
samples whose PRR is below 1: a perfect trace is never "low"), the rest a draw ranked by a hash of
(task, sample id) so different runs show the same items side by side.
"""

from __future__ import annotations

import hashlib
from array import array

import orjson

from mosseval.judge.summary import RunJudgements
from mosseval.leaderboard.records import AlignmentView, FramesView, ItemView, SampleView, VerdictView
from mosseval.recorddata import record_data
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
# A board embeds up to 100 samples per run. Validating each embedded line into a ``SampleRecord`` (model
# instances for the sample, generation, score and every step), building the typed views and dumping them
# cost ~4x parsing the line. Here the line is validated by pydantic into plain dicts instead
# (:func:`mosseval.recorddata.record_data`: TypedDicts derived from the records' own declarations, the same
# checks), and the views are built from those dicts. A line that does not validate goes through the record as before
# (the same one-line error). ``tests/leaderboard/test_samples.py`` checks that both give the same bytes on
# every fixed-run line and on lines that need coercion or the legacy upgrades.

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


def views_of_data(d: dict, why: str, judgements: RunJudgements) -> tuple[dict, dict]:
    """``item_view(record)`` and ``sample_view(record, None, why, judgements)`` as JSON data (what
    ``model_dump(mode="json")`` gives; the sample's ``item`` is left None for the caller's item id), from the
    record's validated data (:func:`record_data`)."""
    s, g, sc = d["sample"], d["generation"], d.get("score")
    video, steps = s.get("video"), s.get("reference_steps", [])
    if video is not None:
        video = {"path": video["path"], "kind": video.get("kind", "file"), "start": video.get("start"),
                 "end": video.get("end"), "fps": video.get("fps"), "first_index": video.get("first_index", 1)}
    item = {"task": d["task"], "id": s["id"], "question": _cut(s["question"], MAX_TEXT_CHARS),
            "options": s.get("options", {}), "answer": _cut(s["answer"], MAX_TEXT_CHARS),
            "question_type": s.get("question_type", "multiple-choice"), "category": s.get("category"),
            "level": s.get("level"), "video": video,
            # ReferenceStep._legacy_t: a single time "t" is the start
            "reference_steps": [[st.get("t") if st.get("start") is None else st["start"],
                                 _cut(st["text"], MAX_TEXT_CHARS)] for st in steps[:MAX_STEPS]]}
    text, err, usage, f = g.get("text"), g.get("error"), g.get("usage"), g.get("frames")
    if err is not None:
        err = {"kind": err["kind"], "message": _cut(redact_text(err["message"]), 500) or ""}
    if f is not None:
        f = {"indices": f["indices"][:MAX_FRAMES], "timestamps": _rounded(f.get("timestamps", [])[:MAX_FRAMES], 3),
             "decoder": f["decoder"], "sampled_fps": f.get("sampled_fps"), "thumbnails": None}
    key = d["key"]
    out = {"key": key, "item": None, "task": d["task"], "index": d["index"], "why": why,
           "text": _cut(text, MAX_GENERATION_CHARS), "text_truncated": text is not None and len(text) > MAX_GENERATION_CHARS,
           "error": err, "latency_s": g.get("latency_s"),
           "tokens": usage.get("completion_tokens") if usage is not None else None, "frames": f, "extracted": None,
           "correct": None, "parse_failed": None, "format_ok": None, "prr": None, "prr_status": "disabled",
           "approximate": False, "steps": [], "steps_truncated": False, "alignment": None}
    if sc is not None:
        p = sc.get("prr_detail")
        if p is not None:
            p = {"cost": p["cost"], "normalized_cost": p["normalized_cost"], "path": p["path"],
                 "distances": _rounded(p["step_distances"], 4)}
        out.update(extracted=sc.get("extracted"), correct=sc.get("correct", False),
                   parse_failed=sc.get("parse_failed", False), format_ok=sc.get("format_ok"), prr=sc.get("prr"),
                   prr_status=sc.get("prr_status", "disabled"), approximate=sc.get("approximate", False),
                   steps=_cuts(sc.get("steps", [])[:MAX_STEPS], MAX_TEXT_CHARS),
                   steps_truncated=sc.get("steps_truncated", False), alignment=p)
    verdicts = judgements.verdicts.get(key)
    out["judge"] = {name: _verdict_view(v).model_dump(mode="json")
                    for name, v in sorted(verdicts.items())} if verdicts else {}
    return item, out


def item_id_of_data(item: dict) -> str:
    """:func:`item_id` of an item's JSON data (``views_of_data``): ``digest(item, 12)``, its canonical JSON
    written by orjson when that is byte for byte ``canonical_json``'s (every float between 1e-4 and 1e16 in
    magnitude, or 0: where json writes an exponent, e.g. ``1e-05``, orjson writes ``0.00001``)."""
    video = item["video"]
    floats = [st[0] for st in item["reference_steps"]]
    if video is not None:
        floats += (video["start"], video["end"], video["fps"])
    if all(x is None or x == 0 or 1e-4 <= abs(x) < 1e16 for x in floats):
        return hashlib.sha256(orjson.dumps(item, option=orjson.OPT_SORT_KEYS)).hexdigest()[:12]
    return digest(item, 12)


__all__ = ["select_samples", "item_view", "item_id", "sample_view", "stable_rank", "record_data",
           "views_of_data", "item_id_of_data"]
