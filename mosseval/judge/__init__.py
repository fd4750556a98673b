"""LLM-as-judge for saved runs: MMVU's official answer judge and a reasoning-process judge.

``judge_run(run_dir, judge_model)`` adds judge verdicts to a finished (or partial) run directory
without re-running the model:

1. pick rubrics (``--rubric``, else each task's defaults: ``mmvu-official`` for MMVU tasks,
   ``process-consistency`` for tasks with reference steps) and render one prompt per item;
2. look each prompt's fingerprint up in the verdict cache (``judge_cache.jsonl`` in the run,
   optionally a shared folder, and the verdicts already in ``samples.jsonl``); only misses are sent;
3. send misses through :class:`mosseval.openai_client.ChatClient` (bounded concurrency, rate
   limit, retries with backoff and jitter, request/token budget, structured output with a
   fallback), append every verdict to the cache as it arrives (a kill loses only the requests in
   flight), parse replies with :mod:`mosseval.judge.parse` (unparseable -> a judge *error*);
4. write the verdicts into ``samples.jsonl`` (``score.judge[rubric]``) and the summaries into
   ``run.json`` (``TaskResult.judge[rubric]``, ``RunLog.judge``), atomically.

The API key is taken from the ``api_key`` argument or the environment
(``$MOSSEVAL_JUDGE_API_KEY``, else ``$OPENAI_API_KEY``) and is never written anywhere.
"""

from __future__ import annotations

import os
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mosseval.clock import utc_now
from mosseval.errors import ExitCode, JudgeStoppedError, RemoteError, UsageError
from mosseval.judge.aggregate import NO_OUTPUT, summarize_rubric
from mosseval.judge.cache import CACHE_FILE, SHARED_ENV, VerdictCache
from mosseval.judge.cost import Prices, estimate_prompt_tokens, fmt_usd, prices_for
from mosseval.judge.parse import parse_verdict
from mosseval.judge.rubrics import Rubric, get_rubric, load_rubrics
from mosseval.progress import progress as make_progress
from mosseval.prr.format import answer_text, think_text
from mosseval.records import JudgeVerdict, SampleRecord, TaskSpec
from mosseval.rundir import (
    fingerprint,
    load_run,
    read_records,
    read_run_log,
    rewrite_records,
    run_lock,
    write_run_log,
)

BASE_URL_ENV = "MOSSEVAL_JUDGE_BASE_URL"
API_KEY_ENV = "MOSSEVAL_JUDGE_API_KEY"
DEFAULT_JUDGE = "gpt-4o"
HISTORY_LIMIT = 20
REQUESTS_FILE = "judge_requests.jsonl"
"""One line per HTTP request to the judge, appended as it is made (so a killed invocation's
requests and tokens still count in the run's judge totals)."""


@dataclass
class Job:
    key: str
    task: str
    rubric: Rubric
    messages: list[dict[str, str]]
    fp: str
    no_output: bool = False
    verdict: JudgeVerdict | None = None
    source: str = ""
    """Where the verdict came from: run / shared / samples (cache hits), local (no output), request."""


