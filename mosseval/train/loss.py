"""Losses and their ingredients: per-token log-probabilities with the video, GRPO, SFT.

* :func:`token_logps` -- log-probabilities of the completion tokens of :class:`Sequences` under a
  model, in the sampling distribution (logits / temperature, suppressed tokens excluded), one
  forward pass with the prompt's video tensors;
* :func:`group_advantages` -- ``(r − mean_G) / (std_G + eps)`` within each group of G;
* :func:`k3_kl` -- Schulman's k3 estimator of KL(π‖π_ref) per token;
* :func:`grpo_loss` -- ``−min(ρ·A, clip(ρ, 1−ε, 1+ε_high)·A) + β·KL_k3`` per token, averaged over
  the completion tokens of the micro-batch (DAPO's token-level mean);
* :func:`sft_loss` -- the (answer-weighted) mean negative log-likelihood of the target tokens.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from mosseval.train.sequences import Sequences

__all__ = ["token_logps", "group_advantages", "k3_kl", "grpo_loss", "sft_loss"]


def token_logps(model: Any, seqs: Sequences, *, temperature: float = 1.0, suppress_ids: list[int] | None = None,
                autocast: AbstractContextManager | None = None) -> Any:
    """Per-token log-probabilities ``[rows, completion_length]`` of ``seqs.completion_ids``."""
    import torch

    kw = seqs.forward_kwargs()
    length = seqs.completion_ids.shape[1]
    with autocast or nullcontext():
        out = model(**kw, use_cache=False, logits_to_keep=length + 1)
    logits = out.logits[:, :-1, :]
    ids = seqs.completion_ids
    suppress = (torch.tensor(suppress_ids, device=logits.device) if suppress_ids else None)
    rows = []
    for i in range(logits.shape[0]):  # one row at a time keeps the float32 copy small
        row = logits[i].float()
        if temperature != 1.0:
            row = row / temperature
        if suppress is not None:
            row = row.index_fill(-1, suppress, float("-inf"))
        rows.append(row.gather(-1, ids[i].unsqueeze(-1)).squeeze(-1) - torch.logsumexp(row, dim=-1))
    return torch.stack(rows)


def group_advantages(rewards: Any, G: int, eps: float = 1e-4, scale: bool = True) -> Any:
    """``(r − mean) / (std + eps)`` within consecutive groups of G (unbiased std)."""
    r = rewards.view(-1, G)
    centred = r - r.mean(dim=1, keepdim=True)
    if scale:
        centred = centred / (r.std(dim=1, keepdim=True) + eps)
    return centred.reshape(-1)


def k3_kl(logp: Any, ref_logp: Any) -> Any:
    """Schulman's k3 estimator of KL(π‖π_ref) per token: ``exp(d) − d − 1`` with d = ref − logp."""
    import torch

    d = ref_logp - logp
    return torch.exp(d) - d - 1


def grpo_loss(logp: Any, mask: Any, advantages: Any, *, old_logp: Any = None, ref_logp: Any = None,
              beta: float = 0.0, clip_eps: float = 0.2, clip_eps_high: float | None = None
              ) -> tuple[Any, dict[str, float]]:
    """The clipped policy-gradient loss (+ β·KL) and its statistics.

    ``old_logp`` None means the sampling policy is the current one (one update per generation
    batch): the ratio is ``exp(logp − logp.detach()) = 1`` with the policy gradient's gradient,
    which spares a forward pass.
    """
    import torch

    mask = mask.to(logp.dtype)
    old = logp.detach() if old_logp is None else old_logp
    ratio = torch.exp(logp - old)
    adv = advantages.unsqueeze(1)
    low, high = 1.0 - clip_eps, 1.0 + (clip_eps_high or clip_eps)
    per_token = -torch.min(ratio * adv, torch.clamp(ratio, low, high) * adv)
    n_tokens = mask.sum().clamp(min=1.0)
    stats: dict[str, float] = {}
    if beta > 0:
        kl = k3_kl(logp, ref_logp)
        per_token = per_token + beta * kl
        stats["kl"] = float(((kl * mask).sum() / n_tokens).detach())
    loss = (per_token * mask).sum() / n_tokens
    clipped = ((ratio < low) & (adv < 0)) | ((ratio > high) & (adv > 0))
    stats["clip_fraction"] = float(((clipped.to(mask.dtype) * mask).sum() / n_tokens).detach())
    stats["loss"] = float(loss.detach())
    return loss, stats


def sft_loss(logp: Any, mask: Any, *, answer_mask: Any = None, answer_weight: float = 1.0
             ) -> tuple[Any, dict[str, float]]:
    """Weighted mean negative log-likelihood over the target tokens of the micro-batch.

    Every target token weighs 1 but those of ``answer_mask``, which weigh ``answer_weight``; the loss is
    the weighted mean. The statistics are unweighted: ``loss`` (mean NLL of every target token, the
    same figure whatever the weight), ``token_prob``, ``answer_nll`` (mean NLL of the answer's tokens;
    NaN without an answer mask) and ``tokens``.
    """
    mask = mask.to(logp.dtype)
    weights = mask
    answer = None
    if answer_mask is not None:
        answer = answer_mask.to(logp.dtype) * mask
        weights = mask + (float(answer_weight) - 1.0) * answer
    loss = -(logp * weights).sum() / weights.sum().clamp(min=1e-8)
    n_tokens = mask.sum().clamp(min=1.0)
    nll = float(-(logp.detach() * mask).sum() / n_tokens)
    with_prob = (logp.detach().exp() * mask).sum() / n_tokens
    answer_nll = (float(-(logp.detach() * answer).sum() / answer.sum()) if answer is not None and float(answer.sum()) > 0
                  else float("nan"))
    return loss, {"loss": nll, "token_prob": float(with_prob), "answer_nll": answer_nll, "tokens": float(mask.sum())}
