"""Preflight (`mosseval data check`): missing / truncated / escaping / unreadable files and bounds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mosseval.preflight import check_task
from mosseval.tasks import load_registry
from tests.support.benchmarks import make_mmvu, make_mvbench, write_mvbench_json
from tests.support.videos import write_not_a_video, write_truncated_mp4


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def broken_mvbench(root: Path) -> Path:
    """MVBench fixture where fine_grained_action has exactly one missing, one truncated and one
    escaping video; everything else is fine."""
    fx = make_mvbench(root, n_per_subtask=4, subtasks=["fine_grained_action", "episodic_reasoning"])
    items = fx.items["fine_grained_action"]
    items[0]["video"] = "gone.mp4"
    write_truncated_mp4(root / "video/Moments_in_Time_Raw/videos/cut.mp4", n=100, keep_fraction=0.5)
    items[1]["video"] = "cut.mp4"
    items[2]["video"] = "../../../../etc/passwd"
    write_mvbench_json(root, "fine_grained_action", items)
    return root


def test_lists_exactly_the_missing_truncated_and_escaping_paths(registry, tmp_path):
    root = broken_mvbench(tmp_path / "MVBench")
    rep = check_task(registry["mvbench_fine_grained_action"], root)
    got = sorted((p.kind, p.path, tuple(p.samples)) for p in rep.problems)
    assert got == [
        ("missing", "video/Moments_in_Time_Raw/videos/gone.mp4", ("fine_grained_action-0000",)),
        ("truncated", "video/Moments_in_Time_Raw/videos/cut.mp4", ("fine_grained_action-0001",)),
        ("unsafe", "../../../../etc/passwd", ("fine_grained_action-0002",)),
    ]
    assert not rep.ok and rep.n_samples == 4 and rep.counts() == {"missing": 1, "truncated": 1, "unsafe": 1}
    missing = next(p for p in rep.problems if p.kind == "missing")
    assert "data0613/Moments_in_Time_Raw/videos/gone.mp4" in missing.message  # where else it looked
    ok = [v for v in rep.videos if v.status == "ok"]
    assert len(ok) == 1 and ok[0].codec == "h264" and ok[0].num_frames == 100 and ok[0].duration == 10.0
    trunc = next(v for v in rep.videos if v.status == "truncated")
    assert trunc.declared_frames == 100 and trunc.num_frames < 100
    assert check_task(registry["mvbench_episodic_reasoning"], root).ok


def test_cli_check_exit_codes_and_json(tmp_path, cli):
    root = broken_mvbench(tmp_path / "MVBench")
    proc = cli("data", "check", "mvbench_fine_grained_action,mvbench_episodic_reasoning", "--data-dir", str(root),
               "--json", str(tmp_path / "report.json"))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    for needle in ("missing", "truncated", "unsafe", "gone.mp4", "cut.mp4", "escapes the data root"):
        assert needle in proc.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["ok"] is False
    assert [t["counts"] for t in report["tasks"]] == [{"missing": 1, "truncated": 1, "unsafe": 1}, {}]
    clean = cli("data", "check", "mvbench_episodic_reasoning", "--data-dir", str(root), "-v")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "all video references are readable" in clean.stdout and "jpeg" in clean.stdout
    missing = cli("data", "check", "mmvu", "--data-dir", str(tmp_path / "nothing-here"))
    assert missing.returncode == 6 and "Looked in" in missing.stderr
    unknown = cli("data", "check", "mvbench_nope")
    assert unknown.returncode == 2


def test_unreadable_file_and_bound_problems(registry, tmp_path):
    root = tmp_path / "MVBench"
    fx = make_mvbench(root, n_per_subtask=4, subtasks=["action_localization"])
    items = fx.items["action_localization"]
    write_not_a_video(root / "video/sta/sta_video/text.mp4")
    items[0]["video"] = "text.mp4"
    items[1]["start"], items[1]["end"] = 12.0, 15.0   # starts after the 10 s video
    items[2]["start"], items[2]["end"] = 2.0, 14.0    # ends 4 s past the end
    items[3]["start"], items[3]["end"] = 2.0, 10.4    # slightly past: clamped like the official sampler
    write_mvbench_json(root, "action_localization", items)
    rep = check_task(registry["mvbench_action_localization"], root)
    kinds = sorted((p.kind, p.samples[0]) for p in rep.problems)
    assert kinds == [("bounds", "action_localization-0001"), ("bounds", "action_localization-0002"),
                     ("unreadable", "action_localization-0000")]
    assert rep.clamped == 1
    assert "beyond the end of the video" in str(rep.problems[0]) or "beyond" in " ".join(map(str, rep.problems))


def test_limit_and_sample(registry, tmp_path):
    root = tmp_path / "MMVU"
    make_mmvu(root, n=10)
    task = registry["mmvu"]
    assert check_task(task, root, limit=4).n_samples == 4
    rep = check_task(task, root, sample_videos=3, seed=1)
    assert rep.sampled and rep.n_checked == 3 and rep.n_videos == 10 and rep.ok
    again = check_task(task, root, sample_videos=3, seed=1)
    assert [v.path for v in again.videos] == [v.path for v in rep.videos]


def test_run_preflight_stops_before_the_model(tmp_path, cli):
    root = broken_mvbench(tmp_path / "MVBench")
    proc = cli("run", "--model", "oracle", "--tasks", "mvbench_fine_grained_action", "--data-dir", str(root),
               "--preflight", "-o", str(tmp_path / "runs"))
    assert proc.returncode == 3
    assert "gone.mp4" in proc.stderr + proc.stdout
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_zipped_videos_get_a_hint(registry, tmp_path):
    import shutil

    root = tmp_path / "MVBench"
    make_mvbench(root, n_per_subtask=1, subtasks=["action_count"])
    shutil.rmtree(root / "video" / "perception")
    (root / "video" / "perception.zip").write_bytes(b"PK")
    rep = check_task(registry["mvbench_action_count"], root)
    assert [p.kind for p in rep.problems] == ["missing"]
    assert "perception.zip" in rep.problems[0].message and "unzip" in rep.problems[0].message
