"""The CLI, scoring, leaderboard and compare work without torch; torch backends name their extra."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mosseval.errors import ExitCode
from tests.support.cli import REPO

BLOCK = ("import sys\n"
         "for m in ('torch', 'transformers', 'torchvision', 'accelerate', 'openai', 'scipy'):\n"
         "    sys.modules[m] = None  # import fails, find_spec says absent\n"
         "from mosseval.cli import main\n"
         "main()\n")


def nt(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK, *args], capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ), timeout=600)


@pytest.mark.e2e
def test_core_commands_without_torch(tmp_path):
    runs = []
    for model in ("oracle", "random"):
        p = nt("run", "--model", model, "--limit", "12", "-o", str(tmp_path / "runs"), "-q")
        assert p.returncode == 0, p.stderr
        runs.append(p.stdout.strip().splitlines()[-1])
    p = nt("score", runs[0])
    assert p.returncode == 0, p.stderr
    p = nt("leaderboard", *runs, "-o", str(tmp_path / "lb.html"))
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "lb.html").stat().st_size > 1000
    p = nt("compare", runs[0], runs[0])
    assert p.returncode == 0, p.stderr
    p = nt("models")
    assert p.returncode == 0 and "hf" in p.stdout
    p = nt("plugins", "--json")  # the registry lists everything without importing a backend
    assert p.returncode == 0 and '"name": "vllm"' in p.stdout, p.stderr
    p = nt("families", "--json")
    assert p.returncode == 0 and '"recipe": "qwen2.5-vl"' in p.stdout, p.stderr
    p = nt("reproduce", runs[0])
    assert p.returncode == 0, p.stderr


def test_torch_model_names_its_extra(tmp_path):
    p = nt("run", "--model", "tiny-qwen2.5-vl", "--limit", "2", "-o", str(tmp_path))
    assert p.returncode == ExitCode.MISSING_DEPENDENCY, p.stderr
    assert "mosseval[hf]" in p.stderr and "Traceback" not in p.stderr
    assert not list(Path(tmp_path).glob("*/samples.jsonl"))  # failed before any work
