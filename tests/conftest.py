"""Shared test set-up: an isolated cache for the whole session, pinned threads, helpers."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# One fresh cache per test session: moss-video-mini and the tiny model are built once, here,
# and never read from (or written to) the user's cache.
_SESSION_CACHE = Path(tempfile.mkdtemp(prefix="mosseval-test-cache-"))
os.environ["MOSSEVAL_CACHE_DIR"] = str(_SESSION_CACHE)
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.pop("OPENAI_API_KEY", None)

REPO = Path(__file__).resolve().parent.parent

if (REPO / "tests" / "chat_server.py").exists():  # loopback chat-completions server fixtures
    pytest_plugins = ["tests.chat_server"]


@pytest.fixture(autouse=True)
def _pin_torch_threads():
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    yield


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    return _SESSION_CACHE


def mosseval_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 600,
                 check: bool = False) -> subprocess.CompletedProcess:
    """Run the real console entry point in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "mosseval", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or REPO, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"mosseval {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def cli():
    return mosseval_cli
