"""SFT (the cold start): targets, learning, the video in every forward, checkpoints, resume after SIGKILL."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from mosseval.errors import UsageError
from mosseval.train.config import load_config
from tests.support.cli import mosseval_cli, mosseval_popen

pytestmark = pytest.mark.hf

pytest.importorskip("transformers")
pytest.importorskip("accelerate")

SMALL = dict(method="sft", model="tiny-qwen2.5-vl", data="moss-video-mini:train", per_device_batch_size=2, frames=4,
             max_completion_length=200, quiet=True, num_threads=1, save_every=0, lr=3e-3, warmup_ratio=0.0,
             lr_scheduler="constant")


def _cfg(tmp: Path, **kw):
    return load_config(None, {**SMALL, "output_dir": str(tmp), **kw})


def _trainer(tmp: Path, **kw):
    from mosseval.train.sft import SFTTrainer

    return SFTTrainer(_cfg(tmp, **kw))


def _sample(**kw):
    from mosseval.records import ReferenceStep, Sample

    steps = [ReferenceStep(t=float(i), text=t) for i, t in enumerate(kw.pop("steps", [
        "At 0 s the red square is at row 1, column 1.", "At 1 s the red square is at row 2, column 2.",
        "Next, the red square will be at row 3, column 3."]))]
    return Sample(id="x", task="t", question="q", options={"A": "a", "B": "b"}, answer="B", reference_steps=steps, **kw)


def test_targets_are_the_reference_trace_in_the_task_format():
    from mosseval.prr.format import format_ok
    from mosseval.rewards import reward_components
    from mosseval.train.sft import render_target

    s = _sample()
    full = render_target(s, "full")
    assert full == ("<think>\nAt 0 s the red square is at row 1, column 1.\nAt 1 s the red square is at row 2, column 2."
                    "\nNext, the red square will be at row 3, column 3.\n</think>\n<answer>B</answer>")
    refs = [[{"t": r.t, "text": r.text} for r in s.reference_steps]] * 3
    texts = [full, render_target(s, "observed"), render_target(s, "none")]
    got = reward_components([None] * 3, texts, answer=["B"] * 3, reference_steps=refs)
    assert all(format_ok(t) for t in texts) and got["accuracy"] == [1.0, 1.0, 1.0]
    assert got["prr"][0] == pytest.approx(1.0)  # the full trace is the PRR ceiling
    assert 0.0 < got["prr"][1] < 1.0 and got["prr"][2] == 0.0


def test_method_specific_options_are_refused_for_the_other_method(tmp_path):
    with pytest.raises(UsageError, match="--num-generations, --beta do.* not apply to --method sft"):
        load_config(None, {"method": "sft", "model": "m", "num_generations": 4, "beta": 0.1})
    with pytest.raises(UsageError, match="--sft-trace do.* not apply to --method grpo"):
        load_config(None, {"model": "m", "sft_trace": "observed"})
    assert load_config(None, {"method": "sft", "model": "m"}).lr == 2e-5  # SFT's own default
    assert load_config(None, {"model": "m"}).lr == 1e-6


def test_loss_falls_on_a_tiny_batch_and_the_video_reaches_every_forward(tmp_path):
    """Four samples seen over and over: the target likelihood rises fast; every forward of the
    step gets the processor's video tensors of exactly those samples."""
    import torch

    from mosseval.train.trainer import vision_module

    trainer = _trainer(tmp_path, limit=2, steps=12, lr=1e-2).setup()
    seen = []
    hook = vision_module(trainer.unwrapped).register_forward_pre_hook(
        lambda m, args, kw: seen.append((args[0] if args else kw["hidden_states"]).detach().clone()),
        with_kwargs=True)
    calls = []
    top = trainer.unwrapped.register_forward_pre_hook(lambda m, args, kw: calls.append(kw), with_kwargs=True)
    try:
        res = trainer.train()
    finally:
        hook.remove()
        top.remove()
    losses = [m["loss"] for m in res.metrics]
    assert len(losses) == 12 and losses[-1] < 0.5 * losses[0], losses
    # the mean target-token probability grows by an order of magnitude (measured: 0.003 -> 0.08 in
    # 12 steps with the tiny model's generic 150k-token vocabulary)
    assert res.metrics[-1]["token_prob"] > 10 * res.metrics[0]["token_prob"], [m["token_prob"] for m in res.metrics]
    assert len(seen) == len(calls) == 12  # one forward per step, each with the vision tower
    for k, (pixels, kw) in enumerate(zip(seen, calls)):
        # step k reads stream positions 2k, 2k+1: the same 2 videos (limit 2), in each epoch's order
        expected, _ = trainer.hf.prepare_inputs([p.request for p in trainer.data.batch(2 * k, 2)])
        assert torch.equal(pixels, expected["pixel_values_videos"]), k
        assert torch.equal(kw["video_grid_thw"], expected["video_grid_thw"])
        assert kw["input_ids"].shape[1] > expected["input_ids"].shape[1]  # prompt + target
    assert len({tuple(trainer.data.permutation(e)) for e in range(12)}) == 2  # both orders were seen
    # and the video matters to the loss: blank frames give another likelihood
    from mosseval.train.loss import sft_loss, token_logps

    seqs = trainer.batch(0)
    with torch.no_grad():
        with_video = sft_loss(token_logps(trainer.model, seqs), seqs.completion_mask)[0]
        seqs.inputs = {**seqs.inputs, "pixel_values_videos": torch.zeros_like(seqs.inputs["pixel_values_videos"])}
        blind = sft_loss(token_logps(trainer.model, seqs), seqs.completion_mask)[0]
    # the pixels reach the loss (measured 3e-5 on a loss of 2.7, far above float32 round-off on the same
    # input, which is exactly 0 on CPU); whether a model *relies* on them is the blind control's question
    assert abs(float(with_video) - float(blind)) > 1e-6


