"""Splitting reasoning into steps: each line's steps are kept per (line, min_tokens), values unchanged."""

from __future__ import annotations

from mosseval.prr import rouge, steps
from mosseval.prr.steps import split_steps

TEXT = "1. At 0 s the ball is left.\nStep 2: Then it moves. It is red now!\nok\n- e.g. a tiny dot stays."


def test_line_steps_are_kept_per_min_tokens_and_equal_a_fresh_split():
    rouge.clear_caches()
    assert not steps._line_steps
    cold = split_steps(TEXT, 64, 4)
    assert cold == (["At 0 s the ball is left.", "It is red now!", "e.g. a tiny dot stays."], False)
    assert steps._line_steps  # remembered
    assert split_steps(TEXT, 64, 4) == cold
    assert split_steps(TEXT, 64, 1) == (["At 0 s the ball is left.", "Then it moves.", "It is red now!", "ok",
                                         "e.g. a tiny dot stays."], False)
    assert split_steps(TEXT, 64, 3)[0] == ["At 0 s the ball is left.", "Then it moves.", "It is red now!",
                                           "e.g. a tiny dot stays."]
    assert split_steps(TEXT, 2, 1) == (["At 0 s the ball is left.", "Then it moves."], True)
    rouge.clear_caches()
    assert not steps._line_steps and split_steps(TEXT, 64, 4) == cold
