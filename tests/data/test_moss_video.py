"""MOSS-Video tasks (schema of SPEC §4.1, field mapping, breakdowns, PRR) and data location."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mosseval.data import get_loader
from mosseval.data.locate import candidate_roots, resolve_data_root
from mosseval.errors import DataNotFoundError
from mosseval.tasks import load_registry
from tests.support.benchmarks import make_mmvu, make_moss_video, make_mvbench


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def test_moss_video_tasks_defaults(registry):
    t = registry["moss-video"]
    assert t.loader == "moss_video_jsonl" and t.loader_args == {"file": "test.jsonl", "split": "test"}
    assert t.scoring.prr is not None and t.scoring.prr.jump == 2 and t.scoring.prr.alpha == 2.0
    assert t.scoring.require_format and t.frames.use_bounds
    assert t.breakdowns == ["level", "category"]
    assert registry["moss-video-train"].loader_args["split"] == "train"


def test_loader_reads_the_schema(registry, tmp_path):
    fx = make_moss_video(tmp_path / "moss-video")
    task = registry["moss-video"]
    samples = get_loader(task.loader)(task, tmp_path / "moss-video")
    assert [s.id for s in samples] == [x["id"] for x in fx.test]
    s, x = samples[0], fx.test[0]
    assert (s.video.path, s.video.start, s.video.end) == (x["video"], x["start"], x["end"])
    assert s.options == x["options"] and s.answer == x["answer"]
    assert [(r.t, r.text) for r in s.reference_steps] == [(r["t"], r["text"]) for r in x["reference_steps"]]
    assert (s.level, s.category, s.split) == (x["level"], x["category"], "test")


def test_field_mapping_reads_a_renamed_release(tmp_path):
    fx = make_moss_video(tmp_path / "src")
    renamed = tmp_path / "release"
    renamed.mkdir()
    (renamed / "videos").symlink_to(tmp_path / "src" / "videos", target_is_directory=True)
    mapping = {"id": "qid", "video": "clip", "start": "t0", "end": "t1", "question": "query", "options": "choices",
               "answer": "label", "reference_steps": "trace", "level": "granularity", "category": "type",
               "split": "subset"}
    with (renamed / "eval.jsonl").open("w") as fh:
        for x in fx.test:
            fh.write(json.dumps({mapping[k]: v for k, v in x.items()}) + "\n")
    tasks_dir = tmp_path / "tasks"
    tasks_dir.mkdir()
    (tasks_dir / "release.yaml").write_text(
        "name: moss-video-release\nversion: '1'\nloader: moss_video_jsonl\n"
        "loader_args:\n  file: eval.jsonl\n  split: test\n  fields: " + json.dumps(mapping) + "\n"
        "prompt: {template: '{{ question }}'}\nbreakdowns: [level, category]\n")
    reg = load_registry([tasks_dir])
    ours = get_loader("moss_video_jsonl")(reg["moss-video"], tmp_path / "src")
    theirs = get_loader("moss_video_jsonl")(reg["moss-video-release"], renamed)
    strip = lambda s: s.model_dump(exclude={"task"})  # noqa: E731
    assert [strip(s) for s in theirs] == [strip(s) for s in ours]


def test_oracle_run_has_level_category_and_prr(tmp_path, cli):
    make_moss_video(tmp_path / "moss-video", n_test=8)
    proc = cli("run", "--model", "oracle", "--tasks", "moss-video", "--data-dir", str(tmp_path),
               "-o", str(tmp_path / "runs"), "-q")
    assert proc.returncode == 0, proc.stderr
    res = json.loads((Path(proc.stdout.strip().splitlines()[-1]) / "run.json").read_text())["results"]["moss-video"]
    assert res["accuracy"]["value"] == 1.0 and res["format_rate"] == 1.0
    assert res["prr"]["value"] == pytest.approx(1.0)
    assert set(res["breakdowns"]["level"]) == {"coarse", "fine"}
    assert set(res["breakdowns"]["category"]) == {"position", "colour", "count"}


# ----------------------------------------------------------------------------- data location


def test_data_dir_may_be_the_parent_or_the_dataset_folder(registry, tmp_path):
    make_moss_video(tmp_path / "moss-video")
    task = registry["moss-video"]
    assert resolve_data_root(task, tmp_path) == tmp_path / "moss-video"
    assert resolve_data_root(task, tmp_path / "moss-video") == tmp_path / "moss-video"
    make_mvbench(tmp_path / "my-mvbench", n_per_subtask=1, subtasks=["action_count"])
    assert resolve_data_root(registry["mvbench_action_count"], tmp_path / "my-mvbench") == tmp_path / "my-mvbench"


def test_task_environment_variable(registry, tmp_path, monkeypatch):
    make_mmvu(tmp_path / "somewhere", n=3)
    monkeypatch.setenv("MOSSEVAL_MMVU_DIR", str(tmp_path / "somewhere"))
    assert resolve_data_root(registry["mmvu"], None) == tmp_path / "somewhere"


def test_missing_dataset_lists_every_place_and_how_to_obtain(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("MOSSEVAL_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data" / "MVBench").mkdir(parents=True)  # exists but empty
    with pytest.raises(DataNotFoundError) as ei:
        resolve_data_root(registry["mvbench_action_count"], tmp_path / "dd")
    msg = str(ei.value)
    assert str(tmp_path / "dd" / "MVBench") in msg and str(tmp_path / "data" / "MVBench") in msg
    assert "exists, but holds no data for this task" in msg
    assert "Hugging Face cache" in msg and "lmms-eval cache" in msg
    assert "gated" in msg and "nothing is downloaded" in msg
    assert ei.value.exit_code == 6


def _hf_snapshot(hf_home: Path, repo: str, rev: str, files: dict[str, Path], ref: str = "main") -> Path:
    """Lay files out like huggingface_hub's cache: snapshot entries are symlinks into blobs/."""
    folder = hf_home / "hub" / f"datasets--{repo.replace('/', '--')}"
    snap = folder / "snapshots" / rev
    for rel, src in files.items():
        blob = folder / "blobs" / f"{abs(hash((rev, rel))):x}"
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(src.read_bytes())
        link = snap / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / ref).write_text(rev)
    return snap


