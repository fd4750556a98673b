"""Strict multiple-choice answer extraction.

Rules, in priority order; the first rule that finds anything decides, and if it finds more than one
distinct letter the answer is *ambiguous* (a parse failure, scored wrong):

1. Only the ``<answer>…</answer>`` block is read when there is one (the last one).
2. The whole candidate is a single letter, optionally bracketed / punctuated: ``B``, ``(b)``, ``C.``.
3. An explicit statement: ``answer is B``, ``Answer: (C)``, ``best option is D``, ``option E``.
4. A leading option label: ``B. the red square``, ``(C) left``, ``D) ...``.
5. Parenthesised labels anywhere: ``... so (B)``.
6. The candidate equals one option's text (case and punctuation insensitive).

Lower-case letters count only when they stand alone or in brackets, so the English article "a"
is never read as option A. Valid letters are the sample's option keys (so F, G, … work when a
question has that many options); a letter that is not an option is not an answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from mosseval.prr.format import answer_text

Status = Literal["ok", "unparsed", "ambiguous", "empty"]

DEFAULT_LETTERS = ("A", "B", "C", "D", "E")


@dataclass(frozen=True)
class Extraction:
    letter: str | None
    status: Status
    rule: str | None = None

    @property
    def parsed(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class AnswerResult:
    """Outcome of a task's answer check (strict MC, MVBench official, MMVU rules, …)."""

    extracted: str | None
    correct: bool
    parse_failed: bool
    approximate: bool = False
    detail: str | None = None


def _letters(options: dict[str, str] | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    if options is None:
        return DEFAULT_LETTERS
    if isinstance(options, dict):
        keys = tuple(str(k).strip().upper() for k in options.keys())
    else:
        keys = tuple(chr(ord("A") + i) for i in range(len(options)))
    return keys or DEFAULT_LETTERS


def _option_texts(options: dict[str, str] | list[str] | tuple[str, ...] | None) -> dict[str, str]:
    if options is None:
        return {}
    if isinstance(options, dict):
        return {str(k).strip().upper(): str(v) for k, v in options.items()}
    return {chr(ord("A") + i): str(v) for i, v in enumerate(options)}


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


def _decide(found: list[str], rule: str) -> Extraction | None:
    distinct = list(dict.fromkeys(found))
    if not distinct:
        return None
    if len(distinct) > 1:
        return Extraction(None, "ambiguous", rule)
    return Extraction(distinct[0], "ok", rule)


def extract_choice(
    text: str | None, options: dict[str, str] | list[str] | tuple[str, ...] | None = None
) -> Extraction:
    """Extract the chosen option letter from a model completion (see module docstring)."""
    if text is None or not text.strip():
        return Extraction(None, "empty")
    block = answer_text(text)
    candidate = block if block is not None else text
    if not candidate.strip():
        return Extraction(None, "empty", "answer-block")
    letters = _letters(options)
    cls = "".join(re.escape(x) for x in letters if len(x) == 1)
    if not cls:
        return Extraction(None, "unparsed")
    lower_cls = cls.lower()

    # 2. the candidate is one letter
    m = re.fullmatch(rf"\W*([{cls}{lower_cls}])\W*", candidate.strip())
    if m:
        return Extraction(m.group(1).upper(), "ok", "single-letter")

    # 3. explicit statements ("answer is B", "Answer: (c)", "best option: D", "option B")
    stmt = re.compile(
        rf"(?i:\b(?:final\s+answer|answer|best\s+option|correct\s+option|option|choice)\b)"
        rf"(?i:\s+is|\s+would\s+be|\s+should\s+be)?\s*[:=]?\s*(?i:option\s*)?"
        rf"(?:\(([{cls}{lower_cls}])\)|\[([{cls}{lower_cls}])\]|([{cls}])(?![A-Za-z0-9]))"
    )
    hits: list[str] = []
    alt = re.compile(rf"\s*(?i:or|and|/)\s*(?:\(([{cls}{lower_cls}])\)|([{cls}])(?![A-Za-z0-9]))")
    for mm in stmt.finditer(candidate):
        hits.append(next(g for g in mm.groups() if g).upper())
        more = alt.match(candidate, mm.end())  # "answer is A or B" names two options
        if more:
            hits.append(next(g for g in more.groups() if g).upper())
    decided = _decide(hits, "statement")
    if decided:
        return decided

    # 4. leading label: "B. text", "(C) text", "D) text", "E: text", "B, not A"
    m = re.match(rf"\s*(?:\(([{cls}{lower_cls}])\)|\[([{cls}{lower_cls}])\]|([{cls}])[.:),])", candidate)
    if m:
        return Extraction(next(g for g in m.groups() if g).upper(), "ok", "leading-label")

    # 5. parenthesised labels anywhere
    hits = [x.upper() for x in re.findall(rf"\(([{cls}])\)", candidate)]
    decided = _decide(hits, "parenthesised")
    if decided:
        return decided

    # 6. equals an option's text
    texts = _option_texts(options)
    if texts:
        norm = _norm(candidate)
        same = [k for k, v in texts.items() if _norm(v) and _norm(v) == norm]
        decided = _decide(same, "option-text")
        if decided:
            return decided
    return Extraction(None, "unparsed")


def check_mc(text: str | None, options: dict[str, str] | None, gold: str) -> AnswerResult:
    """Strict multiple-choice check: unparsed and ambiguous answers are wrong and flagged."""
    ex = extract_choice(text, options)
    gold_letter = (gold or "").strip().upper()
    return AnswerResult(
        extracted=ex.letter,
        correct=ex.letter is not None and ex.letter == gold_letter,
        parse_failed=not ex.parsed,
        detail=ex.status if not ex.parsed else ex.rule,
    )
