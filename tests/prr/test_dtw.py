"""Subsequence DTW with jumps: vectorised implementation vs textbook DP vs brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mosseval.prr.dtw import align, align_batch, align_reference


def all_paths(n: int, m: int, mode: str, jump: int):
    """Every admissible path (list of cells), by exhaustive search."""
    moves = [(1, k) for k in range(1, jump + 1)] + [(1, 0), (0, 1)]
    starts = [(0, c) for c in range(m)] if mode == "sdtw" else [(0, 0)]

    def extend(path):
        r, c = path[-1]
        if r == n - 1 and (mode == "sdtw" or c == m - 1):
            yield list(path)
        for dr, dc in moves:
            nr, nc = r + dr, c + dc
            if nr < n and nc < m:
                path.append((nr, nc))
                yield from extend(path)
                path.pop()

    for s in starts:
        yield from extend([s])


def brute_force(d: np.ndarray, mode: str, jump: int):
    best = None
    for p in all_paths(*d.shape, mode, jump):
        cost = 0.0
        for cell in p:
            cost = d[cell] + cost
        key = (cost, len(p))
        if best is None or key < best[0]:
            best = (key, p)
    return best


# Distances from a dyadic grid: sums are exact, so lexicographic (cost, length) optima are exact.
grid = arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 6)),
              elements=st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]))
floats = arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 6)),
                elements=st.floats(0.0, 1.0, allow_nan=False))


@settings(max_examples=120, deadline=None)
@given(grid, st.sampled_from(["sdtw", "dtw"]), st.integers(1, 3))
def test_matches_brute_force_exact(d, mode, jump):
    a = align(d, mode=mode, jump=jump)
    (cost, length), _ = brute_force(d, mode, jump)
    assert a.cost == cost
    assert len(a.path) == length
    assert a.normalized_cost == pytest.approx(cost / length, abs=1e-15)
    # the returned path is admissible and its cost is what it claims
    assert a.path in list(all_paths(*d.shape, mode, jump))
    assert sum(a.step_distances) == pytest.approx(a.cost, abs=1e-12)
    assert a.step_distances == [d[c] for c in a.path]


@settings(max_examples=120, deadline=None)
@given(floats, st.sampled_from(["sdtw", "dtw"]), st.integers(1, 3))
def test_matches_brute_force_cost(d, mode, jump):
    a = align(d, mode=mode, jump=jump)
    (cost, _), _ = brute_force(d, mode, jump)
    assert a.cost == pytest.approx(cost, abs=1e-12)
    assert 0.0 <= a.normalized_cost <= 1.0


@settings(max_examples=60, deadline=None)
@given(st.lists(arrays(np.float64, st.tuples(st.just(5), st.integers(1, 12)),
                       elements=st.sampled_from([0.0, 0.1, 0.3, 0.5, 1.0])),
                min_size=1, max_size=6),
       st.sampled_from(["sdtw", "dtw"]), st.integers(1, 4))
def test_batch_equals_textbook_bit_for_bit(ds, mode, jump):
    for a, d in zip(align_batch(ds, mode=mode, jump=jump), ds):
        b = align_reference(d, mode=mode, jump=jump)
        assert (a.cost, a.path, a.normalized_cost) == (b.cost, b.path, b.normalized_cost)
        # the distances along the path, read for all items at once, are the matrix's own cells
        assert a.step_distances == b.step_distances == [d[r, c] for r, c in b.path]
        assert all(type(x) is float for x in a.step_distances) and all(type(x) is int for p in a.path for x in p)


def test_batch_mixed_row_counts():
    rng = np.random.default_rng(3)
    ds = [rng.random((n, m)) for n, m in [(3, 5), (4, 4), (3, 9), (1, 2)]]
    for a, d in zip(align_batch(ds), ds):
        assert a.path == align_reference(d).path


def test_batch_takes_matrices_of_any_memory_layout():
    """Every cell of every matrix goes into the batch in one scatter (row-major): a transposed, strided or
    Fortran-ordered matrix aligns as its contiguous copy does."""
    rng = np.random.default_rng(9)
    base = rng.random((6, 14))
    ds = [base[:4, ::2], np.asfortranarray(rng.random((4, 5))), rng.random((9, 4)).T, base[2:6, 3:4]]
    assert not all(d.flags.c_contiguous for d in ds)
    for a, d in zip(align_batch(ds), ds, strict=True):
        b = align_reference(np.ascontiguousarray(d))
        assert (a.cost, a.path, a.step_distances) == (b.cost, b.path, b.step_distances)


def test_large_matches_textbook():
    rng = np.random.default_rng(7)
    for shape in [(64, 64), (8, 64), (64, 8)]:
        d = np.round(rng.random(shape), 2)
        for mode in ("sdtw", "dtw"):
            a, b = align(d, mode, 2), align_reference(d, mode, 2)
            assert (a.cost, a.path) == (b.cost, b.path)


def test_paths_longer_than_int16_counts_match_textbook():
    """Path lengths are counted in int16 while every diagonal index fits, else in int32: a matrix with more than
    32,767 diagonals (here 3 x 32,800, where the plain DTW path has 32,802 cells) aligns as the textbook does."""
    rng = np.random.default_rng(11)
    d = np.round(rng.random((3, 32_800)), 1)
    for mode in ("sdtw", "dtw"):
        (a,) = align_batch([d], mode=mode, jump=2)
        b = align_reference(d, mode, 2)
        assert (a.cost, a.path, a.normalized_cost) == (b.cost, b.path, b.normalized_cost)
    assert len(align(d, "dtw", 2).path) > 32_767


def _exact(n: int) -> np.ndarray:
    """Distance 0 on the diagonal, 1 elsewhere."""
    return 1.0 - np.eye(n)


def test_free_start_and_end():
    # reference matched exactly inside a longer sequence: gen = x r0 r1 r2 x
    d = np.ones((3, 5))
    for i in range(3):
        d[i, i + 1] = 0.0
    a = align(d)
    assert a.cost == 0.0 and a.path == [(0, 1), (1, 2), (2, 3)]
    assert align(d, mode="dtw").cost > 0


def test_jump_skips_exploratory_steps():
    # gen = r0 x r1 x r2: J=2 skips each x at no cost, J=1 must pay for it.
    d = np.ones((3, 5))
    for i in range(3):
        d[i, 2 * i] = 0.0
    a2 = align(d, jump=2)
    assert a2.cost == 0.0 and a2.path == [(0, 0), (1, 2), (2, 4)] and a2.normalized_cost == 0.0
    a1 = align(d, jump=1)
    assert a1.cost > 0
    # two exploratory steps in a row need J = 3
    d3 = np.ones((2, 4))
    d3[0, 0] = d3[1, 3] = 0.0
    assert align(d3, jump=2).cost > 0
    assert align(d3, jump=3).cost == 0.0


def test_repeated_copies_do_not_lengthen_the_path():
    # gen = r0 r0 r1 (both r0 copies cost 0): the path starts at the last copy.
    d = np.array([[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    assert align(d, jump=1).path == [(0, 1), (1, 2)]


def test_tie_break_prefers_shorter_path():
    # Three paths cost 1.0; the diagonal one has 2 cells, the others 3: the shorter one wins
    # (d-bar 0.5, not 1/3), for textbook DTW and the reference implementation alike.
    d = np.array([[0.5, 0.0], [0.0, 0.5]])
    for impl in (align, align_reference):
        a = impl(d, mode="dtw", jump=1)
        assert a.cost == 1.0 and a.path == [(0, 0), (1, 1)] and a.normalized_cost == 0.5


def test_tie_break_move_order():
    # Equal cost and length: the diagonal beats the vertical move.
    d = np.array([[0.5, 0.5], [0.5, 0.0]])
    assert align(d, jump=1).path == [(0, 0), (1, 1)]
    # free end: equal (cost, length) -> the earliest column
    d = np.array([[0.0, 1.0, 0.0]])
    assert align(d).path == [(0, 0)]


def test_textbook_dtw_single_row_and_column():
    assert align(np.array([[0.2, 0.4, 0.1]]), mode="sdtw").path == [(0, 2)]
    a = align(np.array([[0.2, 0.4, 0.1]]), mode="dtw")
    assert a.path == [(0, 0), (0, 1), (0, 2)] and math.isclose(a.cost, 0.7)
    a = align(np.array([[0.2], [0.4], [0.1]]), mode="sdtw")
    assert a.path == [(0, 0), (1, 0), (2, 0)] and math.isclose(a.normalized_cost, 0.7 / 3)


@pytest.mark.parametrize("bad", [np.zeros((0, 3)), np.zeros((3, 0)), np.zeros(3), np.array([[np.nan]])])
def test_rejects_bad_matrices(bad):
    with pytest.raises(ValueError):
        align(bad)


def test_rejects_bad_mode_and_jump():
    with pytest.raises(ValueError):
        align(np.zeros((2, 2)), mode="fast")
    with pytest.raises(ValueError):
        align(np.zeros((2, 2)), jump=0)


def test_a_batch_is_checked_as_each_of_its_matrices():
    """align_batch checks the rules once and every matrix's cells in one pass: a NaN or an empty matrix
    anywhere in the batch is refused, as align refuses it alone."""
    good = np.zeros((2, 3))
    for bad in (np.array([[0.1, np.nan]]), np.zeros((2, 0)), np.zeros(3)):
        with pytest.raises(ValueError):
            align_batch([good, good, bad])
    with pytest.raises(ValueError, match="jump"):
        align_batch([good], jump=0)
    assert [a.path for a in align_batch([good, [[0.5, 0.0]]])] == [align(good).path, [(0, 1)]]  # lists accepted
