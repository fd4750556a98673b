"""Statistics used for every number mosseval prints: confidence intervals that respect clusters.

Items that share a video are not independent, and benchmarks have few videos per item group and
very uneven cluster sizes, so the intervals are built for small numbers of clusters:

* **variance**: the cluster-robust CR2 ("bias-reduced linearisation") variance of the item mean,
  ``V = sum_g s_g^2 / (1 - n_g/N) / N^2`` with ``s_g`` the sum of residuals of cluster ``g`` (for
  a mean this is the exact CR2 form; it is unbiased under independence, where CR1's ``G/(G-1)``
  factor is only right for equal cluster sizes);
* **degrees of freedom**: Bell and McCaffrey's small-sample df as recommended by Imbens and
  Kolesar (2016): ``df = (sum lambda)^2 / sum lambda^2`` over the eigenvalues of ``W' Omega W``,
  with an exchangeable working model ``Omega`` whose intra-cluster correlation is estimated by
  moments. Equal cluster sizes give ``G - 1``; uneven sizes give fewer. Computed in O(G);
* **interval**: ``mean +- t(df) * se``. For proportions the interval is built on the logit scale
  (``logit(p) +- t * se / (p (1 - p))``, mapped back), which keeps it inside [0, 1] and lets it
  extend further towards the middle when the accuracy is high, as the sampling distribution does;
  the variance is never taken below the binomial ``p (1 - p) / (N - 1)`` (design effect >= 1). An
  all-correct (or all-wrong) run gets a Wilson interval with the same ``t`` instead of a
  zero-width one.

Coverage of the 95 % interval is checked by simulation in ``tests/test_stats.py``: 10-240
clusters of very uneven sizes (lognormal, median 3, up to ~30 items), accuracies 0.5-0.95,
per-video accuracies Beta-distributed with intra-video correlation 0.1-0.25. It is >= 94 %
everywhere except at correlation 0.25 with accuracy 0.95 (93.7 % at 120 clusters), where a few
videos fail completely and the sampling distribution is strongly skewed. The previous interval
(CR1 design effect + normal Wilson) covered 89-91 % at 60 clusters and accuracy 0.9. Small cluster
counts are conservative (97-99 % at 10 clusters). Deterministic: no resampling.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from mosseval.records import Estimate

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

Z95 = 1.959963984540054
POWER = 1


def _z(alpha: float) -> float:
    if abs(alpha - 0.05) < 1e-12:
        return Z95
    from statistics import NormalDist

    return NormalDist().inv_cdf(1 - alpha / 2)


# --------------------------------------------------------------------------- Student t quantiles


_CF_STEPS = 399
"""The continued fraction's steps at most."""
_CF_BLOCK = 16
"""Its coefficients are made this many steps at a time (a step's are the same whenever they are made)."""


def _betacf(a: float, b: float, x: float, terms: list[tuple[float, float, float, float]] | None = None) -> float:
    """Continued fraction of the regularised incomplete beta function (modified Lentz).

    ``terms``: a cache of each step's x-free coefficient factors (``m (b - m)``, ``(a - 1 + 2m)(a + 2m)``,
    ``-(a + m)(a + b + m)``, ``(a + 2m)(a + 1 + 2m)``), filled on first use; :class:`_TDist` keeps one per ``(a, b)``
    across its Newton steps. With or without it, the same operations in the same order, so the same bits."""
    # (each value computed once and compared with +-tiny instead of abs(): the same operations in the same
    # order as the textbook form, so the same bits; a NaN still becomes tiny, as abs(NaN) > tiny is False)
    if terms is None:
        terms = []
    tiny, ntiny = 1e-300, -1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if d > tiny or d < ntiny else tiny)
    h = d
    done = 0  # steps taken: the cached coefficients first, then more are made a block at a time (at most 399)
    while True:
        for n1, d1, n2, d2 in terms[done:] if done else terms:
            # the step's odd term, then its even one, written out (a loop over the two, or a call, costs more than
            # the walk saves); convergence is judged on the even one
            aa = n1 * x / d1
            d = 1.0 + aa * d
            d = 1.0 / (d if d > tiny or d < ntiny else tiny)
            c = 1.0 + aa / c
            if not (c > tiny or c < ntiny):
                c = tiny
            h *= d * c
            aa = n2 * x / d2
            d = 1.0 + aa * d
            d = 1.0 / (d if d > tiny or d < ntiny else tiny)
            c = 1.0 + aa / c
            if not (c > tiny or c < ntiny):
                c = tiny
            delta = d * c
            h *= delta
            if -1e-15 < delta - 1.0 < 1e-15:
                return h
        done = len(terms)
        if done >= _CF_STEPS:
            return h
        for m in range(done + 1, min(done + _CF_BLOCK, _CF_STEPS) + 1):
            m2 = 2 * m
            terms.append((m * (b - m), (qam + m2) * (a + m2), -(a + m) * (qab + m), (a + m2) * (qap + m2)))


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta ``I_x(a, b)``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(lbt) * _betacf(a, b, x) / a
    return 1.0 - math.exp(lbt) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """CDF of Student's t with ``df > 0`` (real) degrees of freedom."""
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    if math.isinf(df):
        from statistics import NormalDist

        return NormalDist().cdf(t)
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def _t_pdf(t: float, df: float) -> float:
    lc = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(lc - (df + 1) / 2 * math.log1p(t * t / df))


