"""Process Reasoning Reward: properties required by the issue and SPEC §3 edge cases."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer

from mosseval.errors import UsageError
from mosseval.prr import rouge
from mosseval.prr.score import prr_from_normalized, reasoning_text, score_batch, score_group, score_process
from mosseval.records import PRRConfig, PRRDetail, ReferenceStep

SCORER = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)

REFS = [
    "The red ball starts at the left edge of the table.",
    "The red ball rolls toward the center.",
    "A blue cube appears behind the ball.",
    "The cube turns green when the ball touches it.",
    "The ball stops next to the green cube.",
]
FILLER = [
    "Let me look again at those frames carefully.",
    "Wait, I should double check this observation first.",
    "Hmm, that seems plausible so far, okay.",
]


def completion(steps: list[str], answer: str = "B", numbered: bool = True) -> str:
    body = "\n".join(f"{i + 1}. {s}" if numbered else s for i, s in enumerate(steps))
    return f"<think>\n{body}\n</think>\n<answer>{answer}</answer>"


def prr(steps: list[str], refs: list[str] = REFS, **cfg) -> float:
    ps = score_process(completion(steps), refs, PRRConfig(**cfg))
    assert ps.status == "scored"
    return ps.prr


# --------------------------------------------------------------------------- independent oracle


def rouge_d(r: str, g: str) -> float:
    s = SCORER.score(target=r, prediction=g)
    return 1.0 - (s["rouge1"].fmeasure + s["rouge2"].fmeasure + s["rougeL"].fmeasure) / 3.0


def oracle_prr(refs: list[str], gen: list[str], jump: int = 2, alpha: float = 2.0) -> float:
    """SPEC §3 written out directly: all admissible SDTW paths, lowest (cost, length)."""
    n, m = len(refs), len(gen)
    d = [[rouge_d(r, g) for g in gen] for r in refs]
    moves = [(1, k) for k in range(1, jump + 1)] + [(1, 0), (0, 1)]
    best = [None]

    def walk(r, c, cost, length):
        if r == n - 1:
            key = (cost, length)
            if best[0] is None or key < best[0]:
                best[0] = key
        for dr, dc in moves:
            nr, nc = r + dr, c + dc
            if nr < n and nc < m:
                walk(nr, nc, d[nr][nc] + cost, length + 1)

    for c in range(m):
        walk(0, c, d[0][c], 1)
    cost, length = best[0]
    dbar = cost / length
    return (math.exp(-alpha * dbar) - math.exp(-alpha)) / (1 - math.exp(-alpha))


# --------------------------------------------------------------------------- the formula


def test_prr_formula():
    assert prr_from_normalized(0.0, 2.0) == 1.0
    assert prr_from_normalized(1.0, 2.0) == 0.0
    expected = (math.exp(-2 * 0.3) - math.exp(-2)) / (1 - math.exp(-2))
    assert prr_from_normalized(0.3, 2.0) == pytest.approx(expected, abs=1e-15)
    assert prr_from_normalized(0.3, 0.0) == pytest.approx(0.7, abs=1e-15)
    assert prr_from_normalized(0.3, 1e-9) == pytest.approx(0.7, abs=1e-8)
    assert prr_from_normalized(0.3, 50.0) == pytest.approx(math.exp(-15), rel=1e-6)
    with pytest.raises(UsageError):
        prr_from_normalized(0.5, -1.0)


@given(st.floats(0, 1), st.floats(0, 30))
def test_prr_formula_range_and_monotone(d, alpha):
    v = prr_from_normalized(d, alpha)
    assert 0.0 <= v <= 1.0
    assert prr_from_normalized(min(d + 0.1, 1.0), alpha) <= v + 1e-12


# --------------------------------------------------------------------------- properties


def test_identical_sequences_score_one():
    ps = score_process(completion(REFS), REFS, PRRConfig())
    assert ps.status == "scored" and ps.prr == 1.0
    assert ps.steps == REFS
    assert isinstance(ps.detail, PRRDetail)
    assert ps.detail.path == [(i, i) for i in range(5)]
    assert ps.detail.step_distances == [0.0] * 5


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_embedded_reference_with_exploration(data):
    jump = data.draw(st.integers(2, 4))
    gaps = data.draw(st.lists(st.integers(0, jump - 1), min_size=len(REFS) - 1,
                              max_size=len(REFS) - 1))
    before, after = data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3))
    rnd = random.Random(data.draw(st.integers(0, 1000)))
    gen = [rnd.choice(FILLER) for _ in range(before)]
    for i, r in enumerate(REFS):
        gen.append(r)
        if i < len(gaps):
            gen.extend(rnd.choice(FILLER) for _ in range(gaps[i]))
    gen.extend(rnd.choice(FILLER) for _ in range(after))
    assert prr(gen, jump=jump) == 1.0
    if any(gaps):
        assert prr(gen, jump=1) < 1.0


def test_exploration_gap_paraphrased():
    para = [
        "The red ball is at the left edge of the table.",
        "The red ball is rolling toward the center.",
        "A blue cube appears behind the red ball.",
        "The cube turns green as the ball touches it.",
        "The ball stops beside the green cube.",
    ]
    with_gaps = [para[0], FILLER[0], para[1], para[2], FILLER[1], para[3], para[4], FILLER[2]]
    assert prr(with_gaps) == pytest.approx(prr(para), abs=1e-12)
    assert prr(with_gaps) == pytest.approx(oracle_prr(REFS, with_gaps), abs=1e-12)
    assert prr(with_gaps, jump=1) < prr(with_gaps, jump=2)


def test_reversed_scores_lower():
    assert prr(list(reversed(REFS))) < prr(REFS)


distinct_steps = st.lists(
    st.lists(st.sampled_from("ball cube cone box red blue green left right moves stops turns "
                             "appears rolls falls".split()), min_size=3, max_size=7)
    .map(" ".join),
    min_size=2, max_size=6, unique_by=lambda s: s,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(distinct_steps)
def test_reversed_lower_property(refs):
    from mosseval.prr.rouge import tokenize

    if len({tokenize(r) for r in refs}) < len(refs):
        return  # identical after stemming: not distinct steps
    rev = list(reversed(refs))
    assert prr(refs, refs) == 1.0
    assert prr(rev, refs) < 1.0


def test_padding_with_repeated_reference_phrases():
    # Repeating a reference step: SDTW aligns the repeats to one reference step for free
    # (horizontal moves and the free start cost nothing when the distance is 0), so padding
    # does not lower the PRR; the step cap is the guard against it.
    padded = [REFS[0]] * 4 + REFS[1:3] + [REFS[2]] * 3 + REFS[3:]
    assert prr(padded) == pytest.approx(oracle_prr(REFS, padded), abs=1e-12)
    assert prr(padded) == 1.0
    # Only one reference phrase repeated: every other reference step must be matched to it.
    only_first = [REFS[0]] * 6
    assert prr(only_first) == pytest.approx(oracle_prr(REFS, only_first), abs=1e-12)
    assert prr(only_first) < 0.5


def test_shuffled_reference_steps():
    rnd = random.Random(0)
    for _ in range(3):
        shuffled = REFS[:]
        rnd.shuffle(shuffled)
        assert prr(shuffled) == pytest.approx(oracle_prr(REFS, shuffled), abs=1e-12)
        assert prr(shuffled, jump=1) == pytest.approx(oracle_prr(REFS, shuffled, jump=1), abs=1e-12)
    swapped = [REFS[0], REFS[2], REFS[1], REFS[3], REFS[4]]
    assert prr(swapped) < 1.0


WORDS = "the red blue ball cube moves rolls left right stops at then it appears green 3.5 s".split()
step_text = st.lists(st.sampled_from(WORDS), min_size=0, max_size=10).map(" ".join)


@settings(max_examples=80, deadline=None)
@given(st.lists(step_text, min_size=0, max_size=8), st.lists(step_text, min_size=1, max_size=5),
       st.sampled_from(["sdtw", "dtw"]), st.integers(1, 3), st.floats(0, 10))
def test_prr_in_unit_interval(gen, refs, mode, jump, alpha):
    ps = score_process(completion(gen), refs, PRRConfig(alignment=mode, jump=jump, alpha=alpha))
    if ps.status == "scored":
        assert 0.0 <= ps.prr <= 1.0
        assert 0.0 <= ps.detail.normalized_cost <= 1.0
    elif ps.status == "no_steps":
        assert ps.prr == 0.0
    else:
        assert ps.status == "not_applicable" and ps.prr is None


texts_strategy = st.lists(
    st.one_of(
        st.lists(step_text, max_size=8).map(completion),
        st.lists(step_text, max_size=8).map(lambda s: "\n".join(s)),  # format broken
        st.none(),
        st.just("<think></think><answer>A</answer>"),
    ),
    min_size=1, max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(texts_strategy, st.lists(step_text, min_size=0, max_size=5), st.booleans(),
       st.sampled_from(["sdtw", "dtw"]))
def test_group_equals_one_by_one(texts, refs, require_format, mode):
    cfg = PRRConfig(alignment=mode)
    group = score_group(texts, refs, cfg, require_format=require_format)
    single = [score_process(t, refs, cfg, require_format=require_format) for t in texts]
    assert group == single


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(texts_strategy, st.lists(step_text, min_size=0, max_size=5)), min_size=1, max_size=6),
       st.booleans(), st.sampled_from(["sdtw", "dtw"]), st.integers(1, 3))
def test_batch_of_items_with_different_references_equals_one_by_one(groups, require_format, mode, jump):
    """Batching across samples (score, the runner, the reward API) changes no value, not even a bit."""
    cfg = PRRConfig(alignment=mode, jump=jump)
    items = [(t, refs) for texts, refs in groups for t in texts]
    batch = score_batch(items, cfg, require_format=require_format)
    rouge.clear_caches()  # and no value depends on what was cached before
    single = [score_process(t, refs, cfg, require_format=require_format) for t, refs in items]
    assert batch == single


def _typed(value):
    """A value with the type of every part: equal only where the types are too (1 is not 1.0, a list no tuple)."""
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_typed(v) for v in value])
    if isinstance(value, dict):
        return ("dict", [(k, _typed(v)) for k, v in value.items()])
    return (type(value).__name__, repr(value))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(texts_strategy, st.lists(step_text, min_size=0, max_size=5)), min_size=1, max_size=6),
       st.booleans(), st.sampled_from(["sdtw", "dtw"]), st.integers(1, 3))
def test_detail_data_is_the_fields_of_the_detail(groups, require_format, mode, jump):
    """``score_batch(detail_data=True)`` (what ``score`` and the runner's scorer ask for) gives each alignment as
    exactly the fields of the ``PRRDetail`` the default builds: the same keys in the same order, values of the
    same types and bits, the same JSON; everything else is equal."""
    import orjson

    from mosseval.records import PRRDetail

    cfg = PRRConfig(alignment=mode, jump=jump)
    items = [(t, refs) for texts, refs in groups for t in texts]
    models = score_batch(items, cfg, require_format=require_format)
    data = score_batch(items, cfg, require_format=require_format, detail_data=True)
    for m, d in zip(models, data, strict=True):
        assert (m.prr, m.status, m.steps, m.truncated) == (d.prr, d.status, d.steps, d.truncated)
        if m.detail is None:
            assert d.detail is None
            continue
        assert type(m.detail) is PRRDetail and type(d.detail) is dict
        assert _typed(d.detail) == _typed(m.detail.__dict__)
        assert _typed(PRRDetail.model_validate(d.detail).__dict__) == _typed(d.detail)
        assert orjson.dumps(d.detail) == m.detail.model_dump_json().encode()


def test_distance_blocks_equal_their_single_matrices():
    rng = random.Random(3)
    words = "the red ball cube rolls left right stops green blue at 3 s then again".split()
    blocks = []
    for _ in range(30):
        refs = [" ".join(rng.choices(words, k=rng.randint(0, 70))) for _ in range(rng.randint(0, 4))]
        gens = [" ".join(rng.choices(words, k=rng.randint(0, 70))) for _ in range(rng.randint(0, 5))]
        blocks.append((refs, gens))
    got = rouge.rouge_distance_blocks(blocks)
    for (refs, gens), d in zip(blocks, got):
        assert d.shape == (len(refs), len(gens))
        assert np.array_equal(d, rouge.rouge_distance_matrix(refs, gens))
        for i, r in enumerate(refs):
            for j, g in enumerate(gens):
                s = SCORER.score(target=r, prediction=g)
                want = 1.0 - (s["rouge1"].fmeasure + s["rouge2"].fmeasure + s["rougeL"].fmeasure) / 3.0
                assert abs(d[i, j] - want) <= 1e-9


# --------------------------------------------------------------------------- edge cases


def test_not_applicable_without_reference():
    for refs in ([], None, ["", "   "]):
        ps = score_process(completion(REFS), refs, PRRConfig())
        assert ps.status == "not_applicable" and ps.prr is None


def test_format_broken_and_no_steps():
    ps = score_process("The red ball starts at the left. Answer: B", REFS, PRRConfig())
    assert (ps.status, ps.prr) == ("format_broken", 0.0)
    ps = score_process("<think>ok</think><answer>B</answer>", REFS, PRRConfig())
    assert (ps.status, ps.prr) == ("no_steps", 0.0)
    ps = score_process(None, REFS, PRRConfig())
    assert (ps.status, ps.prr) == ("format_broken", 0.0)
    ps = score_process(None, REFS, PRRConfig(), require_format=False)
    assert (ps.status, ps.prr) == ("no_steps", 0.0)


def test_without_required_format_uses_text_before_answer():
    text = "\n".join(REFS) + "\n<answer>B</answer>"
    ps = score_process(text, REFS, PRRConfig(), require_format=False)
    assert ps.status == "scored" and ps.prr == 1.0
    # R1-style completions whose <think> was part of the prompt
    assert reasoning_text("step one two three</think><answer>B</answer>", False).strip() == (
        "step one two three"
    )
    assert reasoning_text("<think>a b c</think> tail", False) == "a b c"


def test_reference_step_kinds():
    cfg = PRRConfig()
    as_dicts = [{"t": float(i), "text": r} for i, r in enumerate(REFS)]
    as_records = [ReferenceStep(text=r, t=float(i)) for i, r in enumerate(REFS)]
    for refs in (as_dicts, as_records):
        assert score_process(completion(REFS), refs, cfg).prr == 1.0
    with pytest.raises(UsageError):
        score_process(completion(REFS), "a single string", cfg)
    with pytest.raises(UsageError):
        score_process(completion(REFS), [{"t": 1.0}], cfg)


def test_reference_texts_of_every_kind():
    """Texts are stripped and blank ones dropped, whatever holds them; anything else is refused by name."""
    from mosseval.prr.score import reference_texts

    class Text(str):
        pass

    texts = [" a ", "", Text(" b\n"), "  ", "c"]
    for refs in (texts, tuple(texts), iter(texts), [{"text": t} for t in texts],
                 [ReferenceStep(text=t) for t in texts], [texts[0], {"text": texts[2]}, ReferenceStep(text="c")]):
        got = reference_texts(refs)
        assert got == ["a", "b", "c"] and all(type(t) is str for t in got)
    for bad in ([b"bytes"], ["a", 3], ["a", None]):
        with pytest.raises(UsageError, match="reference step"):
            reference_texts(bad)


def test_step_cap_applies():
    gen = REFS * 20  # 100 steps
    ps = score_process(completion(gen), REFS, PRRConfig(max_steps=7))
    assert ps.truncated and len(ps.steps) == 7


def test_dtw_mode_fixed_ends():
    gen = [FILLER[0]] + REFS
    assert prr(gen) == 1.0
    assert prr(gen, alignment="dtw") < 1.0


def test_alpha_zero_is_one_minus_dbar():
    ps = score_process(completion(list(reversed(REFS))), REFS, PRRConfig(alpha=0.0))
    assert ps.prr == pytest.approx(1 - ps.detail.normalized_cost, abs=1e-15)
    assert np.isclose(ps.detail.normalized_cost, ps.detail.cost / len(ps.detail.path))


def test_docs_worked_example():
    """The numbers printed in docs/explanation/prr.md."""
    refs = ["The red ball starts at the left edge.", "The red ball rolls to the center.",
            "A blue cube appears on the right."]
    text = ("<think>\n1. At the start, the red ball is at the left edge.\n"
            "2. Let me check the next frames carefully.\n3. The red ball is rolling to the center.\n"
            "4. A blue cube appears on the right side.\n"
            "5. So the next state should be the cube turning.\n</think>\n<answer>B</answer>")
    j2 = score_process(text, refs, PRRConfig())
    assert j2.detail.path == [(0, 0), (1, 2), (2, 3)]
    assert (round(j2.detail.cost, 4), round(j2.detail.normalized_cost, 4), round(j2.prr, 3)) == (
        0.4691, 0.1564, 0.689)
    j1 = score_process(text, refs, PRRConfig(jump=1))
    assert j1.detail.path == [(0, 2), (1, 2), (2, 3)]
    assert (round(j1.detail.cost, 4), round(j1.prr, 3)) == (0.7629, 0.539)
    rev = score_process("<think>" + " ".join(reversed(refs)) + "</think><answer>B</answer>",
                        refs, PRRConfig())
    assert rev.detail.path == [(0, 1), (1, 1), (2, 1)] and round(rev.prr, 3) == 0.284


@pytest.mark.parametrize("bound, sizes, seed, words_max", [
    # the F-measures combined at most _PAIR_SLICE pairs at a time (a few arrays of the slice, not a dozen of a
    # 24,000-sample batch's pairs)
    ("_PAIR_SLICE", (1, 3, 64), 5, 30),
    # a chunk of the pair comparisons holds at most _CHUNK_PAIRS pairs (short steps no longer make chunks of
    # ~16,000 pairs, a megabyte an array)
    ("_CHUNK_PAIRS", (1, 3, 50), 11, 12),
])
def test_pairs_taken_a_few_at_a_time_give_the_same_distances(monkeypatch, bound, sizes, seed, words_max):
    """Any bound on the pairs ``_pair_distances`` handles at once gives the distances of no bound."""
    rng = random.Random(seed)
    words = "the red ball cube rolls left right stops green blue at 3 s then again".split()
    blocks = [([" ".join(rng.choices(words, k=rng.randint(0, words_max))) for _ in range(rng.randint(0, 5))],
               [" ".join(rng.choices(words, k=rng.randint(0, words_max))) for _ in range(rng.randint(0, 6))])
              for _ in range(60)]
    monkeypatch.setattr(rouge, bound, 1 << 30)
    monkeypatch.setattr(rouge, "_CHUNK_MIN_PAIRS", 1 << 30)  # (no share of the batch either)
    rouge.clear_caches()
    whole = rouge.rouge_distance_blocks(blocks)
    assert sum(d.size for d in whole) > 300
    for size in sizes:
        monkeypatch.setattr(rouge, bound, size)
        rouge.clear_caches()
        assert all(np.array_equal(a, b) for a, b in zip(rouge.rouge_distance_blocks(blocks), whole, strict=True))


def test_a_small_batch_compares_a_small_share_of_its_pairs_at_once():
    """A chunk of the pair comparisons is at most a 16th of the batch's pairs, never fewer than 256 nor more than 512,
    and never more cells than ``_CHUNK_CELLS``: a 240-sample ``score`` (~3,200 pairs) compares 256 at a time, a
    2,400-sample one (~21,000) 512, a GRPO group (~800) all of a length group's."""
    assert rouge._chunk_pairs(3_241, 16 * 16) == 256
    assert rouge._chunk_pairs(6_000, 16 * 16) == 375
    assert rouge._chunk_pairs(21_416, 16 * 16) == 512
    assert rouge._chunk_pairs(768, 8 * 8) == 256
    assert rouge._chunk_pairs(10**6, 64 * 64) == 256  # the cells' bound
    assert rouge._chunk_pairs(10**6, 2**21) == 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-2**62, 2**62), max_size=60) | st.lists(st.integers(0, 5), max_size=60))
