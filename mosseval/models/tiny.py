"""The embedded default model ``tiny-qwen2.5-vl``: a real, randomly initialised Qwen2.5-VL.

It is built locally (no download) from a seed and saved with ``save_pretrained``, so it reloads
through ``AutoProcessor`` + ``AutoModelForImageTextToText`` exactly like a 7B checkpoint and
exercises the real code path: Qwen2.5-VL vision tower with window attention and patch merger,
multimodal RoPE (``mrope_section`` × 2 equals the head dim), the Qwen2-VL image and video
processors, a byte-level BPE tokenizer carrying Qwen's special tokens and a ChatML template.

Size: 2 text layers (hidden 64, 4 heads, 2 KV heads), vision depth 2 (hidden 32, patch 8,
spatial merge 2, temporal patch 2), tied embeddings; ~157 k parameters, ~0.6 MB of float32
weights.
Same seed → byte-identical files and identical generations.

Its outputs are noise: it tests plumbing and speed, never quality.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

from mosseval.errors import OutputError
from mosseval.paths import cache_dir

__all__ = ["TINY_NAME", "TINY_FORMAT", "SPECIAL_TOKENS", "CHAT_TEMPLATE", "build_tiny", "ensure_tiny",
           "tiny_dir"]

TINY_NAME = "tiny-qwen2.5-vl"
TINY_FORMAT = 1
"""Bump when the recipe below changes; cached builds of another format are rebuilt."""
MANIFEST = "mosseval_tiny.json"
_BUILD_LOCK = threading.Lock()  # model init draws from torch's global RNG: one build at a time

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
# Tokens a random model must never generate: feeding them back would make the next forward pass
# look for vision features that do not exist.
_SUPPRESSED = ["<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]

# Qwen2's pre-tokenizer split (GPT-4 style), followed by byte-level mapping.
_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# ChatML with Qwen2-VL's vision placeholders. Written with expression blocks only so that the
# trim_blocks / lstrip_blocks settings of the renderer cannot change the whitespace.
CHAT_TEMPLATE = (
    "{%- set image_count = namespace(value=0) -%}"
    "{%- set video_count = namespace(value=0) -%}"
    "{%- for message in messages -%}"
    "{%- if loop.first and message['role'] != 'system' -%}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}"
    "{{- message['content'] -}}"
    "{%- else -%}"
    "{%- for content in message['content'] -%}"
    "{%- if content['type'] == 'image' or 'image' in content or 'image_url' in content -%}"
    "{%- set image_count.value = image_count.value + 1 -%}"
    "{%- if add_vision_id -%}{{- 'Picture ' + image_count.value | string + ': ' -}}{%- endif -%}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif content['type'] == 'video' or 'video' in content -%}"
    "{%- set video_count.value = video_count.value + 1 -%}"
    "{%- if add_vision_id -%}{{- 'Video ' + video_count.value | string + ': ' -}}{%- endif -%}"
    "{{- '<|vision_start|><|video_pad|><|vision_end|>' -}}"
    "{%- elif 'text' in content -%}"
    "{{- content['text'] -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- endif -%}"
)

# A small, fixed training corpus for the tokenizer (the vocabulary only needs to be plausible).
_CORPUS = """\
The red ball rolls across the table and stops next to the blue cup.
A person picks up the green box, turns around and places it on the shelf.
First the door opens, then a dog walks in, and finally the light turns off.
What will happen to the glass after the cat pushes it toward the edge?
Question: Which object moves first in the video? Options: (A) the car (B) the bicycle (C) the bus (D) the truck.
Answer with the option's letter from the given choices directly.
<think>Step 1: the man holds a cup. Step 2: he pours water. Step 3: the cup is full.</think><answer>B</answer>
<think>At the beginning the drawer is closed; later it is open, so someone opened it.</think><answer>A</answer>
The woman is cutting vegetables, then she puts them into the pot and stirs the soup.
Before the ball hits the wall it bounces twice on the floor; after that it rolls back slowly.
The child throws the frisbee, the dog runs after it, catches it and brings it back.
Counting the people: two enter from the left, one leaves through the right door.
The object that was hidden under the towel is revealed at the end of the clip.
Describe the order of events: 1. wake up 2. brush teeth 3. make coffee 4. read the news.
What is the state of the candle at the end of the video? It has been blown out.
The traffic light changes from red to green and the cars start moving forward.
He moves the chess piece from e2 to e4, then his opponent answers with e7 to e5.
Is the person walking toward the camera or away from it? Toward the camera.
The screen shows 3 apples, then 5 apples, then 2 apples remain on the plate.
Reasoning: the shadow grows longer, so the sun is setting and time is passing.
"""


def tiny_dir(cache_root: Path | None = None, seed: int = 0) -> Path:
    """Where :func:`ensure_tiny` keeps the build for ``seed``."""
    root = Path(cache_root) if cache_root is not None else cache_dir()
    return root / "models" / f"{TINY_NAME}-seed{int(seed)}"


def _train_tokenizer():
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, trainers
    from tokenizers.models import BPE

    tok = Tokenizer(BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=384,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS.splitlines(), trainer=trainer)
    vocab = tok.get_vocab()
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" "))
              for m in json.loads(tok.to_str())["model"]["merges"]]
    return vocab, merges


def build_tiny(out_dir: Path, seed: int = 0) -> Path:
    """Build ``tiny-qwen2.5-vl`` from ``seed`` into ``out_dir`` (created; must be empty or absent)."""
    from mosseval.torchvision_compat import ensure_torchvision

    ensure_torchvision()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise OutputError(f"cannot build the tiny model into {out_dir}: the directory is not empty",
                          hint="pass an empty or new directory")

    with _BUILD_LOCK:
        _build(out_dir, int(seed))
    return out_dir


def _build(out_dir: Path, seed: int) -> None:
    import torch
    from transformers import (
        GenerationConfig,
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2Tokenizer,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )
    from transformers.utils import logging as hf_logging

    vocab, merges = _train_tokenizer()
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=[t for t in SPECIAL_TOKENS if t not in ("<|endoftext|>", "<|im_end|>")],
        model_max_length=4096,
        padding_side="left",
    )
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    if len(set(ids.values())) != len(SPECIAL_TOKENS):  # pragma: no cover - recipe invariant
        from mosseval.errors import InternalError

        raise InternalError(f"tiny tokenizer special tokens are not distinct: {ids}")

    head_dim = 64 // 4
    mrope_section = [2, 3, 3]
    assert sum(mrope_section) * 2 == head_dim
    config = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_window_layers=2,
            max_position_embeddings=4096,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope_section},
            bos_token_id=ids["<|endoftext|>"],
            eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
            tie_word_embeddings=True,
        ),
        vision_config=dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            patch_size=8,
            spatial_merge_size=2,
            temporal_patch_size=2,
            window_size=32,
            fullatt_block_indexes=[1],
            out_hidden_size=64,
            tokens_per_second=2,
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,  # like Qwen2.5-VL-3B
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2_5_VLForConditionalGeneration(config).to(torch.float32).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        suppress_tokens=sorted(ids[t] for t in _SUPPRESSED),
        do_sample=False,
        max_new_tokens=64,
    )

    pixel_kwargs = dict(patch_size=8, merge_size=2, temporal_patch_size=2,
                        min_pixels=16 * 16, max_pixels=64 * 64)
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(**pixel_kwargs),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(**pixel_kwargs, cap_pixels_per_frame=True,
                                              do_sample_frames=False),
        chat_template=CHAT_TEMPLATE,
    )
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(out_dir)
        processor.save_pretrained(out_dir)
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    _normalise_json(out_dir)
    for p in out_dir.iterdir():
        p.chmod(0o644)  # some writers create 0600 files; a shared cache must be readable
    manifest = {
        "name": TINY_NAME,
        "format": TINY_FORMAT,
        "seed": seed,
        "files": {p.name: _sha256(p) for p in sorted(out_dir.iterdir()) if p.is_file()},
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _normalise_json(out_dir: Path) -> None:
    """Rewrite the small JSON configs with sorted keys so builds are byte-identical."""
    for p in sorted(out_dir.glob("*.json")):
        if p.name == "tokenizer.json":  # order is meaningful to the tokenizers library
            continue
        data = json.loads(p.read_text())
        p.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _valid(path: Path) -> bool:
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return (manifest.get("format") == TINY_FORMAT
            and all((path / name).is_file() for name in manifest.get("files", {})))


def ensure_tiny(cache_root: Path | None = None, seed: int = 0) -> Path:
    """Return the cached build for ``seed``, building it once (atomically, race-safe)."""
    from mosseval.fileio import build_dir_once

    return build_dir_once(tiny_dir(cache_root, seed), _valid, lambda tmp: build_tiny(tmp, seed=seed))
