"""`mosseval judge` against a real chat-completions server on loopback (tests/support/chat_server.py).

Run directories are built with the real records, scorer and aggregation (or by the real runner for
`run --judge`); the judge talks HTTP to a ChatServer whose responder plays the judge model.
"""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from mosseval.errors import RemoteError
from mosseval.judge import judge_run, read_judgements, summarize_run
from mosseval.judge.cache import CACHE_FILE
from mosseval.judge.records import JudgeSummary
from mosseval.judge.store import JUDGE_FILE, VERDICTS_FILE
from mosseval.records import (
    ErrorInfo,
    Generation,
    JudgeVerdict,
    ReferenceStep,
    RunLog,
    RunSpec,
    Sample,
    SampleRecord,
    TaskRef,
)
from mosseval.rundir import RUN_FILE, SAMPLES_FILE, load_run, rewrite_records, write_run_log
from mosseval.runner import finalize_log, task_fingerprint
from mosseval.scoring import score_sample
from mosseval.tasks import load_registry
from tests.support.chat_server import Fail, Reply, message_text
from tests.support.cli import (
    REPO,  # noqa: E402
    mosseval_popen,
)

FAST = {"backoff_base": 0.01, "backoff_max": 0.05}

# ----------------------------------------------------------------------------- run directories


def make_run(root: Path, task_name: str, items: list[tuple[Sample, str | None, ErrorInfo | None]]) -> Path:
    """A run directory with real scores and aggregates (as `mosseval run` writes it)."""
    task = load_registry()[task_name]
    run_dir = root / f"run-{task_name}"
    run_dir.mkdir(parents=True)
    prefill = task.prompt.prefill if task.prompt else None
    records = []
    for i, (sample, text, err) in enumerate(items):
        gen = Generation(text=text, error=err)
        records.append(SampleRecord(key=f"{task.name}/{sample.id}", task=task.name, index=i, sample=sample,
                                    generation=gen, score=score_sample(task, sample, gen, prefill)))
    with (run_dir / SAMPLES_FILE).open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(rec.model_dump_json() + "\n")
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    log = RunLog(run_id="test", identity={}, status="completed", created_at=now, updated_at=now,
                 spec=RunSpec(model="fixture", backend="baseline", mosseval_version="test",
                              tasks=[TaskRef(name=task.name, version=task.version, fingerprint=task_fingerprint(task))]),
                 task_specs={task.name: task}, n_expected=len(records))
    log = finalize_log(log, [(task, None)], records)
    write_run_log(run_dir, log)
    return run_dir


def mmvu_items() -> list[tuple[Sample, str | None, ErrorInfo | None]]:
    """10 MMVU-like items; the fixture judge below marks 5 correct, 2 wrong and 1 unparseable; 2 have no
    model output (not sent, wrong): official accuracy 5 / 9."""
    opts = {L: f"choice {L}" for L in "ABCDE"}

    def mc(i, gold, text, err=None, disc="Science"):
        return (Sample(id=f"validation_{i}", task="mmvu", question=f"MC question {i}?", options=opts, answer=gold,
                       question_type="multiple-choice",
                       metadata={"subject": "Chemistry", "discipline": disc}), text, err)

    def oe(i, gold, text, disc="Engineering"):
        return (Sample(id=f"validation_{i}", task="mmvu", question=f"Open question {i}?", answer=gold,
                       question_type="open-ended",
                       metadata={"subject": "Computer Science", "discipline": disc}), text, None)

    return [
        mc(1, "B", "The reaction speeds up.\nTherefore, the final answer is: B"),
        mc(2, "C", "Therefore, the final answer is: A"),
        mc(3, "D", "Looking at the options, D fits best. Therefore, the final answer is: D."),
        mc(4, "A", ""),
        mc(5, "E", None, ErrorInfo(kind="media", message="video missing")),
        oe(6, "Depth-First Search", "It explores one branch fully.\nTherefore, the final answer is: 'Answer: DFS'"),
        oe(7, "photosynthesis", "Therefore, the final answer is: 'Answer: respiration'"),
        oe(8, "Ohm's law", "PROSE-PLEASE. Therefore, the final answer is: 'Answer: Ohm's law'"),
        mc(9, "B", "Therefore, the final answer is: B", disc="Engineering"),
        oe(10, "entropy", "Therefore, the final answer is: 'Answer: entropy'"),
    ]


