"""`mosseval demo`: the library function behind the README's first command."""

from __future__ import annotations

import json
from pathlib import Path

from mosseval.errors import ExitCode
from tests.support.cli import main_inprocess


def test_demo_ends_with_a_summary_table_and_the_absolute_path_of_the_page(cli, tmp_path):
    p = cli("demo", "--models", "oracle,random", "--limit", "12", "-o", str(tmp_path / "runs"),
            "--report", str(tmp_path / "out" / "lb.html"), "-q")
    assert p.returncode == 0, p.stderr
    page = tmp_path / "out" / "lb.html"
    assert p.stdout.strip().splitlines()[-1] == str(page.resolve())
    assert page.is_file() and (tmp_path / "out" / "lb.json").is_file()
    board = json.loads((tmp_path / "out" / "lb.json").read_text())
    assert len(board["runs"]) == 2
    err = " ".join(p.stderr.split())
    assert "mosseval demo" in err and "oracle" in err and "random" in err
    assert "100.0 [" in err  # the oracle's accuracy in percent with its CI
    assert f"file://{page.resolve()}" in err and "xdg-open" in err


def test_demo_from_a_relative_path_prints_an_absolute_one(cli, tmp_path):
    p = cli("demo", "--models", "random", "--limit", "4", "-o", "runs", "--report", "rel/lb.html", "-q", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    printed = Path(p.stdout.strip().splitlines()[-1])
    assert printed.is_absolute() and printed == (tmp_path / "rel" / "lb.html") and printed.is_file()


def test_demo_bad_options_are_one_line_usage_errors(tmp_path, capsys):
    code, _, err = main_inprocess("demo", "--models", "random", "--model-limit", "oracle=3", "-o", str(tmp_path),
                                  capsys=capsys)
    assert code == ExitCode.USAGE and "--model-limit names model(s) not in --models: oracle" in err
    code, _, err = main_inprocess("demo", "--models", "random", "--model-limit", "random=x", "-o", str(tmp_path),
                                  capsys=capsys)
    assert code == ExitCode.USAGE and "is not MODEL=N" in err
    assert "Traceback" not in err
