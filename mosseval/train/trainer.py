"""What every training method shares: set-up, the optimisation loop, checkpoints, resume, logs.

:class:`Trainer` builds the run (accelerate, the data stream, the model from any ``hf`` target,
LoRA or frozen parts, AdamW with warm-up + schedule), and drives the loop: each step the method
(:class:`~mosseval.train.grpo.GRPOTrainer`, :class:`~mosseval.train.sft.SFTTrainer`) produces its
micro-batch losses through :meth:`Trainer.backward`, which accumulates gradients and steps the
optimizer; the step's metrics go to ``metrics.jsonl`` (and accelerate's trackers), and checkpoints
in Hugging Face format (``mosseval run --model DIR`` evaluates them, ``mosseval train --model DIR``
continues from them) are written every ``save_every`` steps and at the end. ``--resume`` restores
model, optimizer, scheduler, RNG states and the data position from the last complete checkpoint,
so a run killed at any point and resumed ends byte-identical to an uninterrupted one.

Distribution is accelerate's: the same code runs single-process, under ``torchrun`` or
``accelerate launch`` with DDP (CPU gloo or GPUs), FSDP or DeepSpeed configurations.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import logging
import math
import os
import shutil
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mosseval.errors import MissingDependencyError, OutputError, UsageError
from mosseval.progress import progress
from mosseval.train import checkpointing as ck
from mosseval.train.config import TRACKERS, TrainConfig
from mosseval.train.data import TrainData, load_train_task
from mosseval.train.threads import ThreadTuner, candidate_counts, usable_cores

log = logging.getLogger(__name__)

__all__ = ["Trainer", "TrainResult", "METRICS_FILE", "COMPLETIONS_FILE", "SUMMARY_FILE", "CONFIG_FILE",
           "REPORT_FILE", "vision_module", "lr_lambda"]

METRICS_FILE = "metrics.jsonl"
COMPLETIONS_FILE = "completions.jsonl"
SUMMARY_FILE = "summary.json"
CONFIG_FILE = "train_config.yaml"
REPORT_FILE = "report.html"

# Keys that may not change between a run and its resumption (the saved state would not fit).
_RESUME_FIXED = ("method", "model", "data", "train_size", "lora", "lora_r", "lora_alpha", "lora_target_modules",
                 "freeze_vision", "dtype")
# Metric keys that measure time or how the step ran (threads), not results: left out of the resume-equality promise.
TIMING_KEYS = ("step_time_s", "rollout_time_s", "generate_time_s", "torch_threads")


@dataclass
class TrainResult:
    output_dir: Path
    steps: int
    start_step: int
    last_checkpoint: Path | None
    metrics: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


class Trainer:
    """Call :meth:`setup` then :meth:`train`. Subclasses implement :meth:`train_step`."""

    method = "base"

    def __init__(self, cfg: TrainConfig, *, console: Any = None, progress_bar: bool = False):
        """``progress_bar``: show the step bar on ``console`` even with ``cfg.quiet`` (which silences the rest)."""
        self.cfg = cfg.check()
        self.console = console
        self.progress_bar = progress_bar
        self.output_dir = Path(cfg.output_dir)
        self._set_up = False

    # -- hooks for the methods ------------------------------------------------------------------

    def prepare_reference(self, model: Any) -> None:
        """Called with the policy before LoRA wraps it (GRPO copies its KL reference here)."""

    def finish_setup(self) -> None:
        """Called after accelerate has prepared the model (GRPO builds rewards and the engine)."""

    def train_step(self, step: int) -> dict[str, Any]:
        """Run one step (its micro-batches and optimizer updates); return the step's metrics on the
        main process (an empty dict elsewhere)."""
        raise NotImplementedError

    def log_samples(self, step: int) -> None:
        """Write example outputs of the step just logged (GRPO: completions)."""

    # -- setup ---------------------------------------------------------------------------------

    def setup(self) -> Trainer:
        from mosseval.models.registry import load_backend

        load_backend("hf")  # torch + transformers present, with a clear message otherwise
        from mosseval.torchvision_compat import ensure_torchvision

        ensure_torchvision()
        import torch

        cfg = self.cfg
        self.torch = torch
        self.threads: ThreadTuner | None = None
        if cfg.num_threads == "auto":
            cores = usable_cores() if not torch.cuda.is_available() else 1
            self.threads = ThreadTuner(candidate_counts(cores))
            torch.set_num_threads(self.threads.count())
        elif cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        cuda = torch.cuda.is_available()
        dist_kind = _launcher_engine()
        cfg.check_hardware(cuda, dist_kind)
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

        # One writer per output folder (the run-directory lock of `mosseval run`): a second
        # `mosseval train -o SAME` exits 2 naming this one. Held by the main process until the end.
        self.lock = None
        if self.is_main:
            from mosseval.fileio import DirLock

            self.lock = DirLock(self.output_dir, command=["mosseval", "train", "-o", str(self.output_dir)]).acquire()
        try:
            self._setup_run(torch)
        except BaseException:
            self.release()
            raise
        self._set_up = True
        return self

    def _setup_run(self, torch: Any) -> None:
        from mosseval.models.registry import resolve

        cfg, acc = self.cfg, self.accelerator
        self._prepare_output_dir()

        # Data and model: the main process builds caches first (moss-video-mini, builtin models).
        with acc.main_process_first():
            task, root, samples, guard = load_train_task(cfg)
        self.data = TrainData(cfg, task, root, samples)
        self.data_guard = guard

        spec = resolve(cfg.model, {**cfg.model_args, "dtype": cfg.dtype, "device": _device_arg(acc.device)})
        if spec.backend != "hf":
            raise UsageError(f"--model {cfg.model!r} is served by the {spec.backend!r} backend; training needs "
                             "a transformers checkpoint (a preset such as mini-qwen2.5-vl, a local directory or "
                             "a Hub id in the local cache)")
        from mosseval.models.hf import HFModel

        with acc.main_process_first(), (quiet_transformers() if cfg.quiet else nullcontext()):
            self.hf = HFModel(spec)  # --quiet: no "Loading weights" bar either
        model = self.hf.model
        self.processor = self.hf.processor
        self.tokenizer = self.hf.tokenizer
        self.source_generation_config = copy.deepcopy(self.hf.checkpoint_generation_config)
        gen = self.hf._base_generation
        eos = gen.get("eos_token_id")
        self.eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}
        if not self.eos_ids:
            raise UsageError(f"{cfg.model!r} defines no end-of-sequence token; completions could never end")
        self.eos_id = self.tokenizer.convert_tokens_to_ids(self.tokenizer.eos_token) \
            if self.tokenizer.eos_token in (self.tokenizer.get_vocab() or {}) else sorted(self.eos_ids)[0]
        if self.eos_id not in self.eos_ids:
            self.eos_id = sorted(self.eos_ids)[0]
        self.pad_id = gen.get("pad_token_id", self.eos_id)
        self.suppress_ids = sorted(set(gen.get("suppress_tokens") or []))
        _disable_dropout(model)
        if cfg.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.config.use_cache = False

        if cfg.freeze_vision:
            for p in required_vision_module(model, cfg.model, "--freeze-vision").parameters():
                p.requires_grad_(False)

        self.vision_probe = VisionProbe(vision_module(model))
        self.prepare_reference(model)
        if cfg.lora:
            model = self._apply_lora(model)
        self.vision_cache = None
        if cfg.freeze_vision and cfg.vision_cache:
            from mosseval.train.vision_cache import install_vision_cache

            self.vision_cache = install_vision_cache(model, observe=self.vision_probe.observe)

        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise UsageError("no trainable parameters (everything is frozen)")
        groups = _param_groups(model, params, cfg)
        optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_eps)

        self.prompts_per_step = cfg.batch_size * cfg.grad_accum * self.world
        if cfg.steps is not None:
            self.total_steps = cfg.steps
        else:
            epochs = cfg.epochs if cfg.epochs is not None else 1.0
            self.total_steps = max(1, math.ceil(epochs * len(self.data) / self.prompts_per_step))
        self.total_updates = self.total_steps * self.updates_per_step
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg, self.total_updates))

        plugin = getattr(acc.state, "deepspeed_plugin", None)
        if plugin is not None:
            ds = plugin.deepspeed_config
            if ds.get("train_micro_batch_size_per_gpu", "auto") == "auto":
                ds["train_micro_batch_size_per_gpu"] = cfg.batch_size * self.rows_per_prompt
            if ds.get("gradient_clipping", "auto") == "auto":
                ds["gradient_clipping"] = cfg.max_grad_norm
        self.model, self.optimizer, self.scheduler = acc.prepare(model, optimizer, scheduler)
        self.unwrapped = acc.unwrap_model(self.model)
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]

        self.finish_setup()
        self.start_step = 0
        self.consumed = 0
        self._resume()

        if cfg.report_to:
            acc.init_trackers(cfg.project, config=_flat_config(cfg))

    @property
    def updates_per_step(self) -> int:
        return 1

    @property
    def rows_per_prompt(self) -> int:
        return 1

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
            ck.clean_partials(out)
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
        acc.wait_for_everyone()

    def _resume(self) -> None:
        cfg, acc = self.cfg, self.accelerator
        ckpt = ck.last_checkpoint(self.output_dir) if cfg.resume else None
        if ckpt is None:
            if cfg.resume:
                self.say(f"--resume: no checkpoint in {self.output_dir}; starting from step 0")
            if self.is_main:
                self._write_config()
                for name in (METRICS_FILE, COMPLETIONS_FILE, SUMMARY_FILE):
                    (self.output_dir / name).unlink(missing_ok=True)
            acc.wait_for_everyone()
            return
        state = ck.read_state(ckpt)
        saved = state.get("config", {})
        saved.setdefault("method", "grpo")
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
            self.say(f"resuming with changed settings: {', '.join(changed)}")
        acc.load_state(str(ckpt / ck.TRAINER_STATE))
        self.start_step = int(state["step"])
        self.consumed = int(state.get("consumed_prompts", self.start_step * self.prompts_per_step))
        self.resumed_from = ckpt
        self.say(f"resuming from {ckpt.name} (step {self.start_step}, {self.consumed} prompts consumed)")
        if self.is_main:
            self._write_config()
            _truncate_jsonl(self.output_dir / METRICS_FILE, self.start_step)
            _truncate_jsonl(self.output_dir / COMPLETIONS_FILE, self.start_step)
        acc.wait_for_everyone()

    def _write_config(self) -> None:
        import yaml

        from mosseval.fileio import atomic_write_text

        data = self.cfg.model_dump(mode="json")
        atomic_write_text(self.output_dir / CONFIG_FILE,
                          "# written by `mosseval train`; reuse with --config\n" + yaml.safe_dump(data, sort_keys=False))

    def say(self, text: str) -> None:
        if self.is_main and self.console is not None and not self.cfg.quiet:
            from rich.markup import escape

            self.console.print(escape(text))
        log.info(text)

    # -- the loop -----------------------------------------------------------------------------

    def micro_batch_start(self, micro: int) -> int:
        """Stream index of the first prompt of micro-batch ``micro`` of the current step on this
        process (processes interleave: a 2-process run reads what a 1-process run with twice the
        batch reads)."""
        return self.consumed + (micro * self.world + self.rank) * self.cfg.batch_size

    def backward(self, loss: Any) -> float | None:
        """Accumulate ``loss``'s gradients; on the last micro-batch of an update clip, step the
        optimizer and the schedule. Returns the pre-clip gradient norm when an update happened."""
        acc, cfg = self.accelerator, self.cfg
        acc.backward(loss)
        if not acc.sync_gradients:
            return None
        norm = acc.clip_grad_norm_(self.trainable, cfg.max_grad_norm or float("inf"))
        self.lr = float(self.scheduler.get_last_lr()[0])
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.after_update()
        return None if norm is None else float(norm)

    def after_update(self) -> None:
        """Called after each optimizer update (GRPO: push the weights to the rollout engine)."""

    def train(self) -> TrainResult:
        try:
            return self._train()
        finally:
            self.release()

    def release(self) -> None:
        """Give the output folder's lock back (``train`` does it when it returns or fails)."""
        lock, self.lock = getattr(self, "lock", None), None
        if lock is not None:
            lock.release()

    def _train(self) -> TrainResult:
        if not self._set_up:
            self.setup()
        acc, cfg = self.accelerator, self.cfg
        metrics_path = self.output_dir / METRICS_FILE
        history: list[dict[str, Any]] = _read_jsonl(metrics_path) if self.is_main else []
        shown = self.is_main and (self.progress_bar or not cfg.quiet)
        bar = progress(self.console if shown else None, self.total_steps, self.method,
                       completed=self.start_step, info=True)
        last_ckpt = ck.last_checkpoint(self.output_dir) if cfg.resume else None
        step_times: list[float] = []
        with bar:
            for step in range(self.start_step, self.total_steps):
                if self.threads is not None:
                    self.torch.set_num_threads(self.threads.count())
                t0 = time.perf_counter()
                self.lr = float(self.scheduler.get_last_lr()[0])
                record = self.train_step(step)
                if self.is_main:
                    record.update(self.vision_probe.pop())
                self.consumed += self.prompts_per_step
                step_time = time.perf_counter() - t0
                step_times.append(step_time)
                if self.threads is not None:
                    self.threads.record(step_time)
                if self.is_main:
                    record = {"step": step + 1, "epoch": round(self.consumed / len(self.data), 4), **record,
                              "lr": self.lr, "step_time_s": step_time, "torch_threads": self.torch.get_num_threads()}
                    history.append(record)
                    if (step + 1) % cfg.log_every == 0 or step + 1 == self.total_steps:
                        _append_jsonl(metrics_path, record)
                        self.log_samples(step + 1)
                        if cfg.report_to:
                            acc.log({k: v for k, v in record.items() if isinstance(v, (int, float))},
                                    step=step + 1)
                    info = self.progress_info(record)
                    if self.threads is not None:  # auto: show the count it chose
                        info += f" · {record['torch_threads']} thread(s)"
                    bar.update(completed=step + 1, info=info)
                if (cfg.save_every and (step + 1) % cfg.save_every == 0) or step + 1 == self.total_steps:
                    last_ckpt = self.save_checkpoint(step + 1, record if self.is_main else None)
        summary = self._finish(step_times, last_ckpt)
        return TrainResult(self.output_dir, self.total_steps, self.start_step, last_ckpt, history, summary)

    def gather_mean(self, values: list[float]) -> list[float]:
        """Element-wise mean over processes of a list of local scalars."""
        torch, acc = self.torch, self.accelerator
        t = torch.tensor([values], dtype=torch.float64, device=acc.device)
        return acc.gather(t).cpu().numpy().reshape(-1, len(values)).mean(axis=0).tolist()

    def progress_info(self, rec: dict[str, Any]) -> str:
        return f"loss {rec.get('loss', float('nan')):+.4f} · {rec['step_time_s']:.2f}s/step"

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

        with quiet_transformers():
            acc.save_state(str(tmp / ck.TRAINER_STATE))
            sharded = acc.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)
            state_dict = acc.get_state_dict(self.model) if sharded and not self.cfg.lora else None
            digests = self._gather_digests()
            if self.is_main:
                self._save_hf(tmp, state_dict)
        if self.is_main:
            ck.write_state(tmp, {
                "method": self.method,
                "step": step,
                "optimizer_updates": step * self.updates_per_step,
                "consumed_prompts": self.consumed,
                "epoch": self.consumed / len(self.data),
                "world_size": self.world,
                "param_digests": digests,
                "metrics": {k: v for k, v in (record or {}).items() if k not in TIMING_KEYS},
                "config": self.cfg.model_dump(mode="json"),
                "data": self.data_guard,
            })
            ck.publish(tmp, final)
            ck.prune(self.output_dir, self.cfg.save_total_limit)
            self._write_report()
        acc.wait_for_everyone()
        self.say(f"saved {final}")
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
        for p in path.iterdir():
            if p.is_file():
                p.chmod(0o644)

    def _write_report(self) -> None:
        from mosseval.train.report import write_report

        try:
            write_report(self.output_dir)
        except Exception as e:  # noqa: BLE001 - a report failure never stops training
            log.warning("could not write the training report: %s", e)

    def _finish(self, step_times: list[float], last_ckpt: Path | None) -> dict:
        acc = self.accelerator
        digests = self._gather_digests()
        summary: dict[str, Any] = {}
        if self.is_main:
            timed = step_times[1:] if len(step_times) > 1 else step_times
            summary = {
                "schema_version": 1,
                "method": self.method,
                "steps": self.total_steps,
                "start_step": self.start_step,
                "steps_this_run": len(step_times),
                "resumed_from": str(getattr(self, "resumed_from", "")) or None,
                "last_checkpoint": str(last_ckpt) if last_ckpt else None,
                "world_size": self.world,
                "distributed_type": str(acc.distributed_type).split(".")[-1],
                "device": str(acc.device),
                "prompts_per_step": self.prompts_per_step,
                "sequences_per_step": self.prompts_per_step * self.rows_per_prompt,
                "step_time_mean_s": float(np.mean(timed)) if timed else None,
                "step_time_median_s": float(statistics.median(timed)) if timed else None,
                "wall_time_s": float(sum(step_times)),
                "param_digests": digests,
                "params_in_sync": None if digests is None else len(set(digests)) == 1,
                "torch_threads": self.cfg.num_threads if self.threads is not None else self.torch.get_num_threads(),
                "thread_steps": self.threads.summary() if self.threads is not None else None,
                "vision_cache": self.vision_cache.summary() if self.vision_cache is not None else None,
                "bad_videos": self.data.bad_videos,
                "data": self.data_guard,
            }
            from mosseval.fileio import write_json_atomic

            write_json_atomic(self.output_dir / SUMMARY_FILE, summary)
            self._write_report()
            if digests is not None and len(set(digests)) > 1:
                log.error("parameters differ across processes: %s", digests)
        if self.cfg.report_to:
            acc.end_training()
        acc.wait_for_everyone()
        return summary


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


