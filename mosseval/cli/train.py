"""``mosseval train`` (and ``mosseval repro``): the command-line face of :mod:`mosseval.train`.

Every ``TrainConfig`` key is an option of ``train`` (``--num-generations`` ↔ ``num_generations``),
declared once: the options are generated from the config record's fields, their types, defaults and
docstrings (:func:`option_rows`, stored in :mod:`mosseval.cli._train_options` by ``scripts/train_options.py`` so
that starting the CLI does not import the config), so a new key is a new option with no CLI code. Only the
presentation lives here (short flags, help panels, metavars). A ``--config FILE.yaml`` supplies any
of them and the command line overrides the file.
"""

from __future__ import annotations

import inspect
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer

from mosseval.cli.options import CacheDirOpt, QuietOpt

MODEL = "Model"
DATA = "Data"
REWARD = "Rewards"
GRPO = "GRPO"
SFT = "SFT"
OPTIM = "Optimisation"
OUT = "Output"
EXEC = "Execution"

PANELS: dict[str, tuple[str, ...]] = {
    MODEL: ("method", "model", "model_args", "dtype", "bf16", "gradient_checkpointing", "freeze_vision", "vision_cache", "lora",
            "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules"),
    DATA: ("data", "data_dir", "cache_dir", "tasks_dir", "limit", "train_size", "frames", "max_pixels"),
    REWARD: ("rewards", "reward_weights", "prr", "require_format"),
    SFT: ("sft_trace", "sft_answer_weight"),
    GRPO: ("num_generations", "per_device_batch_size", "generation_batch_size", "num_iterations", "beta",
           "clip_eps", "clip_eps_high", "adv_eps", "scale_rewards", "temperature", "top_p", "max_completion_length"),
    OPTIM: ("lr", "vision_lr_scale", "lr_scheduler", "warmup_ratio", "min_lr_ratio", "weight_decay", "adam_beta1", "adam_beta2",
            "adam_eps", "grad_accum", "max_grad_norm", "steps", "epochs", "seed"),
    EXEC: ("rollout", "num_threads", "quiet"),
    OUT: ("output_dir", "save_every", "save_total_limit", "resume", "overwrite", "log_every", "log_completions",
          "report_to", "project"),
}
SHORT = {"model": "-m", "model_args": "-M", "num_generations": "-G", "per_device_batch_size": "-b", "frames": "-f",
         "limit": "-n", "output_dir": "-o", "quiet": "-q"}
KEY_VALUE = ("model_args", "prr")
"""Mapping keys given as ``k=v,k2=v2`` on the command line."""


def _opt(*names: str, help: str, panel: str, **kw):  # noqa: A002 - typer's keyword
    return typer.Option(*names, help=help, rich_help_panel=panel, show_default=False, **kw)


def _panel(name: str) -> str:
    for panel, names in PANELS.items():
        if name in names:
            return panel
    return OUT


def _base(annotation: Any) -> Any:
    """``int`` for ``int | None``; ``str`` for a Literal of strings; the type otherwise."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
    if typing.get_origin(annotation) is Literal:
        return str
    return annotation


def _choices(annotation: Any) -> list[str] | None:
    for a in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(a) is Literal:
            return [str(x) for x in typing.get_args(a)]
    return None


def _default_text(field: Any) -> str | None:
    if field.is_required():
        return None
    if field.default_factory is not None:
        value = field.default_factory()
    else:
        value = field.default
    if value is None or value == [] or value == {}:
        return None
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


OptionRow = tuple[str, tuple[str, ...], str, str, Optional[str], str]
"""One ``train`` option: ``(field name, flags, kind, help, metavar, help panel)``; kind is ``bool``, ``int``,
``float``, ``str``, ``path`` or ``paths``."""

_KINDS: dict[str, Any] = {"bool": Optional[bool], "int": Optional[int], "float": Optional[float],
                          "str": Optional[str], "path": Optional[Path], "paths": Optional[list[Path]]}


def option_rows() -> list[OptionRow]:
    """The ``train`` options, from ``TrainConfig``'s fields, their types, defaults and docstrings (one row a
    field). Stored in :mod:`mosseval.cli._train_options` so that starting the CLI does not import the training
    config (about 0.1 s with its pydantic models); ``tests/cli`` checks that the stored rows are these."""
    from mosseval.train.config import TrainConfig

    rows: list[OptionRow] = []
    for name, field in TrainConfig.model_fields.items():
        flag = "--" + name.replace("_", "-")
        base = _base(field.annotation)
        help_text = " ".join((field.description or "").split())
        choices = _choices(field.annotation)
        if choices and not any(c in help_text for c in choices[:1]):
            help_text += f" ({' | '.join(choices)})"
        default = _default_text(field)
        if default is not None and name not in ("lr",):
            help_text += f" \\[default: {default}]"
        names = [flag, *([SHORT[name]] if name in SHORT else [])]
        metavar: str | None
        if base is bool:
            names, kind, metavar = [f"{flag}/--no-{flag[2:]}", *names[1:]], "bool", None
        elif name == "tasks_dir":
            kind, metavar = "paths", "DIR"
        elif name in ("data_dir", "cache_dir", "output_dir"):
            kind, metavar = "path", "DIR"
        elif base in (int, float):
            kind, metavar = base.__name__, ("N" if base is int else "X")
        else:  # strings, choices, comma-separated lists, k=v mappings
            numeric = ["N"] if int in typing.get_args(base) else []  # num_threads: N or auto
            kind = "str"
            metavar = ("K=V,..." if name in KEY_VALUE else "A,B,..." if typing.get_origin(base) is list
                       else "|".join(numeric + choices) if choices else "TEXT")
        rows.append((name, tuple(names), kind, help_text, metavar, _panel(name)))
    return rows


def options_module(rows: list[OptionRow]) -> str:
    """The text of :mod:`mosseval.cli._train_options` for these rows."""
    body = "".join(f"    {row!r},\n" for row in rows)
    return ('"""The options of ``mosseval train``: generated from ``TrainConfig`` by\n'
            "``python scripts/train_options.py``; do not edit (``tests/cli`` checks it is current).\n"
            '"""\n\nOPTIONS = [\n' + body + "]\n")