def moss_items(n: int = 6) -> list[tuple[Sample, str | None, ErrorInfo | None]]:
    out = []
    for i in range(n):
        steps = [ReferenceStep(text=f"At {t} s the cube {i} is at cell {t + i}.", t=float(t)) for t in range(3)]
        sample = Sample(id=f"test-{i:05d}", task="moss-video-mini", question=f"Where will cube {i} be?",
                        options={"A": "left", "B": "right"}, answer="A", reference_steps=steps,
                        category="motion", level="coarse" if i % 2 else "fine")
        think = "\n".join(s.text for s in steps)
        out.append((sample, f"<think>\n{think}\n</think>\n<answer>{'A' if i % 3 else 'B'}</answer>", None))
    return out


# ----------------------------------------------------------------------------- fixture judges

_ALIASES = {"dfs": "depth-first search"}


def _norm(s: str) -> str:
    s = re.sub(r"[^a-z0-9' ]+", " ", s.lower().replace("-", " "))
    s = " ".join(s.split())
    return _ALIASES.get(s, s).replace("-", " ")


def mmvu_judge(req: dict[str, Any]) -> str:
    """A deterministic stand-in for GPT-4o following the rubric: extract the final answer, compare."""
    text = message_text(req)
    m = re.search(r"Ground Truth Answer: (.*?)\n\nModel Response to the Question: (.*)", text, re.S)
    assert m, text
    gold, response = m.group(1).strip(), m.group(2)
    if "PROSE-PLEASE" in response:
        return "I think the model is probably right about Ohm's law."
    finals = re.findall(r"final answer is:\s*'?(?:Answer:\s*)?([^'\n]+)|<answer>(.*?)</answer>", response)
    finals = [a or b for a, b in finals]
    extracted = finals[-1].strip().rstrip(".") if finals else ""
    if "single option letter" in text:
        correct = extracted.upper() == gold.upper()
    else:
        correct = bool(extracted) and _norm(extracted) == _norm(gold)
    return json.dumps({"extracted_answer": extracted, "correct": correct})


def consistency_judge(req: dict[str, Any]) -> str:
    text = message_text(req)
    m = re.search(r"cube (\d+)", text)
    return json.dumps({"score": 4 + int(m.group(1)) % 5, "justification": "follows the timeline"})


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def judgements(run: Path):
    """What the board sees: summaries and current verdicts from the run and the judge's files only."""
    loaded = load_run(run)
    return summarize_run(loaded.log, loaded.records, read_judgements(run))


def verdicts_of(run: Path, rubric: str) -> dict[str, JudgeVerdict | None]:
    """sample id -> current verdict of ``rubric`` (None: none), in record order."""
    j = judgements(run)
    return {r.sample.id: j.verdicts.get(r.key, {}).get(rubric) for r in load_run(run).records}


def summary_of(run: Path, task: str, rubric: str) -> JudgeSummary:
    return judgements(run).tasks[task][rubric]


def run_files(run: Path) -> dict[str, bytes]:
    return {name: (run / name).read_bytes() for name in (SAMPLES_FILE, RUN_FILE)}


# ----------------------------------------------------------------------------- acceptance


