"""Model backends and presets: which ``--model`` values exist and how they resolve.

Backends live in the one registry pattern (:mod:`mosseval.registry`): ``backends`` declares every
built-in backend with the modules it needs *without importing it*, so the CLI, scoring, leaderboard
and compare work with no torch installed. A backend module registers its factory with
``@register_backend(name)`` when (and only when) it is imported; third-party packages add backends
through the ``mosseval.backends`` entry-point group (``name = package.module:factory``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mosseval.errors import UsageError, did_you_mean
from mosseval.redact import SECRET_KEYS, clean_url  # noqa: F401  (re-exported)
from mosseval.redact import redact_mapping as redact
from mosseval.registry import Entry, Registry

if TYPE_CHECKING:  # the adapters (and the video layer under them) load with a backend, not with the presets
    from mosseval.models.base import ModelAdapter

backends: Registry[Callable[[ModelSpec], ModelAdapter]] = Registry("backends", "mosseval.backends", "backend")
"""``--model`` backends: name -> factory ``(ModelSpec) -> ModelAdapter``. ``meta["prefix"]`` is the
``PREFIX:target`` form that selects the backend (third-party backends: their entry-point name)."""

backends.declare("baseline", "mosseval.models.baselines",
                 description="random (seeded, uniform over options) and oracle (reference steps + gold answer)")
backends.declare("hf", "mosseval.models.hf", requires=("torch", "transformers"), extra="hf", prefix="hf",
                 description="transformers AutoModelForImageTextToText / AutoModelForMultimodalLM "
                 "(Qwen2/2.5/3-VL, LLaVA-OneVision, InternVL, Gemma 3, Qwen2.5-Omni, ...)")
backends.declare("openai", "mosseval.models.openai_api", requires=("openai",), extra="api", prefix="openai",
                 description="OpenAI-compatible chat completions (GPT-4o, vLLM/SGLang/Ollama servers)")
backends.declare("lmms", "mosseval.models.lmms", requires=("lmms_eval",), extra="lmms", prefix="lmms",
                 description="wraps an lmms-eval model class by name")
backends.declare("vllm", "mosseval.models.vllm_backend", requires=("vllm",), extra="vllm", prefix="vllm",
                 description="vLLM offline engine (GPU throughput)")


def backend_prefix(entry: Entry) -> str | None:
    """The ``PREFIX:`` of ``--model PREFIX:target`` that selects a backend (None: presets only)."""
    if entry.builtin:
        return entry.meta.get("prefix")
    return entry.name


@dataclass(frozen=True)
class Preset:
    name: str
    backend: str
    target: str
    description: str = ""
    default_args: dict[str, Any] = field(default_factory=dict)
    family: str | None = None
    """The model family (``mosseval.models.families``): its video recipe, its input mode."""


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("random", "baseline", "random", "uniform random option (seeded); chance calibration"),
        Preset("oracle", "baseline", "oracle", "gold answer + reference steps; the metrics' ceiling"),
        Preset("tiny-qwen2.5-vl", "hf", "builtin:tiny-qwen2.5-vl",
               "embedded random-weight Qwen2.5-VL (~156k params), built locally on first use",
               default_args={"batch_size": 8}, family="qwen2.5-vl"),
        Preset("mini-qwen2.5-vl", "hf", "builtin:mini-qwen2.5-vl",
               "learnable Qwen2.5-VL (~3.9M params, task vocabulary), built locally; random weights "
               "until `mosseval train`", default_args={"batch_size": 16}, family="qwen2.5-vl"),
        Preset("mini-qwen2.5-vl-sft", "hf", "builtin:mini-qwen2.5-vl-sft",
               "mini-qwen2.5-vl after the demo's SFT recipe on moss-video-mini (trained locally on first "
               "use, then cached)", default_args={"batch_size": 16}, family="qwen2.5-vl"),
        Preset("qwen2.5-vl-3b", "hf", "Qwen/Qwen2.5-VL-3B-Instruct", family="qwen2.5-vl"),
        Preset("qwen2.5-vl-7b", "hf", "Qwen/Qwen2.5-VL-7B-Instruct", family="qwen2.5-vl"),
        Preset("qwen2.5-vl-32b", "hf", "Qwen/Qwen2.5-VL-32B-Instruct", family="qwen2.5-vl"),
        Preset("qwen2.5-vl-72b", "hf", "Qwen/Qwen2.5-VL-72B-Instruct", family="qwen2.5-vl"),
        Preset("qwen2-vl-2b", "hf", "Qwen/Qwen2-VL-2B-Instruct", family="qwen2-vl"),
        Preset("qwen2-vl-7b", "hf", "Qwen/Qwen2-VL-7B-Instruct", family="qwen2-vl"),
        Preset("qwen3-vl-8b", "hf", "Qwen/Qwen3-VL-8B-Instruct", family="qwen3-vl"),
        Preset("qwen2.5-omni-7b", "hf", "Qwen/Qwen2.5-Omni-7B", "text output from the thinker",
               family="qwen2.5-omni"),
        Preset("llava-onevision-0.5b", "hf", "llava-hf/llava-onevision-qwen2-0.5b-ov-hf", family="llava-onevision"),
        Preset("llava-onevision-7b", "hf", "llava-hf/llava-onevision-qwen2-7b-ov-hf", family="llava-onevision"),
        Preset("llava-next-video-7b", "hf", "llava-hf/LLaVA-NeXT-Video-7B-hf", family="llava-next-video"),
        Preset("video-llava-7b", "hf", "LanguageBind/Video-LLaVA-7B-hf", family="video-llava"),
        Preset("internvl3-8b", "hf", "OpenGVLab/InternVL3-8B-hf", family="internvl"),
        Preset("smolvlm2-2.2b", "hf", "HuggingFaceTB/SmolVLM2-2.2B-Instruct", family="smolvlm2"),
        Preset("gemma-3-4b", "hf", "google/gemma-3-4b-it", "images only: frames go in as an image sequence",
               family="gemma3"),
        Preset("glm-4.1v-9b-thinking", "hf", "zai-org/GLM-4.1V-9B-Thinking", family="glm-4.1v"),
        Preset("gpt-4o", "openai", "gpt-4o", "OpenAI GPT-4o (needs OPENAI_API_KEY)"),
        Preset("gpt-4o-mini", "openai", "gpt-4o-mini", "OpenAI GPT-4o mini (needs OPENAI_API_KEY)"),
    ]
}


@dataclass(frozen=True)
class ModelSpec:
    """A resolved ``--model`` value."""

    name: str
    backend: str
    target: str
    args: dict[str, Any] = field(default_factory=dict)


Factory = Callable[[ModelSpec], "ModelAdapter"]


def register_backend(name: str) -> Callable[[Factory], Factory]:
    """Decorator used by backend modules: ``@register_backend("hf") def load(spec): ...``."""
    return backends.register(name)


def resolve(model: str, args: dict[str, Any] | None = None) -> ModelSpec:
    """Map a ``--model`` string to a backend and target, without importing anything heavy."""
    args = dict(args or {})
    model = model.strip()
    if not model:
        raise UsageError("--model is empty", hint="e.g. --model oracle, --model tiny-qwen2.5-vl")
    if model in PRESETS:
        p = PRESETS[model]
        return ModelSpec(model, p.backend, p.target, {**p.default_args, **args})
    m = re.match(r"^([a-z][a-z0-9_-]*):(.+)$", model)
    if m and not Path(model).exists():
        prefix, target = m.group(1), m.group(2)
        entries = backends.entries()
        for entry in entries.values():
            if backend_prefix(entry) == prefix:
                return ModelSpec(model, entry.name, target, args)
        prefixes = sorted(p for p in map(backend_prefix, entries.values()) if p)
        raise UsageError(
            f"unknown model backend prefix {prefix!r} in --model {model!r}",
            hint="known prefixes: " + ", ".join(p + ":" for p in prefixes),
        )
    path = Path(model).expanduser()
    if path.is_dir():
        return ModelSpec(model, "hf", str(path.resolve()), args)
    if re.match(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$", model) and not model.startswith((".", "/")):
        return ModelSpec(model, "hf", model, args)  # a Hub id, resolved from the local cache
    if any(sep in model for sep in ("/", "\\")) or model.startswith("."):
        raise UsageError(f"model directory {model!r} does not exist",
                         hint="pass an existing checkpoint directory, a preset or a Hub id")
    hint = did_you_mean(model, list(PRESETS))
    raise UsageError(
        f"unknown model {model!r}" + (f"; {hint}" if hint else ""),
        hint="`mosseval models` lists presets and backends; a local checkpoint directory, a Hub id "
        "(org/name, from the local cache) or PREFIX:NAME (openai:, hf:, lmms:, vllm:) also work",
    )


def load_backend(name: str) -> Factory:
    """The factory of backend ``name``: dependency-checked (exit 5 with the pip command), then imported."""
    return backends.load(name)


def model_family(spec: ModelSpec):
    """The family of a resolved ``--model`` (None: unknown, or not a transformers model)."""
    from mosseval.models.families import FAMILIES, family_of, read_model_type

    preset = PRESETS.get(spec.name)
    if preset is not None and preset.family:
        return FAMILIES[preset.family]
    if spec.backend != "hf":
        return None
    if spec.target.startswith("builtin:"):
        return FAMILIES["qwen2.5-vl"]
    return family_of(read_model_type(spec.target))


def model_recipe(spec: ModelSpec):
    """(family, recipe name) of a resolved ``--model``; the recipe is None when none is published."""
    family = model_family(spec)
    return family, (family.recipe if family is not None else None)


def load_model(spec: ModelSpec) -> ModelAdapter:
    return load_backend(spec.backend)(spec)


EXECUTION_ARGS = frozenset({"batch_size", "concurrency", "timeout", "max_retries", "rpm", "workers",
                            "backoff_base", "backoff_max", "retry_after_cap", "budget_requests",
                            "budget_tokens", "base_url_env", "api_key_env", "device", "num_threads",
                            "cache_dir", "attn_implementation", "max_response_bytes"})
"""Model args that change how fast a run goes, not what it outputs: kept out of the run identity."""




def identity_args(args: dict[str, Any]) -> dict[str, Any]:
    """Model args that enter the run identity: no secrets, no execution knobs, URLs without credentials."""
    return {k: (clean_url(v) if "url" in k.lower() and isinstance(v, str) else v)
            for k, v in redact(args).items() if k not in EXECUTION_ARGS}




def reject_unknown_args(backend: str, args: dict[str, Any], known: set[str] | list[str]) -> None:
    """Raise a UsageError naming unknown ``--model-args`` keys, with a "did you mean" and the valid keys."""
    unknown = sorted(set(args) - set(known))
    if unknown:
        hints = [h for h in (did_you_mean(k, sorted(known)) for k in unknown) if h]
        raise UsageError(
            f"unknown {backend} model arg(s): {', '.join(unknown)}" + (f"; {hints[0]}" if hints else ""),
            hint="valid keys: " + ", ".join(sorted(known)),
        )


def parse_model_args(text: str | None) -> dict[str, Any]:
    """Parse ``k=v,k2=v2`` (values: int, float, bool, none or string; quote commas with \\,)."""
    out: dict[str, Any] = {}
    if not text:
        return out
    parts = re.split(r"(?<!\\),", text)
    for part in parts:
        part = part.strip().replace("\\,", ",")
        if not part:
            continue
        if "=" not in part:
            raise UsageError(f"--model-args item {part!r} is not key=value",
                             hint="use --model-args key=value,key2=value2")
        k, v = part.split("=", 1)
        out[k.strip()] = _coerce(v.strip())
    return out


def _coerce(v: str) -> Any:
    low = v.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v
