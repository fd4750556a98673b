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
from sys import getrecursionlimit
from typing import Any, Optional, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, TypeAdapter
from typing_extensions import NotRequired, Required, TypedDict

from mosseval.records import Generation, ReferenceStep, Sample, SampleRecord, SampleScore

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
            return origin[tuple(plain(x) for x in args)] if origin is not list else list[plain(args[0])]  # type: ignore[index,misc]
        return ann

    fields = {name: (Required if f.is_required() else NotRequired)[plain(f.annotation)]
              for name, f in model.model_fields.items()}
    fields.update(extra or {})
    out = TypedDict(model.__name__ + "Data", fields)  # type: ignore[operator,misc]
    out.__pydantic_config__ = ConfigDict(extra=model.model_config.get("extra"))  # type: ignore[attr-defined]
    _DATA_TYPES[model] = out
    return out


_LEGACY: dict[type[BaseModel], dict[str, Any]] = {
    ReferenceStep: {"t": NotRequired[Optional[float]]},  # ReferenceStep._legacy_t's single time
    SampleScore: {"judge": NotRequired[Any]},  # SampleScore.drop_legacy_judge: ignored either way
}
"""The legacy upgrades of the records, accepted as the records accept them: fields their data types add."""


@functools.cache
def _adapter(model: type[BaseModel]) -> TypeAdapter[Any]:
    """The validator of ``model``'s data type (built on first use: a few milliseconds each)."""
    for legacy, extra in _LEGACY.items():  # first: other types nest them
        data_type(legacy, extra)
    return TypeAdapter(data_type(model))


def sample_data_validator() -> Callable[[Any], dict[str, Any]]:
    """``validate(parsed sample) -> dict``: a parsed sample validated as :class:`~mosseval.records.Sample`
    declares its fields, as plain dicts; raises ``ValueError`` (pydantic's ``ValidationError``) exactly where
    ``Sample`` would."""
    return _adapter(Sample).validator.validate_python  # type: ignore[no-any-return]  # (without the wrapper)


# --------------------------------------------------------------------------- a sample line decoded by msgspec
#
# ``score`` reads every line of a run: parsing it (orjson) and validating its sample (pydantic, above) cost
# about as much as ``json.loads`` of the line. msgspec decodes the line and validates the sample in one pass
# (~3x faster), against structs derived, like the data types, from the records' own declarations. It is an
# accelerator only: what it refuses, or any value it might read differently, goes to the usual path, so a line
# is read exactly as before. Kept to the subset where both readings provably agree:
#
# * every part of the line is decoded (the generation and the stored score as their records declare them, the
#   other parts ``score`` does not read as ``Any``): msgspec then refuses what orjson refuses (numbers beyond
#   a double, invalid UTF-8, lone surrogates, …) in every member, an earlier one of duplicate keys included
#   (however its key is escaped); an unknown top-level field is refused (not skipped). The stored score is
#   compared as bytes with the new one and the line read in full wherever they differ (``rescore._same_score``),
#   as before; under a raised recursion limit (above ``MSGSPEC_RECURSION_LIMIT``) msgspec might nest deeper than
#   orjson reads, and every line goes the usual way;
# * an ``int`` field takes 64-bit signed integers (orjson reads integers beyond 2^64 as floats, which
#   pydantic would then read as other integers); a ``float`` field takes an integer as pydantic does (the nearest double); ``bool`` and ``str``
#   take only booleans and strings (pydantic's lax conversions, e.g. "1" for an int, go to the usual path);
# * a field of free-form JSON (``Any``, ``dict[str, Any]``; a sample's ``metadata``) is decoded as such and
#   refused where it holds an integer orjson would read as a float (beyond -2^63 .. 2^64 - 1);
# * a field left out is left out (``UNSET``), fields in declaration order, the legacy fields as the data types
#   add them: the sample comes out as the dict ``sample_data_validator`` gives (tested on generated lines).


MSGSPEC_RECURSION_LIMIT = 1000
"""msgspec nests JSON as deep as Python's recursion limit lets it (it recurses in C), orjson up to 1,024 levels: under
this limit (Python's default) or a lower one, a value msgspec reads is one orjson reads, every member of a duplicate
key included (msgspec decodes them all and keeps the last, as orjson does). Above it ``sample_line_decoder`` steps
aside (every line read the usual way), and so does ``record_struct_decoder``."""


class _Unsupported(Exception):
    """A declaration outside the subset the msgspec structs mirror exactly."""


_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1


