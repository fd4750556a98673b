"""Benchmark mosseval's PyAV frame sampler against decord and a naive sequential decode.

Generates a few synthetic 720p H.264 clips (keyframe every ``--gop`` frames, B-frames) in a
temporary folder, then for 8 and 32 uniformly sampled frames times

* ``pyav``   – ``mosseval.video.sample_frames`` (index + seek-or-decode-forward), cold index cache;
* ``decord`` – ``decord.VideoReader(num_threads=1).get_batch`` (open included), if importable;
* ``naive``  – decode every frame sequentially with PyAV and keep the requested ones;

prints the times and the ratios decord/pyav and naive/pyav (> 1 means pyav is faster), and checks
that all three return bit-identical pixels.

    python benchmarks/bench_decode.py                 # 2 clips x 30 s (about 1-2 minutes)
    python benchmarks/bench_decode.py --seconds 60 --clips 2 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mosseval import video as V  # noqa: E402
from mosseval.records import FrameSpec, VideoRef  # noqa: E402


def make_clip(path: Path, seconds: float, width: int, height: int, fps: int, gop: int, seed: int) -> Path:
    """A panning textured scene with a moving block; realistic enough for inter prediction."""
    import av

    rng = np.random.default_rng(seed)
    # smooth random texture, wider than the frame so we can pan across it
    small = rng.integers(0, 256, size=(height // 16 + 2, (width * 2) // 16 + 2, 3), dtype=np.uint8)
    from PIL import Image

    tex = np.asarray(Image.fromarray(small).resize(((width * 2) + 32, height + 32), Image.Resampling.BICUBIC))
    noise = rng.integers(-12, 13, size=(height, width, 3), dtype=np.int16)
    n = int(round(seconds * fps))
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=fps, options={"g": str(gop), "keyint_min": str(gop),
                                                           "sc_threshold": "0", "bf": "3",
                                                           "preset": "veryfast",
                                                           "crf": "23"})
        st.width, st.height, st.pix_fmt = width, height, "yuv420p"
        for i in range(n):
            x = (i * 3) % width
            img = tex[:height, x:x + width].astype(np.int16) + noise if i % 2 else tex[:height, x:x + width].astype(np.int16)
            img = np.clip(img, 0, 255).astype(np.uint8)
            bx = (i * 9) % (width - 120)
            img[200:320, bx:bx + 120] = (255, (i * 5) % 256, 40)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            for p in st.encode(frame):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
    return path


def naive(path: Path, positions: list[int]) -> dict[int, np.ndarray]:
    import av

    want = set(positions)
    got: dict[int, np.ndarray] = {}
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.codec_context.thread_count = 1
        for k, frame in enumerate(c.decode(s)):
            if k in want:
                got[k] = frame.to_ndarray(format="rgb24")
            if len(got) == len(want):
                break
    return got


def run_decord(path: Path, positions: list[int]) -> np.ndarray:
    import decord

    vr = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    return vr.get_batch(positions).asnumpy()


def timed(fn, repeat: int):
    """(median wall seconds, median CPU seconds of this process, result)."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus), result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--gop", type=int, default=60, help="keyframe interval in frames (60 = 2 s)")
    ap.add_argument("--frames", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--repeat", type=int, default=1, help="runs per measurement (median)")
    ap.add_argument("--no-naive", action="store_true")
    ap.add_argument("--keep", type=Path, default=None, help="write the clips here instead of a temp dir")
    args = ap.parse_args(argv)

    try:
        import decord  # noqa: F401
        have_decord = True
    except ImportError:
        have_decord = False

    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        clips = []
        for k in range(args.clips):
            p = root / f"clip{k}.mp4"
            if not p.exists():
                make_clip(p, args.seconds, args.width, args.height, args.fps, args.gop, seed=k)
            clips.append(p)
        print(f"generated {len(clips)} clips of {args.seconds:g}s {args.width}x{args.height}@{args.fps} "
              f"(gop {args.gop}) in {time.perf_counter() - t0:.1f}s")
        print("times in seconds, wall / CPU; ratios use CPU time (robust on a shared machine)")
        header = (f"{'clip':10} {'N':>3} {'pyav':>13} {'decord':>13} {'naive':>13} "
                  f"{'decord/pyav':>11} {'naive/pyav':>10}  identical")
        print(header)
        print("-" * len(header))
        ratios = {(k, n): [] for k in ("decord", "naive", "decord_wall", "naive_wall") for n in args.frames}
        all_ok = True
        nan = float("nan")
        for clip in clips:
            ref = VideoRef(path=clip.name)
            for n in args.frames:
                spec = FrameSpec(strategy="uniform", num_frames=n)

                def pyav_run():
                    V.clear_index_cache()  # include the one-time index in the cost
                    return V.sample_frames(ref, spec, root)

                w_py, c_py, frames = timed(pyav_run, args.repeat)
                pos = frames.info.indices
                ok = True
                w_de = c_de = w_na = c_na = nan
                if have_decord:
                    w_de, c_de, arr = timed(lambda: run_decord(clip, pos), args.repeat)
                    ok &= bool(np.array_equal(arr, frames.array))
                    ratios["decord", n].append(c_de / c_py)
                    ratios["decord_wall", n].append(w_de / w_py)
                if not args.no_naive:
                    w_na, c_na, got = timed(lambda: naive(clip, pos), 1)
                    ok &= all(np.array_equal(got[p], frames.array[k]) for k, p in enumerate(pos))
                    ratios["naive", n].append(c_na / c_py)
                    ratios["naive_wall", n].append(w_na / w_py)
                all_ok &= ok
                print(f"{clip.name:10} {n:>3} {w_py:6.2f}/{c_py:6.2f} {w_de:6.2f}/{c_de:6.2f} "
                      f"{w_na:6.2f}/{c_na:6.2f} {c_de / c_py:11.2f} {c_na / c_py:10.2f}  "
                      f"{'yes' if ok else 'NO'}")
        print()
        for n in args.frames:
            parts = [f"N={n}:"]
            for k in ("decord", "naive"):
                if ratios[k, n]:
                    parts.append(f"{k}/pyav = {statistics.mean(ratios[k, n]):.2f} CPU "
                                 f"({statistics.mean(ratios[k + '_wall', n]):.2f} wall)")
            print("  ".join(parts))
        if not have_decord:
            print("decord not importable: decord column skipped")
        print("pixels identical across backends:", "yes" if all_ok else "NO")
        return 0 if all_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
