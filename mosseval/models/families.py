"""The video-capable model families mosseval supports through transformers (no torch import here).

A ``Family`` says how a checkpoint of that family is driven: which Auto class loads it, whether the
frames go in as a video or as a sequence of images (families without a video processor), which extra
packages its processor imports (reported with the exact pip command, naming the family), how text is
generated (Qwen2.5-Omni: the thinker, ``generation_mode="text"``), and which video recipe its
published numbers use (``mosseval.recipes``).

``family_of(model_type)`` maps a checkpoint's ``config.model_type`` to its family; ``read_model_type``
reads it from a local checkpoint or the local Hugging Face cache without importing torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["Family", "FAMILIES", "family_of", "read_model_type"]


@dataclass(frozen=True)
class Family:
    name: str
    display: str
    model_types: tuple[str, ...]
    recipe: str | None
    """Its published video recipe (``mosseval.recipes``); None: no official video recipe exists."""
    frames_as: Literal["video", "images"] = "video"
    auto_class: str = "AutoModelForImageTextToText"
    requires: tuple[tuple[str, str], ...] = ()
    """(importable module, pip requirement) its processor needs beyond torch + transformers."""
    generation: Literal["default", "omni-thinker"] = "default"
    notes: str = ""

    def missing(self) -> list[tuple[str, str]]:
        import importlib.util

        return [(mod, pip) for mod, pip in self.requires if importlib.util.find_spec(mod) is None]


FAMILIES: dict[str, Family] = {f.name: f for f in [
    Family("qwen2-vl", "Qwen2-VL", ("qwen2_vl",), "qwen2-vl"),
    Family("qwen2.5-vl", "Qwen2.5-VL", ("qwen2_5_vl",), "qwen2.5-vl"),
    Family("qwen3-vl", "Qwen3-VL", ("qwen3_vl",), "qwen3-vl"),
    Family("qwen3-vl-moe", "Qwen3-VL-MoE", ("qwen3_vl_moe",), "qwen3-vl"),
    Family("qwen3.5", "Qwen3.5", ("qwen3_5",), "qwen3-vl", notes="ships the Qwen3-VL processor"),
    Family("qwen3.5-moe", "Qwen3.5-MoE", ("qwen3_5_moe",), "qwen3-vl", notes="ships the Qwen3-VL processor"),
    Family("qwen2.5-omni", "Qwen2.5-Omni", ("qwen2_5_omni",), "qwen2.5-omni", auto_class="AutoModelForMultimodalLM",
           generation="omni-thinker", notes="text from the thinker: generate(generation_mode='text', "
           "thinker_max_new_tokens=N)"),
    Family("llava-onevision", "LLaVA-OneVision", ("llava_onevision",), "llava-onevision"),
    Family("llava-next-video", "LLaVA-NeXT-Video", ("llava_next_video",), "llava-next-video"),
    Family("video-llava", "Video-LLaVA", ("video_llava",), "video-llava", notes="the video tower takes 8 frames"),
    Family("internvl", "InternVL (HF-native)", ("internvl",), "internvl"),
    Family("smolvlm2", "SmolVLM2", ("smolvlm",), "smolvlm2", requires=(("num2words", "num2words"),)),
    Family("gemma3", "Gemma 3", ("gemma3",), None, frames_as="images",
           notes="no video processor: the frames go in as a sequence of images; no official video recipe"),
    Family("gemma4", "Gemma 4", ("gemma4",), "gemma4"),
    Family("glm-4.1v", "GLM-4.1V", ("glm4v",), "glm-4.1v"),
    Family("glm-4.6v", "GLM-4.6V", ("glm46v",), "glm-4.1v", notes="same video processor as GLM-4.1V"),
    Family("videollama3", "VideoLLaMA3", ("video_llama_3",), "videollama3"),
]}

_BY_MODEL_TYPE = {mt: f for f in FAMILIES.values() for mt in f.model_types}


def family_of(model_type: str | None) -> Family | None:
    """The family of a ``config.model_type`` (None: not one mosseval has tested)."""
    return _BY_MODEL_TYPE.get(model_type or "")


def read_model_type(target: str) -> str | None:
    """``model_type`` from a checkpoint's config.json: a local directory, or a Hub id already in the local
    Hugging Face cache (never the network). None when it cannot be found."""
    path = Path(target).expanduser()
    config = path / "config.json"
    if not config.is_file() and "/" in target and not path.exists():
        config = _cached_config(target)
    try:
        data = json.loads(Path(config).read_text(encoding="utf-8")) if config else None
    except (OSError, ValueError):
        return None
    return data.get("model_type") if isinstance(data, dict) else None


def _cached_config(repo_id: str) -> Path | None:
    from mosseval.data.locate import hf_snapshots

    for _, snap in hf_snapshots(repo_id, repo_type="models"):
        if (snap / "config.json").is_file():
            return snap / "config.json"
    return None
