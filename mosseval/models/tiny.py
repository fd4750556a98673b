"""Embedded Qwen2.5-VL models built locally from a seed: ``tiny-qwen2.5-vl`` and ``mini-qwen2.5-vl``.

Both are real Qwen2.5-VL checkpoints, randomly initialised and saved with ``save_pretrained``, so
they reload through ``AutoProcessor`` + ``AutoModelForImageTextToText`` exactly like a 7B
checkpoint and exercise the real code path: Qwen2.5-VL vision tower with window attention and
patch merger, multimodal RoPE (``mrope_section`` × 2 equals the head dim), the Qwen2-VL image and
video processors, a byte-level BPE tokenizer carrying Qwen's special tokens and a ChatML template.
Same recipe and seed → byte-identical files and identical generations.

``tiny-qwen2.5-vl`` (plumbing and speed, never quality): 2 text layers (hidden 64, 4 heads, 2 KV
heads), vision depth 2 (hidden 32, patch 8, spatial merge 2, temporal patch 2), tied embeddings,
a 384-token vocabulary from a generic corpus; ~157 k parameters, ~0.6 MB of float32 weights.

``mini-qwen2.5-vl`` (the *learnable* preset, see :data:`MINI`): sized so that it learns
moss-video-mini on 2 CPU cores in minutes; its tokenizer is trained on the benchmark's own
vocabulary (each prompt of a generator stream no split uses as the model sees it, with its reference
trace), so a prompt with its trace is ~2.2× fewer tokens than with the tiny tokenizer (161 against 355
on average), and every colour, shape, size and grid word, and every word of the task's instructions, is
one token.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from mosseval.errors import OutputError
from mosseval.paths import cache_dir

__all__ = ["TINY_NAME", "MINI_NAME", "BUILTINS", "Recipe", "SPECIAL_TOKENS", "CHAT_TEMPLATE", "build_tiny",
           "ensure_tiny", "tiny_dir", "recipe"]

TINY_NAME = "tiny-qwen2.5-vl"
MINI_NAME = "mini-qwen2.5-vl"
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


def _generic_corpus() -> list[str]:
    return _CORPUS.splitlines()


def _task_corpus() -> list[str]:
    """The moss-video-mini vocabulary, at the frequencies a training prompt has them: for each question of a
    generator stream of its own (label ``tokenizer``: no split's items), the chat's role lines, the task's system
    prompt, the user text rendered by the task's own template (question, options and the reasoning instructions)
    and the reference completion. Every prompt carries the fixed text once, so the BPE merges it like the words
    of the questions (format 1 saw it once in all: "Think" was 3 tokens, "assistant" 5, "second" 4)."""
    from mosseval.data import synth
    from mosseval.prompts import render_user_text
    from mosseval.records import Sample
    from mosseval.tasks import load_registry

    task = load_registry([])["moss-video-mini"]
    assert task.prompt is not None
    head = [f"system\n{task.prompt.system or ''}", "user\n", "assistant\n"]
    lines = list(_CORPUS.splitlines())
    for vidx, (kinds, levels, letters) in enumerate(synth._plan(0, "tokenizer", 600)):
        _, _, questions = synth._build_video(synth._rng(0, "tokenizer", vidx), kinds, levels, letters)
        for q, letter in zip(questions, letters):
            sample = Sample(id=f"tokenizer-{vidx}", task=task.name, question=q.question,
                            options=dict(zip(synth.LETTERS, q.options)), answer=letter)
            lines += head
            lines.append(render_user_text(task, sample))
            lines.append("<think>\n" + "\n".join(q.steps) + "\n</think>\n<answer>" + letter + "</answer>")
    return lines


@dataclass(frozen=True)
class Recipe:
    """Everything a builtin model is built from (the manifest records its fingerprint)."""

    name: str
    format: int
    """Bump when the recipe changes in a way the fingerprint cannot see (code)."""
    description: str
    vocab_size: int
    corpus: Callable[[], list[str]]
    text: dict[str, Any]
    vision: dict[str, Any]
    mrope_section: tuple[int, int, int]
    max_pixels: int
    """Processor pixel budget per frame (frames are resized to fit)."""
    min_pixels: int = 16 * 16
    merge_size: int = 2
    """Spatial merge: merge_size × merge_size patches become one language-model token."""
    image_mean: tuple[float, float, float] | None = None
    """Pixel normalisation of the processor (None: the Qwen2-VL / CLIP defaults)."""
    image_std: tuple[float, float, float] | None = None
    max_new_tokens: int = 64
    tie_word_embeddings: bool = True
    notes: dict[str, str] = field(default_factory=dict)

    def fingerprint(self) -> str:
        blob = json.dumps({"name": self.name, "format": self.format, "vocab_size": self.vocab_size,
                           "corpus": hashlib.sha256("\n".join(_corpus(self.name)).encode()).hexdigest(),
                           "text": self.text, "vision": self.vision, "mrope": list(self.mrope_section),
                           "pixels": [self.min_pixels, self.max_pixels], "max_new_tokens": self.max_new_tokens,
                           "merge": self.merge_size, "norm": [self.image_mean, self.image_std],
                           "tie": self.tie_word_embeddings}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


TINY = Recipe(
    name=TINY_NAME, format=1, vocab_size=384, corpus=_generic_corpus,
    description="embedded random-weight Qwen2.5-VL (~157k params): plumbing and speed, never quality",
    text=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2),
    vision=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, fullatt_block_indexes=[1]),
    mrope_section=(2, 3, 3), max_pixels=64 * 64,
)

MINI = Recipe(
    name=MINI_NAME, format=2, vocab_size=768, corpus=_task_corpus,
    description="learnable Qwen2.5-VL (~4.0M params, task vocabulary, untied embeddings): trains on moss-video-mini "
                "on a CPU in minutes",
    text=dict(hidden_size=128, intermediate_size=384, num_hidden_layers=4, num_attention_heads=4,
              num_key_value_heads=2),
    vision=dict(depth=4, hidden_size=96, intermediate_size=256, num_heads=4, fullatt_block_indexes=[1, 3]),
    mrope_section=(4, 6, 6), max_pixels=64 * 64, min_pixels=32 * 32, merge_size=4, max_new_tokens=160,
    # Untied: with input and output embeddings shared, SFT collapsed the words the model must copy
    # from the question (cosine 0.98-0.99 between the five shape words, 0.96-0.97 between colours)
    # and the model never learned to copy them (docs/tutorials/reproduce-mosschatv.md).
    tie_word_embeddings=False,
)

BUILTINS: dict[str, Recipe] = {r.name: r for r in (TINY, MINI)}
"""The models ``--model builtin:NAME`` (and the presets of the same name) build locally."""


def recipe(name: str) -> Recipe:
    from mosseval.errors import UsageError, did_you_mean
    from mosseval.train.recipes import TRAINED

    if name not in BUILTINS:
        known = [*BUILTINS, *TRAINED]
        hint = did_you_mean(name, known)
        raise UsageError(f"unknown builtin model {name!r}" + (f"; {hint}" if hint else ""),
                         hint="builtin models: " + ", ".join(known))
    return BUILTINS[name]


@cache
def _corpus_cached(name: str) -> tuple[str, ...]:
    return tuple(BUILTINS[name].corpus())


def _corpus(name: str) -> list[str]:
    return list(_corpus_cached(name))


def tiny_dir(cache_root: Path | None = None, seed: int = 0, name: str = TINY_NAME) -> Path:
    """Where :func:`ensure_tiny` keeps the build of ``name`` for ``seed``."""
    root = Path(cache_root) if cache_root is not None else cache_dir()
    return root / "models" / f"{recipe(name).name}-seed{int(seed)}"


def _train_tokenizer(rec: Recipe):
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
        vocab_size=rec.vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(rec.name), trainer=trainer)
    vocab = tok.get_vocab()
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" "))
              for m in json.loads(tok.to_str())["model"]["merges"]]
    return vocab, merges


def build_tiny(out_dir: Path, seed: int = 0, name: str = TINY_NAME) -> Path:
    """Build the builtin ``name`` from ``seed`` into ``out_dir`` (created; must be empty or absent)."""
    from mosseval.torchvision_compat import ensure_torchvision

    rec = recipe(name)
    ensure_torchvision()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise OutputError(f"cannot build {rec.name} into {out_dir}: the directory is not empty",
                          hint="pass an empty or new directory")

    with _BUILD_LOCK:
        _build(out_dir, int(seed), rec)
    return out_dir


def _build(out_dir: Path, seed: int, rec: Recipe) -> None:
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

    vocab, merges = _train_tokenizer(rec)
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

    t, v = rec.text, rec.vision
    head_dim = t["hidden_size"] // t["num_attention_heads"]
    mrope_section = list(rec.mrope_section)
    assert sum(mrope_section) * 2 == head_dim
    config = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            **t,
            max_window_layers=t["num_hidden_layers"],
            max_position_embeddings=4096,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope_section},
            bos_token_id=ids["<|endoftext|>"],
            eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
            tie_word_embeddings=rec.tie_word_embeddings,
        ),
        vision_config=dict(
            **v,
            patch_size=8,
            spatial_merge_size=rec.merge_size,
            temporal_patch_size=2,
            window_size=32,
            out_hidden_size=t["hidden_size"],
            tokens_per_second=2,
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=rec.tie_word_embeddings,  # like Qwen2.5-VL-3B
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
        max_new_tokens=rec.max_new_tokens,
    )

    pixel_kwargs = dict(patch_size=8, merge_size=rec.merge_size, temporal_patch_size=2,
                        min_pixels=rec.min_pixels, max_pixels=rec.max_pixels)
    if rec.image_mean is not None:
        pixel_kwargs.update(image_mean=list(rec.image_mean), image_std=list(rec.image_std or (0.5, 0.5, 0.5)))
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
        "name": rec.name,
        "format": rec.format,
        "recipe": rec.fingerprint(),
        "parameters": int(sum(p.numel() for p in model.parameters())),
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


def _valid(path: Path, rec: Recipe) -> bool:
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return (manifest.get("format") == rec.format and manifest.get("recipe") == rec.fingerprint()
            and all((path / name).is_file() for name in manifest.get("files", {})))


def ensure_tiny(cache_root: Path | None = None, seed: int = 0, name: str = TINY_NAME) -> Path:
    """Return the cached build of ``name`` for ``seed``, building it once (atomically, race-safe)."""
    from mosseval.fileio import build_dir_once

    rec = recipe(name)
    return build_dir_once(tiny_dir(cache_root, seed, rec.name), lambda p: _valid(p, rec),
                          lambda tmp: build_tiny(tmp, seed=seed, name=rec.name))