@dataclass
class JudgeSummary:
    """What one ``judge_run`` did (and, for a dry run, would do)."""

    run_dir: Path
    judge: str
    host: str | None
    rubrics: dict[str, str] = field(default_factory=dict)
    """Rubric name -> version."""
    tasks: dict[str, list[str]] = field(default_factory=dict)
    """Task -> rubrics applied to it."""
    n_jobs: int = 0
    """(item, rubric) pairs the rubrics apply to."""
    n_cached: int = 0
    n_no_output: int = 0
    n_to_request: int = 0
    n_requested: int = 0
    """Items whose request finished (successfully or not) in this call."""
    n_not_applicable: int = 0
    n_errors: int = 0
    """Judge errors among the resulting verdicts (excluded from judged accuracy)."""
    requests: int = 0
    """HTTP requests sent in this call (retries included)."""
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    prices: dict[str, Any] = field(default_factory=dict)
    estimate: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    stopped: str | None = None
    """Why judging stopped early (budget, credentials, interruption), else None."""
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Task -> rubric -> summary (the dicts written to ``TaskResult.judge``)."""

    @property
    def exit_code(self) -> int:
        if self.dry_run:
            return int(ExitCode.OK)
        if self.stopped:
            return int(ExitCode.REMOTE)
        return int(ExitCode.SAMPLE_ERRORS if self.n_errors else ExitCode.OK)

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        d = asdict(self)
        d["run_dir"] = str(self.run_dir)
        return d


# ----------------------------------------------------------------------------- prompts


def item_context(rec: SampleRecord) -> dict[str, Any]:
    """The variables rubric templates see for one record (see ``TEMPLATE_VARIABLES``)."""
    s = rec.sample
    text = rec.generation.text or ""
    think = think_text(text)
    refs = [{"text": r.text, "t": r.t} for r in s.reference_steps]
    timeline = "\n".join(
        f"{i}. [{r['t']:g} s] {r['text']}" if r["t"] is not None else f"{i}. {r['text']}"
        for i, r in enumerate(refs, 1))
    return {
        "question": s.question,
        "options": dict(s.options),
        "options_block": "\n".join(f"{k}: {v}" for k, v in s.options.items()),
        "answer": s.answer,
        "question_type": s.question_type,
        "is_mc": s.question_type == "multiple-choice" and bool(s.options),
        "response": text,
        "final_answer": answer_text(text) or "",
        "reasoning": (think if think is not None else text).strip(),
        "steps": list(rec.score.steps) if rec.score is not None else [],
        "reference_steps": refs,
        "reference_timeline": timeline,
        "task": rec.task,
        "sample_id": s.id,
        "metadata": dict(s.metadata),
    }


def verdict_fingerprint(judge_model: str, rubric: Rubric, messages: list[dict[str, str]],
                        rec: SampleRecord) -> str:
    """Cache key: judge model, rubric name + version, rendered prompt, generation settings, reply
    schema and the sample content (its key, gold answer and the model's response)."""
    return fingerprint({
        "judge": judge_model,
        "rubric": rubric.name,
        "rubric_version": rubric.version,
        "messages": messages,
        "generation": {"max_tokens": rubric.max_tokens, "temperature": rubric.temperature},
        "schema": rubric.schema,
        "sample": {"key": rec.key, "id": rec.sample.id, "answer": rec.sample.answer,
                   "question": rec.sample.question},
        "response": rec.generation.text,
    })


def _no_output(rec: SampleRecord) -> bool:
    return rec.generation.error is not None or not (rec.generation.text or "").strip()


def _local_verdict(job: Job, judge_model: str, rec: SampleRecord) -> JudgeVerdict:
    why = f"{NO_OUTPUT} ({'generation error: ' + rec.generation.error.kind if rec.generation.error else 'empty reply'}); " \
          "not sent to the judge"
    r = job.rubric
    if r.kind == "correctness":
        return JudgeVerdict(judge=judge_model, rubric=r.name, rubric_version=r.version, fingerprint=job.fp,
                            score=0.0, correct=False, extracted_answer="", rationale=why)
    return JudgeVerdict(judge=judge_model, rubric=r.name, rubric_version=r.version, fingerprint=job.fp,
                        score=r.scale[0] if r.scale else 0.0, rationale=why)


# ----------------------------------------------------------------------------- selection


def _split(value: str | list[str] | tuple[str, ...] | None) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [p.strip() for v in items for p in str(v).split(",") if p.strip()]


def select_rubrics(records: list[SampleRecord], specs: dict[str, TaskSpec], rubrics: dict[str, Rubric],
                   wanted: list[str], tasks: list[str]) -> dict[str, list[Rubric]]:
    """Task -> rubrics to apply. Explicit ``wanted`` rubrics apply to every task; otherwise each
    task gets the rubrics whose ``default_for`` matches it."""
    present = list(dict.fromkeys(r.task for r in records))
    if tasks:
        unknown = [t for t in tasks if t not in present]
        if unknown:
            raise UsageError(f"task(s) {unknown} are not in this run",
                             hint="tasks in the run: " + ", ".join(present))
        present = [t for t in present if t in tasks]
    chosen = [get_rubric(n, rubrics) for n in wanted]
    out: dict[str, list[Rubric]] = {}
    for task in present:
        if chosen:
            out[task] = chosen
            continue
        spec = specs.get(task)
        extractor = spec.scoring.extractor if spec is not None else None
        has_refs = any(r.sample.reference_steps for r in records if r.task == task)
        defaults = [r for _, r in sorted(rubrics.items()) if r.is_default_for(task, extractor, has_refs)]
        if defaults:
            out[task] = defaults
    if not out:
        raise UsageError(f"no default judge rubric applies to the tasks of this run ({', '.join(present)})",
                         hint="pass --rubric NAME (available: " + ", ".join(sorted(rubrics)) + ")")
    return out


# ----------------------------------------------------------------------------- main entry


_now = utc_now


def _schema_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name)[:64] or "verdict"


