"""Errors that reach the user: each carries a message (what, where, how to fix) and an exit code.

The CLI prints ``MossevalError`` as one line (plus an optional ``hint:`` line), without a
traceback, and exits with its ``exit_code``. Every error class of mosseval lives in this module.
Anything else that reaches the CLI is an *internal error* (exit 70; ``--debug`` shows the
traceback), so a crash never reads as a ``compare`` regression (exit 1).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The exit codes of every ``mosseval`` command (the contract CI scripts rely on).

    ====  =====================================================================================
    code  meaning
    ====  =====================================================================================
    0     success
    1     ``compare`` found a regression (only ``compare`` uses 1)
    2     usage error or bad input: unknown option/task/model, invalid value or YAML, runs not
          comparable, run directory locked by another writer
    3     the run (or judge, or data check) finished, but some samples failed; they are recorded
    4     an output file or directory cannot be written (read-only, disk full, ...)
    5     a missing optional dependency (``pip install 'mosseval[EXTRA]'``)
    6     a dataset or model checkpoint is not available locally
    7     a remote API stopped the command (credentials refused, budget exhausted)
    70    internal error: an unexpected exception (a bug); ``--debug`` shows the traceback
    130   interrupted (Ctrl-C / SIGINT): finished work is saved, the same command resumes
    ====  =====================================================================================

    A run whose status ends ``interrupted`` or ``failed`` never exits 0 (see :meth:`for_status`).
    """

    OK = 0
    """Success (``compare``: pass or inconclusive)."""
    REGRESSION = 1
    """``compare`` found a regression (no other command exits 1)."""
    USAGE = 2
    """Bad input: unknown option/task/model/rubric, invalid YAML or value, runs not comparable,
    run directory locked by another writer."""
    SAMPLE_ERRORS = 3
    """The command finished but some samples failed (media, model or judge errors); they are recorded."""
    OUTPUT = 4
    """An output file or directory cannot be written (permissions, read-only, disk full)."""
    MISSING_DEPENDENCY = 5
    """An optional package is needed (e.g. ``pip install 'mosseval[hf]'``)."""
    DATA_NOT_FOUND = 6
    """A dataset or model checkpoint is not available locally."""
    REMOTE = 7
    """A remote API failed in a way that stops the command (auth refused, budget exhausted)."""
    INTERNAL = 70
    """An unexpected exception (a bug in mosseval or a library): one line, ``--debug`` for the traceback."""
    INTERRUPTED = 130
    """Interrupted (Ctrl-C / SIGTERM): finished samples are saved; run the same command to resume."""

    @classmethod
    def for_status(cls, status: str) -> ExitCode:
        """The exit code of a run that ends with ``status`` (``RunLog.status``).

        completed -> 0, completed_with_errors -> 3, interrupted / running (a writer that died) ->
        130, failed -> 70. An unknown status is an internal error.
        """
        return {
            "completed": cls.OK,
            "completed_with_errors": cls.SAMPLE_ERRORS,
            "interrupted": cls.INTERRUPTED,
            "running": cls.INTERRUPTED,
            "failed": cls.INTERNAL,
        }.get(status, cls.INTERNAL)


class MossevalError(Exception):
    """Base class: a message for the user, an optional hint, an exit code."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(MossevalError):
    """Bad input on the command line or in a file the user passed (exit 2)."""

    exit_code = ExitCode.USAGE


class ConfigError(MossevalError):
    """An invalid task / rubric / config file (exit 2)."""

    exit_code = ExitCode.USAGE


class PluginError(ConfigError):
    """A provider (built-in or from a third-party package) is broken: it fails to import or does not
    register what its entry point promises."""


class NotComparableError(MossevalError):
    """Two runs (or a run directory and a new run) whose identities differ (exit 2)."""

    exit_code = ExitCode.USAGE


class LockedError(MossevalError):
    """Another process is writing the same run directory; the message names it (exit 2)."""

    exit_code = ExitCode.USAGE


class OutputError(MossevalError):
    """An output location cannot be written; the message names the file (exit 4)."""

    exit_code = ExitCode.OUTPUT


class MissingDependencyError(MossevalError):
    """An optional package is not installed (exit 5)."""

    exit_code = ExitCode.MISSING_DEPENDENCY


class DataNotFoundError(MossevalError):
    """A dataset or checkpoint is not available locally (exit 6)."""

    exit_code = ExitCode.DATA_NOT_FOUND


class RemoteError(MossevalError):
    """A remote API stopped the command (exit 7)."""

    exit_code = ExitCode.REMOTE


class AuthError(RemoteError):
    """The server refused the credentials (HTTP 401/403) or no key is configured (exit 7)."""


class BudgetExhaustedError(RemoteError):
    """A client's request or token budget is spent (exit 7). ``results`` holds what finished."""

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.results: list[object] = []


class JudgeStoppedError(RemoteError):
    """Judging stopped early (budget, credentials); what was judged is saved (exit 7)."""

    def __init__(self, message: str, *, hint: str | None = None, summary: object = None):
        super().__init__(message, hint=hint)
        self.summary = summary


class GPURequiredError(UsageError):
    """A GPU-only option was asked for on a machine without CUDA (exit 2)."""


class NoReferenceStepsError(UsageError):
    """PRR was requested on a dataset whose samples carry no reference steps (exit 2)."""


class InternalError(MossevalError):
    """An invariant of mosseval itself was violated (a bug, or a backend breaking its contract):
    exit 70, like any unexpected exception, but with a message that says what went wrong."""

    exit_code = ExitCode.INTERNAL


class SampleErrorsError(MossevalError):
    """A check finished and found per-sample problems (e.g. ``run --preflight``): exit 3."""

    exit_code = ExitCode.SAMPLE_ERRORS


class MediaError(Exception):
    """A video could not be read. Recorded per sample; never stops a run."""


class UnsafePathError(MediaError):
    """A dataset path (or the real path behind a symbolic link) leaves its data root."""


class MediaKindError(MediaError):
    """A file is not the kind of media the task expects (e.g. a PNG named ``.mp4``)."""


def first_invalid(exc: BaseException) -> str:
    """One line saying what a validation error found: the first problem's field path and message
    (``field 'start': Input should be a valid number``, ``Invalid JSON: EOF while parsing a value``),
    plus how many more there are. Works for pydantic's ``ValidationError`` (duck-typed: no import) and
    falls back to the error's first line."""
    errors = getattr(exc, "errors", None)
    try:
        found = errors() if callable(errors) else None
    except Exception:  # noqa: BLE001 - the fallback below still says something
        found = None
    if not found:
        return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    err = found[0]
    loc = ".".join(str(x) for x in err.get("loc", ()) if x != "__root__")
    msg = str(err.get("msg", "")).removeprefix("Value error, ")
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return (f"field {loc!r}: {msg}" if loc else msg) + more


def did_you_mean(name: str, choices: list[str] | tuple[str, ...], n: int = 3) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.5)
    if close:
        return "did you mean " + ", ".join(repr(c) for c in close) + "?"
    return ""
