"""A disk cache of decoded frames, shared by every model, run and training epoch (issue 16).

Every model sees frames from the one video pipeline (:mod:`mosseval.video`), so the frames of a
sample are the same for every model evaluated on a task and for every GRPO epoch over the same
videos. :func:`mosseval.video.sample_frames` consults this cache before decoding and fills it after:
the second model evaluated on a task decodes nothing.

Key (sha256 over a canonical JSON): the *file identity* — size, modification time (ns) and a
sha256 of the first 64 KiB of a video file; for a frame folder the name, size and modification
time of every image — the sample's window (start, end, kind, fps, first index), the whole
``FrameSpec`` (strategy, frame count, fps, bounds, pixel budget, size multiple, decoder; the frame
indices are a function of these and the file), :data:`PIPELINE_VERSION` and the versions of the
libraries that produce the pixels (PyAV/FFmpeg or decord, Pillow for the resize). A change of any
of them is a miss, never a stale hit.

Entry: one file ``<dir>/<key[:2]>/<key>.frames``: the magic ``MOSSFRM1``, a 4-byte header length,
a JSON header (array shape, ``FrameInfo``, codec, stored size) and the uint8 pixels, compressed
with Zstandard level 1 when a 256 KiB probe compresses at least 3x (the compressed probe is the start
of the entry's one stream: nothing is compressed twice) (synthetic, flat or letterboxed frames:
moss-video-mini shrinks ~57x and reads back in well under a millisecond) and stored raw otherwise
(noisy natural video compresses ~1.1-1.4x losslessly, and compressing 16 720p frames would cost more
than decoding them again; raw entries read back at disk/page-cache speed). Entries written with zlib
(level 1: the codec before Zstandard, still written where ``zstandard`` is not installed) read back
as before: the codec is in the header, not in the key. On moss-video-mini's frames Zstandard level 1
compresses ~7x faster than zlib level 1 (0.16 vs 1.1 ms a sample, where decoding one takes ~10 ms),
~3x smaller, and decompresses ~2.5x faster.
Frames read from the cache are bit-identical to decoded ones (tested).

Large entries (:data:`DIRECT_MIN_BYTES`, 1 MiB, and more: raw high-resolution frames) are copied into a
staging buffer and written by one background thread with ``O_DIRECT``, so the decode threads neither pay
the page cache's memory for 44 MB an entry nor wait for the disk (:class:`_Writer`; buffered where the
filesystem refuses direct I/O). A ``get`` of an entry still queued waits for it, a run waits for its entries
before it finishes (:meth:`FrameCache.flush`), and so does the interpreter's exit.

Concurrency: entries are written to a temporary file and renamed into place, so a reader sees a
whole entry or none; two processes filling the same key write the same bytes. A damaged or
truncated entry (a crash, a full disk) is a miss and is removed; a writer killed before its rename
leaves a ``.tmp-*`` file that the next rescan removes once it is an hour old. Eviction is LRU by modification
time (a hit touches its entry): when the directory grows past its size bound, the oldest entries
are deleted down to 90 % of the bound; an entry deleted under a reader stays readable on POSIX,
and a reader that loses the race just misses.

Configuration: on by default under ``<cache dir>/frames`` (``mosseval.paths.cache_dir``), bound
10 GiB. ``$MOSSEVAL_FRAME_CACHE`` = ``off`` disables it, or names another directory;
``$MOSSEVAL_FRAME_CACHE_MAX`` sets the bound (bytes, or with a K/M/G/T suffix). ``mosseval run
--no-frame-cache`` turns it off for one run (``RunOptions.frame_cache``); the trainer's frame pipeline
uses the process default (:func:`configure`), so ``MOSSEVAL_FRAME_CACHE=off`` turns it off there.
"""

from __future__ import annotations

import atexit
import errno
import hashlib
import json
import math
import mmap
import os
import re
import struct
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mosseval.errors import UsageError

__all__ = ["FrameCache", "CacheStats", "PIPELINE_VERSION", "default_cache", "configure", "open_cache", "parse_size"]

PIPELINE_VERSION = "1"
"""Bump when the video pipeline changes the pixels or the FrameInfo it returns for the same inputs."""

