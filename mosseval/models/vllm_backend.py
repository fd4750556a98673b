"""vLLM offline-engine backend (GPU throughput): ``--model vllm:Qwen/Qwen2.5-VL-7B-Instruct``.

vLLM is an optional extra (``pip install 'mosseval[vllm]'``, Linux + CUDA); importing mosseval
never imports it, and loading this backend without it raises ``MissingDependencyError``.

How a request is run: the HF-format messages are rendered with the checkpoint's own chat template
(``AutoProcessor.apply_chat_template(..., add_generation_prompt=True)``; the ``{"type": "video"}``
placeholder becomes the model's video tokens), the prefill is appended to the prompt text (a true
continuation, as in the ``hf`` backend), and the runner's decoded frames go in as
``multi_modal_data={"video": frames}`` — a (T, H, W, 3) uint8 array — with
``mm_processor_kwargs={"fps": <fps of the sampled frames>, "do_sample_frames": False}`` so the
model sees exactly the frames mosseval sampled, at the right temporal spacing. With
``video_metadata=true`` (Qwen3-VL and newer vLLM releases) the frames are passed as
``(frames, metadata)`` instead. One ``LLM.generate`` call per runner batch, one
``SamplingParams`` per request (``max_tokens``, ``temperature``, ``top_p``, ``seed``).

Model args: ``tensor_parallel_size`` (1), ``gpu_memory_utilization`` (0.9), ``max_model_len``,
``dtype`` (auto), ``max_num_seqs``, ``enforce_eager`` (false), ``trust_remote_code`` (false),
``batch_size`` (16: requests per runner batch), ``video_metadata`` (false), ``max_pixels``
(passed to the processor as ``mm_processor_kwargs``), ``seed`` (0, engine seed).

This backend cannot be exercised without a GPU; its tests cover the import guard and argument
validation only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from mosseval.errors import MissingDependencyError
from mosseval.models.base import ModelAdapter, Request, Response
from mosseval.models.openai_api import parse_backend_args
from mosseval.models.registry import ModelSpec, register_backend
from mosseval.records import ErrorInfo, Usage

__all__ = ["VLLMArgs", "VLLMModel", "import_vllm", "load"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VLLMArgs:
    tensor_parallel_size: int = field(default=1, metadata={"kind": "int", "min": 1})
    gpu_memory_utilization: float = field(default=0.9, metadata={"kind": "float", "positive": True})
    max_model_len: int | None = field(default=None, metadata={"kind": "int", "min": 1})
    dtype: str = "auto"
    max_num_seqs: int | None = field(default=None, metadata={"kind": "int", "min": 1})
    enforce_eager: bool = field(default=False, metadata={"kind": "bool"})
    trust_remote_code: bool = field(default=False, metadata={"kind": "bool"})
    batch_size: int = field(default=16, metadata={"kind": "int", "min": 1})
    video_metadata: bool = field(default=False, metadata={"kind": "bool"})
    max_pixels: int | None = field(default=None, metadata={"kind": "int", "min": 64})
    seed: int = field(default=0, metadata={"kind": "int", "min": 0})


def import_vllm() -> Any:
    """Import vLLM or raise ``MissingDependencyError`` naming the ``vllm`` extra."""
    try:
        import vllm
    except ImportError as exc:
        detail = "" if getattr(exc, "name", None) == "vllm" else f" ({exc})"
        raise MissingDependencyError(
            f"the 'vllm' backend needs vLLM, which is not installed or cannot be imported{detail}",
            hint="install the extra on a Linux machine with a CUDA GPU: "
                 "pip install 'mosseval[vllm]' (or use --model openai:NAME against a `vllm serve` "
                 "server)",
        ) from None
    return vllm


class VLLMModel(ModelAdapter):
    backend = "vllm"
    needs_frames = True

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.name = spec.name
        self.args: VLLMArgs = parse_backend_args("vllm", spec.args, VLLMArgs)
        vllm = import_vllm()  # before anything heavy: the guard must fire first
        from mosseval.torchvision_compat import ensure_torchvision

        ensure_torchvision()
        from transformers import AutoProcessor

        a = self.args
        self.batch_size = a.batch_size
        self._SamplingParams = vllm.SamplingParams
        engine: dict[str, Any] = {
            "model": spec.target, "tensor_parallel_size": a.tensor_parallel_size,
            "gpu_memory_utilization": a.gpu_memory_utilization, "dtype": a.dtype,
            "enforce_eager": a.enforce_eager, "trust_remote_code": a.trust_remote_code,
            "seed": a.seed, "limit_mm_per_prompt": {"video": 1},
        }
        if a.max_model_len is not None:
            engine["max_model_len"] = a.max_model_len
        if a.max_num_seqs is not None:
            engine["max_num_seqs"] = a.max_num_seqs
        if a.max_pixels is not None:
            engine["mm_processor_kwargs"] = {"max_pixels": a.max_pixels}
        self.llm = vllm.LLM(**engine)
        self.processor = AutoProcessor.from_pretrained(spec.target, trust_remote_code=a.trust_remote_code)
        self._version = getattr(vllm, "__version__", None)

    def identity(self) -> dict[str, Any]:
        a = self.args
        return {"name": self.name, "backend": self.backend, "model": self.spec.target,
                "vllm_version": self._version, "dtype": a.dtype, "max_pixels": a.max_pixels,
                "video_metadata": a.video_metadata, "max_model_len": a.max_model_len}

    def _prompt(self, r: Request) -> dict[str, Any]:
        text = self.processor.apply_chat_template(r.messages, tokenize=False, add_generation_prompt=True)
        if r.prefill:
            text += r.prefill
        item: dict[str, Any] = {"prompt": text}
        if r.frames is not None and any(p.get("type") == "video" for m in r.messages
                                        if isinstance(m.get("content"), list) for p in m["content"]):
            info = r.frames.info
            video: Any = r.frames.array
            if self.args.video_metadata:
                video = (video, {
                    "fps": info.source_fps or info.sampled_fps or 1.0,
                    "frames_indices": list(info.indices),
                    "total_num_frames": info.num_source_frames or len(info.indices),
                    "duration": (info.num_source_frames / info.source_fps)
                    if info.num_source_frames and info.source_fps else None,
                    "video_backend": info.decoder,
                })
            item["multi_modal_data"] = {"video": video}
            kwargs: dict[str, Any] = {"do_sample_frames": False}
            if info.sampled_fps:
                kwargs["fps"] = info.sampled_fps
            item["mm_processor_kwargs"] = kwargs
        return item

    def _params(self, r: Request) -> Any:
        g = r.generation
        return self._SamplingParams(max_tokens=g.max_new_tokens, temperature=g.temperature,
                                    top_p=g.top_p, seed=int(r.seed))

    def generate(self, requests: list[Request]) -> list[Response]:
        prompts, params, index, out = [], [], [], [None] * len(requests)
        for i, r in enumerate(requests):
            try:
                prompts.append(self._prompt(r))
                params.append(self._params(r))
                index.append(i)
            except Exception as exc:
                out[i] = Response(text=None, error=ErrorInfo(kind="model", message=f"{type(exc).__name__}: {exc}"))
        if prompts:
            try:
                results = self.llm.generate(prompts, sampling_params=params, use_tqdm=False)
            except Exception as exc:
                if len(prompts) == 1:
                    out[index[0]] = Response(text=None, error=ErrorInfo(
                        kind="model", message=f"vLLM generate failed: {type(exc).__name__}: {exc}"))
                    results = []
                else:  # isolate the failing request(s)
                    log.warning("vLLM batch failed (%s); retrying one by one", exc)
                    for i in index:
                        out[i] = self.generate([requests[i]])[0]
                    results = []
            for i, res in zip(index, results):
                comp = res.outputs[0]
                n_prompt = len(res.prompt_token_ids or [])
                n_out = len(comp.token_ids or [])
                out[i] = Response(text=comp.text, usage=Usage(prompt_tokens=n_prompt, completion_tokens=n_out,
                                                              total_tokens=n_prompt + n_out),
                                  extra={"finish_reason": comp.finish_reason})
        return out  # type: ignore[return-value]


@register_backend("vllm")
def load(spec: ModelSpec) -> ModelAdapter:
    return VLLMModel(spec)
