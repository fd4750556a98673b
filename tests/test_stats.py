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
    whole = paired_cluster_bootstrap(d, clusters, n_boot=1000, seed=42, max_cells=10**9)  # one chunk
    assert (a.ci_low, a.ci_high, a.se) == (whole.ci_low, whole.ci_high, whole.se)
    c = paired_cluster_bootstrap(d, clusters, n_boot=1000, seed=43)
    assert (c.ci_low, c.ci_high) != (a.ci_low, a.ci_high)


def _reference_bootstrap(d, clusters, n_boot, seed, alpha=0.05, max_cells=2_000_000):
    """The published algorithm written plainly: one (k, G) draw per chunk, fancy-indexed sums."""
    from mosseval.stats import cluster_codes

    d = np.asarray(d, dtype=np.float64)
    codes, g = cluster_codes(clusters, d.size)
    sums = np.bincount(codes, weights=d, minlength=g)
    counts = np.bincount(codes, minlength=g).astype(np.float64)
    est, rng, reps = float(d.mean()), np.random.default_rng(seed), np.empty(n_boot)
    chunk = max(1, max_cells // g)
    for start in range(0, n_boot, chunk):
        k = min(chunk, n_boot - start)
        idx = rng.integers(0, g, size=(k, g))
        reps[start:start + k] = sums[idx].sum(axis=1) / counts[idx].sum(axis=1)
    reps = est + math.sqrt(g / (g - 1)) * (reps - est)
    lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi), float(reps.std(ddof=1))


@pytest.mark.parametrize("per_cluster", [2, None])
@pytest.mark.parametrize("binary", [True, False])
def test_bootstrap_equals_the_plain_algorithm_bit_for_bit(per_cluster, binary):
    """The gathers in row blocks (and the constant item count of equal clusters) change no bit."""
    rng = np.random.default_rng(5)
    n = 6000
    d = rng.integers(-1, 2, n).astype(float) if binary else rng.random(n) - rng.random(n)
    clusters = [f"v{i // per_cluster}" if per_cluster else f"v{rng.integers(n // 3)}" for i in range(n)]
    b = paired_cluster_bootstrap(list(d), clusters, n_boot=300, seed=[0, 7])
    assert (b.ci_low, b.ci_high, b.se) == _reference_bootstrap(d, clusters, 300, [0, 7])


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


# --------------------------------------------------------------------------- intervals of one mean
#
# mean_ci: CR2 variance, Bell-McCaffrey / Imbens-Kolesar degrees of freedom, logit-scale t interval
# for proportions (see the module docstring). Checked against SciPy and explicit matrix algebra,
# then by simulated coverage over a grid of cluster counts and accuracies.

from mosseval.stats import (  # noqa: E402
    bell_mccaffrey_df,
    cluster_totals,
    cr2_variance,
    first_seen_codes,
    interval_from_totals,
    mean_ci,
    mean_cis,
    mean_cis_at,
    t_quantile,
)


