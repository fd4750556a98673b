"""`mosseval data build-moss-video` against a loopback chat-completions server (scripted annotator)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from mosseval.data.build_moss_video import (
    BuildOptions,
    build,
    read_captions,
    split_of,
    validate_annotation,
)
from tests.support.benchmarks import PLACES, make_sharegpt4video_captions
from tests.support.chat_server import Reply, message_text
from tests.support.videos import write_mp4

TIMELINE_RE = re.compile(r"^\[t=([0-9.]+)s\] (.+)$", re.MULTILINE)


def scripted_annotation(request_json: dict[str, Any], bad: bool = False) -> dict[str, Any]:
    """What a careful annotator would write for the fixture's captions (read from the prompt)."""
    text = message_text(request_json)
    timeline = [(float(t), c) for t, c in TIMELINE_RE.findall(text)]
    obj = re.search(r"(?:with|the) an? ([a-z]+ [a-z]+) ", timeline[0][1]).group(1)
    places = [next(p for p in PLACES if p in c) for _, c in timeline]
    states = [{"t": t, "state": f"The {obj} is {p}."} for (t, _), p in zip(timeline, places)]
    items = []
    for m in (len(states) - 1, len(states) - 2):
        hidden = places[m]
        wrong = [p for p in PLACES if p not in places[m - 1:m + 1]][:3]
        options = {"A": f"It will be {wrong[0]}.", "B": f"It will be {wrong[1]}.", "C": f"It will be {wrong[2]}."}
        options["D"] = f"It will be {hidden}."
        items.append({
            "question": f"Where will the {obj} be next?",
            "options": options,
            "answer": "D",
            "masked_from": m,
            "reference_steps": [{"t": s["t"], "text": s["state"]} for s in states[:m]],
            "level": "coarse" if m % 2 else "fine",
            "category": "position",
        })
    if bad:
        leak = json.loads(json.dumps(items[0]))
        leak["reference_steps"].append({"t": states[-2]["t"], "text": f"Then the {obj} goes {places[-1]}."})
        wrong_answer = dict(items[0], answer="E")
        no_visible = dict(items[0], masked_from=0)
        late_step = json.loads(json.dumps(items[1]))
        late_step["reference_steps"].append({"t": states[-1]["t"], "text": "Something happens."})
        items = [leak, wrong_answer, no_visible, late_step]
    return {"object": obj, "states": states, "items": items}


def video_of(request_json: dict[str, Any]) -> str:
    # the summary names the object; the fixture's objects are unique per video
    text = message_text(request_json)
    return re.search(r"Summary: A short clip in which an? ([a-z]+ [a-z]+)", text).group(1)


@pytest.fixture
def captions(tmp_path) -> Path:
    path = tmp_path / "sharegpt4video_40k.jsonl"
    make_sharegpt4video_captions(path, n_videos=6, n_keyframes=5)
    return path


def opts(captions: Path, out: Path, server, **kw) -> BuildOptions:
    base = dict(captions=captions, out=out, annotator_model="scripted-annotator", base_url=server.base_url,
                concurrency=3, seed=0, test_fraction=0.5, max_retries=0, timeout=10)
    base.update(kw)
    return BuildOptions(**base)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_read_captions_timeline(captions):
    videos = read_captions(captions)
    assert len(videos) == 6
    v = videos[0]
    assert v.video_id == "mixkit-clip-100" and v.video_path == "mixkit-clip-100.mp4"
    assert v.summary.startswith("A short clip") and [t for t, _ in v.timeline] == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_build_end_to_end_then_run_the_task(captions, tmp_path, chat_server, cli):
    server = chat_server(responder=lambda req: json.dumps(scripted_annotation(req)))
    out = tmp_path / "moss-video"
    report = build(opts(captions, out, server))
    assert report.ok and report.n_videos == 6 and report.n_items == 12 and report.n_rejected_items == 0
    assert report.requests_sent == 6 and len(server.chat_requests()) == 6
    req = server.chat_requests()[0].json
    assert req["model"] == "scripted-annotator" and req["temperature"] == 0.0
    assert "Timeline:\n[t=0s]" in message_text(req)
    train, test = read_jsonl(out / "train.jsonl"), read_jsonl(out / "test.jsonl")
    assert len(train) + len(test) == 12 and train and test
    for rec in train + test:
        assert rec["split"] == split_of(rec["video_id"], 0, 0.5)
        assert set(rec["options"]) == set("ABCD") and rec["answer"] in rec["options"]
        assert rec["end"] == rec["states"][-1]["t"] and all(s["t"] <= rec["end"] for s in rec["reference_steps"])
        assert rec["masked_states"] and rec["masked_states"][0]["t"] > rec["end"]
    by_video: dict[str, set[str]] = {}
    for rec in train + test:
        by_video.setdefault(rec["video_id"], set()).add(rec["split"])
    assert all(len(s) == 1 for s in by_video.values())  # never split a video across train and test
    manifest = json.loads((out / "build.json").read_text())
    assert manifest["prompt_version"] == "1" and manifest["annotator"]["model"] == "scripted-annotator"

    # the output is a MOSS-Video dataset: run the moss-video task on it (with videos in place)
    for rec in train + test:
        if not (out / rec["video"]).exists():
            write_mp4(out / rec["video"], n=100, fps=10)
    proc = cli("run", "--model", "oracle", "--tasks", "moss-video", "--data-dir", str(out), "-o",
               str(tmp_path / "runs"), "-q")
    assert proc.returncode == 0, proc.stderr
    res = json.loads((Path(proc.stdout.strip().splitlines()[-1]) / "run.json").read_text())["results"]["moss-video"]
    assert res["n"] == len(test) and res["accuracy"]["value"] == 1.0 and res["prr"]["value"] == pytest.approx(1.0)
    assert set(res["breakdowns"]["level"]) <= {"coarse", "fine"}


