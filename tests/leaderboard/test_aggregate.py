"""`mosseval leaderboard`: aggregation values, comparability splitting, ties, escaping, lmms-eval import,
exports and CLI errors.

Run directories are written with the real writers (``write_run_log`` / ``SampleWriter``) and their
aggregates with the real scorer (``mosseval.scoring.aggregate_task``), exactly as the runner does; one
test goes end to end through ``mosseval run``.
"""

from __future__ import annotations

import html.parser
import json
import math
import re
from pathlib import Path

import pytest

from mosseval.errors import UsageError
from mosseval.judge.context import sample_digest
from mosseval.judge.records import JudgeLog, RubricInfo, VerdictLine
from mosseval.judge.store import write_judgements
from mosseval.leaderboard import (
    Board,
    board_long_table,
    board_wide_table,
    build_leaderboard,
    json_for_html,
    render_html,
    write_leaderboard_json,
)
from mosseval.records import (
    ErrorInfo,
    FrameInfo,
    FrameSpec,
    Generation,
    JudgeVerdict,
    PromptSpec,
    PRRConfig,
    PRRDetail,
    ReferenceStep,
    RunLog,
    RunSpec,
    Sample,
    SampleRecord,
    SampleScore,
    ScoringSpec,
    TaskRef,
    TaskSpec,
    VideoRef,
)
from mosseval.rundir import SampleWriter, fingerprint, write_run_log
from mosseval.scoring import aggregate_group, aggregate_task
from mosseval.stats import mcnemar_exact, mean_ci
from tests.support.cli import main_inprocess

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_TEXT = f"<think>Step 1: {XSS_SCRIPT} the ball moves.\n{XSS_IMG} then it stops --> </script><!--</think><answer>B</answer>"

# --------------------------------------------------------------------------- building runs


def task_spec(name: str, *, version: str = "1", protocol: str = "reasoning", frames: int = 8,
              prr: bool = True, approximate: bool = False) -> TaskSpec:
    return TaskSpec(name=name, version=version, protocol=protocol, loader="moss_video_jsonl",
                    prompt=PromptSpec(template="{{ question }}"), frames=FrameSpec(num_frames=frames),
                    scoring=ScoringSpec(require_format=True, prr=PRRConfig() if prr else None, approximate=approximate),
                    breakdowns=["category", "level"])


def make_record(task: str, i: int, correct: bool, prr: float | None, *, text: str | None = None,
                sample_id: str | None = None, error: bool = False, parse_failed: bool = False) -> SampleRecord:
    sid = sample_id or f"s{i:04d}"
    refs = [ReferenceStep(t=float(k), text=f"at {k} s the red ball is in cell {k}") for k in range(3)]
    sample = Sample(id=sid, task=task, video=VideoRef(path=f"videos/v{i // 2}.mp4"),
                    question=f"Where is the red ball next ({sid})?",
                    options={"A": "left", "B": "right", "C": "up", "D": "down"}, answer="A",
                    reference_steps=refs, category=["move", "color"][i % 2], level=["coarse", "fine"][i % 3 == 0])
    if error:
        return SampleRecord(key=f"{task}/{sid}", task=task, index=i, sample=sample,
                            generation=Generation(error=ErrorInfo(kind="media", message="cannot decode")),
                            score=SampleScore(correct=False, format_ok=False, prr=0.0 if prr is not None else None,
                                              prr_status="no_steps"))
    steps = [f"at {k} s the red ball is in cell {k}" for k in range(3)] + ["so it goes left"]
    gen = Generation(text=text if text is not None else "<think>" + "\n".join(steps) + "</think><answer>A</answer>",
                     frames=FrameInfo(indices=[0, 10, 20, 30], timestamps=[0.0, 0.4, 0.8, 1.2], decoder="pyav"))
    score = SampleScore(
        extracted=None if parse_failed else ("A" if correct else "B"), correct=correct, parse_failed=parse_failed,
        format_ok=True, steps=steps, prr=prr, prr_status="scored" if prr is not None else "disabled",
        prr_detail=PRRDetail(cost=0.5, normalized_cost=0.1, path=[(0, 0), (1, 1), (2, 2)],
                             step_distances=[0.0, 0.2, 0.1]) if prr is not None else None)
    return SampleRecord(key=f"{task}/{sid}", task=task, index=i, sample=sample, generation=gen, score=score)


def write_run(path: Path, model: str, tasks: dict[str, tuple[TaskSpec, list[SampleRecord]]], *,
              groups: dict[str, list[str]] | None = None, created: str = "2025-03-01T10:00:00Z",
              model_identity: dict | None = None, status: str = "completed") -> Path:
    groups = groups or {}
    member = {t: g for g, ts in groups.items() for t in ts}
    refs = [TaskRef(name=n, version=s.version, fingerprint=s.comparability_hash(), group=member.get(n))
            for n, (s, _) in tasks.items()]
    identity = {"model": {"name": model, "backend": "baseline", **(model_identity or {})},
                "eval": {"tasks": [r.model_dump(exclude={"group"}) for r in refs]}}
    all_records = [r for _, recs in tasks.values() for r in recs]
    log = RunLog(run_id=fingerprint(identity), identity=identity,
                 spec=RunSpec(model=model, backend="baseline", model_identity=identity["model"], tasks=refs,
                              mosseval_version="0.1.0", git_revision="abc1234def"),
                 status=status, created_at=created, updated_at=created, n_expected=len(all_records),
                 n_done=len(all_records), task_specs={n: s for n, (s, _) in tasks.items()})
    for n, (s, recs) in tasks.items():
        log.results[n] = aggregate_task(s, recs)
    for g, members in groups.items():
        log.groups[g] = aggregate_group(g, [tasks[m][0] for m in members], all_records)
    path.mkdir(parents=True, exist_ok=True)
    write_run_log(path, log)
    with SampleWriter(path, fsync=False) as w:
        for r in all_records:
            w.write(r)
    return path


