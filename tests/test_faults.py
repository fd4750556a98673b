"""The fault catalogue (issue 12): every bad input × the message it must print × its exit code ×
"nothing lost".

Each row is typed for real through the command line (``run_cli``: the same parser, the same
exit-code contract as the console script, in-process so the catalogue stays fast). A row says
what it sets up, the argv, the exit code, a fragment the one-line message must contain, and what
must not have changed (finished samples, run.json results, files outside the output folder).
No row may print a traceback. The subprocess-heavy cases (two real writers racing, SIGKILL
loops) live in ``tests/test_kill_resume.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mosseval.cli import run_cli
from mosseval.errors import ExitCode
from mosseval.fileio import DirLock
from mosseval.rundir import load_run
from mosseval.runner import Runner, RunOptions
from tests.support.chat_server import ChatServer, Fail, Reply
from tests.support.fs import fill_to_leave, remount_read_only, small_tmpfs
from tests.support.videos import write_mp4

LIMIT = 12


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A finished oracle run (LIMIT samples) to copy into each case."""
    out = tmp_path_factory.mktemp("base")
    opts = RunOptions(model="oracle", tasks=["moss-video-mini"], limit=LIMIT, output_dir=out, progress=False,
                      fsync=False, run_name="r")
    Runner(opts).execute()
    return out / "r"


@dataclass
class Env:
    tmp: Path
    run: Path
    """A copy of the finished run (output dir: ``run.parent``)."""
    data: Path
    """A MOSS-Video-schema dataset (task ``faults`` in ``tasks``) with one good and one bad video."""
    tasks: Path
    outside: Path
    """A folder outside every data root and output dir (its files must never be read or written)."""
    server: ChatServer | None = None
    other: ChatServer | None = None
    values: dict[str, Any] = field(default_factory=dict)

    def snapshot(self) -> dict[str, str]:
        """Hashes of every file of the tmp tree except lock files (what 'nothing lost' compares)."""
        out = {}
        for p in sorted(self.tmp.rglob("*")):
            if p.is_file() and not p.is_symlink() and p.name != ".mosseval.lock":
                out[str(p.relative_to(self.tmp))] = hashlib.sha256(p.read_bytes()).hexdigest()
        return out


GOOD_VIDEO = "v/good.mp4"


def _task_yaml(allow_images: bool = False) -> str:
    frames = "frames: {num_frames: 4, allow_images: true}\n" if allow_images else "frames: {num_frames: 4}\n"
    return ("name: faults\nversion: '1'\nloader: moss_video_jsonl\nloader_args: {file: items.jsonl}\n"
            "data: {path: data}\nprompt: {template: '{{ question }}'}\nscoring: {prr: {}}\n" + frames)


def _items(videos: list[str], **over: Any) -> str:
    lines = []
    for i, v in enumerate(videos):
        item = {"id": f"s{i}", "video": v, "start": 0.0, "end": 1.0, "question": "What happens next?",
                "options": {"A": "left", "B": "right", "C": "up", "D": "down"}, "answer": "B",
                "reference_steps": [{"t": 0.0, "text": "the ball is at the centre"},
                                    {"t": 0.5, "text": "the ball moves to the right"}],
                "level": "coarse", "category": "motion", "split": "test"}
        item.update(over)
        lines.append(json.dumps(item))
    return "\n".join(lines) + "\n"


@pytest.fixture
def env(tmp_path, finished_run) -> Env:
    out = tmp_path / "runs"
    out.mkdir()
    shutil.copytree(finished_run, out / "r")
    data = tmp_path / "data"
    (data / "data" / "v").mkdir(parents=True)
    write_mp4(data / "data" / GOOD_VIDEO, n=12, fps=8, width=32, height=24)
    outside = tmp_path / "outside"
    outside.mkdir()
    write_mp4(outside / "private.mp4", n=12, fps=8, width=32, height=24)
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "faults.yaml").write_text(_task_yaml())
    (data / "data" / "items.jsonl").write_text(_items([GOOD_VIDEO]))
    return Env(tmp_path, out / "r", data, tasks, outside)


def _faults_args(e: Env, model: str = "oracle") -> list[str]:
    return ["run", "--model", model, "--tasks", "faults", "--tasks-dir", str(e.tasks), "--data-dir", str(e.data),
            "-o", str(e.tmp / "fruns"), "-q"]


