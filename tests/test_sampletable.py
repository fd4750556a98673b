"""The compact per-sample table: the same facts as the validated records, line for line."""

from __future__ import annotations

import functools
import json
import shutil

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosseval.errors import UsageError
from mosseval.recorddata import plain_free_form, record_struct_decoder
from mosseval.records import SampleRecord
from mosseval.rundir import read_records
from mosseval.sampletable import COLUMNS, SampleTable, _row_of_json, _row_of_struct, read_table, row_of_record
from tests.support.fixed_runs import RUN_NAMES, RUNS
from tests.test_recorddata import _same


def rows(table: SampleTable) -> list[tuple]:
    return list(zip(*(getattr(table, c) for c in COLUMNS)))


@pytest.mark.parametrize("name", RUN_NAMES)
def test_streamed_table_equals_the_records_facts(name):
    """Read from JSON, every fact equals its one definition on the validated record (the noisy run has
    errors, unscored samples, samples without steps, every PRR status)."""
    run = RUNS / name
    table = read_table(run)
    records = read_records(run)
    assert len(table) == len(records) == 40 and table.n_lines == 40
    assert rows(table) == [row_of_record(r) for r in records]
    assert rows(table) == rows(SampleTable.from_records(records))
    # full records are re-read from their byte offsets
    some = [0, 7, 39]
    assert table.records(some) == [records[i] for i in some]


def test_noisy_run_exercises_every_fact():
    t = read_table(RUNS / "noisy")
    assert sum(t.errored) == 3 and sum(t.correct) == 26 and all(t.scored)
    assert sum(p is None for p in t.prr) == 4 and any(p is not None and p < 1 for p in t.prr)
    assert sum(not h for h in t.has_steps) == 4 and len(set(t.cluster)) == 30 and set(t.n_options) == {4}


def test_duplicates_last_wins_and_a_partial_tail_is_ignored(tmp_path):
    src = (RUNS / "oracle" / "samples.jsonl").read_bytes().splitlines(keepends=True)
    run = tmp_path / "r"
    run.mkdir()
    again = json.loads(src[2])
    again["score"]["correct"] = not again["score"]["correct"]
    data = src[:5] + [json.dumps(again).encode() + b"\n"] + src[5:8] + [src[9][:50]]  # dup of row 2, torn tail
    (run / "samples.jsonl").write_bytes(b"".join(data))
    table, records = read_table(run), read_records(run)
    assert table.key == [r.key for r in records] and len(table) == 8 and table.n_lines == 9
    assert rows(table) == [row_of_record(r) for r in records]
    assert table.records(range(len(table))) == records  # the later line's record, at its own offset


