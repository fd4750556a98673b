"""The family matrix: what each tiny family must receive for 8 frames of 32x32 pixels.

``MATRIX_TASK`` is moss-video-mini with its frames resized by the task to 32x32 (the size the tiny
vision towers are built for) and short generations. ``EXPECTED_VISUAL_TOKENS[family]`` is the number
of visual placeholder tokens the prompt must hold, derived from the tiny build's sizes:

* Qwen2/2.5-VL, Qwen3-VL(-MoE), Qwen3.5(-MoE), GLM-4.1V/4.6V: patch 8, merge 2, temporal patch 2 ->
  (8/2 temporal groups) x (32/8/2)^2 = 4 x 4 = 16;
* Qwen2.5-Omni: its processor's video minimum of 128*28*28 pixels upsizes 32x32 to 320x320 (factor 16)
  -> 4 x (320/16)^2 = 1600;
* LLaVA-OneVision: (32/8)^2 = 16 patches per frame, pooled 2x2 -> 4 per frame, + 1 newline -> 33;
* LLaVA-NeXT-Video: 16 patches per frame, CLS dropped, spatial pool stride 2 -> 4 per frame -> 32;
* Video-LLaVA: 16 patches + the CLS token per frame (its video path keeps CLS) -> 8 x 17 = 136;
* InternVL: 16 patches, pixel shuffle 0.5 -> 4 <IMG_CONTEXT> per frame -> 32;
* SmolVLM2: 16 patches, scale factor 2 -> 4 <image> per frame -> 32;
* Gemma 3 (frames as images): mm_tokens_per_image 4 -> 32 soft tokens;
* Gemma 4: each frame upsized to <= 70 soft tokens x 9 patches of 8x8: 192x192 -> 24x24 patches
  pooled 3x3 -> 64 per frame -> 512;
* VideoLLaMA3: 4 per frame before its token compression drops repeated content -> at most 32
  (exactly the processor's ``video_compression_mask`` count).

Second-round families (``EXTENDED``):

* Qwen-VL video processors with temporal patch 2 (GLM-4.5V, GLM-GA, GLM-OCR, GLM-5-Next, Cosmos3-Omni,
  Qwen4-Exp, EXAONE 4.5, HyperCLOVA X Vision V2, LFM3-VL, Cohere Compass) and ERNIE-4.5-VL (temporal
  merge 2 in the model) -> 4 x 4 = 16;
* temporal patch 1 (LLaVA-OneVision-1.5, dots3.note, Ovis2.5, Cosmos3-Edge) -> 8 frames x 4 = 32;
* Qwen2.5-Omni thinker: as Qwen2.5-Omni -> 1600;
* Qwen3-Omni-MoE (and its thinker): the processor's video minimum of 128*32*32 pixels upsizes 32x32 to
  368x368 (multiple of 16) -> 4 x 23^2 = 2116;
* Molmo2: 16 patches per frame pooled 2x2 -> 4 per frame -> 32;
* Kimi-K2.5: 4 frames per temporal chunk -> 2 chunks x 16 patches / merge 2^2 -> 8;
* MiniCPM-V 4.6 / 4.7: "16x" downsampling -> 16 patches / 16 = 1 per frame -> 8;
* MiniCPM-OCR: "4x" downsampling -> 16 / 4 = 4 per frame -> 32;
* Gemma 4 Unified: Gemma 4's vision path -> 512.
"""

from __future__ import annotations

from pathlib import Path

FRAMES = 8

EXPECTED_VISUAL_TOKENS: dict[str, int | None] = {
    "qwen2-vl": 16, "qwen2.5-vl": 16, "qwen3-vl": 16, "qwen3-vl-moe": 16, "qwen3.5": 16, "qwen3.5-moe": 16,
    "glm-4.1v": 16, "glm-4.6v": 16, "qwen2.5-omni": 1600, "llava-onevision": 33, "llava-next-video": 32,
    "video-llava": 136, "internvl": 32, "smolvlm2": 32, "gemma3": 32, "gemma4": 512,
    "videollama3": None,  # token compression: checked against the processor's mask
    # second round
    "glm-4.5v": 16, "glmga": 16, "glm-ocr": 16, "glm-5-next": 16, "cosmos3-omni": 16, "qwen4-exp": 16,
    "exaone4.5": 16, "hyperclovax-vision-v2": 16, "lfm3-vl": 16, "cohere-compass": 16, "ernie-4.5-vl-moe": 16,
    "llava-onevision-1.5": 32, "dots3-note": 32, "ovis2.5": 32, "cosmos3-edge": 32,
    "qwen2.5-omni-thinker": 1600, "qwen3-omni-moe": 2116, "qwen3-omni-moe-thinker": 2116,
    "molmo2": 32, "kimi-k2.5": 8, "minicpm-v-4.6": 8, "minicpm-v-4.7": 8, "minicpm-ocr": 32,
    "gemma4-unified": 512,
}

CORE = ("qwen2-vl", "qwen2.5-vl", "qwen3-vl", "qwen3-vl-moe", "qwen3.5", "qwen3.5-moe", "qwen2.5-omni",
        "llava-onevision", "llava-next-video", "video-llava", "internvl", "smolvlm2", "gemma3", "gemma4",
        "glm-4.1v", "glm-4.6v", "videollama3")
"""The issue's 17 families: each runs under ``-m e2e`` in its own ``mosseval run`` process."""
EXTENDED = tuple(name for name in EXPECTED_VISUAL_TOKENS if name not in CORE)
"""Every other video family transformers ships that has a tiny build: under ``-m e2e`` too, in process (same
assertions on what reached ``generate``; a process each would add ~10 s of start-up per family)."""

DEFAULT_SUBSET = ("qwen2.5-vl", "gemma3", "qwen2.5-omni", "llava-onevision", "smolvlm2", "internvl")
"""The families the default suite runs (video path, image-only path, omni, pooled video, num2words,
segment tokens); every family runs under ``-m e2e``."""

MATRIX_TASK = """\
name: family-matrix
version: "1"
description: moss-video-mini at 32x32 pixels and 8 new tokens (the tiny family matrix)
loader: moss_video_jsonl
loader_args: {file: test.jsonl, split: test}
data: {synthetic: true}
prompt:
  system: You are a careful video analyst.
  template: |-
    Question: {{ question }}
    Options:
    {{ options_block }}
    Answer with the letter.
frames: {strategy: uniform, num_frames: 8, max_pixels: 1024, size_multiple: 32}
generation: {max_new_tokens: 8, temperature: 0.0}
scoring: {extractor: mc_strict}
protocol: answer
"""


def write_matrix_task(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "family-matrix.yaml").write_text(MATRIX_TASK)
    return folder
