"""The runner: TaskSpec → Samples → frames → ModelAdapter → Generations → scores → run directory.

- Every finished sample is appended to ``samples.jsonl`` and flushed immediately; re-running the
  same command skips finished samples (resume), so a killed run loses at most the batch in flight.
- The run directory name carries the identity hash: a run whose identity differs (task version,
  prompt, frames, decoder, model + args, metric parameters, seed) never lands in another's folder.
- Video decoding runs ahead of the model in a bounded pool of background threads (``workers`` /
  ``prefetch``), so the model does not wait for the decoder; results are written in sample order.
- Data parallel: under ``torchrun`` / ``accelerate launch`` (``RANK`` / ``WORLD_SIZE`` set) each
  process takes every WORLD_SIZE-th pending sample, writes ``shards/rank<r>.jsonl``, and rank 0
  merges the shards into the normal run directory.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from mosseval import __version__
from mosseval.clock import utc_now
from mosseval.data import get_loader
from mosseval.data.locate import resolve_data_root
from mosseval.errors import (
    ExitCode,
    InternalError,
    MediaError,
    MossevalError,
    NotComparableError,
    OutputError,
    SampleErrorsError,
    UsageError,
)
from mosseval.fileio import DirLock, os_reason
from mosseval.models.base import ModelAdapter, Request, Response
from mosseval.models.registry import ModelSpec, identity_args, load_backend, resolve
from mosseval.paths import CACHE_ENV, is_path_component, safe_join
from mosseval.progress import progress as make_progress
from mosseval.prompts import build_messages
from mosseval.records import (
    ErrorInfo,
    EvalIdentity,
    FrameSpec,
    Generation,
    PRRConfig,
    Record,
    RunIdentity,
    RunLog,
    RunSpec,
    Sample,
    SampleRecord,
    TaskIdentity,
    TaskRef,
    TaskSpec,
)
from mosseval.redact import redact_argv, redact_text, redact_value
from mosseval.redact import redact_mapping as redact
from mosseval.rescore import finalize_log, recompute_stale, rescore  # re-exported: the run's finalize uses the first
from mosseval.rundir import (
    SAMPLES_FILE,
    SampleWriter,
    count_lines,
    iter_records,
    read_records,
    read_run_log,
    rewrite_records,
    run_lock,
    write_run_log,
)
from mosseval.sampletable import read_table
from mosseval.scoring import (
    METRIC_VERSION,
    score_sample,
    score_samples,
)
from mosseval.tasks import load_registry, resolve_tasks
from mosseval.video import Frames


@dataclass
class RunOptions:
    model: str
    tasks: list[str]
    model_args: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None
    output_dir: Path = Path("runs")
    seed: int = 0
    frames: int | None = None
    max_pixels: int | None = None
    frames_from: str = "task"
    """task: the task's frame protocol (the same frames for every model); model: the model family's own
    published recipe (``mosseval.recipes``), to reproduce its reported numbers."""
    prr: dict[str, Any] = field(default_factory=dict)
    """Overrides of the tasks' PRR settings (distance, alignment, jump, alpha, max_steps, min_tokens)."""
    data_dir: Path | None = None
    cache_dir: Path | None = None
    tasks_dirs: list[Path] = field(default_factory=list)
    run_name: str | None = None
    preflight: bool = False
    workers: int = 2
    prefetch: int | None = None
    """Samples decoded ahead of the model (default: 2 x batch size, at least 2 x workers)."""
    batch_size: int | None = None
    progress: bool = True
    fsync: bool = True
    retry_errors: bool = False
    """On resume, run again the samples whose record holds an error (e.g. a transient API failure)."""
    frame_cache: bool = True
    """Read and fill the shared decoded-frame cache (``mosseval.frame_cache``); frames are identical."""
    command: list[str] = field(default_factory=list)
    wait: bool = False
    """When another process is writing the same run directory: wait for it (else exit 2)."""


class ExecLimits(Record):
    """Limits of the execution options (``--limit``, ``--workers``, ``--batch-size``, prefetch);
    the frame and PRR overrides are checked by ``FrameSpec`` / ``PRRConfig``, as in the YAML."""

    limit: int | None = Field(None, ge=1)
    workers: int = Field(2, ge=0, le=64)
    batch_size: int | None = Field(None, ge=1, le=4096)
    prefetch: int | None = Field(None, ge=1, le=4096)