def _only_run_dir(e: Env) -> Path:
    dirs = [d for d in (e.tmp / "fruns").iterdir() if d.is_dir()]
    assert len(dirs) == 1
    return dirs[0]


def _errors(run_dir: Path) -> dict[str, str]:
    return {r.sample.id: r.generation.error.message for r in load_run(run_dir).records if r.generation.error}


# ----------------------------------------------------------------------------- the catalogue


@dataclass
class Case:
    id: str
    argv: Callable[[Env], list[str]]
    code: int
    fragment: str
    setup: Callable[[Env, pytest.MonkeyPatch], None] | None = None
    check: Callable[[Env, dict[str, str], dict[str, str]], None] | None = None
    """Gets (env, snapshot before, snapshot after); default: nothing changed at all."""
    stream: str = "err"


def unchanged(e: Env, before: dict[str, str], after: dict[str, str]) -> None:
    assert before == after, "files changed: " + ", ".join(sorted(set(before.items()) ^ set(after.items()))[:6])


def only_new_files_under(sub: str) -> Callable[[Env, dict[str, str], dict[str, str]], None]:
    def check(e: Env, before: dict[str, str], after: dict[str, str]) -> None:
        for k, v in before.items():
            assert after.get(k) == v, f"{k} changed or vanished"
        assert all(k.startswith(sub) for k in set(after) - set(before)), sorted(set(after) - set(before))
    return check


def results_kept(e: Env, before: dict[str, str], after: dict[str, str]) -> None:
    run = load_run(e.run)
    assert run.log.results["moss-video-mini"].n == LIMIT and len(run.records) >= LIMIT
    assert before["runs/r/samples.jsonl"] == after["runs/r/samples.jsonl"] or \
        len(run.records) >= LIMIT


def _run_args(e: Env, *extra: str) -> list[str]:
    return ["run", "--model", "oracle", "--limit", str(LIMIT), "-o", str(e.run.parent), "--run-name", e.run.name,
            "-q", *extra]


# setups ---------------------------------------------------------------------------------------


def hold_lock(e: Env, mp: pytest.MonkeyPatch) -> None:
    lock = DirLock(e.run, command="mosseval run --model oracle (the other writer)")
    # another process would hold it; the in-process lock table would let us in, so fake a foreign holder
    import mosseval.fileio as fileio

    lock.acquire()
    key = os.path.realpath(lock.path)
    fd = fileio._held.pop(key)[0]
    e.values["lock_fd"] = fd


def disk_full(e: Env, mp: pytest.MonkeyPatch) -> None:
    """The run directory on a real, nearly full file system (a small tmpfs): room for run.json, not
    for the new samples."""
    cm = small_tmpfs(e.tmp / "full", size_kb=512)
    mount = cm.__enter__()
    e.values.setdefault("cleanups", []).append(lambda: cm.__exit__(None, None, None))
    shutil.copytree(e.run, mount / "r")
    e.run = mount / "r"
    fill_to_leave(mount, free_bytes=2 * (e.run / "run.json").stat().st_size + 8192)


def read_only_fs(e: Env, mp: pytest.MonkeyPatch) -> None:
    """The finished run on a real read-only file system (EROFS even for root)."""
    cm = small_tmpfs(e.tmp / "ro", size_kb=4096)
    mount = cm.__enter__()
    e.values.setdefault("cleanups", []).append(lambda: cm.__exit__(None, None, None))
    shutil.copytree(e.run, mount / "r")
    e.run = mount / "r"
    remount_read_only(mount)


def mark_status(value: Any) -> Callable[[Env, pytest.MonkeyPatch], None]:
    def setup(e: Env, mp: pytest.MonkeyPatch) -> None:
        data = json.loads((e.run / "run.json").read_text())
        data["status"] = value
        (e.run / "run.json").write_text(json.dumps(data))
    return setup


def mark_failed(keep: int | None = None) -> Callable[[Env, pytest.MonkeyPatch], None]:
    """run.json says ``failed`` (its writer hit a full disk, a crash); ``keep`` samples survive."""
    def setup(e: Env, mp: pytest.MonkeyPatch) -> None:
        data = json.loads((e.run / "run.json").read_text())
        data["status"] = "failed"
        (e.run / "run.json").write_text(json.dumps(data))
        if keep is not None:
            lines = (e.run / "samples.jsonl").read_text().splitlines(keepends=True)
            (e.run / "samples.jsonl").write_text("".join(lines[:keep]))
    return setup


