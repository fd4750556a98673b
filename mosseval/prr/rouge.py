"""ROUGE step distance, numerically identical to the ``rouge-score`` package (SPEC §3).

``d(r, g) = 1 - mean(F1 ROUGE-1, F1 ROUGE-2, F1 ROUGE-L)`` where the F-measures are those of
``rouge_score.rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
.score(target=r, prediction=g)``.

Tokenization replicates ``rouge_score.tokenize.tokenize`` exactly: ``str.lower()``, every run of
characters outside ``[a-z0-9]`` becomes a space, split on whitespace, the Porter stemmer in nltk's
default NLTK_EXTENSIONS variant (:mod:`mosseval.prr.porter`, our own dependency-free
implementation, identical to nltk's) applied only to tokens longer than 3 characters, then tokens
that are not ``^[a-z0-9]+$`` are dropped.

Speed comes from four things, none of which changes a single value:

* each word's token (its stem) is cached per word (stemming dominates ``rouge-score``), and each
  distinct string is tokenized and encoded into integer ids once (the encoding is kept);
* many samples are scored at once (:func:`rouge_distance_blocks`): every (reference, generated)
  pair of every sample goes through one vectorised computation, each distinct pair once;
* clipped n-gram overlaps ``sum_g min(c_r(g), c_p(g))`` are counts of equal occurrence-tagged
  n-grams (the k-th occurrence of g is tagged (g, k)), compared for all pairs at once;
* LCS lengths for all pairs at once with the bit-parallel algorithm of Hyyrö (2004),
  ``V' = (V + (V & M)) | (V & ~M)``, vectorised over pairs in ``uint64`` words with carries.

All counts are exact integers and the F-measures are computed with the same float64 expressions
for every path, so a value never depends on how samples were batched.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Sequence
from typing import Any

import numpy as np

from mosseval.prr.porter import stem as porter_stem

_NON_ALPHANUM_RE = re.compile(r"[^a-z0-9]+")
_VALID_TOKEN_RE = re.compile(r"^[a-z0-9]+$")

_token_cache: dict[str, str | None] = {}
"""word (a run of ``[a-z0-9]`` after lower-casing) -> its token (stemmed when longer than 3 characters),
or None when the token is dropped; one lookup a word."""
_TOKEN_CACHE_MAX = 500_000


def _token(word: str) -> str | None:
    stem = porter_stem(word) if len(word) > 3 else word
    t = stem if _VALID_TOKEN_RE.match(stem) else None
    if len(_token_cache) >= _TOKEN_CACHE_MAX:
        _token_cache.clear()
    _token_cache[word] = t
    return t


_MISSING: Any = object()


def token_count(text: str) -> int:
    """How many tokens :func:`tokenize` gives ``text``, from its encoding (kept: splitting a completion into steps
    counts each sentence's tokens, and the PRR batch then reads the same step's encoding from the cache; a tuple of
    its tokens kept until then took ~140 bytes a step where its encoding takes ~80, and held the peak RSS of a
    240-sample ``score`` ~0.05 MiB higher)."""
    if len(_encoded) >= _ENCODED_MAX:  # (texts split and never scored: the cache stays bounded)
        _encoded.clear()
    return len(_encode(text)) // _ID_BYTES


def tokenize(text: str) -> tuple[str, ...]:
    """Tokens of ``text`` exactly as ``rouge_score`` produces them with ``use_stemmer=True`` (not kept: a string's
    encoding is, :func:`_encode`)."""
    cache = _token_cache
    out: list[str] = []
    for w in _NON_ALPHANUM_RE.sub(" ", text.lower()).split():
        t = cache.get(w, _MISSING)
        if t is _MISSING:
            t = _token(w)
        if t is not None:
            out.append(t)
    return tuple(out)


# --------------------------------------------------------------------------- encoding
#
# Every distinct step string is encoded once into word ids. For a batch, each token is then tagged
# with its occurrence number among equal n-grams of its string: tagging the k-th occurrence of an
# n-gram as (n-gram, k) turns the clipped overlap ``sum_g min(c_r(g), c_p(g))`` of two multisets into
# the size of the intersection of two sets, i.e. the number of equal (i, j) position pairs.

_OCC = 1 << 20
"""Occurrences are counted up to this: a step repeating one n-gram a million times is cut there."""

_word_ids: dict[str, int] = {}
_encoded: dict[str, bytes] = {}
"""A string's word ids as the bytes of ``int32`` values (4 bytes a token; a list of ints took ~36, and the batch
reads them back with one ``np.frombuffer`` of their concatenation)."""
_ENCODED_MAX = 200_000
_ID_BYTES = array("i").itemsize


def _encode(text: str) -> bytes:
    enc = _encoded.get(text)
    if enc is None:
        ids = _word_ids
        enc = _encoded[text] = array("i", [ids.setdefault(w, len(ids)) for w in tokenize(text)]).tobytes()
    return enc


def _occurrence_ranks(ids: np.ndarray, owner: np.ndarray, n_ids: int) -> np.ndarray:
    """:func:`_ranks` of each token's tag ``(id, k)``, where k counts earlier equal ids of the same owner (string)
    and is cut at ``_OCC - 1``.

    One stable sort of each token's (owner, id) number: equal numbers (a word's occurrences in one string) end up
    together in text order, and a token's k is its distance from the first of them. Numbers and counts are
    ``int32`` where they fit (two token-sized ``int64`` arrays at once at most: the sort's order and the tag)."""
    n = len(ids)
    if n == 0:
        return _ranks(np.zeros(0, dtype=np.int64))
    key = owner.astype(_index_type(int(owner[-1]) * n_ids + n_ids))
    key *= n_ids
    key += ids
    order = np.argsort(key, kind="stable")  # stable: positions stay in text order within a key
    key = key[order]
    start = np.empty(n, dtype=bool)
    start[0] = True
    np.not_equal(key[1:], key[:-1], out=start[1:])
    del key
    at = np.arange(n, dtype=_index_type(n))
    run_start = np.where(start, at, 0)
    del start
    np.maximum.accumulate(run_start, out=run_start)
    at -= run_start  # each sorted token's count of earlier equal ones
    del run_start
    occ = np.empty_like(at)
    occ[order] = at
    del order, at
    np.minimum(occ, _OCC - 1, out=occ)
    width = int(occ.max()) + 1
    tag = ids.astype(_index_type(n_ids * width))
    tag *= width
    tag += occ  # (id, k) -> id * width + k: equal pairs equal, others differ
    del occ
    return _ranks(tag)


def clear_caches() -> None:
    """Forget cached tokenizations, stems, encodings and split lines (used by the benchmarks for cold timings)."""
    from mosseval.prr import steps

    steps._line_steps.clear()
    _token_cache.clear()
    _encoded.clear()
    _word_ids.clear()


# --------------------------------------------------------------------------- pairwise scores


def _fmeasure(p: np.ndarray, r: np.ndarray) -> np.ndarray:
    s = p + r
    with np.errstate(invalid="ignore", divide="ignore"):
        f = 2 * p * r / s
    return np.where(s > 0, f, 0.0)


_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_ONE = np.uint64(1)
_BUCKET = 8
"""Pairs are grouped by (ref length, gen length) rounded up to this, then padded within a group."""
_CHUNK_CELLS = 1 << 20
"""At most this many (pair, ref position, gen position) cells a chunk (a quarter of the 4 M it was, and a few per
cent faster: what a chunk works on stays in the cache). Since round 19 no chunk holds a value a cell: the LCS
compares one gen position at a time and the overlaps sort a row of ref and gen tags (``_lcs``, ``_common``)."""
_CHUNK_PAIRS = 512
"""And at most this many pairs a chunk: bounded by its cells alone, short steps made chunks of ~16,000 pairs, whose
gathered token arrays (a value a pair and position) took a megabyte each beside the cells' booleans (a 2,400-sample
batch peaked 4 MiB higher)."""
_CHUNK_SHARE = 16
"""And at most a 16th of the batch's pairs, but never fewer than ``_CHUNK_MIN_PAIRS``: the chunk loop of a batch of
a few thousand pairs works on a small share of it. A 240-sample ``score`` (~3,200 pairs) compares 256 pairs at a time:
512 held its peak RSS ~0.06 MiB higher (and ~0.13 MiB more while a chunk's gathered tokens were kept to the next
chunk). From 8,192 pairs (a 2,400-sample batch has ~21,000) the chunks are 512 pairs as before."""
_CHUNK_MIN_PAIRS = 256
"""(64 made a GRPO group's batch of 768 pairs 12 % slower, for no memory a 240-sample ``score`` could measure.)"""


def _chunk_pairs(n_pairs: int, cells_a_pair: int) -> int:
    """Pairs a chunk of a batch of ``n_pairs`` pairs compares at once, each over ``cells_a_pair`` cells."""
    return max(1, min(_CHUNK_CELLS // cells_a_pair, _CHUNK_PAIRS, max(_CHUNK_MIN_PAIRS, n_pairs // _CHUNK_SHARE)))


def _popcount(x: np.ndarray) -> np.ndarray:
    counts: np.ndarray
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        counts = np.bitwise_count(x).astype(np.int64)
    else:
        b = np.unpackbits(np.ascontiguousarray(x).view(np.uint8).reshape(*x.shape, 8), axis=-1)
        counts = b.sum(axis=-1, dtype=np.int64)
    return counts


def _gather(flat: np.ndarray, off: np.ndarray, lens: np.ndarray, width: int, pad: int) -> np.ndarray:
    """Rows ``flat[off[i] : off[i] + lens[i]]`` padded with ``pad`` to ``width`` columns (of ``flat``'s type; the
    indices of ``off``'s)."""
    pos = np.arange(width, dtype=off.dtype)
    idx = off[:, None] + pos
    valid = pos < lens[:, None]
    return np.where(valid, flat[np.where(valid, idx, 0)], pad)


def _lcs(gw: np.ndarray, rw: np.ndarray, rlen: np.ndarray) -> np.ndarray:
    """LCS lengths of each pair's gen tokens ``gw[p]`` and ref tokens ``rw[p]`` (padded with values that match
    nothing) by Hyyrö's bit-parallel recurrence (2004): ``V' = (V + (V & M)) | (V & ~M)`` with ``M`` the ref
    positions matching gen token j, packed into bits one gen token at a time (a chunk's pairs hold
    ``(pairs, ref length)`` booleans at once, not ``(pairs, gen length, ref length)``)."""
    c, lg = gw.shape
    lr = rw.shape[1]
    words = (lr + 63) // 64
    full = np.zeros((c, words * 8), dtype=np.uint8)
    masks = full.view("<u8").T  # (words, c): bit b of word w = ref position 64 w + b
    v = np.full((words, c), _ALL, dtype=np.uint64)
    eq = np.empty((c, lr), dtype=bool)
    for j in range(lg):
        np.equal(rw, gw[:, j, None], out=eq)
        if not eq.any():
            continue
        full[:, : (lr + 7) // 8] = np.packbits(eq, axis=-1, bitorder="little")
        u = v & masks
        if words == 1:
            v = (v + u) | (v - u)
        else:
            carry = np.zeros(c, dtype=np.uint64)
            new = np.empty_like(v)
            for w in range(words):
                a, b = v[w], u[w]
                s = a + b
                c1 = s < a
                s2 = s + carry
                c2 = s2 < s
                new[w] = s2 | (a - b)
                carry = (c1 | c2).astype(np.uint64)
            v = new
    out = np.zeros(c, dtype=np.int64)
    for w in range(words):  # LCS = zero bits among the first len(ref) bits of V
        bits = np.clip(rlen - 64 * w, 0, 64).astype(np.uint64)
        mask = np.where(bits >= 64, _ALL, (_ONE << np.minimum(bits, 63)) - _ONE)
        out += _popcount(~v[w] & mask)
    return out


def _common(r: np.ndarray, g: np.ndarray) -> np.ndarray:
    """For each pair p, how many values ``r[p]`` and ``g[p]`` share: each row holds distinct tags (an
    occurrence-ranked token or bigram) padded with negative numbers, so that is the number of equal cells of
    ``r[p] x g[p]``, counted from one sorted row of both (``(pairs, r + g)`` values, not ``(pairs, r, g)``)."""
    both = np.concatenate([r, g], axis=1)
    both.sort(axis=1)
    hits = both[:, 1:] == both[:, :-1]
    hits &= both[:, 1:] >= 0  # (a row's pads equal each other)
    counts: np.ndarray = hits.sum(axis=1)
    return counts


def _pair_keys(ids: np.ndarray, at: np.ndarray, n_ids: int) -> np.ndarray:
    """``ids[at] * n_ids + ids[at + 1]`` in ``int64``: each bigram's number."""
    keys: np.ndarray = ids[at].astype(np.int64)
    keys *= n_ids
    keys += ids[at + 1]
    return keys


def _pair_distances(ref_idx: np.ndarray, gen_idx: np.ndarray, strings: list[str], forget: bool = False) -> np.ndarray:
    """``1 - mean(F1 R1, F1 R2, F1 RL)`` for each (strings[ref_idx[p]], strings[gen_idx[p]]); ``forget``: the
    strings' encodings leave the cache once read, and ``strings`` (the caller's list) is emptied
    (:func:`rouge_distance_blocks`)."""
    encs = [_encode(s) for s in strings]
    lens = np.fromiter(map(len, encs), dtype=np.int64, count=len(encs)) // _ID_BYTES
    total = int(lens.sum())
    off = np.zeros(len(encs), dtype=np.int64)
    np.cumsum(lens[:-1], out=off[1:])
    flat_w = np.frombuffer(b"".join(encs), dtype=np.intc)
    del encs
    if forget:  # the strings are not needed past their encodings: the caller handed them over
        pop = _encoded.pop
        for text in strings:
            pop(text, None)
        if not _encoded:
            _encoded.clear()  # (an emptied dict keeps its table: ~25 KiB at 240 samples, until cleared)
        strings.clear()
    n_words = int(flat_w.max(initial=-1)) + 1
    owner = np.repeat(np.arange(len(lens), dtype=_index_type(len(lens))), lens)
    # what the pairs' chunks gather and compare: each kind of token as its rank among the distinct ones (equal
    # tokens stay equal, others differ), int16 or int32 where the count fits (a quarter or half the memory of a chunk)
    flat_u = _occurrence_ranks(flat_w, owner, n_words)
    # bigrams: token t and t+1 of the same string
    nxt = np.flatnonzero(owner[1:] == owner[:-1])
    bid = _unique_inverse(_pair_keys(flat_w, nxt, n_words))[1]
    owner = owner[nxt]
    del nxt
    flat_b = _occurrence_ranks(bid, owner, int(bid.max(initial=-1)) + 1)
    del owner, bid  # (token-sized arrays: let go before the pairs' work)
    blens = np.maximum(lens - 1, 0)
    boff = np.zeros(len(lens), dtype=np.int64)
    np.cumsum(blens[:-1], out=boff[1:])
    flat_w = _ranks(flat_w)  # (and the offsets, int32 where they fit)
    off, boff = _narrow(off, total), _narrow(boff, total)
    lens, blens = _narrow(lens, total), _narrow(blens, total)

    n = len(ref_idx)
    # each count is at most a string's token count: int16 where the longest string fits (half the memory of the
    # pairs' count arrays in int32)
    counts = np.int16 if int(lens.max(initial=0)) < 2**15 else _index_type(total)
    ov1 = np.zeros(n, dtype=counts)
    ov2 = np.zeros(n, dtype=counts)
    lcs = np.zeros(n, dtype=counts)
    rl, gl = lens[ref_idx], lens[gen_idx]
    live = np.nonzero((rl > 0) & (gl > 0))[0]
    if live.size:
        br = (rl[live] + _BUCKET - 1) // _BUCKET
        bg = (gl[live] + _BUCKET - 1) // _BUCKET
        order = np.lexsort((bg, br))
        live = live[order]
        key = br[order] * (int(bg.max()) + 1) + bg[order]
        cuts = np.nonzero(np.diff(key))[0] + 1
        del br, bg, order, key
        for grp in np.split(live, cuts):
            wr = int(rl[grp].max())
            wg = int(gl[grp].max())
            step = _chunk_pairs(n, wr * wg)
            for a in range(0, grp.size, step):
                p = grp[a : a + step]
                r, g = ref_idx[p], gen_idx[p]
                rw = _gather(flat_w, off[r], lens[r], wr, -1)
                gw = _gather(flat_w, off[g], lens[g], wg, -2)
                lcs[p] = _lcs(gw, rw, lens[r])
                del rw, gw
                ov1[p] = _common(_gather(flat_u, off[r], lens[r], wr, -1), _gather(flat_u, off[g], lens[g], wg, -2))
                if wr > 1 and wg > 1:
                    ov2[p] = _common(_gather(flat_b, boff[r], blens[r], wr - 1, -1),
                                     _gather(flat_b, boff[g], blens[g], wg - 1, -2))

    del live
    # the F-measures elementwise, a slice of pairs at a time (the same values: a few float arrays of the slice
    # at once instead of a dozen of every pair)
    d = np.empty(n)
    for a in range(0, n, _PAIR_SLICE):
        s = slice(a, a + _PAIR_SLICE)
        d[s] = _distances(rl[s], gl[s], ov1[s], ov2[s], lcs[s])
    return d


def _ranks(tags: np.ndarray) -> np.ndarray:
    """Each value of ``tags`` as its rank among the distinct values (``int16`` where fewer than 32,767 are distinct,
    else ``int32`` where the count fits: the pairs' chunks gather and compare ranks only), then ``-3`` (keeps
    indexing valid when every string is empty; below the pads)."""
    uniq, ranks = _unique_inverse(tags)
    ranks = ranks.astype(np.int16) if len(uniq) < 2**15 - 1 else _narrow(ranks, len(tags))
    return np.concatenate([ranks, np.array([-3], dtype=ranks.dtype)])


def _index_type(bound: int) -> type[np.signedinteger]:
    """The integer type of values in ``[0, bound]``: ``int32`` where ``bound`` fits, else ``int64``."""
    return np.int32 if bound < 2**31 - 1 else np.int64


def _narrow(a: np.ndarray, bound: int) -> np.ndarray:
    """``a`` (integer values in ``[0, bound]``) in :func:`_index_type` of ``bound`` (``a`` itself where it already
    is: ``_unique_inverse`` gives ``int32`` places)."""
    return a.astype(np.int32, copy=False) if _index_type(bound) is np.int32 else a


_PAIR_SLICE = 1 << 10
"""Pairs whose ROUGE F-measures :func:`_pair_distances` combines at a time (a dozen float arrays of the slice, 8 KiB
each: at 8,192 pairs they were ~0.4 MiB at once, a third of a 240-sample ``score``'s peak growth, for no time
measured at 24,000 samples)."""


def _distances(rl: np.ndarray, gl: np.ndarray, ov1: np.ndarray, ov2: np.ndarray, lcs: np.ndarray) -> np.ndarray:
    """``1 - mean(F1 R1, F1 R2, F1 RL)`` of pairs from their token counts, unigram and bigram overlaps and LCS."""
    rlen, glen = rl.astype(np.float64), gl.astype(np.float64)
    f = []
    for k, inter in ((1, ov1), (2, ov2)):
        inter = inter.astype(np.float64)
        tcount = np.maximum(rlen - (k - 1), 0)
        pcount = np.maximum(glen - (k - 1), 0)
        p_ = inter / np.maximum(pcount, 1)
        r_ = inter / np.maximum(tcount, 1)
        f.append(_fmeasure(p_, r_))
    lcsf = lcs.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_ = lcsf / glen
        r_ = lcsf / rlen
    fl = np.where((rlen > 0) & (glen > 0), _fmeasure(np.nan_to_num(p_), np.nan_to_num(r_)), 0.0)
    d = 1.0 - (f[0] + f[1] + fl) / 3.0
    clipped: np.ndarray = np.clip(d, 0.0, 1.0)
    return clipped


def _cell_keys(r_flat: list[int], g_flat: list[int], ns: np.ndarray, ms: np.ndarray, total: int,
               n_strings: int) -> np.ndarray:
    """Every cell's ``ref string id * n_strings + gen string id``, block by block, row by row (ref i of a block: its
    block's gens in order). Three arrays of one value a cell at most at once (a 24,000-sample batch has ~400,000
    cells, 3 MiB an array)."""
    rows = np.repeat(ms, ns)  # the gens of each ref row
    row_start = np.zeros(len(rows), dtype=np.int64)  # its first cell
    np.cumsum(rows[:-1], out=row_start[1:])
    g_off = np.concatenate([[0], np.cumsum(ms)[:-1]])
    at = np.repeat(np.repeat(g_off, ns) - row_start, rows)  # a cell's gen's place in g_flat, less the cell's own
    del row_start
    at += np.arange(total)
    keys = np.repeat(np.asarray(r_flat, dtype=np.int64) * n_strings, rows)
    keys += np.asarray(g_flat, dtype=np.int64)[at]
    return keys


def _unique_inverse(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)`` (the sorted distinct keys, and each key's place among them) in about
    half its memory: ``keys`` is let go once sorted (where the caller hands its only reference over, as
    ``_unique_inverse(_cell_keys(...))`` does), and the places are ``int32`` where they fit."""
    order = np.argsort(keys)
    keys = keys[order]  # (the caller's array is let go here)
    first = np.empty(len(keys), dtype=bool)
    first[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    uniq = keys[first]
    del keys
    place = np.cumsum(first, dtype=_index_type(len(uniq)))
    del first
    place -= 1
    inverse = np.empty_like(place)
    inverse[order] = place
    return uniq, inverse


def rouge_distance_blocks(blocks: Sequence[tuple[Sequence[str], Sequence[str]]], *,
                          forget: bool = False) -> list[np.ndarray]:
    """For each ``(refs, gens)`` block, the ``(len(refs), len(gens))`` float64 matrix
    ``1 - mean(F1 ROUGE-1, F1 ROUGE-2, F1 ROUGE-L)`` of every ``(refs[i], gens[j])``.

    This is how many samples are scored at once: all pairs of all blocks go through one
    vectorised computation; each distinct string is tokenized once and each distinct
    (ref, gen) pair computed once. ``ref`` plays rouge-score's *target*, ``gen`` its
    *prediction* (F1 is symmetric anyway).

    ``forget``: ``blocks`` is a list the caller hands over with its only references to the reference strings: it is
    emptied once read, and the strings and their cached encodings are let go once the batch has read the encodings,
    before the pairs are compared (a batch whose strings are not scored again: ``score_batch(consume=True)``).
    """
    if len(_encoded) > _ENCODED_MAX:
        clear_caches()
    ids: dict[str, int] = {}
    r_flat: list[int] = []
    g_flat: list[int] = []
    shapes: list[tuple[int, int]] = []
    for refs, gens in blocks:
        r_flat += [ids.setdefault(s, len(ids)) for s in refs]
        g_flat += [ids.setdefault(s, len(ids)) for s in gens]
        shapes.append((len(refs), len(gens)))
    if forget:
        blocks.clear()  # type: ignore[attr-defined]
        refs = gens = ()  # (the loop's last block, too)
    if not shapes:
        return []
    ns = np.array([s[0] for s in shapes], dtype=np.int64)
    ms = np.array([s[1] for s in shapes], dtype=np.int64)
    sizes = ns * ms
    total = int(sizes.sum())
    out_off = np.zeros(len(shapes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=out_off[1:])
    if total == 0:
        return [np.zeros(s) for s in shapes]
    uniq, inverse = _unique_inverse(_cell_keys(r_flat, g_flat, ns, ms, total, len(ids)))
    del r_flat, g_flat
    strings = list(ids)
    n = len(strings)
    # each distinct pair's ref and gen string (intp: they index in every chunk, and numpy converts a narrower
    # index array at each use: 2 % slower for a GRPO group); the pairs' keys and the strings' ids let go before the
    # distances are computed
    ref_idx, gen_idx = uniq // n, uniq % n
    del uniq, ids
    dist = _pair_distances(ref_idx, gen_idx, strings, forget)[inverse]
    return [dist[out_off[k] : out_off[k + 1]].reshape(shapes[k]) for k in range(len(shapes))]


def rouge_distance_matrix(ref_steps: Sequence[str], gen_steps: Sequence[str]) -> np.ndarray:
    """``(N, M)`` float64 matrix ``1 - mean(F1 R1, F1 R2, F1 RL)`` of ``(ref[i], gen[j])``;
    equal to ``RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True).score(target=ref[i],
    prediction=gen[j])`` to 1e-9."""
    return rouge_distance_blocks([(ref_steps, gen_steps)])[0]


def rouge_distance(ref: str, gen: str) -> float:
    """Distance of one pair (convenience wrapper of :func:`rouge_distance_matrix`)."""
    return float(rouge_distance_matrix([ref], [gen])[0, 0])
