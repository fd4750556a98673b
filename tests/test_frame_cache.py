"""The shared decoded-frame cache: bit-identical frames, correct keys, LRU bound, concurrency, runner use."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import time
import zlib

import numpy as np
import pytest

from mosseval.errors import UnsafePathError
from mosseval.frame_cache import FrameCache, parse_size
from mosseval.records import FrameSpec, VideoRef
from mosseval.rundir import load_run
from mosseval.runner import Runner, RunOptions
from mosseval.video import sample_frames
from tests.support.cli import REPO
from tests.support.videos import write_frame_folder, write_mp4

SPECS = [
    FrameSpec(num_frames=8),
    FrameSpec(num_frames=5, strategy="linspace", max_pixels=40 * 40, size_multiple=4),
    FrameSpec(num_frames=6, strategy="segment"),
]


@pytest.fixture()
def media(tmp_path):
    root = tmp_path / "data"
    write_mp4(root / "a.mp4", n=60, fps=10)
    write_mp4(root / "b.mp4", n=45, fps=15, width=96, height=64)
    write_frame_folder(root / "frames", n=20, first_index=1)
    return root


def _refs():
    return [VideoRef(path="a.mp4"), VideoRef(path="a.mp4", start=1.0, end=4.5), VideoRef(path="b.mp4"),
            VideoRef(path="frames", kind="frames", fps=3, first_index=1)]


def test_frames_are_bit_identical_with_and_without_the_cache(media, tmp_path):
    cache = FrameCache(tmp_path / "fc")
    for ref in _refs():
        for spec in SPECS:
            plain = sample_frames(ref, spec, media, cache=None)
            first = sample_frames(ref, spec, media, cache=cache)
            second = sample_frames(ref, spec, media, cache=cache)
            assert (plain.cache, first.cache, second.cache) == (None, "miss", "hit")
            for got in (first, second):
                assert got.array.dtype == np.uint8 and got.array.shape == plain.array.shape
                assert got.array.flags.writeable and got.array.flags.c_contiguous
                assert np.array_equal(got.array, plain.array)
                assert got.info == plain.info
    n = len(_refs()) * len(SPECS)
    assert (cache.stats.hits, cache.stats.writes) == (n, n)
    assert 0 < cache.size()


def test_a_changed_file_or_spec_is_a_miss_never_a_stale_hit(media, tmp_path):
    cache = FrameCache(tmp_path / "fc")
    ref = VideoRef(path="a.mp4")
    before = sample_frames(ref, SPECS[0], media, cache=cache)
    assert sample_frames(ref, SPECS[1], media, cache=cache).cache == "miss"  # other spec
    assert sample_frames(VideoRef(path="a.mp4", start=0.5), SPECS[0], media, cache=cache).cache == "miss"
    # same name, other content (and size): must decode again and return the new pixels
    write_mp4(media / "a.mp4", n=60, fps=10, width=128, height=80)
    after = sample_frames(ref, SPECS[0], media, cache=cache)
    assert after.cache == "miss" and after.array.shape != before.array.shape
    assert np.array_equal(after.array, sample_frames(ref, SPECS[0], media, cache=None).array)
    # same size, new mtime: a miss too
    st = os.stat(media / "a.mp4")
    os.utime(media / "a.mp4", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert sample_frames(ref, SPECS[0], media, cache=cache).cache == "miss"


def test_damaged_entries_are_misses_and_removed(media, tmp_path):
    cache = FrameCache(tmp_path / "fc")
    ref = VideoRef(path="b.mp4")
    good = sample_frames(ref, SPECS[0], media, cache=cache)
    entry = next((tmp_path / "fc").rglob("*.frames"))
    entry.write_bytes(entry.read_bytes()[:-100])  # truncated (a crash or a full disk)
    again = sample_frames(ref, SPECS[0], media, cache=cache)
    assert again.cache == "miss" and np.array_equal(again.array, good.array)
    assert cache.stats.errors == 1
    entry.write_bytes(b"garbage")
    assert sample_frames(ref, SPECS[0], media, cache=cache).cache == "miss"
    assert sample_frames(ref, SPECS[0], media, cache=cache).cache == "hit"


def test_a_hit_never_skips_the_media_safety_checks(media, tmp_path):
    """A cached frame folder whose frame is later swapped for a link out of the data root (same name,
    size and mtime: the same cache key) is refused on the hit too, as is a folder linked out of it."""
    cache = FrameCache(tmp_path / "fc")
    ref = VideoRef(path="frames", kind="frames", fps=3, first_index=1)
    assert sample_frames(ref, SPECS[0], media, cache=cache).cache == "miss"
    assert sample_frames(ref, SPECS[0], media, cache=cache).cache == "hit"
    (tmp_path / "elsewhere").mkdir()
    private = tmp_path / "elsewhere" / "private.jpg"
    (media / "frames" / "00003.jpg").rename(private)  # keeps size and mtime
    (media / "frames" / "00003.jpg").symlink_to(private)
    with pytest.raises(UnsafePathError, match="outside the data root"):
        sample_frames(ref, SPECS[0], media, cache=cache)
    assert cache.stats.hits == 1  # refused before the lookup
    # the whole folder linked out of the root (its key equals the cached folder's)
    (media / "frames" / "00003.jpg").unlink()
    private.rename(media / "frames" / "00003.jpg")
    assert sample_frames(ref, SPECS[0], media, cache=cache).cache == "hit"
    (media / "frames").rename(tmp_path / "elsewhere" / "frames")
    (media / "frames").symlink_to(tmp_path / "elsewhere" / "frames")
    with pytest.raises(UnsafePathError, match="outside the data root"):
        sample_frames(ref, SPECS[0], media, cache=cache)
    assert cache.stats.hits == 2


def test_size_bound_evicts_least_recently_used(tmp_path):
    one = 64 * 64 * 3 * 4  # random pixels do not compress: an entry is this plus a small header
    cache = FrameCache(tmp_path / "fc", max_bytes=int(3.5 * one))
    rng = np.random.default_rng(0)
    arrays = {f"{k:064x}": rng.integers(0, 255, (4, 64, 64, 3), dtype=np.uint8) for k in range(5)}
    keys = list(arrays)
    past = time.time() - 1000  # explicit ages (no sleeps betting on the file system's mtime resolution)

    def age(k: str, t: float) -> None:
        os.utime(cache._path(k), (t, t))

    for i, k in enumerate(keys[:3]):
        cache.put(k, arrays[k], {"k": k})
        age(k, past + 10 * i)
    assert cache.stats.evicted == 0
    assert cache.get(keys[0]) is not None  # used again: now the most recently used (touched: now)
    cache.put(keys[3], arrays[keys[3]], {"k": keys[3]})  # over the bound: the LRU entry goes
    assert cache.stats.evicted == 1 and cache.size() <= 3.5 * one
    assert not cache._path(keys[1]).exists()
    assert all(cache._path(k).exists() for k in (keys[0], keys[2], keys[3]))
    cache.put(keys[4], arrays[keys[4]], {"k": keys[4]})
    assert not cache._path(keys[2]).exists() and cache._path(keys[0]).exists()
    got = cache.get(keys[4])
    assert got is not None and np.array_equal(got[0], arrays[keys[4]]) and got[1] == {"k": keys[4]}


def test_a_killed_writers_temp_files_are_removed_once_stale(tmp_path):
    """SIGKILL between mkstemp and rename left .tmp-* files that nothing ever removed."""
    from mosseval.frame_cache import STALE_TMP_S

    cache = FrameCache(tmp_path / "fc")
    arr = np.zeros((2, 8, 8, 3), dtype=np.uint8)
    cache.put(f"{1:064x}", arr, {})
    folder = cache._path(f"{1:064x}").parent
    old, young = folder / ".tmp-killedwriter", folder / ".tmp-stillwriting"
    for p in (old, young):
        p.write_bytes(b"half an entry")
    t = time.time() - STALE_TMP_S - 60
    os.utime(old, (t, t))
    fresh = FrameCache(tmp_path / "fc")  # another process: its first write rescans the folder
    fresh.put(f"{2:064x}", arr, {})
    assert not old.exists() and young.exists()
    assert fresh.get(f"{1:064x}") is not None and fresh.get(f"{2:064x}") is not None


def test_compressible_frames_are_compressed_noisy_ones_stored_raw(tmp_path):
    cache = FrameCache(tmp_path / "fc")
    flat = np.zeros((4, 64, 64, 3), dtype=np.uint8)
    flat[:, 10:30] = 200
    noisy = np.random.default_rng(1).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    cache.put("a" * 64, flat, {})
    cache.put("b" * 64, noisy, {})
    assert cache._path("a" * 64).stat().st_size < flat.nbytes / 10
    assert noisy.nbytes <= cache._path("b" * 64).stat().st_size < noisy.nbytes + 200
    # larger than the probe: the compressed probe is the start of the entry's one compressed stream
    big = np.zeros((8, 128, 128, 3), dtype=np.uint8)
    big[:, :, ::7] = np.arange(8, dtype=np.uint8)[:, None, None, None] * 30
    big[-1, -8:] = np.random.default_rng(2).integers(0, 256, (8, 128, 3), dtype=np.uint8)
    assert big.nbytes > 256 * 1024
    cache.put("c" * 64, big, {})
    assert cache._path("c" * 64).stat().st_size < big.nbytes / 10
    for key, arr in (("a" * 64, flat), ("b" * 64, noisy), ("c" * 64, big)):
        got = cache.get(key)
        assert got is not None and np.array_equal(got[0], arr)


def test_file_identity_hashes_the_first_64_kib(tmp_path):
    import hashlib

    from mosseval.frame_cache import file_identity

    big, small = tmp_path / "big.mp4", tmp_path / "small.mp4"
    data = bytes(range(256)) * 400  # 100 KiB
    big.write_bytes(data)
    small.write_bytes(data[:10])
    for path, head in ((big, data[:65536]), (small, data[:10])):
        st = path.stat()
        assert file_identity(path) == {"kind": "file", "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                                       "head_sha256": hashlib.sha256(head).hexdigest()}
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "00001.jpg").write_bytes(b"x")
    st = (folder / "00001.jpg").stat()
    assert file_identity(folder) == {"kind": "dir", "entries": hashlib.sha256(
        json.dumps([["00001.jpg", 1, st.st_mtime_ns]]).encode()).hexdigest()}


def _codec(cache: FrameCache, key: str) -> str:
    data = cache._path(key).read_bytes()
    (hlen,) = struct.unpack("<I", data[8:12])
    return json.loads(data[12:12 + hlen])["codec"]


def _legacy_zlib_entry(path, array: np.ndarray, info: dict) -> None:
    """An entry exactly as the zlib writer (before zstd) laid it out: magic, header length, JSON header,
    one zlib level-1 stream whose start is the sync-flushed 256 KiB probe."""
    raw = array.tobytes()
    comp = zlib.compressobj(1)
    payload = comp.compress(raw[:256 * 1024]) + comp.flush(zlib.Z_SYNC_FLUSH) + comp.compress(raw[256 * 1024:])
    payload += comp.flush()
    header = json.dumps({"shape": list(array.shape), "info": info, "codec": "zlib", "stored": len(payload)}).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"MOSSFRM1" + struct.pack("<I", len(header)) + header + payload)


def test_new_entries_are_zstd_and_a_cache_written_with_zlib_still_reads_bit_identical(media, tmp_path):
    cache = FrameCache(tmp_path / "fc")
    ref, spec = VideoRef(path="a.mp4"), SPECS[0]
    plain = sample_frames(ref, spec, media, cache=None)
    key = cache.key(media / "a.mp4", ref, spec)
    assert sample_frames(ref, spec, media, cache=cache).cache == "miss"
    assert _codec(cache, key) == "zstd"
    # the previous writer's entry under the same key (the key did not change): a hit, the same pixels
    _legacy_zlib_entry(cache._path(key), plain.array, plain.info.model_dump(mode="json"))
    assert _codec(cache, key) == "zlib"
    got = sample_frames(ref, spec, media, cache=cache)
    assert got.cache == "hit" and np.array_equal(got.array, plain.array) and got.info == plain.info
    assert got.array.flags.writeable
    # larger than the probe, too
    big = np.zeros((8, 128, 128, 3), dtype=np.uint8)
    big[:, :, ::5] = np.arange(8, dtype=np.uint8)[:, None, None, None] * 31
    _legacy_zlib_entry(cache._path("d" * 64), big, {"n": 8})
    hit = cache.get("d" * 64)
    assert hit is not None and np.array_equal(hit[0], big) and hit[1] == {"n": 8}
    # a zlib stream longer than its header says is damaged: a miss, removed
    _legacy_zlib_entry(cache._path("e" * 64), big, {})
    data = bytearray(cache._path("e" * 64).read_bytes())
    cache._path("e" * 64).write_bytes(data.replace(b'"shape": [8, 128', b'"shape": [7, 128'))
    assert cache.get("e" * 64) is None and not cache._path("e" * 64).exists()


def _rewrite_entry(path, *, shape=None, payload=None) -> None:
    """An entry with its header's shape or its payload replaced (``stored`` follows the payload)."""
    data = path.read_bytes()
    (hlen,) = struct.unpack("<I", data[8:12])
    header = json.loads(data[12:12 + hlen])
    body = data[12 + hlen:] if payload is None else payload
    header["shape"] = header["shape"] if shape is None else shape
    header["stored"] = len(body)
    head = json.dumps(header).encode()
    path.write_bytes(data[:8] + struct.pack("<I", len(head)) + head + body)


