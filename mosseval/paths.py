"""Locations: cache, data roots, packaged resources, and safe joining of dataset paths."""

from __future__ import annotations

import os
from pathlib import Path

from mosseval.errors import UnsafePathError

CACHE_ENV = "MOSSEVAL_CACHE_DIR"
DATA_ENV = "MOSSEVAL_DATA_DIR"


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Where generated data (moss-video-mini) and built models (tiny-qwen2.5-vl) live.

    Order: explicit option, ``$MOSSEVAL_CACHE_DIR``, ``$XDG_CACHE_HOME/mosseval``, ``~/.cache/mosseval``.
    """
    if override:
        return Path(override).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "mosseval"


def data_root(override: str | os.PathLike[str] | None = None) -> Path | None:
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


MEDIA_ROOTS_ENV = "MOSSEVAL_MEDIA_ROOTS"
"""Extra folders (``os.pathsep``-separated) that symbolic links inside a data root may lead to."""


def _allowed_real_roots(root: str | os.PathLike[str]) -> list[str]:
    """Real paths media under ``root`` may live in: the root itself, the ``blobs/`` folder of a
    Hugging Face cache repository when the root is one of its snapshots (its files are links into
    ``blobs/``), and the folders listed in ``$MOSSEVAL_MEDIA_ROOTS``."""
    real_root = os.path.realpath(root)
    allowed = [real_root]
    parts = Path(real_root).parts
    for i in range(len(parts) - 1, 0, -1):
        if parts[i] == "snapshots" and parts[i - 1].startswith(("datasets--", "models--", "spaces--")):
            allowed.append(os.path.join(*parts[:i], "blobs"))
            break
    for extra in os.environ.get(MEDIA_ROOTS_ENV, "").split(os.pathsep):
        if extra.strip():
            allowed.append(os.path.realpath(os.path.expanduser(extra.strip())))
    return allowed


def confine(root: str | os.PathLike[str], path: str | os.PathLike[str], label: str | None = None) -> Path:
    """Return ``path`` if its real location (every symbolic link resolved) lies inside the real
    data ``root``; else raise ``UnsafePathError`` (a per-sample media error).

    This is the one check every place that opens media calls (the video pipeline, preflight /
    ``data check``, thumbnails, the bridges): a link inside the root that points elsewhere would
    otherwise let a dataset read, and send to an API model, any file the user can read.
    """
    real = os.path.realpath(path)
    for allowed in _allowed_real_roots(root):
        if real == allowed or real.startswith(allowed.rstrip(os.sep) + os.sep):
            return Path(path)
    shown = label if label is not None else str(path)
    raise UnsafePathError(
        f"video path {shown!r} resolves to {real!r}, outside the data root {str(root)!r} "
        f"(a symbolic link leads out of it); refused. Copy the file into the data root, point the "
        f"data root at its real location, or list that folder in ${MEDIA_ROOTS_ENV}")


def safe_join(root: str | os.PathLike[str], relative: str) -> Path:
    """Join a dataset-provided path onto its root, refusing anything that escapes the root.

    Two checks, both raising ``UnsafePathError`` (a per-sample media error): the path text
    (absolute paths, drive letters, ``~`` and ``..`` components that climb out of the root), and
    the real location (``confine``: a symbolic link inside the root that points outside it).
    Links that stay inside the root, and the Hugging Face cache's links from ``snapshots/`` into
    ``blobs/``, are followed as usual.
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
    return confine(root, Path(root) / normalized, str(relative))


def is_path_component(name: str) -> bool:
    """True when ``name`` is one plain directory name: not empty, not ``.``/``..``, no separator or
    drive, no control character (a newline would split the run directory path ``run`` prints last
    on stdout for scripts), at most 255 bytes (the usual file-name limit)."""
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name \
        and not any(ord(c) < 32 or ord(c) == 127 for c in name) and len(name.encode("utf-8", "replace")) <= 255 \
        and not (len(name) > 1 and name[1] == ":")
