"""The ``openai`` model backend end to end against a real loopback chat-completions server."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from mosseval.errors import UsageError
from mosseval.models.base import Request
from mosseval.models.openai_api import encode_frame_jpeg, strip_prefill
from mosseval.models.registry import load_model, resolve
from mosseval.records import FrameInfo, GenerationSpec, Sample, TaskSpec, VideoRef
from mosseval.video import Frames
from tests.support.chat_server import Fail, Reply, decode_images, message_text

pytest.importorskip("openai")

FAKE_KEY = "sk-mosseval-FAKE-KEY-backend-987654321"
TASK = TaskSpec(name="toy", version="1")


def frames(n: int, h: int = 40, w: int = 56, seed: int = 0) -> Frames:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)
    return Frames(arr, FrameInfo(indices=list(range(0, 2 * n, 2)), timestamps=[0.5 * i for i in range(n)],
                                 decoder="pyav", sampled_fps=2.0, width=w, height=h))


def request(question: str, n_frames: int | None = 3, *, prefill: str | None = None, seed: int = 0,
            system: str | None = "You are careful.", video_first: bool = True, **gen) -> Request:
    sample = Sample(id=question, task="toy", question=question, answer="A",
                    video=VideoRef(path="v.mp4") if n_frames else None)
    msgs = []
    if system:
        msgs.append({"role": "system", "content": [{"type": "text", "text": system}]})
    text = {"type": "text", "text": question}
    content = ([{"type": "video"}, text] if video_first else [text, {"type": "video"}]) if n_frames else [text]
    msgs.append({"role": "user", "content": content})
    return Request(sample=sample, task=TASK, messages=msgs, frames=frames(n_frames) if n_frames else None,
                   generation=GenerationSpec(**gen), prefill=prefill, seed=seed)


def load(srv, **args):
    spec = resolve("openai:test-model", {"base_url": srv.base_url, "timeout": 5, "max_retries": 2,
                                         "backoff_base": 0.01, "backoff_max": 0.05, **args})
    return load_model(spec)


def frame_report(req):
    """Server side: decode every frame and describe what arrived."""
    imgs = decode_images(req)
    assert all(img.format == "JPEG" for img in imgs)
    sizes = sorted({img.size for img in imgs})
    q = message_text(req).splitlines()[-1]
    return f"{q} | frames={len(imgs)} sizes={sizes}"


@pytest.fixture(autouse=True)
def _fake_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def test_generate_sends_decodable_frames_in_place(chat_server):
    srv = chat_server(frame_report, expected_key=FAKE_KEY)
    model = load(srv)
    reqs = [request("q1?", 2), request("q2?", 3, max_new_tokens=33, temperature=0.7, top_p=0.8, seed=9),
            request("q3?", 5, video_first=False)]
    out = model.generate(reqs)
    assert [r.error for r in out] == [None, None, None]
    assert [r.text for r in out] == ["q1? | frames=2 sizes=[(56, 40)]", "q2? | frames=3 sizes=[(56, 40)]",
                                     "q3? | frames=5 sizes=[(56, 40)]"]
    bodies = {message_text(r.json).splitlines()[-1]: r.json for r in srv.chat_requests()}
    b1, b2, b3 = bodies["q1?"], bodies["q2?"], bodies["q3?"]
    assert b1["messages"][0] == {"role": "system", "content": "You are careful."}
    kinds = [p["type"] for p in b1["messages"][1]["content"]]
    assert kinds == ["image_url", "image_url", "text"]  # frames where the placeholder was
    assert [p["type"] for p in b3["messages"][1]["content"]] == ["text"] + ["image_url"] * 5
    assert b1["max_tokens"] == 256 and b1["temperature"] == 0.0 and b1["seed"] == 0
    assert b2["max_tokens"] == 33 and b2["temperature"] == 0.7 and b2["top_p"] == 0.8 and b2["seed"] == 9
    assert "detail" not in b1["messages"][1]["content"][0]["image_url"]
    for r in out:  # usage per sample from the server's usage block
        assert r.usage.prompt_tokens >= 1 and r.usage.completion_tokens >= 3
        assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
        assert r.extra["attempts"] == 1


def test_frames_arrive_full_size_and_close_to_the_source(chat_server):
    got = {}

    def keep(req):
        got["imgs"] = decode_images(req)
        return "ok"

    srv = chat_server(keep)
    r = request("q?", 2)
    ramp = np.linspace(0, 255, 56, dtype=np.uint8)
    r.frames.array[:] = np.stack([np.tile(ramp[None, :, None], (40, 1, 3)),
                                  np.tile(ramp[::-1][None, :, None], (40, 1, 3))])
    load(srv, jpeg_quality=95).generate([r])
    assert len(got["imgs"]) == 2
    for img, src in zip(got["imgs"], r.frames.array):
        back = np.asarray(img.convert("RGB"), dtype=np.int16)
        assert back.shape == src.shape
        assert np.abs(back - src.astype(np.int16)).mean() < 3  # same frames, same order


def test_jpeg_encoding_is_deterministic_and_downscales():
    f = frames(1, 120, 160).array[0]
    a, b = encode_frame_jpeg(f, quality=80), encode_frame_jpeg(f.copy(), quality=80)
    assert a == b and a[:2] == b"\xff\xd8"
    from io import BytesIO

    from PIL import Image

    small = Image.open(BytesIO(encode_frame_jpeg(f, max_pixels=4800)))
    assert small.size[0] * small.size[1] <= 4800 and small.size == (80, 60)
    with pytest.raises(ValueError):
        encode_frame_jpeg(f.astype(np.float32))


def test_image_detail_max_pixels_and_timestamps(chat_server):
    srv = chat_server(frame_report)
    out = load(srv, image_detail="low", max_pixels=560, frame_timestamps=True).generate([request("q?", 3)])
    assert out[0].text == "q? | frames=3 sizes=[(28, 20)]"
    parts = srv.chat_requests()[0].json["messages"][1]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url"] * 3 + ["text"]
    assert parts[0]["text"] == "[t=0.0s]" and parts[2]["text"] == "[t=0.5s]"
    assert parts[1]["image_url"]["detail"] == "low"


def test_text_only_request_and_missing_frames(chat_server):
    srv = chat_server(lambda req: "fine")
    out = load(srv).generate([request("no video", None, system=None)])
    assert out[0].text == "fine"
    assert srv.chat_requests()[0].json["messages"] == [{"role": "user", "content": "no video"}]


def test_prefill_user_mode_strips_echo(chat_server):
    srv = chat_server(lambda req: "<think>I see a ball.</think><answer>A</answer>")
    out = load(srv).generate([request("q?", 2, prefill="<think>")])
    assert out[0].text == "I see a ball.</think><answer>A</answer>"
    assert out[0].extra["prefill_echoed"] is True and out[0].extra["prefill_mode"] == "user"
    user = srv.chat_requests()[0].json["messages"][1]["content"]
    assert user[-1]["text"].endswith("Begin your reply with: <think>")


def test_prefill_assistant_mode_continues_the_turn(chat_server):
    srv = chat_server(lambda req: "I see a ball.</think>")
    out = load(srv, prefill_mode="assistant").generate([request("q?", 2, prefill="<think>")])
    assert out[0].text == "I see a ball.</think>" and out[0].extra["prefill_echoed"] is False
    body = srv.chat_requests()[0].json
    assert body["messages"][-1] == {"role": "assistant", "content": "<think>"}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert strip_prefill("  <think>x", "<think>") == ("x", True)


def test_429_then_success_is_retried(chat_server):
    srv = chat_server(frame_report).fail(Fail.status(429, retry_after=0.05))
    out = load(srv, concurrency=1).generate([request("q1?", 2), request("q2?", 1)])
    assert [r.text for r in out] == ["q1? | frames=2 sizes=[(56, 40)]", "q2? | frames=1 sizes=[(56, 40)]"]
    assert out[0].extra["attempts"] == 2 and out[1].extra["attempts"] == 1
    assert srv.counts["/v1/chat/completions"] == 3


def test_malformed_json_fails_only_that_sample(chat_server):
    def responder(req):
        if "BROKEN" in message_text(req):
            return Fail.malformed()
        return frame_report(req)

    srv = chat_server(responder)
    out = load(srv).generate([request("ok1?", 2), request("BROKEN?", 2), request("ok2?", 1)])
    assert out[0].text.startswith("ok1?") and out[2].text.startswith("ok2?")
    assert out[1].text is None and out[1].error.kind == "api" and "not JSON" in out[1].error.message
    assert out[1].extra["error_kind"] == "malformed"


def test_timeout_is_a_per_sample_error(chat_server):
    def responder(req):
        return Reply(text="late", delay=2.0) if "SLOW" in message_text(req) else "fast"

    srv = chat_server(responder)
    out = load(srv, timeout=0.3, max_retries=1).generate([request("SLOW?", 1), request("quick?", 1)])
    assert out[1].text == "fast"
    assert out[0].text is None and out[0].error.kind == "timeout" and "timed out" in out[0].error.message
    assert out[0].extra["attempts"] == 2


def test_server_errors_after_retries_are_recorded(chat_server):
    srv = chat_server(lambda req: Reply(text=None, status=500, error="overloaded"))
    out = load(srv, max_retries=1).generate([request("q?", 1)])
    assert out[0].error.kind == "api" and "HTTP 500" in out[0].error.message
    assert out[0].extra["http_status"] == 500


def test_concurrency_bounded_and_batch_size(chat_server):
    srv = chat_server(frame_report, delay=0.15)
    model = load(srv, concurrency=2)
    assert model.batch_size == 2
    out = model.generate([request(f"q{i}?", 1) for i in range(6)])
    assert [r.text.split(" |")[0] for r in out] == [f"q{i}?" for i in range(6)]
    assert srv.max_in_flight == 2
    assert load(srv, concurrency=2, batch_size=8).batch_size == 8


def test_api_key_never_leaks(chat_server, caplog):
    def responder(req):
        if "FAIL" in message_text(req):
            return Reply(text=None, status=400, error=f"bad request from key {FAKE_KEY}")
        return "fine"

    srv = chat_server(responder, expected_key=FAKE_KEY).fail(Fail.status(503, message=f"saw {FAKE_KEY}"))
    model = load(srv)
    out = model.generate([request("one?", 1), request("FAIL?", 1)])
    assert out[0].text == "fine" and out[1].error is not None
    ident = model.identity()
    assert ident["host"] == srv.root and ident["model"] == "test-model"
    texts = [json.dumps(ident), repr(model), caplog.text]
    for r in out:
        texts.append(repr(r))
        texts.append(json.dumps(dataclasses.asdict(r), default=str))
    for t in texts:
        assert FAKE_KEY not in t
    # the key never appears in a request body either (only in the Authorization header)
    assert all(FAKE_KEY not in json.dumps(r.json) for r in srv.chat_requests())


def test_identity_tracks_output_relevant_args(chat_server):
    srv = chat_server()
    a, b = load(srv).identity(), load(srv, jpeg_quality=70).identity()
    c = load(srv, concurrency=9, timeout=3).identity()
    assert a != b and a == c  # concurrency/timeouts do not change outputs


def test_bad_model_args(chat_server):
    srv = chat_server()
    with pytest.raises(UsageError, match="did you mean 'concurrency'"):
        load(srv, concurency=2)
    with pytest.raises(UsageError, match="must be an integer"):
        load(srv, concurrency="many")
    with pytest.raises(UsageError, match="image_detail"):
        load(srv, image_detail="ultra")
    with pytest.raises(UsageError) as ei:
        load(srv, api_key=FAKE_KEY)
    assert FAKE_KEY not in str(ei.value) and "api_key_env" in str(ei.value)


def test_preset_resolves_to_openai_backend():
    spec = resolve("gpt-4o-mini")
    assert spec.backend == "openai" and spec.target == "gpt-4o-mini"


def test_run_end_to_end_through_the_runner(chat_server, tmp_path):
    """`mosseval run --model openai:...` on moss-video-mini: frames, usage, no key in run files."""
    from mosseval.rundir import load_run
    from mosseval.runner import Runner, RunOptions

    received: list[int] = []

    def responder(req):
        received.append(len(decode_images(req)))
        return "<think>The ball moves.</think><answer>A</answer>"

    srv = chat_server(responder, expected_key=FAKE_KEY)
    opts = RunOptions(model="openai:test-model", tasks=["moss-video-mini"], output_dir=tmp_path,
                      progress=False, fsync=False, limit=4,
                      model_args={"base_url": srv.base_url, "concurrency": 2, "timeout": 10})
    outcome = Runner(opts).execute()
    assert outcome.exit_code == 0 and outcome.log.status == "completed"
    run = load_run(outcome.run_dir)
    assert len(run.records) == 4 and len(received) == 4
    for rec in run.records:
        gen = rec.generation
        assert gen.error is None and gen.text.endswith("<answer>A</answer>")
        assert gen.usage.total_tokens > 0 and gen.extra["attempts"] == 1
        assert len(gen.frames.indices) in received
    ident = run.log.identity.model
    assert ident["backend"] == "openai" and ident["host"] == srv.root
    for f in outcome.run_dir.rglob("*"):
        if f.is_file():
            assert FAKE_KEY not in f.read_text(errors="replace")
