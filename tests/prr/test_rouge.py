"""The ROUGE step distance must equal rouge-score's to 1e-9 on any text."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer
from rouge_score import tokenize as rs_tokenize
from rouge_score import tokenizers as rs_tokenizers

from mosseval.prr import rouge

SCORER = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
STEMMER = rs_tokenizers.DefaultTokenizer(use_stemmer=True)._stemmer


def expected_distance(ref: str, gen: str) -> float:
    s = SCORER.score(target=ref, prediction=gen)
    return 1.0 - float(np.mean([s["rouge1"].fmeasure, s["rouge2"].fmeasure, s["rougeL"].fmeasure]))


def check_matrix(refs: list[str], gens: list[str]) -> None:
    d = rouge.rouge_distance_matrix(refs, gens)
    assert d.shape == (len(refs), len(gens))
    assert d.dtype == np.float64
    for i, r in enumerate(refs):
        for j, g in enumerate(gens):
            assert abs(d[i, j] - expected_distance(r, g)) <= 1e-9, (r, g, d[i, j])


LONG_A = " ".join(f"the ball number {i} rolls left and then the cube {i % 7} stops" for i in range(20))
LONG_B = " ".join(f"cube {i % 5} stops while the ball rolls right again {i}" for i in range(25))

CORPUS = [
    "",
    "   ",
    "...!!!",
    "The red ball moves to the left.",
    "the red ball is moving towards the left edge",
    "At 3.5 s, the cube (blue) turns GREEN!!",
    "At 3.5 seconds the blue cube turned green.",
    "e.g. the ball; i.e., it's rolling — fast…",
    "Ünïcödé naïve café İstanbul ÅNGSTRÖM résumé",
    "视频中，红色的球向左移动。 ball",
    "ball ball ball ball the the the cube cube",
    "the the ball ball ball",
    "running runs ran runner generalization generalize happiness happy",
    "a an the of to is at by",
    "x",
    "123 456 7.89 0.0s 10:30",
    "tab\tseparated\nnew line\r\nwindows",
    "emoji 🎉 party 🎈 balloons",
    LONG_A,
    LONG_B,
    LONG_A + " " + LONG_B,
]


def test_tokenize_matches_rouge_score():
    for text in CORPUS:
        assert list(rouge.tokenize(text)) == rs_tokenize.tokenize(text, STEMMER), text


def test_stemming_only_long_tokens():
    # rouge-score stems only tokens longer than 3 characters: "ran"/"was" stay, "runs" -> "run".
    assert rouge.tokenize("was ran runs") == ("was", "ran", "run")


def test_corpus_all_pairs():
    check_matrix(CORPUS, CORPUS)


def test_long_steps_multiword_lcs():
    assert len(rouge.tokenize(LONG_A + " " + LONG_B)) > 128  # exercises 3 uint64 words
    check_matrix([LONG_A, LONG_B, LONG_A + " " + LONG_B], [LONG_B, LONG_A, "the ball rolls"])


def test_identical_and_disjoint():
    d = rouge.rouge_distance_matrix(["the red ball moves left"], ["the red ball moves left", "blue cube"])
    assert d[0, 0] == 0.0
    assert d[0, 1] == 1.0


def test_empty_inputs():
    assert rouge.rouge_distance_matrix([], ["a b c"]).shape == (0, 1)
    assert rouge.rouge_distance_matrix(["a b c"], []).shape == (1, 0)
    assert rouge.rouge_distance_matrix([""], [""])[0, 0] == 1.0


def test_duplicates_and_order_preserved():
    refs = ["the ball rolls", "the cube stops", "the ball rolls"]
    gens = ["a cube stops", "the ball rolls", "a cube stops", ""]
    check_matrix(refs, gens)


def test_cache_does_not_change_values():
    refs, gens = CORPUS[:8], CORPUS[8:]
    a = rouge.rouge_distance_matrix(refs, gens)
    rouge.clear_caches()
    b = rouge.rouge_distance_matrix(refs, gens)
    assert np.array_equal(a, b)


def test_splitting_encodes_each_step_once():
    """Splitting completions into steps counts each sentence's tokens from its encoding, which the PRR batch then
    reads from the cache (no tuple of a step's tokens is kept); ``token_count`` is the length of ``tokenize``, which
    gives what rouge-score's tokenizer gives; the values are those of a cold cache."""
    from mosseval.prr.steps import split_steps

    rouge.clear_caches()
    gens = [s for text in ("The ball moves left. Then it stops at 3.5 s.", "A red cube is rolling; it rolls right.")
            for s in split_steps(text)[0]]
    assert gens and all(g in rouge._encoded for g in gens)
    refs = CORPUS[:3]
    assert not any(t in rouge._encoded for t in refs)
    encoded = {g: rouge._encoded[g] for g in gens}
    warm = rouge.rouge_distance_matrix(refs, gens)
    assert all(rouge._encoded[g] is encoded[g] for g in gens)  # read back, not encoded again
    assert all(t in rouge._encoded for t in refs)
    tokenizer = rs_tokenizers.DefaultTokenizer(use_stemmer=True)
    for t in refs + gens + ["", "...", "a b", "Running runners ran 3.5 km!"]:
        assert rouge.tokenize(t) == tuple(tokenizer.tokenize(t))
        assert rouge.token_count(t) == len(rouge.tokenize(t))
    rouge.clear_caches()
    assert np.array_equal(rouge.rouge_distance_matrix(refs, gens), warm)


def test_steps_split_and_never_scored_keep_the_encodings_bounded(monkeypatch):
    """Splitting alone (no PRR batch to clear the cache) keeps at most ``_ENCODED_MAX`` encodings, and the counts and
    the distances are those of an unbounded cache."""
    from mosseval.prr.steps import split_steps

    text = " ".join(f"Step {i}: the ball number {i} rolls {i} cm to the left." for i in range(40))
    rouge.clear_caches()
    want = split_steps(text, max_steps=100)[0]
    dist = rouge.rouge_distance_matrix(CORPUS[:2], want)
    monkeypatch.setattr(rouge, "_ENCODED_MAX", 5)
    rouge.clear_caches()
    assert split_steps(text, max_steps=100)[0] == want and len(want) == 40
    assert len(rouge._encoded) <= 5
    assert np.array_equal(rouge.rouge_distance_matrix(CORPUS[:2], want), dist)


WORDS = [
    "the", "a", "ball", "balls", "red", "blue", "cube", "cubes", "moves", "moving", "moved",
    "left", "right", "3.5", "s", "at", "then", "stops", "rolling", "rolls", "is", "green",
    "Ünïcödé", "naïve", "—", "(", ")", ",", ".", "!", "?", "7", "10:30", "🎉", "x", "xx",
]
sentence = st.lists(st.sampled_from(WORDS), min_size=0, max_size=30).map(" ".join)
any_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60
)
texts = st.one_of(sentence, sentence, any_text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(texts, min_size=1, max_size=4), st.lists(texts, min_size=1, max_size=5))
def test_hypothesis_matches_rouge_score(refs, gens):
    check_matrix(refs, gens)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(WORDS[:12]), min_size=60, max_size=150).map(" ".join),
       st.lists(st.sampled_from(WORDS[:12]), min_size=1, max_size=150).map(" ".join))
