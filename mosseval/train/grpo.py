"""GRPO for video MLLMs with the video in every forward pass (SPEC §9).

Why not TRL's ``GRPOTrainer``: its log-probability forward passes receive text only, so the
policy gradient, the importance ratio and the KL are computed for a model that never saw the video
(trl issue 5373). Here one micro-batch goes through these stages, and the *same* processor tensors
(``pixel_values_videos``, ``video_grid_thw``, ``second_per_grid_ts``, ``mm_token_type_ids`` ...)
reach every forward:

1. **Rollout** (:mod:`mosseval.train.rollout`): ``per_device_batch_size`` prompts are rendered with
   the task's prompt and decoded with the one video pipeline; the processor output is expanded to
   G rows per prompt and the rollout engine (HF ``generate`` by default, replaceable) samples G
   completions per prompt, seeded per step / micro-batch / process.
2. **Rewards** (:mod:`mosseval.train.rewards`): accuracy, format, PRR or user functions; the total
   is the weighted sum (None counts as 0).
3. **Advantages** per group: ``(r − mean_G) / (std_G + eps)`` (``scale_rewards=False`` keeps
   ``r − mean_G``).
4. **Old log-probs** (only when ``num_iterations`` > 1: with one update per generation batch the
   sampling policy *is* the current one) and **reference log-probs** from the frozen reference (a
   copy made at start, or the LoRA base with adapters disabled) when β > 0. Log-probs use the
   sampling distribution: logits / temperature, suppressed tokens masked.
5. **Loss** (:func:`mosseval.train.loss.grpo_loss`), accumulated over ``grad_accum``
   micro-batches, clipped, AdamW with warm-up + schedule; ``num_iterations`` (μ) > 1 reuses a
   generation batch for μ updates.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from mosseval.train.data import reward_columns
from mosseval.train.loss import group_advantages, grpo_loss, token_logps
from mosseval.train.rewards import RewardSet
from mosseval.train.rollout import GenerationBatch, Rollout, SamplingParams, make_engine
from mosseval.train.sequences import completion_mask, expand_inputs
from mosseval.train.trainer import COMPLETIONS_FILE, Trainer, nan_or, nanmean

__all__ = ["GRPOTrainer"]


class GRPOTrainer(Trainer):
    """Group Relative Policy Optimisation with accuracy + format + PRR rewards."""

    method = "grpo"

    def __init__(self, cfg: Any, *, console: Any = None, reward_fns: dict[str, Any] | None = None,
                 progress_bar: bool = False):
        super().__init__(cfg, console=console, progress_bar=progress_bar)
        self.extra_reward_fns = dict(reward_fns or {})
        self._last_rollout: Rollout | None = None

    @property
    def updates_per_step(self) -> int:
        return self.cfg.num_iterations

    @property
    def rows_per_prompt(self) -> int:
        return self.cfg.num_generations

    # -- setup hooks ---------------------------------------------------------------------------

    def prepare_reference(self, model: Any) -> None:
        # A frozen copy of the starting policy (not needed with LoRA: adapters off).
        self.ref_model = None
        if self.cfg.beta > 0 and not self.cfg.lora:
            self.ref_model = copy.deepcopy(model).eval()
            for p in self.ref_model.parameters():
                p.requires_grad_(False)

    def finish_setup(self) -> None:
        cfg = self.cfg
        if self.ref_model is not None:
            self.ref_model.to(self.accelerator.device)
        self.rewards = RewardSet(cfg.rewards, cfg.weights, prr_config=cfg.prr or self.data.task.scoring.prr,
                                 require_format=cfg.require_format, extra=self.extra_reward_fns)
        self.prr_config = self.rewards.prr_config
        self.engine = make_engine(cfg.rollout, self)
        self.sampling = SamplingParams(temperature=cfg.temperature, top_p=cfg.top_p, top_k=0,
                                       max_new_tokens=cfg.max_completion_length)

    def after_update(self) -> None:
        self.engine.update_weights(self.unwrapped)

    # -- rollout -------------------------------------------------------------------------------

    def generation_seed(self, step: int, micro: int) -> int:
        ss = np.random.SeedSequence([int(self.cfg.seed) & 0xFFFFFFFF, 104729, step, micro, self.rank])
        return int(ss.generate_state(1, dtype=np.uint64)[0] % (2 ** 63 - 1))

    def rollout(self, step: int, micro: int) -> Rollout:
        """Sample, score and prepare one micro-batch (no gradients)."""
        torch = self.torch
        cfg = self.cfg
        B, G = cfg.batch_size, cfg.num_generations
        prompts = self.data.batch(self.micro_batch_start(micro), B)
        inputs, _ = self.hf.prepare_inputs([p.request for p in prompts])
        inputs = expand_inputs(dict(inputs), G)
        out = self.engine.generate(GenerationBatch(prompts=prompts, inputs=inputs, num_generations=G,
                                                   sampling=self.sampling, seed=self.generation_seed(step, micro)))
        comp = out.completion_ids.to(inputs["input_ids"].device)
        if comp.dim() != 2 or comp.shape[0] != B * G:
            from mosseval.errors import UsageError

            raise UsageError(f"rollout engine {cfg.rollout!r} returned {tuple(comp.shape)} token ids for "
                             f"{B} prompts × {G} generations",
                             hint="an engine returns B×G rows, prompt-major (mosseval.train.rollout)")
        mask = completion_mask(comp, self.eos_ids)
        lengths = mask.sum(dim=1).tolist()
        prefill = prompts[0].request.prefill or ""
        texts = [prefill + self.tokenizer.decode(row[:n].tolist(), skip_special_tokens=True)
                 for row, n in zip(comp.cpu(), lengths)]

        samples = [p.sample for p in prompts]
        columns = reward_columns(samples, repeat=G)
        prompt_msgs = [p.request.messages for p in prompts for _ in range(G)]
        scores = self.rewards.score(prompt_msgs, texts, columns)
        rewards = torch.tensor(scores.totals, dtype=torch.float32, device=comp.device)
        adv = group_advantages(rewards, G, cfg.adv_eps, cfg.scale_rewards)
        prr = scores.components.get("prr")
        if prr is None:  # not optimised: still measured, for the curves and the correct/wrong split
            from mosseval.rewards import reward_components

            prr = list(reward_components(prompt_msgs, texts, components=["prr"], config=self.prr_config,
                                         require_format=cfg.require_format, **columns)["prr"])
        ro = Rollout(inputs=inputs, completion_ids=comp, completion_mask=mask, advantages=adv, rewards=rewards,
                     components=scores.components, correct=scores.correct, texts=texts,
                     sample_ids=columns["sample_id"], gen_seconds=out.seconds, prr=prr)
        with torch.no_grad():
            if cfg.num_iterations > 1:
                ro.old_logps = self.sequence_logps(self.model, ro, train_mode=False)
            if cfg.beta > 0:
                if self.ref_model is not None:
                    ro.ref_logps = self.sequence_logps(self.ref_model, ro, train_mode=False)
                else:  # LoRA: the base model is the reference
                    with self.unwrapped.disable_adapter():
                        ro.ref_logps = self.sequence_logps(self.model, ro, train_mode=False)
        return ro

    # -- forward passes --------------------------------------------------------------------------

    def sequence_logps(self, model: Any, ro: Rollout, *, train_mode: bool) -> Any:
        """Per-token log-probabilities of the completion tokens under ``model`` (video included),
        in the sampling distribution (logits / temperature, suppressed tokens excluded)."""
        target = self.accelerator.unwrap_model(model) if model is not self.ref_model else model
        was = target.training
        target.train(train_mode)
        # The policy's forward carries accelerate's autocast (--bf16); the reference copy gets the same.
        ctx = self.accelerator.autocast() if model is self.ref_model else None
        try:
            return token_logps(model, ro, temperature=self.cfg.temperature, suppress_ids=self.suppress_ids,
                               autocast=ctx)
        finally:
            target.train(was)

    def loss(self, ro: Rollout) -> tuple[Any, dict[str, float]]:
        cfg = self.cfg
        logp = self.sequence_logps(self.model, ro, train_mode=True)
        return grpo_loss(logp, ro.completion_mask, ro.advantages, old_logp=ro.old_logps, ref_logp=ro.ref_logps,
                         beta=cfg.beta, clip_eps=cfg.clip_eps, clip_eps_high=cfg.clip_eps_high)

    # -- one step ---------------------------------------------------------------------------------

    def train_step(self, step: int) -> dict[str, Any]:
        import time

        cfg, acc = self.cfg, self.accelerator
        t0 = time.perf_counter()
        rollouts = [self.rollout(step, m) for m in range(cfg.grad_accum)]
        t_roll = time.perf_counter() - t0
        stats: list[dict[str, float]] = []
        grad_norms: list[float] = []
        for _ in range(cfg.num_iterations):
            for ro in rollouts:
                with acc.accumulate(self.model):
                    loss, st = self.loss(ro)
                    norm = self.backward(loss)
                    stats.append(st)
                    if norm is not None:
                        grad_norms.append(norm)
        self._last_rollout = rollouts[0]
        return self._metrics(rollouts, stats, grad_norms, t_roll)

    def _metrics(self, rollouts: list[Rollout], stats: list[dict[str, float]], grad_norms: list[float],
                 t_roll: float) -> dict[str, Any]:
        """Gather per-completion values from every process; the main process summarises."""
        torch = self.torch
        acc, cfg = self.accelerator, self.cfg
        names = list(self.rewards.names)
        rows = []
        group_std = []
        for ro in rollouts:
            lengths = ro.completion_mask.sum(dim=1).tolist()
            L = ro.completion_ids.shape[1]
            last = ro.completion_ids[:, -1].tolist()
            for i in range(len(ro.texts)):
                trunc = 1.0 if (lengths[i] == L and last[i] not in self.eos_ids) else 0.0
                row = [float(ro.rewards[i]), nan_or(ro.correct[i]), float(lengths[i]), trunc, nan_or(ro.prr[i])]
                row += [nan_or(ro.components[n][i]) for n in names]
                rows.append(row)
            group_std += ro.rewards.view(-1, cfg.num_generations).std(dim=1).tolist()
        local = torch.tensor(rows, dtype=torch.float64, device=acc.device)
        mean = lambda key: float(np.mean([s[key] for s in stats])) if stats and key in stats[0] else None  # noqa: E731
        scal = torch.tensor([[mean("loss") or 0.0, mean("kl") or 0.0, mean("clip_fraction") or 0.0,
                              float(np.mean(grad_norms)) if grad_norms else float("nan"), t_roll,
                              sum(r.gen_seconds for r in rollouts),
                              float(np.mean([s == 0 for s in group_std]))]],
                            dtype=torch.float64, device=acc.device)
        allrows = acc.gather(local).cpu().numpy()
        allscal = acc.gather(scal).cpu().numpy().reshape(-1, scal.shape[1])
        if not self.is_main:
            return {}
        reward, correct, length, trunc = allrows[:, 0], allrows[:, 1], allrows[:, 2], allrows[:, 3]
        rec: dict[str, Any] = {
            "loss": float(np.mean(allscal[:, 0])),
            "reward": float(np.mean(reward)),
            "reward_std": float(np.std(reward)),
        }
        for j, n in enumerate(names):
            rec[f"reward/{n}"] = nanmean(allrows[:, 5 + j])
        rec["accuracy"] = nanmean(correct)
        prr_col = allrows[:, 4]
        ok, bad = correct == 1.0, correct == 0.0
        # PRR on correct vs wrong answers (the paper's hacking guard), also when PRR is not optimised
        rec["prr_correct"] = nanmean(prr_col[ok]) if ok.any() else None
        rec["prr_incorrect"] = nanmean(prr_col[bad]) if bad.any() else None
        rec["prr"] = nanmean(prr_col)
        if cfg.beta > 0:
            rec["kl"] = float(np.mean(allscal[:, 1]))
        rec.update({
            "completion_length": float(np.mean(length)),
            "completion_length_max": float(np.max(length)),
            "truncated_fraction": float(np.mean(trunc)),
            "clip_fraction": float(np.mean(allscal[:, 2])),
            "grad_norm": nanmean(allscal[:, 3]),
            "zero_std_groups": float(np.mean(allscal[:, 6])),
            "rollout_time_s": float(np.max(allscal[:, 4])),
            "generate_time_s": float(np.max(allscal[:, 5])),
            "completions": int(len(reward)),
        })
        return rec

    def log_samples(self, step: int) -> None:
        ro, n = self._last_rollout, self.cfg.log_completions
        if ro is None or not n:
            return
        from mosseval.fileio import JsonlAppender

        with JsonlAppender(self.output_dir / COMPLETIONS_FILE) as out:
            for i in range(min(n, len(ro.texts))):
                out.write_json({
                    "step": step, "sample_id": ro.sample_ids[i], "text": ro.texts[i],
                    "reward": float(ro.rewards[i]), "advantage": float(ro.advantages[i]),
                    **{f"reward/{k}": v[i] for k, v in ro.components.items()},
                })

    def progress_info(self, rec: dict[str, Any]) -> str:
        parts = [f"loss {rec['loss']:+.4f}", f"reward {rec['reward']:.3f}"]
        for k, v in rec.items():
            if k.startswith("reward/") and v is not None:
                parts.append(f"{k[7:]} {v:.3f}")
        if rec.get("kl") is not None:
            parts.append(f"kl {rec['kl']:.4f}")
        if rec.get("prr_correct") is not None or rec.get("prr_incorrect") is not None:
            f = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
            parts.append(f"prr ✓{f(rec.get('prr_correct'))} ✗{f(rec.get('prr_incorrect'))}")
        parts.append(f"len {rec['completion_length']:.0f}")
        parts.append(f"{rec['step_time_s']:.2f}s/step")
        return " · ".join(parts)
