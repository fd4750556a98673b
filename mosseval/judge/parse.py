"""Turning a judge's reply into a verdict, with a fallback for replies that ignore the schema.

Order: the structured-output object (when the endpoint honoured ``response_format``), else the
first JSON object in the text (a Markdown code fence, prose around it, Python-style ``True`` /
``False`` / single quotes), else labelled values in prose (``Score: 7/10``, ``Correct: yes``,
``Extracted answer: B``). A reply from which the required value cannot be read, or whose value is
out of range or contradictory, is a judge *error* (``ParsedVerdict.error``), never a "wrong".
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any

from mosseval.openai_client import parse_json_object

TRUE_WORDS = {"true", "yes", "y", "correct", "right", "1", "✓", "pass"}
FALSE_WORDS = {"false", "no", "n", "incorrect", "wrong", "0", "✗", "fail", "not correct"}


@dataclass
class ParsedVerdict:
    correct: bool | None = None
    extracted_answer: str | None = None
    score: float | None = None
    rationale: str | None = None
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    """Rubric-specific numbers (filled by named parsers; the default parser leaves it empty)."""
    how: str = ""
    """json | lenient-json | prose (how the value was read)."""


def _lenient_json(text: str) -> dict[str, Any] | None:
    """A ``{...}`` span written as a Python literal (``True``, single quotes) or with trailing commas."""
    start = text.find("{")
    while start != -1:
        depth = 0
        for i in range(start, len(text)):
            ch = text[i]
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    span = text[start:i + 1]
                    fixed = re.sub(r",\s*([}\]])", r"\1", span)
                    for attempt in (fixed, re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False",
                                    re.sub(r"\bnull\b", "None", fixed)))):
                        try:
                            value = ast.literal_eval(attempt)
                        except (ValueError, SyntaxError, MemoryError, RecursionError):
                            continue
                        if isinstance(value, dict):
                            return {str(k): v for k, v in value.items()}
                    try:
                        value = json.loads(fixed)
                        if isinstance(value, dict):
                            return value
                    except ValueError:
                        pass
                    break
        start = text.find("{", start + 1)
    return None


def find_object(text: str | None) -> tuple[dict[str, Any] | None, str]:
    if not text:
        return None, ""
    obj = parse_json_object(text)
    if isinstance(obj, dict):
        return obj, "json"
    obj = _lenient_json(text)
    if obj is not None:
        return obj, "lenient-json"
    return None, ""


def to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        v = value.strip().strip(".!\"'").lower()
        if v in TRUE_WORDS:
            return True
        if v in FALSE_WORDS:
            return False
    return None


_NUM = r"([-+]?\d+(?:\.\d+)?)"


def to_score(value: Any, scale: tuple[float, float]) -> tuple[float | None, str | None]:
    """A number on ``scale`` from a number or a string (``"7"``, ``"7/10"``, ``"7 out of 10"``)."""
    num: float | None = None
    denom: float | None = None
    if isinstance(value, bool):
        return None, f"score is a boolean ({value!r}), not a number"
    if isinstance(value, (int, float)):
        num = float(value)
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*" + _NUM + r"\s*(?:(?:/|out of)\s*" + _NUM + r")?\s*\.?\s*", value, re.I)
        if not m:
            return None, f"score {value[:40]!r} is not a number"
        num = float(m.group(1))
        denom = float(m.group(2)) if m.group(2) else None
    else:
        return None, f"score has type {type(value).__name__}, not a number"
    lo, hi = scale
    if denom is not None and denom != hi:
        return None, f"score {num:g}/{denom:g} is not on the {lo:g}-{hi:g} scale"
    if num != num or num < lo or num > hi:  # NaN or out of range
        return None, f"score {num:g} is outside the {lo:g}-{hi:g} scale"
    return num, None


def _prose_values(text: str) -> dict[str, list[str]]:
    """Labelled values in prose: ``Label: value`` / ``label = value`` lines (last label wins order)."""
    found: dict[str, list[str]] = {}
    patterns = {
        "score": r"\b(?:score|rating|grade)\b\s*(?:is|of|[:=])?\s*\**\s*(" + r"[-+]?\d+(?:\.\d+)?\s*(?:(?:/|out of)\s*\d+(?:\.\d+)?)?)",
        "correct": r"\b(?:correct(?:ness)?|is[_ ]correct|verdict|judg(?:e)?ment)\b\**\s*[:=]\s*\**\s*\"?"
                   r"(true|false|yes|no|correct|incorrect|not correct|right|wrong|pass|fail)\b",
        "extracted_answer": r"\bextracted[_ ]answer\b\**\s*[:=]\s*\**\s*(.+)",
        "rationale": r"\b(?:justification|rationale|reason(?:ing)?|explanation)\b\**\s*[:=]\s*\**\s*(.+)",
    }
    for key, pat in patterns.items():
        for m in re.finditer(pat, text, re.I):
            found.setdefault(key, []).append(m.group(1).strip().strip('"*').strip())
    bare = text.strip().strip(".!\"'*` ").lower()
    if bare in TRUE_WORDS | FALSE_WORDS and "correct" not in found:
        found["correct"] = [bare]
    m = re.fullmatch(r"\s*" + _NUM + r"\s*(?:(?:/|out of)\s*\d+(?:\.\d+)?)?\s*\.?\s*", text)
    if m and "score" not in found:
        found["score"] = [text.strip().rstrip(".")]
    return found


def _snippet(text: str | None, n: int = 160) -> str:
    s = " ".join((text or "").split())
    return s if len(s) <= n else s[: n - 1] + "…"


def parse_verdict(kind: str, fields: dict[str, str], text: str | None, parsed: Any = None,
                  scale: tuple[float, float] | None = None) -> ParsedVerdict:
    """Read a verdict of ``kind`` ("correctness" | "score") from a reply."""
    obj, how = (parsed, "json") if isinstance(parsed, dict) else find_object(text)
    if obj is not None:
        obj = {str(k).strip().lower(): v for k, v in obj.items()}
        names = {k: v.lower() for k, v in fields.items()}
        out = ParsedVerdict(how=how)
        if kind == "correctness":
            raw = obj.get(names["correct"])
            out.correct = to_bool(raw)
            if out.correct is None:
                return ParsedVerdict(error=f"judge reply has no usable {fields['correct']!r} value "
                                           f"(got {raw!r}): {_snippet(text)!r}", how=how)
            ans = obj.get(names.get("extracted_answer", ""))
            out.extracted_answer = None if ans is None else str(ans).strip()
            out.score = 1.0 if out.correct else 0.0
            rat = obj.get(names.get("rationale", "")) if "rationale" in names else None
            out.rationale = None if rat is None else str(rat)
        else:
            raw = obj.get(names["score"])
            out.score, err = to_score(raw, scale or (1.0, 10.0))
            if err:
                return ParsedVerdict(error=f"judge reply: {err}: {_snippet(text)!r}", how=how)
            rat = obj.get(names.get("rationale", "justification"))
            out.rationale = None if rat is None else str(rat).strip()
        return out
    # prose fallback
    vals = _prose_values(text or "")
    if kind == "correctness":
        cands = {to_bool(v) for v in vals.get("correct", [])} - {None}
        if len(cands) != 1:
            why = "contradictory correctness values" if len(cands) > 1 else "no JSON object and no correctness value"
            return ParsedVerdict(error=f"unparseable judge reply ({why}): {_snippet(text)!r}", how="prose")
        correct = cands.pop()
        answers = vals.get("extracted_answer") or []
        return ParsedVerdict(correct=correct, extracted_answer=answers[-1] if answers else None,
                             score=1.0 if correct else 0.0,
                             rationale=_snippet(text, 500), how="prose")
    scores = vals.get("score", [])
    parsed_scores = []
    for s in scores:
        num, err = to_score(s, scale or (1.0, 10.0))
        if err:
            return ParsedVerdict(error=f"judge reply: {err}: {_snippet(text)!r}", how="prose")
        parsed_scores.append(num)
    if len(set(parsed_scores)) != 1:
        why = "contradictory scores" if parsed_scores else "no JSON object and no score"
        return ParsedVerdict(error=f"unparseable judge reply ({why}): {_snippet(text)!r}", how="prose")
    rats = vals.get("rationale") or []
    return ParsedVerdict(score=parsed_scores[0], rationale=rats[-1] if rats else _snippet(text, 500), how="prose")


__all__ = ["ParsedVerdict", "parse_verdict", "find_object", "to_bool", "to_score"]