def test_unique_inverse_is_numpys(keys):
    """``_unique_inverse`` (the batch's distinct pairs, in half the memory) gives ``np.unique``'s distinct keys and
    each key's place among them."""
    a = np.array(keys, dtype=np.int64)
    uniq, inverse = rouge._unique_inverse(a.copy())
    want_u, want_i = np.unique(a, return_inverse=True)
    assert np.array_equal(uniq, want_u) and np.array_equal(inverse, want_i.reshape(-1))
    assert inverse.dtype == np.int32 and np.array_equal(uniq[inverse], a)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**62), max_size=50))
def test_token_ranks_keep_equality_in_int16(tags):
    """What the pairs' chunks compare (``_ranks``): each tag as an int16 rank (fewer than 32,767 distinct tags),
    equal tags equal and different ones different, then the -3 that keeps indexing valid (below every pad)."""
    a = np.array(tags, dtype=np.int64)
    ranks = rouge._ranks(a)
    assert ranks.dtype == np.int16 and ranks[-1] == -3 and len(ranks) == len(tags) + 1
    got = ranks[:-1].tolist()
    assert all((got[i] == got[j]) == (tags[i] == tags[j]) for i in range(len(tags)) for j in range(len(tags)))
    assert all(0 <= r < max(len(tags), 1) for r in got)


