"""Typed records: the few nouns mosseval reads and writes.

Specs (what to do) are ``TaskSpec`` and its parts; states (what happened) are ``Sample``,
``Generation``, ``SampleScore``, ``SampleRecord`` and ``RunLog``. Everything written to disk
carries ``schema_version``. Controllers (loaders, sampler, adapters, scorers, runner) live in
their own modules and are never serialized.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator

from mosseval.fileio import canonical_json

SCHEMA_VERSION = 1

MAX_PIXELS_LIMIT = 8192 * 8192
"""The largest per-frame pixel budget a task or ``--max-pixels`` may ask for."""


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


def digest(data: Any, length: int = 64) -> str:
    """SHA-256 of the canonical JSON of ``data`` (hex, cut to ``length``): every identity hash."""
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()[:length]


def _drop_legacy_judge(data: Any) -> Any:
    """Judge verdicts and summaries written into samples.jsonl / run.json by mosseval before the
    judge kept its own files are ignored on read: they live on in the run's ``judge_cache.jsonl``,
    so ``mosseval judge`` restores them without a single request."""
    if isinstance(data, dict) and "judge" in data:
        data = {k: v for k, v in data.items() if k != "judge"}
    return data


# --------------------------------------------------------------------------- specs


class FrameSpec(Record):
    """How frames are picked from a video; part of the run identity."""

    strategy: Literal["uniform", "segment", "fps", "linspace", "linspace_fps", "bin_start"] = "uniform"
    """uniform: centres of N equal bins; segment: MVBench/VideoChat2 segment midpoints;
    fps: one frame per 1/fps seconds capped at ``max_frames``; linspace: MMVU's
    ``linspace(0, n-1, N)`` truncated to int; linspace_fps: MMVU's video-model sampling,
    ``min(fps * int(duration), max_frames)`` frames spread with ``linspace`` from the first to the
    last frame; bin_start: VCR-Bench's ``floor(i * n / N)`` (the start of each of N bins)."""
    num_frames: int = Field(8, ge=1, le=1024)
    fps: float | None = Field(None, gt=0)
    max_frames: int = Field(64, ge=1, le=4096)
    max_pixels: int | None = Field(None, ge=64, le=MAX_PIXELS_LIMIT)
    """Pixel budget per frame (H*W); frames larger than this are resized keeping aspect. Unset:
    frames keep their size up to a default cap of 3840x2160 pixels (``video.DEFAULT_MAX_PIXELS``)."""
    size_multiple: int = Field(1, ge=1)
    """Resized sides are rounded to a multiple of this (e.g. 28 for Qwen2.5-VL)."""
    use_bounds: bool = True
    decoder: Literal["pyav", "decord"] = "pyav"
    allow_images: bool = False
    """Accept a still image (PNG, JPEG, ...) where a video is expected, as a 1-frame video.
    Off: such a file (e.g. a PNG renamed ``.mp4``) is a per-sample media error."""
    recipe: str | None = None
    """A model family's own recipe (``mosseval.recipes``, e.g. ``qwen2.5-vl``) instead of ``strategy``:
    it picks the indices and the frame size; set by ``mosseval run --frames-from model``."""
    control: Literal["none", "blank", "shuffle"] = "none"
    """Ablation control applied to the decoded frames: ``blank`` replaces every frame with mid-grey
    (the model sees no video), ``shuffle`` permutes the frames in time (seeded by the video path).
    A model that scores as well with either has learned the question text, not the video. Not
    written when ``none``, so the identity (and comparability key) of every ordinary run is what it
    was before controls existed."""

    @model_serializer(mode="wrap")
    def _omit_no_control(self, handler: Any) -> Any:
        data = handler(self)
        if self.control == "none" and isinstance(data, dict):
            data.pop("control", None)
        return data

    def describe(self) -> str:
        """Short human form for tables: ``uniform 8``, ``1 fps ≤64``, ``linspace_fps 1 fps ≤64``."""
        if self.recipe:
            return f"recipe {self.recipe}"
        if self.strategy in ("fps", "linspace_fps") and self.fps is not None:
            rate = f"{self.fps:g} fps ≤{self.max_frames}"
            return rate if self.strategy == "fps" else f"{self.strategy} {rate}"
        return f"{self.strategy} {self.num_frames}"


