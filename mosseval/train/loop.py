"""A compact GRPO loop for video MLLMs with the video in every forward pass (SPEC §9).

Why not TRL's ``GRPOTrainer``: its log-probability forward passes receive text only, so the
policy gradient, the importance ratio and the KL are computed for a model that never saw the video
(trl issue 5373). Here one micro-batch goes through these stages, and the *same* processor tensors
(``pixel_values_videos``, ``video_grid_thw``, ``second_per_grid_ts``, ``mm_token_type_ids`` ...)
reach every forward:

1. **Rollout.** ``per_device_batch_size`` prompts are rendered with the task's prompt and decoded
   with the one video pipeline; the processor output is expanded to G rows per prompt (video
   patches repeated per row) and ``generate`` samples G completions per prompt (seeded per
   step / micro-batch / process).
2. **Rewards** from :mod:`mosseval.rewards` (accuracy, format, PRR) or user functions in the same
   calling convention; the total is the weighted sum (None counts as 0).
3. **Advantages** per group: ``(r − mean_G) / (std_G + eps)`` (unbiased std; ``scale_rewards=False``
   keeps ``r − mean_G``).
4. **Old log-probs** (no grad) from the policy before the update and **reference log-probs** from
   the frozen reference (a copy made at start, or the LoRA base with adapters disabled) when β > 0.
   Log-probs use the sampling distribution: logits / temperature, suppressed tokens masked.
5. **Loss** per token: ``−min(ρ·A, clip(ρ, 1−ε, 1+ε_high)·A) + β·KL_k3`` with
   ``ρ = exp(logp − logp_old)`` and ``KL_k3 = exp(ref − logp) − (ref − logp) − 1``, averaged over the
   completion tokens of the micro-batch (padding after the first end-of-sequence token masked).
   Micro-batches accumulate (``grad_accum``); gradients are clipped (``max_grad_norm``); AdamW with a
   warmup + cosine schedule. ``num_iterations`` (μ) > 1 reuses a generation batch for μ updates.

Distribution is accelerate's: the same code runs single-process, under ``torchrun`` or
``accelerate launch`` with DDP (CPU gloo or GPUs), FSDP or DeepSpeed configurations.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import json
import logging
import math
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mosseval.errors import MissingDependencyError, OutputError, UsageError
from mosseval.train import checkpointing as ck
from mosseval.train.config import TRACKERS, TrainConfig
from mosseval.train.data import TrainData, load_train_task, reward_columns

log = logging.getLogger(__name__)

__all__ = ["GRPOTrainer", "TrainResult", "train", "Rollout", "expand_inputs", "completion_mask",
           "group_advantages", "k3_kl"]

METRICS_FILE = "metrics.jsonl"
COMPLETIONS_FILE = "completions.jsonl"
SUMMARY_FILE = "summary.json"
CONFIG_FILE = "train_config.yaml"
REPORT_FILE = "report.html"

# Keys that may not change between a run and its resumption (the saved state would not fit).
_RESUME_FIXED = ("model", "data", "lora", "lora_r", "lora_alpha", "lora_target_modules", "freeze_vision",
                 "dtype")


# --------------------------------------------------------------------------- tensor helpers


def expand_inputs(inputs: dict[str, Any], G: int) -> dict[str, Any]:
    """Repeat a processor batch G times per row: ``[p0, p0, …, p1, p1, …]``.

    Row tensors (``input_ids``, masks, ``mm_token_type_ids``, ``video_grid_thw``,
    ``second_per_grid_ts`` …) repeat along dim 0; flattened patch tensors
    (``pixel_values_videos`` / ``pixel_values``) repeat per video / image using the patch counts of
    their ``*_grid_thw``.
    """
    import torch

    out: dict[str, Any] = {}
    flat = {"pixel_values_videos": "video_grid_thw", "pixel_values": "image_grid_thw"}
    for key, value in inputs.items():
        if key in flat and flat[key] in inputs:
            grid = inputs[flat[key]]
            counts = [int(c) for c in grid.prod(-1).tolist()]
            chunks = torch.split(value, counts, dim=0)
            out[key] = torch.cat([c for c in chunks for _ in range(G)], dim=0)
        elif isinstance(value, torch.Tensor):
            out[key] = value.repeat_interleave(G, dim=0)
        elif isinstance(value, list):
            out[key] = [v for v in value for _ in range(G)]
        else:
            out[key] = value
    return out


def completion_mask(ids: Any, eos_ids: set[int]) -> Any:
    """1 for completion tokens up to and including the first end-of-sequence token, else 0."""
    import torch

    is_eos = torch.zeros_like(ids, dtype=torch.bool)
    for e in eos_ids:
        is_eos |= ids == e
    n, length = ids.shape
    first = torch.full((n,), length, dtype=torch.long, device=ids.device)
    any_eos = is_eos.any(dim=1)
    first[any_eos] = is_eos.int().argmax(dim=1)[any_eos]
    pos = torch.arange(length, device=ids.device).expand(n, -1)
    return (pos <= first.unsqueeze(1)).to(torch.long)


def group_advantages(rewards: Any, G: int, eps: float = 1e-4, scale: bool = True) -> Any:
    """``(r − mean) / (std + eps)`` within consecutive groups of G (unbiased std)."""
    r = rewards.view(-1, G)
    centred = r - r.mean(dim=1, keepdim=True)
    if scale:
        centred = centred / (r.std(dim=1, keepdim=True) + eps)
    return centred.reshape(-1)


def k3_kl(logp: Any, ref_logp: Any) -> Any:
    """Schulman's k3 estimator of KL(π‖π_ref) per token: ``exp(d) − d − 1`` with d = ref − logp."""
    import torch

    d = ref_logp - logp
    return torch.exp(d) - d - 1


