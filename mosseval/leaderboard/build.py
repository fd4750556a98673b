"""``build_leaderboard``: runs in, one canonical :class:`~mosseval.leaderboard.records.Board` out.

Runs are read one at a time (:mod:`~mosseval.leaderboard.sources`), digested into cells and compact
per-sample outcome columns (:mod:`~mosseval.leaderboard.entries`), their embedded samples picked and their
thumbnails decoded (:mod:`~mosseval.leaderboard.samples`, :mod:`~mosseval.leaderboard.thumbnails`); then
columns are formed by comparability (:mod:`~mosseval.leaderboard.columns`) and leaders, ties and the overall
column computed (:mod:`~mosseval.leaderboard.ties`). Write it with :func:`write_leaderboard_json`, render it
with :func:`mosseval.leaderboard.render.render_html`.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
from pydantic_core import to_json

from mosseval.clock import utc_now
from mosseval.errors import UsageError
from mosseval.fileio import atomic_writer
from mosseval.leaderboard.columns import build_columns
from mosseval.leaderboard.entries import ItemNumbering, Outcomes, RunDigest, digest_run
from mosseval.leaderboard.records import (
    Board,
    BoardSettings,
    Cell,
    ItemView,
    OverallInfo,
    PackedRecord,
    SampleSet,
    SampleView,
    TieTest,
)
from mosseval.leaderboard.samples import (
    item_id,
    item_id_of_data,
    item_view,
    sample_view,
    select_samples,
    views_of_struct,
)
from mosseval.leaderboard.sources import BoardInput, expand_run_paths, load_inputs
from mosseval.leaderboard.ties import (
    ALPHA,
    PAIRED_MIN_OVERLAP,
    TIE_TESTS,
    apply_ties,
    leader_of,
    overall_cell,
    overall_columns,
    overall_tie,
)
from mosseval.recorddata import record_struct_decoder
from mosseval.rundir import gc_paused

OVERALL = "unweighted mean of accuracy over the top-level columns that every mosseval run has"


def _dumps(data: Any) -> bytes:
    """Compact JSON of plain data, byte for byte what pydantic writes (orjson and pydantic-core format floats
    and escape strings alike: tested on every fixed-run view); orjson is ~3x faster. Copied into a bytes
    object of its own size: orjson's keeps its ~8 KB write buffer, 8x a packed view, for as long as it lives."""
    try:
        return bytes(memoryview(orjson.dumps(data)))
    except orjson.JSONEncodeError:  # an integer beyond 64 bits
        return to_json(data)


def _embed_samples(inp: BoardInput, k: int, samples: SampleSet, thumbs: object | None,
                   item_ids: dict[bytes, str]) -> list[PackedRecord[SampleView]]:
    """The run's embedded samples as typed views, each held packed as soon as it is complete.
    ``item_ids``: packed item JSON -> item id, shared by the board's runs (equal JSON, equal id: an item
    that another run embedded already is not hashed again). Views are built from the line decoded into the
    record's structs (``record_struct_decoder``, ``views_of_struct``), else from the record (a line msgspec
    does not decode; thumbnails need the record)."""
    views = []
    chosen = select_samples(inp.table, k)
    decode = record_struct_decoder() or (lambda line: None)
    for (line, record), (_, why) in zip(inp.table.iter_lines(i for i, _ in chosen), chosen):
        data = None if line is None or thumbs is not None else decode(line)
        if data is not None:
            item, view = views_of_struct(data, why, inp.judgements)
            item_json = _dumps(item)
            iid = item_ids.get(item_json)
            if iid is None:
                iid = item_ids[item_json] = item_id_of_data(item)
                samples.items.setdefault(iid, PackedRecord(ItemView, item_json))
            view["item"] = iid
            views.append(PackedRecord(SampleView, _dumps(view)))
            continue
        rec = record()
        iv = item_view(rec)
        packed = PackedRecord.of(iv)
        iid = item_ids.get(packed.json)
        if iid is None:
            iid = item_ids[packed.json] = item_id(iv)
            samples.items.setdefault(iid, packed)
        sv = sample_view(rec, iid, why, inp.judgements)
        if thumbs is not None:
            thumbs.add(inp.log, rec, sv)  # type: ignore[attr-defined]
        views.append(PackedRecord.of(sv))
    return views


