"""MOSS-Video JSONL loader (SPEC §4.1), also used by the embedded moss-video-mini.

``loader_args``:
  file:   JSONL file relative to the data root (default ``test.jsonl``)
  split:  keep only lines whose split equals this (optional)
  fields: mapping from our field names to the file's names, for releases that rename fields,
          e.g. ``{question: query, reference_steps: trace}``. Unmapped fields use our names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mosseval.data import register_holds_data, register_loader
from mosseval.errors import ConfigError, DataNotFoundError
from mosseval.records import ReferenceStep, Sample, TaskSpec, VideoRef

FIELDS = ("id", "video", "start", "end", "question", "options", "answer", "reference_steps",
          "level", "category", "split")


def _steps(value: Any, where: str) -> list[ReferenceStep]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"{where}: reference_steps must be a list")
    out = []
    for step in value:
        if isinstance(step, str):
            out.append(ReferenceStep(text=step))
        elif isinstance(step, dict) and "text" in step:
            out.append(ReferenceStep(text=str(step["text"]), t=step.get("t")))
        else:
            raise ConfigError(f"{where}: each reference step must be a string or {{t, text}}")
    return out


def _options(value: Any, where: str) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k).strip().upper(): str(v) for k, v in value.items()}
    if isinstance(value, list):
        return {chr(ord("A") + i): str(v) for i, v in enumerate(value)}
    raise ConfigError(f"{where}: options must be a mapping letter -> text or a list")


def parse_line(obj: dict[str, Any], task: str, fields: dict[str, str], where: str) -> Sample:
    def get(name: str, default: Any = None) -> Any:
        return obj.get(fields.get(name, name), default)

    missing = [f for f in ("id", "video", "question", "options", "answer") if get(f) is None]
    if missing:
        mapped = [fields.get(m, m) for m in missing]
        raise ConfigError(f"{where}: missing field(s) {mapped}",
                          hint="map renamed fields with loader_args.fields in the task YAML")
    options = _options(get("options"), where)
    answer = str(get("answer")).strip().upper()
    if answer not in options:
        raise ConfigError(f"{where}: answer {answer!r} is not one of the options {list(options)}")
    start, end = get("start"), get("end")
    known = {fields.get(f, f) for f in FIELDS}
    return Sample(
        id=str(get("id")),
        task=task,
        video=VideoRef(path=str(get("video")), start=start, end=end),
        question=str(get("question")),
        options=options,
        answer=answer,
        reference_steps=_steps(get("reference_steps"), where),
        category=get("category"),
        level=get("level"),
        split=get("split"),
        metadata={k: v for k, v in obj.items() if k not in known},
    )


@register_loader("moss_video_jsonl")
def load(task: TaskSpec, root: Path) -> list[Sample]:
    args = task.loader_args
    path = Path(root) / args.get("file", "test.jsonl")
    if not path.is_file():
        raise DataNotFoundError(f"{task.name}: {path} does not exist",
                                hint=task.data.obtain or "check --data-dir and loader_args.file")
    fields = dict(args.get("fields") or {})
    split = args.get("split")
    samples: list[Sample] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{where}: invalid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise ConfigError(f"{where}: each line must be a JSON object")
            try:
                sample = parse_line(obj, task.name, fields, where)
            except ValidationError as exc:  # a field of the wrong type: name the line and the field
                err = exc.errors()[0]
                field = ".".join(str(x) for x in err.get("loc", ()))
                raise ConfigError(f"{where}: field {field!r}: {err['msg']} (got {str(err.get('input'))[:60]!r})",
                                  hint="fix the dataset line, or map fields with loader_args.fields") from None
            if split and sample.split and sample.split != split:
                continue
            if sample.id in seen:
                raise ConfigError(f"{where}: duplicate id {sample.id!r}")
            seen.add(sample.id)
            samples.append(sample)
    return samples


@register_holds_data("moss_video_jsonl")
def holds_data(task: TaskSpec, path: Path) -> bool:
    """The task's JSONL file (``loader_args.file``, default ``test.jsonl``) is in ``path``."""
    return (Path(path) / str(task.loader_args.get("file", "test.jsonl"))).is_file()