def test_token_ranks_of_more_than_32766_distinct_tags_are_int32():
    """Past int16's range the ranks are int32, still one per distinct tag in order (a 24,000-sample batch has more
    distinct bigram tags than int16 holds)."""
    for n in (32_766, 32_767, 40_000):
        tags = np.arange(n, dtype=np.int64)[::-1] * 7  # distinct, descending: rank = n - 1 - position
        ranks = rouge._ranks(tags.copy())
        assert ranks.dtype == (np.int16 if n < 32_767 else np.int32)
        assert np.array_equal(ranks[:-1], np.arange(n)[::-1]) and ranks[-1] == -3


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.integers(0, 6), max_size=12), max_size=8), st.sampled_from([0, 2**16, 2**30]),
       st.sampled_from([1 << 20, 2]))
def test_occurrence_ranks_tag_each_token_with_its_count_so_far(monkeypatch, strings, extra_ids, occ_cut):
    """``_occurrence_ranks``: a token's rank is equal to another's exactly when both are the same id and the same
    count of earlier equal ids in their own string (cut at ``_OCC - 1``), whatever integer types the sizes
    allow (``extra_ids`` widens the id range past int32's, so the (string, id) numbers are int64)."""
    monkeypatch.setattr(rouge, "_OCC", occ_cut)
    ids = np.array([i for s in strings for i in s], dtype=np.intc)
    owner = np.repeat(np.arange(len(strings), dtype=np.int32), [len(s) for s in strings])
    want = []
    for s in strings:
        seen: dict[int, int] = {}
        for i in s:
            want.append((i, min(seen.get(i, 0), occ_cut - 1)))
            seen[i] = seen.get(i, 0) + 1
    ranks = rouge._occurrence_ranks(ids, owner, 7 + extra_ids)
    assert ranks[-1] == -3 and len(ranks) == len(want) + 1
    got = ranks[:-1].tolist()
    assert all((got[a] == got[b]) == (want[a] == want[b]) for a in range(len(want)) for b in range(len(want)))


