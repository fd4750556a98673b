"""Supervised fine-tuning on reference traces: the cold start before GRPO (Video-R1's recipe shape).

Each training sample becomes one target in the task's output format,

    <think>
    step 1
    step 2
    …
    </think>
    <answer>B</answer>

followed by the end-of-turn token; the loss is the mean negative log-likelihood of the target
tokens (``sft_answer_weight`` weighs the answer's tokens up), the prompt (with the video, decoded by the one frame pipeline and passed as the same
processor tensors as in evaluation) is context only. ``sft_trace`` chooses how much of the
reference trace the target carries (``full``, ``observed``: without the final "what comes next"
step, ``none``: an empty ``<think>``); any MOSS-Video-format data works. Checkpoints are the same
Hugging Face folders as GRPO's, so ``mosseval run --model DIR`` evaluates them and ``mosseval train
--method grpo --model DIR`` continues from them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mosseval.errors import UsageError
from mosseval.train.loss import sft_loss, token_logps
from mosseval.train.sequences import Sequences, pad_completions
from mosseval.train.trainer import Trainer

__all__ = ["SFTTrainer", "render_target"]


def render_target(sample: Any, trace: str = "full") -> str:
    """The supervised completion for ``sample``: its reference steps (one per line) and gold answer."""
    steps = [r.text.strip() for r in sample.reference_steps if r.text.strip()]
    if trace == "observed" and len(steps) > 1:
        steps = steps[:-1]
    elif trace == "none":
        steps = []
    answer = str(sample.answer or "").strip()
    think = "\n".join(steps)
    return f"<think>\n{think}\n</think>\n<answer>{answer}</answer>" if think else f"<think>\n</think>\n<answer>{answer}</answer>"


class SFTTrainer(Trainer):
    """Teacher forcing on rendered reference traces, the video in every forward."""

    method = "sft"

    def finish_setup(self) -> None:
        task = self.data.task
        if task.prompt is not None and task.prompt.prefill:
            raise UsageError(f"task {task.name!r} pre-fills the answer ({task.prompt.prefill!r}); SFT targets are "
                             "rendered in the <think>…</think><answer>…</answer> format",
                             hint="train on a task with the reasoning protocol (e.g. moss-video-mini:train)")
        missing = [s.id for s in self.data.samples if not s.answer]
        if missing:
            raise UsageError(f"{len(missing)} training sample(s) of {task.name!r} have no gold answer "
                             f"(first: {missing[0]})", hint="SFT needs the answer of every sample")
        if self.cfg.sft_answer_weight != 1.0 and not getattr(self.tokenizer, "is_fast", False):
            raise UsageError(f"--sft-answer-weight needs a fast tokenizer (with character offsets); "
                             f"{self.cfg.model!r} has {type(self.tokenizer).__name__}",
                             hint="drop --sft-answer-weight, or use the model's fast tokenizer")
        self.truncated = 0

    def targets(self, prompts: list[Any]) -> tuple[list[list[int]], list[list[int]]]:
        """Token ids of each target (end-of-turn appended) and 1 where a token holds the answer."""
        limit = self.cfg.max_completion_length
        rows, answers = [], []
        for p in prompts:
            text = render_target(p.sample, self.cfg.sft_trace)
            ids, flags = self._answer_flags(text)
            ids, flags = ids + [self.eos_id], flags + [0]
            if len(ids) > limit:
                self.truncated += 1
                ids, flags = ids[:limit], flags[:limit]
            rows.append(ids)
            answers.append(flags)
        return rows, answers

    def _answer_flags(self, text: str) -> tuple[list[int], list[int]]:
        """Token ids of ``text`` and 1 on the tokens that overlap the answer (the tokenizer may merge the letter
        with the tag, ``>B``), located by character offsets. A tokenizer without offsets (a slow one) flags
        nothing (``answer_nll`` is then NaN), which is refused when ``sft_answer_weight`` needs the flags."""
        if not getattr(self.tokenizer, "is_fast", False):
            ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
            return ids, [0] * len(ids)
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        start = text.rindex("<answer>") + len("<answer>")
        end = text.rindex("</answer>")
        return list(enc["input_ids"]), [int(a < end and b > start) for a, b in enc["offset_mapping"]]

    def batch(self, micro: int) -> Sequences:
        prompts = self.data.batch(self.micro_batch_start(micro), self.cfg.batch_size)
        inputs, _ = self.hf.prepare_inputs([p.request for p in prompts])
        rows, answers = self.targets(prompts)
        comp, mask = pad_completions(rows, self.pad_id, inputs["input_ids"].device)
        answer, _ = pad_completions(answers, 0, inputs["input_ids"].device)
        return Sequences(inputs=dict(inputs), completion_ids=comp, completion_mask=mask, answer_mask=answer)

    def train_step(self, step: int) -> dict[str, Any]:
        acc = self.accelerator
        stats: list[dict[str, float]] = []
        norms: list[float] = []
        self.truncated = 0  # per step: a resumed run logs the same numbers as an uninterrupted one
        was = self.unwrapped.training
        self.unwrapped.train(True)
        try:
            for micro in range(self.cfg.grad_accum):
                seqs = self.batch(micro)
                with acc.accumulate(self.model):
                    logp = token_logps(self.model, seqs, suppress_ids=self.suppress_ids)
                    loss, st = sft_loss(logp, seqs.completion_mask, answer_mask=seqs.answer_mask,
                                        answer_weight=self.cfg.sft_answer_weight)
                    norm = self.backward(loss)
                    stats.append(st)
                    if norm is not None:
                        norms.append(norm)
        finally:
            self.unwrapped.train(was)
        local = [float(np.mean([s["loss"] for s in stats])), float(np.mean([s["token_prob"] for s in stats])),
                 float(np.mean([s["answer_nll"] for s in stats])),
                 float(sum(s["tokens"] for s in stats)), float(np.mean(norms)) if norms else float("nan"),
                 float(self.truncated)]
        loss, token_prob, answer_nll, tokens, grad_norm, truncated = self.gather_mean(local)
        if not self.is_main:
            return {}
        return {"loss": loss, "token_prob": token_prob, "answer_nll": answer_nll, "target_tokens": tokens * self.world,
                "grad_norm": None if np.isnan(grad_norm) else grad_norm,
                "truncated_targets": int(round(truncated * self.world))}

    def progress_info(self, rec: dict[str, Any]) -> str:
        return (f"loss {rec['loss']:.4f} · token p {rec['token_prob']:.3f} · answer nll {rec['answer_nll']:.3f} · "
                f"{rec['step_time_s']:.2f}s/step")
