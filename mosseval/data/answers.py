"""Free-text answers: the final-answer segment of a reasoning response and a conservative
open-ended match (shared by the offline rule scores of MMVU and VCR-Bench).

``final_answer`` reads the ``<answer>`` block, else the text after the last "final answer is",
else a final "Answer:" line, strips the ``'Answer: …'`` wrapper and ``\\boxed{}``.
``open_ended_match`` is correct only on a normalised exact match with the gold answer or one of
its aliases (``"Depth-First Search (DFS)"`` → ``depth first search``, ``dfs``), on the gold
phrase stated in a short answer without negation or alternatives, or on an equal number (1 %
tolerance). An empty answer is never correct (unlike substring rules, which accept it), and a
fragment of the gold answer is not the gold answer.
"""

from __future__ import annotations

import re
import unicodedata

from mosseval.prr.format import answer_text

_FINAL_RE = re.compile(r"final\s+answer\s*(?:is|:)\s*:?", re.IGNORECASE)
_ANSWER_LINE_RE = re.compile(r"^\s*\**\s*answer\s*\**\s*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)
_WRAP = " \t\r\n'\"`*“”‘’$"
_SUPERSCRIPTS = str.maketrans({"²": "^2", "³": "^3", "¹": "^1", "⁰": "^0", "⁴": "^4", "⁵": "^5",
                               "⁶": "^6", "⁷": "^7", "⁸": "^8", "⁹": "^9", "⁻": "-"})
_ARTICLES = {"a", "an", "the"}
_NEGATIONS = {"not", "no", "never", "isn't", "isnt", "neither", "nor"}
_HEDGES = {"approximately", "about", "around", "roughly", "nearly", "approx", "is", "it", "answer"}
PHRASE_SLACK = 4
"""A stated gold phrase counts only in an answer at most this many words longer than it."""
_NUM_RE = re.compile(r"[-+]?\d+(?:[.,]\d+)?(?:e[-+]?\d+)?", re.IGNORECASE)


def final_answer(text: str | None) -> str | None:
    """The model's final answer segment (None when it gave none)."""
    if text is None:
        return None
    block = answer_text(text)
    if block is not None:
        cand = block
    else:
        matches = list(_FINAL_RE.finditer(text))
        if matches:
            cand = text[matches[-1].end():].strip().split("\n")[0]
        else:
            lines = _ANSWER_LINE_RE.findall(text)
            cand = lines[-1] if lines else None
    if cand is None:
        return None
    cand = cand.strip().strip(_WRAP)
    m = re.match(r"(?i)^answer\s*:\s*", cand)  # the official open-ended wrapper 'Answer: X'
    if m:
        cand = cand[m.end():]
    m = re.fullmatch(r"\\boxed\{(.*)\}", cand.strip())
    if m:
        cand = m.group(1)
    return cand.strip().strip(_WRAP).rstrip(".").strip(_WRAP)


def normalize(text: str) -> str:
    t = unicodedata.normalize("NFKC", text.translate(_SUPERSCRIPTS)).lower()
    t = re.sub(r"(?<=\d),(?=\d{3}\b)", "", t)  # 1,000 -> 1000
    t = re.sub(r"[^0-9a-z.^+\-]+", " ", t)
    t = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", t)  # keep decimal points only
    t = re.sub(r"(?<![0-9a-z])[-+](?![0-9])|(?<=[a-z])-(?=[a-z])", " ", t)
    return " ".join(w for w in t.split() if w not in _ARTICLES)


def gold_aliases(gold: str) -> list[str]:
    """Normalised forms that count as the gold answer: itself, the part before a parenthesis and
    the parenthesised abbreviation (``Depth-First Search (DFS)``)."""
    out = [normalize(gold)]
    m = re.fullmatch(r"\s*(.+?)\s+\(([^()]+)\)\s*", gold)
    if m and len(normalize(m.group(1))) >= 2 and len(normalize(m.group(2))) >= 2:
        out += [normalize(m.group(1)), normalize(m.group(2))]
    return [a for a in dict.fromkeys(out) if a]


def _numbers(text: str) -> list[float]:
    out = []
    for raw in _NUM_RE.findall(text):
        try:
            out.append(float(raw.replace(",", ".")))
        except ValueError:
            pass
    return out


def _contains_phrase(hay: list[str], needle: list[str]) -> int:
    """Start index of ``needle`` as a contiguous word sequence in ``hay``, or -1."""
    n = len(needle)
    for i in range(len(hay) - n + 1):
        if hay[i:i + n] == needle:
            return i
    return -1


def open_ended_match(pred: str, gold: str) -> tuple[bool, str]:
    """Conservative open-ended comparison; returns (correct, rule)."""
    p = normalize(pred)
    if not p:
        return False, "empty"
    aliases = gold_aliases(gold)
    if p in aliases:
        return True, "exact"
    words = p.split()
    if "or" in words or "and/or" in words:
        return False, "alternatives"
    negated = bool(set(words) & _NEGATIONS) or any(w.endswith("n't") for w in words)
    for alias in aliases:
        a = alias.split()
        at = _contains_phrase(words, a)
        if at >= 0 and len(words) <= len(a) + PHRASE_SLACK:
            if negated:
                return False, "negated"
            return True, "phrase"
    gnums, pnums = _numbers(normalize(gold)), _numbers(p)
    if len(gnums) == 1 and len(pnums) == 1:
        g, v = gnums[0], pnums[0]
        if abs(v - g) <= max(1e-9, 0.01 * abs(g)):
            gold_words = set(normalize(gold).split())
            extra = [w for w in words if not _NUM_RE.fullmatch(w) and w not in gold_words and w not in _HEDGES]
            if not extra:
                return True, "number"
    return False, "no-match"
