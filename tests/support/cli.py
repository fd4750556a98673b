"""The one place tests drive the command line from: a real subprocess, a background process, or
``main()`` in-process (to read typed errors and captured output)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def mosseval_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 600,
                 check: bool = False) -> subprocess.CompletedProcess:
    """Run the real console entry point in a subprocess and wait for it."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "mosseval", *map(str, args)], capture_output=True, text=True,
                          env=full_env, cwd=cwd or REPO, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"mosseval {' '.join(map(str, args))} exited {proc.returncode}\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def _interruptible() -> None:
    # A suite started in the background by a non-interactive shell inherits SIGINT ignored, and Python
    # then never turns Ctrl-C into KeyboardInterrupt: the child gets the default disposition back, as
    # it has when a user runs mosseval in a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def mosseval_popen(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.Popen:
    """Start the real console entry point in the background (for kill / interrupt / concurrency tests)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "mosseval", *map(str, args)], cwd=cwd or REPO, env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_interruptible)


def main_inprocess(*args: str, capsys=None) -> tuple[int, str, str]:
    """Call ``mosseval.cli.main`` in this process; returns (exit code, stdout, stderr)."""
    from mosseval.cli import main

    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    code = exc.value.code if isinstance(exc.value.code, int) else 0
    if capsys is not None:
        cap = capsys.readouterr()
        return code, cap.out, cap.err
    return code, "", ""
