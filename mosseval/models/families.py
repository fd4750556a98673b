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
    recipe_known: bool = True
    """False: the family may well publish a video recipe, but mosseval has not recorded one from a primary
    source yet (``recipe`` is None either way; ``recipe_label`` says which)."""

    @property
    def recipe_label(self) -> str:
        """What stands in the recipe column when there is no recipe."""
        return self.recipe or ("none published" if self.recipe_known else "none recorded yet")

    @property
    def no_recipe_reason(self) -> str:
        return ("publishes no video recipe" if self.recipe_known
                else "has no video recipe recorded in mosseval yet (none taken from a primary source)")

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
    # -- added in the second round (tiny builds: mosseval.models.tiny_families); their recipes are not yet
    #    taken from primary sources unless they share the processor a recorded recipe was taken from
    Family("qwen2.5-omni-thinker", "Qwen2.5-Omni thinker", ("qwen2_5_omni_thinker",), "qwen2.5-omni",
           notes="thinker-only checkpoint (no talker): a plain image-text-to-text model"),
    Family("qwen3-omni-moe", "Qwen3-Omni-MoE", ("qwen3_omni_moe",), None, recipe_known=False,
           auto_class="AutoModelForMultimodalLM", generation="omni-thinker",
           notes="text from the thinker, as Qwen2.5-Omni; the checkpoint's eos is passed to the thinker "
           "(the wrapper's default is hard-coded)"),
    Family("qwen3-omni-moe-thinker", "Qwen3-Omni-MoE thinker", ("qwen3_omni_moe_thinker",), None,
           recipe_known=False, notes="thinker-only checkpoint (no talker)"),
    Family("glm-4.5v", "GLM-4.5V", ("glm4v_moe",), "glm-4.1v", notes="same video processor as GLM-4.1V"),
    Family("glmga", "GLM-GA", ("glmga",), None, recipe_known=False),
    Family("glm-ocr", "GLM-OCR", ("glm_ocr",), None, recipe_known=False,
           notes="an OCR model; transformers registers no video processor for it, the model takes "
           "GLM-4.6V-style video inputs"),
    Family("glm-5-next", "GLM-5-Next", ("glm5_next",), None, recipe_known=False),
    Family("cosmos3-omni", "Cosmos3-Omni", ("cosmos3_omni",), None, recipe_known=False,
           notes="ships the Qwen3-VL video processor"),
    Family("cosmos3-edge", "Cosmos3-Edge", ("cosmos3_edge",), None, recipe_known=False,
           notes="writes each frame's timestamp into the prompt"),
    Family("qwen4-exp", "Qwen4-Exp", ("qwen4_exp",), None, recipe_known=False,
           notes="ships the Qwen3-VL video processor"),
    Family("exaone4.5", "EXAONE 4.5", ("exaone4_5",), None, recipe_known=False,
           notes="ships the Qwen2-VL video processor"),
    Family("llava-onevision-1.5", "LLaVA-OneVision-1.5", ("llava_onevision1_5",), None, recipe_known=False,
           notes="ships the Qwen2-VL video processor (not LLaVA-OneVision's)"),
    Family("hyperclovax-vision-v2", "HyperCLOVA X SEED Vision V2", ("hyperclovax_vision_v2",), None,
           recipe_known=False, notes="ships the Qwen2-VL video processor; the template's <|video_duration|> is "
           "filled in by the processor"),
    Family("lfm3-vl", "LFM3-VL", ("lfm3_vl",), None, recipe_known=False,
           notes="ships the Qwen3-VL video processor; per-frame timestamps in the prompt"),
    Family("dots3-note", "dots3.note", ("dots3_note",), None, recipe_known=False,
           auto_class="AutoModelForMultimodalLM", notes="loads with AutoModelForMultimodalLM (also takes audio)"),
    Family("molmo2", "Molmo2", ("molmo2",), None, recipe_known=False),
    Family("ovis2.5", "Ovis2.5", ("ovis2_5",), None, recipe_known=False),
    Family("kimi-k2.5", "Kimi-K2.5", ("kimi_k25",), None, recipe_known=False,
           notes="4 frames per temporal chunk, one timestamp per chunk"),
    Family("minicpm-v-4.6", "MiniCPM-V 4.6", ("minicpmv4_6",), None, recipe_known=False),
    Family("minicpm-v-4.7", "MiniCPM-V 4.7", ("minicpmv4_7",), None, recipe_known=False,
           notes="MiniCPM-V 4.6's image and video processors"),
    Family("minicpm-ocr", "MiniCPM-OCR", ("minicpm_ocr",), None, recipe_known=False),
    Family("ernie-4.5-vl-moe", "ERNIE-4.5-VL-MoE", ("ernie4_5_vl_moe",), None, recipe_known=False,
           notes="the video processor draws each frame's timestamp onto the frame (font file shipped with "
           "the checkpoint)"),
    Family("cohere-compass", "Cohere Compass (North Vision)", ("cohere_compass",), None, recipe_known=False,
           notes="per-frame timestamps in the prompt"),
    Family("gemma4-unified", "Gemma 4 Unified", ("gemma4_unified",), "gemma4",
           notes="Gemma 4's video processor (same code and defaults); audio without the conformer"),
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
