"""Commands of the model-families area: ``plugins`` (the registry listing), ``families`` (supported
video families and their recipes), ``reproduce`` (published-number checks) and ``export-lmms``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from mosseval.cli.options import CacheDirOpt, DataDirOpt, LimitOpt, SeedOpt, TasksDirOpt


def register(app: typer.Typer) -> None:
    from mosseval.cli.plugins import plugins_command

    app.command("plugins")(plugins_command)
    app.command("families")(families_command)
    app.command("reproduce")(reproduce_command)
    app.command("export-lmms")(export_lmms_command)


def families_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> int:
    """List the video model families mosseval drives through transformers, with each one's video recipe."""
    from rich.markup import escape
    from rich.table import Table

    from mosseval.cli import out
    from mosseval.models.families import FAMILIES
    from mosseval.recipes import RECIPES

    rows = []
    for fam in FAMILIES.values():
        recipe = RECIPES.get(fam.recipe) if fam.recipe else None
        rows.append({"family": fam.name, "name": fam.display, "model_types": list(fam.model_types),
                     "frames_as": fam.frames_as, "auto_class": fam.auto_class,
                     "requires": [pip for _, pip in fam.requires],
                     "recipe": fam.recipe, "recipe_label": fam.recipe_label, "recipe_description": recipe.description if recipe else None,
                     "recipe_source": recipe.source if recipe else None, "notes": fam.notes})
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title="video model families (mosseval run --frames-from model uses the recipe)",
                  title_justify="left")
    for col in ("family", "model type", "frames as", "recipe", "notes"):
        table.add_column(col, overflow="fold")
    for r in rows:
        recipe = f"{r['recipe']}: {r['recipe_description']}" if r["recipe"] else r["recipe_label"]
        notes = "; ".join(x for x in [r["notes"], ("needs " + ", ".join(r["requires"])) if r["requires"] else ""]
                          if x)
        table.add_row(*map(escape, (r["name"], ", ".join(r["model_types"]), r["frames_as"], recipe, notes)))
    out.print(table)
    return 0


def reproduce_command(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories (`mosseval run` outputs).")],
    manifest: Annotated[Optional[Path], typer.Option(
        help="A published-number manifest (default: the one shipped with mosseval).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdicts as JSON.")] = False,
) -> int:
    """Check runs against the published numbers of the models they evaluated (within CI + tolerance)."""
    from rich.markup import escape

    from mosseval.cli import console, out
    from mosseval.judge import official_accuracies
    from mosseval.published import check_run, load_manifest
    from mosseval.rundir import load_run

    man = load_manifest(manifest)
    results = []
    for run_dir in run_dirs:
        run = load_run(run_dir)
        log = run.log
        verdicts = check_run(log, man, official_accuracies(run_dir, log, run.records))
        results.append({"run": str(run_dir), "model": log.spec.model,
                        "verdicts": [v.model_dump(mode="json") for v in verdicts]})
        if as_json:
            continue
        if not verdicts:
            console.print(f"{escape(str(run_dir))}: no published number for {escape(log.spec.model)} on "
                          f"{escape(', '.join(list(log.results) + list(log.groups)))} in manifest {man.version}",
                          highlight=False)
        for v in verdicts:
            out.print(f"{escape(str(run_dir))}  {escape(v.score.preset)} {escape(v.score.task)}: "
                      f"{escape(v.line)}  [{escape(v.score.source)}]", highlight=False)
    if as_json:
        print(json.dumps({"manifest": man.version, "runs": results}, indent=2))
    return 0


def export_lmms_command(
    tasks: Annotated[str, typer.Argument(metavar="TASK,...", show_default=False,
                                         help="Comma-separated tasks or groups (`mosseval tasks`).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", show_default=False,
                                          help="Folder to write the lmms-eval tasks into.")],
    data_dir: DataDirOpt = None,
    cache_dir: CacheDirOpt = None,
    tasks_dir: TasksDirOpt = None,
    limit: LimitOpt = None,
    seed: SeedOpt = 0,
) -> int:
    """Write tasks as an lmms-eval task folder (YAML + utils.py); scores include mosseval's PRR."""
    from mosseval.cli import out
    from mosseval.export_lmms import export_lmms

    names = export_lmms([t for t in tasks.split(",") if t.strip()], out_dir, data_dir=data_dir,
                        cache_dir=cache_dir, tasks_dirs=[str(p) for p in tasks_dir or []], limit=limit, seed=seed)
    out.print(f"wrote {len(names)} lmms-eval task(s) to {out_dir}: {', '.join(names)}", highlight=False)
    out.print(f"run them with: python -m lmms_eval --include_path {out_dir} --tasks {names[-1]} --model ...",
              highlight=False)
    return 0
