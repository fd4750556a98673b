"""The board as tables: a tidy long table and a wide one (pandas: CSV, Parquet) and a rich summary table
for terminals (``mosseval demo`` and ``mosseval leaderboard`` print it).

Tables keep the stored scale (fractions in [0, 1]) so they stay machine-readable; the rich table is for
people and shows percentages (``mosseval.units``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mosseval.errors import MissingDependencyError, OutputError
from mosseval.fileio import os_reason
from mosseval.leaderboard.records import Board, Cell, Column
from mosseval.records import Estimate


def _flat(prefix: str, e: Estimate | None) -> dict[str, Any]:
    return {prefix: e.value if e else None, f"{prefix}_ci_low": e.ci_low if e else None,
            f"{prefix}_ci_high": e.ci_high if e else None}


def board_long_table(board: Board):
    """Tidy pandas table: one row per (run, column) incl. the overall column (rates as fractions)."""
    import pandas as pd

    cols = {c.id: c for c in board.columns}
    rows = []
    for r in board.runs:
        cells: list[tuple[str, Cell]] = list(r.cells.items())
        if r.overall is not None:
            cells.append(("overall", r.overall))
        for cid, cell in cells:
            col: Column | None = cols.get(cid)
            tie = cell.tie.get("accuracy")
            jp = cell.judge_primary
            rows.append({
                "run_id": r.run_id, "model": r.display_name, "backend": r.backend, "origin": r.origin,
                "checkpoint": r.checkpoint, "params": r.params, "date": r.date, "git_revision": r.git_revision,
                "identity_hash": r.identity_hash,
                "column": cid, "task": col.task if col else "overall", "label": col.label if col else "Overall",
                "kind": col.kind if col else "overall", "version": col.version if col else None,
                "protocol": col.protocol if col else None, "frames": col.frames_label if col else None,
                "external": col.external if col else False, "split": col.split if col else False,
                "chance": col.chance if col else None, "n": cell.n,
                **_flat("accuracy", cell.accuracy), **_flat("prr", cell.prr),
                "prr_correct": cell.prr_correct.value if cell.prr_correct else None,
                "prr_incorrect": cell.prr_incorrect.value if cell.prr_incorrect else None,
                "format_rate": cell.format_rate, "parse_failure_rate": cell.parse_failure_rate,
                "error_rate": cell.error_rate,
                "judge": jp.rubric if jp else None, "judge_kind": jp.kind if jp else None,
                "judge_value": jp.value.value if jp else None,
                "approximate": cell.approximate,
                "leader": bool(tie and tie.leader), "tied_with_leader": tie.tied if tie else None,
                "tie_test": tie.test if tie else None, "tie_p_value": tie.p_value if tie else None,
            })
    return pd.DataFrame(rows)


def board_wide_table(board: Board):
    """One row per run; per column ``<label> accuracy``, ``… accuracy_ci_low`` … (rates as fractions)."""
    import pandas as pd

    long = board_long_table(board)
    if long.empty:
        return pd.DataFrame()
    meta_cols = ["run_id", "model", "backend", "origin", "checkpoint", "params", "date", "git_revision"]
    meta = long[meta_cols].drop_duplicates("run_id").set_index("run_id")
    values = ["accuracy", "accuracy_ci_low", "accuracy_ci_high", "prr", "prr_ci_low", "prr_ci_high",
              "format_rate", "parse_failure_rate", "judge_value", "tied_with_leader", "n"]
    wide = long.pivot(index="run_id", columns="label", values=values)
    order = ["Overall"] + [c.label for c in board.columns if c.label in set(long["label"])]
    wide = wide.reindex(columns=pd.MultiIndex.from_product([values, order]))
    wide = wide.dropna(axis=1, how="all")
    wide.columns = [f"{label} {metric}" for metric, label in wide.columns]
    ordered = sorted(wide.columns, key=lambda c: (order.index(c.rsplit(" ", 1)[0]), values.index(c.rsplit(" ", 1)[1])))
    out = meta.join(wide[ordered])
    return out.reindex([r.run_id for r in board.runs]).reset_index()


def export_csv(board: Board, path: str | os.PathLike) -> Path:
    """Wide CSV (one row per run) for spreadsheets."""
    return _write_table(board_wide_table(board), Path(path), "csv")


def export_parquet(board: Board, path: str | os.PathLike) -> Path:
    """Tidy Parquet table (one row per run × column) for analysis; needs pyarrow."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise MissingDependencyError("--parquet needs pyarrow", hint="pip install 'mosseval[parquet]'") from None
    return _write_table(board_long_table(board), Path(path), "parquet")