def test_encodings_are_held_as_int32_bytes():
    """Each encoded string is kept as the bytes of its word ids (4 bytes a token), and the batch reads them
    back as the same ids."""
    rouge.clear_caches()
    rouge.rouge_distance_matrix(["the red ball rolls left", "the ball"], ["a red ball"])
    enc = rouge._encoded["the red ball rolls left"]
    assert type(enc) is bytes and len(enc) == 4 * 5
    ids = np.frombuffer(enc, dtype=np.intc).tolist()
    assert ids == [rouge._word_ids[w] for w in rouge.tokenize("the red ball rolls left")]
    assert np.frombuffer(rouge._encoded["the ball"], dtype=np.intc).tolist() == [ids[0], ids[2]]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=12), st.integers(1, 30))
def test_cell_keys_are_every_block_cell_row_by_row(shapes, n_strings):
    """``_cell_keys``: block by block, ref row by ref row, the ref's id times the string count plus each of the
    block's gens' ids in order (what a double loop over the blocks gives)."""
    rng = random.Random(len(shapes) * 31 + n_strings)
    r_flat = [rng.randrange(n_strings) for _ in range(sum(n for n, _ in shapes))]
    g_flat = [rng.randrange(n_strings) for _ in range(sum(m for _, m in shapes))]
    want, ri, gi = [], 0, 0
    for n, m in shapes:
        want += [r_flat[ri + i] * n_strings + g_flat[gi + j] for i in range(n) for j in range(m)]
        ri, gi = ri + n, gi + m
    ns = np.array([n for n, _ in shapes], dtype=np.int64)
    ms = np.array([m for _, m in shapes], dtype=np.int64)
    got = rouge._cell_keys(r_flat, g_flat, ns, ms, len(want), n_strings)
    assert got.tolist() == want


