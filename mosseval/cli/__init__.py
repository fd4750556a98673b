"""The ``mosseval`` command line: a thin layer over the controllers.

Every option is declared once with ``Annotated`` and grouped in help panels. ``main()`` turns
``MossevalError`` into a one-line message and its exit code (no traceback).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from mosseval.errors import ExitCode, MossevalError, UsageError

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)
for _c in (console, out):
    if not _c.is_terminal:  # logs and CI: wide enough for result tables
        _c.width = max(_c.width, 120)

app = typer.Typer(
    name="mosseval",
    help="Evaluate video MLLMs on answer accuracy and DTW process consistency (PRR); "
    "judge, leaderboard, compare and train.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
models_app = typer.Typer(help="List model backends and presets; build the embedded tiny model.",
                         no_args_is_help=False, invoke_without_command=True)
data_app = typer.Typer(help="Generate, check and build datasets.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(data_app, name="data")

MODEL = "Model"
DATA = "Data"
OUTPUT = "Output"
VIDEO = "Video"
EXEC = "Execution"

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Preset (`mosseval models`), local checkpoint "
                                       "dir, Hub id, or PREFIX:NAME (openai:, hf:, lmms:, vllm:).",
                                       rich_help_panel=MODEL)]
ModelArgsOpt = Annotated[Optional[str], typer.Option("--model-args", "-M", help="k=v,k2=v2 passed to the backend "
                                                     "(dtype=bfloat16,device=cuda,base_url=...).",
                                                     rich_help_panel=MODEL)]
TasksOpt = Annotated[str, typer.Option("--tasks", "-t", help="Comma-separated tasks or groups (`mosseval tasks`).",
                                       rich_help_panel=DATA)]
LimitOpt = Annotated[Optional[int], typer.Option("--limit", "-n", help="First N samples of each task.",
                                                 rich_help_panel=DATA)]
DataDirOpt = Annotated[Optional[Path], typer.Option("--data-dir", help="Dataset root (else $MOSSEVAL_DATA_DIR).",
                                                    rich_help_panel=DATA)]
CacheDirOpt = Annotated[Optional[Path], typer.Option("--cache-dir", help="Where generated data and built models "
                                                     "live (else $MOSSEVAL_CACHE_DIR, ~/.cache/mosseval).",
                                                     rich_help_panel=DATA)]
TasksDirOpt = Annotated[Optional[list[Path]], typer.Option("--tasks-dir", help="Extra folder of task YAML files "
                                                           "(repeatable; also $MOSSEVAL_TASKS_DIR).",
                                                           rich_help_panel=DATA)]
OutDirOpt = Annotated[Path, typer.Option("--output-dir", "-o", help="Parent folder of run directories.",
                                         rich_help_panel=OUTPUT)]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for sampling, the random baseline and synthetic data.",
                                      rich_help_panel=EXEC)]
FramesOpt = Annotated[Optional[int], typer.Option("--frames", "-f", help="Override the tasks' frame count.",
                                                  rich_help_panel=VIDEO)]
MaxPixelsOpt = Annotated[Optional[int], typer.Option("--max-pixels", help="Override the per-frame pixel budget.",
                                                     rich_help_panel=VIDEO)]


def _set_verbosity(quiet: bool) -> None:
    console.quiet = quiet


@app.command(no_args_is_help=True)
def run(
    model: ModelOpt,
    tasks: TasksOpt = "moss-video-mini",
    model_args: ModelArgsOpt = None,
    limit: LimitOpt = None,
    output_dir: OutDirOpt = Path("runs"),
    seed: SeedOpt = 0,
    frames: FramesOpt = None,
    max_pixels: MaxPixelsOpt = None,
    frames_from: Annotated[str, typer.Option(
        "--frames-from", metavar="task|model",
        help="Which frames the model sees. task (default): the task's frame protocol, identical for every "
        "model, for fair comparisons. model: the model family's own published recipe (e.g. Qwen2.5-VL 2 fps "
        "+ pixel budget), to reproduce its reported numbers; recorded in the run identity.",
        rich_help_panel=VIDEO)] = "task",
    data_dir: DataDirOpt = None,
    cache_dir: CacheDirOpt = None,
    tasks_dir: TasksDirOpt = None,
    prr: Annotated[Optional[str], typer.Option(
        help="Override PRR settings for an ablation, e.g. jump=1,alpha=4,alignment=dtw,distance=semantic "
        "(part of the run identity).", rich_help_panel="Scoring")] = None,
    run_name: Annotated[Optional[str], typer.Option(help="Directory name instead of MODEL__TASKS__HASH.",
                                                    rich_help_panel=OUTPUT)] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Override the backend's batch size.",
                                                      rich_help_panel=EXEC)] = None,
    workers: Annotated[int, typer.Option(help="Background video-decoding threads (0: decode serially).",
                                         rich_help_panel=EXEC)] = 2,
    frame_cache: Annotated[bool, typer.Option(
        "--frame-cache/--no-frame-cache",
        help="Reuse decoded frames across models and runs (<cache dir>/frames, or $MOSSEVAL_FRAME_CACHE; "
        "bound $MOSSEVAL_FRAME_CACHE_MAX, default 10G). Frames are identical either way.",
        rich_help_panel=EXEC)] = True,
    preflight: Annotated[bool, typer.Option(help="Open every referenced video before loading the model.",
                                            rich_help_panel=DATA)] = False,
    retry_errors: Annotated[bool, typer.Option(help="When resuming, run again the samples that failed "
                                               "(media/model/API errors).", rich_help_panel=EXEC)] = False,
    judge: Annotated[Optional[str], typer.Option(help="Also judge the run inline with this judge model "
                                                 "(see `mosseval judge`).", rich_help_panel=OUTPUT)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.", rich_help_panel=OUTPUT)] = False,
) -> int:
    """Evaluate a model on tasks; writes (and resumes) one run directory."""
    from mosseval.models.registry import parse_model_args
    from mosseval.runner import Runner, RunOptions, distributed_env

    if distributed_env()[0] > 0:
        quiet = True  # under torchrun / accelerate only rank 0 talks
    from mosseval.scoring import summarize

    opts = RunOptions(
        model=model, tasks=[t for t in tasks.split(",") if t.strip()], model_args=parse_model_args(model_args),
        limit=limit, output_dir=output_dir, seed=seed, frames=frames, max_pixels=max_pixels, data_dir=data_dir,
        frames_from=frames_from,
        prr=parse_model_args(prr),
        cache_dir=cache_dir, tasks_dirs=list(tasks_dir or []), run_name=run_name, preflight=preflight,
        workers=workers, batch_size=batch_size, progress=not quiet, command=_redacted_argv(),
        retry_errors=retry_errors, frame_cache=frame_cache,
    )
    try:
        outcome = Runner(opts, console).execute()
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: finished samples are saved; re-run the same command to resume")
        return int(ExitCode.INTERRUPTED)
    if judge:
        judge_mod = importlib.import_module("mosseval.judge")
        judge_mod.judge_run(outcome.run_dir, judge_model=judge, console=console)
    log = outcome.log
    from rich.table import Table

    table = Table(title=f"{model} — {log.status}", title_justify="left")
    for col in ("task", "n", "accuracy (95% CI)", "PRR (95% CI)", "format", "unparsed", "errors"):
        table.add_column(col, justify="left" if col == "task" else "right", no_wrap=True)
    for name, res in {**log.results, **log.groups}.items():
        table.add_row(name, str(res.n), summarize(res.accuracy), summarize(res.prr),
                      "–" if res.format_rate is None else f"{res.format_rate:.3f}",
                      "–" if res.parse_failure_rate is None else f"{res.parse_failure_rate:.3f}",
                      str(res.n_errors) + (" (approx.)" if res.approximate else ""))
    if not quiet:
        console.print(table)
        for v in log.published:
            console.print(f"published {v.score.task} ({v.score.source}): {v.line}", highlight=False)
    out.print(str(outcome.run_dir))
    if log.n_errors:
        console.print(f"[yellow]{log.n_errors} sample(s) failed[/] (listed with reasons in samples.jsonl; "
                      f"`mosseval errors {outcome.run_dir}`); exit code {int(ExitCode.SAMPLE_ERRORS)}")
    return outcome.exit_code


@app.command()
def score(run_dir: Annotated[Path, typer.Argument(help="A run directory.")]) -> int:
    """Re-score a saved run without the model (after a scorer change, or to refresh run.json)."""
    from mosseval.runner import rescore
    from mosseval.scoring import summarize

    log = rescore(run_dir)
    for name, res in {**log.results, **log.groups}.items():
        out.print(f"{name}\tn={res.n}\taccuracy={summarize(res.accuracy)}\tprr={summarize(res.prr)}")
    return 0


@app.command()
def errors(run_dir: Annotated[Path, typer.Argument(help="A run directory.")]) -> int:
    """List the samples of a run that failed (media or model errors) with their reasons."""
    from mosseval.rundir import errored_records, read_run_log

    read_run_log(run_dir)  # a clear error when this is not a run directory
    bad = errored_records(run_dir)
    for r in bad:
        out.print(f"{r.key}\t{r.generation.error.kind}\t{r.generation.error.message}", highlight=False)
    if not bad:
        console.print("no failed samples")
    return int(ExitCode.SAMPLE_ERRORS) if bad else 0


@app.command("tasks")
def tasks_cmd(
    data_dir: DataDirOpt = None,
    cache_dir: CacheDirOpt = None,
    tasks_dir: TasksDirOpt = None,
    counts: Annotated[bool, typer.Option(help="Count samples where the data is present.")] = True,
) -> int:
    """List tasks and groups, with sample counts where the data is present."""
    from rich.table import Table

    from mosseval.data import get_loader
    from mosseval.data.locate import resolve_data_root
    from mosseval.errors import DataNotFoundError
    from mosseval.tasks import load_registry

    registry = load_registry([str(p) for p in tasks_dir or []])
    table = Table(title="mosseval tasks", title_justify="left")
    table.add_column("task", no_wrap=True, overflow="fold")
    for col, width in (("version", 7), ("protocol", 17), ("frames", 12), ("samples", 14)):
        table.add_column(col, no_wrap=True, min_width=width)
    table.add_column("description", overflow="ellipsis", no_wrap=True, max_width=48)
    for name, spec in sorted(registry.items()):
        if spec.is_group:
            table.add_row(name, spec.version, "group", "", f"{len(spec.subtasks)} subtasks", spec.description)
            continue
        n = "–"
        if counts:
            try:
                root = resolve_data_root(spec, data_dir, cache_dir, generate=False)
                n = str(len(get_loader(spec.loader or "")(spec, root)))
            except DataNotFoundError:
                n = "not generated" if spec.data.synthetic else "data not found"
            except MossevalError as exc:
                n = f"error: {exc.message[:60]}"
        f = spec.frames
        frames = f"{f.strategy} {f.num_frames}" if f.strategy != "fps" else f"{f.fps} fps ≤{f.max_frames}"
        table.add_row(name, spec.version, spec.protocol, frames, n, " ".join(spec.description.split()))
    out.print(table)
    return 0


@models_app.callback()
def models_list(ctx: typer.Context) -> None:
    """List backends (with the extra each needs) and presets."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.markup import escape
    from rich.table import Table

    from mosseval.models.registry import PRESETS, backend_prefix, backends

    t = Table(title="backends", title_justify="left")
    for col in ("backend", "--model form", "provided by", "installed", "description"):
        t.add_column(col)
    for b in backends.entries().values():
        miss = b.missing()
        prefix = backend_prefix(b)
        form = f"{prefix}:NAME" if prefix else "random | oracle"
        provider = (f"mosseval[{b.extra}]" if b.extra else "mosseval") if b.builtin else b.provider
        t.add_row(*map(escape, (b.name, form, provider, "yes" if not miss else f"no: {b.install_command()}",
                                b.description)))
    out.print(t)
    p = Table(title="presets", title_justify="left")
    for col in ("preset", "backend", "target", "family", "description"):
        p.add_column(col)
    for pr in PRESETS.values():
        p.add_row(pr.name, pr.backend, pr.target, pr.family or "–", pr.description)
    out.print(p)


