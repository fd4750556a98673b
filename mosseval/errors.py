"""Errors that reach the user: each carries a message (what, where, how to fix) and an exit code.

The CLI prints ``MossevalError`` without a traceback and exits with ``exit_code``.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    """Success (``compare``: pass or inconclusive)."""
    REGRESSION = 1
    """``compare`` found a regression (also: an unexpected internal error)."""
    USAGE = 2
    """Bad input: unknown task/model/rubric, invalid YAML or options, runs not comparable."""
    SAMPLE_ERRORS = 3
    """The run finished but some samples failed (media or model errors); they are recorded."""
    OUTPUT = 4
    """The output location cannot be written."""
    MISSING_DEPENDENCY = 5
    """An optional extra is needed (e.g. ``pip install 'mosseval[hf]'``)."""
    DATA_NOT_FOUND = 6
    """A dataset or model checkpoint is not available locally."""
    REMOTE = 7
    """A remote API failed in a way that stops the command (auth, budget exhausted)."""
    INTERRUPTED = 130
    """Interrupted (Ctrl-C / SIGTERM): finished samples are saved; run the same command to resume."""


class MossevalError(Exception):
    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(MossevalError):
    exit_code = ExitCode.USAGE


class ConfigError(MossevalError):
    """An invalid task / rubric / config file."""

    exit_code = ExitCode.USAGE


class PluginError(ConfigError):
    """A provider (built-in or from a third-party package) is broken: it fails to import or does not
    register what its entry point promises."""


class NotComparableError(MossevalError):
    exit_code = ExitCode.USAGE


class OutputError(MossevalError):
    exit_code = ExitCode.OUTPUT


class MissingDependencyError(MossevalError):
    exit_code = ExitCode.MISSING_DEPENDENCY


class DataNotFoundError(MossevalError):
    exit_code = ExitCode.DATA_NOT_FOUND


class RemoteError(MossevalError):
    exit_code = ExitCode.REMOTE


class MediaError(Exception):
    """A video could not be read. Recorded per sample; never stops a run."""


class UnsafePathError(MediaError):
    """A dataset path escapes its data root."""


def did_you_mean(name: str, choices: list[str] | tuple[str, ...], n: int = 3) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.5)
    if close:
        return "did you mean " + ", ".join(repr(c) for c in close) + "?"
    return ""