def _estimate(jobs: list[Job], prices: Prices) -> dict[str, Any]:
    prompt = sum(estimate_prompt_tokens(j.messages) for j in jobs)
    typical = sum(j.rubric.expected_completion_tokens for j in jobs)
    upper = sum(j.rubric.max_tokens for j in jobs)
    return {"requests": len(jobs), "prompt_tokens": prompt, "completion_tokens": typical,
            "completion_tokens_max": upper, "cost_usd": prices.cost(prompt, typical),
            "cost_usd_max": prices.cost(prompt, upper),
            "method": "prompt characters / 4 + 4 per message; completion: the rubric's typical "
                      "reply length (max_tokens for the upper bound)"}


def _say(console: Any, text: str) -> None:
    if console is not None:
        console.print(text, highlight=False)


def judge_run(
    run_dir: str | os.PathLike,
    judge_model: str = DEFAULT_JUDGE,
    *,
    rubric: str | list[str] | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    concurrency: int = 4,
    dry_run: bool = False,
    console: Any = None,
    **opts: Any,
) -> JudgeSummary:
    """Judge the items of a saved run and record verdicts and summaries in the run directory.

    Options (``opts``): ``rubrics_dir`` (folder or list of folders with extra rubrics),
    ``tasks`` (only these tasks), ``rpm`` (requests per minute), ``max_requests`` /
    ``max_tokens`` (budget for this call: HTTP requests incl. retries / total tokens),
    ``price_in`` / ``price_out`` (USD per 1M tokens), ``timeout`` (seconds per attempt, 60),
    ``max_retries`` (5), ``backoff_base`` (1.0 s), ``backoff_max`` (30 s), ``retry_errors``
    (re-send items whose cached verdict is a judge error), ``shared_cache`` (folder; default
    ``$MOSSEVAL_JUDGE_CACHE``), ``fsync`` (True), ``progress`` (True), ``wait`` (wait for another
    writer of the run directory instead of failing), ``max_response_bytes`` (reply size cap).

    Holds the run directory's writer lock while it works (not for a dry run).

    Raises :class:`~mosseval.errors.RemoteError` (after saving what was judged) when the budget
    runs out or the credentials are refused; ``KeyboardInterrupt`` after saving on Ctrl-C.
    """
    known = {"rubrics_dir", "tasks", "rpm", "max_requests", "max_tokens", "price_in", "price_out", "timeout",
             "max_retries", "backoff_base", "backoff_max", "retry_errors", "shared_cache", "fsync", "progress",
             "wait", "max_response_bytes"}
    bad = set(opts) - known
    if bad:
        raise UsageError(f"unknown judge option(s) {sorted(bad)}", hint="known: " + ", ".join(sorted(known)))
    if not judge_model or not str(judge_model).strip():
        raise UsageError("the judge model name is empty", hint="e.g. --judge gpt-4o")
    if concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1 (got {concurrency})")
    for name in ("max_requests", "max_tokens", "rpm"):
        v = opts.get(name)
        if v is not None and v <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be positive (got {v})")
    run_dir = Path(run_dir)
    rubrics_dir = opts.get("rubrics_dir")
    extra_dirs = _split(rubrics_dir) if isinstance(rubrics_dir, str) else [str(p) for p in rubrics_dir or []]
    rubrics = load_rubrics(extra_dirs)
    loaded = load_run(run_dir)
    log = loaded.log
    records = [r for r in loaded.records if r.score is not None]
    if not records:
        raise UsageError(f"{run_dir} has no finished samples to judge",
                         hint="run (or resume) `mosseval run` first")
    plan = select_rubrics(records, log.task_specs, rubrics, _split(rubric), _split(opts.get("tasks")))
    base_url = base_url or os.environ.get(BASE_URL_ENV) or None
    from mosseval.openai_client import host_of

    host = host_of(base_url or os.environ.get("OPENAI_BASE_URL") or None)
    prices = prices_for(judge_model, opts.get("price_in"), opts.get("price_out"))
    shared = opts.get("shared_cache") or os.environ.get(SHARED_ENV) or None
    summary = JudgeSummary(run_dir=run_dir, judge=judge_model, host=host, dry_run=dry_run,
                           prices=prices.as_dict())
    used: dict[str, Rubric] = {}
    for task, rs in plan.items():
        summary.tasks[task] = [r.name for r in rs]
        for r in rs:
            used[r.name] = r
    summary.rubrics = {n: r.version for n, r in used.items()}

    # -- render every prompt and look it up --------------------------------------------------
    jobs: list[Job] = []
    by_key = {r.key: r for r in records}
    applicable: dict[tuple[str, str], list[int]] = {}
    for rec in records:
        rs = plan.get(rec.task)
        if not rs:
            continue
        ctx = item_context(rec)
        for r in rs:
            counts = applicable.setdefault((rec.task, r.name), [0, 0])
            if not r.applies_to_item(ctx):
                counts[1] += 1
                summary.n_not_applicable += 1
                continue
            counts[0] += 1
            messages = r.render(ctx)
            jobs.append(Job(rec.key, rec.task, r, messages, verdict_fingerprint(judge_model, r, messages, rec),
                            no_output=_no_output(rec)))
    summary.n_jobs = len(jobs)

    lock = run_lock(run_dir, wait=bool(opts.get("wait")), say=lambda t: _say(console, t)) if not dry_run else _NullCtx()
    with lock:
        cache = VerdictCache(run_dir, Path(shared) if shared else None, fsync=opts.get("fsync", True))
        try:
            todo: list[Job] = []
            for job in jobs:
                rec = by_key[job.key]
                if job.no_output:
                    job.verdict, job.source = _local_verdict(job, judge_model, rec), "local"
                    summary.n_no_output += 1
                    continue
                hit, where = cache.get(job.fp)
                if hit is None and rec.score is not None:
                    old = rec.score.judge.get(job.rubric.name)
                    if old is not None and old.fingerprint == job.fp and old.error is None:
                        hit, where = old, "samples"
                if hit is not None and not (hit.error and opts.get("retry_errors")):
                    job.verdict, job.source = hit, where
                    summary.n_cached += 1
                    continue
                todo.append(job)
            summary.n_to_request = len(todo)
            summary.estimate = _estimate(todo, prices)
            _print_plan(console, summary, used, plan)
            if dry_run:
                return summary
            for job in jobs:  # make the run's cache self-contained (hits from the shared cache / samples)
                if job.source in ("shared", "samples") and job.verdict is not None:
                    cache.put(job.key, job.verdict, run_only=True)
            if todo:
                try:
                    _request_all(todo, judge_model, base_url, api_key, concurrency, cache, summary, prices,
                                 console, {**opts, "ledger": run_dir / REQUESTS_FILE})
                except RemoteError as exc:  # before any request (no API key for the endpoint)
                    summary.stopped = exc.message
                    raise
        finally:
            cache.close()
            if not dry_run:
                _persist(run_dir, jobs, plan, applicable, judge_model, summary, used, prices)
    _print_results(console, summary)
    if summary.stopped and summary.stopped.startswith("interrupted"):
        raise KeyboardInterrupt
    if summary.stopped:
        from mosseval.openai_client import AuthError

        exc = getattr(summary, "_stop_exc", None)
        if isinstance(exc, AuthError):
            raise exc
        raise _StoppedError(summary)
    return summary


