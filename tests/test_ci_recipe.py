"""The GitHub Actions recipe in the docs (docs/howto/ci-gate.md) works: its shell commands are run as written.

The YAML block is parsed, and every ``run:`` step after the install is executed with bash (as GitHub
runs it: ``-eo pipefail``) in a scratch workspace, with the embedded models standing in for the
checkpoints (oracle as the baseline; random, then oracle again, as the candidate).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.cli import REPO

DOC = REPO / "docs" / "howto" / "ci-gate.md"
_BASELINE_DONE: list[Path] = []


def recipe() -> dict:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    jobs = [yaml.safe_load(b) for b in blocks if "jobs:" in b]
    assert len(jobs) == 1, "the CI-gate guide must hold exactly one GitHub Actions workflow"
    return jobs[0]


def test_recipe_shape():
    wf = recipe()
    (job,) = wf["jobs"].values()
    runs = [s["run"] for s in job["steps"] if "run" in s]
    install = [r for r in runs if r.startswith("pip install")]
    assert install and "-c constraints.txt" in install[0]
    assert sum("mosseval run" in r and "--limit" in r for r in runs) == 2
    gate = [r for r in runs if r.startswith("mosseval compare")]
    assert gate and '--summary "$GITHUB_STEP_SUMMARY"' in gate[0]
    assert all("${{" not in r for r in runs)  # plain shell: the test can run them verbatim


LIMIT = 20


def run_recipe(workdir: Path, candidate: str, cache_dir: Path) -> list[subprocess.CompletedProcess]:
    wf = recipe()
    (job,) = wf["jobs"].values()
    venv_bin = str(Path(sys.executable).parent)
    env = {**os.environ, **{k: str(v) for k, v in job.get("env", {}).items()}}
    env.update(BASELINE_MODEL="oracle", CANDIDATE_MODEL=candidate, LIMIT=str(LIMIT),
               MOSSEVAL_CACHE_DIR=str(cache_dir), GITHUB_STEP_SUMMARY=str(workdir / "step_summary.md"),
               PATH=venv_bin + os.pathsep + os.environ.get("PATH", ""))
    done = []
    for step in job["steps"]:
        cmd = step.get("run")
        if cmd is None or cmd.startswith("pip install"):
            continue  # `uses:` actions and the install (mosseval is installed in this environment)
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", cmd], cwd=workdir,
                              env=env, capture_output=True, text=True, timeout=300)
        done.append(proc)
        if proc.returncode != 0:
            break  # GitHub stops the job at the first failing step
    return done


@pytest.fixture(scope="module")
def mosseval_on_path():
    if not (Path(sys.executable).parent / "mosseval").exists():
        pytest.skip("the mosseval console script is not installed in this environment")


@pytest.mark.e2e
@pytest.mark.parametrize("candidate,expected_exit,word", [("random", 1, "REGRESSION"), ("oracle", 0, "PASS")])
def test_recipe_commands_gate_as_documented(tmp_path, cache_dir, mosseval_on_path, candidate, expected_exit, word):
    # the baseline step is the same command in both cases: later cases start from the first case's
    # finished baseline run, which `mosseval run` resumes (nothing left to do) instead of recomputing
    if _BASELINE_DONE:
        shutil.copytree(_BASELINE_DONE[0], tmp_path / "runs" / "baseline")
    steps = run_recipe(tmp_path, candidate, cache_dir)
    if not _BASELINE_DONE and (tmp_path / "runs" / "baseline" / "run.json").is_file():
        _BASELINE_DONE.append(tmp_path / "runs" / "baseline")
    *evals, gate = steps
    assert len(evals) == 2 and all(p.returncode == 0 for p in evals), [p.stderr[-2000:] for p in evals]
    assert gate.returncode == expected_exit, gate.stdout + gate.stderr
    assert (tmp_path / "runs" / "baseline" / "run.json").is_file()
    verdict = json.loads((tmp_path / "compare.json").read_text())
    assert verdict["verdict"] == word.lower()
    assert verdict["baseline"]["model"] == "oracle" and verdict["candidate"]["model"] == candidate
    assert verdict["join"]["n_joined"] == LIMIT
    summary = (tmp_path / "step_summary.md").read_text()
    assert f"**{word}: candidate {candidate} vs baseline oracle on {LIMIT} paired samples" in summary
