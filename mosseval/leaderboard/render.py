"""Render a leaderboard dict into ONE self-contained HTML file (and export its tables).

The page is a jinja2 template from the packaged ``reports/`` folder with the CSS, the JavaScript and
the board data inlined: no CDN, no external font or image, opens from ``file://`` offline. A
Content-Security-Policy allows only the inlined script and style (by hash) and ``data:`` images, so
even a hypothetical injection could neither run script nor load anything from the network.

Untrusted text (model names, questions, model output) travels only inside a
``<script type="application/json">`` block in which ``<``, ``>``, ``&`` and U+2028/2029 are written
as ``\\uXXXX`` escapes, so ``</script>`` or ``<!--`` in a generation cannot end the block; the page's
script puts every string into the DOM with ``textContent``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

from mosseval.errors import MissingDependencyError, OutputError
from mosseval.fileio import atomic_write_text

TEMPLATE = "leaderboard.html.j2"
THUMBS_PER_ITEM = 4
THUMB_MAX_PIXELS = 160 * 96


def json_for_html(data: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">`` (no ``<``, ``>``, ``&`` literals)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _csp_hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def _read_asset(name: str) -> str:
    from mosseval.paths import resource_dir

    text = (resource_dir("reports") / name).read_text(encoding="utf-8")
    low = text.lower()
    if "</script" in low or "</style" in low or "<!--" in low:
        raise ValueError(f"reports/{name} must not contain </script, </style or <!--")
    return text


def page_data(board: dict[str, Any], samples_per_run: int) -> dict[str, Any]:
    """The part of the board the page needs, with at most ``samples_per_run`` samples per run."""
    data = {k: v for k, v in board.items() if k != "samples"}
    data["runs"] = [{k: v for k, v in r.items() if k not in ("packages",)} for r in board.get("runs", [])]
    samples = board.get("samples") or {}
    runs_s = {rid: list(lst)[: max(0, samples_per_run)] for rid, lst in (samples.get("runs") or {}).items()}
    used = {s["item"] for lst in runs_s.values() for s in lst}
    items = {k: v for k, v in (samples.get("items") or {}).items() if k in used}
    data["samples"] = {"runs": runs_s, "items": items}
    return data


def add_thumbnails(data: dict[str, Any], board: dict[str, Any], data_dir: str | os.PathLike | None,
                   per_item: int = THUMBS_PER_ITEM) -> list[str]:
    """Decode a few small JPEG thumbnails per embedded item (evenly spaced over the clip).

    Needs ``mosseval.video.sample_frames`` and the task's data (``--data-dir``, the task's
    environment variable, or the generated moss-video-mini cache). Returns warnings for items whose
    video could not be read; those show frame indices / timestamps only.
    """
    try:
        from mosseval.video import sample_frames
    except ImportError as exc:  # pragma: no cover - the video module ships with mosseval
        return [f"thumbnails skipped: the video module is unavailable ({exc})"]
    from PIL import Image

    from mosseval.data.locate import resolve_data_root
    from mosseval.records import DataSpec, FrameSpec, TaskSpec, VideoRef

    task_data: dict[str, tuple[dict, int]] = {}
    for r in board.get("runs", []):
        for task, d in (r.get("task_data") or {}).items():
            task_data.setdefault(task, (d, int(r.get("seed") or 0)))
    roots: dict[str, Path | None] = {}
    warnings: list[str] = []
    spec = FrameSpec(strategy="uniform", num_frames=per_item, max_pixels=THUMB_MAX_PIXELS, use_bounds=True)
    for item in data["samples"]["items"].values():
        video = item.get("video")
        task = item.get("task")
        if not video or task not in task_data:
            continue
        if task not in roots:
            d, seed = task_data[task]
            try:
                ts = TaskSpec(name=task, version="0", data=DataSpec(**d))
                roots[task] = resolve_data_root(ts, data_dir, seed=seed, generate=False)
            except Exception as exc:  # noqa: BLE001 - reported, never fatal
                roots[task] = None
                warnings.append(f"thumbnails for {task}: data not found ({str(exc).splitlines()[0]})")
        root = roots[task]
        if root is None:
            continue
        try:
            ref = VideoRef(path=video["path"], kind=video.get("kind", "file"), start=video.get("start"),
                           end=video.get("end"), fps=video.get("fps"), first_index=video.get("first_index", 1))
            frames = sample_frames(ref, spec, root)
        except Exception as exc:  # noqa: BLE001 - a bad video only loses its thumbnails
            warnings.append(f"thumbnails for {task}/{item.get('id')}: {str(exc).splitlines()[0][:200]}")
            continue
        thumbs = []
        info = frames.info
        for k in range(len(frames.array)):
            img = Image.fromarray(frames.array[k])
            img.thumbnail((160, 96))
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=70)
            thumbs.append({
                "src": "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii"),
                "index": info.indices[k] if k < len(info.indices) else k,
                "t": info.timestamps[k] if k < len(info.timestamps) else None,
            })
        item["thumbnails"] = thumbs
    return warnings


def render_html(board: dict[str, Any], out: str | os.PathLike, samples_per_run: int = 100, *,
                data_dir: str | os.PathLike | None = None, thumbnails: bool = False) -> Path:
    """Write the self-contained leaderboard page to ``out`` and return its path.

    ``samples_per_run`` caps the per-sample records embedded per run (the board holds at most
    what ``build_leaderboard`` selected). ``thumbnails`` decodes a few small JPEG frames per embedded
    sample (needs the task data: ``data_dir`` or the task's usual locations).
    Raises ``OutputError`` when ``out`` cannot be written.
    """
    import jinja2
    from markupsafe import Markup

    from mosseval.paths import resource_dir

    data = page_data(board, samples_per_run)
    if thumbnails:
        extra = add_thumbnails(data, board, data_dir)
        if extra:
            shown = extra[:5] + ([f"… and {len(extra) - 5} more thumbnail problems"] if len(extra) > 5 else [])
            data["warnings"] = list(data.get("warnings", [])) + shown
    css = _read_asset("leaderboard.css")
    js = _read_asset("leaderboard.js")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(resource_dir("reports"))),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    html = env.get_template(TEMPLATE).render(
        title=board.get("title") or "mosseval leaderboard",
        version=board.get("mosseval_version") or "",
        schema_version=board.get("schema_version"),
        settings_overall=(board.get("settings") or {}).get("overall", ""),
        alpha=(board.get("settings") or {}).get("alpha", 0.05),
        samples_per_run=samples_per_run,
        css=Markup(css),
        js=Markup(js),
        style_hash=_csp_hash(css),
        script_hash=_csp_hash(js),
        data_json=Markup(json_for_html(data)),
    )
    return _write_text_atomic(Path(out), html)


def _write_text_atomic(path: Path, text: str) -> Path:
    return atomic_write_text(path, text, hint="choose a writable location with -o/--output")


# --------------------------------------------------------------------------- tables


def _flat_est(prefix: str, e: dict | None) -> dict[str, Any]:
    e = e or {}
    return {prefix: e.get("value"), f"{prefix}_ci_low": e.get("ci_low"), f"{prefix}_ci_high": e.get("ci_high")}


def board_long_table(board: dict[str, Any]):
    """Tidy pandas table: one row per (run, column) incl. the overall column."""
    import pandas as pd

    cols = {c["id"]: c for c in board.get("columns", [])}
    rows = []
    for r in board.get("runs", []):
        cells = list(r.get("cells", {}).items())
        if r.get("overall"):
            cells.append(("overall", r["overall"]))
        for cid, cell in cells:
            col = cols.get(cid, {})
            tie = (cell.get("tie") or {}).get("accuracy") or {}
            jp = cell.get("judge_primary") or {}
            rows.append({
                "run_id": r["run_id"], "model": r.get("display_name"), "backend": r.get("backend"),
                "origin": r.get("origin"), "checkpoint": r.get("checkpoint"), "params": r.get("params"),
                "date": r.get("date"), "git_revision": r.get("git_revision"),
                "column": cid, "task": col.get("task", "overall"), "label": col.get("label", "Overall"),
                "kind": col.get("kind", "overall"), "version": col.get("version"), "protocol": col.get("protocol"),
                "frames": col.get("frames_label"), "external": col.get("external", False),
                "split": col.get("split", False), "n": cell.get("n"),
                **_flat_est("accuracy", cell.get("accuracy")),
                **_flat_est("prr", cell.get("prr")),
                "prr_correct": (cell.get("prr_correct") or {}).get("value"),
                "prr_incorrect": (cell.get("prr_incorrect") or {}).get("value"),
                "format_rate": cell.get("format_rate"), "parse_failure_rate": cell.get("parse_failure_rate"),
                "error_rate": cell.get("error_rate"),
                "judge": jp.get("name"), "judge_metric": jp.get("metric"), "judge_value": jp.get("value"),
                "approximate": bool(cell.get("approximate")),
                "leader": bool(tie.get("leader")), "tied_with_leader": tie.get("tied"),
                "tie_test": tie.get("test"), "tie_p_value": tie.get("p_value"),
            })
    return pd.DataFrame(rows)


def board_wide_table(board: dict[str, Any]):
    """One row per run; per column ``<label> acc``, ``… acc_lo``, ``… acc_hi``, ``… prr``, rates, tie flag."""
    import pandas as pd

    long = board_long_table(board)
    if long.empty:
        return pd.DataFrame()
    meta_cols = ["run_id", "model", "backend", "origin", "checkpoint", "params", "date", "git_revision"]
    meta = long[meta_cols].drop_duplicates("run_id").set_index("run_id")
    values = ["accuracy", "accuracy_ci_low", "accuracy_ci_high", "prr", "prr_ci_low", "prr_ci_high",
              "format_rate", "parse_failure_rate", "judge_value", "tied_with_leader", "n"]
    wide = long.pivot(index="run_id", columns="label", values=values)
    order = ["Overall"] + [c["label"] for c in board.get("columns", []) if c["label"] in set(long["label"])]
    wide = wide.reindex(columns=pd.MultiIndex.from_product([values, order]))
    wide = wide.dropna(axis=1, how="all")
    wide.columns = [f"{label} {metric}" for metric, label in wide.columns]
    ordered = sorted(wide.columns, key=lambda c: (order.index(c.rsplit(" ", 1)[0]), values.index(c.rsplit(" ", 1)[1])))
    out = meta.join(wide[ordered])
    return out.reindex([r["run_id"] for r in board.get("runs", [])]).reset_index()


def export_csv(board: dict[str, Any], path: str | os.PathLike) -> Path:
    """Wide CSV (one row per run) for spreadsheets."""
    return _write_table(board_wide_table(board), Path(path), "csv")


def export_parquet(board: dict[str, Any], path: str | os.PathLike) -> Path:
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
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}", hint=f"choose a writable --{fmt} path") from None
    return path
