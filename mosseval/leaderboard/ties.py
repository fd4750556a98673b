"""Leaders, the "statistically tied with the leader" tests, and the overall (macro-mean) column.

All tests come from :mod:`mosseval.stats`: exact McNemar on paired per-sample outcomes (accuracy), a
paired z-test on per-sample PRR differences, and an unpaired z-test with each side's standard error taken
from its cluster-aware 95 % interval when the runs do not share enough samples.
"""

from __future__ import annotations

import math

from mosseval.leaderboard.entries import OutcomeColumn, Outcomes
from mosseval.leaderboard.records import Cell, JudgeHeadline, TieTest
from mosseval.records import Estimate
from mosseval.stats import Z95, mcnemar_exact, normal_two_sided_p, paired_z, se_from_estimate, unpaired_z

ALPHA = 0.05
"""Significance level of the "tied with the leader" tests."""
PAIRED_MIN_OVERLAP = 0.5
"""A paired test is used when the two runs share at least this share of the smaller run's samples."""
METRICS = ("accuracy", "prr")

TIE_TESTS = {
    "accuracy": "exact McNemar on per-sample discordant pairs (paired); unpaired z-test with SEs from each "
                "run's cluster-aware 95% CI otherwise",
    "prr": "paired z-test on per-sample PRR differences; unpaired z-test otherwise",
    "overall": "paired z-test on the macro-mean of per-column paired differences; unpaired z otherwise",
}


def _estimate(cell: Cell, metric: str) -> Estimate | None:
    return cell.accuracy if metric == "accuracy" else cell.prr


def paired_values(a: OutcomeColumn, b: OutcomeColumn, n_a: int, n_b: int) -> list[tuple[float, float]] | None:
    """(a, b) values of the items both runs have (in the order of the run with fewer items), when they share
    enough of them."""
    if not len(a) or not len(b):
        return None
    small, big = (a, b) if len(a) <= len(b) else (b, a)
    if small.ids is big.ids or small.ids == big.ids:  # the same items in the same order (the usual case)
        common = list(range(len(small)))
        at_big = common
    else:
        where = {k: i for i, k in enumerate(big.ids)}
        common = [i for i, k in enumerate(small.ids) if k in where]
        at_big = [where[small.ids[i]] for i in common]
    need = PAIRED_MIN_OVERLAP * max(1, min(n_a or len(a), n_b or len(b)))
    if not common or len(common) < need:
        return None
    sv, bv = small.values, big.values
    if small is a:
        return [(sv[i], bv[j]) for i, j in zip(common, at_big)]
    return [(bv[j], sv[i]) for i, j in zip(common, at_big)]


def tie_test(metric: str, leader: tuple[Cell, Outcomes], other: tuple[Cell, Outcomes]) -> TieTest:
    """Is ``other`` statistically indistinguishable from ``leader`` on ``metric``?"""
    le, oe = _estimate(leader[0], metric), _estimate(other[0], metric)
    if le is None or oe is None or le.value is None or oe.value is None:
        return TieTest()
    diff = oe.value - le.value
    pairs = paired_values(leader[1].of(metric), other[1].of(metric), le.n, oe.n)
    if pairs is not None and metric == "accuracy":
        b = sum(1 for x, y in pairs if x >= 0.5 > y)
        c = sum(1 for x, y in pairs if y >= 0.5 > x)
        p = mcnemar_exact(b, c)
        return TieTest(tied=p >= ALPHA, test="mcnemar-exact", p_value=p, n_paired=len(pairs), discordant=(b, c),
                       diff=diff)
    if pairs is not None:
        _, p = paired_z([y - x for x, y in pairs])
        return TieTest(tied=None if p is None else p >= ALPHA, test="paired-z", p_value=p, n_paired=len(pairs),
                       diff=diff)
    p = unpaired_z(le, oe)
    if p is None:
        return TieTest(diff=diff)
    return TieTest(tied=p >= ALPHA, test="unpaired-z", p_value=p, diff=diff)


def leader_of(values: dict[int, Estimate | None]) -> int | None:
    """The run index with the highest value (then more items, then the earlier run)."""
    cands = [i for i, e in values.items() if e is not None and e.value is not None]
    if not cands:
        return None
    return max(cands, key=lambda i: (values[i].value, values[i].n, -i))  # type: ignore[union-attr]


def apply_ties(cells: list[dict[str, tuple[Cell, Outcomes]]], column_ids: list[str]) -> dict[str, dict[str, int]]:
    """Mark leaders and tie tests in every column; returns column id -> metric -> leader run index."""
    leaders: dict[str, dict[str, int]] = {}
    for cid in column_ids:
        holders = [i for i, c in enumerate(cells) if cid in c]
        for metric in METRICS:
            values = {i: _estimate(cells[i][cid][0], metric) for i in holders}
            lead = leader_of(values)
            if lead is None:
                continue
            leaders.setdefault(cid, {})[metric] = lead
            for i in holders:
                if values.get(i) is None:
                    continue
                cell = cells[i][cid][0]
                cell.tie[metric] = (TieTest(leader=True, tied=True) if i == lead
                                    else tie_test(metric, cells[lead][cid], cells[i][cid]))
    return leaders