def _display_names(runs: list[RunDigest]) -> None:
    counts: dict[str, int] = defaultdict(int)
    for r in runs:
        counts[r.entry.name] += 1
    for r in runs:
        e = r.entry
        if counts[e.name] > 1:
            date = (e.date or "")[:16].replace("T", " ")
            e.display_name = f"{e.name} · {date or e.run_id[:8]}"
    seen: dict[str, int] = defaultdict(int)
    for r in runs:
        seen[r.entry.display_name] += 1
        if seen[r.entry.display_name] > 1:
            r.entry.display_name += f" ({r.entry.run_id[:8]})"


def build_leaderboard(run_dirs_or_globs: list[str], *, lmms: list[str] | None = None, samples_per_run: int = 100,
                      title: str | None = None, thumbnails: bool = False,
                      data_dir: str | os.PathLike | None = None) -> Board:
    """Aggregate runs into the canonical board.

    ``run_dirs_or_globs``: run directories, parent folders of runs, or glob patterns. ``lmms``: lmms-eval
    ``*_results.json`` files or folders (adapted into run records; their columns are always separate).
    ``samples_per_run``: per-sample records embedded per run for the sample browser (0 disables).
    ``thumbnails``: decode small JPEGs of the frames each embedded sample's model saw (needs the task data:
    ``data_dir`` or the task's usual locations). Raises ``UsageError`` for bad paths and when no run is found.
    """
    paths = expand_run_paths(run_dirs_or_globs or [])
    runs: list[RunDigest] = []
    embedded: list[list[PackedRecord[SampleView]]] = []
    samples = SampleSet()
    ids = ItemNumbering()  # item key -> number, shared by every run's per-sample columns
    item_ids: dict[bytes, str] = {}  # an embedded item's JSON -> its id
    thumbs = None
    if thumbnails:
        from mosseval.leaderboard.thumbnails import ThumbnailMaker

        thumbs = ThumbnailMaker(data_dir)
    with gc_paused():
        for inp in load_inputs(paths, lmms):
            runs.append(digest_run(inp, len(runs), ids))
            embedded.append(_embed_samples(inp, samples_per_run, samples, thumbs, item_ids))
            del inp
    if not runs:
        raise UsageError("no runs to put on the leaderboard",
                         hint="pass run directories created by `mosseval run` (or lmms-eval results with --lmms)")
    # the same run given twice (or two imports with one id) still gets two rows
    seen: dict[str, int] = defaultdict(int)
    for r in runs:
        seen[r.entry.run_id] += 1
        if seen[r.entry.run_id] > 1:
            r.entry.run_id = f"{r.entry.run_id}~{seen[r.entry.run_id]}"
    samples.runs = {r.entry.run_id: views for r, views in zip(runs, embedded)}
    if thumbs is not None:
        samples.thumbnails = thumbs.sets
    _display_names(runs)

    columns, where, warnings = build_columns(runs)
    cells: list[dict[str, tuple[Cell, Outcomes]]] = [{} for _ in runs]
    for (ri, ei), cid in where.items():
        e = runs[ri].entries[ei]
        cells[ri][cid] = (e.cell, e.outcomes)
    leaders = apply_ties(cells, [c.id for c in columns])

    reference = [i for i, r in enumerate(runs) if r.entry.origin == "mosseval"] or list(range(len(runs)))
    ocols = overall_columns(cells, [c.id for c in columns if c.top_level], reference)
    overall = [overall_cell(c, ocols) for c in cells]
    overall_leader: dict[str, int] = {}
    if len(ocols) > 1:
        for metric in ("accuracy", "prr"):
            values = {i: (getattr(o, metric) if o else None) for i, o in enumerate(overall)}
            lead = leader_of(values)
            if lead is None:
                continue
            overall_leader[metric] = lead
            for i, o in enumerate(overall):
                if o is None or getattr(o, metric) is None:
                    continue
                o.tie[metric] = (TieTest(leader=True, tied=True) if i == lead else
                                 overall_tie(metric, cells[lead], cells[i], ocols, getattr(overall[lead], metric),
                                             getattr(o, metric)))
    elif ocols:
        overall_leader = dict(leaders.get(ocols[0], {}))
    elif any(c.top_level for c in columns):
        warnings.append("no task is shared by every mosseval run: the board has no overall column")
    for c in columns:
        if c.external:
            c.notes.append(f"imported from {c.origin}: its prompt, frame sampling and scoring are not verified to "
                           "match any mosseval task, so it is never merged with one")
        c.leader = {m: runs[i].entry.run_id for m, i in leaders.get(c.id, {}).items()}
    if any(c.approximate for c in columns):
        warnings.append("columns marked ~ are approximate (an offline stand-in for the official protocol, "
                        "e.g. MMVU without its GPT-4o judge)")
    for r in runs:
        e = r.entry
        if e.status not in ("completed", "completed_with_errors"):
            warnings.append(f"run {e.display_name!r} is {e.status}: its numbers cover {e.n_samples} finished samples")
        if e.stale is not None:
            warnings.append(f"run {e.display_name!r}: {e.stale.reason}")
    if thumbs is not None:
        warnings += thumbs.warnings

    entries = []
    for i, r in enumerate(runs):
        r.entry.cells = {cid: cell for cid, (cell, _) in cells[i].items()}
        r.entry.overall = overall[i]
        entries.append(r.entry)
    return Board(
        title=title or "mosseval leaderboard", generated_at=utc_now(), mosseval_version=_version(),
        settings=BoardSettings(alpha=ALPHA, paired_min_overlap=PAIRED_MIN_OVERLAP, overall=OVERALL,
                               tie_test=dict(TIE_TESTS), samples_per_run=samples_per_run),
        columns=columns,
        overall=OverallInfo(columns=ocols, leader={m: runs[i].entry.run_id for m, i in overall_leader.items()}),
        runs=entries, warnings=warnings, samples=samples)