_OPTION_NAMES = {"num_frames": "--frames", "max_frames": "--frames", "max_pixels": "--max-pixels",
                 "batch_size": "--batch-size", "limit": "--limit", "workers": "--workers", "prefetch": "prefetch"}


def _override_error(exc: ValidationError, values: dict[str, Any], hint: str | None = None) -> UsageError:
    err = exc.errors()[0]
    name = str(err["loc"][0]) if err.get("loc") else "?"
    got = values.get(name, err.get("input"))
    what = f"{_OPTION_NAMES[name]} {got}" if name in _OPTION_NAMES else f"--prr {name}={got}"
    return UsageError(f"{what}: {err['msg'].lower()}", hint=hint)


def validate_options(opts: RunOptions) -> None:
    """Check the execution options against ``ExecLimits`` and ``--run-name`` (one path component)."""
    values = {"limit": opts.limit, "workers": opts.workers, "batch_size": opts.batch_size, "prefetch": opts.prefetch}
    try:
        ExecLimits.model_validate(values)
    except ValidationError as exc:
        raise _override_error(exc, values) from None
    if opts.run_name is not None and not is_path_component(opts.run_name):
        raise UsageError(f"--run-name {opts.run_name!r} is not a plain directory name",
                         hint="the run directory is created inside --output-dir; use a name without "
                              "'/', '..', a drive or control characters, at most 255 bytes, e.g. "
                              "--run-name qwen-ablation-1")


@dataclass
class RunOutcome:
    run_dir: Path
    log: RunLog
    exit_code: int


@dataclass
class Item:
    task: TaskSpec
    index: int
    sample: Sample

    @property
    def key(self) -> str:
        return f"{self.task.name}/{self.sample.id}"


@dataclass
class Prepared:
    item: Item
    messages: list[dict[str, Any]]
    prefill: str | None
    frames: Frames | None
    error: ErrorInfo | None
    decode_s: float = 0.0
    video_path: str | None = None


now = utc_now


def slug(text: str, limit: int = 40) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return (s or "x")[:limit]


