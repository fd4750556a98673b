"""`mosseval train --export verl` (parquet + reward module) and the HTML training report (no torch)."""

from __future__ import annotations

import importlib.util
import json
import math

import pytest

from mosseval.errors import UsageError
from mosseval.train.config import load_config

pa = pytest.importorskip("pyarrow")


def _load_module(path):
    spec = importlib.util.spec_from_file_location("exported_reward", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from mosseval.train.export_verl import export_verl

    out = tmp_path_factory.mktemp("verl")
    cfg = load_config(None, {"model": "tiny-qwen2.5-vl", "data": "moss-video-mini:train", "limit": 12, "frames": 8,
                             "reward_weights": "1,0.5,2", "num_generations": 4, "beta": 0.02})
    return export_verl(cfg, out), cfg


def test_parquet_has_the_columns_verl_reads(exported):
    import pyarrow.parquet as pq

    res, cfg = exported
    assert res.n_rows == 12 and res.parquet.is_file() and res.val_parquet and res.val_parquet.is_file()
    rows = pq.read_table(res.parquet).to_pylist()
    assert len(rows) == 12
    r = rows[0]
    assert set(r) == {"data_source", "prompt", "videos", "ability", "reward_model", "extra_info"}
    assert r["data_source"] == "mosseval/moss-video-mini-train"
    roles = [m["role"] for m in r["prompt"]]
    assert roles == ["system", "user"]
    user = r["prompt"][-1]["content"]
    assert user.count("<video>") == 1 and user.startswith("<video>") and "<think>" in user
    assert len(r["videos"]) == 1
    v = r["videos"][0]
    assert v["video"].startswith("file:///") and v["video"].endswith(".mp4") and v["nframes"] == 8
    assert v["max_pixels"] == 128 * 28 * 28 and v["video_end"] > v["video_start"] >= 0.0
    assert r["reward_model"]["style"] == "rule" and r["reward_model"]["ground_truth"] in "ABCD"
    info = r["extra_info"]
    assert info["index"] == 0 and info["answer"] == r["reward_model"]["ground_truth"]
    assert info["reference_steps"] and {"t", "text"} <= set(info["reference_steps"][0])
    assert info["weights"] == {"accuracy": 1.0, "format": 0.5, "prr": 2.0}
    assert info["prr"]["jump"] == 2 and info["require_format"] is True
    val = pq.read_table(res.val_parquet).to_pylist()
    assert val[0]["data_source"] == "mosseval/moss-video-mini" and len(val) == 240


def test_reward_module_matches_mosseval_rewards(exported):
    import pyarrow.parquet as pq

    from mosseval.rewards import compute_score

    res, _ = exported
    mod = _load_module(res.reward_module)
    rows = pq.read_table(res.parquet).to_pylist()
    cases = []
    for r in rows[:4]:
        gold = r["reward_model"]["ground_truth"]
        steps = "\n".join(s["text"] for s in r["extra_info"]["reference_steps"])
        wrong = next(k for k in "ABCD" if k != gold)
        cases += [(r, f"<think>{steps}</think><answer>{gold}</answer>"),
                  (r, f"<think>{steps}</think><answer>{wrong}</answer>"),
                  (r, "no format at all, answer " + gold),
                  (r, "<think>Something unrelated happens here.</think><answer>(" + gold + ")</answer>")]
    for r, text in cases:
        got = mod.compute_score(r["data_source"], text, r["reward_model"]["ground_truth"], r["extra_info"])
        want = compute_score(r["data_source"], text, r["reward_model"]["ground_truth"], r["extra_info"])
        assert math.isclose(got["score"], want, abs_tol=1e-12), (text, got, want)
        total = got["accuracy"] * 1.0 + got["format"] * 0.5 + got["prr"] * 2.0
        assert math.isclose(got["score"], total, abs_tol=1e-12)
    oracle = mod.compute_score(cases[0][0]["data_source"], cases[0][1], cases[0][0]["reward_model"]["ground_truth"],
                               cases[0][0]["extra_info"])
    assert oracle == {"score": 3.5, "accuracy": 1.0, "format": 1.0, "prr": 1.0}
    batch = mod.compute_score_batch([c[0]["data_source"] for c in cases], [c[1] for c in cases],
                                    [c[0]["reward_model"]["ground_truth"] for c in cases],
                                    [c[0]["extra_info"] for c in cases])
    singles = [mod.compute_score(c[0]["data_source"], c[1], c[0]["reward_model"]["ground_truth"], c[0]["extra_info"])
               for c in cases]
    assert batch == singles
    # an item without reference steps: PRR not applicable, counted as 0
    info = {**rows[0]["extra_info"], "reference_steps": []}
    got = mod.compute_score("x", cases[0][1], rows[0]["reward_model"]["ground_truth"], info)
    assert got["prr"] == 0.0 and got["score"] == 1.5


def test_launch_script_uses_verl_keys(exported):
    res, cfg = exported
    text = res.command_file.read_text()
    for key in ("python3 -m verl.trainer.main_ppo", "algorithm.adv_estimator=grpo", "data.video_key=videos",
                f"data.train_files={res.parquet}", f"data.val_files={res.val_parquet}",
                "actor_rollout_ref.rollout.n=4", "actor_rollout_ref.actor.kl_loss_coef=0.02",
                "actor_rollout_ref.actor.use_kl_loss=True", "actor_rollout_ref.rollout.name=vllm",
                f"custom_reward_function.path={res.reward_module}", "custom_reward_function.name=compute_score",
                "data.max_response_length=768", "actor_rollout_ref.actor.optim.lr=1e-06"):
        assert key in text, key
    assert res.command_file.stat().st_mode & 0o111


def test_export_refuses_custom_rewards(tmp_path):
    from mosseval.train.export_verl import export_verl

    cfg = load_config(None, {"model": "tiny-qwen2.5-vl", "rewards": "accuracy,mymod:fn", "limit": 2})
    with pytest.raises(UsageError, match="custom reward"):
        export_verl(cfg, tmp_path)


def test_video_root_rewrites_locations(tmp_path):
    from mosseval.train.data import load_train_task
    from mosseval.train.export_verl import verl_rows

    cfg = load_config(None, {"model": "tiny-qwen2.5-vl", "limit": 2})
    task, root, samples, _ = load_train_task(cfg)
    rows = verl_rows(cfg, task, root, samples, video_root="/mnt/data/moss-video-mini/")
    assert rows[0]["videos"][0]["video"] == "/mnt/data/moss-video-mini/" + samples[0].video.path


def test_report_is_self_contained_and_escapes_text(tmp_path):
    from mosseval.train.report import write_report

    evil = "<script>alert(1)</script>"
    (tmp_path / "metrics.jsonl").write_text("".join(
        json.dumps({"step": s, "loss": 0.1 * s, "reward": s / 10, "reward/prr": 0.5, "prr_correct": 0.7,
                    "prr_incorrect": None, "kl": 0.01, "completion_length": 20.0, "lr": 1e-6}) + "\n"
        for s in range(1, 6)))
    (tmp_path / "completions.jsonl").write_text(json.dumps({"step": 5, "sample_id": evil, "text": evil,
                                                            "reward": 1.0}) + "\n")
    (tmp_path / "train_config.yaml").write_text(f"model: '{evil}'\ndata: x\n")
    path = write_report(tmp_path)
    html = path.read_text()
    assert "<script" not in html and "&lt;script&gt;" in html
    assert html.count("<svg") >= 4 and "<polyline" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")  # no external assets