def _StoppedError(summary: JudgeSummary) -> JudgeStoppedError:
    done = summary.n_cached + summary.n_no_output + summary.n_requested
    return JudgeStoppedError(f"judging stopped early: {summary.stopped}; {done} of {summary.n_jobs} verdicts are "
                             f"saved in {summary.run_dir}", summary=summary,
                             hint="re-run the same `mosseval judge` command to continue (cached verdicts cost nothing)")


class _NullCtx:
    def __enter__(self) -> _NullCtx:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def _request_all(todo: list[Job], judge_model: str, base_url: str | None, api_key: str | None,
                 concurrency: int, cache: VerdictCache, summary: JudgeSummary, prices: Prices, console: Any,
                 opts: dict[str, Any]) -> None:
    from mosseval.openai_client import ChatClient

    key_env = API_KEY_ENV if os.environ.get(API_KEY_ENV) else "OPENAI_API_KEY"
    from mosseval.fileio import JsonlAppender

    ledger = JsonlAppender(opts["ledger"], fsync=bool(opts.get("fsync", True)))
    invocation_id = f"{_now()}-{os.getpid()}"

    def account(event: dict[str, Any]) -> None:
        ledger.write_json({"at": _now(), "invocation": invocation_id, "judge": judge_model, **event})

    client = ChatClient(
        judge_model, base_url=base_url, api_key=api_key, api_key_env=key_env,
        timeout=float(opts.get("timeout") or 60.0), max_retries=int(opts.get("max_retries", 5)),
        concurrency=concurrency, rpm=opts.get("rpm"), budget_requests=opts.get("max_requests"),
        budget_tokens=opts.get("max_tokens"), backoff_base=float(opts.get("backoff_base", 1.0)),
        backoff_max=float(opts.get("backoff_max", 30.0)), on_request=account,
        **({"max_response_bytes": int(opts["max_response_bytes"])} if opts.get("max_response_bytes") else {}),
    )
    stop = threading.Event()

    def work(job: Job) -> tuple[JudgeVerdict, bool]:
        if stop.is_set():
            raise _Skipped()
        r = job.rubric
        res = client.complete(job.messages, json_schema=r.schema, schema_name=_schema_name(r.name), strict=True,
                              max_tokens=r.max_tokens, temperature=r.temperature)
        base = dict(judge=judge_model, rubric=r.name, rubric_version=r.version, fingerprint=job.fp,
                    usage=res.usage if (res.usage.total_tokens or res.usage.prompt_tokens) else None)
        if res.error is not None and res.error_kind != "parse":
            # transport / HTTP / empty reply: recorded, not cached (a re-run tries again), except a
            # reply with no content (a refusal), which was paid for
            return JudgeVerdict(**base, error=f"{res.error_kind}: {res.error}"), res.error_kind == "empty"
        pv = parse_verdict(r.kind, r.fields, res.text, res.parsed if res.error is None else None, r.scale)
        if pv.error:
            return JudgeVerdict(**base, error=pv.error, rationale=None), True
        return JudgeVerdict(**base, score=pv.score, correct=pv.correct, extracted_answer=pv.extracted_answer,
                            rationale=pv.rationale), True

    progress = make_progress(console if opts.get("progress", True) else None, len(todo), f"judge {judge_model}",
                             transient=True)
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="mosseval-judge")
    futures: dict[Future, Job] = {pool.submit(work, j): j for j in todo}

    handled: set[Future] = set()

    def handle(fut: Future) -> None:
        if fut in handled or fut.cancelled():
            return
        handled.add(fut)
        job = futures[fut]
        exc = fut.exception()
        if exc is None:
            verdict, cacheable = fut.result()
            job.verdict, job.source = verdict, "request"
            summary.n_requested += 1
            if cacheable:
                cache.put(job.key, verdict)
            progress.advance()
            return
        if isinstance(exc, _Skipped):
            return
        if isinstance(exc, RemoteError):  # budget exhausted, credentials refused: stop, keep what is done
            if summary.stopped is None:
                summary.stopped = exc.message
                summary._stop_exc = exc  # type: ignore[attr-defined]
            stop.set()
            return
        raise exc

    try:
        with progress:
            try:
                for fut in as_completed(futures):
                    handle(fut)
                    if stop.is_set():
                        for f in futures:
                            f.cancel()  # queued ones; those in flight finish and are kept
            except KeyboardInterrupt:
                summary.stopped = "interrupted"
                stop.set()
                for f in futures:
                    f.cancel()
                for f in futures:  # requests already in flight are paid for: keep their verdicts
                    try:
                        if not f.cancelled():
                            f.exception()
                            handle(f)
                    except KeyboardInterrupt:
                        break
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        st = client.stats
        summary.requests += st["requests"]
        summary.retries += st["retries"]
        summary.prompt_tokens += st["prompt_tokens"]
        summary.completion_tokens += st["completion_tokens"]
        summary.cost_usd = prices.cost(summary.prompt_tokens, summary.completion_tokens)
        client.close()
        ledger.close()


