"""Judge reply parsing, rubric loading/rendering, cost and agreement statistics (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mosseval.errors import ConfigError, UsageError
from mosseval.judge.cost import estimate_prompt_tokens, prices_for
from mosseval.judge.parse import parse_verdict
from mosseval.judge.rubrics import get_rubric, load_rubrics

CORR = {"correct": "correct", "extracted_answer": "extracted_answer"}
SCORE = {"score": "score", "rationale": "justification"}


# ----------------------------------------------------------------------------- correctness replies


@pytest.mark.parametrize("text,correct,answer", [
    ('{"extracted_answer": "B", "correct": true}', True, "B"),
    ('```json\n{"extracted_answer": "C", "correct": false}\n```', False, "C"),
    ('Here is my evaluation:\n{"extracted_answer": "A", "correct": true}\nHope this helps!', True, "A"),
    ("{'extracted_answer': 'D', 'correct': True}", True, "D"),  # Python-style literal
    ('{"extracted_answer": "E", "correct": "false",}', False, "E"),  # trailing comma, string bool
    ("Extracted answer: B\nCorrect: yes", True, "B"),
    ("**Verdict:** incorrect", False, None),
    ("false", False, None),
])
def test_correctness_replies_parse(text, correct, answer):
    pv = parse_verdict("correctness", CORR, text)
    assert pv.error is None, pv.error
    assert pv.correct is correct
    assert pv.extracted_answer == answer
    assert pv.score == (1.0 if correct else 0.0)


@pytest.mark.parametrize("text", [
    "Sure! The model's answer looks about right to me.",
    '{"extracted_answer": "B"}',  # no correctness value
    '{"extracted_answer": "B", "correct": "maybe"}',
    "Correct: yes\nCorrect: no",  # contradictory
    "",
])
def test_unparseable_correctness_is_an_error_not_wrong(text):
    pv = parse_verdict("correctness", CORR, text)
    assert pv.error is not None
    assert pv.correct is None and pv.score is None


def test_structured_object_takes_precedence():
    pv = parse_verdict("correctness", CORR, "garbage", parsed={"extracted_answer": "A", "correct": False})
    assert (pv.correct, pv.extracted_answer, pv.how) == (False, "A", "json")


# ----------------------------------------------------------------------------- score replies


@pytest.mark.parametrize("text,score", [
    ('{"score": 7, "justification": "ok"}', 7.0),
    ('```\n{"score": "8/10", "justification": "good"}\n```', 8.0),
    ("Score: 7/10\nJustification: mostly in order.", 7.0),
    ("I would give this a rating of 4 out of 10.", 4.0),
    ("Score: **9**", 9.0),
    ("6", 6.0),
])
def test_score_replies_parse(text, score):
    pv = parse_verdict("score", SCORE, text, scale=(1, 10))
    assert pv.error is None, pv.error
    assert pv.score == score


@pytest.mark.parametrize("text,fragment", [
    ('{"score": 11, "justification": "x"}', "outside"),
    ('{"score": 0, "justification": "x"}', "outside"),
    ("Score: 4/5", "not on the 1-10 scale"),
    ("Score: 3. Later I changed my mind. Score: 8.", "contradictory"),
    ("The reasoning follows the video reasonably well.", "no JSON object"),
    ('{"score": true}', "boolean"),
])
def test_bad_scores_are_errors(text, fragment):
    pv = parse_verdict("score", SCORE, text, scale=(1, 10))
    assert pv.score is None
    assert fragment in pv.error


# ----------------------------------------------------------------------------- rubrics


def test_builtin_rubrics_load_and_render():
    rubrics = load_rubrics()
    mmvu = get_rubric("mmvu-official", rubrics)
    assert mmvu.kind == "correctness" and mmvu.official and mmvu.max_tokens == 128 and mmvu.temperature == 1.0
    assert mmvu.judge_errors == "wrong" and mmvu.verbatim and mmvu.schema_name == "EvaluationOutput"
    assert set(mmvu.schema["required"]) == {"extracted_answer", "correct"}
    ctx = {"question": "Which law?", "is_mc": True, "options": {"A": "Ohm", "B": "Hooke"}, "metadata": {},
           "answer": "A", "response": "Therefore, the final answer is: A"}
    system, user = mmvu.render(ctx)
    assert system["role"] == "system" and "should be a single character" in system["content"]
    assert system["content"].endswith("}\n")  # sent verbatim, the upstream string's final newline included
    assert user["content"] == ("Question: Which law?\n\nOptions:\nA: Ohm\nB: Hooke\n\nGround Truth Answer: A\n\n"
                               "Model Response to the Question: Therefore, the final answer is: A")
    system, user = mmvu.render({**ctx, "is_mc": False, "answer": "Ohm's law"})
    assert "do not hallucinate one" in system["content"] and "Options" not in user["content"]
    ours = get_rubric("mmvu-mosseval", rubrics)
    assert not ours.official and ours.temperature == 0.0 and ours.judge_errors == "exclude"
    system, _ = ours.render({**ctx, "options_block": "A: Ohm\nB: Hooke"})
    assert "single option letter" in system["content"]
    assert not ours.is_default_for("mmvu", "mmvu_rules", False)
    pc = get_rubric("process-consistency", rubrics)
    assert pc.kind == "score" and pc.scale == (1, 10) and pc.requires == ["reference_steps"]
    assert pc.is_default_for("moss-video-mini", "mc_strict", True)
    assert not pc.is_default_for("mmvu", "mmvu_rules", False)
    assert mmvu.is_default_for("mmvu-1fps", "mmvu_rules", False)
    assert mmvu.is_default_for("mmvu-custom", "mc_strict", False)


def test_unknown_rubric_suggests(tmp_path):
    with pytest.raises(UsageError) as exc:
        get_rubric("mmvu-oficial", load_rubrics())
    assert "mmvu-official" in str(exc.value)


def _write_rubric(folder: Path, name: str = "brevity", version: str = "1", extra: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(f"""
name: {name}
version: "{version}"
kind: score
scale: {{min: 0, max: 5}}
templates:
  system: Rate brevity from {{{{ scale.min }}}} to {{{{ scale.max }}}}.
  user: "{{{{ response }}}}"