def test_entries_are_read_into_the_array_they_return_and_a_damaged_one_is_a_miss(tmp_path, monkeypatch):
    """A raw entry's pixels are read straight into the returned array, a Zstandard entry's decompressed straight
    into it: the array owns its memory (no bytes object copied into a second buffer), bit-identical and writable.
    A stream whose declared size is not the header's shape, a stream that ends early, or a raw entry whose stored
    size is not its shape's, is damaged: a miss, counted and removed. No memory for its pixels is a miss that
    keeps the entry."""
    import zstandard

    cache = FrameCache(tmp_path / "fc")
    big = np.zeros((8, 128, 128, 3), dtype=np.uint8)
    big[:, :, ::5] = np.arange(8, dtype=np.uint8)[:, None, None, None] * 31
    noisy = np.random.default_rng(3).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    assert big.nbytes > 256 * 1024
    for key in ("a" * 64, "b" * 64, "c" * 64):
        cache.put(key, big, {"n": 8})
        assert _codec(cache, key) == "zstd"
    for key in ("d" * 64, "e" * 64):
        cache.put(key, noisy, {"n": 4})
        assert _codec(cache, key) == "raw"
    for key, want in (("a" * 64, big), ("d" * 64, noisy)):
        got = cache.get(key)
        assert got is not None and np.array_equal(got[0], want) and got[1] == {"n": len(want)}
        assert got[0].flags.owndata and got[0].flags.writeable and got[0].shape == want.shape
        got[0][0, 0, 0] = 7  # the caller's to change
        again = cache.get(key)
        assert again is not None and np.array_equal(again[0], want)
    # the stream says 8 frames, the header 7: not read into a 7-frame array
    _rewrite_entry(cache._path("b" * 64), shape=[7, 128, 128, 3])
    # a stream cut short (its header's stored size agreeing): fewer pixels than the shape
    data = cache._path("c" * 64).read_bytes()
    (hlen,) = struct.unpack("<I", data[8:12])
    stream = data[12 + hlen:]
    assert zstandard.frame_content_size(stream) == big.nbytes
    _rewrite_entry(cache._path("c" * 64), payload=stream[:len(stream) // 2])
    # raw pixels of 4 frames under a header that says 3
    _rewrite_entry(cache._path("e" * 64), shape=[3, 64, 64, 3])
    errors = cache.stats.errors
    for key in ("b" * 64, "c" * 64, "e" * 64):
        assert cache.get(key) is None and not cache._path(key).exists()
    assert cache.stats.errors == errors + 3
    # no memory for the pixels at the moment: a miss, the entry kept for later
    from mosseval import frame_cache

    def no_memory(*args, **kwargs):
        raise MemoryError

    misses = cache.stats.misses
    with monkeypatch.context() as mp:
        mp.setattr(frame_cache.np, "empty", no_memory)
        assert cache.get("a" * 64) is None
    assert cache._path("a" * 64).exists() and cache.stats.misses == misses + 1
    assert cache.stats.errors == errors + 3 and cache.get("a" * 64) is not None


def test_without_zstandard_entries_are_zlib_and_zstd_entries_are_kept_misses(tmp_path, monkeypatch):
    import mosseval.frame_cache as fc

    cache = FrameCache(tmp_path / "fc")
    flat = np.zeros((4, 64, 64, 3), dtype=np.uint8)
    flat[:, 5:9] = 77
    cache.put("a" * 64, flat, {})
    assert _codec(cache, "a" * 64) == "zstd"
    monkeypatch.setattr(fc, "_ZSTD", None)  # as if zstandard were not installed
    cache.put("b" * 64, flat, {})
    assert _codec(cache, "b" * 64) == "zlib"
    assert cache.stats.writes == 2 and cache._path("b" * 64).stat().st_size < flat.nbytes / 10
    got = cache.get("b" * 64)
    assert got is not None and np.array_equal(got[0], flat)
    assert cache.get("a" * 64) is None and cache._path("a" * 64).exists()  # another process may read it
    assert cache.stats.errors == 0
    monkeypatch.setattr(fc, "_ZSTD", False)  # installed again
    got = cache.get("a" * 64)
    assert got is not None and np.array_equal(got[0], flat)


def test_parse_size():
    assert parse_size("10G") == 10 * 1024**3 and parse_size("512m") == 512 * 1024**2 and parse_size(123) == 123
    with pytest.raises(Exception, match="cannot read the size"):
        parse_size("lots")


def test_concurrent_processes_share_one_cache_safely(media, tmp_path):
    """Four processes read and fill one small cache at once (forcing evictions under readers)."""
    script = textwrap.dedent(f"""
        import hashlib, sys
        from pathlib import Path
        from mosseval.frame_cache import FrameCache
        from mosseval.records import FrameSpec, VideoRef
        from mosseval.video import sample_frames
        cache = FrameCache({str(tmp_path / "fc")!r}, max_bytes=200_000)
        out = []
        for rep in range(3):
            for path in ("a.mp4", "b.mp4"):
                for n in (4, 6, 8):
                    f = sample_frames(VideoRef(path=path), FrameSpec(num_frames=n), Path({str(media)!r}), cache=cache)
                    out.append(f"{{path}} {{n}} " + hashlib.sha256(f.array.tobytes()).hexdigest())
        print("\\n".join(out))
        print("STATS", cache.stats.hits, cache.stats.misses, cache.stats.evicted, file=sys.stderr)
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(4)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    expected = []
    for _ in range(3):
        for path in ("a.mp4", "b.mp4"):
            for n in (4, 6, 8):
                import hashlib

                arr = sample_frames(VideoRef(path=path), FrameSpec(num_frames=n), media, cache=None).array
                expected.append(f"{path} {n} " + hashlib.sha256(arr.tobytes()).hexdigest())
    for out, _ in outs:
        assert out.strip().splitlines() == expected
    assert not list((tmp_path / "fc").rglob(".tmp-*"))  # no temporary file left behind
    assert sum(int(err.split("STATS")[1].split()[0]) for _, err in outs) > 0  # the processes did share


def _run(model, out, **kw):
    opts = RunOptions(model=model, tasks=["moss-video-mini"], output_dir=out, progress=False, fsync=False,
                      limit=12, **kw)
    return Runner(opts).execute()


def test_second_model_decodes_nothing_and_the_run_records_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MOSSEVAL_FRAME_CACHE", str(tmp_path / "fc"))
    first = load_run(_run("oracle", tmp_path / "runs").run_dir)
    second = load_run(_run("random", tmp_path / "runs").run_dir)
    off = load_run(_run("random", tmp_path / "off", frame_cache=False).run_dir)
    assert first.log.spec.frame_cache is True and off.log.spec.frame_cache is False
    first_status = [r.generation.extra["frame_cache"] for r in first.records]
    # two questions on the same clip and window share their frames: the later one may already be a hit
    # (or a second miss when both were decoding at once in the two decode threads)
    windows = {(r.sample.video.path, r.sample.video.start, r.sample.video.end) for r in first.records}
    assert len(windows) <= first_status.count("miss") <= len(first_status) and set(first_status) <= {"miss", "hit"}
    assert {r.generation.extra["frame_cache"] for r in second.records} == {"hit"}  # decoded nothing
    assert all("frame_cache" not in r.generation.extra for r in off.records)
    # the frames the models saw are the same, and so is everything scored
    assert [r.generation.frames for r in second.records] == [r.generation.frames for r in off.records]
    assert [r.score for r in second.records] == [r.score for r in off.records]
    assert second.log.run_id == off.log.run_id  # the cache is not part of the identity


def test_a_run_that_outgrows_the_bound_says_so(tmp_path, monkeypatch, capsys):
    from rich.console import Console

    monkeypatch.setenv("MOSSEVAL_FRAME_CACHE", str(tmp_path / "fc"))
    monkeypatch.setenv("MOSSEVAL_FRAME_CACHE_MAX", "12K")  # a few samples' frames (zstd: ~5 KB each)
    opts = RunOptions(model="random", tasks=["moss-video-mini"], output_dir=tmp_path / "runs", fsync=False,
                      limit=6)
    runner = Runner(opts, Console(file=None, force_terminal=False, width=200))
    runner.opts.progress = True
    runner.execute()
    assert runner.frame_cache is not None and runner.frame_cache.stats.evicted > 0
    assert "evicted" in capsys.readouterr().out and runner.frame_cache.size() <= 12 * 1024


def test_env_off_disables_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MOSSEVAL_FRAME_CACHE", "off")
    run = load_run(_run("random", tmp_path / "runs").run_dir)
    assert run.log.spec.frame_cache is False


def test_cli_flag(cli, tmp_path):
    p = cli("run", "--help")
    assert "--no-frame-cache" in p.stdout


# --------------------------------------------------------------------------- large entries: the background writer

def _noisy(shape=(4, 256, 512, 3), seed=0) -> np.ndarray:
    """Pixels the probe cannot compress 3x: stored raw, 1.5 MB, so they take the background writer's path."""
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def test_a_large_entry_is_staged_written_in_the_background_and_reads_back_bit_identical(tmp_path):
    from mosseval.frame_cache import DIRECT_MIN_BYTES

    cache = FrameCache(tmp_path / "fc")
    frames = _noisy()
    expected = frames.copy()
    assert frames.nbytes >= DIRECT_MIN_BYTES
    cache.put("a" * 64, frames, {"n": 4})
    frames[:] = 0  # the caller may reuse its array at once: the entry was copied before put returned
    got = cache.get("a" * 64)  # waits for the writer (this process wrote it a moment ago)
    assert got is not None and np.array_equal(got[0], expected) and got[1] == {"n": 4}
    assert _codec(cache, "a" * 64) == "raw"
    data = cache._path("a" * 64).read_bytes()
    (hlen,) = struct.unpack("<I", data[8:12])
    assert len(data) == 12 + hlen + expected.nbytes  # the 4 KiB padding of the direct write is cut off
    # written with O_DIRECT where the filesystem allows it, buffered where it refused (and not asked again)
    assert (cache.stats.direct_writes, cache._direct) in {(1, True), (0, False)}
    assert cache.stats.writes == 1 and cache.stats.errors == 0 and cache.stats.hits == 1
    assert not list((tmp_path / "fc").rglob(".tmp-*"))


def test_a_filesystem_that_refuses_direct_io_gets_buffered_writes_of_the_same_bytes(tmp_path, monkeypatch):
    real_open, real_write = os.open, os.write
    direct_fds: set[int] = set()

    def refusing_open(path, flags, *args):  # as tmpfs before Linux 6.6 and some network filesystems do
        if flags & getattr(os, "O_DIRECT", 0):
            raise OSError(22, "Invalid argument")
        return real_open(path, flags, *args)

    cache = FrameCache(tmp_path / "fc")
    monkeypatch.setattr(os, "open", refusing_open)
    cache.put("b" * 64, _noisy(seed=1), {})
    cache.flush()
    assert cache._direct is False and cache.stats.direct_writes == 0 and cache.stats.writes == 1
    got = cache.get("b" * 64)
    assert got is not None and np.array_equal(got[0], _noisy(seed=1))
    cache.put("c" * 64, _noisy(seed=2), {})  # written synchronously from now on
    assert cache._path("c" * 64).exists()
    monkeypatch.setattr(os, "open", real_open)

    # opened, but the write refused (an alignment the device does not take): the same, and nothing left behind
    def tracking_open(path, flags, *args):
        fd = real_open(path, flags, *args)
        if flags & getattr(os, "O_DIRECT", 0):
            direct_fds.add(fd)
        return fd

    def refusing_write(fd, data):
        if fd in direct_fds:
            raise OSError(22, "Invalid argument")
        return real_write(fd, data)

    other = FrameCache(tmp_path / "fc2")
    monkeypatch.setattr(os, "open", tracking_open)
    monkeypatch.setattr(os, "write", refusing_write)
    other.put("d" * 64, _noisy(seed=3), {})
    other.flush()
    got = other.get("d" * 64)
    assert got is not None and np.array_equal(got[0], _noisy(seed=3))
    assert other.stats.direct_writes == 0 and other.stats.errors == 0
    assert not list((tmp_path / "fc2").rglob(".tmp-*"))


def test_a_failed_background_write_is_counted_and_the_writer_goes_on(tmp_path):
    cache = FrameCache(tmp_path / "fc")
    (tmp_path / "fc").mkdir()
    (tmp_path / "fc" / "ee").write_text("not a folder")  # the entry's sub-folder cannot be made
    cache.put("e" * 64, _noisy(), {})
    cache.flush()
    assert cache.stats.errors == 1 and cache.stats.writes == 0
    cache.put("f" * 64, _noisy(seed=4), {})
    cache.flush()
    got = cache.get("f" * 64)
    assert got is not None and np.array_equal(got[0], _noisy(seed=4)) and cache.stats.writes == 1


def test_entries_still_queued_when_the_process_exits_are_written(tmp_path):
    script = textwrap.dedent(f"""
        import numpy as np
        from mosseval.frame_cache import FrameCache
        cache = FrameCache({str(tmp_path / "fc")!r})
        for k in range(3):
            cache.put(str(k) * 64, np.random.default_rng(k).integers(0, 256, (4, 256, 512, 3), dtype=np.uint8), {{}})
        # no flush: the interpreter's exit waits for the background writer
    """)
    _run_then_read_back(script, tmp_path / "fc", 3)


def _run_then_read_back(script: str, directory, n: int) -> None:
    """Run ``script`` in a fresh interpreter, then read its ``n`` noisy entries back in this one."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=120)
    cache = FrameCache(directory)
    for k in range(n):
        got = cache.get(str(k) * 64)
        assert got is not None and np.array_equal(got[0], _noisy(seed=k))


def test_a_run_whose_entries_all_go_through_the_writer_leaves_them_on_disk(tmp_path, monkeypatch):
    import mosseval.frame_cache as fc

    monkeypatch.setattr(fc, "DIRECT_MIN_BYTES", 1)  # every entry of the small test videos takes that path
    monkeypatch.setenv("MOSSEVAL_FRAME_CACHE", str(tmp_path / "fc"))
    runner = Runner(RunOptions(model="oracle", tasks=["moss-video-mini"], output_dir=tmp_path / "runs",
                               progress=False, fsync=False, limit=12))
    first = load_run(runner.execute().run_dir)
    stats = runner.frame_cache.stats if runner.frame_cache is not None else None
    assert stats is not None and stats.writes > 0 and stats.errors == 0
    assert stats.direct_writes == (stats.writes if runner.frame_cache._direct else 0)
    entries = list((tmp_path / "fc").rglob("*.frames"))
    # on disk when the run returned: as many as the distinct windows it decoded
    windows = {(r.sample.video.path, r.sample.video.start, r.sample.video.end) for r in first.records}
    assert len(entries) == len(windows) and not list((tmp_path / "fc").rglob(".tmp-*"))
    second = load_run(_run("random", tmp_path / "runs").run_dir)
    off = load_run(_run("random", tmp_path / "off", frame_cache=False).run_dir)
    assert {r.generation.extra["frame_cache"] for r in second.records} == {"hit"}
    assert [r.generation.frames for r in second.records] == [r.generation.frames for r in off.records]
    assert [r.score for r in second.records] == [r.score for r in off.records]


def test_a_forked_child_writes_large_entries_with_a_writer_of_its_own(tmp_path):
    """A data loader's worker forked after the parent's writer started (no thread in the child) neither hangs
    nor loses its entries."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        import numpy as np
        from mosseval.frame_cache import FrameCache
        cache = FrameCache({str(tmp_path / "fc")!r})
        noisy = lambda k: np.random.default_rng(k).integers(0, 256, (4, 256, 512, 3), dtype=np.uint8)
        for k in range(3):
            cache.put(str(k) * 64, noisy(k), {{}})  # the parent's writer is busy with these at the fork
        pid = os.fork()
        if pid == 0:
            signal.alarm(90)  # a child that hangs (no writer thread) ends itself: the test's timeout ends only its parent
            for k in range(3, 6):
                cache.put(str(k) * 64, noisy(k), {{}})
            ok = all(cache.get(str(k) * 64) is not None for k in range(3, 6))
            sys.exit(0 if ok else 3)  # a normal exit: the exit handlers run here too
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
    """)
    _run_then_read_back(script, tmp_path / "fc", 6)


def test_the_writer_keeps_its_staging_buffers_while_busy_and_lets_them_go_when_idle(tmp_path, monkeypatch):
    import mosseval.frame_cache as fc

    monkeypatch.setattr(fc, "STAGING_IDLE_S", 0.3)
    writer = fc._background()
    writer.drain()
    writer.release()  # what earlier tests in this process left
    cache = FrameCache(tmp_path / "fc")
    cache.put("a" * 64, _noisy(), {})
    cache.flush()
    with writer.lock:
        kept = list(writer.free)
    assert len(kept) == 1 and len(kept[0]) >= _noisy().nbytes  # ready for the next entry
    cache.put("b" * 64, _noisy(seed=1), {})  # the same buffer again
    cache.flush()
    with writer.lock:
        assert writer.free == kept
    deadline = time.monotonic() + 10
    while writer.free and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer.free == [] and kept[0].closed
    got = cache.get("b" * 64)
    assert got is not None and np.array_equal(got[0], _noisy(seed=1))


def test_no_memory_for_a_staging_buffer_writes_the_entry_in_the_caller_and_frees_its_slot(tmp_path, monkeypatch):
    import mmap

    import mosseval.frame_cache as fc

    writer = fc._background()
    writer.drain()
    writer.release()  # no free buffer: the next entry needs a new one

    def no_memory(*args, **kwargs):
        raise MemoryError

    cache = FrameCache(tmp_path / "fc")
    monkeypatch.setattr(mmap, "mmap", no_memory)
    for k in range(fc.STAGING_BUFFERS + 2):  # more than the slots: none may be lost to a failed staging
        cache.put(str(k) * 64, _noisy(seed=k), {})
    monkeypatch.undo()
    assert cache.stats.writes == fc.STAGING_BUFFERS + 2 and cache.stats.direct_writes == 0 and cache.stats.errors == 0
    taken = [writer.slots.acquire(blocking=False) for _ in range(fc.STAGING_BUFFERS)]
    for _ in range(sum(taken)):
        writer.slots.release()
    assert not writer.pending and all(taken)  # every slot free again
    for k in range(fc.STAGING_BUFFERS + 2):
        got = cache.get(str(k) * 64)
        assert got is not None and np.array_equal(got[0], _noisy(seed=k))