def _ms_type(ann: Any, msgspec: Any, where: str, free_form: bool = False) -> tuple[Any, list[tuple[str, ...]]]:
    """The msgspec type of a field's declaration, and the paths of the free-form fields of the structs it holds
    (``free_form``: allowed, directly or through an optional struct; never inside a list or a dict)."""
    from typing import Annotated, Literal

    if ann in (str, bool, float, type(None)):
        return ann, []
    if ann is int:
        return Annotated[int, msgspec.Meta(ge=_INT64_MIN, le=_INT64_MAX)], []
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        struct, free = _struct(ann, msgspec, free_form)
        return struct, list(free)
    origin, args = get_origin(ann), get_args(ann)
    if origin is Literal and all(type(a) is str for a in args):
        return ann, []
    if origin in (Union, types.UnionType):
        members = [_ms_type(a, msgspec, where, free_form) for a in args]
        return Union[tuple(t for t, _ in members)], [p for _, paths in members for p in paths]
    if origin is list and len(args) == 1 and args[0] is not Any:
        return list[_ms_type(args[0], msgspec, where)[0]], []  # type: ignore[misc]
    if origin is tuple and args and Ellipsis not in args and Any not in args:
        return tuple[tuple(_ms_type(a, msgspec, where)[0] for a in args)], []  # type: ignore[misc]
    if origin is dict and len(args) == 2 and args[0] is str and args[1] is not Any:
        return dict[str, _ms_type(args[1], msgspec, where)[0]], []  # type: ignore[misc]
    raise _Unsupported(f"{where}: {ann!r}")


def _free_form(ann: Any) -> bool:
    """A field of free-form JSON: ``Any`` or ``dict[str, Any]``."""
    return ann is Any or (get_origin(ann) is dict and get_args(ann) == (str, Any))


@functools.cache
def _struct(model: type[BaseModel], msgspec: Any, free_form: bool = False) -> tuple[Any, tuple[tuple[str, ...], ...]]:
    """The msgspec struct of ``model``'s data type, and the paths (field names, struct by struct) of its
    free-form fields (``free_form``: decoded as such; otherwise refused as unsupported)."""
    if model.model_config.get("extra") != "forbid" or model.model_config.get("strict"):
        raise _Unsupported(f"{model.__name__}: its config")
    declared = [(name, f.annotation, f.is_required()) for name, f in model.model_fields.items()
                if not (f.metadata or f.alias or f.validation_alias)] + \
        [(name, get_args(ann)[0], False) for name, ann in _LEGACY.get(model, {}).items()]
    if len(declared) != len(model.model_fields) + len(_LEGACY.get(model, {})):
        raise _Unsupported(f"{model.__name__}: a field with constraints or an alias")
    fields: list[tuple[Any, ...]] = []
    free: list[tuple[str, ...]] = []
    for name, ann, required in declared:
        inner: list[tuple[str, ...]]
        if free_form and _free_form(ann):
            typ, inner = ann, [()]
        else:
            typ, inner = _ms_type(ann, msgspec, f"{model.__name__}.{name}", free_form)
        free += [(name, *path) for path in inner]
        fields.append((name, typ) if required else (name, Union[typ, msgspec.UnsetType], msgspec.UNSET))
    struct = msgspec.defstruct(model.__name__ + "Struct", fields, kw_only=True, forbid_unknown_fields=True)
    return struct, tuple(free)


def _orjson_ints(value: Any, levels: int = -1) -> bool:
    """Every integer in decoded JSON is one orjson reads as an integer (it reads others as floats); with
    ``levels`` >= 0, its arrays and objects are also nested at most that many levels deep."""
    t = type(value)
    if t is int:
        number: int = value
        return -(2 ** 63) <= number < 2 ** 64
    if t is dict or t is list:
        if levels == 0:
            return False
        for v in value.values() if t is dict else value:
            tv = type(v)
            # (a string, float, bool or null inside holds no integer: not a call each)
            if (tv is int or tv is dict or tv is list) and not _orjson_ints(v, levels - 1):
                return False
    return True


SampleLine = tuple[str, str, int, Optional[str], bool, dict[str, Any]]
"""``(key, task, index, generated text, generation failed, the sample's validated data)``."""