@pytest.mark.parametrize("df", [0.7, 1.0, 1.3, 2.0, 3.5, 7.0, 19.0, 59.0, 250.0, 1e4])
@pytest.mark.parametrize("q", [0.975, 0.995, 0.6, 0.025])
def test_t_quantile_matches_scipy(df, q):
    assert t_quantile(q, df) == pytest.approx(scipy_stats.t.ppf(q, df), rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("q, df, want", [
    (0.975, 118.99999999999957, 1.980099876456944),  # degrees of freedom of a real `score` of 240 samples
    (0.975, 26.820506182976015, 2.052473227452307),
    (0.975, 10778.508820654895, 1.9601841015473014),
    (0.975, 1.0, 12.706204736174696),
    (0.995, 2.5, 7.163728138948781),
    (0.6, 0.7, 0.3560313652346798),
])
def test_t_quantile_bits_are_stable(q, df, want):
    """The quantiles printed by the implementation before its continued fraction was streamlined (issue 16):
    results hold these intervals, so the same bits, not just the same 1e-7."""
    assert t_quantile(q, df) == want


def _betacf_textbook(a, b, x):
    """The modified Lentz continued fraction step by step, each coefficient computed where it is used (the form
    before the coefficients were cached and walked in blocks)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if d > tiny or d < -tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if d > tiny or d < -tiny else tiny)
        c = 1.0 + aa / c
        c = c if c > tiny or c < -tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if d > tiny or d < -tiny else tiny)
        c = 1.0 + aa / c
        c = c if c > tiny or c < -tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def test_continued_fraction_has_the_textbook_bits():
    """``_betacf`` walks cached coefficients and makes more a block at a time (shared across a quantile's Newton
    steps): over 4,000 random (a, b, x), fresh and with one cache reused across many x, and where it runs to
    its 399-step cap, the bits of the step-by-step form."""
    import random

    from mosseval.stats import _betacf

    rng = random.Random(12)
    for _ in range(4000):
        a, b = 10 ** rng.uniform(-1.5, 3), rng.choice([0.5, 10 ** rng.uniform(-1.5, 3)])
        shared: list = []
        for x in [rng.random() for _ in range(rng.randint(1, 4))] + [rng.uniform(0.9, 1.0)]:
            want = _betacf_textbook(a, b, x)
            assert _betacf(a, b, x) == want and _betacf(a, b, x, shared) == want, (a, b, x)
    capped: list = []
    assert _betacf(1e6, 1e6, 0.5, capped) == _betacf_textbook(1e6, 1e6, 0.5) and len(capped) == 399  # the cap


def _t_quantile_by_cdf(q, df):
    """t_quantile's Newton iteration on ``t_cdf`` and ``_t_pdf`` themselves (the implementation before the
    log-gamma terms and the continued fraction's coefficients were computed once per quantile)."""
    from mosseval.stats import _newton_t, _t_pdf, t_cdf

    if q < 0.5:
        return -_t_quantile_by_cdf(1.0 - q, df)
    return _newton_t(q, df, lambda x: t_cdf(x, df), lambda x: _t_pdf(x, df))


def test_t_quantile_has_the_bits_of_newton_on_t_cdf():
    """Over 3,000 real degrees of freedom (0.3 to 10^6, log-uniform, and near-integers as equal cluster
    sizes give) and levels (0.975 most, as every interval uses): the same bits as Newton's method on
    ``t_cdf`` / ``_t_pdf``."""
    import random

    rng = random.Random(16)
    cases = [(0.975, 10 ** rng.uniform(-0.5, 6)) for _ in range(2000)]
    cases += [(rng.choice([0.6, 0.9, 0.995, 0.025, 0.7]), 10 ** rng.uniform(-0.5, 4)) for _ in range(700)]
    cases += [(0.975, k - 4e-14 * k) for k in range(2, 302)]
    for q, df in cases:
        assert t_quantile(q, df) == _t_quantile_by_cdf(q, df), (q, df)


def test_mean_cis_has_the_bits_of_mean_ci_on_each_group():
    """The batched means (a task's accuracy, PRRs and breakdown groups at once; given as groups, or as subsets
    of one set of items) write the same JSON as one mean_ci a group, over 400 random tasks (1 to 1,000 items, one to n clusters, sorted or shuffled, all
    right / all wrong / mixed, binary and real values, random subsets down to empty and single items)."""
    import random

    rng = random.Random(16)
    n_groups = 0
    for _ in range(400):
        n = rng.choice([1, 2, 3, 5, 10, 40, 240, 1000])
        n_cl = max(1, int(n / rng.choice([1, 1.5, 2, 3, 10, n])))
        labels = [f"v{rng.randrange(n_cl)}" for _ in range(n)]
        if rng.random() < 0.5:
            labels.sort(key=lambda label: int(label[1:]))
        codes = first_seen_codes(labels)
        p = rng.choice([0.0, 1.0, rng.random()])
        correct = [1.0 if rng.random() < p else 0.0 for _ in range(n)]
        prr = [rng.choice([0.0, 1.0, rng.random(), round(rng.random(), 2)]) for _ in range(n)]
        groups = [(correct, codes, True), (prr, codes, False)]
        kept = []
        for _ in range(rng.randint(0, 8)):
            idx = sorted(rng.sample(range(n), rng.randint(0, n)))
            groups += [(np.asarray(correct)[idx], codes[idx], True), ([prr[i] for i in idx], codes[idx], False)]
            kept += [(idx, True), (idx, False)]
        want = [mean_ci(v, c, binary=b).model_dump_json() for v, c, b in groups]
        assert [e.model_dump_json() for e in mean_cis(groups)] == want
        # a group alone: every sum is a single column (numpy would add it pairwise; see stats._column_sums)
        assert [mean_cis([g])[0].model_dump_json() for g in groups[:2]] == want[:2]
        # the same subsets given as positions in one set of items (the task's correctness and PRR columns)
        values = np.asarray(correct + prr)
        both = np.concatenate([codes, codes])
        subsets = [(range(n), True), (range(n, 2 * n), False)] + [
            ([i + (n if not b else 0) for i in ix], b) for ix, b in kept]
        assert [e.model_dump_json() for e in mean_cis_at(values, both, subsets)] == want
        n_groups += len(groups)
    assert n_groups > 3000
    assert mean_cis([]) == []
    assert mean_cis([([], np.array([], dtype=np.intp), True)])[0] == mean_ci([], [])
    assert mean_cis_at(np.zeros(3), np.zeros(3, dtype=np.intp), [([], False)]) == [mean_ci([], [])]


def _membership(sizes):
    return np.repeat(np.arange(len(sizes)), sizes)


def test_cr2_variance_is_the_bias_reduced_sandwich():
    """(X'X)^-1 sum_g X_g' A_g e_g e_g' A_g X_g (X'X)^-1 with A_g = (I - H_gg)^(-1/2), X = 1."""
    rng = np.random.default_rng(3)
    sizes = [1, 4, 2, 7, 1, 3]
    y = rng.random(sum(sizes))
    e = y - y.mean()
    n = len(y)
    total = 0.0
    start = 0
    for m in sizes:
        h = np.full((m, m), 1.0 / n)
        w, v = np.linalg.eigh(np.eye(m) - h)
        a = v @ np.diag(w ** -0.5) @ v.T
        u = np.ones(m) @ a @ e[start:start + m]
        total += u * u
        start += m
    sums = [float(e_.sum()) for e_ in np.split(y, np.cumsum(sizes)[:-1])]
    assert cr2_variance(sums, sizes, float(y.mean())) == pytest.approx(total / n ** 2, rel=1e-12)


@pytest.mark.parametrize("sizes,rho", [([3] * 20, 0.0), ([3] * 20, 0.4), ([1, 1, 1, 30, 2, 2], 0.0),
                                       ([1, 5, 2, 9, 1, 1, 4, 12, 3], 0.3), ([2, 2, 1], 0.9)])
def test_bell_mccaffrey_df_matches_the_eigenvalue_definition(sizes, rho):
    n = sum(sizes)
    g = _membership(sizes)
    x = np.ones((n, 1))
    hat = x @ x.T / n
    omega = np.zeros((n, n))
    cols = []
    for k, m in enumerate(sizes):
        idx = np.where(g == k)[0]
        omega[np.ix_(idx, idx)] = (1 - rho) * np.eye(m) + rho
        w, v = np.linalg.eigh(np.eye(m) - hat[np.ix_(idx, idx)])
        a = v @ np.diag(w ** -0.5) @ v.T
        col = (np.eye(n) - hat)[:, idx] @ a @ x[idx] / n
        cols.append(col[:, 0])
    wmat = np.stack(cols, axis=1)
    lam = np.linalg.eigvalsh(wmat.T @ omega @ wmat)
    expected = lam.sum() ** 2 / (lam ** 2).sum()
    assert bell_mccaffrey_df(sizes, rho) == pytest.approx(expected, rel=1e-9)
    if len(set(sizes)) == 1:
        assert bell_mccaffrey_df(sizes, rho) == pytest.approx(len(sizes) - 1)


def test_mean_ci_edge_cases_and_labels():
    assert mean_ci([]).value is None
    allright = mean_ci([1.0] * 12, [f"v{i // 3}" for i in range(12)], binary=True)
    assert allright.ci_high == 1.0 and 0.3 < allright.ci_low < 0.95 and allright.method.startswith("wilson-t")
    allwrong = mean_ci([0.0] * 12, [f"v{i // 3}" for i in range(12)], binary=True)
    assert allwrong.ci_low == 0.0 and 0.05 < allwrong.ci_high < 0.7
    one = mean_ci([1.0, 0.0, 1.0], ["v", "v", "v"], binary=True)
    assert one.n_clusters == 1 and one.method == "wilson-t(single cluster)" and 0 < one.ci_low < one.ci_high < 1
    est = mean_ci([1, 0, 1, 1, 1, 0, 1, 1], [f"v{i // 2}" for i in range(8)], binary=True)
    assert est.method.startswith("logit-t+cr2(df=") and est.n_clusters == 4 and est.ci_low < 0.75 < est.ci_high
    lone = mean_ci([0.3, 0.5], ["v", "v"])
    assert (lone.ci_low, lone.ci_high, lone.method) == (None, None, "none (single cluster)")
    cont = mean_ci([0.2, 0.4, 0.9, 0.5], None)
    assert cont.method == "t+iid(df=3.0)"
    half = t_quantile(0.975, 3.0) * np.std([0.2, 0.4, 0.9, 0.5], ddof=1) / 2
    assert cont.ci_high - cont.value == pytest.approx(half) and cont.ci_low == pytest.approx(0.5 - half)


def test_clustering_widens_the_interval_and_never_narrows_it_below_binomial():
    vals = [1.0] * 30 + [0.0] * 10
    iid = mean_ci(vals, None, binary=True)
    clustered = mean_ci(vals, ["a"] * 15 + ["b"] * 15 + ["c"] * 5 + ["d"] * 5, binary=True)
    assert clustered.ci_high - clustered.ci_low > iid.ci_high - iid.ci_low
    # perfectly balanced clusters (zero between-cluster variance) still get the binomial width
    spread = mean_ci([1.0, 0.0] * 20, [f"v{i // 2}" for i in range(40)], binary=True)
    assert spread.ci_high - spread.ci_low >= mean_ci([1.0, 0.0] * 20, None, binary=True).ci_high - \
        mean_ci([1.0, 0.0] * 20, None, binary=True).ci_low - 1e-9


def _clustered_accuracy(rng, reps: int, g: int, acc: float, kappa: float):
    """Per-cluster (correct, size) for ``reps`` simulated runs: uneven cluster sizes (lognormal,
    median ~3, some clusters of 15-30 items), per-video accuracy ~ Beta(acc*kappa, (1-acc)*kappa)
    (intra-video correlation 1 / (1 + kappa)), items Bernoulli given their video."""
    sizes = np.maximum(1, np.round(rng.lognormal(1.0, 0.8, (reps, g)))).astype(int)
    p = rng.beta(acc * kappa, (1 - acc) * kappa, (reps, g))
    return rng.binomial(sizes, p), sizes


def _coverage(g: int, acc: float, kappa: float, reps: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    y, sizes = _clustered_accuracy(rng, reps, g, acc, kappa)
    hits = 0
    for r in range(reps):
        lo, hi, _ = interval_from_totals(y[r].tolist(), sizes[r].tolist(), binary=True)
        hits += lo <= acc <= hi
    return hits / reps


def test_coverage_at_sixty_uneven_clusters_and_accuracy_0_9():
    """The setting where the previous interval (CR1 design effect + normal Wilson) covered ~89-91 %,
    through the public mean_ci on item lists, with a strong per-video effect (ICC 0.25)."""
    rng = np.random.default_rng(2026)
    y, sizes = _clustered_accuracy(rng, 1500, 60, 0.9, 3.0)
    hits = 0
    for r in range(1500):
        vals: list[float] = []
        cl: list[str] = []
        for k, (c, m) in enumerate(zip(y[r], sizes[r])):
            vals += [1.0] * int(c) + [0.0] * int(m - c)
            cl += [f"video{k}"] * int(m)
        e = mean_ci(vals, cl, binary=True)
        hits += e.ci_low <= 0.9 <= e.ci_high
    assert hits / 1500 >= 0.94


def test_cluster_totals_match_item_lists():
    sums, sizes = cluster_totals([1, 0, 1, 1, 0], ["b", "a", "b", "c", "a"])
    assert (sums, sizes) == ([2.0, 0.0, 1.0], [2, 2, 1])
    with pytest.raises(ValueError):
        cluster_totals([1.0], ["a", "b"])


FAST_GRID = [(g, acc) for g in (10, 30, 60, 120) for acc in (0.5, 0.9, 0.95)]


@pytest.mark.parametrize("g,acc", FAST_GRID)
def test_coverage_fast_grid(g, acc):
    """Fast version of the coverage grid (600 runs per cell, ICC 0.2): within Monte-Carlo error
    of 95 % (the slow test below asserts >= 94 % with 4,000 runs per cell)."""
    assert _coverage(g, acc, 4.0, 600, seed=g * 1000 + int(acc * 100)) >= 0.925


@pytest.mark.slow
@pytest.mark.parametrize("kappa", [3.0, 4.0, 9.0])
@pytest.mark.parametrize("g", [10, 20, 40, 60, 120, 240])
def test_coverage_grid(g, kappa):
    """>= 94 % coverage of the 95 % interval at accuracies {0.5, 0.7, 0.9, 0.95}, 4,000 runs each, for
    intra-video correlation 0.1 and 0.2 (kappa 9, 4) and 0.25 (kappa 3) up to accuracy 0.9. At 0.25 and
    accuracy 0.95 the per-video accuracies are U-shaped (a few videos fail completely) and coverage
    measured 93.7 % at 120 clusters: the documented limit, asserted >= 93 %."""
    for acc in (0.5, 0.7, 0.9, 0.95):
        cov = _coverage(g, acc, kappa, 4000, seed=g * 1000 + int(acc * 100) + int(kappa))
        floor = 0.93 if (kappa == 3.0 and acc == 0.95) else 0.94
        assert cov >= floor, (g, acc, kappa, cov)


# --------------------------------------------------------------------------- correlation

from mosseval.stats import correlation  # noqa: E402


def test_correlation_matches_scipy_and_handles_ties():
    rng = np.random.default_rng(4)
    x = np.round(rng.random(80), 1)  # many ties
    y = x + rng.normal(0, 0.4, 80)
    cl = [f"v{i // 4}" for i in range(80)]
    p = correlation(x, y, cl)
    s = correlation(x, y, cl, method="spearman")
    assert p.value == pytest.approx(scipy_stats.pearsonr(x, y)[0], rel=1e-12)
    assert s.value == pytest.approx(scipy_stats.spearmanr(x, y)[0], rel=1e-12)
    assert p.ci_low < p.value < p.ci_high and p.n == 80 and p.n_clusters == 20
    assert p.method == "pearson+cluster-bootstrap" and s.method == "spearman+cluster-bootstrap"
    assert correlation(x, y, cl) == p  # seeded: deterministic


def test_correlation_interval_respects_clusters():
    """Whole videos that agree inflate a naive interval's confidence: the cluster bootstrap is wider."""
    rng = np.random.default_rng(8)
    base = rng.normal(size=25)
    x = np.repeat(base, 6) + rng.normal(0, 0.1, 150)
    y = np.repeat(base * 0.3 + rng.normal(size=25), 6) + rng.normal(0, 0.1, 150)
    cl = [f"v{i // 6}" for i in range(150)]
    clustered = correlation(x, y, cl)
    naive = correlation(x, y, None)
    assert clustered.value == pytest.approx(naive.value)
    assert clustered.ci_high - clustered.ci_low > 1.5 * (naive.ci_high - naive.ci_low)


def test_correlation_degenerate_inputs():
    assert correlation([1.0] * 5, [1, 2, 3, 4, 5]).value is None  # e.g. an oracle's PRR of 1.0 everywhere
    assert correlation([0.1, 0.2], [0.3, 0.1]).value is None  # fewer than 3 items
    two = correlation([0.1, 0.5, 0.9, 0.2], [0.2, 0.6, 0.8, 0.1], ["a", "a", "b", "b"])
    assert two.value is not None and two.ci_low is None  # no interval below 3 clusters
    with pytest.raises(ValueError):
        correlation([1, 2, 3], [1, 2])
    with pytest.raises(ValueError):
        correlation([1, 2, 3], [1, 2, 3], method="kendall")


def test_cluster_totals_are_the_plain_loops_sums_bit_for_bit():
    from mosseval.stats import cluster_totals

    rng = np.random.default_rng(5)
    values = list(rng.normal(0, 1e6, 5000) * rng.random(5000))  # sums that depend on the order of the adds
    clusters = [f"c{x}" for x in rng.integers(0, 700, 5000)]
    sums, sizes, index = [], [], {}
    for v, c in zip(values, clusters):
        if c not in index:
            index[c] = len(sums)
            sums.append(0.0)
            sizes.append(0)
        sums[index[c]] += float(v)
        sizes[index[c]] += 1
    got = cluster_totals(values, clusters)
    assert got == (sums, sizes) and all(type(x) is float for x in got[0]) and all(type(x) is int for x in got[1])
    assert cluster_totals([True, False], ["a", "a"]) == ([1.0], [2]) and cluster_totals([], []) == ([], [])


def _plain_interval_parts(sums, sizes, mean, item_var, rho):
    """The per-cluster loops the numpy kernels replaced (CR2 variance, ICC moments, Bell-McCaffrey df)."""
    import math

    n = float(sum(sizes))
    total = 0.0
    for y, m in zip(sums, sizes):
        s = y - m * mean
        total += s * s / (1.0 - m / n) ** 1
    var = total / (n * n)
    between = sum((y - m * mean) ** 2 for y, m in zip(sums, sizes))
    pairs = sum(m * (m - 1) for m in sizes)
    icc = min(max((between - item_var * sum(sizes)) / (item_var * pairs), 0.0), 0.99)
    tr = tr_u = tr_uw = tr_ww = tr_d2 = tr_du_w = tr_du_u = s_tot = 0.0
    rows = []
    for m in sizes:
        a = m / n
        d = 1.0 - a
        ne = m * (1.0 + rho * (m - 1))
        s_tot += ne
        rows.append((a / math.sqrt(d), ne / math.sqrt(d), ne / d))
    for u, w, dg in rows:
        tr_u += u * u
        tr_uw += u * w
        tr_ww += w * w
        tr_d2 += dg * dg
        tr_du_w += dg * u * w
        tr_du_u += dg * u * u
        tr += dg
    return var, icc, (tr, tr_u, tr_uw, tr_ww, tr_d2, tr_du_w, tr_du_u, s_tot)


def test_interval_kernels_are_the_plain_loops_bit_for_bit():
    """CR2 variance, ICC and df are computed with numpy (sequential sums, the C library's pow): the same
    floats as the plain loops they replaced, so every stored interval stays byte-identical."""
    from mosseval import stats

    rng = np.random.default_rng(11)
    for trial in range(30):
        g = int(rng.integers(2, 3000))
        sizes = [int(x) for x in rng.integers(1, 30, g)]
        # binary-like sums (ties in x*x vs pow(x, 2) are most likely with few significant bits) and real ones
        sums = [float(rng.integers(0, m + 1)) if trial % 2 else float(rng.normal(0, 3) * m) for m in sizes]
        mean = sum(sums) / float(sum(sizes))
        item_var = 0.2 + trial / 100
        rho = float(rng.random() * 0.9)
        var, icc, _ = _plain_interval_parts(sums, sizes, mean, item_var, rho)
        assert stats.cr2_variance(sums, sizes, mean) == var
        assert stats.icc_moments(sums, sizes, mean, item_var) == icc
        assert stats._sum(np.asarray(sums)) == sum(sums)
        vals = list(rng.normal(0, 1, g))
        m = sum(vals) / g
        assert stats._sum(stats._pow(np.asarray(vals) - m, 2.0)) == sum((v - m) ** 2 for v in vals)
    # the df from the traces of the plain loop
    sizes = [1, 2, 2, 3, 9, 1, 4, 4, 7, 30, 2]
    _, _, (tr, tr_u, tr_uw, tr_ww, tr_d2, tr_du_w, tr_du_u, s_tot) = _plain_interval_parts(
        [1.0] * len(sizes), sizes, 0.5, 0.25, 0.3)
    a11, a12, a21, a22 = tr_u * s_tot - tr_uw, -tr_u, tr_uw * s_tot - tr_ww, -tr_uw
    tr_m = tr - 2.0 * tr_uw + s_tot * tr_u
    tr_m2 = tr_d2 + (a11 * a11 + 2.0 * a12 * a21 + a22 * a22) + 2.0 * (-2.0 * tr_du_w + s_tot * tr_du_u)
    assert stats.bell_mccaffrey_df(sizes, 0.3) == max(1.0, tr_m * tr_m / tr_m2)


def test_mean_ci_of_a_subset_of_codes_equals_that_of_its_labels():
    """``aggregate`` numbers the clusters once and passes subsets of the numbers: renumbered in order of
    first appearance within the subset, they give the estimates of the labels themselves, bit for bit."""
    from mosseval.stats import first_seen_codes, mean_ci

    rng = np.random.default_rng(3)
    labels = [f"v{x}" for x in rng.integers(0, 400, 3000)]
    values = list(rng.random(3000))
    codes = first_seen_codes(labels)
    assert list(codes[:3]) == [0, 1, 2] or len(set(labels[:3])) < 3
    assert [labels.index(labels[i]) for i in range(50)] == [int(np.flatnonzero(codes == codes[i])[0]) for i in range(50)]
    for idx in ([], [5], list(range(0, 3000, 7)), list(rng.permutation(3000)[:900])):
        sub = [labels[i] for i in idx]
        vals = [values[i] for i in idx]
        assert mean_ci(vals, codes[np.asarray(idx, dtype=int)]) == mean_ci(vals, sub)
        assert mean_ci([v > 0.5 for v in vals], codes[np.asarray(idx, dtype=int)], binary=True) == \
            mean_ci([v > 0.5 for v in vals], sub, binary=True)


def test_mean_cis_sums_the_cluster_quantities_one_at_a_time_with_the_same_bits(monkeypatch):
    """Past ``_PADDED_CELLS`` (a run of many clusters and groups) the eight Bell-McCaffrey quantities are summed one
    padded matrix at a time (an eighth of the memory): every interval is the one the wide matrix gives."""
    import random

    from mosseval import stats

    rng = random.Random(7)
    for _ in range(60):
        n = rng.choice([2, 5, 40, 240, 1000])
        labels = [f"v{rng.randrange(max(1, n // rng.choice([1, 2, 5])))}" for _ in range(n)]
        codes = first_seen_codes(labels)
        values = [rng.choice([0.0, 1.0, rng.random()]) for _ in range(n)]
        correct = [1.0 if rng.random() < 0.6 else 0.0 for _ in range(n)]
        groups = [(correct, codes, True), (values, codes, False)]
        for _ in range(rng.randint(0, 6)):
            idx = sorted(rng.sample(range(n), rng.randint(1, n)))
            groups.append(([values[i] for i in idx], codes[idx], rng.random() < 0.5))
        wide = [e.model_dump_json() for e in mean_cis(groups)]
        monkeypatch.setattr(stats, "_PADDED_CELLS", 0)
        assert [e.model_dump_json() for e in mean_cis(groups)] == wide
        monkeypatch.undo()