ENV = "MOSSEVAL_FRAME_CACHE"
ENV_MAX = "MOSSEVAL_FRAME_CACHE_MAX"
DEFAULT_MAX_BYTES = 10 * 1024**3
HEAD_BYTES = 64 * 1024
_MAGIC = b"MOSSFRM1"
_SUFFIX = ".frames"
_LEVEL = 1
ZSTD_LEVEL = 1
PROBE_BYTES = 256 * 1024
MIN_RATIO = 3.0
DIRECT_MIN_BYTES = 1 << 20
"""Entries at least this large are written with ``O_DIRECT`` where the filesystem allows it (see
:func:`_write_direct`)."""
_DIRECT_CHUNK = 4 << 20
"""Staging buffers are allocated in multiples of this (so one fits the next entry of about the same size)."""
_ALIGN = 4096


def parse_size(text: str | int) -> int:
    """``"512M"`` -> 536870912; plain integers are bytes."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", str(text).lower())
    if not m:
        raise UsageError(f"cannot read the size {text!r}", hint="use bytes or a K/M/G/T suffix, e.g. 20G")
    return int(float(m.group(1)) * 1024 ** "bkmgt".index(m.group(2) or "b"))


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    writes: int = 0
    direct_writes: int = 0
    """Of ``writes``, those written with ``O_DIRECT`` (large raw entries; see :func:`_write_direct`)."""
    evicted: int = 0
    errors: int = 0


def _zstd() -> Any:
    """The ``zstandard`` module, or None where it is not installed (then entries are written with zlib
    and zstd entries read as misses). Imported on first use: it costs ~18 ms."""
    global _ZSTD
    if _ZSTD is False:
        try:
            import zstandard

            _ZSTD = zstandard
        except ImportError:
            _ZSTD = None
    return _ZSTD


_ZSTD: Any = False


def _encode(array: np.ndarray) -> tuple[bytes | memoryview, str]:
    """Zstandard level 1 (zlib level 1 without ``zstandard``) when a probe of the pixels compresses at
    least :data:`MIN_RATIO` times (synthetic, flat or letterboxed video), else the raw bytes: on noisy
    natural video lossless compression saves little and costs more than decoding the video again.

    Zstandard: on moss-video-mini's frames ~7x faster than zlib level 1 and ~3x smaller (the first model
    filling the cache paid ~1 ms a sample for zlib, a tenth of decoding it; see the performance page)."""
    raw = array.data.cast("B") if array.size else memoryview(b"")
    probe = raw[:PROBE_BYTES]
    if not len(probe):
        return raw, "raw"
    # One stream: the probe is compressed (and flushed, to know its compressed size) as the start of
    # the entry, so a compressible array is compressed exactly once.
    zstd = _zstd()
    if zstd is not None:
        comp = zstd.ZstdCompressor(level=ZSTD_LEVEL).compressobj(size=len(raw))
        head = comp.compress(probe) + comp.flush(zstd.COMPRESSOBJ_FLUSH_BLOCK)
        codec = "zstd"
    else:
        comp = zlib.compressobj(_LEVEL)
        head = comp.compress(probe) + comp.flush(zlib.Z_SYNC_FLUSH)
        codec = "zlib"
    if len(probe) < MIN_RATIO * len(head):
        return raw, "raw"
    return head + comp.compress(raw[PROBE_BYTES:]) + comp.flush(), codec


def _decode(buf: np.ndarray, codec: str, shape: tuple[int, ...]) -> np.ndarray:
    """The pixels of a compressed entry (``buf``: its stored bytes), a writable array of ``shape``; ``zlib``
    entries (written before zstd, or without ``zstandard``) read as ever. A Zstandard stream is decompressed
    straight into the array: no second copy of the pixels (decompressing to a bytes object copied into a
    writable buffer made reading a 22 MB entry ~2x slower). The stream's declared size must be the array's
    before the array is made; a damaged entry is a ``ValueError``."""
    size = math.prod(shape)
    if codec == "zlib":
        dec = zlib.decompressobj()
        data = dec.decompress(buf.data, size)
        if dec.unconsumed_tail or not dec.eof or len(data) != size:
            raise ValueError("bad zlib stream")
        return np.frombuffer(bytearray(data), dtype=np.uint8).reshape(shape)
    if codec != "zstd":
        raise ValueError("unknown codec")
    zstd = _zstd()
    if zstd is None:
        raise _Unreadable("zstandard is not installed")
    try:
        if zstd.frame_content_size(buf) != size:
            raise ValueError("wrong size")
        array = np.empty(shape, dtype=np.uint8)
        flat = array.reshape(-1).data
        reader = zstd.ZstdDecompressor().stream_reader(buf)
        got = 0
        while got < size:
            n = reader.readinto(flat[got:])
            if not n:
                break
            got += n
        if got != size or reader.read(1):
            raise ValueError("wrong size")
    except zstd.ZstdError as exc:
        raise ValueError(f"bad zstd stream: {exc}") from exc
    return array


class _Unreadable(Exception):
    """An intact entry this process cannot decode (its codec's module is missing): a miss, kept for others."""


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"pipeline": PIPELINE_VERSION}
    for name in ("av", "pillow", "decord", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


_VERSIONS: dict[str, str] | None = None


def file_identity(path: Path) -> dict[str, Any]:
    """Size, mtime and head hash of a video file; (name, size, mtime) of every entry of a frame folder."""
    st = path.stat()
    if path.is_dir():
        entries = sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in os.scandir(path) if e.is_file())
        return {"kind": "dir", "entries": hashlib.sha256(json.dumps(entries).encode()).hexdigest()}
    with path.open("rb") as fh:
        head = hashlib.sha256(fh.read(HEAD_BYTES)).hexdigest()
    return {"kind": "file", "size": st.st_size, "mtime_ns": st.st_mtime_ns, "head_sha256": head}