class _Skipped(Exception):
    pass


def _persist(run_dir: Path, jobs: list[Job], plan: dict[str, list[Rubric]],
             applicable: dict[tuple[str, str], list[int]], judge_model: str, summary: JudgeSummary,
             used: dict[str, Rubric], prices: Prices) -> None:
    """Write verdicts into samples.jsonl and summaries into run.json (both atomically)."""
    current = {(j.key, j.rubric.name): j for j in jobs}
    records = read_records(run_dir)
    new_records: list[SampleRecord] = []
    changed = False
    for rec in records:
        rs = plan.get(rec.task)
        if not rs or rec.score is None:
            new_records.append(rec)
            continue
        judge = dict(rec.score.judge)
        for r in rs:
            job = current.get((rec.key, r.name))
            if job is None:
                continue
            if job.verdict is not None:
                if judge.get(r.name) != job.verdict:
                    judge[r.name] = job.verdict
                    changed = True
            elif r.name in judge and judge[r.name].fingerprint != job.fp:
                del judge[r.name]  # a stale verdict (other judge / prompt / version) is never kept
                changed = True
        if judge != rec.score.judge:
            rec = rec.model_copy(update={"score": rec.score.model_copy(update={"judge": judge})})
        new_records.append(rec)
    if changed:
        rewrite_records(run_dir, new_records)

    log = read_run_log(run_dir)
    results, n_err = apply_summaries(log, new_records, plan, applicable, judge_model, prices)
    summary.results = results
    summary.n_errors = n_err

    # run-level accounting
    prev = dict(log.judge or {})
    verdicts = [rec.score.judge[r.name] for rec in new_records if rec.score is not None
                for r in plan.get(rec.task, []) if r.name in rec.score.judge]
    p_tok = sum((v.usage.prompt_tokens or 0) for v in verdicts if v.usage is not None)
    c_tok = sum((v.usage.completion_tokens or 0) for v in verdicts if v.usage is not None)
    invocation = {
        "at": _now(), "judge": judge_model, "host": summary.host, "rubrics": dict(summary.rubrics),
        "jobs": summary.n_jobs, "cache_hits": summary.n_cached, "no_output": summary.n_no_output,
        "sent": summary.n_requested, "requests": summary.requests, "retries": summary.retries,
        "prompt_tokens": summary.prompt_tokens, "completion_tokens": summary.completion_tokens,
        "cost_usd": summary.cost_usd, "judge_errors": n_err, "stopped": summary.stopped,
    }
    rubric_info = dict(prev.get("rubrics") or {})
    for name, r in used.items():
        rubric_info[name] = {"version": r.version, "kind": r.kind, "official": r.official, "judge": judge_model,
                             "description": r.description, "builtin": _is_builtin(r)}
    totals = _ledger_totals(run_dir, prev)
    log.judge = {
        "judge": judge_model,
        "host": summary.host,
        "updated_at": _now(),
        "rubrics": rubric_info,
        "verdicts": len(verdicts),
        "judge_errors": n_err,
        "tokens": {"prompt": p_tok, "completion": c_tok, "total": p_tok + c_tok},
        "cost_usd": prices.cost(p_tok, c_tok),
        "prices": prices.as_dict(),
        "cache_file": CACHE_FILE,
        "totals": totals,
        "last_invocation": invocation,
        "history": (list(prev.get("history") or []) + [invocation])[-HISTORY_LIMIT:],
        "conventions": "judge errors are excluded from judged accuracy and counted in n_errors; items "
                       "with no model output are not sent and count as wrong (correctness) or the "
                       "scale minimum (score)",
    }
    write_run_log(run_dir, log)


