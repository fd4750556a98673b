"""The sample browser's data: a bounded, deterministic selection of each run's samples, as typed views.

Selection per run (``select_samples``): about a third wrong answers, a third among the lowest PRR (only
samples whose PRR is below 1: a perfect trace is never "low"), the rest a draw ranked by a hash of
(task, sample id) so different runs show the same items side by side.
"""

from __future__ import annotations

import hashlib

from mosseval.judge.summary import RunJudgements
from mosseval.leaderboard.records import AlignmentView, FramesView, ItemView, SampleView, VerdictView
from mosseval.records import ErrorInfo, SampleRecord, digest
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
        judge={name: VerdictView(score=v.score, correct=v.correct, error=v.error,
                                 extracted_answer=v.extracted_answer, rationale=_cut(v.rationale, MAX_TEXT_CHARS))
               for name, v in sorted(judgements.verdicts.get(rec.key, {}).items())},
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


__all__ = ["select_samples", "item_view", "item_id", "sample_view", "stable_rank"]
