"""Regenerate the benchmark table of ``docs/reference/performance.md`` from the scripts' RATIO/MEM/COUNT lines.

    python benchmarks/make_table.py --run            # run every script, save its output, rewrite the table
    python benchmarks/make_table.py --run bench_prr  # run some scripts only
    python benchmarks/make_table.py                  # rewrite the table from the saved outputs

Outputs are saved as ``benchmarks/results/<script>.txt`` (the evidence behind every figure); the table sits
between the ``bench-table`` markers of the page and is never edited by hand.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PAGE = HERE.parent / "docs" / "reference" / "performance.md"
START, END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"
SCRIPTS = ["bench_prr", "bench_score", "bench_reads", "bench_counts", "bench_board_1m", "bench_cache", "bench_oracle",
           "bench_decode", "bench_pipeline", "bench_tiny", "bench_synth", "bench_train"]
LINE = re.compile(r"^(RATIO|MEM|COUNT) (\S+): (.*)$")


def run(names: list[str]) -> None:
    RESULTS.mkdir(exist_ok=True)
    for name in names:
        print(f"running {name} ...", flush=True)
        t0 = time.time()
        load0 = os.getloadavg()[0]
        p = subprocess.run([sys.executable, str(HERE / f"{name}.py")], capture_output=True, text=True)
        text = p.stdout + (f"\n[stderr]\n{p.stderr[-4000:]}" if p.returncode else "")
        (RESULTS / f"{name}.txt").write_text(
            f"# {name}.py, exit {p.returncode}, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, "
            f"{time.time() - t0:.0f} s, load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end\n"
            f"{text}")
        print(f"  exit {p.returncode}", flush=True)


def table() -> str:
    rows = ["| script | figure | result |", "| --- | --- | --- |"]
    for name in SCRIPTS:
        f = RESULTS / f"{name}.txt"
        if not f.exists():
            rows.append(f"| `{name}.py` | — | not run yet |")
            continue
        hits = [m for m in (LINE.match(line) for line in f.read_text().splitlines()) if m]
        if not hits:
            rows.append(f"| `{name}.py` | — | no figure (see `benchmarks/results/{name}.txt`) |")
        for m in hits:
            rows.append(f"| `{name}.py` | `{m.group(2)}` | {m.group(3).replace('|', '/')} |")
    return "\n".join(rows)


def write_page() -> None:
    text = PAGE.read_text(encoding="utf-8")
    if START not in text:
        raise SystemExit(f"{PAGE} has no {START} marker")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    PAGE.write_text(f"{head}{START}\n{table()}\n{END}{tail}", encoding="utf-8")
    print(f"wrote the table of {PAGE}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", nargs="*", metavar="SCRIPT", help="run these scripts first (none named: all)")
    args = ap.parse_args()
    if args.run is not None:
        run(args.run or SCRIPTS)
    write_page()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
