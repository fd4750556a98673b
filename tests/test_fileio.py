"""The shared file layer: atomic writer, JSONL appender / reader / tail repair, directory lock."""

from __future__ import annotations

import json
import os
import random
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mosseval import fileio
from mosseval.errors import LockedError, OutputError, UsageError
from mosseval.fileio import (
    DirLock,
    JsonlAppender,
    atomic_write_text,
    atomic_writer,
    is_locked,
    iter_jsonl,
    iter_jsonl_at,
    read_lock_holder,
    remove_stale_temp,
    repair_jsonl_tail,
    write_json_atomic,
)


def test_atomic_writes_get_0644_not_mkstemp_0600(tmp_path):
    old = os.umask(0o022)
    try:
        p = write_json_atomic(tmp_path / "run.json", {"a": 1})
        q = JsonlAppender(tmp_path / "samples.jsonl")
        q.write_json({"k": 1})
        q.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "samples.jsonl").stat().st_mode) == 0o644
    assert not list(tmp_path.glob(".*.tmp"))


def test_complete_last_record_without_newline_is_kept(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text('{"k": 1}\n{"k": 2}')  # killed between the record and its newline
    assert [json.loads(line)["k"] for _, line in iter_jsonl(p)] == [1, 2]
    repair_jsonl_tail(p)
    assert p.read_text() == '{"k": 1}\n{"k": 2}\n'


def _lines_by_readline(path: Path, max_bytes: int) -> list:
    """The reader as it was before it read blocks: one ``readline`` a line (the reference)."""
    out: list = []
    with path.open("rb") as fh:
        lineno, offset = 0, 0
        while True:
            raw = fh.readline(max_bytes + 1)
            if not raw:
                return out
            lineno += 1
            if len(raw) > max_bytes:
                return out + [("too long", lineno)]
            if not raw.endswith(b"\n") and not fileio._complete_json(raw):
                return out
            if raw.strip():
                out.append((lineno, offset, raw.strip()))
            offset += len(raw)


def _lines_by_blocks(path: Path) -> list:
    out: list = []
    try:
        out.extend(iter_jsonl_at(path))
    except UsageError as exc:
        assert "a line longer than" in str(exc)
        out.append(("too long", int(str(exc).split(":")[-2])))
    return out


@pytest.mark.parametrize("block", [1, 2, 3, 7, 16, 64, 4096])
def test_the_block_reader_gives_what_one_readline_a_line_gives(tmp_path, monkeypatch, block):
    """Lines split across blocks, blank and padded lines, CRLF, a last line with and without its newline
    (complete or cut), lines at and over the length limit: the same (number, offset, line) triples and the
    same refusal (at the same line) as reading one line at a time."""
    monkeypatch.setattr(fileio, "JSONL_BLOCK", block)
    max_bytes = 40
    monkeypatch.setattr(fileio, "MAX_LINE_BYTES", max_bytes)
    rng = random.Random(block)
    pieces = [b'{"k": 1}', b"", b"  ", b' {"k": [1, 2]} ', b'{"k": "x"}\r', b'{"a": "' + b"y" * 29 + b'"}',
              b'{"a": "' + b"y" * 30 + b'"}', b'{"a": "' + b"y" * 31 + b'"}', b'{"k": 2, "te', b"\t"]
    p = tmp_path / "s.jsonl"
    n = refused = 0
    for case in range(300):
        body = b"\n".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
        body += rng.choice([b"", b"\n", b'\n{"k": 3}', b'\n{"k": 3', b"\n\n"])
        p.write_bytes(body)
        want = _lines_by_readline(p, max_bytes)
        assert _lines_by_blocks(p) == want, (case, body)
        n += len(want)
        refused += bool(want) and want[-1][0] == "too long"
    assert n > 300 and 10 < refused < 300
    assert list(iter_jsonl_at(tmp_path / "missing.jsonl")) == []


def test_partial_last_record_is_cut_before_appending(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text('{"k": 1}\n{"k": 2, "te')  # killed mid-record
    assert [json.loads(line)["k"] for _, line in iter_jsonl(p)] == [1]
    with JsonlAppender(p) as out:
        out.write_json({"k": 3})
    assert p.read_text() == '{"k": 1}\n{"k": 3}\n'


def test_repair_finds_the_last_line_of_a_big_file(tmp_path):
    p = tmp_path / "s.jsonl"
    big = json.dumps({"k": "x" * 200_000})
    p.write_text(big + "\n" + big[:-5])
    repair_jsonl_tail(p)
    assert p.read_text() == big + "\n"


def test_appender_names_the_file_when_the_disk_is_full(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    link = tmp_path / "samples.jsonl"
    link.symlink_to("/dev/full")
    out = JsonlAppender(link)
    with pytest.raises(OutputError, match="samples.jsonl.*No space left"):
        out.write_json({"k": 1})
    out.close()


def test_atomic_write_failure_names_the_file_and_leaves_no_temp(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write .*run.json: .*file is a file, not a folder"):
        atomic_write_text(blocker / "run.json", "{}")
    with pytest.raises(OutputError, match="file is a file, not a folder"):  # a deeper missing folder too
        atomic_write_text(blocker / "sub" / "run.json", "{}")


def test_lock_refuses_a_second_writer_and_names_the_holder(tmp_path):
    code = ("import sys, time; from mosseval.fileio import DirLock\n"
            "with DirLock(sys.argv[1], command='mosseval run --model holder'):\n"
            "    print('locked', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        assert is_locked(tmp_path)
        with pytest.raises(LockedError) as exc:
            DirLock(tmp_path).acquire()
        assert f"pid {proc.pid}" in exc.value.message and "mosseval run --model holder" in exc.value.message
        assert "--wait" in exc.value.hint
        assert read_lock_holder(tmp_path)["pid"] == proc.pid
    finally:
        proc.kill()
        proc.wait()
    with DirLock(tmp_path):  # the holder died: the lock is free again (flock dies with its process)
        assert is_locked(tmp_path)
    assert not is_locked(tmp_path)


def test_lock_waits_when_asked(tmp_path):
    first = DirLock(tmp_path, command="holder").acquire()
    code = ("import sys; from mosseval.fileio import DirLock\n"
            "with DirLock(sys.argv[1], wait=True, on_wait=lambda h: print('waiting for', h, flush=True)):\n"
            "    print('got it', flush=True)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # printed once it found the lock taken, before it blocks
        assert line.startswith("waiting for") and f"pid {os.getpid()}" in line and "holder" in line
        assert proc.poll() is None
    finally:
        first.release()
    assert proc.stdout.readline().strip() == "got it"
    assert proc.wait(timeout=60) == 0


def test_lock_is_reentrant_in_one_process_and_cleans_stale_temp(tmp_path):
    (tmp_path / ".run.json.abc123.tmp").write_text("{")  # left by a writer killed before its rename
    (tmp_path / ".keep").write_text("")
    with DirLock(tmp_path):
        assert not (tmp_path / ".run.json.abc123.tmp").exists() and (tmp_path / ".keep").exists()
        with DirLock(tmp_path):  # e.g. `run --judge`: the judge takes the lock its run already holds
            pass
        assert is_locked(tmp_path)
    assert not is_locked(tmp_path)


def test_remove_stale_temp_respects_prefix(tmp_path):
    (tmp_path / ".a.x1.tmp").mkdir()
    (tmp_path / ".b.x2.tmp").write_text("")
    removed = remove_stale_temp(tmp_path, prefix=".a.")
    assert [p.name for p in removed] == [".a.x1.tmp"] and (tmp_path / ".b.x2.tmp").exists()


def test_lock_in_an_unwritable_place_is_an_output_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot create .*run: .*file is a file, not a folder"):
        DirLock(blocker / "run").acquire()
    with pytest.raises(OutputError, match="cannot create .*file: .*file is a file, not a folder"):
        DirLock(blocker).acquire()


def test_other_threads_of_the_process_are_writers_too(tmp_path):
    import threading

    results: list[str] = []
    with DirLock(tmp_path):
        def other() -> None:
            try:
                DirLock(tmp_path).acquire()
                results.append("got it")
            except LockedError as exc:
                results.append(exc.message)
        t = threading.Thread(target=other)
        t.start()
        t.join(30)
    assert results == [f"{tmp_path} is being written by another thread of this process"]
    done = threading.Event()

    def waiter() -> None:
        with DirLock(tmp_path, wait=True):
            done.set()
    first = DirLock(tmp_path).acquire()
    t = threading.Thread(target=waiter)
    t.start()
    assert not done.wait(0.3)  # held by this thread: the other one waits
    first.release()
    t.join(30)
    assert done.is_set()


def test_atomic_writer_streams_into_a_temp_file_renamed_at_the_end(tmp_path):
    p = tmp_path / "out" / "page.html"
    with atomic_writer(p) as fh:
        fh.write(b"<p>")
        fh.write_text("é ✓")
        assert not p.exists()  # nothing visible until the block ends
        assert len(list(p.parent.glob(".page.html.*.tmp"))) == 1
    assert p.read_text(encoding="utf-8") == "<p>é ✓"
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~_umask()
    assert not list(p.parent.glob(".*.tmp"))


def test_atomic_writer_failing_block_keeps_the_old_file_and_no_temp(tmp_path):
    p = tmp_path / "board.json"
    p.write_text("old")
    with pytest.raises(KeyError):
        with atomic_writer(p) as fh:
            fh.write(b"new, half written")
            raise KeyError("bug in the producer")
    assert p.read_text() == "old"
    assert not list(tmp_path.glob(".*.tmp"))


def test_atomic_writer_names_the_file_it_cannot_create(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write .*board.json"):
        with atomic_writer(blocker / "board.json", hint="choose another place") as fh:
            fh.write(b"never")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _spy_fsyncs(monkeypatch) -> list[int]:
    """The descriptors ``os.fsync`` is called on from now on (the real call still made)."""
    calls: list[int] = []
    real = os.fsync

    def spy(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(fileio.os, "fsync", spy)
    return calls


def test_a_batch_of_lines_is_one_write_and_one_fsync(tmp_path, monkeypatch):
    p = tmp_path / "s.jsonl"
    with JsonlAppender(p) as out:
        fsyncs = _spy_fsyncs(monkeypatch)
        writes: list[int] = []
        real_write = os.write

        def write(fd: int, data) -> int:
            writes.append(len(data))
            return real_write(fd, data)

        monkeypatch.setattr(fileio.os, "write", write)
        out.write_lines([json.dumps({"k": i, "t": "é\n"}) for i in range(16)])
        out.write_lines([])  # nothing to write: no write, no fsync
        out.write_line(json.dumps({"k": 16}) + "\n")  # (a trailing newline is not doubled)
    assert len(fsyncs) == 2 and len(writes) == 2
    assert [json.loads(line)["k"] for _, line in iter_jsonl(p)] == list(range(17))
    assert writes[0] == len(b"".join(json.dumps({"k": i, "t": "\u00e9\n"}).encode() + b"\n" for i in range(16)))


def test_a_batch_torn_by_a_kill_keeps_its_whole_lines(tmp_path):
    p = tmp_path / "s.jsonl"
    batch = "".join(json.dumps({"k": i, "pad": "x" * 50}) + "\n" for i in range(3))
    p.write_text('{"k": -1}\n' + batch[: len(batch) * 5 // 6])  # the kill came inside the batch's one write
    with JsonlAppender(p) as out:
        out.write_lines([json.dumps({"k": 9})])
    assert [json.loads(line)["k"] for _, line in iter_jsonl(p)] == [-1, 0, 1, 9]


def test_fsync_false_writes_the_batch_without_syncing(tmp_path, monkeypatch):
    p = tmp_path / "s.jsonl"
    with JsonlAppender(p, fsync=False) as out:
        fsyncs = _spy_fsyncs(monkeypatch)
        out.write_lines(['{"k": 1}', '{"k": 2}'])
    assert fsyncs == [] and p.read_text() == '{"k": 1}\n{"k": 2}\n'


# --------------------------------------------------------------------------- YAML


def _typed(value):
    """``value`` with every scalar tagged by its type (``True == 1 == 1.0`` in Python; a NaN equals itself here)."""
    if isinstance(value, dict):
        return ("dict", [(_typed(k), _typed(v)) for k, v in value.items()])
    if isinstance(value, (list, tuple, set)):
        return (type(value).__name__, [_typed(v) for v in (sorted(value, key=repr) if isinstance(value, set)
                                                            else value)])
    return (type(value).__name__, repr(value))


_TRICKY_YAML = [
    "a: &x {b: 1, c: [1, 2]}\nd: *x\ne:\n  <<: *x\n  c: 3\n",  # anchors, aliases, a merge key
    "t: 2001-12-14t21:59:43.10-05:00\nd: 2002-12-14\nn: ~\nm: null\nb: [yes, No, on, OFF, true]\n",
    "o: 010\nh: 0x1F\ns: 1:20\nf: 6.8523015e+5\ni: .inf\nm: -.Inf\nn: .NaN\nbig: 123456789012345678901234567890\n",
    "lit: |\n  line one\n   line two\n\nfold: >-\n  folded\n  text\nq: 'it''s'\nd: \"tab\\there \\u00e9 \\x41\"\n",
    "- !!set {a, b}\n- !!binary aGVsbG8=\n- !!omap [{x: 1}, {y: 2}]\n- !!str 12\n- !!float 1\n",
    "# only a comment\n",
    "",
    "---\n'key: with colon': v\n? complex\n: value\n",
    "é: ünïcode ✓\n\"\\U0001F600\": emoji\n",
]

_BAD_YAML = [
    "a: [1, 2\n",  # unclosed flow sequence
    "a: b: c\n",  # a mapping value where none is allowed
    "a:\n\t- tab\n",  # a tab in the indentation
    "a: *missing\n",  # an undefined alias
    "a: !!python/object:os.system x\n",  # a tag the safe loader refuses
    "- a\nb: c\n",
]


@pytest.mark.parametrize("text", _TRICKY_YAML)
def test_load_yaml_gives_what_safe_load_gives(text, monkeypatch):
    import yaml

    want = _typed(yaml.safe_load(text))
    assert _typed(fileio.load_yaml(text)) == want
    monkeypatch.delattr(yaml, "CSafeLoader")  # PyYAML built without libyaml: its own parser
    assert _typed(fileio.load_yaml(text)) == want


@pytest.mark.parametrize("text", _BAD_YAML)
def test_load_yaml_refuses_what_safe_load_refuses_with_its_error(text):
    import yaml

    with pytest.raises(yaml.YAMLError) as want:
        yaml.safe_load(text)
    with pytest.raises(yaml.YAMLError):  # libyaml refuses it too: the error comes from the second parse
        yaml.load(text, Loader=yaml.CSafeLoader)
    with pytest.raises(yaml.YAMLError) as got:
        fileio.load_yaml(text)
    assert type(got.value) is type(want.value) and str(got.value) == str(want.value)


def test_every_shipped_yaml_file_loads_as_safe_load_loads_it():
    import yaml

    assert yaml.__with_libyaml__, "PyYAML without libyaml: load_yaml's fast path is not tested here"
    root = Path(__file__).resolve().parents[1]
    files = [p for d in ("tasks", "judges", "manifests", "configs") for p in sorted((root / d).rglob("*.y*ml"))]
    assert len(files) >= 15
    for p in files:
        text = p.read_text(encoding="utf-8")
        assert _typed(fileio.load_yaml(text)) == _typed(yaml.safe_load(text)), p


def test_every_yaml_read_goes_through_load_yaml():
    """One YAML reader: no module of the package parses YAML but ``fileio.load_yaml``."""
    root = Path(__file__).resolve().parents[1] / "mosseval"
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py") if p.name != "fileio.py"
                 and any(call in p.read_text(encoding="utf-8") for call in ("yaml.safe_load(", "yaml.load(",
                                                                             "yaml.full_load(", "yaml.unsafe_load("))]
    assert offenders == []
