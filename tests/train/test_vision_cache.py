"""The frozen vision tower's feature cache: exact (the tower's bits for a video do not depend on its batch), used
only while the tower is frozen, and training with it gives the same weights as without it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.hf

pytest.importorskip("transformers")
pytest.importorskip("accelerate")


def _tiny():
    from mosseval.models.tiny import ensure_tiny
    from mosseval.torchvision_compat import ensure_torchvision

    ensure_torchvision()
    from transformers import AutoModelForImageTextToText

    return AutoModelForImageTextToText.from_pretrained(str(ensure_tiny())).eval()


def _videos(model, n: int, seed: int = 0):
    import torch

    vc = model.config.vision_config
    dim = vc.in_channels * vc.temporal_patch_size * vc.patch_size ** 2
    side = 2 * vc.spatial_merge_size
    grid = torch.tensor([[2, side, side]] * n)
    g = torch.Generator().manual_seed(seed)
    return torch.randn(int(grid.prod(-1).sum()), dim, generator=g), grid


def test_a_video_gets_the_same_bits_alone_and_in_any_batch():
    import torch

    model = _tiny()
    pixels, grid = _videos(model, 4)
    per = int(grid[0].prod())
    with torch.no_grad():
        batch = model.model.get_video_features(pixels, grid, return_dict=True).pooler_output
        alone = [model.model.get_video_features(pixels[i * per:(i + 1) * per], grid[i:i + 1],
                                                return_dict=True).pooler_output[0] for i in range(4)]
    assert all(torch.equal(a, b) for a, b in zip(batch, alone))


def test_cached_features_equal_the_towers_and_the_tower_runs_once_per_video():
    import torch

    from mosseval.train.vision_cache import install_vision_cache

    model = _tiny()
    for p in model.model.visual.parameters():
        p.requires_grad_(False)
    pixels, grid = _videos(model, 3)
    per = int(grid[0].prod())
    with torch.no_grad():
        expected = model.model.get_video_features(pixels, grid, return_dict=True).pooler_output
    tower_rows: list[int] = []
    hook = model.model.visual.register_forward_pre_hook(lambda m, args: tower_rows.append(int(args[0].shape[0])))
    seen = []
    cache = install_vision_cache(model, observe=lambda emb: seen.append(emb))
    assert cache is not None and model.model.get_video_features is cache
    try:
        with torch.no_grad():
            first = cache(pixels, grid, return_dict=True).pooler_output
            # videos 2 and 0 again, and video 1 twice in one call: nothing new to encode
            again = cache(torch.cat([pixels[2 * per:], pixels[:per], pixels[per:2 * per], pixels[per:2 * per]]),
                          grid[[2, 0, 1, 1]], return_dict=True).pooler_output
    finally:
        hook.remove()
    assert all(torch.equal(a, b) for a, b in zip(first, expected))
    assert [torch.equal(a, expected[i]) for a, i in zip(again, [2, 0, 1, 1])] == [True] * 4
    assert tower_rows == [3 * per]  # the tower ran once, on the three new videos together
    assert cache.summary() == {"videos": 3, "hits": 4, "misses": 3, "bypassed_calls": 0,
                               "mib": round(cache.bytes / 2**20, 2)}
    assert torch.equal(seen[1], torch.cat([expected[2], expected[0], expected[1], expected[1]]))  # the probe sees them
    # a trainable tower is never served from the cache
    next(model.model.visual.parameters()).requires_grad_(True)
    with torch.no_grad():
        cache(pixels, grid, return_dict=True)
    assert cache.bypassed == 1 and cache.hits == 4
    cache.remove()
    assert "get_video_features" not in model.model.__dict__


def test_training_with_the_cache_gives_the_same_weights_and_counts_its_hits(tmp_path: Path):
    import torch
    from safetensors.torch import load_file

    from mosseval.train import train
    from mosseval.train.config import load_config

    base = dict(method="sft", model="tiny-qwen2.5-vl", data="moss-video-mini:train", per_device_batch_size=2,
                frames=4, max_completion_length=120, quiet=True, save_every=0, lr=3e-3, warmup_ratio=0.0,
                lr_scheduler="constant", steps=6, limit=3, freeze_vision=True, num_threads=1,
                cache_dir=str(tmp_path / "cache"))
    runs = {}
    for on in (True, False):
        out = tmp_path / f"cache-{on}"
        runs[on] = train(load_config(None, {**base, "vision_cache": on, "output_dir": str(out)}))
    with_cache = json.loads((tmp_path / "cache-True" / "summary.json").read_text())["vision_cache"]
    # 6 steps x 2 sequences over 3 training videos: 3 encoded, 9 looked up
    assert (with_cache["videos"], with_cache["misses"], with_cache["hits"]) == (3, 3, 9)
    assert json.loads((tmp_path / "cache-False" / "summary.json").read_text())["vision_cache"] is None
    a = load_file(runs[True].last_checkpoint / "model.safetensors")
    b = load_file(runs[False].last_checkpoint / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    metrics = [[json.loads(line) for line in (tmp_path / f"cache-{on}" / "metrics.jsonl").open()] for on in (True, False)]
    for key in ("loss", "vision_rms", "vision_spread"):
        assert [m[key] for m in metrics[0]] == [m[key] for m in metrics[1]], key


def test_grpo_with_the_cache_samples_and_learns_the_same(tmp_path: Path):
    """GRPO encodes each prompt's video for the rollout and again for every log-probability pass (and the G copies of
    a prompt are the same video): with the cache the tower runs once per video, and nothing else changes."""
    import torch
    from safetensors.torch import load_file

    from mosseval.train import train
    from mosseval.train.config import load_config

    base = dict(model="tiny-qwen2.5-vl", data="moss-video-mini:train", per_device_batch_size=2, num_generations=4,
                max_completion_length=16, frames=4, quiet=True, num_threads=1, steps=2, limit=2, beta=0.04,
                freeze_vision=True, save_every=0, log_completions=8, cache_dir=str(tmp_path / "cache"))
    runs = {on: train(load_config(None, {**base, "vision_cache": on, "output_dir": str(tmp_path / f"g-{on}")}))
            for on in (True, False)}
    stats = json.loads((tmp_path / "g-True" / "summary.json").read_text())["vision_cache"]
    assert stats["misses"] == 2 and stats["hits"] > stats["misses"]  # 2 training videos, encoded once each
    texts = [(tmp_path / f"g-{on}" / "completions.jsonl").read_text() for on in (True, False)]
    assert texts[0] == texts[1] and texts[0].strip()
    a = load_file(runs[True].last_checkpoint / "model.safetensors")
    b = load_file(runs[False].last_checkpoint / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
