"""``mosseval run --model oracle`` on moss-video-mini against the decode-only floor, as whole processes.

* ``run``   – ``mosseval run --model oracle --tasks moss-video-mini --no-frame-cache -q`` into a fresh
              output directory (import, plan, decode every sample's frames with 2 workers, score with PRR,
              write the run directory);
* ``floor`` – a fresh Python process that imports the video layer, loads the same samples and decodes the
              same frames with the same 2-thread pool — the work no harness can avoid;
* ``run (warm cache)`` – the same run with the shared frame cache filled (a second model).

Repetitions interleaved (A B C A B C …), min and median reported. Target (issue 16): run ≤ 1.5× floor.

    python benchmarks/bench_oracle.py [--repeats 5] [--limit N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, interleave, pin_threads, ratio_line  # noqa: E402

FLOOR = """
import sys
from concurrent.futures import ThreadPoolExecutor
from mosseval.data.locate import resolve_data_root
from mosseval.tasks import load_registry, resolve_tasks
from mosseval.data import get_loader
from mosseval.video import sample_frames
limit = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] != "0" else None
task = resolve_tasks(["moss-video-mini"], load_registry([]))[0][0]
root = resolve_data_root(task, None)
samples = list(get_loader(task.loader)(task, root))[:limit]
with ThreadPoolExecutor(2) as pool:
    n = sum(f.array.shape[0] for f in pool.map(lambda s: sample_frames(s.video, task.frames, root, cache=None), samples))
print(len(samples), n)
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--limit", type=int, default=0, help="samples (0: the whole test split, 240)")
    args = ap.parse_args()
    pin_threads()
    tmp = Path(tempfile.mkdtemp(prefix="bench-oracle-"))
    env = {**os.environ, "MOSSEVAL_CACHE_DIR": str(tmp / "cache"), "PYTHONPATH": str(REPO),
           "MOSSEVAL_FRAME_CACHE": str(tmp / "frames"), "OMP_NUM_THREADS": "1"}
    py = sys.executable
    limit = ["--limit", str(args.limit)] if args.limit else []
    counter = iter(range(10**6))

    def run(cache: bool) -> None:
        out = tmp / f"runs{next(counter)}"
        cmd = [py, "-m", "mosseval", "run", "--model", "oracle", "--tasks", "moss-video-mini", "-o", str(out), "-q",
               *limit] + ([] if cache else ["--no-frame-cache"])
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr[-2000:]

    def floor() -> None:
        p = subprocess.run([py, "-c", FLOOR, str(args.limit)], env=env, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr[-2000:]

    try:
        run(True)  # generate moss-video-mini and fill the frame cache outside the timing
        times, _ = interleave({"run": lambda: run(False), "floor": floor, "warm": lambda: run(True)}, args.repeats)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # every run, the generated data and the frame cache
    ratio_line("oracle_run_vs_decode_floor", times["run"], times["floor"],
               "mosseval run --model oracle (no frame cache) / decode-only process", "<= 1.5x")
    ratio_line("oracle_run_warm_cache_vs_decode_floor", times["warm"], times["floor"],
               "the same run with a warm frame cache / decode-only process")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