def test_lines_of_another_shape_go_through_validation(tmp_path):
    """A field of another type is read as the record reads it (validated, coerced); a broken line is the
    reader's usual one-line error with file and line number."""
    run = tmp_path / "r"
    run.mkdir()
    lines = (RUNS / "noisy" / "samples.jsonl").read_bytes().splitlines()[:3]
    odd = json.loads(lines[1])
    odd["index"] = "1"  # a string: not read directly, validated (lax int) instead
    odd["score"]["prr"] = 1  # an int PRR is read as the float the record holds
    lines[1] = json.dumps(odd).encode()
    (run / "samples.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    table = read_table(run)
    assert rows(table) == [row_of_record(r) for r in read_records(run)]
    assert table.index[1] == 1 and table.prr[1] == 1.0 and type(table.prr[1]) is float

    broken = json.loads(lines[0])
    del broken["task"]
    (run / "samples.jsonl").write_bytes(lines[1] + b"\n" + json.dumps(broken).encode() + b"\n")
    with pytest.raises(UsageError, match=r"samples.jsonl:2: invalid sample record"):
        read_table(run)
    (run / "samples.jsonl").write_bytes(b"{not json\n")
    with pytest.raises(UsageError, match=r"samples.jsonl:1: invalid sample record"):
        read_table(run)


def test_missing_samples_file_is_an_empty_table(tmp_path):
    shutil.copy(RUNS / "oracle" / "run.json", tmp_path / "run.json")
    t = read_table(tmp_path)
    assert len(t) == 0 and t.n_lines == 0 and t.records([]) == []


# --------------------------------------------------------------------------- the msgspec read of a line


def _usual_row(line: bytes):
    """What ``read_table`` reads of a line without msgspec: ``_row_of_json`` of orjson's parse, else the
    validated record's row, else "error" (the reader's one-line error)."""
    try:
        row = _row_of_json(orjson.loads(line))
    except orjson.JSONDecodeError:
        row = None
    if row is None:
        try:
            row = row_of_record(SampleRecord.model_validate_json(line))
        except ValueError:
            return "error"
    return row


def _check_lines(lines: list[bytes], tmp_path) -> tuple[int, int]:
    """Each line msgspec decodes gives exactly the usual row (types and float bits included), and the usual
    path would read it without an error; ``read_table`` gives the usual rows of a file of the readable lines.
    Returns (lines msgspec decodes, lines it leaves to the usual path)."""
    decode = record_struct_decoder()
    assert decode is not None
    took = left = 0
    good = []
    for line in lines:
        want = _usual_row(line)
        d = decode(line)
        if d is None or not plain_free_form(d):  # what read_table leaves to the usual path
            left += 1
        else:
            assert want != "error" and _same(_row_of_struct(d), want), line
            took += 1
        if want != "error":
            good.append((line, want))
    run = tmp_path / "edge"
    run.mkdir(exist_ok=True)
    # one key per line (a later line of a key replaces the earlier: every line's row is checked once)
    (run / "samples.jsonl").write_bytes(b"".join(line + b"\n" for line, _ in good))
    table = read_table(run)
    keys = [row[0] for _, row in good]
    if len(set(keys)) == len(keys):
        assert all(_same(a, b) for a, b in zip(rows(table), [row for _, row in good], strict=True))
    return took, left


def test_msgspec_rows_are_the_usual_rows_on_changed_lines(tmp_path):
    """On fixed-run lines changed in ~150 ways (``tests/test_recorddata.py``'s coercions, wrong types, unknown,
    missing and legacy fields, integers beyond 64 bits, duplicate keys, escapes, JSON orjson refuses) a line
    msgspec decodes gives exactly the row of the usual path, which never refuses it; lines as mosseval writes
    them are all decoded."""
    from tests.test_recorddata import (
        _GENERATION_CHANGES,
        _LINE_CHANGES,
        _RAW_CHANGES,
        _SAMPLE_CHANGES,
        _SCORE_CHANGES,
    )

    dumps = functools.partial(json.dumps, separators=(",", ":"), ensure_ascii=False)
    lines = [line for name in RUN_NAMES for line in (RUNS / name / "samples.jsonl").read_bytes().splitlines()[:6]]
    variants = []
    for line in lines:
        assert record_struct_decoder()(line) is not None
        base = json.loads(line)
        variants += [dumps({**base, "sample": {**base["sample"], **c}}).encode() for c in _SAMPLE_CHANGES]
        variants += [dumps({**base, "generation": {**base["generation"], **c}}).encode() for c in _GENERATION_CHANGES]
        if base.get("score") is not None:
            variants += [dumps({**base, "score": {**base["score"], **c}}).encode() for c in _SCORE_CHANGES]
        variants += [dumps({**base, **c}).encode() for c in _LINE_CHANGES]
        variants += [line.replace(a, b, 1) for a, b in _RAW_CHANGES]
    took, left = _check_lines(variants, tmp_path)
    assert took > 300 and left > 300


_ODD_NUMBERS = [0, 1, -1, 2 ** 53 + 1, 2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1, 2 ** 64 + 1, 10 ** 30, -(2 ** 63) - 1, 0.0,
                -0.0, 0.5, 1.0, 1e-320, 1.7976931348623157e308, True, False, None, "1", [], {}]
_NUMBERS = st.one_of(st.sampled_from(_ODD_NUMBERS), st.integers(), st.floats(allow_nan=False, allow_infinity=False))
_ABSENT = object()


def _maybe(values):
    return st.one_of(st.just(_ABSENT), values)


@settings(max_examples=300, deadline=None)
@given(index=_NUMBERS, prr=_maybe(_NUMBERS), correct=_maybe(st.sampled_from([True, False, None, 1, 0, "true"])),
       score=st.sampled_from(["dict", "null", "absent", "list"]),
       cluster=_maybe(st.sampled_from(["", "c", None, 0, 1, False, [], "v.mp4"])),
       video=_maybe(st.sampled_from([None, {"path": "v.mp4"}, {"path": ""}, {"path": 3}, {}, [], "v.mp4"])),
       error=_maybe(st.sampled_from([None, {"kind": "media", "message": "m"}, {"kind": "x"}, {}, [], "boom", 0])),
       options=_maybe(st.sampled_from([{}, {"A": "a"}, [], None, {"A": 1}])),
       steps=_maybe(st.sampled_from([[], [{"text": "s"}], [{"text": "s", "t": 1}], {}, None, [1]])),
       raw=st.sampled_from([None, (b'"index":', b'"index":1,"index":'), (b'"correct":', b'"correct":false,"correct":'),
                            (b'"prr":', b'"prr":0.25,"prr":'), (b'"cluster":', b'"cluster":"x","cluster":'),
                            (b'"options":{', b'"options":{"A":"z","B":"b",'), (b'"score":', b'"score":null,"score":'),
                            (b'"error":', b'"error":{"kind":"api","message":"m"},"error":'),
                            (b'"metadata":{', b'"metadata":{"deep":' + b"[" * 1100 + b"]" * 1100 + b","),
                            (b'"metadata":{', b'"metadata":{"deep":' + b"[" * 600 + b"]" * 600 + b","),
                            (b'"metadata":{', b'"metadata":{"x":1e400,'), (b'"metadata":{', b'"metadata":{"x":"\xff",'),
                            (b'"metadata":{', b'"metadata":{"x":' + b"9" * 400 + b",")]))
def test_msgspec_rows_are_the_usual_rows_on_generated_lines(tmp_path_factory, index, prr, correct, score, cluster,
                                                            video, error, options, steps, raw):
    """Generated values of every field a row reads (booleans for integers, integers for floats, integers
    beyond 64 bits, fields absent or null, empty clusters with and without a video, errors and scores that are
    not objects, duplicate keys, free-form JSON nested deeper than orjson reads, numbers beyond a double,
    invalid UTF-8): msgspec gives the usual row or leaves the line to the usual path."""
    base = json.loads((RUNS / "noisy" / "samples.jsonl").read_bytes().splitlines()[0])
    sample = {**base["sample"], "metadata": {"m": 1}}
    for name, value in (("cluster", cluster), ("video", video), ("options", options), ("reference_steps", steps)):
        sample.pop(name, None)
        if value is not _ABSENT:
            sample[name] = value
    generation = {k: v for k, v in base["generation"].items() if k != "error"}
    if error is not _ABSENT:
        generation["error"] = error
    line = {**base, "index": index, "sample": sample, "generation": generation}
    sc = {k: v for k, v in (base["score"] or {}).items() if k not in ("prr", "correct")}
    for name, value in (("prr", prr), ("correct", correct)):
        if value is not _ABSENT:
            sc[name] = value
    line["score"] = {"dict": sc, "null": None, "list": [sc]}.get(score)
    if score == "absent":
        del line["score"]
    data = json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode()
    if raw is not None:
        data = data.replace(*raw, 1)
    _check_lines([data], tmp_path_factory.mktemp("gen"))
