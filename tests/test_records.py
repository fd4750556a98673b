"""Typed records: the ReferenceStep time range and reading run files written before it."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from mosseval.records import ReferenceStep, SampleRecord

OLD_LINE = {  # a samples.jsonl line as written before reference steps had start/end
    "schema_version": 1, "key": "moss-video-mini/0", "task": "moss-video-mini", "index": 0,
    "sample": {"schema_version": 1, "id": "0", "task": "moss-video-mini", "question": "Where next?",
               "options": {"A": "left", "B": "right"}, "answer": "A",
               "reference_steps": [{"text": "The ball is on the left.", "t": 0.0},
                                   {"text": "It rolls right.", "t": 2.5}, {"text": "No time here."}]},
    "generation": {"schema_version": 1, "text": "<think>x</think><answer>A</answer>"},
}


def test_run_files_with_a_single_time_t_still_load():
    rec = SampleRecord.model_validate_json(json.dumps(OLD_LINE))
    steps = rec.sample.reference_steps
    assert [(s.start, s.end) for s in steps] == [(0.0, None), (2.5, None), (None, None)]
    assert [s.t for s in steps] == [0.0, 2.5, None]  # the single time reads as the start
    # written back in the new schema, and read again unchanged
    again = SampleRecord.model_validate_json(rec.model_dump_json())
    assert again == rec
    assert "t" not in json.loads(rec.model_dump_json())["sample"]["reference_steps"][0]


def test_reference_step_time_range():
    step = ReferenceStep(text="two women fight in the living room", start=7.0, end=55.0)
    assert step.model_dump() == {"text": "two women fight in the living room", "start": 7.0, "end": 55.0}
    assert ReferenceStep(text="x", t=3.0).start == 3.0
    assert ReferenceStep.model_validate({"text": "x", "t": 1.0, "start": 2.0}).start == 2.0  # explicit wins
    with pytest.raises(ValidationError):
        ReferenceStep.model_validate({"text": "x", "when": 1.0})  # unknown keys are still refused