def write_verdicts(run_dir: Path, rubric: str, kind: str, verdicts: list[tuple[SampleRecord, dict]],
                   scale: tuple[float, float] | None = None, judge: str = "gpt-4o") -> None:
    """Judge files as `mosseval judge` writes them: one verdict per record (fields of JudgeVerdict)."""
    tasks = sorted({r.task for r, _ in verdicts})
    log = JudgeLog(run_id="r", updated_at="2025-03-01T10:00:00Z",
                   rubrics={rubric: RubricInfo(name=rubric, version="1", kind=kind, scale=scale, judge=judge,
                                               tasks=tasks, requires=["reference_steps"] if kind == "score" else [])})
    lines = [VerdictLine(key=r.key, task=r.task, rubric=rubric, sample_digest=sample_digest(r),
                         verdict=JudgeVerdict(judge=judge, rubric=rubric, rubric_version="1", fingerprint=f"f{r.key}", **v))
             for r, v in verdicts]
    write_judgements(run_dir, log, lines)


def build(*args, **kwargs) -> dict:
    """The board as leaderboard.json holds it."""
    return build_leaderboard(*args, **kwargs).model_dump(mode="json")


def simple_run(path: Path, model: str, correct: list[bool], *, task: str = "moss-video-mini",
               spec: TaskSpec | None = None, prr: list[float] | None = None, **kw) -> Path:
    spec = spec or task_spec(task)
    prr = prr or [0.9 if c else 0.3 for c in correct]
    recs = [make_record(task, i, c, p) for i, (c, p) in enumerate(zip(correct, prr))]
    return write_run(path, model, {task: (spec, recs)}, **kw)


def cell(board: dict, run_name: str, task: str) -> dict:
    run = next(r for r in board["runs"] if r["name"] == run_name)
    cols = [c["id"] for c in board["columns"] if c["task"] == task]
    found = [run["cells"][c] for c in cols if c in run["cells"]]
    assert len(found) == 1
    return found[0]


# --------------------------------------------------------------------------- aggregation values


def test_aggregation_values_match_the_run_and_the_stats_module(tmp_path):
    correct_a = [i % 10 < 7 for i in range(100)]          # 70 %
    correct_b = [i % 10 < 4 for i in range(100)]          # 40 %, always a subset of A's correct answers
    a = simple_run(tmp_path / "a", "model-a", correct_a)
    b = simple_run(tmp_path / "b", "model-b", correct_b)
    board = build([str(a), str(b)])

    assert board["schema_version"] == 2 and board["kind"] == "mosseval-leaderboard"
    assert [c["task"] for c in board["columns"]] == ["moss-video-mini"]
    ca = cell(board, "model-a", "moss-video-mini")
    clusters = [f"videos/v{i // 2}.mp4" for i in range(100)]
    ref = mean_ci([1.0 if c else 0.0 for c in correct_a], clusters, binary=True)
    assert ca["accuracy"]["value"] == pytest.approx(0.70)
    assert ca["accuracy"]["ci_low"] == pytest.approx(ref.ci_low)
    assert ca["accuracy"]["ci_high"] == pytest.approx(ref.ci_high)
    assert ca["accuracy"]["n"] == 100 and ca["accuracy"]["n_clusters"] == 50
    assert ca["prr"]["value"] == pytest.approx(0.7 * 0.9 + 0.3 * 0.3)
    assert ca["prr_correct"]["value"] == pytest.approx(0.9)
    assert ca["prr_incorrect"]["value"] == pytest.approx(0.3)
    assert ca["format_rate"] == 1.0 and ca["parse_failure_rate"] == 0.0 and ca["error_rate"] == 0.0
    assert set(ca["breakdowns"]) == {"category", "level"}
    assert ca["breakdowns"]["category"]["move"]["n"] == 50

    # A leads; B's 30 discordant pairs all go one way → exact McNemar p = 2 * 0.5**30.
    assert ca["tie"]["accuracy"]["leader"] is True and ca["tie"]["accuracy"]["test"] is None
    tb = cell(board, "model-b", "moss-video-mini")["tie"]["accuracy"]
    assert tb["test"] == "mcnemar-exact" and tb["discordant"] == [30, 0] and tb["n_paired"] == 100
    assert tb["p_value"] == pytest.approx(2 * 0.5 ** 30)
    assert tb["tied"] is False
    # One shared column: the overall equals that column, test included.
    rb = next(r for r in board["runs"] if r["name"] == "model-b")
    assert board["overall"]["columns"] == [board["columns"][0]["id"]]
    assert rb["overall"]["accuracy"]["value"] == pytest.approx(0.4)
    assert rb["overall"]["tie"]["accuracy"]["p_value"] == pytest.approx(2 * 0.5 ** 30)
    assert board["overall"]["leader"]["accuracy"] == next(r["run_id"] for r in board["runs"] if r["name"] == "model-a")


