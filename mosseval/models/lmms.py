"""lmms-eval bridge: run any lmms-eval model class on mosseval tasks.

``--model lmms:NAME --model-args pretrained=...,visual=frames`` looks ``NAME`` up in lmms-eval's
model registry (``lmms_eval.models.get_model``: canonical ids and aliases such as ``qwen2_5_vl``,
``llava_onevision``, ``openai``), builds it with every model arg this bridge does not consume, and
feeds it lmms-eval ``Instance`` objects of type ``generate_until``. lmms-eval is an optional extra
(``pip install 'mosseval[lmms]'``); importing mosseval never imports it.

Request shapes (lmms-eval >= 0.4; older releases only have the first):

* *simple* models (``is_simple = True``): ``args = (context, gen_kwargs, doc_to_visual, doc_id,
  task, split)``. ``context`` is the prompt text (system text, if any, first); the model inserts
  its own visual tokens. ``doc_to_visual(doc)`` returns the visuals.
* *chat* models (``is_simple = False``): ``args = (context, doc_to_messages, gen_kwargs, doc_id,
  task, split)``; ``doc_to_messages(doc)`` returns lmms-eval chat messages (``{"type": "text" |
  "image" | "video", ...}`` parts) built from our messages, the visuals where our video
  placeholder is.

The model reads docs from ``model.task_dict[task][split][doc_id]``; the bridge installs a one-batch
``task_dict`` before each ``generate_until`` call.

Visuals (``visual=``):

* ``frames`` (default): the runner's decoded frames as PIL images, so the model sees exactly the
  pixels every other mosseval backend sees (same sampling, same resize). Trade-off: most lmms-eval
  models treat a list of images as *images*, not a video: fewer temporal cues (no fps, no temporal
  position ids) and usually more visual tokens than their video path.
* ``video``: the path of the sample's video file; the lmms-eval model decodes and samples frames
  itself with its own settings (e.g. ``max_num_frames``, ``fps``), as in lmms-eval's own runs.
  Faithful to the model's native video path, but frame sampling then differs from the task's
  ``frames:`` spec, and frame-folder videos (MVBench) are not supported. The path comes from
  ``Request.video_path`` (set by the runner) or ``data_dir=`` + the sample's relative path.

Generation: ``gen_kwargs = {max_new_tokens, temperature, top_p, do_sample, until: []}``. The
prefill cannot be forced in lmms-eval, so the last user text gets ``Begin your reply with:
<prefill>`` and an echoed prefill is stripped from the reply (as the ``openai`` backend's
``prefill_mode=user``). A reply starting with lmms-eval's failure markers
(``[LMMS_EVAL_REQUEST_FAILED``, ``[LMMS_EVAL_BUDGET_EXCEEDED]``) becomes a per-sample error;
an exception from ``generate_until`` fails the batch's samples individually (retried one by one).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from typing import Any

from mosseval.errors import MediaError, MissingDependencyError, UsageError, did_you_mean
from mosseval.models.base import ModelAdapter, Request, Response
from mosseval.models.openai_api import apply_prefill_instruction, parse_backend_args, strip_prefill
from mosseval.models.registry import ModelSpec, redact, register_backend
from mosseval.paths import safe_join
from mosseval.records import ErrorInfo, Usage

__all__ = ["LmmsBridge", "LmmsBridgeArgs", "build_instances", "import_lmms_eval", "load"]

log = logging.getLogger(__name__)

TASK_NAME = "mosseval"
SPLIT = "test"
FAILURE_MARKERS = ("[LMMS_EVAL_REQUEST_FAILED", "[LMMS_EVAL_BUDGET_EXCEEDED]")
_INSTALL_HINT = "install the extra with: pip install 'mosseval[lmms]' -c constraints.txt"


@dataclass(frozen=True)
class LmmsBridgeArgs:
    """Model args consumed by the bridge; all others go to the lmms-eval model constructor."""

    visual: str = field(default="frames", metadata={"choices": ("frames", "video")})
    data_dir: str | None = None
    force_simple: bool = field(default=False, metadata={"kind": "bool"})
    batch_size: int | None = field(default=None, metadata={"kind": "int", "min": 1})
    """Runner batch size; also passed to the lmms-eval model (most accept ``batch_size``)."""


_BRIDGE_KEYS = {"visual", "data_dir", "force_simple", "batch_size"}


def import_lmms_eval() -> Any:
    """Import lmms-eval's model registry or raise ``MissingDependencyError`` (the ``lmms`` extra)."""
    try:
        import lmms_eval  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            "the 'lmms' backend needs lmms-eval, which is not installed", hint=_INSTALL_HINT,
        ) from None
    from mosseval.torchvision_compat import ensure_torchvision

    ensure_torchvision()  # lmms-eval imports torchvision (via transformers / its models)
    try:
        return importlib.import_module("lmms_eval.models")
    except ImportError as exc:
        raise MissingDependencyError(
            f"lmms-eval is installed but its model registry cannot be imported ({exc})",
            hint=_INSTALL_HINT + " (installs lmms-eval together with its dependencies)",
        ) from None