def test_score_batch_consumes_what_it_is_handed_and_lets_the_completions_go():
    """``score_batch(consume=True)`` (``score``'s scorer hands over its only references to the completions) gives
    what the plain call gives and empties the list; the batch lets go of the completions once they are split
    into steps, before the distances are computed (~12 MiB fewer at 24,000 samples); an iterator is taken
    too."""
    from mosseval.prr import score as score_mod

    refs = ["At 1 s there are 2 red balls.", "Then 3 red balls."]
    texts = ["<think>At 1 s there are 2 red balls. Then 4.</think><answer>B</answer>", "no format", None,
             "<think>Then 3 red balls. At 1 s there are 2.</think><answer>A</answer>"]
    items = [(t, refs) for t in texts]
    handed = list(items)
    assert score_batch(handed, consume=True) == score_batch(items) == score_batch(iter(items))
    assert handed == [] and len(items) == len(texts)
    held = [(t, refs) for t in texts]
    seen = []
    real = score_mod.distance_blocks

    def spy(blocks, config, **kw):
        seen.append(list(held))  # what the batch still holds when the distances are computed
        return real(blocks, config, **kw)

    score_mod.distance_blocks = spy
    try:
        got = score_mod._score_prepared(held, PRRConfig(), True)
    finally:
        score_mod.distance_blocks = real
    assert seen == [[]] and held == []
    assert got == score_batch(items)


