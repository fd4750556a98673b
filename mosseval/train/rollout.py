"""Rollouts: sampling G completions per prompt, through a replaceable generation engine.

The trainer owns everything that needs gradients (log-probabilities with the video, the loss);
a :class:`RolloutEngine` only turns prompts into completion token ids. The seam is small on
purpose, so that a throughput engine can replace ``transformers``' ``generate``:

``generate(batch: GenerationBatch) -> GenerationOutput``
    ``batch.prompts`` are the typed prompts (sample, chat messages, the decoded frames and their
    timing, the prefill), ``batch.inputs`` the processor tensors of the same prompts already
    expanded to G rows each (what the trainer's forward passes use), ``batch.sampling`` the
    sampling parameters and ``batch.seed`` the seed of this micro-batch. The engine returns
    ``B × G`` rows of completion token ids in the policy tokenizer's vocabulary, prompt-major
    (``[p0 g0, p0 g1, …, p1 g0, …]``), right-padded; the trainer masks after the first
    end-of-sequence token.
``update_weights(model)``
    Called after every optimizer update with the unwrapped policy. An engine that runs on the
    policy module itself (HF) does nothing; one that holds its own copy of the weights (a vLLM
    engine, in-process or behind a server) loads the new state dict here.
``close()``
    Frees the engine.

Built in: ``hf`` (:class:`HFGenerateEngine`, video in via the processor tensors, per-step seeds).
A vLLM engine is the standard next step on GPUs (prompts → ``LLM.generate`` with
``multi_modal_data={"video": (frames, metadata)}``, ``SamplingParams(n=G, seed=…)``, weights
pushed with ``load_weights`` in ``update_weights``); until it exists, ``--rollout vllm`` explains
how to run at scale with ``--export verl``. Any class is accepted as ``--rollout module:Class``
(constructed as ``Class(trainer)``).
"""

from __future__ import annotations

import importlib
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from mosseval.errors import UsageError
from mosseval.train.sequences import Sequences

__all__ = ["SamplingParams", "GenerationBatch", "GenerationOutput", "RolloutEngine", "HFGenerateEngine",
           "Rollout", "make_engine", "ENGINES"]


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 768


@dataclass
class GenerationBatch:
    prompts: list[Any]
    """:class:`mosseval.train.data.Prompt` objects (sample, request with messages and frames)."""
    inputs: dict[str, Any]
    """Processor outputs, expanded to ``num_generations`` rows per prompt."""
    num_generations: int
    sampling: SamplingParams
    seed: int


@dataclass
class GenerationOutput:
    completion_ids: Any
    """``[B × G, L]`` token ids, prompt-major, right-padded."""
    seconds: float = 0.0


@runtime_checkable
class RolloutEngine(Protocol):
    name: str

    def generate(self, batch: GenerationBatch) -> GenerationOutput: ...

    def update_weights(self, model: Any) -> None: ...

    def close(self) -> None: ...


class HFGenerateEngine:
    """``model.generate`` on the policy itself, with the processor's video tensors."""

    name = "hf"

    def __init__(self, trainer: Any):
        self.trainer = trainer

    @contextmanager
    def _generation_model(self):
        """The module ``generate`` runs on, with parameters available on every process."""
        from accelerate.utils import DistributedType

        tr = self.trainer
        acc = tr.accelerator
        model = tr.unwrapped
        was_training = model.training
        model.eval()
        try:
            if acc.distributed_type == DistributedType.FSDP and not _is_fsdp2(tr.model):
                from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

                with FSDP.summon_full_params(tr.model, recurse=False, writeback=False):
                    yield model
            else:
                yield model
        finally:
            model.train(was_training)

    def _synced_gpus(self) -> bool:
        from accelerate.utils import DistributedType

        acc = self.trainer.accelerator
        if acc.num_processes < 2:
            return False
        if acc.distributed_type == DistributedType.FSDP:
            return True
        if acc.distributed_type == DistributedType.DEEPSPEED:
            plugin = acc.state.deepspeed_plugin
            return bool(plugin and plugin.zero_stage == 3)
        return False

    def generate(self, batch: GenerationBatch) -> GenerationOutput:
        import torch

        s = batch.sampling
        t0 = time.perf_counter()
        torch.manual_seed(batch.seed)
        with torch.no_grad(), self._generation_model() as gm:
            sequences = gm.generate(**batch.inputs, do_sample=True, temperature=s.temperature, top_p=s.top_p,
                                    top_k=s.top_k, max_new_tokens=s.max_new_tokens,
                                    synced_gpus=self._synced_gpus())
        plen = batch.inputs["input_ids"].shape[1]
        return GenerationOutput(sequences[:, plen:], time.perf_counter() - t0)

    def update_weights(self, model: Any) -> None:
        """Nothing to do: generation runs on the policy module itself."""

    def close(self) -> None:
        self.trainer = None


def _is_fsdp2(model: Any) -> bool:
    return type(model).__name__.startswith("FSDP") and "FullyShardedDataParallel" != type(model).__name__


ENGINES: dict[str, type] = {"hf": HFGenerateEngine}
"""Built-in rollout engines by ``--rollout`` name."""


def make_engine(spec: str, trainer: Any) -> RolloutEngine:
    """The engine named by ``--rollout``: a built-in name or ``module:Class``."""
    if spec in ENGINES:
        return ENGINES[spec](trainer)
    if spec == "vllm":
        raise UsageError("vLLM rollouts are not built into `mosseval train` yet",
                         hint="export the data with `--export verl DIR` and train on verl, which runs vLLM "
                         "rollouts (docs/howto/training.md); or plug an engine in with --rollout module:Class")
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise UsageError(f"unknown rollout engine {spec!r}", hint="use hf, or module:Class")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise UsageError(f"cannot load the rollout engine {spec!r}: {type(e).__name__}: {e}") from None
    engine = cls(trainer)
    missing = [m for m in ("generate", "update_weights", "close") if not callable(getattr(engine, m, None))]
    if missing:
        raise UsageError(f"rollout engine {spec!r} lacks {', '.join(missing)}",
                         hint="implement mosseval.train.rollout.RolloutEngine")
    return engine


@dataclass
class Rollout(Sequences):
    """One GRPO micro-batch: G completions for each of B prompts, with everything the loss needs."""

    advantages: Any = None
    rewards: Any = None
    components: dict[str, list[float | None]] = field(default_factory=dict)
    correct: list[float | None] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    sample_ids: list[str] = field(default_factory=list)
    old_logps: Any = None
    """Log-probs under the sampling policy; None when it is the current one (μ = 1)."""
    ref_logps: Any = None
    gen_seconds: float = 0.0
    prr: list[float | None] = field(default_factory=list)
    """PRR of every completion, also when it is not one of the optimised rewards."""
