"""Each family's video recipe against its official formula on a grid of (duration, fps).

References, in order of preference: the real code that ships the formula (transformers' per-family
video processors, lmms-eval's InternVL ``get_index``, transformers' Qwen ``smart_resize``), else a
transcription of the primary source written here independently of ``mosseval.recipes`` (qwen-vl-utils'
``smart_nframes`` with ``torch.linspace(...).round()``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mosseval.errors import MediaError, UsageError
from mosseval.recipes import RECIPES, get_recipe, recipe_window
from mosseval.records import FrameSpec
from mosseval.video import compute_indices, target_shape

DURATIONS = (1.0, 2.5, 3.0, 7.3, 16.0, 59.9, 181.0, 1200.0)
FPS = (3.0, 10.0, 23.976, 25.0, 29.97, 30.0, 60.0)
GRID = [(d, f) for d in DURATIONS for f in FPS]
SIZES = [(96, 160), (240, 320), (360, 640), (480, 854), (720, 1280), (1080, 1920), (1920, 1080), (300, 300),
         (17, 3000)]


def n_frames(duration: float, fps: float) -> int:
    return max(1, int(round(duration * fps)))


# --------------------------------------------------------------------------- Qwen (qwen-vl-utils)


def ref_qwen_nframes(total: int, video_fps: float, fps: float = 2.0, min_frames: int = 4, max_frames: int = 768,
                     factor: int = 2) -> int:
    """qwen-vl-utils ``smart_nframes`` (fps mode), transcribed from vision_process.py."""
    def ceil_f(n): return math.ceil(n / factor) * factor
    def floor_f(n): return math.floor(n / factor) * factor
    lo = ceil_f(min_frames)
    hi = floor_f(min(max_frames, total))
    n = total / video_fps * fps
    n = min(min(max(n, lo), hi), total)
    return floor_f(n)


@pytest.mark.parametrize("name", ["qwen2-vl", "qwen2.5-vl", "qwen2.5-omni", "qwen3-vl"])
def test_qwen_indices_match_qwen_vl_utils(name):
    torch = pytest.importorskip("torch")
    recipe = get_recipe(name)
    checked = 0
    for duration, fps in GRID:
        total = n_frames(duration, fps)
        k = ref_qwen_nframes(total, fps)
        if not 2 <= k <= total:
            with pytest.raises(MediaError):
                recipe.plan(total, fps)
            continue
        want = torch.linspace(0, total - 1, k).round().long().tolist()
        got, window, sampled = recipe.plan(total, fps)
        assert got == want, (duration, fps)
        assert sampled == pytest.approx(k / total * fps)  # qwen-vl-utils' sample_fps
        assert len(got) % 2 == 0 and len(got) <= 768
        checked += 1
    assert checked >= 50


def test_qwen_bounds_follow_each_utils_version():
    torch = pytest.importorskip("torch")
    # 0.0.14 (Qwen3-VL): linspace over absolute frame numbers of [ceil(start*fps), floor(end*fps)]
    for total, fps, start, end in [(36000, 29.97, 100.0, 1300.0), (90000, 25.0, 7.0, 3599.0), (2000, 30.0, 1.5, 40.2)]:
        lo, hi = math.ceil(start * fps), min(math.floor(end * fps), total - 1)
        k = ref_qwen_nframes(hi - lo + 1, fps)
        assert get_recipe("qwen3-vl").plan(total, fps, start, end)[0] == \
            torch.linspace(lo, hi, k).round().long().tolist()
        # 0.0.8 (Qwen2/2.5-VL): the decoded window is indexed from 0
        assert get_recipe("qwen2.5-vl").plan(total, fps, start, end)[0] == \
            [lo + i for i in torch.linspace(0, hi - lo, k).round().long().tolist()]


def test_torch_linspace_is_bit_exact():
    torch = pytest.importorskip("torch")
    from mosseval.recipes import torch_linspace

    rng = np.random.default_rng(0)
    for total, k in zip(rng.integers(2, 500000, 3000), rng.integers(2, 769, 3000)):
        lo = int(rng.integers(0, 1000))
        want = torch.linspace(lo, lo + int(total) - 1, int(k)).numpy()
        assert np.array_equal(torch_linspace(lo, lo + int(total) - 1, int(k)), want)
    # the case float64 np.linspace gets wrong
    assert np.round(torch_linspace(0, 28770, 768))[358] != np.round(np.linspace(0, 28770, 768))[358]


def test_qwen_frame_counts_follow_2fps_with_bounds_of_4_and_768():
    r = get_recipe("qwen2.5-vl")
    assert len(r.plan(300, 30.0)[0]) == 20  # 10 s at 2 fps
    assert len(r.plan(30, 30.0)[0]) == 4  # 1 s: the 4-frame minimum
    assert len(r.plan(3 * 30, 30.0)[0]) == 6
    assert len(r.plan(3600 * 30, 30.0)[0]) == 768  # an hour: the cap
    assert len(r.plan(int(7.3 * 30), 30.0)[0]) == 14  # 14.6 -> floored to an even 14


@pytest.mark.parametrize("name,factor,total_tokens", [("qwen2.5-vl", 28, 24576), ("qwen3-vl", 32, 20480),
                                                      ("qwen2.5-omni", 28, 115200)])
def test_qwen_sizes_match_smart_resize_with_the_video_budget(name, factor, total_tokens):
    pytest.importorskip("transformers")
    from mosseval.torchvision_compat import ensure_torchvision

    ensure_torchvision()
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    recipe = get_recipe(name)
    min_px = 128 * factor * factor
    for k in (4, 16, 64, 200, 768):
        budget = max(min(768 * factor * factor, total_tokens * factor * factor / k * 2), int(min_px * 1.05))
        for h, w in SIZES:
            if max(h, w) / min(h, w) > 200:
                continue
            want = smart_resize(h, w, factor=factor, min_pixels=min_px, max_pixels=budget)
            got = recipe.frame_size(h, w, k)
            assert got == tuple(want), (k, h, w)
            assert got[0] % factor == 0 and got[1] % factor == 0
            assert got[0] * got[1] <= max(budget, min_px * 2)
    # 768 frames of 720p: the total budget (or the per-frame floor), not the per-frame cap, decides
    h, w = recipe.frame_size(720, 1280, 768)
    assert h * w <= max(total_tokens * factor * factor / 768 * 2, int(min_px * 1.05)) < 768 * factor * factor


def test_qwen_tokens_stay_within_the_reported_budget():
    # Qwen2.5-VL report: <= 24,576 video tokens (one token per 28x28 pixels of every 2 frames). As in
    # qwen-vl-utils, the per-frame floor (1.05 * 128*28*28 pixels) wins once k > 2*24576/134 = 365 frames.
    r = get_recipe("qwen2.5-vl")
    for duration in (10.0, 60.0, 180.0, 600.0, 3600.0):
        total = int(duration * 30)
        k = len(r.plan(total, 30.0)[0])
        h, w = r.frame_size(720, 1280, k)
        tokens = (k // 2) * (h // 28) * (w // 28)
        if k <= 364:
            assert tokens <= 24576, (duration, k, h, w, tokens)
        else:
            # the budget per frame is the floor itself; smart_resize then rounds down to multiples of 28
            assert 0.85 * int(128 * 28 * 28 * 1.05) <= h * w <= int(128 * 28 * 28 * 1.05), (duration, k, h, w)


# --------------------------------------------------------------------------- uniform recipes


def test_llava_onevision_is_lmms_eval_linspace_32():
    r = get_recipe("llava-onevision")
    for duration, fps in GRID:
        total = n_frames(duration, fps)
        want = np.linspace(0, total - 1, 32, dtype=int).tolist()
        assert r.plan(total, fps)[0] == want
        assert r.frame_size(480, 640, 32) is None  # the processor resizes to 384x384


@pytest.mark.parametrize("name", ["llava-next-video", "video-llava"])
def test_model_card_arange_8(name):
    r = get_recipe(name)
    for duration, fps in GRID:
        total = n_frames(duration, fps)
        want = np.arange(0, total, total / 8).astype(int).tolist()
        got = r.plan(total, fps)[0]
        assert got == want
        if total >= 8:
            assert len(got) == 8 and len(set(got)) == 8


@pytest.mark.parametrize("name,n", [("internvl", 32), ("internvl-16f", 16)])
def test_internvl_segment_midpoints_match_get_index(name, n):
    r = get_recipe(name)
    try:
        from mosseval.torchvision_compat import ensure_torchvision

        ensure_torchvision()
        from lmms_eval.models.simple.internvl3 import get_index as lmms_get_index
    except Exception:  # noqa: BLE001 - lmms-eval is an optional test dependency
        lmms_get_index = None

    def ref(bound, fps, max_frame):  # the InternVL model card's get_index, transcribed
        start, end = bound if bound else (-100000, 100000)
        s = max(0, round(start * fps))
        e = min(round(end * fps), max_frame)
        seg = float(e - s) / n
        return [int(s + seg / 2 + np.round(seg * i)) for i in range(n)]

    for duration, fps in GRID:
        total = n_frames(duration, fps)
        for bound in (None, (duration * 0.25, duration * 0.75)):
            want = ref(bound, fps, total - 1)
            start, end = bound if bound else (None, None)
            assert r.plan(total, fps, start, end)[0] == want, (duration, fps, bound)
            if lmms_get_index is not None:
                assert want == lmms_get_index(bound, fps, total - 1, num_segments=n).tolist()


def test_gemma4_matches_its_video_processor():
    transformers = pytest.importorskip("transformers")
    from mosseval.torchvision_compat import ensure_torchvision

    ensure_torchvision()
    from transformers.video_utils import VideoMetadata

    vp = transformers.Gemma4VideoProcessor()
    r = get_recipe("gemma4")
    for duration, fps in GRID:
        total = n_frames(duration, fps)
        if total < 32:
            with pytest.raises(MediaError):
                r.plan(total, fps)
            continue
        meta = VideoMetadata(total_num_frames=total, fps=fps, duration=total / fps)
        assert r.plan(total, fps)[0] == vp.sample_frames(meta).tolist()


@pytest.mark.parametrize("name,cls,kwargs", [
    ("smolvlm2", "SmolVLMVideoProcessor", {"fps": 1, "num_frames": 64}),
    ("glm-4.1v", "Glm4vVideoProcessor", {"fps": 2}),
    ("videollama3", "VideoLlama3VideoProcessor", {"fps": 1, "max_frames": 180, "min_frames": 4,
                                                  "temporal_patch_size": 1}),
])
def test_processor_samplers_match_transformers(name, cls, kwargs):
    transformers = pytest.importorskip("transformers")
    from mosseval.torchvision_compat import ensure_torchvision

    ensure_torchvision()
    from transformers.video_utils import VideoMetadata

    vp = getattr(transformers, cls)()
    r = get_recipe(name)
    for duration, fps in GRID:
        total = n_frames(duration, fps)
        meta = VideoMetadata(total_num_frames=total, fps=fps, duration=total / fps)
        try:
            want = [int(i) for i in vp.sample_frames(meta, **kwargs)]
        except ValueError:
            with pytest.raises(MediaError):
                r.plan(total, fps)
            continue
        assert r.plan(total, fps)[0] == want, (duration, fps)


# --------------------------------------------------------------------------- plumbing


def test_bounds_window_and_frame_folders():
    r = get_recipe("llava-onevision")
    # 60 s at 30 fps, window [10 s, 20 s]: frames ceil(300)..floor(600) -> 301 frames
    assert recipe_window(1800, 30.0, 10.0, 20.0) == (300, 600)
    idx, window, sampled = r.plan(1800, 30.0, 10.0, 20.0)
    assert idx[0] == 300 and idx[-1] == 600 and len(idx) == 32
    assert window == pytest.approx(301 / 30) and sampled == pytest.approx(32 / 301 * 30)
    # a frame folder numbered from 1 (MVBench TVQA): indices shift, the formula does not
    folder = r.plan(90, 3.0, first_index=1)[0]
    assert folder == [i + 1 for i in r.plan(90, 3.0)[0]]
    with pytest.raises(MediaError, match="fewer than 2 frames"):
        r.plan(1800, 30.0, 10.0, 10.01)
    with pytest.raises(MediaError, match="reversed"):
        r.plan(1800, 30.0, 20.0, 10.0)


def test_video_pipeline_uses_the_recipe(tmp_path):
    from mosseval.records import VideoRef
    from mosseval.video import sample_frames
    from tests.support.videos import write_mp4

    write_mp4(tmp_path / "clip.mp4", n=90, fps=30, width=160, height=96)
    spec = FrameSpec(strategy="uniform", num_frames=3, recipe="qwen2.5-vl")
    frames = sample_frames(VideoRef(path="clip.mp4"), spec, tmp_path)
    # 3 s at 2 fps -> 6 frames; 96x160 -> smart_resize(factor 28, >= 128*28*28 pixels) upscales
    assert frames.info.recipe == "qwen2.5-vl" and len(frames.info.indices) == 6
    assert frames.array.shape[1:3] == get_recipe("qwen2.5-vl").frame_size(96, 160, 6)
    assert frames.array.shape[1] % 28 == 0 and frames.array.shape[1] * frames.array.shape[2] >= 128 * 28 * 28
    assert frames.info.sampled_fps == pytest.approx(2.0)
    keep = sample_frames(VideoRef(path="clip.mp4"), FrameSpec(recipe="llava-onevision"), tmp_path)
    assert keep.array.shape == (32, 96, 160, 3)  # processor-sized recipes keep the decoded size
    assert target_shape(FrameSpec(recipe="llava-onevision", max_pixels=4000), 96, 160, 32)[0] * \
        target_shape(FrameSpec(recipe="llava-onevision", max_pixels=4000), 96, 160, 32)[1] <= 4000


def test_every_recipe_names_its_source_and_families():
    from mosseval.models.families import FAMILIES

    for r in RECIPES.values():
        assert r.source and r.description and r.families, r.name
        assert set(r.families) <= set(FAMILIES), r.name
    with pytest.raises(UsageError, match="did you mean 'qwen2.5-vl'"):
        get_recipe("qwen2.5vl")
    assert compute_indices(FrameSpec(recipe="videollama3"), 300, 30.0) == list(range(0, 300, 30))


# --------------------------------------------------------------------------- --frames-from


def test_frames_from_model_runs_the_family_recipe(tmp_path, capsys):
    """tiny-qwen2.5-vl with --frames-from model: every sample's frames are the Qwen recipe's, the
    recipe is in the identity, and the run lands in another directory than the task-protocol run."""
    pytest.importorskip("transformers")
    import json
    from pathlib import Path

    from mosseval.records import VideoRef
    from mosseval.video import probe
    from tests.support.cli import main_inprocess
    from tests.support.families import write_matrix_task

    tasks = write_matrix_task(tmp_path / "tasks")
    common = ["run", "--model", "tiny-qwen2.5-vl", "--tasks", "family-matrix", "--tasks-dir", tasks, "--limit", "2",
              "-o", tmp_path / "runs", "-q"]
    code, out, err = main_inprocess(*common, "--frames-from", "model", capsys=capsys)
    assert code == 0, err
    run_dir = Path(out.strip().splitlines()[-1])
    run = json.loads((run_dir / "run.json").read_text())
    assert run["identity"]["eval"]["frames_from"] == "model"
    assert run["identity"]["eval"]["recipes"]["qwen2.5-vl"] == get_recipe("qwen2.5-vl").describe()
    assert run["spec"]["frames"] == {"frames_from": "model", "recipe": "qwen2.5-vl"}
    records = [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]
    from mosseval.data.locate import resolve_data_root
    from mosseval.records import TaskSpec

    spec = TaskSpec.model_validate(run["task_specs"]["family-matrix"])
    data_root = resolve_data_root(spec, None, None, generate=False)
    for r in records:
        f = r["generation"]["frames"]
        video = probe(VideoRef.model_validate(r["sample"]["video"]), data_root)
        want, _, _ = get_recipe("qwen2.5-vl").plan(video.num_frames, video.fps, r["sample"]["video"]["start"],
                                                    r["sample"]["video"]["end"])
        assert f["recipe"] == "qwen2.5-vl" and f["indices"] == want
        assert (f["height"], f["width"]) == get_recipe("qwen2.5-vl").frame_size(video.height, video.width, len(want))
        assert r["generation"]["error"] is None and r["generation"]["extra"]["visual_tokens"] > 0
    code, out, err = main_inprocess(*common, capsys=capsys)  # the task protocol: another run
    assert code == 0 and Path(out.strip().splitlines()[-1]) != run_dir


@pytest.mark.parametrize("extra,message", [
    (["--frames-from", "modle"], "--frames-from 'modle' is not one of: task, model"),
    (["--frames-from", "model", "--frames", "4"], "--frames / --max-pixels override the task's frame settings"),
    (["--frames-from", "model", "--model", "gpt-4o"], "mosseval does not know the video recipe of 'gpt-4o'"),
    (["--frames-from", "model", "--model", "gemma-3-4b"], "the Gemma 3 family publishes no video recipe"),
])
def test_frames_from_refusals(extra, message, tmp_path, capsys):
    from mosseval.errors import ExitCode
    from tests.support.cli import main_inprocess

    args = ["run", "--model", "oracle", "--limit", "1", "-o", tmp_path]
    if "--model" in extra:
        i = extra.index("--model")
        args[2] = extra[i + 1]
        extra = extra[:i] + extra[i + 2:]
    code, out, err = main_inprocess(*args, *extra, capsys=capsys)
    assert code == ExitCode.USAGE and message in err and "Traceback" not in err
    assert not list(tmp_path.glob("*/run.json"))
