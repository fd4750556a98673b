"""``mosseval score`` (re-score a saved run: parse, score every sample with PRR, rewrite, aggregate) against
the read floor: ``json.loads`` of every line of the same files, measured in the same process, interleaved.

Runs are cloned from the fixed regression runs (real records, every PRR status; texts and ids varied so
that no cache hit is free). Targets (issue 16): score ≤ 3× the floor at 24,000 samples; excluding the
PRR recomputation (the same command with each PRR batch handed back, by position, from the results of the
same batches computed beforehand, so that what remains is reading, validating, answer checking, rewriting
and aggregating) ≤ 1.5×; that figure is printed for the process CPU time of the same calls too (``_cpu``).
The re-scored file is asserted byte-identical to the original (the run was scored by the same code). Peak memory
(``MEM``): the command once more in a fresh process, its peak RSS growth against the allowance of issue 16 (2× the
run's ``samples.jsonl``); the median of five such processes, each with its heap laid out differently beforehand
(``_common.HEAP_STATES``), and the range of the five. ``MEM score_N_without_prr`` (informational): the same with
every PRR batch handed back from a table made in another process — what reading, checking, rewriting and
aggregating hold, apart from the PRR batch's working set.

    python benchmarks/bench_score.py [--sizes 240,2400,24000] [--repeats N] [--processes P] [--neighbor]

Sizes up to 2,400 samples are measured in ``--processes`` fresh processes (default 3) and each figure is the
median process's (``_common.in_processes``). ``--neighbor``: the same figures (named ``…_neighbor``) measured
beside a process that keeps the memory bus busy on the other core (``_common.memory_neighbor``): how much each
figure moves when the shared machine is busy.
"""

from __future__ import annotations

import argparse
import pickle
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

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

from mosseval import extract  # noqa: E402
from mosseval.prr import rouge  # noqa: E402
from mosseval.prr import score as prr_score  # noqa: E402
from mosseval.rescore import rescore  # noqa: E402


def rescore_without_prr(run: Path, table: list, rescore_fn: Any = rescore, prr_module: Any = prr_score) -> None:
    """``rescore`` with the PRRs of each batch handed back from ``table`` (``prr_table``: the results of the same
    batches in the same order) instead of recomputed. Positional, not keyed by the items: hashing each fresh
    completion and reference text again would charge ``score`` for the benchmark's lookup. The bytes written
    are compared with the original afterwards, so a wrong hand-back cannot go unnoticed. ``rescore_fn`` and
    ``prr_module``: another package's (``paired.py`` times an earlier commit's beside this one)."""
    real = prr_module.score_batch
    batches = iter(table)

    def handed_back(items, config=None, *, require_format=True, **kw):
        out = next(batches)
        n = len(items) if isinstance(items, list) else len(list(items))  # (354f469 handed over an iterator)
        assert len(out) == n, "the batches differ from the recorded ones"
        return out

    prr_module.score_batch = handed_back
    try:
        rescore_fn(run)
    finally:
        prr_module.score_batch = real


def prr_table(run: Path, rescore_fn: Any = rescore, prr_module: Any = prr_score) -> list:
    """The PRR results of every batch ``rescore`` scores in ``run``, in order."""
    table: list = []
    real = prr_module.score_batch

    def record(items, config=None, *, require_format=True, **kw):
        out = real(items, config, require_format=require_format, **kw)
        table.append(out)
        return out

    prr_module.score_batch = record
    try:
        rescore_fn(run)
    finally:
        prr_module.score_batch = real
    return table


MEM = """
from pathlib import Path
import numpy  # noqa: E401,F401  (imported by any run's aggregation: not the data's memory)
from mosseval.rescore import rescore
rescore(Path(sys.argv[2]))  # imports done (the PRR's included): what remains is the data's memory
base = reset_peak()
rescore(Path(sys.argv[1]))
print(rss("VmHWM:") - base)
"""


MEM_WITHOUT_PRR = """
import pickle
from pathlib import Path
import numpy  # noqa: E401,F401
sys.path.insert(0, sys.argv[4])
from bench_score import rescore_without_prr
from mosseval.rescore import rescore
table = pickle.loads(Path(sys.argv[3]).read_bytes())  # the PRR results, made in another process
rescore(Path(sys.argv[2]))
base = reset_peak()
rescore_without_prr(Path(sys.argv[1]), table)
print(rss("VmHWM:") - base)
"""
"""``MEM`` of the command with every PRR batch handed back (``_without_prr``): what reading, checking, rewriting
and aggregating hold, without the PRR batch's working set or its results (loaded from a file before the warm-up:
computed in the same process, the batch would leave freed heap behind that the measured call reuses)."""