class FrameCache:
    """Decoded frames on disk; see the module docstring."""

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES):
        self.dir = Path(directory)
        self.max_bytes = int(max_bytes)
        self.stats = CacheStats()
        self._lock = threading.Lock()
        self._approx_size: int | None = None
        self._direct = hasattr(os, "O_DIRECT")
        """False once the directory's filesystem has refused ``O_DIRECT`` (then every write is buffered, here)."""

    # -- keys ---------------------------------------------------------------------------

    def key(self, path: Path, ref: Any, spec: Any) -> str:
        global _VERSIONS
        if _VERSIONS is None:
            _VERSIONS = _versions()
        data = {
            "file": file_identity(path),
            "window": {k: getattr(ref, k, None) for k in ("start", "end", "kind", "fps", "first_index")},
            "spec": spec.model_dump(mode="json"),
            "versions": _VERSIONS,
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / (key + _SUFFIX)

    # -- read ---------------------------------------------------------------------------

    def get(self, key: str) -> tuple[np.ndarray, dict[str, Any]] | None:
        """``(array, info dict)`` or None (missing, or damaged: then removed). The array is writable."""
        path = self._path(key)
        if _WRITER is not None and _WRITER.waits_for(path):
            _WRITER.drain()  # written by this process a moment ago: wait for it rather than decode again
        try:
            fh = path.open("rb")
        except OSError:
            self._count("misses")
            return None
        try:
            with fh:
                head = fh.read(12)
                if head[:8] != _MAGIC:
                    raise ValueError("bad magic")
                (hlen,) = struct.unpack("<I", head[8:12])
                header = json.loads(fh.read(hlen))
                shape = tuple(header["shape"])
                size = header["stored"]
                codec = header["codec"]
                if size != os.fstat(fh.fileno()).st_size - fh.tell():  # (what is allocated: what the file holds)
                    raise ValueError("truncated")
                if codec == "raw" and size != math.prod(shape):
                    raise ValueError("wrong size")
                # (np.empty, not a zero-filled bytearray: numpy leaves a large array's pages to be filled by
                # the read and asks for huge pages; the zero-filled buffer made a 44 MB hit ~4x slower)
                buf = np.empty(shape if codec == "raw" else size, dtype=np.uint8)
                if fh.readinto(buf.reshape(-1).data) != size or fh.read(1):
                    raise ValueError("truncated")
            array = buf if codec == "raw" else _decode(buf, codec, shape)  # raw: the pixels, read in place
        except (_Unreadable, MemoryError):  # (no memory for its pixels now: a miss, the entry kept)
            self._count("misses")
            return None
        except (OSError, ValueError, KeyError, TypeError, struct.error, zlib.error):
            self._count("errors")
            self._count("misses")
            path.unlink(missing_ok=True)
            return None
        try:
            os.utime(path)  # LRU: a hit is a use
        except OSError:
            pass
        self._count("hits")
        return array, header["info"]

    # -- write --------------------------------------------------------------------------

    def put(self, key: str, array: np.ndarray, info: dict[str, Any]) -> None:
        """Store an entry (atomically); never raises for I/O problems (the cache is an optimisation).

        An entry of at least :data:`DIRECT_MIN_BYTES` is copied into a staging buffer and written by the
        cache's background writer with ``O_DIRECT`` (:class:`_Writer`); the caller may change ``array`` as
        soon as this returns. :meth:`get` and :meth:`flush` wait for it."""
        array = np.ascontiguousarray(array, dtype=np.uint8)
        payload, codec = _encode(array)
        header = json.dumps({"shape": list(array.shape), "info": info, "codec": codec,
                             "stored": len(payload)}).encode()
        head = _MAGIC + struct.pack("<I", len(header)) + header
        path = self._path(key)
        if len(head) + len(payload) >= DIRECT_MIN_BYTES and self._direct:
            try:
                _background().submit(self, path, head, payload)
                return
            except (OSError, MemoryError):  # no staging buffer (no memory): written here, as a small entry is
                pass
        self._store(path, (head, payload))

    def _store(self, path: Path, parts: tuple[bytes | memoryview, ...], staged: _Staged | None = None) -> None:
        """Write an entry's ``parts`` to a temporary file and rename it into place: from its ``staged`` buffer
        with :func:`_write_direct` where there is one and the filesystem allows it, else buffered."""
        size = sum(len(part) for part in parts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = None
            if staged is not None and self._direct:
                tmp = _write_direct(path.parent, staged)
                self._direct = tmp is not None  # refused once: not asked again
            if tmp is None:
                fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=path.parent)
                try:
                    with os.fdopen(fd, "wb") as fh:
                        for part in parts:
                            fh.write(part)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
            else:
                self._count("direct_writes")
            try:
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            self._count("errors")
            return
        self._count("writes")
        with self._lock:
            if self._approx_size is not None:
                self._approx_size += size
        self._maybe_evict()

    def flush(self) -> None:
        """Wait until every entry handed to the background writer is on disk (or counted as an error)."""
        if _WRITER is not None:
            _WRITER.drain()

    # -- eviction -----------------------------------------------------------------------

    def _entries(self) -> list[tuple[float, int, Path]]:
        out: list[tuple[float, int, Path]] = []
        if not self.dir.is_dir():
            return out
        for sub in os.scandir(self.dir):
            if not sub.is_dir():
                continue
            for e in os.scandir(sub.path):
                if e.name.endswith(_SUFFIX):
                    try:
                        st = e.stat()
                    except OSError:
                        continue
                    out.append((st.st_mtime, st.st_size, Path(e.path)))
                elif e.name.startswith(_TMP_PREFIX):
                    _remove_if_stale(e)
        return out

    def size(self) -> int:
        return sum(s for _, s, _ in self._entries())

    def _maybe_evict(self) -> None:
        with self._lock:
            if self._approx_size is not None and self._approx_size <= self.max_bytes:
                return
            entries = self._entries()  # rescan: other processes write here too
            total = sum(s for _, s, _ in entries)
            if total > self.max_bytes:
                target = int(self.max_bytes * 0.9)
                for _, size, path in sorted(entries, key=lambda e: (e[0], str(e[2]))):
                    if total <= target:
                        break
                    try:
                        path.unlink()
                        self.stats.evicted += 1
                    except FileNotFoundError:
                        pass  # another process evicted it first
                    except OSError:
                        continue
                    total -= size
            self._approx_size = total

    def clear(self) -> None:
        for _, _, path in self._entries():
            path.unlink(missing_ok=True)
        self._approx_size = 0

    def _count(self, what: str) -> None:
        with self._lock:
            setattr(self.stats, what, getattr(self.stats, what) + 1)


_TMP_PREFIX = ".tmp-"


class _Staged:
    """An entry's bytes (``head + payload``) in a page-aligned anonymous buffer, as ``O_DIRECT`` requires,
    padded with zeros to whole 4 KiB blocks."""

    def __init__(self, buf: mmap.mmap, size: int):
        self.buf, self.size = buf, size

    def view(self) -> memoryview:
        return memoryview(self.buf)[:self.size]

    def padded(self) -> memoryview:
        return memoryview(self.buf)[:-(-self.size // _ALIGN) * _ALIGN]


class _Writer:
    """The background writer of large entries, one a process (issue 16, the 720p fill).

    Why: a large raw entry (16 noisy 720p frames: 44 MB) written through the page cache costs the writing
    thread a fresh page of memory for every 4 KiB it writes. On the benchmark machine (a VM) that is
    ~2.5 ms of CPU a MB, ~60-110 ms an entry, a third to a half of what decoding it takes, and it was the decode
    threads' CPU. Here the decode thread copies the entry into a staging buffer that is reused (~0.25 ms a MB) and
    returns; this thread writes it with ``O_DIRECT`` (a few ms of CPU: the disk does the rest, while the decode
    threads go on decoding), which also keeps write-once cache entries from evicting the rest of the page cache.

    At most :data:`STAGING_BUFFERS` entries are staged at once (one being written, the rest queued); a decode
    thread that finds none free waits for the disk. The buffers are kept for the next entries (a fresh one costs
    its pages again: ~30 ms for 44 MB here) until the writer has had nothing to do for :data:`STAGING_IDLE_S`."""

    def __init__(self) -> None:
        import queue

        self.queue: queue.Queue[tuple[FrameCache, Path, _Staged]] = queue.Queue()
        self.free: list[mmap.mmap] = []
        self.slots = threading.Semaphore(STAGING_BUFFERS)
        self.pending: set[Path] = set()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="mosseval-frame-cache-writer", daemon=True)
        self.thread.start()

    def submit(self, cache: FrameCache, path: Path, head: bytes, payload: bytes | memoryview) -> None:
        size = len(head) + len(payload)
        padded = -(-size // _ALIGN) * _ALIGN
        self.slots.acquire()
        with self.lock:
            fits = [b for b in self.free if len(b) >= padded]
            buf = fits[0] if fits else self.free[0] if self.free else None
            if buf is not None:
                self.free.remove(buf)
        try:
            if buf is not None and len(buf) < padded:  # too small for this entry: let it go
                _close(buf)
                buf = None
            if buf is None:
                buf = mmap.mmap(-1, -(-padded // _DIRECT_CHUNK) * _DIRECT_CHUNK)
            buf[:len(head)] = head
            buf[len(head):size] = payload
            buf[size:padded] = bytes(padded - size)
        except BaseException:
            self.slots.release()  # nothing staged: the slot is free again (the caller writes the entry itself)
            raise
        with self.lock:
            self.pending.add(path)
        self.queue.put((cache, path, _Staged(buf, size)))

    def _run(self) -> None:
        import queue

        while True:
            try:
                cache, path, staged = self.queue.get(timeout=STAGING_IDLE_S)
            except queue.Empty:
                self.release()
                continue
            try:
                cache._store(path, (staged.view(),), staged)
            except Exception:  # the cache is an optimisation: a bug here must not stall the run (nor end this thread)
                cache._count("errors")
            finally:
                with self.lock:
                    self.free.append(staged.buf)
                    self.pending.discard(path)
                self.slots.release()
                self.queue.task_done()

    def waits_for(self, path: Path) -> bool:
        return path in self.pending

    def drain(self) -> None:
        """Wait until every entry queued is written (a writer thread that is gone, which only the interpreter's
        end does, writes nothing more: then this returns rather than wait for ever)."""
        with self.queue.all_tasks_done:
            while self.queue.unfinished_tasks and self.thread.is_alive():
                self.queue.all_tasks_done.wait(0.5)

    def release(self) -> None:
        """Let the free staging buffers go (the writer does after :data:`STAGING_IDLE_S` without work)."""
        with self.lock:
            free, self.free = self.free, []
        for buf in free:
            _close(buf)


def _close(buf: mmap.mmap) -> None:
    """Unmap a staging buffer now; one a view still holds (a traceback's) goes when that view does."""
    try:
        buf.close()
    except BufferError:
        pass


STAGING_BUFFERS = 2
"""Entries staged for the background writer at once (each about the size of its entry: 2 x 44 MB for 720p)."""
STAGING_IDLE_S = 5.0
"""The writer lets its staging buffers go after this long without an entry to write."""
_WRITER: _Writer | None = None
_writer_lock = threading.Lock()


def _background() -> _Writer:
    global _WRITER
    with _writer_lock:
        if _WRITER is None:
            _WRITER = _Writer()
        return _WRITER


def _flush_at_exit() -> None:
    """The interpreter's exit waits for entries still queued (a run's end has already waited for its own)."""
    if _WRITER is not None:
        _WRITER.drain()


def _forget_writer_in_child() -> None:
    """A forked child (a data loader's worker) has no writer thread: it starts its own if it needs one."""
    global _WRITER, _writer_lock
    _WRITER = None
    _writer_lock = threading.Lock()


atexit.register(_flush_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_writer_in_child)


def _write_direct(directory: Path, staged: _Staged) -> str | None:
    """Write a staged entry to a new temporary file in ``directory`` with ``O_DIRECT`` (the same bytes a
    buffered write leaves) and return its path; None where the filesystem refuses direct I/O (nothing is left
    behind then). Raises ``OSError`` for other I/O problems."""
    tmp = str(directory / f"{_TMP_PREFIX}{os.getpid()}-{os.urandom(6).hex()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_DIRECT, 0o600)
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            return None
        raise
    try:
        data = staged.padded()
        done = 0
        while done < len(data):
            n = os.write(fd, data[done:])
            if n <= 0 or n % _ALIGN:  # a short direct write leaves the offset unaligned: give up on it
                raise OSError(errno.EINVAL, "short direct write")
            done += n
        os.ftruncate(fd, staged.size)  # the padding goes
    except BaseException as exc:
        os.close(fd)
        os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno == errno.EINVAL:  # opened, but refused: write it buffered
            return None
        raise
    os.close(fd)
    return tmp


STALE_TMP_S = 3600.0
"""A writer killed between creating and renaming an entry leaves ``.tmp-*``; the next rescan (eviction,
``size()``) removes those older than this (a younger one may still be being written by another process)."""


def _remove_if_stale(entry: os.DirEntry[str]) -> None:
    try:
        if time.time() - entry.stat().st_mtime > STALE_TMP_S:
            os.unlink(entry.path)
    except OSError:
        pass


# --------------------------------------------------------------------------- the process default

_default: FrameCache | None = None
_configured = False
_default_lock = threading.Lock()


_OFF = ("0", "off", "false", "no", "none")
_ON = ("", "1", "on", "true", "yes")


def open_cache(enabled: bool = True, cache_dir: str | os.PathLike[str] | None = None,
               directory: str | os.PathLike[str] | None = None, max_bytes: int | str | None = None) -> FrameCache | None:
    """The cache a command should use: None when ``enabled`` is False or ``$MOSSEVAL_FRAME_CACHE``
    is ``off``; else ``directory``, or the directory ``$MOSSEVAL_FRAME_CACHE`` names, or
    ``<cache_dir>/frames`` (``cache_dir`` as resolved by :func:`mosseval.paths.cache_dir`)."""
    env = os.environ.get(ENV, "").strip()
    if not enabled or env.lower() in _OFF:
        return None
    if directory is None and env.lower() not in _ON:
        directory = env
    if directory is None:
        from mosseval.paths import cache_dir as resolve_cache_dir

        directory = resolve_cache_dir(cache_dir) / "frames"
    if max_bytes is None:
        max_bytes = os.environ.get(ENV_MAX) or DEFAULT_MAX_BYTES
    return FrameCache(directory, parse_size(max_bytes))


def configure(enabled: bool = True, cache_dir: str | os.PathLike[str] | None = None,
              directory: str | os.PathLike[str] | None = None, max_bytes: int | str | None = None) -> FrameCache | None:
    """Set the cache :func:`mosseval.video.sample_frames` uses by default in this process (see
    :func:`open_cache`; None disables it)."""
    global _default, _configured
    with _default_lock:
        _default = open_cache(enabled, cache_dir, directory, max_bytes)
        _configured = True
        return _default


def default_cache() -> FrameCache | None:
    """The process's cache (configured from the environment on first use)."""
    if not _configured:
        return configure()
    return _default
