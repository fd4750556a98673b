"""Statistics behind `mosseval compare`, checked against SciPy and analytic reference computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

scipy_stats = pytest.importorskip("scipy.stats")

from mosseval.stats import (  # noqa: E402
    cluster_robust_normal_ci,
    mcnemar_exact,
    noninferiority_decision,
    paired_cluster_bootstrap,
    samples_needed,
    sign_test,
)

# --------------------------------------------------------------------------- exact McNemar


@pytest.mark.parametrize("b,c", [(0, 0), (0, 1), (1, 0), (3, 10), (10, 3), (7, 7), (0, 25), (12, 30),
                                 (500, 560), (600, 700), (1000, 1100), (2900, 3100), (40, 4000)])
def test_mcnemar_exact_matches_scipy_binomtest(b, c):
    p = mcnemar_exact(b, c)
    if b + c == 0:
        assert p == 1.0
        return
    ref = scipy_stats.binomtest(b, b + c, 0.5, alternative="two-sided").pvalue
    assert p == pytest.approx(ref, rel=1e-9, abs=1e-300)
    assert mcnemar_exact(c, b) == p  # symmetric
    assert sign_test(b, c) == p


@pytest.mark.parametrize("b,c", [(3, 10), (7, 7), (0, 5), (120, 160), (1500, 1400)])
def test_mcnemar_mid_p_matches_reference(b, c):
    n, k = b + c, min(b, c)
    ref = min(1.0, 2 * (scipy_stats.binom.cdf(k, n, 0.5) - 0.5 * scipy_stats.binom.pmf(k, n, 0.5)))
    assert mcnemar_exact(b, c, mid_p=True) == pytest.approx(ref, rel=1e-9)
    assert mcnemar_exact(b, c, mid_p=True) <= mcnemar_exact(b, c)


def test_mcnemar_rejects_negative_counts():
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


# --------------------------------------------------------------------------- bootstrap


def test_unclustered_bootstrap_matches_scipy_bootstrap():
    rng = np.random.default_rng(7)
    d = rng.normal(-0.02, 0.4, size=600)
    ours = paired_cluster_bootstrap(d, None, n_boot=8000, seed=1, small_sample_correction=False)
    ref = scipy_stats.bootstrap((d,), np.mean, n_resamples=8000, method="percentile", confidence_level=0.95,
                                random_state=np.random.default_rng(2)).confidence_interval
    se = d.std(ddof=1) / math.sqrt(d.size)
    assert ours.estimate == pytest.approx(d.mean())
    assert ours.n_clusters == 600 and ours.n == 600 and ours.n_boot == 8000
    # two independent Monte-Carlo runs of the same bootstrap: bounds agree to a small fraction of the SE
    assert abs(ours.ci_low - ref.low) < 0.08 * se
    assert abs(ours.ci_high - ref.high) < 0.08 * se
    assert ours.se == pytest.approx(se, rel=0.05)


def _clustered_binary_diffs(rng, n_clusters: int, effect: float = -0.03):
    """Paired correct/wrong outcomes with a strong per-video effect (several questions per video)."""
    sizes = rng.integers(1, 8, size=n_clusters)
    diffs, clusters = [], []
    for g, size in enumerate(sizes):
        p_base = rng.beta(2, 1)
        base = rng.random(size) < p_base
        shift = effect + rng.normal(0, 0.15)  # the candidate is better or worse on whole videos
        cand = rng.random(size) < min(1, max(0, p_base + shift))
        diffs += list(cand.astype(float) - base.astype(float))
        clusters += [f"v{g}"] * int(size)
    return np.array(diffs), clusters


def test_cluster_bootstrap_agrees_with_analytic_cluster_robust_interval():
    rng = np.random.default_rng(11)
    d, clusters = _clustered_binary_diffs(rng, 800)
    boot = paired_cluster_bootstrap(d, clusters, n_boot=6000, seed=3)
    est, lo, hi, se = cluster_robust_normal_ci(d, clusters)
    assert boot.n_clusters == 800 and boot.estimate == pytest.approx(est)
    assert boot.se == pytest.approx(se, rel=0.05)
    assert abs(boot.ci_low - lo) < 0.1 * se
    assert abs(boot.ci_high - hi) < 0.1 * se
    # ignoring the clusters would understate the uncertainty here
    naive = paired_cluster_bootstrap(d, None, n_boot=2000, seed=3)
    assert naive.se < 0.95 * boot.se


def test_cluster_bootstrap_coverage_is_close_to_nominal():
    """Simulated clustered data with a known mean difference: ~95% of the intervals cover it."""
    rng = np.random.default_rng(5)
    true = 0.1
    covered = 0
    reps = 300
    for r in range(reps):
        g = 60
        sizes = rng.integers(1, 6, size=g)
        effects = rng.normal(true, 0.5, size=g)
        d = np.concatenate([rng.normal(e, 0.3, size=s) for e, s in zip(effects, sizes)])
        # the estimand of the ratio estimator is the item-weighted mean; with cluster effects
        # independent of size it equals `true`
        cl = np.repeat(np.arange(g), sizes).astype(str)
        b = paired_cluster_bootstrap(d, list(cl), n_boot=400, seed=r)
        covered += b.ci_low <= true <= b.ci_high
    assert 0.91 <= covered / reps <= 0.985


def test_bootstrap_is_deterministic_and_chunking_does_not_change_it():
    rng = np.random.default_rng(0)
    d, clusters = _clustered_binary_diffs(rng, 300)
    a = paired_cluster_bootstrap(d, clusters, n_boot=1000, seed=42)
    b = paired_cluster_bootstrap(d, clusters, n_boot=1000, seed=42, max_cells=1000)  # 3 draws per chunk
    assert (a.ci_low, a.ci_high, a.se) == (b.ci_low, b.ci_high, b.se)
    c = paired_cluster_bootstrap(d, clusters, n_boot=1000, seed=43)
    assert (c.ci_low, c.ci_high) != (a.ci_low, a.ci_high)


def test_bootstrap_degenerate_inputs():
    assert paired_cluster_bootstrap([], None).estimate is None
    one = paired_cluster_bootstrap([-1.0, -1.0], ["v", "v"])
    assert one.n_clusters == 1 and one.ci_low is None and one.ci_high is None and one.estimate == -1.0
    zero = paired_cluster_bootstrap([0.0] * 50, [f"v{i % 10}" for i in range(50)])
    assert zero.ci_low == 0.0 and zero.ci_high == 0.0
    with pytest.raises(ValueError):
        paired_cluster_bootstrap([1.0, 2.0], ["a"])


def test_small_sample_correction_is_the_cr1_factor():
    rng = np.random.default_rng(1)
    d = rng.normal(size=40)
    cl = [f"v{i % 8}" for i in range(40)]
    plain = paired_cluster_bootstrap(d, cl, n_boot=3000, seed=9, small_sample_correction=False)
    corr = paired_cluster_bootstrap(d, cl, n_boot=3000, seed=9)
    assert corr.se == pytest.approx(plain.se * math.sqrt(8 / 7), rel=1e-9)
    assert corr.ci_low < plain.ci_low and corr.ci_high > plain.ci_high


# --------------------------------------------------------------------------- decision


@pytest.mark.parametrize("lo,hi,expected", [
    (-0.005, 0.02, "pass"),
    (-0.01, 0.01, "pass"),          # lower bound exactly at -margin: non-inferior
    (-0.03, 0.005, "inconclusive"),
    (-0.05, -0.01, "inconclusive"),  # upper bound not strictly below -margin
    (-0.05, -0.0101, "regression"),
    (0.02, 0.05, "pass"),           # improvements never fail
    (None, None, "inconclusive"),
])
def test_noninferiority_decision(lo, hi, expected):
    assert noninferiority_decision(lo, hi, 0.01) == expected


def test_samples_needed_formula_resolves_the_margin():
    n, est, lo, hi, m = 400, -0.004, -0.03, 0.022, 0.01
    need = samples_needed(n, est, lo, hi, m)
    # shrinking the observed interval by sqrt(n / need) puts its lower bound at -margin
    assert need == math.ceil(n * ((est - lo) / (est + m)) ** 2)
    assert est - (est - lo) * math.sqrt(n / need) >= -m - 1e-12
    assert est - (est - lo) * math.sqrt(n / (need - 1)) < -m
    # estimate below the margin: it is the upper side that must shrink
    need2 = samples_needed(400, -0.02, -0.04, -0.005, 0.01)
    assert need2 == math.ceil(400 * (0.015 / 0.01) ** 2)
    assert samples_needed(400, -0.01, -0.03, 0.01, 0.01) is None  # estimate on the margin
    assert samples_needed(100, 0.0, -0.0100001, 0.01, 0.01) >= 101


def test_cohen_kappa_values():
    from mosseval.stats import cohen_kappa

    assert cohen_kappa([True, True, False, False], [True, False, False, False]) == pytest.approx(0.5)
    assert cohen_kappa([True, False], [True, False]) == pytest.approx(1.0)
    assert cohen_kappa([True, True], [True, True]) is None  # chance agreement is 1: undefined
    assert cohen_kappa([], []) is None


def test_pearson_matches_scipy():
    from scipy.stats import pearsonr

    from mosseval.stats import pearson

    x, y = [1.0, 2.0, 4.0, 3.0, 8.0], [2.0, 1.0, 5.0, 4.0, 9.5]
    assert pearson(x, y) == pytest.approx(pearsonr(x, y)[0], abs=1e-12)
    assert pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) is None and pearson([1.0, 2.0], [2.0, 1.0]) is None


def test_z_tests_match_scipy():
    from scipy.stats import norm

    from mosseval.records import Estimate
    from mosseval.stats import Z95, normal_two_sided_p, paired_z, se_from_estimate, unpaired_z

    assert normal_two_sided_p(0.03, 0.01) == pytest.approx(2 * norm.sf(3.0), rel=1e-12)
    assert normal_two_sided_p(0.0, 0.0) == 1.0 and normal_two_sided_p(0.1, 0.0) == 0.0
    d = [0.1, -0.05, 0.2, 0.0, 0.15, 0.05]
    m, p = paired_z(d)
    sd = np.std(d, ddof=1)
    assert m == pytest.approx(np.mean(d)) and p == pytest.approx(2 * norm.sf(np.mean(d) / (sd / np.sqrt(6))))
    a = Estimate(value=0.70, ci_low=0.70 - Z95 * 0.02, ci_high=0.70 + Z95 * 0.02, n=500)
    b = Estimate(value=0.64, ci_low=0.64 - Z95 * 0.03, ci_high=0.64 + Z95 * 0.03, n=500)
    assert se_from_estimate(a) == pytest.approx(0.02)
    assert unpaired_z(a, b) == pytest.approx(2 * norm.sf(0.06 / np.hypot(0.02, 0.03)))
    # no interval: the binomial SE, floored so 0 % / 100 % are not certain
    assert se_from_estimate(Estimate(value=1.0, n=100)) == pytest.approx(np.sqrt(0.25 / 100 / 100))
