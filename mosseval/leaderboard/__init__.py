"""Leaderboard: aggregate runs into a canonical ``leaderboard.json``, render one self-contained HTML page.

    board = build_leaderboard(["runs/*"], lmms=["lmms_out/"])   # dict, schema_version 1
    write_leaderboard_json(board, "reports/leaderboard.json")
    render_html(board, Path("reports/leaderboard.html"), samples_per_run=100)

Importing this package is cheap: pandas / pyarrow / jinja2 load only when used.
"""

from mosseval.leaderboard.aggregate import (
    LEADERBOARD_SCHEMA_VERSION,
    build_leaderboard,
    expand_run_paths,
    mcnemar_exact,
    write_leaderboard_json,
)
from mosseval.leaderboard.render import (
    board_long_table,
    board_wide_table,
    export_csv,
    export_parquet,
    json_for_html,
    render_html,
)

__all__ = [
    "LEADERBOARD_SCHEMA_VERSION",
    "build_leaderboard",
    "expand_run_paths",
    "mcnemar_exact",
    "write_leaderboard_json",
    "render_html",
    "json_for_html",
    "board_long_table",
    "board_wide_table",
    "export_csv",
    "export_parquet",
]
