"""Tiny random checkpoints of every video-capable transformers family, built offline.

Each family is built from its *real* configuration, model and processor classes (transformers 5.x)
with a locally trained byte-level BPE tokenizer that carries the family's special tokens and a chat
template written from the family's documented prompt format. The result is saved with
``save_pretrained`` and reloads through ``AutoProcessor`` + ``AutoModelForImageTextToText`` (or
``AutoModelForMultimodalLM``) exactly like the real checkpoint, so ``mosseval run --model DIR``
exercises the real code path of every family: its processor's placeholder expansion, its vision
tower, its position ids. Weights are random: outputs are noise; this tests plumbing, never quality.

``FAMILIES`` lists what is built; ``build_family(name, out_dir)`` builds one; ``ensure_family``
keeps one build per (family, seed, format) in the cache. Sizes: text hidden 64 with 2 layers,
vision hidden 32 with 2 layers, frames of 32x32 pixels -> a handful of visual tokens per frame.
The builders live in one module per group (``qwen``, ``llava``, ``others``, ...); ``base`` holds
the tokenizer, the chat templates and ``TinyFamily``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from mosseval.errors import OutputError, UsageError, did_you_mean
from mosseval.models.tiny_families import glm, llava, misc, others, qwen, qwen_like
from mosseval.models.tiny_families.base import TinyFamily, _tokenizer

__all__ = ["TinyFamily", "FAMILIES", "build_family", "ensure_family", "family_dir", "FORMAT"]

FORMAT = 2
"""Bump when any recipe below changes: cached builds of another format are rebuilt."""
MANIFEST = "mosseval_tiny_family.json"
_LOCK = threading.Lock()

FAMILIES: dict[str, TinyFamily] = {f.name: f for group in (qwen, llava, others, glm, qwen_like, misc) for f in group.families()}


# --------------------------------------------------------------------------- building


def family_dir(name: str, cache_root: Path | None = None, seed: int = 0) -> Path:
    from mosseval.paths import cache_dir

    root = Path(cache_root) if cache_root is not None else cache_dir()
    return root / "models" / "tiny-families" / f"{name}-seed{int(seed)}"


def get_family(name: str) -> TinyFamily:
    if name not in FAMILIES:
        hint = did_you_mean(name, list(FAMILIES))
        raise UsageError(f"unknown tiny family {name!r}" + (f"; {hint}" if hint else ""),
                         hint="families: " + ", ".join(FAMILIES))
    return FAMILIES[name]


def build_family(name: str, out_dir: Path, seed: int = 0) -> Path:
    """Build family ``name`` into ``out_dir`` (created; must be empty or absent)."""
    from mosseval.torchvision_compat import ensure_torchvision

    fam = get_family(name)
    ensure_torchvision()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise OutputError(f"cannot build {name} into {out_dir}: the directory is not empty")
    with _LOCK:
        _build(fam, out_dir, int(seed))
    return out_dir


def _build(fam: TinyFamily, out_dir: Path, seed: int) -> None:
    import torch
    import transformers
    from transformers.utils import logging as hf_logging

    tokenizer = _tokenizer(list(fam.extra_tokens), bos=fam.bos, eos=fam.eos, pad=fam.pad, named=fam.tokens,
                           add_bos=fam.add_bos)
    for fname, make in fam.assets.items():
        (out_dir / fname).write_bytes(make())
    processor = fam.processor(tokenizer, fam.template, **({"asset_dir": out_dir} if fam.assets else {}))
    tokenizer = processor.tokenizer  # some processors add tokens (Gemma 4's <|video|>)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in tokenizer.get_vocab()}
    config = fam.config(ids, len(tokenizer))
    auto = getattr(transformers, fam.auto_class)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = auto.from_config(config).to(torch.float32).eval()
    eos = [ids[fam.eos]] + ([ids[fam.pad]] if fam.pad != fam.eos else [])
    # a random model must not emit placeholders (the next forward would fail) nor other special tokens
    # (they decode to nothing, and "text was generated" would be unprovable)
    specials = (set(fam.suppress) | set(fam.extra_tokens) | set(fam.tokens.values()) | {fam.bos}) - {fam.eos, fam.pad}
    model.generation_config = transformers.GenerationConfig(
        bos_token_id=ids.get(fam.bos) if fam.bos else None, eos_token_id=eos, pad_token_id=ids[fam.pad],
        suppress_tokens=sorted(ids[t] for t in specials if t in ids), do_sample=False, max_new_tokens=32,
        **fam.generation)
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(out_dir)
        processor.save_pretrained(out_dir)
        for fname, content in fam.files.items():
            torch.save(content, out_dir / fname)
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    for p in out_dir.iterdir():
        p.chmod(0o644)
    manifest = {"family": fam.name, "model_type": fam.model_type, "format": FORMAT, "seed": seed,
                "transformers": transformers.__version__,
                "parameters": sum(p.numel() for p in model.parameters())}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _valid(path: Path) -> bool:
    try:
        return json.loads((path / MANIFEST).read_text()).get("format") == FORMAT
    except (OSError, ValueError):
        return False


def ensure_family(name: str, cache_root: Path | None = None, seed: int = 0) -> Path:
    """The cached build of family ``name``, building it once (atomically)."""
    from mosseval.fileio import build_dir_once

    get_family(name)
    return build_dir_once(family_dir(name, cache_root, seed), _valid, lambda tmp: build_family(name, tmp, seed=seed))