def test_one_request_per_item_then_zero(tmp_path, chat_server):
    srv = chat_server(consistency_judge)
    run = make_run(tmp_path, "moss-video-mini", moss_items(6))
    untouched = run_files(run)
    s1 = judge_run(run, "test-model", base_url=srv.base_url, concurrency=3, **FAST)
    assert run_files(run) == untouched  # the judge never rewrites samples.jsonl or run.json
    assert len(srv.chat_requests()) == 6
    assert (s1.n_jobs, s1.n_requested, s1.n_cached, s1.requests, s1.n_errors) == (6, 6, 0, 6, 0)
    assert srv.max_in_flight <= 3
    # every request asked for structured output with the rubric's schema
    rf = srv.chat_requests()[0].json["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["schema"]["required"] == ["score", "justification"]
    scores = {k: v.score for k, v in verdicts_of(run, "process-consistency").items()}
    assert scores == {f"test-{i:05d}": 4 + i % 5 for i in range(6)}
    res = summary_of(run, "moss-video-mini", "process-consistency")
    assert res.n == 6 and res.n_errors == 0 and res.complete
    assert res.mean_score.value == pytest.approx(sum(4 + i % 5 for i in range(6)) / 6)
    assert res.mean_score.ci_low <= res.mean_score.value <= res.mean_score.ci_high
    assert set(res.breakdowns["level"]) == {"coarse", "fine"}
    assert s1.results["moss-video-mini"]["process-consistency"] == res  # the report shows the same summary
    log = read_judgements(run).log
    assert log.rubrics["process-consistency"].version == "1" and log.rubrics["process-consistency"].tasks == ["moss-video-mini"]
    assert res.tokens.prompt > 0 and res.tokens.completion > 0
    assert len(_lines(run / CACHE_FILE)) == 6 and len(_lines(run / VERDICTS_FILE)) == 6

    s2 = judge_run(run, "test-model", base_url=srv.base_url, **FAST)
    assert len(srv.chat_requests()) == 6  # zero new requests
    assert (s2.n_cached, s2.n_requested, s2.requests) == (6, 0, 0)
    assert run_files(run) == untouched
    log = read_judgements(run).log
    assert log.totals.requests == 6 and [h.sent for h in log.history] == [6, 0]


def test_other_judge_or_rubric_version_never_reuses_verdicts(tmp_path, chat_server):
    srv = chat_server(consistency_judge)
    run = make_run(tmp_path, "moss-video-mini", moss_items(4))
    judge_run(run, "test-model", base_url=srv.base_url, **FAST)
    assert len(srv.chat_requests()) == 4
    judge_run(run, "other-judge", base_url=srv.base_url, **FAST)
    assert len(srv.chat_requests()) == 8
    assert {r.json["model"] for r in srv.chat_requests()[4:]} == {"other-judge"}
    assert {v.judge for v in verdicts_of(run, "process-consistency").values()} == {"other-judge"}
    # a new version of the rubric (a user folder overriding the built-in) is a new cache key
    folder = tmp_path / "rubrics"
    folder.mkdir()
    builtin = REPO / "judges"
    text = (builtin / "process-consistency.yaml").read_text().replace('version: "1"', 'version: "2"')
    (folder / "process-consistency.yaml").write_text(text)
    (folder / "templates").mkdir()
    for f in (builtin / "templates").glob("process-consistency.*"):
        (folder / "templates" / f.name).write_text(f.read_text())
    judge_run(run, "test-model", base_url=srv.base_url, rubrics_dir=[folder], **FAST)
    assert len(srv.chat_requests()) == 12
    assert {v.rubric_version for v in verdicts_of(run, "process-consistency").values()} == {"2"}
    # going back to the first judge and version costs nothing: its verdicts are still cached
    s = judge_run(run, "test-model", base_url=srv.base_url, **FAST)
    assert len(srv.chat_requests()) == 12 and s.n_cached == 4
    assert {v.rubric_version for v in verdicts_of(run, "process-consistency").values()} == {"1"}


def test_429_twice_then_answer(tmp_path, chat_server):
    srv = chat_server(consistency_judge)
    srv.fail(Fail.status(429), Fail.status(429, retry_after=0.01))
    run = make_run(tmp_path, "moss-video-mini", moss_items(3))
    s = judge_run(run, "test-model", base_url=srv.base_url, concurrency=1, **FAST)
    assert len(srv.chat_requests()) == 5  # 3 items + 2 retried 429s
    assert (s.requests, s.retries, s.n_errors, s.n_requested) == (5, 2, 0, 3)
    verdicts = list(verdicts_of(run, "process-consistency").values())
    assert len(verdicts) == 3 and all(v.error is None and v.score is not None for v in verdicts)


def test_rate_limit_spaces_requests(tmp_path, chat_server):
    srv = chat_server(consistency_judge)
    run = make_run(tmp_path, "moss-video-mini", moss_items(4))
    judge_run(run, "test-model", base_url=srv.base_url, concurrency=4, rpm=300, **FAST)  # one per 0.2 s
    t = sorted(r.received_at for r in srv.chat_requests())
    # starts are spaced 0.2 s apart by the client; arrival times jitter with connection set-up, so
    # check the span (4 concurrent requests without a limiter arrive within milliseconds)
    assert len(t) == 4 and t[-1] - t[0] >= 0.5


def test_timeouts_are_retried_then_recorded_as_judge_errors(tmp_path, chat_server):
    slow_ids = {"cube 1"}

    def responder(req):
        if any(x in message_text(req) for x in slow_ids):
            return Reply(text=consistency_judge(req), delay=1.5)
        return consistency_judge(req)

    srv = chat_server(responder)
    srv.fail(Fail.sleep(1.5))  # the very first request times out once, then its retry answers
    run = make_run(tmp_path, "moss-video-mini", moss_items(3))
    s = judge_run(run, "test-model", base_url=srv.base_url, concurrency=1, timeout=0.4, max_retries=1, **FAST)
    assert s.n_requested == 3 and s.n_errors == 1
    assert s.retries == 2  # one for the scripted slow reply, one for the always-slow item
    recs = verdicts_of(run, "process-consistency")
    assert recs["test-00000"].score == 4 and recs["test-00002"].score == 6
    bad = recs["test-00001"]
    assert bad.score is None and bad.error.startswith("timeout") and "gave up after 2 attempts" in bad.error
    res = summary_of(run, "moss-video-mini", "process-consistency")
    assert (res.n, res.n_valid, res.n_errors, res.complete) == (3, 2, 1, False)
    assert res.mean_score.value == pytest.approx(5.0)  # the error is excluded, not scored
    # the failed request was not paid for, so it is not cached: a re-run tries that item again only
    slow_ids.clear()
    n_before = len(srv.chat_requests())
    s2 = judge_run(run, "test-model", base_url=srv.base_url, timeout=0.4, max_retries=1, **FAST)
    assert len(srv.chat_requests()) == n_before + 1 and s2.n_cached == 2 and s2.n_errors == 0
    assert verdicts_of(run, "process-consistency")["test-00001"].score == 5


def test_prose_replies_fall_back_or_become_judge_errors(tmp_path, chat_server):
    def responder(req):
        text = message_text(req)
        if "cube 0" in text:
            return "Score: 7/10\nJustification: the order matches the timeline."
        if "cube 1" in text:
            return Fail.prose()
        return consistency_judge(req)

    srv = chat_server(responder)
    run = make_run(tmp_path, "moss-video-mini", moss_items(3))
    s = judge_run(run, "test-model", base_url=srv.base_url, **FAST)
    assert len(srv.chat_requests()) == 3 and s.n_errors == 1
    recs = verdicts_of(run, "process-consistency")
    assert recs["test-00000"].score == 7 and "order matches" in recs["test-00000"].rationale
    assert recs["test-00001"].score is None and "unparseable judge reply" in recs["test-00001"].error
    assert recs["test-00002"].score == 6
    # the unparseable reply was paid for: cached, not re-sent ... unless asked
    judge_run(run, "test-model", base_url=srv.base_url, **FAST)
    assert len(srv.chat_requests()) == 3
    judge_run(run, "test-model", base_url=srv.base_url, retry_errors=True, **FAST)
    assert len(srv.chat_requests()) == 4


def test_schema_rejecting_server_falls_back_to_prompt_instruction(tmp_path, chat_server):
    srv = chat_server(consistency_judge, reject_response_format=True)
    run = make_run(tmp_path, "moss-video-mini", moss_items(2))
    s = judge_run(run, "test-model", base_url=srv.base_url, concurrency=1, **FAST)
    assert s.n_errors == 0
    assert "response_format" not in srv.chat_requests()[-1].json
    assert "JSON schema" in message_text(srv.chat_requests()[-1].json)


def test_mmvu_official_accuracy_from_judge_verdicts(tmp_path, chat_server):
    srv = chat_server(mmvu_judge)
    run = make_run(tmp_path, "mmvu", mmvu_items())
    s = judge_run(run, "gpt-4o", base_url=srv.base_url, **FAST)  # default rubric for MMVU: mmvu-official
    assert s.tasks == {"mmvu": ["mmvu-official"]}
    # every item with output is sent, multiple-choice included; no-output items are not
    assert len(srv.chat_requests()) == 8
    sent = {re.search(r"(MC|Open) question (\d+)", message_text(r.json)).group(0) for r in srv.chat_requests()}
    assert "MC question 1" in sent and "MC question 9" in sent and "MC question 4" not in sent
    loaded = load_run(run)
    res = loaded.log.results["mmvu"]
    j = summary_of(run, "mmvu", "mmvu-official")
    assert j.official is True and j.kind == "correctness" and j.judges == ["gpt-4o"]
    # the official rule (MMVU's get_acc_async): a failed judgement is a wrong answer, in the denominator
    assert j.accuracy.value == pytest.approx(5 / 10)
    assert (j.n, j.n_valid, j.n_errors, j.n_no_output) == (10, 9, 1, 2)
    assert j.accuracy_bounds == (pytest.approx(0.5), pytest.approx(0.6))
    assert j.accuracy.ci_low < 5 / 10 < j.accuracy.ci_high
    assert "1 judge error(s) counted wrong" in j.official_note and "not the official" not in j.official_note
    assert j.breakdowns["discipline"]["Science"].value == pytest.approx(2 / 5)
    assert j.breakdowns["discipline"]["Engineering"].value == pytest.approx(3 / 5)
    assert res.approximate is True  # the rule-based accuracy stays labelled approximate
    verdicts = verdicts_of(run, "mmvu-official")
    assert verdicts["validation_6"].extracted_answer == "DFS" and verdicts["validation_6"].correct is True
    assert verdicts["validation_3"].extracted_answer == "D"
    assert verdicts["validation_8"].correct is None and verdicts["validation_8"].error
    assert verdicts["validation_5"].correct is False and "no model output" in verdicts["validation_5"].rationale
    # agreement with the rule-based score, over the valid verdicts
    pairs = [(verdicts[r.sample.id].correct, r.score.correct) for r in loaded.records
             if verdicts[r.sample.id].error is None]
    assert j.agreement.n == 9
    assert j.agreement.rate == pytest.approx(sum(a == b for a, b in pairs) / 9)
    assert j.agreement.both_correct + j.agreement.judge_only == 5
    assert s.exit_code == 3  # a judge error was recorded
    # the official number published-number checks use (`mosseval reproduce`, the leaderboard)
    from mosseval.judge import official_accuracies

    assert official_accuracies(run, loaded.log, loaded.records) == {"mmvu": j.accuracy}


def test_summaries_are_a_pure_function_of_run_and_judge_files(tmp_path, chat_server):
    """`mosseval score` never touches verdicts; summaries follow the current scores and samples with no
    request and no refresh step: a changed score changes the agreement, a re-run sample's verdict is stale."""
    from mosseval.runner import rescore

    srv = chat_server(mmvu_judge)
    run = make_run(tmp_path, "mmvu", mmvu_items())
    judge_run(run, "gpt-4o", base_url=srv.base_url, **FAST)
    judge_files = {n: (run / n).read_bytes() for n in (JUDGE_FILE, VERDICTS_FILE)}
    before = summary_of(run, "mmvu", "mmvu-official")
    rescore(run)  # `mosseval score`
    assert {n: (run / n).read_bytes() for n in judge_files} == judge_files
    assert summary_of(run, "mmvu", "mmvu-official") == before
    # the rule-based score of one sample changes (as a scorer fix would): agreement follows at once
    records = load_run(run).records
    i = next(k for k, r in enumerate(records) if r.sample.id == "validation_1")
    assert records[i].score.correct
    records[i] = records[i].model_copy(update={"score": records[i].score.model_copy(update={"correct": False})})
    rewrite_records(run, records)
    after = summary_of(run, "mmvu", "mmvu-official")
    assert after.accuracy == before.accuracy and after.agreement.rate == pytest.approx(before.agreement.rate - 1 / 9)
    assert after.agreement.judge_only == before.agreement.judge_only + 1
    # a sample whose response changed (re-run): its verdict no longer applies
    records[i] = records[i].model_copy(update={"generation": records[i].generation.model_copy(update={"text": "new"})})
    rewrite_records(run, records)
    stale = summary_of(run, "mmvu", "mmvu-official")
    assert (stale.n, stale.n_stale, stale.n_pending) == (9, 1, 1)
    assert verdicts_of(run, "mmvu-official")["validation_1"] is None
    s = judge_run(run, "gpt-4o", base_url=srv.base_url, **FAST)  # only that one is sent again
    assert len(srv.chat_requests()) == 9 and s.n_requested == 1
    assert summary_of(run, "mmvu", "mmvu-official").n_stale == 0


def test_budget_stops_and_resume_completes(tmp_path, chat_server):
    srv = chat_server(consistency_judge)
    run = make_run(tmp_path, "moss-video-mini", moss_items(6))
    with pytest.raises(RemoteError, match="request budget exhausted") as exc:
        judge_run(run, "test-model", base_url=srv.base_url, concurrency=1, max_requests=3, **FAST)
    assert exc.value.exit_code == 7
    assert len(srv.chat_requests()) == 3
    res = summary_of(run, "moss-video-mini", "process-consistency")
    assert (res.n, res.n_pending, res.complete) == (3, 3, False)
    assert exc.value.summary.n_requested == 3 and exc.value.summary.results["moss-video-mini"]["process-consistency"] == res
    log = read_judgements(run).log
    assert log.history[-1].stopped.startswith("request budget exhausted") and log.totals.requests == 3
    judge_run(run, "test-model", base_url=srv.base_url, **FAST)
    assert len(srv.chat_requests()) == 6  # only the rest
    res = summary_of(run, "moss-video-mini", "process-consistency")
    assert (res.n, res.n_pending, res.complete) == (6, 0, True)


def test_dry_run_sends_nothing_and_estimates(tmp_path, chat_server, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    run = make_run(tmp_path, "mmvu", mmvu_items())
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    # no key and the default endpoint: a dry run still works (nothing is sent)
    s = judge_run(run, "gpt-4o", dry_run=True)
    assert s.dry_run and s.requests == 0 and s.n_to_request == 8
    e = s.estimate
    assert e.requests == 8 and e.prompt_tokens > 8 * 100
    assert e.completion_tokens == 8 * 24 and e.completion_tokens_max == 8 * 128
    assert e.cost_usd == pytest.approx((e.prompt_tokens * 2.5 + e.completion_tokens * 10) / 1e6)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before  # nothing written
    srv = chat_server(mmvu_judge)
    s = judge_run(run, "gpt-4o", base_url=srv.base_url, dry_run=True)
    assert len(srv.chat_requests()) == 0
    # after a real run the dry run reports everything cached
    judge_run(run, "gpt-4o", base_url=srv.base_url, **FAST)
    s = judge_run(run, "gpt-4o", base_url=srv.base_url, dry_run=True)
    assert (s.n_to_request, s.n_cached, s.estimate.requests) == (0, 8, 0)  # the unparseable reply is cached too


def test_no_key_for_openai_fails_before_any_request(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("MOSSEVAL_JUDGE_API_KEY", raising=False)
    run = make_run(tmp_path, "moss-video-mini", moss_items(2))
    with pytest.raises(RemoteError, match="no API key"):
        judge_run(run, "gpt-4o", **FAST)


def test_shared_cache_reused_across_run_dirs(tmp_path, chat_server):
    srv = chat_server(consistency_judge)
    shared = tmp_path / "shared"
    a = make_run(tmp_path / "a", "moss-video-mini", moss_items(3))
    b = make_run(tmp_path / "b", "moss-video-mini", moss_items(3))
    judge_run(a, "test-model", base_url=srv.base_url, shared_cache=str(shared), **FAST)
    s = judge_run(b, "test-model", base_url=srv.base_url, shared_cache=str(shared), **FAST)
    assert len(srv.chat_requests()) == 3 and s.n_cached == 3
    assert len(_lines(b / CACHE_FILE)) == 3  # copied into the run, which stays self-contained


# ----------------------------------------------------------------------------- CLI, kill/resume, secrets


@pytest.mark.e2e
def test_kill_midway_and_rerun_loses_nothing_repeats_nothing(tmp_path, chat_server):
    n_items, n_before_kill = 10, 4
    lock = threading.Lock()
    answered: list[str] = []
    blocked: list[str] = []
    gate = threading.Event()

    def responder(req):
        cube = re.search(r"cube (\d+)", message_text(req)).group(1)
        with lock:
            hold = len(answered) >= n_before_kill and not gate.is_set()
            if hold:
                blocked.append(cube)
        if hold:  # in flight when the judge is killed: never answered, not paid
            gate.wait(20)
            return Reply(text=None, status=503, error="gone")
        with lock:
            answered.append(cube)
        return consistency_judge(req)

    srv = chat_server(responder)
    run = make_run(tmp_path, "moss-video-mini", moss_items(n_items))
    proc = mosseval_popen("judge", str(run), "--judge", "test-model", "--base-url", srv.base_url, "--concurrency", "1", "-q")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if len(_lines(run / CACHE_FILE)) >= n_before_kill and blocked:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    gate.set()
    first = list(answered)
    assert len(first) == n_before_kill and len(_lines(run / CACHE_FILE)) == n_before_kill
    with (run / CACHE_FILE).open("a") as fh:  # a torn write left by the kill
        fh.write('{"fingerprint": "abc", "verd')
    proc = mosseval_popen("judge", str(run), "--judge", "test-model", "--base-url", srv.base_url, "--concurrency", "2")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert len(answered) == n_items  # every item answered exactly once over both runs
    assert sorted(answered, key=int) == [str(i) for i in range(n_items)]
    assert not set(first) & set(answered[n_before_kill:])  # no paid request repeated
    assert "4 cached" in err
    scores = [v.score for v in verdicts_of(run, "process-consistency").values()]
    assert scores == [4 + i % 5 for i in range(n_items)]
    assert len(_lines(run / CACHE_FILE)) == n_items


@pytest.mark.e2e
def test_ctrl_c_saves_finished_verdicts(tmp_path, chat_server):
    gate = threading.Event()
    lock = threading.Lock()
    answered: list[str] = []
    blocked: list[str] = []

    def responder(req):
        with lock:
            hold = len(answered) >= 2 and not gate.is_set()
            if hold:
                blocked.append("x")
        if hold:
            gate.wait(20)
            return Reply(text=None, status=503, error="gone")
        with lock:
            answered.append("x")
        return consistency_judge(req)

    srv = chat_server(responder)
    run = make_run(tmp_path, "moss-video-mini", moss_items(5))
    # the request in flight at Ctrl-C ends at its 2 s deadline (no fixed sleep to order the events)
    proc = mosseval_popen("judge", str(run), "--judge", "test-model", "--base-url", srv.base_url, "--concurrency", "1",
                "--max-retries", "0", "--timeout", "2", "-q")
    deadline = time.monotonic() + 30
    while not blocked and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    gate.set()
    assert proc.returncode == 130, out + err
    verdicts = list(verdicts_of(run, "process-consistency").values())
    assert [v.score for v in verdicts[:2]] == [4, 5]  # finished verdicts are in the judge's files
    assert verdicts[2] is not None and verdicts[2].error  # the one in flight failed: recorded, not cached
    assert verdicts[3:] == [None, None]
    assert read_judgements(run).log.history[-1].stopped == "interrupted"
    assert summary_of(run, "moss-video-mini", "process-consistency").n_pending == 2
    assert len(_lines(run / CACHE_FILE)) == 2


FAKE_KEY = "sk-fixture-SECRET0123456789abcdefXYZ"


def test_api_key_never_written_or_printed(tmp_path, chat_server):
    def responder(req):
        if "cube 1" in message_text(req):  # a misbehaving gateway echoing the key in an error
            return Reply(text=None, status=500, error=f"upstream rejected key {FAKE_KEY}")
        return consistency_judge(req)

    srv = chat_server(responder, expected_key=FAKE_KEY)
    run = make_run(tmp_path, "moss-video-mini", moss_items(3))
    outputs = []
    # key from the environment
    p = mosseval_popen("judge", str(run), "--judge", "test-model", "--base-url", srv.base_url, "--max-retries", "1",
             "--json", str(run / "summary.json"), env={"OPENAI_API_KEY": FAKE_KEY})
    outputs += p.communicate(timeout=60)
    assert p.returncode == 3, outputs  # one judge error (recorded)
    v = verdicts_of(run, "process-consistency")["test-00001"]
    assert v.error and "upstream rejected key" in v.error and "***" in v.error
    # key from the option; then a wrong key: credentials refused, exit 7, key not echoed
    p = mosseval_popen("judge", str(run), "--judge", "test-model", "--base-url", srv.base_url, "--max-retries", "0",
             "--api-key", FAKE_KEY, "--retry-errors")
    outputs += p.communicate(timeout=60)
    wrong = FAKE_KEY[::-1]
    p = mosseval_popen("judge", str(run), "--judge", "other-judge", "--base-url", srv.base_url, env={"OPENAI_API_KEY": wrong})
    o, e = p.communicate(timeout=60)
    assert p.returncode == 7 and "refused the credentials" in e
    assert wrong not in o + e
    outputs += [o, e]
    assert all(r.auth == "present" for r in srv.requests)
    for text in outputs:
        assert FAKE_KEY not in text
    for path in run.rglob("*"):
        if path.is_file():
            assert FAKE_KEY not in path.read_text(errors="replace"), path
            assert wrong not in path.read_text(errors="replace"), path


def test_run_with_judge_inline_on_mmvu_fixture(tmp_path, chat_server):
    """`mosseval run --judge` on MMVU fixture data: the runner, then the official judge, end to end."""
    from tests.support.benchmarks import make_mmvu

    make_mmvu(tmp_path / "MMVU", n=6)
    srv = chat_server(mmvu_judge)
    p = mosseval_popen("run", "--model", "oracle", "--tasks", "mmvu", "--data-dir", str(tmp_path / "MMVU"), "--limit", "6",
             "-o", str(tmp_path / "runs"), "--judge", "gpt-4o", "--workers", "1",
             env={"MOSSEVAL_JUDGE_BASE_URL": srv.base_url})
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, out + err
    run = Path(out.strip().splitlines()[-1])
    assert len(srv.chat_requests()) == 6
    j = summary_of(run, "mmvu", "mmvu-official")
    assert j.accuracy.value == 1.0 and j.n == 6  # the oracle answers the gold answer
    assert j.agreement.rate == 1.0
    assert "judge gpt-4o" in err and "requests: 6" in err  # the CLI printed the judge's report


STEP_RUBRIC = """
name: step-match
version: "1"
kind: score
description: per-step matching of the trace against the reference steps (a test rubric)
requires: [reference_steps]
scale: {min: 0, max: 1}
parser: test-step-match
aggregator: test-step-recall
templates:
  user: |
    Reference:
    {{ reference_timeline }}
    Trace:
    {{ reasoning }}
    For each reference step say whether the trace states it.
schema:
  type: object
  properties:
    matched: {type: array, items: {type: boolean}}
  required: [matched]
fields: {score: matched}
"""


def test_a_rubric_with_its_own_parser_and_aggregator(tmp_path, chat_server):
    """Benchmark-specific judges are YAML + template + a named parser/aggregator; the judge needs no change."""
    from mosseval.judge.extensions import aggregators, parsers, register_aggregator, register_parser
    from mosseval.judge.parse import ParsedVerdict, find_object
    from mosseval.stats import mean_ci

    @register_parser("test-step-match")
    def step_match(rubric, text, parsed):
        obj = parsed if isinstance(parsed, dict) else find_object(text)[0]
        flags = obj.get("matched") if isinstance(obj, dict) else None
        if not isinstance(flags, list) or not flags:
            return ParsedVerdict(error=f"no per-step decisions in {text!r}")
        return ParsedVerdict(score=sum(flags) / len(flags), metrics={"steps_matched": float(sum(flags)),
                                                                     "steps": float(len(flags))})

    @register_aggregator("test-step-recall")
    def step_recall(rubric, pairs):
        return {"recall": mean_ci([v.metrics["steps_matched"] / v.metrics["steps"] for _, v in pairs],
                                  [r.sample.cluster_key for r, _ in pairs])}

    try:
        folder = tmp_path / "rubrics"
        folder.mkdir()
        (folder / "step-match.yaml").write_text(STEP_RUBRIC)
        srv = chat_server(lambda req: json.dumps({"matched": [True, "cube 1" not in message_text(req), True]}))
        run = make_run(tmp_path, "moss-video-mini", moss_items(3))
        s = judge_run(run, "test-model", rubric="step-match", base_url=srv.base_url, rubrics_dir=[folder], **FAST)
        assert s.n_errors == 0 and len(srv.chat_requests()) == 3
        v = verdicts_of(run, "step-match")
        assert v["test-00001"].score == pytest.approx(2 / 3) and v["test-00001"].metrics == {"steps_matched": 2.0,
                                                                                             "steps": 3.0}
        summary = summary_of(run, "moss-video-mini", "step-match")
        assert summary.metrics["recall"].value == pytest.approx((1 + 2 / 3 + 1) / 3)
        assert summary.mean_score.value == pytest.approx((1 + 2 / 3 + 1) / 3)
        # an unknown parser name is a one-line config error naming the file and the key
        (folder / "step-match.yaml").write_text(STEP_RUBRIC.replace("test-step-match", "test-step-mach"))
        from mosseval.errors import ConfigError

        with pytest.raises(ConfigError, match=r"key `parser`: unknown parser 'test-step-mach'.*did you mean"):
            judge_run(run, "test-model", rubric="step-match", base_url=srv.base_url, rubrics_dir=[folder], **FAST)
    finally:
        for reg, name in ((parsers, "test-step-match"), (aggregators, "test-step-recall")):
            reg._objects.pop(name, None)
            reg._declared.pop(name, None)