def test_hugging_face_cache_layout_with_blob_symlinks(registry, tmp_path, monkeypatch):
    from mosseval.video import sample_frames

    src = tmp_path / "src"
    make_mmvu(src, n=3)
    files = {p.relative_to(src).as_posix(): p for p in src.rglob("*") if p.is_file()}
    snap = _hf_snapshot(tmp_path / "hf", "yale-nlp/MMVU", "a" * 40, files)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("MOSSEVAL_DATA_DIR", raising=False)
    task = registry["mmvu"]
    root = resolve_data_root(task, None)
    assert root == snap
    s = get_loader("mmvu")(task, root)[0]
    frames = sample_frames(s.video, task.frames, root)  # the blob symlink is followed, not refused
    assert frames.array.shape[0] == 32


def test_hf_cache_branch_snapshots_are_candidates(registry, tmp_path, monkeypatch):
    src = tmp_path / "src"
    make_mvbench(src, n_per_subtask=1, subtasks=["action_count"])
    files = {p.relative_to(src).as_posix(): p for p in src.rglob("*") if p.is_file()}
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("MOSSEVAL_DATA_DIR", raising=False)
    snap = _hf_snapshot(tmp_path / "hf", "OpenGVLab/MVBench", "b" * 40, files, ref="video")
    labels = [label for label, _ in candidate_roots(registry["mvbench_action_count"], None)]
    assert "Hugging Face cache (OpenGVLab/MVBench@video)" in labels
    assert resolve_data_root(registry["mvbench_action_count"], None) == snap


def test_symlinks_out_of_the_root_need_an_explicit_media_root(tmp_path, monkeypatch):
    """A link inside the data root that leads out of it is refused (issue 12.8) unless the user
    lists the target folder in $MOSSEVAL_MEDIA_ROOTS; dataset paths can never climb out."""
    from mosseval.errors import UnsafePathError
    from mosseval.paths import MEDIA_ROOTS_ENV, safe_join

    (tmp_path / "other-disk").mkdir()
    (tmp_path / "other-disk" / "v.mp4").write_bytes(b"x")
    root = tmp_path / "root"
    root.mkdir()
    (root / "videos").symlink_to(tmp_path / "other-disk", target_is_directory=True)
    with pytest.raises(UnsafePathError, match="outside the data root"):
        safe_join(root, "videos/v.mp4")
    monkeypatch.setenv(MEDIA_ROOTS_ENV, str(tmp_path / "other-disk"))
    assert safe_join(root, "videos/v.mp4").read_bytes() == b"x"
    for bad in ("../other-disk/v.mp4", "videos/../../other-disk/v.mp4", "/etc/passwd", "~/x.mp4", "C:/x.mp4"):
        with pytest.raises(UnsafePathError):
            safe_join(root, bad)