def test_mcnemar_matches_scipy_binomtest():
    scipy_stats = pytest.importorskip("scipy.stats")
    for b, c in [(0, 0), (1, 0), (5, 3), (30, 0), (12, 20), (400, 460), (2500, 2400)]:
        expected = 1.0 if b + c == 0 else scipy_stats.binomtest(b, b + c, 0.5).pvalue
        assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_close_runs_are_tied_and_far_runs_are_not(tmp_path):
    base = [i % 10 < 6 for i in range(200)]                     # 60 %
    close = list(base)
    for i in (0, 10, 20):                                       # 3 fewer correct, 1 more → 59 %
        close[i] = False
    close[9] = True
    far = [i % 10 < 3 for i in range(200)]                      # 30 %
    runs = [simple_run(tmp_path / n, n, c) for n, c in [("base", base), ("close", close), ("far", far)]]
    board = build([str(p) for p in runs])
    t_close = cell(board, "close", "moss-video-mini")["tie"]["accuracy"]
    t_far = cell(board, "far", "moss-video-mini")["tie"]["accuracy"]
    assert t_close["test"] == "mcnemar-exact" and t_close["discordant"] == [3, 1]
    assert t_close["p_value"] == pytest.approx(0.625) and t_close["tied"] is True
    assert t_far["tied"] is False


def test_unpaired_fallback_when_samples_differ(tmp_path):
    spec = task_spec("moss-video-mini")
    ra = [make_record("moss-video-mini", i, i % 10 < 7, 0.8, sample_id=f"a{i}") for i in range(100)]
    rb = [make_record("moss-video-mini", i, i % 10 < 6, 0.8, sample_id=f"b{i}") for i in range(100)]
    a = write_run(tmp_path / "a", "a", {"moss-video-mini": (spec, ra)})
    b = write_run(tmp_path / "b", "b", {"moss-video-mini": (spec, rb)})
    board = build([str(a), str(b)])
    t = cell(board, "b", "moss-video-mini")["tie"]["accuracy"]
    ea, eb = cell(board, "a", "moss-video-mini")["accuracy"], cell(board, "b", "moss-video-mini")["accuracy"]
    se = math.hypot((ea["ci_high"] - ea["ci_low"]) / (2 * 1.959963984540054),
                    (eb["ci_high"] - eb["ci_low"]) / (2 * 1.959963984540054))
    z = 0.1 / se
    assert t["test"] == "unpaired-z"
    assert t["p_value"] == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-9)
    assert t["tied"] is True


def test_judge_scores_and_error_counts(tmp_path):
    spec = task_spec("moss-video-mini")
    recs = [make_record("moss-video-mini", i, True, 0.9) for i in range(20)]
    recs.append(make_record("moss-video-mini", 20, False, 0.0, error=True))
    run = write_run(tmp_path / "r", "judged", {"moss-video-mini": (spec, recs)})
    write_verdicts(run, "process-consistency", "score",
                   [(r, {"score": float(i % 5) + 1, "rationale": "consistent"}) for i, r in enumerate(recs[:16])]
                   + [(recs[16], {"error": "timeout: gave up"})], scale=(1.0, 10.0))
    c = cell(build([str(run)]), "judged", "moss-video-mini")
    j = c["judge"]["process-consistency"]  # the judge's own summary, from its files
    assert j["mean_score"]["value"] == pytest.approx(sum(i % 5 + 1 for i in range(16)) / 16)
    assert (j["n"], j["n_valid"], j["n_errors"], j["n_pending"]) == (17, 16, 1, 4)  # 21 items, all applicable
    assert c["judge_primary"]["rubric"] == "process-consistency" and c["judge_primary"]["kind"] == "score"
    assert c["judge_primary"]["value"]["value"] == pytest.approx(j["mean_score"]["value"])
    assert c["judge_primary"]["scale"] == [1.0, 10.0]
    assert c["error_rate"] == pytest.approx(1 / 21) and c["n_errors"] == 1


def test_correctness_judge_agreement_with_rule_score(tmp_path):
    spec = task_spec("mmvu")
    recs = [make_record("mmvu", i, i < 10, None) for i in range(20)]  # rule-based: first 10 correct
    verdicts = [(r, {"correct": (i < 10) if i % 5 else not (i < 10)}) for i, r in enumerate(recs)]  # agree on 16
    run = write_run(tmp_path / "r", "judged", {"mmvu": (spec, recs)})
    write_verdicts(run, "mmvu-official", "correctness", verdicts)
    c = cell(build([str(run)]), "judged", "mmvu")
    j = c["judge"]["mmvu-official"]
    assert j["accuracy"]["value"] == pytest.approx(10 / 20) and j["agreement"]["rate"] == pytest.approx(16 / 20)
    # kappa: po = 0.8, both marginals 0.5 -> pe = 0.5 -> (0.8 - 0.5) / 0.5
    assert j["agreement"]["cohen_kappa"] == pytest.approx(0.6)
    assert c["judge_primary"]["agreement"] == pytest.approx(0.8) and c["judge_primary"]["kappa"] == pytest.approx(0.6)


