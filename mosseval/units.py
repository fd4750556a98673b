"""One metric scale for people: every rate is stored as a fraction in [0, 1] and shown as a
percentage (0-100) with one decimal. Differences are shown in percentage points ("pts"); the
``compare`` margins are in points too.

One rounding rule wherever a number is shown: the exact value of ``100 * value`` (the double, not its
shortest repr) rounded half away from zero, which is what the leaderboard page's ``Number.toFixed``
does. Python's own ``format`` rounds a tie to even, so 99/240 printed 41.2 in the terminal and 41.3 on
the page."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any


def fixed(x: float, digits: int = 1, sign: str = "") -> str:
    """``x`` with ``digits`` decimals, its exact binary value rounded half away from zero (JavaScript's
    ``x.toFixed(digits)``); ``sign="+"`` shows the sign of positive numbers too."""
    if not math.isfinite(x):
        return format(x, f"{sign}.{digits}f")
    return format(Decimal(x).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP), f"{sign}.{digits}f")


def pct(value: float | None, digits: int = 1, *, unit: bool = False) -> str:
    """0.8731 -> '87.3' (or '87.3%' with ``unit``); None -> '–'."""
    if value is None:
        return "–"
    text = fixed(100.0 * value, digits)
    return text + "%" if unit else text


def pts(diff: float | None, digits: int = 1) -> str:
    """A difference of two fractions in signed percentage points: 0.021 -> '+2.1 pts'."""
    if diff is None:
        return "–"
    return f"{fixed(100.0 * diff, digits, '+')} pts"


def pct_ci(est: Any, digits: int = 1) -> str:
    """An ``Estimate`` as '87.3 [84.1, 90.2]' (percent); '–' when it has no value."""
    if est is None or getattr(est, "value", None) is None:
        return "–"
    lo, hi = getattr(est, "ci_low", None), getattr(est, "ci_high", None)
    if lo is None or hi is None:
        return pct(est.value, digits)
    return f"{pct(est.value, digits)} [{pct(lo, digits)}, {pct(hi, digits)}]"
