"""``mosseval train --export verl DIR``: the training data as verl parquet, plus a reward module.

For large jobs (Ray, FSDP / Megatron, vLLM rollouts) verl's PPO trainer runs GRPO on its own;
mosseval contributes the data and the reward. ``DIR`` receives

* ``train.parquet`` (and ``val.parquet`` when the task has a test split: ``TASK-train`` → ``TASK``),
  one row per sample in the columns verl's ``RLHFDataset`` reads:

  - ``data_source``: ``mosseval/<task>``;
  - ``prompt``: chat messages; the user turn holds a ``<video>`` placeholder, which verl replaces
    with ``{"type": "video", **videos[0]}``;
  - ``videos``: ``[{"video": "file:///…/clip.mp4", "nframes": N, "video_start": s, "video_end": e,
    "max_pixels": P}]`` -- qwen-vl-utils' video dict (verl decodes the clip itself, with its own
    frame selection inside the observed window);
  - ``ability``: ``video-temporal-reasoning``;
  - ``reward_model``: ``{"style": "rule", "ground_truth": "<gold letter>"}``;
  - ``extra_info``: ``{index, id, split, question, answer, options, reference_steps, weights, prr,
    require_format}`` -- everything the reward needs travels with the row;

* ``mosseval_reward.py``: ``compute_score(data_source, solution_str, ground_truth, extra_info)``
  (verl's ``custom_reward_function``; returns ``{"score": total, "accuracy", "format", "prr"}``
  so verl logs the components) and ``compute_score_batch`` for verl's batch reward manager. Both
  call :mod:`mosseval.rewards` -- mosseval must be installed in verl's environment;
* ``run_verl.sh``: the verl command line with this run's settings (edit GPUs / batch sizes).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mosseval.errors import MissingDependencyError, OutputError, UsageError
from mosseval.records import PRRConfig, Sample, TaskSpec
from mosseval.train.config import TrainConfig

__all__ = ["ExportResult", "export_verl", "verl_rows", "verl_compute_score", "verl_compute_score_batch",
           "REWARD_MODULE", "VIDEO_PLACEHOLDER"]

REWARD_MODULE = "mosseval_reward.py"
VIDEO_PLACEHOLDER = "<video>"
ABILITY = "video-temporal-reasoning"


@dataclass
class ExportResult:
    out_dir: Path
    parquet: Path
    val_parquet: Path | None
    reward_module: Path
    command_file: Path
    n_rows: int
    command: str


# --------------------------------------------------------------------------- the reward


def _plain(x: Any) -> Any:
    """numpy arrays / scalars (verl's object arrays) to plain Python, recursively."""
    if hasattr(x, "tolist") and not isinstance(x, (str, bytes)):
        x = x.tolist()
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def verl_compute_score_batch(data_sources: Sequence[Any], solution_strs: Sequence[str],
                             ground_truths: Sequence[Any], extra_infos: Sequence[Any] | None = None,
                             **kwargs: Any) -> list[dict[str, float]]:
    """Weighted totals and components for many responses (rows exported by :func:`export_verl`).

    Same numbers as ``mosseval.rewards.compute_score``; None components (no reference steps)
    count as 0 in the total and are reported as 0.0 (verl needs numbers).
    """
    from mosseval.rewards import COMPONENTS, DEFAULT_WEIGHTS, reward_components

    n = len(solution_strs)
    infos = [_plain(e) or {} for e in (extra_infos if extra_infos is not None else [None] * n)]
    out: list[dict[str, float]] = [{} for _ in range(n)]
    groups: dict[str, list[int]] = {}
    for i, info in enumerate(infos):
        key = json.dumps([info.get("weights"), info.get("prr"), info.get("require_format", True)],
                         sort_keys=True, default=str)
        groups.setdefault(key, []).append(i)
    for idx in groups.values():
        info0 = infos[idx[0]]
        weights = {**DEFAULT_WEIGHTS, **{k: float(v) for k, v in (info0.get("weights") or {}).items()
                                         if v is not None}}
        active = [k for k in COMPONENTS if weights.get(k, 0.0) != 0.0]
        cfg = PRRConfig(**{k: v for k, v in (info0.get("prr") or {}).items() if v is not None})
        comps = reward_components(
            None, [solution_strs[i] for i in idx], components=COMPONENTS, config=cfg,
            require_format=bool(info0.get("require_format", True)),
            answer=[_plain(ground_truths[i]) for i in idx],
            options=[infos[i].get("options") for i in idx],
            reference_steps=[infos[i].get("reference_steps") for i in idx],
        )
        for j, i in enumerate(idx):
            total = sum(weights[k] * comps[k][j] for k in active if comps[k][j] is not None)
            out[i] = {"score": float(total), **{k: float(comps[k][j] or 0.0) for k in COMPONENTS}}
    return out


def verl_compute_score(data_source: Any, solution_str: str, ground_truth: Any,
                       extra_info: Any = None, **kwargs: Any) -> dict[str, float]:
    """verl ``custom_reward_function`` entry point for one response."""
    return verl_compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info])[0]


