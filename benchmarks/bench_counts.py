"""What a 240-sample call executes, counted (not timed): instructions, cache misses and mispredicted branches of
``mosseval score`` (PRRs handed back, as ``bench_score``'s ``_without_prr``) and of ``build_leaderboard`` over one
run, against the ``json.loads`` read floor of the same files.

A timed ratio of calls that take a few milliseconds moves with the shared machine (``score_240_without_prr`` read
1.37-1.72x on the same code within a day); counts do not. Each figure is counted by valgrind's cachegrind (its
simulated first-level caches, a 512 KiB last-level one and its branch predictor) in fresh processes: one that makes the call once and one
that makes it 21 times, the difference divided by 20 (imports, the warm-up and the set-up cancel out). Hash
randomisation is off and numeric libraries run one thread, so a rerun gives the same instruction counts to
within ~0.1 % (cache misses to a few per cent).

Counts are not time: an instruction that misses the cache costs many that hit. They show where a timed ratio comes
from (below: how many instructions each call executes, and how often it waits on memory or a mispredicted branch)
and they move only with the code, so a change of a per cent shows.

    python benchmarks/bench_counts.py [--calls 20]

Skipped (exit 0, one line) where valgrind is not installed.
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

from _common import REPO, make_run_dirs  # noqa: E402

CALL = """
import shutil, sys
from pathlib import Path
sys.path.insert(0, sys.argv[4])
from _common import json_floor
from bench_score import prr_table, rescore_without_prr
from mosseval import extract
from mosseval.prr import rouge
what, calls, root = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
run, pristine = root / "run", root / "pristine"
table = prr_table(run) if what == "score" else None
if what == "board":
    from mosseval.leaderboard import build_leaderboard
for _ in range(calls):
    rouge.clear_caches(); extract.clear_caches()  # as bench_score: a fresh command's caches
    shutil.copyfile(pristine / "samples.jsonl", run / "samples.jsonl")
    shutil.copyfile(pristine / "run.json", run / "run.json")
    if what == "score":
        rescore_without_prr(run, table)
    elif what == "board":
        build_leaderboard([str(run)], samples_per_run=100)
    else:
        json_floor([run])
"""

EVENTS = ("Ir", "I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw", "Bcm", "Bim")
"""cachegrind's events read: instructions; first-level instruction-cache, data-read and data-write misses; the same
in the simulated last-level cache; mispredicted conditional and indirect branches."""

LAST_LEVEL = 512 * 1024
"""The simulated last-level cache, in bytes (8-way, 64-byte lines): one core's own second-level cache on this
machine (512 KiB), beyond which a call waits on the third-level cache its other tenants share."""


def counts(what: str, calls: int, root: Path, out: Path, last_level: int = LAST_LEVEL) -> dict[str, int]:
    """The events of one fresh process that makes the call ``calls`` times."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=yes", "--branch-sim=yes", f"--LL={last_level},8,64",
                    f"--cachegrind-out-file={out}", sys.executable, "-c", CALL, what, str(calls), str(root),
                    str(Path(__file__).resolve().parent)], check=True, capture_output=True, env=env)
    head = dict(line.split(": ", 1) for line in out.read_text().splitlines() if line.startswith(("events:", "summary:")))
    return dict(zip(head["events"].split(), map(int, head["summary"].split())))


def per_call(what: str, calls: int, root: Path) -> dict[str, float]:
    one = counts(what, 1, root, root / f"{what}1.out")
    many = counts(what, calls + 1, root, root / f"{what}{calls + 1}.out")
    return {e: (many[e] - one[e]) / calls for e in EVENTS}


def _ll(c: dict[str, float]) -> float:
    """Misses of the simulated last-level cache (instructions, data reads and writes)."""
    return c["ILmr"] + c["DLmr"] + c["DLmw"]


def _m(x: float) -> str:
    return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.0f}K"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20, help="calls counted (the difference of calls+1 and 1)")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        print("bench_counts: valgrind is not installed; nothing counted")
        return 0
    from mosseval.rescore import rescore

    with tempfile.TemporaryDirectory() as tmp:
        made = make_run_dirs(Path(tmp) / "made", 1, 240)[0]
        rescore(made)  # the run as `mosseval run` would have left it
        got: dict[str, dict[str, float]] = {}
        for what in ("floor", "score", "board"):
            root = Path(tmp) / what  # a copy each (the calls rewrite their files)
            shutil.copytree(made, root / "run")
            shutil.copytree(made, root / "pristine")
            got[what] = per_call(what, args.calls, root)
    floor = got["floor"]
    print(f"floor: json.loads of a 240-sample run per call: {_m(floor['Ir'])} instructions, "
          f"{_m(floor['I1mr'])} instruction-cache misses, {_m(floor['D1mr'] + floor['D1mw'])} data-cache misses, "
          f"{_m(floor['Bcm'] + floor['Bim'])} mispredicted branches, {_m(_ll(floor))} misses of a "
          f"{LAST_LEVEL // 1024} KiB last-level cache")
    for what, name, label in (("score", "score_240_without_prr", "mosseval score with PRRs looked up"),
                              ("board", "leaderboard_1x240", "build_leaderboard, 100 embedded samples")):
        c = got[what]
        misses = (c["D1mr"] + c["D1mw"]) / (floor["D1mr"] + floor["D1mw"])
        wrong = (c["Bcm"] + c["Bim"]) / (floor["Bcm"] + floor["Bim"])
        last = _ll(c) / _ll(floor)
        print(f"COUNT {name}: {c['Ir'] / floor['Ir']:.2f}x the floor's instructions ({_m(c['Ir'])}; {label}, "
              f"1 run x 240 samples, per call: cachegrind, {args.calls + 1} calls less 1); instruction-cache misses "
              f"{c['I1mr'] / floor['I1mr']:.2f}x ({_m(c['I1mr'])}), data-cache misses {misses:.2f}x "
              f"({_m(c['D1mr'] + c['D1mw'])}), mispredicted branches {wrong:.2f}x ({_m(c['Bcm'] + c['Bim'])}), "
              f"misses of a {LAST_LEVEL // 1024} KiB last-level cache {last:.1f}x ({_m(_ll(c))})",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
