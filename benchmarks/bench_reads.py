"""Readers of run directories against the read floor (``json.loads`` of the same files, same process).

For each configuration (runs × samples per run) the runs are cloned from the fixed regression runs
(real records; ids and texts varied) and, interleaved (A B A B …):

* ``leaderboard`` – ``build_leaderboard`` over all runs (100 embedded samples per run) vs the floor of all runs;
* ``compare``     – loading two runs and ``compare_runs`` (2,000 bootstrap resamples) vs the floor of both;
* ``errors``      – ``mosseval errors`` of one run vs the floor of that run.

Peak memory: each reader runs once more in a fresh process, after numpy's import (which an 8-sample run does
not need and a board's tie tests on thousands of samples do: ~11-12 MiB once per process, printed on each
line) and a warm-up call on 8-sample runs (imports, the shipped manifest); its peak RSS growth (the median of
five such processes, each with its heap laid out differently beforehand: ``_common.HEAP_STATES``) is compared
with the allowance: 2× the largest single run's
``samples.jsonl`` plus the JSON size of the samples the board embeds. ``leaderboard_command`` is the whole
``mosseval leaderboard`` command's work (the board, then ``leaderboard.json`` and the page written).
Targets (issue 16): ≤ 1.5× the floor; peak memory ≤ the allowance. A configuration of at most 2,400 records a
call is measured in ``--processes`` fresh processes (default 3): each figure is the median process's, with every
process's ratio on its line, and the largest memory growth (``_common.in_processes``). ``--neighbor``: the times
(named ``…_neighbor``) measured beside a process that keeps the memory bus busy on the other core
(``_common.memory_neighbor``).

    python benchmarks/bench_reads.py [--configs 1x240,1x2400,1x24000,10x2400,50x2400] [--repeats N] [--processes P] [--neighbor]
    python benchmarks/bench_reads.py --configs 42x24000 --only leaderboard --distinct 4 --repeats 3   # 1,008,000 records
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    HEAP_STATES,
    PROCESSES,
    SHORT_CALL_RECORDS,
    in_processes,
    interleave,
    json_floor,
    make_run_dirs,
    median_in_heap_states,
    memory_neighbor,
    neighbor_suffix,
    pin_threads,
    ratio_line,
    repeats_for,
)

MEM = """
import json
kind, runs, warm = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
from mosseval.leaderboard import build_leaderboard
from mosseval.compare import compare_paths
from mosseval.rundir import errored_records, read_run_log
def reader(rs):
    if kind == "leaderboard":
        return build_leaderboard(rs, samples_per_run=100)
    if kind == "leaderboard_command":  # what `mosseval leaderboard` does: the board, its JSON and its page
        import tempfile
        from pathlib import Path
        from mosseval.leaderboard import render_html, write_leaderboard_json
        board = build_leaderboard(rs, samples_per_run=100)
        with tempfile.TemporaryDirectory() as out:
            write_leaderboard_json(board, Path(out) / "leaderboard.json")
            render_html(board, Path(out) / "leaderboard.html", 100)
        return board
    if kind == "compare":
        compare_paths(rs[0], rs[1])
    else:
        read_run_log(rs[0]); errored_records(rs[0])
    return None
