"""Process Reasoning Reward (PRR): ROUGE step distance + subsequence DTW (SPEC §3, docs/explanation/prr.md).

Modules: :mod:`~mosseval.prr.format` (output format), :mod:`~mosseval.prr.steps` (step
serialization), :mod:`~mosseval.prr.rouge` (rouge-score-identical distance),
:mod:`~mosseval.prr.semantic` (optional MiniLM distance), :mod:`~mosseval.prr.dtw` (alignment),
:mod:`~mosseval.prr.score` (the reward). Names below are imported lazily so that
``mosseval.prr.format`` stays dependency-free.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "format_ok": "format",
    "think_text": "format",
    "answer_text": "format",
    "split_steps": "steps",
    "tokenize": "rouge",
    "rouge_distance_matrix": "rouge",
    "Alignment": "dtw",
    "align": "dtw",
    "align_batch": "dtw",
    "ProcessScore": "score",
    "prr_from_normalized": "score",
    "score_process": "score",
    "score_group": "score",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'mosseval.prr' has no attribute {name!r}")
    return getattr(importlib.import_module(f"mosseval.prr.{mod}"), name)