def test_vision_lr_scale_sets_the_vision_towers_learning_rate(tmp_path):
    """--vision-lr-scale 5: every vision parameter (patch embedding, blocks, merger) in groups at 5x
    lr, every other parameter at lr; one step moves the vision weights by ~5x as much (Adam)."""

    from mosseval.train.trainer import vision_module

    trainer = _trainer(tmp_path, limit=2, steps=1, lr=1e-3, vision_lr_scale=5.0).setup()
    vis = {id(p) for p in vision_module(trainer.unwrapped).parameters()}
    lrs = {}
    for g in trainer.optimizer.param_groups:
        for p in g["params"]:
            lrs[id(p)] = g["lr"]
    trainable = [p for p in trainer.unwrapped.parameters() if p.requires_grad]
    assert len(lrs) == len(trainable) and vis <= set(lrs)
    assert sorted({lrs[i] for i in vis}) == pytest.approx([5e-3])
    assert sorted({v for i, v in lrs.items() if i not in vis}) == pytest.approx([1e-3])
    merger = vision_module(trainer.unwrapped).merger.mlp[0].weight
    before = {"vision": merger.detach().clone(), "lm": trainer.unwrapped.lm_head.weight.detach().clone()}
    res = trainer.train()
    # the vision probe logged the step's visual tokens (random init: they differ across tokens)
    rec = res.metrics[0]
    assert rec["vision_rms"] > 0 and 0.05 < rec["vision_spread"] < 2, rec
    # Adam's first step moves each weight by about lr (sign of the gradient), whatever its size
    step_v = (merger.detach() - before["vision"]).abs().max().item()
    step_l = (trainer.unwrapped.lm_head.weight.detach() - before["lm"]).abs().max().item()
    assert 4.0 < step_v / step_l < 6.0, (step_v, step_l)
    from mosseval.errors import ConfigError

    with pytest.raises(ConfigError, match="vision_lr_scale.*greater than 0"):
        _cfg(tmp_path, vision_lr_scale=0)


def test_vision_probe_measures_how_much_the_visual_tokens_differ():
    """spread = std across tokens / RMS: 0 for identical tokens (a collapsed tower), ~1 for
    independent ones; the RMS is the tokens' root mean square."""
    import torch

    from mosseval.train.trainer import VisionProbe

    tower = torch.nn.Identity()
    probe = VisionProbe(tower)
    g = torch.Generator().manual_seed(0)
    tower(torch.randn(400, 64, generator=g))
    rec = probe.pop()
    assert rec["vision_rms"] == pytest.approx(1.0, abs=0.02) and rec["vision_spread"] == pytest.approx(1.0, abs=0.03)
    assert probe.pop() == {}  # one reading per forward
    collapsed = 200.0 + 0.1 * torch.randn(400, 64, generator=g)  # a huge constant vector plus a little signal
    tower(collapsed)
    rec = probe.pop()
    assert rec["vision_rms"] == pytest.approx(200.0, rel=1e-3) and rec["vision_spread"] == pytest.approx(5e-4, rel=0.05)
    probe.handle.remove()
    tower(collapsed)
    assert probe.pop() == {}


def test_targets_are_truncated_to_max_completion_length(tmp_path):
    trainer = _trainer(tmp_path, limit=2, steps=1, max_completion_length=16).setup()
    seqs = trainer.batch(0)
    assert seqs.completion_ids.shape[1] == 16 and trainer.truncated == 2
    res = trainer.train()
    assert res.metrics[0]["truncated_targets"] >= 2


