"""Help screens and shared options: one declaration per shared option, plain metavars, -h everywhere."""

from __future__ import annotations

import re

import pytest
import typer

from mosseval.cli import app, run_cli

COMMANDS = [["run"], ["score"], ["errors"], ["tasks"], ["models"], ["models", "build-tiny"], ["data", "synth"],
            ["data", "check"], ["data", "build-moss-video"], ["judge"], ["leaderboard"], ["compare"], ["train"],
            ["demo"], []]


@pytest.mark.parametrize("cmd", COMMANDS, ids=[" ".join(c) or "mosseval" for c in COMMANDS])
def test_help_shows_no_python_type_names(cmd, capsys):
    assert run_cli([*cmd, "-h"]) == 0
    out = capsys.readouterr().out
    assert "Usage: mosseval" in out
    assert not re.search(r"<(list\[|str|int|float|bool|path|Path)[^>]*>", out), out


def test_help_paragraphs_are_not_broken_mid_sentence(capsys, monkeypatch):
    """Docstrings are wrapped at 110 columns in the code; on an 80-column terminal the help used to
    break each of those lines again ("... 3 sample errors ·" / "4 output not writable ...")."""
    monkeypatch.setenv("COLUMNS", "80")
    assert run_cli(["run", "-h"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "130 interrupted (the same command resumes), 2 bad input" in text
    root = typer.main.get_command(app)

    def walk(cmd, path):
        for para in (cmd.help or "").split("\n\n"):
            assert "\n" not in para or para.startswith("\b"), (path, para)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, f"{path} {name}")
    walk(root, "mosseval")


def _declared_options() -> dict[str, list[tuple[str, str]]]:
    """option name -> [(command, help text)] over every command."""
    seen: dict[str, list[tuple[str, str]]] = {}
    root = typer.main.get_command(app)

    def walk(cmd, path):
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])
        for p in cmd.params:
            for opt in getattr(p, "opts", []):
                if opt.startswith("--"):
                    seen.setdefault(opt, []).append((" ".join(path), p.help or ""))
    walk(root, [])
    return seen


@pytest.mark.parametrize("option,commands", [
    ("--data-dir", None), ("--quiet", None), ("--cache-dir", None), ("--tasks-dir", None), ("--wait", None),
    # options whose name other commands use in another sense (a bootstrap seed, N videos, the board's path)
    ("--limit", {"run", "demo", "data check"}), ("--seed", {"run", "demo", "data check", "data synth"}),
    ("--json", {"judge", "compare", "data check"}),
])
def test_shared_options_have_one_help_text(option, commands):
    uses = [(c, h) for c, h in _declared_options()[option]
            if c != "train" and (commands is None or c in commands)]  # train maps its own config keys
    assert len(uses) >= 2 and (commands is None or {c for c, _ in uses} == commands), uses
    assert len({h for _, h in uses}) == 1, uses


def test_writers_accept_wait():
    uses = {c for c, _ in _declared_options()["--wait"]}
    assert {"run", "score", "judge"} <= uses


def test_tasks_groups_collapsed_and_expandable(capsys):
    assert run_cli(["tasks", "--no-counts"]) == 0
    out = capsys.readouterr().out
    assert "mvbench" in out and "mvbench_action_antonym" not in out and "--expand" in out
    assert run_cli(["tasks", "--no-counts", "--expand", "mvbench"]) == 0
    out = capsys.readouterr().out
    names = [line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")]
    assert "mvbench_counterfactual_inference" in names  # full, copyable names (never cut)
    assert "mvbench-reasoning_counterfactual_inference" not in names
    assert run_cli(["tasks", "--no-counts", "--expand", "all"]) == 0
    assert "mvbench-reasoning_counterfactual_inference" in capsys.readouterr().out


def test_version(capsys):
    from mosseval import __version__

    assert run_cli(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"mosseval {__version__}"


def test_the_installed_typer_is_in_the_tested_range_and_its_errors_are_caught():
    """main() relies on the parser's exception classes (typer >= 0.2x raises its bundled
    typer._click ones, older typer click's): the installed typer must be inside the range pyproject
    pins, and what it raises for a usage error must be among the classes main() catches."""
    from importlib.metadata import version

    import tomllib

    from mosseval.cli import _parser_exception_types
    from tests.support.cli import REPO

    Requirement = pytest.importorskip("packaging.requirements").Requirement
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = next(Requirement(d).specifier for d in deps if Requirement(d).name == "typer")
    assert spec and version("typer") in spec, (version("typer"), str(spec))
    kinds, found = _parser_exception_types()
    assert found
    for argv in (["--bogus"], ["run", "--limit", "abc", "-m", "oracle"], ["models", "build-tiny"]):
        with pytest.raises(Exception) as info:
            app(args=argv, standalone_mode=False, prog_name="mosseval")
        assert isinstance(info.value, kinds["usage"]), (argv, type(info.value).__mro__)
