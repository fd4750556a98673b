"""A small real file system that fills up: a tmpfs mounted for one test (root only), to hit ENOSPC
for real. ``fill_to_leave(folder, free_bytes)`` leaves about that much room."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_tmpfs(mountpoint: Path, size_kb: int = 1024) -> Iterator[Path]:
    mountpoint.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs (ENOSPC test)")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(mountpoint)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)


def fill_to_leave(folder: Path, free_bytes: int) -> None:
    """Write a filler file so that about ``free_bytes`` stay free on ``folder``'s file system."""
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    with (folder / ".filler").open("wb") as fh:
        left = max(0, free - free_bytes)
        chunk = b"\0" * 65536
        while left > 0:
            n = min(left, len(chunk))
            try:
                fh.write(chunk[:n])
                fh.flush()
            except OSError:
                break
            left -= n


def remount_read_only(mountpoint: Path) -> None:
    """Make a ``small_tmpfs`` read-only (a real EROFS for every write, root included)."""
    p = subprocess.run(["mount", "-o", "remount,ro", str(mountpoint)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot remount read-only here: {p.stderr.strip()}")