def _version() -> str:
    from mosseval import __version__

    return __version__


def _indented(data: bytes, depth: int) -> bytes:
    """JSON written with ``indent=1`` re-indented to sit ``depth`` levels down (a JSON string holds no raw
    newline, so every newline is a line break of the layout)."""
    return data.replace(b"\n", b"\n" + b" " * depth)


Pieces = Iterable[bytes]


def _json_object(pairs: Iterable[tuple[str, Pieces]], depth: int) -> Iterator[bytes]:
    """An ``indent=1`` JSON object at ``depth``, piece by piece, from (key, the value's pieces at depth+1)."""
    pad = b"\n" + b" " * (depth + 1)
    first = True
    for key, value in pairs:
        yield (b"{" if first else b",") + pad + to_json(key) + b": "
        yield from value
        first = False
    yield b"{}" if first else b"\n" + b" " * depth + b"}"


def _json_array(values: Iterable[Pieces], depth: int) -> Iterator[bytes]:
    """An ``indent=1`` JSON array at ``depth``, piece by piece."""
    pad = b"\n" + b" " * (depth + 1)
    first = True
    for value in values:
        yield b"[" + pad if first else b"," + pad
        yield from value
        first = False
    yield b"[]" if first else b"\n" + b" " * depth + b"]"


def iter_board_json(board: Board) -> Iterator[bytes]:
    """``leaderboard.json``'s bytes piece by piece: exactly ``to_json(board, indent=1)`` and a newline, with
    the embedded samples serialized one at a time (never the whole document, nor every sample unpacked, in
    memory at once)."""
    if list(Board.model_fields)[-1] != "samples" or list(SampleSet.model_fields) != ["items", "runs", "thumbnails"]:
        raise AssertionError("iter_board_json follows Board's field order: update it with the records")
    head = board.__pydantic_serializer__.to_json(board, indent=1, exclude={"samples"})
    yield head[:-2] + b",\n \"samples\": "  # head ends with "\n}": samples is Board's last field
    ss = board.samples

    def one(data: bytes, depth: int) -> Pieces:
        return (_indented(data, depth),)

    def packed(v: PackedRecord[Any], depth: int) -> Pieces:  # what PackedRecord's serializer gives
        return one(to_json(v.data(), indent=1), depth)

    yield from _json_object((
        ("items", _json_object(((k, packed(v, 3)) for k, v in ss.items.items()), 2)),
        ("runs", _json_object(((rid, _json_array((packed(v, 4) for v in views), 3))
                               for rid, views in ss.runs.items()), 2)),
        ("thumbnails", _json_object(((key, _json_array((one(t.__pydantic_serializer__.to_json(t, indent=1), 4)
                                                        for t in ts), 3))
                                     for key, ts in ss.thumbnails.items()), 2))), 1)
    yield b"\n}\n"


def write_leaderboard_json(board: Board, path: str | os.PathLike) -> Path:
    """Write ``leaderboard.json`` atomically, streamed (``OutputError`` when the location is not writable)."""
    with atomic_writer(path, hint="choose a writable location with --json / -o") as fh:
        for part in iter_board_json(board):
            fh.write(part)
    return Path(path)


__all__ = ["build_leaderboard", "write_leaderboard_json", "iter_board_json"]
