"""Our Porter stemmer must stem exactly as rouge-score's (nltk's PorterStemmer, NLTK_EXTENSIONS)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import tokenize as rs_tokenize
from rouge_score import tokenizers as rs_tokenizers

from mosseval.prr import porter, rouge

# The very stemmer object rouge-score's RougeScorer(use_stemmer=True) tokenizes with.
RS_STEMMER = rs_tokenizers.DefaultTokenizer(use_stemmer=True)._stemmer


def _word_list() -> list[str]:
    english_words = pytest.importorskip("english_words")  # test extra: ships web2 + GCIDE lists
    words: set[str] = set()
    for source in ("web2", "gcide"):
        words |= english_words.get_english_words_set([source], lower=True)
    return sorted(words)


def test_every_word_of_a_large_english_word_list():
    words = _word_list()
    assert len(words) > 250_000
    # rouge-score only ever stems [a-z0-9]+ tokens longer than 3 characters; check those and the rest.
    mismatches = [(w, RS_STEMMER.stem(w), porter.stem(w)) for w in words if porter.stem(w) != RS_STEMMER.stem(w)]
    assert mismatches == []
    assert sum(1 for w in words if re.fullmatch(r"[a-z0-9]{4,}", w)) > 240_000


@pytest.mark.parametrize("word,expected", [
    ("caresses", "caress"), ("ponies", "poni"), ("ties", "tie"), ("cats", "cat"), ("feed", "feed"),
    ("agreed", "agre"), ("plastered", "plaster"), ("motoring", "motor"), ("sing", "sing"),
    ("conflated", "conflat"), ("hopping", "hop"), ("falling", "fall"), ("filing", "file"),
    ("happy", "happi"), ("sky", "sky"), ("skies", "sky"), ("dying", "die"), ("news", "news"),
    ("relational", "relat"), ("conditional", "condit"), ("generalization", "gener"),
    ("radically", "radic"), ("analogously", "analog"), ("archaeology", "archaeolog"),
    ("hopefulness", "hope"), ("electrical", "electr"), ("adoption", "adopt"), ("controlling", "control"),
    ("spied", "spi"), ("tied", "tie"), ("cried", "cri"), ("yyyy", "yyyi"), ("ow", "ow"), ("running", "run"),
])
def test_known_stems(word, expected):
    assert porter.stem(word) == expected == RS_STEMMER.stem(word)


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="aeiouybcdlmnstgrzwx0123456789", min_size=1, max_size=16))
def test_hypothesis_random_words(word):
    assert porter.stem(word) == RS_STEMMER.stem(word)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12))
def test_hypothesis_any_text(word):
    assert porter.stem(word) == RS_STEMMER.stem(word)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="aeiouybcdlmnstgrz ,.-", min_size=1, max_size=14), max_size=12).map(" ".join))
def test_tokenize_equals_rouge_score(text):
    rouge.clear_caches()
    assert list(rouge.tokenize(text)) == rs_tokenize.tokenize(text, RS_STEMMER)


def test_computing_a_prr_does_not_import_nltk_or_scipy():
    code = ("import sys; from mosseval.prr.score import score_process; "
            "s = score_process('<think>The red ball is rolling left.</think><answer>A</answer>', "
            "['the red balls rolled left']); assert s.prr is not None and s.prr > 0.5; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('nltk', 'scipy')); "
            "print(bad); assert not bad, bad")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr + out.stdout
