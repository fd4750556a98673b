"""ROUGE step distance, numerically identical to the ``rouge-score`` package (SPEC §3).

``d(r, g) = 1 - mean(F1 ROUGE-1, F1 ROUGE-2, F1 ROUGE-L)`` where the F-measures are those of
``rouge_score.rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
.score(target=r, prediction=g)``.

Tokenization replicates ``rouge_score.tokenize.tokenize`` exactly: ``str.lower()``, every run of
characters outside ``[a-z0-9]`` becomes a space, split on whitespace, the Porter stemmer in nltk's
default NLTK_EXTENSIONS variant (:mod:`mosseval.prr.porter`, our own dependency-free
implementation, identical to nltk's) applied only to tokens longer than 3 characters, then tokens
that are not ``^[a-z0-9]+$`` are dropped.

Speed comes from three things, none of which changes a single value:

* tokenization is cached per string and stemming per word (stemming dominates ``rouge-score``);
* n-gram overlaps ``sum_g min(c_r(g), c_p(g))`` for all pairs at once as binary matrix products,
  ``sum_k [C_r >= k] @ [C_p >= k]^T`` (exact integers in float64);
* LCS lengths for all pairs at once with the bit-parallel algorithm of Hyyrö (2004),
  ``V' = (V + (V & M)) | (V & ~M)``, vectorised over pairs in ``uint64`` words with carries.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from mosseval.prr.porter import stem as porter_stem

_NON_ALPHANUM_RE = re.compile(r"[^a-z0-9]+")
_VALID_TOKEN_RE = re.compile(r"^[a-z0-9]+$")

_stem_cache: dict[str, str] = {}
_STEM_CACHE_MAX = 500_000


def _stem(word: str) -> str:
    s = _stem_cache.get(word)
    if s is None:
        s = porter_stem(word)
        if len(_stem_cache) >= _STEM_CACHE_MAX:
            _stem_cache.clear()
        _stem_cache[word] = s
    return s


@lru_cache(maxsize=1 << 16)
def tokenize(text: str) -> tuple[str, ...]:
    """Tokens of ``text`` exactly as ``rouge_score`` produces them with ``use_stemmer=True``."""
    text = _NON_ALPHANUM_RE.sub(" ", text.lower())
    out = []
    for w in text.split():
        if len(w) > 3:
            w = _stem(w)
        if _VALID_TOKEN_RE.match(w):
            out.append(w)
    return tuple(out)


def clear_caches() -> None:
    """Forget cached tokenizations and stems (used by the benchmark for cold timings)."""
    tokenize.cache_clear()
    _stem_cache.clear()


# --------------------------------------------------------------------------- pairwise scores


def _fmeasure(p: np.ndarray, r: np.ndarray) -> np.ndarray:
    s = p + r
    with np.errstate(invalid="ignore", divide="ignore"):
        f = 2 * p * r / s
    return np.where(s > 0, f, 0.0)


def _overlap_matrix(ref_counts: list[Counter], gen_counts: list[Counter]) -> np.ndarray:
    """``out[i, j] = sum_g min(ref_counts[i][g], gen_counts[j][g])`` for all pairs."""
    n, m = len(ref_counts), len(gen_counts)
    gen_keys: set = set()
    for c in gen_counts:
        gen_keys.update(c)
    vocab: dict = {}
    for c in ref_counts:
        for g in c:
            if g in gen_keys and g not in vocab:
                vocab[g] = len(vocab)
    if not vocab:
        return np.zeros((n, m))
    v = len(vocab)
    a = np.zeros((n, v))
    b = np.zeros((m, v))
    for i, c in enumerate(ref_counts):
        for g, k in c.items():
            j = vocab.get(g)
            if j is not None:
                a[i, j] = k
    for i, c in enumerate(gen_counts):
        for g, k in c.items():
            j = vocab.get(g)
            if j is not None:
                b[i, j] = k
    kmax = int(min(a.max(), b.max()))
    out = np.zeros((n, m))
    for k in range(1, kmax + 1):
        out += (a >= k).astype(np.float64) @ (b >= k).astype(np.float64).T
    return out


_ONE = np.uint64(1)


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(x).astype(np.int64)
    b = np.unpackbits(np.ascontiguousarray(x).view(np.uint8).reshape(*x.shape, 8), axis=-1)
    return b.sum(axis=-1, dtype=np.int64)


def _lcs_matrix(ref_toks: list[tuple[str, ...]], gen_toks: list[tuple[str, ...]]) -> np.ndarray:
    """LCS length of every (ref, gen) token-sequence pair, bit-parallel over the ref side."""
    n, m = len(ref_toks), len(gen_toks)
    out = np.zeros((n, m), dtype=np.int64)
    max_r = max((len(t) for t in ref_toks), default=0)
    max_g = max((len(t) for t in gen_toks), default=0)
    if max_r == 0 or max_g == 0:
        return out
    # Only tokens present on both sides can match.
    gen_vocab: set[str] = set()
    for t in gen_toks:
        gen_vocab.update(t)
    vocab: dict[str, int] = {}
    for t in ref_toks:
        for w in t:
            if w in gen_vocab and w not in vocab:
                vocab[w] = len(vocab)
    if not vocab:
        return out
    v = len(vocab)
    words = (max_r + 63) // 64
    # pm[w, i, tok]: bit b set when ref i has token tok at position 64*w + b; column v = no match.
    pm = np.zeros((words, n, v + 1), dtype=np.uint64)
    for i, t in enumerate(ref_toks):
        for pos, w in enumerate(t):
            j = vocab.get(w)
            if j is not None:
                pm[pos >> 6, i, j] |= _ONE << np.uint64(pos & 63)
    # gen token ids, padded with the no-match column (padding leaves V unchanged).
    gids = np.full((m, max_g), v, dtype=np.intp)
    for i, t in enumerate(gen_toks):
        if t:
            gids[i, : len(t)] = [vocab.get(w, v) for w in t]
    # Drop trailing columns where no gen sequence has a matchable token.
    useful = np.nonzero((gids != v).any(axis=0))[0]
    if useful.size == 0:
        return out
    vv = np.full((words, n, m), np.iinfo(np.uint64).max, dtype=np.uint64)
    for col in range(int(useful[-1]) + 1):
        ids = gids[:, col]
        if (ids == v).all():
            continue
        mm = pm[:, :, ids]  # (words, n, m)
        u = vv & mm
        if words == 1:
            vv = (vv + u) | (vv - u)
        else:
            carry = np.zeros((n, m), dtype=np.uint64)
            new = np.empty_like(vv)
            for w in range(words):
                a, b = vv[w], u[w]
                s = a + b
                c1 = s < a
                s2 = s + carry
                c2 = s2 < s
                new[w] = s2 | (a - b)
                carry = (c1 | c2).astype(np.uint64)
            vv = new
    # LCS = number of zero bits among the first len(ref) bits of V.
    lens = np.array([len(t) for t in ref_toks], dtype=np.int64)
    for w in range(words):
        bits = np.clip(lens - 64 * w, 0, 64)
        mask = np.array(
            [(1 << int(b)) - 1 if b < 64 else (1 << 64) - 1 for b in bits], dtype=np.uint64
        )
        out += _popcount(~vv[w] & mask[:, None])
    return out


def _ngrams(tokens: tuple[str, ...], n: int) -> Counter:
    if n == 1:
        return Counter(tokens)
    return Counter(zip(*(tokens[i:] for i in range(n))))


def rouge_f_matrices(
    ref_steps: Sequence[str], gen_steps: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """F-measures of ROUGE-1, ROUGE-2 and ROUGE-L for every (reference, generated) pair.

    Each is an ``(N, M)`` float64 array equal to ``RougeScorer(...).score(target=ref[i],
    prediction=gen[j])[type].fmeasure``.
    """
    ref_u = list(dict.fromkeys(ref_steps))
    gen_u = list(dict.fromkeys(gen_steps))
    gmap = {s: i for i, s in enumerate(gen_u)}
    gi = np.array([gmap[s] for s in gen_steps], dtype=np.intp)
    rmap = {s: i for i, s in enumerate(ref_u)}
    ri = np.array([rmap[s] for s in ref_steps], dtype=np.intp)

    rt = [tokenize(s) for s in ref_u]
    gt = [tokenize(s) for s in gen_u]
    rlen = np.array([len(t) for t in rt], dtype=np.float64)[:, None]
    glen = np.array([len(t) for t in gt], dtype=np.float64)[None, :]

    f = []
    for n in (1, 2):
        inter = _overlap_matrix([_ngrams(t, n) for t in rt], [_ngrams(t, n) for t in gt])
        tcount = np.maximum(rlen - (n - 1), 0)
        pcount = np.maximum(glen - (n - 1), 0)
        p = inter / np.maximum(pcount, 1)
        r = inter / np.maximum(tcount, 1)
        f.append(_fmeasure(p, r))
    lcs = _lcs_matrix(rt, gt).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = lcs / glen
        r = lcs / rlen
    fl = np.where((rlen > 0) & (glen > 0), _fmeasure(np.nan_to_num(p), np.nan_to_num(r)), 0.0)
    f.append(fl)
    return tuple(x[np.ix_(ri, gi)] for x in f)  # type: ignore[return-value]


def rouge_distance_matrix(ref_steps: Sequence[str], gen_steps: Sequence[str]) -> np.ndarray:
    """``(N, M)`` float64 matrix ``1 - mean(F1 R1, F1 R2, F1 RL)`` of ``(ref[i], gen[j])``.

    ``ref`` plays rouge-score's *target*, ``gen`` its *prediction* (F1 is symmetric anyway).
    """
    n, m = len(ref_steps), len(gen_steps)
    if n == 0 or m == 0:
        return np.zeros((n, m))
    f1, f2, fl = rouge_f_matrices(ref_steps, gen_steps)
    d = 1.0 - (f1 + f2 + fl) / 3.0
    return np.clip(d, 0.0, 1.0)


def rouge_distance(ref: str, gen: str) -> float:
    """Distance of one pair (convenience wrapper of :func:`rouge_distance_matrix`)."""
    return float(rouge_distance_matrix([ref], [gen])[0, 0])
