"""End-to-end runner tests on the embedded moss-video-mini: baselines, resume, errors, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mosseval.errors import ExitCode
from mosseval.rundir import load_run
from mosseval.runner import Runner, RunOptions
from tests.support.cli import REPO


def _run(model: str, out: Path, **kw) -> object:
    opts = RunOptions(model=model, tasks=kw.pop("tasks", ["moss-video-mini"]), output_dir=out, progress=False,
                      fsync=False, **kw)
    return Runner(opts).execute()


@pytest.fixture(scope="module")
def baseline_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return {m: _run(m, out) for m in ("oracle", "random")}


def test_oracle_is_perfect(baseline_runs):
    outcome = baseline_runs["oracle"]
    res = outcome.log.results["moss-video-mini"]
    assert outcome.exit_code == 0 and outcome.log.status == "completed"
    assert res.n >= 200 and res.accuracy.value == 1.0
    assert res.parse_failure_rate == 0.0 and res.format_rate == 1.0
    assert res.prr is not None and res.prr.value == pytest.approx(1.0, abs=1e-12)
    assert res.prr_correct.value == pytest.approx(1.0) and res.prr_incorrect.n == 0
    assert res.accuracy.ci_low > 0.97 and res.accuracy.ci_high == 1.0
    # per-category and per-level breakdowns are saved
    assert len(res.breakdowns["category"]) >= 4
    assert set(res.breakdowns["level"]) <= {"coarse", "fine"}
    assert all(e.value == 1.0 for e in res.breakdowns["category"].values())


def test_random_is_near_chance(baseline_runs):
    res = baseline_runs["random"].log.results["moss-video-mini"]
    assert res.accuracy.ci_low <= 0.25 <= res.accuracy.ci_high
    assert 0.12 < res.accuracy.value < 0.40
    assert res.accuracy.n_clusters is not None and res.accuracy.n_clusters < res.n  # clustered by video
    assert res.prr is not None and res.prr.value < 0.35  # reasoning unrelated to the timeline
    assert res.parse_failure_rate == 0.0


def test_run_files_and_frames_recorded(baseline_runs):
    run = load_run(baseline_runs["oracle"].run_dir)
    assert run.log.identity.eval.tasks[0].name == "moss-video-mini"
    assert run.log.spec.packages["av"]
    assert len(run.records) == run.log.n_done == run.log.n_expected
    keys = [r.key for r in run.records]
    assert len(keys) == len(set(keys))
    rec = run.records[0]
    assert rec.generation.frames is not None and len(rec.generation.frames.indices) == 8
    assert rec.generation.frames.decoder == "pyav"
    assert rec.score.prr_detail is not None and rec.score.prr_detail.path


def test_same_command_twice_is_identical_and_resumes(tmp_path):
    a = _run("random", tmp_path, limit=30)
    b = _run("random", tmp_path, limit=30)  # nothing left to do: same directory, same results
    assert a.run_dir == b.run_dir
    assert a.log.results == b.log.results
    assert len(load_run(a.run_dir).records) == 30
    c = _run("random", tmp_path, limit=40)  # extends the same run
    assert c.run_dir == a.run_dir and len(load_run(c.run_dir).records) == 40


def test_different_identity_never_mixed(tmp_path, cli):
    p = cli("run", "--model", "random", "--limit", "5", "-o", str(tmp_path), "--run-name", "x", "-q")
    assert p.returncode == 0, p.stderr
    p = cli("run", "--model", "random", "--limit", "5", "-o", str(tmp_path), "--run-name", "x", "--frames", "4", "-q")
    assert p.returncode == ExitCode.USAGE
    assert "holds a different run" in p.stderr and "Traceback" not in p.stderr
    # without --run-name the other identity gets its own hash-named directory
    p = cli("run", "--model", "random", "--limit", "5", "-o", str(tmp_path), "--frames", "4", "-q")
    assert p.returncode == 0
    assert len([d for d in tmp_path.iterdir() if d.is_dir()]) == 2


@pytest.mark.e2e
def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    ref = _run("random", tmp_path / "ref")
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "mosseval", "run", "--model", "random", "--tasks", "moss-video-mini",
           "-o", str(out), "--batch-size", "1", "--workers", "1", "-q"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    samples = None
    deadline = time.monotonic() + 120
    killed_at = 0
    while time.monotonic() < deadline and proc.poll() is None:
        found = list(out.glob("*/samples.jsonl"))
        if found:
            samples = found[0]
            killed_at = samples.read_bytes().count(b"\n")
            if killed_at >= 40:
                os.kill(proc.pid, signal.SIGKILL)
                break
        time.sleep(0.005)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert samples is not None and 40 <= killed_at < ref.log.n_expected
    resumed = _run("random", out)
    run = load_run(resumed.run_dir)
    keys = [json.loads(line)["key"] for line in samples.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == ref.log.n_expected  # nothing duplicated or missing
    assert resumed.log.results == ref.log.results
    assert resumed.log.status == "completed"
    assert sorted(r.key for r in run.records) == sorted(r.key for r in load_run(ref.run_dir).records)


@pytest.fixture
def broken_task(tmp_path, baseline_runs):
    """A MOSS-Video-schema task whose data has a good, a truncated, a missing and a non-video file."""
    run = load_run(baseline_runs["oracle"].run_dir)
    root = tmp_path / "data"
    (root / "v").mkdir(parents=True)
    src_root = Path(os.environ["MOSSEVAL_CACHE_DIR"]) / "data" / "moss-video-mini-seed0"
    lines = []
    recs = run.records[:2]
    good = src_root / recs[0].sample.video.path
    shutil.copy(good, root / "v" / "good.mp4")
    data = good.read_bytes()
    (root / "v" / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (root / "v" / "text.mp4").write_text("this is not a video")
    for name, rec in zip(["good", "truncated", "missing", "text"], [recs[0], recs[1], recs[0], recs[1]]):
        s = rec.sample
        lines.append({"id": name, "video": f"v/{name}.mp4", "start": s.video.start, "end": s.video.end,
                      "question": s.question, "options": s.options, "answer": s.answer,
                      "reference_steps": [st.model_dump() for st in s.reference_steps],
                      "level": s.level, "category": s.category, "split": "test"})
    (root / "items.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    tdir = tmp_path / "tasks"
    tdir.mkdir()
    (tdir / "broken.yaml").write_text("""
