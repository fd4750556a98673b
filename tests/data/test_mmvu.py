"""MMVU: published schema (JSON and parquet), disciplines, official prompts, approximate rule score."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mosseval.data import get_loader
from mosseval.data.mmvu import DISCIPLINES, JUDGE_RUBRIC, answer_check, discipline_of, final_answer, video_relpath
from mosseval.errors import DataNotFoundError
from mosseval.records import Sample
from mosseval.tasks import load_registry
from tests.support.benchmarks import MMVU_SUBJECTS, make_mmvu, run_task

# The 27 subjects exactly as they appear in the published validation.json (metadata.subject).
PUBLISHED_SUBJECTS = {
    "Art", "Astronomy", "Basic Medicine", "Biology", "Biomedical Engineering", "Chemistry", "Civil Engineering",
    "Clinical Medicine", "Computer Science", "Dentistry", "Economics", "Electrical Engineering",
    "Electromagnetism", "Electronics and Communication", "Geography", "History", "Law", "Literature",
    "Management", "Materials Science", "Mechanical Engineering", "Mechanics", "Modern Physics", "Neurobiology",
    "Pharmacy", "Preventive Medicine", "Thermodynamics",
}

MC_PROMPT_TAIL = (
    "Answer the given multiple-choice question step by step. Begin by explaining your reasoning process clearly. "
    "Conclude by stating the final answer using the following format: 'Therefore, the final answer is: $LETTER' "
    "(without quotes), where $LETTER is one of the options. Think step by\nstep before answering."
)
OPEN_PROMPT_TAIL = (
    "Answer the given question step by step. Begin by explaining your reasoning process clearly. Conclude by "
    "stating the final answer using the following format: 'Therefore, the final answer is: 'Answer: $ANSWER' "
    "(without quotes), where $ANSWER is the final answer of the question. Think step by step\nbefore answering."
)


@pytest.fixture(scope="module")
def registry():
    return load_registry()


@pytest.fixture(scope="module")
def mmvu_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mmvu") / "MMVU"
    make_mmvu(root, n=16, parquet=True)
    return root


def load(registry, root: Path, name: str = "mmvu") -> list[Sample]:
    task = registry[name]
    return get_loader(task.loader)(task, root)


def test_disciplines_cover_the_27_published_subjects():
    assert set(DISCIPLINES) == PUBLISHED_SUBJECTS
    counts: dict[str, int] = {}
    for d in DISCIPLINES.values():
        counts[d] = counts.get(d, 0) + 1
    assert counts == {"Science": 10, "Engineering": 6, "Healthcare": 5, "Humanities & Social Science": 6}
    assert discipline_of("Computer_Science") == "Engineering"  # folder spelling
    assert discipline_of("clinical medicine") == "Healthcare"
    assert discipline_of("Underwater Basket Weaving") is None


def test_task_settings_follow_the_official_protocol(registry):
    t = registry["mmvu"]
    assert t.frames.strategy == "linspace" and t.frames.num_frames == 32
    assert t.generation.temperature == 1.0 and t.generation.max_new_tokens == 1024
    assert t.scoring.extractor == "mmvu_rules" and t.scoring.approximate
    assert t.prompt.video_position == "before" and t.prompt.option_format == "{letter}: {text}"
    assert {"metadata.discipline", "metadata.subject", "question_type"} <= set(t.breakdowns)
    v = registry["mmvu-1fps"]
    assert v.frames.strategy == "linspace_fps" and v.frames.fps == 1.0 and v.frames.max_frames == 64
    assert JUDGE_RUBRIC == "mmvu-official"


def test_loader_reads_the_published_fields(registry, mmvu_root):
    items = json.loads((mmvu_root / "validation.json").read_text())
    samples = load(registry, mmvu_root)
    assert [s.id for s in samples] == [i["id"] for i in items]
    for s, item in zip(samples, items):
        assert s.question_type == item["question_type"]
        assert s.video.path == "videos/" + item["video"].split("/videos/")[1]
        assert (mmvu_root / s.video.path).is_file()
        assert s.metadata["subject"] == item["metadata"]["subject"]
        assert s.metadata["discipline"] == DISCIPLINES[item["metadata"]["subject"]]
        assert s.metadata["choices"] == item["choices"]
        if s.question_type == "multiple-choice":
            assert list(s.options) == list("ABCDE") and s.answer == item["answer"]
        else:
            assert s.options == {} and s.answer == item["answer"]
    # a video filed under another subject's folder keeps its URL folder
    odd = samples[5]
    assert odd.metadata["subject"] == MMVU_SUBJECTS[5][0] and odd.video.path.startswith("videos/Pharmacy/")
    assert {s.question_type for s in samples} == {"multiple-choice", "open-ended"}


def test_parquet_gives_the_same_samples(registry, mmvu_root, tmp_path):
    from_json = load(registry, mmvu_root)
    pq_root = tmp_path / "pq"
    make_mmvu(pq_root, n=16, parquet=True, json_file=False)
    from_pq = load(registry, pq_root)
    assert [s.model_dump() for s in from_pq] == [s.model_dump() for s in from_json]


def test_video_relpath_variants():
    assert video_relpath({"video": "https://huggingface.co/datasets/yale-nlp/MMVU/resolve/main/videos/Art/0.mp4"}) \
        == "videos/Art/0.mp4"
    assert video_relpath({"video": "https://example.org/x/videos/Law/3.mp4"}) == "videos/Law/3.mp4"
    assert video_relpath({"video": "x", "video_path": "videos/Law/3.mp4"}) == "videos/Law/3.mp4"
    assert video_relpath({"video": "videos/Art/1.mp4"}) == "videos/Art/1.mp4"


def test_official_prompts_are_rendered_verbatim(registry, mmvu_root):
    from mosseval.prompts import build_messages

    task = registry["mmvu"]
    samples = load(registry, mmvu_root)
    mc = next(s for s in samples if s.question_type == "multiple-choice")
    oe = next(s for s in samples if s.question_type == "open-ended")
    msgs, prefill = build_messages(task, mc)
    assert prefill is None and msgs[0]["role"] == "user" and msgs[0]["content"][0] == {"type": "video"}
    opts = "\n".join(f"{k}: {v}" for k, v in mc.options.items())
    assert msgs[0]["content"][1]["text"] == f"Question: {mc.question}\n{opts}\n\n{MC_PROMPT_TAIL}"
    msgs, _ = build_messages(task, oe)
    assert msgs[0]["content"][1]["text"] == f"Question: {oe.question}\n\n{OPEN_PROMPT_TAIL}"


def test_missing_dataset_message(registry, tmp_path):
    with pytest.raises(DataNotFoundError) as ei:
        load(registry, tmp_path)
    assert "validation.json" in str(ei.value) and "yale-nlp/MMVU" in str(ei.value)


# ----------------------------------------------------------------------------- rule score


def mc(answer: str = "A") -> Sample:
    return Sample(id="m", task="mmvu", question="q", options={L: f"choice {L}" for L in "ABCDE"}, answer=answer)


def oe(answer: str) -> Sample:
    return Sample(id="o", task="mmvu", question="q", answer=answer, question_type="open-ended")


@pytest.mark.parametrize("text,gold,correct,parse_failed", [
    ("Reasoning...\nTherefore, the final answer is: A", "A", True, False),
    ("Therefore, the final answer is: (B)", "A", False, False),
    ("Therefore, the final answer is: B, not A", "A", False, False),   # "B, not A" is B
    ("B, not A", "A", False, False),
    ("<think>..</think><answer>A</answer>", "A", True, False),
    ("It is a hard question. Maybe A or B.", "A", False, True),       # ambiguous
    ("This is a tricky one and a guess would be unwise.", "A", False, True),  # the article "a"
    ("", "A", False, True),
    ("Therefore, the final answer is: choice C", "C", True, False),  # the option's text
])
def test_mc_rule_cases(registry, text, gold, correct, parse_failed):
    res = answer_check(text, mc(gold), registry["mmvu"], None)
    assert (res.correct, res.parse_failed, res.approximate) == (correct, parse_failed, True)


@pytest.mark.parametrize("text,gold,correct", [
    ("Step 1...\nTherefore, the final answer is: 'Answer: Dolly Zoom'", "Dolly Zoom", True),
    ("Therefore, the final answer is: Answer: dolly zoom.", "Dolly Zoom", True),
    ("Therefore, the final answer is: 'Answer: '", "Dolly Zoom", False),           # empty answer
    ("", "Dolly Zoom", False),
    ("Therefore, the final answer is: 'Answer: DFS'", "Depth-First Search (DFS)", True),
    ("Therefore, the final answer is: The algorithm is depth-first search", "Depth-First Search (DFS)", True),
    ("Therefore, the final answer is: search", "Binary Search", False),            # a fragment of the gold
    ("Therefore, the final answer is: not binary search", "Binary Search", False),
    ("Therefore, the final answer is: binary search or linear search", "Binary Search", False),
    ("Therefore, the final answer is: 10.0 g", "10 g", True),
    ("Therefore, the final answer is: 12 g", "10 g", False),
    ("Therefore, the final answer is: O(n^2)", "O(n²)", True),
    ("Answer: High pass filter", "High-pass filter", True),
    ("<answer>Resistance</answer>", "Resistance", True),
    ("The video shows many things and I think the answer might be resistance but I am not certain at all.",
     "Resistance", False),                                                          # long text, no final answer
])
def test_open_ended_rule_cases(registry, text, gold, correct):
    res = answer_check(text, oe(gold), registry["mmvu"], None)
    assert res.correct is correct, (text, res)
    assert res.approximate is True


def test_empty_open_ended_is_never_correct_even_for_substring_rules(registry):
    for text in ["", "   ", "Therefore, the final answer is: ''", "<answer></answer>", "Answer: ."]:
        res = answer_check(text, oe("Embryo Transfer"), registry["mmvu"], None)
        assert not res.correct and res.parse_failed


def test_final_answer_extraction():
    assert final_answer("x\nTherefore, the final answer is: 'Answer: Dolly Zoom'") == "Dolly Zoom"
    assert final_answer("Therefore, the final answer is: **C**.") == "C"
    assert final_answer("Final answer: \\boxed{42}") == "42"
    assert final_answer("no marker here") is None


# ----------------------------------------------------------------------------- end to end


def test_oracle_and_random_runs_save_breakdowns(tmp_path, cli):
    make_mmvu(tmp_path / "MMVU", n=24)
    runs = {}
    for model in ("oracle", "random"):
        proc = cli("run", "--model", model, "--tasks", "mmvu", "--data-dir", str(tmp_path),
                   "-o", str(tmp_path / "runs"), "-q")
        assert proc.returncode == 0, proc.stderr
        runs[model] = json.loads((Path(proc.stdout.strip().splitlines()[-1]) / "run.json").read_text())
    res = runs["oracle"]["results"]["mmvu"]
    assert res["accuracy"]["value"] == 1.0 and res["approximate"] is True
    assert set(res["breakdowns"]["discipline"]) == {"Science", "Engineering", "Healthcare",
                                                   "Humanities & Social Science"}
    assert set(res["breakdowns"]["question_type"]) == {"multiple-choice", "open-ended"}
    assert len(res["breakdowns"]["subject"]) == len(MMVU_SUBJECTS)
    rnd = runs["random"]["results"]["mmvu"]["breakdowns"]["question_type"]
    assert rnd["open-ended"]["value"] == 0.0          # a random word never passes as the answer
    assert rnd["multiple-choice"]["value"] <= 0.6
    assert runs["random"]["task_specs"]["mmvu"]["generation"]["temperature"] == 1.0


def _official_1fps(n_frames: int, fps: float, max_frames: int = 64) -> list[int]:
    """MMVU's video_to_ndarrays_fps, written out: int(fps * int(duration)) frames, capped, spread with
    np.linspace(0, n - 1, k, dtype=int) over every frame of the video."""
    import numpy as np

    k = int(min(1 * int(n_frames / fps), max_frames))
    k = min(k, n_frames)
    return np.linspace(0, n_frames - 1, k, dtype=int).tolist()


@pytest.mark.parametrize("seconds,fps", [(1.2, 30.0), (5.0, 25.0), (9.9, 29.97), (33.3, 24.0), (63.7, 30.0),
                                         (600.5, 29.97), (3599.0, 25.0)])
def test_mmvu_1fps_matches_the_official_sampling(registry, seconds, fps):
    """Same count (truncated duration, at most 64) and the same first-to-last spread as upstream;
    the previous 1 s grid gave one frame too many for most durations and offsets of seconds."""
    from mosseval.video import compute_indices

    n = int(round(seconds * fps))
    got = compute_indices(registry["mmvu-1fps"].frames, n, fps)
    assert got == _official_1fps(n, fps)
    assert got[0] == 0 and (len(got) == 1 or got[-1] == n - 1)


def test_mmvu_task_file_does_not_promise_a_seed():
    text = (Path(__file__).resolve().parents[2] / "tasks" / "mmvu.yaml").read_text()
    assert "--seed 215" not in text and "seed is 215" not in text


def test_rationale_paragraph_reference_is_optional_and_labelled(registry, tmp_path, cli):
    """mmvu-prr: the rationale split into sentences is the (coarse) reference; `mmvu` has no PRR."""
    root = tmp_path / "MMVU"
    fx = make_mmvu(root, n=24)
    plain = load(registry, root)
    assert all(not s.reference_steps for s in plain) and registry["mmvu"].scoring.prr is None
    with_ref = load(registry, root, "mmvu-prr")
    assert [r.text for r in with_ref[0].reference_steps] == [
        "The video shows step 0 of the procedure on the bench.", "Therefore the answer follows from what happens "
        "in that step."]
    assert all(r.start is None for s in with_ref for r in s.reference_steps)
    assert fx.items[0]["metadata"]["rationale"] == " ".join(r.text for r in with_ref[0].reference_steps)
    results = {}
    for model in ("oracle", "random"):
        results[model] = run_task(cli, model, "mmvu-prr", tmp_path, tmp_path / "runs").result
    assert results["oracle"]["prr"]["value"] == 1.0 and results["oracle"]["prr_reference"] == "paragraph"
    assert results["random"]["prr"]["value"] < 0.2
    proc = cli("run", "--model", "oracle", "--tasks", "mmvu-prr", "--data-dir", str(tmp_path),
               "-o", str(tmp_path / "runs2"))
    assert "paragraph ref." in proc.stdout + proc.stderr


# ----------------------------------------------------------------------------- the official judge

# sha256 of json.dumps(messages) for the two items below, computed with the authors'
# prepare_evaluation_message (yale-nlp/MMVU utils/eval_utils.py): the prompts mosseval sends are theirs.
OFFICIAL_MESSAGES_SHA256 = {
    "multiple-choice": "b194c93e9ec72923a0af5e6c95e64c4c37077992cb9c51ba9e3325db9cbd62fb",
    "open-ended": "f5ec3c8b4c35c05aa2a068be4c15e432b190d46941bc23ccd6992aefd5db0a11",
}


def _official_judge_records():
    from mosseval.records import Generation, SampleRecord

    mc = Sample(id="validation_1", task="mmvu", question="Which technique is shown in the video?",
                options={"A": "Dolly zoom", "B": "Tracking shot", "C": "Whip pan", "D": "Rack focus", "E": "Jump cut"},
                answer="A", question_type="multiple-choice",
                metadata={"choices": {"A": "Dolly zoom", "B": "Tracking shot", "C": "Whip pan", "D": "Rack focus",
                                      "E": "Jump cut"}})
    oe = Sample(id="validation_2", task="mmvu", question="What camera technique does the video demonstrate?",
                answer="Dolly Zoom", question_type="open-ended",
                metadata={"choices": {k: "" for k in "ABCDE"}})
    texts = ["The background stretches while the subject stays the same size.\nTherefore, the final answer is: A",
             "The subject stays fixed while the background warps.\nTherefore, the final answer is: 'Answer: dolly zoom'"]
    return [SampleRecord(key=f"mmvu/{s.id}", task="mmvu", index=i, sample=s, generation=Generation(text=t))
            for i, (s, t) in enumerate(zip([mc, oe], texts))]


def test_official_judge_prompts_are_the_authors_verbatim():
    import hashlib

    from mosseval.judge.context import item_context
    from mosseval.judge.rubrics import get_rubric, load_rubrics

    rubric = get_rubric("mmvu-official", load_rubrics())
    for rec in _official_judge_records():
        messages = rubric.render(item_context(rec))
        digest = hashlib.sha256(json.dumps(messages).encode()).hexdigest()
        assert digest == OFFICIAL_MESSAGES_SHA256[rec.sample.question_type], messages


def _four_mc_items_one_failing_judge(tmp_path, chat_server):
    """A saved 4-item MMVU run (answers A, A, B, B; gold A) and a judge server that extracts 'A' and fails on
    the fourth item with HTTP 500 (upstream scores such an item wrong)."""
    from tests.judge.test_judge import make_run
    from tests.support.chat_server import Reply, message_text

    def responder(req):
        text = message_text(req)
        if "question 3" in text:
            return Reply(text=None, status=500, error="server error")
        return json.dumps({"extracted_answer": "A", "correct": "final answer is: A" in text})

    srv = chat_server(responder)
    opts = {L: f"choice {L}" for L in "ABCDE"}
    items = [(Sample(id=f"validation_{i}", task="mmvu", question=f"MC question {i}?", options=opts, answer="A",
                     question_type="multiple-choice", metadata={"choices": opts, "discipline": "Science"}),
              f"Reasoning.\nTherefore, the final answer is: {'A' if i < 2 else 'B'}", None) for i in range(4)]
    return srv, make_run(tmp_path, "mmvu", items)


def test_official_judge_request_and_errors_counted_wrong(tmp_path, chat_server):
    """Through `mosseval judge`: every item sent with the authors' generation settings and schema; a
    judgement that fails is a wrong answer in the denominator (the old rubric excluded it)."""
    from mosseval.judge import judge_run
    from mosseval.judge.store import read_judgements
    from mosseval.judge.summary import summarize_run
    from mosseval.rundir import load_run
    srv, run = _four_mc_items_one_failing_judge(tmp_path, chat_server)
    judge_run(run, "gpt-4o", base_url=srv.base_url, max_retries=0, backoff_base=0.01, backoff_max=0.02)
    reqs = srv.chat_requests()
    assert len(reqs) == 4
    body = reqs[0].json
    assert body["temperature"] == 1.0 and body["max_tokens"] == 128
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "EvaluationOutput"
    assert fmt["json_schema"]["strict"] is True and fmt["json_schema"]["schema"]["title"] == "EvaluationOutput"
    loaded = load_run(run)
    s = summarize_run(loaded.log, loaded.records, read_judgements(run)).tasks["mmvu"]["mmvu-official"]
    assert (s.n, s.n_errors) == (4, 1)
    assert s.accuracy.value == pytest.approx(2 / 4)  # the failed judgement counts as wrong
    assert "counted wrong" in s.official_note and s.errors_counted_wrong


def test_official_and_mosseval_judges_side_by_side_through_the_cli(tmp_path, chat_server, cli):
    """`mosseval judge --rubric mmvu-official,mmvu-mosseval`: same verdicts, one failed judgement; the official
    number counts it wrong (2 of 4), mosseval's variant leaves it out (2 of 3), and the command says which."""
    srv, run = _four_mc_items_one_failing_judge(tmp_path, chat_server)
    proc = cli("judge", run, "--rubric", "mmvu-official,mmvu-mosseval", "--base-url", srv.base_url,
               "--max-retries", "0", "-q", "--json", tmp_path / "judge.json", env={"MOSSEVAL_JUDGE_API_KEY": "sk-x"})
    assert proc.returncode == 3, proc.stderr  # judge errors recorded
    got = json.loads((tmp_path / "judge.json").read_text())["results"]["mmvu"]
    assert got["mmvu-official"]["accuracy"]["value"] == pytest.approx(2 / 4)
    assert got["mmvu-mosseval"]["accuracy"]["value"] == pytest.approx(2 / 3)
    assert (got["mmvu-official"]["errors_counted_wrong"], got["mmvu-mosseval"]["errors_counted_wrong"]) == (True, False)
    temps = {r.json["temperature"] for r in srv.chat_requests()}
    assert temps == {0.0, 1.0}
    said = " ".join((proc.stdout + proc.stderr).split())
    assert "2 judge error(s): counted wrong by mmvu-official (the official rule), excluded from judged accuracy" \
        " elsewhere" in said, said
