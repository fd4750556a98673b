"""Porter stemmer, NLTK_EXTENSIONS variant — the stemming ``rouge-score`` applies (SPEC §3).

``rouge_score.tokenizers.DefaultTokenizer(use_stemmer=True)`` stems with
``nltk.stem.porter.PorterStemmer()`` in its default ``NLTK_EXTENSIONS`` mode. Importing that class
imports nltk's package ``__init__``, which pulls ``scipy.stats`` (about 0.5 s and 87 MiB per
command). This module is an independent implementation of the same algorithm with no
dependencies, so computing a PRR costs nothing it does not use.

The algorithm is Porter (1980), "An algorithm for suffix stripping", with the changes Martin
Porter's own implementations carry (``-bli -> -ble`` instead of ``-abli -> -able``, ``-logi ->
-log``) and NLTK's additions:

* an irregular-forms table (``skies -> sky``, ``dying -> die``, ``news -> news``, ...);
* words of at most two letters are returned unchanged;
* step 1a: a four-letter word in ``-ies`` becomes ``-ie`` (``ties -> tie``);
* step 1b: ``-ied`` becomes ``-ie`` in a four-letter word and ``-i`` otherwise, before any other
  step-1b rule;
* condition ``*o`` also holds for a two-letter stem vowel + consonant (``*o`` never excludes
  w/x/y in that case);
* step 1c: ``y -> i`` only when the ``y`` follows a consonant that is not the first letter;
* step 2: ``-alli`` with a positive measure becomes ``-al`` and step 2 runs again; ``-fulli ->
  -ful``; ``-logi -> -log`` when the measure of the word less ``ogi`` is positive.

Within a step the first rule whose suffix matches decides, whether or not its condition holds.
Every rule list below is ordered so that this equals "the longest matching suffix decides"
(a suffix that ends another one is listed after it), which is what the lookup by length does.

Digits count as consonants, as in NLTK. Equality with NLTK on every word of a 234k-word English
list and on random strings is tested in ``tests/prr/test_porter.py``.
"""

from __future__ import annotations

__all__ = ["stem"]

_VOWELS = frozenset("aeiou")

_IRREGULAR = {
    "skies": "sky", "sky": "sky",
    "dying": "die", "lying": "lie", "tying": "tie",
    "news": "news",
    "innings": "inning", "inning": "inning",
    "outings": "outing", "outing": "outing",
    "cannings": "canning", "canning": "canning",
    "howe": "howe",
    "proceed": "proceed", "exceed": "exceed", "succeed": "succeed",
}

# Conditions on the stem left after removing a suffix.
_M0, _M1, _ION, _LOGI = 1, 2, 3, 4

_STEP2 = [
    ("ational", "ate", _M0), ("tional", "tion", _M0), ("enci", "ence", _M0), ("anci", "ance", _M0),
    ("izer", "ize", _M0), ("bli", "ble", _M0), ("alli", "al", _M0), ("entli", "ent", _M0),
    ("eli", "e", _M0), ("ousli", "ous", _M0), ("ization", "ize", _M0), ("ation", "ate", _M0),
    ("ator", "ate", _M0), ("alism", "al", _M0), ("iveness", "ive", _M0), ("fulness", "ful", _M0),
    ("ousness", "ous", _M0), ("aliti", "al", _M0), ("iviti", "ive", _M0), ("biliti", "ble", _M0),
    ("fulli", "ful", _M0), ("logi", "log", _LOGI),
]
_STEP3 = [
    ("icate", "ic", _M0), ("ative", "", _M0), ("alize", "al", _M0), ("iciti", "ic", _M0),
    ("ical", "ic", _M0), ("ful", "", _M0), ("ness", "", _M0),
]
_STEP4 = [(s, "", _M1) for s in ("al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement",
                                 "ment", "ent")] + [("ion", "", _ION)] + \
         [(s, "", _M1) for s in ("ou", "ism", "ate", "iti", "ous", "ive", "ize")]


def _by_length(rules: list[tuple[str, str, int]]) -> list[tuple[int, dict[str, tuple[str, int]]]]:
    """Rules grouped by suffix length, longest first (see the module note on rule order)."""
    table: dict[int, dict[str, tuple[str, int]]] = {}
    for suffix, repl, cond in rules:
        table.setdefault(len(suffix), {})[suffix] = (repl, cond)
    return sorted(table.items(), reverse=True)