# --------------------------------------------------------------------------- records


@dataclass
class Rollout:
    """One micro-batch: G completions for each of B prompts, with everything the loss needs."""

    inputs: dict[str, Any]
    """Expanded processor outputs (prompt ids + the video tensors), one row per completion."""
    completion_ids: Any
    completion_mask: Any
    advantages: Any
    rewards: Any
    components: dict[str, list[float | None]]
    correct: list[float | None]
    texts: list[str]
    sample_ids: list[str]
    old_logps: Any = None
    ref_logps: Any = None
    gen_seconds: float = 0.0

    def forward_kwargs(self) -> dict[str, Any]:
        """Model kwargs for the full sequences (prompt + completion). Per-token tensors other than
        the ids and the mask (``mm_token_type_ids``) are extended with zeros (text)."""
        import torch

        ids, mask = self.inputs["input_ids"], self.inputs["attention_mask"]
        n, plen = ids.shape
        comp = self.completion_ids
        kw = {"input_ids": torch.cat([ids, comp], dim=1),
              "attention_mask": torch.cat([mask, self.completion_mask.to(mask.dtype)], dim=1)}
        for key, value in self.inputs.items():
            if key in kw:
                continue
            if (isinstance(value, torch.Tensor) and value.dim() == 2 and value.shape[0] == n
                    and value.shape[1] == plen and key.endswith("_ids")):
                value = torch.cat([value, torch.zeros_like(comp, dtype=value.dtype)], dim=1)
            kw[key] = value
        return kw


@dataclass
class TrainResult:
    output_dir: Path
    steps: int
    start_step: int
    last_checkpoint: Path | None
    metrics: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- rewards


def _load_reward_fn(spec: str) -> Callable[..., list]:
    """A registered reward name, ``module:function`` or ``path/to/file.py:function``."""
    if ":" not in spec:
        from mosseval.rewards import rewards

        return rewards.load(spec)
    target, _, name = spec.rpartition(":")
    if not target or not name:
        raise UsageError(f"reward {spec!r} is not MODULE:FUNCTION or FILE.py:FUNCTION")
    try:
        if target.endswith(".py") or os.sep in target or "/" in target:
            path = Path(target).expanduser()
            if not path.is_file():
                raise UsageError(f"reward file {str(path)!r} does not exist (from --rewards {spec!r})")
            mod_name = f"mosseval_user_reward_{abs(hash(str(path.resolve())))}"
            mod_spec = importlib.util.spec_from_file_location(mod_name, path)
            module = importlib.util.module_from_spec(mod_spec)  # type: ignore[arg-type]
            sys.modules[mod_name] = module
            mod_spec.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            module = importlib.import_module(target)
    except UsageError:
        raise
    except Exception as e:  # noqa: BLE001 - user code
        raise UsageError(f"cannot import the reward module of {spec!r}: {type(e).__name__}: {e}") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise UsageError(f"{target!r} has no function {name!r} (from --rewards {spec!r})")
    return fn


def _check_values(name: str, values: Any, n: int) -> list[float | None]:
    if not isinstance(values, (list, tuple)) or len(values) != n:
        got = len(values) if isinstance(values, (list, tuple)) else type(values).__name__
        raise UsageError(f"reward {name!r} returned {got} value(s) for {n} completions",
                         hint="a reward returns one float (or None) per completion")
    out: list[float | None] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise UsageError(f"reward {name!r} returned a non-number {v!r}") from None
        out.append(None if math.isnan(f) else f)
    return out


# --------------------------------------------------------------------------- trainer


