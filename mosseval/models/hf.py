"""transformers backend: ``AutoProcessor`` + ``AutoModelForImageTextToText`` (or ``AutoModelForMultimodalLM``).

Targets (``ModelSpec.target``):

* ``builtin:tiny-qwen2.5-vl`` -- the embedded random Qwen2.5-VL, built locally on first use;
* a local checkpoint directory (anything ``save_pretrained`` wrote, e.g. a ``mosseval train``
  checkpoint);
* a Hub id such as ``Qwen/Qwen2.5-VL-7B-Instruct``, resolved from the *local* Hugging Face cache
  only (``HF_HOME`` / ``HF_HUB_CACHE`` / the ``cache_dir`` model arg). Nothing is downloaded and
  the network is never touched; a missing model raises ``DataNotFoundError`` saying how to fetch it.

Frames go through the processor's *video* path with ``video_metadata`` carrying the fps of the
sampled frames and ``do_sample_frames=False``: the frames the runner decoded are exactly the
frames the model sees, and Qwen2.5-VL's temporal position ids (``second_per_grid_ts``) are right.

Families (``mosseval.models.families``) differ in three ways handled here: a family without a video
processor (Gemma 3) gets the frames as a sequence of images, recorded as such per sample; omni models
(Qwen2.5-Omni) load with ``AutoModelForMultimodalLM`` and generate text from the thinker
(``generation_mode="text"``, ``thinker_max_new_tokens``); a family whose processor imports an extra
package (SmolVLM2: ``num2words``) is refused up front with the exact pip command. Every request with
frames is checked after processing: pixel inputs present and visual placeholder tokens in the prompt,
else the sample fails with a clear error instead of silently running text-only. A chat template that
already writes the BOS token is tokenized without adding special tokens again (no double BOS).

Greedy requests (temperature 0) are generated in left-padded batches. Sampled requests
(temperature > 0) are generated one at a time with ``torch.manual_seed(request.seed)`` so their
text does not depend on how the runner batched them.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from mosseval.errors import DataNotFoundError, MissingDependencyError, UsageError, did_you_mean
from mosseval.models.base import ModelAdapter, Request, Response
from mosseval.models.families import Family, family_of
from mosseval.models.registry import ModelSpec, register_backend, reject_unknown_args
from mosseval.records import ErrorInfo, ModelIdentity, Usage
from mosseval.torchvision_compat import ensure_torchvision
from mosseval.video import Frames

__all__ = ["HFArgs", "HFModel", "load", "parse_args", "resolve_checkpoint", "ResolvedCheckpoint",
           "video_metadata_for", "weights_fingerprint"]

log = logging.getLogger(__name__)

BUILTIN_PREFIX = "builtin:"
BUILTINS = ("tiny-qwen2.5-vl",)
_DTYPES = ("auto", "float32", "bfloat16", "float16")
_FULL_HASH_LIMIT = 64 * 1024 * 1024
"""Checkpoints whose weight files total at most this many bytes are hashed in full."""
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_SAMPLED_CHUNKS = 16
_CHUNK = 64 * 1024


# --------------------------------------------------------------------------- model args


@dataclass(frozen=True)
class HFArgs:
    """``--model-args`` understood by the ``hf`` backend."""

    dtype: str = "auto"
    """auto (the checkpoint's dtype) | float32 | bfloat16 | float16"""
    device: str = "auto"
    """auto (all visible GPUs via accelerate, else CPU) | cpu | cuda | cuda:N"""
    attn_implementation: str | None = None
    """e.g. sdpa, eager, flash_attention_2 (None: transformers' default)"""
    trust_remote_code: bool = False
    batch_size: int = 1
    max_pixels: int | None = None
    """Per-frame pixel budget of the processor (Qwen2-VL style ``size.longest_edge``)."""
    min_pixels: int | None = None
    seed: int = 0
    """Added to every request's seed for sampled generation."""
    revision: str | None = None
    """Hub branch, tag or commit to resolve from the local cache (default: main)."""
    cache_dir: str | None = None
    """Hugging Face hub cache to resolve Hub ids from (default: HF_HUB_CACHE / HF_HOME)."""
    repetition_penalty: float = 1.0
    num_threads: int | None = None
    """torch.set_num_threads for CPU inference (None: leave torch's setting alone)."""
    tiny_seed: int = 0
    """Seed of the builtin tiny model's random weights."""


def parse_args(args: dict[str, Any] | None) -> HFArgs:
    """Validate ``--model-args`` for the hf backend; unknown keys and bad values are UsageErrors."""
    args = dict(args or {})
    reject_unknown_args("hf", args, {f.name for f in fields(HFArgs)})
    out: dict[str, Any] = {}
    for k, v in args.items():
        if k == "dtype":
            v = "auto" if v is None else str(v).lower().replace("torch.", "")
            v = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16",
                 "float": "float32"}.get(v, v)
            if v not in _DTYPES:
                raise UsageError(f"hf model arg dtype={args[k]!r} is not supported",
                                 hint="use one of: " + ", ".join(_DTYPES))
        elif k == "device":
            v = "auto" if v is None else str(v).lower()
            ok = v in ("auto", "cpu", "cuda") or (v.startswith("cuda:") and v[5:].isdigit())
            if not ok:
                raise UsageError(f"hf model arg device={args[k]!r} is not supported",
                                 hint="use auto, cpu, cuda or cuda:N")
        elif k in ("batch_size", "max_pixels", "min_pixels", "seed", "num_threads", "tiny_seed"):
            if v is None and k in ("max_pixels", "min_pixels", "num_threads"):
                out[k] = None
                continue
            if isinstance(v, bool) or not isinstance(v, int):
                raise UsageError(f"hf model arg {k}={v!r} must be an integer")
            if k in ("batch_size", "num_threads") and v < 1:
                raise UsageError(f"hf model arg {k}={v} must be >= 1")
            if k in ("max_pixels", "min_pixels") and v < 1:
                raise UsageError(f"hf model arg {k}={v} must be a positive pixel count (H*W)")
        elif k == "trust_remote_code":
            if not isinstance(v, bool):
                raise UsageError(f"hf model arg trust_remote_code={v!r} must be true or false")
        elif k == "repetition_penalty":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                raise UsageError(f"hf model arg repetition_penalty={v!r} must be a positive number")
            v = float(v)
        elif k in ("attn_implementation", "revision", "cache_dir"):
            v = None if v is None else str(v)
        out[k] = v
    parsed = HFArgs(**out)
    if parsed.min_pixels and parsed.max_pixels and parsed.min_pixels > parsed.max_pixels:
        raise UsageError(f"hf model args min_pixels={parsed.min_pixels} > max_pixels={parsed.max_pixels}")
    return parsed


