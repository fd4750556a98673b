"""The leaderboard's typed records: ``leaderboard.json`` is a :class:`Board`, and the page's script reads
nothing that is not declared here (its JSON Schema is exported by ``python -m mosseval.schemas``).

Units: every rate (accuracy, PRR, format / parse-failure / error rates, agreement) is a fraction in [0, 1];
the page shows percentages with one decimal. Judge scores are on their rubric's scale. Step distances of
the DTW alignment are in [0, 1] (0 = identical steps).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Generic, Literal, TypeVar

import orjson
from pydantic import BaseModel, Field, GetCoreSchemaHandler
from pydantic_core import core_schema

from mosseval.judge.records import JudgeSummary
from mosseval.records import (
    SCHEMA_VERSION,
    ErrorInfo,
    Estimate,
    FrameSpec,
    ModelIdentity,
    PublishedVerdict,
    Record,
    VideoRef,
)

LEADERBOARD_SCHEMA_VERSION = 2
"""Version of ``leaderboard.json`` (2: typed records, judge summaries from the judge's files)."""


class TieTest(Record):
    """Is this run's value statistically indistinguishable from the column leader's?"""

    leader: bool = False
    tied: bool | None = None
    """None when no test was possible (no interval, no pairs)."""
    test: str | None = None
    """mcnemar-exact | paired-z | unpaired-z | paired-z (macro-mean)."""
    p_value: float | None = None
    n_paired: int | None = None
    discordant: tuple[int, int] | None = None
    """(leader right and this run wrong, this run right and the leader wrong)."""
    diff: float | None = None
    """This run minus the leader (a fraction)."""


class JudgeHeadline(Record):
    """The judge number a cell shows: the first rubric with a value (judged accuracy or mean score)."""

    rubric: str
    kind: Literal["correctness", "score"]
    value: Estimate
    scale: tuple[float, float] | None = None
    n_errors: int = 0
    n_pending: int = 0
    agreement: float | None = None
    """Share of items where a correctness judge agrees with the rule-based score."""
    kappa: float | None = None


class Cell(Record):
    """One run's results in one column (or overall)."""

    n: int = 0
    n_errors: int = 0
    accuracy: Estimate | None = None
    prr: Estimate | None = None
    prr_correct: Estimate | None = None
    prr_incorrect: Estimate | None = None
    prr_not_applicable: int = 0
    format_rate: float | None = None
    parse_failure_rate: float | None = None
    error_rate: float | None = None
    approximate: bool = False
    judge: dict[str, JudgeSummary] = Field(default_factory=dict)
    judge_primary: JudgeHeadline | None = None
    breakdowns: dict[str, dict[str, Estimate]] = Field(default_factory=dict)
    metric: str | None = None
    """The metric behind ``accuracy`` for imported results (e.g. lmms-eval's ``mvbench_accuracy``)."""
    reported_accuracy: float | None = None
    """What the producing harness reported when the accuracy was recomputed from its samples."""
    notes: list[str] = Field(default_factory=list)
    tie: dict[str, TieTest] = Field(default_factory=dict)
    """metric (accuracy, prr) -> tie test against the column leader."""


class TaskInfo(Record):
    """What a task (or group) result says about its setting; shared by a run's entry and its column."""

    version: str | None = None
    protocol: str | None = None
    frames: FrameSpec | None = None
    frames_label: str | None = None
    approximate: bool = False
    has_prr: bool = False
    has_format: bool = False
    chance: float | None = None
    """Expected accuracy of uniform guessing over the options (None when the items are open-ended)."""
    origin: Literal["mosseval", "lmms-eval"] = "mosseval"


class Column(TaskInfo):
    """One task (or group) under one comparability key; incompatible settings get separate columns."""

    id: str
    task: str
    label: str
    kind: Literal["task", "group"]
    top_level: bool
    group: str | None = None
    group_column: str | None = None
    members: list[str] = Field(default_factory=list)
    """Column ids of a group column's subtasks."""
    external: bool = False
    split: bool = False
    """The task also appears under other, incompatible settings (separate columns)."""
    split_differs: list[str] = Field(default_factory=list)
    comparability_key: dict[str, Any] = Field(default_factory=dict)
    """``mosseval.comparability.task_key`` (or ``group_key``) of the column."""
    n_runs: int = 0
    notes: list[str] = Field(default_factory=list)
    leader: dict[str, str] = Field(default_factory=dict)
    """metric -> run id of the leader."""


class StaleNotice(Record):
    """``run.json`` disagreed with ``samples.jsonl`` (e.g. a run killed before its final write)."""

    reason: str
    recomputed: bool
    """True: the numbers were recomputed from samples.jsonl; False: they are run.json's, possibly stale."""


class RunEntry(Record):
    run_id: str
    display_name: str
    name: str
    backend: str
    model: ModelIdentity
    checkpoint: str | None = None
    revision: str | None = None
    params: int | None = None
    date: str | None = None
    updated_at: str | None = None
    git_revision: str | None = None
    mosseval_version: str | None = None
    origin: Literal["mosseval", "lmms-eval"] = "mosseval"
    status: str
    limit: int | None = None
    seed: int | None = None
    model_args: dict[str, Any] = Field(default_factory=dict)
    identity_hash: str
    """The run's identity hash (its run id before de-duplication on the board)."""
    model_hash: str | None = None
    eval_hash: str | None = None
    run_dir: str
    n_samples: int = 0
    n_expected: int = 0
    n_errors: int = 0
    packages: dict[str, str] = Field(default_factory=dict)
    order: int = 0
    judged: bool = False
    """The run has judge verdicts (``mosseval judge`` ran on it)."""
    stale: StaleNotice | None = None
    published: list[PublishedVerdict] = Field(default_factory=list)
    """Checks against the numbers the model's authors published (``mosseval reproduce``), judged metrics
    included when the run was judged."""
    notes: list[str] = Field(default_factory=list)
    cells: dict[str, Cell] = Field(default_factory=dict)
    overall: Cell | None = None


class ItemView(Record):
    """One benchmark item as the sample browser shows it (shared by every run that has it)."""

    task: str
    id: str
    question: str
    options: dict[str, str] = Field(default_factory=dict)
    answer: str
    question_type: str | None = None
    category: str | None = None
    level: str | None = None
    video: VideoRef | None = None
    reference_steps: list[tuple[float | None, str]] = Field(default_factory=list)
    """(time in seconds or None, text)."""


class Thumbnail(Record):
    src: str
    """``data:image/jpeg;base64,...``"""
    index: int
    t: float | None = None


class FramesView(Record):
    """The frames the model saw."""

    indices: list[int]
    timestamps: list[float] = Field(default_factory=list)
    decoder: str | None = None
    sampled_fps: float | None = None
    thumbnails: str | None = None
    """Key of this sample's thumbnails in ``SampleSet.thumbnails`` (None: not embedded)."""


class AlignmentView(Record):
    cost: float
    normalized_cost: float
    path: list[tuple[int, int]]
    """(reference step, model step) pairs along the DTW path."""
    distances: list[float]
    """Step distance of each path cell (0 = identical, 1 = nothing in common)."""


class VerdictView(Record):
    score: float | None = None
    correct: bool | None = None
    error: str | None = None
    extracted_answer: str | None = None
    rationale: str | None = None


class SampleView(Record):
    """One run's answer to one item."""

    key: str
    item: str
    """Key into ``SampleSet.items``."""
    task: str
    index: int | None = None
    why: Literal["wrong", "low-prr", "random", "all"]
    """Why it was embedded: a wrong answer, among the lowest PRR (below 1), a hash-ranked draw shared
    by all runs, or every sample of a small run."""
    text: str | None = None
    text_truncated: bool = False
    error: ErrorInfo | None = None
    latency_s: float | None = None
    tokens: int | None = None
    frames: FramesView | None = None
    extracted: str | None = None
    correct: bool | None = None
    parse_failed: bool | None = None
    format_ok: bool | None = None
    prr: float | None = None
    prr_status: str = "disabled"
    approximate: bool = False
    steps: list[str] = Field(default_factory=list)
    steps_truncated: bool = False
    alignment: AlignmentView | None = None
    judge: dict[str, VerdictView] = Field(default_factory=dict)


M = TypeVar("M", bound=BaseModel)


class PackedRecord(Generic[M]):
    """A validated record held as its JSON bytes: about a fifth of the memory of the model instance
    (a board embeds thousands of samples; pydantic keeps a dict and a set of field names per instance).
    ``view()`` materialises the typed record again; ``data()`` is what ``model_dump(mode="json")`` of it
    gives. It serializes exactly as the record it holds."""

    __slots__ = ("model", "json")

    def __init__(self, model: type[M], json: bytes):
        self.model = model
        self.json = json

    @classmethod
    def of(cls, record: M) -> PackedRecord[M]:
        return cls(type(record), record.__pydantic_serializer__.to_json(record))

    def view(self) -> M:
        return self.model.model_validate_json(self.json)

    def data(self) -> Any:
        try:
            return orjson.loads(self.json)
        except orjson.JSONDecodeError:  # an integer beyond 64 bits, which orjson does not parse
            return json.loads(self.json)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PackedRecord) and (self.model, self.json) == (other.model, other.json)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PackedRecord[{self.model.__name__}]({self.json[:60]!r}...)"


