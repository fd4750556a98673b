"""Shared helpers of the benchmark scripts: interleaved timing, ratio lines, synthetic run directories.

Every script times its candidate and its baseline in the same process, interleaved (A B A B …), reports
the minimum and the median of each, and prints one machine-readable line per figure::

    RATIO <name>: <value>x (<what>) min <a>/<b> median <c>/<d> over <n> interleaved repetitions

``benchmarks/make_table.py`` collects these lines into the table of ``docs/reference/performance.md``.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

FIXED_RUNS = REPO / "tests" / "fixtures" / "fixed_runs" / "rundirs"


def pin_threads() -> None:
    """One thread for every numeric library: the machine is shared, timings must not depend on it."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def interleave(fns: dict[str, Callable[[], object]], repeats: int, setup: Callable[[], None] | None = None,
               cpu: dict[str, list[float]] | None = None) -> tuple[dict[str, list[float]], dict[str, object]]:
    """Run each function ``repeats`` times, interleaved (A B A B …); seconds per call and last results.
    ``cpu``: filled with each call's process CPU seconds too (single-threaded work on a loaded machine: the
    wall time includes waiting for a core, the CPU time does not)."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    results: dict[str, object] = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            if setup is not None:
                setup()
            gc.collect()
            c0 = time.process_time()
            t0 = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - t0)
            if cpu is not None:
                cpu.setdefault(name, []).append(time.process_time() - c0)
    return times, results


NEIGHBOR_MIB = 64
"""Size of each of the two arrays the memory neighbour (:func:`memory_neighbor`) copies between, far beyond any cache."""

_NEIGHBOR = f"""
import os, sys
os.sched_setaffinity(0, {{int(sys.argv[1])}})
import numpy as np
a = np.ones({NEIGHBOR_MIB} * 2**20 // 8)
b = np.empty_like(a)
np.copyto(b, a)
print("ready", flush=True)
while True:
    np.copyto(b, a)
    np.copyto(a, b)
"""


@contextmanager
def memory_neighbor(active: bool = True) -> Iterator[None]:
    """While the block runs, another process copies a 64 MiB array back and forth without pause: a neighbour on
    the machine's last core (this process keeps the others meanwhile) that competes for memory bandwidth and the
    shared cache, as other tenants of a shared machine do (``--neighbor`` of ``bench_score`` and ``bench_reads``:
    how much a figure moves with the machine, measured instead of waited for). Nothing when not ``active``."""
    if not active:
        yield
        return
    import subprocess

    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("--neighbor needs two cores: one for the measurement, one for the neighbour")
    # each on cores of its own: the neighbour shares the memory bus and the last-level cache, never a core
    proc = subprocess.Popen([sys.executable, "-c", _NEIGHBOR, str(cpus[-1])], stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    os.sched_setaffinity(0, cpus[:-1])
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", "the neighbour did not start"
        yield
    finally:
        proc.kill()
        proc.wait()
        os.sched_setaffinity(0, cpus)


def neighbor_suffix(active: bool) -> tuple[str, str]:
    """What a figure measured beside the memory neighbour adds to its name and to its description."""
    return ("_neighbor", ", beside a memory-bandwidth neighbour on the other core") if active else ("", "")


_RSS = """
import sys
def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
def reset_peak():
    # VmHWM is the peak of the process's life: without this, a higher peak before the measured call (compiling
    # modules from source at import) would stand in for the call's own
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    return rss("VmRSS:")
"""


def last_line_in_fresh_process(code: str, *args: str) -> list[str]:
    """Run ``code`` in a fresh Python with this checkout importable, ``sys`` imported and ``rss(field)`` defined
    (bytes of a ``/proc/self/status`` field: ``VmRSS:``, ``VmHWM:``, the peak) and ``reset_peak()`` (the peak set to
    the current RSS, which it returns: call it right before what is measured) defined, with ``args`` as its
    ``sys.argv[1:]``; the words of the last line it prints (the memory figures' measurements).

    mosseval's modules are loaded compiled, as an installed package's are (:func:`compile_checkout`): compiling
    them from source at import (``PYTHONDONTWRITEBYTECODE``, or a changed file) leaves freed memory in the heap that
    the measured call then fills without growing the RSS (``score`` of 240 samples: 0.8 MiB of growth instead of
    1.3 MiB)."""
    import subprocess

    compile_checkout()
    p = subprocess.run([sys.executable, "-c", _RSS + code, *args], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout.strip().splitlines()[-1].split()


HEAP_STATES = (
    "",
    "_shape = [str(i) for i in range(1000)]",
    "_shape = bytes(65536)",
    "_shape = [{'a': i} for i in range(300)]",
    "_shape = [bytes(600) for _ in range(200)]",
)
"""What each fresh process of :func:`median_in_heap_states` allocates and keeps before anything else: a different
layout of the allocator's heap each. A small call's RSS growth moves with that layout by a whole step: ``score`` of
240 samples grew the RSS by 1.05 or by 1.40 MiB (1.17x or 1.57x its allowance) with identical code, depending only
on which statements the measuring script ran before it (the glibc heap and Python's arenas grow in steps, and a
call that fits in a hole grows neither)."""


def median_in_heap_states(code: str, *args: str) -> tuple[list[str], int, int]:
    """:func:`last_line_in_fresh_process` once for each of :data:`HEAP_STATES`: the words of the line whose first
    word (a memory figure in bytes) is the median, and the smallest and the largest first word."""
    got = sorted((last_line_in_fresh_process(state + "\n" + code, *args) for state in HEAP_STATES),
                 key=lambda words: int(words[0]))
    return got[len(got) // 2], int(got[0][0]), int(got[-1][0])


@functools.cache
def compile_checkout() -> None:
    """Compile mosseval's modules to bytecode in the checkout's ``__pycache__`` folders (what running it without
    ``PYTHONDONTWRITEBYTECODE`` does; ``compileall`` writes them either way, and only where one is missing or
    stale), once a process."""
    import subprocess

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "mosseval")], check=True,
                   stdout=subprocess.DEVNULL)


SHORT_CALL_RECORDS = 2_400
"""A call over at most this many records takes milliseconds: :func:`repeats_for` gives it more repetitions."""


def repeats_for(records: int, given: int | None, default: int) -> int:
    """Interleaved repetitions for a call over ``records`` records: ``given`` if set, else ``default``, raised to 41
    for a short call. A floor of a few milliseconds moves with the shared machine: five runs of 9 repetitions of
    ``score_240_without_prr`` at load 0.2 read 1.37-1.84x, three runs of 41 read 1.35-1.45x (same code, minutes
    apart)."""
    if given is not None:
        return given
    return max(default, 41) if records <= SHORT_CALL_RECORDS else default


PROCESSES = 3
"""Processes a short call's figures are measured in (:func:`in_processes`)."""

_RATIO = re.compile(r"^RATIO (\S+): ([0-9.]+)x (.*)$")
_MEM = re.compile(r"^MEM (\S+): peak RSS growth ([0-9.]+) MiB = ([0-9.]+)x (.*)$")


def in_processes(argv: list[str], processes: int) -> None:
    """Run this script again with ``argv`` in ``processes`` fresh processes, one after the other, and print each
    figure once: the RATIO line of the process whose ratio is the median, with every process's ratio appended;
    the MEM line with the largest growth. A call of a few milliseconds reads differently from one process to the
    next (where the interpreter's objects land in memory, what else the shared machine runs): over 41 repetitions
    in each of eight processes, the same code's ``score_240_without_prr`` read 1.46-1.98x, so one process's
    figure is a draw from that spread."""
    import subprocess

    ratios: dict[str, list[tuple[float, str]]] = {}
    mems: dict[str, list[tuple[float, str]]] = {}
    order: list[str] = []
    for _ in range(processes):
        out = subprocess.run([sys.executable, sys.argv[0], *argv, "--processes", "1"], capture_output=True,
                             text=True, check=True).stdout
        for line in out.splitlines():
            m, mm = _RATIO.match(line), _MEM.match(line)
            if m:
                ratios.setdefault(m.group(1), []).append((float(m.group(2)), line))
            elif mm:
                mems.setdefault(mm.group(1), []).append((float(mm.group(2)), line))
            else:
                continue
            key = (m or mm).group(1)  # type: ignore[union-attr]
            if key not in order:
                order.append(key)
    for key in order:
        if key in ratios:
            got = sorted(ratios[key], key=lambda x: x[0])
            median = got[(len(got) - 1) // 2][1]
            each = ", ".join(f"{r:.2f}x" for r, _ in ratios[key])
            head, _, target = median.partition("; target ")
            print(f"{head} in each of {len(got)} processes, the median process shown (per process: {each})"
                  + (f"; target {target}" if target else ""), flush=True)
        if key in mems:
            print(max(mems[key], key=lambda x: x[0])[1] + f" (the largest of {len(mems[key])} processes)", flush=True)


def ratio_line(name: str, cand: list[float], base: list[float], what: str, target: str = "") -> str:
    """``cand / base`` on medians (the figure quoted) with both minima and medians."""
    r_med = statistics.median(cand) / statistics.median(base)
    r_min = min(cand) / min(base)
    line = (f"RATIO {name}: {r_med:.2f}x ({what}) min {_fmt(min(cand))}/{_fmt(min(base))} "
            f"median {_fmt(statistics.median(cand))}/{_fmt(statistics.median(base))} ratio-of-min {r_min:.2f}x "
            f"over {len(cand)} interleaved repetitions" + (f"; target {target}" if target else ""))
    print(line, flush=True)
    return line


def _fmt(sec: float) -> str:
    return f"{sec * 1e3:.1f}ms" if sec < 10 else f"{sec:.2f}s"


# --------------------------------------------------------------------------- synthetic runs

_SWAPS = [("yellow", "orange"), ("circles", "squares"), ("left", "right"), ("red", "purple"), ("moves", "slides"),
          ("blue", "green"), ("there are", "I count"), ("At", "Around")]


def _vary(text: str, rng: random.Random) -> str:
    for a, b in _SWAPS:
        if rng.random() < 0.3:
            text = text.replace(a, b)
    return re.sub(r"\b(\d+)\b", lambda m: str(int(m.group(1)) + rng.randint(0, 3)), text)


def make_run_dirs(root: Path, n_runs: int, n_samples: int, seed: int = 0, distinct: int | None = None) -> list[Path]:
    """``n_runs`` run directories of ``n_samples`` moss-video-mini-like records each, cloned from the fixed
    regression runs (real records: PRR details, frame info, every PRR status) with varied ids and texts,
    so that nothing is a cache hit that would not be one in a real run. ``distinct``: only that many
    samples files are generated, the other runs hard-link one of them (a 1,000,000-record board without
    2 GB of disk); every run keeps its own run.json (model name, run id)."""
    rng = random.Random(seed)
    sources = [d for d in sorted(FIXED_RUNS.iterdir()) if (d / "samples.jsonl").is_file()]
    templates = [[json.loads(line) for line in (d / "samples.jsonl").read_text().splitlines()] for d in sources]
    logs = [json.loads((d / "run.json").read_text()) for d in sources]
    fresh: dict[int, dict] = {}
    out = []
    distinct = distinct or n_runs
    for r in range(n_runs):
        k = (r % distinct) % len(sources)
        path = Path(root) / f"run{r:03d}"
        path.mkdir(parents=True)
        log = json.loads(json.dumps(logs[k]))
        log["spec"]["model"] = log["identity"]["model"]["name"] = f"{logs[k]['spec']['model']}-{r:03d}"
        log["run_id"] = f"{r:064x}"
        log["n_expected"] = log["n_done"] = n_samples
        # the fixed runs were made with --limit 40: without this only their first 40 samples per task would
        # be the run's own (rundir.expected_records) and every reader would aggregate, bootstrap and embed 40
        log["spec"]["limit"] = None
        if r >= distinct:
            os.link(out[r % distinct] / "samples.jsonl", path / "samples.jsonl")
        else:
            with (path / "samples.jsonl").open("w", encoding="utf-8") as fh:
                for i in range(n_samples):
                    rec = json.loads(json.dumps(templates[k][i % len(templates[k])]))
                    sid = f"s{i:07d}"
                    rec["key"] = f"{rec['task']}/{sid}"
                    rec["index"] = i
                    rec["sample"]["id"] = sid
                    rec["sample"]["video"]["path"] = f"videos/test/v{i // 2:07d}.mp4"
                    vary = random.Random(rng.random())
                    if rec["generation"]["text"]:
                        rec["generation"]["text"] = _vary(rec["generation"]["text"], vary)
                    for st in rec["sample"]["reference_steps"]:
                        st["text"] = _vary(st["text"], random.Random(i))
                    fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
        (path / "run.json").write_text(json.dumps(log, indent=2), encoding="utf-8")
        # run.json's numbers recomputed from its samples, as `mosseval run` leaves them (a stale run.json
        # would send every reader down its recompute path); runs cloned from one source share them
        if k not in fresh:
            from mosseval.rundir import load_run
            from mosseval.runner import recompute_stale

            new = recompute_stale(load_run(path)).log.model_dump(mode="json")
            fresh[k] = {f: new[f] for f in ("results", "groups", "n_done", "n_errors", "status")}
        log.update(fresh[k])
        (path / "run.json").write_text(json.dumps(log, indent=2), encoding="utf-8")
        out.append(path)
    return out


def json_floor(run_dirs: list[Path]) -> int:
    """The read floor: ``json.loads`` of every line of every samples file and of every run.json."""
    n = 0
    for d in run_dirs:
        json.loads((d / "run.json").read_bytes())
        with (d / "samples.jsonl").open("rb") as fh:
            for line in fh:
                json.loads(line)
                n += 1
    return n
