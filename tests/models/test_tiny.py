"""The embedded tiny Qwen2.5-VL: deterministic build, real reload through the Auto classes."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.hf

pytest.importorskip("transformers")

from tests.support.cli import REPO  # noqa: E402


def _hashes(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def cached_tiny() -> Path:
    from mosseval.models.tiny import ensure_tiny

    return ensure_tiny()  # the session cache (tests/conftest.py); shared with the backend tests


@pytest.fixture(scope="module")
def second_build(tmp_path_factory) -> Path:
    from mosseval.models.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("tiny-b") / "model", seed=0)


def test_same_seed_gives_byte_identical_files(cached_tiny, second_build):
    a, b = _hashes(cached_tiny), _hashes(second_build)
    assert a == b
    assert {"config.json", "generation_config.json", "model.safetensors", "processor_config.json",
            "tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "mosseval_tiny.json"} <= set(a)
    manifest = json.loads((cached_tiny / "mosseval_tiny.json").read_text())
    assert manifest["seed"] == 0 and manifest["name"] == "tiny-qwen2.5-vl"
    assert manifest["files"]["model.safetensors"] == a["model.safetensors"]
    # configs are written with sorted keys
    cfg_text = (cached_tiny / "config.json").read_text()
    assert cfg_text == json.dumps(json.loads(cfg_text), indent=2, sort_keys=True) + "\n"


def test_other_seed_changes_only_the_weights(tmp_path, cached_tiny):
    from mosseval.models.tiny import build_tiny

    c = _hashes(build_tiny(tmp_path / "seed1", seed=1))
    a = _hashes(cached_tiny)
    assert c["model.safetensors"] != a["model.safetensors"]
    for name in ("tokenizer.json", "chat_template.jinja", "processor_config.json", "config.json"):
        assert c[name] == a[name]


def test_architecture_matches_the_spec(cached_tiny):
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(cached_tiny)
    t, v = cfg.text_config, cfg.vision_config
    assert cfg.model_type == "qwen2_5_vl"
    assert (t.num_hidden_layers, t.hidden_size) == (2, 64)
    assert (v.depth, v.hidden_size, v.patch_size, v.spatial_merge_size, v.temporal_patch_size) == (2, 32, 8, 2, 2)
    head_dim = t.hidden_size // t.num_attention_heads
    assert sum(t.rope_parameters["mrope_section"]) * 2 == head_dim
    assert v.out_hidden_size == t.hidden_size
    size = (cached_tiny / "model.safetensors").stat().st_size
    assert 400_000 < size < 900_000


def test_reloads_through_auto_classes_like_a_real_checkpoint(cached_tiny):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from mosseval.models.tiny import SPECIAL_TOKENS

    proc = AutoProcessor.from_pretrained(cached_tiny)
    model = AutoModelForImageTextToText.from_pretrained(cached_tiny)
    assert type(proc).__name__ == "Qwen2_5_VLProcessor"
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert type(proc.video_processor).__name__ == "Qwen2VLVideoProcessor"
    n_params = sum(p.numel() for p in model.parameters())
    assert 120_000 < n_params < 200_000
    tok = proc.tokenizer
    ids = tok.convert_tokens_to_ids(SPECIAL_TOKENS)
    assert len(set(ids)) == len(SPECIAL_TOKENS)
    for token in SPECIAL_TOKENS:  # each special token is one id and round-trips
        assert tok(token, add_special_tokens=False).input_ids == [tok.convert_tokens_to_ids(token)]
    assert model.config.video_token_id == tok.convert_tokens_to_ids("<|video_pad|>")
    assert model.config.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>")
    assert model.config.vision_start_token_id == tok.convert_tokens_to_ids("<|vision_start|>")
    suppressed = set(model.generation_config.suppress_tokens)
    for token in ("<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"):
        assert tok.convert_tokens_to_ids(token) in suppressed
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight  # tied


def test_chat_template_renders_chatml_with_vision_placeholders(cached_tiny):
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(cached_tiny)
    messages = [
        {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "What happens next?"}]},
    ]
    text = proc.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                    "<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>What happens next?<|im_end|>\n"
                    "<|im_start|>assistant\n")
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Q"}]},
        {"role": "assistant", "content": "A"},
    ]
    text = proc.apply_chat_template(messages, tokenize=False)
    assert text == ("<|im_start|>system\nBe brief.<|im_end|>\n"
                    "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Q<|im_end|>\n"
                    "<|im_start|>assistant\nA<|im_end|>\n")


def _greedy_tokens(model_dir: Path) -> list[int]:
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    proc = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir).eval()
    video = np.random.default_rng(3).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)
    text = proc.apply_chat_template(
        [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Describe it."}]}],
        add_generation_prompt=True, tokenize=False)
    inputs = proc(text=[text], videos=[video], do_sample_frames=False, return_tensors="pt",
                  video_metadata=[{"fps": 2.0, "total_num_frames": 8, "frames_indices": list(range(8))}])
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    new = out[0, inputs["input_ids"].shape[1]:].tolist()
    assert not set(new) & set(model.generation_config.suppress_tokens)
    return new


def test_same_seed_builds_generate_identically(cached_tiny, second_build):
    a = _greedy_tokens(cached_tiny)
    assert len(a) > 0
    assert a == _greedy_tokens(second_build)


def test_ensure_tiny_builds_once_and_survives_a_thread_race(tmp_path):
    from mosseval.models.tiny import ensure_tiny, tiny_dir

    results: list[Path] = []
    errors: list[BaseException] = []

    def worker():
        try:
            results.append(ensure_tiny(tmp_path, seed=0))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    final = tiny_dir(tmp_path, 0)
    assert results == [final, final]
    assert final == tmp_path / "models" / "tiny-qwen2.5-vl-seed0"
    assert sorted(p.name for p in final.parent.iterdir()) == ["tiny-qwen2.5-vl-seed0"]  # no temp leftovers
    before = (final / "model.safetensors").stat().st_mtime_ns
    assert ensure_tiny(tmp_path, seed=0) == final  # cached: no rebuild
    assert (final / "model.safetensors").stat().st_mtime_ns == before


def test_ensure_tiny_replaces_a_stale_or_broken_build(tmp_path, cached_tiny):
    from mosseval.models.tiny import ensure_tiny, tiny_dir

    broken = tiny_dir(tmp_path, 0)
    broken.mkdir(parents=True)
    (broken / "config.json").write_text("{}")  # a crashed copy: no manifest
    final = ensure_tiny(tmp_path, seed=0)
    assert final == broken
    assert _hashes(final) == _hashes(cached_tiny)
    assert sorted(p.name for p in final.parent.iterdir()) == ["tiny-qwen2.5-vl-seed0"]


def test_build_refuses_a_non_empty_directory(tmp_path):
    from mosseval.errors import OutputError
    from mosseval.models.tiny import build_tiny

    (tmp_path / "x.txt").write_text("keep me")
    with pytest.raises(OutputError, match="not empty"):
        build_tiny(tmp_path)
    assert (tmp_path / "x.txt").read_text() == "keep me"


@pytest.mark.slow
def test_ensure_tiny_process_race(tmp_path):
    code = textwrap.dedent(f"""
        import torch; torch.set_num_threads(1)
        from pathlib import Path
        from mosseval.models.tiny import ensure_tiny
        print(ensure_tiny(Path({str(tmp_path)!r}), seed=0))
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    paths = {o[0].strip().splitlines()[-1] for o in outs}
    assert len(paths) == 1
    final = Path(paths.pop())
    assert sorted(p.name for p in final.parent.iterdir()) == [final.name]
    from mosseval.models.tiny import _valid

    assert _valid(final)