@contextmanager
def quiet_transformers():
    """No progress bars / tied-weight notices while a checkpoint is written (or, with --quiet, loaded)."""
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
    """Log-probs of the same tokens are compared across passes: no dropout anywhere."""
    import torch

    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
        if isinstance(getattr(m, "attention_dropout", None), float):
            m.attention_dropout = 0.0


def vision_module(model: Any) -> Any:
    """The vision tower of a VLM (``visual`` / ``vision_tower`` / ``vision_model``), or None."""
    for owner in (model, getattr(model, "model", None)):
        if owner is None:
            continue
        for name in ("visual", "vision_tower", "vision_model"):
            mod = getattr(owner, name, None)
            if mod is not None:
                return mod
    return None


class VisionProbe:
    """Watches the vision tower's output (the visual tokens the language model reads) and reports,
    per step, its RMS and its *spread*: the standard deviation across the step's visual tokens
    relative to that RMS (mean over features). A spread near 0 means every visual token is the same
    vector: the language model's RMSNorm then erases the frames (a from-scratch vision tower can
    collapse this way; docs/tutorials/reproduce-mosschatv.md). Values of the step's last forward."""

    def __init__(self, module: Any) -> None:
        self.last: dict[str, float] = {}
        self.handle = module.register_forward_hook(self._hook) if module is not None else None

    def _hook(self, module: Any, args: Any, output: Any) -> None:
        emb = getattr(output, "pooler_output", None)
        if emb is None:
            emb = output[0] if isinstance(output, (tuple, list)) else output
        if isinstance(emb, (tuple, list)):  # per image / video
            emb = emb[0] if len(emb) == 1 else None
        if emb is not None:
            self.observe(emb)

    def observe(self, emb: Any) -> None:
        """Measure the visual tokens ``emb`` (one row per token); :mod:`~mosseval.train.vision_cache` calls it with
        the features it looked up, which the tower's hook does not see."""
        if not hasattr(emb, "detach") or emb.dim() < 2 or emb.shape[0] < 2:
            return
        import torch

        with torch.no_grad():
            x = emb.detach().float().reshape(-1, emb.shape[-1])
            rms = float(x.pow(2).mean().sqrt())
            spread = float(x.std(dim=0).mean()) / rms if rms > 0 else 0.0
        self.last = {"vision_rms": rms, "vision_spread": spread}

    def pop(self) -> dict[str, float]:
        out, self.last = self.last, {}
        return out