def git_revision() -> str | None:
    here = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("mosseval", "av", "numpy", "pydantic", "torch", "transformers", "accelerate", "openai",
                 "decord"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


FRAMES_FROM = ("task", "model")


def effective_task(task: TaskSpec, opts: RunOptions, recipe: str | None = None) -> TaskSpec:
    """The task with the command-line overrides applied, validated by the same schema as the YAML."""
    frames = task.frames
    if recipe is not None:  # --frames-from model: the family's recipe replaces the task's selection
        task = task.model_copy(update={"frames": FrameSpec(recipe=recipe, use_bounds=frames.use_bounds,
                                                            decoder=frames.decoder)})
        frames = task.frames
    update: dict[str, Any] = {}
    if opts.frames is not None:
        update["num_frames"] = opts.frames
        if frames.strategy == "fps":
            update["max_frames"] = opts.frames
    if opts.max_pixels is not None:
        update["max_pixels"] = opts.max_pixels
    if update:
        try:
            new_frames = FrameSpec.model_validate({**frames.model_dump(), **update})
        except ValidationError as exc:
            raise _override_error(exc, update) from None
        task = task.model_copy(update={"frames": new_frames})
    if opts.prr and task.scoring.prr is not None:
        try:
            prr = PRRConfig.model_validate({**task.scoring.prr.model_dump(), **opts.prr})
        except ValidationError as exc:
            raise _override_error(exc, opts.prr, hint="keys: distance (rouge|semantic), alignment (sdtw|dtw), "
                                  "jump, alpha, max_steps, min_tokens") from None
        task = task.model_copy(update={"scoring": task.scoring.model_copy(update={"prr": prr})})
    return task


def task_fingerprint(task: TaskSpec) -> str:
    """The task's part of the run identity: its comparability key (``mosseval.comparability``)."""
    return task.comparability_hash()


def distributed_env() -> tuple[int, int]:
    try:
        rank = int(os.environ.get("RANK", "0"))
        world = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 0, 1
    return (rank, world) if world > 1 else (0, 1)


# ----------------------------------------------------------------------------- planning


@dataclass
class Plan:
    leaves: list[tuple[TaskSpec, str | None]]
    roots: dict[str, Path]
    items: list[Item]
    model_spec: ModelSpec


def frames_recipe(opts: RunOptions, model_spec: ModelSpec) -> str | None:
    """The recipe ``--frames-from`` selects (None: the tasks' own frame settings)."""
    if opts.frames_from not in FRAMES_FROM:
        raise UsageError(f"--frames-from {opts.frames_from!r} is not one of: {', '.join(FRAMES_FROM)}",
                         hint="task (default): the task's frame protocol; model: the model family's own recipe")
    if opts.frames_from == "task":
        return None
    if opts.frames is not None or opts.max_pixels is not None:
        raise UsageError("--frames / --max-pixels override the task's frame settings, but --frames-from model "
                         "hands frame selection and size to the model's recipe",
                         hint="drop --frames/--max-pixels, or use --frames-from task")
    from mosseval.models.registry import model_recipe

    family, recipe = model_recipe(model_spec)
    if recipe is None:
        why = (f"the {family.display} family {family.no_recipe_reason}" if family is not None
               else f"mosseval does not know the video recipe of {model_spec.name!r}")
        raise UsageError(f"--frames-from model: {why}",
                         hint="use --frames-from task (the task's frame protocol); `mosseval families` lists the "
                         "families and their recipes")
    return str(recipe)


def plan(opts: RunOptions, say: Callable[[str], None] = lambda s: None) -> Plan:
    validate_options(opts)
    registry = load_registry([str(p) for p in opts.tasks_dirs])
    model_spec = resolve(opts.model, opts.model_args)
    recipe = frames_recipe(opts, model_spec)
    leaves = [(effective_task(t, opts, recipe), g) for t, g in resolve_tasks(opts.tasks, registry)]
    load_backend(model_spec.backend)  # fail fast on a missing extra, before any data work
    roots: dict[str, Path] = {}
    items: list[Item] = []
    for task, _ in leaves:
        assert task.loader is not None
        roots[task.name] = resolve_data_root(task, opts.data_dir, opts.cache_dir, seed=opts.seed)
        try:
            loader = get_loader(task.loader)
        except KeyError:
            raise UsageError(f"task {task.name!r} ({task.source_file}): key `loader`: unknown loader "
                             f"{task.loader!r}") from None
        samples = load_samples(task, roots[task.name], loader)
        if opts.limit is not None:
            samples = samples[: opts.limit]
        items += [Item(task, i, s) for i, s in enumerate(samples)]
        say(f"{task.name}: {len(samples)} samples from {roots[task.name]}")
    return Plan(leaves, roots, items, model_spec)


def load_samples(task: TaskSpec, root: Path, loader: Callable[[TaskSpec, Path], list[Sample]]) -> list[Sample]:
    """Run a task's loader; a dataset field of the wrong type becomes a one-line error naming the task."""
    try:
        return loader(task, root)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err.get("loc", ()))
        raise UsageError(f"task {task.name!r}: the data in {root} does not match the schema: field {where!r}: "
                         f"{err['msg']} (got {str(err.get('input'))[:80]!r})",
                         hint="fix the dataset file, or the task's loader_args field mapping") from None


# ----------------------------------------------------------------------------- execution


