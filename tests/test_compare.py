"""`mosseval compare`: joining, comparability, the non-inferiority verdicts and the exit codes.

Run directories are written with the real run-directory writer (``write_run_log`` / ``SampleWriter``):
compare's input is those files. The end-to-end path through `mosseval run` is covered at the end
and in tests/test_ci_recipe.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mosseval.comparability import run_differences
from mosseval.compare import CompareReport, CompareSettings, render_markdown
from mosseval.compare import compare_paths as compare_report
from mosseval.errors import NotComparableError, UsageError
from mosseval.records import (
    ErrorInfo,
    FrameSpec,
    Generation,
    PromptSpec,
    ReferenceStep,
    RunLog,
    RunSpec,
    Sample,
    SampleRecord,
    SampleScore,
    TaskRef,
    TaskSpec,
    VideoRef,
)
from mosseval.rundir import SampleWriter, fingerprint, load_run, write_run_log
from tests.support.cli import main_inprocess

# --------------------------------------------------------------------------- building run directories


def compare_paths(*args, **kwargs) -> dict:
    """The verdict as its JSON (what `--json` writes), for value assertions."""
    return compare_report(*args, **kwargs).model_dump(mode="json")


def _spec(name: str, frames: int = 8) -> TaskSpec:
    return TaskSpec(name=name, version="1", loader="moss_video_jsonl",
                    prompt=PromptSpec(template="{{ question }}"), frames=FrameSpec(num_frames=frames))


def write_run(path: Path, model: str, rows: list[dict], *, frames: int = 8, seed: int = 0,
              status: str = "completed") -> Path:
    """rows: dicts with task, id, video, correct, prr (None = no PRR), error (bool)."""
    tasks = sorted({r["task"] for r in rows})
    specs = {t: _spec(t, frames) for t in tasks}
    identity = {
        "model": {"name": model, "backend": "baseline"},
        "eval": {"tasks": [{"name": t, "version": "1", "fingerprint": specs[t].comparability_hash()} for t in tasks],
                 "seed": seed, "metric_version": "1"},
    }
    log = RunLog(run_id=fingerprint(identity), identity=identity,
                 spec=RunSpec(model=model, backend="baseline", mosseval_version="0.1.0",
                              tasks=[TaskRef(name=t, version="1", fingerprint=identity["eval"]["tasks"][i]["fingerprint"])
                                     for i, t in enumerate(tasks)]),
                 status=status, created_at="2025-01-01T00:00:00Z", updated_at="2025-01-01T00:00:00Z",
                 n_expected=len(rows), n_done=len(rows), task_specs=specs)
    path.mkdir(parents=True, exist_ok=True)
    write_run_log(path, log)
    with SampleWriter(path, fsync=False) as w:
        for i, r in enumerate(rows):
            sample = Sample(id=r["id"], task=r["task"], video=VideoRef(path=f"videos/{r['video']}.mp4"),
                            question=f"What happens next in {r['id']}?", options={"A": "up", "B": "down"},
                            answer="A", reference_steps=[ReferenceStep(text="the ball rolls left")])
            if r.get("error"):
                gen = Generation(error=ErrorInfo(kind="media", message="cannot decode"))
                score = SampleScore(correct=False, prr=None, prr_status="no_steps")
            else:
                gen = Generation(text="<think>x</think><answer>A</answer>")
                score = SampleScore(correct=bool(r["correct"]), prr=r.get("prr"),
                                    prr_status="scored" if r.get("prr") is not None else "not_applicable")
            w.write(SampleRecord(key=f"{r['task']}/{r['id']}", task=r["task"], index=i, sample=sample,
                                 generation=gen, score=score))
    return path


def simulate(n: int, *, per_video: int = 4, p: float = 0.7, seed: int = 0, task: str = "moss-video-mini",
             prr: bool = True) -> list[dict]:
    rng = np.random.default_rng(seed)
    video_skill = rng.normal(0, 1.0, size=n // per_video + 1)
    rows = []
    for i in range(n):
        v = i // per_video
        pv = 1 / (1 + np.exp(-(np.log(p / (1 - p)) + video_skill[v])))
        rows.append({"task": task, "id": f"s{i:05d}", "video": f"{task}-v{v}", "correct": bool(rng.random() < pv),
                     "prr": float(rng.uniform(0.3, 0.9)) if prr else None})
    return rows


def flip_correct(rows: list[dict], fraction: float, seed: int = 1) -> list[dict]:
    """Flip `fraction` of the correct answers to wrong."""
    rng = np.random.default_rng(seed)
    out = [dict(r) for r in rows]
    correct = [i for i, r in enumerate(out) if r["correct"]]
    for i in rng.choice(correct, size=int(round(fraction * len(correct))), replace=False):
        out[i]["correct"] = False
    return out


# --------------------------------------------------------------------------- acceptance tests


def test_identical_runs_pass(tmp_path, capsys):
    rows = simulate(400)
    a = write_run(tmp_path / "a", "base", rows)
    b = write_run(tmp_path / "b", "cand", rows)
    code, out, _ = main_inprocess("compare", a, b, "--json", tmp_path / "v.json", "--summary", tmp_path / "s.md", capsys=capsys)
    assert code == 0
    assert "PASS" in out
    v = json.loads((tmp_path / "v.json").read_text())
    assert v["verdict"] == "pass" and v["exit_code"] == 0
    for metric in ("accuracy", "prr"):
        row = v["overall"][metric]
        assert row["difference"] == 0.0 and row["ci_low"] == 0.0 and row["ci_high"] == 0.0
        assert row["p_value"] == 1.0 and row["n"] == 400 and row["n_clusters"] == 100
    assert "**PASS" in (tmp_path / "s.md").read_text()


def test_ten_percent_of_correct_answers_flipped_is_a_regression(tmp_path, capsys):
    rows = simulate(2000)
    a = write_run(tmp_path / "a", "base", rows)
    b = write_run(tmp_path / "b", "cand", flip_correct(rows, 0.10))
    code, out, _ = main_inprocess("compare", a, b, "--metric", "accuracy", "--json", tmp_path / "v.json", capsys=capsys)
    assert code == 1
    assert "REGRESSION" in out
    row = json.loads((tmp_path / "v.json").read_text())["overall"]["accuracy"]
    n_correct = sum(r["correct"] for r in rows)
    assert row["difference"] == pytest.approx(-round(0.1 * n_correct) / 2000)
    assert row["ci_high"] < -0.01 and row["p_value"] < 1e-10
    assert row["discordant"] == {"baseline_only_correct": round(0.1 * n_correct), "candidate_only_correct": 0}
    assert row["verdict"] == "regression" and row["n_clusters"] == 500


@pytest.mark.parametrize("n", [1, 2, 8, 20, 200, 2000])
@pytest.mark.parametrize("direction", ["worse", "better"])
def test_a_one_sample_difference_is_never_a_regression(tmp_path, capsys, n, direction):
    rows = simulate(n, p=0.5, seed=n)
    rows[0]["correct"] = direction == "worse"
    cand = [dict(r) for r in rows]
    cand[0]["correct"] = direction != "worse"
    cand[0]["prr"] = 0.0 if direction == "worse" else 1.0
    a = write_run(tmp_path / "a", "base", rows)
    b = write_run(tmp_path / "b", "cand", cand)
    for margin in ("1.0", "0"):
        code, _, _ = main_inprocess("compare", a, b, "--margin", margin, "--json", tmp_path / "v.json", capsys=capsys)
        v = json.loads((tmp_path / "v.json").read_text())
        assert code == 0
        assert v["verdict"] in ("pass", "inconclusive")
        assert all(r["verdict"] != "regression" for r in v["overall"].values())


def test_different_frame_counts_are_not_comparable(tmp_path, capsys):
    rows = simulate(40)
    a = write_run(tmp_path / "a", "base", rows, frames=8)
    b = write_run(tmp_path / "b", "cand", rows, frames=16)
    with pytest.raises(NotComparableError) as exc:
        compare_paths(a, b)
    msg = str(exc.value)
    assert "tasks.moss-video-mini.frames.num_frames differs: 8 vs 16" in msg
    code, _, err = main_inprocess("compare", a, b, capsys=capsys)
    assert code == 2
    assert "frames.num_frames differs: 8 vs 16" in " ".join(err.split())


def test_run_differences_name_every_key():
    t1 = _spec("t1")
    a = load_like({"t1": t1}, seed=0)
    b = load_like({"t1": t1.model_copy(update={"version": "2"}), "t2": _spec("t2")}, seed=1)
    diffs = run_differences(a, b)
    assert 'tasks.t1.version differs: "1" vs "2"' in diffs
    assert any(d.startswith("tasks.t2: only in candidate") for d in diffs)
    assert "seed differs: 0 vs 1" in diffs
    assert run_differences(a, a) == []
    # what does not change outputs or scores never makes two runs incomparable
    help_only = t1.model_copy(update={"description": "other words", "breakdowns": ["level"],
                                      "data": t1.data.model_copy(update={"obtain": "ask a colleague",
                                                                         "path": "elsewhere"})})
    assert run_differences(a, load_like({"t1": help_only}, seed=0)) == []


def load_like(specs: dict[str, TaskSpec], seed: int) -> RunLog:
    identity = {"model": {"name": "m"}, "eval": {"tasks": [{"name": n, "version": s.version,
                                                             "fingerprint": s.comparability_hash()}
                                                            for n, s in specs.items()],
                                                  "seed": seed, "metric_version": "1"}}
    return RunLog(run_id=fingerprint(identity), identity=identity,
                  spec=RunSpec(model="m", backend="baseline", mosseval_version="0", seed=seed,
                               tasks=[TaskRef(name=n, version=s.version, fingerprint=s.comparability_hash())
                                      for n, s in specs.items()]),
                  status="completed", created_at="", updated_at="", task_specs=specs)


def test_different_seed_is_not_comparable_but_different_model_is(tmp_path):
    rows = simulate(40)
    a = write_run(tmp_path / "a", "base", rows, seed=0)
    b = write_run(tmp_path / "b", "other-model", rows, seed=1)
    with pytest.raises(NotComparableError, match="seed differs: 0 vs 1"):
        compare_paths(a, b)
    c = write_run(tmp_path / "c", "other-model", rows, seed=0)
    assert compare_paths(a, c)["verdict"] == "pass"


# --------------------------------------------------------------------------- joining


def test_partial_overlap_is_reported_and_excluded(tmp_path, capsys):
    rows = simulate(300)
    a = write_run(tmp_path / "a", "base", rows[:250])
    b = write_run(tmp_path / "b", "cand", rows[20:])
    code, out, _ = main_inprocess("compare", a, b, "--json", tmp_path / "v.json", capsys=capsys)
    v = json.loads((tmp_path / "v.json").read_text())
    assert code == 0
    assert v["join"]["n_joined"] == 230
    assert v["join"]["only_baseline"] == 20 and v["join"]["only_candidate"] == 50
    assert v["join"]["only_baseline_examples"][0] == "moss-video-mini/s00000"
    assert "20 sample(s) only in the baseline and 50 only in the candidate were excluded" in " ".join(out.split())


def test_no_overlap_and_different_data_are_errors(tmp_path):
    rows = simulate(40)
    a = write_run(tmp_path / "a", "base", rows[:20])
    b = write_run(tmp_path / "b", "cand", rows[20:])
    with pytest.raises(NotComparableError, match="no sample in common"):
        compare_paths(a, b)
    # same keys, different question text: different data behind the same task name
    c = write_run(tmp_path / "c", "cand", rows[:20])
    rec = load_run(c).records
    rec[3] = rec[3].model_copy(update={"sample": rec[3].sample.model_copy(update={"question": "changed?"})})
    from mosseval.rundir import rewrite_records

    rewrite_records(c, rec)
    with pytest.raises(NotComparableError, match="different data"):
        compare_paths(a, c)


def test_errored_samples_count_as_wrong(tmp_path):
    rows = simulate(400, p=0.9, seed=3)
    cand = [dict(r) for r in rows]
    for r in cand[:120]:
        r["error"] = True
    a = write_run(tmp_path / "a", "base", rows)
    b = write_run(tmp_path / "b", "cand", cand, status="completed_with_errors")
    v = compare_paths(a, b)
    acc = v["overall"]["accuracy"]
    assert acc["candidate"] == pytest.approx(sum(r["correct"] for r in rows[120:]) / 400)
    assert acc["verdict"] == "regression" and v["exit_code"] == 1
    # PRR: an errored sample with reference steps has no steps -> PRR 0, so it is paired, not dropped
    prr = v["overall"]["prr"]
    assert prr["n"] == 400 and prr["candidate"] == pytest.approx(sum(r["prr"] for r in rows[120:]) / 400)
    assert any("120 candidate sample(s) errored" in n for n in v["notes"])


def test_missing_run_and_bad_options_exit_2(tmp_path, capsys):
    a = write_run(tmp_path / "a", "base", simulate(20))
    assert main_inprocess("compare", a, tmp_path / "nope", capsys=capsys)[0] == 2
    (tmp_path / "empty").mkdir()
    code, _, err = main_inprocess("compare", a, tmp_path / "empty", capsys=capsys)
    assert code == 2 and "run.json" in err
    for bad in (["--alpha", "0.7"], ["--metric", "acc"], ["--bootstrap", "10"], ["--margin", "-1"],
                ["--gate", "task"]):
        code, _, err = main_inprocess("compare", a, a, *bad, capsys=capsys)
        assert code == 2, bad
    assert "did you mean 'tasks'" in err


# --------------------------------------------------------------------------- verdicts


def test_improvement_passes_and_prr_regression_alone_fails(tmp_path, capsys):
    rows = simulate(800, seed=4)
    better = [dict(r, correct=True) for r in rows]
    a = write_run(tmp_path / "a", "base", rows)
    assert main_inprocess("compare", a, write_run(tmp_path / "b", "better", better), capsys=capsys)[0] == 0
    worse_prr = [dict(r, prr=max(0.0, r["prr"] - 0.1)) for r in rows]
    c = write_run(tmp_path / "c", "worse-prr", worse_prr)
    code, out, _ = main_inprocess("compare", a, c, "--json", tmp_path / "v.json", capsys=capsys)
    v = json.loads((tmp_path / "v.json").read_text())
    assert code == 1
    assert v["overall"]["accuracy"]["verdict"] == "pass"
    assert v["overall"]["prr"]["verdict"] == "regression" and v["overall"]["prr"]["test"] == "cluster_sign_test"
    assert main_inprocess("compare", a, c, "--metric", "accuracy", capsys=capsys)[0] == 0
    # a PRR margin wider than the drop tolerates it
    assert main_inprocess("compare", a, c, "--prr-margin", "15", capsys=capsys)[0] == 0


def test_inconclusive_reports_samples_needed(tmp_path, capsys):
    rows = simulate(200, seed=8)
    cand = flip_correct(rows, 0.02, seed=2)  # a ~1.4 point drop on 200 samples: the CI straddles -1
    a = write_run(tmp_path / "a", "base", rows)
    b = write_run(tmp_path / "b", "cand", cand)
    code, out, _ = main_inprocess("compare", a, b, "--metric", "accuracy", "--json", tmp_path / "v.json",
                       "--summary", tmp_path / "s.md", capsys=capsys)
    v = json.loads((tmp_path / "v.json").read_text())
    row = v["overall"]["accuracy"]
    assert code == 0 and v["verdict"] == "inconclusive" and row["verdict"] == "inconclusive"
    assert row["ci_low"] < -0.01 <= row["ci_high"]
    assert row["n_needed"] > 200 and row["n_clusters_needed"] >= row["n_needed"] // 4
    assert "INCONCLUSIVE" in out and f"~{row['n_needed']} samples" in " ".join(out.split())
    md = (tmp_path / "s.md").read_text()
    assert f"about {row['n_needed']} samples would be needed" in md


def test_exact_test_guard_blocks_a_regression_from_a_tiny_sample(tmp_path):
    # 10 videos, 5 discordant pairs against the candidate: the percentile bootstrap CI sits below
    # -margin, the exact McNemar test (p = 2 / 2**5) does not reject -> inconclusive, not regression
    rows = [{"task": "t", "id": f"s{i}", "video": f"v{i}", "correct": True, "prr": 0.5} for i in range(10)]
    cand = [dict(r) for r in rows]
    for r in cand[:5]:
        r["correct"] = False
    a = write_run(tmp_path / "a", "base", rows)
    b = write_run(tmp_path / "b", "cand", cand)
    v = compare_paths(a, b, CompareSettings(metrics=("accuracy",)))
    row = v["overall"]["accuracy"]
    assert row["ci_high"] < -0.01  # the interval alone would say "regression"
    assert row["p_value"] == 0.0625 and row["verdict"] == "inconclusive" and "does not reject" in row["reason"]


def _two_task_rows() -> tuple[list[dict], list[dict]]:
    t1 = simulate(1200, seed=5, task="alpha")
    t2 = simulate(300, seed=6, task="beta")
    t2_worse = flip_correct(t2, 0.25, seed=3)
    return t1 + t2, t1 + t2_worse


def test_per_task_and_overall_rows_and_gate_modes(tmp_path, capsys):
    base, cand = _two_task_rows()
    a = write_run(tmp_path / "a", "base", base)
    b = write_run(tmp_path / "b", "cand", cand)
    v = compare_paths(a, b, CompareSettings(metrics=("accuracy",)))
    assert set(v["tasks"]) == {"alpha", "beta"}
    assert v["tasks"]["alpha"]["accuracy"]["verdict"] == "pass"
    beta = v["tasks"]["beta"]["accuracy"]
    assert beta["verdict"] == "regression" and not beta["gating"]
    assert v["overall"]["accuracy"]["n"] == 1500 and v["overall"]["accuracy"]["gating"]
    overall_verdict = v["overall"]["accuracy"]["verdict"]
    assert v["verdict"] == overall_verdict
    # per-task gating: Bonferroni over 3 decisions (2 tasks + overall), and beta's drop fails the gate
    vt = compare_paths(a, b, CompareSettings(metrics=("accuracy",), gate="tasks"))
    assert vt["tasks"]["beta"]["accuracy"]["gating"] and vt["tasks"]["beta"]["accuracy"]["alpha"] == pytest.approx(0.05 / 3)
    assert vt["tasks"]["beta"]["accuracy"]["ci_level"] == pytest.approx(1 - 0.05 / 3)
    assert vt["verdict"] == "regression" and vt["exit_code"] == 1
    code, out, _ = main_inprocess("compare", a, b, "--metric", "accuracy", "--gate", "tasks", capsys=capsys)
    assert code == 1 and "alpha" in out and "beta" in out and "overall" in out


def test_json_schema_and_markdown_summary(tmp_path, capsys):
    rows = simulate(200)
    a = write_run(tmp_path / "a", "base", rows)
    b = write_run(tmp_path / "b", "cand", flip_correct(rows, 0.3))
    summary = tmp_path / "step_summary.md"
    summary.write_text("previous step\n")
    code, _, _ = main_inprocess("compare", a, b, "--json", tmp_path / "v.json", "--summary", summary, "--seed", "3", capsys=capsys)
    v = json.loads((tmp_path / "v.json").read_text())
    assert code == 1
    assert v["schema_version"] == 1 and v["kind"] == "mosseval.compare"
    assert v["baseline"]["model"] == "base" and v["candidate"]["model"] == "cand"
    assert v["baseline"]["eval_identity_hash"] == v["candidate"]["eval_identity_hash"]
    assert v["baseline"]["model_identity_hash"] != v["candidate"]["model_identity_hash"]
    assert v["baseline"]["run_id"] == load_run(a).log.run_id
    assert v["settings"] == {"margin_pp": 1.0, "prr_margin_pp": 1.0, "alpha": 0.05, "bootstrap": 2000, "seed": 3,
                             "metrics": ["accuracy", "prr"], "gate": "overall", "mid_p": False, "min_clusters": 5}
    row = v["tasks"]["moss-video-mini"]["accuracy"]
    for key in ("n", "n_clusters", "baseline", "candidate", "difference", "ci_low", "ci_high", "ci_level",
                "p_value", "test", "verdict", "reason", "margin", "margin_pp", "n_needed", "gating"):
        assert key in row
    text = summary.read_text()
    assert text.startswith("previous step\n### mosseval compare")  # appended, as $GITHUB_STEP_SUMMARY expects
    assert "**REGRESSION: candidate cand vs baseline base on 200 paired samples" in text
    assert "| moss-video-mini | accuracy | 200 (50) |" in text
    # same seed -> byte-identical verdict
    code2, _, _ = main_inprocess("compare", a, b, "--json", tmp_path / "v2.json", "--seed", "3", capsys=capsys)
    assert json.loads((tmp_path / "v2.json").read_text()) == v
    assert render_markdown(CompareReport.model_validate(v)) in text  # the JSON round-trips into the record


def test_prr_only_on_tasks_without_prr_is_a_usage_error(tmp_path):
    rows = simulate(40, prr=False)
    a = write_run(tmp_path / "a", "base", rows)
    b = write_run(tmp_path / "b", "cand", rows)
    with pytest.raises(UsageError, match="nothing to compare"):
        compare_paths(a, b, CompareSettings(metrics=("prr",)))
    v = compare_paths(a, b)  # default metrics: PRR is simply not applicable
    assert v["overall"]["prr"]["verdict"] == "not_applicable" and v["verdict"] == "pass"


def test_model_output_cannot_inject_into_the_summary(tmp_path):
    rows = simulate(40, task="t|<b>x</b>")
    a = write_run(tmp_path / "a", "base", rows)
    b = write_run(tmp_path / "b", "cand", rows)
    md = render_markdown(compare_report(a, b))
    assert "| t\\|<b>x</b> |" in md  # table cells stay cells


# --------------------------------------------------------------------------- through `mosseval run`


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory):
    from mosseval.runner import Runner, RunOptions

    out = tmp_path_factory.mktemp("cmp-runs")
    made = {}
    for name, model, frames in (("oracle", "oracle", None), ("random", "random", None),
                                ("oracle4", "oracle", 4)):
        opts = RunOptions(model=model, tasks=["moss-video-mini"], output_dir=out, limit=40, frames=frames,
                          run_name=name, progress=False, fsync=False)
        made[name] = Runner(opts).execute().run_dir
    return made


def test_end_to_end_on_real_runs(real_runs, capsys, tmp_path):
    assert main_inprocess("compare", real_runs["oracle"], real_runs["oracle"], capsys=capsys)[0] == 0
    code, out, _ = main_inprocess("compare", real_runs["oracle"], real_runs["random"], "--json", tmp_path / "v.json", capsys=capsys)
    assert code == 1 and "REGRESSION" in out
    v = json.loads((tmp_path / "v.json").read_text())
    assert v["overall"]["accuracy"]["baseline"] == 1.0 and v["overall"]["accuracy"]["n"] == 40
    assert 1 < v["overall"]["accuracy"]["n_clusters"] <= 40  # questions share videos
    assert main_inprocess("compare", real_runs["random"], real_runs["oracle"], capsys=capsys)[0] == 0  # improvement
    code, _, err = main_inprocess("compare", real_runs["oracle"], real_runs["oracle4"], capsys=capsys)
    assert code == 2 and "frames.num_frames differs: 8 vs 4" in " ".join(err.split())