def train_options() -> list[inspect.Parameter]:
    """One keyword parameter per ``TrainConfig`` field, typed and documented from the field (the stored
    :func:`option_rows`)."""
    from mosseval.cli._train_options import OPTIONS

    params = []
    for name, names, kind, help_text, metavar, panel in OPTIONS:
        option = _opt(*names, help=help_text, panel=panel, **({"metavar": metavar} if metavar else {}))
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                        annotation=Annotated[_KINDS[kind], option]))
    return params


def _overrides(values: dict[str, Any]) -> dict[str, Any]:
    """Command-line values to config overrides (None: not given)."""
    from mosseval.models.registry import parse_model_args

    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        if name in KEY_VALUE:
            value = parse_model_args(value)
        elif isinstance(value, Path):
            value = str(value)
        elif isinstance(value, list):
            value = [str(v) for v in value]
        out[name] = value
    return out


def train_command(
    config: Annotated[Optional[Path], _opt("--config", "-c", metavar="FILE", help="YAML file with any of these "
                                           "settings (keys as the options, e.g. num_generations: 8; see "
                                           "docs/howto/training.md); options given here override it.",
                                           panel=OUT)] = None,
    export: Annotated[Optional[tuple[str, Path]], _opt("--export", metavar="KIND DIR", help="`--export verl DIR`: "
                                                       "write the data as verl parquet + a reward module, then "
                                                       "exit (no training).", panel=OUT)] = None,
    **options: Any,
) -> int:
    """Train a video MLLM: GRPO with accuracy + format + PRR rewards, or SFT on the reference traces
    (--method sft, the cold start). The video reaches every forward pass.

    Runs as is on one device, and under `torchrun` / `accelerate launch` (DDP, FSDP, DeepSpeed).
    Checkpoints are Hugging Face folders: `mosseval run --model OUTPUT_DIR/checkpoint-N` evaluates them
    and `mosseval train --model OUTPUT_DIR/checkpoint-N` continues from them. Training never reads a
    test item or a test video (checked, and recorded with every checkpoint).
    """
    from mosseval.cli import console, out
    from mosseval.train.config import load_config

    cfg = load_config(config, _overrides(options))
    if export is not None:
        kind, target = export
        from mosseval.errors import UsageError

        if kind.lower() != "verl":
            raise UsageError(f"--export {kind!r} is not supported", hint="use --export verl DIR")
        from mosseval.train.export_verl import export_verl

        res = export_verl(cfg, target)
        console.print(f"wrote {res.n_rows} rows to {res.parquet}; reward module {res.reward_module}; "
                      f"launch command in {res.command_file}", highlight=False)
        out.print(str(res.out_dir))
        return 0

    from mosseval.runner import distributed_env
    from mosseval.train import train

    if distributed_env()[0] > 0:
        cfg = cfg.model_copy(update={"quiet": True})
    result = train(cfg, console=console)
    if result.summary:
        s = result.summary
        t = s.get("step_time_median_s")
        console.print(f"trained {s['steps_this_run']} {s['method']} step(s) (to step {s['steps']}) on "
                      f"{s['world_size']} process(es){f', {t:.2f} s/step (median)' if t else ''}; last checkpoint "
                      f"{s['last_checkpoint']}; report {result.output_dir / 'report.html'}", highlight=False)
        out.print(str(s["last_checkpoint"] or result.output_dir))
    return 0


