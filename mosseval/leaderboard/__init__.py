"""Leaderboard: runs in, one canonical ``leaderboard.json`` (a typed ``Board``) out, one self-contained
HTML page rendered from it.

    board = build_leaderboard(["runs/*"], lmms=["lmms_out/"], thumbnails=True)
    write_leaderboard_json(board, "reports/leaderboard.json")
    render_html(board, "reports/leaderboard.html")

Layout (one concern per module): ``records`` (the Board and its parts), ``sources`` (run discovery, the
one input path, stale-run detection), ``lmms`` (lmms-eval results adapted to run records), ``entries``
(one run's cells and per-sample outcome columns), ``columns`` (comparability columns), ``ties`` (leaders,
tie tests, overall), ``samples`` (the sample browser's selection and views), ``thumbnails`` (the frames the
model saw), ``build`` (the orchestration), ``render`` (HTML), ``tables`` (CSV / Parquet / terminal).
Importing this package is cheap: pandas / pyarrow / jinja2 / PyAV load only when used.
"""

from mosseval.leaderboard.build import build_leaderboard, write_leaderboard_json
from mosseval.leaderboard.records import LEADERBOARD_SCHEMA_VERSION, Board
from mosseval.leaderboard.render import json_for_html, render_html
from mosseval.leaderboard.sources import expand_run_paths
from mosseval.leaderboard.tables import (
    board_long_table,
    board_summary_table,
    board_wide_table,
    export_csv,
    export_parquet,
)

__all__ = [
    "LEADERBOARD_SCHEMA_VERSION",
    "Board",
    "build_leaderboard",
    "expand_run_paths",
    "write_leaderboard_json",
    "render_html",
    "json_for_html",
    "board_long_table",
    "board_wide_table",
    "board_summary_table",
    "export_csv",
    "export_parquet",
]