class PromptSpec(Record):
    system: str | None = None
    template: str
    """Jinja2 template for the user text; sees ``question``, ``options`` (letter -> text),
    ``options_block``, ``sample`` and ``metadata``."""
    option_format: str = "({letter}) {text}"
    prefill: str | None = None
    """Text the assistant turn starts with (e.g. MVBench's ``Best option:(``)."""
    video_position: Literal["before", "after"] = "before"


class GenerationSpec(Record):
    max_new_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)


class PRRConfig(Record):
    """Process Reasoning Reward parameters (SPEC §3). All of them enter the run identity."""

    distance: Literal["rouge", "semantic"] = "rouge"
    alignment: Literal["sdtw", "dtw"] = "sdtw"
    jump: int = Field(2, ge=1, le=64)
    alpha: float = Field(2.0, ge=0.0)
    max_steps: int = Field(64, ge=1)
    min_tokens: int = Field(3, ge=0)
    reference: Literal["steps", "paragraph"] = "steps"
    """What the reference is: an annotated step-by-step trace (``steps``), or a prose paragraph split
    into sentences (``paragraph``, e.g. MMVU's rationales: a coarse reference, labelled as such)."""


class ScoringSpec(Record):
    extractor: str = "mc_strict"
    """Answer check by registry name (``mosseval plugins``): mc_strict, mvbench_official, mmvu_rules,
    or one a third-party package adds through the ``mosseval.extractors`` entry-point group."""
    require_format: bool = False
    """When true the task expects ``<think>…</think><answer>…</answer>``; format rate is reported."""
    prr: PRRConfig | None = None
    approximate: bool = False
    """Scores are an offline approximation of the official protocol (labelled as such)."""

    @field_validator("extractor")
    @classmethod
    def _known_extractor(cls, value: str) -> str:
        from mosseval.scoring import extractors

        if value not in extractors:
            known = ", ".join(extractors.names())
            raise ValueError(f"unknown extractor {value!r} (known: {known})")
        return value


class DataSpec(Record):
    """Where a task's data lives. Nothing is ever downloaded at run time."""

    path: str | None = None
    """Location relative to the data root (``--data-dir`` / ``$MOSSEVAL_DATA_DIR``)."""
    env: str | None = None
    """Environment variable that overrides the data root for this task."""
    hf_repo: str | None = None
    """Hugging Face dataset id whose local cache snapshot may hold the data."""
    obtain: str | None = None
    """Human instructions printed when the data is missing."""
    synthetic: bool = False


class TaskSpec(Record):
    schema_version: int = SCHEMA_VERSION
    name: str
    version: str
    description: str = ""
    subtasks: list[str] = Field(default_factory=list)
    """Non-empty for a group task: running it runs each subtask."""
    loader: str | None = None
    loader_args: dict[str, Any] = Field(default_factory=dict)
    data: DataSpec = Field(default_factory=DataSpec)
    prompt: PromptSpec | None = None
    frames: FrameSpec = Field(default_factory=FrameSpec)
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    scoring: ScoringSpec = Field(default_factory=ScoringSpec)
    protocol: str = "reasoning"
    breakdowns: list[str] = Field(default_factory=lambda: ["category", "level"])
    """Sample fields (or ``metadata.<key>``) that get per-value accuracy in the results."""
    source_file: str | None = Field(None, exclude=True)

    @property
    def is_group(self) -> bool:
        return bool(self.subtasks)

    def comparability_key(self) -> dict[str, Any]:
        """What must be equal for two results on this task to be compared: THE definition used by
        the runner's identity, ``mosseval compare`` and the leaderboard's columns.

        Everything that changes what the model sees, how it decodes or how it is scored: name,
        version, loader and its arguments, prompt, frame sampling, generation settings, scoring
        (extractor, format rule, PRR configuration, approximate flag) and protocol. Not part of it:
        the description, where the data lives and the help text on obtaining it (``data.path``,
        ``env``, ``hf_repo``, ``obtain``), the breakdowns reported, the source file and the schema
        version of the file.
        """
        key = self.model_dump(mode="json", exclude={"schema_version", "description", "source_file",
                                                    "breakdowns", "data"})
        key["data"] = {"synthetic": self.data.synthetic}
        return key

    def comparability_hash(self) -> str:
        """Fingerprint of :meth:`comparability_key` (the task fingerprint in a run identity)."""
        return digest(self.comparability_key())