def status_now(expected: str) -> Callable[[Env, dict[str, str], dict[str, str]], None]:
    def check(e: Env, before: dict[str, str], after: dict[str, str]) -> None:
        log = load_run(e.run).log
        assert log.status == expected, log.status
    return check


def crash_in_plan(e: Env, mp: pytest.MonkeyPatch) -> None:
    def boom(*a: Any, **k: Any) -> Any:
        raise ValueError("an unexpected bug")
    mp.setattr("mosseval.runner.plan", boom)


def processor_needs_package(e: Env, mp: pytest.MonkeyPatch) -> None:
    def missing(*a: Any, **k: Any) -> Any:
        raise ImportError("Package `num2words` is required to run SmolVLM processor", name="num2words")
    mp.setattr("mosseval.runner.plan", missing)


def read_only_run(e: Env, mp: pytest.MonkeyPatch) -> None:
    real_open = os.open
    root = str(e.run)

    def deny(path: Any, flags: int, *a: Any, **k: Any) -> int:
        if str(path).startswith(root) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise PermissionError(13, "Read-only file system", str(path))
        return real_open(path, flags, *a, **k)
    mp.setattr(os, "open", deny)
    import tempfile

    real_mkstemp = tempfile.mkstemp

    def deny_tmp(*a: Any, dir: Any = None, **k: Any) -> Any:  # noqa: A002
        if dir is not None and str(dir).startswith(root):
            raise PermissionError(13, "Read-only file system", str(dir))
        return real_mkstemp(*a, dir=dir, **k)
    mp.setattr(tempfile, "mkstemp", deny_tmp)


def interrupt_midway(e: Env, mp: pytest.MonkeyPatch) -> None:
    """Ctrl-C once the first model batch (5 samples: the case's --batch-size) is written."""
    from mosseval.rundir import SampleWriter

    real_write = SampleWriter.write_many

    def write_many(self: Any, records: Any) -> None:
        real_write(self, records)
        raise KeyboardInterrupt
    mp.setattr(SampleWriter, "write_many", write_many)


def bad_yaml(e: Env, mp: pytest.MonkeyPatch) -> None:
    (e.tasks / "faults.yaml").write_text("name: faults\nversion: 1\nprompt:\n  template: [unclosed\n")


def wrong_field_type(e: Env, mp: pytest.MonkeyPatch) -> None:
    (e.data / "data" / "items.jsonl").write_text(_items([GOOD_VIDEO], start="soon"))