# --------------------------------------------------------------------------- comparability


def test_incomparable_settings_get_separate_flagged_columns(tmp_path):
    c = [i % 2 == 0 for i in range(40)]
    a = simple_run(tmp_path / "a", "a", c, task="mvbench", spec=task_spec("mvbench", protocol="reasoning", frames=8))
    b = simple_run(tmp_path / "b", "b", c, task="mvbench", spec=task_spec("mvbench", protocol="official", frames=16))
    d = simple_run(tmp_path / "d", "d", c, task="mvbench", spec=task_spec("mvbench", version="2", frames=8))
    e = simple_run(tmp_path / "e", "e", c, task="mvbench", spec=task_spec("mvbench", protocol="reasoning", frames=8))
    board = build([str(a), str(b), str(d), str(e)])
    cols = [col for col in board["columns"] if col["task"] == "mvbench"]
    assert len(cols) == 3 and all(col["split"] for col in cols)
    labels = sorted(col["label"] for col in cols)
    assert "mvbench [official, 16f]" in labels
    assert "mvbench [reasoning, 8f, v1]" in labels and "mvbench [reasoning, 8f, v2]" in labels
    by_run = {r["name"]: set(r["cells"]) for r in board["runs"]}
    assert by_run["a"] == by_run["e"]                   # identical settings share a column
    assert len({frozenset(v) for v in by_run.values()}) == 3
    assert any("mvbench" in w and "incompatible" in w for w in board["warnings"])
    # No task is shared by every run → no overall, and the board says so.
    assert board["overall"]["columns"] == []
    assert any("no overall" in w for w in board["warnings"])


def test_prompt_change_splits_and_overall_uses_shared_tasks(tmp_path):
    c = [i % 3 == 0 for i in range(30)]
    t1 = task_spec("t1")
    t1b = t1.model_copy(update={"prompt": PromptSpec(template="Q: {{ question }}")})
    ra = [make_record("t1", i, x, 0.5) for i, x in enumerate(c)]
    rb = [make_record("t2", i, True, 0.5) for i in range(30)]
    a = write_run(tmp_path / "a", "a", {"t1": (t1, ra), "t2": (task_spec("t2"), rb)})
    b = write_run(tmp_path / "b", "b", {"t1": (t1, ra)})
    cc = write_run(tmp_path / "c", "c", {"t1": (t1b, ra)})
    board = build([str(a), str(b), str(cc)])
    t1_cols = [col for col in board["columns"] if col["task"] == "t1"]
    assert len(t1_cols) == 2 and all(col["split_differs"] == ["prompt.template"] for col in t1_cols)
    assert len({col["label"] for col in t1_cols}) == 2   # disambiguated by a config hash
    # a and b share t1 (same spec); c has the other variant → no column is shared by all three
    assert board["overall"]["columns"] == []
    board2 = build([str(a), str(b)])
    assert [colid.split("@")[0] for colid in board2["overall"]["columns"]] == ["t1"]
    ra_ = next(r for r in board2["runs"] if r["name"] == "a")
    assert ra_["overall"]["accuracy"]["value"] == pytest.approx(10 / 30)


def test_groups_are_top_level_with_subtask_drilldown(tmp_path):
    subs = {"mvb_a": [True] * 6 + [False] * 4, "mvb_b": [True] * 2 + [False] * 8}
    tasks = {n: (task_spec(n, protocol="official", frames=16, prr=False),
                 [make_record(n, i, x, None) for i, x in enumerate(v)]) for n, v in subs.items()}
    run = write_run(tmp_path / "g", "grouped", tasks, groups={"mvb": ["mvb_a", "mvb_b"]})
    board = build([str(run)])
    by_task = {c["task"]: c for c in board["columns"]}
    assert by_task["mvb"]["top_level"] and by_task["mvb"]["kind"] == "group"
    assert not by_task["mvb_a"]["top_level"] and by_task["mvb_a"]["group_column"] == by_task["mvb"]["id"]
    assert set(by_task["mvb"]["members"]) == {by_task["mvb_a"]["id"], by_task["mvb_b"]["id"]}
    g = cell(board, "grouped", "mvb")
    assert g["accuracy"]["value"] == pytest.approx(8 / 20)
    assert g["breakdowns"]["subtask"]["mvb_a"]["value"] == pytest.approx(0.6)
    assert g["prr"] is None and not by_task["mvb"]["has_prr"]
    assert board["overall"]["columns"] == [by_task["mvb"]["id"]]


def test_approximate_columns_are_flagged(tmp_path):
    run = simple_run(tmp_path / "m", "m", [True, False] * 10, task="mmvu",
                     spec=task_spec("mmvu", protocol="official", frames=32, approximate=True))
    board = build([str(run)])
    assert board["columns"][0]["approximate"] is True
    assert cell(board, "m", "mmvu")["approximate"] is True
    assert any("approximate" in w for w in board["warnings"])


