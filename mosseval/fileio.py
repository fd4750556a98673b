"""Files: the one atomic writer, the one JSONL tail repair, canonical JSON.

Every file mosseval writes for a user (run logs, reports, caches, manifests) goes through
``atomic_write_text`` / ``write_json_atomic``: readers see the old file or the new one, never half
of one, and the new file gets the usual ``0644``-style permissions (``0666 & ~umask``), not the
``0600`` that ``mkstemp`` leaves.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mosseval.errors import OutputError


def canonical_json(data: Any) -> str:
    """Sorted keys, no whitespace: the text identity hashes are computed over."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *,
                       hint: str | None = "choose a writable location") -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename)."""
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}", hint=hint) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return path


def atomic_write_text(path: str | os.PathLike, text: str, *,
                      hint: str | None = "choose a writable location") -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), hint=hint)


def write_json_atomic(path: str | os.PathLike, data: Any, *, indent: int | None = 2,
                      hint: str | None = "choose a writable location with --output-dir") -> Path:
    text = json.dumps(data, indent=indent, ensure_ascii=False, default=str) + "\n"
    return atomic_write_text(path, text, hint=hint)


def repair_jsonl_tail(path: str | os.PathLike) -> None:
    """Cut off a partial last line (left by a writer killed mid-line) so appends start clean."""
    path = Path(path)
    if not path.exists():
        return
    with path.open("rb+") as fh:
        data = fh.read()
        if data and not data.endswith(b"\n"):
            fh.truncate(data.rfind(b"\n") + 1)


def build_dir_once(final: Path, is_valid: Callable[[Path], bool], build: Callable[[Path], Any]) -> Path:
    """Return ``final`` when ``is_valid`` says it is complete; else ``build`` it into a temporary sibling
    and rename it into place (atomic and race-safe: concurrent builders of the same deterministic
    content agree, a stale or crashed build is replaced, readers never see a half-built folder)."""
    final = Path(final)
    if is_valid(final):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.build-", dir=final.parent))
    try:
        build(tmp)
        tmp.chmod(0o755)  # mkdtemp creates 0700; a shared cache must be readable
        if final.exists() and not is_valid(final):
            stale = final.parent / f".{final.name}.stale-{os.getpid()}-{tmp.name[-8:]}"
            try:
                os.rename(final, stale)
            except OSError:
                pass  # another process moved it first
            else:
                shutil.rmtree(stale, ignore_errors=True)
        try:
            os.rename(tmp, final)
        except OSError:
            if not is_valid(final):  # another process won the race with an identical build
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
