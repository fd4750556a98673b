"""Readers of run directories against the read floor (``json.loads`` of the same files, same process).

For each configuration (runs × samples per run) the runs are cloned from the fixed regression runs
(real records; ids and texts varied) and, interleaved (A B A B …):

* ``leaderboard`` – ``build_leaderboard`` over all runs (100 embedded samples per run) vs the floor of all runs;
* ``compare``     – loading two runs and ``compare_runs`` (2,000 bootstrap resamples) vs the floor of both;
* ``errors``      – ``mosseval errors`` of one run vs the floor of that run.

Peak memory: each reader runs once more in a fresh process; its peak RSS growth over the process's RSS
after imports is compared with the largest single run's ``samples.jsonl`` size.
Targets (issue 16): ≤ 1.5× the floor; peak memory ≤ 2× the largest run's JSON plus the embedded samples.

    python benchmarks/bench_reads.py [--configs 1x240,1x2400,1x24000,10x2400,50x2400] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, interleave, json_floor, make_run_dirs, pin_threads, ratio_line  # noqa: E402

MEM = """
import json, sys
def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
kind, runs = sys.argv[1], json.loads(sys.argv[2])
from mosseval.leaderboard import build_leaderboard
from mosseval.compare import compare_runs
from mosseval.rundir import load_run
base = rss("VmRSS:")
if kind == "leaderboard":
    build_leaderboard(runs, samples_per_run=100)
elif kind == "compare":
    compare_runs(load_run(runs[0]), load_run(runs[1]))
else:
    from mosseval.rundir import errored_records, read_run_log
    read_run_log(runs[0]); errored_records(runs[0])
print(rss("VmHWM:") - base)
"""


def peak_growth(kind: str, runs: list[Path]) -> int:
    p = subprocess.run([sys.executable, "-c", MEM, kind, json.dumps([str(r) for r in runs])], capture_output=True,
                       text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert p.returncode == 0, p.stderr[-2000:]
    return int(p.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="1x240,1x2400,1x24000,10x2400,50x2400")
    ap.add_argument("--only", default="leaderboard,compare,errors", help="readers to time")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    pin_threads()
    from mosseval.compare import compare_runs
    from mosseval.leaderboard import build_leaderboard
    from mosseval.rundir import errored_records, load_run, read_run_log

    with tempfile.TemporaryDirectory() as tmp:
        for cfg in args.configs.split(","):
            n_runs, n = (int(x) for x in cfg.split("x"))
            root = Path(tmp) / cfg
            runs = make_run_dirs(root, max(n_runs, 2), n)
            board_runs = runs[:n_runs]
            largest = max((r / "samples.jsonl").stat().st_size for r in board_runs)

            def errors() -> int:  # what `mosseval errors` does
                read_run_log(runs[0])
                return len(errored_records(runs[0]))

            only = args.only.split(",")
            fns = {}
            if "leaderboard" in only:
                fns["leaderboard"] = lambda: build_leaderboard([str(r) for r in board_runs], samples_per_run=100)
                fns["floor_board"] = lambda: json_floor(board_runs)
            if "compare" in only:
                fns["compare"] = lambda: compare_runs(load_run(runs[0]), load_run(runs[1]))
                fns["floor_pair"] = lambda: json_floor(runs[:2])
            if "errors" in only:
                fns["errors"] = errors
                fns["floor_one"] = lambda: json_floor(runs[:1])
            times, _ = interleave(fns, args.repeats)
            if "leaderboard" in only:
                ratio_line(f"leaderboard_{cfg}", times["leaderboard"], times["floor_board"],
                           f"build_leaderboard / json.loads floor, {n_runs} run(s) x {n} samples", "<= 1.5x")
            if "compare" in only:
                ratio_line(f"compare_{cfg}", times["compare"], times["floor_pair"],
                           f"compare of 2 runs x {n} samples / json.loads floor", "<= 1.5x")
            if "errors" in only:
                ratio_line(f"errors_{cfg}", times["errors"], times["floor_one"],
                           f"errors of 1 run x {n} samples / json.loads floor", "<= 1.5x")
            for kind, rs in (("leaderboard", board_runs), ("compare", runs[:2]), ("errors", runs[:1])):
                if kind not in only:
                    continue
                grow = peak_growth(kind, rs)
                print(f"MEM {kind}_{cfg}: peak RSS growth {grow / 2**20:.1f} MiB = {grow / largest:.2f}x the "
                      f"largest run's samples.jsonl ({largest / 2**20:.1f} MiB); target <= 2x plus embedded samples",
                      flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
