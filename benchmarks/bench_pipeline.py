"""Harness overhead: does background decoding hide the decoder behind the model?

A stand-in model with a fixed per-batch latency (a sleep, as a GPU would take) answers like the
oracle. For two datasets — moss-video-mini and a set of generated 720p clips — the script times

  * the model-bound limit:  n_batches × latency (what a perfect harness would take),
  * the serial baseline:    the same runner with --workers 0 (decode, then generate, in turn),
  * the pipelined runner:   --workers 2 (decoding runs ahead in background threads),

and prints throughput as a share of the model-bound limit. Target: pipelined ≥ 90 %.

    python benchmarks/bench_pipeline.py [--latency 0.25] [--batch 4] [--n 48] [--clips 12] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ratio_line  # noqa: E402

from mosseval.models.base import ModelAdapter, Request, Response  # noqa: E402
from mosseval.runner import Runner, RunOptions  # noqa: E402


class SleepModel(ModelAdapter):
    """Answers like the oracle after a fixed per-batch latency."""

    backend = "baseline"
    name = "sleep"

    def __init__(self, latency: float, batch_size: int):
        self.latency = latency
        self.batch_size = batch_size
        self.batches = 0
        self.first_call: float | None = None
        self.last_return = 0.0

    def identity(self) -> dict:
        return {"name": "sleep", "latency": self.latency}

    def generate(self, requests: list[Request]) -> list[Response]:
        assert all(r.frames is not None and r.frames.array.size for r in requests)
        if self.first_call is None:
            self.first_call = time.perf_counter()
        time.sleep(self.latency)
        self.batches += 1
        self.last_return = time.perf_counter()
        out = []
        for r in requests:
            steps = "\n".join(s.text for s in r.sample.reference_steps)
            out.append(Response(text=f"<think>\n{steps}\n</think>\n<answer>{r.sample.answer}</answer>"))
        return out


def make_720p_task(root: Path, n_clips: int, seconds: float = 8.0, fps: int = 30) -> Path:
    """Write n 720p h264 clips plus a MOSS-Video JSONL and a task YAML; return the tasks folder."""
    import av

    data = root / "data"
    (data / "v").mkdir(parents=True)
    lines = []
    rng = np.random.default_rng(0)
    for i in range(n_clips):
        path = data / "v" / f"clip{i:03d}.mp4"
        with av.open(str(path), "w") as c:
            s = c.add_stream("libx264", rate=fps)
            s.width, s.height, s.pix_fmt = 1280, 720, "yuv420p"
            s.options = {"g": str(fps * 2), "preset": "ultrafast"}
            yy, xx = np.mgrid[0:720, 0:1280]
            base = np.stack([(xx * 255 // 1280), (yy * 255 // 720), ((xx + yy) % 256)], -1).astype(np.uint8)
            base = np.clip(base.astype(np.int16) + rng.integers(-6, 7, size=base.shape), 0, 255).astype(np.uint8)
            for f in range(int(seconds * fps)):
                img = base.copy()  # camera-like content: gradients, mild grain, a moving object
                x = (f * 11) % 1100
                img[300:420, x:x + 180] = (220, 40, 40)
                for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    c.mux(pkt)
            for pkt in s.encode():
                c.mux(pkt)
        lines.append({"id": f"c{i}", "video": f"v/{path.name}", "start": 0, "end": seconds,
                      "question": "What happens next?", "options": {"A": "x", "B": "y", "C": "z", "D": "w"},
                      "answer": "B", "reference_steps": [{"t": 0, "text": "the pattern slides to the right"}],
                      "level": "coarse", "category": "motion", "split": "test"})
    (data / "items.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    tasks = root / "tasks"
    tasks.mkdir()
    (tasks / "clips.yaml").write_text(
        "name: clips-720p\nversion: '1'\nloader: moss_video_jsonl\nloader_args: {file: items.jsonl}\n"
        "data: {path: data}\nprompt: {template: '{{ question }}'}\nframes: {strategy: uniform, num_frames: 16}\n"
        "scoring: {require_format: true, prr: {}}\n")
    return tasks


def timed(opts: RunOptions, model: SleepModel) -> tuple[float, float, int]:
    """(end-to-end seconds, steady-state seconds from the first model call on, batches)."""
    Runner(opts).execute(model=model)
    assert model.first_call is not None
    return 0.0, model.last_return - model.first_call, model.batches


def bench(label: str, base: dict, latency: float, batch: int, out: Path, repeats: int) -> float:
    """Serial and pipelined runs interleaved; steady-state seconds (first model call to last return)."""
    steady: dict[int, list[float]] = {0: [], 2: []}
    batches = 0
    for k in range(repeats):
        for workers in (0, 2):
            model = SleepModel(latency, batch)
            opts = RunOptions(**base, output_dir=out / f"{label}-w{workers}-{k}", workers=workers, progress=False,
                              fsync=False, frame_cache=False)  # decode every time: that is what is measured
            _, s, batches = timed(opts, model)
            steady[workers].append(s)
    limit = batches * latency
    ratio_line(f"pipeline_{label}_vs_model_bound", steady[2], [limit] * repeats,
               f"pipelined runner's steady-state time / the model-bound limit ({batches} batches x {latency}s)",
               "<= 1.11 (>= 90% of the model-bound throughput)")
    ratio_line(f"pipeline_{label}_serial_vs_pipelined", steady[0], steady[2],
               "serial decode-then-generate / pipelined (background decoding), steady state")
    return limit / statistics.median(steady[2])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latency", type=float, default=0.25,
                    help="seconds per model batch on moss-video-mini (small frames)")
    ap.add_argument("--latency-720p", type=float, default=2.4,
                    help="seconds per model batch on 720p clips (≈0.6 s/sample: a 7B video model on one GPU)")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--n", type=int, default=48, help="moss-video-mini samples")
    ap.add_argument("--clips", type=int, default=24, help="720p clips")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.setdefault("MOSSEVAL_CACHE_DIR", str(root / "cache"))  # removed with the rest
        Runner(RunOptions(model="oracle", tasks=["moss-video-mini"], limit=1, output_dir=root / "warm",
                          progress=False, frame_cache=False)).execute()  # generate the data outside the timing
        print(f"fixed model latency per batch of {args.batch}: {args.latency}s (mini), {args.latency_720p}s (720p); "
              "2 decode workers vs serial")
        r1 = bench("mini", {"model": "oracle", "tasks": ["moss-video-mini"], "limit": args.n},
                   args.latency, args.batch, root, args.repeats)
        tasks = make_720p_task(root / "clips", args.clips)
        r2 = bench("720p", {"model": "oracle", "tasks": ["clips-720p"], "tasks_dirs": [tasks],
                            "data_dir": root / "clips"}, args.latency_720p, args.batch, root, args.repeats)
        ok = min(r1, r2) >= 0.90
        print(f"steady-state pipelined throughput / model-bound limit: min {min(r1, r2):.1%} (target ≥ 90%) -> "
              f"{'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    main()