# --------------------------------------------------------------------------- states


class VideoRef(Record):
    path: str
    """Relative to the task's data root (absolute or escaping paths are refused)."""
    kind: Literal["file", "frames"] = "file"
    """file: a container (mp4/webm/avi/mkv…); frames: a folder of numbered JPEG/PNG frames."""
    start: float | None = None
    end: float | None = None
    fps: float | None = None
    """Frame rate of a frame folder (MVBench TVQA: 3)."""
    first_index: int = 1
    """Index of the first frame of a frame folder (MVBench: 1)."""


class ReferenceStep(Record):
    """One step of a reference reasoning trace, with the video time it refers to when known."""

    text: str
    start: float | None = None
    """Seconds into the video where the step's evidence starts (the time of a point-in-time step)."""
    end: float | None = None
    """Seconds where it ends (None for a point in time)."""

    @model_validator(mode="before")
    @classmethod
    def _legacy_t(cls, data: Any) -> Any:
        """Run files written before ``start``/``end`` carry one time ``t``: read it as ``start``."""
        if isinstance(data, dict) and "t" in data:
            data = dict(data)
            t = data.pop("t")
            if data.get("start") is None:
                data["start"] = t
        return data

    @property
    def t(self) -> float | None:
        """The step's time: its start (kept for readers of the single-time schema)."""
        return self.start


class Sample(Record):
    schema_version: int = SCHEMA_VERSION
    id: str
    task: str
    video: VideoRef | None = None
    question: str
    options: dict[str, str] = Field(default_factory=dict)
    answer: str
    """Letter for multiple choice, free text for open-ended."""
    question_type: Literal["multiple-choice", "open-ended"] = "multiple-choice"
    reference_steps: list[ReferenceStep] = Field(default_factory=list)
    category: str | None = None
    level: str | None = None
    split: str | None = None
    cluster: str | None = None
    """Items sharing a cluster (by default the video) are not independent for CIs."""
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def cluster_key(self) -> str:
        return self.cluster_key_of(self.cluster, None if self.video is None else self.video.path, self.id)

    @staticmethod
    def cluster_key_of(cluster: str | None, video_path: str | None, sample_id: str) -> str:
        """The cluster of a sample from its fields: its ``cluster``, else its video's path, else its id."""
        if cluster:
            return cluster
        if video_path is not None:
            return video_path
        return sample_id


class FrameInfo(Record):
    indices: list[int]
    timestamps: list[float] = Field(default_factory=list)
    decoder: str
    source_fps: float | None = None
    sampled_fps: float | None = None
    """Frames per second of the *sampled* sequence (what video processors need)."""
    num_source_frames: int | None = None
    width: int | None = None
    height: int | None = None
    recipe: str | None = None
    """The model family's recipe that chose these frames (None: the task's own frame settings)."""
    model_input: Literal["video", "images"] | None = None
    """How the frames reached the model: as a video, or as a sequence of images (families without a
    video processor, e.g. Gemma 3). None: the backend does not say."""


class ErrorInfo(Record):
    kind: Literal["media", "model", "api", "timeout", "data", "judge"]
    message: str


class Usage(Record):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


