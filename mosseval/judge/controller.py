"""``judge_run``: add LLM-judge verdicts to a saved run, in the judge's own files.

1. pick rubrics (``rubric``, else each task's defaults: ``mmvu-official`` for MMVU tasks,
   ``process-consistency`` for tasks with reference steps) and render one prompt per item;
2. look each prompt's fingerprint up (the run's ``judge_cache.jsonl``, an optional shared cache, the run's
   current verdicts); only misses are sent;
3. send misses (:mod:`mosseval.judge.requests`), appending every verdict to the cache as it arrives;
4. write the verdicts to ``judge_verdicts.jsonl`` and the rubrics and accounting to ``judge.json``
   (:mod:`mosseval.judge.store`). ``samples.jsonl`` and ``run.json`` are only read.

Returns a :class:`~mosseval.judge.records.JudgeReport` and never prints: the CLI renders it.
The API key comes from ``api_key`` or the environment (``$MOSSEVAL_JUDGE_API_KEY``, else
``$OPENAI_API_KEY``) and is never written anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mosseval.clock import utc_now
from mosseval.errors import JudgeStoppedError, RemoteError, UsageError
from mosseval.judge.cache import SHARED_ENV, VerdictCache
from mosseval.judge.cost import Prices, prices_for
from mosseval.judge.plan import Plan, build_plan, estimate, resolve_known, select_rubrics, split_names
from mosseval.judge.records import JudgeInvocation, JudgeLog, JudgeReport, VerdictLine
from mosseval.judge.requests import ClientSettings, ProgressFactory, request_verdicts
from mosseval.judge.rubrics import load_rubrics
from mosseval.judge.store import (
    HISTORY_LIMIT,
    REQUESTS_FILE,
    StoredJudgements,
    current_verdicts,
    ledger_totals,
    read_judgements,
    write_judgements,
)
from mosseval.judge.summary import summarize_run
from mosseval.rundir import load_run, run_lock

BASE_URL_ENV = "MOSSEVAL_JUDGE_BASE_URL"
DEFAULT_JUDGE = "gpt-4o"
OPTIONS = {"rubrics_dir", "tasks", "rpm", "max_requests", "max_tokens", "price_in", "price_out", "timeout",
           "max_retries", "backoff_base", "backoff_max", "retry_errors", "shared_cache", "fsync", "wait",
           "max_response_bytes"}


def _stopped(report: JudgeReport) -> JudgeStoppedError:
    """Judging stopped early (budget exhausted, credentials refused); what was judged is saved (exit 7).
    The error carries the report (``.summary``) so the CLI can still show it."""
    done = report.n_cached + report.n_no_output + report.n_requested
    return JudgeStoppedError(f"judging stopped early: {report.stopped}; {done} of {report.n_jobs} verdicts are "
                             f"saved in {report.run_dir}", summary=report,
                             hint="re-run the same `mosseval judge` command to continue (cached verdicts cost nothing)")


def _validate(judge_model: str, concurrency: int, opts: dict[str, Any]) -> None:
    bad = set(opts) - OPTIONS
    if bad:
        raise UsageError(f"unknown judge option(s) {sorted(bad)}", hint="known: " + ", ".join(sorted(OPTIONS)))
    if not judge_model or not str(judge_model).strip():
        raise UsageError("the judge model name is empty", hint="e.g. --judge gpt-4o")
    if concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1 (got {concurrency})")
    for name in ("max_requests", "max_tokens", "rpm"):
        v = opts.get(name)
        if v is not None and v <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be positive (got {v})")


def judge_run(
    run_dir: str | os.PathLike,
    judge_model: str = DEFAULT_JUDGE,
    *,
    rubric: str | list[str] | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    concurrency: int = 4,
    dry_run: bool = False,
    progress: ProgressFactory | None = None,
    on_plan: Callable[[JudgeReport], None] | None = None,
    say: Callable[[str], None] | None = None,
    **opts: Any,
) -> JudgeReport:
    """Judge the items of a saved run; record verdicts and accounting in the run's judge files.

    Options (``opts``): ``rubrics_dir`` (folder or list of folders with extra rubrics), ``tasks`` (only
    these tasks), ``rpm`` (requests per minute), ``max_requests`` / ``max_tokens`` (budget for this call:
    HTTP requests incl. retries / total tokens), ``price_in`` / ``price_out`` (USD per 1M tokens),
    ``timeout`` (seconds per attempt, 60), ``max_retries`` (5), ``backoff_base`` (1.0 s), ``backoff_max``
    (30 s), ``retry_errors`` (re-send items whose cached verdict is a judge error), ``shared_cache``
    (folder; default ``$MOSSEVAL_JUDGE_CACHE``), ``fsync`` (True), ``wait`` (wait for another writer of
    the run directory instead of failing), ``max_response_bytes`` (reply size cap).

    Holds the run directory's writer lock while it writes (not for a dry run). ``progress`` makes the
    progress bar of the requests (``(total, label) -> Progress``); ``on_plan`` receives the report once the
    plan and its estimate are known, before any request; ``say`` receives status lines (waiting for the
    lock). Raises :class:`~mosseval.errors.JudgeStoppedError` (exit 7, with the report as ``.summary``)
    after saving when the budget runs out, the client's ``AuthError`` when the credentials are refused, and
    ``KeyboardInterrupt`` after saving on Ctrl-C.
    """
    _validate(judge_model, concurrency, opts)
    run_dir = Path(run_dir)
    rubrics_dir = opts.get("rubrics_dir")
    extra_dirs = split_names(rubrics_dir) if isinstance(rubrics_dir, str) else [str(p) for p in rubrics_dir or []]
    rubrics = load_rubrics(extra_dirs)
    loaded = load_run(run_dir)
    records = [r for r in loaded.records if r.score is not None]
    if not records:
        raise UsageError(f"{run_dir} has no finished samples to judge", hint="run (or resume) `mosseval run` first")
    chosen = select_rubrics(records, loaded.log.task_specs, rubrics, split_names(rubric), split_names(opts.get("tasks")))
    base_url = base_url or os.environ.get(BASE_URL_ENV) or None
    from mosseval.openai_client import host_of

    prices = prices_for(judge_model, opts.get("price_in"), opts.get("price_out"))
    report = JudgeReport(run_dir=str(run_dir), judge=judge_model, dry_run=dry_run, prices=prices,
                         host=host_of(base_url or os.environ.get("OPENAI_BASE_URL") or None))
    report.tasks = {t: [r.name for r in rs] for t, rs in chosen.items()}
    plan = Plan(chosen)
    report.rubrics = {n: r.version for n, r in plan.used.items()}
    shared = opts.get("shared_cache") or os.environ.get(SHARED_ENV) or None
    lock = run_lock(run_dir, wait=bool(opts.get("wait")), say=say) if not dry_run else _NoLock()
    with lock:
        stored = read_judgements(run_dir)
        cache = VerdictCache(run_dir, Path(shared) if shared else None, fsync=opts.get("fsync", True))
        stop: RemoteError | None = None
        try:
            # waves: a rubric judged `after` another is planned once its prerequisite's verdicts are known
            priors = current_verdicts(stored, records)
            done: set[tuple[str, str]] = set()
            first = True
            while True:
                wave = build_plan(records, chosen, judge_model, priors, skip=done)
                if not first and not wave.jobs:
                    break
                plan.jobs += wave.jobs
                plan.n_waiting = wave.n_waiting
                done |= {(j.key, j.rubric.name) for j in wave.jobs}
                todo = resolve_known(wave, cache, stored, judge_model, bool(opts.get("retry_errors")))
                if first:
                    plan.n_not_applicable = wave.n_not_applicable
                report.n_jobs, report.n_not_applicable = len(plan.jobs), plan.n_not_applicable
                report.n_waiting = wave.n_waiting
                report.n_no_output = sum(1 for j in plan.jobs if j.source == "local")
                report.n_rule = sum(1 for j in plan.jobs if j.source == "rule")
                report.n_cached = sum(1 for j in plan.jobs if j.source in ("run", "shared", "stored"))
                report.n_to_request += len(todo)
                if first:
                    report.estimate = estimate(todo, prices)
                    if on_plan is not None:
                        on_plan(report)
                    if dry_run:
                        return report
                first = False
                for job in wave.jobs:  # make the run's cache self-contained (hits from the shared cache)
                    if job.source == "shared" and job.verdict is not None:
                        cache.put(job.key, job.verdict, run_only=True)
                if todo:
                    try:
                        settings = _client_settings(judge_model, base_url, api_key, concurrency, opts,
                                                    run_dir / REQUESTS_FILE)
                        stop = request_verdicts(todo, settings, cache, report, progress)
                    except RemoteError as exc:  # before any request (no API key for the endpoint)
                        report.stopped = exc.message
                        raise
                for job in wave.jobs:
                    if job.verdict is not None and job.verdict.error is None:
                        priors.setdefault(job.key, {})[job.rubric.name] = job.verdict
                if report.stopped or not wave.n_waiting:
                    break
        finally:
            cache.close()
            if not dry_run:
                _persist(run_dir, loaded.log.run_id, plan, stored, judge_model, report, prices)
    report.results = {t: s for t, s in summarize_run(loaded.log, loaded.records, read_judgements(run_dir)).tasks.items()
                      if t in chosen}
    report.n_errors = sum(s.n_errors for t, by in report.results.items() for n, s in by.items() if n in report.tasks[t])
    if report.stopped:
        from mosseval.openai_client import AuthError

        if isinstance(stop, AuthError):
            raise stop
        raise _stopped(report)
    return report


class _NoLock:
    def __enter__(self) -> _NoLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def _client_settings(judge_model: str, base_url: str | None, api_key: str | None, concurrency: int,
                     opts: dict[str, Any], ledger: Path) -> ClientSettings:
    return ClientSettings(judge_model=judge_model, base_url=base_url, api_key=api_key, concurrency=concurrency,
                          rpm=opts.get("rpm"), max_requests=opts.get("max_requests"),
                          max_tokens=opts.get("max_tokens"), timeout=float(opts.get("timeout") or 60.0),
                          max_retries=int(opts.get("max_retries", 5)),
                          backoff_base=float(opts.get("backoff_base", 1.0)),
                          backoff_max=float(opts.get("backoff_max", 30.0)),
                          max_response_bytes=opts.get("max_response_bytes"), ledger=ledger,
                          fsync=bool(opts.get("fsync", True)))


def _persist(run_dir: Path, run_id: str, plan: Plan, stored: StoredJudgements, judge_model: str,
             report: JudgeReport, prices: Prices) -> None:
    """Write the verdicts and the judge log. A planned item keeps its new verdict; a stored verdict of a
    planned (item, rubric) that was not re-judged is dropped when its fingerprint differs (another judge,
    prompt or rubric version is never kept); everything else is kept as it was."""
    from mosseval.judge.context import sample_digest

    lines = dict(stored.lines)
    for job in plan.jobs:
        k = (job.key, job.rubric.name)
        if job.verdict is not None:
            lines[k] = VerdictLine(key=job.key, task=job.rec.task, rubric=job.rubric.name,
                                   sample_digest=sample_digest(job.rec), verdict=job.verdict)
        elif k in lines and lines[k].verdict.fingerprint != job.fp:
            del lines[k]
    now = utc_now()
    old = stored.log or JudgeLog(run_id=run_id, updated_at=now)
    rubric_info = dict(old.rubrics)
    for name, r in plan.used.items():
        tasks = [t for t, rs in plan.rubrics.items() if r in rs]
        before = rubric_info[name].tasks if name in rubric_info and rubric_info[name].version == r.version else []
        rubric_info[name] = r.info(judge_model, list(dict.fromkeys(before + tasks)))
    n_err = sum(1 for j in plan.jobs if j.verdict is not None and j.verdict.error)
    invocation = JudgeInvocation(
        at=now, judge=judge_model, host=report.host, rubrics=dict(report.rubrics), jobs=report.n_jobs,
        cache_hits=report.n_cached, no_output=report.n_no_output, sent=report.n_requested,
        requests=report.requests, retries=report.retries, prompt_tokens=report.prompt_tokens,
        completion_tokens=report.completion_tokens, cost_usd=report.cost_usd, judge_errors=n_err,
        stopped=report.stopped)
    log = old.model_copy(update={"run_id": run_id, "updated_at": now, "rubrics": rubric_info, "prices": prices,
                                 "totals": ledger_totals(run_dir),
                                 "history": (old.history + [invocation])[-HISTORY_LIMIT:]})
    write_judgements(run_dir, log, sorted(lines.values(), key=lambda x: (x.key, x.rubric)))


__all__ = ["judge_run", "DEFAULT_JUDGE", "BASE_URL_ENV"]
