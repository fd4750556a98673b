"""Step serialization: reasoning text -> ordered list of steps (SPEC §3).

1. Split on line breaks.
2. Strip leading list markers and "Step k:" prefixes from each line (``1.``, ``2)``, ``(3)``,
   ``[4]``, ``(a)``, ``b)``, ``-``, ``*``, ``•``, ``+``, markdown ``#``/``>``/``**``).
3. Split each line at sentence ends: ``.``, ``!``, ``?`` (runs of them, optionally followed by a
   closing quote or bracket) *followed by whitespace*, so ``3.5 s`` or ``v1.2`` never split; not
   after common abbreviations (``e.g.``, ``i.e.``, ``vs.``, ``approx.``, ``Fig.``, ``Dr.`` …).
   CJK full stops (``。！？``) always end a sentence.
4. Strip markers again from every sentence (inline ``… moves. 2. The cube …``).
5. Drop fragments with fewer than ``min_tokens`` tokens (counted as ``rouge-score`` tokenizes).
6. Keep the first ``max_steps`` steps and report whether any were cut.
"""

from __future__ import annotations

import re

from mosseval.prr.rouge import tokenize

_MARKER_RE = re.compile(
    r"""^\s*(?:
        [#>]+                                   # markdown heading / quote
      | \*\*|__                                 # bold opener
      | [-*•·‣◦▪–—+]                            # bullets
      | \(?\d{1,3}[.)\]:](?!\d)                  # 1.  1)  (1)  1:
      | \(\d{1,3}\) | \[\d{1,3}\]               # (1) [1]
      | \([a-zA-Z]\) | [a-zA-Z]\)               # (a)  a)
      | [a-z]\.(?=\s)                           # a.
      | step\s*\d+\s*(?:[:.)\-–—]+|(?=\s|$))    # Step 3:  Step 3.  Step 3 -  Step 3
    )\s*(?:\*\*|__)?""",
    re.IGNORECASE | re.VERBOSE,
)

_ABBREVIATIONS = frozenset(
    "e.g i.e eg ie vs approx ca cf mr mrs ms dr prof st sr jr fig figs eq eqs al resp incl "
    "viz no nos sec min".split()
)
_SENT_END_RE = re.compile(r"""[.!?]+["'”’)\]]*(?=\s)|[。！？]+""")


# Every marker above starts with one of these (a superset test that lets plain sentences skip the
# marker regex; it changes no result).
_MAY_START_MARKER_RE = re.compile(r"""[#>*_\-•·‣◦▪–—+(\[\d]|[a-zA-Z][.)]|step""", re.IGNORECASE)


def strip_markers(text: str) -> str:
    """Remove leading list markers and "Step k:" prefixes (repeatedly)."""
    prev = None
    text = text.strip()
    if not _MAY_START_MARKER_RE.match(text):
        return text
    while prev != text:
        prev = text
        text = _MARKER_RE.sub("", text, count=1).strip()
    return text


def _is_abbreviation(chunk: str, next_text: str) -> bool:
    """True when the period ending ``chunk`` belongs to an abbreviation."""
    if not chunk.endswith("."):
        return False
    m = re.search(r"(\S+)\.$", chunk)
    if not m:
        return False
    word = m.group(1).lstrip("([{\"'").lower()
    if word in ("no", "nos", "sec", "min"):
        # "No. 5", "3 sec. later": abbreviations only when the sentence clearly continues.
        nxt = next_text.lstrip()
        return bool(nxt) and (nxt[0].isdigit() or nxt[0].islower())
    return word in _ABBREVIATIONS


def split_sentences(line: str) -> list[str]:
    out: list[str] = []
    start = 0
    for m in _SENT_END_RE.finditer(line):
        end = m.end()
        chunk = line[start:end]
        if _is_abbreviation(line[:end].rstrip("\"'”’)]"), line[end:]):
            continue
        out.append(chunk)
        start = end
    out.append(line[start:])
    return [s.strip() for s in out if s.strip()]


def split_steps(
    think: str | None, max_steps: int = 64, min_tokens: int = 3
) -> tuple[list[str], bool]:
    """Steps of a reasoning text and whether the list was truncated at ``max_steps``."""
    if not think:
        return [], False
    steps: list[str] = []
    for line in re.split(r"\r\n|\r|\n|\u2028|\u2029", think):
        line = strip_markers(line)
        if not line:
            continue
        for sent in split_sentences(line):
            sent = strip_markers(sent)
            if sent and len(tokenize(sent)) >= min_tokens:
                steps.append(sent)
    truncated = len(steps) > max_steps
    return steps[:max_steps], truncated
