"""The rewards a GRPO run optimises: built-ins (accuracy, format, PRR) plus user functions.

User rewards follow TRL's calling convention, ``fn(prompts, completions, **columns) ->
list[float | None]``, and are named ``module:function`` or ``path/to/file.py:function``. The total
is the weighted sum of the components, a None component counting as 0 (as in
:func:`mosseval.rewards.make_total_reward`).
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mosseval.errors import UsageError
from mosseval.records import PRRConfig

__all__ = ["RewardSet", "Scores", "load_reward_fn"]


def load_reward_fn(spec: str) -> Callable[..., list]:
    """A registered reward name, ``module:function`` or ``path/to/file.py:function``."""
    if ":" not in spec:
        from mosseval.rewards import rewards

        return rewards.load(spec)
    target, _, name = spec.rpartition(":")
    if not target or not name:
        raise UsageError(f"reward {spec!r} is not MODULE:FUNCTION or FILE.py:FUNCTION")
    try:
        if target.endswith(".py") or os.sep in target or "/" in target:
            path = Path(target).expanduser()
            if not path.is_file():
                raise UsageError(f"reward file {str(path)!r} does not exist (from --rewards {spec!r})")
            mod_name = f"mosseval_user_reward_{abs(hash(str(path.resolve())))}"
            mod_spec = importlib.util.spec_from_file_location(mod_name, path)
            module = importlib.util.module_from_spec(mod_spec)  # type: ignore[arg-type]
            sys.modules[mod_name] = module
            mod_spec.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            module = importlib.import_module(target)
    except UsageError:
        raise
    except Exception as e:  # noqa: BLE001 - user code
        raise UsageError(f"cannot import the reward module of {spec!r}: {type(e).__name__}: {e}") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise UsageError(f"{target!r} has no function {name!r} (from --rewards {spec!r})")
    return fn


def _check_values(name: str, values: Any, n: int) -> list[float | None]:
    if not isinstance(values, (list, tuple)) or len(values) != n:
        got = len(values) if isinstance(values, (list, tuple)) else type(values).__name__
        raise UsageError(f"reward {name!r} returned {got} value(s) for {n} completions",
                         hint="a reward returns one float (or None) per completion")
    out: list[float | None] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise UsageError(f"reward {name!r} returned a non-number {v!r}") from None
        out.append(None if math.isnan(f) else f)
    return out


@dataclass
class Scores:
    """Rewards of a batch of completions."""

    components: dict[str, list[float | None]]
    """Per reward name, one value per completion (None: not applicable)."""
    totals: list[float]
    """Weighted sums (None components count as 0)."""
    correct: list[float | None]
    """Answer correctness (the accuracy reward, computed even when it is not optimised)."""


class RewardSet:
    """The configured rewards with their weights; :meth:`score` rates completions."""

    def __init__(self, names: list[str], weights: dict[str, float], *, prr_config: PRRConfig,
                 require_format: bool = True, extra: dict[str, Callable[..., list]] | None = None):
        from mosseval.rewards import COMPONENTS

        self.names = list(names)
        self.weights = dict(weights)
        self.prr_config = prr_config
        self.require_format = require_format
        extra = dict(extra or {})
        self.fns: dict[str, Callable[..., list] | None] = {}
        for name in self.names:
            if name in COMPONENTS:
                self.fns[name] = None  # computed together through reward_components
            else:
                self.fns[name] = extra[name] if name in extra else load_reward_fn(name)

    def score(self, prompts: list[Any], texts: list[str], columns: dict[str, list[Any]]) -> Scores:
        from mosseval.rewards import COMPONENTS, accuracy_reward, reward_components

        builtin = [n for n in self.names if n in COMPONENTS]
        comps: dict[str, list[float | None]] = {}
        if builtin:
            got = reward_components(prompts, texts, components=builtin, config=self.prr_config,
                                    require_format=self.require_format, **columns)
            for name in builtin:
                comps[name] = _check_values(name, got[name], len(texts))
        for name, fn in self.fns.items():
            if fn is not None:
                comps[name] = _check_values(name, fn(prompts, texts, **columns), len(texts))
        comps = {name: comps[name] for name in self.names}
        correct = comps.get("accuracy")
        if correct is None:
            correct = accuracy_reward(prompts, texts, **columns)
        totals = [sum(self.weights[k] * v[i] for k, v in comps.items() if v[i] is not None)
                  for i in range(len(texts))]
        return Scores(comps, totals, list(correct))