def _ledger_totals(run_dir: Path, prev: dict[str, Any]) -> dict[str, Any]:
    """Requests and tokens of every judge invocation on this run, killed ones included, from the
    request ledger (``judge_requests.jsonl``); totals recorded before the ledger existed are kept."""
    import json

    from mosseval.fileio import iter_jsonl

    base = dict((prev.get("totals") or {}).get("totals_before_ledger") or {})
    if not base and prev.get("totals") and not (run_dir / REQUESTS_FILE).exists():
        base = {k: int(v) for k, v in prev["totals"].items() if k in ("requests", "prompt_tokens", "completion_tokens")}
    out = {"requests": int(base.get("requests", 0)), "prompt_tokens": int(base.get("prompt_tokens", 0)),
           "completion_tokens": int(base.get("completion_tokens", 0))}
    invocations: set[str] = set()
    for _, line in iter_jsonl(run_dir / REQUESTS_FILE):
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("event") == "sent":
            out["requests"] += 1
            invocations.add(str(ev.get("invocation")))
            continue
        out["prompt_tokens"] += int(ev.get("prompt_tokens") or 0)
        out["completion_tokens"] += int(ev.get("completion_tokens") or 0)
    out["invocations"] = len(invocations)
    if base:
        out["totals_before_ledger"] = base
    return out