# --------------------------------------------------------------------------- checkpoint resolution


@dataclass(frozen=True)
class ResolvedCheckpoint:
    kind: str
    """builtin | local | hub"""
    path: Path
    source: str
    """What the user asked for: builtin name, local path or Hub id."""
    commit: str | None = None


def resolve_checkpoint(target: str, args: HFArgs) -> ResolvedCheckpoint:
    """Map a target to a local directory without touching the network."""
    target = target.strip()
    if target.startswith(BUILTIN_PREFIX):
        name = target[len(BUILTIN_PREFIX):]
        if name not in BUILTINS:
            hint = did_you_mean(name, list(BUILTINS))
            raise UsageError(f"unknown builtin model {name!r}" + (f"; {hint}" if hint else ""),
                             hint="builtin models: " + ", ".join(BUILTINS))
        from mosseval.models.tiny import ensure_tiny

        return ResolvedCheckpoint("builtin", ensure_tiny(seed=args.tiny_seed), target)

    path = Path(target).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UsageError(f"{target!r} is a directory but not a transformers checkpoint (no config.json)",
                             hint="pass a directory written by save_pretrained / `mosseval train`")
        return ResolvedCheckpoint("local", path.resolve(), target)
    if path.is_absolute() or target.startswith((".", "~")) or target.count("/") != 1:
        raise UsageError(f"model directory {target!r} does not exist",
                         hint="pass an existing checkpoint directory, a preset or a Hub id (org/name)")
    return _resolve_hub(target, args)


