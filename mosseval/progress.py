"""The one progress abstraction: a bar on the console, or nothing.

``progress(console, total, label)`` returns a context manager with ``advance(n=1)`` and
``update(completed=None, info=None)``; with ``console=None`` (``--quiet``, non-zero ranks) or
``total == 0`` it does nothing. Safe to advance from worker threads. Used by ``run``, ``judge``
and ``train``.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any


class Progress:
    """No bar: every call is a no-op (the base of the real one)."""

    def advance(self, n: int = 1) -> None:
        pass

    def update(self, completed: int | None = None, info: str | None = None) -> None:
        pass

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        pass


class _Bar(Progress):
    def __init__(self, console: Any, total: int, label: str, *, transient: bool, completed: int, info: bool):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        columns: list[Any] = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                              TimeElapsedColumn(), TimeRemainingColumn()]
        if info:
            columns.append(TextColumn("{task.fields[info]}"))
        self._p = RichProgress(*columns, console=console, transient=transient)
        self._t = self._p.add_task(label, total=total, completed=completed, info="")
        self._lock = threading.Lock()

    def advance(self, n: int = 1) -> None:
        with self._lock:
            self._p.advance(self._t, n)

    def update(self, completed: int | None = None, info: str | None = None) -> None:
        fields: dict[str, Any] = {} if info is None else {"info": info}
        with self._lock:
            self._p.update(self._t, completed=completed, **fields)

    def __enter__(self) -> Progress:
        self._p.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._p.__exit__(exc_type, exc, tb)


def progress(console: Any, total: int, label: str, *, transient: bool = False, completed: int = 0,
             info: bool = False) -> Progress:
    """A progress bar for ``total`` steps on ``console`` (None: no bar)."""
    if console is None or total <= 0:
        return Progress()
    return _Bar(console, total, label, transient=transient, completed=completed, info=info)


__all__ = ["Progress", "progress"]
