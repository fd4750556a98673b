"""Where a task's data comes from: ``--data-dir`` is honoured for the generated benchmark too."""

from __future__ import annotations

import json
import shutil

import pytest

from mosseval.data import synth
from mosseval.data.locate import resolve_data_root
from mosseval.errors import DataNotFoundError
from mosseval.tasks import load_registry
from tests.support.cli import main_inprocess


@pytest.fixture(scope="module")
def seed1(tmp_path_factory):
    out = tmp_path_factory.mktemp("mini") / "seed1"
    synth.generate(out, seed=1, n_train=1)
    return out


def test_data_dir_of_the_generated_benchmark_is_used_not_the_cache(seed1, tmp_path):
    task = load_registry()["moss-video-mini"]
    assert resolve_data_root(task, seed1, tmp_path / "cache", seed=1) == seed1
    assert not (tmp_path / "cache").exists()  # nothing generated beside it
    with pytest.raises(DataNotFoundError, match="generated with seed 1, but the run's --seed is 0"):
        resolve_data_root(task, seed1, tmp_path / "cache", seed=0)
    assert resolve_data_root(task, seed1, tmp_path / "cache", seed=None) == seed1  # training: any seed
    # a folder holding no copy (another task's data in a multi-task run) is not this task's: the cache's copy
    other = tmp_path / "mvbench"
    other.mkdir()
    with pytest.raises(DataNotFoundError, match="not generated yet"):
        resolve_data_root(task, other, tmp_path / "cache", seed=0, generate=False)
    broken = tmp_path / "broken"
    shutil.copytree(seed1, broken)
    (broken / "test.jsonl").write_text((broken / "test.jsonl").read_text()[:-200])
    with pytest.raises(DataNotFoundError, match="not a sound moss-video-mini copy: test.jsonl does not match"):
        resolve_data_root(task, broken, tmp_path / "cache", seed=1)


def test_a_run_with_data_dir_evaluates_those_items(seed1, tmp_path, capsys):
    code, _, err = main_inprocess("run", "--model", "random", "--tasks", "moss-video-mini", "--data-dir", seed1,
                                  "--seed", "1", "--limit", "3", "--cache-dir", tmp_path / "cache",
                                  "-o", tmp_path / "runs", "--run-name", "r", "-q", capsys=capsys)
    assert code == 0, err
    sent = [json.loads(line)["sample"]["question"] for line in (tmp_path / "runs/r/samples.jsonl").open()]
    wanted = [json.loads(line)["question"] for line in (seed1 / "test.jsonl").open()][:3]
    assert sent == wanted
    assert not (tmp_path / "cache" / "data").exists()
    code, _, err = main_inprocess("run", "--model", "random", "--tasks", "moss-video-mini", "--data-dir", seed1,
                                  "--limit", "3", "--cache-dir", tmp_path / "cache", "-o", tmp_path / "runs",
                                  "--run-name", "s", "-q", capsys=capsys)
    assert code == 6 and "generated with seed 1, but the run's --seed is 0" in err and "Traceback" not in err