def _resolve_hub(repo_id: str, args: HFArgs) -> ResolvedCheckpoint:
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    cache = args.cache_dir or constants.HF_HUB_CACHE
    fetch = (f"on a machine with network run `hf download {repo_id}` (older huggingface_hub: "
             f"`huggingface-cli download {repo_id}`), then copy its hub cache here or point HF_HOME / "
             f"HF_HUB_CACHE (or --model-args cache_dir=...) at it; or pass a local checkpoint directory")
    try:
        snap = Path(snapshot_download(repo_id, revision=args.revision, cache_dir=args.cache_dir,
                                      local_files_only=True))
    except HFValidationError as e:
        raise UsageError(f"{repo_id!r} is not a valid Hugging Face model id: {e}") from None
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        rev = f" (revision {args.revision})" if args.revision else ""
        raise DataNotFoundError(
            f"model {repo_id!r}{rev} is not in the local Hugging Face cache {str(cache)!r}; "
            "mosseval never downloads weights",
            hint=fetch,
        ) from None
    missing = _missing_files(snap)
    if missing:
        raise DataNotFoundError(
            f"the cached snapshot of {repo_id!r} at {str(snap)!r} is incomplete (missing: "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''})",
            hint="re-run the download to completion: " + fetch,
        )
    return ResolvedCheckpoint("hub", snap, repo_id, commit=snap.name)


def _missing_files(path: Path) -> list[str]:
    missing = [] if (path / "config.json").is_file() else ["config.json"]
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = path / index_name
        if index.is_file():
            try:
                shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            except (ValueError, KeyError):
                return missing + [f"{index_name} (unreadable)"]
            return missing + [s for s in shards if not (path / s).is_file()]
    if not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
        missing.append("weights (*.safetensors)")
    return missing


