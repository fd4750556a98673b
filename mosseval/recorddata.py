"""Records validated into plain dicts: the same checks as the records, without building model instances.

A reader that keeps a few facts of each of many ``samples.jsonl`` lines (``score``, the leaderboard's
embedded samples) pays more for the model instances of a validated record (one per nested record: the
sample, its video, every reference step, …) than for parsing the line. Here a record is validated by
pydantic against TypedDicts derived from the records' own declarations (:func:`data_type`: the same field
types and coercions — an int in a float field becomes a float; Literals, required fields and
``extra="forbid"`` kept; the two legacy upgrades accepted), into plain dicts. Fields left out keep their
record defaults (:func:`sample_field`). A value that does not validate here does not validate as the record
either: the caller reads it as the record for the record's own one-line error.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any, Optional, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, TypeAdapter
from typing_extensions import NotRequired, Required, TypedDict

from mosseval.records import ReferenceStep, Sample, SampleRecord, SampleScore

_DATA_TYPES: dict[type[BaseModel], Any] = {}


def data_type(model: type[BaseModel], extra: dict[str, Any] | None = None) -> Any:
    """A TypedDict with ``model``'s fields (nested records as their TypedDicts), validated like the model."""
    if model in _DATA_TYPES:
        return _DATA_TYPES[model]

    def plain(ann: Any) -> Any:
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            return data_type(ann)
        args = get_args(ann)
        origin = get_origin(ann)
        if origin in (Union, types.UnionType):
            return Union[tuple(plain(x) for x in args)]
        if origin in (list, dict, tuple) and args:
            return origin[tuple(plain(x) for x in args)] if origin is not list else list[plain(args[0])]  # type: ignore[index]
        return ann

    fields = {name: (Required if f.is_required() else NotRequired)[plain(f.annotation)]
              for name, f in model.model_fields.items()}
    fields.update(extra or {})
    out = TypedDict(model.__name__ + "Data", fields)  # type: ignore[operator]
    out.__pydantic_config__ = ConfigDict(extra=model.model_config.get("extra"))  # type: ignore[attr-defined]
    _DATA_TYPES[model] = out
    return out


@functools.cache
def _adapter(model: type[BaseModel]) -> TypeAdapter[Any]:
    """The validator of ``model``'s data type (built on first use: a few milliseconds each)."""
    # the legacy upgrades of the records, accepted as the records accept them (first: other types nest them)
    data_type(ReferenceStep, {"t": NotRequired[Optional[float]]})  # ReferenceStep._legacy_t's single time
    data_type(SampleScore, {"judge": NotRequired[Any]})  # SampleScore.drop_legacy_judge: ignored either way
    return TypeAdapter(data_type(model))


def sample_data_validator() -> Callable[[Any], dict[str, Any]]:
    """``validate(parsed sample) -> dict``: a parsed sample validated as :class:`~mosseval.records.Sample`
    declares its fields, as plain dicts; raises ``ValueError`` (pydantic's ``ValidationError``) exactly where
    ``Sample`` would."""
    return _adapter(Sample).validator.validate_python  # type: ignore[no-any-return]  # (without the wrapper)


def record_data(line: bytes) -> dict | None:
    """A ``samples.jsonl`` line validated as :class:`~mosseval.records.SampleRecord` declares its fields, as
    plain dicts (None when it does not validate: read it as the record, for the record's own error)."""
    try:
        return _adapter(SampleRecord).validate_json(line)  # type: ignore[no-any-return]
    except ValueError:
        return None


_SAMPLE_DEFAULTS = {name: f.get_default(call_default_factory=True) for name, f in Sample.model_fields.items()
                    if not f.is_required()}


def sample_field(data: dict[str, Any], name: str) -> Any:
    """The value of a :class:`~mosseval.records.Sample` field in its validated data (its default when left
    out; a mutable default is shared: read it, do not change it)."""
    try:
        return data[name]
    except KeyError:
        return _SAMPLE_DEFAULTS[name]


def sample_cluster_key(data: dict[str, Any]) -> str:
    """``Sample.cluster_key`` of a sample's validated data."""
    video = data.get("video")
    return Sample.cluster_key_of(data.get("cluster"), None if video is None else video["path"], data["id"])


__all__ = ["data_type", "record_data", "sample_data_validator", "sample_field", "sample_cluster_key"]