class Generation(Record):
    """What a model returned for one sample (never re-computed by scoring)."""

    schema_version: int = SCHEMA_VERSION
    text: str | None = None
    frames: FrameInfo | None = None
    error: ErrorInfo | None = None
    usage: Usage | None = None
    latency_s: float | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class PRRDetail(Record):
    cost: float
    normalized_cost: float
    path: list[tuple[int, int]]
    """(reference step index, generated step index) pairs along the optimal alignment."""
    step_distances: list[float]
    """Distance of each cell on the path, in path order."""


class JudgeVerdict(Record):
    judge: str
    rubric: str
    rubric_version: str
    fingerprint: str
    score: float | None = None
    correct: bool | None = None
    extracted_answer: str | None = None
    rationale: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    """Rubric-specific numbers read from the reply by the rubric's parser (e.g. step precision)."""
    error: str | None = None
    usage: Usage | None = None


class SampleScore(Record):
    """Rule-based scores of one sample. Judge verdicts are not here: the judge keeps them in its own
    files in the run directory (``mosseval.judge.store``)."""

    schema_version: int = SCHEMA_VERSION
    extracted: str | None = None
    correct: bool = False
    parse_failed: bool = False
    format_ok: bool | None = None
    steps: list[str] = Field(default_factory=list)
    steps_truncated: bool = False
    prr: float | None = None
    prr_status: Literal["scored", "not_applicable", "no_steps", "format_broken", "disabled"] = "disabled"
    prr_detail: PRRDetail | None = None
    approximate: bool = False

    @model_validator(mode="before")
    @classmethod
    def drop_legacy_judge(cls, data: Any) -> Any:
        return _drop_legacy_judge(data)


class SampleRecord(Record):
    """One line of ``samples.jsonl``: everything needed to re-score or browse a sample."""

    schema_version: int = SCHEMA_VERSION
    key: str
    task: str
    index: int
    sample: Sample
    generation: Generation
    score: SampleScore | None = None


