"""OpenAI-compatible backend: GPT-4o and any vLLM / SGLang / Ollama / LM Studio server.

``--model openai:NAME`` (or the ``gpt-4o`` / ``gpt-4o-mini`` presets) sends each request to
``POST {base_url}/chat/completions`` through :class:`mosseval.openai_client.ChatClient` (retries
with backoff, bounded concurrency, rate limit, token usage).

Frames
    The runner's decoded frames (the same pixels every backend sees) become base64 JPEG data URLs
    (Pillow, fixed quality and 4:2:0 subsampling: identical frames give identical bytes), placed
    where the ``{"type": "video"}`` placeholder is in the user turn, in temporal order. Frames
    larger than ``max_pixels`` (H*W) are downscaled (bicubic, aspect kept) before encoding.
    ``frame_timestamps=true`` puts a ``"[t=1.5s]"`` text part before each frame.

Prefill
    Chat APIs cannot be told to continue a partial assistant turn in general, so the prefill is
    handled by ``prefill_mode``:

    * ``user`` (default; works everywhere): the last user text gets the instruction
      ``Begin your reply with: <prefill>``; if the reply starts with the prefill it is stripped,
      so ``Response.text`` is the continuation either way (``extra["prefill_echoed"]`` says which).
    * ``assistant``: a final assistant message holding the prefill is sent with vLLM's
      ``continue_final_message=true, add_generation_prompt=false`` (vLLM, SGLang), so the server
      continues the turn exactly like the transformers backend does.
    * ``none``: the prefill is not sent.

Model args (``--model-args k=v,...``): ``base_url`` (default ``$OPENAI_BASE_URL``, else
api.openai.com), ``api_key_env`` (name of the variable holding the key; default
``OPENAI_API_KEY``), ``concurrency`` (4), ``batch_size`` (requests per runner batch; default =
concurrency), ``timeout`` (60 s per attempt), ``max_retries`` (5), ``rpm``, ``backoff_base`` (1 s),
``backoff_max`` (30 s), ``budget_requests``, ``budget_tokens``, ``image_detail``
(``low``/``high``/``auto``; omitted when unset), ``max_pixels``, ``jpeg_quality`` (85),
``frame_timestamps`` (false), ``prefill_mode`` (user), ``max_tokens_param`` (``max_tokens``;
``max_completion_tokens`` for OpenAI reasoning models), ``send_seed`` (true), ``max_response_bytes``
(4 MiB: a larger reply is a per-sample error). ``timeout`` is a total deadline per attempt, and a
redirect to another host is refused (see :mod:`mosseval.openai_client`).

The key is read from the environment only by the client; it never enters ``identity()``, run
files, logs or error messages.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from mosseval.errors import UsageError
from mosseval.models.base import ModelAdapter, Request, Response
from mosseval.models.registry import ModelSpec, register_backend, reject_unknown_args
from mosseval.records import ErrorInfo
from mosseval.video import Frames

__all__ = ["OpenAIArgs", "OpenAIChatModel", "apply_prefill_instruction", "encode_frame_jpeg",
           "load", "parse_backend_args", "strip_prefill", "to_openai_messages"]

PREFILL_INSTRUCTION = "Begin your reply with: {prefill}"


# --------------------------------------------------------------------------- args


def parse_backend_args(backend: str, args: dict[str, Any] | None, cls: type) -> Any:
    """Validate ``--model-args`` against a dataclass of typed fields (shared by the bridges).

    Unknown keys are a ``UsageError`` naming the valid ones; ints/floats/bools are checked.
    Field metadata ``choices`` (a tuple) restricts string values.
    """
    args = dict(args or {})
    spec = {f.name: f for f in fields(cls)}
    reject_unknown_args(backend, args, set(spec))
    out: dict[str, Any] = {}
    for k, v in args.items():
        f = spec[k]
        kind = f.metadata.get("kind", "str")
        if v is None:
            out[k] = None
            continue
        if kind == "int":
            if isinstance(v, bool) or not isinstance(v, int):
                raise UsageError(f"{backend} model arg {k}={v!r} must be an integer")
            lo = f.metadata.get("min")
            if lo is not None and v < lo:
                raise UsageError(f"{backend} model arg {k}={v} must be >= {lo}")
        elif kind == "float":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise UsageError(f"{backend} model arg {k}={v!r} must be a number")
            v = float(v)
            lo = f.metadata.get("min")
            if lo is not None and v < lo:
                raise UsageError(f"{backend} model arg {k}={v} must be >= {lo}")
            if f.metadata.get("positive") and v <= 0:
                raise UsageError(f"{backend} model arg {k}={v} must be > 0")
        elif kind == "bool":
            if not isinstance(v, bool):
                raise UsageError(f"{backend} model arg {k}={v!r} must be true or false")
        else:
            v = str(v)
            choices = f.metadata.get("choices")
            if choices and v not in choices:
                raise UsageError(f"{backend} model arg {k}={v!r} is not supported",
                                 hint="use one of: " + ", ".join(choices))
        out[k] = v
    return cls(**out)


@dataclass(frozen=True)
class OpenAIArgs:
    base_url: str | None = None
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"kind": "str"})
    base_url_env: str = field(default="OPENAI_BASE_URL", metadata={"kind": "str"})
    concurrency: int = field(default=4, metadata={"kind": "int", "min": 1})
    batch_size: int | None = field(default=None, metadata={"kind": "int", "min": 1})
    timeout: float = field(default=60.0, metadata={"kind": "float", "positive": True})
    max_retries: int = field(default=5, metadata={"kind": "int", "min": 0})
    rpm: float | None = field(default=None, metadata={"kind": "float", "positive": True})
    backoff_base: float = field(default=1.0, metadata={"kind": "float", "min": 0})
    backoff_max: float = field(default=30.0, metadata={"kind": "float", "min": 0})
    retry_after_cap: float = field(default=60.0, metadata={"kind": "float", "min": 0})
    budget_requests: int | None = field(default=None, metadata={"kind": "int", "min": 0})
    budget_tokens: int | None = field(default=None, metadata={"kind": "int", "min": 0})
    image_detail: str | None = field(default=None, metadata={"choices": ("low", "high", "auto")})
    max_pixels: int | None = field(default=None, metadata={"kind": "int", "min": 64})
    jpeg_quality: int = field(default=85, metadata={"kind": "int", "min": 1})
    frame_timestamps: bool = field(default=False, metadata={"kind": "bool"})
    prefill_mode: str = field(default="user", metadata={"choices": ("user", "assistant", "none")})
    max_tokens_param: str = field(default="max_tokens", metadata={"choices": ("max_tokens",
                                                                            "max_completion_tokens")})
    send_seed: bool = field(default=True, metadata={"kind": "bool"})
    max_response_bytes: int = field(default=4 * 1024 * 1024, metadata={"kind": "int", "min": 1024})


# --------------------------------------------------------------------------- conversion


def encode_frame_jpeg(frame: np.ndarray, *, quality: int = 85, max_pixels: int | None = None) -> bytes:
    """One (H, W, 3) uint8 RGB frame as JPEG bytes; deterministic for identical input."""
    from PIL import Image

    arr = np.ascontiguousarray(frame)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 frame, got shape {arr.shape} dtype {arr.dtype}")
    img = Image.fromarray(arr)  # (H, W, 3) uint8 -> RGB
    h, w = arr.shape[:2]
    if max_pixels is not None and h * w > max_pixels:
        scale = math.sqrt(max_pixels / float(h * w))
        size = (max(1, int(w * scale)), max(1, int(h * scale)))
        img = img.resize(size, Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=int(min(max(quality, 1), 95)), subsampling=2, optimize=False)
    return buf.getvalue()


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def apply_prefill_instruction(messages: list[dict[str, Any]], prefill: str) -> list[dict[str, Any]]:
    """Copy of HF-format ``messages`` whose last user turn ends with the prefill instruction."""
    out = [dict(m) for m in messages]
    note = PREFILL_INSTRUCTION.format(prefill=prefill)
    for m in reversed(out):
        if m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, str):
                m["content"] = f"{content}\n\n{note}"
            else:
                parts = [dict(p) for p in (content or [])]
                for p in reversed(parts):
                    if p.get("type") == "text":
                        p["text"] = f"{p.get('text', '')}\n\n{note}"
                        break
                else:
                    parts.append({"type": "text", "text": note})
                m["content"] = parts
            return out
    out.append({"role": "user", "content": [{"type": "text", "text": note}]})
    return out


def strip_prefill(text: str | None, prefill: str | None) -> tuple[str | None, bool]:
    """Remove a repeated prefill from the start of ``text``; return (continuation, echoed)."""
    if text is None or not prefill:
        return text, False
    stripped = text.lstrip()
    if stripped.startswith(prefill):
        return stripped[len(prefill):], True
    if prefill.strip() and stripped.startswith(prefill.strip()):
        return stripped[len(prefill.strip()):], True
    return text, False


def to_openai_messages(
    messages: list[dict[str, Any]],
    frames: Frames | None,
    *,
    jpeg_quality: int = 85,
    max_pixels: int | None = None,
    image_detail: str | None = None,
    frame_timestamps: bool = False,
    encoder: Callable[[np.ndarray], bytes] | None = None,
) -> list[dict[str, Any]]:
    """HF multimodal messages + frames -> OpenAI chat messages (frames as data URLs in place).

    Text-only turns become plain strings (accepted by every server); turns with frames become
    content-part lists. A video placeholder without frames is dropped.
    """
    out: list[dict[str, Any]] = []
    encode = encoder or (lambda f: encode_frame_jpeg(f, quality=jpeg_quality, max_pixels=max_pixels))
    for m in messages:
        role = m.get("role", "user")
        content = m.get("content")
        if isinstance(content, str) or content is None:
            out.append({"role": role, "content": content or ""})
            continue
        parts: list[dict[str, Any]] = []
        has_image = False
        for p in content:
            kind = p.get("type")
            if kind == "text":
                parts.append({"type": "text", "text": p.get("text", "")})
            elif kind == "video":
                if frames is None:
                    continue
                stamps = list(frames.info.timestamps or [])
                for i in range(frames.array.shape[0]):
                    if frame_timestamps and i < len(stamps):
                        parts.append({"type": "text", "text": f"[t={stamps[i]:.1f}s]"})
                    data = base64.b64encode(encode(frames.array[i])).decode("ascii")
                    image_url: dict[str, Any] = {"url": f"data:image/jpeg;base64,{data}"}
                    if image_detail:
                        image_url["detail"] = image_detail
                    parts.append({"type": "image_url", "image_url": image_url})
                    has_image = True
            else:
                raise UsageError(f"the openai backend cannot send a {kind!r} message part",
                                 hint="prompts may contain text and one video placeholder")
        if has_image:
            out.append({"role": role, "content": parts})
        else:
            out.append({"role": role, "content": "\n".join(p["text"] for p in parts)})
    return out


# --------------------------------------------------------------------------- adapter


class OpenAIChatModel(ModelAdapter):
    backend = "openai"
    needs_frames = True

    def __init__(self, spec: ModelSpec, client: Any = None):
        """``client``: a ready :class:`~mosseval.openai_client.ChatClient` (programmatic use, e.g.
        with an explicit key); by default one is built from the model args and the environment."""
        self.spec = spec
        self.name = spec.name
        for secret in ("api_key", "key", "token", "password"):
            if secret in (spec.args or {}):
                raise UsageError(
                    f"do not pass {secret}=... in --model-args: it would end up in shell history and "
                    "run files",
                    hint="export OPENAI_API_KEY=... (or put the key in another variable and pass "
                         "api_key_env=THAT_VARIABLE)",
                )
        self.args: OpenAIArgs = parse_backend_args("openai", spec.args, OpenAIArgs)
        a = self.args
        self.batch_size = a.batch_size or a.concurrency
        if client is None:
            from mosseval.openai_client import ChatClient

            client = ChatClient(
                spec.target, base_url=a.base_url, api_key_env=a.api_key_env,
                base_url_env=a.base_url_env, timeout=a.timeout, max_retries=a.max_retries,
                concurrency=a.concurrency, rpm=a.rpm, budget_requests=a.budget_requests,
                budget_tokens=a.budget_tokens, backoff_base=a.backoff_base, backoff_max=a.backoff_max,
                retry_after_cap=a.retry_after_cap, max_tokens_param=a.max_tokens_param,
                max_response_bytes=a.max_response_bytes,
            )
        self.client = client

    def __repr__(self) -> str:
        return f"OpenAIChatModel(name={self.name!r}, client={self.client!r})"

    def identity(self) -> dict[str, Any]:
        a = self.args
        return {
            "name": self.name,
            "backend": self.backend,
            "model": self.spec.target,
            "host": self.client.host,
            "image_detail": a.image_detail,
            "max_pixels": a.max_pixels,
            "jpeg_quality": a.jpeg_quality,
            "frame_timestamps": a.frame_timestamps,
            "prefill_mode": a.prefill_mode,
            "length_param": a.max_tokens_param,  # (a key named *token* would be redacted)
            "send_seed": a.send_seed,
        }

    def build(self, request: Request) -> dict[str, Any]:
        """The ``complete_many`` item for one request (messages + generation options)."""
        a = self.args
        messages = request.messages
        extra_body: dict[str, Any] | None = None
        if request.prefill and a.prefill_mode == "user":
            messages = apply_prefill_instruction(messages, request.prefill)
        chat = to_openai_messages(messages, request.frames, jpeg_quality=a.jpeg_quality,
                                  max_pixels=a.max_pixels, image_detail=a.image_detail,
                                  frame_timestamps=a.frame_timestamps)
        if request.prefill and a.prefill_mode == "assistant":
            chat.append({"role": "assistant", "content": request.prefill})
            extra_body = {"continue_final_message": True, "add_generation_prompt": False}
        g = request.generation
        item: dict[str, Any] = {"messages": chat, "max_tokens": g.max_new_tokens,
                                "temperature": g.temperature, "top_p": g.top_p}
        if a.send_seed:
            item["seed"] = int(request.seed)
        if extra_body:
            item["extra_body"] = extra_body
        return item

    def generate(self, requests: list[Request]) -> list[Response]:
        items: list[dict[str, Any] | None] = []
        prepared_errors: dict[int, ErrorInfo] = {}
        for i, r in enumerate(requests):
            try:
                items.append(self.build(r))
            except UsageError:
                raise
            except Exception as exc:  # a frame that cannot be encoded fails that sample only
                items.append(None)
                prepared_errors[i] = ErrorInfo(kind="model", message=f"cannot encode request: "
                                                                     f"{type(exc).__name__}: {exc}")
        to_send = [it for it in items if it is not None]
        results = iter(self.client.complete_many(to_send) if to_send else [])
        out: list[Response] = []
        for i, (r, it) in enumerate(zip(requests, items)):
            if it is None:
                out.append(Response(text=None, error=prepared_errors[i]))
                continue
            out.append(self._response(r, next(results)))
        return out

    def _response(self, request: Request, res: Any) -> Response:
        extra: dict[str, Any] = {"attempts": res.attempts, "finish_reason": res.finish_reason,
                                 "api_latency_s": round(res.latency_s, 6)}
        usage = res.usage if any(v is not None for v in (res.usage.prompt_tokens, res.usage.completion_tokens,
                                                         res.usage.total_tokens)) else None
        if not res.ok:
            kind = "timeout" if res.error_kind == "timeout" else "api"
            extra["error_kind"] = res.error_kind
            if res.status is not None:
                extra["http_status"] = res.status
            return Response(text=None, usage=usage, error=ErrorInfo(kind=kind, message=res.error),
                            extra=extra)
        text = res.text
        if request.prefill and self.args.prefill_mode in ("user", "assistant"):
            text, echoed = strip_prefill(text, request.prefill)
            extra["prefill_mode"] = self.args.prefill_mode
            extra["prefill_echoed"] = echoed
        return Response(text=text, usage=usage, extra=extra)

    def close(self) -> None:
        self.client.close()


@register_backend("openai")
def load(spec: ModelSpec) -> ModelAdapter:
    return OpenAIChatModel(spec)