def weights_fingerprint(path: Path) -> str:
    """A content fingerprint of a checkpoint directory.

    Config, generation, tokenizer and processor files are hashed in full. Weight files are hashed
    in full when they total at most 64 MB; for larger checkpoints each weight file contributes its
    name, size, safetensors header (tensor names, dtypes, shapes, offsets) and 16 chunks of 64 KiB
    spread evenly over the file -- a few MB of reads for a 7B model, and unlike size + mtime it
    changes when a training step rewrites the weights with the same layout.
    """
    path = Path(path)
    h = hashlib.sha256()
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    weights = [p for p in files if p.suffix in _WEIGHT_SUFFIXES]
    full = sum(p.stat().st_size for p in weights) <= _FULL_HASH_LIMIT
    for p in files:
        if p.suffix not in (".json", ".jinja", ".txt", ".model", ".py") and p not in weights:
            continue
        h.update(p.name.encode() + b"\0")
        with open(p, "rb") as f:
            if p in weights and not full:
                size = p.stat().st_size
                h.update(str(size).encode() + b"\0")
                if p.suffix == ".safetensors":
                    n = int.from_bytes(f.read(8), "little")
                    h.update(f.read(min(n, 100 * 1024 * 1024)))
                for k in range(_SAMPLED_CHUNKS):
                    f.seek(size * k // _SAMPLED_CHUNKS)
                    h.update(f.read(_CHUNK))
            else:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


# --------------------------------------------------------------------------- video metadata


def video_metadata_for(frames: Frames) -> dict[str, Any]:
    """``video_metadata`` for transformers' video processors from mosseval's ``FrameInfo``.

    transformers derives the sampled fps as ``len(frames_indices) / total_num_frames * fps`` and
    timestamps as ``frames_indices / fps``. With the source fps and the real indices, setting
    ``total_num_frames`` to the number of source frames the samples span makes both right (exact
    whenever the span is a whole number of frames, which it is for a decoder). Without a source
    fps the sampled fps itself is used with indices 0..T-1.
    """
    info = frames.info
    t = int(frames.array.shape[0])
    sampled = info.sampled_fps
    if not sampled and len(info.timestamps) >= 2 and info.timestamps[-1] > info.timestamps[0]:
        sampled = (len(info.timestamps) - 1) / (info.timestamps[-1] - info.timestamps[0])
    height, width = int(frames.array.shape[1]), int(frames.array.shape[2])
    meta: dict[str, Any] = {"height": height, "width": width}
    if sampled and info.source_fps and len(info.indices) == t:
        total = max(t, int(round(t * info.source_fps / sampled)))
        meta.update(fps=float(info.source_fps), total_num_frames=total,
                    frames_indices=[int(i) for i in info.indices], duration=total / info.source_fps)
    elif sampled:
        meta.update(fps=float(sampled), total_num_frames=t, frames_indices=list(range(t)),
                    duration=t / sampled)
    else:
        # Unknown timing: let the processor fall back to its default (documented as 24 fps).
        meta.update(total_num_frames=t, frames_indices=list(range(t)))
    return meta


# --------------------------------------------------------------------------- the adapter


class HFModel(ModelAdapter):
    backend = "hf"
    needs_frames = True

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.name = spec.name
        self.args = parse_args(spec.args)
        self.batch_size = self.args.batch_size
        self.checkpoint = resolve_checkpoint(spec.target, self.args)
        self._fingerprint = weights_fingerprint(self.checkpoint.path)

        self.torchvision = ensure_torchvision()  # before transformers imports torchvision
        import torch
        import transformers

        if self.args.num_threads:
            torch.set_num_threads(self.args.num_threads)
        self._torch = torch
        self._load(transformers, torch)

    # -- loading ------------------------------------------------------------------------------

    def _load(self, transformers, torch) -> None:
        a, path = self.args, str(self.checkpoint.path)
        where = repr(self.checkpoint.source)
        if self.checkpoint.kind == "hub":
            where += f" ({path})"
        quiet = self.checkpoint.kind == "builtin"
        bar = transformers.utils.logging.is_progress_bar_enabled()
        if quiet:
            transformers.utils.logging.disable_progress_bar()
        try:
            try:
                config = transformers.AutoConfig.from_pretrained(
                    path, trust_remote_code=a.trust_remote_code, local_files_only=True)
            except (ValueError, KeyError) as e:
                raise UsageError(
                    f"cannot read the model config of {where}: {_first_line(e)}",
                    hint="this transformers version does not know the model type; upgrade transformers "
                    "or, for checkpoints shipping their own code, pass --model-args trust_remote_code=true",
                ) from None
            model_type = getattr(config, "model_type", "?")
            self.family = family_of(model_type)
            _check_family_requirements(self.family, model_type)
            try:
                self.processor = transformers.AutoProcessor.from_pretrained(
                    path, trust_remote_code=a.trust_remote_code, local_files_only=True)
            except ImportError as e:
                raise _missing_processor_dependency(e, self.family, model_type) from None
            except (ValueError, KeyError, OSError, TypeError) as e:
                raise UsageError(f"cannot load a processor for {where} (model type {model_type!r}): "
                                 f"{_first_line(e)}") from None
            self.tokenizer = getattr(self.processor, "tokenizer", None)
            if self.tokenizer is None:
                raise UsageError(f"{where} has no tokenizer; the hf backend needs a multimodal processor")
            if not (getattr(self.processor, "chat_template", None)
                    or getattr(self.tokenizer, "chat_template", None)):
                raise UsageError(
                    f"{where} has no chat template (chat_template.jinja / tokenizer_config.json)",
                    hint="evaluate an instruction-tuned checkpoint, or add a chat template to the "
                    "checkpoint directory (processor.chat_template = ...; processor.save_pretrained(dir))",
                )
            self._configure_processor()

            load_kwargs: dict[str, Any] = {
                "trust_remote_code": a.trust_remote_code,
                "local_files_only": True,
                "dtype": "auto" if a.dtype == "auto" else getattr(torch, a.dtype),
            }
            if a.attn_implementation:
                load_kwargs["attn_implementation"] = a.attn_implementation
            device = a.device
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
                if device == "cuda" and torch.cuda.device_count() > 1:
                    load_kwargs["device_map"] = "auto"
            elif device.startswith("cuda") and not torch.cuda.is_available():
                raise UsageError(f"--model-args device={a.device} but no CUDA device is available",
                                 hint="use device=cpu (or auto)")
            self.auto_class = _auto_class(transformers, type(config), self.family)
            try:
                self.model = getattr(transformers, self.auto_class).from_pretrained(path, **load_kwargs)
            except ValueError as e:
                msg = _first_line(e)
                if "Unrecognized configuration class" in str(e) or "not supported" in msg:
                    raise UsageError(
                        f"model type {model_type!r} of {where} is not supported by AutoModelForImageTextToText "
                        "or AutoModelForMultimodalLM (the hf backend evaluates vision-language models)",
                        hint="`mosseval families` lists the video families tested with mosseval",
                    ) from None
                raise UsageError(f"cannot load {where}: {msg}") from None
        finally:
            if quiet and bar:
                transformers.utils.logging.enable_progress_bar()
        if "device_map" not in load_kwargs:
            self.model.to(device)
        self.model.eval()
        self.device = next(self.model.parameters()).device
        self.model_type = model_type
        self.frames_as = "video" if getattr(self.processor, "video_processor", None) is not None else "images"
        self.omni = bool(self.family and self.family.generation == "omni-thinker") or (
            hasattr(self.model, "thinker") and hasattr(self.model, "has_talker"))
        self._generator = self.model.thinker if self.omni else self.model
        self.placeholder_ids = _placeholder_ids(self.model.config)
        self.wants_mm_token_types = _accepts(self._generator, "mm_token_type_ids")
        self._base_generation = self._generation_defaults()
        # Only token-level settings survive from the checkpoint's generation_config.json (e.g. Qwen's
        # repetition_penalty=1.05 / top_k=1 would otherwise leak into "greedy"): the task decides.
        self.checkpoint_generation_config = getattr(self._generator, "generation_config", None)
        self._generator.generation_config = transformers.GenerationConfig(**self._base_generation)

    def _configure_processor(self) -> None:
        """Apply max_pixels / min_pixels to Qwen2-VL-style processors (a per-frame pixel budget)."""
        a = self.args
        self.pixel_budget_applied = False
        for attr in ("video_processor", "image_processor"):
            sub = getattr(self.processor, attr, None)
            size = getattr(sub, "size", None)
            if sub is None or size is None:
                continue
            size = dict(size)
            if "longest_edge" in size and "shortest_edge" in size and hasattr(sub, "merge_size"):
                if a.max_pixels is not None:
                    size["longest_edge"] = a.max_pixels
                if a.min_pixels is not None:
                    size["shortest_edge"] = a.min_pixels
                size["shortest_edge"] = min(size["shortest_edge"], size["longest_edge"])
                sub.size = type(sub.size)(**size) if not isinstance(sub.size, dict) else size
                self.pixel_budget_applied = True
        if (a.max_pixels is not None or a.min_pixels is not None) and not self.pixel_budget_applied:
            log.warning("max_pixels/min_pixels ignored: the processor of %s has no pixel budget",
                        self.checkpoint.source)
        vp = getattr(self.processor, "video_processor", None)
        if vp is not None and hasattr(vp, "cap_pixels_per_frame") and vp.cap_pixels_per_frame is None:
            vp.cap_pixels_per_frame = True  # qwen-vl-utils' reference behaviour; silences a warning

    def _generation_defaults(self) -> dict[str, Any]:
        """Token-level settings kept from the checkpoint; sampling knobs come from the task."""
        gc_ = getattr(self._generator, "generation_config", None)
        keep: dict[str, Any] = {}
        for k in ("eos_token_id", "pad_token_id", "bos_token_id", "suppress_tokens",
                  "begin_suppress_tokens", "bad_words_ids"):
            v = getattr(gc_, k, None) if gc_ is not None else None
            if v is not None:
                keep[k] = v
        if keep.get("eos_token_id") is None and self.tokenizer.eos_token_id is not None:
            keep["eos_token_id"] = self.tokenizer.eos_token_id
        if keep.get("pad_token_id") is None:
            pad = self.tokenizer.pad_token_id
            if pad is None:
                eos = keep.get("eos_token_id")
                pad = eos[0] if isinstance(eos, (list, tuple)) else eos
            keep["pad_token_id"] = pad
        return keep

    # -- identity ------------------------------------------------------------------------------

    def identity(self) -> dict[str, Any]:
        a, c = self.args, self.checkpoint
        ckpt: dict[str, Any] = {"kind": c.kind, "source": c.source, "weights_sha256": self._fingerprint}
        if c.kind == "hub":
            ckpt["repo_id"] = c.source
            ckpt["commit"] = c.commit
        elif c.kind == "local":
            ckpt["path"] = str(c.path)
        else:
            ckpt["seed"] = a.tiny_seed
        vp = getattr(self.processor, "video_processor", None)
        size = getattr(vp, "size", None)
        return {
            "name": self.name,
            "backend": self.backend,
            "checkpoint": ckpt,
            "model_type": self.model_type,
            "dtype": str(self.model.dtype).replace("torch.", ""),
            "max_pixels": a.max_pixels,
            "min_pixels": a.min_pixels,
            "processor_size": dict(size) if size is not None else None,
            "cap_pixels_per_frame": getattr(vp, "cap_pixels_per_frame", None),
            "generation": {
                "repetition_penalty": a.repetition_penalty,
                "seed": a.seed,
                **{k: v for k, v in self._base_generation.items()},
            },
            "video_input": "video+metadata" if self.frames_as == "video" else "images",
            "family": self.family.name if self.family else None,
            "auto_class": self.auto_class,
        }

    def describe(self) -> ModelIdentity:
        """The checkpoint for people, with its parameter count."""
        n = sum(int(p.numel()) for p in self.model.parameters())
        return super().describe().model_copy(update={"params": n})

    def runtime_info(self) -> dict[str, Any]:
        """What does not enter the identity but is worth logging."""
        import transformers

        return {
            "device": str(self.device),
            "attn_implementation": getattr(self.model.config, "_attn_implementation", None),
            "batch_size": self.batch_size,
            "torch": self._torch.__version__,
            "transformers": transformers.__version__,
            "torchvision_compat": self.torchvision,
        }

    # -- generation ----------------------------------------------------------------------------

    def generate(self, requests: list[Request]) -> list[Response]:
        out: list[Response | None] = [None] * len(requests)
        greedy: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            if r.generation.temperature > 0:
                out[i] = self._run_safe([r])[0]
            else:
                greedy.setdefault((r.generation.max_new_tokens, r.frames is not None), []).append(i)
        for idxs in greedy.values():
            for start in range(0, len(idxs), self.batch_size):
                chunk = idxs[start:start + self.batch_size]
                for i, resp in zip(chunk, self._run_safe([requests[i] for i in chunk])):
                    out[i] = resp
        return out  # type: ignore[return-value]

    def _run_safe(self, batch: list[Request]) -> list[Response]:
        try:
            return self._run(batch)
        except (UsageError, KeyboardInterrupt):
            raise
        except _FramesDropped:
            return [self._run_safe([r])[0] for r in batch]
        except Exception as e:  # noqa: BLE001 - isolate the failing request
            if len(batch) > 1:
                self._free()
                return [self._run_safe([r])[0] for r in batch]
            log.debug("generation failed", exc_info=True)
            return [Response(text=None, error=ErrorInfo(kind="model", message=f"{type(e).__name__}: {e}"))]

    def _prompt(self, r: Request) -> str:
        messages = _normalise_messages(r.messages, has_video=r.frames is not None)
        if r.frames is not None and self.frames_as == "images":
            messages = _video_as_images(messages, int(r.frames.array.shape[0]))
        try:
            text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        except Exception as e:  # template errors are a property of the checkpoint/task pair
            raise UsageError(f"the chat template of {self.checkpoint.source!r} failed on the task's "
                             f"messages: {_first_line(e)}") from None
        if isinstance(text, list):
            text = text[0]
        return text + (r.prefill or "")

    def prepare_inputs(self, batch: list[Request]) -> tuple[Any, list[float | None]]:
        """Processor outputs for a batch (left padded, on the model's device) and, per video, the
        sampled fps the processor was given."""
        texts = [self._prompt(r) for r in batch]
        with_frames = [r for r in batch if r.frames is not None]
        kwargs: dict[str, Any] = {"text": texts, "padding": True, "return_tensors": "pt"}
        fps_seen: list[float | None] = []
        if with_frames and self.frames_as == "images":
            kwargs["images"] = [list(r.frames.array) for r in with_frames]  # type: ignore[union-attr]
            fps_seen = [r.frames.info.sampled_fps for r in with_frames]  # type: ignore[union-attr]
        elif with_frames:
            metas = [video_metadata_for(r.frames) for r in with_frames]  # type: ignore[arg-type]
            # return_metadata: processors that write per-frame timestamps into the prompt read the metadata back
            # from the video processor's output, and not all of them ask for it themselves (Cosmos3-Edge)
            kwargs.update(videos=[r.frames.array for r in with_frames],  # type: ignore[union-attr]
                          video_metadata=metas, do_sample_frames=False, return_metadata=True)
            fps_seen = [_sampled_fps(m) for m in metas]
        if with_frames and self.wants_mm_token_types:
            # M-RoPE models need the per-token modality ids; not every processor returns them by default
            kwargs["return_mm_token_type_ids"] = True
        bos = getattr(self.tokenizer, "bos_token", None)
        if bos and all(t.startswith(bos) for t in texts):
            kwargs["add_special_tokens"] = False  # the chat template already wrote the BOS
        tok = self.tokenizer
        old_side = getattr(tok, "padding_side", "left")
        tok.padding_side = "left"
        try:
            inputs = self.processor(**kwargs)
        finally:
            tok.padding_side = old_side
        inputs.pop("video_metadata", None)  # ours, echoed back; not a model input
        inputs = inputs.to(self.device)
        for key in list(inputs.keys()):
            if key.startswith("pixel_values") and inputs[key].is_floating_point() and inputs[key].dtype != self.model.dtype:
                inputs[key] = inputs[key].to(self.model.dtype)
        return inputs, fps_seen

    def visual_report(self, inputs: Any) -> tuple[list[int], dict[str, list[int]]]:
        """Per row, how many visual placeholder tokens the prompt holds; and the shapes of the pixel
        inputs. Computed on exactly what is passed to ``generate``."""
        ids = inputs["input_ids"]
        counts = [0] * int(ids.shape[0])
        for tid in self.placeholder_ids:
            for row, n in enumerate((ids == tid).sum(dim=1).tolist()):
                counts[row] += int(n)
        pixels = {k: [int(d) for d in v.shape] for k, v in inputs.items()
                  if k.startswith("pixel_values") and hasattr(v, "shape")}
        return counts, pixels

    def _run(self, batch: list[Request]) -> list[Response]:
        torch = self._torch
        tok = self.tokenizer
        inputs, fps_seen = self.prepare_inputs(batch)
        visual, pixels = self.visual_report(inputs)
        missing = [i for i, r in enumerate(batch) if r.frames is not None and (not visual[i] or not pixels)]
        if missing:
            if len(batch) > 1:
                raise _FramesDropped()  # isolate: _run_safe retries one request at a time
            return [Response(text=None, error=ErrorInfo(kind="model", message=self._dropped_message(pixels)))]
        g = batch[0].generation
        gen: dict[str, Any] = {"max_new_tokens": g.max_new_tokens,
                               "repetition_penalty": self.args.repetition_penalty}
        if g.temperature > 0:
            gen.update(do_sample=True, temperature=g.temperature, top_p=g.top_p, top_k=0)
            torch.manual_seed((self.args.seed + batch[0].seed) % (2 ** 63))
        else:
            gen.update(do_sample=False)
        if self.omni:  # text from the thinker; its own token limit (the wrapper ignores max_new_tokens)
            gen["thinker_max_new_tokens"] = gen.pop("max_new_tokens")
            gen["generation_mode"] = "text"
            # Qwen3-Omni's wrapper overrides the thinker's eos with a hard-coded default (151645) unless told
            if self._base_generation.get("eos_token_id") is not None:
                gen["thinker_eos_token_id"] = self._base_generation["eos_token_id"]
        with torch.inference_mode():
            output = self.model.generate(**inputs, **gen)
        output = getattr(output, "sequences", output)
        prompt_len = inputs["input_ids"].shape[1]
        new = output[:, prompt_len:].cpu()
        eos = self._base_generation.get("eos_token_id")
        eos_set = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}
        prompt_counts = inputs["attention_mask"].sum(dim=1).tolist()
        responses = []
        vi = 0
        for row, (r, n_prompt) in enumerate(zip(batch, prompt_counts)):
            ids = new[row].tolist()
            n_completion = len(ids)
            for j, t in enumerate(ids):
                if t in eos_set:
                    n_completion = j + 1
                    break
            text = tok.decode(ids[:n_completion], skip_special_tokens=True)
            extra: dict[str, Any] = {}
            if r.frames is not None:
                extra["video_fps"] = fps_seen[vi]
                extra["visual_tokens"] = visual[row]
                extra["pixel_inputs"] = pixels
                vi += 1
            responses.append(Response(
                text=text,
                usage=Usage(prompt_tokens=int(n_prompt), completion_tokens=n_completion,
                            total_tokens=int(n_prompt) + n_completion),
                extra=extra,
                frames_as=self.frames_as if r.frames is not None else None,
            ))
        return responses

    def _dropped_message(self, pixels: dict[str, list[int]]) -> str:
        fam = self.family.display if self.family else f"model type {self.model_type!r}"
        what = "no pixel inputs" if not pixels else "no visual placeholder tokens in the prompt"
        return (f"frames were given but the {fam} processor produced {what} for them "
                f"(input mode: {self.frames_as}); the model would not have seen the video, so this sample "
                "is not scored as if it had (check the chat template's video/image placeholders)")

    def _free(self) -> None:
        gc.collect()
        if self._torch.cuda.is_available():
            self._torch.cuda.empty_cache()

    def close(self) -> None:
        for attr in ("model", "processor", "tokenizer"):
            if hasattr(self, attr):
                delattr(self, attr)
        self._free()


