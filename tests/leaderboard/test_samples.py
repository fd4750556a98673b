"""The embedded views built from a samples.jsonl line decoded into the record's structs (``record_struct_decoder``,
``views_of_struct``) are byte for byte the views of the validated record (``item_view``, ``sample_view``):
coercions and legacy upgrades included; a line that does not validate is left to the record (its error)."""

from __future__ import annotations

import copy
import json

import orjson
import pytest
from pydantic_core import to_json

from mosseval.judge.store import StoredJudgements
from mosseval.judge.summary import RunJudgements
from mosseval.leaderboard.build import _dumps
from mosseval.leaderboard.records import PackedRecord
from mosseval.leaderboard.samples import (
    MAX_FRAMES,
    MAX_GENERATION_CHARS,
    MAX_STEPS,
    item_id,
    item_id_of_data,
    item_view,
    sample_view,
    views_of_struct,
)
from mosseval.recorddata import record_struct_decoder
from mosseval.records import JudgeVerdict, SampleRecord
from tests.support.fixed_runs import RUN_NAMES, RUNS


def _lines() -> list[bytes]:
    return [line for n in RUN_NAMES for line in (RUNS / n / "samples.jsonl").read_bytes().splitlines() if line.strip()]


def _judgements(keys: list[str]) -> RunJudgements:
    out = RunJudgements(StoredJudgements())
    for i, key in enumerate(keys):
        out.verdicts[key] = {
            "rubric-b": JudgeVerdict(judge="j", rubric="rubric-b", rubric_version="1", fingerprint="f", score=0.1 * i,
                                     correct=bool(i % 2), extracted_answer="B", rationale="r" * (2500 if i % 3 else 5)),
            "rubric-a": JudgeVerdict(judge="j", rubric="rubric-a", rubric_version="1", fingerprint="f", error="timeout")}
    return out


def _both(data: dict, judgements: RunJudgements, why: str = "wrong") -> tuple[tuple[bytes, str, bytes] | None, tuple]:
    """(shortcut, record path): (item JSON, item id, sample JSON) each; the shortcut None when it declines."""
    rec = SampleRecord.model_validate_json(json.dumps(data))
    iv = item_view(rec)
    want = (PackedRecord.of(iv).json, item_id(iv), PackedRecord.of(sample_view(rec, item_id(iv), why, judgements)).json)
    decoded = record_struct_decoder()(json.dumps(data).encode())
    if decoded is None:
        return None, want
    item, view = views_of_struct(decoded, why, judgements)
    view["item"] = iid = item_id_of_data(item)
    return (_dumps(item), iid, _dumps(view)), want


def test_every_fixed_run_line_reads_plain_and_equals_the_record_views():
    lines = _lines()
    assert len(lines) == 160
    datas = [orjson.loads(line) for line in lines]
    judgements = _judgements([d["key"] for d in datas[::7]])
    statuses = set()
    for why, data in zip(["wrong", "low-prr", "random", "all"] * 40, datas):
        got, want = _both(data, judgements, why)
        assert got == want, data["key"]
        statuses.add(json.loads(got[2])["prr_status"])
    assert statuses == {"scored", "format_broken", "no_steps", "not_applicable"}
    assert sum(1 for d in datas if d["generation"].get("error")) >= 3  # errors went through too


def test_long_texts_many_steps_and_frames_are_cut_alike():
    data = orjson.loads(_lines()[0])
    data["generation"]["text"] = "é" * (MAX_GENERATION_CHARS + 5)
    data["generation"]["error"] = {"kind": "api", "message": "failed with key sk-" + "a" * 40 + " " + "x" * 600}
    data["generation"]["frames"]["indices"] = list(range(MAX_FRAMES + 3))
    data["generation"]["frames"]["timestamps"] = [i / 3 for i in range(MAX_FRAMES + 3)]
    data["sample"]["reference_steps"] = [{"text": f"step {i} " + "w" * 2100, "start": i * 1.5, "end": None}
                                         for i in range(MAX_STEPS + 2)]
    data["score"]["steps"] = ["s" * 2100] * (MAX_STEPS + 1)
    data["sample"]["question"] = "<script>" * 400
    got, want = _both(data, _judgements([]))
    assert got == want
    view = json.loads(got[2])
    assert view["text_truncated"] and len(view["frames"]["indices"]) == MAX_FRAMES
    assert "sk-aaaa" not in view["error"]["message"] and len(view["error"]["message"]) == 500


