"""Locations: cache, data roots, packaged resources, and safe joining of dataset paths."""

from __future__ import annotations

import os
from pathlib import Path

from mosseval.errors import UnsafePathError

CACHE_ENV = "MOSSEVAL_CACHE_DIR"
DATA_ENV = "MOSSEVAL_DATA_DIR"


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """Where generated data (moss-video-mini) and built models (tiny-qwen2.5-vl) live.

    Order: explicit option, ``$MOSSEVAL_CACHE_DIR``, ``$XDG_CACHE_HOME/mosseval``, ``~/.cache/mosseval``.
    """
    if override:
        return Path(override).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "mosseval"


def data_root(override: str | os.PathLike | None = None) -> Path | None:
    """The user's dataset root: ``--data-dir`` or ``$MOSSEVAL_DATA_DIR`` (None when unset)."""
    if override:
        return Path(override).expanduser()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return None


def resource_dir(kind: str) -> Path:
    """A packaged resource folder (``tasks``, ``judges``, ``reports``).

    Installed wheels carry them under ``mosseval/_resources``; a source checkout (editable
    install) reads the top-level folders of the repository.
    """
    here = Path(__file__).resolve().parent
    installed = here / "_resources" / kind
    if installed.is_dir():
        return installed
    checkout = here.parent / kind
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"mosseval resource folder {kind!r} is missing from this installation")


def safe_join(root: str | os.PathLike, relative: str) -> Path:
    """Join a dataset-provided path onto its root, refusing anything that escapes the root.

    The check is on the path text a dataset supplies: absolute paths, drive letters, ``~`` and
    ``..`` components that climb out of the root raise ``UnsafePathError`` (a per-sample media
    error). Symbolic links the *user* placed inside the root (a video folder on another disk, the
    Hugging Face cache's links into ``blobs/``) are followed as usual.
    """
    if relative is None or str(relative).strip() == "":
        raise UnsafePathError("empty video path")
    rel = str(relative).replace("\\", "/")
    if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":") or rel.startswith("~"):
        raise UnsafePathError(f"video path {relative!r} is absolute; dataset paths must be relative "
                              f"to the data root {str(root)!r}")
    normalized = os.path.normpath(rel)
    if normalized == ".." or normalized.startswith("../") or "\x00" in normalized:
        raise UnsafePathError(f"video path {relative!r} escapes the data root {str(root)!r}")
    return Path(root) / normalized
