"""``mosseval train``: GRPO with accuracy, format and PRR rewards, the video in every forward pass.

Importing this package is cheap (no torch); the heavy parts load inside the functions:

* :func:`load_config` / :class:`TrainConfig` -- the typed configuration (YAML + overrides);
* :func:`train` / :class:`GRPOTrainer` -- the loop (``mosseval.train.loop``);
* :func:`export_verl` -- verl parquet + reward module (``mosseval.train.export_verl``);
* :func:`write_report` -- the HTML training report.
"""

from __future__ import annotations

from typing import Any

from mosseval.train.config import GPURequiredError, TrainConfig, load_config, parse_data

__all__ = ["TrainConfig", "GPURequiredError", "load_config", "parse_data", "train", "GRPOTrainer",
           "export_verl", "write_report"]


def train(cfg: TrainConfig, **kwargs: Any):
    from mosseval.train.loop import train as _train

    return _train(cfg, **kwargs)


def export_verl(cfg: TrainConfig, out_dir: Any, **kwargs: Any):
    from mosseval.train.export_verl import export_verl as _export

    return _export(cfg, out_dir, **kwargs)


def write_report(output_dir: Any, path: Any = None):
    from mosseval.train.report import write_report as _write

    return _write(output_dir, path)


def __getattr__(name: str) -> Any:
    if name == "GRPOTrainer":
        from mosseval.train.loop import GRPOTrainer

        return GRPOTrainer
    raise AttributeError(name)
