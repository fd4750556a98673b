"""Named training recipes on the embedded benchmark, and the trained builtin model they produce.

A recipe is a complete :class:`~mosseval.train.config.TrainConfig` (minus the output folder): the
demo's SFT, the reproduction's two-stage cold start and its two GRPO arms. Every setting is recorded with the
checkpoint (``train_config.yaml``, ``mosseval_train_state.json``), so
``mosseval train --config OUTPUT/train_config.yaml`` repeats a run.

``mini-qwen2.5-vl-sft`` is ``mini-qwen2.5-vl`` after the ``demo-sft`` then ``demo-sft-answer`` recipes.
Nothing is shipped: the first use trains it locally (1,500 + 500 steps, torch threads chosen by timing; see
docs/tutorials/quickstart.md for the measured time) and caches the checkpoint under
``CACHE/models/mini-qwen2.5-vl-sft-seedS-<recipe hash>``; later uses reuse it. The cache key is a hash of the recipes, the base model's recipe and the dataset version,
so a changed recipe retrains instead of reusing a stale model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mosseval.errors import OutputError, UsageError

if TYPE_CHECKING:
    from mosseval.train.config import TrainConfig

log = logging.getLogger(__name__)

__all__ = ["RECIPES", "TRAINED", "recipe_config", "ensure_trained", "trained_dir"]

# moss-video-mini's prompt + trace fit in 160 tokens with the mini tokenizer (the longest
# reference trace renders to ~110).
_COMMON: dict[str, Any] = {
    "model": "mini-qwen2.5-vl",
    "data": "moss-video-mini:train",
    "frames": 16,
    "max_completion_length": 160,
    "num_threads": 1,
    "weight_decay": 0.01,
    "warmup_ratio": 0.05,
    "lr_scheduler": "cosine",
    "max_grad_norm": 1.0,
    "save_every": 0,
    "quiet": True,
}

_COLDSTART: dict[str, Any] = {**_COMMON, "method": "sft", "train_size": 8000, "sft_trace": "full",
                               "freeze_vision": True, "per_device_batch_size": 8, "steps": 2500, "lr": 1e-3,
                               "num_threads": "auto"}
"""The reproduction's cold start, first stage (see ``repro-coldstart`` below); the second stage derives from it."""

_DEMO: dict[str, Any] = {**_COMMON, "method": "sft", "train_size": 2000, "sft_trace": "full", "freeze_vision": True,
                          "frames": 8, "per_device_batch_size": 8, "steps": 1500, "lr": 1e-3, "sft_answer_weight": 10.0,
                          "num_threads": "auto"}
"""The demo's first stage (``demo-sft`` below); the second derives from it."""

