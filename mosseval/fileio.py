"""Files: the one atomic writer, the one JSONL appender / reader / tail repair, the one directory
lock, canonical JSON.

* ``atomic_writer`` (streamed: ``with atomic_writer(p) as f: f.write(...)``) and its one-shot forms
  ``atomic_write_text`` / ``atomic_write_bytes`` / ``write_json_atomic``: every file mosseval
  writes whole (run logs, reports, caches, manifests, the leaderboard). Readers see the old file
  or the new one, never half of one; the new file gets the usual ``0644``-style permissions (``0666 & ~umask``),
  not the ``0600`` that ``mkstemp`` leaves. A failure raises :class:`~mosseval.errors.OutputError`
  naming the file, and leaves no temporary file behind.
* ``JsonlAppender``: every append-only JSONL file (``samples.jsonl``, shards, the judge cache,
  training metrics). One ``write`` per line, or per batch of lines finished together (a model
  batch's samples), on an ``O_APPEND`` descriptor, flushed (and fsynced) as it lands, so concurrent
  appenders never interleave inside a line and a kill loses at most the write in progress (its
  whole lines are kept, a torn last one is cut off).
* ``iter_jsonl`` / ``repair_jsonl_tail``: a last line without its newline is kept when it is a
  complete JSON value (a writer killed between the record and its newline) and dropped otherwise
  (killed mid-record).
* ``DirLock``: one advisory lock per directory (``fcntl.flock`` on ``.mosseval.lock``) held by
  every command that writes a run directory for its whole write; a second writer gets
  :class:`~mosseval.errors.LockedError` (exit 2) naming the holder (pid, command, start time), or
  waits. Readers never lock: they only ever see whole files (atomic replace) and whole lines.
* ``load_yaml``: every YAML file mosseval reads (task files, rubrics, manifests, training configs).
"""

from __future__ import annotations

import json
import operator
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path
from typing import Any

from mosseval.errors import LockedError, OutputError

TMP_SUFFIX = ".tmp"
LOCK_FILE = ".mosseval.lock"


def canonical_json(data: Any) -> str:
    """Sorted keys, no whitespace: the text identity hashes are computed over."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load(text)``, parsed by libyaml where PyYAML was built with it (about 10x faster: every run
    parses every task file) and by PyYAML's own parser otherwise. The constructor and the resolver are the same
    Python classes either way, so are the values. A document libyaml refuses is parsed again by PyYAML's parser, so
    that the error raised (and its message, which callers quote with its line) is ``safe_load``'s."""
    import yaml

    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return yaml.load(text, Loader=fast)  # noqa: S506 - the safe loader (SafeConstructor), in C
        except yaml.YAMLError:
            pass
    return yaml.safe_load(text)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def os_reason(exc: OSError, path: str | os.PathLike[str] | None = None) -> str:
    """Why ``exc`` stopped a write of ``path``, in words: names the file that stands where a folder must be."""
    if path is not None and isinstance(exc, (FileExistsError, NotADirectoryError)):
        for parent in Path(path).parents:
            if parent.exists() and not parent.is_dir():
                return f"{parent} is a file, not a folder"
    return exc.strerror or str(exc)


# ----------------------------------------------------------------------------- atomic writer


class AtomicFile:
    """The file :func:`atomic_writer` streams into: ``write`` bytes (or ``write_text``); a write that fails
    raises :class:`~mosseval.errors.OutputError` naming the final path."""

    __slots__ = ("path", "hint", "_fh")

    def __init__(self, path: Path, fh: Any, hint: str | None):
        self.path = path
        self.hint = hint
        self._fh = fh

    def write(self, data: bytes) -> None:
        try:
            self._fh.write(data)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {os_reason(exc, self.path)}", hint=self.hint) from None

    def write_text(self, text: str) -> None:
        self.write(text.encode("utf-8"))


