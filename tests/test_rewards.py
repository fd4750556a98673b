"""Reward functions in the TRL / verl calling conventions."""

from __future__ import annotations

import json

import pytest

from mosseval.errors import UsageError
from mosseval.prr.score import score_process
from mosseval.records import PRRConfig
from mosseval.rewards import (
    accuracy_reward,
    completion_text,
    compute_score,
    compute_score_batch,
    format_reward,
    make_prr_reward,
    make_total_reward,
    prr_reward,
    reward_components,
)

REFS = [
    "The red ball starts at the left edge.",
    "The red ball rolls to the center.",
    "A blue cube appears on the right.",
]
GOOD = "<think>\n1. The red ball starts at the left edge.\n2. The red ball rolls to the center.\n" \
       "3. A blue cube appears on the right.\n</think>\n<answer>B</answer>"
REVERSED = "<think>A blue cube appears on the right. The red ball rolls to the center. " \
           "The red ball starts at the left edge.</think><answer>(C)</answer>"
NO_FORMAT = "The answer is B because the ball rolls to the center of the table."


def conv(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def test_completion_text_forms():
    assert completion_text("x") == "x"
    assert completion_text(None) is None
    assert completion_text(conv("hello")) == "hello"
    assert completion_text([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]) == "a"
    assert completion_text(conv([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])) == "ab"
    with pytest.raises(UsageError):
        completion_text(42)


def test_accuracy_reward():
    comps = [GOOD, REVERSED, NO_FORMAT, "a cat", conv(GOOD), ""]
    gold = ["B", "B", "b", "A", "(B)", "B"]
    out = accuracy_reward(None, comps, answer=gold)
    assert out == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    # the English article "a" is not option A; options columns are honoured
    opts = [{"A": "red", "B": "blue", "C": "green"}] * 2
    assert accuracy_reward(None, ["<answer>blue</answer>", "a cat"], answer=["B", "A"], options=opts) == [1.0, 0.0]
    assert accuracy_reward(None, [GOOD], answer=[None]) == [None]


def test_accuracy_requires_answer_column():
    with pytest.raises(UsageError, match="answer"):
        accuracy_reward(None, [GOOD])
    with pytest.raises(UsageError, match="entries"):
        accuracy_reward(None, [GOOD, GOOD], answer=["B"])


def test_format_reward():
    assert format_reward(None, [GOOD, NO_FORMAT, conv(GOOD), None]) == [1.0, 0.0, 1.0, 0.0]


def test_prr_reward_matches_score_process():
    comps = [GOOD, REVERSED, NO_FORMAT, conv(GOOD), GOOD]
    refs = [REFS, REFS, REFS, [{"t": i, "text": r} for i, r in enumerate(REFS)], []]
    out = prr_reward(None, comps, reference_steps=refs)
    cfg = PRRConfig()
    expected = [score_process(completion_text(c), r if r else [], cfg).prr for c, r in
                zip(comps, [REFS, REFS, REFS, REFS, []])]
    assert out == expected
    assert out[0] == 1.0 and 0.0 < out[1] < 1.0 and out[2] == 0.0 and out[3] == 1.0
    assert out[4] is None  # not applicable
    assert prr_reward(None, [GOOD]) == [None]  # no reference column at all


def test_prr_reward_config_and_format():
    fn = make_prr_reward(PRRConfig(jump=1, alpha=0.0), require_format=False)
    text = "The red ball starts at the left edge.\nThe red ball rolls to the center.\n" \
           "A blue cube appears on the right.\n<answer>B</answer>"
    assert fn(None, [text], reference_steps=[REFS]) == [1.0]
    assert prr_reward(None, [text], reference_steps=[REFS]) == [0.0]  # format required by default
    assert fn.__name__ == "prr_reward"


def test_reference_steps_as_json_string():
    assert prr_reward(None, [GOOD], reference_steps=[json.dumps(REFS)]) == [1.0]
    with pytest.raises(UsageError):
        prr_reward(None, [GOOD], reference_steps=["not json"])


def test_total_reward_weighted_sum_none_counts_zero():
    total = make_total_reward()
    comps = [GOOD, REVERSED, NO_FORMAT, GOOD]
    cols = dict(answer=["B", "B", "B", "B"], reference_steps=[REFS, REFS, REFS, []],
                prompt=["p"] * 4, completion_ids=[[1]] * 4)
    parts = reward_components(None, comps, **cols)
    out = total(None, comps, **cols)
    for i in range(4):
        expect = sum(v[i] for v in parts.values() if v[i] is not None)
        assert out[i] == pytest.approx(expect)
    assert out[0] == 3.0 and out[3] == 2.0  # PRR not applicable counts as 0
    weighted = make_total_reward({"accuracy": 2.0, "format": 0.5, "prr": 0.0})
    assert weighted(None, comps, **cols) == [
        2.0 * a + 0.5 * f for a, f in zip(parts["accuracy"], parts["format"])
    ]
    assert weighted.weights == {"accuracy": 2.0, "format": 0.5, "prr": 0.0}


def test_total_reward_zero_weight_skips_columns():
    fmt_only = make_total_reward({"format": 1.0})
    assert fmt_only(None, [GOOD, NO_FORMAT]) == [1.0, 0.0]


def test_total_reward_bad_weights():
    with pytest.raises(UsageError, match="did you mean 'accuracy'"):
        make_total_reward({"acuracy": 1.0})
    with pytest.raises(UsageError):
        make_total_reward({"prr": "heavy"})


def test_verl_compute_score():
    gt = {"answer": "B", "reference_steps": REFS}
    assert compute_score("moss-video", GOOD, gt) == 3.0
    assert compute_score("moss-video", GOOD, json.dumps(gt)) == 3.0
    assert compute_score("moss-video", GOOD, "B") == 2.0  # no reference: PRR counts 0
    assert compute_score("moss-video", GOOD, "B", {"reference_steps": REFS}) == 3.0
    assert compute_score("moss-video", GOOD, "B", {"reference_steps": REFS,
                                                   "weights": {"accuracy": 1.0}}) == 1.0
    r = compute_score("moss-video", REVERSED, gt, {"prr": {"alpha": 0.0}})
    expected = score_process(REVERSED, REFS, PRRConfig(alpha=0.0)).prr + 1.0  # wrong answer, format ok
    assert r == pytest.approx(expected)


def test_verl_batch_equals_single():
    sols = [GOOD, REVERSED, NO_FORMAT, GOOD]
    gts = [{"answer": "B", "reference_steps": REFS}, "C", {"answer": "A"}, "B"]
    infos = [None, {"reference_steps": REFS}, None, {"weights": {"format": 2.0}}]
    batch = compute_score_batch(["d"] * 4, sols, gts, infos)
    assert batch == [compute_score("d", s, g, e) for s, g, e in zip(sols, gts, infos)]


def test_dataset_columns_named_like_options_do_not_collide():
    total = make_total_reward()
    out = total(None, [GOOD], answer=["B"], reference_steps=[REFS], config=["x"], components=["y"])
    assert out == [3.0]