def _lmms_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("lmms-eval")
    except Exception:
        return None


def _model_names(models_mod: Any) -> list[str]:
    lister = getattr(models_mod, "list_available_models", None)
    if callable(lister):
        try:
            return list(lister(include_aliases=True))
        except TypeError:
            return list(lister())
    return sorted(getattr(models_mod, "AVAILABLE_MODELS", {}) or {})


def resolve_model_class(name: str, *, force_simple: bool = False) -> type:
    """The lmms-eval model class registered as ``name`` (a UsageError names close matches)."""
    models_mod = import_lmms_eval()
    names = _model_names(models_mod)
    if names and name not in names:
        hint = did_you_mean(name, names)
        raise UsageError(f"lmms-eval has no model named {name!r}" + (f"; {hint}" if hint else ""),
                         hint="lmms-eval model names: " + ", ".join(sorted(names)[:40])
                         + (" ..." if len(names) > 40 else ""))
    get_model = models_mod.get_model
    try:
        return get_model(name, force_simple=force_simple) if force_simple else get_model(name)
    except ImportError as exc:
        raise MissingDependencyError(
            f"lmms-eval model {name!r} cannot be imported: {exc}",
            hint="install that model's own requirements (see lmms-eval's documentation)",
        ) from None


# --------------------------------------------------------------------------- requests


def _pil_frames(request: Request) -> list[Any]:
    from PIL import Image

    if request.frames is None:
        return []
    return [Image.fromarray(request.frames.array[i]) for i in range(request.frames.array.shape[0])]


def _video_path(request: Request, data_dir: str | None) -> str:
    video = request.sample.video
    if video is None:
        raise MediaError("sample has no video")
    if video.kind != "file":
        raise MediaError(f"visual=video needs a video file, but {video.path!r} is a frame folder; "
                         "use visual=frames")
    given = getattr(request, "video_path", None)
    if given:
        return str(given)
    if data_dir:
        path = safe_join(data_dir, video.path)
        if not path.is_file():
            raise MediaError(f"video {video.path!r} not found under data_dir {data_dir!r}")
        return str(path)
    raise MediaError("visual=video needs the video file's path: pass data_dir=<dataset root> in "
                     "--model-args (or use visual=frames)")


def _visuals(request: Request, mode: str, data_dir: str | None) -> list[Any]:
    if request.sample.video is None:
        return []
    if mode == "video":
        return [_video_path(request, data_dir)]
    return _pil_frames(request)


