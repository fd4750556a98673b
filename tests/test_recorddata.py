"""Samples validated as plain data (``mosseval.recorddata``) and the answer checks that read it: every
extractor's ``check_data`` hook gives exactly what its check of the ``Sample`` gives, and the data validator
refuses what ``Sample`` refuses (issue 16: ``score`` reads samples as data)."""

from __future__ import annotations

import json

import pytest

from mosseval.recorddata import sample_cluster_key, sample_data_validator, sample_field
from mosseval.records import Sample
from mosseval.scoring import extractors
from mosseval.tasks import load_registry

SAMPLES = [
    {"id": "mc", "task": "t", "question": "q", "options": {"A": "2", "B": "1", "C": "7", "D": "13"}, "answer": "C"},
    {"id": "mc5", "task": "t", "question": "q", "options": {k: f"choice {k}" for k in "ABCDE"}, "answer": " e ",
     "question_type": "multiple-choice", "video": {"path": "v/1.mp4"}, "cluster": None},
    {"id": "oe", "task": "t", "question": "q", "answer": "Embryo Transfer", "question_type": "open-ended",
     "cluster": "c1"},
    {"id": "bare", "task": "t", "question": "q", "answer": "A"},  # no options, no question type: the defaults
    # VCR-Bench's answer kinds (vcrbench_rules reads metadata["answer_kind"]; the others ignore it)
    {"id": "vcr-choice", "task": "t", "question": "q", "options": {"A": "red", "B": "blue"}, "answer": "B",
     "metadata": {"answer_kind": "choice"}},
    {"id": "vcr-interval", "task": "t", "question": "q", "answer": "[1.5, 4.0]", "question_type": "open-ended",
     "metadata": {"answer_kind": "interval"}},
    {"id": "vcr-box", "task": "t", "question": "q", "answer": "[10, 20, 110, 220]", "question_type": "open-ended",
     "metadata": {"answer_kind": "box"}},
    {"id": "vcr-text", "task": "t", "question": "q", "answer": "two", "question_type": "open-ended",
     "metadata": {"answer_kind": "text", "duration_bucket": "short"}},
]
TEXTS = [None, "", "  ", "C", "(C) 7", "<think>x</think>\n<answer>B</answer>", "The answer is D.", "Best option:(A) 2",
         "(e) choice E", "A) yes, not B", "\\boxed{C}", "Embryo Transfer", "Therefore, the final answer is: embryo "
         "transfer", "<answer>7</answer>", "E", "It is either A or B.", "x" * 300 + " answer: C",
         "The answer is: Answer: B", "From 1.5 s to 4 s", "<answer>[1.0, 4.2]</answer>", "00:01 - 00:04",
         "<answer>[10, 20, 100, 200]</answer>", "box [0, 0, 5, 5] then [12, 22, 108, 215]", "<answer>two</answer>",
         "answer:\n\n", "the best answer is (b) blue"]
CHECKED = ["mc_strict", "mvbench_official", "mmvu_rules", "videomme_official", "vcrbench_rules"]


@pytest.fixture(scope="module")
def tasks():
    reg = load_registry()
    return {"mc_strict": reg["moss-video-mini"], "mvbench_official": reg[reg["mvbench"].subtasks[0]],
            "mmvu_rules": reg["mmvu"], "videomme_official": reg["videomme"], "vcrbench_rules": reg["vcr-bench"]}


@pytest.mark.parametrize("name", CHECKED)
def test_each_check_of_data_equals_the_check_of_the_sample(name, tasks):
    check, check_data = extractors.load(name), extractors.hook(name, "check_data")
    assert check_data is not None
    validate = sample_data_validator()
    task = tasks[name]
    prefill = task.prompt.prefill if task.prompt else None
    n = 0
    for raw in SAMPLES:
        sample, data = Sample.model_validate(raw), validate(json.loads(json.dumps(raw)))
        assert sample_cluster_key(data) == sample.cluster_key
        for text in TEXTS:
            assert check_data(text, data, task, prefill) == check(text, sample, task, prefill), (raw["id"], text)
            n += 1
    assert n == len(SAMPLES) * len(TEXTS)


def test_every_check_data_hook_is_tested():
    """A built-in extractor that gains a ``check_data`` hook is added to the comparison above."""
    with_hook = [name for name in extractors.names() if extractors.hook(name, "check_data") is not None]
    assert sorted(with_hook) == sorted(CHECKED)


@pytest.mark.parametrize("change", [
    {"options": {"A": 1}}, {"question_type": "essay"}, {"reference_steps": [{"text": "s", "when": 1}]},
    {"reference_steps": [{"start": 1.0}]}, {"video": {"kind": "file"}}, {"surprise": 1}, {"answer": None},
    {"metadata": []}, {"cluster": 3},
])
def test_the_data_validator_refuses_what_sample_refuses(change):
    raw = {**SAMPLES[1], **change}
    with pytest.raises(ValueError):
        Sample.model_validate(raw)
    with pytest.raises(ValueError):
        sample_data_validator()(raw)


def test_the_data_validator_coerces_and_upgrades_as_sample_does():
    """An int in a float field becomes a float; a legacy single step time ``t`` is accepted; a field left out
    reads as its ``Sample`` default."""
    raw = {**SAMPLES[0], "video": {"path": "v.mp4", "start": 1, "end": 2}, "reference_steps": [{"text": "a", "t": 3}]}
    data, sample = sample_data_validator()(raw), Sample.model_validate(raw)
    assert type(data["video"]["start"]) is float and data["video"]["start"] == sample.video.start
    assert data["reference_steps"][0]["text"] == "a" and sample.reference_steps[0].start == 3.0
    for name in ("question_type", "options", "reference_steps", "category", "metadata", "cluster"):
        assert sample_field(data, name) == getattr(sample, name) or name == "reference_steps"
