"""Scores, leaderboards, compare verdicts and error lists of a fixed set of runs stay byte-identical.

The goldens were written before the readers were optimised (issue 16); see
``tests/support/fixed_runs.py`` for what the runs contain and how to regenerate after a deliberate
format change.
"""

from __future__ import annotations

import difflib

import pytest

from tests.support.fixed_runs import GOLDEN, compute_outputs


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    return compute_outputs(tmp_path_factory.mktemp("fixed"))


def test_every_golden_is_produced(outputs):
    assert sorted(outputs) == sorted(p.name for p in GOLDEN.iterdir())


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.iterdir()))
def test_output_is_byte_identical(outputs, name):
    want = (GOLDEN / name).read_bytes()
    got = outputs[name]
    if got != want:
        diff = "\n".join(list(difflib.unified_diff(want.decode().splitlines(), got.decode().splitlines(),
                                                   "golden", "now", lineterm=""))[:40])
        pytest.fail(f"{name} differs from its golden:\n{diff}")


def test_fixture_exercises_every_prr_status(outputs):
    text = outputs["score_noisy_samples.jsonl"].decode()
    for status in ("scored", "format_broken", "no_steps", "not_applicable"):
        assert f'"prr_status":"{status}"' in text, status
    assert outputs["compare_oracle_noisy.json"].startswith(b"exit 1\n")  # a real regression verdict
    assert outputs["errors_noisy.txt"].startswith(b"exit 3\n")
