"""lmms-eval bridge and vLLM backend.

Always run: the import guards (``MissingDependencyError`` naming the extra), argument validation,
and that importing mosseval never imports lmms-eval / vLLM / openai. When lmms-eval is importable
(it is an optional extra, not in the default install) the bridge is also exercised against real
lmms-eval classes: ``Instance`` construction, the ``dummy`` simple model (reads the video files the
bridge hands it) and the ``openai`` chat model talking to the loopback chat server. vLLM needs a
CUDA GPU: only its guard is tested.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from mosseval.errors import MissingDependencyError, UsageError
from mosseval.models.base import Request
from mosseval.models.registry import ModelSpec, load_backend, load_model, resolve
from mosseval.records import FrameInfo, GenerationSpec, Sample, TaskSpec, VideoRef
from mosseval.video import Frames
from tests.support.chat_server import Reply, decode_images, message_text
from tests.support.cli import REPO  # noqa: E402

TASK = TaskSpec(name="toy", version="1")


def request(question: str, n_frames: int = 3, *, path: str = "v.mp4", prefill: str | None = None,
            kind: str = "file") -> Request:
    sample = Sample(id=question, task="toy", question=question, answer="A",
                    video=VideoRef(path=path, kind=kind))
    arr = np.full((n_frames, 24, 32, 3), 100, dtype=np.uint8)
    msgs = [{"role": "system", "content": [{"type": "text", "text": "SYS"}]},
            {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": question}]}]
    return Request(sample=sample, task=TASK, messages=msgs,
                   frames=Frames(arr, FrameInfo(indices=list(range(n_frames)), decoder="pyav")),
                   generation=GenerationSpec(max_new_tokens=12, temperature=0.0), prefill=prefill)


# --------------------------------------------------------------------------- always


def test_importing_mosseval_backends_imports_no_optional_package():
    code = ("import sys, mosseval, mosseval.openai_client, mosseval.models.openai_api, "
            "mosseval.models.lmms, mosseval.models.vllm_backend\n"
            "bad = [m for m in ('lmms_eval', 'vllm', 'openai', 'torch') if m in sys.modules]\n"
            "assert not bad, bad\nprint('clean')")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "clean"


def test_lmms_guard_when_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "lmms_eval", None)  # import lmms_eval -> ImportError
    with pytest.raises(MissingDependencyError) as ei:
        load_backend("lmms")
    assert "lmms_eval" in str(ei.value) and "mosseval[lmms]" in str(ei.value)
    assert ei.value.exit_code == 5
    from mosseval.models.lmms import LmmsBridge, import_lmms_eval

    with pytest.raises(MissingDependencyError, match=r"mosseval\[lmms\]"):
        import_lmms_eval()
    with pytest.raises(MissingDependencyError, match="needs lmms-eval"):
        LmmsBridge(ModelSpec("lmms:qwen2_5_vl", "lmms", "qwen2_5_vl", {"pretrained": "x"}))


@pytest.mark.skipif(importlib.util.find_spec("lmms_eval") is None, reason="lmms-eval not installed")
def test_lmms_guard_when_its_dependencies_are_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "lmms_eval.models", None)
    from mosseval.models.lmms import import_lmms_eval

    with pytest.raises(MissingDependencyError, match="model registry cannot be imported"):
        import_lmms_eval()


def test_lmms_bridge_arg_validation():
    from mosseval.models.lmms import LmmsBridge

    with pytest.raises(UsageError, match="visual"):
        LmmsBridge(ModelSpec("lmms:x", "lmms", "x", {"visual": "pixels"}), model=object())


def test_vllm_guard(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(MissingDependencyError) as ei:
        load_backend("vllm")
    assert "mosseval[vllm]" in str(ei.value) and ei.value.exit_code == 5
    from mosseval.models.vllm_backend import VLLMModel, import_vllm

    with pytest.raises(MissingDependencyError, match=r"mosseval\[vllm\]"):
        import_vllm()
    with pytest.raises(MissingDependencyError, match="needs vLLM"):
        VLLMModel(resolve("vllm:Qwen/Qwen2.5-VL-7B-Instruct", {"tensor_parallel_size": 2}))
    with pytest.raises(UsageError, match="did you mean 'tensor_parallel_size'"):
        VLLMModel(resolve("vllm:Qwen/Qwen2.5-VL-7B-Instruct", {"tensor_paralel_size": 2}))


# --------------------------------------------------------------------------- with lmms-eval


@pytest.fixture(scope="module")
def lmms():
    from mosseval.models.lmms import import_lmms_eval

    try:
        return import_lmms_eval()
    except MissingDependencyError as exc:
        pytest.skip(f"lmms-eval not importable here: {exc.message}")


def test_instances_match_lmms_eval_request_shapes(lmms):
    from lmms_eval.api.instance import Instance
    from PIL import Image

    from mosseval.models.lmms import build_instances

    reqs = [request("q1?", 2, prefill="<think>"), request("q2?", 3)]
    simple, task_dict, errors = build_instances(reqs, is_simple=True)
    assert not errors and all(isinstance(i, Instance) for i in simple)
    ctx, gen, doc_to_visual, doc_id, task, split = simple[0].args
    assert simple[0].request_type == "generate_until" and (task, split, doc_id) == ("mosseval", "test", 0)
    assert ctx == "SYS\n\nq1?\n\nBegin your reply with: <think>"
    assert gen == {"max_new_tokens": 12, "temperature": 0.0, "top_p": 1.0, "do_sample": False, "until": []}
    visuals = doc_to_visual(task_dict[task][split][doc_id])
    assert len(visuals) == 2 and all(isinstance(v, Image.Image) and v.size == (32, 24) for v in visuals)
    assert len(simple[1].args[2](task_dict["mosseval"]["test"][1])) == 3

    chat, task_dict, _ = build_instances(reqs, is_simple=False)
    ctx, doc_to_messages, gen, doc_id, task, split = chat[1].args
    msgs = doc_to_messages(task_dict[task][split][doc_id])
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert [p["type"] for p in msgs[1]["content"]] == ["image", "image", "image", "text"]
    from lmms_eval.protocol import ChatMessages

    images, videos, _ = ChatMessages(messages=msgs).extract_media()
    assert len(images) == 3 and videos == []

    vid, task_dict, errors = build_instances([request("q?", 2)], is_simple=False, visual="video",
                                             data_dir=None)
    assert vid == [] and errors[0].kind == "media" and "data_dir" in errors[0].message


def test_dummy_simple_model_reads_the_video_paths(lmms, tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"\x00" * 64)
    (tmp_path / "b.mp4").write_bytes(b"\x00" * 64)
    model = load_model(resolve("lmms:dummy", {"response": "C", "read_bytes": 16, "visual": "video",
                                              "data_dir": str(tmp_path)}))
    assert model.needs_frames is False and model.is_simple
    reqs = [request("q1?", path="a.mp4"), request("q2?", path="missing.mp4"), request("q3?", path="b.mp4"),
            request("q4?", path="../escape.mp4"), request("q5?", path="frames_dir", kind="frames")]
    out = model.generate(reqs)
    assert [r.text for r in out] == ["C", None, "C", None, None]
    assert out[1].error.kind == "media" and "not found" in out[1].error.message
    assert out[3].error.kind == "media" and "escapes" in out[3].error.message
    assert "frame folder" in out[4].error.message
    assert model.model._local_file_count == 2  # the dummy really opened both files
    ident = model.identity()
    assert ident["model_class"] == "lmms_eval.models.simple.dummy.Dummy" and ident["visual"] == "video"
    # the runner-supplied absolute path wins over data_dir
    r = request("q?", path="whatever.mp4")
    r.video_path = str(tmp_path / "a.mp4")
    assert model.generate([r])[0].text == "C"


def test_openai_chat_model_through_the_bridge(lmms, chat_server):
    def responder(req):
        if "FAIL" in message_text(req):
            return Reply(text=None, status=500, error="nope")
        return f"<think>frames={len(decode_images(req))}</think>"

    srv = chat_server(responder)
    model = load_model(resolve("lmms:openai", {"model_version": "tm", "base_url": srv.base_url,
                                               "api_key": "EMPTY", "max_retries": 1, "num_concurrent": 2,
                                               "retry_backoff_s": 0}))
    assert not model.is_simple and model.needs_frames
    assert "api_key" not in model.identity()["model_args"]
    out = model.generate([request("q1?", 2, prefill="<think>"), request("FAIL?", 1), request("q3?", 4)])
    assert out[0].text == "frames=2</think>" and out[0].extra["prefill_echoed"] is True
    assert out[2].text == "<think>frames=4</think>"
    assert out[0].usage is not None and out[0].usage.prompt_tokens > 0
    assert out[1].text is None and out[1].error.kind == "model"
    assert "LMMS_EVAL_REQUEST_FAILED" in out[1].error.message
    bodies = [r.json for r in srv.chat_requests() if "FAIL" not in message_text(r.json)]
    assert sorted(len(decode_images(b)) for b in bodies) == [2, 4]
    assert all(b["max_tokens"] == 12 for b in bodies)


def test_unknown_lmms_model_name(lmms):
    with pytest.raises(UsageError, match="did you mean 'qwen2_5_vl'"):
        load_model(resolve("lmms:qwen2_5_vll", {}))


@pytest.mark.skipif(os.environ.get("MOSSEVAL_TEST_VLLM") != "1", reason="needs vLLM and a CUDA GPU")
@pytest.mark.gpu
def test_vllm_real_engine():  # pragma: no cover - GPU only
    model = load_model(resolve("vllm:" + os.environ.get("MOSSEVAL_VLLM_MODEL", "Qwen/Qwen2.5-VL-3B-Instruct"),
                               {"max_model_len": 8192}))
    out = model.generate([request("What colour is the video?", 4)])
    assert out[0].error is None and out[0].text