_MODULE_TEXT = '''"""verl reward for data exported by `mosseval train --export verl` (generated file).

verl loads it with custom_reward_function.path=<this file> custom_reward_function.name=compute_score
(or compute_score_batch with reward_model.reward_manager=batch). The scoring lives in mosseval, which
must be installed in verl's Python environment: pip install mosseval
"""

from mosseval.train.export_verl import verl_compute_score, verl_compute_score_batch


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    return verl_compute_score(data_source, solution_str, ground_truth, extra_info, **kwargs)


def compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos=None, **kwargs):
    return verl_compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos, **kwargs)
'''


# --------------------------------------------------------------------------- the data


def _user_text(task: TaskSpec, sample: Sample) -> tuple[str | None, str]:
    from mosseval.prompts import render_user_text

    assert task.prompt is not None
    text = render_user_text(task, sample)
    if sample.video is not None:
        text = VIDEO_PLACEHOLDER + text if task.prompt.video_position == "before" else text + VIDEO_PLACEHOLDER
    return task.prompt.system, text


def verl_rows(cfg: TrainConfig, task: TaskSpec, root: Path, samples: list[Sample], *,
              video_root: str | None = None) -> list[dict[str, Any]]:
    """One verl row per sample (see the module docstring for the columns)."""
    from mosseval.paths import safe_join

    prr = (cfg.prr or task.scoring.prr or PRRConfig()).model_dump()
    weights = {k: float(v) for k, v in cfg.weights.items()}
    rows = []
    for i, s in enumerate(samples):
        system, user = _user_text(task, s)
        prompt = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
        videos = []
        if s.video is not None:
            if s.video.kind != "file":
                raise UsageError(f"sample {s.id!r}: the verl export supports video files, not frame folders",
                                 hint="convert the frame folder to a video file first")
            path = safe_join(root, s.video.path)
            location = (video_root.rstrip("/") + "/" + s.video.path) if video_root else path.resolve().as_uri()
            bounds = task.frames.use_bounds
            videos.append({
                "video": location,
                "nframes": int(cfg.frames),
                "video_start": float(s.video.start) if bounds and s.video.start is not None else 0.0,
                "video_end": float(s.video.end) if bounds and s.video.end is not None else None,
                "max_pixels": int(cfg.max_pixels),
            })
        rows.append({
            "data_source": f"mosseval/{task.name}",
            "prompt": prompt,
            "videos": videos,
            "ability": ABILITY,
            "reward_model": {"style": "rule", "ground_truth": s.answer},
            "extra_info": {
                "index": i,
                "id": s.id,
                "split": s.split or "",
                "question": s.question,
                "answer": s.answer,
                "options": dict(s.options),
                "reference_steps": [{"t": r.t, "text": r.text} for r in s.reference_steps],
                "weights": weights,
                "prr": prr,
                "require_format": bool(cfg.require_format),
            },
        })
    return rows


def _write_parquet(rows: list[dict[str, Any]], path: Path) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependencyError("--export verl needs pyarrow",
                                     hint="pip install 'mosseval[train]' -c constraints.txt") from None
    # Options vary in their letters: a struct with every letter seen (absent ones are null).
    letters = sorted({k for r in rows for k in r["extra_info"]["options"]})
    for r in rows:
        r["extra_info"]["options"] = {k: r["extra_info"]["options"].get(k) for k in letters}
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, path)


