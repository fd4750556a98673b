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

import json
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

__all__ = ["TrainData", "load_train_task", "load_eval_task", "reward_columns", "check_no_test_data", "EVAL_SPLITS"]

FRAME_CACHE = 64
EVAL_SPLITS = ("test", "val", "valid", "validation", "eval", "dev")
"""Split names that are never trained on."""


def _data_root(task: TaskSpec, cfg: TrainConfig) -> Path:
    """The task's data folder. moss-video-mini is generated on first use, with ``train_size``
    questions in its train split (its test split does not depend on it); the dataset never
    depends on the training seed (it is seed 0)."""
    from mosseval.data.locate import resolve_data_root
    from mosseval.paths import cache_dir

    if cfg.train_size is not None:
        if not task.data.synthetic:
            raise UsageError(f"--train-size applies to the generated moss-video-mini only, not to {task.name!r}",
                             hint="drop --train-size (the dataset's own train split is used)")
        if cfg.data_dir is not None:
            raise UsageError("--train-size generates moss-video-mini in the cache; it does not apply to --data-dir",
                             hint="drop one of them (`mosseval data synth --train-size N --out DIR` makes a folder)")
        from mosseval.data import synth

        return synth.ensure_mini(cache_dir(cfg.cache_dir) / "data", 0, n_train=cfg.train_size)
    return resolve_data_root(task, cfg.data_dir, cfg.cache_dir, seed=None if cfg.data_dir is not None else 0)


def _load(task: TaskSpec, root: Path) -> list[Sample]:
    from mosseval.data import get_loader

    try:
        loader = get_loader(task.loader or "")
    except KeyError:
        raise UsageError(f"task {task.name!r} uses the unknown loader {task.loader!r}") from None
    return loader(task, root)


def _frames_task(task: TaskSpec, cfg: TrainConfig) -> TaskSpec:
    frames = task.frames.model_copy(update={"num_frames": cfg.frames, "max_pixels": cfg.max_pixels,
                                            **({"max_frames": cfg.frames} if task.frames.strategy == "fps" else {})})
    return task.model_copy(update={"frames": frames})


def load_eval_task(cfg: TrainConfig, name: str) -> tuple[TaskSpec, Path, list[Sample]]:
    """An evaluation task's samples with the training frame settings (validation data; never
    trained on)."""
    from mosseval.tasks import load_registry

    task = _frames_task(load_registry(list(cfg.tasks_dir))[name], cfg)
    root = _data_root(task, cfg)
    return task, root, _load(task, root)


def load_train_task(cfg: TrainConfig) -> tuple[TaskSpec, Path, list[Sample], dict[str, Any]]:
    """Resolve ``cfg.data`` to a task, its data root, its samples and the record of the check that
    none of them (items or videos) belongs to an evaluation split. Frame settings are overridden
    by ``cfg.frames`` / ``cfg.max_pixels``."""
    from mosseval.tasks import load_registry

    registry = load_registry(list(cfg.tasks_dir))
    name = parse_data(cfg.data, registry)
    task = registry[name]
    if task.is_group:
        raise UsageError(f"--data {cfg.data!r} is the group {name!r}; training reads one task",
                         hint="pick one of its subtasks: " + ", ".join(task.subtasks))
    task = _frames_task(task, cfg)
    root = _data_root(task, cfg)
    samples = _load(task, root)
    if cfg.limit is not None:
        samples = samples[: cfg.limit]
    if not samples:
        raise DataNotFoundError(f"task {name!r} has no samples in {root}",
                                hint="check --data-dir and the task's loader_args")
    guard = check_no_test_data(task, root, samples, registry)
    mc = [s for s in samples if s.question_type == "multiple-choice"]
    if cfg.method == "grpo" and "accuracy" in cfg.weights and cfg.weights["accuracy"] and not mc:
        raise UsageError(f"the accuracy reward needs multiple-choice items; {name!r} has none",
                         hint="drop accuracy from --rewards")
    if cfg.method == "grpo" and cfg.prr_weight:
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
    return task, root, samples, guard