@contextmanager
def atomic_writer(path: str | os.PathLike[str], *,
                  hint: str | None = "choose a writable location") -> Iterator[AtomicFile]:
    """Write ``path`` atomically by streaming into it: ``with atomic_writer(p) as f: f.write(b"...")``.

    The data goes to a temporary file in the same folder, which is fsynced and renamed over ``path`` when
    the block ends normally; an exception in the block (or a failed write) removes it and leaves any old
    ``path`` untouched. A large output is never held whole in memory. Every write in mosseval goes
    through here (:func:`atomic_write_bytes` is one ``write``)."""
    path = Path(path)
    tmp: str | None = None
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=TMP_SUFFIX, dir=path.parent)
            fh = os.fdopen(fd, "wb")
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {os_reason(exc, path)}", hint=hint) from None
        with fh:
            yield AtomicFile(path, fh, hint)
            try:
                fh.flush()
                os.fsync(fh.fileno())
            except OSError as exc:
                raise OutputError(f"cannot write {path}: {os_reason(exc, path)}", hint=hint) from None
        try:
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {os_reason(exc, path)}", hint=hint) from None
        tmp = None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *,
                       hint: str | None = "choose a writable location") -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename)."""
    with atomic_writer(path, hint=hint) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str, *,
                      hint: str | None = "choose a writable location") -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), hint=hint)


def atomic_write_lines(path: str | os.PathLike[str], lines: Iterable[str], *,
                       hint: str | None = "choose a writable location") -> Path:
    """Replace a JSONL (or any line) file atomically with ``lines`` (each gets a newline)."""
    return atomic_write_bytes(path, "".join(line + "\n" for line in lines).encode("utf-8"), hint=hint)


def write_json_atomic(path: str | os.PathLike[str], data: Any, *, indent: int | None = 2,
                      hint: str | None = "choose a writable location with --output-dir") -> Path:
    text = json.dumps(data, indent=indent, ensure_ascii=False, default=str) + "\n"
    return atomic_write_text(path, text, hint=hint)


def remove_stale_temp(directory: str | os.PathLike[str], *, prefix: str = ".", older_than_s: float = 0.0) -> list[Path]:
    """Delete temporary files/folders this module left in ``directory`` (``.NAME.*.tmp``) when a
    writer was killed (SIGKILL, power loss) between creating and renaming them.

    Only call it while holding the lock that covers them (no other writer can be using them):
    the directory's :class:`DirLock`, or with ``prefix=".NAME."`` the lock of the one thing being
    written; ``older_than_s`` spares ones younger than that.
    """
    import shutil

    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(os.fspath(directory)))
    except OSError:
        return removed
    for entry in entries:
        name = str(entry.name)
        if not (name.startswith(prefix) and name.startswith(".") and name.endswith(TMP_SUFFIX)):
            continue
        try:
            if older_than_s and now - entry.stat(follow_symlinks=False).st_mtime < older_than_s:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def build_dir_once(final: Path, is_valid: Callable[[Path], bool], build: Callable[[Path], Any]) -> Path:
    """Return ``final`` when ``is_valid`` says it is complete; else ``build`` it into a temporary sibling
    and rename it into place (atomic and race-safe: concurrent builders of the same deterministic
    content agree, a stale or crashed build is replaced, readers never see a half-built folder).
    A builder killed mid-way leaves a ``.NAME.*.tmp`` folder that the next build removes after an hour."""
    import shutil

    final = Path(final)
    if is_valid(final):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp(final.parent, prefix=f".{final.name}.", older_than_s=3600)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.build-", suffix=TMP_SUFFIX, dir=final.parent))
    try:
        build(tmp)
        tmp.chmod(0o755)  # mkdtemp creates 0700; a shared cache must be readable
        if final.exists() and not is_valid(final):
            stale = final.parent / f".{final.name}.stale-{os.getpid()}-{tmp.name[-12:]}"
            try:
                os.rename(final, stale)
            except OSError:
                pass  # another process moved it first
            else:
                shutil.rmtree(stale, ignore_errors=True)
        try:
            os.rename(tmp, final)
        except OSError:
            if not is_valid(final):  # another process won the race with an identical build
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


# ----------------------------------------------------------------------------- JSONL


def _complete_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


MAX_LINE_BYTES = 256 * 1024 * 1024
"""A JSONL line longer than this is refused (a file that is not what it claims, e.g. a device)."""


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line number, line)`` for every non-empty complete line of a JSONL file.

    A last line without its newline is yielded when it parses as JSON (its writer died between
    the record and the newline) and skipped otherwise (its writer died mid-record).
    """
    # C-level projection of iter_jsonl_at's triples: no second generator frame per line
    return map(_LINENO_AND_LINE, iter_jsonl_at(path))


_LINENO_AND_LINE = operator.itemgetter(0, 2)


JSONL_BLOCK = 64 * 1024
"""Bytes :func:`iter_jsonl_at` reads at a time (lines are split out of each block: one ``readline`` call per
line cost about as much as the rest of a small reader's work per line). 64 KiB: a block and its lines add
~0.2 MiB to a reader's peak (256 KiB added ~0.4 MiB to `compare` of two 240-sample runs, 0.87x its memory
allowance, for 0.02 ms less per 240 lines)."""


