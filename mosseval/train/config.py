"""Training configuration: one typed record, read from YAML and overridden by the command line.

``method`` picks the trainer: ``grpo`` (default; rewards, groups, KL) or ``sft`` (supervised on the
reference traces: the cold start). Keys that only one method reads are refused for the other.

Every key of :class:`TrainConfig` can appear in ``--config FILE.yaml``; a command-line option
with the same name (``--num-generations`` for ``num_generations``) overrides the file. Defaults
follow SPEC §9 (the most-used open video GRPO recipe; the paper publishes none): G = 8,
β = 0.04, lr 1e-6 with a cosine schedule, weight decay 0.01, 768 completion tokens, 16 frames
at ≤ 128·28·28 pixels.

Batch geometry (per optimizer step)::

    prompts per micro-batch per process   B  = per_device_batch_size
    completions per micro-batch per process  = B × G       (= generation_batch_size)
    prompts per optimizer step (global)      = B × grad_accum × world_size

All G completions of a prompt are generated, scored and normalised on the same process, so a
group never straddles processes or micro-batches. ``generation_batch_size`` (completions per
process per micro-batch, TRL's way of counting) may be given instead of ``per_device_batch_size``
and must then be a multiple of G.

This module imports no torch: the CLI validates configs before loading anything heavy.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mosseval.errors import ConfigError, GPURequiredError, UsageError, did_you_mean
from mosseval.fileio import load_yaml
from mosseval.records import PRRConfig

__all__ = ["TrainConfig", "GPURequiredError", "load_config", "parse_data", "TRACKERS",
           "DEFAULT_MAX_PIXELS", "config_hash"]

DEFAULT_MAX_PIXELS = 128 * 28 * 28
"""Per-frame pixel budget for training (SPEC §9)."""

TRACKERS: dict[str, tuple[str, ...]] = {
    "tensorboard": ("tensorboard", "tensorboardX"),
    "wandb": ("wandb",),
    "mlflow": ("mlflow",),
    "comet_ml": ("comet_ml",),
    "aim": ("aim",),
    "clearml": ("clearml",),
    "dvclive": ("dvclive",),
    "swanlab": ("swanlab",),
    "trackio": ("trackio",),
}
"""``--report-to`` values (accelerate's trackers) and the import names that provide them."""

REWARD_BUILTINS = ("accuracy", "format", "prr")

DEFAULT_LR = {"grpo": 1e-6, "sft": 2e-5}
"""Peak learning rate when none is given: SPEC §9's GRPO default; a common full-SFT value."""

GRPO_ONLY = ("rewards", "reward_weights", "prr", "require_format", "num_generations", "generation_batch_size",
             "num_iterations", "beta", "clip_eps", "clip_eps_high", "adv_eps", "scale_rewards", "temperature",
             "top_p", "rollout", "log_completions")
SFT_ONLY = ("sft_trace", "sft_answer_weight")


class TrainConfig(BaseModel):
    """Everything ``mosseval train`` needs; see docs/howto/training.md for the meaning of each key."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)

    method: Literal["grpo", "sft"] = "grpo"
    """grpo: reinforcement learning with the rewards; sft: supervised on the reference traces (a cold start)."""

    # -- model
    model: str
    """Preset (mini-qwen2.5-vl, tiny-qwen2.5-vl, qwen2.5-vl-7b, ...), local checkpoint dir, or Hub id from
    the local cache."""
    model_args: dict[str, Any] = Field(default_factory=dict)
    """k=v,... for the hf backend (attn_implementation=sdpa, revision=..., cache_dir=...)."""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """Weight dtype: float32 | bfloat16 | float16 (the last two need a GPU)."""
    bf16: bool = False
    """bf16 mixed precision (autocast) through accelerate; needs a GPU."""
    gradient_checkpointing: bool = False
    """Trade compute for memory."""
    freeze_vision: bool = False
    """Train the language model only (the vision tower stays frozen)."""
    vision_cache: bool = True
    """With --freeze-vision, encode each training video once and reuse its visual tokens (exact: the same bits;
    --no-vision-cache runs the tower every time)."""
    vision_lr_scale: float = Field(1.0, gt=0)
    """The vision tower's (patch embedding, blocks, merger) learning rate as a multiple of ``lr``."""
    lora: bool = False
    """Train LoRA adapters (PEFT) instead of all weights; the KL reference is the base model (no copy)."""
    lora_r: int = Field(16, ge=1)
    """LoRA rank."""
    lora_alpha: float = Field(32.0, gt=0)
    """LoRA alpha."""
    lora_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    """LoRA dropout."""
    lora_target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    """Module names LoRA adapts (comma-separated)."""

    # -- data
    data: str = "moss-video-mini:train"
    """TASK or TASK:SPLIT (TASK:SPLIT is the task TASK-SPLIT; evaluation splits are refused)."""
    data_dir: str | None = None
    """Dataset root (else the task's environment variable or $MOSSEVAL_DATA_DIR)."""
    cache_dir: str | None = None
    """Where generated data and built models live (else $MOSSEVAL_CACHE_DIR, ~/.cache/mosseval)."""
    tasks_dir: list[str] = Field(default_factory=list)
    """Extra folder(s) of task YAML files."""
    limit: int | None = Field(None, ge=1)
    """Train on the first N samples only."""
    train_size: int | None = Field(None, ge=1)
    """moss-video-mini only: questions in its train split (generated on first use; the test split never
    changes with it)."""
    frames: int = Field(16, ge=1, le=1024)
    """Frames per video (the cap for fps-sampled tasks)."""
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=64)
    """Per-frame pixel budget (H*W; 100352 = 128·28·28)."""

    # -- rewards (GRPO)
    rewards: list[str] = Field(default_factory=lambda: list(REWARD_BUILTINS))
    """Comma-separated: accuracy, format, prr, a registered reward, or MODULE:FUNC / FILE.py:FUNC (TRL
    convention fn(prompts, completions, **columns) -> list[float | None])."""
    reward_weights: list[float] | None = None
    """One weight per reward, e.g. 1,1,1 (default 1 each); None rewards count as 0 in the total."""
    prr: PRRConfig | None = None
    """PRR parameters, e.g. jump=1,alpha=4 (default: the task's scoring.prr, else SPEC §3 defaults)."""
    require_format: bool = True
    """PRR is 0 unless the completion has the <think>…</think><answer>…</answer> format."""

    # -- SFT
    sft_trace: Literal["full", "observed", "none"] = "full"
    """SFT target's trace: full (every reference step), observed (without the final "what comes next"
    step) or none (an empty <think>)."""
    sft_answer_weight: float = Field(1.0, gt=0)
    """Loss weight of the answer's tokens (inside <answer></answer>) relative to the trace's; the mean is
    taken over the weights. The answer is ~1 token of ~50, and the model must look its letter up among
    the options (default 1: every target token alike)."""

    # -- GRPO
    num_generations: int = Field(8, ge=2)
    """Completions per prompt (the group size G)."""
    per_device_batch_size: int | None = Field(None, ge=1)
    """Prompts per micro-batch per process (default 1)."""
    generation_batch_size: int | None = Field(None, ge=1)
    """Completions per micro-batch per process (a multiple of G); alternative to --per-device-batch-size."""
    grad_accum: int = Field(1, ge=1)
    """Micro-batches per optimizer update."""
    num_iterations: int = Field(1, ge=1)
    """Optimizer updates per generation batch (PPO's μ); >1 makes the clipping bite."""
    beta: float = Field(0.04, ge=0.0)
    """KL coefficient (k3 estimator) to the frozen reference; 0 creates no reference copy."""
    clip_eps: float = Field(0.2, gt=0.0, lt=1.0)
    """PPO clip range."""
    clip_eps_high: float | None = Field(None, gt=0.0)
    """Upper clip (DAPO's clip-higher); default --clip-eps."""
    adv_eps: float = Field(1e-4, gt=0.0)
    """Added to the group std when advantages are scaled."""
    scale_rewards: bool = True
    """Divide group-centred rewards by the group std (off: Dr. GRPO)."""
    temperature: float = Field(1.0, gt=0.0)
    """Sampling temperature of the rollouts."""
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    """Nucleus sampling of the rollouts."""
    max_completion_length: int = Field(768, ge=1)
    """New tokens per completion (GRPO); longest SFT target (longer ones are cut)."""

    # -- optimisation
    lr: float = Field(None, gt=0.0)  # type: ignore[assignment]  # filled per method (DEFAULT_LR)
    """Peak learning rate (default 1e-6 for grpo, 2e-5 for sft)."""
    weight_decay: float = Field(0.01, ge=0.0)
    """AdamW weight decay."""
    lr_scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    """cosine | linear | constant, after the warm-up."""
    warmup_ratio: float = Field(0.05, ge=0.0, lt=1.0)
    """Warm-up share of the updates."""
    min_lr_ratio: float = Field(0.0, ge=0.0, le=1.0)
    """Floor of the schedule as a share of --lr."""
    adam_beta1: float = Field(0.9, ge=0.0, lt=1.0)
    """AdamW β1."""
    adam_beta2: float = Field(0.999, ge=0.0, lt=1.0)
    """AdamW β2."""
    adam_eps: float = Field(1e-8, gt=0.0)
    """AdamW ε."""
    max_grad_norm: float = Field(1.0, ge=0.0)
    """Gradient clipping (0: off; the norm is still logged)."""
    steps: int | None = Field(None, ge=1)
    """Training steps (GRPO: generation steps, each --num-iterations updates)."""
    epochs: float | None = Field(None, gt=0.0)
    """Passes over the data (default 1 when --steps is not given)."""
    seed: int = 0
    """Seed (data order, sampling, LoRA init)."""

    # -- execution
    rollout: str = "hf"
    """Rollout engine: hf (transformers generate, video in) or MODULE:CLASS implementing
    mosseval.train.rollout.RolloutEngine; vllm is not built in yet (use --export verl)."""
    num_threads: int | Literal["auto"] | None = None
    """torch CPU threads: N pins them (a busy machine otherwise slows training many times over); auto times the
    steps at 1, 2, 4, ... threads as it trains and keeps the fastest (the weights do not change)."""

    # -- output
    output_dir: str = "runs/train"
    """Run folder: checkpoint-N/, metrics.jsonl, report.html."""
    save_every: int = Field(50, ge=0)
    """Checkpoint every K steps, and always at the end (0: end only)."""
    save_total_limit: int | None = Field(None, ge=1)
    """Keep only the newest N checkpoints."""
    resume: bool = False
    """Continue from the last checkpoint in --output-dir (optimizer, scheduler, RNG, data position)."""
    overwrite: bool = False
    """Delete the checkpoints and logs already in --output-dir and start over."""
    log_every: int = Field(1, ge=1)
    """Write metrics every K steps."""
    log_completions: int = Field(2, ge=0)
    """Completions written to completions.jsonl per logged step (GRPO)."""
    report_to: list[str] = Field(default_factory=list)
    """Trackers through accelerate: tensorboard, wandb, mlflow, ... (comma-separated)."""
    project: str = "mosseval-train"
    """Tracker project name."""
    quiet: bool = False
    """No progress output."""

    @model_validator(mode="before")
    @classmethod
    def _method_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("lr") is None:
            data = {**data, "lr": DEFAULT_LR.get(str(data.get("method") or "grpo"), DEFAULT_LR["grpo"])}
        return data

    @field_validator("num_threads", mode="before")
    @classmethod
    def _threads(cls, v: Any) -> Any:
        if v is None or v == "auto":
            return v
        n = int(v) if not isinstance(v, bool) and str(v).strip().isdigit() else 0
        if n < 1:
            raise ValueError(f"{v!r} is not a thread count; give a whole number >= 1, or auto")
        return n

    @field_validator("rollout")
    @classmethod
    def _rollout(cls, v: str) -> str:
        v = v.strip()
        if v not in ("hf", "vllm") and (":" not in v or v.startswith(":") or v.endswith(":")):
            raise ValueError(f"unknown rollout engine {v!r}; use hf, vllm or module:Class")
        return v

    @field_validator("rewards")
    @classmethod
    def _rewards(cls, v: list[str]) -> list[str]:
        out = [r.strip() for r in v if r.strip()]
        if not out:
            raise ValueError("at least one reward is needed (e.g. accuracy,format,prr)")
        for r in out:
            if r not in REWARD_BUILTINS and ":" not in r:
                from mosseval.rewards import rewards

                if r in rewards:  # a reward a third-party package registered
                    continue
                hint = did_you_mean(r, rewards.names())
                raise ValueError(f"unknown reward {r!r}" + (f" ({hint})" if hint else "")
                                 + "; use " + ", ".join(rewards.names()) + " or module:function")
        if len(set(out)) != len(out):
            raise ValueError(f"a reward is listed twice: {out}")
        return out

    @field_validator("report_to")
    @classmethod
    def _report_to(cls, v: list[str]) -> list[str]:
        out = [r.strip() for r in v if r.strip() and r.strip() != "none"]
        for r in out:
            if r not in TRACKERS:
                hint = did_you_mean(r, list(TRACKERS))
                raise ValueError(f"unknown tracker {r!r}" + (f" ({hint})" if hint else "")
                                 + f"; known: {', '.join(TRACKERS)}")
        return out

    # -- derived ---------------------------------------------------------------------------

    @property
    def batch_size(self) -> int:
        """Prompts per micro-batch per process (after resolving generation_batch_size)."""
        if self.per_device_batch_size is not None:
            return self.per_device_batch_size
        if self.generation_batch_size is not None and self.method == "grpo":
            return self.generation_batch_size // self.num_generations
        return 1

    @property
    def weights(self) -> dict[str, float]:
        w = self.reward_weights or [1.0] * len(self.rewards)
        return dict(zip(self.rewards, (float(x) for x in w)))

    @property
    def prr_weight(self) -> float:
        return self.weights.get("prr", 0.0)

    def check(self) -> TrainConfig:
        """Cross-field checks that pydantic cannot express; raises UsageError."""
        other = GRPO_ONLY if self.method == "sft" else SFT_ONLY
        wrong = [k for k in other if k in self.model_fields_set and getattr(self, k) != _default(k)]
        if wrong:
            flags = ", ".join("--" + k.replace("_", "-") for k in wrong)
            raise UsageError(f"{flags} do(es) not apply to --method {self.method}",
                             hint=f"drop {'it' if len(wrong) == 1 else 'them'}, or use --method "
                             f"{'grpo' if self.method == 'sft' else 'sft'}")
        G = self.num_generations
        if self.generation_batch_size is not None:
            if self.generation_batch_size % G:
                raise UsageError(
                    f"generation_batch_size={self.generation_batch_size} is not a multiple of "
                    f"num_generations={G}: every prompt needs all of its G completions in the same "
                    "micro-batch to normalise its advantages",
                    hint=f"use a multiple of {G} (e.g. {max(1, self.generation_batch_size // G) * G}), or set "
                    "--per-device-batch-size (prompts) instead",
                )
            if (self.per_device_batch_size is not None
                    and self.per_device_batch_size * G != self.generation_batch_size):
                raise UsageError(
                    f"per_device_batch_size={self.per_device_batch_size} × num_generations={G} = "
                    f"{self.per_device_batch_size * G} disagrees with "
                    f"generation_batch_size={self.generation_batch_size}",
                    hint="give one of the two",
                )
        if self.reward_weights is not None and len(self.reward_weights) != len(self.rewards):
            raise UsageError(
                f"{len(self.reward_weights)} reward weight(s) for {len(self.rewards)} reward(s) "
                f"({','.join(self.rewards)})",
                hint="give one weight per reward, e.g. --rewards accuracy,format,prr --reward-weights 1,0.5,1",
            )
        if self.steps is not None and self.epochs is not None:
            raise UsageError("both steps and epochs are set", hint="give --steps N or --epochs E, not both")
        if self.resume and self.overwrite:
            raise UsageError("--resume and --overwrite exclude each other")
        if self.clip_eps_high is not None and self.clip_eps_high < self.clip_eps:
            raise UsageError(f"clip_eps_high={self.clip_eps_high} < clip_eps={self.clip_eps}")
        return self

    def check_hardware(self, cuda_available: bool, distributed: str | None = None) -> None:
        """GPU-only options on a machine without CUDA are errors, not silent slow fallbacks."""
        if cuda_available:
            return
        asked = []
        if self.bf16:
            asked.append("--bf16 (bf16 mixed precision)")
        if self.dtype != "float32":
            asked.append(f"--dtype {self.dtype}")
        if self.rollout == "vllm" and self.method == "grpo":
            asked.append("--rollout vllm")
        if distributed and "deepspeed" in distributed.lower():
            asked.append("a DeepSpeed accelerate config")
        if distributed and "fsdp" in distributed.lower():
            asked.append("an FSDP accelerate config")
        if asked:
            raise GPURequiredError(
                f"{' and '.join(asked)} need(s) a CUDA GPU, and none is available here",
                hint="on CPU train in float32 without --bf16 under plain DDP "
                "(`accelerate launch --config_file configs/accelerate/ddp_cpu.yaml` or `torchrun`); "
                "see docs/howto/training.md",
            )


