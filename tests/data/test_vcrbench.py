"""VCR-Bench: the published layout, the official answer rules and CoT score (with their quirks),
the offline rule score, and oracle / random runs end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mosseval.data import get_loader
from mosseval.data.vcrbench import (
    COT_PROMPT,
    DIMENSIONS,
    answer_check,
    duration_bucket,
    extract_box,
    extract_interval,
    item_f1,
    official_accuracy,
    official_box_iou,
    official_cot_score,
    official_is_box,
    official_is_interval,
    official_precision,
    official_recall,
    official_rule_score,
    official_time_iou,
)
from mosseval.errors import ConfigError, DataNotFoundError
from mosseval.prompts import render_user_text
from mosseval.records import Sample
from mosseval.tasks import load_registry
from tests.support.benchmarks import VCR_DIMENSIONS, make_vcrbench, run_task


@pytest.fixture(scope="module")
def registry():
    return load_registry()


@pytest.fixture(scope="module")
def vcr(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "VCR-Bench"
    return make_vcrbench(root, n=28)


def load(registry, root: Path) -> list[Sample]:
    task = registry["vcr-bench"]
    return get_loader(task.loader)(task, root)


# ----------------------------------------------------------------------------- loading


def test_dimensions_are_the_papers_seven():
    assert list(DIMENSIONS) == VCR_DIMENSIONS
    assert list(DIMENSIONS.values()) == ["FTR", "VTC", "VTG", "VKR", "TSR", "VPA", "TSG"]


def test_loader_reads_the_published_fields(registry, vcr):
    samples = load(registry, vcr.root)
    assert [s.id for s in samples] == [str(it["id"]) for it in vcr.items]
    for s, it in zip(samples, vcr.items):
        assert s.question == it["question"] and s.category == it["dimension"]
        assert s.video.path == "v1/videos/" + it["video_path"]
        assert (vcr.root / s.video.path).is_file()
        assert s.metadata["reasoning"] == it["reasoning"]  # the raw steps, for the CoT judge
        assert s.metadata["duration"] == it["duration"]
        if it["multiple-choice"]:
            assert s.question_type == "multiple-choice" and s.options == it["choices"] and s.answer == it["answer"]
            assert s.metadata["answer_kind"] == "choice"
        else:
            assert s.question_type == "open-ended" and s.options == {} and s.answer == it["answer"]
    kinds = {s.metadata["answer_kind"] for s in samples}
    assert kinds == {"choice", "text", "interval", "box"}
    vtg = next(s for s in samples if s.category == "Video Temporal Grounding")
    assert vtg.metadata["answer_kind"] == "interval" and vtg.metadata["dimension_abbr"] == "VTG"
    assert next(s for s in samples if s.category == "Temporal Spatial Grounding").metadata["answer_kind"] == "box"


def test_reference_steps_keep_their_time_ranges(registry, vcr):
    s = load(registry, vcr.root)[0]
    steps = s.reference_steps
    # "1. 0:01-0:03, …" / "2. From 0:04 to 0:06, … . The camera then …" / "3. Therefore, …"
    assert [(r.start, r.end) for r in steps] == [(1.0, 3.0), (4.0, 6.0), (4.0, 6.0), (None, None)]
    assert steps[0].text.startswith("0:01-0:03, ") and not steps[0].text.startswith("1.")
    assert steps[2].text == "The camera then follows it to the door."


def test_both_roots_are_accepted(registry, vcr):
    from_repo = load(registry, vcr.root)
    from_videos = load(registry, vcr.root / "v1" / "videos")
    assert [s.video.path for s in from_videos] == [it["video_path"] for it in vcr.items]
    assert [s.id for s in from_videos] == [s.id for s in from_repo]


def test_duration_buckets_follow_cau_acc(registry, vcr):
    assert [duration_bucket(d) for d in (0, 12, 60, 61, 300, 301, 1200, None)] == [
        "0-60", "0-60", "0-60", "60-300", "60-300", "300+", "300+", "0-60"]
    got = {s.metadata["duration_bucket"] for s in load(registry, vcr.root)}
    assert got == {"0-60", "60-300", "300+"}


def test_prompt_is_the_question_and_the_papers_cot_instruction(registry, vcr):
    task = registry["vcr-bench"]
    s = load(registry, vcr.root)[0]
    text = render_user_text(task, s)
    assert text == s.question.strip() + "\n" + COT_PROMPT
    assert "A. " in s.question and "D. " in s.question  # options are inline in the published question
    assert task.frames.strategy == "bin_start" and task.frames.num_frames == 64
    assert task.scoring.approximate and task.scoring.prr is not None and not task.scoring.require_format


def test_bin_start_frames_are_the_authors_indices():
    import math

    from mosseval.video import compute_indices

    spec = load_registry()["vcr-bench"].frames
    for n in (64, 65, 100, 1799, 7201):
        assert compute_indices(spec, n, 30.0) == [math.floor(i * n / 64) for i in range(64)]


def test_bad_annotations_name_the_item(registry, tmp_path):
    root = tmp_path / "VCR-Bench"
    fx = make_vcrbench(root, n=3)
    meta = root / "v1" / "videos" / "meta_info_video.json"
    items = fx.items
    bad = [dict(items[0], answer="E")] + items[1:]
    meta.write_text(json.dumps(bad))
    with pytest.raises(ConfigError, match=r"meta_info_video\.json: item 0: answer 'E' is not one of its options"):
        load(registry, root)
    meta.write_text(json.dumps([{k: v for k, v in items[0].items() if k != "multiple-choice"}]))
    with pytest.raises(ConfigError, match=r"item 0 lacks field\(s\) \['multiple-choice'\]"):
        load(registry, root)
    meta.write_text(json.dumps([items[1], items[1]]))
    with pytest.raises(ConfigError, match="duplicate id '1'"):
        load(registry, root)
    meta.write_text("[{")
    with pytest.raises(ConfigError, match="invalid JSON"):
        load(registry, root)


def test_missing_data_lists_where_it_looked_and_how_to_get_it(registry, tmp_path):
    from mosseval.data.locate import resolve_data_root

    with pytest.raises(DataNotFoundError) as e:
        resolve_data_root(registry["vcr-bench"], tmp_path)
    assert str(tmp_path / "VCR-Bench") in str(e.value) and "VLM-Reasoning/VCR-Bench" in (e.value.hint or "")
    with pytest.raises(DataNotFoundError, match="VCR-Bench annotations not found"):
        load(registry, tmp_path)


def test_data_check_and_zipped_videos(registry, tmp_path, cli):
    ok = tmp_path / "ok" / "VCR-Bench"
    make_vcrbench(ok, n=4)
    proc = cli("data", "check", "vcr-bench", "--data-dir", str(ok.parent))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all video references are readable" in proc.stdout
    zipped = tmp_path / "zipped" / "VCR-Bench"
    make_vcrbench(zipped, n=4, zipped=True)
    s = load(registry, zipped)[0]
    assert "unzip" in s.metadata["media_hint"] and "video.zip" in s.metadata["media_hint"]
    proc = cli("data", "check", "vcr-bench", "--data-dir", str(zipped.parent))
    assert proc.returncode == 3 and "missing" in proc.stdout


# ----------------------------------------------------------------------------- official rules


@pytest.mark.parametrize("text,ok", [
    ("[3, 8]", True), ("[3.5, 8.25]", True), (" [3, 8]", True),  # literal_eval strips whitespace
    ("[True, False]", True),  # quirk: bool is an int
    ("(3, 8)", False),  # a tuple is not a list
    ("[3, 8, 9]", False), ("[3]", False), ("['3', '8']", False), ("3-8", False), ("", False), ("Kitchen", False),
])
def test_official_interval_validity(text, ok):
    assert official_is_interval(text) is ok


@pytest.mark.parametrize("text,ok", [
    ("[10, 20, 110, 80]", True), ("[ 10 , 20 , 110 , 80 ]", True), ("[+1, 2, 3, 4]", True),
    ("[1.5, 2, 3, 4]", False),  # int() refuses decimals
    ("[1, 2, 3]", False), ("(1, 2, 3, 4)", False), (" [1, 2, 3, 4]", False),  # no strip before '['
    ("[a, 2, 3, 4]", False),
])
def test_official_box_validity(text, ok):
    assert official_is_box(text) is ok


def test_official_iou_functions():
    assert official_time_iou([0, 10], [5, 15]) == pytest.approx(5 / 15)
    assert official_time_iou([0, 10], [20, 30]) == 0
    assert official_time_iou([5, 5], [5, 5]) == 0  # empty hull -> 0
    assert official_box_iou([0, 0, 10, 10], [5, 5, 15, 15]) == pytest.approx(25 / 175)
    assert official_box_iou([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0
    with pytest.raises(ZeroDivisionError):
        official_box_iou([0, 0, 0, 0], [0, 0, 0, 0])


@pytest.mark.parametrize("gold,extracted,score", [
    ("[0, 10]", "[0, 8]", "1"),  # IoU 0.8
    ("[0, 10]", "[0, 7]", "0"),  # IoU exactly 0.7 is not > 0.7
    ("[0, 10]", "[0, 7.1]", "1"),
    ("[0, 10]", "Z", None),  # not both intervals: the scoring judge decides
    ("[0, 0, 10, 10]", "[0, 0, 10, 6]", "1"),  # IoU 0.6
    ("[0, 0, 10, 10]", "[0, 0, 10, 5]", "0"),  # IoU exactly 0.5
    ("[0, 0, 0, 0]", "[0, 0, 0, 0]", 0),  # zero union raises: upstream scores int 0 (wrong)
    ("[0, 0, 10, 10]", "[0.0, 0, 10, 10]", None),  # a float corner is no box: to the judge
    ("Kitchen", "kitchen", None),
    ("D", "D", None),  # multiple choice always goes to the scoring judge upstream
])
def test_official_rule_score(gold, extracted, score):
    assert official_rule_score(gold, extracted) == score


def test_official_accuracy_counts_only_the_string_one():
    items = [
        {"answer_scoring": "1", "dimension": "Video Plot Analysis", "duration": 30},
        {"answer_scoring": "0", "dimension": "Video Plot Analysis", "duration": 60},
        {"answer_scoring": 0, "dimension": "Video Temporal Grounding", "duration": 301},  # error path
        {"answer_scoring": "1", "dimension": "Video Temporal Grounding", "duration": 61},
        {"answer_scoring": 1, "dimension": "Video Temporal Grounding"},  # an int 1 is not '1' (quirk)
    ]
    res = official_accuracy(items)
    assert res["overall_accuracy"] == pytest.approx(2 / 5)
    assert res["dimension_accuracy"] == {"Video Plot Analysis": 0.5, "Video Temporal Grounding": pytest.approx(1 / 3)}
    assert res["duration_accuracy"] == {"0-60": pytest.approx(1 / 3), "60-300": 1.0, "300+": 0.0}


def _judgments(spec: list[tuple[str, str]]) -> list[dict[str, str]]:
    names = {"V": "Video Description Steps", "L": "Logical Inference Steps", "B": "Background Review Steps"}
    return [{"step": f"s{i}", "step_type": names[t], "judgment": j} for i, (t, j) in enumerate(spec)]


def test_official_recall_and_precision_exclude_background():
    rec = _judgments([("V", "Matched"), ("V", "Unmatched"), ("L", "Matched"), ("B", "Matched"), ("B", "Matched")])
    r = official_recall(rec)
    assert r == {"Video_recall": 0.5, "logic_recall": 1.0, "background_recall": 1.0,
                 "overall_recall": pytest.approx(2 / 3)}
    assert official_recall(rec, include_background=True)["overall_recall"] == pytest.approx(4 / 5)  # VLMEvalKit
    pre = _judgments([("V", "Matched"), ("V", "Wrong"), ("L", "Redundant"), ("B", "Wrong"), ("L", "Matched")])
    p = official_precision(pre)
    assert p["Video_precision"] == 0.5 and p["logic_precision"] == 1.0 and p["background_precision"] == 0.0
    assert p["overall_precision"] == pytest.approx(2 / 3) and p["efficiency"] == pytest.approx(4 / 5)
    assert official_precision(pre, include_background=True)["overall_precision"] == pytest.approx(2 / 4)
    only_background = official_recall(_judgments([("B", "Matched")]))
    assert only_background["overall_recall"] == "" and only_background["Video_recall"] == ""
    with pytest.raises(KeyError):  # the prompt's "Match" label is not counted upstream (it re-asks)
        official_precision(_judgments([("V", "Match")]))
    with pytest.raises(ZeroDivisionError):  # no steps: upstream drops the item from its output file
        official_precision([])


def test_official_cot_score_is_f1_of_the_mean_precision_and_recall():
    items = [
        {"overall_precision": 1.0, "overall_recall": 0.2, "Video_precision": "", "Video_recall": 0.0,
         "logic_precision": 1.0, "logic_recall": 0.5},
        {"overall_precision": 0.5, "overall_recall": 0.8, "Video_precision": 0.5, "Video_recall": 1.0,
         "logic_precision": "", "logic_recall": ""},
        {"overall_precision": "", "overall_recall": 0.5},  # precision undefined: left out of its mean only
    ]
    s = official_cot_score(items)
    assert s["overall"]["precision"] == pytest.approx(0.75) and s["overall"]["recall"] == pytest.approx(0.5)
    assert s["overall"]["f1"] == pytest.approx(2 * 0.75 * 0.5 / 1.25)
    assert s["Video"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert s["logic"]["precision"] == 1.0 and s["logic"]["recall"] == 0.5
    # the dataset F1 is not the mean of the item F1s
    per_item = [item_f1(it["overall_precision"], it["overall_recall"]) for it in items[:2]]
    assert sum(per_item) / 2 != pytest.approx(s["overall"]["f1"])
    assert item_f1("", 0.5) is None and item_f1(0.0, 0.0) == 0.0


# ----------------------------------------------------------------------------- offline rule score


@pytest.mark.parametrize("text,expected", [
    ("The event happens from 0:12 to 0:20.", [12.0, 20.0]),
    ("Step 1 … the person appears at 0:02.\nAnswer: [12, 20.5]", [12.0, 20.5]),
    ("**Start time:** 00:03\n**End time:** 00:11", [3.0, 11.0]),
    ("It lasts from 3.5 s to 9 seconds.", [3.5, 9.0]),
    ("At 0:05 it starts; the final answer is 0:06 - 0:09", [6.0, 9.0]),  # the last one stated
    ("no time at all", None),
])
def test_extract_interval(text, expected):
    assert extract_interval(text) == expected


def test_extract_box():
    assert extract_box("first [1, 2, 3, 4], finally [10, 20, 110.5, 80]") == [10.0, 20.0, 110.5, 80.0]
    assert extract_box("[1, 2, 3]") is None


def _vcr_sample(kind: str, answer: str, options: dict[str, str] | None = None) -> Sample:
    return Sample(id="1", task="vcr-bench", question="q", options=options or {}, answer=answer,
                  question_type="multiple-choice" if kind == "choice" else "open-ended",
                  metadata={"answer_kind": kind})


@pytest.mark.parametrize("kind,answer,text,correct,parsed", [
    ("choice", "B", "Step 1: the cup falls.\nOption A is wrong. Therefore, the answer is B.", True, True),
    ("choice", "B", "It could be A or C.", False, False),
    ("interval", "[12, 20]", "The event spans 0:12-0:19.", True, True),  # IoU 7/8
    ("interval", "[12, 20]", "The event spans 0:12-0:17.", False, True),  # IoU 5/8
    ("interval", "[12, 20]", "I cannot tell when.", False, False),
    ("box", "[10, 20, 110, 80]", "The box is [12, 20, 110, 80].", True, True),
    ("box", "[10, 20, 110, 80]", "The box is [60, 20, 110, 80].", False, True),
    ("text", "Kitchen", "They move rooms.\nTherefore, the final answer is: the kitchen.", True, True),
    ("text", "Kitchen", "Therefore, the final answer is: not the kitchen.", False, True),
    ("text", "Kitchen", "", False, False),
])
def test_offline_rule_score(registry, kind, answer, text, correct, parsed):
    options = {k: f"option {k}" for k in "ABCD"} if kind == "choice" else None
    res = answer_check(text, _vcr_sample(kind, answer, options), registry["vcr-bench"], None)
    assert (res.correct, not res.parse_failed) == (correct, parsed)
    assert res.approximate is True


# ----------------------------------------------------------------------------- end to end


def test_oracle_and_random_runs(tmp_path, cli):
    make_vcrbench(tmp_path / "VCR-Bench", n=56)
    out = {}
    for model in ("oracle", "random"):
        done = run_task(cli, model, "vcr-bench", tmp_path, tmp_path / "runs")
        out[model] = (done.result, done.records)
    oracle, _ = out["oracle"]
    assert oracle["accuracy"]["value"] == 1.0 and oracle["prr"]["value"] == 1.0 and oracle["approximate"]
    assert oracle["prr_correct"]["value"] == 1.0 and oracle["prr_incorrect"]["value"] is None
    assert set(oracle["breakdowns"]["category"]) == set(VCR_DIMENSIONS)
    assert set(oracle["breakdowns"]["duration_bucket"]) == {"0-60", "60-300", "300+"}
    assert set(oracle["breakdowns"]["answer_kind"]) == {"choice", "text", "interval", "box"}
    rnd, recs = out["random"]
    mc = [r for r in recs if r["sample"]["question_type"] == "multiple-choice"]
    mc_acc = sum(r["score"]["correct"] for r in mc) / len(mc)
    assert len(mc) == 20 and abs(mc_acc - 0.25) < 0.2  # four options: chance 0.25
    assert rnd["breakdowns"]["answer_kind"]["choice"]["value"] == pytest.approx(mc_acc)
    assert rnd["accuracy"]["value"] < 0.2 and rnd["prr"]["value"] < 0.2  # unrelated reasoning
    # reference steps (with their times) reach the saved records
    steps = recs[0]["sample"]["reference_steps"]
    assert steps[0]["start"] is not None and "end" in steps[0]


# ----------------------------------------------------------------------------- judge replies

from mosseval.data.vcrbench import (  # noqa: E402
    PRECISION_LABELS,
    RECALL_LABELS,
    parse_step_judgments,
    scoring_reply_correct,
)

RECALL_REPLY = """```json
[
  {"step": "1. 0:08-0:30, a series of explosions", "step_type": "Video Description Steps", "judgment": "Unmatched"},
  {"step": "4. Therefore, …", "step_type": "Logical Inference Steps", "judgment": "Matched"}
]
```"""


def test_step_judgment_replies():
    got = parse_step_judgments(RECALL_REPLY, RECALL_LABELS)
    assert [(j["step_type"], j["judgment"]) for j in got] == [("Video Description Steps", "Unmatched"),
                                                              ("Logical Inference Steps", "Matched")]
    assert official_recall(got)["overall_recall"] == 0.5
    bare = '[{"step": "x", "step_type": "Background Review Steps", "judgment": "Redundant"}]'
    assert parse_step_judgments(bare, PRECISION_LABELS)[0]["judgment"] == "Redundant"  # VLMEvalKit style
    match = '[{"step": "x", "step_type": "Video Description Steps", "judgment": "Match"}]'
    assert parse_step_judgments(match, PRECISION_LABELS)[0]["judgment"] == "Matched"
    for bad, why in [("", "empty"), ("I think all steps match.", "no JSON array"), ("[{\"step\": 1,", "parse"),
                     ('[{"step": "x", "step_type": "Visual Steps", "judgment": "Matched"}]', "step_type"),
                     ('[{"step": "x", "step_type": "Video Description Steps", "judgment": "Wrong"}]', "judgment")]:
        with pytest.raises(ValueError, match=why):
            parse_step_judgments(bad, RECALL_LABELS)


def test_scoring_reply_is_one_or_wrong():
    assert scoring_reply_correct("1") and scoring_reply_correct(" 1\n")
    assert not scoring_reply_correct("0") and not scoring_reply_correct("1.") and not scoring_reply_correct(None)


# ----------------------------------------------------------------------------- official judge rubrics

# sha256 of the prompt text for the hand-made item below, computed with the authors' eval_code/prompt.py
# and eval.py (Answer_Extraction_Prompt_part1 + part2.format(...), Answer_Scoring_Prompt_part1 + part2,
# Recall_Evaluation_Prompt.format(...), Precision_Evaluation_Prompt.format(...)).
UPSTREAM_PROMPT_SHA256 = {
    "vcrbench-extract": "7b9245d547a4067327ba5601f9cdb5c63bbdd672231cb2984d9ca342967bfdd3",
    "vcrbench-answer": "90a852b89a7f053dea0cf1bbb7ac8c62fdc08c822693e7b575e40ea4abe202e0",
    "vcrbench-recall": "be43bbb5fc1d8e73b2967712e6c87fdcbff92dd6d167ff52b18ae73a85c08484",
    "vcrbench-cot": "779a670bebe2444d37bdb36779f44539bbb00069bc0f7d06897bdee563a5de02",
}


def test_judge_prompts_are_the_authors_verbatim():
    import hashlib

    from mosseval.judge.context import item_context
    from mosseval.judge.plan import prior_context
    from mosseval.judge.rubrics import load_rubrics
    from mosseval.records import Generation, JudgeVerdict, SampleRecord

    sample = Sample(
        id="3", task="vcr-bench", answer="B", question_type="multiple-choice",
        question="Why didn't the man go back?A. He was hurt.\nB. The car exploded again.\nC. Another man helped.\n"
                 "D. It was raining.\n",
        options={"A": "He was hurt.", "B": "The car exploded again.", "C": "Another man helped.", "D": "It was raining."},
        metadata={"reasoning": [
            "1. 0:08-0:30, explosions occurred in the parking lot, and a woman was trapped in the car.",
            "2. 0:30-0:33, the man noticed the woman's car and stepped forward.",
            "3. Therefore, the answer is B."]})
    text = ("Step 1: at 0:30 the man steps forward {carefully}.\nStep 2: the car explodes again at 0:33.\n"
            "Therefore, the answer is B.")
    rec = SampleRecord(key="vcr-bench/3", task="vcr-bench", index=0, sample=sample, generation=Generation(text=text))
    rubrics = load_rubrics()
    ctx = item_context(rec)
    prior = JudgeVerdict(judge="j", rubric="vcrbench-extract", rubric_version="1", fingerprint="f", extracted_answer="B")
    for name, want in UPSTREAM_PROMPT_SHA256.items():
        messages = rubrics[name].render({**ctx, "prior": prior_context(prior)})
        assert [m["role"] for m in messages] == ["user"]
        assert hashlib.sha256(messages[0]["content"].encode()).hexdigest() == want, name


def _vcr_fake_judge(scoring_calls: list[str]):
    """A deterministic stand-in for GPT-4o answering the four VCR-Bench prompts."""
    import re as _re

    def reply(req):
        from tests.support.chat_server import message_text

        text = message_text(req)
        assert "response_format" not in req  # free-text rubrics: no structured output
        if "help me to extract an answer" in text:
            response = text.rsplit("\nAnswer: ", 1)[1]
            m = _re.search(r"FINAL: (.*)", response)
            return m.group(1).strip() if m else "Z"
        if "judge whether two answers are consistent" in text:
            model, gold = _re.findall(r"\[Model Answer\]: (.*)\n\[Standard Answer\]: (.*)\n", text)[-1]  # after the examples
            scoring_calls.append(model)
            return "1" if model.strip().lower() == gold.strip().lower() else "0"
        item = int(_re.search(r"\(item (\d+)\)", text).group(1))
        if "match the ground truth middle steps" in text:
            judgments = [{"step": "s1", "step_type": "Video Description Steps",
                          "judgment": "Matched" if item % 3 else "Unmatched"},
                         {"step": "s2", "step_type": "Video Description Steps", "judgment": "Unmatched"},
                         {"step": "s3", "step_type": "Logical Inference Steps", "judgment": "Matched"}]
            return "```json\n" + json.dumps(judgments, indent=2) + "\n```"
        if "# Task Overview" in text:
            judgments = [{"step": "p1", "step_type": "Video Description Steps", "reasons_for_judgment": "ok",
                          "judgment": "Match" if item % 2 else "Wrong"},
                         {"step": "p2", "step_type": "Logical Inference Steps", "reasons_for_judgment": "ok",
                          "judgment": "Matched"},
                         {"step": "p3", "step_type": "Background Review Steps", "reasons_for_judgment": "-",
                          "judgment": "Redundant"}]
            return json.dumps(judgments)
        raise AssertionError(text[:200])

    return reply


def test_official_accuracy_and_cot_score_through_mosseval_judge(registry, tmp_path, chat_server):
    """`mosseval judge` with the four VCR-Bench rubrics on the loopback server: extraction, then the IoU rules
    decided locally (no scoring request) or the scoring judge; recall, then precision; the summaries are the
    official numbers computed by the authors' functions from the same judgements."""
    from mosseval.judge import judge_run
    from mosseval.judge.store import read_judgements
    from mosseval.judge.summary import summarize_run
    from mosseval.rundir import load_run
    from tests.judge.test_judge import make_run

    fx = make_vcrbench(tmp_path / "VCR-Bench", n=14)
    samples = load(registry, fx.root)
    finals = {}
    for s in samples:
        kind = s.metadata["answer_kind"]
        i = int(s.id)
        if kind == "interval":  # IoU 0.8 or 0.4
            lo, hi = __import__("ast").literal_eval(s.answer)
            finals[s.id] = f"[{lo}, {hi}]" if i % 4 == 2 else f"[{lo}, {lo + 0.4 * (hi - lo)}]"
        elif kind == "box":
            finals[s.id] = s.answer if i % 2 else "[0, 0, 1, 1]"
        elif kind == "choice":
            finals[s.id] = s.answer if i % 4 else ("A" if s.answer != "A" else "B")
        else:
            finals[s.id] = s.answer if i % 3 else None  # no final answer: the extractor says Z
    items = []
    for s in samples:
        steps = "\n".join(r.text for r in s.reference_steps[: 1 + int(s.id) % 3])
        final = f"\nFINAL: {finals[s.id]}" if finals[s.id] is not None else ""
        items.append((s, f"{steps}{final}", None))
    run = make_run(tmp_path, "vcr-bench", items)
    scoring: list[str] = []
    srv = chat_server(_vcr_fake_judge(scoring))
    dry = judge_run(run, "gpt-4o", base_url=srv.base_url, dry_run=True)  # the defaults for the task
    assert set(dry.tasks["vcr-bench"]) == {"vcrbench-extract", "vcrbench-answer", "vcrbench-recall", "vcrbench-cot",
                                           "process-consistency"}
    assert dry.n_waiting == 2 * len(samples) and not srv.chat_requests()  # stage 2 waits for stage 1
    four = "vcrbench-extract,vcrbench-answer,vcrbench-recall,vcrbench-cot"
    report = judge_run(run, "gpt-4o", rubric=four, base_url=srv.base_url, backoff_base=0.01, backoff_max=0.02)
    ruled = [s for s in samples if s.metadata["answer_kind"] in ("interval", "box")]
    assert report.n_rule == len(ruled) > 0
    assert len(scoring) == len(samples) - len(ruled)  # the IoU rules sent no scoring request
    loaded = load_run(run)
    j = summarize_run(loaded.log, loaded.records, read_judgements(run))
    ans = j.tasks["vcr-bench"]["vcrbench-answer"]
    # the authors' rules on the same extractions
    from mosseval.data.vcrbench import official_rule_score

    expect = []
    for s in samples:
        extracted = finals[s.id] if finals[s.id] is not None else "Z"
        rule = official_rule_score(s.answer, extracted)
        score = rule if rule is not None else ("1" if extracted.lower() == s.answer.lower() else "0")
        expect.append({"answer_scoring": score, "dimension": s.category, "duration": s.metadata["duration"]})
    official = official_accuracy(expect)
    assert ans.official and ans.accuracy.value == pytest.approx(official["overall_accuracy"])
    assert ans.metrics["decided_by_rule"].value == pytest.approx(len(ruled) / len(samples))
    for bucket, acc in official["duration_accuracy"].items():
        assert ans.breakdowns["duration_bucket"][bucket].value == pytest.approx(acc)
    for dim, acc in official["dimension_accuracy"].items():
        assert ans.breakdowns["category"][dim].value == pytest.approx(acc)
    # CoT score: cau_total.py over the per-item values eval.py derives from the same judgements
    cot = j.tasks["vcr-bench"]["vcrbench-cot"]
    per_item = []
    for s in samples:
        i = int(s.id)
        rec = official_recall([{"step_type": "Video Description Steps", "judgment": "Matched" if i % 3 else "Unmatched"},
                               {"step_type": "Video Description Steps", "judgment": "Unmatched"},
                               {"step_type": "Logical Inference Steps", "judgment": "Matched"}])
        pre = official_precision([{"step_type": "Video Description Steps", "judgment": "Matched" if i % 2 else "Wrong"},
                                  {"step_type": "Logical Inference Steps", "judgment": "Matched"},
                                  {"step_type": "Background Review Steps", "judgment": "Redundant"}])
        per_item.append({**rec, **pre})
    want = official_cot_score(per_item)
    for part in ("Video", "logic", "overall"):
        assert cot.metrics[f"{part}_precision"].value == pytest.approx(want[part]["precision"])
        assert cot.metrics[f"{part}_recall"].value == pytest.approx(want[part]["recall"])
        assert cot.metrics[f"{part}_f1"].value == pytest.approx(want[part]["f1"])
    assert cot.metrics["efficiency"].value == pytest.approx(2 / 3)
    corr = cot.metrics["prr_vs_cot_f1_spearman"]
    assert corr.n == len(samples) and corr.value is not None and -1 <= corr.value <= 1
    assert cot.metrics["prr_vs_cot_f1_pearson"].method == "pearson+cluster-bootstrap"
    # `mosseval judge` prints the official CoT F1 and the correlation under its table
    from mosseval.cli.judge import metrics_line

    line = metrics_line(cot)
    assert f"overall_f1 {100 * want['overall']['f1']:.1f} %" in line
    assert f"prr_vs_cot_f1_spearman {corr.value:+.2f}" in line and f"(n={len(samples)})" in line
    # a second call costs nothing
    before = len(srv.chat_requests())
    again = judge_run(run, "gpt-4o", rubric=four, base_url=srv.base_url)
    assert len(srv.chat_requests()) == before and again.n_cached + again.n_rule == 4 * len(samples)