class Estimate(Record):
    """A mean with its confidence interval. Rates (accuracy, PRR, format rate, ...) are fractions in
    [0, 1]; people see them as percentages (``mosseval.units``)."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0
    n_clusters: int | None = None
    method: str | None = None


class TaskResult(Record):
    task: str
    version: str
    protocol: str
    n: int
    n_errors: int = 0
    accuracy: Estimate
    parse_failure_rate: float | None = None
    format_rate: float | None = None
    error_rate: float | None = None
    prr: Estimate | None = None
    prr_correct: Estimate | None = None
    prr_incorrect: Estimate | None = None
    prr_not_applicable: int = 0
    prr_reference: Literal["steps", "paragraph"] | None = None
    """The kind of reference the PRR was computed against (``paragraph``: a coarse "paragraph
    reference", shown labelled); None when the PRR is off."""
    approximate: bool = False
    breakdowns: dict[str, dict[str, Estimate]] = Field(default_factory=dict)
    metric: str | None = None
    """Name of the metric behind ``accuracy`` when it is not mosseval's own (imported results)."""
    reported_accuracy: float | None = None
    """The number the producing harness reported, when ``accuracy`` was recomputed from samples."""
    notes: list[str] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def drop_legacy_judge(cls, data: Any) -> Any:
        return _drop_legacy_judge(data)


class TaskRef(Record):
    name: str
    version: str
    fingerprint: str
    group: str | None = None


class RunSpec(Record):
    model: str
    backend: str
    model_args: dict[str, Any] = Field(default_factory=dict)
    """Secrets are never stored here (see ``mosseval.models.registry.redact``)."""
    model_identity: dict[str, Any] = Field(default_factory=dict)
    tasks: list[TaskRef]
    frames: dict[str, Any] = Field(default_factory=dict)
    """Command-line overrides of the tasks' frame settings."""
    prr: dict[str, Any] = Field(default_factory=dict)
    """Command-line overrides of the tasks' PRR settings."""
    seed: int = 0
    limit: int | None = None
    mosseval_version: str
    git_revision: str | None = None
    packages: dict[str, str] = Field(default_factory=dict)
    command: list[str] = Field(default_factory=list)
    frame_cache: bool | None = None
    """Whether frames went through the shared frame cache (``mosseval.frame_cache``; the pixels are
    identical either way, so it is not part of the identity); None for runs made before it existed,
    and then not written, so re-scoring an old run leaves its run.json byte-identical."""

    @model_serializer(mode="wrap")
    def _omit_unknown_frame_cache(self, handler: Any) -> Any:
        data = handler(self)
        if self.frame_cache is None and isinstance(data, dict):
            data.pop("frame_cache", None)
        return data


class ModelIdentity(Record):
    """What was evaluated, for people: the checkpoint name, its revision and size. Written by the
    runner from the model adapter (``ModelAdapter.describe``); shown by the leaderboard and compare."""

    schema_version: int = SCHEMA_VERSION
    name: str
    """The model as given on the command line (preset, Hub id, path, ``openai:gpt-4o`` ...)."""
    backend: str
    checkpoint: str | None = None
    """What was loaded: a Hub repo id, a local path, a built-in model, an API model id."""
    revision: str | None = None
    """Hub commit, or a digest of the weights."""
    params: int | None = None
    """Number of parameters, when the backend can count them."""
    dtype: str | None = None
    host: str | None = None
    """API host (no credentials), for API backends."""
    hash: str | None = None
    """Fingerprint of the model part of the run identity (what the run id covers)."""

    @classmethod
    def from_identity(cls, identity: dict[str, Any], name: str, backend: str) -> ModelIdentity:
        """The description of a run written before runs recorded one: read from the adapter's
        identity dict in the shapes earlier versions wrote (the transformers backend's ``checkpoint``
        mapping, the API backend's ``model`` and ``host``, lmms-eval's ``model_args``)."""
        ckpt = identity.get("checkpoint")
        checkpoint = revision = None
        if isinstance(ckpt, dict):
            checkpoint = ckpt.get("repo_id") or ckpt.get("path") or ckpt.get("source")
            revision = ckpt.get("commit") or (str(ckpt["weights_sha256"])[:12] if ckpt.get("weights_sha256")
                                               else None)
        elif isinstance(ckpt, str):
            checkpoint = ckpt
        if checkpoint is None and isinstance(identity.get("model"), str):
            checkpoint = identity.get("model")  # API and vLLM backends: the served model id
        margs = identity.get("model_args")
        if checkpoint is None and isinstance(margs, dict):
            checkpoint = margs.get("pretrained") or margs.get("model")
        params = identity.get("params")
        return cls(name=name, backend=backend, checkpoint=None if checkpoint is None else str(checkpoint),
                   revision=None if revision is None else str(revision),
                   params=params if isinstance(params, int) and not isinstance(params, bool) else None,
                   dtype=identity.get("dtype") if isinstance(identity.get("dtype"), str) else None,
                   host=identity.get("host") if isinstance(identity.get("host"), str) else None,
                   hash=digest(identity, 16))


class TaskIdentity(Record):
    name: str
    version: str
    fingerprint: str
    """``TaskSpec.comparability_hash()`` of the effective task (for imported results: a hash of the
    producing harness's task configuration)."""


class EvalIdentity(Record):
    """The evaluation side of a run identity: two runs whose eval identities are equal differ only in
    the model."""

    tasks: list[TaskIdentity] = Field(default_factory=list)
    seed: int = 0
    metric_version: str = "1"
    frames_from: Literal["model"] | None = None
    """Set when frames follow each model family's published recipe (``--frames-from model``)."""
    recipes: dict[str, Any] | None = None
    """The full parameters of the frame recipes used, so a changed recipe is a new run."""

    def hash_input(self) -> dict[str, Any]:
        """What the run id covers (unset optional parts are absent, as in the identity dicts of older runs)."""
        return self.model_dump(mode="json", exclude_none=True)


class RunIdentity(Record):
    """Everything that changes a run's outputs; its hash is the run id (and names the run directory).

    ``model`` is the model adapter's own identity (backend-specific settings plus the model
    arguments); ``eval`` the task fingerprints, the seed and the metric version."""

    schema_version: int = SCHEMA_VERSION
    model: dict[str, Any] = Field(default_factory=dict)
    eval: EvalIdentity | None = None

    def hash(self) -> str:
        """The run id: a fingerprint of ``model`` and ``eval`` (the schema version is not part of it)."""
        data: dict[str, Any] = {"model": self.model}
        if self.eval is not None:
            data["eval"] = self.eval.hash_input()
        return digest(data)

    def model_hash(self) -> str:
        return digest(self.model, 16)

    def eval_hash(self) -> str | None:
        return digest(self.eval.hash_input(), 16) if self.eval is not None else None


class PublishedScore(Record):
    """One published number a run can be checked against (``manifests/published.yaml``)."""

    preset: str
    """A ``mosseval models`` preset; a run matches it by preset name or by the preset's checkpoint id."""
    task: str
    """A task or group name (``mosseval tasks``)."""
    metric: Literal["accuracy", "judged_accuracy", "official_style_accuracy"] = "accuracy"
    """accuracy: mosseval's score (unparsed = wrong); judged_accuracy: the official judge's accuracy
    (``mosseval judge``); official_style_accuracy: the benchmark's own denominator where its extractor
    reports one (Video-MME: answered items only), with mosseval's CI width around it."""
    recipe: str
    """The frame recipe the number was produced with (``mosseval.recipes``)."""
    published: float = Field(ge=0.0, le=1.0)
    """The published value, as a fraction in [0, 1]."""
    tolerance: float = Field(0.01, ge=0.0, le=1.0)
    """Extra slack around the run's CI, as a fraction (0.01 = 1 point)."""
    source: str
    setting: str = ""


class PublishedManifest(Record):
    schema_version: int = SCHEMA_VERSION
    version: str
    scores: list[PublishedScore]


class PublishedVerdict(Record):
    """Whether a run reproduces a published number: the published value lies in the run's 95 % CI
    widened by the tolerance."""

    score: PublishedScore
    status: Literal["reproduces", "does_not_reproduce", "not_comparable"]
    observed: Estimate | None = None
    reason: str | None = None
    """Why the run cannot be compared (wrong recipe, partial run, approximate metric, ...)."""
    line: str
    """The verdict as people read it, e.g. "reproduces 69.6: ours 68.9 [67.5, 70.3]"."""


class RunLog(Record):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    identity: RunIdentity = Field(default_factory=RunIdentity)
    model: ModelIdentity | None = None
    """The model, described for people (``None`` in runs written before it was recorded: use
    :meth:`model_identity`)."""
    origin: Literal["mosseval", "lmms-eval"] = "mosseval"
    """Which harness produced the results (imported runs are adapted to these records)."""
    spec: RunSpec
    status: Literal["running", "completed", "completed_with_errors", "interrupted", "failed"]
    created_at: str
    updated_at: str
    n_expected: int = 0
    n_done: int = 0
    n_errors: int = 0
    results: dict[str, TaskResult] = Field(default_factory=dict)
    groups: dict[str, TaskResult] = Field(default_factory=dict)
    samples_file: str = "samples.jsonl"
    task_specs: dict[str, TaskSpec] = Field(default_factory=dict)
    """The effective task specs (after command-line overrides), so a run re-scores on its own."""
    extra: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def drop_legacy_judge(cls, data: Any) -> Any:
        return _drop_legacy_judge(data)

    def model_identity(self) -> ModelIdentity:
        """The recorded model description, or one read from the identity of an older run."""
        if self.model is not None:
            return self.model
        return ModelIdentity.from_identity(self.identity.model, self.spec.model, self.spec.backend)

    published: list[PublishedVerdict] = Field(default_factory=list)
    """Checks against published numbers this run is comparable with (``mosseval reproduce``)."""