@models_app.command("build-tiny")
def build_tiny(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the checkpoint into.")],
    seed: SeedOpt = 0,
) -> int:
    """Build the embedded tiny-qwen2.5-vl checkpoint (deterministic from the seed)."""
    from mosseval.models.registry import load_backend

    load_backend("hf")  # dependency check with a clear message
    from mosseval.models.tiny import build_tiny as build

    path = build(out_dir, seed=seed)
    out.print(str(path))
    return 0


@data_app.command("synth")
def synth(
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Target folder (default: the cache).")] = None,
    seed: SeedOpt = 0,
    cache_dir: CacheDirOpt = None,
) -> int:
    """Generate moss-video-mini deterministically from a seed."""
    from mosseval.data import synth as synth_mod
    from mosseval.paths import cache_dir as cache_root

    if out_dir is None:
        path = synth_mod.ensure_mini(cache_root(cache_dir) / "data", seed)
    else:
        synth_mod.generate(out_dir, seed=seed)
        path = out_dir
    out.print(str(path))
    return 0


@app.command()
def demo(
    models: Annotated[str, typer.Option(help="Comma-separated models to evaluate.")] = "oracle,random,tiny-qwen2.5-vl",
    tasks: TasksOpt = "moss-video-mini",
    limit: LimitOpt = None,
    model_limit: Annotated[Optional[list[str]], typer.Option(
        "--model-limit", help="Per-model sample limit MODEL=N (repeatable), e.g. tiny-qwen2.5-vl=48.")] = None,
    output_dir: OutDirOpt = Path("runs"),
    report: Annotated[Path, typer.Option(help="Leaderboard HTML to write.")] = Path("reports/leaderboard.html"),
    seed: SeedOpt = 0,
    cache_dir: CacheDirOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> int:
    """The main job on the embedded default: evaluate models on moss-video-mini, render the leaderboard.

    Equivalent to `mosseval run --model M --tasks moss-video-mini` for each model, then
    `mosseval leaderboard runs/* -o reports/leaderboard.html`. Nothing is downloaded.
    """
    from mosseval.leaderboard import build_leaderboard, render_html, write_leaderboard_json
    from mosseval.runner import Runner, RunOptions

    limits: dict[str, int] = {}
    for item in model_limit or []:
        name, _, n = item.partition("=")
        if not n.strip().isdigit():
            raise UsageError(f"--model-limit {item!r} is not MODEL=N")
        limits[name.strip()] = int(n)
    run_dirs: list[str] = []
    worst = 0
    for m in [x.strip() for x in models.split(",") if x.strip()]:
        m_limit = limit if limit is not None else limits.get(m)
        console.print(f"[bold]mosseval run --model {m} --tasks {tasks}"
                      + (f" --limit {m_limit}" if m_limit else "") + "[/]")
        opts = RunOptions(model=m, tasks=tasks.split(","), limit=m_limit, output_dir=output_dir, seed=seed,
                          cache_dir=cache_dir, progress=not quiet, command=["demo", m])
        outcome = Runner(opts, console).execute()
        run_dirs.append(str(outcome.run_dir))
        worst = max(worst, outcome.exit_code)
        res = outcome.log.results
        for name, r in res.items():
            prr = f", PRR {r.prr.value:.3f}" if r.prr is not None and r.prr.value is not None else ""
            console.print(f"  {name}: accuracy {r.accuracy.value:.3f} "
                          f"[{r.accuracy.ci_low:.3f}, {r.accuracy.ci_high:.3f}]{prr}")
    board = build_leaderboard(run_dirs)
    write_leaderboard_json(board, report.with_suffix(".json"))
    path = render_html(board, report)
    out.print(str(path))
    return worst


def _redacted_argv() -> list[str]:
    from mosseval.redact import redact_argv

    return redact_argv(list(sys.argv[1:]))


# Commands owned by other modules (and third-party packages) come through one registry.
def _load_plugins() -> None:
    from mosseval.cli.plugins import load_commands

    load_commands(app, data_app)


_load_plugins()


def main(argv: list[str] | None = None) -> None:
    import click

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        rv = app(args=argv, standalone_mode=False, prog_name="mosseval")
    except MossevalError as exc:
        from rich.markup import escape

        console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False)
        if exc.hint:
            console.print(f"  [dim]hint:[/] {escape(exc.hint)}", highlight=False)
        sys.exit(int(exc.exit_code))
    except click.exceptions.Abort:
        console.print("[yellow]aborted[/]")
        sys.exit(int(ExitCode.INTERRUPTED))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: finished work is saved")
        sys.exit(int(ExitCode.INTERRUPTED))
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(int(ExitCode.USAGE) if exc.exit_code == 2 else exc.exit_code)
    sys.exit(int(rv or 0) if isinstance(rv, int) else 0)
