"""Regenerate ``mosseval/cli/_train_options.py`` (the options of ``mosseval train``) from ``TrainConfig``.

    python scripts/train_options.py

Run it after changing ``mosseval.train.config.TrainConfig`` (a field, its type, default or docstring):
``tests/cli/test_train_options.py`` fails until the stored options are the config's.
"""

from __future__ import annotations

from pathlib import Path

from mosseval.cli.train import option_rows, options_module

TARGET = Path(__file__).resolve().parents[1] / "mosseval" / "cli" / "_train_options.py"

if __name__ == "__main__":
    TARGET.write_text(options_module(option_rows()), encoding="utf-8")
    print(f"wrote {TARGET}")
