"""Baselines that calibrate every metric and need no torch.

- ``random``: picks an option uniformly at random (seeded per sample, so resumed and sharded runs
  give identical answers) and writes one step per option in random order, i.e. reasoning that is
  unrelated to the video's timeline.
- ``oracle``: answers with the gold option and the reference steps verbatim: the ceiling of
  accuracy and of the PRR.

Both answer in the format the task expects: ``<think>…</think><answer>X</answer>`` for reasoning
tasks, the continuation of an official prefill such as MVBench's ``Best option:(``.
"""

from __future__ import annotations

import hashlib
import random as _random
from typing import Any

from mosseval.models.base import ModelAdapter, Request, Response
from mosseval.models.registry import ModelSpec, register_backend


def sample_rng(seed: int, *parts: str) -> _random.Random:
    digest = hashlib.sha256("\x1f".join([str(seed), *parts]).encode()).digest()
    return _random.Random(int.from_bytes(digest[:8], "big"))


def _format(req: Request, letter: str | None, answer_text: str, steps: list[str]) -> str:
    prefill = req.prefill or ""
    if prefill.rstrip().endswith("("):  # official MVBench-style prefill: continue the option label
        return f"{letter}) {req.sample.options.get(letter, '')}" if letter else answer_text
    think = "\n".join(steps)
    return f"<think>\n{think}\n</think>\n<answer>{answer_text}</answer>"


class Baseline(ModelAdapter):
    backend = "baseline"
    needs_frames = True  # frames are still decoded: one pipeline for all models, media errors surface
    batch_size = 16

    def __init__(self, kind: str, seed: int = 0):
        self.kind = kind
        self.name = kind
        self.seed = seed

    def identity(self) -> dict[str, Any]:
        return {"name": self.kind, "backend": self.backend, "seed": self.seed}

    def generate(self, requests: list[Request]) -> list[Response]:
        return [Response(text=self._one(r)) for r in requests]

    def _one(self, req: Request) -> str:
        s = req.sample
        if self.kind == "oracle":
            steps = [step.text for step in s.reference_steps]
            if s.question_type == "open-ended" or not s.options:
                return _format(req, None, s.answer, steps)
            return _format(req, s.answer, s.answer, steps)
        rng = sample_rng(req.seed + self.seed, req.task.name, s.id)
        if not s.options:
            words = s.question.split()
            return _format(req, None, rng.choice(words) if words else "", [])
        letters = list(s.options)
        letter = rng.choice(letters)
        order = letters[:]
        rng.shuffle(order)
        steps = [f"Option {x} says {s.options[x]}." for x in order]
        return _format(req, letter, letter, steps)


@register_backend("baseline")
def load(spec: ModelSpec) -> ModelAdapter:
    unknown = set(spec.args) - {"seed", "batch_size"}
    if unknown:
        from mosseval.errors import UsageError

        raise UsageError(f"--model-args {sorted(unknown)} are not understood by the {spec.target!r} baseline",
                         hint="baselines accept seed=N and batch_size=N")
    model = Baseline(spec.target, seed=int(spec.args.get("seed", 0)))
    model.batch_size = int(spec.args.get("batch_size", model.batch_size))
    return model
