"""``mosseval train``: the command-line face of :mod:`mosseval.train` (GRPO with the PRR reward).

Every option mirrors a key of ``TrainConfig`` (``--num-generations`` ↔ ``num_generations``); a
``--config FILE.yaml`` supplies any of them and the command line overrides the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

MODEL = "Model"
DATA = "Data"
REWARD = "Rewards"
GRPO = "GRPO"
OPTIM = "Optimisation"
OUT = "Output"
EXEC = "Execution"


def _opt(*names: str, help: str, panel: str, **kw):  # noqa: A002 - typer's keyword
    return typer.Option(*names, help=help, rich_help_panel=panel, show_default=False, **kw)


def train_command(
    model: Annotated[Optional[str], _opt("--model", "-m", help="Preset (tiny-qwen2.5-vl, qwen2.5-vl-7b), local "
                                         "checkpoint dir, or Hub id from the local cache.", panel=MODEL)] = None,
    data: Annotated[Optional[str], _opt("--data", help="TASK or TASK:SPLIT \\[default: moss-video-mini:train] "
                                        "(TASK:SPLIT is the task TASK-SPLIT; TASK:test is TASK).",
                                        panel=DATA)] = None,
    config: Annotated[Optional[Path], _opt("--config", "-c", help="YAML file with any of these settings "
                                           "(keys as in docs/howto/training.md); options given here override it.",
                                           panel=OUT)] = None,
    rewards: Annotated[Optional[str], _opt("--rewards", help="Comma-separated: accuracy, format, prr, or "
                                           "MODULE:FUNC / FILE.py:FUNC \\[default: accuracy,format,prr].",
                                           panel=REWARD)] = None,
    reward_weights: Annotated[Optional[str], _opt("--reward-weights", help="One weight per reward, e.g. 1,1,1 "
                                                  "\\[default: all 1].", panel=REWARD)] = None,
    require_format: Annotated[Optional[bool], _opt("--require-format/--no-require-format",
                                                   help="PRR is 0 without <think>…</think><answer>…</answer> "
                                                   "\\[default: on].", panel=REWARD)] = None,
    num_generations: Annotated[Optional[int], _opt("--num-generations", "-G", help="Completions per prompt "
                                                   "(group size) \\[default: 8].", panel=GRPO)] = None,
    per_device_batch_size: Annotated[Optional[int], _opt("--per-device-batch-size", "-b",
                                                         help="Prompts per micro-batch per process \\[default: 1].",
                                                         panel=GRPO)] = None,
    generation_batch_size: Annotated[Optional[int], _opt("--generation-batch-size", help="Completions per "
                                                         "micro-batch per process (a multiple of G); "
                                                         "alternative to --per-device-batch-size.",
                                                         panel=GRPO)] = None,
    beta: Annotated[Optional[float], _opt("--beta", help="KL coefficient to the frozen reference "
                                          "(0: no reference copy) \\[default: 0.04].", panel=GRPO)] = None,
    clip_eps: Annotated[Optional[float], _opt("--clip-eps", help="PPO clip range \\[default: 0.2].", panel=GRPO)] = None,
    clip_eps_high: Annotated[Optional[float], _opt("--clip-eps-high", help="Upper clip (clip-higher) "
                                                   "\\[default: --clip-eps].", panel=GRPO)] = None,
    num_iterations: Annotated[Optional[int], _opt("--num-iterations", help="Updates per generation batch (μ) "
                                                  "\\[default: 1].", panel=GRPO)] = None,
    temperature: Annotated[Optional[float], _opt("--temperature", help="Sampling temperature \\[default: 1.0].",
                                                 panel=GRPO)] = None,
    top_p: Annotated[Optional[float], _opt("--top-p", help="Nucleus sampling \\[default: 1.0].", panel=GRPO)] = None,
    max_completion_length: Annotated[Optional[int], _opt("--max-completion-length", help="New tokens per "
                                                         "completion \\[default: 768].", panel=GRPO)] = None,
    lr: Annotated[Optional[float], _opt("--lr", help="Peak learning rate \\[default: 1e-6].", panel=OPTIM)] = None,
    lr_scheduler: Annotated[Optional[str], _opt("--lr-scheduler", help="cosine | linear | constant "
                                                "\\[default: cosine].", panel=OPTIM)] = None,
    warmup_ratio: Annotated[Optional[float], _opt("--warmup-ratio", help="Warm-up share of the updates "
                                                  "\\[default: 0.05].", panel=OPTIM)] = None,
    weight_decay: Annotated[Optional[float], _opt("--weight-decay", help="AdamW weight decay \\[default: 0.01].",
                                                  panel=OPTIM)] = None,
    grad_accum: Annotated[Optional[int], _opt("--grad-accum", help="Micro-batches per update \\[default: 1].",
                                              panel=OPTIM)] = None,
    max_grad_norm: Annotated[Optional[float], _opt("--max-grad-norm", help="Gradient clipping (0: off) "
                                                   "\\[default: 1.0].", panel=OPTIM)] = None,
    steps: Annotated[Optional[int], _opt("--steps", help="Generation steps (each = --num-iterations updates).",
                                         panel=OPTIM)] = None,
    epochs: Annotated[Optional[float], _opt("--epochs", help="Passes over the data (default 1 when --steps "
                                            "is not given).", panel=OPTIM)] = None,
    seed: Annotated[Optional[int], _opt("--seed", help="Seed (data order, sampling, LoRA init) \\[default: 0].",
                                        panel=OPTIM)] = None,
    lora: Annotated[Optional[bool], _opt("--lora/--no-lora", help="Train LoRA adapters (PEFT) instead of all "
                                         "weights; the reference is the base model (no copy).", panel=MODEL)] = None,
    lora_r: Annotated[Optional[int], _opt("--lora-r", help="LoRA rank \\[default: 16].", panel=MODEL)] = None,
    lora_alpha: Annotated[Optional[float], _opt("--lora-alpha", help="LoRA alpha \\[default: 32].", panel=MODEL)] = None,
    freeze_vision: Annotated[Optional[bool], _opt("--freeze-vision/--no-freeze-vision", help="Keep the vision "
                                                  "tower frozen.", panel=MODEL)] = None,
    gradient_checkpointing: Annotated[Optional[bool], _opt("--gradient-checkpointing/--no-gradient-checkpointing",
                                                           help="Trade compute for memory.", panel=MODEL)] = None,
    dtype: Annotated[Optional[str], _opt("--dtype", help="float32 | bfloat16 | float16 weights (the last two need "
                                         "a GPU) \\[default: float32].", panel=MODEL)] = None,
    bf16: Annotated[Optional[bool], _opt("--bf16/--no-bf16", help="bf16 mixed precision (GPU only).",
                                         panel=MODEL)] = None,
    model_args: Annotated[Optional[str], _opt("--model-args", "-M", help="k=v,... for the hf backend "
                                              "(attn_implementation=sdpa, revision=..., cache_dir=...).",
                                              panel=MODEL)] = None,
    frames: Annotated[Optional[int], _opt("--frames", "-f", help="Frames per video \\[default: 16].",
                                          panel=DATA)] = None,
    max_pixels: Annotated[Optional[int], _opt("--max-pixels", help="Per-frame pixel budget "
                                              "\\[default: 100352 = 128·28·28].", panel=DATA)] = None,
    limit: Annotated[Optional[int], _opt("--limit", "-n", help="Train on the first N samples.", panel=DATA)] = None,
    data_dir: Annotated[Optional[Path], _opt("--data-dir", help="Dataset root (else $MOSSEVAL_DATA_DIR).",
                                             panel=DATA)] = None,
    cache_dir: Annotated[Optional[Path], _opt("--cache-dir", help="Cache for generated data / built models.",
                                              panel=DATA)] = None,
    tasks_dir: Annotated[Optional[list[Path]], _opt("--tasks-dir", help="Extra folder of task YAML files.",
                                                    panel=DATA)] = None,
    output_dir: Annotated[Optional[Path], _opt("--output-dir", "-o", help="Run folder: checkpoint-N/, "
                                               "metrics.jsonl, report.html \\[default: runs/train].",
                                               panel=OUT)] = None,
    save_every: Annotated[Optional[int], _opt("--save-every", help="Checkpoint every K steps, and always at the "
                                              "end (0: end only) \\[default: 50].", panel=OUT)] = None,
    save_total_limit: Annotated[Optional[int], _opt("--save-total-limit", help="Keep the newest N checkpoints.",
                                                    panel=OUT)] = None,
    resume: Annotated[Optional[bool], _opt("--resume/--no-resume", help="Continue from the last checkpoint in "
                                           "--output-dir (optimizer, scheduler, RNG, data position).",
                                           panel=OUT)] = None,
    overwrite: Annotated[Optional[bool], _opt("--overwrite", help="Delete the checkpoints and logs already in "
                                              "--output-dir and start over.", panel=OUT)] = None,
    report_to: Annotated[Optional[str], _opt("--report-to", help="Trackers through accelerate: tensorboard, "
                                             "wandb, mlflow, ... (comma-separated).", panel=OUT)] = None,
    log_every: Annotated[Optional[int], _opt("--log-every", help="Write metrics every K steps \\[default: 1].",
                                             panel=OUT)] = None,
    export: Annotated[Optional[tuple[str, Path]], _opt("--export", help="`--export verl DIR`: write the data as "
                                                       "verl parquet + a reward module, then exit (no training).",
                                                       panel=OUT)] = None,
    rollout: Annotated[Optional[str], _opt("--rollout", help="hf (transformers generate) | vllm (needs a GPU; use "
                                           "--export verl) \\[default: hf].", panel=EXEC)] = None,
    num_threads: Annotated[Optional[int], _opt("--num-threads", help="torch CPU threads.", panel=EXEC)] = None,
    quiet: Annotated[Optional[bool], _opt("--quiet", "-q", help="No progress output.", panel=EXEC)] = None,
) -> int:
    """GRPO training with accuracy + format + PRR rewards, the video in every forward pass.

    Runs as is on one device, and under `torchrun` / `accelerate launch` (DDP, FSDP, DeepSpeed).
    Checkpoints are Hugging Face folders: `mosseval run --model OUTPUT_DIR/checkpoint-N` evaluates them.
    """
    from mosseval.cli import console, out
    from mosseval.models.registry import parse_model_args
    from mosseval.train.config import load_config

    overrides = dict(
        model=model, data=data, rewards=rewards, reward_weights=reward_weights, require_format=require_format,
        num_generations=num_generations, per_device_batch_size=per_device_batch_size,
        generation_batch_size=generation_batch_size, beta=beta, clip_eps=clip_eps, clip_eps_high=clip_eps_high,
        num_iterations=num_iterations, temperature=temperature, top_p=top_p,
        max_completion_length=max_completion_length, lr=lr, lr_scheduler=lr_scheduler, warmup_ratio=warmup_ratio,
        weight_decay=weight_decay, grad_accum=grad_accum, max_grad_norm=max_grad_norm, steps=steps, epochs=epochs,
        seed=seed, lora=lora, lora_r=lora_r, lora_alpha=lora_alpha, freeze_vision=freeze_vision,
        gradient_checkpointing=gradient_checkpointing, dtype=dtype, bf16=bf16,
        model_args=parse_model_args(model_args) if model_args else None, frames=frames, max_pixels=max_pixels,
        limit=limit, data_dir=str(data_dir) if data_dir else None, cache_dir=str(cache_dir) if cache_dir else None,
        tasks_dir=[str(p) for p in tasks_dir] if tasks_dir else None,
        output_dir=str(output_dir) if output_dir else None, save_every=save_every,
        save_total_limit=save_total_limit, resume=resume, overwrite=overwrite, report_to=report_to,
        log_every=log_every, rollout=rollout, num_threads=num_threads, quiet=quiet,
    )
    cfg = load_config(config, overrides)
    if export is not None:
        kind, target = export
        from mosseval.errors import UsageError

        if kind.lower() != "verl":
            raise UsageError(f"--export {kind!r} is not supported", hint="use --export verl DIR")
        from mosseval.train.export_verl import export_verl

        res = export_verl(cfg, target)
        console.print(f"wrote {res.n_rows} rows to {res.parquet}; reward module {res.reward_module}; "
                      f"launch command in {res.command_file}", highlight=False)
        out.print(str(res.out_dir))
        return 0

    from mosseval.runner import distributed_env
    from mosseval.train.loop import train

    if distributed_env()[0] > 0:
        cfg = cfg.model_copy(update={"quiet": True})
    result = train(cfg, console=console)
    if result.summary:
        s = result.summary
        t = s.get("step_time_median_s")
        console.print(f"trained {s['steps_this_run']} step(s) (to step {s['steps']}) on {s['world_size']} "
                      f"process(es){f', {t:.2f} s/step (median)' if t else ''}; last checkpoint "
                      f"{s['last_checkpoint']}; report {result.output_dir / 'report.html'}", highlight=False)
        out.print(str(s["last_checkpoint"] or result.output_dir))
    return 0


def register(app: typer.Typer) -> None:
    app.command("train", no_args_is_help=False)(train_command)
