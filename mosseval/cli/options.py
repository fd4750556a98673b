"""Options shared by several ``mosseval`` commands, declared once (``Annotated`` aliases).

Every command imports its shared options from here, so a shared option has one name, one short
form, one help text and one help panel everywhere. Values shown in help use plain metavars
(``DIR``, ``N``, ``MODEL``), never Python type names; ``Command`` / ``Group`` give every option
without a metavar a plain one (``INTEGER``, ``PATH``, ``TEXT``; flags show none).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
import typer.core

# Help panels, in the order a user reads them.
MODEL = "Model"
DATA = "Data"
VIDEO = "Video"
SCORING = "Scoring"
EXEC = "Execution"
OUTPUT = "Output"

CONTEXT = {"help_option_names": ["-h", "--help"]}
"""Context settings of every command: ``-h`` is ``--help``."""


# ----------------------------------------------------------------------------- help rendering


def _plain_type(param: Any, ctx: Any) -> str | None:
    """What the help shows in the type column: the metavar, or a plain type name; flags show none."""
    if getattr(param, "is_flag", False) or getattr(param, "is_bool_flag", False):
        return None
    if getattr(param, "param_type_name", "") == "argument":  # its name column already shows the metavar
        return None
    if getattr(param, "metavar", None):
        return str(param.metavar)
    t = getattr(param, "type", None)
    types = getattr(t, "types", None)
    if types:  # click: a tuple option such as --export KIND DIR
        return " ".join(_PLAIN.get(str(getattr(x, "name", "")).lower(), "VALUE") for x in types)
    if t is not None and getattr(t, "name", None):  # click
        return _PLAIN.get(str(t.name).lower(), str(t.name).upper())
    display = getattr(param, "display_type", None)  # typer >= 0.2x: "<int>", "<list[Path]>", "<str,Path>"
    label = str(display(ctx)) if callable(display) else ""
    label = label.strip("<>")
    if label.startswith("list[") and label.endswith("]"):
        label = label[5:-1]
    if "|" in label:  # choices: show them
        return label
    return " ".join(_PLAIN.get(x.strip().lower(), "VALUE") for x in label.split(",") if x.strip()) or "VALUE"


_PLAIN = {"int": "INTEGER", "integer": "INTEGER", "float": "FLOAT", "str": "TEXT", "text": "TEXT",
          "path": "PATH", "file": "PATH", "filename": "PATH", "directory": "DIR", "bool": "BOOLEAN",
          "boolean": "BOOLEAN", "datetime": "DATETIME"}


def _plain_help(params: list[Any]) -> list[Any]:
    for p in params:
        if hasattr(p, "display_type_rich"):  # typer >= 0.2x shows Python types (<list[Path]>) otherwise
            p.display_type_rich = (lambda ctx, _p=p: _plain_type(_p, ctx))
    return params


def reflow(text: str | None) -> str | None:
    """A docstring's paragraphs as single lines (the help renderer wraps them to the terminal):
    with rich markup typer keeps every source line break, so a paragraph wrapped at 110 columns in
    the code came out broken mid-sentence on an 80-column terminal. Paragraphs starting with
    ``\\b`` keep their lines."""
    if not text:
        return text
    paras = text.split("\n\n")
    return "\n\n".join(p if p.lstrip().startswith("\b") else " ".join(p.split()) for p in paras)


class Command(typer.core.TyperCommand):
    """A command whose help shows plain metavars and reflowed paragraphs."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.help = reflow(self.help)

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_help(super().get_params(ctx))


