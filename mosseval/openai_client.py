"""A small, reusable client for OpenAI-compatible chat-completions servers.

Used by the ``openai`` model backend (:mod:`mosseval.models.openai_api`), the judge and the
MOSS-Video construction pipeline. It wraps the official ``openai`` package (imported lazily; the
``api`` extra) with the package's own retries *disabled* and adds what an evaluation harness needs:

* **retries** with exponential backoff and full jitter on HTTP 408/409/425/429/5xx, timeouts and
  connection errors; a ``Retry-After`` / ``retry-after-ms`` header is honoured (capped at
  ``retry_after_cap`` seconds);
* a **total deadline per attempt** (``timeout`` seconds for one HTTP attempt, connection, headers
  and body together — not per socket read: a server that drips one byte at a time cannot hold a
  request past it);
* **no redirect to another origin**: a redirect to another scheme, host or port is refused (the
  prompt and frames are never re-sent elsewhere) and recorded as an error of kind ``"redirect"``;
  same-origin redirects are followed;
* a **response size cap** (``max_response_bytes``, default 4 MiB): a larger body is not read past
  the cap and is recorded as an error of kind ``"too_large"``;
* **bounded concurrency**: at most ``concurrency`` HTTP requests are in flight per client, whatever
  the number of calling threads; :meth:`ChatClient.complete_many` runs a batch on a thread pool and
  returns results in input order;
* a client-side **rate limiter** (``rpm`` requests per minute, evenly spaced);
* **structured output**: ``json_schema=`` sends ``response_format={"type": "json_schema", ...}``; if
  the server rejects it (HTTP 400/422) the same call is retried once with the schema as a system
  instruction instead, and when that goes through the client remembers that this server does not
  take ``response_format`` (later calls skip the failing attempt). Either way the reply is parsed
  with :func:`parse_json_object` (tolerates code fences and prose around one JSON object) into
  ``ChatResult.parsed``;
* **usage accounting** (prompt / completion / total tokens per result and per client:
  :attr:`ChatClient.stats`);
* a hard **budget** (``budget_requests`` HTTP requests, retries included; ``budget_tokens`` total
  tokens): once spent, the next request raises :class:`BudgetExhaustedError` (a
  :class:`~mosseval.errors.RemoteError`, exit code 7). Requests already in flight finish, so the
  token budget can be overshot by at most ``concurrency`` replies.

Errors
    Failures that concern one request (non-retriable 4xx, retries exhausted, timeouts, a body that
    is not JSON, a reply with no content, an unparsable structured reply) come back as
    ``ChatResult(text=None or the raw text, error="...", error_kind="...")`` — never as
    exceptions, so a batch keeps going. Failures that concern every request raise
    :class:`~mosseval.errors.RemoteError`: :class:`AuthError` (HTTP 401/403, or no API key for
    api.openai.com) and :class:`BudgetExhaustedError`. In :meth:`~ChatClient.complete_many` such an
    exception cancels the queued requests and carries the finished ones in ``exc.results`` (a list
    aligned with the input; ``None`` where nothing finished).

``error_kind`` values: ``"timeout"`` (the last attempt passed its deadline), ``"connection"``,
``"status"`` (an HTTP error status; see ``ChatResult.status``), ``"redirect"`` (a redirect to another
origin, refused), ``"too_large"`` (the body exceeded ``max_response_bytes``), ``"malformed"`` (the
body is not the expected JSON), ``"empty"`` (no message content, e.g. a refusal or a tool call),
``"parse"`` (structured output requested but the reply holds no JSON object; ``text`` keeps the reply).

Secrets
    ``base_url`` and the key come from the arguments or the environment (``OPENAI_BASE_URL`` /
    ``OPENAI_API_KEY``; ``base_url_env`` / ``api_key_env`` choose other variable names). The key is
    never stored in a result, never part of ``repr`` / :meth:`~ChatClient.describe`, and is
    scrubbed (with anything that looks like a bearer token) from every error message, log line and
    returned object. A server other than api.openai.com that needs no key gets the placeholder
    ``"EMPTY"`` (what vLLM / SGLang / Ollama expect).

Example::

    from mosseval.openai_client import ChatClient

    client = ChatClient("gpt-4o-mini", concurrency=8, rpm=500, budget_tokens=2_000_000)
    res = client.complete([{"role": "user", "content": "Say hi"}], max_tokens=16, temperature=0)
    if res.ok:
        print(res.text, res.usage.total_tokens)
    else:
        print(res.error_kind, res.error)

    # structured output (judge): parsed dict or an error of kind "parse"
    schema = {"type": "object", "properties": {"correct": {"type": "boolean"}},
              "required": ["correct"]}
    res = client.complete(msgs, json_schema=schema, schema_name="verdict")
    verdict = res.parsed

    # a batch, in order; per-item overrides via dicts
    results = client.complete_many([msgs_a, {"messages": msgs_b, "seed": 3}], max_tokens=64)

Logging goes to the ``mosseval.openai`` logger (retries at WARNING, everything scrubbed).
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import os
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from mosseval.errors import AuthError, BudgetExhaustedError, MissingDependencyError, RemoteError, UsageError
from mosseval.records import Usage
from mosseval.redact import is_secret_key, redact_text

__all__ = [
    "AuthError",
    "BudgetExhaustedError",
    "ChatClient",
    "ChatResult",
    "RateLimiter",
    "host_of",
    "parse_json_object",
]

log = logging.getLogger("mosseval.openai")

OPENAI_HOST = "api.openai.com"
DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024
"""Largest response body read per attempt (about a million tokens of text)."""
RETRIABLE_STATUS = frozenset({408, 409, 425, 429})
_GEN_KEYS = ("max_tokens", "temperature", "top_p", "seed", "stop", "json_schema", "schema_name",
             "strict", "extra_body", "timeout")
_BEARER_RE = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{4,}")
_SK_RE = re.compile(r"\bsk-[A-Za-z0-9_-]{8,}")


@dataclass
class ChatResult:
    """The outcome of one chat-completion call (after retries)."""

    text: str | None
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    error_kind: str | None = None
    status: int | None = None
    """HTTP status of the last attempt (None when no response arrived)."""
    attempts: int = 0
    """HTTP requests sent for this call (retries and a structured-output fallback included)."""
    raw: dict[str, Any] | None = None
    """The response JSON of the last successful attempt (scrubbed), else None."""
    parsed: Any = None
    """The JSON object found in the reply when ``json_schema`` was requested."""
    structured: str | None = None
    """How structured output was obtained: ``"json_schema"``, ``"prompt"`` (fallback) or None."""
    finish_reason: str | None = None
    latency_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def host_of(url: str | None) -> str:
    """``scheme://host[:port]`` of a URL with any user-info removed (safe to record)."""
    if not url:
        return f"https://{OPENAI_HOST}"
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}" if parts.scheme else host


