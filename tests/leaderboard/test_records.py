"""The board's embedded samples are held packed (``PackedRecord``) yet stay typed: they validate as
``SampleView`` / ``ItemView``, serialize to exactly the bytes of the records they hold, and are
described as those records in the JSON Schema."""

from __future__ import annotations

import copy
import pickle

import pytest
from pydantic import Field, ValidationError

from mosseval.leaderboard.records import (
    AlignmentView,
    FramesView,
    ItemView,
    PackedRecord,
    SampleSet,
    SampleView,
    Thumbnail,
)
from mosseval.records import ErrorInfo, Record, VideoRef


def _view(i: int, **over) -> SampleView:
    fields = dict(key=f"t/s{i}", item="abc123", task="t", index=i, why="wrong", text="<b>é ✓</b>\nanswer",
                  error=ErrorInfo(kind="model", message="timeout") if i % 2 else None, latency_s=0.1 * i + 1e-7,
                  tokens=i, frames=FramesView(indices=[0, 5, 9], timestamps=[0.0, 1.25, 2.5e-05], decoder="pyav",
                                              sampled_fps=1.0 / 3),
                  extracted="B", correct=False, prr=2 / 3, prr_status="scored",
                  steps=["one", "two"], alignment=AlignmentView(cost=1.5, normalized_cost=0.75, path=[(0, 0), (1, 1)],
                                                                distances=[0.0, 1e-16]))
    fields.update(over)
    return SampleView(**fields)


def _item() -> ItemView:
    return ItemView(task="t", id="s1", question="What moves?", options={"A": "a dot", "B": "a ✓"}, answer="B",
                    video=VideoRef(path="videos/v.mp4"), reference_steps=[(None, "look"), (1.5, "count")])


class _UnpackedSet(Record):
    """SampleSet as it was before it packed its samples (the reference for the bytes)."""

    items: dict[str, ItemView] = Field(default_factory=dict)
    runs: dict[str, list[SampleView]] = Field(default_factory=dict)
    thumbnails: dict[str, list[Thumbnail]] = Field(default_factory=dict)


def test_packed_samples_serialize_as_the_records_they_hold():
    views, item = [_view(i) for i in range(4)], _item()
    thumbs = {"k": [Thumbnail(src="data:image/jpeg;base64,AA==", index=3, t=0.5)]}
    packed = SampleSet(items={"abc123": item}, runs={"r1": views, "r2": []}, thumbnails=thumbs)
    plain = _UnpackedSet(items={"abc123": item}, runs={"r1": views, "r2": []}, thumbnails=thumbs)
    assert all(isinstance(p, PackedRecord) for p in packed.runs["r1"])
    assert isinstance(packed.items["abc123"], PackedRecord)
    # byte for byte, compact and indented (leaderboard.json is written with indent=1)
    assert packed.model_dump_json() == plain.model_dump_json()
    assert packed.model_dump_json(indent=1) == plain.model_dump_json(indent=1)
    assert packed.model_dump(mode="json") == plain.model_dump(mode="json")
    assert packed.model_dump_json().count('"why":"wrong"') == 4
    # the typed record comes back, equal to what was packed
    assert [p.view() for p in packed.runs["r1"]] == views
    assert packed.items["abc123"].view() == item
    assert [p.data() for p in packed.runs["r1"]] == [v.model_dump(mode="json") for v in views]


def test_packed_samples_are_validated():
    with pytest.raises(ValidationError, match="why"):
        SampleSet(runs={"r1": [dict(_view(0).model_dump(), why="because")]})
    with pytest.raises(ValidationError, match="extra"):
        SampleSet(items={"x": dict(_item().model_dump(), surprise=1)})
    # a board read back from its JSON holds the same packed samples
    s = SampleSet(items={"abc123": _item()}, runs={"r1": [_view(1), _view(2)]})
    back = SampleSet.model_validate_json(s.model_dump_json())
    assert back == s and back.model_dump_json(indent=1) == s.model_dump_json(indent=1)
    assert copy.deepcopy(s) == s == pickle.loads(pickle.dumps(s)) and s.model_copy(deep=True) == s
    assert back != SampleSet(items={"abc123": _item()}, runs={"r1": [_view(1), _view(3)]})
    # a packed record of the right kind is kept as it is; one of another kind is re-validated (and refused)
    p = PackedRecord.of(_view(3))
    assert SampleSet(runs={"r": [p]}).runs["r"][0] is p
    with pytest.raises(ValidationError):
        SampleSet(runs={"r": [PackedRecord.of(_item())]})


def test_a_huge_integer_survives_the_fast_parser():
    v = _view(1, tokens=2**70)
    assert PackedRecord.of(v).data()["tokens"] == 2**70
    assert PackedRecord.of(v).view() == v


def test_schema_describes_the_records_not_the_packing():
    schema = SampleSet.model_json_schema()
    props = schema["properties"]
    assert props["runs"]["additionalProperties"]["items"] == {"$ref": "#/$defs/SampleView"}
    assert props["items"]["additionalProperties"] == {"$ref": "#/$defs/ItemView"}
    assert SampleSet.model_json_schema(mode="serialization")["properties"] == props


def test_packed_record_is_much_smaller_than_the_model():
    import tracemalloc

    views = [_view(i, text="x" * 200 + str(i)) for i in range(200)]
    tracemalloc.start()
    a = tracemalloc.get_traced_memory()[0]
    packed = [PackedRecord.of(v) for v in views]
    packed_bytes = tracemalloc.get_traced_memory()[0] - a
    del views
    a = tracemalloc.get_traced_memory()[0]
    again = [p.view() for p in packed]
    view_bytes = tracemalloc.get_traced_memory()[0] - a
    tracemalloc.stop()
    assert len(again) == 200 and packed_bytes * 3 < view_bytes, (packed_bytes, view_bytes)