def test_mini_tokenizer_suits_the_task_prompt_and_vocabulary():
    """The learnable preset's BPE is trained on moss-video-mini's prompts at their real frequencies: the task's
    fixed text (roles, system prompt, reasoning instructions) and every state word are whole tokens, so a prompt
    is not spelled out letter by letter (format 1 split "Think" into 3 tokens, "assistant" into 5)."""
    from transformers import AutoTokenizer

    from mosseval.data import synth
    from mosseval.models.tiny import MINI_NAME, ensure_tiny
    from mosseval.tasks import load_registry

    tok = AutoTokenizer.from_pretrained(ensure_tiny(name=MINI_NAME))
    task = load_registry([])["moss-video-mini"]
    assert task.prompt is not None and task.prompt.system
    instructions = task.prompt.template.split("{{ options_block }}")[1].strip()
    for text in ("system", "user", "assistant", task.prompt.system, instructions):
        pieces = tok.convert_ids_to_tokens(tok(text, add_special_tokens=False)["input_ids"])
        words = set(re.findall(r"[A-Za-z]+", text))
        split = [p for p in pieces if re.sub(r"[^A-Za-z]", "", p) and re.sub(r"[^A-Za-z]", "", p) not in words]
        assert not split, f"{text!r} tokenized into pieces of words: {pieces}"
    assert len(tok(instructions, add_special_tokens=False)["input_ids"]) <= 40
    for word in [*synth.COLORS, *synth.SHAPES, "tiny", "small", "medium", "large", "huge", "row", "column"]:
        assert len(tok(" " + word, add_special_tokens=False)["input_ids"]) == 1, word
