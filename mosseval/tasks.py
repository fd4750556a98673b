"""Task registry: YAML task definitions from ``tasks/`` (packaged) and user folders.

A YAML file holds either one task mapping, or ``defaults:`` plus ``tasks: [...]`` (each task is
deep-merged over the defaults). Fields are those of ``mosseval.records.TaskSpec``. A task with
``subtasks: [...]`` is a group: running it runs every subtask.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mosseval.errors import ConfigError, UsageError, did_you_mean
from mosseval.fileio import load_yaml
from mosseval.paths import resource_dir
from mosseval.records import TaskSpec

TASKS_ENV = "MOSSEVAL_TASKS_DIR"


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _loc(err: dict[str, Any]) -> str:
    return ".".join(str(p) for p in err.get("loc", ())) or "(top level)"


def parse_task_file(path: Path) -> list[TaskSpec]:
    """Parse one YAML file into task specs; errors name the file, the key and the problem."""
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"invalid YAML in task file {path}{where}: {problem}",
                          hint="fix the YAML syntax; `mosseval tasks` re-checks every file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read task file {path}: {exc.strerror or exc}") from None
    if raw is None:
        raise ConfigError(f"task file {path} is empty")
    if not isinstance(raw, dict):
        raise ConfigError(f"task file {path}: top level must be a mapping, got {type(raw).__name__}")
    if "tasks" in raw:
        defaults = raw.get("defaults") or {}
        unknown = set(raw) - {"tasks", "defaults"}
        if unknown:
            raise ConfigError(f"task file {path}: unknown top-level key(s) {sorted(unknown)}",
                              hint="a multi-task file has only `defaults:` and `tasks:`")
        if not isinstance(raw["tasks"], list) or not isinstance(defaults, dict):
            raise ConfigError(f"task file {path}: `tasks` must be a list and `defaults` a mapping")
        entries = [_deep_merge(defaults, t) if isinstance(t, dict) else t for t in raw["tasks"]]
    else:
        entries = [raw]
    specs: list[TaskSpec] = []
    for i, entry in enumerate(entries):
        label = f"tasks[{i}]" if "tasks" in raw else "task"
        if not isinstance(entry, dict):
            raise ConfigError(f"task file {path}: {label} must be a mapping")
        name = entry.get("name", f"<{label}>")
        try:
            spec = TaskSpec.model_validate(entry)
        except ValidationError as exc:
            err = exc.errors()[0]
            more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
            raise ConfigError(
                f"task file {path}: task {name!r}, key `{_loc(err)}`: {err['msg']}{more}",
                hint="see the TaskSpec fields in docs/reference/schemas.md",
            ) from None
        if not spec.is_group and (spec.loader is None or spec.prompt is None):
            missing = "loader" if spec.loader is None else "prompt"
            raise ConfigError(f"task file {path}: task {name!r}, key `{missing}`: required for a "
                              f"task without subtasks")
        spec.source_file = str(path)
        specs.append(spec)
    return specs


def task_dirs(extra: list[str | os.PathLike] | None = None) -> list[Path]:
    dirs = [resource_dir("tasks")]
    env = os.environ.get(TASKS_ENV)
    if env:
        dirs += [Path(p) for p in env.split(os.pathsep) if p]
    dirs += [Path(p) for p in (extra or [])]
    return dirs


def load_registry(extra_dirs: list[str | os.PathLike] | None = None) -> dict[str, TaskSpec]:
    registry: dict[str, TaskSpec] = {}
    for d in task_dirs(extra_dirs):
        if not d.is_dir():
            raise UsageError(f"task folder {d} does not exist")
        for path in sorted(list(d.glob("*.yaml")) + list(d.glob("*.yml"))):
            for spec in parse_task_file(path):
                if spec.name in registry:
                    raise ConfigError(f"task {spec.name!r} is defined twice: in "
                                      f"{registry[spec.name].source_file} and {path}")
                registry[spec.name] = spec
    for spec in registry.values():
        for sub in spec.subtasks:
            if sub not in registry:
                raise ConfigError(f"task file {spec.source_file}: group {spec.name!r}, key `subtasks`: "
                                  f"unknown subtask {sub!r}")
    return registry


def resolve_tasks(names: list[str], registry: dict[str, TaskSpec]) -> list[tuple[TaskSpec, str | None]]:
    """Expand groups; return (leaf task, group name or None) in order, without duplicates."""
    out: list[tuple[TaskSpec, str | None]] = []
    seen: set[str] = set()
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name not in registry:
            hint = did_you_mean(name, list(registry))
            raise UsageError(f"unknown task {name!r}" + (f"; {hint}" if hint else ""),
                             hint="`mosseval tasks` lists the available tasks")
        spec = registry[name]
        leaves = [(registry[s], name) for s in spec.subtasks] if spec.is_group else [(spec, None)]
        for leaf, group in leaves:
            if leaf.is_group:
                raise ConfigError(f"group {name!r} contains another group {leaf.name!r}; nest one level only")
            if leaf.name not in seen:
                seen.add(leaf.name)
                out.append((leaf, group))
    if not out:
        raise UsageError("no task given", hint="e.g. --tasks moss-video-mini")
    return out


class TaskListing:
    """One row of ``mosseval tasks``: a task or a group, with its sample count where known."""

    def __init__(self, spec: TaskSpec, samples: str, members: list[str], member_of: list[str]):
        self.spec = spec
        self.samples = samples
        """Sample count, or why there is none (``not generated``, ``data not found``, ``error: …``)."""
        self.members = members
        """Subtasks of a group (empty for a task)."""
        self.member_of = member_of
        """Groups this task belongs to."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def frames(self) -> str:
        return "" if self.spec.is_group else self.spec.frames.describe()