# --------------------------------------------------------------------------- inputs and errors


def test_globs_parent_folders_and_errors(tmp_path):
    simple_run(tmp_path / "runs" / "a", "a", [True, False])
    simple_run(tmp_path / "runs" / "b", "b", [True, True])
    (tmp_path / "runs" / "notes").mkdir()
    assert len(build([str(tmp_path / "runs" / "*")])["runs"]) == 2
    assert len(build([str(tmp_path / "runs")])["runs"]) == 2
    # the same run twice (glob + explicit) is one row
    assert len(build([str(tmp_path / "runs" / "*"), str(tmp_path / "runs" / "a")])["runs"]) == 2
    with pytest.raises(UsageError, match="missing-dir"):
        build_leaderboard([str(tmp_path / "missing-dir")])
    with pytest.raises(UsageError, match="matches no run"):
        build_leaderboard([str(tmp_path / "nothing-*")])
    with pytest.raises(UsageError, match="notes"):
        build_leaderboard([str(tmp_path / "runs" / "notes")])
    with pytest.raises(UsageError, match="no runs"):
        build_leaderboard([])
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "run.json").write_text("{not json")
    with pytest.raises(UsageError, match="run.json"):
        build_leaderboard([str(bad)])


def test_cli_writes_json_html_csv_parquet(tmp_path, capsys):
    a = simple_run(tmp_path / "runs" / "a", "model-a", [i % 4 != 0 for i in range(40)])
    b = simple_run(tmp_path / "runs" / "b", "model-b", [i % 4 == 0 for i in range(40)])
    out = tmp_path / "site" / "lb.html"
    code, stdout, err = main_inprocess("leaderboard", str(tmp_path / "runs" / "*"), "-o", out, "--csv", tmp_path / "lb.csv",
                                "--parquet", tmp_path / "lb.parquet", "--samples-per-run", "7", capsys=capsys)
    assert code == 0, err
    assert str(out) in stdout and (tmp_path / "site" / "lb.json").is_file()
    board = json.loads((tmp_path / "site" / "lb.json").read_text())
    assert {r["name"] for r in board["runs"]} == {"model-a", "model-b"}
    assert all(len(v) == 7 for v in board["samples"]["runs"].values())
    import pandas as pd

    wide = pd.read_csv(tmp_path / "lb.csv")
    row = wide.set_index("model").loc["model-a"]
    assert row["moss-video-mini accuracy"] == pytest.approx(0.75)
    assert row["Overall accuracy"] == pytest.approx(0.75)
    assert bool(row["moss-video-mini tied_with_leader"]) is True
    long = pd.read_parquet(tmp_path / "lb.parquet")
    sub = long[(long.model == "model-b") & (long.column != "overall")]
    assert len(sub) == 1 and sub.iloc[0]["accuracy"] == pytest.approx(0.25)
    assert sub.iloc[0]["tie_test"] == "mcnemar-exact" and bool(sub.iloc[0]["tied_with_leader"]) is False
    assert b.is_dir() and a.is_dir()


def test_cli_errors_name_the_path(tmp_path, capsys):
    code, _, err = main_inprocess("leaderboard", tmp_path / "no-such-run", capsys=capsys)
    assert code == 2 and "no-such-run" in err
    code, _, err = main_inprocess("leaderboard", capsys=capsys)
    assert code == 2 and "no runs" in err
    run = simple_run(tmp_path / "r", "m", [True])
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = main_inprocess("leaderboard", run, "-o", blocker / "lb.html", capsys=capsys)
    assert code == 4 and "cannot write" in err


# --------------------------------------------------------------------------- HTML: escaping, self-containment


class _Collector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.script_bodies: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.script_bodies.append(data)


def xss_run(path: Path, name: str = "xss <b>model</b>", spec: TaskSpec | None = None) -> Path:
    spec = spec or task_spec("moss-video-mini")
    recs = [make_record("moss-video-mini", i, i % 2 == 0, 0.5 + 0.01 * i) for i in range(10)]
    recs[0] = make_record("moss-video-mini", 0, False, 0.1, text=XSS_TEXT)
    recs[0].sample.question = f"Which option? {XSS_IMG} </script><script>alert(2)</script>"
    recs[0].score.steps = [f"Step 1: {XSS_SCRIPT}", XSS_IMG, "then it stops"]
    recs[0].sample.options["B"] = XSS_SCRIPT
    blank = make_record("moss-video-mini", 1, False, 0.0, text=" \n\t ")  # whitespace only, scored as such
    recs[1] = blank.model_copy(update={"score": SampleScore(parse_failed=True, format_ok=False, prr=0.0,
                                                            prr_status="format_broken")})
    return write_run(path, name, {"moss-video-mini": (spec, recs)})


