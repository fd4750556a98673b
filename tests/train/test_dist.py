"""`mosseval train` as real processes: 2-process DDP on CPU (gloo) and resume after SIGKILL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.hf

pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from tests.support.cli import REPO  # noqa: E402

REWARD = '''def vowels(prompts, completions, **columns):
    return [sum(ch in "aeiou" for ch in c) / max(1, len(c)) for c in completions]
'''


def _reward_file(tmp: Path) -> str:
    path = tmp / "vowel_reward.py"
    path.write_text(REWARD)
    return f"{path}:vowels"


def _args(out: Path, reward: str, *extra: str) -> list[str]:
    return ["train", "--model", "tiny-qwen2.5-vl", "--data", "moss-video-mini:train", "-b", "1", "-G", "4",
            "--max-completion-length", "12", "--frames", "4", "--lr", "1e-2", "--num-threads", "1", "-q",
            "--rewards", f"accuracy,format,{reward}", "-o", str(out), *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def _check_two_process_run(out: Path, tiny_dir: Path) -> None:
    import torch
    from safetensors.torch import load_file

    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["distributed_type"] == "MULTI_CPU"
    assert len(summary["param_digests"]) == 2 and summary["params_in_sync"] is True
    state = json.loads((out / "checkpoint-3" / "mosseval_train_state.json").read_text())
    assert state["param_digests"] == summary["param_digests"]  # also in sync at the checkpoint
    assert state["consumed_prompts"] == 6  # 3 steps × 1 prompt × 2 processes
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3]
    assert all(m["completions"] == 8 for m in metrics)  # both processes' groups are counted
    assert all(m["grad_norm"] > 0 for m in metrics)
    trained = load_file(str(out / "checkpoint-3" / "model.safetensors"))
    start = load_file(str(tiny_dir / "model.safetensors"))
    assert any(not torch.equal(trained[k], start[k]) for k in start), "the 2-process run changed nothing"


@pytest.mark.e2e
def test_torchrun_two_processes_stay_in_sync(tmp_path, cache_dir):
    from mosseval.models.tiny import ensure_tiny

    tiny = ensure_tiny(cache_dir)
    out = tmp_path / "ddp"
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    cmd = [torchrun, "--nproc_per_node", "2", "--master_port", str(29500 + os.getpid() % 1000), "-m", "mosseval",
           *_args(out, _reward_file(tmp_path), "--steps", "3", "--save-every", "3")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    _check_two_process_run(out, tiny)


@pytest.mark.e2e
@pytest.mark.slow
def test_accelerate_launch_two_processes_stay_in_sync(tmp_path, cache_dir):
    from mosseval.models.tiny import ensure_tiny

    tiny = ensure_tiny(cache_dir)
    out = tmp_path / "acc"
    launcher = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or "accelerate"
    cmd = [launcher, "launch", "--config_file", str(REPO / "configs" / "accelerate" / "ddp_cpu.yaml"),
           "--main_process_port", str(29600 + os.getpid() % 1000), "-m", "mosseval",
           *_args(out, _reward_file(tmp_path), "--steps", "3", "--save-every", "3")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    _check_two_process_run(out, tiny)


@pytest.mark.e2e
def test_resume_after_sigkill_continues_from_the_last_checkpoint(tmp_path):
    """A run killed with SIGKILL after checkpoint-4 resumes there and ends exactly where an
    uninterrupted run ends (same metrics, same parameters)."""
    import torch

    from mosseval.train.config import load_config
    from mosseval.train.loop import GRPOTrainer

    torch.set_num_threads(1)
    reward = _reward_file(tmp_path)
    steps = ["--steps", "8", "--save-every", "2"]

    # the uninterrupted reference, in this process
    ref_cfg = load_config(None, dict(model="tiny-qwen2.5-vl", data="moss-video-mini:train", per_device_batch_size=1,
                                     num_generations=4, max_completion_length=12, frames=4, lr=1e-2, quiet=True,
                                     rewards=["accuracy", "format", reward], output_dir=str(tmp_path / "ref"),
                                     steps=8, save_every=2))
    ref = GRPOTrainer(ref_cfg)
    ref_result = ref.train()

    # the killed run, as a real process
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "mosseval", *_args(out, reward, *steps)], env=_env(), cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (out / "checkpoint-4").is_dir():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"training ended before checkpoint-4: {proc.stderr.read()[-2000:] if proc.stderr else ''}")
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "checkpoint-8").exists()

    resumed = GRPOTrainer(ref_cfg.model_copy(update={"output_dir": str(out), "resume": True}))
    result = resumed.train()
    assert result.start_step >= 4 and resumed.resumed_from.name == f"checkpoint-{result.start_step}"
    assert result.summary["steps_this_run"] == 8 - result.start_step
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == list(range(1, 9))  # no gap, no duplicate
    keys = ("loss", "reward", "kl", "completion_length", "lr")
    assert [[r[k] for k in keys] for r in lines] == [[r[k] for k in keys] for r in ref_result.metrics]
    assert resumed.params_digest() == ref.params_digest()
    assert (out / "checkpoint-8" / "model.safetensors").is_file()