def _default(key: str) -> Any:
    field = TrainConfig.model_fields[key]
    return field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]


def parse_data(data: str, registry: dict[str, Any]) -> str:
    """Map ``TASK:SPLIT`` / ``TASK`` to a registered task name.

    ``moss-video-mini:train`` → ``moss-video-mini-train``; ``moss-video-mini:test`` →
    ``moss-video-mini`` (the test split is the task without suffix); ``TASK`` as is.
    """
    data = data.strip()
    if not data:
        raise UsageError("--data is empty", hint="e.g. --data moss-video-mini:train")
    if data in registry:
        return data
    if ":" in data:
        task, split = data.rsplit(":", 1)
        candidates = [f"{task}-{split}"]
        if split in ("test", "eval"):
            candidates.append(task)
        for c in candidates:
            if c in registry:
                return c
        hint = did_you_mean(f"{task}-{split}", list(registry))
        raise UsageError(
            f"no task for --data {data!r} (looked for {', '.join(repr(c) for c in candidates)})"
            + (f"; {hint}" if hint else ""),
            hint="--data TASK:SPLIT maps to the task TASK-SPLIT (the test split is TASK itself); "
            "`mosseval tasks` lists them",
        )
    hint = did_you_mean(data, list(registry))
    raise UsageError(f"unknown training task {data!r}" + (f"; {hint}" if hint else ""),
                     hint="e.g. --data moss-video-mini:train; `mosseval tasks` lists the tasks")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot read training config {path}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"invalid YAML in training config {path}{where}: "
                          f"{getattr(e, 'problem', None) or e}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"training config {path}: the top level must be a mapping of keys to values")
    return {str(k).replace("-", "_"): v for k, v in raw.items()}