def test_answer_mask_marks_exactly_the_answer_letter(tmp_path):
    """The tokens flagged as the answer decode to the gold letter (the tokenizer may merge it with the
    tag's '>'), nothing of the trace is flagged, and truncation keeps ids and flags aligned."""
    trainer = _trainer(tmp_path, limit=4, steps=1).setup()
    prompts = trainer.data.batch(0, 4)
    rows, answers = trainer.targets(prompts)
    for p, ids, flags in zip(prompts, rows, answers):
        assert len(ids) == len(flags) and ids[-1] == trainer.eos_id and flags[-1] == 0
        marked = trainer.tokenizer.decode([t for t, f in zip(ids, flags) if f])
        assert 1 <= sum(flags) <= 2 and p.sample.answer in marked and marked.strip("<>") == p.sample.answer, marked
    seqs = trainer.batch(0)
    assert seqs.answer_mask.shape == seqs.completion_mask.shape
    assert int(seqs.answer_mask.sum()) >= 2 and bool((seqs.answer_mask <= seqs.completion_mask).all())
    short = _trainer(tmp_path / "s", limit=2, steps=1, max_completion_length=16).setup()
    rows, answers = short.targets(short.data.batch(0, 2))
    assert [len(r) for r in rows] == [len(a) for a in answers] == [16, 16] and sum(map(sum, answers)) == 0


def test_a_tokenizer_without_offsets_flags_no_answer_and_refuses_the_weight(tmp_path, monkeypatch):
    trainer = _trainer(tmp_path, limit=2, steps=1).setup()
    prompts = trainer.data.batch(0, 2)
    fast_rows, _ = trainer.targets(prompts)
    monkeypatch.setattr(type(trainer.tokenizer), "is_fast", property(lambda self: False))
    rows, answers = trainer.targets(prompts)
    assert rows == fast_rows and all(sum(a) == 0 for a in answers)  # the same targets, no answer flags
    with pytest.raises(UsageError, match="--sft-answer-weight needs a fast tokenizer"):
        _trainer(tmp_path / "w", limit=2, steps=1, sft_answer_weight=5).setup()


def test_sft_loss_weighs_the_answer_tokens():
    import math

    import torch

    from mosseval.train.loss import sft_loss

    logp = torch.log(torch.tensor([[0.5, 0.25, 0.8, 0.1], [0.9, 0.2, 0.5, 0.5]]))
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    answer = torch.tensor([[0, 1, 0, 0], [0, 1, 0, 1]])  # a flag on padding does not count
    plain, st = sft_loss(logp, mask)
    nll = [-math.log(x) for x in (0.5, 0.25, 0.8, 0.9, 0.2)]
    assert float(plain) == pytest.approx(sum(nll) / 5) and st["loss"] == pytest.approx(sum(nll) / 5)
    assert math.isnan(st["answer_nll"])
    same, st1 = sft_loss(logp, mask, answer_mask=answer, answer_weight=1.0)
    assert float(same) == pytest.approx(float(plain))
    assert st1["answer_nll"] == pytest.approx((-math.log(0.25) - math.log(0.2)) / 2)
    weighted, st10 = sft_loss(logp, mask, answer_mask=answer, answer_weight=10.0)
    expected = (nll[0] + nll[2] + nll[3] + 10 * (nll[1] + nll[4])) / (3 + 10 * 2)
    assert float(weighted) == pytest.approx(expected)
    assert st10["loss"] == pytest.approx(st["loss"]) and st10["tokens"] == 5.0  # the logged loss is unweighted


def test_answer_weight_is_an_sft_option(tmp_path):
    from mosseval.errors import ConfigError

    assert _cfg(tmp_path, sft_answer_weight=5).sft_answer_weight == 5.0
    with pytest.raises(UsageError, match="--sft-answer-weight do.* not apply to --method grpo"):
        load_config(None, {"model": "m", "sft_answer_weight": 5})
    with pytest.raises(ConfigError, match=r"key `sft_answer_weight` \(--sft-answer-weight\): Input should be greater than 0"):
        _cfg(tmp_path, sft_answer_weight=0)
    # the same 2 samples, 4 steps: weighted, the answer's likelihood rises faster
    runs = {w: _trainer(tmp_path / f"w{w}", limit=2, steps=4, lr=1e-2, sft_answer_weight=w).setup().train().metrics
            for w in (1, 20)}
    assert runs[1][0]["answer_nll"] == pytest.approx(runs[20][0]["answer_nll"])  # same start
    assert runs[20][-1]["answer_nll"] < runs[1][-1]["answer_nll"] - 0.5, runs


def _train_cli(out: Path, *extra: str) -> list[str]:
    return ["train", "--method", "sft", "--model", "tiny-qwen2.5-vl", "--data", "moss-video-mini:train",
            "-b", "2", "--frames", "4", "--max-completion-length", "160", "--num-threads", "1", "--lr", "1e-3",
            "-o", str(out), "-q", *extra]


