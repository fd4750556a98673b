"""mosseval tasks exported as an lmms-eval task folder, loaded by the real lmms-eval 0.7.x task manager."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mosseval.errors import ExitCode
from tests.support.benchmarks import make_mvbench
from tests.support.cli import main_inprocess


@pytest.fixture(scope="module")
def exported(tmp_path_factory, cache_dir):
    """moss-video-mini and the MVBench group (fixture data in the upstream layout), exported once."""
    from mosseval.export_lmms import export_lmms

    mv = make_mvbench(tmp_path_factory.mktemp("mvbench"))
    out = tmp_path_factory.mktemp("lmms-tasks")
    names = export_lmms(["moss-video-mini"], out, limit=4)
    names += export_lmms(["mvbench"], out, data_dir=mv.root)
    return out, names


def test_export_writes_yaml_data_and_utils(exported):
    out, names = exported
    assert names[0] == "mosseval_moss_video_mini" and names[-1] == "mosseval_mvbench"
    assert len(names) == 1 + 20 + 1  # 20 MVBench subtasks and their group
    rows = [json.loads(x) for x in (out / "data" / "mosseval_moss_video_mini.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(Path(r["video"]).is_file() for r in rows)
    assert rows[0]["prompt"].startswith("You are a careful video analyst.")
    assert "(A)" in rows[0]["prompt"] and rows[0]["answer"] in "ABCD"
    mv = [json.loads(x) for x in (out / "data" / "mosseval_mvbench_action_sequence.jsonl").read_text().splitlines()]
    assert mv[0]["prefill"] == "Best option:(" and mv[0]["prompt"].endswith("Best option:(")
    group = (out / "mosseval_mvbench.yaml").read_text()
    assert "group: mosseval_mvbench" in group and group.count("  - mosseval_mvbench_") == 20


def test_real_lmms_eval_task_manager_loads_and_scores(exported, tmp_path, monkeypatch):
    pytest.importorskip("lmms_eval")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    from mosseval.torchvision_compat import ensure_torchvision

    ensure_torchvision()
    try:
        from lmms_eval.tasks import TaskManager, get_task_dict
    except ImportError as exc:  # a partial no-deps install: say what is missing instead of passing silently
        pytest.skip(f"lmms-eval is installed without a module its task manager imports: {exc}")
    out, names = exported
    tm = TaskManager(include_path=str(out), include_defaults=False)
    assert set(names) <= set(tm.all_tasks)
    assert "mosseval_mvbench" in tm.all_groups
    tasks = get_task_dict(["mosseval_moss_video_mini", "mosseval_mvbench_action_sequence"], tm)
    mini = tasks["mosseval_moss_video_mini"]
    docs = list(mini.test_docs())
    assert len(docs) == 4
    assert mini.doc_to_visual(docs[0]) == [docs[0]["video"]] and os.path.isfile(docs[0]["video"])
    assert mini.doc_to_text(docs[0]) == docs[0]["prompt"]
    assert mini.config.generation_kwargs["max_new_tokens"] == 256
    results = []
    for i, doc in enumerate(docs):
        sample = json.loads(doc["sample"])
        steps = "\n".join(s["text"] for s in sample["reference_steps"])
        right = f"<think>{steps}</think><answer>{sample['answer']}</answer>"
        wrong_letter = next(k for k in sample["options"] if k != sample["answer"])
        wrong = f"the answer is {wrong_letter}"
        results.append(mini.process_results(doc, [right if i % 2 == 0 else wrong]))
    assert [r["mosseval_accuracy"] for r in results] == [1.0, 0.0, 1.0, 0.0]
    assert results[0]["mosseval_prr"] == pytest.approx(1.0) and results[1]["mosseval_prr"] == 0.0
    assert [r["mosseval_format"] for r in results] == [1.0, 0.0, 1.0, 0.0]
    agg = mini.aggregation()
    assert agg["mosseval_accuracy"]([r["mosseval_accuracy"] for r in results]) == 0.5
    assert agg["mosseval_prr"]([None, 1.0, 0.0]) == 0.5  # items without reference steps are excluded
    # MVBench: the official check continues from the prefill "Best option:("
    mvb = tasks["mosseval_mvbench_action_sequence"]
    doc = next(iter(mvb.test_docs()))
    sample = json.loads(doc["sample"])
    assert mvb.process_results(doc, [f"{sample['answer']}) {sample['options'][sample['answer']]}"]) == \
        {"mosseval_accuracy": 1.0, "mosseval_prr": None, "mosseval_format": None}


def test_export_command(tmp_path, capsys):
    code, out, err = main_inprocess("export-lmms", "moss-video-mini", "--out", tmp_path / "t", "--limit", "2",
                                    capsys=capsys)
    assert code == 0 and "wrote 1 lmms-eval task(s)" in out and "--include_path" in out
    code, out, err = main_inprocess("export-lmms", "mvbnech", "--out", tmp_path / "u", capsys=capsys)
    assert code == ExitCode.USAGE and "unknown task 'mvbnech'" in err and "Traceback" not in err
    code, out, err = main_inprocess("export-lmms", "mvbench", "--out", tmp_path / "v", "--data-dir", tmp_path,
                                    capsys=capsys)
    assert code == ExitCode.DATA_NOT_FOUND and "not found" in err
