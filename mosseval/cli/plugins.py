"""Command plugins: every sub-command module outside ``cli/__init__.py`` comes through one registry.

Each entry is a ``register(app)`` hook (``meta["parent"] == "data"``: it gets the ``data`` sub-app).
Built-in hooks are declared here by module and imported when the CLI starts; third-party packages add
commands through the ``mosseval.commands`` entry-point group (``name = package.cli:register``; the
hook receives the main Typer app). A third-party command whose dependencies are missing, or whose
module fails to import, still appears in ``--help`` and says exactly what is wrong when invoked
(exit 5 with the pip command, or exit 2 naming the broken package): it never breaks the other
commands and is never silently dropped.

Also here: ``mosseval plugins``, which lists every kind of provider (backends, loaders, extractors,
rubric folders, rewards, commands), where each comes from and whether it can load.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer

from mosseval.errors import MossevalError
from mosseval.registry import Registry

commands: Registry[Callable[[Any], None]] = Registry("commands", "mosseval.commands", "command plugin")
commands.declare("leaderboard", "mosseval.cli.leaderboard", attr="register",
                 description="leaderboard: aggregate runs into leaderboard.json and the HTML page")
commands.declare("compare", "mosseval.cli.compare", attr="register",
                 description="compare: paired non-inferiority gate between two runs")
commands.declare("judge", "mosseval.cli.judge", attr="register", description="judge: LLM judge over a run")
commands.declare("train", "mosseval.cli.train", attr="register", description="train: GRPO with the PRR reward")
commands.declare("data-benchmarks", "mosseval.cli.benchmarks", attr="register_data", parent="data",
                 description="data build/check commands for the benchmarks")
commands.declare("families", "mosseval.cli.families", attr="register",
                 description="plugins, reproduce, export-lmms: registry listing, published-number checks, "
                 "lmms-eval task export")


def load_commands(app: typer.Typer, data_app: typer.Typer) -> None:
    """Attach every command plugin to the CLI (built-ins first, then third-party ones)."""
    for name, entry in commands.entries().items():
        target = data_app if entry.meta.get("parent") == "data" else app
        if entry.builtin:
            commands.load(name)(target)  # a failing built-in is a bug: let it surface
            continue
        try:
            hook = commands.load(name)
            hook(target)
        except MossevalError as exc:
            _placeholder(target, name, exc)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not take the CLI down
            from mosseval.errors import PluginError

            _placeholder(target, name, PluginError(
                f"the {name!r} command from {entry.distribution} failed to register "
                f"({type(exc).__name__}: {exc})", hint=f"fix or uninstall {entry.distribution}"))


def _placeholder(app: typer.Typer, name: str, error: MossevalError) -> None:
    """A command that exists (so it is listed and never mistaken for a typo) and explains the problem."""

    @app.command(name, help=f"(unavailable) {error.message}",
                 context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    def _unavailable(ctx: typer.Context) -> None:
        raise error


def plugins_command(
    kind: Annotated[Optional[str], typer.Argument(
        help="Only this kind: backends, loaders, extractors, rubrics, rewards or commands.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (kind -> entries).")] = False,
) -> int:
    """List every provider mosseval can load (built-in and third-party) and whether it is installed."""
    from rich.markup import escape
    from rich.table import Table

    from mosseval.cli import out
    from mosseval.errors import UsageError, did_you_mean
    from mosseval.registry import KINDS, all_registries

    if kind is not None and kind not in KINDS:
        hint = did_you_mean(kind, KINDS)
        raise UsageError(f"unknown plugin kind {kind!r}" + (f"; {hint}" if hint else ""),
                         hint="kinds: " + ", ".join(KINDS))
    regs = {k: reg for k, reg in all_registries().items() if kind is None or k == kind}
    if as_json:
        import json

        def row(reg: Registry[Any], entry: Any, status: str) -> dict[str, Any]:
            return {"name": entry.name, "distribution": entry.distribution, "module": entry.module,
                    "status": status, "install": entry.install_command() if entry.missing() else None,
                    "description": entry.description}

        data = {k: {"group": reg.group,
                    "entries": [row(reg, e, _status(reg, n)) for n, e in reg.entries().items()]
                    + [row(reg, e, "shadowed") for e in reg.shadowed()]}
                for k, reg in regs.items()}
        print(json.dumps(data, indent=2))
        return 0
    for k, reg in regs.items():
        table = Table(title=f"{k} (entry-point group {reg.group})", title_justify="left")
        for col in ("name", "provided by", "status", "description"):
            table.add_column(col, overflow="fold")
        for name, entry in reg.entries().items():
            table.add_row(*map(escape, (name, entry.provider, _status(reg, name), entry.description)))
        for entry in reg.shadowed():
            table.add_row(*map(escape, (entry.name, entry.provider, "shadowed (name already taken)",
                                        entry.description)))
        if not reg.names():
            table.add_row("(none installed)", "", "", f"packages add {k} through {reg.group}")
        out.print(table)
    return 0


def _status(reg: Registry[Any], name: str) -> str:
    missing = reg.missing(name)
    if missing:
        return f"missing {', '.join(missing)}: {reg.entry(name).install_command()}"
    return "loaded" if reg.is_loaded(name) else "available"