class _Packed:
    """``Annotated[Model, _Packed()]``: validated as ``Model``, then held as a :class:`PackedRecord`;
    serialized (and described in the JSON Schema) as ``Model``."""

    def __get_pydantic_core_schema__(self, source: type[BaseModel], handler: GetCoreSchemaHandler) -> Any:
        def pack(value: Any, validate: Any) -> PackedRecord[Any]:
            if isinstance(value, PackedRecord) and value.model is source:
                return value
            return PackedRecord.of(validate(value))

        return core_schema.no_info_wrap_validator_function(
            pack, handler(source),
            serialization=core_schema.plain_serializer_function_ser_schema(PackedRecord.data, when_used="always"))


PackedSampleView = Annotated[SampleView, _Packed()]
PackedItemView = Annotated[ItemView, _Packed()]


class SampleSet(Record):
    # Items and embedded samples are held packed (PackedRecord: ``.view()`` is the typed record): a
    # 50-run board embeds 5,000 samples. They validate, serialize and are described as ItemView / SampleView.
    items: dict[str, PackedItemView] = Field(default_factory=dict)
    runs: dict[str, list[PackedSampleView]] = Field(default_factory=dict)
    """run id -> embedded samples."""
    thumbnails: dict[str, list[Thumbnail]] = Field(default_factory=dict)
    """Thumbnails of the frames models saw, keyed by (video, indices) so runs that saw the same frames
    share them."""


