"""Checkpoints: Hugging Face format for evaluation, plus the trainer state for ``--resume``.

``OUTPUT_DIR/checkpoint-N/`` holds

* ``config.json``, ``model.safetensors``, ``generation_config.json`` -- ``save_pretrained`` of the
  policy (LoRA runs: the adapters merged into the base weights; the adapter alone is in
  ``adapter/``), so ``mosseval run --model OUTPUT_DIR/checkpoint-N`` evaluates it;
* the processor files and chat template (``processor.save_pretrained``);
* ``trainer_state/`` -- ``accelerate``'s ``save_state``: model, optimizer, LR scheduler, the RNG
  states of every process (works the same for DDP, FSDP and DeepSpeed);
* ``mosseval_train_state.json`` -- step, data position (prompts consumed), config; written last.

A checkpoint is built in ``.checkpoint-N.partial`` and renamed when complete, so a run killed
while saving (SIGKILL, OOM) leaves the previous checkpoint as the last one; ``--resume`` ignores
and removes partial folders. Re-saving a step that already has a checkpoint moves the old one
aside (``.checkpoint-N.old``) before the new one takes its name, and removes it after: a kill
between the two leaves the old one, which ``clean_partials`` puts back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from mosseval.clock import utc_now
from mosseval.fileio import atomic_write_text

__all__ = ["STATE_FILE", "publish", "old_dir", "find_checkpoints", "last_checkpoint", "read_state", "write_state",
           "prune", "clean_partials", "checkpoint_dir", "partial_dir"]

STATE_FILE = "mosseval_train_state.json"
TRAINER_STATE = "trainer_state"
_NAME = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_dir(output_dir: Path, step: int) -> Path:
    return Path(output_dir) / f"checkpoint-{int(step)}"


def partial_dir(output_dir: Path, step: int) -> Path:
    return Path(output_dir) / f".checkpoint-{int(step)}.partial"


def find_checkpoints(output_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (with a state file), oldest first."""
    out = []
    d = Path(output_dir)
    if not d.is_dir():
        return out
    for p in d.iterdir():
        m = _NAME.match(p.name)
        if m and p.is_dir() and (p / STATE_FILE).is_file():
            out.append((int(m.group(1)), p))
    return sorted(out)


def last_checkpoint(output_dir: Path) -> Path | None:
    ckpts = find_checkpoints(output_dir)
    return ckpts[-1][1] if ckpts else None


def read_state(ckpt: Path) -> dict[str, Any]:
    return json.loads((Path(ckpt) / STATE_FILE).read_text(encoding="utf-8"))


def write_state(ckpt: Path, state: dict[str, Any]) -> None:
    state = {"schema_version": 1, "saved_at": utc_now(), **state}
    atomic_write_text(Path(ckpt) / STATE_FILE, json.dumps(state, indent=2, sort_keys=True, default=str) + "\n")


def prune(output_dir: Path, keep: int | None) -> list[Path]:
    """Delete all but the newest ``keep`` checkpoints; return the deleted folders."""
    if not keep:
        return []
    ckpts = find_checkpoints(output_dir)
    gone = [p for _, p in ckpts[:-keep]]
    for p in gone:
        shutil.rmtree(p, ignore_errors=True)
    return gone


def old_dir(output_dir: Path, step: int) -> Path:
    return Path(output_dir) / f".checkpoint-{int(step)}.old"


def publish(partial: Path, final: Path) -> None:
    """Give a complete ``partial`` folder the name ``final``; an existing ``final`` is moved aside
    first and removed last, so no moment leaves neither (``clean_partials`` restores it)."""
    m = _NAME.match(final.name)
    aside = old_dir(final.parent, int(m.group(1))) if m else final.with_name(f".{final.name}.old")
    if final.exists():
        shutil.rmtree(aside, ignore_errors=True)
        os.replace(final, aside)
    os.replace(partial, final)
    shutil.rmtree(aside, ignore_errors=True)


def clean_partials(output_dir: Path) -> None:
    """Remove unfinished checkpoints; put back a checkpoint moved aside by an interrupted re-save."""
    d = Path(output_dir)
    if d.is_dir():
        for p in d.glob(".checkpoint-*.partial"):
            shutil.rmtree(p, ignore_errors=True)
        for p in d.glob(".checkpoint-*.old"):
            final = d / p.name[1:].removesuffix(".old")
            if not final.exists() and (p / STATE_FILE).is_file():
                os.replace(p, final)
            else:
                shutil.rmtree(p, ignore_errors=True)