class Runner:
    def __init__(self, opts: RunOptions, console: Any = None):
        from mosseval.frame_cache import open_cache

        self.opts = opts
        self.console = console
        self.frame_cache = open_cache(opts.frame_cache, opts.cache_dir)

    def say(self, text: str) -> None:
        if self.console is not None and self.opts.progress:
            self.console.print(text, highlight=False)

    def execute(self, model: ModelAdapter | None = None) -> RunOutcome:
        """Plan, load the model (unless one is given, e.g. by a benchmark) and run."""
        opts = self.opts
        if opts.cache_dir is not None:  # built-in models and generated data share one cache
            os.environ[CACHE_ENV] = str(Path(opts.cache_dir).expanduser())
        if Path(opts.output_dir).exists() and not Path(opts.output_dir).is_dir():  # before any work
            raise UsageError(f"--output-dir {opts.output_dir} is a file, not a folder",
                             hint="pass the folder that holds (or will hold) the run directories")
        p = plan(opts, self.say)
        if opts.preflight:
            self._preflight(p)
        out = Path(opts.output_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=out):  # unnamed (O_TMPFILE) where possible: a kill leaves nothing
                pass
        except OSError as exc:
            raise OutputError(f"output directory {out} is not writable: {os_reason(exc, out / 'x')}",
                              hint="pass a writable folder with --output-dir") from None
        model_args = dict(p.model_spec.args)
        if opts.batch_size is not None:
            model_args["batch_size"] = opts.batch_size
        spec = ModelSpec(p.model_spec.name, p.model_spec.backend, p.model_spec.target, model_args)
        rank, world = distributed_env()
        if world > 1 and spec.backend == "hf":
            spec.args.setdefault("device", f"cuda:{os.environ.get('LOCAL_RANK', rank)}"
                                 if _cuda_available() else "cpu")
        if model is None:
            model = load_backend(spec.backend)(spec)
        try:
            return self._run(p, model, spec, rank, world)
        finally:
            model.close()

    def _preflight(self, p: Plan) -> None:
        from rich.markup import escape

        from mosseval.preflight import check_task

        problems = 0
        for task, _ in p.leaves:
            report = check_task(task, p.roots[task.name], limit=self.opts.limit)
            problems += len(report.problems)
            for prob in report.problems:  # errors: printed with --quiet too
                if self.console is not None:
                    self.console.print(f"[yellow]preflight[/] {task.name}: {escape(str(prob))}", highlight=False)
        if problems:
            raise SampleErrorsError(f"preflight found {problems} unreadable or invalid video reference(s)",
                                      hint="fix the data, or run without --preflight to record them as "
                                      "per-sample errors")
        self.say("preflight: all video references readable")

    def identity(self, p: Plan, model: ModelAdapter, spec: ModelSpec) -> RunIdentity:
        recipes = sorted({t.frames.recipe for t, _ in p.leaves if t.frames.recipe})
        extra: dict[str, Any] = {}
        if recipes:  # --frames-from model: the recipe's full parameters, so a changed recipe is a new run
            from mosseval.recipes import get_recipe

            extra = {"frames_from": "model", "recipes": {name: get_recipe(name).describe() for name in recipes}}
        return RunIdentity(
            model={**identity_args(model.identity()), "args": identity_args(spec.args)},
            eval=EvalIdentity(
                tasks=[TaskIdentity(name=t.name, version=t.version, fingerprint=task_fingerprint(t))
                       for t, _ in p.leaves],
                seed=self.opts.seed,
                metric_version=METRIC_VERSION,
                **extra,
            ),
        )

    def _run(self, p: Plan, model: ModelAdapter, spec: ModelSpec, rank: int, world: int) -> RunOutcome:
        opts = self.opts
        identity = self.identity(p, model, spec)
        run_id = identity.hash()
        name = opts.run_name or "__".join(
            [slug(opts.model), slug("+".join(opts.tasks), 60), run_id[:12]])
        run_dir = Path(opts.output_dir) / name
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {run_dir}: {exc.strerror or exc}") from None
        shard_dir = run_dir / "shards"
        if world > 1 and rank > 0:  # each rank writes only its own shard: that file is its lock's domain
            shard_dir.mkdir(exist_ok=True)
            lock = DirLock(shard_dir, name=f".rank{rank}.lock", wait=opts.wait, clean_temp=False)
        else:
            lock = run_lock(run_dir, wait=opts.wait, command=["mosseval", *opts.command] if opts.command else None,
                            say=self.say)
        with lock:
            return self._run_locked(p, model, spec, rank, world, identity, run_id, run_dir, shard_dir)

    def _run_locked(self, p: Plan, model: ModelAdapter, spec: ModelSpec, rank: int, world: int,
                    identity: RunIdentity, run_id: str, run_dir: Path, shard_dir: Path) -> RunOutcome:
        opts = self.opts
        old: RunLog | None = None
        if (run_dir / "run.json").exists():
            old = read_run_log(run_dir)
            if old.run_id != run_id:
                raise NotComparableError(
                    f"{run_dir} holds a different run (identity {old.run_id[:12]} vs {run_id[:12]}); "
                    "refusing to mix results",
                    hint="use another --run-name or --output-dir, or drop --run-name to get a "
                    "hash-named directory")
        run_spec = RunSpec(
            model=opts.model,
            backend=spec.backend,
            model_args=redact(spec.args),
            model_identity=identity.model,
            tasks=[TaskRef(name=t.name, version=t.version, fingerprint=task_fingerprint(t), group=g)
                   for t, g in p.leaves],
            frames={k: v for k, v in {"num_frames": opts.frames, "max_pixels": opts.max_pixels,
                                      "frames_from": None if opts.frames_from == "task" else opts.frames_from,
                                      "recipe": next((t.frames.recipe for t, _ in p.leaves if t.frames.recipe),
                                                     None)}.items()
                    if v is not None},
            prr=dict(opts.prr),
            frame_cache=self.frame_cache is not None,
            seed=opts.seed,
            limit=opts.limit,
            mosseval_version=__version__,
            git_revision=git_revision(),
            packages=package_versions(),
            command=redact_argv(opts.command),
        )
        common = {"spec": run_spec, "status": "running", "updated_at": now(), "n_expected": len(p.items),
                  "task_specs": {t.name: t for t, _ in p.leaves},
                  "model": model.describe().model_copy(update={"hash": identity.model_hash()})}
        if old is not None:
            # Keep the finished results until the new ones are complete: a re-run that is killed
            # leaves the previous results in place, marked as running.
            log = old.model_copy(update=common)
        else:
            log = RunLog(run_id=run_id, identity=identity, created_at=now(), **common)
        finished = read_table(run_dir)  # keys and error flags only: no record is held to resume
        done = {k for k, failed in zip(finished.key, finished.errored) if not (opts.retry_errors and failed)}
        pending = [it for it in p.items if it.key not in done]
        if world > 1:
            # Every rank partitions the same list (samples.jsonl only changes when rank 0 merges, after
            # all ranks are done), then skips what its own shard already holds from an earlier attempt.
            # Reading the other ranks' shards here would race with their writers and drop samples.
            own = shard_dir / f"rank{rank}.jsonl"
            mine = {r.key for r in iter_records(own)} if own.exists() else set()
            pending = [it for it in pending[rank::world] if it.key not in mine]
            done |= mine
        if rank == 0:
            write_run_log(run_dir, log)
        if done and rank == 0:
            self.say(f"resuming {run_dir}: {len(done)} finished, {len(pending)} to go")
        if world > 1:
            shard_dir.mkdir(exist_ok=True)
            (shard_dir / f"rank{rank}.done").unlink(missing_ok=True)
        interrupted = False
        try:
            if world > 1:
                writer = SampleWriter(path=shard_dir / f"rank{rank}.jsonl", fsync=opts.fsync)
            else:
                writer = SampleWriter(run_dir, fsync=opts.fsync)
            with writer:
                self._loop(pending, model, writer, p.roots)
        except KeyboardInterrupt:
            interrupted = True
        except BaseException as exc:
            if rank == 0:
                self._finalize_after_failure(run_dir, log, p, exc)
            raise
        if world > 1:
            (shard_dir / f"rank{rank}.done").write_text(str(len(pending)))
            if rank != 0:
                return RunOutcome(run_dir, log, int(ExitCode.OK))
            _wait_for_shards(shard_dir, world)
            _merge_shards(run_dir, shard_dir)
        log = self._finalize(run_dir, log, p, status_override="interrupted" if interrupted else None)
        cache = self.frame_cache
        if cache is not None:  # (its last entries were being written while the run was scored and recorded)
            cache.flush()  # every entry on disk before the run returns (the next model reads them)
        if cache is not None and cache.stats.evicted:
            self.say(f"[yellow]note:[/] the frame cache ({cache.dir}) reached its bound and evicted "
                     f"{cache.stats.evicted} entr{'y' if cache.stats.evicted == 1 else 'ies'} during this run; "
                     "a second model on these tasks will decode again. Raise MOSSEVAL_FRAME_CACHE_MAX "
                     f"(now {cache.max_bytes / 2**30:.3g} GiB) to keep whole tasks.")
        if interrupted:
            raise KeyboardInterrupt
        return RunOutcome(run_dir, log, int(ExitCode.for_status(log.status)))

    def _finalize_after_failure(self, run_dir: Path, log: RunLog, p: Plan, exc: BaseException) -> None:
        """Record ``failed`` in run.json; a second failure (the disk is still full) never hides the first."""
        try:
            self._finalize(run_dir, log, p, status_override="failed")
        except MossevalError as second:
            if isinstance(exc, MossevalError):
                extra = f"run.json was not updated either ({second.message})"
                exc.hint = f"{exc.hint}; {extra}" if exc.hint else extra


    # -- the pipelined loop -------------------------------------------------------------

    def _prepare(self, item: Item, model: ModelAdapter, roots: dict[str, Path]) -> Prepared:
        frames, err, t0 = None, None, time.perf_counter()
        if model.needs_frames and item.sample.video is not None:
            from mosseval.video import sample_frames

            try:
                frames = sample_frames(item.sample.video, item.task.frames, roots[item.task.name],
                                       cache=self.frame_cache)
            except MediaError as exc:
                err = ErrorInfo(kind="media", message=str(exc))
            except Exception as exc:  # a decoder bug must not stop the run either
                err = ErrorInfo(kind="media", message=f"{type(exc).__name__}: {exc}")
        video_path = None
        if item.sample.video is not None:
            try:
                video_path = str(safe_join(roots[item.task.name], item.sample.video.path))
            except MediaError as exc:
                err = err or ErrorInfo(kind="media", message=str(exc))
        # the prompt may depend on the frames chosen (Video-MME: subtitles at the sampled frames)
        messages: list[dict[str, Any]] = []
        prefill = item.task.prompt.prefill if item.task.prompt is not None else None
        if err is None:
            try:
                messages, prefill = build_messages(item.task, item.sample, root=roots.get(item.task.name),
                                                   frames=frames.info if frames is not None else None)
            except MediaError as exc:
                err = ErrorInfo(kind="media", message=str(exc))
        return Prepared(item, messages, prefill, frames, err, time.perf_counter() - t0, video_path)

    def _loop(self, pending: list[Item], model: ModelAdapter, writer: Any, roots: dict[str, Path]) -> None:
        opts = self.opts
        batch_size = max(1, int(getattr(model, "batch_size", 1) or 1))
        progress = make_progress(self.console if opts.progress else None, len(pending), model.name)
        queue: deque[Future[Prepared]] = deque()
        it = iter(pending)
        lookahead = opts.prefetch or max(batch_size * 2, opts.workers * 2)
        pool_cm = (ThreadPoolExecutor(max_workers=opts.workers, thread_name_prefix="decode") if opts.workers > 0
                   else _InlineExecutor())  # workers=0: decode serially, in the main thread
        with pool_cm as pool, progress:
            def refill() -> None:
                while len(queue) < lookahead:
                    nxt = next(it, None)
                    if nxt is None:
                        return
                    queue.append(pool.submit(self._prepare, nxt, model, roots))

            refill()
            batch: list[Prepared] = []
            while queue or batch:
                prepared = queue.popleft().result() if queue else None
                refill()
                if prepared is not None and prepared.error is not None:
                    self._write(writer, prepared,
                                self._generation(prepared, Response(text=None, error=prepared.error), 0.0))
                    progress.advance()
                    continue
                if prepared is not None and batch and batch[0].item.task.name != prepared.item.task.name:
                    self._flush(model, batch, writer, progress)
                    batch = []
                if prepared is not None:
                    batch.append(prepared)
                if batch and (len(batch) >= batch_size or prepared is None or not queue):
                    self._flush(model, batch, writer, progress)
                    batch = []

    def _flush(self, model: ModelAdapter, batch: list[Prepared], writer: Any, progress: Any) -> None:
        requests = [
            Request(sample=p.item.sample, task=p.item.task, messages=p.messages, frames=p.frames,
                    generation=p.item.task.generation, prefill=p.prefill, seed=self.opts.seed,
                    video_path=p.video_path)
            for p in batch
        ]
        t0 = time.perf_counter()
        responses = model.generate(requests)
        elapsed = time.perf_counter() - t0
        if len(responses) != len(requests):
            raise InternalError(f"model backend {model.name} returned {len(responses)} responses for "
                                f"{len(requests)} requests", hint="a bug in the backend; finished samples are saved")
        gens = [self._generation(p, r, elapsed / len(batch)) for p, r in zip(batch, responses)]
        # One task per batch (the loop flushes on a task change): its PRRs are scored together.
        scores = score_samples(batch[0].item.task, [(p.item.sample, g) for p, g in zip(batch, gens)],
                               batch[0].prefill)
        writer.write_many(self._record(p, g, s) for p, g, s in zip(batch, gens, scores))
        for _ in batch:
            progress.advance()

    @staticmethod
    def _generation(p: Prepared, resp: Response, latency: float) -> Generation:
        error = resp.error
        if error is not None:  # error texts can carry URLs with credentials (never model output: kept as is)
            error = error.model_copy(update={"message": redact_text(error.message)})
        info = p.frames.info if p.frames is not None else None
        if info is not None and resp.frames_as is not None:
            info = info.model_copy(update={"model_input": resp.frames_as})
        return Generation(
            text=resp.text,
            frames=info,
            error=error,
            usage=resp.usage,
            latency_s=round(latency, 6),
            extra=redact_value({**resp.extra, "decode_s": round(p.decode_s, 6),
                                **({"frame_cache": p.frames.cache} if p.frames is not None and p.frames.cache
                                   else {})}),
        )

    def _write(self, writer: Any, p: Prepared, gen: Generation, score: Any = None) -> None:
        writer.write(self._record(p, gen, score))

    @staticmethod
    def _record(p: Prepared, gen: Generation, score: Any = None) -> SampleRecord:
        if score is None:
            score = score_sample(p.item.task, p.item.sample, gen, p.prefill)
        return SampleRecord(key=p.item.key, task=p.item.task.name, index=p.item.index, sample=p.item.sample,
                            generation=gen, score=score)

    # -- results ------------------------------------------------------------------------

    def _finalize(self, run_dir: Path, log: RunLog, p: Plan, status_override: str | None = None) -> RunLog:
        records = read_records(run_dir)
        if count_lines(run_dir / SAMPLES_FILE) != len(records):  # retried samples: one line per sample (the newest)
            rewrite_records(run_dir, records)
        log = finalize_log(log, p.leaves, records, [it.key for it in p.items], status_override)
        write_run_log(run_dir, log)
        return log


