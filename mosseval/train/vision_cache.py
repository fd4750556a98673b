"""A frozen vision tower encodes each training video once (``vision_cache``, on by default with ``freeze_vision``).

With the tower frozen (``--freeze-vision``: the recipes of the demo and of the reproduction), a video's visual
tokens are the same at every step, yet SFT revisits each training video every epoch and GRPO encodes each
prompt's video once per rollout and once per log-probability pass. The cache wraps the model's
``get_video_features`` (Qwen2-VL / Qwen2.5-VL and the families that share that method) and keys each video's
features by a digest of its processed pixels and its ``grid_thw``, so a video already encoded is looked up
instead of re-encoded; the new ones of a call are encoded together in one call of the tower.

It is exact: the tower computes the same bits for a video alone or in any batch (its layers work per patch row
and its attention per video), which ``tests/train/test_vision_cache.py`` checks on the tower itself and end to
end (weights after training with and without the cache are identical). It is off, and the tower runs as usual,
when any of its parameters is trainable (LoRA on vision modules, no ``--freeze-vision``), for tensors not on the
CPU, for calls with extra precomputed arguments, and once the stored features reach ``max_bytes`` (then only new
videos are encoded each time). ``summary.json`` records its hits and misses (``vision_cache``).
"""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["FrozenVisionCache", "install_vision_cache"]


def _owner(model: Any) -> Any:
    """The module that owns the vision tower as ``visual`` and encodes videos with ``get_video_features``."""
    for module in model.modules():
        if "visual" in getattr(module, "_modules", {}) and callable(getattr(module, "get_video_features", None)):
            return module
    return None


class FrozenVisionCache:
    """Callable that replaces ``owner.get_video_features`` on one model instance."""

    def __init__(self, owner: Any, observe: Any = None, max_bytes: int = 1 << 30) -> None:
        self.owner, self.original = owner, owner.get_video_features
        self.observe, self.max_bytes = observe, max_bytes
        self.store: dict[bytes, Any] = {}
        self.bytes = self.hits = self.misses = self.bypassed = 0
        owner.get_video_features = self

    def remove(self) -> None:
        if self.owner.__dict__.get("get_video_features") is self:
            del self.owner.get_video_features

    def frozen(self) -> bool:
        return not any(p.requires_grad for p in self.owner.visual.parameters())

    @staticmethod
    def key(pixels: Any, grid: Any) -> bytes:
        digest = hashlib.blake2b(digest_size=20)
        digest.update(f"{pixels.dtype}|{tuple(pixels.shape)}|{grid.tolist()}".encode())
        digest.update(pixels.contiguous().numpy().data)
        return digest.digest()

    def __call__(self, pixel_values_videos: Any, video_grid_thw: Any = None, **kwargs: Any) -> Any:
        extra = {k for k in kwargs if k != "return_dict"}
        if (extra or kwargs.get("return_dict") is False or video_grid_thw is None
                or pixel_values_videos.device.type != "cpu" or not self.frozen()):
            self.bypassed += 1
            return self.original(pixel_values_videos, video_grid_thw, **kwargs)
        import torch
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        counts = [int(c) for c in video_grid_thw.prod(-1).tolist()]
        chunks = torch.split(pixel_values_videos, counts, dim=0)
        keys = [self.key(chunk, grid) for chunk, grid in zip(chunks, video_grid_thw)]
        found = {k: self.store[k] for k in set(keys) if k in self.store}
        new = list(dict.fromkeys(k for k in keys if k not in found))  # each new video encoded once
        if new:
            first = {k: keys.index(k) for k in new}
            out = self.original(torch.cat([chunks[first[k]] for k in new], dim=0),
                                video_grid_thw[[first[k] for k in new]], return_dict=True)
            for k, feats in zip(new, out.pooler_output):
                feats = feats.detach().clone()  # its own memory, not a view of the batch's
                found[k] = feats
                size = feats.numel() * feats.element_size()
                if self.bytes + size <= self.max_bytes:
                    self.store[k] = feats
                    self.bytes += size
        self.misses += len(new)
        self.hits += len(keys) - len(new)
        feats = tuple(found[k] for k in keys)
        if self.observe is not None:
            self.observe(torch.cat(feats, dim=0))
        # a tuple of per-video tensors, as transformers' own get_video_features leaves it (its annotation says Tensor)
        return BaseModelOutputWithPooling(pooler_output=feats)  # type: ignore[arg-type]

    def summary(self) -> dict[str, Any]:
        return {"videos": len(self.store), "hits": self.hits, "misses": self.misses, "bypassed_calls": self.bypassed,
                "mib": round(self.bytes / 2**20, 2)}


def install_vision_cache(model: Any, observe: Any = None, max_bytes: int = 1 << 30) -> FrozenVisionCache | None:
    """Wrap ``model``'s video encoder with a :class:`FrozenVisionCache`; None for a model without one."""
    owner = _owner(model)
    if owner is None:
        return None
    return FrozenVisionCache(owner, observe, max_bytes)
