"""Render a task's prompt for a sample into chat messages (Hugging Face multimodal format)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from mosseval.errors import ConfigError
from mosseval.records import Sample, TaskSpec


@lru_cache(maxsize=256)
def _template(source: str):
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)
    return env.from_string(source)


def options_block(sample: Sample, fmt: str) -> str:
    return "\n".join(fmt.format(letter=k, text=v) for k, v in sample.options.items())


def render_user_text(task: TaskSpec, sample: Sample) -> str:
    assert task.prompt is not None
    try:
        return _template(task.prompt.template).render(
            question=sample.question,
            options=sample.options,
            options_block=options_block(sample, task.prompt.option_format),
            sample=sample,
            metadata=sample.metadata,
        ).strip()
    except Exception as exc:  # jinja2 errors: name the task file and the problem
        raise ConfigError(f"task {task.name!r} ({task.source_file}): key `prompt.template` failed to render "
                          f"for sample {sample.id!r}: {exc}") from None


def build_messages(task: TaskSpec, sample: Sample) -> tuple[list[dict[str, Any]], str | None]:
    """Return (messages, prefill). The user turn holds a ``{"type": "video"}`` placeholder."""
    assert task.prompt is not None
    messages: list[dict[str, Any]] = []
    if task.prompt.system:
        messages.append({"role": "system", "content": [{"type": "text", "text": task.prompt.system}]})
    text = {"type": "text", "text": render_user_text(task, sample)}
    content: list[dict[str, Any]] = []
    if sample.video is not None:
        video = {"type": "video"}
        content = [video, text] if task.prompt.video_position == "before" else [text, video]
    else:
        content = [text]
    messages.append({"role": "user", "content": content})
    return messages, task.prompt.prefill
