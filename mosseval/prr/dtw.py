"""Subsequence DTW with a jump step, and plain DTW (SPEC §3).

Conventions
-----------
``dist`` is an ``(N, M)`` matrix: rows are the reference steps (the query, every one consumed),
columns the generated steps (the long sequence). ``D[n, m]`` is the cost of the best path that ends
in cell ``(n, m)``; the cost of a path is the sum of ``dist`` over its cells and its length ``L`` is
the number of cells on it.

* ``sdtw`` (default): free start and free end on the generated side. Row 0 is ``D[0, m] =
  dist[0, m]`` (every column may start a path); the result is the best ``D[N-1, m]`` over ``m``.
* ``dtw``: both ends fixed, the path runs from ``(0, 0)`` to ``(N-1, M-1)``.

Moves into ``(n, m)``, listed in tie-breaking order:

1. from ``(n-1, m-k)`` for ``k = 1 .. J`` (``k = 1`` is the diagonal; ``k >= 2`` skips ``k-1``
   generated steps at no cost; skipped cells are not on the path),
2. from ``(n-1, m)`` (vertical: several reference steps on one generated step),
3. from ``(n, m-1)`` (horizontal: several generated steps on one reference step).

``J = 1`` gives textbook (S)DTW. The jump applies in both modes.

Tie-breaking (ours; the paper does not say): candidates are compared by accumulated cost, then by
path length (the shorter path wins, so zero-cost filler cannot lengthen the path and lower the
normalised cost), then by the move order above. The free end picks the lowest ``(cost, length)``
and then the earliest column. Costs are compared exactly as floating-point numbers, and every
implementation here adds in the same order, so the vectorised and the textbook version agree to
the last bit.

``normalized_cost = cost / L`` lies in ``[0, 1]`` when distances do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MODES = ("sdtw", "dtw")


@dataclass
class Alignment:
    cost: float
    normalized_cost: float
    path: list[tuple[int, int]] = field(default_factory=list)
    """(reference index, generated index) cells in path order."""
    step_distances: list[float] = field(default_factory=list)
    """``dist`` at each path cell, in path order."""

    @property
    def length(self) -> int:
        return len(self.path)


def _check_rules(mode: str, jump: int) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown alignment mode {mode!r}; use one of {MODES}")
    if int(jump) != jump or jump < 1:
        raise ValueError(f"jump must be an integer >= 1, got {jump!r}")


def _check_shape(dist: np.ndarray) -> np.ndarray:
    d = np.asarray(dist, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] == 0 or d.shape[1] == 0:
        raise ValueError(f"distance matrix must be 2-D and non-empty, got shape {d.shape}")
    return d


def _check(dist: np.ndarray, mode: str, jump: int) -> np.ndarray:
    _check_rules(mode, jump)
    d = _check_shape(dist)
    if np.isnan(d).any():
        raise ValueError("distance matrix contains NaN")
    return d


def align(dist: np.ndarray, mode: str = "sdtw", jump: int = 2) -> Alignment:
    """Optimal alignment of the reference (rows) to the generated steps (columns)."""
    d = _check(dist, mode, jump)
    return align_batch([d], mode=mode, jump=jump)[0]


def align_batch(dists: list[np.ndarray], mode: str = "sdtw", jump: int = 2) -> list[Alignment]:
    """:func:`align` for several matrices in one vectorised sweep (grouped by row count).

    Matrices are padded on the right with ``+inf`` columns; a monotone path never visits a
    column right of its end, so the padding never changes a result.
    """
    if not dists:
        return []
    # _check of every matrix, with the rules checked once and NaN looked for in one pass over all cells
    _check_rules(mode, jump)
    ds = [_check_shape(x) for x in dists]
    if np.isnan(np.concatenate([x.ravel() for x in ds])).any():
        raise ValueError("distance matrix contains NaN")
    return _align_checked(ds, mode, int(jump))


def _align_checked(ds: list[np.ndarray], mode: str, jump: int) -> list[Alignment]:
    """:func:`align_batch` of matrices already through ``_check``."""
    n = ds[0].shape[0]
    if any(x.shape[0] != n for x in ds):
        # Different reference lengths: group by row count.
        out: list[Alignment | None] = [None] * len(ds)
        by_n: dict[int, list[int]] = {}
        for i, x in enumerate(ds):
            by_n.setdefault(x.shape[0], []).append(i)
        for idx in by_n.values():
            for i, a in zip(idx, _align_checked([ds[i] for i in idx], mode, jump)):
                out[i] = a
        return out  # type: ignore[return-value]
    b = len(ds)
    ms = [x.shape[1] for x in ds]
    m = max(ms)
    # Skewed layout: cell (r, c) lives at diagonal s = r + c, stored at index s + o, column r, so
    # the predecessors of a whole anti-diagonal are plain slices of earlier diagonals.
    o = jump + 1
    nd = n + m - 1 + o
    inf = np.inf
    dsk = np.full((nd, b, n), inf)
    # every cell of every matrix in one scatter (a slice assignment a row of each matrix took ~10 % of a
    # 24,000-sample batch): cell (r, c) of matrix i goes to (r + c + o, i, r)
    widths = np.array(ms, dtype=np.int64)
    cells = n * widths
    item = np.repeat(np.arange(b), cells)
    local = np.arange(int(cells.sum())) - np.repeat(np.cumsum(cells) - cells, cells)
    width = widths[item]
    row = local // width
    local -= row * width  # the column
    local += row + o  # the diagonal's index
    dsk[local, item, row] = np.concatenate([x.ravel() for x in ds])
    del item, local, width, row
    cost = np.full((nd, b, n), inf)
    # a path's length is at most n + m - 1 cells: int16 where that fits (the length array is as large as the cost
    # array; at int64 it was a third of the sweep's memory)
    steps = np.int16 if nd < np.iinfo(np.int16).max else np.int32
    length = np.zeros((nd, b, n), dtype=steps)
    # move: 0..J-1 = from (r-1, c-1-move), J = vertical, J+1 = horizontal, -1 = path start
    move = np.full((nd, b, n), -1, dtype=np.int8)

    # Row 0.
    if mode == "sdtw":
        cost[o : o + m, :, 0] = dsk[o : o + m, :, 0]
        length[o : o + m, :, 0] = 1
    else:
        acc = np.zeros(b)
        for c in range(m):
            acc = dsk[o + c, :, 0] + acc
            cost[o + c, :, 0] = acc
            length[o + c, :, 0] = c + 1
            if c:
                move[o + c, :, 0] = jump + 1

    if n > 1:
        big = np.iinfo(steps).max
        cand_c = np.empty((jump + 2, b, n - 1))
        cand_l = np.empty((jump + 2, b, n - 1), dtype=steps)
        for s in range(1, n + m - 1):
            t = s + o
            # (r-1, c-k) lies on diagonal t-1-k: k = 1..J -> t-2 down to t-1-J (t-2-J >= 0).
            stop = t - 2 - jump
            cand_c[:jump] = cost[t - 2 : stop if stop >= 0 else None : -1, :, : n - 1]
            cand_l[:jump] = length[t - 2 : stop if stop >= 0 else None : -1, :, : n - 1]
            cand_c[jump] = cost[t - 1, :, : n - 1]
            cand_l[jump] = length[t - 1, :, : n - 1]
            cand_c[jump + 1] = cost[t - 1, :, 1:]
            cand_l[jump + 1] = length[t - 1, :, 1:]
            best = cand_c.min(axis=0)
            tied = cand_c == best
            lmin = np.where(tied, cand_l, big).min(axis=0)
            pick = np.argmax(tied & (cand_l == lmin), axis=0)  # first in move order
            np.add(dsk[t, :, 1:], best, out=cost[t, :, 1:])
            np.add(lmin, 1, out=length[t, :, 1:])
            move[t, :, 1:] = pick

    # Free end (sdtw): the lowest (cost, length), then the earliest column; padding columns are +inf.
    items = np.arange(b)
    cols = np.arange(m)
    last_c = cost[cols + (n - 1) + o][:, :, n - 1].T  # (b, m)
    last_l = length[cols + (n - 1) + o][:, :, n - 1].T
    if mode == "sdtw":
        tied = last_c == last_c.min(axis=1, keepdims=True)
        lmin = np.where(tied, last_l, np.iinfo(steps).max).min(axis=1, keepdims=True)
        ends = np.argmax(tied & (last_l == lmin), axis=1)
    else:
        ends = np.asarray(ms) - 1
    totals = last_c[items, ends]
    # Backtrack every item at once; rows[k], cols_[k] hold the k-th cell from the end.
    r = np.full(b, n - 1, dtype=np.int64)
    c = ends.astype(np.int64)
    rows, cols_ = [r], [c]
    live = np.ones(b, dtype=bool)
    while True:
        mv = move[r + c + o, items, r].astype(np.int64)
        live = live & (mv >= 0)
        if not live.any():
            break
        diag = live & (mv < jump)
        vert = live & (mv == jump)
        horiz = live & (mv == jump + 1)
        r = np.where(diag | vert, r - 1, r)
        c = np.where(diag, c - (mv + 1), np.where(horiz, c - 1, c))
        rows.append(r)
        cols_.append(c)
    rr = np.stack(rows)  # (K, b)
    cc = np.stack(cols_)
    # The distance of every cell visited, all items at once: dsk holds dist[i][r, c] at (r + c + o, i, r). Past
    # an item's path start its (r, c) stays on that cell, a valid index whose values are cut off below.
    dist_on = dsk[rr + cc + o, items[None, :], rr].T.tolist()
    rows_of, cols_of = rr.T.tolist(), cc.T.tolist()
    results = []
    for k, total, pr, pc, dd in zip(last_l[items, ends].tolist(), totals.tolist(), rows_of, cols_of, dist_on):
        results.append(
            Alignment(
                cost=total,
                normalized_cost=min(max(total / k, 0.0), 1.0),
                path=list(zip(pr[k - 1 :: -1], pc[k - 1 :: -1])),
                step_distances=dd[k - 1 :: -1],
            )
        )
    return results


def align_reference(dist: np.ndarray, mode: str = "sdtw", jump: int = 2) -> Alignment:
    """Textbook O(N·M·J) pure-Python dynamic programme with the same rules as :func:`align`.

    Kept as the executable specification (tests and the benchmark compare against it).
    """
    d = _check(dist, mode, jump)
    n, m = d.shape
    dl = d.tolist()
    inf = float("inf")
    cost = [[inf] * m for _ in range(n)]
    length = [[0] * m for _ in range(n)]
    back: list[list[tuple[int, int] | None]] = [[None] * m for _ in range(n)]
    for j in range(m):
        if mode == "sdtw" or j == 0:
            cost[0][j], length[0][j] = dl[0][j], 1
        else:
            cost[0][j] = dl[0][j] + cost[0][j - 1]
            length[0][j] = length[0][j - 1] + 1
            back[0][j] = (0, j - 1)
    for i in range(1, n):
        for j in range(m):
            best = None
            for order, (pi, pj) in enumerate(
                [(i - 1, j - k) for k in range(1, jump + 1)] + [(i - 1, j), (i, j - 1)]
            ):
                if pj < 0:
                    continue
                key = (cost[pi][pj], length[pi][pj], order)
                if best is None or key < best[0]:
                    best = (key, (pi, pj))
            assert best is not None
            (c, ln, _), prev = best
            cost[i][j] = dl[i][j] + c
            length[i][j] = ln + 1
            back[i][j] = prev
    if mode == "sdtw":
        end = min(range(m), key=lambda j: (cost[n - 1][j], length[n - 1][j], j))
    else:
        end = m - 1
    path = [(n - 1, end)]
    while back[path[-1][0]][path[-1][1]] is not None:
        path.append(back[path[-1][0]][path[-1][1]])  # type: ignore[arg-type]
    path.reverse()
    total = cost[n - 1][end]
    return Alignment(
        cost=total,
        normalized_cost=min(max(total / len(path), 0.0), 1.0),
        path=path,
        step_distances=[dl[a][b] for a, b in path],
    )
