"""The compact per-sample table: the same facts as the validated records, line for line."""

from __future__ import annotations

import json
import shutil

import pytest

from mosseval.errors import UsageError
from mosseval.rundir import read_records
from mosseval.sampletable import COLUMNS, SampleTable, read_table, row_of_record
from tests.support.fixed_runs import RUN_NAMES, RUNS


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