def peak_growth(run: Path, warm: Path, table: Path | None = None) -> tuple[int, int, int]:
    """Peak RSS growth of ``rescore(run)`` (``mosseval score``, PRR recomputed) in a fresh process, after numpy's
    import and a warm-up call on an 8-sample run: the median over the heap states of ``median_in_heap_states``,
    and the smallest and largest. ``table``: a pickle of ``prr_table(run)``, for the figure with each PRR batch
    handed back from it (``MEM_WITHOUT_PRR``)."""
    if table is None:
        words, low, high = median_in_heap_states(MEM, str(run), str(warm))
    else:
        words, low, high = median_in_heap_states(MEM_WITHOUT_PRR, str(run), str(warm), str(table),
                                                 str(Path(__file__).resolve().parent))
    return int(words[0]), low, high


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="240,2400,24000")
    ap.add_argument("--repeats", type=int, default=None,
                    help="interleaved repetitions (default: 41 up to 2,400 samples, whose floor is a few ms, else 9)")
    ap.add_argument("--processes", type=int, default=PROCESSES,
                    help=f"processes a size of at most {SHORT_CALL_RECORDS:,} samples is measured in (default {PROCESSES})")
    ap.add_argument("--neighbor", action="store_true",
                    help="measure beside a memory-bandwidth neighbour on the other core (figures named ..._neighbor)")
    args = ap.parse_args()
    pin_threads()
    tag, beside = neighbor_suffix(args.neighbor)
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.sizes.split(",")):
            if args.processes > 1 and n <= SHORT_CALL_RECORDS:
                in_processes(["--sizes", str(n), *(["--repeats", str(args.repeats)] if args.repeats else []),
                              *(["--neighbor"] if args.neighbor else [])], args.processes)
                continue
            root = Path(tmp) / f"n{n}"
            run = make_run_dirs(root, 1, n)[0]
            rescore(run)  # the run as `mosseval run` would have left it
            repeats = repeats_for(n, args.repeats, 9)
            pristine = root / "pristine"
            shutil.copytree(run, pristine)
            first = (run / "samples.jsonl").read_bytes()

            def reset() -> None:
                rouge.clear_caches()  # cold: every step string tokenized again
                extract.clear_caches()  # and every answer decided again, as a fresh `mosseval score` does
                shutil.copyfile(pristine / "samples.jsonl", run / "samples.jsonl")
                shutil.copyfile(pristine / "run.json", run / "run.json")

            with memory_neighbor(args.neighbor):
                times, _ = interleave({"score": lambda: rescore(run), "floor": lambda: json_floor([run])},
                                      repeats, setup=reset)
            assert (run / "samples.jsonl").read_bytes() == first, "re-scoring changed the scores"
            ratio_line(f"score_{n}{tag}", times["score"], times["floor"],
                       f"mosseval score / json.loads floor, 1 run x {n} samples, PRR recomputed, cold caches{beside}",
                       "" if tag else "<= 3x at 24,000")
            table = prr_table(run)
            cpu: dict[str, list[float]] = {}
            with memory_neighbor(args.neighbor):
                times, _ = interleave({"score": lambda: rescore_without_prr(run, table),
                                       "floor": lambda: json_floor([run])}, repeats, setup=reset, cpu=cpu)
            assert (run / "samples.jsonl").read_bytes() == first, "re-scoring changed the scores"
            ratio_line(f"score_{n}_without_prr{tag}", times["score"], times["floor"],
                       f"mosseval score with PRRs looked up, not recomputed / json.loads floor, 1 run x {n} samples"
                       f"{beside}", "" if tag else "<= 1.5x")
            ratio_line(f"score_{n}_without_prr_cpu{tag}", cpu["score"], cpu["floor"],
                       f"process CPU seconds of the same calls, 1 run x {n} samples (the wall figure above "
                       f"includes waiting for a core on the shared machine){beside}")
            if not args.neighbor:
                warm = make_run_dirs(root / "warm", 1, 8)[0]
                rescore(warm)
                size = (run / "samples.jsonl").stat().st_size
                grow, low, high = peak_growth(run, warm)
                assert (run / "samples.jsonl").read_bytes() == first, "re-scoring changed the scores"
                print(f"MEM score_{n}: peak RSS growth {grow / 2**20:.1f} MiB = {grow / (2 * size):.2f}x the allowance "
                      f"(2 x the run's samples.jsonl {size / 2**20:.1f} MiB; median of {len(HEAP_STATES)} heap states, "
                      f"{low / (2 * size):.2f}-{high / (2 * size):.2f}x); target <= 1x (after numpy's import and a "
                      f"warm-up call on an 8-sample run)", flush=True)
                pickled = root / "prr_table.pickle"
                pickled.write_bytes(pickle.dumps(table))
                grow, low, high = peak_growth(run, warm, pickled)
                assert (run / "samples.jsonl").read_bytes() == first, "re-scoring changed the scores"
                print(f"MEM score_{n}_without_prr: peak RSS growth {grow / 2**20:.1f} MiB = {grow / (2 * size):.2f}x the "
                      f"allowance (the same command with each PRR batch handed back from a table made beforehand: "
                      f"reading, checking, rewriting and aggregating, without the PRR batch's working set; median "
                      f"of {len(HEAP_STATES)} heap states, {low / (2 * size):.2f}-{high / (2 * size):.2f}x); "
                      f"informational", flush=True)
            shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
