"""Frame cache: a second model evaluated on the same task decodes nothing.

For moss-video-mini (128x128, 8 frames per sample) and generated 720p clips (16 frames per sample at
the task's pixel budget) the script

1. evaluates a first model (``oracle``) with the cache on, filling a fresh cache directory, and with
   the cache off (what the first model pays for writing the cache), in wall time and in process CPU
   time (all threads; steadier on a shared machine); on moss-video-mini also filling with zlib level 1,
   the codec before Zstandard, as a third interleaved arm;
2. evaluates a second model (``random``) with the warm cache and with ``--no-frame-cache``,
   interleaved (A B A B …), and asserts that both saw bit-identical frames (same FrameInfo, same
   scores) and that every sample of the cached run was a hit;
3. reports the decode share (per-sample frame seconds summed, over the run's wall time times the
   number of decode threads: the share of the decode pool's time spent getting frames) and the
   wall-time speed-up of the second model.

    python benchmarks/bench_cache.py [--repeats 9] [--n 240] [--clips 12]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import pin_threads, ratio_line  # noqa: E402

from mosseval.rundir import load_run  # noqa: E402
from mosseval.runner import Runner, RunOptions  # noqa: E402

CPU: list[float] = []
"""Process CPU seconds (all threads) of each :func:`one_run`, in call order: less sensitive than wall
time to the other jobs on a shared machine."""


def one_run(base: dict, out: Path, cache: bool) -> tuple[float, float, list]:
    opts = RunOptions(**base, output_dir=out, progress=False, fsync=False, frame_cache=cache)
    c0, t0 = time.process_time(), time.perf_counter()
    outcome = Runner(opts).execute()
    wall = time.perf_counter() - t0
    CPU.append(time.process_time() - c0)
    run = load_run(outcome.run_dir)
    decode = sum(r.generation.extra.get("decode_s", 0.0) for r in run.records)
    return wall, decode, run.records


def zlib_fill(base: dict, out: Path) -> float:
    """The first model's run filling the cache with zlib level 1, the codec before Zstandard (and the
    one written where ``zstandard`` is not installed)."""
    import mosseval.frame_cache as fc

    saved, fc._ZSTD = fc._ZSTD, None
    try:
        return one_run(base, out, True)[0]
    finally:
        fc._ZSTD = saved


def bench(label: str, base_first: dict, base_second: dict, root: Path, repeats: int,
          zlib_arm: bool = False) -> None:
    os.environ["MOSSEVAL_FRAME_CACHE"] = str(root / f"fc-{label}")
    # 1. the first model: filling the cache vs no cache (interleaved; each cached rep starts empty)
    import shutil

    fill, plain, fill_zlib = [], [], []
    cpu_fill, cpu_plain, cpu_zlib = [], [], []
    for k in range(repeats):
        shutil.rmtree(root / f"fc-{label}", ignore_errors=True)
        fill.append(one_run(base_first, root / f"{label}-first-c{k}", True)[0])
        cpu_fill.append(CPU[-1])
        plain.append(one_run(base_first, root / f"{label}-first-n{k}", False)[0])
        cpu_plain.append(CPU[-1])
        if zlib_arm:
            shutil.rmtree(root / f"fc-{label}", ignore_errors=True)
            fill_zlib.append(zlib_fill(base_first, root / f"{label}-first-z{k}"))
            cpu_zlib.append(CPU[-1])
    shutil.rmtree(root / f"fc-{label}", ignore_errors=True)
    one_run(base_first, root / f"{label}-first-final", True)  # leave a full cache
    ratio_line(f"cache_{label}_first_model_fill", fill, plain,
               "first model with the cache (decode + write) / without", "<= 1.10")
    ratio_line(f"cache_{label}_first_model_fill_cpu", cpu_fill, cpu_plain,
               "process CPU seconds of the same runs: with the cache / without")
    if zlib_arm:
        ratio_line(f"cache_{label}_first_model_fill_zlib", fill_zlib, plain,
                   "first model filling the cache with zlib level 1 (the codec before zstd) / without")
        ratio_line(f"cache_{label}_first_model_fill_cpu_zlib", cpu_zlib, cpu_plain,
                   "process CPU seconds: filling with zlib level 1 / without")
    # 2. the second model: warm cache vs decoding, interleaved
    hit, miss, dec_hit, dec_miss = [], [], [], []
    recs_hit = recs_miss = None
    for k in range(repeats):
        w, d, recs_hit = one_run(base_second, root / f"{label}-second-c{k}", True)
        hit.append(w)
        dec_hit.append(d)
        w, d, recs_miss = one_run(base_second, root / f"{label}-second-n{k}", False)
        miss.append(w)
        dec_miss.append(d)
    assert {r.generation.extra.get("frame_cache") for r in recs_hit} == {"hit"}, "a sample was decoded"
    assert [r.generation.frames for r in recs_hit] == [r.generation.frames for r in recs_miss]
    assert [r.score for r in recs_hit] == [r.score for r in recs_miss]
    threads = {f.name: f.default for f in dataclasses.fields(RunOptions)}["workers"]  # decode threads (--workers)
    share_hit = statistics.median(d / (w * threads) for d, w in zip(dec_hit, hit))
    share_miss = statistics.median(d / (w * threads) for d, w in zip(dec_miss, miss))
    print(f"{label}: {len(recs_hit)} samples; share of the {threads} decode threads' time spent getting frames "
          "in the second model's run: "
          f"{share_hit:.1%} with the warm cache (cache reads), {share_miss:.1%} decoding "
          f"(decode s summed over samples: median {statistics.median(dec_hit):.2f} vs {statistics.median(dec_miss):.2f})")
    ratio_line(f"cache_{label}_second_model", hit, miss,
               "second model, warm frame cache / decoding every sample (lower is better)", "as low as the model allows")
    ratio_line(f"cache_{label}_decode_seconds", dec_hit, dec_miss,
               "frame seconds of the second model: cache reads / decoding")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9, help="interleaved repetitions (a first-model run of the 720p clips moves by +-15%% with the machine)")
    ap.add_argument("--n", type=int, default=240, help="moss-video-mini samples")
    ap.add_argument("--clips", type=int, default=12, help="720p clips")
    args = ap.parse_args()
    pin_threads()
    from bench_pipeline import make_720p_task

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.setdefault("MOSSEVAL_CACHE_DIR", str(root / "cache"))  # removed with the rest (it was left behind)
        Runner(RunOptions(model="oracle", tasks=["moss-video-mini"], limit=1, output_dir=root / "warm",
                          progress=False, frame_cache=False)).execute()  # generate the data outside the timing
        mini = {"tasks": ["moss-video-mini"], "limit": args.n}
        bench("mini", {"model": "oracle", **mini}, {"model": "random", **mini}, root, args.repeats, zlib_arm=True)
        tasks = make_720p_task(root / "clips", args.clips)
        clips = {"tasks": ["clips-720p"], "tasks_dirs": [tasks], "data_dir": root / "clips"}
        bench("720p", {"model": "oracle", **clips}, {"model": "random", **clips}, root, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