def load_config(path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read ``path`` (YAML, optional), apply ``overrides`` (None values are ignored), validate."""
    data: dict[str, Any] = _read_yaml(Path(path)) if path else {}
    for k, v in (overrides or {}).items():
        if v is not None:
            data[k] = v
    for key in ("rewards", "report_to", "tasks_dir", "lora_target_modules"):
        if isinstance(data.get(key), str):
            data[key] = [x for x in data[key].split(",") if x.strip()]
    if isinstance(data.get("reward_weights"), str):
        try:
            data["reward_weights"] = [float(x) for x in data["reward_weights"].split(",") if x.strip()]
        except ValueError:
            raise UsageError(f"reward weights {data['reward_weights']!r} must be comma-separated numbers",
                             hint="e.g. --reward-weights 1,1,1") from None
    if isinstance(data.get("prr"), dict):
        try:
            data["prr"] = PRRConfig(**data["prr"])
        except (ValidationError, TypeError) as e:
            raise ConfigError(f"training config key `prr`: {_first_error(e)}",
                              hint="keys: " + ", ".join(PRRConfig.model_fields)) from None
    if "model" not in data or not data["model"]:
        raise UsageError("no model given", hint="--model tiny-qwen2.5-vl (or `model:` in the --config file)")
    where = f"training config {path}" if path else "training options"
    unknown = sorted(set(data) - set(TrainConfig.model_fields))
    if unknown:
        hints = [h for h in (did_you_mean(k, list(TrainConfig.model_fields)) for k in unknown) if h]
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}" + (f"; {hints[0]}" if hints else ""),
                          hint="see docs/howto/training.md for the keys")
    try:
        cfg = TrainConfig(**data)
    except ValidationError as e:
        raise ConfigError(f"{where}: {_first_error(e, flags=True)}") from None
    return cfg.check()


def _first_error(e: Exception, *, flags: bool = False) -> str:
    """The first validation error as ``key `lr` (--lr): Input should be ...``; ``flags``: a top-level key of
    :class:`TrainConfig` also names its command-line option (every key has one: ``--`` + the key, dashed)."""
    if isinstance(e, ValidationError):
        err = e.errors()[0]
        parts = err.get("loc", ())
        loc = ".".join(str(p) for p in parts) or "(top level)"
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        flag = f" (--{str(parts[0]).replace('_', '-')})" if flags and len(parts) == 1 and parts[0] in TrainConfig.model_fields else ""
        return f"key `{loc}`{flag}: {msg}"
    return str(e)


def config_hash(cfg: TrainConfig, keys: tuple[str, ...]) -> str:
    data = cfg.model_dump(mode="json")
    blob = json.dumps({k: data.get(k) for k in keys}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