def test_html_escapes_model_output_and_is_self_contained(tmp_path):
    run = xss_run(tmp_path / "x")
    board = build_leaderboard([str(run)])
    page = render_html(board, tmp_path / "lb.html")
    text = page.read_text(encoding="utf-8")
    # nothing from the data appears as markup
    assert XSS_SCRIPT not in text and XSS_IMG not in text and "alert(2)" in text
    assert text.count("</script>") == 2                          # the JSON block and the app script only
    assert "<!--" not in text
    p = _Collector()
    p.feed(text)
    tags = [t for t, _ in p.tags]
    assert tags.count("script") == 2 and "img" not in tags
    assert not any(k.startswith("on") for _, attrs in p.tags for k in attrs)
    # the data block round-trips to the original strings
    data = json.loads(p.script_bodies[0])
    sample = next(s for s in data["samples"]["runs"][board.runs[0].run_id] if s["text"] == XSS_TEXT)
    assert data["samples"]["items"][sample["item"]]["options"]["B"] == XSS_SCRIPT
    # self-contained: no network references, CSP forbids everything but the inline hashes and data: images
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "@import" not in text and "url(http" not in text and "<link" not in text
    assert "default-src 'none'" in text and "script-src 'sha256-" in text


def test_json_for_html_escapes_breakout_sequences():
    payload = {"t": "</script><!-- & \u2028 > <"}
    s = json_for_html(payload)
    assert "<" not in s and ">" not in s and "&" not in s and "\u2028" not in s
    assert json.loads(s) == payload


def test_samples_are_bounded_and_deterministic(tmp_path):
    correct = [i % 3 != 0 for i in range(300)]
    prr = [((i * 37) % 100) / 100 for i in range(300)]
    a = simple_run(tmp_path / "a", "a", correct, prr=prr)
    b = simple_run(tmp_path / "b", "b", [not c for c in correct], prr=prr)
    board1 = build_leaderboard([str(a), str(b)], samples_per_run=30)
    b1, b2 = board1.model_dump(mode="json"), build([str(a), str(b)], samples_per_run=30)
    ra, rb = (b1["samples"]["runs"][r["run_id"]] for r in b1["runs"])
    assert len(ra) == 30 and [s["key"] for s in ra] == [s["key"] for s in b2["samples"]["runs"][b1["runs"][0]["run_id"]]]
    whys = {s["why"] for s in ra}
    assert whys == {"wrong", "low-prr", "random"}
    assert sum(1 for s in ra if s["why"] == "wrong") == 10
    assert all(s["prr"] <= 0.10 for s in ra if s["why"] == "low-prr")
    # the random part is shared across runs, so items can be compared side by side
    rand_a = {s["item"] for s in ra if s["why"] == "random"}
    assert rand_a & {s["item"] for s in rb}
    # the page embeds at most samples_per_run per run even if the board holds more
    page = render_html(board1, tmp_path / "lb.html", samples_per_run=5)
    data = json.loads(re.search(r'<script type="application/json" id="board-data">(.*?)</script>',
                                page.read_text(), re.S).group(1))
    assert all(len(v) == 5 for v in data["samples"]["runs"].values())
    assert len(data["samples"]["items"]) <= 10
    assert build([str(a)], samples_per_run=0)["samples"]["runs"] == {b1["runs"][0]["run_id"]: []}


def test_perfect_traces_are_never_picked_as_low_prr(tmp_path):
    from mosseval.leaderboard.samples import select_samples
    from mosseval.sampletable import SampleTable

    recs = [make_record("moss-video-mini", i, i % 4 != 0, 1.0) for i in range(60)]
    picked = select_samples(SampleTable.from_records(recs), 30)
    assert len(picked) == 30 and {why for _, why in picked} == {"wrong", "random"}
    recs[5].score.prr = 0.4  # one imperfect trace: it is the only "low-prr" pick
    assert [recs[i].sample.id for i, why in select_samples(SampleTable.from_records(recs), 30)
            if why == "low-prr"] == ["s0005"]


def test_leaderboard_json_is_valid_strict_json(tmp_path):
    run = simple_run(tmp_path / "a", "a", [True] * 5)
    board = build_leaderboard([str(run)])
    path = write_leaderboard_json(board, tmp_path / "out" / "lb.json")
    text = path.read_text()
    assert "NaN" not in text
    again = json.loads(text)
    assert again["runs"][0]["cells"] == board.model_dump(mode="json")["runs"][0]["cells"]
    assert Board.model_validate(again) == board  # leaderboard.json round-trips into the record
    assert again["runs"][0]["git_revision"] == "abc1234def" and again["runs"][0]["origin"] == "mosseval"


def test_tables_have_one_row_per_run(tmp_path):
    a = simple_run(tmp_path / "a", "a", [True, False] * 10)
    b = simple_run(tmp_path / "b", "b", [True, True] * 10)
    board = build_leaderboard([str(a), str(b)])
    wide = board_wide_table(board)
    assert list(wide["model"]) == ["a", "b"]
    assert wide.set_index("model").loc["b", "moss-video-mini accuracy"] == pytest.approx(1.0)
    long = board_long_table(board)
    assert set(long["column"]) == {board.columns[0].id, "overall"}


# --------------------------------------------------------------------------- lmms-eval import

MVB_SUBTASKS = ["mvbench_action_sequence", "mvbench_action_prediction"]


