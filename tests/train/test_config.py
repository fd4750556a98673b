"""`mosseval train` configuration, data mapping and up-front errors (no torch needed)."""

from __future__ import annotations

import json
import math

import pytest

from mosseval.errors import ConfigError, ExitCode, MossevalError, UsageError
from mosseval.train.config import DEFAULT_MAX_PIXELS, GPURequiredError, TrainConfig, load_config, parse_data


def test_defaults_follow_the_spec():
    cfg = load_config(None, {"model": "tiny-qwen2.5-vl"})
    assert cfg.num_generations == 8 and cfg.beta == 0.04 and cfg.lr == 1e-6
    assert cfg.lr_scheduler == "cosine" and cfg.weight_decay == 0.01
    assert cfg.max_completion_length == 768 and cfg.frames == 16 and cfg.max_pixels == DEFAULT_MAX_PIXELS == 100352
    assert cfg.rewards == ["accuracy", "format", "prr"] and cfg.weights == {"accuracy": 1.0, "format": 1.0, "prr": 1.0}
    assert cfg.data == "moss-video-mini:train" and cfg.batch_size == 1


def test_yaml_file_with_cli_overrides(tmp_path):
    f = tmp_path / "train.yaml"
    f.write_text("model: tiny-qwen2.5-vl\nnum-generations: 4\nlr: 3.0e-6\nrewards: accuracy,format\n"
                 "reward_weights: [1, 0.5]\nprr: {jump: 3, alpha: 1.0}\nreport_to: none\n")
    cfg = load_config(f, {"lr": 1e-5, "steps": None, "beta": 0.0})
    assert cfg.num_generations == 4  # from the file (dashes accepted)
    assert cfg.lr == 1e-5  # the command line wins
    assert cfg.beta == 0.0 and cfg.steps is None
    assert cfg.weights == {"accuracy": 1.0, "format": 0.5}
    assert cfg.prr is not None and cfg.prr.jump == 3 and cfg.prr.alpha == 1.0
    assert cfg.report_to == []
    # the resolved config a run writes is itself a valid --config file
    dumped = tmp_path / "again.yaml"
    import yaml

    dumped.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    assert load_config(dumped) == cfg


@pytest.mark.parametrize("overrides, needle", [
    ({"num_generations": 4, "generation_batch_size": 6}, "not a multiple of num_generations=4"),
    ({"num_generations": 4, "generation_batch_size": 8, "per_device_batch_size": 3}, "disagrees"),
    ({"rewards": "accuracy,format", "reward_weights": "1,1,1"}, "3 reward weight(s) for 2 reward(s)"),
    ({"steps": 3, "epochs": 1.0}, "both steps and epochs"),
    ({"resume": True, "overwrite": True}, "exclude each other"),
    ({"rewards": "acuracy"}, "unknown reward 'acuracy'"),
    ({"num_generations": 1}, "num_generations"),
    ({"report_to": "tensorbord"}, "did you mean 'tensorboard'"),
    ({"reward_weights": "1,x,1"}, "comma-separated numbers"),
])
def test_bad_settings_are_usage_errors(overrides, needle):
    with pytest.raises(MossevalError) as e:  # UsageError or ConfigError: both exit with code 2
        load_config(None, {"model": "tiny-qwen2.5-vl", **overrides})
    assert needle in str(e.value)
    assert e.value.exit_code == ExitCode.USAGE


def test_generation_batch_size_defines_prompts_per_micro_batch():
    cfg = load_config(None, {"model": "m", "num_generations": 4, "generation_batch_size": 12})
    assert cfg.batch_size == 3