def iter_jsonl_at(path: str | os.PathLike[str]) -> Iterator[tuple[int, int, bytes]]:
    """:func:`iter_jsonl` with each line's byte offset: ``(line number, offset, line)`` (a reader that keeps
    only a few facts per line can seek back to the lines it needs in full).

    The file is read in blocks of :data:`JSONL_BLOCK` bytes; what is held at once is a block and the part of a
    line that spans blocks (at most :data:`MAX_LINE_BYTES`: a longer line is refused as soon as it is seen)."""
    from mosseval.errors import UsageError

    path = Path(path)
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return

    def too_long(lineno: int) -> UsageError:
        return UsageError(f"{path}:{lineno}: a line longer than {MAX_LINE_BYTES:,} bytes; this is not a "
                          f"mosseval JSONL file")

    with fh:
        lineno, offset = 0, 0
        pending: list[bytes] = []  # the start of a line that spans blocks
        n_pending = 0
        read = fh.read
        while True:
            block = read(JSONL_BLOCK)
            if not block:
                break
            # split after each newline, which each line keeps: BytesIO finds them with memchr, ~9x fewer
            # instructions than bytes.split's loop over every byte (2 M of `score`'s 50 M at 240 samples, counted
            # by cachegrind), though each line is then copied twice (here and by strip): ~2 % faster
            lines = BytesIO(block).readlines()
            tail = lines.pop() if lines[-1][-1:] != b"\n" else b""  # the start of a line a later block ends
            if not lines:  # no line ends in this block
                pending.append(tail)
                n_pending += len(tail)
                if n_pending > MAX_LINE_BYTES:
                    raise too_long(lineno + 1)
                continue
            if pending:
                lines[0] = b"".join(pending) + lines[0]
            pending, n_pending = ([tail], len(tail)) if tail else ([], 0)
            for raw in lines:
                lineno += 1
                n = len(raw)  # with its newline
                if n > MAX_LINE_BYTES:
                    raise too_long(lineno)
                line = raw.strip()
                if line:
                    yield lineno, offset, line
                offset += n
            if n_pending > MAX_LINE_BYTES:
                raise too_long(lineno + 1)
        if pending:  # a last line without its newline: kept when it parses (its writer died before the newline)
            raw = b"".join(pending)
            lineno += 1
            if not _complete_json(raw):
                return
            line = raw.strip()
            if line:
                yield lineno, offset, line


def repair_jsonl_tail(path: str | os.PathLike[str]) -> None:
    """Make the file end with a newline before appending: a complete last record that only lacks
    its newline gets one; a partial last line (a writer killed mid-record) is cut off."""
    path = Path(path)
    try:
        with path.open("rb+") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size == 0:
                return
            # find the start of the last line without reading the whole file
            block, pos, tail = 65536, size, b""
            while pos > 0:
                step = min(block, pos)
                pos -= step
                fh.seek(pos)
                tail = fh.read(step) + tail
                if tail.endswith(b"\n"):
                    return
                cut = tail.rfind(b"\n")
                if cut != -1:
                    pos += cut + 1
                    tail = tail[cut + 1:]
                    break
            if _complete_json(tail):
                fh.seek(0, os.SEEK_END)
                fh.write(b"\n")
            else:
                fh.truncate(pos)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(f"cannot repair {path}: {os_reason(exc)}") from None


