"""The board's input path: a stale ``run.json`` (count or duplicate-key disagreement with ``samples.jsonl``)
is noticed, recomputed from the samples with the run's own task specs, and marked (issue 12 item 5)."""

from __future__ import annotations

import json

import pytest

from mosseval.leaderboard import build_leaderboard
from mosseval.rundir import RUN_FILE, SAMPLES_FILE, read_run_log, write_run_log
from tests.leaderboard.test_aggregate import make_record, simple_run


def test_a_consistent_run_is_trusted(tmp_path):
    run = simple_run(tmp_path / "a", "a", [True, False] * 10)
    board = build_leaderboard([str(run)])
    assert board.runs[0].stale is None and not any("disagrees" in w for w in board.warnings)


def test_duplicate_keys_are_noticed_and_recomputed(tmp_path):
    run = simple_run(tmp_path / "a", "a", [True] * 20)
    before = build_leaderboard([str(run)]).runs[0].cells
    # a second writer appended newer records for 5 keys (all wrong now); run.json was not refreshed
    with (run / SAMPLES_FILE).open("a") as fh:
        for i in range(5):
            fh.write(make_record("moss-video-mini", i, False, 0.1).model_dump_json() + "\n")
    board = build_leaderboard([str(run)])
    entry = board.runs[0]
    assert entry.stale is not None and entry.stale.recomputed
    assert "samples.jsonl holds 5 duplicate line(s)" in entry.stale.reason and "recomputed" in entry.stale.reason
    assert any("duplicate line" in w for w in board.warnings)
    cell = next(iter(entry.cells.values()))
    assert cell.accuracy.value == pytest.approx(15 / 20) and cell.n == 20  # newest record per key wins
    assert next(iter(before.values())).accuracy.value == 1.0
    assert entry.n_samples == 20
    assert json.loads((run / RUN_FILE).read_text())["results"]["moss-video-mini"]["accuracy"]["value"] == 1.0


def test_a_run_killed_before_its_final_write_is_recomputed(tmp_path):
    run = simple_run(tmp_path / "a", "a", [True, False, False, True] * 5)
    log = read_run_log(run)
    # what run.json looks like while a run is in flight: no results, nothing counted yet
    write_run_log(run, log.model_copy(update={"status": "running", "results": {}, "n_done": 0}))
    board = build_leaderboard([str(run)])
    entry = board.runs[0]
    assert entry.stale.recomputed and "no process is writing it (the writer was killed)" in entry.stale.reason
    assert entry.status == "interrupted" and entry.n_samples == 20
    cell = next(iter(entry.cells.values()))
    assert cell.accuracy.value == pytest.approx(0.5) and cell.n == 20


def test_without_task_specs_the_run_is_marked_not_recomputed(tmp_path):
    run = simple_run(tmp_path / "a", "a", [True] * 10)
    log = read_run_log(run)
    write_run_log(run, log.model_copy(update={"task_specs": {}, "n_done": 12}))
    board = build_leaderboard([str(run)])
    entry = board.runs[0]
    assert entry.stale is not None and not entry.stale.recomputed
    assert "run.json counts 12 finished samples, samples.jsonl holds 10" in entry.stale.reason
    assert "may be stale" in entry.stale.reason
    html = tmp_path / "lb.html"
    from mosseval.leaderboard import render_html

    assert "may be stale" in render_html(board, html).read_text()