# --------------------------------------------------------------------------- overall


def overall_cell(cells: dict[str, tuple[Cell, Outcomes]], cols: list[str]) -> Cell | None:
    """The unweighted mean of the listed columns (None unless the run has accuracy in all of them)."""
    if not cols or not all(c in cells and cells[c][0].accuracy for c in cols):
        return None
    if len(cols) == 1:  # one shared column: the overall *is* that column (same estimate, same tie test)
        src = cells[cols[0]][0]
        return Cell(n=src.n, accuracy=src.accuracy, prr=src.prr, format_rate=src.format_rate,
                    parse_failure_rate=src.parse_failure_rate, error_rate=src.error_rate,
                    judge_primary=src.judge_primary, approximate=src.approximate, tie=dict(src.tie))
    out = Cell(n=sum(cells[c][0].n for c in cols), approximate=any(cells[c][0].approximate for c in cols))
    for metric in METRICS:
        ests = [e for e in (_estimate(cells[c][0], metric) for c in cols) if e is not None and e.value is not None]
        if not ests or (metric == "accuracy" and len(ests) != len(cols)):
            continue
        k = len(ests)
        mean = sum(e.value for e in ests) / k  # type: ignore[misc]
        ses = [se_from_estimate(e) for e in ests]
        n = sum(e.n for e in ests)
        if all(s is not None for s in ses):
            se = math.sqrt(sum(s * s for s in ses)) / k  # type: ignore[operator]
            est = Estimate(value=mean, ci_low=max(0.0, mean - Z95 * se), ci_high=min(1.0, mean + Z95 * se), n=n,
                           method=f"macro-mean of {k}")
        else:
            est = Estimate(value=mean, n=n, method=f"macro-mean of {k}")
        setattr(out, metric, est)
    for rate in ("format_rate", "parse_failure_rate", "error_rate"):
        vals = [getattr(cells[c][0], rate) for c in cols if getattr(cells[c][0], rate) is not None]
        setattr(out, rate, sum(vals) / len(vals) if vals else None)
    js = [cells[c][0].judge_primary for c in cols if cells[c][0].judge_primary is not None]
    if js and len(js) == len(cols) and len({(j.rubric, j.kind) for j in js}) == 1:
        out.judge_primary = JudgeHeadline(
            rubric=js[0].rubric, kind=js[0].kind, scale=js[0].scale,
            value=Estimate(value=sum(j.value.value for j in js) / len(js),  # type: ignore[misc]
                           n=sum(j.value.n for j in js), method=f"macro-mean of {len(js)}"))
    return out


def overall_tie(metric: str, leader: dict[str, tuple[Cell, Outcomes]], other: dict[str, tuple[Cell, Outcomes]],
                cols: list[str], lo: Estimate, oo: Estimate) -> TieTest:
    """Tie test on the macro-mean: paired z over per-column mean differences when every column pairs,
    else unpaired z with the macro-means' standard errors."""
    diff = oo.value - lo.value  # type: ignore[operator]
    var, n_paired = 0.0, 0
    for c in cols:
        le, oe = _estimate(leader[c][0], metric), _estimate(other[c][0], metric)
        pairs = paired_values(leader[c][1].of(metric), other[c][1].of(metric), le.n if le else 0, oe.n if oe else 0)
        if pairs is None:
            break
        d = [y - x for x, y in pairs]
        m = sum(d) / len(d)
        var += (sum((x - m) ** 2 for x in d) / (len(d) - 1) if len(d) > 1 else 0.0) / len(d)
        n_paired += len(d)
    else:
        if cols:
            p = normal_two_sided_p(diff, math.sqrt(var) / len(cols))
            return TieTest(tied=None if p is None else p >= ALPHA, test="paired-z (macro-mean)", p_value=p,
                           n_paired=n_paired, diff=diff)
    p = unpaired_z(lo, oo)
    if p is None:
        return TieTest(diff=diff)
    return TieTest(tied=p >= ALPHA, test="unpaired-z", p_value=p, diff=diff)


def overall_columns(cells: list[dict[str, tuple[Cell, Outcomes]]], top: list[str], reference: list[int]) -> list[str]:
    """Top-level columns in which every reference run (every mosseval run) has an accuracy."""
    return [cid for cid in top if all(cid in cells[i] and cells[i][cid][0].accuracy for i in reference)]


__all__ = ["ALPHA", "PAIRED_MIN_OVERLAP", "TIE_TESTS", "paired_values", "tie_test", "leader_of", "apply_ties",
           "overall_cell", "overall_tie", "overall_columns"]