def test_checkpoint_round_trips_through_run_and_grpo(tmp_path):
    out = tmp_path / "sft"
    proc = mosseval_cli(*_train_cli(out, "--steps", "2", "--save-every", "1"))
    assert proc.returncode == 0, proc.stderr
    ckpt = out / "checkpoint-2"
    assert proc.stdout.strip().splitlines()[-1] == str(ckpt)
    state = json.loads((ckpt / "mosseval_train_state.json").read_text())
    assert state["method"] == "sft" and state["step"] == 2 and state["consumed_prompts"] == 4
    assert state["data"]["checked_against"] == ["moss-video-mini"] and state["data"]["shared_videos"] == 0
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2] and all(m["target_tokens"] > 0 for m in metrics)
    assert "SFT" in (out / "report.html").read_text() or "loss" in (out / "report.html").read_text()

    run = mosseval_cli("run", "--model", str(ckpt), "--tasks", "moss-video-mini", "--limit", "4",
                       "--output-dir", str(tmp_path / "runs"), "-q", "-M", "num_threads=1")
    assert run.returncode == 0, run.stderr
    log = json.loads((Path(run.stdout.strip().splitlines()[-1]) / "run.json").read_text())
    assert log["status"] == "completed" and log["results"]["moss-video-mini"]["n"] == 4
    assert log["spec"]["model_identity"]["checkpoint"]["kind"] == "local"

    grpo = mosseval_cli("train", "--model", str(ckpt), "--data", "moss-video-mini:train", "-b", "1", "-G", "2",
                        "--frames", "4", "--max-completion-length", "8", "--steps", "1", "--num-threads", "1",
                        "-o", str(tmp_path / "grpo"), "-q")
    assert grpo.returncode == 0, grpo.stderr
    assert "Loading weights" not in grpo.stderr  # -q: no progress bar when loading a local checkpoint either
    gstate = json.loads((tmp_path / "grpo" / "checkpoint-1" / "mosseval_train_state.json").read_text())
    assert gstate["method"] == "grpo" and gstate["config"]["model"] == str(ckpt)


def _deterministic(metrics: list[dict]) -> list[dict]:
    from mosseval.train.trainer import TIMING_KEYS

    return [{k: v for k, v in m.items() if k not in TIMING_KEYS} for m in metrics]


def test_resume_after_sigkill_is_identical_to_an_uninterrupted_run(tmp_path):
    whole = tmp_path / "whole"
    assert mosseval_cli(*_train_cli(whole, "--steps", "4", "--save-every", "1")).returncode == 0
    cut = tmp_path / "cut"
    proc = mosseval_popen(*_train_cli(cut, "--steps", "4", "--save-every", "1"))
    deadline = time.monotonic() + 300
    while not (cut / "checkpoint-2").is_dir() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert (cut / "checkpoint-2").is_dir() and not (cut / "checkpoint-4").exists()
    again = mosseval_cli(*_train_cli(cut, "--steps", "4", "--save-every", "1", "--resume"))
    assert again.returncode == 0, again.stderr
    a, b = whole / "checkpoint-4", cut / "checkpoint-4"
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    read = lambda d: [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    assert _deterministic(read(whole)) == _deterministic(read(cut))


def test_one_writer_per_output_folder(tmp_path):
    """`train` holds the output folder's lock (the run-directory lock): a second writer exits 2 naming the first."""
    import os

    trainer = _trainer(tmp_path / "out", limit=2, steps=1).setup()
    try:
        proc = mosseval_cli(*_train_cli(tmp_path / "out", "--steps", "1"))
        assert proc.returncode == 2, proc.stderr
        assert "is being written by another mosseval process" in proc.stderr and f"pid {os.getpid()}" in proc.stderr
        assert "Traceback" not in proc.stderr
    finally:
        trainer.release()
    res = trainer.train()  # the lock is re-taken by nobody else; this trainer finishes normally
    assert res.steps == 1
    again = mosseval_cli(*_train_cli(tmp_path / "out", "--steps", "2", "--resume"))
    assert again.returncode == 0, again.stderr


def test_vision_options_refuse_a_model_without_a_vision_tower():
    import torch

    from mosseval.train.trainer import required_vision_module

    with pytest.raises(UsageError, match="--vision-lr-scale: 'text-lm' has no vision tower"):
        required_vision_module(torch.nn.Linear(2, 2), "text-lm", "--vision-lr-scale")
    vlm = torch.nn.Module()
    vlm.visual = torch.nn.Linear(2, 2)
    assert required_vision_module(vlm, "vlm", "--freeze-vision") is vlm.visual