def test_hypothesis_long_repetitive(ref, gen):
    check_matrix([ref, gen], [gen, ref])


@pytest.mark.parametrize("ref,gen", [("the ball", "ball the"), ("a b c d", "d c b a")])
def test_target_prediction_roles(ref, gen):
    # F1 is symmetric, so swapping the roles must not change anything.
    a = rouge.rouge_distance_matrix([ref], [gen])[0, 0]
    b = rouge.rouge_distance_matrix([gen], [ref])[0, 0]
    assert a == pytest.approx(b, abs=1e-12)
    assert a == pytest.approx(expected_distance(ref, gen), abs=1e-12)


def _brute_lcs(a: list[int], b: list[int]) -> int:
    row = [0] * (len(b) + 1)
    for x in a:
        prev = 0
        for j, y in enumerate(b):
            prev, row[j + 1] = row[j + 1], prev + 1 if x == y else max(row[j + 1], row[j])
    return row[-1]


@pytest.mark.parametrize("width", [5, 63, 64, 65, 130])
def test_a_chunks_lcs_and_overlaps_match_brute_force(width):
    """The chunk kernels on padded rows (ref pads -1, gen pads -2): LCS one gen token at a time (Hyyrö), shared tags
    from one sorted row of both; against the textbook DP and a cell-by-cell count, at word boundaries too."""
    rng = np.random.default_rng(width)
    pairs = 40
    rl = rng.integers(0, width + 1, pairs)
    gl = rng.integers(0, width + 1, pairs)
    rw = np.full((pairs, width), -1)
    gw = np.full((pairs, width), -2)
    ru = np.full((pairs, width), -1)
    gu = np.full((pairs, width), -2)
    for p in range(pairs):
        rw[p, : rl[p]] = rng.integers(0, 6, rl[p])  # few distinct tokens: many matches, repeats
        gw[p, : gl[p]] = rng.integers(0, 6, gl[p])
        ru[p, : rl[p]] = rng.choice(3 * width, rl[p], replace=False)  # distinct tags within a row
        gu[p, : gl[p]] = rng.choice(3 * width, gl[p], replace=False)
    lcs = rouge._lcs(gw, rw, rl)
    common = rouge._common(ru, gu)
    for p in range(pairs):
        assert lcs[p] == _brute_lcs(list(rw[p, : rl[p]]), list(gw[p, : gl[p]]))
        assert common[p] == sum(int(x == y) for x in ru[p, : rl[p]] for y in gu[p, : gl[p]])
