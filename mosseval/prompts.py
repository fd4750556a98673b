"""Render a task's prompt for a sample into chat messages (Hugging Face multimodal format)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from mosseval.errors import ConfigError
from mosseval.records import FrameInfo, Sample, TaskSpec


@lru_cache(maxsize=256)
def _template(source: str):
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)
    return env.from_string(source)


def options_block(sample: Sample, fmt: str) -> str:
    return "\n".join(fmt.format(letter=k, text=v) for k, v in sample.options.items())


def render_user_text(task: TaskSpec, sample: Sample, extra: dict[str, Any] | None = None) -> str:
    """The user text of ``sample``; ``extra`` adds template variables (a loader's prompt context)."""
    assert task.prompt is not None
    try:
        return _template(task.prompt.template).render(
            question=sample.question,
            options=sample.options,
            options_block=options_block(sample, task.prompt.option_format),
            sample=sample,
            metadata=sample.metadata,
            **(extra or {}),
        ).strip()
    except Exception as exc:  # jinja2 errors: name the task file and the problem
        raise ConfigError(f"task {task.name!r} ({task.source_file}): key `prompt.template` failed to render "
                          f"for sample {sample.id!r}: {exc}") from None


def prompt_context(task: TaskSpec, sample: Sample, root: Path | None = None,
                   frames: FrameInfo | None = None) -> dict[str, Any]:
    """Extra template variables from the task's loader (its ``prompt_context`` hook, e.g. Video-MME's
    subtitles at the sampled frames); ``{}`` for loaders without one. May raise ``MediaError``."""
    if not task.loader:
        return {}
    from mosseval.data import loader_prompt_context

    hook = loader_prompt_context(task.loader)
    return dict(hook(task, sample, root, frames) or {}) if hook is not None else {}


def build_messages(task: TaskSpec, sample: Sample, *, root: Path | None = None,
                   frames: FrameInfo | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """Return (messages, prefill). The user turn holds a ``{"type": "video"}`` placeholder.

    ``root`` (the task's data root) and ``frames`` (what the sampler chose for this sample) are
    passed to the loader's prompt context, for prompts that depend on them."""
    assert task.prompt is not None
    messages: list[dict[str, Any]] = []
    if task.prompt.system:
        messages.append({"role": "system", "content": [{"type": "text", "text": task.prompt.system}]})
    extra = prompt_context(task, sample, root, frames)
    text = {"type": "text", "text": render_user_text(task, sample, extra)}
    content: list[dict[str, Any]] = []
    if sample.video is not None:
        video = {"type": "video"}
        content = [video, text] if task.prompt.video_position == "before" else [text, video]
    else:
        content = [text]
    messages.append({"role": "user", "content": content})
    return messages, task.prompt.prefill