def test_unknown_config_key_names_the_file(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("model: x\nnum_generation: 4\n")
    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert "num_generation" in str(e.value) and str(f) in str(e.value) and "num_generations" in str(e.value)
    f.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(f)
    with pytest.raises(UsageError, match="no model"):
        load_config(None, {})


def test_gpu_only_options_fail_clearly_without_cuda():
    for cfg, needle in [
        (load_config(None, {"model": "m", "bf16": True}), "--bf16"),
        (load_config(None, {"model": "m", "dtype": "bfloat16"}), "--dtype bfloat16"),
        (load_config(None, {"model": "m", "rollout": "vllm"}), "--rollout vllm"),
    ]:
        with pytest.raises(GPURequiredError) as e:
            cfg.check_hardware(cuda_available=False)
        assert needle in str(e.value) and e.value.exit_code == ExitCode.USAGE
        cfg.check_hardware(cuda_available=True)  # fine on a GPU machine
    plain = load_config(None, {"model": "m"})
    with pytest.raises(GPURequiredError, match="DeepSpeed"):
        plain.check_hardware(cuda_available=False, distributed="deepspeed")
    with pytest.raises(GPURequiredError, match="FSDP"):
        plain.check_hardware(cuda_available=False, distributed="fsdp")
    plain.check_hardware(cuda_available=False)


def test_task_split_syntax():
    from mosseval.tasks import load_registry

    reg = load_registry()
    assert parse_data("moss-video-mini:train", reg) == "moss-video-mini-train"
    assert parse_data("moss-video-mini:test", reg) == "moss-video-mini"
    assert parse_data("moss-video-mini-train", reg) == "moss-video-mini-train"
    assert parse_data("moss-video:train", reg) == "moss-video-train"
    with pytest.raises(UsageError, match="moss-video-mini-val"):
        parse_data("moss-video-mini:val", reg)
    with pytest.raises(UsageError, match="did you mean"):
        parse_data("moss-video-mni", reg)


def _noref_task(tmp_path, with_steps: bool):
    """A MOSS-Video style task whose items do (not) carry reference steps."""
    data = tmp_path / "data"
    data.mkdir()
    lines = []
    for i in range(3):
        item = {"id": f"x{i}", "video": "clip.mp4", "question": "What next?",
                "options": {"A": "red", "B": "blue"}, "answer": "A", "split": "train"}
        if with_steps:
            item["reference_steps"] = [{"t": 0.0, "text": "The ball is red at the start."}]
        lines.append(json.dumps(item))
    (data / "train.jsonl").write_text("\n".join(lines) + "\n")
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "noref.yaml").write_text(
        "name: noref-train\nversion: '1'\nloader: moss_video_jsonl\nloader_args: {file: train.jsonl}\n"
        "prompt: {template: '{{ question }}'}\n")
    return data, tasks


def test_prr_on_a_dataset_without_reference_steps_is_refused(tmp_path):
    from mosseval.train.data import load_train_task

    data, tasks = _noref_task(tmp_path, with_steps=False)
    cfg = load_config(None, {"model": "m", "data": "noref:train", "data_dir": str(data), "tasks_dir": [str(tasks)]})
    with pytest.raises(UsageError) as e:
        load_train_task(cfg)
    assert "no sample of 'noref-train'" in str(e.value) and "--rewards accuracy,format" in str(e.value)
    assert e.value.exit_code == ExitCode.USAGE
    # without PRR the same data trains
    cfg2 = cfg.model_copy(update={"rewards": ["accuracy", "format"]})
    task, root, samples, _ = load_train_task(cfg2)
    assert task.name == "noref-train" and len(samples) == 3 and task.frames.num_frames == 16
    # a PRR weight of 0 does not need reference steps either
    cfg3 = load_config(None, {"model": "m", "data": "noref:train", "data_dir": str(data),
                              "tasks_dir": [str(tasks)], "reward_weights": "1,1,0"})
    assert len(load_train_task(cfg3)[2]) == 3


def test_reward_columns_and_stream_are_deterministic(tmp_path):
    from mosseval.train.data import TrainData, load_train_task, reward_columns

    data, tasks = _noref_task(tmp_path, with_steps=True)
    cfg = load_config(None, {"model": "m", "data": "noref-train", "data_dir": str(data), "tasks_dir": [str(tasks)]})
    task, root, samples, _ = load_train_task(cfg)
    cols = reward_columns(samples[:2], repeat=3)
    assert cols["answer"] == ["A"] * 6 and cols["sample_id"] == ["x0"] * 3 + ["x1"] * 3
    assert cols["reference_steps"][0] == [{"t": 0.0, "text": "The ball is red at the start."}]
    a, b = TrainData(cfg, task, root, samples), TrainData(cfg, task, root, samples)
    order = [a.sample_at(k) for k in range(9)]
    assert order == [b.sample_at(k) for k in range(9)]
    for epoch in range(3):  # every epoch is a permutation of all samples
        assert sorted(order[3 * epoch:3 * epoch + 3]) == [0, 1, 2]
    other = TrainData(cfg.model_copy(update={"seed": 1}), task, root, samples)
    assert [other.sample_at(k) for k in range(30)] != [a.sample_at(k) for k in range(30)]


def test_lr_schedule_warmup_then_cosine():
    from mosseval.train.trainer import lr_lambda as _lr_lambda

    cfg = TrainConfig(model="m", warmup_ratio=0.2, lr_scheduler="cosine")
    f = _lr_lambda(cfg, 10)
    values = [f(i) for i in range(10)]
    assert values[:2] == [0.5, 1.0]  # two warm-up updates
    assert all(x >= y for x, y in zip(values[1:], values[2:]))  # then non-increasing
    assert values[-1] == pytest.approx(0.0, abs=1e-12)
    assert values[5] == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 8)))
    lin = _lr_lambda(TrainConfig(model="m", warmup_ratio=0.0, lr_scheduler="linear", min_lr_ratio=0.1), 4)
    assert [round(lin(i), 6) for i in range(4)] == [0.775, 0.55, 0.325, 0.1]
    const = _lr_lambda(TrainConfig(model="m", warmup_ratio=0.0, lr_scheduler="constant"), 5)
    assert {const(i) for i in range(5)} == {1.0}