class _FramesDropped(Exception):
    """A batch in which some request's frames did not reach the model inputs (retried one by one)."""


def _check_family_requirements(family: Family | None, model_type: str) -> None:
    if family is None:
        return
    missing = family.missing()
    if missing:
        mods = ", ".join(m for m, _ in missing)
        pips = " ".join(p for _, p in missing)
        raise MissingDependencyError(
            f"the {family.display} processor (model type {model_type!r}) needs {mods}, which is not installed",
            hint=f"pip install {pips}  (the hf extra installs it: pip install 'mosseval[hf]' -c constraints.txt)",
        )


def _missing_processor_dependency(e: ImportError, family: Family | None, model_type: str) -> MissingDependencyError:
    import re

    text = str(e)
    found = re.search(r"pip install ([A-Za-z0-9_.\-\[\]]+)", text)
    name = getattr(e, "name", None) or (found.group(1) if found else None)
    who = family.display if family else f"model type {model_type!r}"
    how = f"pip install {found.group(1) if found else name}" if (found or name) else "install the missing package"
    return MissingDependencyError(f"the {who} processor cannot be loaded: {_first_line(e)}", hint=how)


def _auto_class(transformers: Any, config_cls: type, family: Family | None) -> str:
    """The Auto class that loads this config: the family's, else the first that knows the config."""
    if family is not None:
        return family.auto_class
    for name in ("AutoModelForImageTextToText", "AutoModelForMultimodalLM"):
        auto = getattr(transformers, name, None)
        mapping = getattr(auto, "_model_mapping", None)
        if mapping is not None and config_cls in mapping:
            return name
    return "AutoModelForImageTextToText"


