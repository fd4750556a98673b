"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests (stdlib only).

Speaks ``POST /v1/chat/completions`` (OpenAI response shape, usage included) and
``GET /v1/models`` on an ephemeral port, served by ``ThreadingHTTPServer`` in a background thread.

Scripting:

* ``responder(request_json) -> str | dict | Reply``: the reply text, a full response dict (sent
  as-is), or a :class:`Reply` (status, raw body, headers, delay, usage...). Default: ``"ok"``.
* ``server.fail(*failures)``: a FIFO of canned failures consumed one per chat request before the
  responder runs: :meth:`Fail.status` (e.g. ``Fail.status(429, retry_after=0.01)``, 500, 503),
  :meth:`Fail.sleep` (sleep longer than the client timeout, then answer normally),
  :meth:`Fail.malformed` (a 200 whose body is not JSON), :meth:`Fail.prose` (a 200 whose content
  is prose instead of JSON).
* ``ChatServer(expected_key="...")`` answers 401 when the bearer token differs.
* ``ChatServer(reject_response_format=True)`` answers 400 to ``response_format=json_schema``.
* ``ChatServer(delay=0.05)`` holds every chat request that long (to observe concurrency).

Recording: ``server.requests`` (``RecordedRequest(path, method, headers, auth, json)``; the
``Authorization`` header is never stored, only ``auth`` = ``"present"`` / ``"absent"``),
``server.counts`` (per path), ``server.max_in_flight``, :meth:`ChatServer.chat_requests`.

Use: the ``chat_server`` fixture is a factory (``srv = chat_server(responder=...)``) whose
servers shut down at teardown; or ``with ChatServer(...) as srv:``. Enable the fixture in a test
module with ``from tests.support.chat_server import chat_server  # noqa: F401`` or for the whole suite
with ``pytest_plugins = ["tests.support.chat_server"]`` in ``tests/conftest.py``.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = ["ChatServer", "Fail", "RecordedRequest", "Reply", "chat_server", "decode_images",
           "message_text"]


@dataclass
class Reply:
    """A scripted answer. ``body`` (str/bytes) overrides everything and is sent verbatim."""

    text: str | None = "ok"
    status: int = 200
    body: str | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    usage: dict[str, int] | None = None
    finish_reason: str = "stop"
    error: str | None = None
    """For status >= 400: the error message in the OpenAI error body."""
    drip: float = 0.0
    """Hostile: send the body one byte every ``drip`` seconds (headers at once)."""


class Fail:
    """Canned failures for :meth:`ChatServer.fail`."""

    @staticmethod
    def status(code: int, *, retry_after: float | None = None, message: str | None = None) -> Reply:
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return Reply(text=None, status=code, headers=headers,
                     error=message or f"scripted failure {code}")

    @staticmethod
    def sleep(seconds: float, text: str = "late") -> Reply:
        return Reply(text=text, delay=seconds)

    @staticmethod
    def drip(interval: float = 0.2, text: str = "slow " * 200) -> Reply:
        """A server that keeps a request alive by sending one byte of a long body at a time."""
        return Reply(text=text, drip=interval)

    @staticmethod
    def redirect(location: str, status: int = 307) -> Reply:
        return Reply(text=None, status=status, body=b"", headers={"Location": location})

    @staticmethod
    def huge(n_bytes: int) -> Reply:
        """A 200 whose content is ``n_bytes`` of text."""
        return Reply(text="x" * n_bytes)

    @staticmethod
    def malformed() -> Reply:
        return Reply(text=None, body='{"id": "chatcmpl-x", "choices": [ {"message": ',
                     headers={"Content-Type": "application/json"})

    @staticmethod
    def prose(text: str = "Sure! The answer is that the video shows a ball rolling.") -> Reply:
        return Reply(text=text)


@dataclass
class RecordedRequest:
    path: str
    method: str
    headers: dict[str, str]
    auth: str
    """"present" / "absent": the Authorization header itself is never recorded."""
    json: Any
    received_at: float


def message_text(request_json: dict[str, Any]) -> str:
    """All text parts of all messages of a chat request, joined with newlines."""
    out: list[str] = []
    for m in request_json.get("messages", []):
        c = m.get("content")
        if isinstance(c, str):
            out.append(c)
        elif isinstance(c, list):
            out.extend(p.get("text", "") for p in c if isinstance(p, dict) and p.get("type") == "text")
    return "\n".join(out)


def decode_images(request_json: dict[str, Any]) -> list[Any]:
    """Decode every ``image_url`` data URL of a chat request into a PIL image (server side)."""
    from PIL import Image

    images = []
    for m in request_json.get("messages", []):
        c = m.get("content")
        if not isinstance(c, list):
            continue
        for p in c:
            if isinstance(p, dict) and p.get("type") == "image_url":
                url = p["image_url"]["url"]
                header, _, data = url.partition(",")
                assert header.startswith("data:image/") and header.endswith(";base64"), header[:40]
                img = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))
                img.load()
                images.append(img)
    return images


def _default_usage(request_json: dict[str, Any], text: str | None) -> dict[str, int]:
    prompt = max(1, len(message_text(request_json).split()))
    completion = len((text or "").split())
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


