"""This checkout's code against an earlier commit's, in one process: the other commit's ``mosseval`` package is
imported beside this one under another name (``mosseval_base``), and the same call of each runs interleaved
(A B B A …, each repetition after a ``gc.collect()``), with the read floor of the same files after each pair.

Between processes minutes apart a 240-sample call reads ±20 % with the shared machine; within one process the
two packages meet the same machine, so a change of a few per cent shows. A control (the same commit on both
sides) reads 0.96-1.01x: smaller differences are not resolved.

    python benchmarks/paired.py BASE_REV [--kind score|score_prr|board] [--samples 240] [--repeats 150]

``score``: ``mosseval score`` with every PRR batch handed back (``bench_score``'s ``_without_prr``); ``score_prr``:
with the PRR recomputed; ``board``: ``build_leaderboard`` of one run, 100 embedded samples (the two boards are
asserted equal). Prints one line: ``PAIRED <kind>_<n>: <new/base>x …``.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import io
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, json_floor, make_run_dirs, pin_threads  # noqa: E402
from bench_score import prr_table, rescore_without_prr  # noqa: E402

BASE = "mosseval_base"
RESOURCES = ("tasks", "judges", "reports", "manifests", "configs")


def base_package(rev: str, into: Path) -> None:
    """The ``mosseval`` package of commit ``rev`` as ``mosseval_base`` under ``into`` (its imports renamed; the
    resource folders of this checkout beside it)."""
    tar = subprocess.run(["git", "-C", str(REPO), "archive", rev, "mosseval"], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        tf.extractall(into, filter="data")
    (into / "mosseval").rename(into / BASE)
    for f in (into / BASE).rglob("*.py"):
        text = f.read_text(encoding="utf-8")
        text = re.sub(r"\bmosseval\.", f"{BASE}.", text)
        text = re.sub(r"\bfrom mosseval import\b", f"from {BASE} import", text)
        text = re.sub(r"^import mosseval$", f"import {BASE}", text, flags=re.M)
        f.write_text(text, encoding="utf-8")
    for name in RESOURCES:
        if (REPO / name).is_dir():
            (into / name).symlink_to(REPO / name)


def api(pkg: str) -> dict:
    def m(name: str):
        return importlib.import_module(f"{pkg}.{name}")
    return {"rescore": m("rescore").rescore, "prr_score": m("prr.score"), "extract": m("extract"),
            "rouge": m("prr.rouge"), "board": m("leaderboard").build_leaderboard}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", help="the commit to compare with (any git revision)")
    ap.add_argument("--kind", choices=["score", "score_prr", "board"], default="score")
    ap.add_argument("--samples", type=int, default=240)
    ap.add_argument("--repeats", type=int, default=150)
    args = ap.parse_args()
    pin_threads()
    with tempfile.TemporaryDirectory() as tmp:
        base_package(args.base, Path(tmp) / "pkg")
        sys.path.insert(0, str(Path(tmp) / "pkg"))
        sides = {"base": api(BASE), "new": api("mosseval")}
        run = make_run_dirs(Path(tmp) / "runs", 1, args.samples)[0]
        sides["new"]["rescore"](run)
        pristine = Path(tmp) / "pristine"
        shutil.copytree(run, pristine)
        first = (run / "samples.jsonl").read_bytes()

        def reset() -> None:
            for a in sides.values():
                a["rouge"].clear_caches()
                a["extract"].clear_caches()
            shutil.copyfile(pristine / "samples.jsonl", run / "samples.jsonl")
            shutil.copyfile(pristine / "run.json", run / "run.json")

        tables = {name: prr_table(run, a["rescore"], a["prr_score"]) for name, a in sides.items()} \
            if args.kind == "score" else {}

        def call(name: str) -> object:
            a = sides[name]
            if args.kind == "board":
                return a["board"]([str(run)], samples_per_run=100)
            if args.kind == "score_prr":
                return a["rescore"](run)
            return rescore_without_prr(run, tables[name], a["rescore"], a["prr_score"])

        if args.kind == "board":
            boards = [call(n).model_dump_json(exclude={"generated_at"}) for n in ("base", "new")]
            assert boards[0] == boards[1], "the two commits build different boards"
        times: dict[str, list[float]] = {"base": [], "new": [], "floor": []}
        for i in range(args.repeats):
            for name in (("base", "new") if i % 2 == 0 else ("new", "base")) + ("floor",):
                reset()
                gc.collect()
                t0 = time.perf_counter()
                if name == "floor":
                    json_floor([run])
                else:
                    call(name)
                times[name].append(time.perf_counter() - t0)
            assert (run / "samples.jsonl").read_bytes() == first, "re-scoring changed the scores"
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"PAIRED {args.kind}_{args.samples}: {med['new'] / med['base']:.3f}x (this checkout / {args.base}, one "
              f"process) median {med['new'] * 1e3:.2f}ms/{med['base'] * 1e3:.2f}ms ratio-of-min "
              f"{min(times['new']) / min(times['base']):.3f}x; floor {med['floor'] * 1e3:.2f}ms (new "
              f"{med['new'] / med['floor']:.2f}x, base {med['base'] / med['floor']:.2f}x) over {args.repeats} "
              f"interleaved repetitions", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