schema:
  type: object
  properties: {{score: {{type: integer}}, justification: {{type: string}}}}
  required: [score, justification]
{extra}
""", encoding="utf-8")


def test_user_rubrics_dir_and_env(tmp_path, monkeypatch):
    _write_rubric(tmp_path / "mine")
    rubrics = load_rubrics([tmp_path / "mine"])
    r = rubrics["brevity"]
    assert r.scale == (0, 5)
    assert r.render({"response": "ok"}) == [{"role": "system", "content": "Rate brevity from 0 to 5."},
                                            {"role": "user", "content": "ok"}]
    # a user folder overrides a built-in of the same name
    _write_rubric(tmp_path / "over", name="mmvu-official", version="9")
    monkeypatch.setenv("MOSSEVAL_JUDGES_DIR", str(tmp_path / "over"))
    assert load_rubrics()["mmvu-official"].version == "9"


def test_bad_rubric_files_name_the_problem(tmp_path):
    _write_rubric(tmp_path / "a", extra="colour: red")
    with pytest.raises(ConfigError, match="unknown key `colour`"):
        load_rubrics([tmp_path / "a"])
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.yaml").write_text("name: x\nversion: 1\n  kind: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="x.yaml.*invalid YAML"):
        load_rubrics([tmp_path / "b"])
    _write_rubric(tmp_path / "c")
    (tmp_path / "c" / "brevity.yaml").write_text(
        (tmp_path / "c" / "brevity.yaml").read_text().replace("{{ response }}", "{{ nope }}"), encoding="utf-8")
    r = load_rubrics([tmp_path / "c"])["brevity"]
    with pytest.raises(ConfigError, match="'nope' is undefined"):
        r.render({"response": "x"})
    with pytest.raises(UsageError, match="does not exist"):
        load_rubrics([tmp_path / "missing"])


# ----------------------------------------------------------------------------- cost and statistics


def test_prices_and_estimates():
    p = prices_for("gpt-4o-2024-08-06")
    assert (p.input_per_1m, p.output_per_1m) == (2.5, 10.0)
    assert prices_for("gpt-4o-mini").input_per_1m == 0.15
    assert not prices_for("my-local-judge").known
    assert prices_for("my-local-judge", 1.0, 2.0).cost(1_000_000, 500_000) == pytest.approx(2.0)
    assert p.cost(1000, 100) == pytest.approx(0.0035)
    msgs = [{"role": "system", "content": "x" * 40}, {"role": "user", "content": "y" * 41}]
    assert estimate_prompt_tokens(msgs) == 3 + (4 + 10) + (4 + 11)


def _write_min_rubric(folder, name, **extra):
    import yaml

    data = {"name": name, "version": "1", "kind": "correctness", "templates": {"user": "Q: {{ question }}"},
            "schema": {"type": "object", "properties": {"correct": {"type": "boolean"}}}, **extra}
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(data))


def test_rubric_keys_for_benchmark_protocols(tmp_path):
    """`after`, `judge_errors`, `structured`, `schema_name`, `verbatim`: validated with one clear line each."""
    from mosseval.errors import ConfigError

    _write_min_rubric(tmp_path, "stage-one")
    _write_min_rubric(tmp_path, "stage-two", after="stage-one", judge_errors="wrong", structured=False,
                  schema_name="Verdict", verbatim=True)
    got = load_rubrics([tmp_path])
    two = got["stage-two"]
    assert (two.after, two.judge_errors, two.structured, two.schema_name, two.verbatim) == (
        "stage-one", "wrong", False, "Verdict", True)
    assert two.info("gpt-4o", ["t"]).judge_errors == "wrong"
    for k, (bad, msg) in enumerate([({"after": "nowhere"}, "unknown rubric 'nowhere'"),
                     ({"judge_errors": "maybe"}, "must be `exclude` or `wrong`"),
                     ({"structured": "no"}, "must be true or false"),
                     ({"after": "bad name!"}, "must name another rubric")]):
        folder = tmp_path / f"case{k}"
        folder.mkdir()
        _write_min_rubric(folder, "stage-one")
        _write_min_rubric(folder, "odd", **bad)
        with pytest.raises(ConfigError, match=msg):
            load_rubrics([folder])
    cyc = tmp_path / "cycle"
    cyc.mkdir()
    _write_min_rubric(cyc, "ping", after="pong")
    _write_min_rubric(cyc, "pong", after="ping")
    with pytest.raises(ConfigError, match="cycle"):
        load_rubrics([cyc])
    score = tmp_path / "score"
    score.mkdir()
    (score / "s.yaml").write_text("name: s\nversion: '1'\nkind: score\njudge_errors: wrong\ntemplates: {user: x}\n"
                                  "schema: {type: object, properties: {score: {type: number}}}\n")
    with pytest.raises(ConfigError, match="correctness rubrics only"):
        load_rubrics([score])
