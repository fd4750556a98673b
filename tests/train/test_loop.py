"""GRPO training on the real tiny Qwen2.5-VL and moss-video-mini (in-process, CPU, one thread)."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest

from mosseval.errors import ExitCode, UsageError
from mosseval.train.config import load_config

pytestmark = pytest.mark.hf

pytest.importorskip("transformers")
pytest.importorskip("accelerate")

SMALL = dict(model="tiny-qwen2.5-vl", data="moss-video-mini:train", per_device_batch_size=2, num_generations=4,
             max_completion_length=24, frames=4, quiet=True, num_threads=1)


def vowel_fraction(prompts, completions, **columns):
    """A trivially learnable reward: the share of vowels in the completion text."""
    return [sum(ch in "aeiou" for ch in c) / max(1, len(c)) for c in completions]


def _cfg(tmp: Path, **kw):
    return load_config(None, {**SMALL, "output_dir": str(tmp), **kw})


def _run(tmp: Path, reward_fns=None, **kw):
    from mosseval.train.loop import GRPOTrainer

    trainer = GRPOTrainer(_cfg(tmp, **kw), reward_fns=reward_fns)
    return trainer, trainer.train()


# --------------------------------------------------------------------------- the acceptance run


@pytest.fixture(scope="module")
def twenty(tmp_path_factory):
    out = tmp_path_factory.mktemp("train20")
    trainer, result = _run(out, steps=20, save_every=10, lr=1e-5)
    return trainer, result, out


def test_twenty_cpu_steps_log_finite_loss_rewards_and_prr(twenty):
    trainer, result, out = twenty
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == list(range(1, 21))
    for r in lines:
        assert math.isfinite(r["loss"]) and math.isfinite(r["kl"]) and r["kl"] >= 0
        for key in ("reward", "reward/accuracy", "reward/format", "reward/prr", "accuracy", "completion_length",
                    "grad_norm", "lr", "step_time_s"):
            assert key in r, key
        assert "prr_correct" in r and "prr_incorrect" in r  # PRR split by answer correctness
        assert r["completions"] == 8 and 1 <= r["completion_length"] <= 24
        assert 0.0 <= r["reward/prr"] <= 1.0
    assert lines[-1]["epoch"] == pytest.approx(40 / 420, abs=1e-4)
    assert (out / "checkpoint-10").is_dir() and (out / "checkpoint-20").is_dir()
    assert result.last_checkpoint == out / "checkpoint-20"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 20 and summary["world_size"] == 1 and summary["step_time_median_s"] > 0
    report = (out / "report.html").read_text()
    assert report.count("<svg") >= 5 and "reward/prr" in report and "<script" not in report
    comps = [json.loads(x) for x in (out / "completions.jsonl").read_text().splitlines()]
    assert len(comps) == 40 and {"text", "reward", "advantage", "reward/prr"} <= set(comps[0])
    state = json.loads((out / "checkpoint-20" / "mosseval_train_state.json").read_text())
    assert state["step"] == 20 and state["consumed_prompts"] == 40


def test_checkpoint_reloads_with_the_trained_weights(twenty):
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    trainer, result, out = twenty
    ckpt = out / "checkpoint-20"
    model = AutoModelForImageTextToText.from_pretrained(ckpt, local_files_only=True)
    processor = AutoProcessor.from_pretrained(ckpt, local_files_only=True)
    assert processor.chat_template
    trained = dict(trainer.unwrapped.named_parameters())
    loaded = dict(model.named_parameters())
    assert trained.keys() == loaded.keys()
    for name, p in loaded.items():
        assert torch.equal(p, trained[name].detach().cpu()), name
    start = AutoModelForImageTextToText.from_pretrained(trainer.hf.checkpoint.path, local_files_only=True)
    changed = [n for n, p in start.named_parameters() if not torch.equal(p, loaded[n])]
    assert changed, "training changed no weight"
    assert any(".visual." in n or n.startswith("model.visual") for n in changed), "the vision tower got no gradient"


@pytest.mark.e2e
def test_mosseval_run_evaluates_the_checkpoint(twenty, cli, tmp_path):
    _, _, out = twenty
    proc = cli("run", "--model", str(out / "checkpoint-20"), "--tasks", "moss-video-mini", "--limit", "8",
               "--output-dir", str(tmp_path / "runs"), "-q")
    assert proc.returncode == 0, proc.stderr
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    log = json.loads((run_dir / "run.json").read_text())
    assert log["status"] == "completed"
    assert log["results"]["moss-video-mini"]["n"] == 8
    assert log["spec"]["model_identity"]["checkpoint"]["kind"] == "local"


def test_existing_checkpoints_need_resume_or_overwrite(twenty):
    from mosseval.train.loop import GRPOTrainer

    _, _, out = twenty
    with pytest.raises(UsageError, match="already holds 2 checkpoint"):
        GRPOTrainer(_cfg(out, steps=2)).setup()


# --------------------------------------------------------------------------- the video in every forward


def test_same_video_tensors_reach_every_forward(tmp_path):
    import torch

    from mosseval.train.loop import GRPOTrainer

    trainer = GRPOTrainer(_cfg(tmp_path, steps=1, per_device_batch_size=2, num_generations=3,
                               max_completion_length=12, beta=0.1)).setup()
    assert trainer.ref_model is not None
    calls = []  # top-level forwards: (tag, sequence length, kwargs)
    vision = []  # vision-tower calls: (tag, pixels, grid_thw)

    def recorder(tag):
        def hook(module, args, kwargs):
            calls.append((tag, kwargs["input_ids"].shape[1], kwargs))
        return hook

    def vision_recorder(tag):
        def hook(module, args, kwargs):
            vision.append((tag, args[0] if args else kwargs["hidden_states"], kwargs.get("grid_thw")))
        return hook

    from mosseval.train.loop import _vision_module

    handles = [trainer.unwrapped.register_forward_pre_hook(recorder("policy"), with_kwargs=True),
               trainer.ref_model.register_forward_pre_hook(recorder("reference"), with_kwargs=True),
               _vision_module(trainer.unwrapped).register_forward_pre_hook(vision_recorder("policy"), with_kwargs=True),
               _vision_module(trainer.ref_model).register_forward_pre_hook(vision_recorder("reference"),
                                                                           with_kwargs=True)]
    try:
        ro = trainer.rollout(0, 0)
        n_rollout, n_vision_rollout = len(calls), len(vision)
        loss, stats = trainer.loss(ro)
        loss.backward()
    finally:
        for h in handles:
            h.remove()

    plen = ro.inputs["input_ids"].shape[1]
    full = plen + ro.completion_ids.shape[1]
    video = ro.inputs["pixel_values_videos"]
    thw = ro.inputs["video_grid_thw"]
    assert video.shape[0] == 2 * 3 * int(thw[0].prod())  # 6 rows of patches: each prompt's video 3 times
    # The vision tower encodes the same pixels four times: for generate, the old-logprob pass, the
    # reference pass (in the rollout) and the gradient pass (in the loss).
    assert [t for t, _, _ in vision] == ["policy", "policy", "reference", "policy"]
    assert n_vision_rollout == 3
    for tag, pixels, grid in vision:
        assert torch.equal(pixels, video) and torch.equal(grid, thw), tag
    # Every full-sequence forward receives the very same processor tensors.
    whole = [(i, c) for i, c in enumerate(calls) if c[1] == full]
    assert [c[0] for _, c in whole] == ["policy", "reference", "policy"]
    assert whole[2][0] >= n_rollout
    for _, (tag, _, kw) in whole:
        assert kw["pixel_values_videos"] is video, tag
        assert kw["video_grid_thw"] is thw and kw["second_per_grid_ts"] is ro.inputs["second_per_grid_ts"]
        assert torch.equal(kw["mm_token_type_ids"][:, :plen], ro.inputs["mm_token_type_ids"])
    # generate's prefill carries the encoded video and the same temporal spacing
    prefill = [c for c in calls if c[1] == plen]
    assert len(prefill) == 1 and prefill[0][2]["second_per_grid_ts"] is ro.inputs["second_per_grid_ts"]

    # first iteration: the policy equals the sampling policy, so the ratio is exactly 1
    assert stats["clip_fraction"] == 0.0
    with torch.no_grad():
        again = trainer.sequence_logps(trainer.model, ro, train_mode=True)
    mask = ro.completion_mask.bool()
    assert torch.allclose(again[mask], ro.old_logps[mask], atol=1e-5)

    # the old log-probs are those of the sampling pass: re-run generate with the same seed
    torch.manual_seed(trainer._generation_seed(0, 0))
    with torch.no_grad(), trainer._generation_model() as gm:
        out = gm.generate(**ro.inputs, do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
                          max_new_tokens=12, output_scores=True, return_dict_in_generate=True)
    assert torch.equal(out.sequences[:, plen:], ro.completion_ids)
    sampled = torch.stack(out.scores, 1).log_softmax(-1).gather(-1, ro.completion_ids.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(sampled[mask], ro.old_logps[mask], atol=1e-4)

    # and the video matters: without it the log-probs are different
    blind = copy.copy(ro)
    blind.inputs = {**ro.inputs, "pixel_values_videos": torch.zeros_like(video)}
    with torch.no_grad():
        no_video = trainer.sequence_logps(trainer.model, blind, train_mode=False)
    assert (no_video[mask] - ro.old_logps[mask]).abs().max() > 1e-3


# --------------------------------------------------------------------------- learning, determinism


def test_gradients_move_the_reward_the_right_way(tmp_path):
    """A trivially learnable reward (share of vowels) rises clearly over 20 seeded CPU steps."""
    _, res = _run(tmp_path, reward_fns={"test:vowels": vowel_fraction}, rewards=["test:vowels"], steps=20,
                  num_generations=8, max_completion_length=16, lr=1e-2, beta=0.0, warmup_ratio=0.0,
                  lr_scheduler="constant", save_every=0)
    r = np.array([m["reward"] for m in res.metrics])
    first, last = r[:5], r[-5:]
    welch_t = (last.mean() - first.mean()) / math.sqrt(first.var(ddof=1) / 5 + last.var(ddof=1) / 5)
    assert last.mean() - first.mean() > 0.15, r
    assert welch_t > 5, (welch_t, r)
    assert np.corrcoef(np.arange(len(r)), r)[0, 1] > 0.8


def test_same_seed_same_run_and_resume_state(tmp_path):
    kw = dict(steps=3, per_device_batch_size=1, num_generations=2, max_completion_length=8, lr=1e-3,
              save_every=0)
    t1, r1 = _run(tmp_path / "a", **kw)
    t2, r2 = _run(tmp_path / "b", **kw)
    t3, r3 = _run(tmp_path / "c", seed=1, **kw)
    losses = lambda r: [m["loss"] for m in r.metrics]  # noqa: E731
    assert losses(r1) == losses(r2)
    assert t1.params_digest() == t2.params_digest()
    assert t3.params_digest() != t1.params_digest()
    assert [m["reward"] for m in r1.metrics] == [m["reward"] for m in r2.metrics]


def test_grad_accumulation_clipping_and_schedule(tmp_path):
    import torch

    from mosseval.train.loop import GRPOTrainer, _lr_lambda

    cfg = _cfg(tmp_path, steps=3, per_device_batch_size=1, num_generations=4, grad_accum=2, max_completion_length=12,
               lr=1e-3, max_grad_norm=1e-3, rewards=["test:vowels"], beta=0.0, warmup_ratio=0.34, save_every=0)
    trainer = GRPOTrainer(cfg, reward_fns={"test:vowels": vowel_fraction}).setup()
    seen = []

    def pre_step(opt, args, kwargs):
        grads = [p.grad for p in trainer.trainable if p.grad is not None]
        seen.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))

    raw = trainer.optimizer.optimizer
    handle = raw.register_step_pre_hook(pre_step)
    try:
        res = trainer.train()
    finally:
        handle.remove()
    assert len(seen) == 3  # one optimizer update per step, not per micro-batch
    assert all(n <= 1e-3 * 1.0001 for n in seen), seen  # clipped
    assert max(m["grad_norm"] for m in res.metrics) > 1e-3  # ... from a larger norm
    assert all(m["completions"] == 8 for m in res.metrics)  # 2 micro-batches × 1 prompt × 4
    f = _lr_lambda(cfg, 3)
    assert [m["lr"] for m in res.metrics] == pytest.approx([1e-3 * f(i) for i in range(3)])


def test_lora_uses_the_base_as_reference_and_saves_merged_weights(tmp_path):
    import torch
    from transformers import AutoModelForImageTextToText

    trainer, res = _run(tmp_path, lora=True, lora_r=4, lora_target_modules=["q_proj", "v_proj"], steps=2,
                        per_device_batch_size=1, num_generations=4, max_completion_length=12, lr=1e-2,
                        rewards=["test:vowels"], reward_fns={"test:vowels": vowel_fraction}, save_every=0)
    assert trainer.ref_model is None  # no reference copy
    assert all(m["kl"] >= 0 for m in res.metrics) and res.metrics[-1]["kl"] > 0
    trainable = {n for n, p in trainer.unwrapped.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    ckpt = tmp_path / "checkpoint-2"
    assert (ckpt / "adapter" / "adapter_config.json").is_file()
    merged = copy.deepcopy(trainer.unwrapped).merge_and_unload().state_dict()
    loaded = AutoModelForImageTextToText.from_pretrained(ckpt, local_files_only=True).state_dict()
    for k, v in loaded.items():
        assert torch.equal(v, merged[k]), k
    base = AutoModelForImageTextToText.from_pretrained(trainer.hf.checkpoint.path, local_files_only=True)
    q = [k for k in loaded if k.endswith("q_proj.weight") and "language_model" in k][0]
    assert not torch.equal(loaded[q], base.state_dict()[q])


def test_beta_zero_makes_no_reference(tmp_path):
    trainer, res = _run(tmp_path, beta=0.0, steps=1, per_device_batch_size=1, num_generations=2,
                        max_completion_length=6, save_every=0)
    assert trainer.ref_model is None and "kl" not in res.metrics[0]


# --------------------------------------------------------------------------- errors


def test_model_without_chat_template_is_refused(tmp_path, cache_dir):
    import shutil

    from mosseval.models.tiny import ensure_tiny
    from mosseval.train.loop import GRPOTrainer

    src = ensure_tiny(cache_dir)
    dst = tmp_path / "no-template"
    shutil.copytree(src, dst)
    (dst / "chat_template.jinja").unlink(missing_ok=True)
    for name in ("tokenizer_config.json", "processor_config.json"):
        p = dst / name
        if p.is_file():
            data = json.loads(p.read_text())
            data.pop("chat_template", None)
            p.write_text(json.dumps(data))
    with pytest.raises(UsageError, match="no chat template") as e:
        GRPOTrainer(_cfg(tmp_path / "out", model=str(dst), steps=1)).setup()
    assert e.value.exit_code == ExitCode.USAGE


def test_cli_errors_exit_with_usage_code(tmp_path, monkeypatch):
    import torch

    from mosseval.cli import main

    if torch.cuda.is_available():
        pytest.skip("GPU-only options are valid here")
    base = ["train", "--model", "tiny-qwen2.5-vl", "-o", str(tmp_path), "-q"]
    for extra in (["--bf16"], ["-G", "4", "--generation-batch-size", "6"], ["--rollout", "vllm"]):
        with pytest.raises(SystemExit) as e:
            main(base + extra)
        assert e.value.code == int(ExitCode.USAGE), extra
    import importlib.util

    if not importlib.util.find_spec("tensorboard") and not importlib.util.find_spec("tensorboardX"):
        with pytest.raises(SystemExit) as e:
            main(base + ["--report-to", "tensorboard"])
        assert e.value.code == int(ExitCode.MISSING_DEPENDENCY)
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    with pytest.raises(SystemExit) as e:
        main(base)
    assert e.value.code == int(ExitCode.USAGE)