def _set(path: str, value):
    def change(d):
        *head, last = path.split(".")
        for k in head:
            d = d[k]
        if value is _DROP:
            d.pop(last)
        else:
            d[last] = value
    return change


_DROP = object()


@pytest.mark.parametrize("change", [
    _set("generation.latency_s", 2),  # an int where a float is declared: 2.0 on both paths
    _set("score.prr", 1),
    _set("generation.frames.timestamps", [0, 1.5]),
    _set("sample.reference_steps", [{"text": "legacy", "t": 2}]),  # legacy single time, an int
    _set("sample.reference_steps", [{"text": "new", "start": 1.25, "end": 2.0}, {"text": "point", "start": 3}]),
    _set("sample.video.start", 3),
    _set("score.judge", {"old": "verdict"}),  # a legacy judge entry: dropped
    _set("score.prr_detail.path", [[0, 0], [1, 2]]),
    _set("generation.usage", {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17}),
    # fields left out: the record's defaults on both paths
    *[_set(f"score.{name}", _DROP) for name in ("extracted", "correct", "parse_failed", "format_ok", "prr",
                                                 "prr_status", "approximate", "steps", "steps_truncated", "prr_detail")],
    *[_set(f"sample.{name}", _DROP) for name in ("options", "question_type", "category", "level", "video",
                                                  "reference_steps")],
    *[_set(f"generation.{name}", _DROP) for name in ("text", "latency_s", "usage", "frames", "error")],
    *[_set(f"sample.video.{name}", _DROP) for name in ("kind", "start", "end", "fps", "first_index")],
    _set("generation.frames.timestamps", _DROP), _set("generation.frames.sampled_fps", _DROP),
    _set("generation.usage", {"prompt_tokens": 3}),
    _set("score", None),
])
def test_lines_that_need_coercion_or_upgrades_give_the_record_views(change):
    data = copy.deepcopy(orjson.loads(_lines()[2]))
    change(data)
    got, want = _both(data, _judgements([]))
    assert got == want


@pytest.mark.parametrize("change", [
    _set("sample.surprise", 1),  # a field the record does not declare
    _set("generation.frames.surprise", 1),
    _set("score.prr_status", "great"),
    _set("generation.error", {"kind": "cosmic", "message": "ray"}),
    _set("sample.question_type", "essay"),
    _set("index", "three"),
    _set("score.prr_detail.path", [[0, 0], [1]]),
    _set("sample.options", {"A": 1}),
    _set("generation.frames.decoder", _DROP),
    _set("surprise", None),
])
def test_lines_that_do_not_validate_are_left_to_the_record(change):
    data = copy.deepcopy(orjson.loads(_lines()[2]))
    assert data["score"]["prr_detail"] is not None and data["sample"]["video"] is not None
    change(data)
    assert record_struct_decoder()(json.dumps(data).encode()) is None
    with pytest.raises(ValueError):
        SampleRecord.model_validate_json(json.dumps(data))


@pytest.mark.parametrize("start", [1e-05, 2.5e-07, 1e16, 3e20, 1e-4, 0.125, 0.0, 12.0, 123456.789])
def test_item_id_of_any_float_is_the_digest_of_the_item(start):
    """The item id written with orjson where it writes what json writes, with json elsewhere: always
    ``digest`` of the item view's JSON."""
    data = orjson.loads(_lines()[0])
    data["sample"]["video"]["start"] = start
    data["sample"]["reference_steps"][1]["t"] = start / 3
    got, want = _both(data, _judgements([]))
    assert got == want


