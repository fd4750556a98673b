"""Dataset loaders. A loader turns a task's data location into ``Sample`` records.

Loaders register with ``@register_loader(name)`` and are imported lazily by name through
``LOADER_MODULES`` so that listing tasks never imports every dataset module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from mosseval.records import Sample, TaskSpec

Loader = Callable[[TaskSpec, Path], list[Sample]]
"""``loader(task, root) -> samples``; ``root`` is the resolved data root of the task."""

LOADER_MODULES: dict[str, str] = {
    "moss_video_jsonl": "mosseval.data.moss_video",
    "mvbench": "mosseval.data.mvbench",
    "mmvu": "mosseval.data.mmvu",
}

_LOADERS: dict[str, Loader] = {}


def register_loader(name: str) -> Callable[[Loader], Loader]:
    def deco(fn: Loader) -> Loader:
        _LOADERS[name] = fn
        return fn

    return deco


def get_loader(name: str) -> Loader:
    if name not in _LOADERS and name in LOADER_MODULES:
        importlib.import_module(LOADER_MODULES[name])
    if name not in _LOADERS:
        raise KeyError(name)
    return _LOADERS[name]