class BoardSettings(Record):
    alpha: float
    paired_min_overlap: float
    overall: str
    tie_test: dict[str, str]
    samples_per_run: int
    units: str = ("rates (accuracy, PRR, format, parse failures, errors, agreement) are fractions in [0, 1], "
                  "shown as percentages; judge scores are on their rubric's scale")


class OverallInfo(Record):
    columns: list[str] = Field(default_factory=list)
    leader: dict[str, str] = Field(default_factory=dict)
    definition: str = "unweighted mean over the listed columns (shared by every mosseval run)"


class Board(Record):
    """``leaderboard.json``."""

    schema_version: int = LEADERBOARD_SCHEMA_VERSION
    kind: Literal["mosseval-leaderboard"] = "mosseval-leaderboard"
    title: str
    generated_at: str
    mosseval_version: str
    settings: BoardSettings
    columns: list[Column] = Field(default_factory=list)
    overall: OverallInfo = Field(default_factory=OverallInfo)
    runs: list[RunEntry] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    samples: SampleSet = Field(default_factory=SampleSet)

    def column(self, column_id: str) -> Column | None:
        return next((c for c in self.columns if c.id == column_id), None)


__all__ = ["LEADERBOARD_SCHEMA_VERSION", "TaskInfo", "TieTest", "JudgeHeadline", "Cell", "Column", "StaleNotice", "RunEntry",
           "ItemView", "Thumbnail", "FramesView", "AlignmentView", "VerdictView", "SampleView", "PackedRecord", "SampleSet",
           "BoardSettings", "OverallInfo", "Board", "SCHEMA_VERSION"]