class JsonlAppender:
    """Append-only JSONL writer: one ``os.write`` per line (``write_line``) or per batch of lines finished together
    (``write_lines``), flushed and (by default) fsynced once per call.

    Opening repairs the tail (``repair_jsonl_tail``). Every ``OSError`` (disk full, read-only)
    becomes an ``OutputError`` that names this file.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True, hint: str | None = None):
        self.path = Path(path)
        self.fsync = fsync
        self.hint = hint
        self._fd: int | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            repair_jsonl_tail(self.path)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {os_reason(exc, self.path)}", hint=hint) from None

    def write_line(self, line: str) -> None:
        self.write_lines([line])

    def write_lines(self, lines: Iterable[str]) -> None:
        """Append ``lines`` with one write and one fsync: a batch of samples finished together is durable together
        (a crash inside the write leaves whole lines and at most a torn last one, which the next opening cuts off)."""
        if self._fd is None:
            raise OutputError(f"{self.path} is closed")
        data = "".join([line.rstrip("\n") + "\n" for line in lines]).encode("utf-8")
        if not data:
            return
        try:
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            if self.fsync:
                os.fsync(self._fd)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {os_reason(exc, self.path)}", hint=self.hint) from None

    def write_json(self, obj: Any) -> None:
        self.write_line(json.dumps(obj, ensure_ascii=False, default=str))

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ----------------------------------------------------------------------------- directory lock


_held: dict[str, list[Any]] = {}
"""Locks this process holds: real path -> [fd, depth] (re-entrant for the thread that holds it)."""
_held_guard = threading.Lock()
_thread_locks: dict[str, threading.RLock] = {}
"""One in-process lock per path: flock cannot tell the threads of one process apart."""


def _thread_lock(key: str) -> threading.RLock:
    with _held_guard:
        return _thread_locks.setdefault(key, threading.RLock())


def _holder_text(info: dict[str, Any]) -> str:
    parts = [f"pid {info.get('pid', '?')}"]
    if info.get("host") and info.get("host") != socket.gethostname():
        parts.append(f"on {info['host']}")
    if info.get("command"):
        parts.append(f"`{info['command']}`")
    if info.get("started_at"):
        parts.append(f"since {info['started_at']}")
    return ", ".join(parts)


def read_lock_holder(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """What the current holder of ``directory``'s lock recorded (pid, command, start), or None."""
    try:
        text = (Path(directory) / LOCK_FILE).read_text(encoding="utf-8")
        info = json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def is_locked(directory: str | os.PathLike[str]) -> bool:
    """True when some process holds ``directory``'s writer lock (readers may call this; it never blocks)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return False
    path = Path(directory) / LOCK_FILE
    key = os.path.realpath(path)
    with _held_guard:
        if key in _held:
            return True
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


class DirLock:
    """The one writer lock of a directory (a run directory, a training output folder).

    ``with DirLock(run_dir, command="mosseval run ..."):`` takes an exclusive ``flock`` on
    ``run_dir/.mosseval.lock`` and records the holder (pid, host, command, start time) in it.
    When another process holds it: ``wait=False`` raises ``LockedError`` (exit 2) naming the
    holder; ``wait=True`` blocks until it is free (``on_wait`` is called once with the holder
    text). Re-entrant for the thread that holds it (a run that judges inline takes it twice); other
    threads of the same process wait or are refused like other processes. Taking the lock removes
    temporary files a killed writer left in the directory.
    """

    def __init__(self, directory: str | os.PathLike[str], *, command: str | list[str] | None = None,
                 wait: bool = False, on_wait: Callable[[str], None] | None = None, name: str = LOCK_FILE,
                 clean_temp: bool = True):
        self.directory = Path(directory)
        self.path = self.directory / name
        self.command = " ".join(command) if isinstance(command, list) else command
        self.wait = wait
        self.on_wait = on_wait
        self.clean_temp = clean_temp
        self._key: str | None = None

    def acquire(self) -> DirLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory locks
            return self
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            key = os.path.realpath(self.path)
        except OSError as exc:
            raise OutputError(f"cannot create {self.directory}: {os_reason(exc, self.directory / 'x')}") from None
        in_process = _thread_lock(key)
        if not in_process.acquire(blocking=self.wait):
            raise LockedError(f"{self.directory} is being written by another thread of this process",
                              hint="wait for it to finish, or pass wait=True")
        try:
            return self._acquire_file(key, fcntl)
        except BaseException:
            in_process.release()
            raise

    def _acquire_file(self, key: str, fcntl: Any) -> DirLock:
        with _held_guard:
            if key in _held:  # this thread holds it already (the in-process lock let us in)
                _held[key][1] += 1
                self._key = key
                return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {os_reason(exc, self.path)}",
                              hint="the directory must be writable to change it") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder_text(read_lock_holder(self.directory) or {})
                if not self.wait:
                    raise LockedError(
                        f"{self.directory} is being written by another mosseval process ({holder})",
                        hint="wait for it to finish and run this again, or add --wait to wait for it; "
                             "reading the directory (leaderboard, compare, errors) is safe meanwhile") from None
                if self.on_wait is not None:
                    self.on_wait(holder)
                fcntl.flock(fd, fcntl.LOCK_EX)
            info = {"pid": os.getpid(), "host": socket.gethostname(),
                    "command": self.command or " ".join(["mosseval", *sys.argv[1:]]),
                    "started_at": _utc_now()}
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(info) + "\n").encode("utf-8"), 0)
        except BaseException:
            os.close(fd)
            raise
        with _held_guard:
            _held[key] = [fd, 1]
        self._key = key
        if self.clean_temp:
            remove_stale_temp(self.directory)
        return self

    def release(self) -> None:
        key, self._key = self._key, None
        if key is None:
            return
        try:
            with _held_guard:
                entry = _held.get(key)
                if entry is None:
                    return
                entry[1] -= 1
                if entry[1] > 0:
                    return
                del _held[key]
            fd = entry[0]
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
            os.close(fd)  # closing the descriptor releases the flock
        finally:
            _thread_lock(key).release()

    def __enter__(self) -> DirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _utc_now() -> str:
    from mosseval.clock import utc_now

    return utc_now()