def write_lmms_fixture(root: Path, model: str = "lmms-lab/llava-onevision-qwen2-7b-ov",
                       date_id: str = "2025-02-01T10-00-00.123456", empty_pred_at: int = 3) -> Path:
    """Files in lmms-eval's exact output layout: <out>/<model_sanitized>/<date>_results.json + samples."""
    out = root / model.replace("/", "__")
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    for t_i, task in enumerate(MVB_SUBTASKS):
        lines = []
        n_correct = n_answered = 0
        for doc_id in range(10):
            gt = "ABCD"[doc_id % 4]
            correct = doc_id % 10 < (7 if t_i == 0 else 5)
            pred = "" if doc_id == empty_pred_at else (gt if correct else "ABCD"[(doc_id + 1) % 4])
            correct = correct and pred != ""
            n_answered += pred != ""
            n_correct += correct
            lines.append({
                "doc_id": doc_id,
                "target": f"candidate {gt}",
                "mvbench_accuracy": {"pred_answer": pred, "gt_answer": gt, "score": int(correct)},
                "filtered_resps": [pred],
                "resps": [[f"({pred}) candidate"]] if pred else [[""]],
                "doc_hash": f"{doc_id:064x}",
                "prompt_hash": "0" * 64,
                "target_hash": "1" * 64,
                "input": f"Question:What happens in clip {doc_id}?\nOption:\n(A) a\n(B) b\n(C) c\n(D) d\n"
                         "Only give the best option.",
            })
        (out / f"{date_id}_samples_{task}.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
        results[task] = {"alias": f" - {task}", "mvbench_accuracy,none": 100 * n_correct / n_answered,
                         "mvbench_accuracy_stderr,none": "N/A"}
    results["mvbench"] = {"alias": "mvbench", "mvbench_accuracy,none": 55.0, "mvbench_accuracy_stderr,none": "N/A"}
    doc = {
        "results": results,
        "group_subtasks": {"mvbench": MVB_SUBTASKS, **{t: [] for t in MVB_SUBTASKS}},
        "configs": {t: {"task": t, "dataset_path": "OpenGVLab/MVBench", "output_type": "generate_until",
                        "doc_to_visual": f"<function mvbench_doc_to_visual at 0x7f{i}a2b3c4d5>",
                        "generation_kwargs": {"max_new_tokens": 16, "temperature": 0}, "metadata": {"version": 0.0}}
                    for i, t in enumerate(MVB_SUBTASKS)},
        "versions": {"mvbench": "N/A", **{t: "Yaml" for t in MVB_SUBTASKS}},
        "n-shot": {t: 0 for t in MVB_SUBTASKS},
        "higher_is_better": {t: {"mvbench_accuracy": True} for t in [*MVB_SUBTASKS, "mvbench"]},
        "n-samples": {t: {"original": 200, "effective": 10} for t in MVB_SUBTASKS},
        "config": {"model": "llava_onevision",
                   "model_args": f"pretrained={model},conv_template=qwen_1_5,max_frames_num=32,api_key=sk-SECRET123",
                   "batch_size": "1", "batch_sizes": [], "device": None, "use_cache": None, "limit": 10.0,
                   "bootstrap_iters": 100000, "gen_kwargs": "", "random_seed": 0, "numpy_seed": 1234,
                   "torch_seed": 1234, "fewshot_seed": 1234},
        "git_hash": "4bd5f1c",
        "date": "20250201_100000",
        "task_hashes": {},
        "model_source": "llava_onevision",
        "model_name": model,
        "model_name_sanitized": model.replace("/", "__"),
        "system_instruction": None,
        "chat_template": None,
        "start_time": 1.0, "end_time": 2.0, "total_evaluation_time_seconds": "1.0",
    }
    path = out / f"{date_id}_results.json"
    path.write_text(json.dumps(doc, indent=2))
    return path


def test_lmms_import_own_columns_and_recomputed_accuracy(tmp_path):
    write_lmms_fixture(tmp_path / "lmms")
    ours = simple_run(tmp_path / "ours" / "a", "ours", [True] * 8 + [False] * 2, task="mvbench",
                      spec=task_spec("mvbench", protocol="official", frames=16, prr=False))
    board = build([str(ours)], lmms=[str(tmp_path / "lmms")])
    imported = next(r for r in board["runs"] if r["origin"] == "lmms-eval")
    assert imported["name"] == "lmms-lab/llava-onevision-qwen2-7b-ov"
    assert imported["backend"] == "lmms-eval:llava_onevision" and imported["git_revision"] == "4bd5f1c"
    assert imported["date"] == "2025-02-01T10:00:00"
    assert "sk-SECRET123" not in json.dumps(board) and imported["model_args"]["max_frames_num"] == "32"
    ext = [c for c in board["columns"] if c["external"]]
    assert {c["task"] for c in ext} == {"mvbench", *MVB_SUBTASKS}
    assert all(c["origin"] == "lmms-eval" and c["id"].startswith("lmms-eval:") for c in ext)
    # never merged with our mvbench column
    our_col = next(c for c in board["columns"] if c["task"] == "mvbench" and not c["external"])
    assert our_col["id"] not in imported["cells"]
    assert set(imported["cells"]).isdisjoint(next(r for r in board["runs"] if r["origin"] == "mosseval")["cells"])
    g = next(c for c in ext if c["task"] == "mvbench")
    assert g["top_level"] and g["label"] == "mvbench (lmms-eval)" and g["frames_label"] == "32f"
    cells = imported["cells"]
    seq = cells[next(c["id"] for c in ext if c["task"] == "mvbench_action_sequence")]
    # 7 correct of 10, one empty prediction (wrong): lmms-eval reports 6/9 = 66.7 %, the board 6/10
    assert seq["accuracy"]["value"] == pytest.approx(0.6) and seq["accuracy"]["n"] == 10
    assert seq["reported_accuracy"] == pytest.approx(6 / 9)
    assert seq["parse_failure_rate"] == pytest.approx(0.1)
    assert any("recomputed" in n for n in seq["notes"])
    grp = cells[g["id"]]
    assert grp["accuracy"]["value"] == pytest.approx((6 + 4) / 20)
    assert grp["reported_accuracy"] == pytest.approx(0.55)
    assert set(grp["breakdowns"]["subtask"]) == set(MVB_SUBTASKS)
    # overall is defined by mosseval runs; the import lacks that column → no overall for it
    assert imported["overall"] is None
    samples = board["samples"]["runs"][imported["run_id"]]
    assert samples and all(s["task"] in MVB_SUBTASKS for s in samples)
    item = board["samples"]["items"][samples[0]["item"]]
    assert item["question"].startswith("Question:")


def test_lmms_two_runs_pair_by_doc_id_and_split_on_frames(tmp_path):
    r1 = write_lmms_fixture(tmp_path / "a", model="org/m1")
    r2 = write_lmms_fixture(tmp_path / "b", model="org/m2", empty_pred_at=99)
    board = build([], lmms=[str(r1), str(r2)])
    assert len(board["runs"]) == 2
    grp = next(c for c in board["columns"] if c["task"] == "mvbench")
    m2 = next(r for r in board["runs"] if r["name"] == "org/m2")
    t = m2["cells"][grp["id"]]["tie"]["accuracy"]
    assert t.get("leader") or t["test"] == "mcnemar-exact"
    # a different frame setting in model_args → separate columns
    doc = json.loads(r2.read_text())
    doc["config"]["model_args"] = doc["config"]["model_args"].replace("max_frames_num=32", "max_frames_num=8")
    r2.write_text(json.dumps(doc))
    board = build([], lmms=[str(r1), str(r2)])
    labels = sorted(c["label"] for c in board["columns"] if c["task"] == "mvbench")
    assert labels == ["mvbench [lmms-eval, 32f]", "mvbench [lmms-eval, 8f]"]


def test_lmms_errors(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        build_leaderboard([], lmms=[str(tmp_path / "nope")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no lmms-eval"):
        build_leaderboard([], lmms=[str(tmp_path / "empty")])
    bad = tmp_path / "x_results.json"
    bad.write_text(json.dumps({"foo": 1}))
    with pytest.raises(UsageError, match="not an lmms-eval results file"):
        build_leaderboard([], lmms=[str(bad)])


# --------------------------------------------------------------------------- end to end through the runner


def test_end_to_end_with_the_runner(tmp_path, capsys):
    from mosseval.runner import Runner, RunOptions

    dirs = []
    for model in ("oracle", "random"):
        opts = RunOptions(model=model, tasks=["moss-video-mini"], limit=24, output_dir=tmp_path / "runs",
                          progress=False, workers=0)
        dirs.append(Runner(opts, None).execute().run_dir)
    out = tmp_path / "lb.html"
    code, stdout, err = main_inprocess("leaderboard", str(tmp_path / "runs" / "*"), "-o", out, "--thumbnails", capsys=capsys)
    assert code == 0, err
    board = json.loads(out.with_suffix(".json").read_text())
    assert [c["task"] for c in board["columns"]] == ["moss-video-mini"]
    oracle = cell(board, "oracle", "moss-video-mini")
    rnd = cell(board, "random", "moss-video-mini")
    assert oracle["accuracy"]["value"] == 1.0 and oracle["prr"]["value"] == pytest.approx(1.0)
    assert oracle["tie"]["accuracy"]["leader"] and rnd["tie"]["accuracy"]["test"] == "mcnemar-exact"
    assert rnd["accuracy"]["value"] < 0.6
    rid = next(r["run_id"] for r in board["runs"] if r["name"] == "oracle")
    s = board["samples"]["runs"][rid][0]
    assert s["alignment"]["path"] and s["frames"]["indices"]
    text = out.read_text()
    assert "data:image/jpeg;base64," in text          # thumbnails decoded from the generated videos
    # ... of exactly the frames the model saw, shared by runs that saw the same frames
    thumbs = board["samples"]["thumbnails"][s["frames"]["thumbnails"]]
    assert [t["index"] for t in thumbs] == s["frames"]["indices"] and len(thumbs) == 8
    other = next(x for x in board["samples"]["runs"][next(r["run_id"] for r in board["runs"] if r["name"] == "random")]
                 if x["item"] == s["item"])
    assert other["frames"]["thumbnails"] == s["frames"]["thumbnails"]