_T2, _T3, _T4 = _by_length(_STEP2), _by_length(_STEP3), _by_length(_STEP4)


def _kinds(word: str) -> str:
    """One letter per character: ``v`` vowel, ``c`` consonant. ``y`` is a consonant at the start
    of the word and after a vowel, a vowel after a consonant."""
    out = []
    prev = "v"
    for ch in word:
        if ch in _VOWELS:
            k = "v"
        elif ch == "y":
            k = "c" if prev == "v" else "v"
        else:
            k = "c"
        out.append(k)
        prev = k
    return "".join(out)


def _measure(word: str) -> int:
    """m in ``[C](VC)^m[V]``."""
    return _kinds(word).count("vc")


def _has_vowel(word: str) -> bool:
    return "v" in _kinds(word)


def _double_consonant(word: str) -> bool:
    return len(word) >= 2 and word[-1] == word[-2] and _kinds(word)[-1] == "c"


def _cvc(word: str) -> bool:
    """Condition ``*o``: ends consonant-vowel-consonant, the last not w/x/y; or (NLTK) the whole
    stem is vowel + consonant."""
    n = len(word)
    if n >= 3:
        return _kinds(word)[-3:] == "cvc" and word[-1] not in "wxy"
    return n == 2 and _kinds(word) == "vc"


def _holds(cond: int, stem: str, word: str) -> bool:
    if cond == _M0:
        return _measure(stem) > 0
    if cond == _M1:
        return _measure(stem) > 1
    if cond == _ION:
        return bool(stem) and stem[-1] in "st" and _measure(stem) > 1
    # _LOGI: the measure of the word less "ogi" (the stem plus its "l")
    return _measure(word[:-3]) > 0


def _apply(word: str, table: list[tuple[int, dict[str, tuple[str, int]]]]) -> str:
    n = len(word)
    for length, rules in table:
        if length > n:
            continue
        hit = rules.get(word[n - length:])
        if hit is not None:
            stem = word[: n - length]
            repl, cond = hit
            return stem + repl if _holds(cond, stem, word) else word
    return word


def _step1a(word: str) -> str:
    if word.endswith("ies"):
        return word[:-1] if len(word) == 4 else word[:-2]
    if word.endswith("sses"):
        return word[:-2]
    if word.endswith("ss"):
        return word
    if word.endswith("s"):
        return word[:-1]
    return word


def _step1b(word: str) -> str:
    if word.endswith("ied"):
        return word[:-1] if len(word) == 4 else word[:-2]
    if word.endswith("eed"):
        return word[:-1] if _measure(word[:-3]) > 0 else word
    if word.endswith("ed") and _has_vowel(word[:-2]):
        stem = word[:-2]
    elif word.endswith("ing") and _has_vowel(word[:-3]):
        stem = word[:-3]
    else:
        return word
    if stem.endswith(("at", "bl", "iz")):
        return stem + "e"
    if _double_consonant(stem):
        return stem if stem[-1] in "lsz" else stem[:-1]
    if _measure(stem) == 1 and _cvc(stem):
        return stem + "e"
    return stem


def _step1c(word: str) -> str:
    if word.endswith("y") and len(word) > 2 and _kinds(word[:-1])[-1] == "c":
        return word[:-1] + "i"
    return word


def _step2(word: str) -> str:
    if word.endswith("alli") and _measure(word[:-4]) > 0:
        return _step2(word[:-2])
    return _apply(word, _T2)


def _step5a(word: str) -> str:
    if word.endswith("e"):
        stem = word[:-1]
        m = _measure(stem)
        if m > 1 or (m == 1 and not _cvc(stem)):
            return stem
    return word


def _step5b(word: str) -> str:
    if word.endswith("ll") and _measure(word[:-1]) > 1:
        return word[:-1]
    return word


def stem(word: str) -> str:
    """The stem of ``word`` exactly as ``nltk.stem.porter.PorterStemmer().stem(word)`` returns it
    (lower-cased first, like NLTK's default)."""
    low = word.lower()
    irregular = _IRREGULAR.get(low)
    if irregular is not None:
        return irregular
    if len(word) <= 2:  # the length before lower-casing, as NLTK does
        return low
    word = _step1a(low)
    word = _step1b(word)
    word = _step1c(word)
    word = _step2(word)
    word = _apply(word, _T3)
    word = _apply(word, _T4)
    word = _step5a(word)
    return _step5b(word)
