"""What a rubric sees of one sample, whether it applies, and the fingerprints that key verdicts."""

from __future__ import annotations

from typing import Any

from mosseval.prr.format import answer_text, think_text
from mosseval.records import SampleRecord, digest

NO_OUTPUT = "no model output"
REQUIREMENTS = ("reference_steps", "response")


def item_context(rec: SampleRecord) -> dict[str, Any]:
    """The variables rubric templates see for one record (see ``rubrics.TEMPLATE_VARIABLES``)."""
    s = rec.sample
    text = rec.generation.text or ""
    think = think_text(text)
    refs = [{"text": r.text, "t": r.start, "start": r.start, "end": r.end} for r in s.reference_steps]
    timeline = "\n".join(f"{i}. {_when(r['start'], r['end'])}{r['text']}" for i, r in enumerate(refs, 1))
    return {
        "question": s.question,
        "options": dict(s.options),
        "options_block": "\n".join(f"{k}: {v}" for k, v in s.options.items()),
        "answer": s.answer,
        "question_type": s.question_type,
        "is_mc": s.question_type == "multiple-choice" and bool(s.options),
        "response": text,
        "final_answer": answer_text(text) or "",
        "reasoning": (think if think is not None else text).strip(),
        "steps": list(rec.score.steps) if rec.score is not None else [],
        "reference_steps": refs,
        "reference_timeline": timeline,
        "task": rec.task,
        "sample_id": s.id,
        "metadata": dict(s.metadata),
    }


def _when(start: float | None, end: float | None) -> str:
    if start is None:
        return ""
    return f"[{start:g} s] " if end is None else f"[{start:g}-{end:g} s] "


def item_applies(requires: list[str], rec: SampleRecord) -> bool:
    """Whether a rubric with these requirements applies to the sample (else: not applicable, not sent)."""
    for need in requires:
        if need == "reference_steps" and not rec.sample.reference_steps:
            return False
        if need == "response" and not (rec.generation.text or "").strip():
            return False
    return True


def has_no_output(rec: SampleRecord) -> bool:
    """A generation error or an empty reply: nothing to judge (the item is not sent)."""
    return rec.generation.error is not None or not (rec.generation.text or "").strip()


def _sample_content(rec: SampleRecord) -> dict[str, Any]:
    return {"key": rec.key, "id": rec.sample.id, "answer": rec.sample.answer, "question": rec.sample.question}


def sample_digest(rec: SampleRecord) -> str:
    """Digest of what a verdict judged: the sample's key, question, gold answer and the model's response."""
    return digest({"sample": _sample_content(rec), "response": rec.generation.text}, 16)


def verdict_fingerprint(judge_model: str, rubric: Any, messages: list[dict[str, str]], rec: SampleRecord) -> str:
    """Cache key: judge model, rubric name + version, rendered prompt, generation settings, reply
    schema and the sample content (its key, gold answer and the model's response)."""
    return digest({
        "judge": judge_model,
        "rubric": rubric.name,
        "rubric_version": rubric.version,
        "messages": messages,
        "generation": {"max_tokens": rubric.max_tokens, "temperature": rubric.temperature},
        "schema": rubric.schema,
        "sample": _sample_content(rec),
        "response": rec.generation.text,
    })


__all__ = ["NO_OUTPUT", "REQUIREMENTS", "item_context", "item_applies", "has_no_output", "sample_digest",
           "verdict_fingerprint"]