def corrupt_samples_line(e: Env, mp: pytest.MonkeyPatch) -> None:
    lines = (e.run / "samples.jsonl").read_text().splitlines()
    lines[2] = lines[2][: len(lines[2]) // 2]
    (e.run / "samples.jsonl").write_text("\n".join(lines) + "\n")


def symlink_out(e: Env, mp: pytest.MonkeyPatch) -> None:
    (e.data / "data" / "v" / "leak.mp4").symlink_to(e.outside / "private.mp4")
    (e.data / "data" / "items.jsonl").write_text(_items([GOOD_VIDEO, "v/leak.mp4"]))


def run_then_link_out(e: Env, mp: pytest.MonkeyPatch) -> None:
    """A finished run (its frames in the frame cache), then its video swapped for a link to an
    identical copy outside the data root (same size, mtime and bytes: what the frame cache keys on)."""
    assert run_cli([*_faults_args(e), "--run-name", "first"]) == 0
    video = e.data / "data" / GOOD_VIDEO
    shutil.copy2(video, e.outside / "copy.mp4")
    video.unlink()
    video.symlink_to(e.outside / "copy.mp4")


def png_as_mp4(e: Env, mp: pytest.MonkeyPatch) -> None:
    from PIL import Image

    Image.new("RGB", (32, 24), (255, 0, 0)).save(e.data / "data" / "v" / "image.mp4", format="PNG")
    (e.data / "data" / "items.jsonl").write_text(_items([GOOD_VIDEO, "v/image.mp4"]))


def api_server(reply: Callable[[], Reply] | None, *, redirect_elsewhere: bool = False):
    def setup(e: Env, mp: pytest.MonkeyPatch) -> None:
        e.server = ChatServer(lambda req: "<think>the ball moves right</think><answer>B</answer>").start()
        e.other = ChatServer().start()
        if redirect_elsewhere:
            e.server.fail(Fail.redirect(e.other.base_url + "/chat/completions"))
        elif reply is not None:
            e.server.fail(reply())
    return setup


def api_args(e: Env, *extra: str, secret: str = "") -> list[str]:
    assert e.server is not None
    base = e.server.base_url.replace("http://", f"http://user:{secret}@") if secret else e.server.base_url
    margs = f"base_url={base}{'?token=' + secret if secret else ''},timeout=1,max_retries=0"
    return [*_faults_args(e, "openai:test-model"), "-M", margs, *extra]


# checks ---------------------------------------------------------------------------------------


def nothing_created(name: str) -> Callable[[Env, dict[str, str], dict[str, str]], None]:
    """Nothing changed, and no folder (not even one holding only a lock file) was created for a typo."""
    def check(e: Env, before: dict[str, str], after: dict[str, str]) -> None:
        unchanged(e, before, after)
        assert not (e.tmp / name).exists(), sorted(p.name for p in (e.tmp / name).rglob("*"))
    return check


def nothing_outside(e: Env, before: dict[str, str], after: dict[str, str]) -> None:
    unchanged(e, before, after)
    assert not (e.tmp / "x").exists() and not (e.tmp.parent / "x").exists()


def sample_errors(**expected: str) -> Callable[[Env, dict[str, str], dict[str, str]], None]:
    def check(e: Env, before: dict[str, str], after: dict[str, str]) -> None:
        errs = _errors(_only_run_dir(e))
        for sid, frag in expected.items():
            assert frag in errs.get(sid, ""), (sid, errs)
        assert "s0" not in errs  # the good sample still ran
        for k, v in before.items():
            assert after.get(k) == v
    return check


def never_sent_elsewhere(e: Env, before: dict[str, str], after: dict[str, str]) -> None:
    assert e.other is not None and e.other.chat_requests() == []
    errs = _errors(_only_run_dir(e))
    assert "redirect" in errs.get("s0", ""), errs


def no_frames_of_the_leak_sent(e: Env, before: dict[str, str], after: dict[str, str]) -> None:
    sample_errors(s1="outside the data root")(e, before, after)
    assert e.server is not None and len(e.server.chat_requests()) == 1  # only the good sample reached the API


def refused_despite_the_frame_cache(e: Env, before: dict[str, str], after: dict[str, str]) -> None:
    errs = _errors(e.tmp / "fruns" / "second")
    assert "outside the data root" in errs.get("s0", ""), errs
    assert load_run(e.tmp / "fruns" / "second").records[0].generation.frames is None


def no_thumbnails(e: Env, before: dict[str, str], after: dict[str, str]) -> None:
    html = (e.tmp / "lb.html").read_text()
    assert "data:image/jpeg" not in html  # nothing decoded from outside the root
    only_new_files_under("lb.")(e, before, after)


def drip_cut_off(e: Env, before: dict[str, str], after: dict[str, str]) -> None:
    run = load_run(_only_run_dir(e))
    rec = next(r for r in run.records if r.sample.id == "s0")
    assert rec.generation.error is not None and rec.generation.error.kind == "timeout"
    assert rec.generation.extra["api_latency_s"] < 3.0  # a 1 s deadline, not ~1 byte per 0.2 s for minutes


def huge_not_stored(e: Env, before: dict[str, str], after: dict[str, str]) -> None:
    run_dir = _only_run_dir(e)
    assert "exceeds" in _errors(run_dir)["s0"]
    assert (run_dir / "samples.jsonl").stat().st_size < 200_000


def disk_full_keeps_results(e: Env, before: dict[str, str], after: dict[str, str]) -> None:
    run = load_run(e.run)  # run.json still holds the finished results (never replaced by an empty log)
    assert run.log.results["moss-video-mini"].n == LIMIT and len(run.records) >= LIMIT
    assert not list(e.run.glob(".*.tmp"))


def release_lock(e: Env, before: dict[str, str], after: dict[str, str]) -> None:
    os.close(e.values.pop("lock_fd"))
    unchanged(e, before, after)


def interrupted_kept(e: Env, before: dict[str, str], after: dict[str, str]) -> None:
    run = load_run(_only_run_dir(e))
    assert run.log.status == "interrupted" and len(run.records) == 5
    assert run_cli(["score", str(_only_run_dir(e))]) == ExitCode.INTERRUPTED  # still incomplete: never 0


SECRET = "s3cr3tV4lue"
XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def secrets_nowhere(e: Env, before: dict[str, str], after: dict[str, str]) -> None:
    """The secret given in the URL user-info, a ?token= query and api_key= never reaches run.json,
    samples.jsonl, leaderboard.json, the HTML or the console."""
    run_dir = _only_run_dir(e)
    code = run_cli(["leaderboard", str(run_dir), "-o", str(e.tmp / "lb.html"), "--samples-per-run", "5"])
    assert code == 0
    for p in [*run_dir.rglob("*"), e.tmp / "lb.html", e.tmp / "lb.json"]:
        if p.is_file():
            assert SECRET not in p.read_text(errors="replace"), p
    assert e.server is not None and e.server.chat_requests()
    assert all(r.path.endswith(f"/chat/completions?token={SECRET}") for r in e.server.chat_requests())  # sent


def _no_secret_printed(e: Env) -> None:
    assert SECRET not in e.values.get("printed", ""), "the secret was printed"


def xss_escaped(e: Env, before: dict[str, str], after: dict[str, str]) -> None:
    run_dir = _only_run_dir(e)
    assert run_cli(["leaderboard", str(run_dir), "-o", str(e.tmp / "lb.html")]) == 0
    html = (e.tmp / "lb.html").read_text()
    assert "<script>alert(1)" not in html and "onerror=alert(2)>" not in html
    assert load_run(run_dir).records[0].generation.text.startswith("<think>" + XSS)  # stored verbatim


CASES = [
    # the command line itself
    Case("no-arguments", lambda e: [], ExitCode.USAGE, "Usage: mosseval", stream="out"),
    Case("run-without-model", lambda e: ["run"], ExitCode.USAGE, "Missing option '--model'"),
    Case("unknown-global-option", lambda e: ["--bogus"], ExitCode.USAGE, "No such option: --bogus"),
    Case("unknown-run-option", lambda e: ["run", "--bogus"], ExitCode.USAGE, "No such option: --bogus"),
    # the parser's error for an option without its value carries no command: the hint still names `run`
    Case("run-option-without-value", lambda e: ["run", "--model"], ExitCode.USAGE,
         "requires an argument.\n  hint: see `mosseval run --help`"),
    Case("nested-option-without-value", lambda e: ["data", "check", "--data-dir"], ExitCode.USAGE,
         "hint: see `mosseval data check --help`"),
    Case("limit-not-a-number", lambda e: _run_args(e) + ["--limit", "abc"], ExitCode.USAGE,
         "Invalid value for '--limit'"),
    Case("short-help", lambda e: ["-h"], ExitCode.OK, "Usage: mosseval", stream="out"),
    Case("run-short-help", lambda e: ["run", "-h"], ExitCode.OK, "--model", stream="out"),
    Case("version", lambda e: ["--version"], ExitCode.OK, "mosseval 0.", stream="out"),
    Case("build-tiny-without-out", lambda e: ["models", "build-tiny"], ExitCode.USAGE, "Missing option '--out'"),
    Case("unknown-task", lambda e: ["run", "-m", "oracle", "-t", "moss-video-mni", "-o", str(e.tmp / "x")],
         ExitCode.USAGE, "did you mean 'moss-video-mini'"),
    Case("unknown-model", lambda e: ["run", "-m", "orcale", "-o", str(e.tmp / "x")], ExitCode.USAGE,
         "did you mean 'oracle'"),
    # overrides are held to the YAML schema's limits
    Case("frames-zero", lambda e: _run_args(e, "--frames", "0"), ExitCode.USAGE, "--frames 0", check=results_kept),
    Case("frames-huge", lambda e: _run_args(e, "--frames", "100000"), ExitCode.USAGE, "--frames 100000"),
    Case("max-pixels-tiny", lambda e: _run_args(e, "--max-pixels", "1"), ExitCode.USAGE, "--max-pixels 1"),
    Case("max-pixels-huge", lambda e: _run_args(e, "--max-pixels", str(10**12)), ExitCode.USAGE, "--max-pixels"),
    Case("workers-huge", lambda e: _run_args(e, "--workers", "1000"), ExitCode.USAGE, "--workers 1000"),
    Case("workers-negative", lambda e: _run_args(e, "--workers", "-1"), ExitCode.USAGE, "--workers -1"),
    Case("batch-size-zero", lambda e: _run_args(e, "--batch-size", "0"), ExitCode.USAGE, "--batch-size 0"),
    Case("limit-zero", lambda e: _run_args(e, "--limit", "0"), ExitCode.USAGE, "--limit 0"),
    Case("prr-jump-zero", lambda e: _run_args(e, "--prr", "jump=0"), ExitCode.USAGE, "jump"),
    Case("run-name-climbs-out", lambda e: ["run", "-m", "oracle", "-n", "2", "-o", str(e.tmp / "o"),
                                           "--run-name", "../../x"], ExitCode.USAGE, "--run-name", check=nothing_outside),
    Case("run-name-absolute", lambda e: ["run", "-m", "oracle", "-n", "2", "-o", str(e.tmp / "o"),
                                         "--run-name", str(e.tmp / "x")], ExitCode.USAGE, "--run-name",
         check=nothing_outside),
    Case("run-name-newline", lambda e: ["run", "-m", "oracle", "-n", "2", "-o", str(e.tmp / "o"), "--run-name", "a\nb"],
         ExitCode.USAGE, "--run-name 'a\\nb'", check=nothing_created("o")),
    Case("output-dir-is-a-file", lambda e: ["run", "-m", "oracle", "-n", "2", "-o", str(e.run / "run.json")],
         ExitCode.USAGE, "is a file, not a folder"),
    # bad files
    Case("malformed-task-yaml", lambda e: ["tasks", "--tasks-dir", str(e.tasks), "--no-counts"], ExitCode.USAGE,
         "faults.yaml (line", setup=bad_yaml),
    Case("dataset-field-wrong-type", _faults_args, ExitCode.USAGE, "items.jsonl:1: field 'start'",
         setup=wrong_field_type, check=only_new_files_under("fruns")),
    Case("corrupt-samples-line", lambda e: ["errors", str(e.run)], ExitCode.USAGE,
         "samples.jsonl:3: invalid sample record: Invalid JSON", setup=corrupt_samples_line),
    Case("run-json-field-of-the-wrong-type", lambda e: ["score", str(e.run)], ExitCode.USAGE,
         "run.json is not a valid run log: field 'status': Input should be", setup=mark_status(5)),
    Case("not-a-run-dir", lambda e: ["score", str(e.tmp / "nope" / "typo")], ExitCode.USAGE,
         "not a mosseval run directory", check=nothing_created("nope")),
    Case("not-a-run-dir-judge", lambda e: ["judge", str(e.tmp / "nope" / "typo"), "--base-url", "http://127.0.0.1:9/v1"],
         ExitCode.USAGE, "not a mosseval run directory", check=nothing_created("nope")),
    Case("a-file-as-run-dir", lambda e: ["score", str(e.run / "run.json")], ExitCode.USAGE,
         "not a mosseval run directory"),
    # run directories: one writer, nothing lost
    Case("second-writer-score", lambda e: ["score", str(e.run)], ExitCode.USAGE,
         "is being written by another mosseval process (pid", setup=hold_lock, check=release_lock),
    Case("second-writer-run", lambda e: _run_args(e), ExitCode.USAGE, "(the other writer)", setup=hold_lock,
         check=release_lock),
    Case("read-only-run-dir-score", lambda e: ["score", str(e.run)], ExitCode.OUTPUT, "cannot write",
         setup=read_only_run),
    Case("read-only-fs-score", lambda e: ["score", str(e.run)], ExitCode.OUTPUT, "Read-only file system",
         setup=read_only_fs),
    Case("read-only-fs-judge", lambda e: ["judge", str(e.run), "--base-url", "http://127.0.0.1:9/v1", "-q"],
         ExitCode.OUTPUT, "Read-only file system", setup=read_only_fs),
    Case("read-only-fs-rerun", lambda e: _run_args(e), ExitCode.OUTPUT, "not writable", setup=read_only_fs),
    # a `failed` run used to re-score to exit 70 with no message (as if mosseval had crashed)
    Case("score-failed-but-complete-run", lambda e: ["score", str(e.run)], ExitCode.OK, "accuracy%=100.0",
         setup=mark_failed(), check=status_now("completed"), stream="out"),
    Case("score-failed-part-way-run", lambda e: ["score", str(e.run)], ExitCode.INTERRUPTED,
         "the run is incomplete (failed: 5 of 12 samples)", setup=mark_failed(keep=5), check=status_now("failed")),
    Case("disk-full", lambda e: _run_args(e, "--limit", str(LIMIT + 60)), ExitCode.OUTPUT,
         "samples.jsonl: No space left", setup=disk_full, check=disk_full_keeps_results),
    Case("interrupted-never-exits-0", lambda e: ["run", "-m", "oracle", "-n", str(LIMIT), "-o", str(e.tmp / "fruns"),
                                                 "--batch-size", "5", "-q"], ExitCode.INTERRUPTED, "interrupted", setup=interrupt_midway,
         check=interrupted_kept),
    # the exit-code contract for crashes
    Case("internal-error", lambda e: _run_args(e), ExitCode.INTERNAL, "internal error: ValueError: an unexpected bug",
         setup=crash_in_plan),
    Case("missing-package-in-a-processor", lambda e: _run_args(e), ExitCode.MISSING_DEPENDENCY, "num2words",
         setup=processor_needs_package),
    # media may not leave its data root; a still image is not a video
    Case("symlink-out-of-data-root", lambda e: api_args(e), ExitCode.SAMPLE_ERRORS, "1 sample(s) failed",
         setup=lambda e, mp: (symlink_out(e, mp), api_server(None)(e, mp)), check=no_frames_of_the_leak_sent),
    Case("symlink-out-data-check", lambda e: ["data", "check", "faults", "--tasks-dir", str(e.tasks), "--data-dir",
                                              str(e.data)],
         ExitCode.SAMPLE_ERRORS, "unsafe: v/leak.mp4", setup=symlink_out, stream="out"),
    Case("symlink-out-preflight-quiet", lambda e: [*_faults_args(e), "--preflight"], ExitCode.SAMPLE_ERRORS,
         "preflight faults: unsafe: v/leak.mp4", setup=symlink_out, check=only_new_files_under("fruns")),
    Case("symlink-out-after-frames-were-cached", lambda e: [*_faults_args(e), "--run-name", "second"],
         ExitCode.SAMPLE_ERRORS, "1 sample(s) failed", setup=run_then_link_out, check=refused_despite_the_frame_cache),
    Case("symlink-out-leaderboard-thumbnails", lambda e: ["leaderboard", str(e.tmp / "fruns" / "first"), "-o",
                                                           str(e.tmp / "lb.html"), "--thumbnails", "--data-dir",
                                                           str(e.data)],
         ExitCode.OK, "outside the data root", setup=run_then_link_out, check=no_thumbnails),
    Case("png-renamed-mp4", lambda e: api_args(e), ExitCode.SAMPLE_ERRORS, "1 sample(s) failed",
         setup=lambda e, mp: (png_as_mp4(e, mp), api_server(None)(e, mp)),
         check=sample_errors(s1="is a still image")),
    Case("png-renamed-mp4-data-check", lambda e: ["data", "check", "faults", "--tasks-dir", str(e.tasks),
                                                  "--data-dir", str(e.data)],
         ExitCode.SAMPLE_ERRORS, "still image", setup=png_as_mp4, stream="out"),
    # hostile servers
    Case("server-drips-bytes", lambda e: api_args(e), ExitCode.SAMPLE_ERRORS, "1 sample(s) failed",
         setup=api_server(lambda: Fail.drip(0.2)), check=drip_cut_off),
    Case("redirect-to-another-host", lambda e: api_args(e), ExitCode.SAMPLE_ERRORS, "1 sample(s) failed",
         setup=api_server(None, redirect_elsewhere=True), check=never_sent_elsewhere),
    # secrets and hostile model output
    # (the base_url query is sent with every request, after the route, and never written)
    Case("secrets-in-url-query-and-args", lambda e: api_args(e, secret=SECRET), ExitCode.OK, "",
         setup=api_server(None), check=secrets_nowhere),
    Case("api-key-as-model-arg", lambda e: [*api_args(e)[:-1], api_args(e)[-1] + f",api_key={SECRET}"],
         ExitCode.USAGE, "api_key", setup=api_server(None), check=lambda e, b, a: (
             unchanged(e, b, a), _no_secret_printed(e))),
    Case("xss-in-model-output", lambda e: api_args(e), ExitCode.OK, "",
         setup=lambda e, mp: (api_server(None)(e, mp), setattr(e.server, "responder",
                                                              lambda req: f"<think>{XSS}</think><answer>B</answer>")),
         check=xss_escaped),
    Case("huge-response-capped", lambda e: [*api_args(e)[:-1], api_args(e)[-1] + ",max_response_bytes=100000"],
         ExitCode.SAMPLE_ERRORS, "1 sample(s) failed", setup=api_server(lambda: Fail.huge(10_000_000)),
         check=huge_not_stored),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault(case: Case, env: Env, capsys, monkeypatch):
    try:
        if case.setup is not None:
            case.setup(env, monkeypatch)
        argv = [str(a) for a in case.argv(env)]
        before = env.snapshot()
        capsys.readouterr()
        code = run_cli(argv)
        cap = capsys.readouterr()
        monkeypatch.undo()
        env.values["printed"] = cap.out + cap.err
        text = cap.err if case.stream == "err" else cap.out
        assert code == case.code, (code, cap.out[-800:], cap.err[-800:])
        assert case.fragment in text, (case.fragment, cap.out[-800:], cap.err[-800:])
        assert "Traceback" not in cap.err + cap.out
        if case.code not in (ExitCode.OK, ExitCode.SAMPLE_ERRORS, ExitCode.INTERRUPTED) and case.stream == "err":
            lines = [x for x in cap.err.splitlines() if x.strip()]
            assert lines[0].startswith("error:") and len(lines) <= 2, cap.err  # one line (+ a hint line)
        (case.check or unchanged)(env, before, env.snapshot())
    finally:
        for srv in (env.server, env.other):
            if srv is not None:
                srv.close()
        if "lock_fd" in env.values:
            os.close(env.values.pop("lock_fd"))
        for cleanup in env.values.get("cleanups", []):
            cleanup()


def test_debug_shows_the_traceback_of_an_internal_error(env, capsys, monkeypatch):
    crash_in_plan(env, monkeypatch)
    assert run_cli([*_run_args(env), "--debug"]) == ExitCode.INTERNAL
    err = capsys.readouterr().err
    assert "internal error: ValueError" in err and "Traceback" in err
    monkeypatch.setenv("MOSSEVAL_DEBUG", "1")
    assert run_cli(_run_args(env)) == ExitCode.INTERNAL
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "commands"), [([], ("run", "leaderboard")), (["data"], ("check", "synth"))],
                         ids=["mosseval", "mosseval-data"])
def test_bare_group_shows_its_commands_once(argv, commands, capsys):
    assert run_cli(argv) == ExitCode.USAGE
    out = capsys.readouterr().out
    assert all(c in out for c in commands)
    assert out.count("Usage: mosseval") == 1, out  # typer prints the help while raising: not a second time


def test_wait_waits_for_the_other_writer(env, capsys, monkeypatch):
    import mosseval.fileio as fileio

    lock = DirLock(env.run).acquire()
    fd = fileio._held.pop(os.path.realpath(lock.path))[0]  # make it look like another process's lock
    real_holder = fileio.read_lock_holder
    seen: list[dict] = []

    def holder_then_release(directory):  # called once the waiter found the lock taken: then "the other
        info = real_holder(directory)    # writer" finishes (no timer betting on when that happens)
        seen.append(info or {})
        os.close(fd)
        return info
    monkeypatch.setattr(fileio, "read_lock_holder", holder_then_release)
    assert run_cli(["score", str(env.run), "--wait"]) == ExitCode.OK
    assert len(seen) == 1 and seen[0].get("pid") == os.getpid()
    assert "waiting for the other writer" in capsys.readouterr().err