def apply_summaries(log: Any, records: list[SampleRecord], plan: dict[str, list[Rubric]],
                    applicable: dict[tuple[str, str], list[int]], judge_model: str | None,
                    prices: Prices | None = None) -> tuple[dict[str, dict[str, Any]], int]:
    """Recompute ``TaskResult.judge[rubric]`` (tasks and groups) of ``log`` in place from the verdicts
    in ``records``; return (task -> rubric -> summary, number of judge errors)."""
    specs = log.task_specs
    by_task: dict[str, list[SampleRecord]] = {}
    for rec in records:
        by_task.setdefault(rec.task, []).append(rec)
    out: dict[str, dict[str, Any]] = {}
    n_err = 0
    for task, rs in plan.items():
        res = log.results.get(task)
        spec = specs.get(task)
        for r in rs:
            n_app, n_na = applicable.get((task, r.name), [0, 0])
            s = summarize_rubric(r, judge_model, by_task.get(task, []), n_app, n_na,
                                 breakdowns=list(spec.breakdowns) if spec is not None else [])
            if prices is not None:
                s["cost_usd"] = prices.cost(s["tokens"]["prompt"], s["tokens"]["completion"])
            n_err += s["n_errors"]
            out.setdefault(task, {})[r.name] = s
            if res is not None:
                res.judge[r.name] = s
    members: dict[str, list[str]] = {}
    for ref in log.spec.tasks:
        if ref.group:
            members.setdefault(ref.group, []).append(ref.name)
    for gname, names in members.items():  # groups: the same summaries over the member tasks' items
        gres = log.groups.get(gname)
        if gres is None:
            continue
        by_name = {r.name: r for t in names for r in plan.get(t, [])}
        for rn, r in sorted(by_name.items()):
            recs = [rec for t in names if r in plan.get(t, []) for rec in by_task.get(t, [])]
            n_app = sum(applicable.get((t, rn), [0, 0])[0] for t in names)
            n_na = sum(applicable.get((t, rn), [0, 0])[1] for t in names)
            gres.judge[rn] = summarize_rubric(r, judge_model, recs, n_app, n_na, breakdowns=["task"])
    return out, n_err


def refresh_summaries(run_dir: str | os.PathLike, rubrics_dir: list[str] | None = None) -> Any:
    """Recompute the judge summaries in run.json from the verdicts already in samples.jsonl (no
    requests): e.g. after ``mosseval score`` re-scored the run (agreement with the rule-based score
    changes). Rubrics no longer available keep their old summaries. Returns the new RunLog."""
    run_dir = Path(run_dir)
    rubrics = load_rubrics(rubrics_dir)
    with run_lock(run_dir):
        return _refresh_locked(run_dir, rubrics)


def _refresh_locked(run_dir: Path, rubrics: dict[str, Rubric]) -> Any:
    loaded = load_run(run_dir)
    plan: dict[str, list[Rubric]] = {}
    applicable: dict[tuple[str, str], list[int]] = {}
    for rec in loaded.records:
        if rec.score is None:
            continue
        for name in rec.score.judge:
            if name in rubrics and rubrics[name] not in plan.setdefault(rec.task, []):
                plan[rec.task].append(rubrics[name])
    for rec in loaded.records:
        if rec.score is None or rec.task not in plan:
            continue
        ctx = item_context(rec)
        for r in plan[rec.task]:
            applicable.setdefault((rec.task, r.name), [0, 0])[0 if r.applies_to_item(ctx) else 1] += 1
    log = loaded.log
    judges = {v.judge for rec in loaded.records if rec.score is not None for v in rec.score.judge.values()}
    prices = prices_for(judges.pop()) if len(judges) == 1 else None
    apply_summaries(log, loaded.records, {t: rs for t, rs in plan.items() if rs}, applicable, None, prices)
    write_run_log(run_dir, log)
    return log


