"""Strict multiple-choice answer extraction.

Rules, in priority order; the first rule that finds anything decides, and if it finds more than one
distinct letter the answer is *ambiguous* (a parse failure, scored wrong):

1. Only the ``<answer>…</answer>`` block is read when there is one (the last one).
2. The whole candidate is a single letter, optionally bracketed / punctuated / emphasised:
   ``B``, ``(b)``, ``C.``, ``**D**``, ``$\\boxed{C}$``.
3. Conclusive statements and boxed answers, together: ``answer is B``, ``Answer: (C)``,
   ``best option is D``, ``**Final Answer:** C``, ``the final answer is: $B$``, ``\\boxed{C}`` /
   ``\\boxed{\\text{(C) green}}``. Markdown emphasis (``**``, ``__``) and ``$`` around the parts are
   ignored. Only these conclusive forms count here, so a closing "The answer is B." after a
   discussion that *mentions* other options ("Option A says … C is wrong …") reads B; two
   conclusive statements naming different letters ("Answer: A. Final answer: B") stay ambiguous.
4. Referring statements: ``option E``, ``choice B`` (when no conclusive statement exists).
5. A leading option label: ``B. the red square``, ``(C) left``, ``D) ...``.
6. Parenthesised labels anywhere: ``... so (B)``.
7. The candidate equals one option's text (case and punctuation insensitive).

Lower-case letters count only when they stand alone or in brackets, so the English article "a"
is never read as option A. Valid letters are the sample's option keys (so F, G, … work when a
question has that many options); a letter that is not an option is not an answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from mosseval.prr.format import answer_text

Status = Literal["ok", "unparsed", "ambiguous", "empty"]

DEFAULT_LETTERS = ("A", "B", "C", "D", "E")

_EMPH = r"[*_$\s]*"
"""Markdown emphasis / LaTeX dollars (and spaces) that may surround the parts of a statement."""
_CONCLUSIVE = (r"final\s+answer|correct\s+answer|best\s+answer|answer|best\s+option|correct\s+option"
               r"|best\s+choice|correct\s+choice")
_REFERRING = r"option|choice"
_VERB = r"(?:\s+is|\s+would\s+be|\s+should\s+be)?"
_BOXED_RE = re.compile(r"\\boxed\s*\{")
_TEXT_CMD_RE = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")


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


_LETTERS: dict[tuple[str, ...], tuple[str, ...]] = {}


def _letters(options: dict[str, str] | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    if options is None:
        return DEFAULT_LETTERS
    if isinstance(options, dict):
        given = tuple(options)
        keys = _LETTERS.get(given)  # a benchmark has a few key sets: normalised once each
        if keys is None:
            if len(_LETTERS) > 256:
                _LETTERS.clear()
            keys = _LETTERS[given] = tuple(str(k).strip().upper() for k in given)
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


def boxed_contents(text: str) -> list[str]:
    """The contents of every ``\\boxed{…}`` (nested braces balanced), ``\\text{…}`` unwrapped."""
    out: list[str] = []
    for m in _BOXED_RE.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth:
            continue  # unbalanced: not a box
        inner = text[m.end():i - 1]
        prev = None
        while prev != inner:
            prev, inner = inner, _TEXT_CMD_RE.sub(r"\1", inner)
        out.append(inner.strip())
    return out


class _Patterns:
    """The regular expressions for one set of valid option letters (built once per letter set)."""

    def __init__(self, letters: tuple[str, ...]):
        cls = "".join(re.escape(x) for x in letters if len(x) == 1)
        self.ok = bool(cls)
        lower = cls.lower()
        label = rf"(?:\(([{cls}{lower}])\)|\[([{cls}{lower}])\]|([{cls}])(?![A-Za-z0-9]))"
        self.single = re.compile(rf"[\W_]*([{cls}{lower}])[\W_]*")
        self.conclusive = re.compile(rf"(?i:\b(?:{_CONCLUSIVE})\b){_EMPH}(?i:{_VERB}){_EMPH}[:=]?{_EMPH}"
                                     rf"(?i:(?:option|choice)\s*)?{_EMPH}{label}")
        self.referring = re.compile(rf"(?i:\b(?:{_REFERRING})\b)\s*[:=]?\s*{label}")
        self.alt = re.compile(rf"{_EMPH}(?i:or|and|/){_EMPH}(?:\(([{cls}{lower}])\)|([{cls}])(?![A-Za-z0-9]))")
        self.leading = re.compile(rf"\s*(?:\(([{cls}{lower}])\)|\[([{cls}{lower}])\]|([{cls}])[.:),])")
        self.paren = re.compile(rf"\(([{cls}])\)")


_PATTERNS: dict[tuple[str, ...], _Patterns] = {}


def _patterns(letters: tuple[str, ...]) -> _Patterns:
    p = _PATTERNS.get(letters)
    if p is None:
        if len(_PATTERNS) > 256:
            _PATTERNS.clear()
        p = _PATTERNS[letters] = _Patterns(letters)
    return p


def _statement_hits(rx: re.Pattern[str], alt: re.Pattern[str], text: str) -> list[str]:
    hits: list[str] = []
    for mm in rx.finditer(text):
        hits.append(next(g for g in mm.groups() if g).upper())
        more = alt.match(text, mm.end())  # "answer is A or B" names two options
        if more:
            hits.append(next(g for g in more.groups() if g).upper())
    return hits


def _boxed_letter(inner: str, p: _Patterns, texts: dict[str, str]) -> str | None:
    """The option a box names: a single letter, a leading label, or exactly an option's text."""
    m = p.single.fullmatch(inner)
    if m:
        return m.group(1).upper()
    m = p.leading.match(inner)
    if m:
        return next(g for g in m.groups() if g).upper()
    norm = _norm(inner)
    same = [k for k, v in texts.items() if _norm(v) and _norm(v) == norm]
    return same[0] if len(same) == 1 else None


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
    if len(candidate) > _MEMO_CHARS:
        return _choose(candidate, options)
    # short answers repeat ("B", "(C) 7"): each (answer, options) pair is decided once
    key = (candidate, tuple(options.items()) if isinstance(options, dict) else None if options is None else tuple(options))
    got = _CHOICES.get(key)
    if got is None:
        if len(_CHOICES) >= _MEMO_SIZE:
            _CHOICES.clear()
        got = _CHOICES[key] = _choose(candidate, options)
    return got