_sig = inspect.signature(train_command)
train_command.__signature__ = _sig.replace(  # type: ignore[attr-defined]
    parameters=[p for p in _sig.parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD] + train_options())


def repro_command(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Which reproduction: mini (MOSS-ChatV on moss-video-mini).")],
    output_dir: Annotated[Path, _opt("--output-dir", "-o", metavar="DIR", help="Folder for everything it writes "
                                     "(REPORT.md, repro.json, leaderboard.html, train/, runs/, logs/) "
                                     "\\[default: runs/repro-mini].", panel=OUT)] = Path("runs/repro-mini"),
    seeds: Annotated[str, _opt("--seeds", metavar="S,...", help="GRPO seeds (each trains both arms) "
                               "\\[default: 0,1,2].", panel=OPTIM)] = "0,1,2",
    jobs: Annotated[int, _opt("--jobs", "-j", metavar="N", min=1, help="Processes at once, one torch thread each "
                              "\\[default: 2].", panel=EXEC)] = 2,
    train_size: Annotated[Optional[int], _opt("--train-size", metavar="N", min=1, help="moss-video-mini train "
                                              "questions \\[default: the recipe's].", panel=DATA)] = None,
    coldstart_steps: Annotated[Optional[int], _opt("--coldstart-steps", metavar="N", min=1,
                                                   help="Steps of the cold start's first SFT stage (traces) "
                                                   "\\[default: the recipe's].", panel=OPTIM)] = None,
    answer_steps: Annotated[Optional[int], _opt("--answer-steps", metavar="N", min=1,
                                                help="Steps of the cold start's second SFT stage (answer tokens "
                                                "weighted) \\[default: the recipe's].", panel=OPTIM)] = None,
    grpo_steps: Annotated[Optional[int], _opt("--grpo-steps", metavar="N", min=1,
                                              help="GRPO steps per arm \\[default: the recipe's].", panel=OPTIM)] = None,
    limit: Annotated[Optional[int], _opt("--limit", "-n", metavar="N", min=1, help="Evaluate on the first N test "
                                         "items only (a smoke run; the report says so).", panel=DATA)] = None,
    all_controls: Annotated[bool, _opt("--all-controls", help="Evaluate the blind and shuffled controls for every "
                                       "seed's arms \\[default: the cold start and the first seed's arms].",
                                       panel=EXEC)] = False,
    cache_dir: CacheDirOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """Reproduce the MOSS-ChatV PRR ablation in miniature: SFT cold start, then GRPO with and without the PRR.

    (Not `mosseval reproduce`, which checks runs against models' published numbers.)

    Cold start (SFT, two stages: traces, then the answer weighted) on moss-video-mini's train split; two GRPO arms from it with equal budgets
    (accuracy + format vs accuracy + format + PRR) for every seed; every model evaluated with
    `mosseval run` on the test split and on blind / shuffled-frame controls; one leaderboard;
    `mosseval compare` verdicts between the arms; REPORT.md with the table, CIs and wall times.
    Re-running the same command resumes.
    """
    from mosseval.cli import console, out
    from mosseval.errors import UsageError
    from mosseval.train.repro import ReproOptions, run_repro

    if name != "mini":
        raise UsageError(f"unknown reproduction {name!r}", hint="available: mini")
    try:
        seed_list = [int(x) for x in seeds.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"--seeds {seeds!r} must be comma-separated integers", hint="e.g. --seeds 0,1,2") from None
    res = run_repro(ReproOptions(out=output_dir, seeds=seed_list, jobs=jobs, train_size=train_size,
                                 coldstart_steps=coldstart_steps, answer_steps=answer_steps, grpo_steps=grpo_steps,
                                 limit=limit,
                                 cache_dir=cache_dir, quiet=quiet, all_controls=all_controls), console)
    if not quiet:
        console.print(f"reproduction finished in {res.seconds / 60:.1f} min; report: {res.report}; "
                      f"leaderboard: {res.out / 'leaderboard.html'}", highlight=False)
    out.print(str(res.report))
    return 0


def register(app: typer.Typer) -> None:
    app.command("train", no_args_is_help=False)(train_command)
    app.command("repro", no_args_is_help=True)(repro_command)
