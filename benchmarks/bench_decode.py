"""Benchmark mosseval's PyAV frame sampler against decord and a naive sequential decode.

Generates a few synthetic 720p H.264 clips (keyframe every ``--gop`` frames, B-frames) in a
temporary folder, then for 8 and 32 uniformly sampled frames times

* ``pyav``   – ``mosseval.video.sample_frames`` (index + seek-or-decode-forward), cold index cache;
* ``decord`` – ``decord.VideoReader(num_threads=1).get_batch`` (open included), if importable;
* ``naive``  – decode every frame sequentially with PyAV and keep the requested ones;

checks that all three return bit-identical pixels, then times them interleaved (A B C A B C …) and
prints the ratios decord/pyav and naive/pyav (> 1 means pyav is faster) with min and median.

    python benchmarks/bench_decode.py                 # 2 clips x 30 s (about 1-2 minutes)
    python benchmarks/bench_decode.py --seconds 60 --clips 2 --repeat 7
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import interleave, ratio_line  # noqa: E402

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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--gop", type=int, default=60, help="keyframe interval in frames (60 = 2 s)")
    ap.add_argument("--frames", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--repeat", type=int, default=5, help="interleaved repetitions per measurement")
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
        all_ok = True
        for n in args.frames:
            spec = FrameSpec(strategy="uniform", num_frames=n)
            totals: dict[str, list[float]] = {}
            for clip in clips:
                ref = VideoRef(path=clip.name)

                def pyav_run():
                    V.clear_index_cache()  # include the one-time index in the cost
                    return V.sample_frames(ref, spec, root, cache=None)  # never the frame cache here

                frames = pyav_run()
                pos = frames.info.indices
                fns = {"pyav": pyav_run}
                if have_decord:
                    ok = bool(np.array_equal(run_decord(clip, pos), frames.array))
                    all_ok &= ok
                    fns["decord"] = lambda: run_decord(clip, pos)
                if not args.no_naive:
                    got = naive(clip, pos)
                    all_ok &= all(np.array_equal(got[p], frames.array[k]) for k, p in enumerate(pos))
                    fns["naive"] = lambda: naive(clip, pos)
                times, _ = interleave(fns, args.repeat)
                for k, v in times.items():
                    acc = totals.setdefault(k, [0.0] * len(v))
                    for i, x in enumerate(v):
                        acc[i] += x
            for other in ("decord", "naive"):
                if other in totals:
                    ratio_line(f"decode_{n}frames_{other}_vs_pyav", totals[other], totals["pyav"],
                               f"{other} / mosseval's PyAV sampler, {n} frames from each of {len(clips)} "
                               f"{args.width}x{args.height} clips (> 1: PyAV faster; pixels identical)")
        if not have_decord:
            print("decord not importable: decord column skipped")
        print("pixels identical across backends:", "yes" if all_ok else "NO")
        assert all_ok, "backends returned different pixels"
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
