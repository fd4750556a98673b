"""Sending the judge's requests: bounded concurrency, rate limit, retries, budget, structured output.

Every verdict is appended to the cache as it arrives, so a killed or interrupted judge loses only the
requests in flight; a budget or credential stop cancels the queued requests and keeps what is done.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mosseval.errors import RemoteError
from mosseval.judge.cache import VerdictCache
from mosseval.judge.plan import Job, prior_metrics
from mosseval.judge.records import JudgeReport
from mosseval.progress import Progress
from mosseval.records import JudgeVerdict

API_KEY_ENV = "MOSSEVAL_JUDGE_API_KEY"


@dataclass
class ClientSettings:
    judge_model: str
    base_url: str | None = None
    api_key: str | None = None
    concurrency: int = 4
    rpm: float | None = None
    max_requests: int | None = None
    max_tokens: int | None = None
    timeout: float = 60.0
    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    max_response_bytes: int | None = None
    ledger: Path | None = None
    """``judge_requests.jsonl``: every request is accounted there as it is made."""
    fsync: bool = True


class _Skipped(Exception):
    pass


def _schema_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name)[:64] or "verdict"


ProgressFactory = Callable[[int, str], Progress]
"""``(total, label) -> Progress`` (``mosseval.progress.progress`` bound to a console)."""


def request_verdicts(todo: list[Job], settings: ClientSettings, cache: VerdictCache, report: JudgeReport,
                     progress: ProgressFactory | None = None) -> RemoteError | None:
    """Request a verdict for every job (setting ``job.verdict``); account requests and tokens in
    ``report``. Returns the error that stopped judging early (budget exhausted, credentials refused) or
    None; raises ``KeyboardInterrupt`` after keeping the verdicts already paid for."""
    from mosseval.clock import utc_now
    from mosseval.fileio import JsonlAppender
    from mosseval.judge.extensions import parsers
    from mosseval.openai_client import ChatClient

    key_env = API_KEY_ENV if os.environ.get(API_KEY_ENV) else "OPENAI_API_KEY"
    ledger = JsonlAppender(settings.ledger, fsync=settings.fsync) if settings.ledger is not None else None
    invocation = f"{utc_now()}-{os.getpid()}"

    def account(event: dict[str, Any]) -> None:
        if ledger is not None:
            ledger.write_json({"at": utc_now(), "invocation": invocation, "judge": settings.judge_model, **event})

    client = ChatClient(
        settings.judge_model, base_url=settings.base_url, api_key=settings.api_key, api_key_env=key_env,
        timeout=settings.timeout, max_retries=settings.max_retries, concurrency=settings.concurrency,
        rpm=settings.rpm, budget_requests=settings.max_requests, budget_tokens=settings.max_tokens,
        backoff_base=settings.backoff_base, backoff_max=settings.backoff_max, on_request=account,
        **({"max_response_bytes": int(settings.max_response_bytes)} if settings.max_response_bytes else {}),
    )
    stop = threading.Event()
    stopped: list[RemoteError] = []

    def work(job: Job) -> tuple[JudgeVerdict, bool]:
        if stop.is_set():
            raise _Skipped()
        r = job.rubric
        res = client.complete(job.messages, json_schema=r.schema if r.structured else None,
                              schema_name=r.schema_name or _schema_name(r.name), strict=True,
                              max_tokens=r.max_tokens, temperature=r.temperature)
        base = dict(judge=settings.judge_model, rubric=r.name, rubric_version=r.version, fingerprint=job.fp,
                    usage=res.usage if (res.usage.total_tokens or res.usage.prompt_tokens) else None)
        if res.error is not None and res.error_kind != "parse":
            # transport / HTTP / empty reply: recorded, not cached (a re-run tries again), except a reply
            # with no content (a refusal), which was paid for
            return JudgeVerdict(**base, error=f"{res.error_kind}: {res.error}"), res.error_kind == "empty"
        pv = parsers.load(r.parser)(r, res.text, res.parsed if res.error is None else None)
        if pv.error:
            return JudgeVerdict(**base, error=pv.error), True
        return JudgeVerdict(**base, score=pv.score, correct=pv.correct, extracted_answer=pv.extracted_answer,
                            rationale=pv.rationale, metrics={**prior_metrics(job), **pv.metrics}), True

    pool = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="mosseval-judge")
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
            report.n_requested += 1
            if cacheable:
                cache.put(job.key, verdict)
            bar.advance()
            return
        if isinstance(exc, _Skipped):
            return
        if isinstance(exc, RemoteError):  # budget exhausted, credentials refused: stop, keep what is done
            if not stopped:
                stopped.append(exc)
                report.stopped = exc.message
            stop.set()
            return
        raise exc

    bar = progress(len(todo), f"judge {settings.judge_model}") if progress is not None else Progress()
    try:
        with bar:
            for fut in as_completed(futures):
                handle(fut)
                if stop.is_set():
                    for f in futures:
                        f.cancel()  # queued ones; those in flight finish and are kept
    except KeyboardInterrupt:
        report.stopped = "interrupted"
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
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        st: dict[str, Any] = client.stats
        report.requests += st["requests"]
        report.retries += st["retries"]
        report.prompt_tokens += st["prompt_tokens"]
        report.completion_tokens += st["completion_tokens"]
        report.cost_usd = report.prices.cost(report.prompt_tokens, report.completion_tokens)
        client.close()
        if ledger is not None:
            ledger.close()
    return stopped[0] if stopped else None


__all__ = ["ClientSettings", "ProgressFactory", "request_verdicts", "API_KEY_ENV"]