def count_samples(spec: TaskSpec, data_dir: str | os.PathLike | None = None,
                  cache_dir: str | os.PathLike | None = None) -> str:
    """The number of samples of a task where its data is present (nothing is generated or
    downloaded to count), else why not: ``not generated``, ``data not found``, ``error: …``."""
    from mosseval.data import get_loader
    from mosseval.data.locate import resolve_data_root
    from mosseval.errors import DataNotFoundError, MossevalError

    try:
        root = resolve_data_root(spec, data_dir, cache_dir, generate=False)
        return str(len(get_loader(spec.loader or "")(spec, root)))
    except DataNotFoundError:
        return "not generated" if spec.data.synthetic else "data not found"
    except MossevalError as exc:
        return f"error: {exc.message[:60]}"


def list_tasks(registry: dict[str, TaskSpec], *, expand: bool | list[str] = False, counts: bool = True,
               data_dir: str | os.PathLike | None = None,
               cache_dir: str | os.PathLike | None = None) -> list[TaskListing]:
    """The rows of ``mosseval tasks`` in name order: groups and the tasks outside any group; the
    members of a group only when ``expand`` is True or names that group. Sample counts are
    computed for the rows shown (``counts``)."""
    groups_of: dict[str, list[str]] = {}
    for spec in registry.values():
        for sub in spec.subtasks:
            groups_of.setdefault(sub, []).append(spec.name)
    if isinstance(expand, list):
        unknown = [g for g in expand if g not in registry or not registry[g].is_group]
        if unknown:
            groups = sorted(n for n, s in registry.items() if s.is_group)
            hint = did_you_mean(unknown[0], groups)
            raise UsageError(f"--expand {unknown[0]!r} is not a task group" + (f"; {hint}" if hint else ""),
                             hint="groups: " + ", ".join(groups))
    expanded = {n for n, s in registry.items() if s.is_group} if expand is True else set(expand or [])

    def task_row(spec: TaskSpec) -> TaskListing:
        n = count_samples(spec, data_dir, cache_dir) if counts else "–"
        return TaskListing(spec, n, [], groups_of.get(spec.name, []))

    rows: list[TaskListing] = []
    for name, spec in sorted(registry.items()):
        if spec.is_group:
            rows.append(TaskListing(spec, f"{len(spec.subtasks)} subtasks", list(spec.subtasks), []))
            if name in expanded:  # members right below their group, in the group's order
                rows += [task_row(registry[sub]) for sub in spec.subtasks]
        elif name not in groups_of:
            rows.append(task_row(spec))
    return rows