@functools.cache
def sample_line_decoder() -> Callable[[bytes], SampleLine | None] | None:
    """``decode(line)``: a ``samples.jsonl`` line read as ``score`` reads it — its key, task, index, generated
    text, whether the generation failed, and its sample validated as ``sample_data_validator`` validates it —
    or None where the line is outside the subset this reader mirrors exactly (see above: the caller reads it
    the usual way). None instead of a decoder without msgspec, or for records it cannot mirror."""
    try:
        import msgspec
    except ImportError:  # pragma: no cover - msgspec is a dependency; the usual path needs nothing else
        return None
    try:
        sample_struct, free_paths = _struct(Sample, msgspec, True)
        free = [path[0] for path in free_paths]
        if any(len(path) != 1 for path in free_paths):
            raise _Unsupported("a free-form field in a nested record of Sample")
        line_fields: list[tuple[Any, ...]] = []
        for name in SampleRecord.model_fields:
            if name == "sample":
                line_fields.append((name, sample_struct))
            elif name in ("key", "task"):
                line_fields.append((name, str))
            elif name == "index":
                line_fields.append((name, _ms_type(int, msgspec, name)[0]))
            elif name == "generation":
                # as its record declares it (the usual path reads its text and whether it has an error: a
                # generation that is not a valid record's goes that way); its free-form extra is decoded, not read
                line_fields.append((name, _struct(Generation, msgspec, True)[0]))
            elif name == "score":
                # decoded, not read (`score` compares the stored score's bytes with the new one: rescore._same_score),
                # so that every member of that name is checked: msgspec keeps the last of duplicate members, as
                # orjson does, and would skip an earlier one unchecked were it not decoded. As its record declares
                # it (its legacy `judge` as free-form JSON)
                line_fields.append((name, Optional[_struct(SampleScore, msgspec, True)[0]], msgspec.UNSET))
            else:  # decoded (so refused where orjson refuses it), not read
                line_fields.append((name, Any, msgspec.UNSET))
        # (Any: the struct is made at run time, its fields unknown to a type checker)
        decoder: Any = msgspec.json.Decoder(msgspec.defstruct("SampleLine", line_fields, kw_only=True,
                                                              forbid_unknown_fields=True))
    except (_Unsupported, TypeError):
        return None
    decode, to_builtins, errors, unset = decoder.decode, msgspec.to_builtins, msgspec.DecodeError, msgspec.UNSET

    def read(line: bytes) -> SampleLine | None:
        if getrecursionlimit() > MSGSPEC_RECURSION_LIMIT:  # msgspec might read deeper than orjson: the usual way
            return None
        try:
            d = decode(line)
        except (errors, RecursionError):  # (free-form JSON nested ~1,000 deep: msgspec recurses in C)
            return None
        g = d.generation
        text, err = g.text, g.error
        if text is unset:
            text = None
        sample = to_builtins(d.sample)
        for name in free:
            value = sample.get(name)
            # (integers orjson reads as floats, or nesting past FREE_FORM_LEVELS: how deep msgspec goes depends
            # on Python's recursion limit, orjson's and pydantic's on neither)
            if value and not _orjson_ints(value, FREE_FORM_LEVELS):
                return None
        return d.key, d.task, d.index, text, err is not None and err is not unset, sample

    return read


@functools.cache
def record_struct_decoder() -> Callable[[bytes], Any] | None:
    """``decode(line)``: a ``samples.jsonl`` line decoded by msgspec into the structs of
    :class:`~mosseval.records.SampleRecord`'s data type (``_struct``: the record's fields and types, unknown
    fields refused, a field left out is ``msgspec.UNSET``), or None where msgspec refuses it (the caller reads
    the line the usual way). None instead of a decoder without msgspec, or for records it cannot mirror.

    The structs hold what pydantic's validation of the record's data gives (``msgspec.to_builtins`` of them is that
    data: types, key order, float bits; ``tests/test_recorddata.py``), and msgspec is the stricter reader (no lax
    conversions, 64-bit integers in integer fields, numbers within a double; free-form JSON read as pydantic's
    JSON parser reads it, integers of any size included): a line it takes is one the record takes."""
    try:
        import msgspec
    except ImportError:  # pragma: no cover - msgspec is a dependency
        return None
    try:
        decoder = msgspec.json.Decoder(_struct(SampleRecord, msgspec, True)[0])
    except (_Unsupported, TypeError):
        return None
    decode, errors = decoder.decode, msgspec.DecodeError

    def read(line: bytes) -> Any:
        if getrecursionlimit() > MSGSPEC_RECURSION_LIMIT:  # msgspec might read deeper than orjson: the usual way
            return None
        try:
            return decode(line)
        except (errors, RecursionError):  # (free-form JSON nested ~1,000 deep: msgspec recurses in C)
            return None

    return read


FREE_FORM_LEVELS = 200
"""Nesting :func:`plain_free_form` allows (pydantic's JSON parser refuses 255 levels, orjson 1,025, msgspec
about Python's recursion limit)."""


@functools.cache
def _free_form_paths() -> tuple[tuple[str, ...], ...]:
    """The free-form fields of :class:`~mosseval.records.SampleRecord`'s structs, as attribute paths."""
    import msgspec

    return _struct(SampleRecord, msgspec, True)[1]


def plain_free_form(record: Any) -> bool:
    """The free-form JSON of a record decoded by :func:`record_struct_decoder` (a sample's ``metadata``, a
    generation's ``extra``, a legacy score's ``judge``) holds only integers orjson reads as integers and is
    nested at most :data:`FREE_FORM_LEVELS` deep: with every other field typed, a line whose record passes is
    one orjson and pydantic both read (msgspec alone reads the others)."""
    for path in _free_form_paths():
        value = record
        for name in path:
            value = getattr(value, name)
            if not value:  # None, UNSET, empty
                break
        else:
            if not _orjson_ints(value, FREE_FORM_LEVELS):
                return False
    return True


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


__all__ = ["data_type", "record_struct_decoder", "plain_free_form", "sample_data_validator", "sample_field", "sample_cluster_key", "sample_line_decoder"]