RECIPES: dict[str, dict[str, Any]] = {
    # The validation figures below were measured on mini-qwen2.5-vl format 1 (its tokenizer spelt out the
    # prompt's fixed text). Format 2 trains the same recipes 11-14 % faster per step; single runs move by ~10
    # points with the order of the training data, so no effect on accuracy can be read from them
    # (docs/tutorials/reproduce-mosschatv.md). On format 2 (a draft whose corpus also held the chat template's
    # default system line), shorter demo recipes fell short (validation: 1,000 + 300 steps 30.8 %, 700 + 300
    # steps 25.0 %, one run each).
    # The demo: two stages like the reproduction's cold start, cut down to what 2 cores train in minutes. Measured
    # on the validation split (moss-video-mini seed 1, 240 items; docs/tutorials/quickstart.md):
    # - the vision tower frozen at its random initialisation (see repro-coldstart) and 8 frames, not 16 (the
    #   video's states at two frames each; the evaluation samples 8): no backward pass through the tower, half
    #   the visual tokens;
    # - the answer's tokens weighted 10x from the start;
    # - torch threads chosen by timing (num_threads auto, mosseval/train/threads.py): 2 on an idle 2-core machine
    #   (0.14 s per step instead of 0.27), 1 on a busy one; the weights are the same bits either way;
    # - 1,500 steps: the loss leaves its plateau (~0.35 nats, the trace template without the frames) after
    #   ~800 steps. At 600 steps the model was at chance (validation accuracy 21.7 % weighted 10x, 25.0 %
    #   unweighted; with an empty trace, or with the vision merger trained, the answer's loss stayed at
    #   ln 4, a guess among four). At 1,500 the traces read the frames (the next state right in 41 % of the
    #   items, size 96 %) but the answer followed them only for size (validation accuracy 35.4 %).
    "demo-sft": _DEMO,
    # The reproduction's cold start: the same recipe shape, long enough to get past the loss plateau
    # (~0.35 nats per token, where the model writes the trace template but copies nothing from the
    # question) and short of saturating the trace (the PRR has headroom for the GRPO arms to differ).
    # lr 1e-3, not 3e-3: at 3e-3 the loss stayed on that plateau as long as it ran (900 steps); at 1e-3 it left
    # it after ~400 (0.245 at 900 steps).
    # Vision frozen at its random initialisation: trained from scratch, the vision tower's output grew
    # into one large, nearly constant vector (RMS 0.39 -> 18 in the 900-step cold start, its spread
    # across visual tokens 0.44 -> 0.07; 215 and 0.0006 at 5x the vision lr), so after the language
    # model's RMSNorm no frame moved the loss (every token's loss equal with and without the video). Frozen, the
    # random features keep the frames (a linear probe reads the first state's colour, shape and cell
    # from them at 75 %, 87 % and 100 %) and the language model learns to read them.
    # 8,000 training questions: each is seen at most ~2.5 times in 2,500 steps of 8.
    # Torch threads chosen by timing (auto): the reproduction runs its cold start alone, so on an idle machine it
    # gets both cores; the GRPO arms and evaluations run two at once with one thread each.
    "repro-coldstart": _COLDSTART,
    # The cold start's second stage, from the first's checkpoint: the same SFT with the answer's tokens weighted
    # 30x (sft_answer_weight). After the first stage the traces read the frames (the next state right in ~50 % of
    # the validation items) but the answer did not follow them: the answer letter's loss stayed near 1 nat (0.92
    # after 600 more unweighted steps; ln 4 = 1.39 is a guess among four) and colour questions, whose trace was
    # right 85 % of the time, were answered at chance. The model must find its predicted value among the options
    # (digits and "row r, column c" are several tokens) and copy the letter before it; one target token in ~50
    # gave that lookup too little gradient. Measured on the validation split (moss-video-mini seed 1, 240
    # items) from the same first stage: 600 more steps unweighted 39.2 % accuracy, weighted 10x 48.3 %, 1,500
    # steps weighted 30x 50.4 % (lr 3e-4; at 1e-3: 50.0 %, with a higher trace loss), the answer's loss 0.43.
    "repro-coldstart-answer": {**_COLDSTART, "steps": 1500, "lr": 3e-4, "sft_answer_weight": 30.0},
    # The demo's second stage, from demo-sft's checkpoint: the answer weighted 30x at a lower rate, as in the
    # reproduction's second stage. Validation accuracy 35.4 % -> 39.6 % (colour 20.8 -> 33.3 %, size 60.4 ->
    # 79.2 %); weighted 100x: 37.5 %. One stage of 1,500 steps weighted 30x from the start: 31.2 %; at lr 2e-3:
    # 34.2 %; on 8,000 training questions instead of 2,000: 37.5 %.
    "demo-sft-answer": {**_DEMO, "steps": 500, "lr": 3e-4, "sft_answer_weight": 30.0},
    # GRPO arms from the cold start: identical budgets, only the rewards differ.
    # lr 5e-5: at 2e-4 every arm of every seed collapsed from the 900-step cold start within 60 steps
    # (degenerate traces, 21-72 % of test answers unparsed; docs/tutorials/reproduce-mosschatv.md).
    "repro-grpo": {**_COMMON, "method": "grpo", "train_size": 8000, "freeze_vision": True, "per_device_batch_size": 2,
                   "num_generations": 8, "steps": 60, "lr": 5e-5, "beta": 0.0, "temperature": 1.0,
                   "warmup_ratio": 0.0, "lr_scheduler": "constant", "log_completions": 4},
}
"""Recipes by name (``output_dir`` and, for GRPO, ``model`` / ``rewards`` / ``seed`` are set per run)."""

ARMS: dict[str, list[str]] = {
    "acc+fmt": ["accuracy", "format"],
    "acc+fmt+prr": ["accuracy", "format", "prr"],
}
"""The two GRPO arms of the reproduction: the paper's ablation of the process reward."""

TRAINED: dict[str, tuple[str, tuple[str, ...]]] = {
    "mini-qwen2.5-vl-sft": ("mini-qwen2.5-vl", ("demo-sft", "demo-sft-answer")),
}
"""Trained builtin models: name -> (base builtin, its recipes in order; each stage starts from the last one's
checkpoint)."""


def recipe_config(name: str, **overrides: Any) -> TrainConfig:
    """The :class:`TrainConfig` of recipe ``name`` with ``overrides`` applied."""
    from mosseval.train.config import load_config

    if name not in RECIPES:
        from mosseval.errors import did_you_mean

        hint = did_you_mean(name, list(RECIPES))
        raise UsageError(f"unknown training recipe {name!r}" + (f"; {hint}" if hint else ""),
                         hint="recipes: " + ", ".join(RECIPES))
    return load_config(None, {**RECIPES[name], **overrides})


