"""Prompt + completion sequences with the video: the one batch shape every training forward uses.

A :class:`Sequences` holds the processor outputs of the prompts (token ids, attention mask and the
video tensors ``pixel_values_videos`` / ``video_grid_thw`` / ``second_per_grid_ts`` /
``mm_token_type_ids`` ...), one row per sequence, and the completion token ids appended to them.
GRPO builds it from sampled completions (G rows per prompt, :func:`expand_inputs`), SFT from the
reference trace rendered as a target (:func:`target_sequences`). :meth:`Sequences.forward_kwargs`
is what reaches the model in every log-probability pass, so the video cannot be dropped on the way
(SPEC §9: TRL drops it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Sequences", "expand_inputs", "completion_mask", "pad_completions"]


def expand_inputs(inputs: dict[str, Any], G: int) -> dict[str, Any]:
    """Repeat a processor batch G times per row: ``[p0, p0, …, p1, p1, …]``.

    Row tensors (``input_ids``, masks, ``mm_token_type_ids``, ``video_grid_thw``,
    ``second_per_grid_ts`` …) repeat along dim 0; flattened patch tensors
    (``pixel_values_videos`` / ``pixel_values``) repeat per video / image using the patch counts of
    their ``*_grid_thw``.
    """
    import torch

    if G == 1:
        return dict(inputs)
    out: dict[str, Any] = {}
    flat = {"pixel_values_videos": "video_grid_thw", "pixel_values": "image_grid_thw"}
    for key, value in inputs.items():
        if key in flat and flat[key] in inputs:
            grid = inputs[flat[key]]
            counts = [int(c) for c in grid.prod(-1).tolist()]
            chunks = torch.split(value, counts, dim=0)
            out[key] = torch.cat([c for c in chunks for _ in range(G)], dim=0)
        elif isinstance(value, torch.Tensor):
            out[key] = value.repeat_interleave(G, dim=0)
        elif isinstance(value, list):
            out[key] = [v for v in value for _ in range(G)]
        else:
            out[key] = value
    return out


def completion_mask(ids: Any, eos_ids: set[int]) -> Any:
    """1 for completion tokens up to and including the first end-of-sequence token, else 0."""
    import torch

    is_eos = torch.zeros_like(ids, dtype=torch.bool)
    for e in eos_ids:
        is_eos |= ids == e
    n, length = ids.shape
    first = torch.full((n,), length, dtype=torch.long, device=ids.device)
    any_eos = is_eos.any(dim=1)
    first[any_eos] = is_eos.int().argmax(dim=1)[any_eos]
    pos = torch.arange(length, device=ids.device).expand(n, -1)
    return (pos <= first.unsqueeze(1)).to(torch.long)


def pad_completions(rows: list[list[int]], pad_id: int, device: Any = None) -> tuple[Any, Any]:
    """Right-pad token lists into ``(ids, mask)`` tensors (mask 1 on real tokens)."""
    import torch

    length = max(1, max((len(r) for r in rows), default=1))
    ids = torch.full((len(rows), length), int(pad_id), dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, r in enumerate(rows):
        if r:
            ids[i, :len(r)] = torch.tensor(r, dtype=torch.long)
            mask[i, :len(r)] = 1
    if device is not None:
        ids, mask = ids.to(device), mask.to(device)
    return ids, mask


@dataclass
class Sequences:
    """Prompt inputs (with the video) plus completions; one row per sequence."""

    inputs: dict[str, Any]
    """Processor outputs, one row per sequence (prompt ids left-padded, video tensors)."""
    completion_ids: Any
    completion_mask: Any
    """1 on completion tokens that count (up to and including the end-of-sequence token)."""
    answer_mask: Any = None
    """SFT: 1 on the target tokens that hold the answer (inside <answer></answer>); None in GRPO."""

    @property
    def rows(self) -> int:
        return int(self.completion_ids.shape[0])

    def forward_kwargs(self) -> dict[str, Any]:
        """Model kwargs for the full sequences (prompt + completion). Per-token tensors other than
        the ids and the mask (``mm_token_type_ids``) are extended with zeros (text)."""
        import torch

        ids, mask = self.inputs["input_ids"], self.inputs["attention_mask"]
        n, plen = ids.shape
        comp = self.completion_ids
        kw = {"input_ids": torch.cat([ids, comp], dim=1),
              "attention_mask": torch.cat([mask, self.completion_mask.to(mask.dtype)], dim=1)}
        for key, value in self.inputs.items():
            if key in kw:
                continue
            if (isinstance(value, torch.Tensor) and value.dim() == 2 and value.shape[0] == n
                    and value.shape[1] == plen and key.endswith("_ids")):
                value = torch.cat([value, torch.zeros_like(comp, dtype=value.dtype)], dim=1)
            kw[key] = value
        return kw

    def video_in_inputs(self) -> bool:
        return any(k in self.inputs for k in ("pixel_values_videos", "pixel_values"))
