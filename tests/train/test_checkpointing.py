"""Checkpoint folders: publishing a finished checkpoint never leaves a moment with none, and an
interrupted re-save is undone by the next start (no torch needed)."""

from __future__ import annotations

import json
from pathlib import Path

from mosseval.train import checkpointing as ck


def _ckpt(folder: Path, step: int, tag: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_text(tag)
    ck.write_state(folder, {"step": step, "tag": tag})
    return folder


def test_publish_replaces_an_existing_checkpoint(tmp_path):
    final = _ckpt(ck.checkpoint_dir(tmp_path, 4), 4, "old")
    partial = _ckpt(ck.partial_dir(tmp_path, 4), 4, "new")
    ck.publish(partial, final)
    assert (final / "model.safetensors").read_text() == "new"
    assert ck.read_state(final)["tag"] == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-4"]


def test_state_file_has_a_utc_timestamp_and_no_temp_file(tmp_path):
    folder = _ckpt(tmp_path / "checkpoint-1", 1, "x")
    state = json.loads((folder / ck.STATE_FILE).read_text())
    assert state["saved_at"].endswith("+00:00") and state["schema_version"] == 1
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


def test_a_kill_between_moving_aside_and_renaming_keeps_the_old_checkpoint(tmp_path):
    # The state a SIGKILL leaves between the two renames of publish(): the old checkpoint moved
    # aside, the new one still partial.
    _ckpt(ck.checkpoint_dir(tmp_path, 2), 2, "earlier")
    _ckpt(ck.old_dir(tmp_path, 4), 4, "old")
    _ckpt(ck.partial_dir(tmp_path, 4), 4, "new-unfinished")
    assert ck.last_checkpoint(tmp_path).name == "checkpoint-2"
    ck.clean_partials(tmp_path)
    assert ck.last_checkpoint(tmp_path).name == "checkpoint-4"
    assert ck.read_state(tmp_path / "checkpoint-4")["tag"] == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2", "checkpoint-4"]


def test_an_old_copy_beside_its_replacement_is_removed(tmp_path):
    _ckpt(ck.checkpoint_dir(tmp_path, 4), 4, "new")
    _ckpt(ck.old_dir(tmp_path, 4), 4, "old")
    ck.clean_partials(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-4"]
    assert ck.read_state(tmp_path / "checkpoint-4")["tag"] == "new"
