"""A plain, non-editable install carries tasks, judges and report templates as package data."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.cli import REPO

pytestmark = pytest.mark.e2e  # builds and installs a wheel: subprocess-heavy

@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out), str(REPO)], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 and "hatchling" in (proc.stderr + proc.stdout):
        proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
                              capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return next(out.glob("mosseval-*.whl"))


def test_wheel_contains_resources(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "mosseval/_resources/tasks/moss-video-mini.yaml" in names
    assert any(n.startswith("mosseval/_resources/reports/") for n in names)
    assert any(n.startswith("mosseval/_resources/judges/") for n in names)
    assert not any(n.startswith("tests/") for n in names)


def test_installed_copy_runs_outside_checkout(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = ("import mosseval, mosseval.paths as p; "
            f"assert str(p.resource_dir('tasks')).startswith({str(target)!r}), p.resource_dir('tasks'); "
            "from mosseval.cli import main; main()")
    proc = subprocess.run([sys.executable, "-c", code, "tasks"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "moss-video-mini" in proc.stdout
    proc = subprocess.run([sys.executable, "-c", code, "run", "--model", "oracle", "--limit", "3", "-o",
                           str(tmp_path / "runs"), "-q"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (Path(proc.stdout.strip().splitlines()[-1]) / "run.json").is_file()
