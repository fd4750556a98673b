"""``mosseval train``: GRPO with accuracy, format and PRR rewards, and SFT on reference traces;
the video in every forward pass.

Importing this package is cheap (no torch); the heavy parts load inside the functions:

* :func:`load_config` / :class:`TrainConfig` -- the typed configuration (YAML + overrides);
* :func:`train` -- run the configured method: :class:`GRPOTrainer` (``mosseval.train.grpo``) or
  :class:`SFTTrainer` (``mosseval.train.sft``), both built on ``mosseval.train.trainer.Trainer``;
  rollouts (``mosseval.train.rollout``, a replaceable generation engine), losses
  (``mosseval.train.loss``) and rewards (``mosseval.train.rewards``) are their own modules;
* :func:`export_verl` -- verl parquet + reward module (``mosseval.train.export_verl``);
* :func:`write_report` -- the HTML training report.
"""

from __future__ import annotations

from typing import Any

from mosseval.train.config import GPURequiredError, TrainConfig, load_config, parse_data

__all__ = ["TrainConfig", "GPURequiredError", "load_config", "parse_data", "train", "make_trainer", "GRPOTrainer",
           "SFTTrainer", "export_verl", "write_report"]


def make_trainer(cfg: TrainConfig, **kwargs: Any):
    """The trainer of ``cfg.method`` (not set up yet)."""
    if cfg.method == "sft":
        from mosseval.train.sft import SFTTrainer

        kwargs.pop("reward_fns", None)
        return SFTTrainer(cfg, **kwargs)
    from mosseval.train.grpo import GRPOTrainer

    return GRPOTrainer(cfg, **kwargs)


def train(cfg: TrainConfig, **kwargs: Any):
    """Run the configured method; returns a ``TrainResult`` on every process (metrics on the main one)."""
    return make_trainer(cfg, **kwargs).train()


def export_verl(cfg: TrainConfig, out_dir: Any, **kwargs: Any):
    from mosseval.train.export_verl import export_verl as _export

    return _export(cfg, out_dir, **kwargs)


def write_report(output_dir: Any, path: Any = None):
    from mosseval.train.report import write_report as _write

    return _write(output_dir, path)


def __getattr__(name: str) -> Any:
    if name == "GRPOTrainer":
        from mosseval.train.grpo import GRPOTrainer

        return GRPOTrainer
    if name == "SFTTrainer":
        from mosseval.train.sft import SFTTrainer

        return SFTTrainer
    raise AttributeError(name)
