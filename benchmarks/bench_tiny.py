"""The embedded tiny Qwen2.5-VL end to end on the real transformers path.

Builds ``tiny-qwen2.5-vl`` from scratch in a temporary directory, loads it through the ``hf``
backend (AutoProcessor + AutoModelForImageTextToText), and generates for N synthetic samples
(random uint8 frames with a sampled fps, the same video path a real run uses). Prints

  * import, build and load times,
  * per-sample latency and samples/second with batch size 1 (the baseline),
  * the same with --batch-size B, and the batched / sequential throughput ratio (interleaved
    repetitions, min and median),
  * peak resident memory (resource.getrusage),

and asserts that the batch-B outputs equal the batch-1 outputs (greedy decoding).

Torch threads are pinned (--threads, default 1) so numbers are comparable on a busy machine.

    python benchmarks/bench_tiny.py [--samples 32] [--frames 8] [--size 64] [--batch-size 4]
                                    [--max-new-tokens 32] [--threads 1] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import interleave, ratio_line  # noqa: E402


def _peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return kb / 1024 if sys.platform != "darwin" else kb / (1024 * 1024)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", type=int, default=64, help="frame height and width")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ["HF_HUB_OFFLINE"] = "1"

    t0 = time.perf_counter()
    from mosseval.torchvision_compat import ensure_torchvision

    compat = ensure_torchvision()
    import numpy as np
    import torch
    import transformers  # noqa: F401

    torch.set_num_threads(args.threads)
    t_import = time.perf_counter() - t0

    from mosseval.models.base import Request
    from mosseval.models.registry import ModelSpec, load_model
    from mosseval.models.tiny import build_tiny
    from mosseval.records import FrameInfo, GenerationSpec, Sample, TaskSpec
    from mosseval.video import Frames

    with tempfile.TemporaryDirectory(prefix="bench-tiny-") as tmp:
        t1 = time.perf_counter()
        model_dir = build_tiny(Path(tmp) / "tiny", seed=0)
        t_build = time.perf_counter() - t1  # includes transformers' lazy Qwen2.5-VL module imports
        t1 = time.perf_counter()
        build_tiny(Path(tmp) / "tiny-again", seed=0)
        t_rebuild = time.perf_counter() - t1

        def load(batch_size: int):
            spec = ModelSpec("tiny-qwen2.5-vl", "hf", str(model_dir),
                             {"device": "cpu", "dtype": "float32", "batch_size": batch_size})
            return load_model(spec)

        t2 = time.perf_counter()
        model = load(1)
        t_load = time.perf_counter() - t2

        task = TaskSpec(name="bench", version="1")
        rng = np.random.default_rng(0)
        step = 15
        requests = []
        for i in range(args.samples):
            arr = rng.integers(0, 256, (args.frames, args.size, args.size, 3), dtype=np.uint8)
            indices = [k * step for k in range(args.frames)]
            info = FrameInfo(indices=indices, timestamps=[k / 30.0 for k in indices], decoder="synthetic",
                             source_fps=30.0, sampled_fps=2.0, num_source_frames=args.frames * step)
            requests.append(Request(
                sample=Sample(id=f"b{i}", task="bench", question="q", answer="A"),
                task=task,
                messages=[{"role": "user", "content": [
                    {"type": "video"},
                    {"type": "text", "text": f"Question {i}: what happens after the ball hits the wall? "
                                             "Options: (A) it stops (B) it bounces back (C) it breaks."},
                ]}],
                frames=Frames(arr, info),
                generation=GenerationSpec(max_new_tokens=args.max_new_tokens, temperature=0.0),
                seed=i,
            ))

        batched = load(args.batch_size)
        model.generate(requests[:1])  # warm-up (first-call allocations, lazy inits)
        batched.generate(requests[: args.batch_size])

        latencies: list[float] = []
        outputs: dict[str, list[str | None]] = {}

        def run_one() -> None:
            texts, n_tok = [], 0
            for r in requests:
                s = time.perf_counter()
                out = model.generate([r])[0]
                latencies.append(time.perf_counter() - s)
                assert out.error is None, out.error
                texts.append(out.text)
                n_tok += out.usage.completion_tokens
            outputs["1"] = texts
            outputs["tokens"] = [n_tok]  # type: ignore[list-item]

        def run_batched() -> None:
            texts = []
            for k in range(0, len(requests), args.batch_size):
                outs = batched.generate(requests[k:k + args.batch_size])
                assert all(o.error is None for o in outs)
                texts.extend(o.text for o in outs)
            outputs["B"] = texts

        times, _ = interleave({"batch1": run_one, "batchB": run_batched}, args.repeats)
        prompt_tokens = model.generate(requests[:1])[0].usage.prompt_tokens
        same = outputs["1"] == outputs["B"]
        model.close()
        batched.close()
        tokens = outputs["tokens"][0]
        t_seq = statistics.median(times["batch1"])

    n = args.samples
    print(f"tiny-qwen2.5-vl on CPU, {args.threads} thread(s), torchvision: {compat}")
    print(f"  samples: {n} x {args.frames} frames {args.size}x{args.size}, "
          f"{prompt_tokens} prompt tokens, max {args.max_new_tokens} new tokens")
    print(f"  import torch+transformers: {t_import:6.2f} s")
    print(f"  build, first in process:   {t_build:6.2f} s  (incl. lazy Qwen2.5-VL module imports)")
    print(f"  build, again:              {t_rebuild:6.2f} s")
    print(f"  load (hf backend):         {t_load:6.2f} s")
    print(f"  batch 1 (baseline): {n / t_seq:7.2f} samples/s   latency median "
          f"{statistics.median(latencies) * 1000:6.1f} ms  p90 "
          f"{sorted(latencies)[int(0.9 * (len(latencies) - 1))] * 1000:6.1f} ms  "
          f"({tokens / t_seq:.0f} new tokens/s)")
    print(f"  batch {args.batch_size}:            {n / statistics.median(times['batchB']):7.2f} samples/s")
    print(f"  peak RSS: {_peak_rss_mb():.0f} MB")
    print(f"  batch-{args.batch_size} outputs equal batch-1 outputs: {same}")
    ratio_line(f"tiny_batch{args.batch_size}_vs_batch1", times["batch1"], times["batchB"],
               f"throughput of batch {args.batch_size} over batch 1, {n} samples")
    assert same, "batched generation changed the outputs: " + str(
        [(a, b) for a, b in zip(outputs["1"], outputs["B"]) if a != b][:3])


if __name__ == "__main__":
    main()
