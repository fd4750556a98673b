"""The docs site: generated reference sections, navigation and links."""

from __future__ import annotations

import re

import yaml

from mosseval.docgen import expand_markers, generate
from mosseval.errors import ExitCode
from tests.support.cli import REPO


def test_exit_code_reference_documents_every_code():
    text = generate("exit-codes")
    for code in ExitCode:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{int(code)}` |"))
        meaning = row.rstrip(" |").split(" | ")[-1]
        assert code.name in row and len(meaning) > 10, f"ExitCode.{code.name} has no documentation"


def test_cli_reference_lists_every_command_and_option():
    import typer.main

    from mosseval.cli import app

    text = generate("cli")
    root = typer.main.get_command(app)
    for name, cmd in root.commands.items():
        assert f"`mosseval {name}" in text
        for param in getattr(cmd, "params", []):
            for opt in getattr(param, "opts", []):
                if opt.startswith("--"):
                    assert opt in text, f"{name} {opt} missing from the CLI reference"


def test_schema_tables_follow_nested_records():
    text = generate("schema", "mosseval.records.RunLog")
    for model in ("RunLog", "RunSpec", "TaskResult", "Estimate", "TaskSpec", "FrameSpec"):
        assert f"#### `{model}`" in text
    assert "| `status` |" in text and "'completed'" in text


def test_markers_are_replaced_and_unknown_markers_fail():
    page = "# t\n\n<!-- mosseval:generate tasks -->\n"
    out = expand_markers(page)
    assert "mosseval:generate" not in out and "`moss-video-mini`" in out
    try:
        expand_markers("<!-- mosseval:generate nope -->")
    except ValueError as exc:
        assert "nope" in str(exc)
    else:
        raise AssertionError("unknown generator accepted")


def _nav_pages(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [p for item in node for p in _nav_pages(item)]
    if isinstance(node, dict):
        return [p for v in node.values() for p in _nav_pages(v)]
    return []


def test_every_docs_page_is_in_the_nav_and_exists():
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    nav = set(_nav_pages(config["nav"]))
    pages = {p.relative_to(REPO / "docs").as_posix() for p in (REPO / "docs").rglob("*.md")}
    assert pages - nav == set(), "pages missing from mkdocs.yml nav"
    assert nav - pages == set(), "nav entries without a page"


def test_readme_is_short_and_its_links_resolve():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        assert (REPO / target).exists(), f"README links to missing {target}"
