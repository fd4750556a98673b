"""Process Reasoning Reward of a completion against reference steps (SPEC §3).

``score_process`` scores one completion, ``score_group`` a GRPO group sharing one reference (same
values, computed in one batch: each distinct step string is tokenized once, one distance matrix
for the whole group, one vectorised alignment sweep).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mosseval.errors import UsageError
from mosseval.prr.dtw import Alignment, align_batch
from mosseval.prr.format import format_ok, think_text
from mosseval.prr.steps import split_steps
from mosseval.records import PRRConfig, PRRDetail

Status = Literal["scored", "not_applicable", "no_steps", "format_broken"]

_ANSWER_OPEN_RE = re.compile(r"<answer>", re.IGNORECASE)
_THINK_TAG_RE = re.compile(r"</?think>", re.IGNORECASE)


@dataclass
class ProcessScore:
    prr: float | None
    status: Status
    steps: list[str] = field(default_factory=list)
    truncated: bool = False
    detail: PRRDetail | None = None


def prr_from_normalized(dbar: float, alpha: float) -> float:
    """``(exp(-α·d̄) - exp(-α)) / (1 - exp(-α))``; ``α = 0`` gives ``1 - d̄``. Result in [0, 1]."""
    d = min(max(float(dbar), 0.0), 1.0)
    a = float(alpha)
    if a < 0 or math.isnan(a):
        raise UsageError(f"PRR alpha must be >= 0, got {alpha!r}")
    if a == 0.0:
        v = 1.0 - d
    else:
        # expm1 keeps full precision for small α (the formula tends to 1 - d̄).
        v = (math.expm1(-a * d) - math.expm1(-a)) / (-math.expm1(-a))
    return min(max(v, 0.0), 1.0)


def reference_texts(reference_steps: Iterable[Any] | None) -> list[str]:
    """Reference step texts from strings, ``ReferenceStep`` records or ``{"t", "text"}`` dicts.

    Blank steps are dropped.
    """
    if reference_steps is None:
        return []
    if isinstance(reference_steps, str):
        raise UsageError(
            "reference_steps must be a list of steps, got a single string",
            hint='pass ["step one", "step two", ...] or [{"t": 0.0, "text": ...}, ...]',
        )
    out: list[str] = []
    for i, s in enumerate(reference_steps):
        if isinstance(s, str):
            text = s
        elif isinstance(s, dict):
            if "text" not in s:
                raise UsageError(
                    f"reference step {i} has no 'text' field: {sorted(s)!r}",
                    hint='each step is a string or {"t": seconds, "text": "..."}',
                )
            text = s["text"]
        elif hasattr(s, "text"):
            text = s.text
        else:
            raise UsageError(f"reference step {i} is a {type(s).__name__}, expected str or dict")
        if text is not None and str(text).strip():
            out.append(str(text).strip())
    return out


def reasoning_text(text: str | None, require_format: bool = True) -> str | None:
    """The text steps are read from: the ``<think>`` block; without one (and when the format is
    not required) the text before the first ``<answer>``, with stray think tags removed."""
    if not text:
        return None
    think = think_text(text)
    if think is not None or require_format:
        return think
    before = _ANSWER_OPEN_RE.split(text, maxsplit=1)[0]
    return _THINK_TAG_RE.sub(" ", before)


def distance_matrix(ref: Sequence[str], gen: Sequence[str], config: PRRConfig) -> np.ndarray:
    if config.distance == "rouge":
        from mosseval.prr.rouge import rouge_distance_matrix

        return rouge_distance_matrix(ref, gen)
    if config.distance == "semantic":
        from mosseval.prr.semantic import semantic_distance_matrix

        return semantic_distance_matrix(ref, gen)
    raise UsageError(f"unknown PRR distance {config.distance!r}; use 'rouge' or 'semantic'")


def _prepare(
    text: str | None, refs: list[str], config: PRRConfig, require_format: bool
) -> ProcessScore:
    """Everything short of the alignment; status 'scored' means an alignment is needed."""
    if not refs:
        return ProcessScore(None, "not_applicable")
    steps, truncated = split_steps(
        reasoning_text(text, require_format), config.max_steps, config.min_tokens
    )
    if require_format and not format_ok(text):
        return ProcessScore(0.0, "format_broken", steps, truncated)
    if not steps:
        return ProcessScore(0.0, "no_steps", steps, truncated)
    return ProcessScore(None, "scored", steps, truncated)


def _finish(ps: ProcessScore, a: Alignment, config: PRRConfig) -> ProcessScore:
    ps.prr = prr_from_normalized(a.normalized_cost, config.alpha)
    ps.detail = PRRDetail(
        cost=a.cost,
        normalized_cost=a.normalized_cost,
        path=a.path,
        step_distances=a.step_distances,
    )
    return ps


def score_process(
    text: str | None,
    reference_steps: Sequence[Any] | None,
    config: PRRConfig | None = None,
    *,
    require_format: bool = True,
) -> ProcessScore:
    """PRR of one completion. See :func:`score_group` for the rules."""
    return score_group([text], reference_steps, config, require_format=require_format)[0]


def score_group(
    texts: Sequence[str | None],
    reference_steps: Sequence[Any] | None,
    config: PRRConfig | None = None,
    *,
    require_format: bool = True,
) -> list[ProcessScore]:
    """PRR of several completions against the same reference steps.

    Rules, in order: no (non-blank) reference step -> ``not_applicable`` with ``prr=None``;
    ``require_format`` and the completion is not ``<think>…</think><answer>…</answer>`` ->
    ``format_broken`` with 0.0; no step survives splitting -> ``no_steps`` with 0.0; otherwise
    ``scored``: steps are aligned to the reference (:mod:`mosseval.prr.dtw`) and
    ``prr = prr_from_normalized(cost / path_length, alpha)``.
    """
    config = config or PRRConfig()
    refs = reference_texts(reference_steps)
    out = [_prepare(t, refs, config, require_format) for t in texts]
    todo = [i for i, ps in enumerate(out) if ps.status == "scored"]
    if not todo:
        return out
    all_steps: list[str] = []
    bounds = []
    for i in todo:
        bounds.append((len(all_steps), len(all_steps) + len(out[i].steps)))
        all_steps.extend(out[i].steps)
    dist = distance_matrix(refs, all_steps, config)
    alignments = align_batch(
        [dist[:, a:b] for a, b in bounds], mode=config.alignment, jump=config.jump
    )
    for i, a in zip(todo, alignments):
        _finish(out[i], a, config)
    return out
