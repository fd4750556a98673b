"""Reward functions for evaluation and GRPO training, in the calling style of TRL and verl.

TRL style: ``reward(prompts, completions, **columns) -> list[float | None]``, one value per
completion. ``completions`` are strings or conversational lists
(``[{"role": "assistant", "content": "..."}]``); dataset columns arrive as keyword lists aligned
with ``completions``:

* ``answer``: gold option letter per item (``"B"``, ``"(b)"`` also accepted);
* ``options`` (optional): ``{"A": text, ...}`` or ``[text, ...]`` per item;
* ``reference_steps``: ``["step", ...]`` or ``[{"t": 0.0, "text": "step"}, ...]`` per item.

Unknown columns (``prompt``, ``completion_ids``, ``trainer_state``, …) are ignored.

* :func:`accuracy_reward`: 1.0 when the strictly extracted letter equals the gold letter, else
  0.0 (unparsed and ambiguous answers are wrong); None when the item has no gold answer.
* :func:`format_reward`: 1.0 when the completion is exactly ``<think>…</think><answer>…</answer>``.
* :func:`prr_reward`: the Process Reasoning Reward (:mod:`mosseval.prr.score`); None when the item
  has no reference steps (TRL treats None as "no reward for this item").
* :func:`make_total_reward`: weighted sum of the three; **a None component counts as 0** in the sum.

verl style: :func:`compute_score` (and :func:`compute_score_batch` for verl's batch reward
manager) return the weighted total for one (or many) decoded responses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mosseval.errors import UsageError, did_you_mean
from mosseval.prr.format import format_ok
from mosseval.records import PRRConfig
from mosseval.registry import Registry

RewardFn = Callable[..., list[Any]]

COMPONENTS = ("accuracy", "format", "prr")

rewards: Registry[RewardFn] = Registry("rewards", "mosseval.rewards", "reward")
"""Rewards by name for ``mosseval train --rewards`` (TRL calling convention). Third-party packages add
theirs through the ``mosseval.rewards`` entry-point group (``name = package.module:reward_fn``)."""
for _name, _what in (("accuracy", "1 when the extracted letter equals the gold answer"),
                     ("format", "1 when the completion is exactly <think>…</think><answer>…</answer>"),
                     ("prr", "Process Reasoning Reward against the item's reference steps (SPEC §3)")):
    rewards.declare(_name, "mosseval.rewards", description=_what)


def register_reward(name: str) -> Callable[[RewardFn], RewardFn]:
    """Decorator for reward functions: ``@register_reward("my_reward")``."""
    return rewards.register(name)
DEFAULT_WEIGHTS: dict[str, float] = {"accuracy": 1.0, "format": 1.0, "prr": 1.0}


# --------------------------------------------------------------------------- inputs


def completion_text(completion: Any) -> str | None:
    """The text of a completion: a string, a message dict, or a list of messages (the last
    assistant message is used; list-of-parts contents are joined)."""
    if completion is None or isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        content = completion.get("content")
        if isinstance(content, str) or content is None:
            return content
        return "".join(
            p.get("text", "") if isinstance(p, Mapping) else str(p) for p in content
        )
    if isinstance(completion, Sequence):
        msgs = [m for m in completion if isinstance(m, Mapping)]
        assistant = [m for m in msgs if m.get("role", "assistant") == "assistant"]
        pick = assistant[-1] if assistant else (msgs[-1] if msgs else None)
        return completion_text(pick) if pick is not None else None
    raise UsageError(
        f"cannot read a completion of type {type(completion).__name__}",
        hint='completions must be strings or [{"role": "assistant", "content": "..."}]',
    )


def _column(columns: Mapping[str, Any], name: str, n: int, required: bool = False) -> list[Any]:
    value = columns.get(name)
    if value is None:
        if required:
            raise UsageError(
                f"reward needs the dataset column {name!r}, which was not passed",
                hint=f"add a {name!r} column to the training dataset "
                f"(got columns: {sorted(columns) or 'none'})",
            )
        return [None] * n
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__len__"):
        raise UsageError(
            f"column {name!r} must be a list with one entry per completion, "
            f"got {type(value).__name__}"
        )
    value = list(value)
    if len(value) != n:
        raise UsageError(
            f"column {name!r} has {len(value)} entries for {n} completions",
            hint="TRL passes every dataset column repeated once per completion",
        )
    return value


def _gold_letter(gold: Any) -> str | None:
    if gold is None:
        return None
    g = re.sub(r"[^A-Za-z0-9]", "", str(gold)).upper()
    return g or None


def _options(opts: Any) -> dict[str, str] | list[str] | None:
    if opts is None:
        return None
    if isinstance(opts, str):
        try:
            opts = json.loads(opts)
        except json.JSONDecodeError as e:
            raise UsageError(f"options must be a dict or list, got an unparseable string: {e}") from None
    if isinstance(opts, Mapping):
        # Arrow structs fill absent letters with None.
        return {str(k): str(v) for k, v in opts.items() if v is not None}
    return [str(v) for v in opts]


def _steps(steps: Any) -> list[Any] | None:
    if steps is None:
        return None
    if isinstance(steps, str):
        try:
            steps = json.loads(steps)
        except json.JSONDecodeError:
            raise UsageError(
                "reference_steps must be a list per item, got a string that is not JSON",
                hint='use ["step", ...] or [{"t": 0.0, "text": "step"}, ...]',
            ) from None
    return list(steps)


# --------------------------------------------------------------------------- components


@register_reward("accuracy")
def accuracy_reward(prompts: Any, completions: Sequence[Any], **columns: Any) -> list[float | None]:
    """1.0 if the extracted option letter equals the gold ``answer``, else 0.0 (None: no gold)."""
    from mosseval.extract import extract_choice

    n = len(completions)
    golds = _column(columns, "answer", n, required=True)
    opts = _column(columns, "options", n)
    out: list[float | None] = []
    for c, g, o in zip(completions, golds, opts):
        gold = _gold_letter(g)
        if gold is None:
            out.append(None)
            continue
        ex = extract_choice(completion_text(c), _options(o))
        out.append(1.0 if ex.letter is not None and ex.letter == gold else 0.0)
    return out


@register_reward("format")
def format_reward(prompts: Any, completions: Sequence[Any], **columns: Any) -> list[float | None]:
    """1.0 when the completion is exactly ``<think>…</think><answer>…</answer>``, else 0.0."""
    return [1.0 if format_ok(completion_text(c)) else 0.0 for c in completions]


def make_prr_reward(config: PRRConfig | None = None, *, require_format: bool = True) -> RewardFn:
    """A PRR reward function with the given configuration (TRL calling convention).

    All completions of a call (every GRPO group of a step) are scored in one batch.
    """
    cfg = config or PRRConfig()

    def prr_reward(prompts: Any, completions: Sequence[Any], **columns: Any) -> list[float | None]:
        from mosseval.prr.score import score_batch

        n = len(completions)
        refs = [_steps(r) for r in _column(columns, "reference_steps", n)]
        scores = score_batch([(completion_text(c), r) for c, r in zip(completions, refs)], cfg,
                             require_format=require_format)
        return [s.prr for s in scores]

    prr_reward.config = cfg  # type: ignore[attr-defined]
    return prr_reward


prr_reward = register_reward("prr")(make_prr_reward())
prr_reward.__doc__ = """PRR of each completion against its ``reference_steps`` (default PRRConfig;
format required). None when the item has no reference steps."""


def _check_weights(weights: Mapping[str, float] | None) -> dict[str, float]:
    if weights is None:
        return dict(DEFAULT_WEIGHTS)
    out: dict[str, float] = {}
    for k, v in weights.items():
        if k not in COMPONENTS:
            raise UsageError(
                f"unknown reward component {k!r} in weights; known: {', '.join(COMPONENTS)}",
                hint=did_you_mean(k, COMPONENTS) or None,
            )
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            raise UsageError(f"reward weight {k!r} must be a number, got {v!r}") from None
    return out


def _components(
    completions: Sequence[Any],
    columns: Mapping[str, Any],
    components: Sequence[str],
    config: PRRConfig | None,
    require_format: bool,
) -> dict[str, list[float | None]]:
    fns: dict[str, RewardFn] = {
        "accuracy": accuracy_reward,
        "format": format_reward,
        "prr": make_prr_reward(config, require_format=require_format),
    }
    return {name: fns[name](None, completions, **columns) for name in components}


def reward_components(
    prompts: Any,
    completions: Sequence[Any],
    *,
    components: Sequence[str] = COMPONENTS,
    config: PRRConfig | None = None,
    require_format: bool = True,
    **columns: Any,
) -> dict[str, list[float | None]]:
    """Each requested component, unweighted (for logging next to the total)."""
    for name in components:
        if name not in COMPONENTS:
            raise UsageError(f"unknown reward component {name!r}; known: {', '.join(COMPONENTS)}")
    return _components(completions, columns, components, config, require_format)


def make_total_reward(
    weights: Mapping[str, float] | None = None,
    config: PRRConfig | None = None,
    *,
    require_format: bool = True,
) -> RewardFn:
    """``total = Σ weight_k · component_k`` with None components counted as 0.

    Components with weight 0 are not computed (e.g. ``{"prr": 0}`` needs no reference steps).
    Defaults: weights 1:1:1 (the paper does not publish its weights), ``PRRConfig()``.
    """
    w = _check_weights(weights)
    cfg = config or PRRConfig()
    active = [k for k in COMPONENTS if w.get(k, 0.0) != 0.0]

    def total_reward(prompts: Any, completions: Sequence[Any], **columns: Any) -> list[float]:
        comps = _components(completions, columns, active, cfg, require_format)
        totals = [0.0] * len(completions)
        for name in active:
            for i, v in enumerate(comps[name]):
                if v is not None:
                    totals[i] += w[name] * v
        return totals

    total_reward.weights = dict(w)  # type: ignore[attr-defined]
    total_reward.config = cfg  # type: ignore[attr-defined]
    return total_reward


# --------------------------------------------------------------------------- verl


def _verl_item(ground_truth: Any, extra_info: Mapping[str, Any] | None) -> dict[str, Any]:
    """``ground_truth`` is a gold letter, or a dict / JSON object with ``answer`` and optionally
    ``options`` and ``reference_steps``; ``extra_info`` may add ``options``, ``reference_steps``,
    ``weights`` and ``prr`` (PRRConfig fields)."""
    item: dict[str, Any] = {}
    gt = ground_truth
    if isinstance(gt, str) and gt.lstrip().startswith("{"):
        try:
            gt = json.loads(gt)
        except json.JSONDecodeError:
            pass
    if isinstance(gt, Mapping):
        item.update(gt)
    else:
        item["answer"] = gt
    for key in ("answer", "options", "reference_steps", "weights", "prr", "require_format"):
        if extra_info and key in extra_info and item.get(key) is None:
            item[key] = extra_info[key]
    return item


def compute_score_batch(
    data_sources: Sequence[Any],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Mapping[str, Any] | None] | None = None,
    **kwargs: Any,
) -> list[float]:
    """verl batch reward manager entry point: weighted totals for many responses."""
    n = len(solution_strs)
    infos = list(extra_infos) if extra_infos is not None else [None] * n
    items = [_verl_item(g, e) for g, e in zip(ground_truths, infos)]
    out = [0.0] * n
    # Items with the same settings share one reward call (and PRR batch).
    groups: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        key = json.dumps(
            [it.get("weights"), it.get("prr"), it.get("require_format", True)],
            sort_keys=True, default=str,
        )
        groups.setdefault(key, []).append(i)
    for idx in groups.values():
        first = items[idx[0]]
        prr_cfg = first.get("prr")
        cfg = prr_cfg if isinstance(prr_cfg, PRRConfig) else PRRConfig(**(prr_cfg or {}))
        fn = make_total_reward(first.get("weights"), cfg,
                               require_format=bool(first.get("require_format", True)))
        cols = {
            "answer": [items[i].get("answer") for i in idx],
            "options": [items[i].get("options") for i in idx],
            "reference_steps": [items[i].get("reference_steps") for i in idx],
        }
        for i, v in zip(idx, fn(None, [solution_strs[i] for i in idx], **cols)):
            out[i] = float(v)
    return out


def compute_score(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> float:
    """verl ``custom_reward_function`` entry point: the weighted total for one response."""
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info])[0]
