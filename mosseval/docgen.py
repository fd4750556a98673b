"""Reference documentation generated from the code, so it cannot drift from it.

The docs site (``mkdocs.yml``) replaces markers such as ``<!-- mosseval:generate cli -->`` in its
pages with the output of :func:`generate`:

- ``cli``: every command and sub-command of the Typer app, its usage line and options by help panel;
- ``exit-codes``: the :class:`mosseval.errors.ExitCode` enum with each member's documentation;
- ``schema DOTTED.NAME``: the fields of a pydantic record (type, default, description), with the
  records it nests;
- ``tasks``: the built-in task registry;
- ``families`` / ``recipes`` / ``published``: the supported video model families, their frame recipes
  and the published-number manifest.

``python -m mosseval.docgen cli`` prints one section (handy for checking a change).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
import typing
from typing import Any

MARKER = re.compile(r"<!--\s*mosseval:generate\s+([a-z-]+)(?:\s+([\w.]+))?\s*-->")


def expand_markers(markdown: str) -> str:
    """Replace every generation marker in a page with its generated Markdown."""
    return MARKER.sub(lambda m: generate(m.group(1), m.group(2)), markdown)


def generate(kind: str, arg: str | None = None) -> str:
    if kind == "cli":
        return cli_reference()
    if kind == "exit-codes":
        return exit_codes()
    if kind == "schema":
        if not arg:
            raise ValueError("schema marker needs a dotted record name")
        return schema(arg)
    if kind == "tasks":
        return tasks_table()
    if kind in ("families", "recipes", "published"):
        return {"families": families_table, "recipes": recipes_table, "published": published_table}[kind]()
    raise ValueError(f"unknown docs generator {kind!r}")


# --------------------------------------------------------------------------- helpers


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


# --------------------------------------------------------------------------- CLI


def cli_reference() -> str:
    import typer.main

    from mosseval.cli import app

    root = typer.main.get_command(app)
    ctx = root.make_context("mosseval", [], resilient_parsing=True)
    parts: list[str] = []
    _command_section(root, ctx, "mosseval", parts, level=2)
    return "\n\n".join(parts) + "\n"


def _command_section(cmd: Any, ctx: Any, path: str, parts: list[str], level: int) -> None:
    commands = getattr(cmd, "commands", None) or {}
    if path != "mosseval" or not commands:
        usage = " ".join([path, *cmd.collect_usage_pieces(ctx)])
        text = inspect.cleandoc(cmd.help or "").replace("\b\n", "")
        parts.append(f"{'#' * level} `{path}`\n\n{text}\n\n```text\n{usage}\n```")
        panels: dict[str, list[list[str]]] = {}
        for param in cmd.params:
            record = param.get_help_record(ctx)
            if record is None:  # hidden
                continue
            names, help_text = record
            if getattr(param, "param_type_name", "") == "argument":
                names = param.human_readable_name if hasattr(param, "human_readable_name") else names
                panel = "Arguments"
            else:
                panel = getattr(param, "rich_help_panel", None) or "Options"
            panels.setdefault(panel, []).append([f"`{names}`", help_text])
        for panel, rows in panels.items():
            parts.append(f"**{panel}**\n\n" + _table(["option", "description"], rows))
    for name in sorted(commands) if path != "mosseval" else list(commands):
        sub = commands[name]
        if getattr(sub, "hidden", False):
            continue
        sub_ctx = sub.make_context(name, [], parent=ctx, resilient_parsing=True)
        _command_section(sub, sub_ctx, f"{path} {name}", parts, level + (0 if path == "mosseval" else 1))


# --------------------------------------------------------------------------- exit codes


def _attribute_docs(cls: type) -> dict[str, str]:
    """Docstrings written under class attributes (``NAME = value`` then a string literal)."""
    try:
        tree = ast.parse(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for prev, node in zip(body, body[1:]):
        target = None
        if isinstance(prev, ast.Assign) and len(prev.targets) == 1 and isinstance(prev.targets[0], ast.Name):
            target = prev.targets[0].id
        elif isinstance(prev, ast.AnnAssign) and isinstance(prev.target, ast.Name):
            target = prev.target.id
        if target and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
                and isinstance(node.value.value, str):
            docs[target] = inspect.cleandoc(node.value.value)
    return docs


def exit_codes() -> str:
    from mosseval.errors import ExitCode

    docs = _attribute_docs(ExitCode)
    rows = [[f"`{int(code)}`", code.name, docs.get(code.name, "")] for code in ExitCode]
    return _table(["code", "name", "meaning"], rows) + "\n"


# --------------------------------------------------------------------------- schemas


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", typing.Union)):
        return " | ".join(_type_name(a) for a in args)
    if origin is not None:
        inner = ", ".join(_type_name(a) for a in args) if args else ""
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{inner}]" if inner else name
    if tp is type(None):
        return "None"
    return getattr(tp, "__name__", str(tp))


def _nested_models(tp: Any) -> list[type]:
    from pydantic import BaseModel

    found: list[type] = []
    if inspect.isclass(tp) and issubclass(tp, BaseModel):
        found.append(tp)
    for a in typing.get_args(tp):
        found += _nested_models(a)
    return found


def schema(dotted: str) -> str:
    module, _, name = dotted.rpartition(".")
    root = getattr(importlib.import_module(module), name)
    seen: list[type] = []
    queue = [root]
    sections: list[str] = []
    while queue:
        model = queue.pop(0)
        if model in seen:
            continue
        seen.append(model)
        docs = _attribute_docs(model)
        rows = []
        for fname, field in model.model_fields.items():
            if field.exclude:
                continue
            default = "required" if field.is_required() else (
                "factory" if field.default_factory is not None else repr(field.default))
            desc = field.description or docs.get(fname, "")
            rows.append([f"`{fname}`", f"`{_type_name(field.annotation)}`", f"`{default}`", desc])
            queue += [m for m in _nested_models(field.annotation) if m not in seen]
        doc = inspect.cleandoc(model.__doc__ or "").split("\n\n")[0]
        sections.append(f"#### `{model.__name__}`\n\n{doc}\n\n" + _table(["field", "type", "default", "description"],
                                                                         rows))
    return "\n\n".join(sections) + "\n"


# --------------------------------------------------------------------------- tasks


def tasks_table() -> str:
    from mosseval.tasks import load_registry

    rows = []
    for name, spec in sorted(load_registry([]).items()):
        if spec.is_group:
            rows.append([f"`{name}`", spec.version, "group", f"{len(spec.subtasks)} subtasks", spec.description])
            continue
        rows.append([f"`{name}`", spec.version, spec.protocol, spec.frames.describe(), spec.description])
    return _table(["task", "version", "protocol", "frames", "description"], rows) + "\n"


# --------------------------------------------------------------------------- model families


def families_table() -> str:
    from mosseval.models.families import FAMILIES
    from mosseval.models.registry import PRESETS

    rows = []
    for fam in FAMILIES.values():
        presets = ", ".join(f"`{p.name}`" for p in PRESETS.values() if p.family == fam.name) or "–"
        needs = ", ".join(pip for _, pip in fam.requires)
        notes = "; ".join(x for x in (fam.notes, f"processor needs `{needs}` (in the hf extra)" if needs else "") if x)
        rows.append([fam.display, ", ".join(f"`{m}`" for m in fam.model_types), fam.frames_as,
                     f"`{fam.recipe}`" if fam.recipe else fam.recipe_label, presets, notes or "–"])
    return _table(["family", "model type", "frames go in as", "video recipe", "presets", "notes"], rows) + "\n"


def recipes_table() -> str:
    from mosseval.recipes import RECIPES

    rows = [[f"`{r.name}`", ", ".join(r.families), r.description, r.size_description(), r.source]
            for r in RECIPES.values()]
    return _table(["recipe", "families", "frames", "size", "primary source"], rows) + "\n"


def published_table() -> str:
    from mosseval.published import load_manifest
    from mosseval.units import fixed, pct

    man = load_manifest()
    rows = [[f"`{s.preset}`", f"`{s.task}`", s.metric, f"`{s.recipe}`", pct(s.published),
             fixed(100 * s.tolerance), s.source, s.setting or "–"] for s in man.scores]
    return (f"Manifest version `{man.version}`.\n\n"
            + _table(["preset", "task", "metric", "recipe", "published", "tolerance (pts)", "source", "setting"], rows)
            + "\n")


if __name__ == "__main__":  # pragma: no cover - manual check
    sys.stdout.write(generate(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
