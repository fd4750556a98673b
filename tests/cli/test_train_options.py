"""``mosseval train``'s options are TrainConfig's fields, stored so that starting the CLI does not import the
training config."""

from __future__ import annotations

import subprocess
import sys

from mosseval.cli import _train_options
from mosseval.cli.train import option_rows, options_module
from tests.support.cli import REPO


def test_the_stored_options_are_the_configs():
    """A field added to, changed in or removed from TrainConfig fails here until
    ``python scripts/train_options.py`` regenerates ``mosseval/cli/_train_options.py``."""
    rows = option_rows()
    assert _train_options.OPTIONS == rows, "run: python scripts/train_options.py"
    assert (REPO / "mosseval" / "cli" / "_train_options.py").read_text(encoding="utf-8") == options_module(rows)
    from mosseval.train.config import TrainConfig

    assert [row[0] for row in rows] == list(TrainConfig.model_fields)
    assert {row[2] for row in rows} <= {"bool", "int", "float", "str", "path", "paths"}


def test_starting_the_cli_imports_no_training_code():
    """``mosseval --version`` and ``--help`` build every command's options without importing the training
    config (its pydantic models took ~0.1 s of each start) or the records."""
    code = ("import sys\n"
            "from mosseval.cli import app\n"
            "from typer.main import get_command\n"
            "cmd = get_command(app)\n"
            "assert 'train' in cmd.commands and any(p.name == 'num_generations' for p in cmd.commands['train'].params)\n"
            "print(sorted(m for m in sys.modules if m.startswith('mosseval.train') or m == 'mosseval.records'))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"