def test_a_consumed_batch_lets_its_reference_strings_and_their_encodings_go_before_the_pairs_are_compared(
        monkeypatch):
    """``score_batch(consume=True)`` (a run's batch, scored once): the blocks handed to the distances are emptied
    once read, and the strings' cached encodings are gone by the time the pairs are compared (a 240-sample
    ``score`` peaked 0.2 MiB lower); the values are the plain call's, and a plain call keeps its encodings (a GRPO
    group's reference is scored again every step)."""
    refs = ["At 1 s there are 2 red balls on the table.", "Then a third red ball rolls in from the left.",
            "At 5 s only the blue cube is left."]
    texts = ["<think>At 1 s there are 2 red balls. Then a third one rolls in. The cube stays.</think>"
             "<answer>B</answer>",
             "<think>Only a blue cube at the end. Two red balls first.</think><answer>A</answer>",
             "no format", None]
    rouge.clear_caches()
    want = score_batch([(t, list(refs)) for t in texts])
    assert set(refs) <= set(rouge._encoded)  # kept for the next batch
    assert [p.status for p in want] == ["scored", "scored", "format_broken", "format_broken"]

    rouge.clear_caches()
    seen: dict = {}
    real_blocks, real_gather = rouge.rouge_distance_blocks, rouge._gather

    def blocks_spy(blocks, *, forget=False):
        seen["blocks"], seen["forget"] = blocks, forget
        return real_blocks(blocks, forget=forget)

    def gather_spy(*args):
        seen.setdefault("cached", set(rouge._encoded))  # at the first comparison of pairs
        return real_gather(*args)

    monkeypatch.setattr(rouge, "rouge_distance_blocks", blocks_spy)
    monkeypatch.setattr(rouge, "_gather", gather_spy)
    got = score_batch([(t, list(refs)) for t in texts], consume=True)
    assert got == want
    assert seen["forget"] is True and seen["blocks"] == []
    assert seen["cached"] == set() and rouge._encoded == {}
    # the plain call through the same spies: nothing handed over, nothing forgotten
    seen.clear()
    rouge.clear_caches()
    assert score_batch([(t, list(refs)) for t in texts]) == want
    assert seen["forget"] is False and len(seen["blocks"]) == 2 and set(refs) <= seen["cached"]