def test_rerun_is_cached_and_resumes_after_failures(captions, tmp_path, chat_server):
    failing = {"blue cup", "green kite"}
    state = {"fail": True}

    def responder(req):
        if state["fail"] and video_of(req) in failing:
            return Reply(text=None, status=500, error="scripted outage")
        return json.dumps(scripted_annotation(req))

    server = chat_server(responder=responder)
    out = tmp_path / "mv"
    first = build(opts(captions, out, server))
    assert not first.ok and first.n_failed_videos == 2 and first.n_items == 8
    assert {f["video_id"] for f in first.failures} == {"mixkit-clip-101", "mixkit-clip-103"}
    sent = len(server.chat_requests())
    assert sent == 6

    state["fail"] = False
    second = build(opts(captions, out, server))
    assert second.ok and second.n_items == 12 and second.cache_hits == 4
    new = server.chat_requests()[sent:]
    assert sorted(video_of(r.json) for r in new) == sorted(failing)  # only the failed ones are asked again

    second_out = (out / "train.jsonl").read_text() + (out / "test.jsonl").read_text()
    third = build(opts(captions, out, server))
    assert third.requests_sent == 0 and third.cache_hits == 6 and len(server.chat_requests()) == sent + 2
    assert (out / "train.jsonl").read_text() + (out / "test.jsonl").read_text() == second_out
    # a different annotator model is a different fingerprint: nothing is reused
    fourth = build(opts(captions, out, server, annotator_model="another-model", limit=1))
    assert fourth.requests_sent == 1 and fourth.cache_hits == 0


def test_validation_rejects_bad_items_and_feeds_reasons_back(captions, tmp_path, chat_server):
    calls: dict[str, int] = {}

    def responder(req):
        v = video_of(req)
        calls[v] = calls.get(v, 0) + 1
        if v == "red ball" and calls[v] == 1:
            return "Sure! Here are some questions about the ball."  # not JSON
        if v == "white cat":
            return json.dumps(scripted_annotation(req, bad=calls[v] == 1))
        return json.dumps(scripted_annotation(req))

    server = chat_server(responder=responder)
    out = tmp_path / "mv"
    report = build(opts(captions, out, server))
    assert report.ok and report.n_items == 12
    assert calls["red ball"] == 2 and calls["white cat"] == 2 and calls["blue cup"] == 1
    retry = [r.json for r in server.chat_requests() if video_of(r.json) == "white cat"][1]
    feedback = retry["messages"][-1]["content"]
    assert "could not be used" in feedback and "reveals the hidden state" in feedback
    rejected = read_jsonl(out / "rejected.jsonl")
    reasons = {r["index"]: " ".join(r["reasons"]) for r in rejected if r["video_id"] == "mixkit-clip-102"}
    assert "reveals the hidden state" in reasons[0]
    assert "not one of A, B, C, D" in reasons[1]
    assert "at least one visible" in reasons[2]
    assert "after the cut" in reasons[3]