def _accepts(model: Any, arg: str) -> bool:
    """Whether ``model.forward`` takes ``arg`` by name."""
    import inspect

    try:
        return arg in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _placeholder_ids(config: Any) -> list[int]:
    """Token ids the model replaces with visual features (image and video placeholders)."""
    cfgs = [config] + [getattr(config, k) for k in ("thinker_config",) if getattr(config, k, None) is not None]
    ids: set[int] = set()
    for cfg in cfgs:
        for key in ("image_token_id", "video_token_id", "image_token_index", "video_token_index"):
            v = getattr(cfg, key, None)
            if isinstance(v, int) and v >= 0:
                ids.add(v)
    return sorted(ids)


def _video_as_images(messages: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """Replace the video placeholder with ``n`` image placeholders (families without a video processor)."""
    out = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            items: list[Any] = []
            for c in content:
                if isinstance(c, dict) and c.get("type") == "video":
                    items += [{"type": "image"} for _ in range(n)]
                else:
                    items.append(c)
            m = {**m, "content": items}
        out.append(m)
    return out


def _sampled_fps(meta: dict[str, Any]) -> float | None:
    fps = meta.get("fps")
    if fps is None:
        return None
    return len(meta["frames_indices"]) / meta["total_num_frames"] * fps


def _normalise_messages(messages: list[dict[str, Any]], has_video: bool) -> list[dict[str, Any]]:
    """Make the video placeholder agree with the frames: drop it for text-only requests, add it
    at the start of the last user turn when frames came without one."""
    msgs = []
    found = False
    for m in messages:
        m = dict(m)  # never mutate the caller's messages
        content = m.get("content")
        if isinstance(content, list):
            items = []
            for c in content:
                is_video = isinstance(c, dict) and c.get("type") == "video"
                if is_video:
                    if not has_video or found:
                        continue  # one video per request; extra placeholders would desync
                    found = True
                items.append(c)
            m = {**m, "content": items}
        msgs.append(m)
    if has_video and not found:
        for m in reversed(msgs):
            if m.get("role") == "user":
                content = m["content"]
                if isinstance(content, str):
                    content = [{"type": "text", "text": content}]
                m["content"] = [{"type": "video"}, *content]
                break
        else:
            msgs.append({"role": "user", "content": [{"type": "video"}]})
    return msgs


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


@register_backend("hf")
def load(spec: ModelSpec) -> ModelAdapter:
    """Factory for ``--model`` values served by transformers."""
    return HFModel(spec)
