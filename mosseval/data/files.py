"""Reading the annotation files benchmarks ship: JSON lists, JSONL, parquet (one definition).

Every error names the file and what is wrong with it (``ConfigError``, exit 2); a parquet file
without ``pyarrow`` installed is a ``MissingDependencyError`` (exit 5) naming the extra to install.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mosseval.errors import ConfigError, MissingDependencyError, UnsafePathError


def read_json_list(path: Path, keys: tuple[str, ...] = ("data",)) -> list[Any]:
    """A JSON file holding a list of items, or a mapping whose first present ``keys`` entry is one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON (line {exc.lineno}: {exc.msg})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if isinstance(data, dict):
        for key in keys:
            if isinstance(data.get(key), list):
                return data[key]
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a JSON list of items, got {type(data).__name__}")
    return data


def read_jsonl(path: Path) -> list[Any]:
    out = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{n}: invalid JSON ({exc.msg})") from None
    return out


def read_parquet(paths: list[Path], what: str = "this dataset") -> list[dict[str, Any]]:
    """Rows of one or more parquet files, as dicts (needs ``pyarrow``)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependencyError(f"reading the parquet files of {what} needs pyarrow",
                                     hint="pip install 'mosseval[parquet]'") from None
    rows: list[dict[str, Any]] = []
    for p in paths:
        try:
            rows.extend(pq.read_table(p).to_pylist())
        except Exception as exc:  # pyarrow raises several types for damaged files
            raise ConfigError(f"{p}: cannot read the parquet file ({type(exc).__name__}: {exc})") from None
    return rows


def read_items(paths: list[Path], what: str = "this dataset", keys: tuple[str, ...] = ("data",)) -> list[Any]:
    """Items of one ``.json`` / ``.jsonl`` file or of parquet file(s)."""
    if len(paths) == 1 and paths[0].suffix == ".json":
        return read_json_list(paths[0], keys)
    if len(paths) == 1 and paths[0].suffix == ".jsonl":
        return read_jsonl(paths[0])
    return read_parquet(paths, what)


def as_list(value: Any) -> list[Any] | None:
    """A list-valued field as a list: parquet gives numpy arrays, CSV/TSV gives JSON text."""
    if value is None:
        return None
    if isinstance(value, list):
        return value
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "tolist"):
        out = value.tolist()
        return out if isinstance(out, list) else [out]
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return None
        return parsed if isinstance(parsed, list) else None
    return None


def find_video(root: Path, stem: str, dirs: tuple[str, ...], exts: tuple[str, ...]) -> tuple[str, list[str], bool]:
    """The first existing ``<dir>/<stem><ext>`` under ``root`` (dirs, then extensions, in order; ``""``
    is the root itself), else the first candidate; with every candidate and whether the path exists.
    A stem that would escape the root is kept as is: the sampler refuses it per sample."""
    from mosseval.paths import safe_join

    cands = [f"{d}/{stem}{ext}" if d else f"{stem}{ext}" for d in dirs for ext in exts]
    for rel in cands:
        try:
            if safe_join(root, rel).is_file():
                return rel, cands, True
        except UnsafePathError:
            return cands[0], cands, False
    return cands[0], cands, False


def unique_ids(samples: Any, where: str, what: str = "id") -> list[Any]:
    """The samples in order, refusing a repeated ``id`` (``ConfigError`` naming the file)."""
    out, seen = [], set()
    for s in samples:
        if s.id in seen:
            raise ConfigError(f"{where}: duplicate {what} {s.id!r}")
        seen.add(s.id)
        out.append(s)
    return out


def find_annotations(root: Path, file: str | None, names: tuple[str, ...],
                     patterns: tuple[str, ...] = ()) -> list[Path]:
    """The annotation file(s) under ``root``: ``file`` when given (a loader_args override), else the first
    of ``names`` that exists, else every match of the first glob in ``patterns`` that matches."""
    if file:
        path = root / file
        return [path] if path.is_file() else []
    for rel in names:
        if (root / rel).is_file():
            return [root / rel]
    for pattern in patterns:
        found = sorted(root.glob(pattern))
        if found:
            return found
    return []
