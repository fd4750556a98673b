"""ChatClient against a real loopback HTTP server with the real ``openai`` package."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time

import pytest

from mosseval.errors import MissingDependencyError, RemoteError, UsageError
from mosseval.openai_client import (
    AuthError,
    BudgetExhaustedError,
    ChatClient,
    RateLimiter,
    host_of,
    parse_json_object,
)
from tests.support.chat_server import ChatServer, Fail, Reply, message_text

pytest.importorskip("openai")

FAKE_KEY = "sk-mosseval-FAKE-KEY-0123456789abcdef"
MSG = [{"role": "user", "content": "hello there"}]


def client(srv: ChatServer, **kw) -> ChatClient:
    opts = {"api_key": FAKE_KEY, "timeout": 5.0, "max_retries": 3, "backoff_base": 0.01,
            "backoff_max": 0.05, "retry_after_cap": 0.5}
    opts.update(kw)
    return ChatClient("test-model", base_url=srv.base_url, **opts)


def echo(req):
    return "echo: " + message_text(req)


def test_complete_sends_params_and_returns_usage(chat_server):
    srv = chat_server(echo, expected_key=FAKE_KEY)
    c = client(srv)
    res = c.complete(MSG, max_tokens=7, temperature=0.0, top_p=0.9, seed=11, stop=["</answer>"])
    assert res.ok and res.text == "echo: hello there"
    assert res.attempts == 1 and res.status == 200 and res.finish_reason == "stop"
    assert res.usage.prompt_tokens == 2 and res.usage.completion_tokens == 3 and res.usage.total_tokens == 5
    (req,) = srv.chat_requests()
    assert req.auth == "present" and "authorization" not in req.headers
    body = req.json
    assert body["model"] == "test-model" and body["max_tokens"] == 7 and body["seed"] == 11
    assert body["temperature"] == 0.0 and body["top_p"] == 0.9 and body["stop"] == ["</answer>"]
    assert "response_format" not in body
    assert c.stats["requests"] == 1 and c.stats["total_tokens"] == 5


def test_max_completion_tokens_param(chat_server):
    srv = chat_server(echo)
    c = client(srv, max_tokens_param="max_completion_tokens")
    assert c.complete(MSG, max_tokens=5).ok
    body = srv.chat_requests()[0].json
    assert body["max_completion_tokens"] == 5 and "max_tokens" not in body


def test_retry_after_429_then_success(chat_server):
    srv = chat_server(echo).fail(Fail.status(429, retry_after=0.2))
    c = client(srv, retry_after_cap=5.0)
    t0 = time.monotonic()
    res = c.complete(MSG)
    elapsed = time.monotonic() - t0
    assert res.ok and res.text == "echo: hello there" and res.attempts == 2
    assert elapsed >= 0.19  # the Retry-After header was honoured
    assert srv.counts["/v1/chat/completions"] == 2
    assert c.stats["retries"] == 1 and c.stats["errors"] == 0


def test_retry_after_is_capped(chat_server):
    srv = chat_server(echo).fail(Fail.status(429, retry_after=300))
    c = client(srv, retry_after_cap=0.05)
    t0 = time.monotonic()
    assert c.complete(MSG).ok
    assert time.monotonic() - t0 < 5


def test_5xx_retried_until_exhausted(chat_server):
    srv = chat_server(echo).fail(Fail.status(500), Fail.status(503), Fail.status(502), Fail.status(503))
    c = client(srv, max_retries=3)
    res = c.complete(MSG)
    assert not res.ok and res.text is None
    assert res.error_kind == "status" and res.status == 503 and res.attempts == 4
    assert "gave up after 4 attempts" in res.error
    # the next call succeeds (the failure queue is empty)
    assert c.complete(MSG).text == "echo: hello there"


def test_non_retriable_400_fails_at_once(chat_server):
    srv = chat_server(echo).fail(Fail.status(400, message="context length exceeded"))
    res = client(srv).complete(MSG)
    assert res.error_kind == "status" and res.status == 400 and res.attempts == 1
    assert "context length exceeded" in res.error


def test_timeout_then_retry_succeeds(chat_server):
    srv = chat_server(echo).fail(Fail.sleep(2.0))
    c = client(srv, timeout=0.3, max_retries=1)
    res = c.complete(MSG)
    assert res.ok and res.attempts == 2 and res.text == "echo: hello there"


def test_timeout_recorded_as_error(chat_server):
    srv = chat_server(echo).fail(Fail.sleep(2.0))
    res = client(srv, timeout=0.3, max_retries=0).complete(MSG)
    assert not res.ok and res.error_kind == "timeout" and "timed out" in res.error and res.attempts == 1


def test_malformed_json_is_an_error_not_an_exception(chat_server):
    srv = chat_server(echo).fail(Fail.malformed())
    c = client(srv)
    res = c.complete(MSG)
    assert res.error_kind == "malformed" and res.attempts == 1 and res.text is None
    assert "not JSON" in res.error
    assert c.complete(MSG).ok


def test_connection_error_after_retries():
    srv = ChatServer().start()
    url = srv.base_url
    srv.close()  # nothing listens there any more
    c = ChatClient("m", base_url=url, api_key=FAKE_KEY, timeout=2, max_retries=1, backoff_base=0.01)
    res = c.complete(MSG)
    assert res.error_kind == "connection" and res.attempts == 2


def test_structured_output_json_schema(chat_server):
    srv = chat_server(lambda req: '{"correct": true, "score": 0.5}')
    c = client(srv)
    schema = {"type": "object", "properties": {"correct": {"type": "boolean"}}, "required": ["correct"]}
    res = c.complete(MSG, json_schema=schema, schema_name="verdict")
    assert res.ok and res.parsed == {"correct": True, "score": 0.5} and res.structured == "json_schema"
    rf = srv.chat_requests()[0].json["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["name"] == "verdict"
    assert rf["json_schema"]["schema"] == schema


def test_structured_output_falls_back_when_rejected(chat_server):
    srv = chat_server(lambda req: 'Here you go:\n```json\n{"correct": false}\n```',
                      reject_response_format=True)
    c = client(srv)
    schema = {"type": "object", "properties": {"correct": {"type": "boolean"}}}
    res = c.complete([{"role": "system", "content": "You judge."}, *MSG], json_schema=schema)
    assert res.ok and res.parsed == {"correct": False} and res.structured == "prompt"
    assert res.attempts == 2
    first, second = srv.chat_requests()
    assert "response_format" in first.json and "response_format" not in second.json
    system = second.json["messages"][0]
    assert system["role"] == "system" and system["content"].startswith("You judge.")
    assert json.dumps(schema, sort_keys=True) in system["content"]
    # remembered: the next structured call goes straight to the prompt fallback
    res2 = c.complete(MSG, json_schema=schema)
    assert res2.parsed == {"correct": False} and res2.attempts == 1
    assert srv.chat_requests()[2].json["messages"][0]["role"] == "system"
    assert c.stats["schema_fallbacks"] == 1


def test_structured_prose_reply_is_a_parse_error(chat_server):
    srv = chat_server(echo).fail(Fail.prose())
    res = client(srv).complete(MSG, json_schema={"type": "object"})
    assert res.error_kind == "parse" and res.parsed is None
    assert res.text.startswith("Sure!")  # the raw reply is kept for a fallback parser


def test_complete_many_keeps_order_and_bounds_concurrency(chat_server):
    srv = chat_server(echo, delay=0.15)
    c = client(srv, concurrency=3)
    batch = [[{"role": "user", "content": f"item {i}"}] for i in range(9)]
    seen: list[int] = []
    lock = threading.Lock()

    def on_result(i, res):
        with lock:
            seen.append(i)

    results = c.complete_many(batch, max_tokens=4, on_result=on_result)
    assert [r.text for r in results] == [f"echo: item {i}" for i in range(9)]
    assert sorted(seen) == list(range(9))
    assert srv.max_in_flight == 3
    assert all(r.json["max_tokens"] == 4 for r in srv.chat_requests())


def test_complete_many_per_item_overrides(chat_server):
    srv = chat_server(echo)
    c = client(srv)
    c.complete_many([MSG, {"messages": MSG, "seed": 5}], seed=1)
    seeds = sorted(r.json["seed"] for r in srv.chat_requests())
    assert seeds == [1, 5]
    with pytest.raises(UsageError):
        c.complete_many([MSG], bogus=1)


def test_rate_limiter_spaces_requests(chat_server):
    srv = chat_server(echo)
    c = client(srv, rpm=600, concurrency=4)  # one request per 0.1 s
    t0, wall0 = time.monotonic(), time.time()
    c.complete_many([MSG] * 4)
    assert time.monotonic() - t0 >= 0.29
    # The fourth request may leave no earlier than 0.3 s after the first slot, so it cannot reach the
    # server earlier than that after t0 (arrival gaps themselves jitter with connection set-up).
    starts = sorted(r.received_at for r in srv.chat_requests())
    assert len(starts) == 4 and starts[-1] - wall0 >= 0.29
    lim = RateLimiter(6000)
    assert lim.acquire() == 0.0 and lim.acquire() > 0.0


def test_request_budget_raises_with_partial_results(chat_server):
    srv = chat_server(echo)
    c = client(srv, budget_requests=3, concurrency=1)
    with pytest.raises(BudgetExhaustedError) as ei:
        c.complete_many([[{"role": "user", "content": f"q{i}"}] for i in range(5)])
    assert isinstance(ei.value, RemoteError) and ei.value.exit_code == 7
    assert "request budget exhausted" in str(ei.value)
    done = [r for r in ei.value.results if r is not None]
    assert len(done) == 3 and srv.counts["/v1/chat/completions"] == 3


def test_token_budget(chat_server):
    srv = chat_server(lambda req: Reply(text="x", usage={"prompt_tokens": 60, "completion_tokens": 40,
                                                          "total_tokens": 100}))
    c = client(srv, budget_tokens=150)
    assert c.complete(MSG).ok and c.complete(MSG).ok  # 100, then 200 (in-flight overshoot allowed)
    with pytest.raises(BudgetExhaustedError, match="token budget"):
        c.complete(MSG)
    assert c.stats["total_tokens"] == 200


def test_auth_failure_raises_and_never_shows_the_key(chat_server, caplog):
    srv = chat_server(echo, expected_key="sk-the-right-one-000000")
    c = client(srv)
    with caplog.at_level(logging.DEBUG, logger="mosseval"):
        with pytest.raises(AuthError) as ei:
            c.complete(MSG)
        with pytest.raises(AuthError) as ei2:
            c.complete_many([MSG, MSG])
    assert ei.value.exit_code == 7 and "HTTP 401" in str(ei.value)
    for text in (str(ei.value), repr(ei.value), str(ei2.value), caplog.text):
        assert FAKE_KEY not in text


def test_key_scrubbed_from_errors_logs_results_and_repr(chat_server, caplog):
    def leaky(req):
        if "fail" in message_text(req):
            return Reply(text=None, status=400, error=f"invalid request for key {FAKE_KEY} (Bearer {FAKE_KEY})")
        return f"your key is {FAKE_KEY}"

    srv = chat_server(leaky).fail(Fail.status(503, message=f"upstream saw Authorization: Bearer {FAKE_KEY}"))
    c = client(srv)
    with caplog.at_level(logging.DEBUG, logger="mosseval"):
        ok = c.complete(MSG)
        bad = c.complete([{"role": "user", "content": "please fail"}])
    assert ok.ok and bad.error_kind == "status"
    dumped = [repr(ok), repr(bad), json.dumps(ok.raw), bad.error, repr(c), json.dumps(c.describe()),
              caplog.text, json.dumps(c.stats)]
    for text in dumped:
        assert FAKE_KEY not in text
    assert "retry 1/3" in caplog.text  # the 503 was logged (scrubbed)
    assert c.describe() == {"model": "test-model", "host": srv.root}


def test_env_base_url_and_custom_key_variable(chat_server, monkeypatch):
    srv = chat_server(echo, expected_key="sk-from-env-variable-42")
    monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
    monkeypatch.setenv("MY_JUDGE_KEY", "sk-from-env-variable-42")
    c = ChatClient("test-model", api_key_env="MY_JUDGE_KEY", timeout=5)
    assert c.complete(MSG).ok and c.host == srv.root
    assert "sk-from-env" not in repr(c)


def test_local_server_needs_no_key(chat_server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    srv = chat_server(echo)
    assert ChatClient("m", base_url=srv.base_url).complete(MSG).ok


def test_openai_host_without_key_is_an_auth_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(AuthError, match="OPENAI_API_KEY"):
        ChatClient("gpt-4o")


def test_bad_options_are_usage_errors():
    for kw in ({"timeout": 0}, {"concurrency": 0}, {"max_retries": -1}, {"base_url": "ftp://x/v1"},
               {"max_tokens_param": "n"}, {"rpm": -1}):
        with pytest.raises(UsageError):
            ChatClient("m", api_key="k" * 8, **{"base_url": "http://127.0.0.1:9/v1", **kw})


def test_missing_openai_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(MissingDependencyError) as ei:
        ChatClient("m", base_url="http://127.0.0.1:9/v1", api_key="k" * 8)
    assert "mosseval[api]" in str(ei.value)


def test_parse_json_object_and_host_of():
    assert parse_json_object('{"a": 1}') == {"a": 1}
    assert parse_json_object('Sure.\n```json\n{"a": [1, 2]}\n```\nDone') == {"a": [1, 2]}
    assert parse_json_object('Verdict: {"correct": true} -- {"x": 2}') == {"correct": True}
    assert parse_json_object("no json {here") is None
    assert parse_json_object("[1, 2]") is None and parse_json_object(None) is None
    assert host_of("https://user:pw@api.example.com:8443/v1?key=1") == "https://api.example.com:8443"
    assert host_of(None) == "https://api.openai.com"


def test_models_endpoint_served(chat_server):
    import httpx

    srv = chat_server(models=("a", "b"))
    data = httpx.get(srv.base_url + "/models", timeout=5).json()
    assert [m["id"] for m in data["data"]] == ["a", "b"]
    assert srv.counts["/v1/models"] == 1


def test_unrelated_400_does_not_disable_json_schema(chat_server):
    srv = chat_server(lambda req: '{"ok": 1}').fail(Fail.status(400, message="too long"),
                                                  Fail.status(400, message="too long"))
    c = client(srv)
    res = c.complete(MSG, json_schema={"type": "object"})
    assert res.error_kind == "status" and res.attempts == 2  # json_schema try + prompt try
    res2 = c.complete(MSG, json_schema={"type": "object"})
    assert res2.parsed == {"ok": 1} and res2.structured == "json_schema"
    assert "response_format" in srv.chat_requests()[-1].json and c.stats["schema_fallbacks"] == 0


# ----------------------------------------------------------------------------- network bounds (issue 12)


def test_timeout_is_a_total_deadline_not_per_read(chat_server):
    """A server dripping one byte every 0.2 s used to hold a timeout=1 request for over a minute."""
    srv = chat_server(echo).fail(Fail.drip(0.2))
    t0 = time.monotonic()
    res = client(srv, timeout=1.0, max_retries=0).complete(MSG)
    assert time.monotonic() - t0 < 2.5
    assert res.error_kind == "timeout" and "timed out" in res.error and res.attempts == 1


def test_redirect_to_another_host_is_refused(chat_server):
    other = chat_server(echo)
    srv = chat_server(echo).fail(Fail.redirect(other.base_url + "/chat/completions"))
    res = client(srv, max_retries=2).complete(MSG)
    assert res.error_kind == "redirect" and "another origin" in res.error and res.attempts == 1  # not retried
    assert other.chat_requests() == []  # the prompt never reached the other host


def test_same_host_redirect_is_followed(chat_server):
    srv = chat_server(echo).fail(Fail.redirect("/v1/chat/completions", status=308))
    res = client(srv).complete(MSG)
    assert res.ok and res.text == "echo: hello there"
    assert len(srv.chat_requests()) == 2


def test_response_size_is_capped(chat_server):
    srv = chat_server(echo).fail(Fail.huge(3_000_000))
    res = client(srv, max_response_bytes=100_000).complete(MSG)
    assert res.error_kind == "too_large" and res.text is None and "100,000" in res.error
    assert client(srv, max_response_bytes=100_000).complete(MSG).text == "echo: hello there"


def test_base_url_query_is_sent_with_every_request_and_never_shown(chat_server):
    """A query on base_url (Azure's ?api-version=, a gateway's ?token=) used to be glued in front of
    the route (/v1?token=.../chat/completions): every sample failed with a 404."""
    token = "GATEWAYs3cret99"
    srv = chat_server(echo).fail(Fail.status(400, message=f"token {token} is not valid for this model"))
    c = ChatClient("test-model", base_url=f"{srv.base_url}?api-version=2024-06-01&token={token}", api_key=FAKE_KEY,
                   timeout=5.0, max_retries=0)
    refused = c.complete(MSG)
    assert not refused.ok and token not in refused.error and "***" in refused.error  # the server echoed it back
    res = c.complete(MSG)
    assert res.ok and res.text == "echo: hello there"
    paths = [r.path for r in srv.chat_requests()]
    assert paths == [f"/v1/chat/completions?api-version=2024-06-01&token={token}"] * 2
    assert token not in repr(c) and token not in str(c.describe())


def test_every_request_is_accounted_as_it_is_made(chat_server):
    events: list[dict] = []
    srv = chat_server(echo).fail(Fail.status(500))
    res = client(srv, on_request=events.append).complete(MSG)
    assert res.ok
    assert [e["event"] for e in events] == ["sent", "done", "sent", "done"]
    assert events[1]["status"] == 500 and events[3]["prompt_tokens"] > 0