class GRPOTrainer:
    """Call :meth:`setup` then :meth:`train` (or use :func:`train`)."""

    def __init__(self, cfg: TrainConfig, *, console: Any = None,
                 reward_fns: dict[str, Callable[..., list]] | None = None):
        self.cfg = cfg.check()
        self.console = console
        self.extra_reward_fns = dict(reward_fns or {})
        self.output_dir = Path(cfg.output_dir)
        self._set_up = False

    # -- setup ---------------------------------------------------------------------------------

    def setup(self) -> GRPOTrainer:
        from mosseval.models.registry import load_backend, resolve

        load_backend("hf")  # torch + transformers present, with a clear message otherwise
        from mosseval.torchvision_compat import ensure_torchvision

        ensure_torchvision()
        import torch

        cfg = self.cfg
        self.torch = torch
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        cuda = torch.cuda.is_available()
        dist_kind = _launcher_engine()
        cfg.check_hardware(cuda, dist_kind)
        if cfg.rollout == "vllm":
            raise UsageError("vLLM rollouts are not built into `mosseval train`",
                             hint="export the data with `--export verl DIR` and train on verl, which runs vLLM "
                             "rollouts (docs/howto/training.md)")
        self._check_trackers()

        from accelerate import Accelerator
        from accelerate.utils import set_seed

        self.accelerator = acc = Accelerator(
            mixed_precision="bf16" if cfg.bf16 else "no",
            gradient_accumulation_steps=cfg.grad_accum,
            log_with=list(cfg.report_to) or None,
            project_dir=str(self.output_dir),
            cpu=not cuda,
            step_scheduler_with_optimizer=False,
        )
        self.is_main = acc.is_main_process
        self.world = acc.num_processes
        self.rank = acc.process_index
        set_seed(cfg.seed)

        self._prepare_output_dir()

        # Data and model: the main process builds caches first (moss-video-mini, the tiny model).
        with acc.main_process_first():
            task, root, samples = load_train_task(cfg)
        self.data = TrainData(cfg, task, root, samples)

        spec = resolve(cfg.model, {**cfg.model_args, "dtype": cfg.dtype, "device": _device_arg(acc.device)})
        if spec.backend != "hf":
            raise UsageError(f"--model {cfg.model!r} is served by the {spec.backend!r} backend; training needs "
                             "a transformers checkpoint (a preset such as tiny-qwen2.5-vl, a local directory or "
                             "a Hub id in the local cache)")
        from mosseval.models.hf import HFModel

        with acc.main_process_first():
            self.hf = HFModel(spec)
        model = self.hf.model
        self.processor = self.hf.processor
        self.tokenizer = self.hf.tokenizer
        self.source_generation_config = copy.deepcopy(self.hf.checkpoint_generation_config)
        gen = self.hf._base_generation
        eos = gen.get("eos_token_id")
        self.eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}
        if not self.eos_ids:
            raise UsageError(f"{cfg.model!r} defines no end-of-sequence token; completions could never end")
        self.suppress_ids = sorted(set(gen.get("suppress_tokens") or []))
        _disable_dropout(model)
        if cfg.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.config.use_cache = False

        if cfg.freeze_vision:
            vis = _vision_module(model)
            if vis is None:
                raise UsageError(f"--freeze-vision: {cfg.model!r} has no vision tower named `visual` / "
                                 "`vision_tower`")
            for p in vis.parameters():
                p.requires_grad_(False)

        # Reference: a frozen copy of the starting policy (not needed with LoRA: adapters off).
        self.ref_model = None
        if cfg.beta > 0 and not cfg.lora:
            self.ref_model = copy.deepcopy(model).eval()
            for p in self.ref_model.parameters():
                p.requires_grad_(False)

        if cfg.lora:
            model = self._apply_lora(model)

        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise UsageError("no trainable parameters (everything is frozen)")
        decay = [p for p in params if p.dim() >= 2]
        no_decay = [p for p in params if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": cfg.weight_decay}]
        if no_decay:
            groups.append({"params": no_decay, "weight_decay": 0.0})
        optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_eps)

        self.prompts_per_step = cfg.batch_size * cfg.grad_accum * self.world
        if cfg.steps is not None:
            self.total_steps = cfg.steps
        else:
            epochs = cfg.epochs if cfg.epochs is not None else 1.0
            self.total_steps = max(1, math.ceil(epochs * len(self.data) / self.prompts_per_step))
        self.total_updates = self.total_steps * cfg.num_iterations
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(cfg, self.total_updates))

        plugin = getattr(acc.state, "deepspeed_plugin", None)
        if plugin is not None:
            ds = plugin.deepspeed_config
            if ds.get("train_micro_batch_size_per_gpu", "auto") == "auto":
                ds["train_micro_batch_size_per_gpu"] = cfg.batch_size * cfg.num_generations
            if ds.get("gradient_clipping", "auto") == "auto":
                ds["gradient_clipping"] = cfg.max_grad_norm
        self.model, self.optimizer, self.scheduler = acc.prepare(model, optimizer, scheduler)
        self.unwrapped = acc.unwrap_model(self.model)
        if self.ref_model is not None:
            self.ref_model.to(acc.device)
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]

        self.rewards = self._build_rewards()
        self.start_step = 0
        self.consumed = 0
        self._resume()

        if cfg.report_to:
            acc.init_trackers(cfg.project, config=_flat_config(cfg))
        self._set_up = True
        return self

    def _check_trackers(self) -> None:
        for name in self.cfg.report_to:
            if not any(importlib.util.find_spec(m) for m in TRACKERS[name]):
                raise MissingDependencyError(
                    f"--report-to {name}: the {TRACKERS[name][0]!r} package is not installed",
                    hint=f"pip install {TRACKERS[name][0]} (or drop --report-to {name}); metrics.jsonl and "
                    "report.html are always written",
                )

    def _apply_lora(self, model: Any) -> Any:
        try:
            import peft
        except ImportError:
            raise MissingDependencyError("--lora needs the peft package",
                                         hint="pip install 'mosseval[train]' -c constraints.txt") from None
        cfg = self.cfg
        names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
        missing = [t for t in cfg.lora_target_modules if t not in names]
        if len(missing) == len(cfg.lora_target_modules):
            raise UsageError(f"--lora: none of the target modules {cfg.lora_target_modules} exists in "
                             f"{cfg.model!r}", hint="set lora_target_modules in the --config file")
        lcfg = peft.LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                               target_modules=[t for t in cfg.lora_target_modules if t in names], bias="none")
        return peft.get_peft_model(model, lcfg)

    def _prepare_output_dir(self) -> None:
        acc, cfg, out = self.accelerator, self.cfg, self.output_dir
        if self.is_main:
            try:
                out.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise OutputError(f"cannot create the output directory {out}: {e.strerror or e}") from None
            existing = ck.find_checkpoints(out)
            if existing and not cfg.resume and not cfg.overwrite:
                raise UsageError(
                    f"{out} already holds {len(existing)} checkpoint(s) (last: {existing[-1][1].name})",
                    hint="pass --resume to continue that run, --overwrite to start over, or another --output-dir",
                )
            if cfg.overwrite:
                for _, p in existing:
                    shutil.rmtree(p, ignore_errors=True)
                for name in (METRICS_FILE, COMPLETIONS_FILE, SUMMARY_FILE, REPORT_FILE):
                    (out / name).unlink(missing_ok=True)
            ck.clean_partials(out)
        acc.wait_for_everyone()

    def _build_rewards(self) -> dict[str, Callable[..., list] | None]:
        from mosseval.rewards import COMPONENTS

        fns: dict[str, Callable[..., list] | None] = {}
        for name in self.cfg.rewards:
            if name in COMPONENTS:
                fns[name] = None  # computed together through reward_components
            elif name in self.extra_reward_fns:
                fns[name] = self.extra_reward_fns[name]
            else:
                fns[name] = _load_reward_fn(name)
        self.prr_config = self.cfg.prr or self.data.task.scoring.prr
        return fns

    def _resume(self) -> None:
        cfg, acc = self.cfg, self.accelerator
        if not cfg.resume:
            if self.is_main:
                self._write_config()
                for name in (METRICS_FILE, COMPLETIONS_FILE):
                    (self.output_dir / name).unlink(missing_ok=True)
            acc.wait_for_everyone()
            return
        ckpt = ck.last_checkpoint(self.output_dir)
        if ckpt is None:
            self._say(f"--resume: no checkpoint in {self.output_dir}; starting from step 0")
            if self.is_main:
                self._write_config()
                for name in (METRICS_FILE, COMPLETIONS_FILE):
                    (self.output_dir / name).unlink(missing_ok=True)
            acc.wait_for_everyone()
            return
        state = ck.read_state(ckpt)
        saved = state.get("config", {})
        now = cfg.model_dump(mode="json")
        fixed = [k for k in _RESUME_FIXED if k in saved and saved[k] != now.get(k)]
        if fixed:
            raise UsageError(
                f"cannot resume {ckpt}: {', '.join(f'{k} was {saved[k]!r}, now {now.get(k)!r}' for k in fixed)}",
                hint="resume with the original settings, or start a new run (--overwrite / another --output-dir)",
            )
        changed = [k for k in now if k in saved and saved[k] != now[k] and k not in ("resume", "overwrite",
                                                                                    "steps", "epochs", "quiet")]
        if changed:
            self._say(f"resuming with changed settings: {', '.join(changed)}")
        acc.load_state(str(ckpt / ck.TRAINER_STATE))
        self.start_step = int(state["step"])
        self.consumed = int(state.get("consumed_prompts", self.start_step * self.prompts_per_step))
        self.resumed_from = ckpt
        self._say(f"resuming from {ckpt.name} (step {self.start_step}, {self.consumed} prompts consumed)")
        if self.is_main:
            self._write_config()
            _truncate_jsonl(self.output_dir / METRICS_FILE, self.start_step)
            _truncate_jsonl(self.output_dir / COMPLETIONS_FILE, self.start_step)
        acc.wait_for_everyone()

    def _write_config(self) -> None:
        import yaml

        data = self.cfg.model_dump(mode="json")
        (self.output_dir / CONFIG_FILE).write_text(
            "# written by `mosseval train`; reuse with --config\n" + yaml.safe_dump(data, sort_keys=False),
            encoding="utf-8")

    def _say(self, text: str) -> None:
        if self.is_main and self.console is not None and not self.cfg.quiet:
            from rich.markup import escape

            self.console.print(escape(text))
        log.info(text)

    # -- rollout -------------------------------------------------------------------------------

    def _generation_seed(self, step: int, micro: int) -> int:
        ss = np.random.SeedSequence([int(self.cfg.seed) & 0xFFFFFFFF, 104729, step, micro, self.rank])
        return int(ss.generate_state(1, dtype=np.uint64)[0] % (2 ** 63 - 1))

    @contextmanager
    def _generation_model(self):
        """The module ``generate`` runs on, with parameters available on every process."""
        from accelerate.utils import DistributedType

        acc = self.accelerator
        model = self.unwrapped
        was_training = model.training
        model.eval()
        try:
            if acc.distributed_type == DistributedType.FSDP and not _is_fsdp2(self.model):
                from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

                with FSDP.summon_full_params(self.model, recurse=False, writeback=False):
                    yield model
            else:
                yield model
        finally:
            model.train(was_training)

    def _synced_gpus(self) -> bool:
        from accelerate.utils import DistributedType

        acc = self.accelerator
        if acc.num_processes < 2:
            return False
        if acc.distributed_type == DistributedType.FSDP:
            return True
        if acc.distributed_type == DistributedType.DEEPSPEED:
            plugin = acc.state.deepspeed_plugin
            return bool(plugin and plugin.zero_stage == 3)
        return False

    def rollout(self, step: int, micro: int) -> Rollout:
        """Sample, score and prepare one micro-batch (no gradients)."""
        torch = self.torch
        cfg = self.cfg
        B, G = cfg.batch_size, cfg.num_generations
        start = self.consumed + (micro * self.world + self.rank) * B
        prompts = self.data.batch(start, B)
        inputs, _ = self.hf.prepare_inputs([p.request for p in prompts])
        inputs = expand_inputs(dict(inputs), G)

        gen_kwargs = dict(do_sample=True, temperature=cfg.temperature, top_p=cfg.top_p, top_k=0,
                          max_new_tokens=cfg.max_completion_length, synced_gpus=self._synced_gpus())
        t0 = time.perf_counter()
        seed = self._generation_seed(step, micro)
        torch.manual_seed(seed)
        with torch.no_grad(), self._generation_model() as gm:
            sequences = gm.generate(**inputs, **gen_kwargs)
        gen_seconds = time.perf_counter() - t0
        plen = inputs["input_ids"].shape[1]
        comp = sequences[:, plen:]
        mask = completion_mask(comp, self.eos_ids)
        lengths = mask.sum(dim=1).tolist()
        prefill = prompts[0].request.prefill or ""
        texts = [prefill + self.tokenizer.decode(row[:n].tolist(), skip_special_tokens=True)
                 for row, n in zip(comp.cpu(), lengths)]

        samples = [p.sample for p in prompts]
        columns = reward_columns(samples, repeat=G)
        prompt_msgs = [p.request.messages for p in prompts for _ in range(G)]
        comps, correct = self._score(prompt_msgs, texts, columns)
        weights = cfg.weights
        totals = []
        for i in range(len(texts)):
            totals.append(sum(weights[k] * v[i] for k, v in comps.items() if v[i] is not None))
        rewards = torch.tensor(totals, dtype=torch.float32, device=comp.device)
        adv = group_advantages(rewards, G, cfg.adv_eps, cfg.scale_rewards)
        ro = Rollout(inputs=inputs, completion_ids=comp, completion_mask=mask, advantages=adv, rewards=rewards,
                     components=comps, correct=correct, texts=texts, sample_ids=columns["sample_id"],
                     gen_seconds=gen_seconds)
        with torch.no_grad():
            ro.old_logps = self.sequence_logps(self.model, ro, train_mode=False)
            if cfg.beta > 0:
                if self.ref_model is not None:
                    ro.ref_logps = self.sequence_logps(self.ref_model, ro, train_mode=False)
                else:  # LoRA: the base model is the reference
                    with self.unwrapped.disable_adapter():
                        ro.ref_logps = self.sequence_logps(self.model, ro, train_mode=False)
        return ro

    def _score(self, prompts: list[Any], texts: list[str],
               columns: dict[str, list[Any]]) -> tuple[dict[str, list[float | None]], list[float | None]]:
        from mosseval.rewards import COMPONENTS, accuracy_reward, reward_components

        builtin = [n for n in self.rewards if n in COMPONENTS]
        comps: dict[str, list[float | None]] = {}
        if builtin:
            got = reward_components(prompts, texts, components=builtin, config=self.prr_config,
                                    require_format=self.cfg.require_format, **columns)
            for name in builtin:
                comps[name] = _check_values(name, got[name], len(texts))
        for name, fn in self.rewards.items():
            if fn is not None:
                comps[name] = _check_values(name, fn(prompts, texts, **columns), len(texts))
        comps = {name: comps[name] for name in self.rewards}
        correct = comps.get("accuracy")
        if correct is None:
            correct = accuracy_reward(prompts, texts, **columns)
        return comps, list(correct)

    # -- forward passes --------------------------------------------------------------------------

    def sequence_logps(self, model: Any, ro: Rollout, *, train_mode: bool) -> Any:
        """Per-token log-probabilities of the completion tokens under ``model`` (video included),
        in the sampling distribution (logits / temperature, suppressed tokens excluded)."""
        torch = self.torch
        target = self.accelerator.unwrap_model(model) if model is not self.ref_model else model
        was = target.training
        target.train(train_mode)
        # The policy's forward carries accelerate's autocast (--bf16); the reference copy gets the same.
        ctx = self.accelerator.autocast() if model is self.ref_model else nullcontext()
        try:
            kw = ro.forward_kwargs()
            length = ro.completion_ids.shape[1]
            with ctx:
                out = model(**kw, use_cache=False, logits_to_keep=length + 1)
        finally:
            target.train(was)
        logits = out.logits[:, :-1, :]
        rows = []
        ids = ro.completion_ids
        for i in range(logits.shape[0]):  # one row at a time keeps the float32 copy small
            row = logits[i].float() / self.cfg.temperature
            if self.suppress_ids:
                row = row.index_fill(-1, torch.tensor(self.suppress_ids, device=row.device), float("-inf"))
            rows.append(row.gather(-1, ids[i].unsqueeze(-1)).squeeze(-1) - torch.logsumexp(row, dim=-1))
        return torch.stack(rows)

    def loss(self, ro: Rollout) -> tuple[Any, dict[str, float]]:
        torch = self.torch
        cfg = self.cfg
        logp = self.sequence_logps(self.model, ro, train_mode=True)
        mask = ro.completion_mask.to(logp.dtype)
        ratio = torch.exp(logp - ro.old_logps)
        adv = ro.advantages.unsqueeze(1)
        low, high = 1.0 - cfg.clip_eps, 1.0 + (cfg.clip_eps_high or cfg.clip_eps)
        per_token = -torch.min(ratio * adv, torch.clamp(ratio, low, high) * adv)
        n_tokens = mask.sum().clamp(min=1.0)
        stats: dict[str, float] = {}
        if cfg.beta > 0:
            kl = k3_kl(logp, ro.ref_logps)
            per_token = per_token + cfg.beta * kl
            stats["kl"] = float(((kl * mask).sum() / n_tokens).detach())
        loss = (per_token * mask).sum() / n_tokens
        clipped = ((ratio < low) & (adv < 0)) | ((ratio > high) & (adv > 0))
        stats["clip_fraction"] = float(((clipped.to(mask.dtype) * mask).sum() / n_tokens).detach())
        stats["loss"] = float(loss.detach())
        return loss, stats

    # -- the loop -----------------------------------------------------------------------------

    def train(self) -> TrainResult:
        if not self._set_up:
            self.setup()
        acc, cfg = self.accelerator, self.cfg
        metrics_path = self.output_dir / METRICS_FILE
        history: list[dict[str, Any]] = _read_jsonl(metrics_path) if self.is_main else []
        progress = self._progress()
        last_ckpt = ck.last_checkpoint(self.output_dir) if cfg.resume else None
        step_times: list[float] = []
        try:
            if progress is not None:
                progress.start()
                task_id = progress.add_task("train", total=self.total_steps, completed=self.start_step, info="")
            for step in range(self.start_step, self.total_steps):
                t0 = time.perf_counter()
                rollouts = [self.rollout(step, m) for m in range(cfg.grad_accum)]
                t_roll = time.perf_counter() - t0
                stats: list[dict[str, float]] = []
                grad_norms: list[float] = []
                lr = float(self.scheduler.get_last_lr()[0])
                for _ in range(cfg.num_iterations):
                    for ro in rollouts:
                        with acc.accumulate(self.model):
                            loss, st = self.loss(ro)
                            acc.backward(loss)
                            stats.append(st)
                            if acc.sync_gradients:
                                norm = acc.clip_grad_norm_(self.trainable, cfg.max_grad_norm or float("inf"))
                                if norm is not None:
                                    grad_norms.append(float(norm))
                                lr = float(self.scheduler.get_last_lr()[0])
                                self.optimizer.step()
                                self.scheduler.step()
                                self.optimizer.zero_grad(set_to_none=True)
                self.consumed += self.prompts_per_step
                step_time = time.perf_counter() - t0
                step_times.append(step_time)
                record = self._metrics(step + 1, rollouts, stats, grad_norms, lr, step_time, t_roll)
                if self.is_main:
                    history.append(record)
                    if (step + 1) % cfg.log_every == 0 or step + 1 == self.total_steps:
                        _append_jsonl(metrics_path, record)
                        self._log_completions(step + 1, rollouts[0])
                        if cfg.report_to:
                            acc.log({k: v for k, v in record.items() if isinstance(v, (int, float))},
                                    step=step + 1)
                    if progress is not None:
                        progress.update(task_id, completed=step + 1, info=_progress_info(record))
                if (cfg.save_every and (step + 1) % cfg.save_every == 0) or step + 1 == self.total_steps:
                    last_ckpt = self.save_checkpoint(step + 1, record)
        finally:
            if progress is not None:
                progress.stop()
        summary = self._finish(history, step_times, last_ckpt)
        return TrainResult(self.output_dir, self.total_steps, self.start_step, last_ckpt, history, summary)

    def _metrics(self, step: int, rollouts: list[Rollout], stats: list[dict[str, float]],
                 grad_norms: list[float], lr: float, step_time: float, t_roll: float) -> dict[str, Any]:
        """Gather per-completion values from every process; the main process summarises."""
        torch = self.torch
        acc, cfg = self.accelerator, self.cfg
        names = list(self.rewards)
        rows = []
        group_std = []
        for ro in rollouts:
            lengths = ro.completion_mask.sum(dim=1).tolist()
            L = ro.completion_ids.shape[1]
            last = ro.completion_ids[:, -1].tolist()
            for i in range(len(ro.texts)):
                trunc = 1.0 if (lengths[i] == L and last[i] not in self.eos_ids) else 0.0
                row = [float(ro.rewards[i]), _nan(ro.correct[i]), float(lengths[i]), trunc]
                row += [_nan(ro.components[n][i]) for n in names]
                rows.append(row)
            group_std += ro.rewards.view(-1, cfg.num_generations).std(dim=1).tolist()
        local = torch.tensor(rows, dtype=torch.float64, device=acc.device)
        mean = lambda key: float(np.mean([s[key] for s in stats])) if stats and key in stats[0] else None  # noqa: E731
        scal = torch.tensor([[mean("loss") or 0.0, mean("kl") or 0.0, mean("clip_fraction") or 0.0,
                              float(np.mean(grad_norms)) if grad_norms else float("nan"), step_time, t_roll,
                              sum(r.gen_seconds for r in rollouts),
                              float(np.mean([s == 0 for s in group_std]))]],
                            dtype=torch.float64, device=acc.device)
        allrows = acc.gather(local).cpu().numpy()
        allscal = acc.gather(scal).cpu().numpy().reshape(-1, scal.shape[1])
        if not self.is_main:
            return {}
        reward, correct, length, trunc = allrows[:, 0], allrows[:, 1], allrows[:, 2], allrows[:, 3]
        rec: dict[str, Any] = {
            "step": step,
            "epoch": round(self.consumed / len(self.data), 4),
            "loss": float(np.mean(allscal[:, 0])),
            "reward": float(np.mean(reward)),
            "reward_std": float(np.std(reward)),
        }
        for j, n in enumerate(names):
            rec[f"reward/{n}"] = _nanmean(allrows[:, 4 + j])
        rec["accuracy"] = _nanmean(correct)
        if "prr" in names:
            prr = allrows[:, 4 + names.index("prr")]
            ok = correct == 1.0
            bad = correct == 0.0
            rec["prr_correct"] = _nanmean(prr[ok]) if ok.any() else None
            rec["prr_incorrect"] = _nanmean(prr[bad]) if bad.any() else None
        if cfg.beta > 0:
            rec["kl"] = float(np.mean(allscal[:, 1]))
        rec.update({
            "completion_length": float(np.mean(length)),
            "completion_length_max": float(np.max(length)),
            "truncated_fraction": float(np.mean(trunc)),
            "clip_fraction": float(np.mean(allscal[:, 2])),
            "grad_norm": _nanmean(allscal[:, 3]),
            "zero_std_groups": float(np.mean(allscal[:, 7])),
            "lr": lr,
            "step_time_s": float(np.max(allscal[:, 4])),
            "rollout_time_s": float(np.max(allscal[:, 5])),
            "generate_time_s": float(np.max(allscal[:, 6])),
            "completions": int(len(reward)),
        })
        return rec

    def _log_completions(self, step: int, ro: Rollout) -> None:
        n = self.cfg.log_completions
        if not n:
            return
        with open(self.output_dir / COMPLETIONS_FILE, "a", encoding="utf-8") as fh:
            for i in range(min(n, len(ro.texts))):
                fh.write(json.dumps({
                    "step": step, "sample_id": ro.sample_ids[i], "text": ro.texts[i],
                    "reward": float(ro.rewards[i]), "advantage": float(ro.advantages[i]),
                    **{f"reward/{k}": v[i] for k, v in ro.components.items()},
                }, ensure_ascii=False) + "\n")

    def _progress(self):
        if not self.is_main or self.cfg.quiet or self.console is None:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        return Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("{task.fields[info]}"), console=self.console, transient=False)

    # -- checkpoints -----------------------------------------------------------------------------

    def params_digest(self) -> str:
        """sha256 over this process's trainable and frozen parameters (name order)."""
        import hashlib

        h = hashlib.sha256()
        for name, p in sorted(self.unwrapped.named_parameters(), key=lambda x: x[0]):
            h.update(name.encode())
            h.update(p.detach().float().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()

    def _gather_digests(self) -> list[str] | None:
        from accelerate.utils import DistributedType

        acc = self.accelerator
        if acc.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED):
            return None  # parameters are sharded by design
        digest = self.params_digest()
        t = self.torch.tensor([int(digest[i:i + 8], 16) for i in range(0, 64, 8)], dtype=self.torch.int64,
                              device=acc.device).unsqueeze(0)
        rows = acc.gather(t).cpu().tolist()
        return ["".join(f"{v:08x}" for v in row) for row in rows]

    def save_checkpoint(self, step: int, record: dict[str, Any] | None = None) -> Path:
        acc = self.accelerator
        tmp = ck.partial_dir(self.output_dir, step)
        final = ck.checkpoint_dir(self.output_dir, step)
        if self.is_main:
            shutil.rmtree(tmp, ignore_errors=True)
            (tmp / ck.TRAINER_STATE).mkdir(parents=True)
        acc.wait_for_everyone()
        from accelerate.utils import DistributedType

        with _quiet_saving():
            acc.save_state(str(tmp / ck.TRAINER_STATE))
            sharded = acc.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)
            state_dict = acc.get_state_dict(self.model) if sharded and not self.cfg.lora else None
            digests = self._gather_digests()
            if self.is_main:
                self._save_hf(tmp, state_dict)
        if self.is_main:
            ck.write_state(tmp, {
                "step": step,
                "optimizer_updates": step * self.cfg.num_iterations,
                "consumed_prompts": self.consumed,
                "epoch": self.consumed / len(self.data),
                "world_size": self.world,
                "param_digests": digests,
                "metrics": record or {},
                "config": self.cfg.model_dump(mode="json"),
            })
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            ck.prune(self.output_dir, self.cfg.save_total_limit)
            self._write_report()
        acc.wait_for_everyone()
        self._say(f"saved {final}")
        return final

    def _save_hf(self, path: Path, state_dict: Any) -> None:
        model = self.unwrapped
        if self.cfg.lora:
            model.save_pretrained(str(path / "adapter"))
            model = copy.deepcopy(model).merge_and_unload()
            state_dict = None
        saved_gc = model.generation_config
        if self.source_generation_config is not None:
            model.generation_config = self.source_generation_config
        try:
            model.save_pretrained(str(path), state_dict=state_dict, safe_serialization=True)
        finally:
            model.generation_config = saved_gc
        self.processor.save_pretrained(str(path))

    def _write_report(self) -> None:
        from mosseval.train.report import write_report

        try:
            write_report(self.output_dir)
        except Exception as e:  # noqa: BLE001 - a report failure never stops training
            log.warning("could not write the training report: %s", e)

    def _finish(self, history: list[dict[str, Any]], step_times: list[float], last_ckpt: Path | None) -> dict:
        acc = self.accelerator
        digests = self._gather_digests()
        summary: dict[str, Any] = {}
        if self.is_main:
            timed = step_times[1:] if len(step_times) > 1 else step_times
            summary = {
                "schema_version": 1,
                "steps": self.total_steps,
                "start_step": self.start_step,
                "steps_this_run": len(step_times),
                "resumed_from": str(getattr(self, "resumed_from", "")) or None,
                "last_checkpoint": str(last_ckpt) if last_ckpt else None,
                "world_size": self.world,
                "distributed_type": str(acc.distributed_type).split(".")[-1],
                "device": str(acc.device),
                "prompts_per_step": self.prompts_per_step,
                "completions_per_step": self.prompts_per_step * self.cfg.num_generations,
                "step_time_mean_s": float(np.mean(timed)) if timed else None,
                "step_time_median_s": float(statistics.median(timed)) if timed else None,
                "param_digests": digests,
                "params_in_sync": None if digests is None else len(set(digests)) == 1,
                "torch_threads": self.torch.get_num_threads(),
                "bad_videos": self.data.bad_videos,
            }
            (self.output_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
            self._write_report()
            if digests is not None and len(set(digests)) > 1:
                log.error("parameters differ across processes: %s", digests)
        if self.cfg.report_to:
            acc.end_training()
        acc.wait_for_everyone()
        return summary


def train(cfg: TrainConfig, *, console: Any = None,
          reward_fns: dict[str, Callable[..., list]] | None = None) -> TrainResult:
    """Run GRPO as configured; returns the result on every process (metrics on the main one)."""
    return GRPOTrainer(cfg, console=console, reward_fns=reward_fns).train()


# --------------------------------------------------------------------------- small helpers


def _launcher_engine() -> str | None:
    """DeepSpeed / FSDP as announced by ``accelerate launch`` (before accelerate is initialised)."""
    env = os.environ
    if env.get("ACCELERATE_USE_DEEPSPEED", "").lower() in ("1", "true", "yes"):
        return "deepspeed"
    if env.get("ACCELERATE_USE_FSDP", "").lower() in ("1", "true", "yes"):
        return "fsdp"
    return None


def _device_arg(device: Any) -> str:
    if device.type == "cuda":
        return f"cuda:{device.index or 0}"
    return "cpu"


def _is_fsdp2(model: Any) -> bool:
    return type(model).__name__.startswith("FSDP") and "FullyShardedDataParallel" != type(model).__name__


@contextmanager
def _quiet_saving():
    """No progress bars / tied-weight notices while a checkpoint is written."""
    from transformers.utils import logging as hf_logging

    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    acc_log = logging.getLogger("accelerate")
    level = acc_log.level
    acc_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        acc_log.setLevel(level)
        if bar:
            hf_logging.enable_progress_bar()


def _disable_dropout(model: Any) -> None:
    """GRPO compares log-probs of the same tokens across passes: no dropout anywhere."""
    import torch

    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
        if isinstance(getattr(m, "attention_dropout", None), float):
            m.attention_dropout = 0.0


def _vision_module(model: Any) -> Any:
    for owner in (model, getattr(model, "model", None)):
        if owner is None:
            continue
        for name in ("visual", "vision_tower", "vision_model"):
            mod = getattr(owner, name, None)
            if mod is not None:
                return mod
    return None


def _lr_lambda(cfg: TrainConfig, total: int) -> Callable[[int], float]:
    warmup = int(round(cfg.warmup_ratio * total))

    def fn(i: int) -> float:
        k = i + 1  # the k-th optimizer update (1-based) uses this factor
        if warmup and k <= warmup:
            return k / warmup
        if cfg.lr_scheduler == "constant":
            return 1.0
        progress = min(1.0, (k - warmup) / max(1, total - warmup))
        if cfg.lr_scheduler == "linear":
            shape = 1.0 - progress
        else:
            shape = 0.5 * (1.0 + math.cos(math.pi * progress))
        return cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * shape

    return fn


def _flat_config(cfg: TrainConfig) -> dict[str, Any]:
    out = {}
    for k, v in cfg.model_dump(mode="json").items():
        out[k] = v if isinstance(v, (int, float, str, bool)) or v is None else json.dumps(v)
    return {k: ("" if v is None else v) for k, v in out.items()}


def _nan(v: float | None) -> float:
    return float("nan") if v is None else float(v)


def _nanmean(a: Any) -> float | None:
    a = np.asarray(a, dtype=np.float64)
    a = a[~np.isnan(a)]
    return float(a.mean()) if a.size else None


def _progress_info(rec: dict[str, Any]) -> str:
    parts = [f"loss {rec['loss']:+.4f}", f"reward {rec['reward']:.3f}"]
    for k, v in rec.items():
        if k.startswith("reward/") and v is not None:
            parts.append(f"{k[7:]} {v:.3f}")
    if rec.get("kl") is not None:
        parts.append(f"kl {rec['kl']:.4f}")
    if rec.get("prr_correct") is not None or rec.get("prr_incorrect") is not None:
        f = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
        parts.append(f"prr ✓{f(rec.get('prr_correct'))} ✗{f(rec.get('prr_incorrect'))}")
    parts.append(f"len {rec['completion_length']:.0f}")
    parts.append(f"{rec['step_time_s']:.2f}s/step")
    return " · ".join(parts)


def _append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
        fh.flush()


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a torn last line from a killed run
    return out


def _truncate_jsonl(path: Path, step: int) -> None:
    """Keep the records of steps ≤ ``step`` (a resumed run rewrites the rest)."""
    if not path.is_file():
        return
    keep = [r for r in _read_jsonl(path) if int(r.get("step", 0)) <= step]
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in keep), encoding="utf-8")
    tmp.replace(path)