def _chat_messages(messages: list[dict[str, Any]], visuals: list[Any], mode: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        content = m.get("content")
        parts: list[dict[str, Any]] = []
        if isinstance(content, str):
            parts.append({"type": "text", "text": content})
        else:
            for p in content or []:
                if p.get("type") == "text":
                    parts.append({"type": "text", "text": p.get("text", "")})
                elif p.get("type") == "video":
                    if mode == "video":
                        parts.extend({"type": "video", "url": v} for v in visuals)
                    else:
                        parts.extend({"type": "image", "url": v} for v in visuals)
        out.append({"role": m.get("role", "user"), "content": parts})
    return out


def _context(messages: list[dict[str, Any]]) -> str:
    texts: list[str] = []
    for m in messages:
        if m.get("role") == "assistant":
            continue
        content = m.get("content")
        if isinstance(content, str):
            texts.append(content)
        else:
            texts.extend(p.get("text", "") for p in content or [] if p.get("type") == "text")
    return "\n\n".join(t for t in texts if t)


def gen_kwargs_for(request: Request) -> dict[str, Any]:
    g = request.generation
    return {"max_new_tokens": int(g.max_new_tokens), "temperature": float(g.temperature),
            "top_p": float(g.top_p), "do_sample": g.temperature > 0, "until": []}


def build_instances(requests: list[Request], *, is_simple: bool, visual: str = "frames",
                    data_dir: str | None = None) -> tuple[list[Any], dict[str, Any], dict[int, ErrorInfo]]:
    """lmms-eval ``Instance`` objects for a batch, the ``task_dict`` they read, and per-request
    errors (requests whose visuals could not be prepared get no Instance)."""
    from lmms_eval.api.instance import Instance

    docs: dict[int, dict[str, Any]] = {}
    visuals: dict[int, list[Any]] = {}
    chats: dict[int, list[dict[str, Any]]] = {}
    errors: dict[int, ErrorInfo] = {}
    instances: list[Any] = []
    for i, r in enumerate(requests):
        try:
            vis = _visuals(r, visual, data_dir)
        except MediaError as exc:
            errors[i] = ErrorInfo(kind="media", message=str(exc))
            continue
        messages = apply_prefill_instruction(r.messages, r.prefill) if r.prefill else r.messages
        visuals[i] = vis
        chats[i] = _chat_messages(messages, vis, visual)
        docs[i] = {"id": r.sample.id, "question": r.sample.question, "mosseval_index": i}
        gen = gen_kwargs_for(r)
        ctx = _context(messages)
        if is_simple:
            def doc_to_visual(doc: dict[str, Any], _v: dict[int, list[Any]] = visuals) -> list[Any]:
                return list(_v[doc["mosseval_index"]])

            args: tuple = (ctx, gen, doc_to_visual, i, TASK_NAME, SPLIT)
        else:
            def doc_to_messages(doc: dict[str, Any], _c: dict[int, list] = chats) -> list[dict[str, Any]]:
                return [dict(m, content=list(m["content"])) for m in _c[doc["mosseval_index"]]]

            args = (ctx, doc_to_messages, gen, i, TASK_NAME, SPLIT)
        inst = Instance(request_type="generate_until", arguments=args, idx=0,
                        metadata={"task": TASK_NAME, "doc_id": i, "repeats": 1})
        inst.doc = docs[i]
        instances.append(inst)
    return instances, {TASK_NAME: {SPLIT: docs}}, errors


def _unwrap(output: Any) -> tuple[str | None, Usage | None]:
    """(text, usage) from a str / GenerationResult / (str, dict) output of generate_until."""
    counts = None
    if isinstance(output, tuple) and len(output) == 2 and isinstance(output[0], str):
        output, counts = output
    elif hasattr(output, "text") and not isinstance(output, str):
        counts = getattr(output, "token_counts", None)
        output = output.text
    usage = None
    if counts is not None:
        get = counts.get if isinstance(counts, dict) else (lambda k: getattr(counts, k, None))
        p, c = get("input_tokens"), get("output_tokens")
        if p is not None or c is not None:
            usage = Usage(prompt_tokens=p, completion_tokens=c,
                          total_tokens=(p or 0) + (c or 0) if p is not None and c is not None else None)
    if output is None:
        return None, usage
    return str(output), usage


# --------------------------------------------------------------------------- adapter


class LmmsBridge(ModelAdapter):
    backend = "lmms"
    needs_frames = True

    def __init__(self, spec: ModelSpec, model: Any = None):
        self.spec = spec
        self.name = spec.name
        bridge_args = {k: v for k, v in (spec.args or {}).items() if k in _BRIDGE_KEYS}
        self.args: LmmsBridgeArgs = parse_backend_args("lmms", bridge_args, LmmsBridgeArgs)
        self.model_args = {k: v for k, v in (spec.args or {}).items() if k not in _BRIDGE_KEYS - {"batch_size"}}
        self.needs_frames = self.args.visual == "frames"
        if model is None:
            cls = resolve_model_class(spec.target, force_simple=self.args.force_simple)
            try:
                model = cls(**self.model_args)
            except TypeError as exc:
                raise UsageError(f"lmms-eval model {spec.target!r} rejected its model args: {exc}",
                                 hint="check --model-args against the lmms-eval model's constructor") from None
        self.model = model
        self.model_class = f"{type(model).__module__}.{type(model).__qualname__}"
        self.is_simple = bool(getattr(type(model), "is_simple", True))
        self.batch_size = self.args.batch_size or int(getattr(model, "batch_size", 1) or 1)

    def identity(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "backend": self.backend,
            "lmms_model": self.spec.target,
            "model_class": self.model_class,
            "request_shape": "simple" if self.is_simple else "chat",
            "lmms_eval_version": _lmms_version(),
            "visual": self.args.visual,
            "model_args": redact({k: v for k, v in self.model_args.items() if k != "batch_size"}),
        }

    def generate(self, requests: list[Request]) -> list[Response]:
        out: list[Response | None] = [None] * len(requests)
        instances, task_dict, errors = build_instances(
            requests, is_simple=self.is_simple, visual=self.args.visual, data_dir=self.args.data_dir)
        for i, err in errors.items():
            out[i] = Response(text=None, error=err)
        if instances:
            try:
                outputs = self._run(instances, task_dict)
            except Exception as exc:  # isolate the failing sample(s)
                if len(instances) == 1:
                    i = instances[0].doc["mosseval_index"]
                    out[i] = Response(text=None, error=ErrorInfo(
                        kind="model", message=f"lmms-eval generate_until failed: {type(exc).__name__}: {exc}"))
                    outputs = []
                    instances = []
                else:
                    log.warning("lmms-eval batch failed (%s: %s); retrying its %d requests one by one",
                                type(exc).__name__, exc, len(instances))
                    for inst in instances:
                        i = inst.doc["mosseval_index"]
                        out[i] = self.generate([requests[i]])[0]
                    outputs = []
                    instances = []
            for inst, output in zip(instances, outputs):
                i = inst.doc["mosseval_index"]
                out[i] = self._response(requests[i], output)
        return [r if r is not None else Response(text=None, error=ErrorInfo(kind="model", message="no output"))
                for r in out]

    def _run(self, instances: list[Any], task_dict: dict[str, Any]) -> list[Any]:
        self.model.task_dict = task_dict
        outputs = self.model.generate_until(instances)
        if len(outputs) != len(instances):
            from mosseval.errors import InternalError

            raise InternalError(f"lmms-eval's generate_until returned {len(outputs)} outputs for {len(instances)} "
                                "requests", hint="a bug in the lmms-eval model class; finished samples are saved")
        return list(outputs)

    def _response(self, request: Request, output: Any) -> Response:
        text, usage = _unwrap(output)
        extra: dict[str, Any] = {"visual": self.args.visual}
        if text is not None and text.lstrip().startswith(FAILURE_MARKERS):
            return Response(text=None, usage=usage, error=ErrorInfo(kind="model", message=text.strip()[:500]),
                            extra=extra)
        if request.prefill:
            text, echoed = strip_prefill(text, request.prefill)
            extra["prefill_mode"] = "user"
            extra["prefill_echoed"] = echoed
        return Response(text=text, usage=usage, extra=extra)

    def close(self) -> None:
        clean = getattr(self.model, "clean", None)
        if callable(clean):
            try:
                clean()
            except Exception:  # pragma: no cover - best effort (frees GPU memory)
                pass


@register_backend("lmms")
def load(spec: ModelSpec) -> ModelAdapter:
    return LmmsBridge(spec)