# numpy first: the 8-sample warm-up never needs it, a board of 2,400-sample runs does (an exact McNemar test over
# more than 1,000 discordant pairs), and its import (~12 MiB of RSS, once per process) is not the data's memory
before = rss("VmRSS:")
import numpy  # noqa: E402,F401
numpy_rss = rss("VmRSS:") - before
reader(warm)  # imports done and the shipped manifest parsed: what remains is the data's memory
base = reset_peak()
board = reader(runs)
peak = rss("VmHWM:") - base
# the embedded samples' JSON size, measured after the peak was read (the measurement is not the reader's)
print(peak, 0 if board is None else len(board.samples.model_dump_json()), numpy_rss)
"""


def peak_growth(kind: str, runs: list[Path], warm: list[Path]) -> tuple[int, int, int, int, int]:
    """Peak RSS growth of one reader call in a fresh process (the median over the heap states of
    ``median_in_heap_states``), the JSON size of the samples it embeds, the RSS that importing numpy added before
    the call (0 when the warm-up had imported it), and the smallest and largest growth over the heap states."""
    (grow, embedded, numpy_rss), low, high = median_in_heap_states(MEM, kind, json.dumps([str(r) for r in runs]),
                                                                   json.dumps([str(r) for r in warm]))
    return int(grow), int(embedded), int(numpy_rss), low, high


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="1x240,1x2400,1x24000,10x2400,50x2400")
    ap.add_argument("--only", default="leaderboard,compare,errors", help="readers to time")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved repetitions (default: 41 up to 2,400 records a call, else 5)")
    ap.add_argument("--distinct", type=int, default=None,
                    help="generate only this many samples files; the other runs hard-link them (large boards)")
    ap.add_argument("--processes", type=int, default=PROCESSES,
                    help=f"processes a configuration of at most {SHORT_CALL_RECORDS:,} records a call is measured in "
                         f"(default {PROCESSES})")
    ap.add_argument("--neighbor", action="store_true",
                    help="time beside a memory-bandwidth neighbour on the other core (figures named ..._neighbor; "
                         "no memory figures)")
    args = ap.parse_args()
    pin_threads()
    tag, beside = neighbor_suffix(args.neighbor)
    from mosseval.compare import compare_paths
    from mosseval.leaderboard import build_leaderboard
    from mosseval.rundir import errored_records, read_run_log

    with tempfile.TemporaryDirectory() as tmp:
        warm = make_run_dirs(Path(tmp) / "warm", 2, 8)
        for cfg in args.configs.split(","):
            n_runs, n = (int(x) for x in cfg.split("x"))
            if args.processes > 1 and n_runs * n <= SHORT_CALL_RECORDS:
                in_processes(["--configs", cfg, "--only", args.only,
                              *(["--repeats", str(args.repeats)] if args.repeats else []),
                              *(["--distinct", str(args.distinct)] if args.distinct else []),
                              *(["--neighbor"] if args.neighbor else [])], args.processes)
                continue
            root = Path(tmp) / cfg
            runs = make_run_dirs(root, max(n_runs, 2), n, distinct=args.distinct)
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
                fns["compare"] = lambda: compare_paths(runs[0], runs[1])  # what `mosseval compare` runs
                fns["floor_pair"] = lambda: json_floor(runs[:2])
            if "errors" in only:
                fns["errors"] = errors
                fns["floor_one"] = lambda: json_floor(runs[:1])
            with memory_neighbor(args.neighbor):
                times, _ = interleave(fns, repeats_for(n_runs * n, args.repeats, 5))
            target = "" if tag else "<= 1.5x"
            if "leaderboard" in only:
                ratio_line(f"leaderboard_{cfg}{tag}", times["leaderboard"], times["floor_board"],
                           f"build_leaderboard / json.loads floor, {n_runs} run(s) x {n} samples{beside}", target)
            if "compare" in only:
                ratio_line(f"compare_{cfg}{tag}", times["compare"], times["floor_pair"],
                           f"compare of 2 runs x {n} samples / json.loads floor{beside}", target)
            if "errors" in only:
                ratio_line(f"errors_{cfg}{tag}", times["errors"], times["floor_one"],
                           f"errors of 1 run x {n} samples / json.loads floor{beside}", target)
            for kind, rs in (("leaderboard", board_runs), ("leaderboard_command", board_runs), ("compare", runs[:2]),
                             ("errors", runs[:1])):
                if kind.split("_")[0] not in only or args.neighbor:  # (memory: not the neighbour's business)
                    continue
                grow, embedded, numpy_rss, low, high = peak_growth(kind, rs, warm)
                allowed = 2 * largest + embedded
                print(f"MEM {kind}_{cfg}: peak RSS growth {grow / 2**20:.1f} MiB = {grow / allowed:.2f}x the allowance "
                      f"(2 x the largest run's samples.jsonl {largest / 2**20:.1f} MiB + embedded samples "
                      f"{embedded / 2**20:.1f} MiB; median of {len(HEAP_STATES)} heap states, {low / allowed:.2f}-"
                      f"{high / allowed:.2f}x); target <= 1x (after numpy's import, {numpy_rss / 2**20:.1f} MiB once "
                      f"per process, and a warm-up call on 8-sample runs)", flush=True)
            shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