def _is_builtin(r: Rubric) -> bool:
    try:
        from mosseval.paths import resource_dir

        return r.folder is not None and r.folder.resolve() == resource_dir("judges").resolve()
    except FileNotFoundError:
        return False


# ----------------------------------------------------------------------------- output


def _print_plan(console: Any, s: JudgeSummary, used: dict[str, Rubric], plan: dict[str, list[Rubric]]) -> None:
    if console is None:
        return
    rub = ", ".join(f"{n} v{v}" for n, v in s.rubrics.items())
    _say(console, f"judge [bold]{s.judge}[/] at {s.host}: {rub} on {', '.join(plan)}")
    e = s.estimate
    line = (f"  {s.n_jobs} item verdicts: {s.n_cached} cached, {s.n_no_output} without model output (not sent), "
            f"{s.n_to_request} to request")
    if s.n_not_applicable:
        line += f"; {s.n_not_applicable} not applicable"
    _say(console, line)
    if s.n_to_request:
        cost = (f"≈{fmt_usd(e['cost_usd'])} (≤{fmt_usd(e['cost_usd_max'])}) at {_price_text(s.prices)}"
                if e["cost_usd"] is not None else "cost unknown: " + _price_text(s.prices))
        _say(console, f"  estimate: {e['requests']} requests, ≈{e['prompt_tokens']:,} prompt + "
                      f"≈{e['completion_tokens']:,} completion tokens (≤{e['completion_tokens_max']:,}); {cost}")
    if s.dry_run:
        _say(console, "  dry run: no request was sent")


def _price_text(p: dict[str, Any]) -> str:
    if p.get("input_per_1m") is None or p.get("output_per_1m") is None:
        return "unknown prices (pass --price-in / --price-out)"
    return f"${p['input_per_1m']:g}/${p['output_per_1m']:g} per 1M in/out tokens ({p['source']})"


def _fmt_est(d: dict[str, Any] | None) -> str:
    if not d or d.get("value") is None:
        return "–"
    if d.get("ci_low") is None:
        return f"{d['value']:.3f}"
    return f"{d['value']:.3f} ({d['ci_low']:.2f}–{d['ci_high']:.2f})"


def _print_results(console: Any, s: JudgeSummary) -> None:
    if console is None:
        return
    from rich.table import Table

    t = Table(title=f"judge {s.judge}", title_justify="left")
    for col in ("task", "rubric", "n", "err", "judged (95% CI)", "agree", "κ"):
        t.add_column(col, justify="left" if col in ("task", "rubric") else "right", overflow="fold")
    for task, by_r in s.results.items():
        for name, r in by_r.items():
            main = r.get("accuracy") if r["kind"] == "correctness" else r.get("mean_score")
            label = _fmt_est(main) + (" official" if r.get("official_accuracy") else "")
            ag = r.get("agreement") or {}
            kappa = ag.get("cohen_kappa")
            n = str(r["n"]) if not r["n_pending"] else f"{r['n']}/{r['n'] + r['n_pending']}"
            t.add_row(task, name, n, str(r["n_errors"]), label,
                      "–" if not ag else f"{ag['rate']:.3f}", "–" if kappa is None else f"{kappa:.2f}")
    console.print(t)
    _say(console, f"requests: {s.requests} (retries {s.retries}), cache hits: {s.n_cached}, tokens: "
                  f"{s.prompt_tokens:,} prompt + {s.completion_tokens:,} completion, cost ≈ {fmt_usd(s.cost_usd)} "
                  f"at {_price_text(s.prices)}")
    if s.n_errors:
        _say(console, f"[yellow]{s.n_errors} judge error(s)[/]: excluded from judged accuracy and listed in "
                      "samples.jsonl (score.judge.<rubric>.error); re-run with --retry-errors to try again")


__all__ = ["judge_run", "refresh_summaries", "apply_summaries", "JudgeSummary", "item_context", "verdict_fingerprint", "select_rubrics", "load_rubrics",
           "get_rubric", "Rubric", "DEFAULT_JUDGE"]
