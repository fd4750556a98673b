"""One progress abstraction for long loops (the runner's samples, the judge's requests).

Controllers take a :class:`Progress` and never print; the CLI passes :func:`progress_bar` (a rich bar on
its console) or nothing (:class:`NullProgress`).
"""

from __future__ import annotations

import threading
from typing import Any


class Progress:
    """Interface (and the silent implementation): ``start(total, label)``, ``advance()``, ``close()``."""

    def start(self, total: int, label: str) -> Progress:
        return self

    def advance(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


NullProgress = Progress


class RichProgress(Progress):
    """A rich progress bar (count, elapsed and remaining time); thread-safe ``advance``."""

    def __init__(self, console: Any, *, transient: bool = False):
        self.console = console
        self.transient = transient
        self._p: Any = None
        self._t: Any = None
        self._lock = threading.Lock()

    def start(self, total: int, label: str) -> Progress:
        if total <= 0:
            return self
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        self._p = Bar(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TimeRemainingColumn(), console=self.console, transient=self.transient)
        self._t = self._p.add_task(label, total=total)
        self._p.start()
        return self

    def advance(self, n: int = 1) -> None:
        if self._p is not None:
            with self._lock:
                self._p.advance(self._t, n)

    def close(self) -> None:
        if self._p is not None:
            self._p.stop()
            self._p = None


def progress_bar(console: Any, *, transient: bool = False) -> Progress:
    """A rich bar on ``console``, or the silent progress when ``console`` is None."""
    return RichProgress(console, transient=transient) if console is not None else Progress()


__all__ = ["Progress", "NullProgress", "RichProgress", "progress_bar"]
