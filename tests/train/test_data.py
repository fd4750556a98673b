"""Training data: never a test item or a test video (the guard and what it records), --train-size."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mosseval.errors import ExitCode, UsageError
from mosseval.train.config import load_config
from mosseval.train.data import load_train_task


def _dataset(tmp_path: Path, cache_dir: Path) -> tuple[Path, Path]:
    """A MOSS-Video-format copy of a few moss-video-mini items, with a train and a test file."""
    from mosseval.data import synth

    src = synth.ensure_mini(cache_dir / "data", 0)
    data = tmp_path / "data"
    (data / "videos").mkdir(parents=True)
    test = [json.loads(x) for x in (src / "test.jsonl").read_text().splitlines()[:4]]
    train = [json.loads(x) for x in (src / "train.jsonl").read_text().splitlines()[:4]]
    for item in test + train:
        name = Path(item["video"]).name
        shutil.copy(src / item["video"], data / "videos" / name)
        item["video"] = f"videos/{name}"
    (data / "test.jsonl").write_text("".join(json.dumps(i) + "\n" for i in test))
    (data / "train.jsonl").write_text("".join(json.dumps(i) + "\n" for i in train))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "mine.yaml").write_text(
        "defaults: {version: '1', loader: moss_video_jsonl, data: {path: mine}, prompt: {template: '{{ question }}'}}\n"
        "tasks:\n  - {name: mine, loader_args: {file: test.jsonl, split: test}}\n"
        "  - {name: mine-train, loader_args: {file: train.jsonl, split: train}}\n")
    return data, tasks


def _cfg(data: Path, tasks: Path, **kw):
    return load_config(None, {"model": "m", "data": "mine:train", "data_dir": str(data), "tasks_dir": [str(tasks)],
                              **kw})


def test_clean_training_data_passes_and_the_check_is_recorded(tmp_path, cache_dir):
    data, tasks = _dataset(tmp_path, cache_dir)
    _, _, samples, guard = load_train_task(_cfg(data, tasks))
    assert len(samples) == 4
    assert guard == {"train_task": "mine-train", "train_items": 4, "checked_against": ["mine"], "test_items": 4,
                     "test_videos": len({json.loads(x)["video"] for x in (data / "test.jsonl").read_text().splitlines()}),
                     "shared_items": 0, "shared_videos": 0}


def test_a_test_item_in_the_train_file_is_refused(tmp_path, cache_dir):
    data, tasks = _dataset(tmp_path, cache_dir)
    test = (data / "test.jsonl").read_text().splitlines()
    with open(data / "train.jsonl", "a") as fh:
        fh.write(test[2].replace('"split": "test"', '"split": "train"') + "\n")
    with pytest.raises(UsageError, match=r"shares 1 item\(s\) and 1 video\(s\) with the evaluation split 'mine'") as e:
        load_train_task(_cfg(data, tasks))
    assert e.value.exit_code == ExitCode.USAGE and "never trains on test items" in str(e.value)


def test_a_renamed_copy_of_a_test_video_is_refused(tmp_path, cache_dir):
    data, tasks = _dataset(tmp_path, cache_dir)
    items = [json.loads(x) for x in (data / "train.jsonl").read_text().splitlines()]
    test_video = json.loads((data / "test.jsonl").read_text().splitlines()[0])["video"]
    shutil.copy(data / test_video, data / "videos" / "innocent.mp4")
    items[0]["video"] = "videos/innocent.mp4"
    (data / "train.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    with pytest.raises(UsageError, match=r"shares 0 item\(s\) and 1 video\(s\)") as e:
        load_train_task(_cfg(data, tasks))
    assert "innocent.mp4" in str(e.value)


def test_an_evaluation_split_is_never_training_data(tmp_path, cache_dir):
    for data_arg in ("moss-video-mini:test", "moss-video-mini", "moss-video-mini-blind"):
        with pytest.raises(UsageError, match="is an evaluation split") as e:
            load_train_task(load_config(None, {"model": "m", "data": data_arg}))
        assert e.value.exit_code == ExitCode.USAGE


def test_moss_video_mini_train_split_is_checked_against_its_test_split():
    _, root, samples, guard = load_train_task(load_config(None, {"model": "m", "method": "sft"}))
    assert guard["checked_against"] == ["moss-video-mini"]  # the blind/shuffled controls are the same items
    assert (guard["train_items"], guard["test_items"], guard["shared_videos"]) == (420, 240, 0)
    assert all(s.split == "train" for s in samples)


def test_train_size_is_for_the_generated_data_only(tmp_path, cache_dir):
    data, tasks = _dataset(tmp_path, cache_dir)
    with pytest.raises(UsageError, match="--train-size applies to the generated moss-video-mini only"):
        load_train_task(_cfg(data, tasks, train_size=10))
    _, root, samples, guard = load_train_task(load_config(None, {"model": "m", "train_size": 30}))
    assert len(samples) == 30 and root.name == "moss-video-mini-seed0-n240x30" and guard["shared_videos"] == 0


def test_generated_data_from_data_dir_any_seed_and_not_with_train_size(tmp_path, cache_dir):
    from mosseval.data import synth

    copy = tmp_path / "seed3"
    synth.generate(copy, seed=3, n_train=12)
    _, root, samples, guard = load_train_task(load_config(None, {"model": "m", "data_dir": str(copy)}))
    assert root == copy and len(samples) == 12 and guard["shared_videos"] == 0
    with pytest.raises(UsageError, match="does not apply to --data-dir"):
        load_train_task(load_config(None, {"model": "m", "data_dir": str(copy), "train_size": 30}))