class ChatServer:
    def __init__(
        self,
        responder: Callable[[dict[str, Any]], str | dict | Reply] | None = None,
        *,
        expected_key: str | None = None,
        reject_response_format: bool = False,
        delay: float = 0.0,
        models: tuple[str, ...] = ("test-model",),
    ):
        self.responder = responder or (lambda req: "ok")
        self.expected_key = expected_key
        self.reject_response_format = reject_response_format
        self.delay = delay
        self.models = models
        self.requests: list[RecordedRequest] = []
        self.counts: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.errors: list[str] = []
        """Exceptions raised by the responder (it then answers 500)."""
        self._failures: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._seq = 0

    # ------------------------------------------------------------------ control

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root}/v1"

    def start(self) -> ChatServer:
        server = self

        class Handler(_Handler):
            owner = server

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"chat-server-{self.port}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()  # wakes scripted sleeps
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ChatServer:
        return self.start() if self._httpd is None else self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def fail(self, *failures: Reply) -> ChatServer:
        with self._lock:
            self._failures.extend(failures)
        return self

    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.split("?", 1)[0].endswith("/chat/completions")]

    # ------------------------------------------------------------------ serving

    def _record(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items() if k.lower() != "authorization"}
        auth = "present" if handler.headers.get("Authorization") else "absent"
        rec = RecordedRequest(handler.path, handler.command, headers, auth, body, time.time())
        with self._lock:
            self.requests.append(rec)
            self.counts[handler.path] = self.counts.get(handler.path, 0) + 1

    def _authorized(self, handler: BaseHTTPRequestHandler) -> bool:
        if self.expected_key is None:
            return True
        return handler.headers.get("Authorization") == f"Bearer {self.expected_key}"

    def _chat(self, body: Any) -> Reply | dict:
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
            self._seq += 1
        if failure is not None:
            return failure
        if not isinstance(body, dict):
            return Reply(text=None, status=400, error="request body is not a JSON object")
        rf = body.get("response_format")
        if self.reject_response_format and isinstance(rf, dict) and rf.get("type") == "json_schema":
            return Reply(text=None, status=400, error="response_format json_schema is not supported")
        try:
            out = self.responder(body)
        except Exception as e:  # recorded; the client sees a 500
            with self._lock:
                self.errors.append(f"{type(e).__name__}: {e}")
            return Reply(text=None, status=500, error=f"responder failed: {type(e).__name__}")
        if isinstance(out, (Reply, dict)):
            return out
        return Reply(text=str(out))

    def _completion_json(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        with self._lock:
            seq = self._seq
        usage = reply.usage if reply.usage is not None else _default_usage(body, reply.text)
        return {
            "id": f"chatcmpl-{seq}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "test-model"),
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": reply.text},
                "logprobs": None,
                "finish_reason": reply.finish_reason,
            }],
            "usage": usage,
        }

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stop.wait(seconds)


class _Handler(BaseHTTPRequestHandler):
    owner: ChatServer
    protocol_version = "HTTP/1.1"
    timeout = 10  # idle keep-alive connections end, so handler threads do not linger

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, payload: str | bytes | dict, headers: dict[str, str] | None = None,
              drip: float = 0.0) -> None:
        if isinstance(payload, dict):
            data = json.dumps(payload).encode()
        elif isinstance(payload, str):
            data = payload.encode()
        else:
            data = payload
        try:
            self.send_response(status)
            hdrs = {"Content-Type": "application/json", **(headers or {})}
            for k, v in hdrs.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if drip > 0:
                self.wfile.flush()
                for i in range(len(data)):
                    if self.owner._stop.wait(drip):
                        return
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()
                return
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, OSError):  # the client gave up (timeout test)
            pass

    def do_GET(self) -> None:  # noqa: N802
        srv = self.owner
        srv._record(self, None)
        if not srv._authorized(self):
            self._send(401, {"error": {"message": "invalid api key", "type": "invalid_request_error"}})
            return
        if self.path.split("?", 1)[0].rstrip("/") == "/v1/models":
            self._send(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "tests"} for m in srv.models]})
            return
        self._send(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:  # noqa: N802
        srv = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        srv._record(self, body)
        if self.path.split("?", 1)[0].rstrip("/") != "/v1/chat/completions":
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        if not srv._authorized(self):
            self._send(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                       "code": "invalid_api_key"}})
            return
        with srv._lock:
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
        try:
            srv._sleep(srv.delay)
            reply = srv._chat(body)
            if isinstance(reply, dict):
                self._send(200, reply)
                return
            srv._sleep(reply.delay)
            if reply.body is not None:
                self._send(reply.status, reply.body, reply.headers)
            elif reply.status >= 400:
                err = {"error": {"message": reply.error or f"HTTP {reply.status}", "type": "server_error",
                                 "code": reply.status}}
                self._send(reply.status, err, reply.headers)
            else:
                self._send(reply.status, srv._completion_json(body or {}, reply), reply.headers, reply.drip)
        finally:
            with srv._lock:
                srv.in_flight -= 1


@pytest.fixture
def chat_server():
    """Factory fixture: ``srv = chat_server(responder=..., **options)``; closed at teardown."""
    servers: list[ChatServer] = []

    def make(responder: Callable[[dict[str, Any]], str | dict | Reply] | None = None,
             **options: Any) -> ChatServer:
        srv = ChatServer(responder, **options).start()
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.close()
