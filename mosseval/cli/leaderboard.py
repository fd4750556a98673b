"""``mosseval leaderboard RUN_DIR_OR_GLOB...``: canonical leaderboard.json + one self-contained HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mosseval.cli.options import DataDirOpt, QuietOpt

INPUT = "Input"
OUTPUT = "Output"
PAGE = "Page"


def register(app: typer.Typer) -> None:
    @app.command("leaderboard")
    def leaderboard(
        runs: Annotated[Optional[list[str]], typer.Argument(
            metavar="RUN_DIR_OR_GLOB...",
            help="Run directories, folders of runs, or glob patterns (quote them: 'runs/*').",
            show_default=False)] = None,
        output: Annotated[Path, typer.Option("--output", "-o", metavar="FILE", help="HTML page to write.",
                                             rich_help_panel=OUTPUT)] = Path("reports/leaderboard.html"),
        json_out: Annotated[Optional[Path], typer.Option("--json", metavar="FILE", help="Canonical leaderboard JSON "
                                                         "(default: next to the HTML, .json).",
                                                         rich_help_panel=OUTPUT)] = None,
        csv_out: Annotated[Optional[Path], typer.Option("--csv", metavar="FILE", help="Also write a wide CSV table "
                                                        "(one row per run).", rich_help_panel=OUTPUT)] = None,
        parquet_out: Annotated[Optional[Path], typer.Option("--parquet", metavar="FILE", help="Also write a tidy Parquet table "
                                                            "(one row per run x column; needs pyarrow).",
                                                            rich_help_panel=OUTPUT)] = None,
        lmms: Annotated[Optional[list[Path]], typer.Option("--lmms", metavar="PATH", help="lmms-eval *_results.json file or "
                                                           "output folder to import (repeatable).",
                                                           rich_help_panel=INPUT)] = None,
        samples_per_run: Annotated[int, typer.Option("--samples-per-run", min=0, metavar="N",
                                                     help="Per-sample records embedded per run for the sample "
                                                     "browser (bounds the page size; 0 = none).",
                                                     rich_help_panel=PAGE)] = 100,
        thumbnails: Annotated[bool, typer.Option("--thumbnails", help="Embed small JPEGs of the frames the "
                                                 "model saw, per embedded sample (needs the videos: --data-dir "
                                                 "or the task's usual data location).",
                                                 rich_help_panel=PAGE)] = False,
        data_dir: DataDirOpt = None,
        title: Annotated[Optional[str], typer.Option("--title", metavar="TEXT", help="Page title.",
                                                     rich_help_panel=PAGE)] = None,
        quiet: QuietOpt = False,
    ) -> int:
        """Aggregate runs into leaderboard.json and render one self-contained HTML leaderboard.

        Runs are merged into one column only when comparable (same task settings, seed and metric version: the rule `compare` applies); others get separate columns. lmms-eval results (--lmms) get their own "external" columns. Rates are shown in % (0-100). The page works offline from file://.
        """
        from rich.console import Console

        from mosseval.errors import UsageError
        from mosseval.leaderboard import (
            board_summary_table,
            build_leaderboard,
            export_csv,
            export_parquet,
            render_html,
            write_leaderboard_json,
        )

        console = Console(stderr=True, soft_wrap=True, quiet=quiet)
        out = Console(soft_wrap=True)
        if not runs and not lmms:
            raise UsageError("no runs given", hint="e.g. `mosseval leaderboard 'runs/*' -o reports/leaderboard.html`")
        if thumbnails is False and data_dir is not None:
            console.print("[dim]note: --data-dir only matters with --thumbnails[/]")
        if output.exists() and output.is_dir():
            from mosseval.errors import OutputError

            raise OutputError(f"{output} is a directory", hint="-o takes the HTML file to write")
        board = build_leaderboard(list(runs or []), lmms=[str(p) for p in (lmms or [])],
                                  samples_per_run=samples_per_run, title=title, thumbnails=thumbnails,
                                  data_dir=data_dir)
        json_path = json_out or output.with_suffix(".json")
        written = [write_leaderboard_json(board, json_path)]
        written.append(render_html(board, output, samples_per_run))
        if csv_out:
            written.append(export_csv(board, csv_out))
        if parquet_out:
            written.append(export_parquet(board, parquet_out))
        n_cols = sum(1 for c in board.columns if c.top_level)
        console.print(board_summary_table(board))
        console.print(f"[bold]{len(board.runs)}[/] run(s), [bold]{n_cols}[/] task column(s)"
                      + (f", overall over {len(board.overall.columns)}" if board.overall.columns else ""))
        for w in board.warnings:
            console.print(f"[yellow]warning:[/] {w}", highlight=False)
        for p in written:
            out.print(str(p), highlight=False)
        return 0