class _TDist:
    """:func:`t_cdf` and :func:`_t_pdf` of one ``df``, for :func:`t_quantile`'s Newton steps: the same floating-point
    operations in the same order (so the same bits), with what does not depend on the point computed once (the
    log-gamma terms; the continued fraction's coefficients, kept as its first evaluation makes them)."""

    __slots__ = ("df", "a", "lbt0", "split", "lc", "half", "terms")

    def __init__(self, df: float) -> None:
        a, b = df / 2.0, 0.5
        self.df, self.a = df, a
        self.lbt0 = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)  # _betainc's first three terms
        self.split = (a + 1.0) / (a + b + 2.0)
        self.lc = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
        self.half = (df + 1) / 2
        self.terms: dict[bool, list[tuple[float, float, float, float]]] = {True: [], False: []}

    def cdf(self, t: float) -> float:
        df, a = self.df, self.a
        x = df / (df + t * t)
        if x <= 0.0:
            inc = 0.0
        elif x >= 1.0:
            inc = 1.0
        else:
            lbt = self.lbt0 + a * math.log(x) + 0.5 * math.log1p(-x)
            if x < self.split:
                inc = math.exp(lbt) * _betacf(a, 0.5, x, self.terms[True]) / a
            else:
                inc = 1.0 - math.exp(lbt) * _betacf(0.5, a, 1.0 - x, self.terms[False]) / 0.5
        tail = 0.5 * inc
        return 1.0 - tail if t > 0 else tail

    def pdf(self, t: float) -> float:
        return math.exp(self.lc - self.half * math.log1p(t * t / self.df))


def t_quantile(q: float, df: float) -> float:
    """Quantile of Student's t with real ``df > 0`` (agrees with ``scipy.stats.t.ppf`` to ~1e-7).

    Newton's method on the CDF from the Cornish-Fisher start, guarded by a bracket (the CDF and density of
    :class:`_TDist`: :func:`t_cdf`'s and :func:`_t_pdf`'s bits, without recomputing what the steps share)."""
    if not 0.0 < q < 1.0:
        raise ValueError("q must lie in (0, 1)")
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    from statistics import NormalDist

    if df > 1e7:
        return NormalDist().inv_cdf(q)
    if q < 0.5:
        return -t_quantile(1.0 - q, df)
    if q == 0.5:
        return 0.0
    dist = _TDist(df)
    return _newton_t(q, df, dist.cdf, dist.pdf)