def parse_json_object(text: str | None) -> Any:
    """The first JSON object in ``text`` (whole text, a fenced block, or a ``{...}`` span); None.

    Tolerates prose before/after and Markdown code fences; returns ``None`` when nothing parses.
    """
    if not text:
        return None
    s = text.strip()
    try:
        value = json.loads(s)
        if isinstance(value, dict):
            return value
    except ValueError:
        pass
    for m in re.finditer(r"```(?:json|JSON)?\s*(.*?)```", s, re.DOTALL):
        try:
            value = json.loads(m.group(1).strip())
            if isinstance(value, dict):
                return value
        except ValueError:
            continue
    decoder = json.JSONDecoder()
    start = s.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(s, start)
            if isinstance(value, dict):
                return value
        except ValueError:
            pass
        start = s.find("{", start + 1)
    return None


class RateLimiter:
    """Spaces request starts evenly: at most ``rpm`` per minute (thread-safe, no bursts)."""

    def __init__(self, rpm: float):
        if rpm <= 0:
            raise UsageError(f"rpm must be > 0, got {rpm}", hint="omit rpm to disable rate limiting")
        self.interval = 60.0 / float(rpm)
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Block until the next slot; return the seconds waited."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        wait_s = slot - now
        if wait_s > 0:
            time.sleep(wait_s)
        return max(wait_s, 0.0)