class Group(typer.core.TyperGroup):
    """A command group whose help shows plain metavars and reflowed paragraphs and lists commands in
    definition order."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.help = reflow(self.help)

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_help(super().get_params(ctx))

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)


class App(typer.Typer):
    """``typer.Typer`` whose commands (also those other modules register on it) and groups use
    ``Command`` / ``Group`` and accept ``-h``."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("cls", Group)
        kwargs.setdefault("context_settings", CONTEXT)
        kwargs.setdefault("add_completion", False)
        kwargs.setdefault("pretty_exceptions_enable", False)
        kwargs.setdefault("rich_markup_mode", "rich")
        super().__init__(**kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", Command)
        kwargs.setdefault("context_settings", CONTEXT)
        return super().command(*args, **kwargs)


# ----------------------------------------------------------------------------- shared options

ModelOpt = Annotated[str, typer.Option(
    "--model", "-m", metavar="MODEL", rich_help_panel=MODEL,
    help="Preset (`mosseval models`), local checkpoint dir, Hub id, or PREFIX:NAME (openai:, hf:, lmms:, vllm:).")]
ModelArgsOpt = Annotated[Optional[str], typer.Option(
    "--model-args", "-M", metavar="K=V,...", rich_help_panel=MODEL,
    help="Backend arguments, e.g. dtype=bfloat16,device=cuda,base_url=http://localhost:8000/v1. "
         "Secrets (api_key=...) are never written anywhere.")]
TasksOpt = Annotated[str, typer.Option(
    "--tasks", "-t", metavar="TASK,...", rich_help_panel=DATA,
    help="Comma-separated tasks or groups (`mosseval tasks`).")]
LimitOpt = Annotated[Optional[int], typer.Option(
    "--limit", "-n", metavar="N", rich_help_panel=DATA, help="Only the first N samples of each task.")]
DataDirOpt = Annotated[Optional[Path], typer.Option(
    "--data-dir", metavar="DIR", rich_help_panel=DATA,
    help="Dataset root (else the task's environment variable, $MOSSEVAL_DATA_DIR, the Hugging Face cache). "
         "Media may not leave it (symbolic links included).")]
CacheDirOpt = Annotated[Optional[Path], typer.Option(
    "--cache-dir", metavar="DIR", rich_help_panel=DATA,
    help="Where generated data and built models live (else $MOSSEVAL_CACHE_DIR, ~/.cache/mosseval).")]
TasksDirOpt = Annotated[Optional[list[Path]], typer.Option(
    "--tasks-dir", metavar="DIR", rich_help_panel=DATA,
    help="Extra folder of task YAML files (repeatable; also $MOSSEVAL_TASKS_DIR).")]
SeedOpt = Annotated[int, typer.Option(
    "--seed", metavar="N", rich_help_panel=EXEC, help="Seed for sampling, the random baseline and synthetic data.")]
FramesOpt = Annotated[Optional[int], typer.Option(
    "--frames", "-f", metavar="N", rich_help_panel=VIDEO,
    help="Frames per video, overriding the tasks' setting (1-1024).")]
MaxPixelsOpt = Annotated[Optional[int], typer.Option(
    "--max-pixels", metavar="N", rich_help_panel=VIDEO,
    help="Per-frame pixel budget (H*W), overriding the tasks' setting (64-67108864; default cap 3840x2160).")]
OutDirOpt = Annotated[Path, typer.Option(
    "--output-dir", "-o", metavar="DIR", rich_help_panel=OUTPUT, help="Parent folder of run directories.")]
QuietOpt = Annotated[bool, typer.Option(
    "--quiet", "-q", rich_help_panel=OUTPUT, help="No progress output (results and errors are still printed).")]
WaitOpt = Annotated[bool, typer.Option(
    "--wait", rich_help_panel=EXEC,
    help="If another mosseval process is writing the run directory, wait for it instead of exiting with 2.")]
JsonOutOpt = Annotated[Optional[Path], typer.Option(
    "--json", metavar="FILE", rich_help_panel=OUTPUT, help="Also write the result as JSON to FILE.")]
RunDirArg = Annotated[Path, typer.Argument(
    metavar="RUN_DIR", help="A run directory (created by `mosseval run`).", show_default=False)]


__all__ = [
    "App", "CONTEXT", "Command", "Group", "reflow", "MODEL", "DATA", "VIDEO", "SCORING", "EXEC", "OUTPUT",
    "ModelOpt", "ModelArgsOpt", "TasksOpt", "LimitOpt", "DataDirOpt", "CacheDirOpt", "TasksDirOpt", "SeedOpt",
    "FramesOpt", "MaxPixelsOpt", "OutDirOpt", "QuietOpt", "WaitOpt", "JsonOutOpt", "RunDirArg",
]