def test_validate_annotation_unit():
    videos = read_captions_from_lines()
    v = videos[0]
    req = {"messages": [{"role": "user", "content": "Summary: A short clip in which a red ball x\nTimeline:\n"
                         + "\n".join(f"[t={t:g}s] {c}" for t, c in v.timeline)}]}
    good = scripted_annotation(req)
    valid, rejected, errors = validate_annotation(good, v)
    assert len(valid) == 2 and not rejected and not errors
    # answer that does not describe the hidden state
    swapped = json.loads(json.dumps(good))
    swapped["items"][0]["answer"] = "A"
    valid, rejected, _ = validate_annotation(swapped, v)
    assert len(valid) == 1 and "does not describe the hidden state" in rejected[0]["reasons"][0]
    # duplicated options, question revealing the answer
    dup = json.loads(json.dumps(good))
    dup["items"][0]["options"]["B"] = dup["items"][0]["options"]["A"]
    dup["items"][1]["question"] = "Will it be " + dup["items"][1]["options"]["D"].removeprefix("It will be ")
    valid, rejected, _ = validate_annotation(dup, v)
    assert not valid
    assert any("same thing" in r for r in rejected[0]["reasons"])
    assert any("question" in r for r in rejected[1]["reasons"])
    # states out of order -> the whole reply is unusable
    bad = json.loads(json.dumps(good))
    bad["states"][1]["t"] = 0.0
    assert validate_annotation(bad, v)[2]
    assert validate_annotation("not an object", v)[2] == ["the reply is not a JSON object"]


def read_captions_from_lines():
    import tempfile

    d = Path(tempfile.mkdtemp())
    make_sharegpt4video_captions(d / "c.jsonl", n_videos=1)
    return read_captions(d / "c.jsonl")


def test_split_is_deterministic_by_video():
    ids = [f"vid-{i}" for i in range(400)]
    a = [split_of(v, 0, 0.2) for v in ids]
    assert a == [split_of(v, 0, 0.2) for v in ids]
    assert 0.12 < a.count("test") / len(a) < 0.28
    assert a != [split_of(v, 1, 0.2) for v in ids]
    assert set(split_of(v, 0, 0.0) for v in ids) == {"train"} and set(split_of(v, 0, 1.0) for v in ids) == {"test"}


def test_cli_build_and_bad_input(captions, tmp_path, chat_server, cli):
    server = chat_server(responder=lambda req: json.dumps(scripted_annotation(req)))
    out = tmp_path / "cli-out"
    proc = cli("data", "build-moss-video", "--captions", str(captions), "--out", str(out), "--annotator-model",
               "scripted", "--base-url", server.base_url, "--concurrency", "2", "--test-fraction", "0.5", "-q")
    assert proc.returncode == 0, proc.stderr
    assert "12 items" in proc.stdout and (out / "test.jsonl").is_file()
    again = cli("data", "build-moss-video", "--captions", str(captions), "--out", str(out), "--annotator-model",
                "scripted", "--base-url", server.base_url, "--test-fraction", "0.5", "-q")
    assert again.returncode == 0 and "0 request(s) sent, 6 cached" in again.stdout
    missing = cli("data", "build-moss-video", "--captions", str(tmp_path / "nope.jsonl"), "--out", str(out),
                  "--annotator-model", "scripted", "--base-url", server.base_url)
    assert missing.returncode == 6 and "ShareGPT4Video" in missing.stderr
    bad = cli("data", "build-moss-video", "--captions", str(captions), "--out", str(out), "--annotator-model",
              "scripted", "--base-url", server.base_url, "--test-fraction", "1.5")
    assert bad.returncode == 2 and "--test-fraction" in bad.stderr


def test_request_budget_stops_cleanly_and_keeps_finished_work(captions, tmp_path, chat_server):
    from mosseval.errors import RemoteError

    server = chat_server(responder=lambda req: json.dumps(scripted_annotation(req)))
    out = tmp_path / "mv"
    with pytest.raises(RemoteError):
        build(opts(captions, out, server, concurrency=1, max_requests=2))
    assert len(server.chat_requests()) == 2
    assert len(read_jsonl(out / "train.jsonl")) + len(read_jsonl(out / "test.jsonl")) == 4  # 2 videos x 2
    resumed = build(opts(captions, out, server))
    assert resumed.ok and resumed.cache_hits == 2 and resumed.requests_sent == 4
