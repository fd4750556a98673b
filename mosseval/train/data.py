"""Training data: task → samples → a deterministic prompt stream → model requests and reward columns.

The stream is a function of (seed, global prompt index) only: prompt ``k`` is position
``k mod N`` of the permutation drawn for epoch ``k // N``. A step's prompts are therefore known
from the step number alone, which makes ``--resume`` continue exactly where the run stopped and
makes a 2-process run read the same data as a 1-process run with twice the batch.

Frames come from the one video pipeline (:func:`mosseval.video.sample_frames`) with the task's
frame strategy, ``frames`` frames and a ``max_pixels`` budget; decoded frames are kept in a small
LRU cache (epochs revisit videos).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mosseval.errors import DataNotFoundError, MediaError, NoReferenceStepsError, UsageError
from mosseval.models.base import Request
from mosseval.records import GenerationSpec, Sample, TaskSpec
from mosseval.train.config import TrainConfig, parse_data
from mosseval.video import Frames

log = logging.getLogger(__name__)

__all__ = ["TrainData", "load_train_task", "reward_columns"]

FRAME_CACHE = 64


def load_train_task(cfg: TrainConfig) -> tuple[TaskSpec, Path, list[Sample]]:
    """Resolve ``cfg.data`` to a task, its data root and its samples (generating moss-video-mini
    on first use). Frame settings are overridden by ``cfg.frames`` / ``cfg.max_pixels``."""
    from mosseval.data import get_loader
    from mosseval.data.locate import resolve_data_root
    from mosseval.tasks import load_registry

    registry = load_registry(list(cfg.tasks_dir))
    name = parse_data(cfg.data, registry)
    task = registry[name]
    if task.is_group:
        raise UsageError(f"--data {cfg.data!r} is the group {name!r}; training reads one task",
                         hint="pick one of its subtasks: " + ", ".join(task.subtasks))
    frames = task.frames.model_copy(update={"num_frames": cfg.frames, "max_pixels": cfg.max_pixels,
                                            **({"max_frames": cfg.frames} if task.frames.strategy == "fps" else {})})
    task = task.model_copy(update={"frames": frames})
    # The dataset itself never depends on the training seed (moss-video-mini is seed 0).
    root = resolve_data_root(task, cfg.data_dir, cfg.cache_dir, seed=0)
    try:
        loader = get_loader(task.loader or "")
    except KeyError:
        raise UsageError(f"task {name!r} uses the unknown loader {task.loader!r}") from None
    samples = loader(task, root)
    if cfg.limit is not None:
        samples = samples[: cfg.limit]
    if not samples:
        raise DataNotFoundError(f"task {name!r} has no samples in {root}",
                                hint="check --data-dir and the task's loader_args")
    mc = [s for s in samples if s.question_type == "multiple-choice"]
    if "accuracy" in cfg.weights and cfg.weights["accuracy"] and not mc:
        raise UsageError(f"the accuracy reward needs multiple-choice items; {name!r} has none",
                         hint="drop accuracy from --rewards")
    if cfg.prr_weight:
        with_refs = sum(1 for s in samples if s.reference_steps)
        if with_refs == 0:
            raise NoReferenceStepsError(
                f"the PRR reward was requested but no sample of {name!r} ({len(samples)} samples in "
                f"{root}) has reference steps",
                hint="train without it (--rewards accuracy,format) or use a dataset whose items carry "
                "reference_steps (e.g. --data moss-video-mini:train)",
            )
        if with_refs < len(samples):
            log.warning("%d of %d samples of %s have no reference steps: their PRR is not applicable "
                        "and adds 0 to every completion of the group", len(samples) - with_refs,
                        len(samples), name)
    return task, root, samples


def reward_columns(samples: list[Sample], repeat: int = 1) -> dict[str, list[Any]]:
    """Dataset columns in the reward API's convention, each entry repeated ``repeat`` times
    (one per completion)."""
    def rep(values: list[Any]) -> list[Any]:
        return [v for v in values for _ in range(repeat)]

    return {
        "answer": rep([s.answer for s in samples]),
        "options": rep([dict(s.options) for s in samples]),
        "reference_steps": rep([[{"t": r.t, "text": r.text} for r in s.reference_steps] or None
                                for s in samples]),
        "sample_id": rep([s.id for s in samples]),
        "category": rep([s.category for s in samples]),
    }


@dataclass
class Prompt:
    index: int
    """Global stream index."""
    sample: Sample
    request: Request


class TrainData:
    """Samples of the training task plus the deterministic prompt stream."""

    def __init__(self, cfg: TrainConfig, task: TaskSpec, root: Path, samples: list[Sample]):
        self.cfg = cfg
        self.task = task
        self.root = root
        self.samples = samples
        self.generation = GenerationSpec(max_new_tokens=cfg.max_completion_length,
                                         temperature=cfg.temperature, top_p=cfg.top_p)
        self._perms: OrderedDict[int, np.ndarray] = OrderedDict()
        self._frames: OrderedDict[str, Frames] = OrderedDict()
        self.bad_videos: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.samples)

    def permutation(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            rng = np.random.default_rng([int(self.cfg.seed), 7919, int(epoch)])
            self._perms[epoch] = rng.permutation(len(self.samples))
            while len(self._perms) > 4:
                self._perms.popitem(last=False)
        return self._perms[epoch]

    def sample_at(self, k: int) -> int:
        n = len(self.samples)
        return int(self.permutation(k // n)[k % n])

    def _frames_for(self, sample: Sample) -> Frames | None:
        if sample.video is None:
            return None
        key = sample.id
        hit = self._frames.get(key)
        if hit is not None:
            self._frames.move_to_end(key)
            return hit
        from mosseval.video import sample_frames

        frames = sample_frames(sample.video, self.task.frames, self.root)
        self._frames[key] = frames
        while len(self._frames) > FRAME_CACHE:
            self._frames.popitem(last=False)
        return frames

    def prompt(self, k: int) -> Prompt:
        """The prompt at stream index ``k``. A sample whose video cannot be read is replaced by
        the next readable one in the same epoch's order (deterministically) and reported."""
        from mosseval.prompts import build_messages

        n = len(self.samples)
        perm = self.permutation(k // n)
        for offset in range(n):
            sample = self.samples[int(perm[(k % n + offset) % n])]
            if sample.id in self.bad_videos:
                continue
            try:
                frames = self._frames_for(sample)
            except MediaError as e:
                self.bad_videos[sample.id] = str(e)
                log.warning("skipping training sample %s: %s", sample.id, e)
                continue
            messages, prefill = build_messages(self.task, sample)
            req = Request(sample=sample, task=self.task, messages=messages, frames=frames,
                          generation=self.generation, prefill=prefill, seed=k)
            return Prompt(k, sample, req)
        raise DataNotFoundError(f"no video of task {self.task.name!r} could be read "
                                f"({len(self.bad_videos)} failures, first: "
                                f"{next(iter(self.bad_videos.values()), '')})",
                                hint="`mosseval run --preflight` lists media problems")

    def batch(self, start: int, size: int) -> list[Prompt]:
        return [self.prompt(k) for k in range(start, start + size)]