_MEMO_CHARS = 200
_MEMO_SIZE = 1 << 14
_CHOICES: dict[tuple[str, Any], Extraction] = {}


def _choose(candidate: str, options: dict[str, str] | list[str] | tuple[str, ...] | None) -> Extraction:
    """:func:`extract_choice` of the (non-blank) answer block, or of the whole text when it has none."""
    p = _patterns(_letters(options))
    if not p.ok:
        return Extraction(None, "unparsed")
    # 2. the candidate is one letter (possibly boxed / emphasised)
    boxes = boxed_contents(candidate)
    bare = candidate.strip()
    if len(boxes) == 1 and re.fullmatch(r"[\s$*_]*\\boxed\s*\{.*\}[\s$*_.]*", bare, re.DOTALL):
        bare = boxes[0]
    m = p.single.fullmatch(bare)
    if m:
        return Extraction(m.group(1).upper(), "ok", "single-letter")

    # 3. conclusive statements and boxed answers
    hits = _statement_hits(p.conclusive, p.alt, candidate)
    texts = _option_texts(options) if boxes else {}  # option texts: for boxed answers and step 7 only
    boxed = [_boxed_letter(b, p, texts) for b in boxes]
    hits += [b for b in boxed if b]
    decided = _decide(hits, "statement")
    if decided:
        return decided

    # 4. statements that refer to an option ("option B")
    decided = _decide(_statement_hits(p.referring, p.alt, candidate), "statement")
    if decided:
        return decided

    # 5. leading label: "B. text", "(C) text", "D) text", "E: text", "B, not A"
    m = p.leading.match(candidate)
    if m:
        return Extraction(next(g for g in m.groups() if g).upper(), "ok", "leading-label")

    # 6. parenthesised labels anywhere
    decided = _decide([x.upper() for x in p.paren.findall(candidate)], "parenthesised")
    if decided:
        return decided

    # 7. equals an option's text
    texts = texts or _option_texts(options)
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
    # a few distinct outcomes (letter x rule x gold) recur over a run: each (frozen) result is built once
    key = (ex.letter, ex.status, ex.rule, gold_letter)
    got = _RESULTS.get(key)
    if got is None:
        if len(_RESULTS) >= _MEMO_SIZE:
            _RESULTS.clear()
        got = _RESULTS[key] = AnswerResult(
            extracted=ex.letter,
            correct=ex.letter is not None and ex.letter == gold_letter,
            parse_failed=not ex.parsed,
            detail=ex.status if not ex.parsed else ex.rule,
        )
    return got


_RESULTS: dict[tuple[str | None, str, str | None, str], AnswerResult] = {}


def clear_caches() -> None:
    """Forget the decided answers, check results, option letters and patterns this process has kept (used by the
    benchmarks for the timings of a fresh ``mosseval score``, which starts without them)."""
    for memo in (_CHOICES, _RESULTS, _LETTERS, _PATTERNS):
        memo.clear()