def _split_of(task: TaskSpec) -> str | None:
    split = task.loader_args.get("split")
    return str(split).lower() if split is not None else None


def check_no_test_data(task: TaskSpec, root: Path, samples: list[Sample],
                       registry: dict[str, TaskSpec]) -> dict[str, Any]:
    """Refuse to train on evaluation data; return what was checked (recorded with every checkpoint).

    The training task may not be an evaluation split itself (``loader_args.split`` or the items'
    ``split`` in :data:`EVAL_SPLITS`). Its items are compared with every evaluation split of the
    same dataset (registered tasks with the same loader and data location): no shared item id, no
    shared video file (same real path, or same bytes: files of equal size are hashed).
    """
    split = _split_of(task)
    item_splits = {str(s.split).lower() for s in samples if s.split}
    bad = ({split} if split in EVAL_SPLITS else set()) | (item_splits & set(EVAL_SPLITS))
    if bad:
        raise UsageError(f"--data {task.name!r} is an evaluation split ({', '.join(sorted(bad))}); mosseval never "
                         "trains on test items", hint="train on the dataset's train split, e.g. --data "
                         "moss-video-mini:train")
    siblings = [t for t in registry.values()
                if not t.is_group and t.name != task.name and t.loader == task.loader and t.data == task.data
                and _split_of(t) != "train" and t.loader_args.get("file") != task.loader_args.get("file")]
    record: dict[str, Any] = {"train_task": task.name, "train_items": len(samples), "checked_against": [],
                              "test_items": 0, "test_videos": 0, "shared_items": 0, "shared_videos": 0}
    train_videos = {_real(root, s) for s in samples if s.video is not None}
    seen: set[str] = set()
    for other in sorted(siblings, key=lambda t: t.name):
        key = json.dumps(other.loader_args, sort_keys=True, default=str)
        if key in seen:  # the same items under other frame settings (e.g. a blind control)
            continue
        seen.add(key)
        try:
            test = _load(other, root)
        except (DataNotFoundError, UsageError, OSError) as e:
            log.info("leakage check: %s not readable under %s (%s)", other.name, root, e)
            continue
        test_ids = {s.id for s in test}
        test_videos = {_real(root, s) for s in test if s.video is not None}
        shared_ids = sorted(test_ids & {s.id for s in samples})
        shared_videos = sorted(str(p) for p in (test_videos & train_videos)) + _same_bytes(train_videos, test_videos)
        record["checked_against"].append(other.name)
        record["test_items"] += len(test_ids)
        record["test_videos"] += len(test_videos)
        if shared_ids or shared_videos:
            first = shared_ids[0] if shared_ids else shared_videos[0]
            raise UsageError(f"the training data {task.name!r} shares {len(shared_ids)} item(s) and "
                             f"{len(shared_videos)} video(s) with the evaluation split {other.name!r} "
                             f"(first: {first}); mosseval never trains on test items or test videos",
                             hint="remove them from the training file (or regenerate moss-video-mini)")
    return record


def _real(root: Path, sample: Sample) -> Path:
    from mosseval.paths import safe_join

    try:
        return Path(safe_join(root, sample.video.path)).resolve()  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001 - an unsafe path is reported when the video is read
        return (root / sample.video.path).resolve()  # type: ignore[union-attr]


def _same_bytes(train: set[Path], test: set[Path]) -> list[str]:
    """Train videos whose bytes equal a test video's (different paths): equal sizes are hashed."""
    import hashlib

    def size(p: Path) -> int | None:
        try:
            return p.stat().st_size if p.is_file() else None
        except OSError:
            return None

    by_size: dict[int, list[Path]] = {}
    for p in test:
        n = size(p)
        if n is not None:
            by_size.setdefault(n, []).append(p)
    digests: dict[Path, str] = {}

    def digest(p: Path) -> str:
        if p not in digests:
            digests[p] = hashlib.sha256(p.read_bytes()).hexdigest()
        return digests[p]

    out = []
    for p in sorted(train - test):
        n = size(p)
        if n is None or n not in by_size:
            continue
        if any(digest(p) == digest(q) for q in by_size[n]):
            out.append(str(p))
    return out


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