name: broken-videos
version: "1"
loader: moss_video_jsonl
loader_args: {file: items.jsonl}
data: {path: data}
prompt: {template: "{{ question }}"}
scoring: {require_format: true, prr: {}}
""")
    return tmp_path, tdir


def test_media_errors_are_recorded_and_run_continues(broken_task, cli):
    base, tdir = broken_task
    p = cli("run", "--model", "oracle", "--tasks", "broken-videos", "--tasks-dir", str(tdir), "--data-dir",
            str(base), "-o", str(base / "runs"), "-q")
    assert p.returncode == ExitCode.SAMPLE_ERRORS, p.stderr
    assert "Traceback" not in p.stderr
    run_dir = Path(p.stdout.strip().splitlines()[-1])
    run = load_run(run_dir)
    errs = {r.sample.id: r.generation.error for r in run.records if r.generation.error}
    assert set(errs) == {"truncated", "missing", "text"}
    assert all(e.kind == "media" for e in errs.values())
    assert "missing.mp4" in errs["missing"].message
    res = run.log.results["broken-videos"]
    assert res.n == 4 and res.n_errors == 3 and res.accuracy.value == 0.25  # errors stay in the denominator
    assert run.log.status == "completed_with_errors"
    listed = cli("errors", str(run_dir))
    assert listed.returncode == ExitCode.SAMPLE_ERRORS
    assert "broken-videos/missing" in listed.stdout and "broken-videos/truncated" in listed.stdout


@pytest.mark.parametrize("args,code,needle", [
    (["run", "--model", "oracle", "--tasks", "moss-video-mni"], ExitCode.USAGE, "did you mean 'moss-video-mini'"),
    (["run", "--model", "orcale"], ExitCode.USAGE, "did you mean 'oracle'"),
    (["run", "--model", "./no/such/dir"], ExitCode.USAGE, "does not exist"),
    (["run", "--model", "foo:bar"], ExitCode.USAGE, "unknown model backend prefix"),
    (["run", "--model", "oracle", "--model-args", "nonsense"], ExitCode.USAGE, "is not key=value"),
    (["run", "--model", "oracle", "--limit", "0"], ExitCode.USAGE, "--limit"),
])
def test_bad_input_exit_codes(cli, args, code, needle, tmp_path):
    p = cli(*args, "-o", str(tmp_path))
    assert p.returncode == code, (p.returncode, p.stderr)
    assert needle in p.stderr
    assert "Traceback" not in p.stderr


def test_unwritable_output_dir(cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    p = cli("run", "--model", "oracle", "--limit", "2", "-o", str(blocker / "sub"))
    assert p.returncode == ExitCode.OUTPUT
    assert "not writable" in p.stderr and "file is a file, not a folder" in p.stderr and "Traceback" not in p.stderr


def test_malformed_task_yaml(cli, tmp_path):
    tdir = tmp_path / "tasks"
    tdir.mkdir()
    (tdir / "bad.yaml").write_text("name: bad\nversion: 1\nloader: moss_video_jsonl\nprompt:\n  template: [unclosed\n")
    p = cli("tasks", "--tasks-dir", str(tdir))
    assert p.returncode == ExitCode.USAGE
    assert "bad.yaml" in p.stderr and "line" in p.stderr and "Traceback" not in p.stderr
    (tdir / "bad.yaml").write_text("name: bad\nversion: '1'\nloader: moss_video_jsonl\n"
                                   "prompt: {template: x}\nframes: {num_frames: many}\n")
    p = cli("tasks", "--tasks-dir", str(tdir))
    assert p.returncode == ExitCode.USAGE
    assert "bad.yaml" in p.stderr and "frames.num_frames" in p.stderr


def test_rescore_reproduces_results(baseline_runs, cli, tmp_path):
    src = baseline_runs["random"].run_dir
    dst = tmp_path / "copy"
    shutil.copytree(src, dst)
    before = load_run(dst).log.results
    scores_before = [r.score for r in load_run(dst).records]
    p = cli("score", str(dst))
    assert p.returncode == 0, p.stderr
    assert load_run(dst).log.results == before
    # the run scored 16 samples per model batch, `score` the whole task at once: same values
    assert [r.score for r in load_run(dst).records] == scores_before


def test_rescore_writes_what_reserializing_every_record_writes(baseline_runs, tmp_path):
    """`score` keeps the lines whose score is unchanged and rewrites the others: the file is byte for
    byte what re-serializing every re-scored record gives (the behaviour before lines were kept), but
    for a line whose score did not change and that was not written as mosseval writes it: kept as is."""
    from mosseval.rundir import SAMPLES_FILE, read_records
    from mosseval.runner import rescore

    dst = tmp_path / "copy"
    shutil.copytree(baseline_runs["random"].run_dir, dst)
    path = dst / SAMPLES_FILE
    original = path.read_bytes()
    lines = original.splitlines()
    recs = [json.loads(line) for line in lines]
    recs[0]["score"]["prr"] = 0.123  # stale scores
    recs[1]["score"]["correct"] = not recs[1]["score"]["correct"]
    recs[2]["score"] = None
    recs[3]["score"]["judge"] = {"legacy": 1}  # a legacy field the reader drops
    recs[4]["generation"]["latency_s"] = 1  # an int where the writer writes a float (score unchanged)
    edited = [json.dumps(r, separators=(",", ":")).encode() for r in recs[:5]] + lines[5:]
    # a duplicate (last wins), a padded line, a blank line and an unterminated last record
    path.write_bytes(b"\n".join(edited[:-1] + [edited[7] + b"  ", b""]) + b"\n" + edited[-1])
    rescore(dst)
    got = path.read_bytes()
    want = "".join(r.model_dump_json() + "\n" for r in read_records(dst)).encode()
    assert got == want.replace(b'"latency_s":1.0,', b'"latency_s":1,', 1)
    assert got.count(b"\n") == len(lines) and got.endswith(b"\n")
    keys = [json.loads(line)["key"] for line in got.splitlines()]
    assert keys == [json.loads(line)["key"] for line in lines[:7] + lines[8:-1] + lines[7:8] + lines[-1:]]  # last wins
    assert got.splitlines()[:4] == lines[:4]  # scores recomputed; the legacy field gone
    assert b'"latency_s":1,' in got.splitlines()[4]  # kept as it was: its score did not change
    # nothing changes on a second re-score: the file is not written at all
    inode, mtime = path.stat().st_ino, path.stat().st_mtime_ns
    rescore(dst)
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (inode, mtime) and path.read_bytes() == got


def test_scores_do_not_depend_on_the_model_batch(tmp_path):
    one = load_run(_run("random", tmp_path / "a", limit=24, model_args={"batch_size": 1}).run_dir)
    many = load_run(_run("random", tmp_path / "b", limit=24, model_args={"batch_size": 7}).run_dir)
    assert [r.key for r in one.records] == [r.key for r in many.records]
    assert [r.score for r in one.records] == [r.score for r in many.records]
    assert sum(r.score.prr_status == "scored" for r in many.records) == 24


def test_a_model_batch_is_appended_with_one_fsync(tmp_path, monkeypatch):
    """The samples a model batch finished are appended together: one write and one fsync of samples.jsonl a
    batch (24 samples in batches of 7: 4), every record there, in order."""
    from mosseval import fileio

    synced: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real(fd)

    monkeypatch.setattr(fileio.os, "fsync", spy)
    opts = RunOptions(model="random", tasks=["moss-video-mini"], output_dir=tmp_path / "a", progress=False,
                      limit=24, model_args={"batch_size": 7})
    run = load_run(Runner(opts).execute().run_dir)
    assert synced.count("samples.jsonl") == 4
    assert [r.index for r in run.records] == list(range(24))
    one = load_run(_run("random", tmp_path / "b", limit=24, model_args={"batch_size": 1}).run_dir)
    assert [r.score for r in run.records] == [r.score for r in one.records]


@pytest.mark.e2e
@pytest.mark.hf
def test_two_process_data_parallel_equals_single(tmp_path):
    torchrun = Path(sys.executable).parent / "torchrun"
    if not torchrun.exists():
        pytest.skip("torchrun (torch) not installed")
    single = _run("random", tmp_path / "single", limit=30)
    cmd = [str(torchrun), "--nproc_per_node", "2", "-m", "mosseval", "run", "--model", "random", "--tasks",
           "moss-video-mini", "--limit", "30", "-o", str(tmp_path / "dp"), "-q"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dp = load_run(next((tmp_path / "dp").iterdir()))
    ref = load_run(single.run_dir)
    assert dp.log.run_id == ref.log.run_id
    assert dp.log.results == ref.log.results and dp.log.status == "completed"
    assert sorted(r.key for r in dp.records) == sorted(r.key for r in ref.records)
    by_key = {r.key: r.generation.text for r in ref.records}
    assert all(by_key[r.key] == r.generation.text for r in dp.records)
    assert not (dp.path / "shards").exists()


def test_retry_errors_reruns_failed_samples(broken_task, cli):
    base, tdir = broken_task
    args = ["run", "--model", "oracle", "--tasks", "broken-videos", "--tasks-dir", str(tdir), "--data-dir",
            str(base), "-o", str(base / "runs"), "-q"]
    p = cli(*args)
    assert p.returncode == ExitCode.SAMPLE_ERRORS
    run_dir = Path(p.stdout.strip().splitlines()[-1])
    shutil.copy(base / "data" / "v" / "good.mp4", base / "data" / "v" / "missing.mp4")  # fix one file
    p = cli(*args)  # plain resume keeps the recorded errors
    assert p.returncode == ExitCode.SAMPLE_ERRORS and load_run(run_dir).log.n_errors == 3
    p = cli(*args, "--retry-errors")
    run = load_run(run_dir)
    assert run.log.n_errors == 2 and run.log.results["broken-videos"].accuracy.value == 0.5
    lines = (run_dir / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 4  # one line per sample after the retry


def test_prr_overrides_change_identity_and_values(baseline_runs, tmp_path):
    base = baseline_runs["random"]
    ablation = _run("random", tmp_path, prr={"jump": 1, "alpha": 0.0001})
    assert ablation.log.run_id != base.log.run_id
    spec = ablation.log.task_specs["moss-video-mini"].scoring.prr
    assert spec.jump == 1 and spec.alpha == 0.0001
    assert ablation.log.results["moss-video-mini"].prr.value != base.log.results["moss-video-mini"].prr.value
    assert ablation.log.results["moss-video-mini"].accuracy == base.log.results["moss-video-mini"].accuracy
    with pytest.raises(Exception, match="jump"):
        _run("random", tmp_path, prr={"jump": 0})


@pytest.mark.hf
def test_tiny_model_runs_are_bit_identical(tmp_path):
    a = _run("tiny-qwen2.5-vl", tmp_path / "a", limit=4)
    b = _run("tiny-qwen2.5-vl", tmp_path / "b", limit=4)
    ra, rb = load_run(a.run_dir), load_run(b.run_dir)
    assert a.log.run_id == b.log.run_id and a.exit_code == 0
    assert [r.generation.text for r in ra.records] == [r.generation.text for r in rb.records]
    assert all(r.generation.text for r in ra.records)
    assert a.log.results == b.log.results
    assert ra.log.identity.model["checkpoint"]  # the resolved checkpoint is recorded


def test_demo_command_renders_a_leaderboard(cli, tmp_path):
    p = cli("demo", "--models", "oracle,random", "--limit", "12", "-o", str(tmp_path / "runs"), "--report",
            str(tmp_path / "lb.html"), "-q")
    assert p.returncode == 0, p.stderr
    html = (tmp_path / "lb.html").read_text()
    assert "oracle" in html and "random" in html and (tmp_path / "lb.json").is_file()
    board = json.loads((tmp_path / "lb.json").read_text())
    assert len(board["runs"]) == 2
