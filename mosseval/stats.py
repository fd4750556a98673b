"""Statistics used for every number mosseval prints: confidence intervals that respect clusters.

Items that share a video are not independent; intervals use the cluster-robust variance of the
mean. For proportions the interval is Wilson's, computed on the design-effect-adjusted sample size
(n_eff = n / deff, deff = clustered variance / iid variance, never below 1), so an all-correct run
gets a sensible interval instead of a zero-width one. Deterministic: no resampling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from mosseval.records import Estimate

Z95 = 1.959963984540054


def _z(alpha: float) -> float:
    if abs(alpha - 0.05) < 1e-12:
        return Z95
    from statistics import NormalDist

    return NormalDist().inv_cdf(1 - alpha / 2)


def wilson(successes: float, n: float, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for a proportion (``n`` may be fractional: an effective size)."""
    if n <= 0:
        return (0.0, 1.0)
    z = _z(alpha)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(max(p * (1 - p) / n + z * z / (4 * n * n), 0.0)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def cluster_variance_of_mean(values: Sequence[float], clusters: Sequence[str] | None) -> tuple[float, int]:
    """Cluster-robust (CR1-style) variance of the sample mean, and the number of clusters."""
    n = len(values)
    if n == 0:
        return (float("nan"), 0)
    mean = sum(values) / n
    if clusters is None:
        clusters = [str(i) for i in range(n)]
    sums: dict[str, float] = {}
    for v, c in zip(values, clusters):
        sums[c] = sums.get(c, 0.0) + (v - mean)
    g = len(sums)
    if g < 2:
        return (0.0, g)
    var = sum(s * s for s in sums.values()) / (n * n) * g / (g - 1)
    return (var, g)


def mean_ci(
    values: Sequence[float],
    clusters: Sequence[str] | None = None,
    *,
    binary: bool = False,
    alpha: float = 0.05,
    lower: float | None = 0.0,
    upper: float | None = 1.0,
) -> Estimate:
    """Mean with a (1 - alpha) interval, clustered when ``clusters`` is given."""
    vals = [float(v) for v in values]
    n = len(vals)
    if n == 0:
        return Estimate(value=None, n=0, n_clusters=0, method=None)
    mean = sum(vals) / n
    var_c, g = cluster_variance_of_mean(vals, clusters)
    iid_var = sum((v - mean) ** 2 for v in vals) / (n * (n - 1)) if n > 1 else 0.0
    if binary:
        deff = max(1.0, var_c / iid_var) if iid_var > 0 else 1.0
        lo, hi = wilson(mean * n / deff, n / deff, alpha)
        method = "wilson" + ("+cluster-deff" if clusters is not None else "")
    else:
        se = math.sqrt(var_c) if clusters is not None else math.sqrt(iid_var)
        z = _z(alpha)
        lo, hi = mean - z * se, mean + z * se
        if lower is not None:
            lo = max(lower, lo)
        if upper is not None:
            hi = min(upper, hi)
        method = "normal" + ("+cluster-robust" if clusters is not None else "")
    return Estimate(value=mean, ci_low=lo, ci_high=hi, n=n,
                    n_clusters=g if clusters is not None else None, method=method)


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

    i = np.arange(k + 1, dtype=np.float64)
    log_pmf = (math.lgamma(n + 1) - np.array([math.lgamma(x + 1) + math.lgamma(n - x + 1) for x in i])
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


def cluster_codes(clusters: Sequence[str] | None, n: int):
    """Integer codes 0..G-1 for cluster labels (each item its own cluster when ``None``)."""
    import numpy as np

    if clusters is None:
        return np.arange(n), n
    if len(clusters) != n:
        raise ValueError("values and clusters differ in length")
    _, codes = np.unique(np.asarray(list(clusters), dtype=object).astype(str), return_inverse=True)
    codes = codes.reshape(-1)
    return codes, int(codes.max()) + 1 if n else 0


def paired_cluster_bootstrap(
    diffs: Sequence[float],
    clusters: Sequence[str] | None = None,
    *,
    n_boot: int = 2000,
    alpha: float = 0.05,
    seed: int | Sequence[int] = 0,
    small_sample_correction: bool = True,
    max_cells: int = 2_000_000,
) -> BootstrapCI:
    """Percentile bootstrap CI of the mean of paired differences, resampling whole clusters.

    ``diffs[i]`` is candidate minus baseline on item ``i``; items sharing ``clusters[i]`` (a video)
    are resampled together. Each replicate draws G clusters with replacement and takes the ratio
    ``sum(diffs) / sum(items)`` of the drawn clusters (the mean over the replicate's items).
    Vectorised: per-cluster sums and counts, then an ``integers`` draw of shape (chunk, G).

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
    chunk = max(1, max_cells // g)
    for start in range(0, n_boot, chunk):
        k = min(chunk, n_boot - start)
        idx = rng.integers(0, g, size=(k, g))
        reps[start:start + k] = sums[idx].sum(axis=1) / counts[idx].sum(axis=1)
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


# --------------------------------------------------------------------------- agreement and association
#
# Used by the judge summaries (judge vs rule-based score, judge score vs PRR) and the leaderboard.


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


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson correlation; ``None`` for fewer than 3 pairs or a constant variable."""
    n = len(x)
    if n < 3 or n != len(y):
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((v - mx) ** 2 for v in x)
    syy = sum((v - my) ** 2 for v in y)
    if sxx <= 0 or syy <= 0:
        return None
    return sum((u - mx) * (v - my) for u, v in zip(x, y)) / math.sqrt(sxx * syy)


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