def _key(name: str, seed: int) -> str:
    from mosseval.data import synth
    from mosseval.models.tiny import recipe

    base, stages = TRAINED[name]
    blob = json.dumps({"recipes": [RECIPES[rec] for rec in stages], "base": recipe(base).fingerprint(), "seed": seed,
                       "data": synth.GENERATOR_VERSION, "format": 2}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def trained_dir(name: str, cache_root: Path | None = None, seed: int = 0) -> Path:
    from mosseval.paths import cache_dir

    root = Path(cache_root) if cache_root is not None else cache_dir()
    return root / "models" / f"{name}-seed{int(seed)}-{_key(name, seed)}"


MANIFEST = "mosseval_trained.json"


def _valid(path: Path) -> bool:
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return (path / "config.json").is_file() and all((path / f).is_file() for f in manifest.get("files", []))


def ensure_trained(name: str, cache_root: Path | None = None, seed: int = 0, *, console: Any = None) -> Path:
    """The cached checkpoint of trained builtin ``name``, training it once (atomically, race-safe)."""
    from mosseval.fileio import DirLock, os_reason
    from mosseval.paths import cache_dir

    if name not in TRAINED:
        raise UsageError(f"{name!r} is not a trained builtin model", hint="trained: " + ", ".join(TRAINED))
    final = trained_dir(name, cache_root, seed)
    if _valid(final):
        return final
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create the model cache {final.parent}: {os_reason(e, final.parent / 'x')}") from None
    base, stages = TRAINED[name]

    def build(out: Path) -> None:
        work = Path(tempfile.mkdtemp(prefix=f".{final.name}.train-", dir=final.parent))
        try:
            cache = str(cache_root) if cache_root is not None else str(cache_dir())
            cfgs = [recipe_config(rec, model=base, seed=seed, output_dir=str(work / rec), cache_dir=cache,
                                  model_args={"tiny_seed": seed}) for rec in stages]
            say = console
            if say is None:
                from rich.console import Console

                say = Console(stderr=True)
            steps = " + ".join(str(c.steps) for c in cfgs)
            threads = cfgs[0].num_threads
            threads_text = ("torch threads chosen by timing" if threads == "auto"
                            else f"{threads} torch thread(s)" if threads else "torch's default threads")
            say.print(f"[bold]training {name}[/] (first use: the {' then '.join(stages)} recipe(s) on moss-video-mini's "
                      f"train split, {steps} steps, {threads_text}; cached in {final})", highlight=False)
            from mosseval.train import train

            started = time.perf_counter()
            reports, model, ckpt = [], base, None
            for rec, cfg in zip(stages, cfgs):
                t0 = time.perf_counter()
                # the recipes are quiet (no per-checkpoint lines, no transformers loading bars); a progress bar
                # per stage shows the minutes of training
                result = train(cfg.model_copy(update={"model": model}), console=say, progress_bar=True)
                ckpt = result.last_checkpoint
                assert ckpt is not None
                reports.append({"recipe": rec, "steps": cfg.steps, "wall_time_s": round(time.perf_counter() - t0, 1),
                                "summary": result.summary})
                shutil.copy(work / rec / "train_config.yaml", out / f"train_config.{rec}.yaml")
                model = str(ckpt)
            wall = time.perf_counter() - started
            assert ckpt is not None
            for p in ckpt.iterdir():
                if p.is_file():
                    shutil.copy(p, out / p.name)
            files = sorted(p.name for p in out.iterdir() if p.is_file())
            manifest = {"name": name, "base": base, "recipes": list(stages), "seed": seed, "key": _key(name, seed),
                        "train_wall_time_s": round(wall, 1), "torch_threads": cfgs[0].num_threads,
                        "stages": reports, "files": files,
                        "reproduce": [f"mosseval train --config {final / f'train_config.{rec}.yaml'} -o STAGE{i + 1}"
                                      + (f" --model STAGE{i}/checkpoint-{cfgs[i - 1].steps}" if i else "")
                                      for i, rec in enumerate(stages)]}
            (out / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
            say.print(f"trained {name} in {wall:.0f} s", highlight=False)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    from mosseval.fileio import build_dir_once

    # One trainer; the other processes wait for it and reuse its model.
    with DirLock(final.parent, name=f".{final.name}.lock", wait=True, clean_temp=False, command=f"train {name}"):
        return build_dir_once(final, _valid, build)
