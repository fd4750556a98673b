"""Each model family's own video recipe: which frames, at what size (the video layer; pure, no torch).

A task's protocol (``FrameSpec.strategy``) gives every model the same frames, which is what a fair
comparison needs. A model's *published* scores, however, come from its own frame and pixel settings;
``mosseval run --frames-from model`` swaps the task's frame selection for the model family's recipe
(``FrameSpec.recipe``), and the recipe's name and parameters enter the run identity.

Every recipe here is transcribed from a primary source (named in ``Recipe.source``):

=================  ===========================================================================
recipe             indices / size
=================  ===========================================================================
qwen2-vl           qwen-vl-utils 0.0.8 ``smart_nframes``: 2 fps, 4..768 frames, a multiple of
qwen2.5-vl         ``FRAME_FACTOR`` 2, ``linspace(0, n-1, k).round()``; ``smart_resize`` to
                   multiples of 28 within 128·28² .. min(768·28², 24576·28²·2/k) pixels
qwen2.5-omni       qwen-omni-utils: the same, with a total of 115200·28² pixels (128000·0.9)
qwen3-vl           qwen-vl-utils 0.0.14 with 16 px patches: the same sampler; multiples of 32
                   within 128·32² .. min(768·32², 20480·32²·2/k)
llava-onevision    lmms-eval's LLaVA-OneVision loader: 32 frames, ``linspace(0, n-1, 32, int)``;
                   frames kept at source size (the processor resizes to 384²)
llava-next-video   model card: 8 frames, ``arange(0, n, n/8).astype(int)``; processor resizes
video-llava        model card: 8 frames, same formula; processor resizes (224²)
internvl           model card ``load_video``: 32 segment midpoints (``get_index``), 448² tiles
internvl-16f       the same with 16 segments (InternVL3 report: MVBench at 16 frames)
smolvlm2           SmolVLM2 ``video_sampling`` (fps 1, ≤ 64 frames) with its processor's sampler
                   (1 s skipped at both ends of long clips); processor resizes (≤ 512 px edge)
glm-4.1v           GLM-4.1V's video processor: 2 fps (≤ 300 s), deduplicated, even count
videollama3        VideoLLaMA3: fps 1, 4..180 frames, ``arange(0, n, n/k)``
gemma4             Gemma 4's video processor: 32 frames, ``arange(32)·n // 32``
=================  ===========================================================================

Bounds (``start``/``end`` of a sample) are applied the way qwen-vl-utils 0.0.14 does
(``calculate_video_frame_range``: first frame ``ceil(start·fps)``, last ``floor(end·fps)``); the
recipe then runs on that window. InternVL's ``get_index`` takes the bounds natively.
Where a recipe's size is "processor", frames keep their decoded size and the model's own processor
resizes them, exactly as in the official pipeline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mosseval.errors import MediaError, UsageError, did_you_mean

__all__ = ["Recipe", "RECIPES", "get_recipe", "recipe_window", "qwen_smart_nframes", "qwen_smart_resize",
           "torch_linspace"]


@dataclass(frozen=True)
class Recipe:
    name: str
    sampler: str
    """qwen | linspace_int | arange | segment | smolvlm | glm | videollama3 | floor_uniform"""
    params: dict[str, Any]
    size: dict[str, Any]
    """``{"kind": "qwen", ...}`` (mosseval resizes) or ``{"kind": "processor", "note": ...}``."""
    source: str
    description: str
    families: tuple[str, ...] = ()
    version: str = "1"
    """Bump when the transcription changes: it enters the run identity."""
    notes: tuple[str, ...] = field(default=())

    def size_description(self) -> str:
        s = self.size
        if s["kind"] != "qwen":
            return s.get("note", "the processor's own size")
        f = s["factor"]
        return (f"resized by mosseval (smart_resize): sides multiples of {f}, {s['min_pixels'] // (f * f)}-"
                f"{s['max_pixels'] // (f * f)} x {f}² px per frame, <= {s['total_pixels'] // (f * f)} video tokens")

    def describe(self) -> dict[str, Any]:
        """What enters the run identity."""
        return {"name": self.name, "version": self.version, "sampler": self.sampler, "params": dict(self.params),
                "size": dict(self.size)}

    # -- frames --------------------------------------------------------------------------

    def plan(self, num_frames: int, fps: float, start: float | None = None, end: float | None = None,
             first_index: int = 0) -> tuple[list[int], float, float | None]:
        """(source indices, window seconds, sampled fps) for a video of ``num_frames`` at ``fps``."""
        if num_frames <= 0:
            raise MediaError("the video has no decodable frames")
        if not fps or not math.isfinite(fps) or fps <= 0:
            raise MediaError(f"the video has no usable frame rate (fps={fps!r})")
        if self.sampler == "segment":
            from mosseval.records import FrameSpec
            from mosseval.video import compute_indices

            spec = FrameSpec(strategy="segment", num_frames=int(self.params["num_frames"]))
            idx = compute_indices(spec, num_frames, fps, start, end, first_index)
            lo = max(first_index, round(start * fps)) if start is not None else first_index
            hi = min(round(end * fps), first_index + num_frames - 1) if end is not None else first_index + num_frames - 1
            window = (hi - lo + 1) / fps
            return idx, window, len(idx) / window
        lo, hi = recipe_window(num_frames, fps, start, end)
        total = hi - lo + 1
        local = self._sample(total, fps, lo)
        window = total / fps
        sampled = len(local) / total * fps
        return [first_index + lo + int(i) for i in local], window, sampled

    def _sample(self, total: int, fps: float, offset: int = 0) -> list[int]:
        """Indices relative to the window's first frame (``offset`` is that frame's position)."""
        p = self.params
        if self.sampler == "qwen":
            k = qwen_smart_nframes(total, fps, fps_target=p["fps"], min_frames=p["min_frames"],
                                   max_frames=p["max_frames"], frame_factor=p["frame_factor"])
            # 0.0.8 samples within the decoded window; 0.0.14 runs linspace over absolute frame numbers
            lo = offset if p.get("absolute_linspace") else 0
            return [int(i) - lo for i in np.round(torch_linspace(lo, lo + total - 1, k))]
        if self.sampler == "linspace_int":
            return [int(i) for i in np.linspace(0, total - 1, int(p["num_frames"]), dtype=int)]
        if self.sampler == "arange":
            n = int(p["num_frames"])
            return [int(i) for i in np.arange(0, total, total / n).astype(int)]
        if self.sampler == "floor_uniform":
            n = int(p["num_frames"])
            if n > total:
                raise MediaError(f"the {self.name} recipe needs {n} frames but the clip has {total}")
            return [int(i) for i in np.arange(n, dtype=int) * total // n]
        if self.sampler == "smolvlm":
            return _smolvlm(total, fps, fps_target=p["fps"], max_frames=p["max_frames"], skip_secs=p["skip_secs"])
        if self.sampler == "glm":
            return _glm(total, fps, fps_target=p["fps"], max_duration=p["max_duration"])
        if self.sampler == "videollama3":
            return _videollama3(total, fps, fps_target=p["fps"], min_frames=p["min_frames"],
                                max_frames=p["max_frames"], temporal_patch_size=p["temporal_patch_size"])
        raise UsageError(f"recipe {self.name!r} has an unknown sampler {self.sampler!r}")  # pragma: no cover

    # -- size ----------------------------------------------------------------------------

    def frame_size(self, height: int, width: int, n_frames: int) -> tuple[int, int] | None:
        """(height, width) the frames are resized to, or None: keep them (the processor resizes)."""
        s = self.size
        if s["kind"] != "qwen":
            return None
        max_pixels = max(min(s["max_pixels"], s["total_pixels"] / n_frames * s["frame_factor"]),
                         int(s["min_pixels"] * 1.05))
        return qwen_smart_resize(height, width, factor=s["factor"], min_pixels=s["min_pixels"], max_pixels=max_pixels)


# --------------------------------------------------------------------------------------------
# formulas
# --------------------------------------------------------------------------------------------


def recipe_window(num_frames: int, fps: float, start: float | None, end: float | None) -> tuple[int, int]:
    """First and last frame (0-based) of the ``[start, end]`` window, qwen-vl-utils 0.0.14 style."""
    if start is None and end is None:
        return 0, num_frames - 1
    duration = num_frames / fps
    if start is not None and end is not None and end < start:
        raise MediaError(f"bounds are reversed: end {end:g}s is before start {start:g}s")
    lo = math.ceil(max(0.0, min(start, duration)) * fps) if start is not None else 0
    hi = min(math.floor(max(0.0, min(end, duration)) * fps), num_frames - 1) if end is not None else num_frames - 1
    if lo >= hi:
        raise MediaError(f"the window [{start}s, {end}s] holds fewer than 2 frames of this {duration:.3f}s video")
    return lo, hi


def torch_linspace(start: float, end: float, steps: int) -> np.ndarray:
    """``torch.linspace(start, end, steps)`` (float32, CPU) reproduced bit for bit with numpy.

    The official Qwen samplers round ``torch.linspace`` output; a float64 ``np.linspace`` disagrees with
    it on rare .5 cases (e.g. 28,771 frames -> 768). torch computes ``step`` in float32, then
    ``start + step*i`` for the first half and ``end - step*(steps-1-i)`` for the second, each with a
    single rounding (fused multiply-add).
    """
    if steps == 1:
        return np.array([start], dtype=np.float32)
    s, e = np.float32(start), np.float32(end)
    step = np.float64(np.float32((e - s) / np.float32(steps - 1)))
    i = np.arange(steps, dtype=np.float64)
    v = np.where(i < steps // 2, np.float64(s) + step * i, np.float64(e) - step * (steps - 1 - i))
    return v.astype(np.float32)


def _round_by(x: float, f: int) -> int:
    return round(x / f) * f


def _ceil_by(x: float, f: int) -> int:
    return math.ceil(x / f) * f


def _floor_by(x: float, f: int) -> int:
    return math.floor(x / f) * f


def qwen_smart_nframes(total: int, video_fps: float, *, fps_target: float = 2.0, min_frames: int = 4,
                       max_frames: int = 768, frame_factor: int = 2) -> int:
    """How many frames qwen-vl-utils samples from ``total`` frames at ``video_fps`` (fps mode)."""
    lo = _ceil_by(min_frames, frame_factor)
    hi = _floor_by(min(max_frames, total), frame_factor)
    n = total / video_fps * fps_target
    n = min(min(max(n, lo), hi), total)
    n = _floor_by(n, frame_factor)
    if not (frame_factor <= n <= total):
        raise MediaError(f"the clip has {total} frames; the Qwen recipe needs at least {frame_factor}")
    return int(n)


def qwen_smart_resize(height: int, width: int, *, factor: int, min_pixels: float, max_pixels: float) -> tuple[int, int]:
    """qwen-vl-utils ``smart_resize``: sides multiples of ``factor``, pixels in [min, max], aspect kept."""
    if max(height, width) / min(height, width) > 200:
        raise MediaError(f"frame aspect ratio {max(height, width) / min(height, width):.0f} exceeds 200")
    h = max(factor, _round_by(height, factor))
    w = max(factor, _round_by(width, factor))
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = _floor_by(height / beta, factor)
        w = _floor_by(width / beta, factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = _ceil_by(height * beta, factor)
        w = _ceil_by(width * beta, factor)
    return int(h), int(w)


def _smolvlm(total: int, fps: float, *, fps_target: float, max_frames: int, skip_secs: float) -> list[int]:
    duration = total / fps
    desired = max(1, min(int(round(fps_target * duration)), max_frames))
    lo, hi = 0, total - 1
    if skip_secs > 0 and duration - 2 * skip_secs > max_frames * fps_target:
        lo, hi = int(skip_secs * fps), int(total - skip_secs * fps)
    lo, hi = max(0, lo), min(hi, total - 1)
    if lo >= hi:
        lo, hi = 0, total - 1
    return [int(i) for i in np.unique(np.linspace(lo, hi, desired, dtype=int))]


def _glm(total: int, fps: float, *, fps_target: float, max_duration: float) -> list[int]:
    last = total - 1
    duration = total / fps
    if duration <= max_duration:
        n = max(int(math.floor(duration * fps_target)), 1)
        picks = [min(last, int(math.ceil(i * fps / fps_target))) for i in range(n)]
    else:
        n = int(max_duration * fps_target)
        if n >= total:
            picks = list(range(total))
        else:
            picks = [min(last, int(math.ceil(t * fps))) for t in np.linspace(0, duration, n, endpoint=True)]
    out = list(dict.fromkeys(picks))
    if len(out) % 2:
        out.append(out[-1])
    return out


def _videollama3(total: int, fps: float, *, fps_target: float, min_frames: int, max_frames: int,
                 temporal_patch_size: int) -> list[int]:
    hi = math.floor(min(max_frames, total) / temporal_patch_size) * temporal_patch_size
    n = total / fps * fps_target
    n = min(max(n, min_frames), hi, total)
    n = math.floor(n / temporal_patch_size) * temporal_patch_size
    if n < 1:
        raise MediaError(f"the clip has {total} frames; the VideoLLaMA3 recipe samples none")
    return [int(i) for i in np.arange(0, total, total / n).astype(int)]


# --------------------------------------------------------------------------------------------
# the recipes
# --------------------------------------------------------------------------------------------

_QWEN_UTILS_08 = ("qwen-vl-utils 0.0.8 vision_process.py (QwenLM/Qwen2.5-VL, qwen-vl-utils/): FPS=2, "
                  "FPS_MIN_FRAMES=4, FPS_MAX_FRAMES=768, FRAME_FACTOR=2, IMAGE_FACTOR=28, "
                  "VIDEO_MIN_PIXELS=128*28*28, VIDEO_MAX_PIXELS=768*28*28, VIDEO_TOTAL_PIXELS=24576*28*28; "
                  "the Qwen2.5-VL report (arXiv 2502.13923, Table 8) evaluates with <= 768 frames and "
                  "<= 24,576 video tokens")


def _qwen(name: str, families: tuple[str, ...], source: str, factor: int, total_tokens: int,
          absolute_linspace: bool = False) -> Recipe:
    params: dict[str, Any] = {"fps": 2.0, "min_frames": 4, "max_frames": 768, "frame_factor": 2}
    if absolute_linspace:
        params["absolute_linspace"] = True
    return Recipe(
        name=name, sampler="qwen", params=params,
        size={"kind": "qwen", "factor": factor, "min_pixels": 128 * factor * factor,
              "max_pixels": 768 * factor * factor, "total_pixels": total_tokens * factor * factor, "frame_factor": 2},
        source=source, families=families,
        description=f"2 fps, 4-768 frames (even count), sides multiples of {factor}, "
        f"<= {total_tokens} video tokens in total")


RECIPES: dict[str, Recipe] = {r.name: r for r in [
    _qwen("qwen2-vl", ("qwen2-vl",), _QWEN_UTILS_08, 28, 24576),
    _qwen("qwen2.5-vl", ("qwen2.5-vl",), _QWEN_UTILS_08, 28, 24576),
    _qwen("qwen2.5-omni", ("qwen2.5-omni", "qwen2.5-omni-thinker"), "qwen-omni-utils v2_5 vision_process.py (QwenLM/Qwen2.5-Omni): "
          "qwen-vl-utils' smart_nframes/smart_resize with FPS=2, FPS_MIN_FRAMES=4, FPS_MAX_FRAMES=768, FRAME_FACTOR=2, "
          "IMAGE_FACTOR=28, VIDEO_MIN_PIXELS=128*28*28, VIDEO_MAX_PIXELS=768*28*28 and its default "
          "VIDEO_TOTAL_PIXELS=128000*28*28*0.9", 28, 115200),
    _qwen("qwen3-vl", ("qwen3-vl", "qwen3-vl-moe", "qwen3.5", "qwen3.5-moe"),
          "qwen-vl-utils 0.0.14 vision_process.py (QwenLM/Qwen3-VL) with image_patch_size=16: FPS=2, "
          "FPS_MIN_FRAMES=4, FPS_MAX_FRAMES=768, FRAME_FACTOR=2, VIDEO_MIN_TOKEN_NUM=128, VIDEO_MAX_TOKEN_NUM=768; "
          "total_pixels=20480*32*32 as in the Qwen3-VL README's video examples", 32, 20480, absolute_linspace=True),
    Recipe("llava-onevision", "linspace_int", {"num_frames": 32},
           {"kind": "processor", "note": "the processor resizes every frame to 384x384"},
           "lmms-eval llava_onevision load_video (max_frames_num=32): np.linspace(0, n-1, 32, dtype=int); "
           "the LLaVA-OneVision video numbers use 32 frames", "32 uniformly spaced frames, processor size",
           ("llava-onevision",)),
    Recipe("llava-next-video", "arange", {"num_frames": 8},
           {"kind": "processor", "note": "the processor resizes and crops to 336x336"},
           "llava-hf/LLaVA-NeXT-Video-7B-hf model card: indices = np.arange(0, total, total / 8).astype(int)",
           "8 uniformly spaced frames, processor size", ("llava-next-video",)),
    Recipe("video-llava", "arange", {"num_frames": 8},
           {"kind": "processor", "note": "the processor resizes and crops to 224x224"},
           "LanguageBind/Video-LLaVA-7B-hf model card: indices = np.arange(0, total, total / 8).astype(int) "
           "(the video tower takes 8 frames)", "8 uniformly spaced frames, processor size", ("video-llava",)),
    Recipe("internvl", "segment", {"num_frames": 32},
           {"kind": "processor", "note": "448x448 per frame, one tile (max_num=1)"},
           "OpenGVLab InternVL model cards, load_video(bound, input_size=448, max_num=1, num_segments=32) "
           "with get_index: segment midpoints int(start + seg/2 + round(seg*i))",
           "32 segment midpoints, 448 px", ("internvl",)),
    Recipe("internvl-16f", "segment", {"num_frames": 16},
           {"kind": "processor", "note": "448x448 per frame, one tile (max_num=1)"},
           "InternVL3 report (arXiv 2504.10479) Table 8: MVBench evaluated with 16 frames; indices by the "
           "model card's get_index", "16 segment midpoints, 448 px (InternVL3's MVBench setting)", ("internvl",)),
    Recipe("smolvlm2", "smolvlm", {"fps": 1.0, "max_frames": 64, "skip_secs": 1.0},
           {"kind": "processor", "note": "video_size longest_edge 512 (processor)"},
           "HuggingFaceTB/SmolVLM2 preprocessor_config.json video_sampling {fps: 1, max_frames: 64, "
           "video_size: {longest_edge: 512}} with transformers' SmolVLMVideoProcessor.sample_frames",
           "1 fps up to 64 frames, 1 s skipped at both ends of long clips", ("smolvlm2",)),
    Recipe("glm-4.1v", "glm", {"fps": 2.0, "max_duration": 300},
           {"kind": "processor", "note": "the processor's smart resize (multiples of 28)"},
           "GLM-4.1V video processor (transformers Glm4vVideoProcessor.sample_frames, fps=2, max_duration=300)",
           "2 fps (300 s at most), duplicates dropped, even count", ("glm-4.1v", "glm-4.6v", "glm-4.5v")),
    Recipe("videollama3", "videollama3", {"fps": 1.0, "min_frames": 4, "max_frames": 180, "temporal_patch_size": 1},
           {"kind": "processor", "note": "the processor's smart resize"},
           "VideoLLaMA3 README (fps=1, max_frames=180) with transformers' VideoLlama3VideoProcessor.sample_frames "
           "(min_frames=4)", "1 fps, 4-180 frames", ("videollama3",)),
    Recipe("gemma4", "floor_uniform", {"num_frames": 32},
           {"kind": "processor", "note": "70 soft tokens per frame (processor)"},
           "Gemma 4 video processor defaults (transformers Gemma4VideoProcessor: num_frames=32, uniform "
           "arange(32) * n // 32)", "32 uniformly spaced frames", ("gemma4", "gemma4-unified")),
]}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        hint = did_you_mean(name, list(RECIPES))
        raise UsageError(f"unknown video recipe {name!r}" + (f"; {hint}" if hint else ""),
                         hint="recipes: " + ", ".join(RECIPES))
    return RECIPES[name]
