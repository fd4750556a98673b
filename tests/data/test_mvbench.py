"""MVBench: published schema, video layouts, official frame indices and answer check, end-to-end runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mosseval.data import get_loader
from mosseval.data.mvbench import PREFILL, SUBTASKS, answer_check, official_check, official_prediction
from mosseval.errors import DataNotFoundError, UnsafePathError
from mosseval.records import Generation, Sample, SampleRecord
from mosseval.scoring import aggregate_task, score_sample
from mosseval.tasks import load_registry
from tests.support.benchmarks import (
    CANDIDATE_COUNTS,
    MVBENCH_BOUNDED,
    MVBENCH_FOLDERS,
    make_mvbench,
    official_segment_indices,
    write_mvbench_json,
)
from tests.support.videos import recover_index


@pytest.fixture(scope="module")
def registry():
    return load_registry()


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mvbench-mixed") / "MVBench"
    make_mvbench(root, n_per_subtask=3, layout="mixed")
    return root


def load(registry, name: str, root: Path) -> list[Sample]:
    task = registry[name]
    return get_loader(task.loader)(task, root)


def test_registry_has_group_and_all_20_subtasks_for_both_protocols(registry):
    assert len(SUBTASKS) == 20 and set(SUBTASKS) == set(MVBENCH_FOLDERS)
    assert registry["mvbench"].subtasks == [f"mvbench_{s}" for s in SUBTASKS]
    assert registry["mvbench-reasoning"].subtasks == [f"mvbench-reasoning_{s}" for s in SUBTASKS]
    off, rea = registry["mvbench_action_sequence"], registry["mvbench-reasoning_action_sequence"]
    assert off.protocol == "mvbench-official" and rea.protocol == "mvbench-reasoning"
    assert off.prompt.prefill == "Best option:(" and rea.prompt.prefill is None
    assert off.frames.strategy == "segment" and off.frames.num_frames == 16 and off.frames.use_bounds
    assert off.generation.max_new_tokens == 100 and off.generation.temperature == 0.0
    assert off.scoring.extractor == "mvbench_official"
    assert rea.scoring.extractor == "mc_strict" and rea.scoring.require_format
    assert off.prompt.system.startswith("Carefully watch the video and pay attention to the cause")


def test_official_prompt_text(registry, mixed):
    from mosseval.prompts import build_messages

    task = registry["mvbench_action_antonym"]
    s = load(registry, task.name, mixed)[0]
    msgs, prefill = build_messages(task, s)
    user = msgs[1]["content"][1]["text"]
    opts = "\n".join(f"({k}) {v}" for k, v in s.options.items())
    assert user == f"Question: {s.question}\nOptions:\n{opts}\nOnly give the best option."
    assert msgs[1]["content"][0] == {"type": "video"} and prefill == PREFILL
    assert msgs[0]["content"][0]["text"].endswith("accurately addresses the question.")


def test_items_letters_and_candidate_counts(registry, mixed):
    raw = {s: json.loads((mixed / "json" / f"{s}.json").read_text()) for s in SUBTASKS}
    for sub in SUBTASKS:
        samples = load(registry, f"mvbench_{sub}", mixed)
        assert len(samples) == len(raw[sub]) == 3
        for s, item in zip(samples, raw[sub]):
            letters = "ABCDEFGH"[: len(item["candidates"])]
            assert list(s.options) == list(letters)
            assert s.options[s.answer] == item["answer"]
            assert s.answer == letters[item["candidates"].index(item["answer"])]
            assert s.category == sub and s.metadata["num_candidates"] == CANDIDATE_COUNTS.get(sub, 4)
    three = load(registry, "mvbench_action_antonym", mixed)
    assert all(len(s.options) == 3 and s.options["C"] == "Not sure" for s in three)


def test_layouts_resolved_per_item(registry, mixed):
    # mixed fixture: star as pre-cut segments, clevrer in data0613, the rest original
    seq = load(registry, "mvbench_action_sequence", mixed)
    assert {s.metadata["layout"] for s in seq} == {"segment"}
    assert all(s.video.path.startswith("video/star/Charades_segment/") and s.video.start is None for s in seq)
    assert all(s.metadata["bounds_applied"] is False for s in seq)
    clev = load(registry, "mvbench_moving_count", mixed)
    assert {s.metadata["layout"] for s in clev} == {"supplementary"}
    assert all(s.video.path.startswith("video/data0613/clevrer/video_validation/") for s in clev)
    loc = load(registry, "mvbench_action_localization", mixed)
    assert {s.metadata["layout"] for s in loc} == {"original"}
    assert all(s.video.start is not None and s.video.end is not None for s in loc)
    ep = load(registry, "mvbench_episodic_reasoning", mixed)
    assert all(s.video.kind == "frames" and s.video.fps == 3 and s.video.first_index == 1 for s in ep)
    for sub in SUBTASKS:  # every resolved path exists
        for s in load(registry, f"mvbench_{sub}", mixed):
            assert (mixed / s.video.path).exists(), s.video.path


def test_segment_layout_mp4_conversions(registry, tmp_path):
    root = tmp_path / "MVBench"
    make_mvbench(root, n_per_subtask=2, layout="segment",
                 subtasks=["action_antonym", "fine_grained_pose", "episodic_reasoning", "action_localization"])
    ant = load(registry, "mvbench_action_antonym", root)
    assert {s.metadata["layout"] for s in ant} == {"converted"}
    assert all(s.video.path.startswith("video/ssv2_video_mp4/") and s.video.path.endswith(".mp4") for s in ant)
    pose = load(registry, "mvbench_fine_grained_pose", root)
    assert all(s.video.path.startswith("video/nturgbd_convert/") for s in pose)
    ep = load(registry, "mvbench_episodic_reasoning", root)
    assert all(s.video.kind == "file" and s.video.path.startswith("video/tvqa/video_fps3_hq_segment/") for s in ep)
    assert all(s.video.start is None and s.metadata["bounds"] for s in ep)


def test_original_layout_at_root_without_video_folder(registry, tmp_path):
    root = tmp_path / "MVBench"
    make_mvbench(root, n_per_subtask=1, subtasks=["state_change"])
    (root / "perception").parent.mkdir(exist_ok=True)
    (root / "video" / "perception").rename(root / "perception")
    s = load(registry, "mvbench_state_change", root)[0]
    assert s.video.path == "perception/videos/" + s.metadata["source_video"]


def test_official_frame_indices_bounded_item(registry, mixed):
    from mosseval.video import sample_frames

    task = registry["mvbench_action_localization"]  # bounded, original layout, 10 s at 10 fps
    for s in load(registry, task.name, mixed)[:3]:
        frames = sample_frames(s.video, task.frames, mixed)
        expect = official_segment_indices(100, 10.0, (s.video.start, s.video.end), 0)
        assert frames.info.indices == expect
        assert min(expect) >= round(s.video.start * 10) and max(expect) <= round(s.video.end * 10)
        assert [recover_index(f) for f in frames.array] == expect  # the decoder returned those frames


def test_official_frame_indices_frame_folder(registry, mixed):
    from mosseval.video import sample_frames

    task = registry["mvbench_episodic_reasoning"]  # 30 JPEGs 00001.jpg… at 3 fps, bounded
    for s in load(registry, task.name, mixed):
        frames = sample_frames(s.video, task.frames, mixed)
        expect = official_segment_indices(30, 3.0, (s.video.start, s.video.end), 1, frame_folder=True)
        assert frames.info.indices == expect
        # image NNNNN.jpg shows pattern NNNNN - 1 (the fixture numbers images from 1)
        assert [recover_index(f) + 1 for f in frames.array] == expect


def test_unbounded_subtask_samples_the_whole_video(registry, tmp_path):
    from mosseval.video import sample_frames

    root = tmp_path / "MVBench"
    fx = make_mvbench(root, n_per_subtask=1, subtasks=["scene_transition"])
    items = fx.items["scene_transition"]
    items[0]["start"], items[0]["end"] = 2.0, 3.0  # the official code ignores bounds here
    write_mvbench_json(root, "scene_transition", items)
    task = registry["mvbench_scene_transition"]
    s = load(registry, task.name, root)[0]
    assert s.video.start is None and s.metadata["bounds_applied"] is False
    assert sample_frames(s.video, task.frames, root).info.indices == official_segment_indices(100, 10.0, None, 0)


# ----------------------------------------------------------------------------- answer check


def _sample(n: int = 4, answer: str = "B") -> Sample:
    letters = "ABCDEFGH"[:n]
    return Sample(id="x", task="mvbench_x", question="q", options={k: f"option {k}" for k in letters}, answer=answer)


@pytest.mark.parametrize("text,gold,n,correct,parsed,extracted", [
    ("B) option B", "B", 4, True, True, "B"),          # continuation of "Best option:("
    ("B", "B", 4, True, True, "B"),
    ("b.", "B", 4, True, True, "B"),
    (" B)\nBecause A is wrong", "B", 4, True, True, "B"),  # only the first line counts
    ("(B) option B", "B", 4, True, True, "B"),          # model re-opened the bracket
    ("Best option:(B) option B", "B", 4, True, True, "B"),  # prefill echoed (API without prefill)
    ("Best option: (C)", "B", 4, False, True, "C"),
    ("A) option A", "B", 4, False, True, "A"),
    ("", "B", 4, False, False, None),                   # empty: official would accept, we do not
    ("   \n  ", "B", 4, False, False, None),
    (None, "B", 4, False, False, None),
    ("The answer is a", "A", 4, False, False, None),    # the article "a" is not option A
    ("a person opens the door", "B", 4, False, True, "A"),  # after "(" the first token is the label
    ("F) option F", "F", 6, True, True, "F"),           # letters past E
    ("E)", "B", 3, False, False, None),                 # not an option of a 3-candidate item
    ("A)(B)", "B", 4, False, False, None),              # one first token holding two labels: ambiguous
    ("B) option B. Or maybe (C)", "B", 4, True, True, "B"),  # only the first token is read, as upstream
    ("C) option C, not (B)", "B", 4, False, True, "C"),
    ("Not sure", "C", 3, False, False, None),
])
def test_answer_check_cases(registry, text, gold, n, correct, parsed, extracted):
    task = registry["mvbench_action_antonym"]
    res = answer_check(text, _sample(n, gold), task, PREFILL)
    assert (res.correct, not res.parse_failed, res.extracted) == (correct, parsed, extracted)
    assert res.approximate is False


def test_official_check_is_the_published_rule():
    # prediction "(" + first line, gold "(x) text"; containment of the first tokens either way
    assert official_prediction("A) text", PREFILL) == "(A) text"
    assert official_check("(A) text", "(A) gold text")
    assert official_check("(a.", "(A) gold")
    assert official_check("((a)", "(A) gold")
    assert not official_check("(ab)", "(A) gold")
    assert official_check("(", "(A) gold")  # the published rule accepts an empty answer…
    res = answer_check("", _sample(4, "A"), load_registry()["mvbench_scene_transition"], PREFILL)
    assert not res.correct and res.parse_failed  # …we do not


def test_empty_and_garbage_predictions_stay_in_the_denominator(registry):
    task = registry["mvbench_scene_transition"]
    texts = ["B)", "", "garbage output", None, "B) option B", "A)"]
    records = []
    for i, t in enumerate(texts):
        s = _sample(4, "B").model_copy(update={"id": f"s{i}"})
        gen = Generation(text=t) if t is not None else Generation(text=None)
        rec = SampleRecord(key=s.id, task=task.name, index=i, sample=s, generation=gen)
        rec.score = score_sample(task, s, gen, PREFILL)
        records.append(rec)
    result = aggregate_task(task, records)
    assert result.n == 6
    assert result.accuracy.value == pytest.approx(2 / 6)
    assert result.parse_failure_rate == pytest.approx(2 / 6)  # "" and "garbage"; None is not a parse


# ----------------------------------------------------------------------------- errors and safety


def test_missing_annotations_message(registry, tmp_path):
    task = registry["mvbench_action_count"]
    with pytest.raises(DataNotFoundError) as ei:
        get_loader("mvbench")(task, tmp_path)
    msg = str(ei.value)
    assert "json/action_count.json" in msg and "gated" in msg and "huggingface.co/datasets/OpenGVLab/MVBench" in msg


def test_escaping_paths_are_per_sample_errors(registry, tmp_path):
    from mosseval.video import sample_frames

    root = tmp_path / "MVBench"
    fx = make_mvbench(root, n_per_subtask=3, subtasks=["object_shuffle"])
    (tmp_path / "secret.mp4").write_bytes(b"x")
    items = fx.items["object_shuffle"]
    items[0]["video"] = "../../../secret.mp4"
    items[1]["video"] = str(tmp_path / "secret.mp4")
    write_mvbench_json(root, "object_shuffle", items)
    task = registry["mvbench_object_shuffle"]
    samples = load(registry, task.name, root)
    assert len(samples) == 3  # loading does not crash
    for s in samples[:2]:
        with pytest.raises(UnsafePathError, match="escapes the data root|absolute"):
            sample_frames(s.video, task.frames, root)
    assert sample_frames(samples[2].video, task.frames, root).array.shape[0] == 16


def test_run_with_escaping_item_records_a_sample_error(tmp_path, cli):
    root = tmp_path / "MVBench"
    fx = make_mvbench(root, n_per_subtask=3, subtasks=["object_shuffle"])
    items = fx.items["object_shuffle"]
    items[0]["video"] = "../../outside.mp4"
    items[1]["video"] = "not_downloaded.mp4"
    write_mvbench_json(root, "object_shuffle", items)
    proc = cli("run", "--model", "oracle", "--tasks", "mvbench_object_shuffle", "--data-dir", str(root),
               "-o", str(tmp_path / "runs"), "-q")
    assert proc.returncode == 3, proc.stderr
    run_dir = next((tmp_path / "runs").iterdir())
    recs = {r["sample"]["id"]: r for r in map(json.loads, (run_dir / "samples.jsonl").read_text().splitlines())}
    assert len(recs) == 3
    escaping, missing, fine = recs["object_shuffle-0000"], recs["object_shuffle-0001"], recs["object_shuffle-0002"]
    assert "escapes the data root" in escaping["generation"]["error"]["message"]
    assert "not found" in missing["generation"]["error"]["message"]
    for r in (escaping, missing):  # an error is never scored as an answer, and stays in the denominator
        assert r["generation"]["text"] is None and r["score"]["correct"] is False
    assert fine["generation"]["error"] is None and fine["score"]["correct"] is True
    result = json.loads((run_dir / "run.json").read_text())["results"]["mvbench_object_shuffle"]
    assert result["n"] == 3 and result["n_errors"] == 2 and result["accuracy"]["value"] == pytest.approx(1 / 3)


# ----------------------------------------------------------------------------- end to end


def test_oracle_and_random_runs_end_to_end(tmp_path, cli):
    root = tmp_path / "MVBench"
    make_mvbench(root, n_per_subtask=20, layout="mixed")
    chance = {s: 1 / CANDIDATE_COUNTS.get(s, 4) for s in SUBTASKS}
    results = {}
    for model, limit in (("oracle", "3"), ("random", "20")):
        proc = cli("run", "--model", model, "--tasks", "mvbench", "--data-dir", str(tmp_path),
                   "-o", str(tmp_path / "runs"), "-q", "--limit", limit)
        assert proc.returncode == 0, proc.stderr
        run_dir = Path(proc.stdout.strip().splitlines()[-1])
        results[model] = json.loads((run_dir / "run.json").read_text())
    oracle, rnd = results["oracle"], results["random"]
    assert oracle["groups"]["mvbench"]["accuracy"]["value"] == 1.0
    assert oracle["groups"]["mvbench"]["n"] == 60 and rnd["groups"]["mvbench"]["n"] == 400
    assert set(oracle["groups"]["mvbench"]["breakdowns"]["subtask"]) == {f"mvbench_{s}" for s in SUBTASKS}
    assert all(r["protocol"] == "mvbench-official" for r in oracle["results"].values())
    for sub in SUBTASKS:
        acc = rnd["results"][f"mvbench_{sub}"]["accuracy"]["value"]
        assert abs(acc - chance[sub]) < 0.3, (sub, acc)
        assert rnd["results"][f"mvbench_{sub}"]["parse_failure_rate"] == 0.0
    overall = rnd["groups"]["mvbench"]["accuracy"]
    expected = sum(chance.values()) / len(chance)
    assert abs(overall["value"] - expected) < 0.07
    assert overall["ci_low"] <= expected <= overall["ci_high"]
    # the 3-candidate subtasks have a higher chance level than the 4- and 5-candidate ones
    assert chance["action_antonym"] > chance["scene_transition"] > chance["episodic_reasoning"]


def test_reasoning_protocol_end_to_end(tmp_path, cli):
    root = tmp_path / "MVBench"
    make_mvbench(root, n_per_subtask=2, subtasks=list(SUBTASKS))
    proc = cli("run", "--model", "oracle", "--tasks", "mvbench-reasoning", "--data-dir", str(root),
               "-o", str(tmp_path / "runs"), "-q")
    assert proc.returncode == 0, proc.stderr
    run = json.loads((Path(proc.stdout.strip().splitlines()[-1]) / "run.json").read_text())
    group = run["groups"]["mvbench-reasoning"]
    assert group["accuracy"]["value"] == 1.0 and group["format_rate"] == 1.0
    assert group["protocol"] == "mvbench-reasoning"
    assert MVBENCH_BOUNDED <= set(SUBTASKS)


def test_segment_file_found_by_numeric_bounds(registry, tmp_path):
    root = tmp_path / "MVBench"
    fx = make_mvbench(root, n_per_subtask=1, layout="segment", subtasks=["object_interaction"])
    item = fx.items["object_interaction"][0]
    seg = root / "video" / "star" / "Charades_segment"
    (f,) = list(seg.iterdir())
    stem = item["video"].rsplit(".", 1)[0]
    # the release writes Python float reprs such as 1.2999999999999998 where the JSON says 1.3
    f.rename(seg / f"{stem}_{item['start'] - 1e-12!r}_{item['end'] + 1e-12!r}.mp4")
    s = load(registry, "mvbench_object_interaction", root)[0]
    assert s.metadata["layout"] == "segment" and s.video.path.startswith("video/star/Charades_segment/")
    assert (root / s.video.path).is_file() and s.video.start is None
