"""One metric scale for people: every rate is stored as a fraction in [0, 1] and shown as a
percentage (0-100) with one decimal. Differences are shown in percentage points ("pts"); the
``compare`` margins are in points too."""

from __future__ import annotations

from typing import Any


def pct(value: float | None, digits: int = 1, *, unit: bool = False) -> str:
    """0.8731 -> '87.3' (or '87.3%' with ``unit``); None -> '–'."""
    if value is None:
        return "–"
    text = f"{100.0 * value:.{digits}f}"
    return text + "%" if unit else text


def pts(diff: float | None, digits: int = 1) -> str:
    """A difference of two fractions in signed percentage points: 0.021 -> '+2.1 pts'."""
    if diff is None:
        return "–"
    return f"{100.0 * diff:+.{digits}f} pts"


def pct_ci(est: Any, digits: int = 1) -> str:
    """An ``Estimate`` as '87.3 [84.1, 90.2]' (percent); '–' when it has no value."""
    if est is None or getattr(est, "value", None) is None:
        return "–"
    lo, hi = getattr(est, "ci_low", None), getattr(est, "ci_high", None)
    if lo is None or hi is None:
        return pct(est.value, digits)
    return f"{pct(est.value, digits)} [{pct(lo, digits)}, {pct(hi, digits)}]"
