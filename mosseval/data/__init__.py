"""Dataset loaders. A loader turns a task's data location into ``Sample`` records.

Loaders live in the one registry pattern (:mod:`mosseval.registry`): built-ins are declared here by
module (nothing is imported until a task needs the loader, so listing tasks stays cheap), each
module registers its function with ``@register_loader(name)``, and third-party packages add loaders
through the ``mosseval.loaders`` entry-point group. A loader may register a ``holds_data(task, path)
-> bool`` hook: data location (``mosseval.data.locate``) uses it to tell a folder that holds the
task's data from one that does not; and a ``prompt_context(task, sample, root, frames) -> dict``
hook: extra prompt variables computed from the data root and the frames actually sampled (Video-MME's
subtitles at those frames).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mosseval.records import Sample, TaskSpec
from mosseval.registry import Registry

Loader = Callable[[TaskSpec, Path], list[Sample]]
"""``loader(task, root) -> samples``; ``root`` is the resolved data root of the task."""
HoldsData = Callable[[TaskSpec, Path], bool]
"""``holds_data(task, path) -> bool``: cheap check (no parsing) that ``path`` holds the task's data."""

loaders: Registry[Loader] = Registry("loaders", "mosseval.loaders", "dataset loader")
loaders.declare("moss_video_jsonl", "mosseval.data.moss_video",
                description="MOSS-Video JSONL (configurable field mapping), also moss-video-mini")
loaders.declare("mvbench", "mosseval.data.mvbench", description="MVBench (OpenGVLab/MVBench), both layouts")
loaders.declare("mmvu", "mosseval.data.mmvu", description="MMVU validation (yale-nlp/MMVU), JSON or parquet")
loaders.declare("vcrbench", "mosseval.data.vcrbench",
                description="VCR-Bench (VLM-Reasoning/VCR-Bench), meta_info_video.json + videos")
loaders.declare("videomme", "mosseval.data.videomme",
                description="Video-MME v1 (lmms-lab/Video-MME parquet + videos + subtitles)")
loaders.declare("minerva", "mosseval.data.minerva",
                description="MINERVA (minerva.json from google-deepmind/neptune) + downloaded YouTube videos")


def register_loader(name: str, *, holds_data: HoldsData | None = None) -> Callable[[Loader], Loader]:
    """Decorator for loader modules: ``@register_loader("mvbench", holds_data=...)``."""
    return loaders.register(name, **({"holds_data": holds_data} if holds_data is not None else {}))


def register_holds_data(name: str) -> Callable[[HoldsData], HoldsData]:
    """Decorator for a loader module's ``holds_data(task, path)`` check (see the module docstring)."""
    return loaders.register_hook(name, "holds_data")


def get_loader(name: str) -> Loader:
    """The loader ``name`` (KeyError when no such loader exists; exit 5 when its dependency is missing)."""
    if name not in loaders:
        raise KeyError(name)
    return loaders.load(name)


def loader_holds_data(name: str) -> HoldsData | None:
    """The loader's ``holds_data`` hook, or None (any existing folder counts as holding the data)."""
    if name not in loaders:
        return None
    return loaders.hook(name, "holds_data")


PromptContext = Callable[..., dict]
"""``prompt_context(task, sample, root, frames) -> dict``: extra prompt-template variables for one sample
(``root``: the data root or None; ``frames``: the ``FrameInfo`` the sampler chose, or None)."""


def loader_prompt_context(name: str) -> PromptContext | None:
    """The loader's ``prompt_context`` hook, or None."""
    if name not in loaders:
        return None
    return loaders.hook(name, "prompt_context")
