"""One rounding rule for every number a person reads: the terminal, the Markdown reports and the leaderboard
page (JavaScript's ``toFixed``) print the same digits, ties included."""

from __future__ import annotations

import json
import random
import shutil
import subprocess

import pytest

from mosseval.units import fixed, pct, pct_ci, pts


def test_ties_round_half_away_from_zero_on_the_exact_value():
    # 99/240 (a demo model's accuracy): 100 * 0.4125 is exactly 41.25; format() would print 41.2
    assert format(100 * (99 / 240), ".1f") == "41.2"
    assert pct(99 / 240) == "41.3"
    assert pct(0.0125) == "1.3" and pct(0.0375) == "3.8" and pct(0.5) == "50.0"
    assert pts(-0.0125) == "-1.3 pts" and pts(0.0125) == "+1.3 pts" and pts(0.021) == "+2.1 pts"
    # not a tie: the double just below x.x5 rounds down, whatever its shortest repr suggests
    assert fixed(0.15, 1) == "0.1"  # 0.1499999999999999944...
    assert fixed(2.675, 2) == "2.67"  # 2.67499999999999982236431605997495353221893310546875
    assert pct(None) == "–" and pts(None) == "–" and pct(0.8731, unit=True) == "87.3%"
    assert fixed(float("nan")) == "nan" and fixed(float("inf"), 1, "+") == "+inf"
    assert pct(-0.00004) == "-0.0"


def test_interval_text_uses_the_same_rule():
    from mosseval.records import Estimate

    est = Estimate(value=99 / 240, ci_low=0.0125, ci_high=0.5, n=240)
    assert pct_ci(est) == "41.3 [1.3, 50.0]"


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run JavaScript's toFixed")
def test_same_digits_as_javascript_tofixed():
    rng = random.Random(7)
    values = [k / n for n in (240, 48, 80, 176, 1000, 3) for k in range(n + 1)]
    values += [rng.uniform(-1, 1) for _ in range(2000)] + [-0.0125, -0.5, 1e-9, -1e-9]
    script = ("const v = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "console.log(JSON.stringify(v.map(x => [(100 * x).toFixed(1), (100 * x).toFixed(2)])));")
    out = subprocess.run(["node", "-e", script], input=json.dumps(values), capture_output=True, text=True,
                         check=True, timeout=60).stdout
    js = json.loads(out)
    ours = [[fixed(100 * x, 1), fixed(100 * x, 2)] for x in values]
    mismatches = [(v, a, b) for v, a, b in zip(values, ours, js) if a != b]
    assert not mismatches, mismatches[:5]
    # the ties exist in this set, so the check is not vacuous
    assert sum(format(100 * x, ".1f") != fixed(100 * x, 1) for x in values) > 10
