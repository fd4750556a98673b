"""Training recipes and the trained builtin model (built by its recipe on first use, then reused)."""

from __future__ import annotations

import json

import pytest

from mosseval.errors import UsageError

pytestmark = pytest.mark.hf

pytest.importorskip("transformers")


def test_recipes_are_valid_configs_with_equal_arm_budgets():
    from mosseval.train.recipes import ARMS, RECIPES, recipe_config

    for name in RECIPES:
        cfg = recipe_config(name, output_dir="x")
        # the SFT stages choose their thread count by timing (it does not change the weights:
        # tests/train/test_threads.py): the demo's and the cold start run alone; GRPO arms run two jobs at once
        assert cfg.model == "mini-qwen2.5-vl" and cfg.steps
        assert cfg.num_threads == ("auto" if cfg.method == "sft" else 1), name
    grpo = recipe_config("repro-grpo", rewards=ARMS["acc+fmt"])
    assert set(ARMS) == {"acc+fmt", "acc+fmt+prr"} and ARMS["acc+fmt+prr"] == ARMS["acc+fmt"] + ["prr"]
    assert grpo.method == "grpo" and grpo.beta == 0.0
    with pytest.raises(UsageError, match="unknown training recipe 'demo'; did you mean 'demo-sft'"):
        recipe_config("demo")


def test_trained_builtin_is_trained_once_then_reused(tmp_path, monkeypatch, capsys):
    from mosseval.models.hf import HFArgs, resolve_checkpoint
    from mosseval.train import recipes

    fast = {**recipes.RECIPES["demo-sft"], "train_size": None, "steps": 2, "per_device_batch_size": 2, "frames": 4,
            "max_completion_length": 64}
    monkeypatch.setitem(recipes.RECIPES, "demo-sft", fast)
    monkeypatch.setitem(recipes.RECIPES, "demo-sft-answer", {**fast, "steps": 3, "sft_answer_weight": 30.0})
    monkeypatch.setitem(recipes.TRAINED, "mini-qwen2.5-vl-sft", ("tiny-qwen2.5-vl", ("demo-sft", "demo-sft-answer")))
    monkeypatch.setenv("MOSSEVAL_CACHE_DIR", str(tmp_path))
    path = resolve_checkpoint("builtin:mini-qwen2.5-vl-sft", HFArgs()).path
    said = capsys.readouterr().err
    # what the user sees while it trains: the stages, a bar per stage, the time; no temporary checkpoint paths
    assert "training mini-qwen2.5-vl-sft" in said and "2 + 3 steps" in said and "trained mini-qwen2.5-vl-sft in" in said
    assert said.count("sft ") >= 2 and "saved " not in said and "Loading weights" not in said, said
    assert "torch threads chosen by timing" in " ".join(said.split()) and " thread(s)" in said  # auto; the bar shows it
    assert path == recipes.trained_dir("mini-qwen2.5-vl-sft", tmp_path) and path.name.startswith("mini-qwen2.5-vl-sft-seed0-")
    manifest = json.loads((path / "mosseval_trained.json").read_text())
    assert manifest["recipes"] == ["demo-sft", "demo-sft-answer"] and manifest["base"] == "tiny-qwen2.5-vl"
    assert [(st["recipe"], st["summary"]["method"], st["summary"]["steps"]) for st in manifest["stages"]] == [
        ("demo-sft", "sft", 2), ("demo-sft-answer", "sft", 3)]
    assert [sum(st["summary"]["thread_steps"].values()) for st in manifest["stages"]] == [2, 3]
    assert manifest["torch_threads"] == "auto" and manifest["stages"][0]["summary"]["vision_cache"]["misses"] >= 1
    # the second stage started from the first stage's checkpoint, not from the base model
    import yaml

    first = yaml.safe_load((path / "train_config.demo-sft.yaml").read_text())
    second = yaml.safe_load((path / "train_config.demo-sft-answer.yaml").read_text())
    assert first["model"] == "tiny-qwen2.5-vl" and first["sft_answer_weight"] == fast["sft_answer_weight"]
    assert second["model"].endswith("checkpoint-2") and second["sft_answer_weight"] == 30.0
    assert manifest["reproduce"][1].endswith("--model STAGE1/checkpoint-2")
    assert (path / "model.safetensors").is_file() and (path / "mosseval_train_state.json").is_file()
    assert not (path / "trainer_state").exists() and not list(tmp_path.glob("models/.*train-*"))
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    assert recipes.ensure_trained("mini-qwen2.5-vl-sft", tmp_path) == path
    assert (path / "model.safetensors").stat().st_mtime_ns == stamp  # reused, not retrained
    # a changed recipe is another cache entry, never a stale reuse
    monkeypatch.setitem(recipes.RECIPES, "demo-sft", {**fast, "lr": 1e-4})
    assert recipes.trained_dir("mini-qwen2.5-vl-sft", tmp_path) != path
    with pytest.raises(UsageError, match="unknown builtin model 'mini-qwen2.5-vl-stf'; did you mean"):
        resolve_checkpoint("builtin:mini-qwen2.5-vl-stf", HFArgs())
