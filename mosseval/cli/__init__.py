"""The ``mosseval`` command line: a thin layer over the controllers.

Shared options are declared once in :mod:`mosseval.cli.options`. ``main()`` owns the exit-code
contract (:class:`mosseval.errors.ExitCode`): a ``MossevalError`` prints one line (plus a hint)
and exits with its code; a usage error of the command-line parser prints one line and exits 2;
Ctrl-C exits 130; anything unexpected prints one line and exits 70 (``--debug`` or
``$MOSSEVAL_DEBUG=1`` shows the traceback). No traceback reaches the user otherwise.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from mosseval.cli.options import (
    DATA,
    EXEC,
    OUTPUT,
    SCORING,
    VIDEO,
    App,
    CacheDirOpt,
    DataDirOpt,
    FramesOpt,
    LimitOpt,
    MaxPixelsOpt,
    ModelArgsOpt,
    ModelOpt,
    OutDirOpt,
    QuietOpt,
    RunDirArg,
    SeedOpt,
    TasksDirOpt,
    TasksOpt,
    WaitOpt,
)
from mosseval.errors import ExitCode, MossevalError

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)
for _c in (console, out):
    if not _c.is_terminal:  # logs and CI: wide enough for result tables
        _c.width = max(_c.width, 120)

DEBUG_ENV = "MOSSEVAL_DEBUG"

app = App(name="mosseval", no_args_is_help=True)
models_app = App(help="List model backends and presets; build the embedded tiny model.", no_args_is_help=False,
                 invoke_without_command=True)
data_app = App(help="Generate, check and build datasets.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(data_app, name="data")


def _version_callback(value: bool) -> None:
    if value:
        from mosseval import __version__

        out.print(f"mosseval {__version__}", highlight=False)
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", "-V", callback=_version_callback, is_eager=True,
                                          help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an internal error (also "
                                        f"${DEBUG_ENV}=1); may be given anywhere on the command line.")] = False,
) -> None:
    """Evaluate video MLLMs on answer accuracy and DTW process consistency (PRR); judge, leaderboard,
    compare and train.

    Exit codes: 0 ok · 1 compare regression · 2 usage / bad input / locked · 3 sample errors ·
    4 output not writable · 5 missing dependency · 6 data not found · 7 remote API stopped ·
    70 internal error · 130 interrupted.
    """


@app.command()
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
        "--prr", metavar="K=V,...", rich_help_panel=SCORING,
        help="Override PRR settings for an ablation, e.g. jump=1,alpha=4,alignment=dtw,distance=semantic "
        "(part of the run identity).")] = None,
    run_name: Annotated[Optional[str], typer.Option(
        "--run-name", metavar="NAME", rich_help_panel=OUTPUT,
        help="Directory name inside --output-dir instead of MODEL__TASKS__HASH (one plain name).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(
        "--batch-size", metavar="N", rich_help_panel=EXEC, help="Override the backend's batch size (1-4096).")] = None,
    workers: Annotated[int, typer.Option(
        "--workers", metavar="N", rich_help_panel=EXEC,
        help="Background video-decoding threads (0: decode serially; at most 64).")] = 2,
    preflight: Annotated[bool, typer.Option(
        "--preflight/--no-preflight", rich_help_panel=DATA,
        help="Open every referenced video before loading the model.")] = False,
    retry_errors: Annotated[bool, typer.Option(
        "--retry-errors", rich_help_panel=EXEC,
        help="When resuming, run again the samples that failed (media/model/API errors).")] = False,
    frame_cache: Annotated[bool, typer.Option(
        "--frame-cache/--no-frame-cache", rich_help_panel=EXEC,
        help="Reuse decoded frames across models and runs (<cache dir>/frames, or $MOSSEVAL_FRAME_CACHE; "
        "bound $MOSSEVAL_FRAME_CACHE_MAX, default 10G). Frames are identical either way.")] = True,
    judge: Annotated[Optional[str], typer.Option(
        "--judge", metavar="JUDGE_MODEL", rich_help_panel=OUTPUT,
        help="Also judge the run inline with this judge model (see `mosseval judge`).")] = None,
    wait: WaitOpt = False,
    quiet: QuietOpt = False,
) -> int:
    """Evaluate a model on tasks; writes (and resumes) one run directory.

    Exit codes: 0 completed, 3 completed with sample errors (recorded), 130 interrupted (the same
    command resumes), 2 bad input or the run directory is being written by another process.
    """
    from mosseval.models.registry import parse_model_args
    from mosseval.runner import Runner, RunOptions, distributed_env

    if distributed_env()[0] > 0:
        quiet = True  # under torchrun / accelerate only rank 0 talks
    from mosseval.scoring import official_style_line, summarize, summarize_value
    from mosseval.units import pct

    opts = RunOptions(
        model=model, tasks=[t for t in tasks.split(",") if t.strip()], model_args=parse_model_args(model_args),
        limit=limit, output_dir=output_dir, seed=seed, frames=frames, max_pixels=max_pixels, data_dir=data_dir,
        frames_from=frames_from,
        prr=parse_model_args(prr),
        cache_dir=cache_dir, tasks_dirs=list(tasks_dir or []), run_name=run_name, preflight=preflight,
        workers=workers, batch_size=batch_size, progress=not quiet, command=_redacted_argv(),
        retry_errors=retry_errors, wait=wait, frame_cache=frame_cache,
    )
    try:
        outcome = Runner(opts, console).execute()
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: finished samples are saved; re-run the same command to resume")
        return int(ExitCode.INTERRUPTED)
    if judge:
        from mosseval.cli.judge import print_plan, print_results
        from mosseval.judge import judge_run
        from mosseval.progress import progress

        show = None if quiet else console
        print_results(console, judge_run(
            outcome.run_dir, judge_model=judge, wait=wait, say=lambda t: console.print(t, highlight=False),
            progress=lambda total, label: progress(show, total, label, transient=True),
            on_plan=(lambda r: print_plan(show, r)) if show is not None else None))
    log = outcome.log
    from rich.table import Table

    table = Table(title=f"{model} — {log.status}", title_justify="left",
                  caption="accuracy, rates and PRR in % (0-100); PRR ✓ / ✗: on correct / wrong answers",
                  caption_justify="left")
    for col in ("task", "n", "accuracy % (95% CI)", "PRR (95% CI)", "PRR ✓ / ✗", "format %", "unparsed %",
                "errors"):
        table.add_column(col, justify="left" if col == "task" else "right", no_wrap=True)
    for name, res in {**log.results, **log.groups}.items():
        prr = summarize(res.prr) + (" ¶" if res.prr_reference == "paragraph" else "")
        split = "–" if res.prr is None else (f"{summarize_value(res.prr_correct)} / "
                                             f"{summarize_value(res.prr_incorrect)}")
        table.add_row(name, str(res.n), summarize(res.accuracy), prr, split, pct(res.format_rate),
                      pct(res.parse_failure_rate), str(res.n_errors) + (" (approx.)" if res.approximate else ""))
    if not quiet:
        console.print(table)
        for name, res in {**log.results, **log.groups}.items():
            if res.prr_reference == "paragraph":
                console.print(f"¶ {name}: PRR against a paragraph ref. (the rationale split into sentences; coarse)",
                              highlight=False)
            official = official_style_line(name, res)
            if official:
                console.print(official, highlight=False)
        for v in log.published:
            console.print(f"published {v.score.task} ({v.score.source}): {v.line}", highlight=False)
    out.print(str(outcome.run_dir), highlight=False)
    if log.n_errors:
        console.print(f"[yellow]{log.n_errors} sample(s) failed[/] (listed with reasons in samples.jsonl; "
                      f"`mosseval errors {outcome.run_dir}`); exit code {int(ExitCode.SAMPLE_ERRORS)}")
    return outcome.exit_code


@app.command()
def score(run_dir: RunDirArg, wait: WaitOpt = False) -> int:
    """Re-score a saved run without the model (after a scorer change, or to refresh run.json).

    Exit code as for `run`: 0 completed, 3 with sample errors, 130 when the run is incomplete.
    """
    from mosseval.rescore import rescore
    from mosseval.scoring import summarize

    log = rescore(run_dir, wait=wait, say=lambda t: console.print(t, highlight=False))
    for name, res in {**log.results, **log.groups}.items():
        out.print(f"{name}\tn={res.n}\taccuracy%={summarize(res.accuracy)}\tprr={summarize(res.prr)}", highlight=False)
    if log.n_done < log.n_expected:  # interrupted, killed or failed part-way: never 0, and never "internal"
        console.print(f"[yellow]the run is incomplete[/] ({log.status}: {log.n_done} of {log.n_expected} samples): "
                      "resume it with the same `mosseval run` command")
        return int(ExitCode.INTERRUPTED)
    return int(ExitCode.for_status(log.status))


@app.command()
def errors(run_dir: RunDirArg) -> int:
    """List the samples of a run that failed (media or model errors) with their reasons."""
    from mosseval.redact import redact_text
    from mosseval.rundir import errored_records, read_run_log

    read_run_log(run_dir)  # a clear error when this is not a run directory
    bad = errored_records(run_dir)
    for r in bad:
        out.print(f"{r.key}\t{r.generation.error.kind}\t{redact_text(r.generation.error.message)}", highlight=False,
                  markup=False)
    if not bad:
        console.print("no failed samples")
    return int(ExitCode.SAMPLE_ERRORS) if bad else 0


@app.command("tasks")
def tasks_cmd(
    expand: Annotated[Optional[list[str]], typer.Option(
        "--expand", "-e", metavar="GROUP", show_default=False,
        help="List the subtasks of GROUP (repeatable); `--expand all` lists every group's subtasks.")] = None,
    data_dir: DataDirOpt = None,
    cache_dir: CacheDirOpt = None,
    tasks_dir: TasksDirOpt = None,
    counts: Annotated[bool, typer.Option("--counts/--no-counts",
                                         help="Count samples where the data is present.")] = True,
) -> int:
    """List tasks and groups (groups collapsed: `--expand GROUP` shows their subtasks)."""
    from rich.table import Table

    from mosseval.tasks import list_tasks, load_registry

    registry = load_registry([str(p) for p in tasks_dir or []])
    wanted: bool | list[str] = True if expand and "all" in expand else list(expand or [])
    rows = list_tasks(registry, expand=wanted, counts=counts, data_dir=data_dir, cache_dir=cache_dir)
    table = Table(title="mosseval tasks", title_justify="left", caption="groups are collapsed: "
                  "`mosseval tasks --expand GROUP` (or `--expand all`) lists their subtasks"
                  if not wanted else None, caption_justify="left")
    table.add_column("task", no_wrap=True, min_width=max(len(r.name) for r in rows) if rows else 4)
    for col in ("version", "protocol", "frames", "samples"):
        table.add_column(col, no_wrap=True, min_width=max([len(col)] + [len(_cell(r, col)) for r in rows]))
    table.add_column("description", overflow="ellipsis", no_wrap=True, max_width=60)
    for r in rows:
        table.add_row(r.name, *(_cell(r, c) for c in ("version", "protocol", "frames", "samples")),
                      " ".join(r.spec.description.split()), style="bold" if r.spec.is_group else None)
    out.print(table)
    return 0


def _cell(row, col: str) -> str:
    if col == "version":
        return row.spec.version
    if col == "protocol":
        return "group" if row.spec.is_group else row.spec.protocol
    return row.frames if col == "frames" else row.samples


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
    out_dir: Annotated[Path, typer.Option("--out", metavar="DIR", help="Folder to write the checkpoint into.",
                                          show_default=False)],
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
    out_dir: Annotated[Optional[Path], typer.Option("--out", metavar="DIR",
                                                    help="Target folder (default: the cache).")] = None,
    seed: SeedOpt = 0,
    train_size: Annotated[Optional[int], typer.Option(
        "--train-size", min=1, help="Questions in the train split (default 420). The test split never "
        "changes with it, and no train video equals a test video.")] = None,
    cache_dir: CacheDirOpt = None,
) -> int:
    """Generate moss-video-mini deterministically from a seed."""
    from mosseval.data import synth as synth_mod
    from mosseval.paths import cache_dir as cache_root

    n_train = synth_mod.DEFAULT_N_TRAIN if train_size is None else train_size
    if out_dir is None:
        path = synth_mod.ensure_mini(cache_root(cache_dir) / "data", seed, n_train=n_train)
    else:
        synth_mod.generate(out_dir, seed=seed, n_train=n_train)
        path = out_dir
    out.print(str(path))
    return 0


@app.command()
def demo(
    models: Annotated[str, typer.Option("--models", metavar="MODEL,...",
                                        help="Comma-separated models to evaluate.")] = "oracle,random,mini-qwen2.5-vl-sft",
    tasks: TasksOpt = "moss-video-mini",
    limit: LimitOpt = None,
    model_limit: Annotated[Optional[list[str]], typer.Option(
        "--model-limit", metavar="MODEL=N",
        help="Per-model sample limit MODEL=N (repeatable), e.g. mini-qwen2.5-vl-sft=48.")] = None,
    output_dir: OutDirOpt = Path("runs"),
    report: Annotated[Path, typer.Option("--report", metavar="FILE",
                                         help="Leaderboard HTML to write.")] = Path("reports/leaderboard.html"),
    seed: SeedOpt = 0,
    cache_dir: CacheDirOpt = None,
    num_threads: Annotated[int, typer.Option("--num-threads", metavar="N", min=1, rich_help_panel=EXEC,
                                             help="torch threads for the transformers models (pinned: a busy "
                                             "machine slows the demo proportionally, not 30x; one "
                                             "thread was 5x faster than two on a busy 2-core machine).")] = 1,
    quiet: QuietOpt = False,
) -> int:
    """The main job on the embedded default: evaluate models on moss-video-mini, render the leaderboard.

    Equivalent to `mosseval run --model M --tasks moss-video-mini` for each model, then
    `mosseval leaderboard runs/* -o reports/leaderboard.html`. The default models are the random and
    oracle baselines and mini-qwen2.5-vl-sft, a real Qwen2.5-VL that the demo trains on moss-video-mini's
    train split on first use (2,000 SFT steps, about 7 minutes on 2 idle cores, with a progress bar;
    then cached). Nothing is downloaded.
    """
    from mosseval.demo import DemoOptions, parse_model_limits, run_demo, summary_table

    opts = DemoOptions(models=[m.strip() for m in models.split(",") if m.strip()],
                       tasks=[t.strip() for t in tasks.split(",") if t.strip()], limit=limit,
                       model_limits=parse_model_limits(model_limit or []), output_dir=output_dir, report=report,
                       seed=seed, cache_dir=cache_dir, num_threads=num_threads, quiet=quiet)
    result = run_demo(opts, console)
    console.print(summary_table(result))
    console.print(f"leaderboard: [bold]{result.report}[/] (data: {result.board_json}); "
                  f"{len(result.run_dirs)} runs in {result.seconds:.0f} s", highlight=False)
    console.print(f"open it in a browser: file://{result.report}  (or: xdg-open {result.report} / "
                  f"open {result.report} on macOS); it works offline", highlight=False)
    out.print(str(result.report))
    return result.exit_code


def _redacted_argv() -> list[str]:
    from mosseval.redact import redact_argv

    return redact_argv(list(sys.argv[1:]))


# Commands owned by other modules (and third-party packages) come through one registry.
def _load_plugins() -> None:
    from mosseval.cli.plugins import load_commands

    load_commands(app, data_app)


_load_plugins()


# ----------------------------------------------------------------------------- the exit-code contract


def _parser_exception_types() -> tuple[dict[str, tuple[type, ...]], list[str]]:
    """The command-line parser's exception classes: typer >= 0.2x raises those of its bundled
    click (``typer._click``), which are not the ``click`` package's; older typer raises click's.
    Both sets are caught, so a usage error never escapes as a traceback whichever is installed."""
    kinds: dict[str, list[type]] = {"usage": [], "exit": [], "abort": [], "click": []}
    found = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        found.append(name)
        for kind, cls_name in (("usage", "UsageError"), ("exit", "Exit"), ("abort", "Abort"),
                               ("click", "ClickException")):
            cls = getattr(mod, cls_name, None)
            if isinstance(cls, type):
                kinds[kind].append(cls)
    return {k: tuple(v) for k, v in kinds.items()}, found


def _say_error(message: str, hint: str | None = None) -> None:
    from rich.markup import escape

    from mosseval.redact import redact_text

    first, *rest = redact_text(str(message)).strip().splitlines() or [""]
    # A message's further lines (e.g. the places a dataset was looked for) stay on the error line,
    # as one list; the hint line says only how to fix it.
    extra = "; ".join(x.strip().removeprefix("- ") for x in rest if x.strip())
    console.print(f"[bold red]error:[/] {escape(first + (' ' + extra if extra else ''))}", highlight=False)
    if hint:
        console.print(f"  [dim]hint:[/] {escape(redact_text(hint))}", highlight=False)


def _usage_hint(exc: BaseException, argv: list[str]) -> str:
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None) or _command_path(argv)
    return f"see `{path} --help`"


def _command_path(argv: list[str]) -> str:
    """``mosseval`` and the (sub)command names ``argv`` starts with: where the parser's error carries no
    context (an option missing its value: ``mosseval run --model``)."""
    from typer.main import get_command

    cmd: Any = get_command(app)
    parts = ["mosseval"]
    for token in argv:
        sub = getattr(cmd, "commands", {}).get(token)
        if sub is None:
            break
        parts.append(token)
        cmd = sub
    return " ".join(parts)


def _print_help(exc: BaseException) -> None:
    """Show the help a bare command group raised with. typer's rich formatter prints the help while
    the exception is built (its message is then empty); plain click puts it in the message. Calling
    ``ctx.get_help()`` again would print it a second time."""
    text = exc.format_message() if hasattr(exc, "format_message") else ""
    if text and text.strip():
        out.print(text, highlight=False, markup=False)


def _strip_debug(argv: list[str]) -> tuple[list[str], bool]:
    """``--debug`` is global: it is accepted anywhere on the command line (before ``--``)."""
    debug = os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")
    cut = argv.index("--") if "--" in argv else len(argv)
    if "--debug" in argv[:cut]:
        debug = True
        argv = [a for i, a in enumerate(argv) if not (a == "--debug" and i < cut)]
    return argv, debug


def run_cli(argv: list[str] | None = None) -> int:
    """Run the command line and return its exit code (``main`` exits with it)."""
    import errno

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    argv, debug = _strip_debug(list(sys.argv[1:] if argv is None else argv))
    kinds, _ = _parser_exception_types()
    try:
        rv = app(args=argv, standalone_mode=False, prog_name="mosseval")
    except MossevalError as exc:
        _say_error(exc.message, exc.hint)
        if debug:
            console.print_exception()
        return int(exc.exit_code)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: finished work is saved; the same command resumes")
        return int(ExitCode.INTERRUPTED)
    except kinds["abort"]:  # the parser turned a Ctrl-C into Abort
        console.print("[yellow]interrupted[/]: finished work is saved; the same command resumes")
        return int(ExitCode.INTERRUPTED)
    except kinds["exit"] as exc:  # --help, --version
        return int(getattr(exc, "exit_code", 0) or 0)
    except kinds["usage"] as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare command group: show what it offers
            _print_help(exc)
            return int(ExitCode.USAGE)
        _say_error(exc.format_message(), _usage_hint(exc, argv))
        return int(ExitCode.USAGE)
    except kinds["click"] as exc:  # e.g. a file option that cannot be opened
        _say_error(exc.format_message())
        return int(ExitCode.USAGE if getattr(exc, "exit_code", 1) in (1, 2) else exc.exit_code)
    except ImportError as exc:  # an optional package a library needs at run time (e.g. num2words)
        if (exc.name or "").startswith("mosseval"):
            return _internal(exc, debug)
        name = exc.name or str(exc).split("'")[1] if "'" in str(exc) else exc.name
        _say_error(f"a missing optional package{f' ({name!r})' if name else ''}: {str(exc).splitlines()[0]}",
                   f"install it (pip install {name})" if name else "install the package named above")
        if debug:
            console.print_exception()
        return int(ExitCode.MISSING_DEPENDENCY)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM) and exc.filename:
            _say_error(f"cannot write {exc.filename}: {exc.strerror}", "free disk space or choose a writable location")
            if debug:
                console.print_exception()
            return int(ExitCode.OUTPUT)
        return _internal(exc, debug)
    except Exception as exc:  # noqa: BLE001 - the contract: one line and exit 70, never a traceback
        return _internal(exc, debug)
    return int(rv or 0) if isinstance(rv, int) else 0


def _internal(exc: BaseException, debug: bool) -> int:
    from mosseval import __version__

    _say_error(f"internal error: {type(exc).__name__}: {exc}",
               "this is a bug in mosseval or a library; run again with --debug for the traceback and report it"
               f" (mosseval {__version__})")
    if debug:
        console.print_exception()
    return int(ExitCode.INTERNAL)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM (a scheduler, torchrun tearing down) ends like Ctrl-C: saved, exit 130


def main(argv: list[str] | None = None) -> None:
    """The ``mosseval`` console entry point: runs the command line and exits with its code."""
    import signal

    try:
        signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # pragma: no cover - not the main thread
        pass
    try:
        code = run_cli(argv)
    except BaseException as exc:  # noqa: BLE001 - even a failure while reporting an error is one line
        if isinstance(exc, SystemExit):
            raise
        code = 130 if isinstance(exc, KeyboardInterrupt) else int(ExitCode.INTERNAL)
        print(f"error: internal error while reporting an error: {type(exc).__name__}", file=sys.stderr)
    sys.exit(code)
