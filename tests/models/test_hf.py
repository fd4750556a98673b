"""The transformers backend on the real tiny Qwen2.5-VL: video path, batching, resolution, args."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from mosseval.errors import DataNotFoundError, UsageError
from mosseval.models.base import Request
from mosseval.models.registry import ModelSpec, resolve
from mosseval.records import FrameInfo, GenerationSpec, Sample, TaskSpec
from mosseval.video import Frames

pytestmark = pytest.mark.hf

pytest.importorskip("transformers")

TASK = TaskSpec(name="synthetic", version="1")


def make_frames(seed: int, n: int = 8, h: int = 64, w: int = 64, sampled_fps: float | None = 2.0,
                source_fps: float | None = 30.0, step: int = 15) -> Frames:
    arr = np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    indices = [i * step for i in range(n)]
    info = FrameInfo(indices=indices, timestamps=[i / source_fps for i in indices] if source_fps else [],
                     decoder="synthetic", source_fps=source_fps, sampled_fps=sampled_fps,
                     num_source_frames=n * step, width=w, height=h)
    return Frames(arr, info)


def make_request(seed: int = 0, text: str = "What happens next?", frames: Frames | None = None,
                 video: bool = True, max_new_tokens: int = 16, temperature: float = 0.0,
                 prefill: str | None = None) -> Request:
    content = ([{"type": "video"}] if video else []) + [{"type": "text", "text": text}]
    return Request(
        sample=Sample(id=f"s{seed}", task="synthetic", question=text, answer="A"),
        task=TASK,
        messages=[{"role": "user", "content": content}],
        frames=frames,
        generation=GenerationSpec(max_new_tokens=max_new_tokens, temperature=temperature),
        prefill=prefill,
        seed=seed,
    )


@pytest.fixture(scope="module")
def model():
    from mosseval.models.registry import load_model

    m = load_model(resolve("tiny-qwen2.5-vl", {"dtype": "float32", "device": "cpu", "batch_size": 4}))
    yield m
    m.close()


# --------------------------------------------------------------------------- generation


def test_video_generation_is_deterministic_and_counts_tokens(model):
    req = make_request(1, frames=make_frames(1))
    first = model.generate([req])[0]
    second = model.generate([req])[0]
    assert first.error is None and isinstance(first.text, str) and first.text
    assert first.text == second.text
    assert first.usage.prompt_tokens == second.usage.prompt_tokens
    # 8 frames of 64x64: 4 temporal groups x (8x8 patches / merge 2x2) = 64 video tokens + the text
    assert 64 < first.usage.prompt_tokens < 160
    assert 1 <= first.usage.completion_tokens <= 16
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens
    assert first.extra["video_fps"] == pytest.approx(2.0)
    for token in ("<|video_pad|>", "<|vision_start|>", "<|im_end|>"):
        assert token not in first.text


def test_batch_equals_individual_generation(model):
    reqs = [
        make_request(2, frames=make_frames(2, n=8)),
        make_request(3, text="Which object moves first? Answer with the letter.", frames=make_frames(3, n=4)),
        make_request(4, text="No video here, just text.", frames=None, video=False),
    ]
    batched = model.generate(reqs)
    single = [model.generate([r])[0] for r in reqs]
    assert [r.text for r in batched] == [r.text for r in single]
    assert [r.usage.prompt_tokens for r in batched] == [r.usage.prompt_tokens for r in single]
    assert len({r.usage.prompt_tokens for r in batched}) == 3  # really different lengths: padding used


def test_text_only_request_and_placeholder_without_frames(model):
    plain = model.generate([make_request(5, frames=None, video=False)])[0]
    assert plain.error is None and plain.text is not None
    # a {"type": "video"} item with no frames is dropped instead of crashing the processor
    dangling = model.generate([make_request(5, frames=None, video=True)])[0]
    assert dangling.text == plain.text
    # frames without a placeholder: the video goes first in the last user turn
    req = make_request(5, frames=make_frames(5), video=False)
    req.messages = [{"role": "user", "content": "Describe the clip."}]
    inputs, _ = model.prepare_inputs([req])
    prompt = model.tokenizer.decode(inputs["input_ids"][0])
    assert "user\n<|vision_start|><|video_pad|>" in prompt and prompt.count("<|vision_start|>") == 1
    assert req.messages == [{"role": "user", "content": "Describe the clip."}]  # not mutated


def test_video_metadata_fps_reaches_the_processor(model):
    tp = model.processor.video_processor.temporal_patch_size
    for fps in (2.0, 4.0, 0.5):
        inputs, seen = model.prepare_inputs([make_request(6, frames=make_frames(6, sampled_fps=fps))])
        assert seen == [pytest.approx(fps)]
        assert inputs["video_grid_thw"].tolist() == [[4, 8, 8]]
        assert inputs["second_per_grid_ts"].tolist() == [pytest.approx(tp / fps)]
    # without a source fps the sampled fps itself is used
    inputs, seen = model.prepare_inputs([make_request(6, frames=make_frames(6, sampled_fps=3.0, source_fps=None))])
    assert inputs["second_per_grid_ts"].tolist() == [pytest.approx(tp / 3.0)]


def test_fps_changes_temporal_positions(model):
    # Same pixels, different sampled fps -> different Qwen2.5-VL rope positions -> different logits.
    import torch

    logits = []
    for fps in (1.0, 8.0):
        inputs, _ = model.prepare_inputs([make_request(7, frames=make_frames(7, sampled_fps=fps))])
        with torch.inference_mode():
            logits.append(model.model(**inputs).logits[0, -1])
    assert not torch.allclose(logits[0], logits[1])


def test_video_metadata_for_is_exact_for_decoder_spans():
    from mosseval.models.hf import video_metadata_for

    # 8 frames uniformly over a 4 s clip of a 30 fps source -> 2 frames/s
    frames = make_frames(0, n=8, sampled_fps=2.0, source_fps=30.0, step=15)
    meta = video_metadata_for(frames)
    assert meta["fps"] == 30.0 and meta["frames_indices"] == list(range(0, 120, 15))
    assert len(meta["frames_indices"]) / meta["total_num_frames"] * meta["fps"] == pytest.approx(2.0)
    from transformers.video_utils import VideoMetadata

    vm = VideoMetadata(**meta)
    assert vm.sampled_fps == pytest.approx(2.0)
    assert vm.timestamps == pytest.approx([i / 30.0 for i in range(0, 120, 15)])
    # unknown timing: no fps at all (the processor's documented default applies)
    bare = Frames(frames.array, FrameInfo(indices=[], decoder="x"))
    assert "fps" not in video_metadata_for(bare)
    # timestamps alone are enough
    ts = Frames(frames.array, FrameInfo(indices=list(range(8)), timestamps=[i * 0.25 for i in range(8)],
                                        decoder="x"))
    assert video_metadata_for(ts)["fps"] == pytest.approx(4.0)


def test_prefill_is_continued_not_returned(model):
    req = make_request(8, frames=make_frames(8), prefill="Best option:(")
    inputs, _ = model.prepare_inputs([req])
    prompt = model.tokenizer.decode(inputs["input_ids"][0])
    assert prompt.endswith("<|im_start|>assistant\nBest option:(")
    out = model.generate([req])[0]
    assert not out.text.startswith("Best option:(")


def test_sampling_is_seeded_per_request_independent_of_batching(model):
    a = make_request(11, frames=make_frames(11), temperature=1.0)
    b = make_request(12, frames=make_frames(12), temperature=1.0)
    together = model.generate([a, b])
    alone = [model.generate([a])[0], model.generate([b])[0]]
    assert [r.text for r in together] == [r.text for r in alone]
    again = model.generate([a])[0]
    assert again.text == alone[0].text


def test_identity_names_checkpoint_weights_and_generation(model):
    ident = model.identity()
    assert ident["backend"] == "hf" and ident["name"] == "tiny-qwen2.5-vl"
    assert ident["checkpoint"]["kind"] == "builtin"
    assert len(ident["checkpoint"]["weights_sha256"]) == 64
    assert ident["dtype"] == "float32"
    assert "max_pixels" in ident and "generation" in ident
    json.dumps(ident)  # serialisable for the run hash
    assert "device" not in ident and "batch_size" not in ident  # runtime, not identity
    assert model.runtime_info()["torchvision_compat"] in ("native", "patched")


def test_max_pixels_reaches_the_processor():
    from mosseval.models.registry import load_model

    m = load_model(resolve("tiny-qwen2.5-vl", {"max_pixels": 32 * 32, "device": "cpu"}))
    try:
        inputs, _ = m.prepare_inputs([make_request(9, frames=make_frames(9, h=64, w=64))])
        assert inputs["video_grid_thw"].tolist() == [[4, 4, 4]]  # 64x64 shrunk to 32x32
        assert m.identity()["max_pixels"] == 1024
    finally:
        m.close()


# --------------------------------------------------------------------------- checkpoint resolution


def _tiny_dir() -> Path:
    from mosseval.models.tiny import ensure_tiny

    return ensure_tiny()


def _fake_hub_cache(root: Path, repo_id: str, commit: str = "0123456789abcdef0123456789abcdef01234567") -> Path:
    """A Hugging Face hub cache laid out exactly like huggingface_hub writes it."""
    import hashlib
    import os

    repo = root / ("models--" + repo_id.replace("/", "--"))
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for p in _tiny_dir().iterdir():  # files live in blobs/<sha256>; snapshots hold relative symlinks
        blob = hashlib.sha256(p.read_bytes()).hexdigest()
        shutil.copy2(p, repo / "blobs" / blob)
        os.symlink(Path("..", "..", "blobs", blob), snap / p.name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return snap


def test_missing_hub_model_fails_fast_with_instructions(tmp_path, monkeypatch):
    from mosseval.models.hf import parse_args, resolve_checkpoint

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(DataNotFoundError) as err:
        resolve_checkpoint("Qwen/Qwen2.5-VL-7B-Instruct", parse_args({"cache_dir": str(tmp_path)}))
    assert time.monotonic() - start < 5
    text = str(err.value)
    assert "Qwen/Qwen2.5-VL-7B-Instruct" in text and "local Hugging Face cache" in text
    assert "hf download Qwen/Qwen2.5-VL-7B-Instruct" in text and "HF_HOME" in text
    assert err.value.exit_code == 6


def test_missing_hub_model_through_the_registry(tmp_path, monkeypatch):
    from mosseval.models.registry import load_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # even "online", nothing is fetched
    spec = resolve("qwen2.5-vl-7b", {"cache_dir": str(tmp_path)})
    start = time.monotonic()
    with pytest.raises(DataNotFoundError):
        load_model(spec)
    assert time.monotonic() - start < 5


def test_hub_id_resolves_from_a_local_cache(tmp_path):
    from mosseval.models.registry import load_model

    snap = _fake_hub_cache(tmp_path, "acme/tiny-video-vl")
    m = load_model(ModelSpec("acme/tiny-video-vl", "hf", "acme/tiny-video-vl",
                             {"cache_dir": str(tmp_path), "device": "cpu"}))
    try:
        ident = m.identity()["checkpoint"]
        assert ident == {"kind": "hub", "source": "acme/tiny-video-vl", "repo_id": "acme/tiny-video-vl",
                         "commit": snap.name, "weights_sha256": ident["weights_sha256"]}
        out = m.generate([make_request(1, frames=make_frames(1))])[0]
        assert out.error is None and out.text
    finally:
        m.close()


def test_incomplete_hub_snapshot_is_reported(tmp_path):
    from mosseval.models.hf import parse_args, resolve_checkpoint

    snap = _fake_hub_cache(tmp_path, "acme/partial")
    (snap / "model.safetensors").unlink()
    with pytest.raises(DataNotFoundError, match="incomplete"):
        resolve_checkpoint("acme/partial", parse_args({"cache_dir": str(tmp_path)}))


def test_local_directory_and_fingerprint(tmp_path):
    from mosseval.models import hf
    from mosseval.models.hf import parse_args, resolve_checkpoint, weights_fingerprint

    local = tmp_path / "ckpt"
    shutil.copytree(_tiny_dir(), local)
    resolved = resolve_checkpoint(str(local), parse_args({}))
    assert resolved.kind == "local" and resolved.path == local.resolve()
    before = weights_fingerprint(local)
    assert before == weights_fingerprint(_tiny_dir())
    # flip one byte deep inside the weights: the fingerprint changes in full and sampled mode
    data = bytearray((local / "model.safetensors").read_bytes())
    data[-100] ^= 0xFF
    (local / "model.safetensors").write_bytes(bytes(data))
    assert weights_fingerprint(local) != before
    old = hf._FULL_HASH_LIMIT
    hf._FULL_HASH_LIMIT = 0
    try:
        sampled_before = weights_fingerprint(_tiny_dir())
        # sampled mode reads the header and 16 chunks; a rewrite of the weights (what a training
        # step does) is seen
        data = bytearray(data)
        for i in range(len(data) - 1, len(data) // 2, -4096):
            data[i] ^= 0x01
        (local / "model.safetensors").write_bytes(bytes(data))
        assert weights_fingerprint(local) != sampled_before
    finally:
        hf._FULL_HASH_LIMIT = old


def test_directory_that_is_not_a_checkpoint(tmp_path):
    from mosseval.models.hf import parse_args, resolve_checkpoint

    with pytest.raises(UsageError, match="no config.json"):
        resolve_checkpoint(str(tmp_path), parse_args({}))
    with pytest.raises(UsageError, match="does not exist"):
        resolve_checkpoint(str(tmp_path / "nope" / "deeper"), parse_args({}))
    with pytest.raises(UsageError, match="unknown builtin"):
        resolve_checkpoint("builtin:tiny-qwen", parse_args({}))


def test_checkpoint_without_chat_template_is_a_usage_error(tmp_path):
    from mosseval.models.registry import load_model

    local = tmp_path / "base-model"
    shutil.copytree(_tiny_dir(), local)
    (local / "chat_template.jinja").unlink()
    with pytest.raises(UsageError, match="no chat template"):
        load_model(ModelSpec(str(local), "hf", str(local), {"device": "cpu"}))


def test_unknown_or_text_only_model_type_is_a_usage_error(tmp_path):
    from mosseval.models.registry import load_model

    unknown = tmp_path / "mystery"
    shutil.copytree(_tiny_dir(), unknown)
    cfg = json.loads((unknown / "config.json").read_text())
    cfg["model_type"] = "mystery-net"
    (unknown / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UsageError, match="mystery-net|model config"):
        load_model(ModelSpec(str(unknown), "hf", str(unknown), {"device": "cpu"}))

    text_only = tmp_path / "text-only"
    shutil.copytree(_tiny_dir(), text_only)
    (text_only / "config.json").write_text(json.dumps({
        "model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "vocab_size": 384, "hidden_size": 32,
        "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
    }))
    with pytest.raises(UsageError, match="qwen2"):
        load_model(ModelSpec(str(text_only), "hf", str(text_only), {"device": "cpu"}))


# --------------------------------------------------------------------------- model args


def test_model_args_parsing():
    from mosseval.models.hf import HFArgs, parse_args
    from mosseval.models.registry import parse_model_args

    args = parse_args(parse_model_args("dtype=bf16,device=cuda:1,batch_size=8,max_pixels=200704,"
                                       "attn_implementation=sdpa,trust_remote_code=true,seed=3"))
    assert args == HFArgs(dtype="bfloat16", device="cuda:1", batch_size=8, max_pixels=200704,
                          attn_implementation="sdpa", trust_remote_code=True, seed=3)
    assert parse_args({}) == HFArgs()
    assert parse_args({}).trust_remote_code is False
    with pytest.raises(UsageError, match="max_pixel.*did you mean 'max_pixels'"):
        parse_args({"max_pixel": 100})
    with pytest.raises(UsageError, match="dtype"):
        parse_args({"dtype": "int8"})
    with pytest.raises(UsageError, match="device"):
        parse_args({"device": "tpu"})
    with pytest.raises(UsageError, match="batch_size"):
        parse_args({"batch_size": 0})
    with pytest.raises(UsageError, match="batch_size"):
        parse_args({"batch_size": "four"})
    with pytest.raises(UsageError, match="trust_remote_code"):
        parse_args({"trust_remote_code": "yes"})
    with pytest.raises(UsageError, match="min_pixels"):
        parse_args({"min_pixels": 5000, "max_pixels": 1000})


def test_cuda_request_without_cuda_is_a_usage_error():
    import torch

    from mosseval.models.registry import load_model

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(UsageError, match="no CUDA device"):
        load_model(resolve("tiny-qwen2.5-vl", {"device": "cuda"}))