def _newton_t(q: float, df: float, cdf: Callable[[float], float], pdf: Callable[[float], float]) -> float:
    """:func:`t_quantile`'s iteration for ``q > 0.5``, on the given CDF and density of t with ``df``."""
    from statistics import NormalDist

    z = NormalDist().inv_cdf(q)
    g1 = (z ** 3 + z) / 4
    g2 = (5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96
    x = z + g1 / df + g2 / (df * df)
    if df < 3 or not math.isfinite(x) or x <= 0:
        x = math.tan(math.pi * (q - 0.5)) if df <= 1.5 else max(z, 1e-3)
    lo, hi = 0.0, math.inf
    for _ in range(100):
        f = cdf(x) - q
        if f < 0:
            lo = x
        else:
            hi = x
        if abs(f) < 1e-14:
            break
        step = f / max(pdf(x), 1e-300)
        nxt = x - step
        if not (lo < nxt < hi):  # outside the bracket: bisect (or expand)
            nxt = (lo + hi) / 2 if math.isfinite(hi) else max(2 * x, lo + 1.0)
        if abs(nxt - x) <= 1e-13 * max(1.0, abs(x)):
            x = nxt
            break
        x = nxt
    return x


# --------------------------------------------------------------------------- cluster-robust intervals


def wilson(successes: float, n: float, alpha: float = 0.05, *, crit: float | None = None) -> tuple[float, float]:
    """Wilson score interval for a proportion (``n`` may be fractional: an effective size);
    ``crit`` replaces the normal critical value (e.g. a t quantile)."""
    if n <= 0:
        return (0.0, 1.0)
    z = _z(alpha) if crit is None else float(crit)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(max(p * (1 - p) / n + z * z / (4 * n * n), 0.0)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _sum(x: Any) -> float:
    """Sum of a float array adding left to right, as ``sum()`` of a list does (``np.sum`` adds pairwise:
    other roundings): every sum below reproduces the plain Python loop bit for bit."""
    import numpy as np

    if not len(x):
        return 0.0
    if type(x) is np.ndarray and x.dtype == np.float64:
        return float(np.add.accumulate(x)[-1])  # what np.cumsum computes, without its Python-level wrapper
    return float(np.cumsum(x)[-1])


def _pow(x: Any, p: float) -> Any:
    """``x ** p`` elementwise with the C library's ``pow``, as Python's float ``**`` (numpy's ``**`` squares
    by multiplication, which rounds differently in about one case in 1,500)."""
    import numpy as np

    return x if p == 1 else np.float_power(x, p)


def cluster_totals(values: Sequence[float], clusters: Sequence[str] | None) -> tuple[list[float], list[int]]:
    """Per-cluster sums and sizes (each item its own cluster when ``clusters`` is None)."""
    sums, sizes = _cluster_arrays(_floats(values), clusters)
    return sums.tolist(), sizes.tolist()


def _floats(values: Sequence[float]) -> Any:
    import numpy as np

    return np.asarray(values, dtype=np.float64)  # bools and ints as float(v) gives them


def _cluster_arrays(vals: Any, clusters: Sequence[str] | None) -> tuple[Any, Any]:
    """:func:`cluster_totals` of a float array, as arrays."""
    import numpy as np

    if clusters is None:
        return vals, np.ones(len(vals), dtype=np.int64)
    if len(clusters) != len(vals):
        raise ValueError("values and clusters differ in length")
    codes = first_seen_codes(clusters)
    # bincount adds each cluster's values one by one in item order: the same float sums as a Python loop
    g = int(codes.max()) + 1 if len(codes) else 0
    return (np.bincount(codes, weights=vals, minlength=g), np.bincount(codes, minlength=g).astype(np.int64))


def first_seen_codes(clusters: Sequence[Any]) -> Any:
    """Clusters numbered 0, 1, … in order of first appearance (an integer array; :func:`cluster_codes` numbers
    them in sorted order for the bootstrap). Labels, or integer codes already (e.g. a subset of a larger
    set's codes: renumbered without hashing the labels again)."""
    import numpy as np

    if isinstance(clusters, np.ndarray) and clusters.dtype.kind in "iu":
        if len(clusters) <= 256:  # np.unique's set-up costs more than hashing a few small integers
            return first_seen_codes(clusters.tolist())
        _, first, inverse = np.unique(clusters, return_index=True, return_inverse=True)
        rank = np.empty(len(first), dtype=np.intp)
        rank[np.argsort(first, kind="stable")] = np.arange(len(first))
        return rank[inverse.reshape(-1)]
    first_seen = dict.fromkeys(clusters)
    index = dict(zip(first_seen, range(len(first_seen))))
    return np.fromiter(map(index.__getitem__, clusters), dtype=np.intp, count=len(clusters))


def cr2_variance(sums: ArrayLike, sizes: ArrayLike, mean: float) -> float:
    """CR2 cluster-robust variance of the item mean from per-cluster sums and sizes."""
    import numpy as np

    y, m = np.asarray(sums, dtype=np.float64), np.asarray(sizes, dtype=np.int64)
    n = float(m.sum())
    if len(m) < 2 or n <= 0:
        return 0.0
    s = y - m * mean
    return _sum(s * s / _pow(1.0 - m / n, POWER)) / (n * n)


def icc_moments(sums: ArrayLike, sizes: ArrayLike, mean: float, item_var: float) -> float:
    """Moment estimate of the intra-cluster correlation, clipped to [0, 0.99]."""
    import numpy as np

    y, m = np.asarray(sums, dtype=np.float64), np.asarray(sizes, dtype=np.int64)
    pairs = int((m * (m - 1)).sum())
    if pairs <= 0 or item_var <= 0:
        return 0.0
    between = _sum(_pow(y - m * mean, 2.0))
    rho = (between - item_var * int(m.sum())) / (item_var * pairs)
    return min(max(rho, 0.0), 0.99)


def bell_mccaffrey_df(sizes: ArrayLike, rho: float = 0.0) -> float:
    """Imbens-Kolesar / Bell-McCaffrey degrees of freedom for a cluster-robust (CR2) mean.

    ``(tr M)^2 / tr(M^2)`` with ``M = W' Omega W``, ``Omega`` exchangeable with correlation
    ``rho``; ``M`` is a diagonal matrix plus a rank-2 term, so both traces are O(G). Equal sizes
    give ``G - 1`` for any ``rho``."""
    import numpy as np

    m = np.asarray(sizes, dtype=np.int64)
    g = len(m)
    if g < 2:
        return 1.0
    n = float(m.sum())
    a = m / n
    d = 1.0 - a
    ne = m * (1.0 + rho * (m - 1))
    s_tot = _sum(ne)
    root = np.sqrt(d)
    u, w, dg = a / root, ne / root, ne / d
    return _bell_mccaffrey_tail(g, s_tot, _sum(u * u), _sum(u * w), _sum(w * w), _sum(dg * dg), _sum(dg * u * w),
                                _sum(dg * u * u), _sum(dg))


def _bell_mccaffrey_tail(g: int, s_tot: float, tr_u: float, tr_uw: float, tr_ww: float, tr_d2: float,
                         tr_du_w: float, tr_du_u: float, tr: float) -> float:
    """:func:`bell_mccaffrey_df` from its sums (``sum(ne)``, ``sum(u u)``, ``sum(u w)``, ``sum(w w)``,
    ``sum(dg dg)``, ``sum(dg u w)``, ``sum(dg u u)``, ``sum(dg)``)."""
    tr_m = tr - 2.0 * tr_uw + s_tot * tr_u
    # R = -u w' - w u' + S u u' = [u w] K [u w]',  K = [[S, -1], [-1, 0]];  tr(R^2) = tr((C K)^2)
    c11, c12, c22 = tr_u, tr_uw, tr_ww
    k11, k12 = s_tot, -1.0
    a11 = c11 * k11 + c12 * k12
    a12 = c11 * k12
    a21 = c12 * k11 + c22 * k12
    a22 = c12 * k12
    tr_r2 = a11 * a11 + 2.0 * a12 * a21 + a22 * a22
    tr_dr = -2.0 * tr_du_w + s_tot * tr_du_u
    tr_m2 = tr_d2 + tr_r2 + 2.0 * tr_dr
    if tr_m2 <= 0:
        return float(g - 1)
    return max(1.0, tr_m * tr_m / tr_m2)


def cluster_variance_of_mean(values: Sequence[float], clusters: Sequence[str] | None) -> tuple[float, int]:
    """Cluster-robust CR1 variance of the sample mean (``G/(G-1)`` factor), and the number of
    clusters: the analytic reference of the paired bootstrap in ``compare``."""
    n = len(values)
    if n == 0:
        return (float("nan"), 0)
    mean = sum(float(v) for v in values) / n
    sums, sizes = cluster_totals(values, clusters)
    g = len(sizes)
    if g < 2:
        return (0.0, g)
    return (sum((y - m * mean) ** 2 for y, m in zip(sums, sizes)) / (n * n) * g / (g - 1), g)


def interval_from_totals(
    sums: Sequence[float],
    sizes: Sequence[int],
    *,
    binary: bool,
    item_var: float | None = None,
    clustered: bool = True,
    alpha: float = 0.05,
    lower: float | None = 0.0,
    upper: float | None = 1.0,
) -> tuple[float | None, float | None, str]:
    """(low, high, method) of the interval of the item mean from per-cluster sums and sizes.

    ``item_var`` is the per-item variance (computed from the mean for ``binary``; required
    otherwise); see the module docstring for the method. A non-binary mean of a single cluster has
    no interval (None, None): its between-cluster variance cannot be estimated."""
    import numpy as np

    sums_a, sizes_a = np.asarray(sums, dtype=np.float64), np.asarray(sizes, dtype=np.int64)
    n = float(sizes_a.sum())
    g = len(sizes_a)
    mean = _sum(sums_a) / n
    if binary:
        item_var = mean * (1.0 - mean)
        floor = item_var / (n - 1) if n > 1 else item_var
    else:
        item_var = float(item_var or 0.0)
        floor = 0.0
    var = max(cr2_variance(sums_a, sizes_a, mean), floor)
    rho = icc_moments(sums_a, sizes_a, mean, item_var) if clustered else 0.0
    df = bell_mccaffrey_df(sizes_a, rho) if g >= 2 else 1.0
    return _interval(mean, n, g, var, df, binary=binary, clustered=clustered, alpha=alpha, lower=lower, upper=upper)


def _interval(mean: float, n: float, g: int, var: float, df: float, *, binary: bool, clustered: bool, alpha: float,
              lower: float | None, upper: float | None) -> tuple[float | None, float | None, str]:
    """The end of :func:`interval_from_totals`: the interval from the cluster-level mean, the item count, the
    number of clusters, the variance of the mean and the degrees of freedom."""
    tag = "cr2" if clustered else "iid"
    crit = t_quantile(1.0 - alpha / 2.0, df)
    if binary and (mean <= 0.0 or mean >= 1.0 or g < 2):
        lo, hi = wilson(mean * n, n, alpha, crit=crit)
        lo, hi = (0.0 if mean <= 0.0 else lo), (1.0 if mean >= 1.0 else hi)
        return lo, hi, "wilson-t" + ("(single cluster)" if g < 2 else f"(df={df:.1f})")
    if binary:
        se = math.sqrt(var) / (mean * (1.0 - mean))
        centre = math.log(mean / (1.0 - mean))
        return _expit(centre - crit * se), _expit(centre + crit * se), f"logit-t+{tag}(df={df:.1f})"
    if g < 2:
        return None, None, f"none (single {'cluster' if clustered else 'item'})"
    half = crit * math.sqrt(var)
    lo, hi = mean - half, mean + half
    if lower is not None:
        lo = max(lower, lo)
    if upper is not None:
        hi = min(upper, hi)
    return lo, hi, f"t+{tag}(df={df:.1f})"


def mean_ci(
    values: Sequence[float],
    clusters: Sequence[Any] | None = None,
    *,
    binary: bool = False,
    alpha: float = 0.05,
    lower: float | None = 0.0,
    upper: float | None = 1.0,
) -> Estimate:
    """Mean with a (1 - alpha) interval, clustered when ``clusters`` is given (see module docs)."""
    n = len(values)
    if n == 0:
        return Estimate(value=None, n=0, n_clusters=0, method=None)
    vals = _floats(values)
    sums, sizes = _cluster_arrays(vals, clusters)
    mean = _sum(vals) / n
    item_var = None if binary else (_sum(_pow(vals - mean, 2.0)) / (n - 1) if n > 1 else 0.0)
    lo, hi, method = interval_from_totals(sums, sizes, binary=binary, item_var=item_var,
                                          clustered=clusters is not None, alpha=alpha, lower=lower, upper=upper)
    return Estimate(value=mean, ci_low=lo, ci_high=hi, n=n,
                    n_clusters=len(sizes) if clusters is not None else None, method=method)


def mean_cis(groups: Sequence[tuple[Any, Any, bool]], *, alpha: float = 0.05, lower: float | None = 0.0,
             upper: float | None = 1.0) -> list[Estimate]:
    """``[mean_ci(values, codes, binary=binary, …) for values, codes, binary in groups]``, the same bits, with
    the array work of every group done at once: ``codes`` are integer cluster codes (e.g. subsets of one
    :func:`first_seen_codes` array). A task's accuracy, PRRs and breakdown groups are a dozen means of a few
    hundred items each, where numpy's cost per call, not per item, is what the per-group path pays.

    Each group's clusters are numbered in order of first appearance within the group and summed item by item
    (``bincount``, as :func:`_cluster_arrays`); the groups' per-cluster arrays sit in the rows of zero-padded
    matrices and every left-to-right sum of a row (``np.add.accumulate`` along it, as :func:`_sum`) is read
    at the row's last real column, so the padding never enters a result. The scalar steps are
    :func:`interval_from_totals`'s, in the same order."""
    import numpy as np

    live = [i for i, (values, _, _) in enumerate(groups) if len(values)]
    if not live:
        return [Estimate(value=None, n=0, n_clusters=0, method=None) for _ in groups]
    vals = np.concatenate([_floats(groups[i][0]) for i in live])
    codes = np.concatenate([np.asarray(groups[i][1]) for i in live])
    return _fill(len(groups), live, _mean_cis_of(vals, codes, [len(groups[i][0]) for i in live],
                                                 [groups[i][2] for i in live], np, alpha, lower, upper))


def mean_cis_at(values: Any, codes: Any, subsets: Sequence[tuple[Sequence[int], bool]], *, alpha: float = 0.05,
                lower: float | None = 0.0, upper: float | None = 1.0) -> list[Estimate]:
    """:func:`mean_cis` of subsets of one set of items: ``[mean_ci(values[ix], codes[ix], binary=binary, …) for
    ix, binary in subsets]`` (``values``: a float array, ``codes``: integer cluster codes, ``ix``: ascending
    item positions), gathered by two index operations instead of two a subset."""
    from itertools import chain

    import numpy as np

    live = [i for i, (ix, _) in enumerate(subsets) if len(ix)]
    if not live:
        return [Estimate(value=None, n=0, n_clusters=0, method=None) for _ in subsets]
    lens = [len(subsets[i][0]) for i in live]
    at = np.fromiter(chain.from_iterable(subsets[i][0] for i in live), dtype=np.intp, count=sum(lens))
    return _fill(len(subsets), live, _mean_cis_of(_floats(values)[at], np.asarray(codes)[at], lens,
                                                  [subsets[i][1] for i in live], np, alpha, lower, upper))


def _fill(n: int, live: list[int], estimates: list[Estimate]) -> list[Estimate]:
    """``estimates`` of the ``live`` positions among ``n``; an empty mean at the others."""
    out: list[Estimate | None] = [None] * n
    for i, est in zip(live, estimates):
        out[i] = est
    return [Estimate(value=None, n=0, n_clusters=0, method=None) if e is None else e for e in out]


def _column_sums(a: Any, np: Any) -> Any:
    """The sum of each column of a C-contiguous 2-D float array, its rows added in order: the bits of :func:`_sum`
    of the column (numpy reduces along the slow axis row by row, elementwise across the columns, and adds pairwise
    only along the contiguous axis, which a single column would become: a second one, of zeros, goes beside it).
    Rows past a column's last value hold -0.0, which adds nothing to any sum (+0.0 would turn a -0.0 sum into
    +0.0)."""
    if a.shape[1] == 1:
        a = np.concatenate([a, np.zeros_like(a)], axis=1)
    return np.add.reduce(a, axis=0)


_PADDED_CELLS = 1 << 16
"""Above this many cells (512 KiB), :func:`_mean_cis_of` sums the eight Bell-McCaffrey quantities of every cluster
one padded matrix at a time instead of in one matrix eight times as wide (a 24,000-cluster run with a dozen
breakdown groups: 23 MiB at once; a 2,400-cluster one: 1.6 MiB, a fifth of what ``score`` may hold)."""


def _mean_cis_of(vals: Any, codes: Any, sizes: list[int], binary: list[bool], np: Any, alpha: float,
                 lower: float | None, upper: float | None) -> list[Estimate]:
    """The estimates of consecutive groups of ``sizes`` items (none empty) of ``vals`` / ``codes``.

    The steps of :func:`interval_from_totals` on every group at once: elementwise on the groups' items and
    clusters together, each left-to-right sum a column of a matrix with a column a group (:func:`_column_sums`)."""
    r = len(sizes)
    if codes.dtype.kind not in "iu" or len(codes) != len(vals):
        raise ValueError("mean_cis takes integer cluster codes, one a value")
    lens = np.array(sizes, dtype=np.intp)
    rows = np.repeat(np.arange(r), lens)
    # clusters numbered by first appearance within each group (groups are contiguous: a group's numbers follow
    # the previous group's), summed item by item
    width = int(codes.max()) + 1
    uniq, first, inverse = np.unique(rows * width + codes, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(uniq), dtype=np.intp)
    rank[order] = np.arange(len(uniq))
    bins = rank[inverse.reshape(-1)]
    del first, inverse, rank
    bin_sums = np.bincount(bins, weights=vals, minlength=len(uniq))
    bin_sizes = np.bincount(bins, minlength=len(uniq))
    bin_row = uniq[order] // width  # each cluster's group (clusters in group order)
    del uniq, order, bins
    gs = np.bincount(bin_row, minlength=r)
    starts = np.cumsum(gs) - gs
    at = np.arange(len(bin_row)) - np.repeat(starts, gs)  # each cluster's place in its group
    pos = np.arange(len(vals)) - np.repeat(np.cumsum(lens) - lens, lens)  # each item's place in its group
    width_c = int(gs.max())
    # the items' sums (the item-level mean) and the clusters' sums, a column a group each
    xy = np.full((int(lens.max()), 2 * r), -0.0)
    xy[pos, rows] = vals
    xy[at, r + bin_row] = bin_sums
    sums = _column_sums(xy, np)
    del xy  # (the padded matrices of 24,000 items are megabytes each: none outlives its sums)
    n = lens.astype(np.float64)  # float(sizes.sum()): every item is in one cluster
    item_mean_a = sums[:r] / lens
    mean_a = sums[r:] / n
    item_mean, mean = item_mean_a.tolist(), mean_a.tolist()
    n_l, g_l = n.tolist(), gs.tolist()
    # the squared deviations of the non-binary groups only (a proportion's variance comes from its mean)
    free = [k for k in range(r) if not binary[k]]
    dev2: dict[int, float] = {}
    if free:
        column = np.full(r, -1, dtype=np.intp)
        column[free] = np.arange(len(free))
        col = column[rows]
        sel = col >= 0
        dev = np.full((int(lens[free].max()), len(free)), -0.0)
        dev[pos[sel], col[sel]] = _pow(vals[sel] - item_mean_a[rows[sel]], 2.0)
        dev2 = dict(zip(free, _column_sums(dev, np).tolist()))
        del dev, col, sel
    del rows, pos  # (what follows is a value a cluster)
    item_var: list[float] = []
    floor: list[float] = []
    for k in range(r):
        if binary[k]:
            v = mean[k] * (1.0 - mean[k])
            item_var.append(v)
            floor.append(v / (n_l[k] - 1) if n_l[k] > 1 else v)
        else:
            nk = int(lens[k])
            item_var.append(float((dev2[k] / (nk - 1) if nk > 1 else 0.0) or 0.0))
            floor.append(0.0)
    # per cluster: its size, its group's mean and item count
    m, mean_c, n_c = bin_sizes, mean_a[bin_row], n[bin_row]
    with np.errstate(divide="ignore", invalid="ignore"):  # a single-cluster group, whose results are not read
        s = bin_sums - m * mean_c
        terms = np.full((width_c, r, 2), -0.0)
        terms[at, bin_row, 0] = s * s / _pow(1.0 - m / n_c, POWER)
        terms[at, bin_row, 1] = _pow(s, 2.0)
        cr2, between = _column_sums(terms.reshape(width_c, 2 * r), np).reshape(r, 2).T.tolist()
        del terms
        pairs = np.add.reduceat(m * (m - 1), starts).tolist()
        rho = []
        for k in range(r):
            if pairs[k] <= 0 or item_var[k] <= 0:
                rho.append(0.0)
            else:
                v = (between[k] - item_var[k] * int(lens[k])) / (item_var[k] * pairs[k])
                rho.append(min(max(v, 0.0), 0.99))
        a = m / n_c
        d = 1.0 - a
        ne = m * (1.0 + np.asarray(rho)[bin_row] * (m - 1))
        root = np.sqrt(d)
        u, w, dg = a / root, ne / root, ne / d
        parts = [ne, u * u, u * w, w * w, dg * dg, dg * u * w, dg * u * u, dg]
        if width_c * r * len(parts) <= _PADDED_CELLS:
            bm = np.full((width_c, r, len(parts)), -0.0)
            bm[at, bin_row] = np.stack(parts, axis=1)
            traces = _column_sums(bm.reshape(width_c, len(parts) * r), np).reshape(r, len(parts)).tolist()
        else:  # one quantity at a time (each column's sum is its own: the same bits), an eighth of the memory
            sums_q = []
            for q in parts:
                bq = np.full((width_c, r), -0.0)
                bq[at, bin_row] = q
                sums_q.append(_column_sums(bq, np))
                del bq
            traces = np.stack(sums_q, axis=1).tolist()
    out = []
    for k in range(r):
        g = g_l[k]
        var = max(cr2[k] / (n_l[k] * n_l[k]) if g >= 2 else 0.0, floor[k])
        df = _bell_mccaffrey_tail(g, *traces[k]) if g >= 2 else 1.0
        lo, hi, method = _interval(mean[k], n_l[k], g, var, df, binary=binary[k], clustered=True, alpha=alpha,
                                   lower=lower, upper=upper)
        out.append(Estimate(value=item_mean[k], ci_low=lo, ci_high=hi, n=int(lens[k]), n_clusters=g, method=method))
    return out


def _expit(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


# --------------------------------------------------------------------------- paired comparison
#
# Used by ``mosseval compare``: an exact McNemar test on the discordant pairs, and a paired cluster
# bootstrap of the mean difference (candidate - baseline) that resamples whole clusters (videos).


def _binom_half_cdf_terms(n: int, k: int) -> tuple[float, float]:
    """``P(X <= k)`` and ``P(X = k)`` for ``X ~ Binomial(n, 1/2)`` (``0 <= k <= n``)."""
    if n <= 1000:
        # exact integer arithmetic, divided once at the end
        total = 0
        term = 1  # C(n, 0)
        for i in range(k + 1):
            if i:
                term = term * (n - i + 1) // i
            total += term
        denom = 2 ** n
        return total / denom, term / denom
    import numpy as np

    xs = np.arange(k + 1, dtype=np.float64)
    log_pmf = (math.lgamma(n + 1) - np.array([math.lgamma(x + 1) + math.lgamma(n - x + 1) for x in xs])
               - n * math.log(2.0))
    top = float(log_pmf.max())
    cdf = math.exp(top) * float(np.exp(log_pmf - top).sum())
    return cdf, math.exp(float(log_pmf[-1]))


def mcnemar_exact(b: int, c: int, *, mid_p: bool = False) -> float:
    """Two-sided exact McNemar p-value from the discordant pair counts ``b`` and ``c``.

    Under H0 (equal accuracy) ``b ~ Binomial(b + c, 1/2)``; the two-sided p-value is
    ``min(1, 2 * P(X <= min(b, c)))`` (identical to ``scipy.stats.binomtest(b, b + c, 0.5)``,
    the binomial being symmetric). ``mid_p`` subtracts half the probability of the observed
    count (less conservative, no longer exact). No discordant pairs -> 1.0.
    """
    b, c = int(b), int(c)
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be non-negative")
    n = b + c
    if n == 0:
        return 1.0
    cdf, pmf = _binom_half_cdf_terms(n, min(b, c))
    p = 2.0 * (cdf - 0.5 * pmf) if mid_p else 2.0 * cdf
    return float(min(1.0, max(0.0, p)))


def sign_test(positive: int, negative: int) -> float:
    """Two-sided exact sign test (ties already dropped); the same binomial as McNemar's."""
    return mcnemar_exact(positive, negative)


class BootstrapCI:
    """Result of :func:`paired_cluster_bootstrap`: a percentile interval of a mean difference."""

    __slots__ = ("estimate", "ci_low", "ci_high", "se", "n", "n_clusters", "n_boot", "level", "method")

    def __init__(self, estimate: float | None, ci_low: float | None, ci_high: float | None,
                 se: float | None, n: int, n_clusters: int, n_boot: int, level: float, method: str):
        self.estimate = estimate
        self.ci_low = ci_low
        self.ci_high = ci_high
        self.se = se
        self.n = n
        self.n_clusters = n_clusters
        self.n_boot = n_boot
        self.level = level
        self.method = method

    def as_dict(self) -> dict[str, float | int | str | None]:
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"BootstrapCI({self.as_dict()})"


def cluster_codes(clusters: Sequence[str] | None, n: int) -> Any:
    """Integer codes 0..G-1 for cluster labels (each item its own cluster when ``None``)."""
    import numpy as np

    if clusters is None:
        return np.arange(n), n
    if len(clusters) != n:
        raise ValueError("values and clusters differ in length")
    _, codes = np.unique(np.asarray(list(clusters), dtype=object).astype(str), return_inverse=True)
    codes = codes.reshape(-1)
    return codes, int(codes.max()) + 1 if n else 0


BOOT_CELLS_PER_ITEM = 32
"""Bootstrap draws per chunk scale with the items: 32 cells (8-byte index + 8-byte value) per item."""
BOOT_MAX_CELLS = 131_072
"""...up to this many per chunk (1 MiB of indices)."""


def paired_cluster_bootstrap(
    diffs: Sequence[float],
    clusters: Sequence[str] | None = None,
    *,
    n_boot: int = 2000,
    alpha: float = 0.05,
    seed: int | Sequence[int] = 0,
    small_sample_correction: bool = True,
    max_cells: int | None = None,
) -> BootstrapCI:
    """Percentile bootstrap CI of the mean of paired differences, resampling whole clusters.

    ``diffs[i]`` is candidate minus baseline on item ``i``; items sharing ``clusters[i]`` (a video)
    are resampled together. Each replicate draws G clusters with replacement and takes the ratio
    ``sum(diffs) / sum(items)`` of the drawn clusters (the mean over the replicate's items).
    Vectorised: per-cluster sums and counts, then ``integers`` draws of shape (chunk, G) of at most
    ``max_cells`` cells: by default :data:`BOOT_CELLS_PER_ITEM` per item, at most :data:`BOOT_MAX_CELLS`
    (indices and gathered values together ~0.5 KB per item, at most 2 MiB: the workspace stays a fraction
    of the data's own size, small or large; the chunking does not change the draws, ``tests/test_stats.py``).

    With ``small_sample_correction`` the replicates are spread around the estimate by
    ``sqrt(G / (G - 1))`` before taking percentiles, the same factor as the CR1 cluster-robust
    variance (the plain bootstrap variance is ``(G - 1) / G`` times too small); negligible for
    large G. Deterministic for a given ``seed`` (a numpy ``Generator``). Fewer than 2 clusters:
    no interval (``ci_low``/``ci_high`` are ``None``).
    """
    import numpy as np

    d = np.asarray(list(diffs), dtype=np.float64)
    n = int(d.size)
    level = 1.0 - alpha
    if n == 0:
        return BootstrapCI(None, None, None, None, 0, 0, 0, level, "cluster-bootstrap")
    codes, g = cluster_codes(clusters, n)
    sums = np.bincount(codes, weights=d, minlength=g)
    counts = np.bincount(codes, minlength=g).astype(np.float64)
    est = float(d.mean())
    method = "cluster-bootstrap-percentile" if clusters is not None else "bootstrap-percentile"
    if g < 2:
        return BootstrapCI(est, None, None, None, n, g, 0, level, method)
    if n_boot < 1:
        raise ValueError("n_boot must be >= 1")
    rng = np.random.default_rng(seed)
    reps = np.empty(n_boot, dtype=np.float64)
    if max_cells is None:
        max_cells = min(BOOT_MAX_CELLS, BOOT_CELLS_PER_ITEM * n)
    chunk = max(1, max_cells // g)
    # every replicate draws g clusters: with equal cluster sizes its item count is g * size (exact, as the
    # float sum of integer counts is); np.take gathers the same values as fancy indexing, faster
    same_size = bool(np.all(counts == counts[0]))
    for start in range(0, n_boot, chunk):
        k = min(chunk, n_boot - start)
        idx = rng.integers(0, g, size=(k, g))
        items = counts[0] * g if same_size else np.take(counts, idx).sum(axis=1)
        reps[start:start + k] = np.take(sums, idx).sum(axis=1) / items
    if small_sample_correction:
        reps = est + math.sqrt(g / (g - 1)) * (reps - est)
    lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    return BootstrapCI(est, float(lo), float(hi), float(reps.std(ddof=1)) if n_boot > 1 else None,
                       n, g, n_boot, level, method + ("+cr1" if small_sample_correction else ""))


def cluster_robust_normal_ci(
    values: Sequence[float], clusters: Sequence[str] | None, alpha: float = 0.05
) -> tuple[float, float, float, float]:
    """Analytic (estimate, low, high, se): mean +- z * CR1 cluster-robust standard error.

    The reference the bootstrap is checked against (they agree for many clusters)."""
    vals = [float(v) for v in values]
    mean = sum(vals) / len(vals)
    if clusters is None:
        n = len(vals)
        var = sum((v - mean) ** 2 for v in vals) / (n * (n - 1))
    else:
        var, _ = cluster_variance_of_mean(vals, clusters)
    se = math.sqrt(var)
    z = _z(alpha)
    return mean, mean - z * se, mean + z * se, se


def noninferiority_decision(ci_low: float | None, ci_high: float | None, margin: float) -> str:
    """``"regression"`` when the whole CI lies below ``-margin``, ``"pass"`` when it lies at or
    above ``-margin`` (non-inferior), ``"inconclusive"`` otherwise (or when there is no CI)."""
    if ci_low is None or ci_high is None:
        return "inconclusive"
    if ci_high < -margin:
        return "regression"
    if ci_low >= -margin:
        return "pass"
    return "inconclusive"


def samples_needed(n: int, estimate: float, ci_low: float, ci_high: float, margin: float) -> int | None:
    """Approximate sample size at which an inconclusive CI would clear ``-margin``.

    The interval width shrinks like ``1/sqrt(n)``; keeping the observed estimate and the observed
    per-sample (per-cluster) variance, the side of the interval that straddles ``-margin``
    (``w = estimate - ci_low`` when the estimate is above ``-margin``, ``ci_high - estimate`` when it
    is below) must shrink to ``|estimate + margin|``:  ``n_needed = ceil(n * (w / |estimate +
    margin|)^2)``. ``None`` when the estimate sits exactly on the margin (no finite n resolves it).
    """
    gap = abs(estimate + margin)
    if gap <= 1e-12 or n <= 0:
        return None
    w = (estimate - ci_low) if estimate >= -margin else (ci_high - estimate)
    w = max(w, 0.0)
    need = math.ceil(n * (w / gap) ** 2 - 1e-9)
    return max(need, n + 1)


# --------------------------------------------------------------------------- agreement
#
# Used by the judge summaries (judge vs rule-based score) and the leaderboard.


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's kappa of two binary raters on the same items; ``None`` when there are no items or the
    chance agreement is 1 (both raters constant and equal: kappa is undefined)."""
    n = len(a)
    if n == 0 or n != len(b):
        return None
    po = sum(x == y for x, y in zip(a, b)) / n
    pa, pb = sum(a) / n, sum(b) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    if pe >= 1.0 - 1e-12:
        return None
    return (po - pe) / (1 - pe)


# --------------------------------------------------------------------------- two-sample z tests
#
# Used by the leaderboard's "statistically tied with the leader" marker.


def normal_two_sided_p(diff: float, se: float | None) -> float | None:
    """Two-sided p-value of ``diff`` under N(0, se²); ``None`` without a standard error."""
    if se is None:
        return None
    if se <= 0:
        return 1.0 if abs(diff) < 1e-12 else 0.0
    return math.erfc(abs(diff) / se / math.sqrt(2))


def se_from_estimate(est: Estimate | None) -> float | None:
    """Standard error implied by an estimate's 95 % interval (half its width / z); for a proportion
    without an interval, the binomial SE ``sqrt(max(p(1-p), 0.25/n) / n)`` (floored so that 0 % and
    100 % do not claim zero uncertainty)."""
    if est is None or est.value is None:
        return None
    lo, hi = est.ci_low, est.ci_high
    if lo is not None and hi is not None and hi > lo:
        return (hi - lo) / (2 * Z95)
    n, p = est.n or 0, est.value
    if n > 0 and 0.0 <= p <= 1.0:
        return math.sqrt(max(p * (1 - p), 0.25 / n) / n)
    return None


def paired_z(diffs: Sequence[float]) -> tuple[float, float | None]:
    """(mean, two-sided p) of a paired z-test on per-item differences."""
    n = len(diffs)
    m = sum(diffs) / n
    var = sum((v - m) ** 2 for v in diffs) / (n - 1) if n > 1 else 0.0
    return m, normal_two_sided_p(m, math.sqrt(var / n))


def unpaired_z(a: Estimate, b: Estimate) -> float | None:
    """Two-sided p of ``b - a`` with each side's SE from its interval (:func:`se_from_estimate`)."""
    sa, sb = se_from_estimate(a), se_from_estimate(b)
    if sa is None or sb is None or a.value is None or b.value is None:
        return None
    return normal_two_sided_p(b.value - a.value, math.sqrt(sa * sa + sb * sb))


# --------------------------------------------------------------------------- correlation


def _ranks(x: Any) -> Any:
    """Average ranks (ties share their mean rank), 1-based."""
    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    sx = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sx[j + 1] == sx[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def _corr(x: Any, y: Any) -> float | None:

    xc, yc = x - x.mean(), y - y.mean()
    den = math.sqrt(float((xc * xc).sum()) * float((yc * yc).sum()))
    return None if den <= 0 else float((xc * yc).sum()) / den


def correlation(x: Sequence[float], y: Sequence[float], clusters: Sequence[str] | None = None, *,
                method: str = "pearson", n_boot: int = 2000, alpha: float = 0.05, seed: int = 0) -> Estimate:
    """Pearson or Spearman correlation of paired per-item values with a cluster-bootstrap interval.

    Items sharing a cluster (a video) are resampled together; the percentile interval of ``n_boot``
    seeded replicates (replicates with no variance in x or y are skipped). No interval below 3
    clusters; ``value`` None when x or y is constant (e.g. an oracle's PRR of 1.0 everywhere)."""
    import numpy as np

    if method not in ("pearson", "spearman"):
        raise ValueError("method must be 'pearson' or 'spearman'")
    xs = np.asarray([float(v) for v in x], dtype=np.float64)
    ys = np.asarray([float(v) for v in y], dtype=np.float64)
    if xs.shape != ys.shape:
        raise ValueError("x and y differ in length")
    n = int(xs.size)
    codes, g = cluster_codes(clusters, n)
    label = f"{method}+cluster-bootstrap" if clusters is not None else f"{method}+bootstrap"
    if n < 3:
        return Estimate(value=None, n=n, n_clusters=g if clusters is not None else None, method=label)

    def stat(a: Any, b: Any) -> float | None:
        return _corr(_ranks(a), _ranks(b)) if method == "spearman" else _corr(a, b)

    value = stat(xs, ys)
    lo = hi = None
    if value is not None and g >= 3 and n_boot > 0:
        members = [np.flatnonzero(codes == k) for k in range(g)]
        rng = np.random.default_rng(seed)
        reps = []
        for _ in range(n_boot):
            idx = np.concatenate([members[k] for k in rng.integers(0, g, size=g)])
            r = stat(xs[idx], ys[idx])
            if r is not None:
                reps.append(r)
        if len(reps) >= max(20, n_boot // 2):
            lo, hi = (float(v) for v in np.quantile(reps, [alpha / 2, 1 - alpha / 2]))
    return Estimate(value=value, ci_low=lo, ci_high=hi, n=n, n_clusters=g if clusters is not None else None,
                    method=label)