class _Scrubber:
    def __init__(self, secrets: Sequence[str]):
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def text(self, value: Any) -> str:
        return redact_text(str(value), self.secrets)

    def obj(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value) if self._dirty(value) else value
        if isinstance(value, dict):
            return {self.obj(k): self.obj(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.obj(v) for v in value]
        return value

    def _dirty(self, s: str) -> bool:
        return any(secret in s for secret in self.secrets) or bool(_BEARER_RE.search(s) or _SK_RE.search(s))


class _Outcome(Exception):
    """Internal: an attempt failed; ``retriable`` says whether to try again."""

    def __init__(self, kind: str, message: str, *, status: int | None = None, retriable: bool = False,
                 retry_after: float | None = None, rejects_schema: bool = False):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retriable = retriable
        self.retry_after = retry_after
        self.rejects_schema = rejects_schema


class ChatClient:
    """OpenAI-compatible chat client with retries, concurrency, rate and budget limits.

    Args:
        model: the model name sent with every request (``gpt-4o``, a vLLM served name, ...).
        base_url: server root including ``/v1``; default ``$OPENAI_BASE_URL`` (``base_url_env``),
            then api.openai.com.
        api_key: the key; default ``$OPENAI_API_KEY`` (``api_key_env``). Never recorded.
        timeout: seconds for one HTTP attempt.
        max_retries: extra attempts after the first on retriable failures.
        concurrency: most HTTP requests in flight at once (also the ``complete_many`` pool size).
        rpm: requests per minute (client-side), None for unlimited.
        budget_requests: most HTTP requests this client may send (retries count), None = no limit.
        budget_tokens: most total tokens (prompt + completion) this client may spend.
        backoff_base / backoff_max: full-jitter backoff: sleep ~ U(0, min(max, base * 2**(n-1))).
        retry_after_cap: longest honoured ``Retry-After`` (seconds).
        max_tokens_param: name of the length parameter (``max_tokens``; ``max_completion_tokens``
            for OpenAI reasoning models).
        default_headers: extra HTTP headers for every request.
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        base_url_env: str = "OPENAI_BASE_URL",
        timeout: float = 60.0,
        max_retries: int = 5,
        concurrency: int = 4,
        rpm: float | None = None,
        budget_requests: int | None = None,
        budget_tokens: int | None = None,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        retry_after_cap: float = 60.0,
        max_tokens_param: str = "max_tokens",
        default_headers: Mapping[str, str] | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        on_request: Callable[[dict[str, Any]], None] | None = None,
    ):
        if not model or not str(model).strip():
            raise UsageError("the chat model name is empty", hint="pass a model, e.g. gpt-4o")
        if timeout is None or timeout <= 0:
            raise UsageError(f"timeout must be > 0 seconds, got {timeout}")
        if max_retries < 0:
            raise UsageError(f"max_retries must be >= 0, got {max_retries}")
        if concurrency < 1:
            raise UsageError(f"concurrency must be >= 1, got {concurrency}")
        if max_tokens_param not in ("max_tokens", "max_completion_tokens"):
            raise UsageError(f"max_tokens_param must be max_tokens or max_completion_tokens, "
                             f"got {max_tokens_param!r}")
        for name, value in (("budget_requests", budget_requests), ("budget_tokens", budget_tokens)):
            if value is not None and value < 0:
                raise UsageError(f"{name} must be >= 0, got {value}")
        if max_response_bytes is None or int(max_response_bytes) < 1024:
            raise UsageError(f"max_response_bytes must be at least 1024, got {max_response_bytes}")

        self.model = str(model)
        base_url = base_url or os.environ.get(base_url_env) or None
        query: dict[str, str] | None = None
        url_secrets: list[str] = []
        if base_url is not None:
            parts = urlsplit(base_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise UsageError(f"base_url {host_of(base_url)!r} is not an http(s) URL",
                                 hint="e.g. base_url=http://localhost:8000/v1")
            url_secrets += [x for x in (parts.password, parts.username) if x]
            if parts.query:  # e.g. ?api-version=... or a gateway's ?token=...: sent with every request
                query = dict(parse_qsl(parts.query, keep_blank_values=True))
                url_secrets += [v for k, v in query.items() if is_secret_key(k)]
                base_url = urlunsplit(parts._replace(query="", fragment=""))
        self.base_url = base_url
        self.host = host_of(base_url)
        key = api_key or os.environ.get(api_key_env) or None
        is_openai = urlsplit(self.host).hostname == OPENAI_HOST
        if key is None:
            if is_openai:
                raise AuthError(
                    f"no API key for {OPENAI_HOST}: ${api_key_env} is not set",
                    hint=f"export {api_key_env}=... (or point base_url / ${base_url_env} at a local "
                         "OpenAI-compatible server, which needs no key)",
                )
            key = "EMPTY"
        self.api_key_env = api_key_env
        self._scrub = _Scrubber(([key] if key != "EMPTY" else []) + url_secrets)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.concurrency = int(concurrency)
        self.rpm = rpm
        self.budget_requests = budget_requests
        self.budget_tokens = budget_tokens
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.retry_after_cap = float(retry_after_cap)
        self.max_tokens_param = max_tokens_param
        self.max_response_bytes = int(max_response_bytes)
        self.on_request = on_request
        """Called with ``{"event": "sent"}`` just before every HTTP attempt and with ``{"event": "done",
        "status", "error_kind", "prompt_tokens", "completion_tokens"}`` after it, e.g. to account
        requests as they are made (an invocation killed with requests in flight still counts them)."""
        self._limiter = RateLimiter(rpm) if rpm else None
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._lock = threading.Lock()
        self._rng = random.Random()
        self._schema_supported: bool | None = None
        self._stats = {"requests": 0, "retries": 0, "errors": 0, "prompt_tokens": 0,
                       "completion_tokens": 0, "total_tokens": 0, "schema_fallbacks": 0}

        try:
            import openai
        except ImportError:
            raise MissingDependencyError(
                "the OpenAI-compatible client needs the 'openai' package, which is not installed",
                hint="install the extra with: pip install 'mosseval[api]' -c constraints.txt",
            ) from None
        self._openai = openai
        self._client = openai.OpenAI(
            api_key=key, base_url=base_url, timeout=self.timeout, max_retries=0,
            default_headers=dict(default_headers or {}) or None, default_query=query,
            http_client=_bounded_http_client(openai, self.timeout),
        )

    # ------------------------------------------------------------------ public

    def __repr__(self) -> str:
        return (f"ChatClient(model={self.model!r}, host={self.host!r}, concurrency={self.concurrency}, "
                f"timeout={self.timeout}, max_retries={self.max_retries}, rpm={self.rpm})")

    def describe(self) -> dict[str, Any]:
        """What identifies the remote model (safe to record: no key, no URL user-info or path)."""
        return {"model": self.model, "host": self.host}

    @property
    def stats(self) -> dict[str, int]:
        """Totals so far: requests (HTTP, retries included), retries, errors, tokens, fallbacks."""
        with self._lock:
            return dict(self._stats)

    def close(self) -> None:
        try:
            self._client.close()
        except Exception:  # pragma: no cover - best effort
            pass

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def complete(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop: str | list[str] | None = None,
        json_schema: Mapping[str, Any] | None = None,
        schema_name: str = "response",
        strict: bool = False,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> ChatResult:
        """Send one chat completion (with retries); see the module docstring for the contract.

        ``messages`` are OpenAI chat messages (content a string or a list of ``text`` /
        ``image_url`` parts). ``extra_body`` is merged into the JSON body (server-specific
        parameters such as vLLM's ``continue_final_message``). Raises only
        :class:`AuthError` / :class:`BudgetExhaustedError`.
        """
        t0 = time.monotonic()
        body: dict[str, Any] = {}
        for name, value in (("temperature", temperature), ("top_p", top_p), ("seed", seed),
                            ("stop", stop)):
            if value is not None:
                body[name] = value
        if max_tokens is not None:
            body[self.max_tokens_param] = int(max_tokens)
        msgs = [dict(m) for m in messages]
        structured: str | None = None
        if json_schema is not None:
            if self._schema_supported is False:
                structured = "prompt"
            else:
                structured = "json_schema"
        attempts = 0
        retries_left = self.max_retries
        fell_back = False
        while True:
            call_body = dict(body)
            call_msgs = msgs
            if structured == "json_schema":
                call_body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": schema_name, "schema": dict(json_schema or {}),
                                    "strict": bool(strict)},
                }
            elif structured == "prompt":
                call_msgs = _with_schema_instruction(msgs, json_schema or {})
            attempts += 1
            try:
                data, status = self._send(call_msgs, call_body, extra_body, timeout)
            except _Outcome as out:
                self._account(out.status, out.kind, None)
                if out.rejects_schema and structured == "json_schema":
                    # Maybe the server does not do response_format=json_schema: ask in the prompt.
                    log.warning("%s rejected a request with response_format=json_schema (HTTP %s); "
                                "retrying with the schema in the prompt", self.host, out.status)
                    structured = "prompt"
                    fell_back = True
                    continue
                if out.retriable and retries_left > 0:
                    retries_left -= 1
                    delay = self._backoff(self.max_retries - retries_left, out.retry_after)
                    with self._lock:
                        self._stats["retries"] += 1
                    log.warning("%s; retry %d/%d in %.2fs", out.message,
                                self.max_retries - retries_left, self.max_retries, delay)
                    time.sleep(delay)
                    continue
                with self._lock:
                    self._stats["errors"] += 1
                msg = out.message
                if out.retriable:
                    msg = f"{msg} (gave up after {attempts} attempts)"
                return ChatResult(text=None, error=msg, error_kind=out.kind, status=out.status,
                                  attempts=attempts, structured=structured,
                                  latency_s=time.monotonic() - t0)
            if fell_back:
                # The same request went through without response_format: remember that this
                # server rejects it, so later calls skip the failing attempt.
                with self._lock:
                    if self._schema_supported is not False:
                        self._schema_supported = False
                        self._stats["schema_fallbacks"] += 1
            result = self._result_from(data, status, attempts, structured, t0)
            self._account(status, result.error_kind, result.usage)
            if structured == "json_schema" and result.ok and self._schema_supported is None:
                with self._lock:
                    self._schema_supported = True
            return result

    def complete_many(
        self,
        batch: Sequence[Sequence[Mapping[str, Any]] | Mapping[str, Any]],
        *,
        on_result: Callable[[int, ChatResult], None] | None = None,
        **gen: Any,
    ) -> list[ChatResult]:
        """Run ``complete`` over a batch on ``concurrency`` threads; results keep input order.

        Each item is a message list, or a dict ``{"messages": [...], **overrides}`` whose keys
        override ``gen`` (the keyword arguments of :meth:`complete`) for that item.
        ``on_result(index, result)`` is called as each finishes (from worker threads).
        """
        unknown = set(gen) - set(_GEN_KEYS)
        if unknown:
            raise UsageError(f"unknown generation option(s) {sorted(unknown)} for complete_many",
                             hint="allowed: " + ", ".join(_GEN_KEYS))
        jobs: list[tuple[Sequence[Mapping[str, Any]], dict[str, Any]]] = []
        for i, item in enumerate(batch):
            if isinstance(item, Mapping):
                if "messages" not in item:
                    raise UsageError(f"batch item {i} is a dict without 'messages'")
                over = {k: v for k, v in item.items() if k != "messages"}
                bad = set(over) - set(_GEN_KEYS)
                if bad:
                    raise UsageError(f"batch item {i}: unknown option(s) {sorted(bad)}",
                                     hint="allowed: " + ", ".join(_GEN_KEYS))
                jobs.append((item["messages"], {**gen, **over}))
            else:
                jobs.append((item, dict(gen)))
        results: list[ChatResult | None] = [None] * len(jobs)
        if not jobs:
            return []

        def run(i: int) -> None:
            msgs, kw = jobs[i]
            res = self.complete(msgs, **kw)
            results[i] = res
            if on_result is not None:
                on_result(i, res)

        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, len(jobs)),
                                  thread_name_prefix="mosseval-chat")
        try:
            futures = [pool.submit(run, i) for i in range(len(jobs))]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in futures if f.done() and not f.cancelled() and f.exception()]
            if failed:
                for f in futures:
                    f.cancel()
                wait([f for f in futures if not f.cancelled()])
                exc = failed[0].exception()
                assert exc is not None  # `failed` holds only futures that raised
                if isinstance(exc, RemoteError):
                    exc.results = list(results)  # type: ignore[attr-defined]
                raise exc
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return results  # type: ignore[return-value]  # every slot is filled on success

    # ------------------------------------------------------------------ internals

    def _account(self, status: int | None, error_kind: str | None, usage: Usage | None) -> None:
        if self.on_request is None:
            return
        self.on_request({"event": "done", "status": status, "error_kind": error_kind,
                         "prompt_tokens": (usage.prompt_tokens or 0) if usage else 0,
                         "completion_tokens": (usage.completion_tokens or 0) if usage else 0})

    def _reserve(self) -> None:
        with self._lock:
            if self.budget_requests is not None and self._stats["requests"] >= self.budget_requests:
                raise BudgetExhaustedError(
                    f"request budget exhausted: {self._stats['requests']} of {self.budget_requests} "
                    f"requests to {self.host} used",
                    hint="raise budget_requests (or resume the run later; finished work is kept)",
                )
            if self.budget_tokens is not None and self._stats["total_tokens"] >= self.budget_tokens:
                raise BudgetExhaustedError(
                    f"token budget exhausted: {self._stats['total_tokens']} of {self.budget_tokens} "
                    f"tokens used at {self.host}",
                    hint="raise budget_tokens (or resume the run later; finished work is kept)",
                )
            self._stats["requests"] += 1

    def _send(self, messages: list[dict[str, Any]], body: dict[str, Any],
              extra_body: Mapping[str, Any] | None, timeout: float | None) -> tuple[dict[str, Any], int]:
        openai = self._openai
        self._reserve()
        if self.on_request is not None:
            self.on_request({"event": "sent"})
        if self._limiter is not None:
            self._limiter.acquire()
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages}
        extra = dict(extra_body or {})
        for name, value in body.items():
            if name in ("temperature", "top_p", "seed", "stop", "max_tokens", "max_completion_tokens",
                        "response_format"):
                kwargs[name] = value
            else:  # pragma: no cover - every key above is known
                extra[name] = value
        if extra:
            kwargs["extra_body"] = extra
        if timeout is not None:
            kwargs["timeout"] = float(timeout)
        limit = float(timeout or self.timeout)
        with self._slots, _Attempt(limit, self.max_response_bytes) as attempt:
            try:
                raw = self._client.chat.completions.with_raw_response.create(**kwargs)
                http = raw.http_response
                status = http.status_code
                text = http.text
            except (openai.APITimeoutError, openai.APIConnectionError, _RedirectRefused, _TooLarge,
                    _DeadlinePassed) as e:  # ours arrive wrapped or not, depending on the openai release
                raise self._transport_outcome(e, attempt, limit) from None
            except openai.APIStatusError as e:
                failure = self._status_outcome(e, "response_format" in kwargs)
                raise failure from None
            except openai.APIError as e:  # e.g. a response that fails validation
                raise _Outcome("malformed", self._scrub.text(f"invalid response: {e}")) from None
        try:
            data = json.loads(text)
        except ValueError:
            snippet = self._scrub.text(text[:200])
            raise _Outcome("malformed", f"server returned a body that is not JSON (HTTP {status}): "
                                        f"{snippet!r}", status=status) from None
        if not isinstance(data, dict):
            raise _Outcome("malformed", f"server returned JSON that is not an object (HTTP {status})",
                           status=status)
        return data, status

    def _transport_outcome(self, e: BaseException, attempt: _Attempt, limit: float) -> _Outcome:
        cause = _find_cause(e, (_RedirectRefused, _TooLarge))
        if isinstance(cause, _RedirectRefused):
            return _Outcome("redirect", self._scrub.text(
                f"{self.host} redirected to another origin ({cause.target}); refused: the request is never "
                f"re-sent to another host"), status=cause.status)
        if isinstance(cause, _TooLarge):
            return _Outcome("too_large", f"the response from {self.host} exceeds {self.max_response_bytes:,} bytes "
                                         f"(max_response_bytes); not read further")
        if attempt.expired or isinstance(e, (self._openai.APITimeoutError, _DeadlinePassed)):
            return _Outcome("timeout", f"request to {self.host} timed out (total deadline {limit:g}s per attempt)",
                            retriable=True)
        return _Outcome("connection", self._scrub.text(f"connection error to {self.host}: {_cause(e)}"),
                        retriable=True)

    def _status_outcome(self, e: Any, sent_schema: bool) -> _Outcome | AuthError:
        status = int(getattr(e, "status_code", 0) or 0)
        detail = _error_detail(getattr(e, "body", None)) or getattr(e, "message", "") or ""
        detail = self._scrub.text(detail)[:500]
        if status in (401, 403):
            return AuthError(
                f"{self.host} refused the credentials (HTTP {status}): {detail}",
                hint=f"check ${self.api_key_env} and that the key may use model {self.model!r}",
            )
        headers = getattr(getattr(e, "response", None), "headers", None) or {}
        retriable = status in RETRIABLE_STATUS or status >= 500
        rejects = sent_schema and status in (400, 422)
        return _Outcome("status", f"HTTP {status} from {self.host}: {detail}".rstrip(": "),
                        status=status, retriable=retriable,
                        retry_after=_retry_after(headers), rejects_schema=rejects)

    def _backoff(self, retry_number: int, retry_after: float | None) -> float:
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.retry_after_cap)
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** max(retry_number - 1, 0)))
        with self._lock:
            return self._rng.uniform(0.0, ceiling)

    def _result_from(self, data: dict[str, Any], status: int, attempts: int, structured: str | None,
                     t0: float) -> ChatResult:
        data = self._scrub.obj(data)
        usage = _usage(data.get("usage"))
        with self._lock:
            for k in ("prompt_tokens", "completion_tokens", "total_tokens"):
                self._stats[k] += getattr(usage, k) or 0
            if usage.total_tokens is None and (usage.prompt_tokens or usage.completion_tokens):
                self._stats["total_tokens"] += (usage.prompt_tokens or 0) + (usage.completion_tokens or 0)
        latency = time.monotonic() - t0
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            with self._lock:
                self._stats["errors"] += 1
            return ChatResult(text=None, usage=usage, error=f"response from {self.host} has no choices",
                              error_kind="malformed", status=status, attempts=attempts, raw=data,
                              structured=structured, latency_s=latency)
        choice = choices[0]
        raw_message = choice.get("message")
        message: dict[str, Any] = raw_message if isinstance(raw_message, dict) else {}
        content = message.get("content")
        if isinstance(content, list):  # some servers return content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        finish = choice.get("finish_reason")
        if not isinstance(content, str):
            refusal = message.get("refusal")
            why = f"refusal: {refusal}" if refusal else "the reply has no text content"
            with self._lock:
                self._stats["errors"] += 1
            return ChatResult(text=None, usage=usage, error=f"{why} (finish_reason={finish})",
                              error_kind="empty", status=status, attempts=attempts, raw=data,
                              structured=structured, finish_reason=finish, latency_s=latency)
        result = ChatResult(text=content, usage=usage, status=status, attempts=attempts, raw=data,
                            structured=structured, finish_reason=finish, latency_s=latency)
        if structured is not None:
            parsed = parse_json_object(content)
            if parsed is None:
                with self._lock:
                    self._stats["errors"] += 1
                result.error = "structured output requested but the reply holds no JSON object"
                result.error_kind = "parse"
            result.parsed = parsed
        return result


# ---------------------------------------------------------------------- network bounds
#
# The HTTP client (``httpx``, or ``httpx2`` for newer ``openai`` releases) bounds each socket
# read, not a request. ``_Attempt`` gives the current thread's attempt a deadline; the transport
# wrapper clamps every phase's timeout to the time left, shuts the socket down when the deadline
# passes (a watchdog timer: a dripping server is cut off mid-read), refuses redirects to another
# origin, and stops reading a body past the size cap. Keep-alive is off so that every attempt's
# socket is known to its watchdog.

_current = threading.local()


class _RedirectRefused(Exception):
    def __init__(self, target: str, status: int):
        super().__init__(f"redirect to {target} refused")
        self.target, self.status = target, status


class _TooLarge(Exception):
    pass


class _DeadlinePassed(Exception):
    pass


class _Attempt:
    """One HTTP attempt of the current thread: its deadline, byte budget and socket."""

    def __init__(self, seconds: float, max_bytes: int):
        self.deadline = time.monotonic() + seconds
        self.max_bytes = max_bytes
        self.read = 0
        self.expired = False
        self.sockets: list[socket.socket] = []
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's ``trace`` extension: remember each new connection's socket."""
        if event.endswith("connect_tcp.complete") or event.endswith("connect_unix_socket.complete"):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                with self._lock:
                    self.sockets.append(sock)
                    if self.expired:
                        self._shutdown()

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            self._shutdown()

    def _shutdown(self) -> None:
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a read blocked on a dripping server
            except OSError:
                pass

    def __enter__(self) -> _Attempt:
        self._timer = threading.Timer(max(self.remaining(), 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()
        _current.attempt = self
        return self

    def __exit__(self, *exc: Any) -> None:
        _current.attempt = None
        if self._timer is not None:
            self._timer.cancel()


def _origin(url: Any) -> tuple[str, str, int | None]:
    scheme = str(url.scheme).lower()
    return scheme, str(url.host).lower(), url.port or {"http": 80, "https": 443}.get(scheme)


def _bounded_http_client(openai: Any, timeout: float) -> Any:
    """The ``http_client`` for ``openai.OpenAI``: the library's default client class (``httpx`` or
    ``httpx2``) with keep-alive off and every transport wrapped by ``_BoundedTransport``."""
    import importlib

    base = next((c for c in type.mro(openai.DefaultHttpxClient)[1:] if c.__name__ == "Client"), None)
    httpx = importlib.import_module(base.__module__.split(".")[0]) if base is not None else None
    if httpx is None:  # pragma: no cover - an openai release without DefaultHttpxClient
        return None
    inner = httpx.HTTPTransport(limits=httpx.Limits(max_keepalive_connections=0))
    client = openai.DefaultHttpxClient(transport=_bounded_transport(httpx, inner), follow_redirects=True,
                                       timeout=httpx.Timeout(timeout), max_redirects=5)
    mounts = getattr(client, "_mounts", None)  # proxies from the environment get their own transports
    if isinstance(mounts, dict):
        for pattern, transport in list(mounts.items()):
            if transport is not None:
                mounts[pattern] = _bounded_transport(httpx, transport)
    return client


def _bounded_transport(httpx: Any, inner: Any) -> Any:
    class _BoundedStream(httpx.SyncByteStream):  # type: ignore[misc]  # httpx is imported lazily (Any)
        def __init__(self, stream: Any, attempt: _Attempt):
            self._stream, self._attempt = stream, attempt

        def __iter__(self) -> Any:
            a = self._attempt
            for chunk in self._stream:
                a.read += len(chunk)
                if a.read > a.max_bytes:
                    raise _TooLarge()
                if a.remaining() <= 0:
                    a.expired = True
                    raise _DeadlinePassed()
                yield chunk

        def close(self) -> None:
            close = getattr(self._stream, "close", None)
            if close is not None:
                close()

    class _BoundedTransport(httpx.BaseTransport):  # type: ignore[misc]
        def __init__(self, wrapped: Any):
            self._wrapped = wrapped

        def handle_request(self, request: Any) -> Any:
            a: _Attempt | None = getattr(_current, "attempt", None)
            if a is None:
                return self._wrapped.handle_request(request)
            left = a.remaining()
            if left <= 0:
                a.expired = True
                raise _DeadlinePassed()
            ext = dict(request.extensions)
            phases = dict(ext.get("timeout") or {})
            for phase in ("connect", "read", "write", "pool"):
                phases[phase] = min(float(phases.get(phase) or left), left)
            ext["timeout"] = phases
            previous = ext.get("trace")

            def trace(event: str, info: dict[str, Any]) -> None:
                a.trace(event, info)
                if previous is not None:
                    previous(event, info)

            ext["trace"] = trace
            request.extensions = ext
            response = self._wrapped.handle_request(request)
            location = response.headers.get("location")
            if 300 <= response.status_code < 400 and location:
                target = request.url.join(location)
                if _origin(target) != _origin(request.url):
                    response.close()
                    raise _RedirectRefused(f"{target.scheme}://{target.host}"
                                           + (f":{target.port}" if target.port else ""), response.status_code)
            response.stream = _BoundedStream(response.stream, a)
            return response

        def close(self) -> None:
            self._wrapped.close()

    return _BoundedTransport(inner)


def _find_cause(e: BaseException, kinds: tuple[type, ...]) -> BaseException | None:
    seen = 0
    cur: BaseException | None = e
    while cur is not None and seen < 10:
        if isinstance(cur, kinds):
            return cur
        cur = cur.__cause__ or cur.__context__
        seen += 1
    return None


# ---------------------------------------------------------------------- helpers


def _with_schema_instruction(messages: list[dict[str, Any]], schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    note = ("Respond with one JSON object that conforms to this JSON schema, and nothing else "
            "(no prose, no code fences):\n" + json.dumps(schema, sort_keys=True))
    out = [dict(m) for m in messages]
    if out and out[0].get("role") == "system":
        content = out[0].get("content")
        if isinstance(content, str):
            out[0]["content"] = content + "\n\n" + note
        elif isinstance(content, list):
            out[0]["content"] = list(content) + [{"type": "text", "text": note}]
        else:
            out[0]["content"] = note
    else:
        out.insert(0, {"role": "system", "content": note})
    return out


def _usage(value: Any) -> Usage:
    if not isinstance(value, dict):
        return Usage()

    def num(key: str) -> int | None:
        v = value.get(key)
        return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 else None

    prompt, completion, total = num("prompt_tokens"), num("completion_tokens"), num("total_tokens")
    if total is None and prompt is not None and completion is not None:
        total = prompt + completion
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total)


def _retry_after(headers: Any) -> float | None:
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            v = float(ms) / 1000.0
            return v if math.isfinite(v) and v >= 0 else None
        ra = headers.get("retry-after")
    except Exception:  # pragma: no cover - exotic header containers
        return None
    if ra is None:
        return None
    try:
        v = float(ra)
        return v if math.isfinite(v) and v >= 0 else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(ra)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_detail(body: Any) -> str:
    if isinstance(body, dict):
        msg = body.get("message") or body.get("error") or body.get("detail")
        if isinstance(msg, dict):
            msg = msg.get("message")
        if msg:
            return str(msg)
        return json.dumps(body)[:500]
    if isinstance(body, str):
        return body
    return ""


def _cause(e: BaseException) -> str:
    cause = e.__cause__ or e.__context__
    return f"{type(cause).__name__}: {cause}" if cause else str(e)