def _command(cfg: TrainConfig, out: Path, model_path: str, has_val: bool) -> str:
    G = cfg.num_generations
    batch = max(8, cfg.batch_size * cfg.grad_accum * 8)
    args = [
        "algorithm.adv_estimator=grpo",
        f"algorithm.norm_adv_by_std_in_grpo={cfg.scale_rewards}",
        "algorithm.use_kl_in_reward=False",
        f"data.train_files={out / 'train.parquet'}",
        f"data.val_files={out / ('val.parquet' if has_val else 'train.parquet')}",
        "data.video_key=videos",
        f"data.train_batch_size={batch}",
        "data.max_prompt_length=8192",
        f"data.max_response_length={cfg.max_completion_length}",
        "data.filter_overlong_prompts=True",
        "data.truncation=error",
        f"actor_rollout_ref.model.path={model_path}",
        f"actor_rollout_ref.actor.optim.lr={cfg.lr}",
        f"actor_rollout_ref.actor.optim.weight_decay={cfg.weight_decay}",
        f"actor_rollout_ref.actor.optim.lr_warmup_steps_ratio={cfg.warmup_ratio}",
        f"actor_rollout_ref.actor.optim.lr_scheduler_type={'cosine' if cfg.lr_scheduler == 'cosine' else 'constant'}",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={batch}",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=1",
        f"actor_rollout_ref.actor.ppo_epochs={cfg.num_iterations}",
        f"actor_rollout_ref.actor.clip_ratio_low={cfg.clip_eps}",
        f"actor_rollout_ref.actor.clip_ratio_high={cfg.clip_eps_high or cfg.clip_eps}",
        f"actor_rollout_ref.actor.grad_clip={cfg.max_grad_norm}",
        "actor_rollout_ref.actor.loss_agg_mode=token-mean",
        f"actor_rollout_ref.actor.use_kl_loss={cfg.beta > 0}",
        f"actor_rollout_ref.actor.kl_loss_coef={cfg.beta}",
        "actor_rollout_ref.actor.kl_loss_type=low_var_kl",
        f"actor_rollout_ref.actor.freeze_vision_tower={cfg.freeze_vision}",
        "actor_rollout_ref.model.enable_gradient_checkpointing=True",
        "actor_rollout_ref.rollout.name=vllm",
        f"actor_rollout_ref.rollout.n={G}",
        f"actor_rollout_ref.rollout.temperature={cfg.temperature}",
        f"actor_rollout_ref.rollout.top_p={cfg.top_p}",
        "actor_rollout_ref.rollout.gpu_memory_utilization=0.6",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=4",
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=4",
        "+actor_rollout_ref.rollout.engine_kwargs.vllm.disable_mm_preprocessor_cache=True",
        f"custom_reward_function.path={out / REWARD_MODULE}",
        "custom_reward_function.name=compute_score",
        "trainer.n_gpus_per_node=8",
        "trainer.nnodes=1",
        f"trainer.total_epochs={int(cfg.epochs) if cfg.epochs and cfg.epochs >= 1 else 1}",
        f"trainer.save_freq={cfg.save_every or -1}",
        "trainer.test_freq=-1",
        f"trainer.project_name={cfg.project}",
        "trainer.experiment_name=mosseval-grpo-prr",
        "trainer.logger=[console]",
    ]
    if cfg.lora:
        args += [f"actor_rollout_ref.model.lora_rank={cfg.lora_r}",
                 f"actor_rollout_ref.model.lora_alpha={int(cfg.lora_alpha)}",
                 "actor_rollout_ref.model.target_modules=all-linear"]
    return "python3 -m verl.trainer.main_ppo \\\n    " + " \\\n    ".join(shlex.quote(a) for a in args) + " \"$@\""


def _model_path(cfg: TrainConfig) -> str:
    from mosseval.models.registry import resolve

    spec = resolve(cfg.model)
    if spec.backend != "hf":
        raise UsageError(f"--model {cfg.model!r} is not a transformers checkpoint; verl needs one")
    if spec.target.startswith("builtin:"):
        from mosseval.models.tiny import ensure_tiny

        return str(ensure_tiny(cfg.cache_dir and Path(cfg.cache_dir), name=spec.target.split(":", 1)[1]))
    return spec.target


def export_verl(cfg: TrainConfig, out_dir: str | Path, *, video_root: str | None = None) -> ExportResult:
    """Write ``train.parquet`` (+ ``val.parquet``), ``mosseval_reward.py`` and ``run_verl.sh``."""
    from mosseval.train.data import load_train_task

    custom = [r for r in cfg.rewards if ":" in r]
    if custom:
        raise UsageError(f"--export verl writes mosseval's rewards only; custom reward(s) {custom} cannot be exported",
                         hint="point verl's custom_reward_function at your own module instead")
    out = Path(out_dir).expanduser().resolve()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {out}: {e.strerror or e}") from None
    task, root, samples, _ = load_train_task(cfg)
    rows = verl_rows(cfg, task, root, samples, video_root=video_root)
    parquet = out / "train.parquet"
    _write_parquet(rows, parquet)

    val_path = None
    if task.name.endswith("-train"):
        from mosseval.tasks import load_registry
        from mosseval.train.data import load_eval_task

        base = task.name[: -len("-train")]
        registry = load_registry(list(cfg.tasks_dir))
        if base in registry and not registry[base].is_group:
            try:  # verl's validation set: evaluated, never trained on
                vtask, vroot, vsamples = load_eval_task(cfg, base)
            except Exception:  # noqa: BLE001 - validation data is optional
                vsamples = []
            if vsamples:
                val_path = out / "val.parquet"
                _write_parquet(verl_rows(cfg, vtask, vroot, vsamples, video_root=video_root), val_path)

    module = out / REWARD_MODULE
    module.write_text(_MODULE_TEXT, encoding="utf-8")
    command = _command(cfg, out, _model_path(cfg), val_path is not None)
    script = out / "run_verl.sh"
    script.write_text("#!/usr/bin/env bash\n# generated by `mosseval train --export verl`; adjust GPUs and batch "
                      "sizes\nset -euo pipefail\n" + command + "\n", encoding="utf-8")
    script.chmod(0o755)
    return ExportResult(out, parquet, val_path, module, script, len(rows), command)