# ----------------------------------------------------------------------------- helpers


def _wait_for_shards(shard_dir: Path, world: int, timeout: float = 24 * 3600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all((shard_dir / f"rank{r}.done").exists() for r in range(world)):
            return
        time.sleep(0.2)
    missing = [r for r in range(world) if not (shard_dir / f"rank{r}.done").exists()]
    raise InternalError(f"timed out waiting for rank(s) {missing} to finish their shards in {shard_dir}",
                        hint="their finished samples are kept in the shards; run the same command again to resume")


def _merge_shards(run_dir: Path, shard_dir: Path) -> None:
    """Fold the ranks' shards into samples.jsonl (rank 0, holding the run lock); a shard's record
    replaces an older one of the same key (a sample retried with --retry-errors)."""
    by_key = {r.key: r for r in read_records(run_dir)}
    for shard in sorted(shard_dir.glob("rank*.jsonl")):
        for rec in iter_records(shard):
            by_key[rec.key] = rec
    rewrite_records(run_dir, list(by_key.values()))
    for f in shard_dir.iterdir():
        f.unlink()
    shard_dir.rmdir()


def _cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


class _InlineExecutor:
    """Runs each job when submitted (the serial decode-then-generate baseline)."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        try:
            fut.set_result(fn(*args))
        except BaseException as exc:  # pragma: no cover - _prepare catches media errors
            fut.set_exception(exc)
        return fut

    def __enter__(self) -> _InlineExecutor:
        return self

    def __exit__(self, *a: object) -> None:
        pass


def run(opts: RunOptions, console: Any = None) -> RunOutcome:
    return Runner(opts, console).execute()


__all__ = ["RunOptions", "RunOutcome", "Runner", "run", "rescore", "finalize_log", "recompute_stale", "SAMPLES_FILE"]
