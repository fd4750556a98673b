"""Run directories keep finished work: re-runs, re-scoring, stale logs, litter, permissions (issue 12.2-12.7)."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from mosseval.errors import ExitCode, UsageError
from mosseval.fileio import DirLock
from mosseval.rundir import SAMPLES_FILE, load_run, read_run_log, verify_run, write_run_log
from mosseval.runner import Runner, RunOptions, recompute_stale, rescore


def _run(out: Path, model: str = "oracle", **kw: Any):
    opts = RunOptions(model=model, tasks=["moss-video-mini"], output_dir=out, progress=False, fsync=False,
                      run_name="r", **kw)
    return Runner(opts).execute()


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("done")
    _run(out, limit=20)
    return out / "r"


@pytest.fixture
def run_dir(tmp_path, done) -> Path:
    shutil.copytree(done, tmp_path / "r")
    return tmp_path / "r"


def test_rerun_keeps_finished_results_until_new_ones_are_complete(run_dir):
    """A re-run used to write a fresh RunLog (running, results {}) first: a kill lost the results."""
    seen: list[Any] = []

    from mosseval.models.baselines import Baseline

    class Spy(Baseline):
        """The real oracle, looking at run.json while the re-run is under way (what a kill would leave)."""

        def generate(self, requests):
            seen.append(read_run_log(run_dir))
            return super().generate(requests)

    opts = RunOptions(model="oracle", tasks=["moss-video-mini"], output_dir=run_dir.parent, progress=False,
                      fsync=False, run_name="r", limit=25)
    out = Runner(opts).execute(model=Spy("oracle"))
    mid = seen[0]
    assert mid.status == "running" and mid.results["moss-video-mini"].n == 20  # the old results, kept
    assert out.log.results["moss-video-mini"].n == 25 and out.log.status == "completed"


def test_score_keeps_a_complete_last_record_without_newline(run_dir):
    path = run_dir / SAMPLES_FILE
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # killed between the record and its newline
    log = rescore(run_dir)
    assert log.results["moss-video-mini"].n == 20 and len(load_run(run_dir).records) == 20
    assert path.read_bytes().endswith(b"\n")


def test_score_reads_every_line_layout_as_the_full_reader_does(run_dir):
    """`score` parses lines as JSON and validates only their samples; a line of another layout (a legacy
    step time ``t``, a legacy judge field in the score, a missing generation text) goes through the full
    record reader, and the results are those of scoring the fully validated records."""
    from mosseval.rundir import read_records
    from mosseval.scoring import score_samples

    path = run_dir / SAMPLES_FILE
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    step = recs[0]["sample"]["reference_steps"][1]
    step["t"] = step.pop("start")  # the single-time schema
    recs[1]["score"]["judge"] = {"legacy": 1}
    recs[2]["generation"].pop("text")  # the default (None): scored as an empty answer
    recs[3]["index"] = "3"  # not the declared type: read in full (lax validation), same record
    recs[3]["score"]["judge"] = {"legacy": 2}  # ...with a legacy field: rewritten without it
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    full = read_records(run_dir)
    log = rescore(run_dir)
    task = log.task_specs["moss-video-mini"]
    want = score_samples(task, [(r.sample, r.generation) for r in full])
    got = read_records(run_dir)
    assert [r.score for r in got] == want and [r.sample for r in got] == [r.sample for r in full]
    assert got[0].sample.reference_steps[1].start == recs[0]["sample"]["reference_steps"][1]["t"]
    assert got[2].score.correct is False and got[2].score.prr_status == "no_steps"
    assert b'"judge"' not in path.read_bytes()
    assert recompute_stale(load_run(run_dir)).log.results == log.results


def test_score_reports_a_bad_sample_with_its_line_number(run_dir):
    path = run_dir / SAMPLES_FILE
    lines = path.read_text().splitlines(keepends=True)
    bad = json.loads(lines[4])
    bad["sample"]["options"] = ["not", "a", "mapping"]
    lines[4] = json.dumps(bad) + "\n"
    path.write_text("".join(lines))
    with pytest.raises(UsageError, match=r"samples.jsonl:5: invalid sample record: field 'sample.options'"):
        rescore(run_dir)


def test_score_leaves_an_up_to_date_run_alone(run_dir):
    """Re-scoring a run whose scores and results are current writes nothing (no fsync): neither file is
    replaced; a stale run.json is rewritten."""
    files = [run_dir / SAMPLES_FILE, run_dir / "run.json"]
    rescore(run_dir)
    before = [(f.stat().st_ino, f.stat().st_mtime_ns, f.read_bytes()) for f in files]
    log = rescore(run_dir)
    assert [(f.stat().st_ino, f.stat().st_mtime_ns, f.read_bytes()) for f in files] == before
    assert log == read_run_log(run_dir)
    write_run_log(run_dir, log.model_copy(update={"n_errors": 5}))
    assert rescore(run_dir).n_errors == log.n_errors == read_run_log(run_dir).n_errors


def test_score_after_limit_aggregates_the_runs_own_samples(run_dir):
    _run(run_dir.parent, limit=8)  # the same run, re-run with a smaller --limit: reports 8
    assert read_run_log(run_dir).results["moss-video-mini"].n == 8
    log = rescore(run_dir)
    assert log.results["moss-video-mini"].n == 8 and log.n_done == 8  # was 20: every record in the file


def test_score_of_an_incomplete_run_never_exits_0(run_dir, capsys):
    from mosseval.cli import run_cli

    log = read_run_log(run_dir)
    write_run_log(run_dir, log.model_copy(update={"status": "running", "n_expected": 40}))
    assert run_cli(["score", str(run_dir)]) == ExitCode.INTERRUPTED
    assert read_run_log(run_dir).status == "interrupted"  # `running` with no writer alive: it was killed


def test_stale_run_json_is_noticed_and_recomputed(run_dir):
    loaded = load_run(run_dir)
    assert verify_run(loaded) == []
    lines = (run_dir / SAMPLES_FILE).read_text().splitlines()
    (run_dir / SAMPLES_FILE).write_text("\n".join(lines[:15] + [lines[3]]) + "\n")  # 5 lost, 1 duplicated
    stale = load_run(run_dir)
    problems = verify_run(stale)
    assert any("duplicate" in p for p in problems) and any("run.json counts 20" in p for p in problems)
    fixed = recompute_stale(stale)
    assert fixed.log.results["moss-video-mini"].n == 15 and fixed.log.n_done == 15


def test_leaderboard_marks_and_recomputes_a_stale_run(run_dir, tmp_path):
    from mosseval.leaderboard import build_leaderboard

    lines = (run_dir / SAMPLES_FILE).read_text().splitlines()
    (run_dir / SAMPLES_FILE).write_text("\n".join(lines[:10]) + "\n")
    board = build_leaderboard([str(run_dir)])
    assert any("stale" in w and "recomputed" in w for w in board.warnings)
    run = board.runs[0]
    cell = next(iter(run.cells.values()))
    assert cell.n == 10 and run.stale.recomputed


def test_running_status_with_a_live_writer_is_not_stale(run_dir):
    log = read_run_log(run_dir)
    write_run_log(run_dir, log.model_copy(update={"status": "running"}))
    with DirLock(run_dir):
        assert not any("killed" in p for p in verify_run(load_run(run_dir)))
    assert any("killed" in p for p in verify_run(load_run(run_dir)))


def test_run_files_are_0644_and_leave_no_litter(tmp_path):
    old = os.umask(0o022)
    try:
        _run(tmp_path, limit=3)
    finally:
        os.umask(old)
    for name in ("run.json", SAMPLES_FILE):
        assert stat.S_IMODE((tmp_path / "r" / name).stat().st_mode) == 0o644
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [".mosseval.lock", "run.json", SAMPLES_FILE]


def test_a_killed_writers_temp_files_are_cleaned_by_the_next(run_dir):
    (run_dir / ".run.json.k1ll3d.tmp").write_text("{")
    (run_dir / ".samples.jsonl.k1ll3d.tmp").write_text("")
    rescore(run_dir)
    assert not list(run_dir.glob(".*.tmp"))


def test_killed_synth_leaves_no_permanent_litter(tmp_path):
    from mosseval.data.synth import dataset_dirname, ensure_mini

    name = dataset_dirname(5, 8, 4)
    (tmp_path / f".{name}.k1ll3d.tmp").mkdir()  # a generator killed mid-way
    (tmp_path / f".{name}.k1ll3d.tmp" / "test.jsonl").write_text("partial")
    other = tmp_path / ".moss-video-mini-seed9.x.tmp"  # another dataset's generator: not ours to remove
    other.mkdir()
    ensure_mini(tmp_path, 5, n_test=8, n_train=4)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [
        f".{name}.lock", other.name]


def test_disk_full_names_samples_jsonl_and_keeps_run_json(tmp_path, done):
    """On a really full disk the message names samples.jsonl (it used to be masked by the run.json
    failure that followed) and run.json keeps the finished results."""
    from mosseval.errors import OutputError
    from tests.support.fs import fill_to_leave, small_tmpfs

    with small_tmpfs(tmp_path / "small", size_kb=512) as mount:
        shutil.copytree(done, mount / "r")
        fill_to_leave(mount, free_bytes=2 * (mount / "r" / "run.json").stat().st_size + 8192)
        with pytest.raises(OutputError) as exc:
            _run(mount, limit=80)
        assert "samples.jsonl" in exc.value.message and "No space left" in exc.value.message
        assert "run.json was not updated either" in (exc.value.hint or "")
        run = load_run(mount / "r")
        assert run.log.results["moss-video-mini"].n == 20 and len(run.records) >= 20
        assert not list((mount / "r").glob(".*.tmp"))


def test_run_json_holds_no_secret(tmp_path):
    secret = "s3cr3tV4lue"
    opts = RunOptions(model="oracle", tasks=["moss-video-mini"], output_dir=tmp_path, progress=False, fsync=False,
                      limit=2, command=["run", "--api-key", secret, "-M", f"x=http://u:{secret}@h/?sig={secret}"])
    out = Runner(opts).execute()
    text = (out.run_dir / "run.json").read_text()
    assert secret not in text and json.loads(text)["spec"]["command"][2] == "***"


# --------------------------------------------------------------------------- fast readers (issue 16)

from mosseval.rundir import errored_records, gc_paused, read_records  # noqa: E402
from tests.support.fixed_runs import RUNS  # noqa: E402


def _sample_lines(run):
    return (run / SAMPLES_FILE).read_text().splitlines(keepends=True)


def test_errored_records_equal_the_full_reader(tmp_path):
    run = tmp_path / "noisy"
    shutil.copytree(RUNS / "noisy", run)
    lines = _sample_lines(run)
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
    lines = _sample_lines(run)
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


def test_score_imports_no_model_video_or_data_layer():
    """`mosseval score` imports what scoring needs (the re-scoring module), not the runner's model, video
    and data layers (PyAV alone is tens of milliseconds per command)."""
    import subprocess
    import sys

    code = ("import sys\nimport mosseval.rescore\n"
            "print(sorted(m for m in ('mosseval.runner', 'mosseval.video', 'mosseval.models.base', 'av',"
            " 'mosseval.data', 'mosseval.prompts') if m in sys.modules))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"


def test_score_with_an_extractor_summary_equals_aggregating_the_full_records(tmp_path):
    """A task whose extractor adds its own summary from the full records (Video-MME's official-style
    accuracy) is re-scored from validated records; every result equals aggregating the re-scored file's
    records in full (``recompute_stale``), the summary included."""
    run = tmp_path / "noisy"
    shutil.copytree(RUNS / "noisy", run)
    log = json.loads((run / "run.json").read_text())
    log["task_specs"]["moss-video-mini"]["scoring"]["extractor"] = "videomme_official"
    (run / "run.json").write_text(json.dumps(log))
    new = rescore(run)
    summary = new.results["moss-video-mini"].extra["videomme_official"]
    assert summary["answered"] + summary["unanswered"] == new.results["moss-video-mini"].n > 0
    assert recompute_stale(load_run(run)).log.results == new.results
    assert rescore(run).results == new.results  # and again, from the lines it wrote
