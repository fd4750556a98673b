"""``mosseval demo``: the main job on the embedded default, as a library function.

Evaluates the models on moss-video-mini (``mosseval run`` for each), aggregates the runs into
``leaderboard.json`` and renders the HTML leaderboard (``mosseval leaderboard``). The default
models are the two calibration baselines (``random``: chance; ``oracle``: the metrics' ceiling) and
``mini-qwen2.5-vl-sft``, a real Qwen2.5-VL trained locally by the demo's SFT recipe on the
benchmark's train split the first time it is used (then cached; :mod:`mosseval.train.recipes`).
Nothing is downloaded. The evaluations pin torch threads (``num_threads``, one by default) so that a busy machine
slows the demo down proportionally instead of thrashing; the first use's training chooses its thread count by timing
(``num_threads: auto`` in its recipes: two threads on an idle 2-core machine, one on a busy one; the same weights).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mosseval.errors import UsageError

__all__ = ["DemoOptions", "DemoResult", "run_demo", "DEFAULT_MODELS"]

DEFAULT_MODELS = ("oracle", "random", "mini-qwen2.5-vl-sft")


@dataclass
class DemoOptions:
    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    tasks: list[str] = field(default_factory=lambda: ["moss-video-mini"])
    limit: int | None = None
    model_limits: dict[str, int] = field(default_factory=dict)
    output_dir: Path = Path("runs")
    report: Path = Path("reports/leaderboard.html")
    seed: int = 0
    cache_dir: Path | None = None
    num_threads: int | None = 1
    """torch threads for the transformers models (None: torch's default)."""
    batch_size: int = 8
    """Questions per generate call for the transformers models (greedy: the same answers as one at a
    time, in less than half the CPU time for the small models)."""
    quiet: bool = False


@dataclass
class DemoResult:
    run_dirs: list[Path]
    logs: list[Any]
    """The ``RunLog`` of every run, in ``run_dirs`` order."""
    board: Any
    report: Path
    """Absolute path of the HTML page."""
    board_json: Path
    exit_code: int
    seconds: float


def parse_model_limits(items: list[str]) -> dict[str, int]:
    """``MODEL=N`` items (``--model-limit``) to a dict."""
    limits: dict[str, int] = {}
    for item in items:
        name, _, n = item.partition("=")
        if not name.strip() or not n.strip().isdigit() or int(n) < 1:
            raise UsageError(f"--model-limit {item!r} is not MODEL=N", hint="e.g. --model-limit mini-qwen2.5-vl-sft=48")
        limits[name.strip()] = int(n)
    return limits


def run_demo(opts: DemoOptions, console: Any) -> DemoResult:
    """Evaluate ``opts.models`` on ``opts.tasks`` and render the leaderboard; returns where it is."""
    from mosseval.leaderboard import build_leaderboard, render_html, write_leaderboard_json
    from mosseval.models.registry import resolve
    from mosseval.runner import Runner, RunOptions

    started = time.perf_counter()
    if not opts.models:
        raise UsageError("no models to evaluate", hint="e.g. --models oracle,random,mini-qwen2.5-vl-sft")
    unknown_limits = sorted(set(opts.model_limits) - set(opts.models))
    if unknown_limits:
        raise UsageError(f"--model-limit names model(s) not in --models: {', '.join(unknown_limits)}")
    run_dirs: list[Path] = []
    logs: list[Any] = []
    worst = 0
    for model in opts.models:
        limit = opts.limit if opts.limit is not None else opts.model_limits.get(model)
        args: dict[str, Any] = {}
        if resolve(model).backend == "hf":
            args["batch_size"] = opts.batch_size
            if opts.num_threads:
                args["num_threads"] = opts.num_threads
        console.print(f"[bold]mosseval run --model {model} --tasks {','.join(opts.tasks)}"
                      + (f" --limit {limit}" if limit else "") + "[/]", highlight=False)
        run_opts = RunOptions(model=model, tasks=list(opts.tasks), model_args=args, limit=limit,
                              output_dir=opts.output_dir, seed=opts.seed, cache_dir=opts.cache_dir,
                              progress=not opts.quiet, command=["demo", model])
        outcome = Runner(run_opts, console).execute()
        run_dirs.append(Path(outcome.run_dir))
        logs.append(outcome.log)
        worst = max(worst, outcome.exit_code)
    board = build_leaderboard([str(d) for d in run_dirs])
    report = Path(os.path.abspath(opts.report))
    board_json = report.with_suffix(".json")
    write_leaderboard_json(board, board_json)
    render_html(board, report)
    return DemoResult(run_dirs, logs, board, report, board_json, worst, time.perf_counter() - started)


def summary_table(result: DemoResult) -> Any:
    """One row per model and task: accuracy and PRR in % with 95 % CIs, format and unparsed rates."""
    from rich.table import Table

    from mosseval.units import pct, pct_ci

    table = Table(title="mosseval demo", title_justify="left", caption_justify="left",
                  caption="rates in % (0-100), 95% CI in brackets; random = chance, oracle = the metrics' ceiling")
    for col in ("model", "task", "n", "accuracy %", "PRR %", "format %", "unparsed %"):
        table.add_column(col, justify="left" if col in ("model", "task") else "right", no_wrap=True)
    rows = []
    for log in result.logs:
        for task, res in log.results.items():
            rows.append((res.accuracy.value if res.accuracy is not None else -1.0, log.spec.model, task, res))
    for _, model, task, res in sorted(rows, key=lambda r: (-r[0], r[1])):
        table.add_row(model, task, str(res.n), pct_ci(res.accuracy), pct_ci(res.prr), pct(res.format_rate),
                      pct(res.parse_failure_rate))
    return table
