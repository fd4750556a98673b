"""A 1,008,000-record board: ``build_leaderboard`` over 42 runs × 24,000 samples against the ``json.loads``
floor of the same files, interleaved, and its peak memory (``bench_reads.py`` with a large configuration).

Four distinct samples files are generated (cloned from the fixed regression runs); the other 38 runs
hard-link them, each with its own run.json (model, run id), so the board has 42 rows without 2 GB of disk.

    python benchmarks/bench_board_1m.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_reads  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="interleaved repetitions (each ~2 x 1M records)")
    args = ap.parse_args()
    sys.argv = [sys.argv[0], "--configs", "42x24000", "--only", "leaderboard", "--distinct", "4",
                "--repeats", str(args.repeats)]
    return bench_reads.main()


if __name__ == "__main__":
    raise SystemExit(main())
