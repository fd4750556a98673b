"""Shared test set-up: an isolated cache for the whole session, pinned threads, helpers."""

from __future__ import annotations

import os
import shutil
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

from tests.support.cli import REPO, mosseval_cli  # noqa: E402,F401

pytest_plugins = ["tests.support.chat_server"]  # loopback chat-completions server fixtures


def pytest_sessionfinish(session, exitstatus):
    """The session cache is this session's alone: remove it (set MOSSEVAL_KEEP_TEST_CACHE=1 to keep it)."""
    if not os.environ.get("MOSSEVAL_KEEP_TEST_CACHE"):
        shutil.rmtree(_SESSION_CACHE, ignore_errors=True)


@pytest.fixture(autouse=True)
def _pin_torch_threads():
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    yield


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    return _SESSION_CACHE


@pytest.fixture
def cli():
    return mosseval_cli
