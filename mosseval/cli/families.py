"""Commands of the model-families area: ``plugins`` (the registry listing)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from mosseval.cli.plugins import plugins_command

    app.command("plugins")(plugins_command)
