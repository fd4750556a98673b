"""The rollout engine is a replaceable component (the seam a vLLM engine plugs into), tested with HF."""

from __future__ import annotations

import pytest

from mosseval.errors import ConfigError, ExitCode, UsageError
from mosseval.train.config import load_config

pytestmark = pytest.mark.hf

pytest.importorskip("transformers")
pytest.importorskip("accelerate")

CALLS: list = []
UPDATES: list = []


class RecordingEngine:
    """Delegates to the HF engine and records what crossed the seam."""

    name = "recording"

    def __init__(self, trainer):
        from mosseval.train.rollout import HFGenerateEngine

        self.inner = HFGenerateEngine(trainer)

    def generate(self, batch):
        out = self.inner.generate(batch)
        CALLS.append((batch, out))
        return out

    def update_weights(self, model):
        import hashlib

        h = hashlib.sha256()
        for p in model.parameters():
            h.update(p.detach().cpu().numpy().tobytes())
        UPDATES.append(h.hexdigest())

    def close(self):
        self.inner.close()


class WrongShapeEngine(RecordingEngine):
    def generate(self, batch):
        out = super().generate(batch)
        out.completion_ids = out.completion_ids[:1]
        return out


def _cfg(tmp_path, **kw):
    return load_config(None, {"model": "tiny-qwen2.5-vl", "per_device_batch_size": 2, "num_generations": 3,
                              "max_completion_length": 8, "frames": 4, "steps": 2, "save_every": 0, "quiet": True,
                              "num_threads": 1, "lr": 1e-3, "output_dir": str(tmp_path), **kw})


def test_a_plugged_in_engine_gets_typed_prompts_with_frames_and_weight_updates(tmp_path):
    from mosseval.train.grpo import GRPOTrainer

    CALLS.clear()
    UPDATES.clear()
    def vowels(prompts, completions, **columns):
        return [sum(ch in "aeiou" for ch in c) / max(1, len(c)) for c in completions]

    trainer = GRPOTrainer(_cfg(tmp_path, rollout=f"{__name__}:RecordingEngine", grad_accum=2, rewards=["t:vowels"],
                                  lr_scheduler="constant"),
                          reward_fns={"t:vowels": vowels})
    res = trainer.train()
    assert type(trainer.engine).__name__ == "RecordingEngine"
    assert len(CALLS) == 4  # 2 steps × 2 micro-batches
    seeds = set()
    for batch, out in CALLS:
        assert len(batch.prompts) == 2 and batch.num_generations == 3
        assert all(p.request.frames is not None and p.request.frames.array.shape[0] == 4 for p in batch.prompts)
        assert batch.inputs["input_ids"].shape[0] == 6 and "pixel_values_videos" in batch.inputs
        assert out.completion_ids.shape[0] == 6 and out.seconds > 0
        assert batch.sampling.max_new_tokens == 8 and batch.sampling.temperature == 1.0
        seeds.add(batch.seed)
    assert len(seeds) == 4  # one seed per step and micro-batch
    assert len(UPDATES) == 2 and UPDATES[0] != UPDATES[1]  # after each optimizer update, new weights
    assert [m["completions"] for m in res.metrics] == [12, 12]


def test_engines_are_checked(tmp_path):
    from mosseval.train.grpo import GRPOTrainer

    with pytest.raises(UsageError, match="returned \\(1, .*\\) token ids for 2 prompts × 3 generations"):
        GRPOTrainer(_cfg(tmp_path / "a", rollout=f"{__name__}:WrongShapeEngine")).train()
    with pytest.raises(UsageError, match="cannot load the rollout engine"):
        GRPOTrainer(_cfg(tmp_path / "b", rollout=f"{__name__}:Missing")).setup()
    with pytest.raises(ConfigError, match="unknown rollout engine 'sglang'") as e:
        _cfg(tmp_path / "c", rollout="sglang")
    assert e.value.exit_code == ExitCode.USAGE