def _param_groups(model: Any, params: list[Any], cfg: TrainConfig) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on matrices only; the vision tower at ``lr * vision_lr_scale``."""
    vis = required_vision_module(model, cfg.model, "--vision-lr-scale") if cfg.vision_lr_scale != 1.0 else None
    in_vision = {id(p) for p in vis.parameters()} if vis is not None else set()
    groups = []
    for vision in (False, True):
        part = [p for p in params if (id(p) in in_vision) == vision]
        lr = cfg.lr * (cfg.vision_lr_scale if vision else 1.0)
        for decay in (True, False):
            chosen = [p for p in part if (p.dim() >= 2) == decay]
            if chosen:
                groups.append({"params": chosen, "weight_decay": cfg.weight_decay if decay else 0.0, "lr": lr})
    return groups


def required_vision_module(model: Any, name: str, option: str) -> Any:
    """The vision tower ``option`` acts on; a usage error when ``model`` has none."""
    vis = vision_module(model)
    if vis is None:
        raise UsageError(f"{option}: {name!r} has no vision tower named `visual` / `vision_tower` / `vision_model`")
    return vis


def lr_lambda(cfg: TrainConfig, total: int) -> Callable[[int], float]:
    """The learning-rate factor of update i: linear warm-up, then constant / linear / cosine."""
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


def nan_or(v: float | None) -> float:
    return float("nan") if v is None else float(v)


def nanmean(a: Any) -> float | None:
    a = np.asarray(a, dtype=np.float64)
    a = a[~np.isnan(a)]
    return float(a.mean()) if a.size else None


def _append_jsonl(path: Path, record: dict[str, Any]) -> None:
    from mosseval.fileio import JsonlAppender

    with JsonlAppender(path) as out:
        out.write_json(record)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The complete records of a JSONL file (a torn last line from a killed run is skipped)."""
    from mosseval.fileio import iter_jsonl

    if not path.is_file():
        return []
    return [json.loads(raw) for _, raw in iter_jsonl(path)]


def _truncate_jsonl(path: Path, step: int) -> None:
    """Keep the records of steps ≤ ``step`` (a resumed run rewrites the rest)."""
    if not path.is_file():
        return
    from mosseval.fileio import atomic_write_text

    keep = [r for r in _read_jsonl(path) if int(r.get("step", 0)) <= step]
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in keep))
