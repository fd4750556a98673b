"""Process Reasoning Reward of a completion against reference steps (SPEC §3).

``score_batch`` scores many completions, each against its own reference steps, in one batch: each
distinct step string is tokenized once, every (reference, generated) step pair of every item goes
through one vectorised distance computation, and the alignments run in vectorised sweeps.
``score_group`` (a GRPO group sharing one reference) and ``score_process`` (one completion) are
the same computation; a value never depends on how items were batched.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
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
    detail: PRRDetail | dict[str, Any] | None = None
    """The alignment (:func:`score_batch` with ``detail_data``: its fields as plain data, what a
    :class:`~mosseval.records.PRRDetail` of them holds)."""


def prr_from_normalized(dbar: float, alpha: float) -> float:
    """``(exp(-α·d̄) - exp(-α)) / (1 - exp(-α))``; ``α = 0`` gives ``1 - d̄``. Result in [0, 1]."""
    return prr_function(alpha)(dbar)


def prr_function(alpha: float) -> Callable[[float], float]:
    """:func:`prr_from_normalized` with ``alpha`` fixed: checked and its constants computed once (a batch
    maps every normalised cost through it; the same operations in the same order, so the same values)."""
    a = float(alpha)
    if a < 0 or math.isnan(a):
        raise UsageError(f"PRR alpha must be >= 0, got {alpha!r}")
    if a == 0.0:
        def linear(dbar: float) -> float:
            return min(max(1.0 - min(max(float(dbar), 0.0), 1.0), 0.0), 1.0)

        return linear
    # expm1 keeps full precision for small α (the formula tends to 1 - d̄).
    top, bottom = math.expm1(-a), -math.expm1(-a)
    expm1 = math.expm1

    def prr(dbar: float) -> float:
        d = min(max(float(dbar), 0.0), 1.0)
        return min(max((expm1(-a * d) - top) / bottom, 0.0), 1.0)

    return prr


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
    if type(reference_steps) is list:
        try:  # the common case, a list of texts: stripped in one pass (str.strip refuses anything else)
            texts = [str.strip(s) for s in reference_steps]
        except TypeError:
            pass
        else:
            return [s for s in texts if s]
    out: list[str] = []
    for i, s in enumerate(reference_steps):
        if type(s) is str:  # texts
            s = s.strip()
            if s:
                out.append(s)
            continue
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
    return distance_blocks([(ref, gen)], config)[0]


def distance_blocks(blocks: Sequence[tuple[Sequence[str], Sequence[str]]], config: PRRConfig, *,
                    forget: bool = False) -> list[np.ndarray]:
    """The step-distance matrix of each ``(reference steps, generated steps)`` block (``forget``: see
    :func:`~mosseval.prr.rouge.rouge_distance_blocks`)."""
    if config.distance == "rouge":
        from mosseval.prr.rouge import rouge_distance_blocks

        return rouge_distance_blocks(blocks, forget=forget)
    if config.distance == "semantic":
        from mosseval.prr.semantic import semantic_distance_matrix

        # One embedding call per distinct reference: generated steps of items sharing it are stacked.
        out: list[np.ndarray | None] = [None] * len(blocks)
        by_ref: dict[tuple[str, ...], list[int]] = {}
        for i, (ref, _) in enumerate(blocks):
            by_ref.setdefault(tuple(ref), []).append(i)
        for ref, idx in by_ref.items():
            gens = [g for i in idx for g in blocks[i][1]]
            d = semantic_distance_matrix(list(ref), gens)
            a = 0
            for i in idx:
                m = len(blocks[i][1])
                out[i] = d[:, a : a + m]
                a += m
        return out  # type: ignore[return-value]
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


_validate_detail = PRRDetail.__pydantic_validator__.validate_python


def _finish(ps: ProcessScore, a: Alignment, prr: Callable[[float], float], data: bool = False) -> ProcessScore:
    ps.prr = prr(a.normalized_cost)
    # the alignment's values are already of PRRDetail's types (floats, a list of int pairs, a list of floats):
    # as data they are the fields of the PRRDetail that validating them builds (tests/prr: test_detail_data)
    detail = {"cost": a.cost, "normalized_cost": a.normalized_cost, "path": a.path, "step_distances": a.step_distances}
    ps.detail = detail if data else _validate_detail(detail)  # PRRDetail(...) without the keyword-call wrapper
    return ps


ALIGN_CHUNK = 4096
"""Alignments computed per vectorised sweep (bounds memory at large batches)."""


def score_process(
    text: str | None,
    reference_steps: Sequence[Any] | None,
    config: PRRConfig | None = None,
    *,
    require_format: bool = True,
) -> ProcessScore:
    """PRR of one completion. See :func:`score_batch` for the rules."""
    return score_batch([(text, reference_steps)], config, require_format=require_format)[0]


def score_group(
    texts: Sequence[str | None],
    reference_steps: Sequence[Any] | None,
    config: PRRConfig | None = None,
    *,
    require_format: bool = True,
) -> list[ProcessScore]:
    """PRR of several completions against the same reference steps (one GRPO group)."""
    refs = reference_texts(reference_steps)
    return _score_prepared([(t, refs) for t in texts], config or PRRConfig(), require_format)


def score_batch(
    items: Iterable[tuple[str | None, Sequence[Any] | None]],
    config: PRRConfig | None = None,
    *,
    require_format: bool = True,
    detail_data: bool = False,
    consume: bool = False,
) -> list[ProcessScore]:
    """PRR of many ``(completion, reference_steps)`` items, computed in one batch.

    Rules, in order: no (non-blank) reference step -> ``not_applicable`` with ``prr=None``;
    ``require_format`` and the completion is not ``<think>…</think><answer>…</answer>`` ->
    ``format_broken`` with 0.0; no step survives splitting -> ``no_steps`` with 0.0; otherwise
    ``scored``: steps are aligned to the reference (:mod:`mosseval.prr.dtw`) and
    ``prr = prr_from_normalized(cost / path_length, alpha)``.

    ``detail_data``: each ``detail`` as the plain data of its :class:`~mosseval.records.PRRDetail` (a reader that
    writes or compares it as JSON, and builds the model only where it must, e.g. ``score``).

    ``consume``: ``items`` is a list the caller hands over with its only references to the completions: it is
    emptied once read, and the completions are let go once split into steps, before the distances are computed
    (``score`` of 24,000 samples: ~12 MiB of text); the steps' encodings leave the ROUGE cache once the batch has
    read them (a run's batch is scored once: a later batch encodes its strings again).
    """
    prepared = [(t, reference_texts(r)) for t, r in items]
    if consume:
        items.clear()  # type: ignore[attr-defined]
    return _score_prepared(prepared, config or PRRConfig(), require_format, detail_data, forget=consume)


def _score_prepared(items: list[tuple[str | None, list[str]]], config: PRRConfig,
                    require_format: bool, detail_data: bool = False, forget: bool = False) -> list[ProcessScore]:
    """``items`` is emptied once each completion is split into its steps (``score_batch(consume=True)``);
    ``forget``: see :func:`distance_blocks`."""
    out = [_prepare(t, refs, config, require_format) for t, refs in items]
    refs_of = [refs for _, refs in items]
    items.clear()
    todo = [i for i, ps in enumerate(out) if ps.status == "scored"]
    if not todo:
        return out
    blocks = [(refs_of[i], out[i].steps) for i in todo]
    if forget:
        del refs_of  # (the blocks hold the only references to the reference steps: let go once read)
    dists = distance_blocks(blocks, config, forget=forget)
    prr = prr_function(config.alpha)
    for a in range(0, len(todo), ALIGN_CHUNK):
        chunk = todo[a : a + ALIGN_CHUNK]
        alignments = align_batch(dists[a : a + ALIGN_CHUNK], mode=config.alignment, jump=config.jump)
        for i, al in zip(chunk, alignments):
            _finish(out[i], al, prr, detail_data)
    return out
