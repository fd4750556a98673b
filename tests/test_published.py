"""Published-number manifests and the reproduce verdict, on synthetic run directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mosseval.errors import ConfigError, ExitCode
from mosseval.published import check_run, load_manifest, verdict
from mosseval.records import (
    Estimate,
    PublishedManifest,
    PublishedScore,
    RunLog,
    RunSpec,
    TaskRef,
    TaskResult,
)
from mosseval.rundir import write_run_log
from mosseval.tasks import load_registry
from tests.support.cli import main_inprocess

REGISTRY = load_registry()


def make_run(tmp: Path, *, model="qwen2.5-vl-7b", task="mvbench", acc=(0.689, 0.675, 0.703), recipe="qwen2.5-vl",
             limit=None, status="completed", checkpoint=None, approximate=False, n_errors=0) -> Path:
    """A run directory as `mosseval run` leaves it, with the given aggregate result."""
    spec = REGISTRY[task]
    leaves = [REGISTRY[s] for s in spec.subtasks] if spec.is_group else [spec]
    if recipe is not None:
        from mosseval.records import FrameSpec

        leaves = [t.model_copy(update={"frames": FrameSpec(recipe=recipe)}) for t in leaves]
    group = task if spec.is_group else None
    est = Estimate(value=acc[0], ci_low=acc[1], ci_high=acc[2], n=4000, method="cluster bootstrap")
    res = TaskResult(task=task, version=spec.version, protocol=spec.protocol, n=4000, n_errors=n_errors,
                     accuracy=est, approximate=approximate)
    ident = {"checkpoint": checkpoint} if checkpoint else {}
    log = RunLog(
        run_id="r" * 64, identity={}, status=status, created_at="2026-12-01T00:00:00Z",
        updated_at="2026-12-01T00:00:00Z",
        spec=RunSpec(model=model, backend="hf", model_identity=ident, limit=limit, mosseval_version="0.1.0",
                     tasks=[TaskRef(name=t.name, version=t.version, fingerprint="f", group=group) for t in leaves]),
        results={} if group else {task: res}, groups={group: res} if group else {},
        task_specs={t.name: t for t in leaves},
    )
    run_dir = tmp / f"{model.replace('/', '_')}-{task}-{acc[0]}-{recipe}-{limit}"
    run_dir.mkdir(parents=True)
    write_run_log(run_dir, log)
    return run_dir


def log_of(run_dir: Path) -> RunLog:
    return RunLog.model_validate_json((run_dir / "run.json").read_text())


# --------------------------------------------------------------------------- the manifest


def test_shipped_manifest_is_valid_and_primary():
    from mosseval.models.registry import PRESETS
    from mosseval.recipes import RECIPES

    man = load_manifest()
    assert man.schema_version == 1 and man.version
    for s in man.scores:
        assert s.preset in PRESETS and s.recipe in RECIPES, s
        assert s.task in REGISTRY, s
        if s.task == "videomme":  # the published numbers use the official scorer's denominator
            assert s.metric == "official_style_accuracy" and REGISTRY[s.task].scoring.extractor == "videomme_official"
        assert 0 < s.published < 1 and 0 < s.tolerance <= 0.02
        assert "arXiv" in s.source or "README" in s.source  # primary sources: reports and READMEs
        from mosseval.models.families import FAMILIES

        assert s.recipe in {r for f in FAMILIES.values() for r in [f.recipe, f"{f.recipe}-16f"]}
    keys = [(s.preset, s.task, s.metric) for s in man.scores]
    assert len(keys) == len(set(keys))
    by = {(s.preset, s.task): s.published for s in man.scores}
    assert by[("qwen2.5-vl-7b", "mvbench")] == 0.696 and by[("qwen2.5-vl-72b", "mmvu")] == 0.629
    assert by[("internvl3-8b", "mvbench")] == 0.754 and by[("qwen2-vl-7b", "videomme")] == 0.633


def test_bad_manifest_names_file_and_key(tmp_path):
    bad = tmp_path / "m.yaml"
    bad.write_text("schema_version: 1\nversion: x\nscores:\n  - {preset: a, task: b, recipe: c, published: 69.6, "
                   "source: s}\n")
    with pytest.raises(ConfigError, match=r"m.yaml: key `scores.0.published`"):
        load_manifest(bad)


# --------------------------------------------------------------------------- verdicts


def test_reproduces_line(tmp_path):
    [v] = check_run(log_of(make_run(tmp_path)))
    assert v.status == "reproduces"
    assert v.line == "reproduces 69.6: ours 68.9 [67.5, 70.3]"


@pytest.mark.parametrize("acc,line", [
    ((0.601, 0.580, 0.622), "does not reproduce 69.6: ours 60.1 [58.0, 62.2], 6.4 pts below even with the "
                            "1.0-pt tolerance"),
    ((0.800, 0.780, 0.820), "does not reproduce 69.6: ours 80.0 [78.0, 82.0], 7.4 pts above even with the "
                            "1.0-pt tolerance"),
])
def test_does_not_reproduce_says_how_far_and_which_way(tmp_path, acc, line):
    [v] = check_run(log_of(make_run(tmp_path, acc=acc)))
    assert v.status == "does_not_reproduce" and v.line == line


def test_tolerance_boundary(tmp_path):
    # the CI ends at 68.6; with the 1-pt tolerance 69.6 is just inside, 69.7 just outside
    log = log_of(make_run(tmp_path, acc=(0.670, 0.654, 0.686)))
    score = load_manifest().scores[0]
    assert verdict(log, score.model_copy(update={"published": 0.696})).status == "reproduces"
    assert verdict(log, score.model_copy(update={"published": 0.6965})).status == "does_not_reproduce"


@pytest.mark.parametrize("kw,reason", [
    ({"recipe": None}, "the run used the task's frame protocol; the number was produced with the qwen2.5-vl recipe "
                       "(re-run with --frames-from model)"),
    ({"recipe": "qwen3-vl"}, "the run used qwen3-vl"),
    ({"limit": 200}, "partial run (--limit 200)"),
    ({"status": "interrupted"}, "the run is interrupted"),
])
def test_not_comparable(tmp_path, kw, reason):
    [v] = check_run(log_of(make_run(tmp_path, **kw)))
    assert v.status == "not_comparable" and reason in v.reason
    assert v.line.startswith("not comparable with 69.6: ")


def test_judged_metric_needs_the_judge(tmp_path):
    plain = log_of(make_run(tmp_path, task="mmvu", acc=(0.52, 0.49, 0.55), approximate=True))
    [v] = check_run(plain)
    assert v.status == "not_comparable" and "judge the run first" in v.reason
    # the official judge's accuracy, as mosseval.judge.official_accuracies reads it from the judge's files
    judged = {"mmvu": Estimate(value=0.497, ci_low=0.466, ci_high=0.528, n=1000)}
    [v] = check_run(plain, judged=judged)
    assert v.status == "reproduces" and v.line == "reproduces 50.1: ours 49.7 [46.6, 52.8]"


def test_matching_by_checkpoint_and_no_match(tmp_path):
    ckpt = {"kind": "hub", "repo_id": "Qwen/Qwen2.5-VL-7B-Instruct", "source": "Qwen/Qwen2.5-VL-7B-Instruct"}
    [v] = check_run(log_of(make_run(tmp_path, model="/models/my-copy", checkpoint=ckpt)))
    assert v.score.preset == "qwen2.5-vl-7b"
    assert check_run(log_of(make_run(tmp_path / "x", model="qwen2.5-vl-3b"))) == []  # nothing published
    assert check_run(log_of(make_run(tmp_path / "y", task="moss-video-mini"))) == []  # task not in the manifest


def test_official_style_metric(tmp_path):
    run_dir = make_run(tmp_path, model="qwen2.5-vl-7b", task="videomme", acc=(0.62, 0.60, 0.64))
    log = log_of(run_dir)
    res = log.results["videomme"]
    [v] = check_run(log)
    assert v.status == "not_comparable" and "no official-style accuracy" in v.reason
    res.extra["videomme_official"] = {"label": "official-style: answered only", "accuracy": 0.655, "answered": 2600}
    [v] = check_run(log)
    assert v.status == "reproduces" and v.line == "reproduces 65.1: ours 65.5 [63.5, 67.5]"


def test_errors_are_mentioned(tmp_path):
    [v] = check_run(log_of(make_run(tmp_path, n_errors=12)))
    assert v.line == "reproduces 69.6: ours 68.9 [67.5, 70.3]; 12 failed sample(s) counted as wrong"


# --------------------------------------------------------------------------- the command and the run summary


def test_reproduce_command(tmp_path, capsys):
    good = make_run(tmp_path, acc=(0.689, 0.675, 0.703))
    bad = make_run(tmp_path, acc=(0.601, 0.580, 0.622))
    code, out, err = main_inprocess("reproduce", good, bad, capsys=capsys)
    assert code == 0
    lines = out.strip().splitlines()
    assert "qwen2.5-vl-7b mvbench: reproduces 69.6: ours 68.9 [67.5, 70.3]" in lines[0]
    assert "Qwen2.5-VL Technical Report (arXiv 2502.13923), Table 8" in lines[0]
    assert "does not reproduce 69.6" in lines[1]
    code, out, _ = main_inprocess("reproduce", good, "--json", capsys=capsys)
    data = json.loads(out)
    assert data["runs"][0]["verdicts"][0]["status"] == "reproduces"
    assert data["runs"][0]["verdicts"][0]["observed"]["value"] == 0.689
    code, out, err = main_inprocess("reproduce", tmp_path / "nope", capsys=capsys)
    assert code == ExitCode.USAGE and "not a mosseval run directory" in err and "Traceback" not in err
    broken = tmp_path / "broken.yaml"
    broken.write_text("scores: [")
    code, out, err = main_inprocess("reproduce", good, "--manifest", broken, capsys=capsys)
    assert code == ExitCode.USAGE and "invalid YAML in the published-number manifest" in err


def test_run_summary_and_run_json_carry_the_verdict(tmp_path, monkeypatch, capsys):
    import mosseval.published as published

    manifest = PublishedManifest(version="test", scores=[PublishedScore(
        preset="oracle", task="moss-video-mini", recipe="qwen2.5-vl", published=0.999, source="test report")])
    monkeypatch.setattr(published, "load_manifest", lambda path=None: manifest)
    code, out, err = main_inprocess("run", "--model", "oracle", "--limit", "3", "-o", tmp_path, capsys=capsys)
    assert code == 0
    run_dir = Path(out.strip().splitlines()[-1])
    [v] = log_of(run_dir).published
    assert v.status == "not_comparable" and "task's frame protocol" in v.reason
    assert "published moss-video-mini (test report): not comparable with 99.9" in err
    # the leaderboard carries it per run (rendered under the model name)
    from mosseval.leaderboard import build_leaderboard

    board = build_leaderboard([str(run_dir)])
    [p] = board.runs[0].published
    assert p.status == "not_comparable" and p.line == v.line and p.score.source == "test report"
