"""Judge rubrics: versioned YAML files with Jinja2 templates (``judges/`` and user folders).

A rubric file ``<name>.yaml`` holds::

    name: my-rubric            # [a-z0-9][a-z0-9._-]*, unique; a user folder may override a built-in
    version: "1"               # enters every cache fingerprint: bump it when the meaning changes
    kind: correctness | score  # correctness: {correct, extracted_answer}; score: a number on `scale`
    description: ...
    official: false            # its judged accuracy is a benchmark's official number
    official_judge: gpt-4o     # the judge model the official protocol uses (informational)
    requires: [reference_steps]        # items lacking these are "not applicable" (not sent)
    default_for: {extractors: [...], task_prefixes: [...], reference_steps: true}
    scale: {min: 1, max: 10}           # score rubrics
    templates: {system: file.j2, user: file.j2}  # paths relative to the YAML, or inline text
    generation: {max_tokens: 128, temperature: 0.0}
    expected_completion_tokens: 24     # typical reply length, for --dry-run estimates
    schema: {...}                      # JSON schema of the reply (structured output)
    fields: {correct: ..., extracted_answer: ..., score: ..., rationale: ...}  # reply keys
    parser: default                    # a named reply parser (``mosseval.judge.extensions``)
    aggregator: default                # a named aggregator of per-verdict metrics into summary metrics
    structured: true                   # false: no response_format (free text / a custom parser reads it)
    schema_name: verdict               # the name sent with the JSON schema (default: the rubric's name)
    verbatim: false                    # true: messages are sent exactly as rendered (no whitespace trim)
    judge_errors: exclude              # wrong: judge errors count as wrong answers (an official protocol's rule)
    after: other-rubric                # judged once `other-rubric` has a valid verdict for the item; the
                                       # templates see it as `prior`, and its metrics travel with this verdict

A parser may have a ``precheck`` hook (``parsers.register_hook(name, "precheck")``):
``precheck(rubric, record, prior) -> ParsedVerdict | None`` decides an item locally, without a request
(e.g. VCR-Bench's IoU rule for interval and box answers).

Templates see the variables listed in :data:`TEMPLATE_VARIABLES`; an unknown variable is an
error (``StrictUndefined``), and templates run in Jinja's sandbox.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mosseval.errors import ConfigError, PluginError, UsageError, did_you_mean
from mosseval.judge.context import REQUIREMENTS, item_applies
from mosseval.judge.records import RubricInfo
from mosseval.records import SampleRecord
from mosseval.registry import Registry

JUDGES_ENV = "MOSSEVAL_JUDGES_DIR"

rubric_sources: Registry[Any] = Registry("rubrics", "mosseval.rubrics", "rubric folder")
"""Folders of rubric YAML files that third-party packages add through the ``mosseval.rubrics``
entry-point group (``name = package.module:FOLDER``, a path or a function returning one). They are
read after the built-in ``judges/`` folder and before ``$MOSSEVAL_JUDGES_DIR`` / ``--rubrics-dir``."""


def plugin_rubric_dirs() -> list[Path]:
    """The folders the ``mosseval.rubrics`` providers point at."""
    out: list[Path] = []
    for name in rubric_sources.names():
        value = rubric_sources.load(name)
        folder = value() if callable(value) else value
        try:
            path = Path(folder)
        except TypeError:
            raise PluginError(f"rubric source {name!r} ({rubric_sources.entry(name).provider}) is "
                              f"{type(folder).__name__}, not a folder path") from None
        if not path.is_dir():
            raise PluginError(f"rubric source {name!r} ({rubric_sources.entry(name).provider}) points at "
                              f"{path}, which is not a folder",
                              hint="reinstall the package that provides it")
        out.append(path)
    return out
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

TEMPLATE_VARIABLES = {
    "question": "the question text",
    "options": "dict letter -> option text (empty for open-ended items)",
    "options_block": "options rendered one per line as `A: text`",
    "answer": "the gold answer (a letter, or free text)",
    "question_type": '"multiple-choice" or "open-ended"',
    "is_mc": "true for multiple-choice items",
    "response": "the model's full generated text",
    "final_answer": "content of the last <answer> block, or the empty string",
    "reasoning": "content of the <think> block, else the whole response",
    "steps": "reasoning steps split by the scorer (list of strings)",
    "reference_steps": "list of {text, start, end} (reference timeline; `t` = start)",
    "reference_timeline": "reference steps rendered one per line, with times when known",
    "task": "task name",
    "sample_id": "sample id",
    "metadata": "the sample's metadata dict",
    "scale": "{min, max} of a score rubric",
    "rubric": "{name, version}",
    "prior": "the verdict of the rubric named in `after` ({extracted_answer, correct, score, rationale, metrics}), "
             "or none",
}

_KNOWN_KEYS = {"name", "version", "kind", "description", "official", "official_judge", "requires",
               "default_for", "scale", "templates", "generation", "expected_completion_tokens", "schema",
               "fields", "parser", "aggregator", "structured", "schema_name", "verbatim", "judge_errors", "after"}


@dataclass
class Rubric:
    name: str
    version: str
    kind: str
    description: str
    system: str | None
    user: str
    schema: dict[str, Any]
    fields: dict[str, str]
    generation: dict[str, Any] = field(default_factory=dict)
    official: bool = False
    official_judge: str | None = None
    requires: list[str] = field(default_factory=list)
    default_for: dict[str, Any] = field(default_factory=dict)
    scale: tuple[float, float] | None = None
    expected_completion_tokens: int = 50
    parser: str = "default"
    aggregator: str = "default"
    structured: bool = True
    schema_name: str | None = None
    verbatim: bool = False
    judge_errors: str = "exclude"
    after: str | None = None
    source: str = ""
    folder: Path | None = None

    @property
    def max_tokens(self) -> int:
        return int(self.generation.get("max_tokens", 256))

    @property
    def temperature(self) -> float:
        return float(self.generation.get("temperature", 0.0))

    @property
    def builtin(self) -> bool:
        """Shipped with mosseval (``judges/``), not a user folder's."""
        from mosseval.paths import resource_dir

        try:
            return self.folder is not None and self.folder.resolve() == resource_dir("judges").resolve()
        except FileNotFoundError:
            return False

    def info(self, judge_model: str, tasks: list[str]) -> RubricInfo:
        """The rubric as recorded in the run's ``judge.json``."""
        return RubricInfo(name=self.name, version=self.version, kind=self.kind,  # type: ignore[arg-type]
                          description=self.description, official=self.official,
                          official_judge=self.official_judge, builtin=self.builtin,
                          requires=list(self.requires), scale=self.scale, judge=judge_model, tasks=list(tasks),
                          aggregator=self.aggregator, judge_errors=self.judge_errors)  # type: ignore[arg-type]

    # -- applicability -----------------------------------------------------------------

    def applies(self, rec: SampleRecord) -> bool:
        return item_applies(self.requires, rec)

    def is_default_for(self, task_name: str, extractor: str | None, has_reference_steps: bool) -> bool:
        d = self.default_for or {}
        if extractor and extractor in (d.get("extractors") or []):
            return True
        if any(task_name.startswith(p) for p in d.get("task_prefixes") or []):
            return True
        if d.get("reference_steps") and has_reference_steps:
            return True
        return False

    # -- rendering -----------------------------------------------------------------------

    def render(self, ctx: dict[str, Any]) -> list[dict[str, str]]:
        """The chat messages for one item (system + user)."""
        from jinja2 import TemplateError, UndefinedError

        ctx = {"prior": None, **ctx, "scale": {"min": self.scale[0], "max": self.scale[1]} if self.scale else None,
               "rubric": {"name": self.name, "version": self.version}}
        msgs: list[dict[str, str]] = []
        for role, tmpl in (("system", self._system_t), ("user", self._user_t)):
            if tmpl is None:
                continue
            try:
                text = tmpl.render(**ctx)
            except UndefinedError as exc:
                raise ConfigError(f"rubric {self.name!r} ({self.source}), {role} template: {exc.message}",
                                  hint="templates may use: " + ", ".join(sorted(TEMPLATE_VARIABLES))) from None
            except TemplateError as exc:
                raise ConfigError(f"rubric {self.name!r} ({self.source}), {role} template: {exc}") from None
            msgs.append({"role": role, "content": text if self.verbatim else text.strip()})
        return msgs

    def compile(self) -> Rubric:
        env = _jinja_env(self.folder)
        from jinja2 import TemplateSyntaxError

        def comp(text: str | None, role: str) -> Any:
            if text is None:
                return None
            try:
                return env.from_string(text)
            except TemplateSyntaxError as exc:
                raise ConfigError(f"rubric {self.name!r} ({self.source}), {role} template line {exc.lineno}: "
                                  f"{exc.message}") from None

        self._system_t = comp(self.system, "system")
        self._user_t = comp(self.user, "user")
        return self


