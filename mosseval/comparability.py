"""When two results may be compared: ONE definition, used by the runner's identity, ``mosseval compare``
and the leaderboard's columns.

A task's own part is :meth:`mosseval.records.TaskSpec.comparability_key` (prompt, frames, decoding,
scoring, loader, version ...; not descriptions, data locations or help text). A run adds what it applies
to every task: the harness that produced it, the seed and the metric version. Two runs' results on a task
are comparable exactly when their :func:`task_key` values are equal; two runs are comparable as a whole
(``compare``) when their :func:`run_key` values are equal, i.e. same task set and every task comparable.
Only the model may differ.
"""

from __future__ import annotations

import json
from typing import Any

from mosseval.records import RunLog, digest


def _task_part(log: RunLog, task: str) -> Any:
    spec = log.task_specs.get(task)
    if spec is not None:
        return spec.comparability_key()
    # imported results, or a run without stored specs: the fingerprint recorded in the run
    for ref in log.spec.tasks:
        if ref.name == task:
            part = {"name": task, "version": ref.version, "fingerprint": ref.fingerprint}
            if log.spec.frames:  # (also inside the fingerprint; kept in the clear to explain differences)
                part["frames"] = dict(log.spec.frames)
            return part
    res = log.results.get(task)
    return {"name": task, "version": res.version if res else None, "fingerprint": None}


def _run_part(log: RunLog) -> dict[str, Any]:
    ev = log.identity.eval
    part = {"origin": log.origin, "seed": ev.seed if ev is not None else log.spec.seed,
            "metric_version": ev.metric_version if ev is not None else None}
    if ev is not None and ev.recipes:  # frames from model recipes: their full parameters count too
        part["recipes"] = ev.recipes
    return part


def run_tasks(log: RunLog) -> list[str]:
    """The leaf tasks of a run, in run order."""
    names = [t.name for t in log.spec.tasks]
    return names + [t for t in log.results if t not in names]


def run_key(log: RunLog) -> dict[str, Any]:
    """What must be equal for two whole runs to be compared (``mosseval compare``)."""
    return {**_run_part(log), "tasks": {t: _task_part(log, t) for t in run_tasks(log)}}


def task_key(log: RunLog, task: str) -> dict[str, Any]:
    """What must be equal for two runs' results on ``task`` to be compared (one leaderboard column)."""
    return {**_run_part(log), "task": _task_part(log, task)}


def group_key(log: RunLog, group: str, members: list[str]) -> dict[str, Any]:
    """A group's results are comparable when the group and all its members' keys are equal."""
    return {**_run_part(log), "group": group, "members": {m: key_hash(task_key(log, m)) for m in sorted(members)}}


def key_hash(key: Any, length: int = 16) -> str:
    return digest(key, length)


# --------------------------------------------------------------------------- explaining differences


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _named(items: list[Any]) -> dict[str, Any] | None:
    if items and all(isinstance(x, dict) and isinstance(x.get("name"), str) for x in items):
        names = [x["name"] for x in items]
        if len(set(names)) == len(names):
            return {x["name"]: x for x in items}
    return None


def differences(a: Any, b: Any, path: str = "", labels: tuple[str, str] = ("baseline", "candidate")) -> list[str]:
    """Human-readable differences between two JSON-like values, one line per differing leaf
    (``tasks.mvbench.frames.num_frames differs: 8 vs 16``). Lists of ``{name: ...}`` mappings are matched
    by name. ``labels`` name the two sides in "only in ..." lines."""
    out: list[str] = []
    _diff(a, b, path, out, labels)
    return out


def _diff(a: Any, b: Any, path: str, out: list[str], labels: tuple[str, str]) -> None:
    if a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            p = f"{path}.{k}" if path else str(k)
            if k not in a:
                out.append(f"{p}: only in {labels[1]} ({_short(b[k])})")
            elif k not in b:
                out.append(f"{p}: only in {labels[0]} ({_short(a[k])})")
            else:
                _diff(a[k], b[k], p, out, labels)
        return
    if isinstance(a, list) and isinstance(b, list):
        na, nb = _named(a), _named(b)
        if na is not None and nb is not None:
            for k in list(na) + [k for k in nb if k not in na]:
                p = f"{path}[{k}]"
                if k not in nb:
                    out.append(f"{p}: only in {labels[0]}")
                elif k not in na:
                    out.append(f"{p}: only in {labels[1]}")
                else:
                    _diff(na[k], nb[k], p, out, labels)
            if list(na) != list(nb) and set(na) == set(nb):
                out.append(f"{path}: same entries in a different order")
            return
        if len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b)):
                _diff(x, y, f"{path}[{i}]", out, labels)
            return
    out.append(f"{path or '(value)'} differs: {_short(a)} vs {_short(b)}")


def run_differences(base: RunLog, cand: RunLog) -> list[str]:
    """Why two runs are not comparable (empty when they are)."""
    return differences(run_key(base), run_key(cand))


def changed_fields(keys: list[dict[str, Any]]) -> list[str]:
    """Dotted fields that differ among several keys of one task (``frames.num_frames``, ``prompt.template``)."""
    fields: set[str] = set()
    for other in keys[1:]:
        for line in differences(keys[0], other):
            head = line.split(":", 1)[0].split(" differs", 1)[0]
            fields.add(head.removeprefix("task.").removeprefix("group."))
    return sorted(fields)


__all__ = ["run_key", "task_key", "group_key", "key_hash", "differences", "run_differences", "changed_fields",
           "run_tasks"]
