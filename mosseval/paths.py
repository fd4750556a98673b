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

    Absolute paths, ``..`` components that climb out, and symlinks resolving outside the root
    raise ``UnsafePathError`` (a per-sample media error).
    """
    if relative is None or str(relative).strip() == "":
        raise UnsafePathError("empty video path")
    rel = str(relative).replace("\\", "/")
    if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":") or rel.startswith("~"):
        raise UnsafePathError(f"video path {relative!r} is absolute; dataset paths must be relative "
                              f"to the data root {str(root)!r}")
    root_resolved = Path(root).resolve()
    candidate = (root_resolved / rel).resolve()
    try:
        candidate.relative_to(root_resolved)
    except ValueError:
        if not _hf_blob_link(root_resolved, rel, candidate):
            raise UnsafePathError(f"video path {relative!r} escapes the data root {str(root)!r}") from None
    return candidate


def _hf_blob_link(root_resolved: Path, rel: str, target: Path) -> bool:
    """True for a Hugging Face cache snapshot entry: the path stays inside the snapshot lexically
    and is a symlink into the same repository's ``blobs/`` folder (how the hub cache stores files)."""
    snapshot = next((a for a in (root_resolved, *root_resolved.parents)
                     if a.parent.name == "snapshots"
                     and a.parent.parent.name.startswith(("datasets--", "models--", "spaces--"))), None)
    if snapshot is None:
        return False
    lexical = Path(os.path.normpath(root_resolved / rel))
    try:
        lexical.relative_to(root_resolved)
        target.relative_to(snapshot.parent.parent / "blobs")
    except ValueError:
        return False
    return True