def _jinja_env(folder: Path | None) -> Any:
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False,
                                trim_blocks=True, lstrip_blocks=True,
                                loader=FileSystemLoader(str(folder)) if folder else None)


# ----------------------------------------------------------------------------- loading


def rubric_dirs(extra: list[str | os.PathLike] | None = None) -> list[Path]:
    """Built-in ``judges/`` first, then third-party ``mosseval.rubrics`` folders, then ``$MOSSEVAL_JUDGES_DIR`` (os.pathsep-separated), then
    ``extra`` (``--rubrics-dir``); a later folder overrides an earlier one's rubric of the same name."""
    from mosseval.paths import resource_dir

    dirs: list[Path] = []
    try:
        dirs.append(resource_dir("judges"))
    except FileNotFoundError:
        pass
    dirs += plugin_rubric_dirs()
    env = os.environ.get(JUDGES_ENV)
    if env:
        dirs += [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    for p in extra or []:
        dirs.append(Path(p).expanduser())
    return dirs


def _read_text(folder: Path, value: Any, where: str, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where}: key `templates.{key}` must be a file name or template text")
    if "\n" not in value and value.strip().endswith((".j2", ".jinja", ".jinja2", ".txt", ".md")):
        path = (folder / value.strip()).resolve()
        try:
            path.relative_to(folder.resolve())
        except ValueError:
            raise ConfigError(f"{where}: key `templates.{key}`: {value!r} points outside the rubric folder") from None
        if not path.is_file():
            raise ConfigError(f"{where}: key `templates.{key}`: template file {value!r} not found next to the YAML",
                              hint=f"create {path.name} in {folder}, or put the template text inline")
        return path.read_text(encoding="utf-8")
    return value


def parse_rubric(data: Any, path: Path) -> Rubric:
    where = str(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a rubric file must be a YAML mapping")
    unknown = set(data) - _KNOWN_KEYS
    if unknown:
        bad = sorted(unknown)[0]
        hint = did_you_mean(bad, sorted(_KNOWN_KEYS))
        raise ConfigError(f"{where}: unknown key `{bad}`" + (f" ({hint})" if hint else ""),
                          hint="keys: " + ", ".join(sorted(_KNOWN_KEYS)))
    for key in ("name", "version", "kind", "templates", "schema"):
        if key not in data:
            raise ConfigError(f"{where}: missing key `{key}`")
    name = str(data["name"])
    if not NAME_RE.match(name):
        raise ConfigError(f"{where}: key `name`: {name!r} must match {NAME_RE.pattern}")
    kind = data["kind"]
    if kind not in ("correctness", "score"):
        raise ConfigError(f"{where}: key `kind`: {kind!r} must be `correctness` or `score`")
    templates = data["templates"]
    if not isinstance(templates, dict) or "user" not in templates:
        raise ConfigError(f"{where}: key `templates` must be a mapping with at least `user` (and optionally `system`)")
    extra_t = set(templates) - {"system", "user"}
    if extra_t:
        raise ConfigError(f"{where}: key `templates`: unknown entry {sorted(extra_t)[0]!r} (use system / user)")
    structured = data.get("structured", True)
    if not isinstance(structured, bool):
        raise ConfigError(f"{where}: key `structured` must be true or false")
    schema = data["schema"]
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise ConfigError(f"{where}: key `schema` must be a JSON schema of type object")
    props = schema.get("properties") or {}
    defaults = {"correct": "correct", "extracted_answer": "extracted_answer"} if kind == "correctness" \
        else {"score": "score", "rationale": "justification"}
    fields = {**defaults, **{str(k): str(v) for k, v in (data.get("fields") or {}).items()}}
    bad_f = set(fields) - {"correct", "extracted_answer", "score", "rationale"}
    if bad_f:
        raise ConfigError(f"{where}: key `fields`: unknown entry {sorted(bad_f)[0]!r} "
                          "(correct, extracted_answer, score, rationale)")
    needed = "correct" if kind == "correctness" else "score"
    if structured and fields[needed] not in props:
        raise ConfigError(f"{where}: key `schema`: property {fields[needed]!r} (fields.{needed}) is not in "
                          f"schema.properties {sorted(props)}")
    scale = None
    if kind == "score":
        sc = data.get("scale") or {}
        try:
            scale = (float(sc.get("min", 1)), float(sc.get("max", 10)))
        except (TypeError, ValueError, AttributeError):
            raise ConfigError(f"{where}: key `scale` must be {{min: N, max: M}}") from None
        scale = tuple(int(v) if float(v).is_integer() else v for v in scale)  # type: ignore[assignment]
        if scale[0] >= scale[1]:
            raise ConfigError(f"{where}: key `scale`: min must be below max")
    gen = data.get("generation") or {}
    if not isinstance(gen, dict) or set(gen) - {"max_tokens", "temperature"}:
        raise ConfigError(f"{where}: key `generation` accepts max_tokens and temperature")
    requires = [str(r) for r in data.get("requires") or []]
    bad_r = set(requires) - set(REQUIREMENTS)
    if bad_r:
        raise ConfigError(f"{where}: key `requires`: unknown requirement {sorted(bad_r)[0]!r} "
                          f"({', '.join(REQUIREMENTS)})")
    from mosseval.judge.extensions import aggregators, parsers

    parser, aggregator = str(data.get("parser") or "default"), str(data.get("aggregator") or "default")
    for key, ext, known in (("parser", parser, parsers), ("aggregator", aggregator, aggregators)):
        if ext not in known:
            hint = did_you_mean(ext, sorted(known))
            raise ConfigError(f"{where}: key `{key}`: unknown {key} {ext!r}" + (f" ({hint})" if hint else ""),
                              hint=f"known {key}s: " + ", ".join(sorted(known)))
    judge_errors = str(data.get("judge_errors") or "exclude")
    if judge_errors not in ("exclude", "wrong"):
        raise ConfigError(f"{where}: key `judge_errors`: {judge_errors!r} must be `exclude` or `wrong`")
    if judge_errors == "wrong" and kind != "correctness":
        raise ConfigError(f"{where}: key `judge_errors: wrong` applies to correctness rubrics only")
    after = data.get("after")
    if after is not None and (not isinstance(after, str) or not NAME_RE.match(after) or after == name):
        raise ConfigError(f"{where}: key `after` must name another rubric")
    folder = path.parent
    rubric = Rubric(
        name=name,
        version=str(data["version"]),
        kind=kind,
        description=" ".join(str(data.get("description") or "").split()),
        system=_read_text(folder, templates.get("system"), where, "system"),
        user=_read_text(folder, templates.get("user"), where, "user") or "",
        schema=schema,
        fields=fields,
        generation=dict(gen),
        official=bool(data.get("official", False)),
        official_judge=data.get("official_judge"),
        requires=requires,
        default_for=dict(data.get("default_for") or {}),
        scale=scale,
        expected_completion_tokens=int(data.get("expected_completion_tokens") or 50),
        parser=parser,
        aggregator=aggregator,
        structured=structured,
        schema_name=str(data["schema_name"]) if data.get("schema_name") else None,
        verbatim=bool(data.get("verbatim", False)),
        judge_errors=judge_errors,
        after=after,
        source=where,
        folder=folder,
    )
    return rubric.compile()


def load_rubrics(extra_dirs: list[str | os.PathLike] | None = None) -> dict[str, Rubric]:
    import yaml

    from mosseval.fileio import load_yaml

    out: dict[str, Rubric] = {}
    for folder in rubric_dirs(extra_dirs):
        if not folder.is_dir():
            raise UsageError(f"rubrics folder {folder} does not exist",
                             hint=f"check --rubrics-dir / ${JUDGES_ENV}")
        for path in sorted(folder.glob("*.y*ml")):
            if path.suffix not in (".yaml", ".yml"):
                continue
            try:
                data = load_yaml(path.read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                line = f" line {mark.line + 1}" if mark is not None else ""
                raise ConfigError(f"{path}{line}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
            rubric = parse_rubric(data, path)
            out[rubric.name] = rubric
    for r in out.values():  # `after` must name a loaded rubric, without cycles
        seen = [r.name]
        dep = r.after
        while dep is not None:
            if dep not in out:
                raise ConfigError(f"{r.source}: key `after`: unknown rubric {dep!r}",
                                  hint="available: " + ", ".join(sorted(out)))
            if dep in seen:
                raise ConfigError(f"{r.source}: key `after`: the rubrics {seen} depend on each other in a cycle")
            seen.append(dep)
            dep = out[dep].after
    return out


def get_rubric(name: str, rubrics: dict[str, Rubric]) -> Rubric:
    if name not in rubrics:
        hint = did_you_mean(name, sorted(rubrics))
        raise UsageError(f"unknown judge rubric {name!r}" + (f"; {hint}" if hint else ""),
                         hint="available: " + ", ".join(sorted(rubrics)) +
                         f" (add your own with --rubrics-dir DIR or ${JUDGES_ENV})")
    return rubrics[name]


__all__ = ["Rubric", "load_rubrics", "get_rubric", "rubric_dirs", "parse_rubric", "TEMPLATE_VARIABLES",
           "JUDGES_ENV"]