def test_random_plain_floats_hash_alike():
    import random

    rng = random.Random(16)
    data = orjson.loads(_lines()[0])
    for _ in range(300):
        for st in data["sample"]["reference_steps"]:
            st["t"] = rng.uniform(1, 10) * 10.0 ** rng.randint(-6, 17)
        got, want = _both(data, _judgements([]))
        assert got is not None and got[1] == want[1]


def test_dumps_writes_what_pydantic_writes():
    """Views are packed with orjson: its floats and string escapes are pydantic-core's."""
    import random

    rng = random.Random(7)
    floats = [rng.uniform(1, 10) * 10.0 ** rng.randint(-30, 30) for _ in range(20000)]
    floats += [0.0, -0.0, 5e-324, 1.7976931348623157e308, 1e-05, 1e16, 0.1 + 0.2]
    text = "".join(map(chr, range(0x800))) + "\u2028\u2029\ufeff\U0001F600\x7f"
    data = {"f": floats, "s": text, "n": [None, True, False, -(2 ** 63), 2 ** 64 - 1], "d": {"é": [1.5, {}]}}
    assert _dumps(data) == to_json(data)
    assert _dumps({"big": 2 ** 70}) == to_json({"big": 2 ** 70})  # beyond orjson: pydantic writes it


def test_packed_json_holds_only_its_own_bytes():
    """orjson's bytes keep its ~8 KB write buffer; a packed view must cost about its length (a 50-run board
    holds 5,000 of them)."""
    import tracemalloc

    data = orjson.loads(_lines()[0])
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [_dumps(data) for _ in range(200)]
        per = (tracemalloc.get_traced_memory()[0] - before) / len(kept)
    finally:
        tracemalloc.stop()
    assert len(kept[0]) < per < len(kept[0]) + 200, (per, len(kept[0]))


def test_a_line_msgspec_does_not_decode_is_embedded_from_its_record(tmp_path):
    """A board embeds a line the record accepts and msgspec refuses (a token count beyond 64 bits) through the
    record: the same views as the record's, next to the others built from the structs."""
    import shutil

    from mosseval.leaderboard import build_leaderboard

    run = tmp_path / "run"
    shutil.copytree(RUNS / RUN_NAMES[0], run)
    lines = (run / "samples.jsonl").read_bytes().splitlines()
    data = orjson.loads(lines[3])
    data["generation"]["usage"] = {"prompt_tokens": 1, "completion_tokens": 2 ** 70, "total_tokens": 2 ** 70 + 1}
    raw = json.dumps(data).encode()
    assert record_struct_decoder()(raw) is None
    lines[3] = raw
    (run / "samples.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    board = build_leaderboard([str(run)], samples_per_run=1000)
    (embedded,) = board.samples.runs.values()
    views = {json.loads(v.json)["key"]: v for v in embedded}
    assert len(views) == len(lines)
    rec = SampleRecord.model_validate_json(raw)
    iv = item_view(rec)
    want = PackedRecord.of(sample_view(rec, item_id(iv), "all", RunJudgements(StoredJudgements())))
    assert views[rec.key].json == want.json and json.loads(want.json)["tokens"] == 2 ** 70


def test_the_rows_ranks_are_stable_rank():
    """``select_samples`` ranks every row as ``stable_rank(task, sample id)``, whatever the text."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from mosseval.leaderboard.samples import _ranks, stable_rank

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.tuples(st.text(), st.text()), max_size=8))
    def check(pairs):
        pairs = [(a, b) for a, b in pairs if not any(0xD800 <= ord(c) <= 0xDFFF for c in a + b)]
        assert _ranks([a for a, _ in pairs], [b for _, b in pairs]) == [stable_rank(a, b) for a, b in pairs]

    check()
