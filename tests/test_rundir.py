"""Run-directory readers: the fast error scan agrees with the full reader on every edge case."""

from __future__ import annotations

import json
import shutil

import pytest

from mosseval.errors import UsageError
from mosseval.rundir import SAMPLES_FILE, errored_records, gc_paused, read_records
from tests.support.fixed_runs import RUNS


def _lines(run):
    return (run / SAMPLES_FILE).read_text().splitlines(keepends=True)


def test_errored_records_equal_the_full_reader(tmp_path):
    run = tmp_path / "noisy"
    shutil.copytree(RUNS / "noisy", run)
    lines = _lines(run)
    recs = [json.loads(x) for x in lines]
    ok, bad = next(r for r in recs if r["generation"]["error"] is None), next(
        r for r in recs if r["generation"]["error"] is not None)
    fixed = json.loads(json.dumps(bad))  # a retried sample that now succeeded: no longer an error
    fixed["generation"] = ok["generation"]
    broke = json.loads(json.dumps(ok))  # and one that failed on a re-run
    broke["generation"] = bad["generation"]
    extra = [json.dumps(fixed) + "\n", json.dumps(broke) + "\n", '{"key": "partial tail, no newline"']
    (run / SAMPLES_FILE).write_text("".join(lines + extra))
    want = [r for r in read_records(run) if r.generation.error is not None]
    got = errored_records(run)
    assert got == want
    assert bad["key"] not in {r.key for r in got} and broke["key"] in {r.key for r in got}
    assert got[-1].key == broke["key"]  # order: where each key was last written


def test_errored_records_reports_a_bad_line_with_its_number(tmp_path):
    run = tmp_path / "r"
    shutil.copytree(RUNS / "random", run)
    lines = _lines(run)
    (run / SAMPLES_FILE).write_text("".join(lines[:3] + ["{not json}\n"] + lines[3:]))
    with pytest.raises(UsageError, match=r"samples.jsonl:4: invalid sample record"):
        errored_records(run)
    assert errored_records(tmp_path / "missing") == []


def test_gc_paused_nests_and_restores():
    import gc

    assert gc.isenabled()
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
