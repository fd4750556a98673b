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

Reference traces of public benchmarks are serialized with the same rules, so a trace that repeats
the reference verbatim gets exactly the reference's steps (PRR 1.0), and each step keeps the video
time it refers to (``ReferenceStep.start``/``end``):

* ``steps_from_list`` — numbered steps, one annotated step per list element (VCR-Bench's
  ``"2. 0:30-0:33, the man steps forward."``, ``"From 0:33 to 0:36, …"``): the element's time range
  applies to every sentence of the element; the time text stays in the step text (a trace that
  names the right times shares those tokens with the reference).
* ``steps_from_paragraph`` — a paragraph with inline timestamps (MINERVA's ``"At 01:12 he …"``,
  ``"01:12 - 01:30"``): split into sentences, each sentence gets the first time (range) it names,
  a sentence naming none gets none.

Times are ``M:SS``, ``MM:SS`` or ``H:MM:SS`` (optionally with fractional seconds); a range is two
times joined by ``-``, ``–``, ``to``/``until``, or written ``from T to T`` / ``between T and T``.
A range whose end precedes its start (an annotation slip) keeps the start only.
"""

from __future__ import annotations

import re

from mosseval.prr.rouge import token_count
from mosseval.records import ReferenceStep

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
    cache = _line_steps.get(min_tokens)
    if cache is None:
        cache = _line_steps[min_tokens] = {}
    for line in _LINE_BREAK_RE.split(think):
        got = cache.get(line)
        if got is None:
            if len(cache) >= _LINE_STEPS_MAX:
                cache.clear()
            got = cache[line] = _split_line(line, min_tokens)
        steps.extend(got)
    truncated = len(steps) > max_steps
    return steps[:max_steps], truncated


_LINE_BREAK_RE = re.compile(r"\r\n|\r|\n|\u2028|\u2029")
_line_steps: dict[int, dict[str, tuple[str, ...]]] = {}
"""The steps of each line seen, by ``min_tokens`` (traces repeat their phrasing across samples; a line is looked up
without building a key tuple for it); see ``rouge.clear_caches``."""
_LINE_STEPS_MAX = 1 << 16


def _split_line(line: str, min_tokens: int) -> tuple[str, ...]:
    """The steps of one line of a reasoning text: markers stripped, split into sentences, short ones dropped."""
    line = strip_markers(line)
    if not line:
        return ()
    out = []
    for sent in split_sentences(line):
        sent = strip_markers(sent)
        if sent and token_count(sent) >= min_tokens:
            out.append(sent)
    return tuple(out)


# --------------------------------------------------------------------------- reference traces

CLOCK_PATTERN = r"(?<![\d:.])(?:(\d{1,2}):)?(\d{1,3}):([0-5]\d)(?:\.(\d+))?(?![\d:])"
_CLOCK_RE = re.compile(CLOCK_PATTERN)
_RANGE_RE = re.compile(
    rf"(?:\bbetween\s+{CLOCK_PATTERN}\s*(?:\band\b|-|–|—)\s*{CLOCK_PATTERN}"
    rf"|(?:\bfrom\s+)?{CLOCK_PATTERN}\s*(?:-|–|—|~|\bto\b|\buntil\b|\btill\b)\s*{CLOCK_PATTERN})",
    re.IGNORECASE,
)


def clock_seconds(h: str | None, m: str, sec: str, frac: str | None = None) -> float:
    value = int(h or 0) * 3600 + int(m) * 60 + int(sec)
    return value + (float("0." + frac) if frac else 0.0)


def parse_clock(text: str) -> float | None:
    """Seconds of a ``M:SS`` / ``H:MM:SS`` time (the whole string), or None."""
    m = _CLOCK_RE.fullmatch(text.strip())
    return clock_seconds(*m.groups()) if m else None


def time_span(text: str) -> tuple[float | None, float | None]:
    """The first time named in ``text``: a range (start, end) when that time opens a range, else
    the point (start, None); (None, None) without a time."""
    point = _CLOCK_RE.search(text)
    if point is None:
        return (None, None)
    for rng in _RANGE_RE.finditer(text):
        g = rng.groups()
        clocks = g[:8] if g[1] is not None else g[8:]  # "between" form, else the plain form
        base = 0 if g[1] is not None else 8
        first = next(rng.start(base + k + 1) for k in range(2) if rng.start(base + k + 1) != -1)
        if first == point.start():
            start, end = clock_seconds(*clocks[:4]), clock_seconds(*clocks[4:])
            return (start, end if end >= start else None)
        if first > point.start():
            break
    return (clock_seconds(*point.groups()), None)


def _sentences(text: str, min_tokens: int) -> list[str]:
    steps, _ = split_steps(text, max_steps=1_000_000, min_tokens=min_tokens)
    return steps


def steps_from_list(items: list[str], min_tokens: int = 3) -> list[ReferenceStep]:
    """Reference steps from a list of annotated steps (one per element; see module docstring)."""
    out: list[ReferenceStep] = []
    for item in items:
        if item is None:
            continue
        text = strip_markers(str(item))
        start, end = time_span(text[:40])  # the element's own time leads it
        for sent in _sentences(text, min_tokens):
            out.append(ReferenceStep(text=sent, start=start, end=end))
    return out


def steps_from_paragraph(text: str | None, min_tokens: int = 3) -> list[ReferenceStep]:
    """Reference steps from a paragraph with inline timestamps (see module docstring)."""
    out: list[ReferenceStep] = []
    for sent in _sentences(text or "", min_tokens):
        start, end = time_span(sent)
        out.append(ReferenceStep(text=sent, start=start, end=end))
    return out