def _write_table(table: Any, path: Path, fmt: str) -> Path:
    """Write a pandas table as CSV or Parquet; an unwritable path is an OutputError (exit 4)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        getattr(table, f"to_{fmt}")(path, index=False)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {os_reason(exc, path)}", hint=f"choose a writable --{fmt} path") from None
    return path


# --------------------------------------------------------------------------- terminal


def fmt_params(n: int | None) -> str:
    """7_615_616_512 -> '7.6B'; 156_000 -> '156k'."""
    if n is None:
        return "–"
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.{0 if n >= 10 * div else 1}f}{unit}"
    return str(n)


def _marked(cell: Cell | None, metric: str, with_ci: bool) -> str:
    from mosseval.units import pct, pct_ci

    e = getattr(cell, metric) if cell is not None else None
    if e is None or e.value is None:
        return "–"
    text = pct_ci(e) if with_ci else pct(e.value)
    tie = cell.tie.get(metric) if cell is not None else None
    if tie is not None and tie.leader:
        text += " ★"
    elif tie is not None and tie.tied:
        text += " ≈"
    return text


def board_summary_table(board: Board, *, max_columns: int = 6):
    """A rich table of the board for terminals: one row per run, best overall accuracy first; accuracy
    in % with its 95 % CI overall, per top-level column, and PRR (0-100) where the board has it.
    ★ marks the leader of a column, ≈ a run statistically tied with it."""
    from rich.table import Table

    top = [c for c in board.columns if c.top_level][:max_columns]
    has_prr = any(r.overall is not None and r.overall.prr is not None for r in board.runs)
    table = Table(title=board.title, title_justify="left", caption_justify="left",
                  caption="accuracy and PRR in % (0-100), 95% CI in brackets; ★ column leader, ≈ statistically "
                          f"tied with it (α = {board.settings.alpha:g})")
    show_ckpt = any(r.checkpoint and r.checkpoint != r.name for r in board.runs)
    show_params = any(r.params is not None for r in board.runs)
    table.add_column("model", no_wrap=True)
    if show_ckpt:
        table.add_column("checkpoint", overflow="fold", min_width=12)
    if show_params:
        table.add_column("params", justify="right", no_wrap=True)
    table.add_column("overall acc %", justify="right", no_wrap=True)
    if has_prr:
        table.add_column("overall PRR", justify="right", no_wrap=True)
    for c in top:
        table.add_column(c.label + (" ~" if c.approximate else ""), justify="right", no_wrap=True)

    def key(r: Any) -> tuple:
        acc = r.overall.accuracy.value if r.overall is not None and r.overall.accuracy is not None else -1.0
        return (-acc, r.order)

    for r in sorted(board.runs, key=key):
        row = [r.display_name]
        if show_ckpt:
            row.append(r.checkpoint if r.checkpoint and r.checkpoint != r.name else "")
        if show_params:
            row.append(fmt_params(r.params))
        row.append(_marked(r.overall, "accuracy", True))
        if has_prr:
            row.append(_marked(r.overall, "prr", True))
        row += [_marked(r.cells.get(c.id), "accuracy", False) for c in top]
        table.add_row(*row)
    return table


__all__ = ["board_long_table", "board_wide_table", "export_csv", "export_parquet", "board_summary_table",
           "fmt_params"]
