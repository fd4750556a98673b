"""MINERVA: the published minerva.json schema (both skill-key spellings), timestamped reference
sentences, per-skill breakdowns, and oracle / random runs end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mosseval.data import get_loader
from mosseval.data.minerva import skills_of, video_id_of
from mosseval.errors import ConfigError, DataNotFoundError
from mosseval.records import Sample
from mosseval.tasks import load_registry
from tests.support.benchmarks import make_minerva, run_task


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def load(registry, root: Path) -> list[Sample]:
    task = registry["minerva"]
    return get_loader(task.loader)(task, root)


def test_loader_reads_the_published_fields(registry, tmp_path):
    fx = make_minerva(tmp_path / "MINERVA", n=8)
    samples = load(registry, fx.root)
    assert [s.id for s in samples] == [it["key"] for it in fx.items]
    for s, it in zip(samples, fx.items):
        assert s.options == {L: it[f"answer_choice_{k}"] for k, L in enumerate("ABCDE")}
        assert s.answer == "ABCDE"[it["answer_id"]] and s.metadata["answer_text"] == it["answer"]
        assert s.category == it["category"] and s.metadata["domain"] == it["split"]
        assert (fx.root / s.video.path).is_file() and s.video.path.startswith("videos/" + it["video_id"])
        assert s.metadata["skills"] == [x.strip() for x in (it.get("question type") or it["question_type"]).split(",")]
    assert samples[2].video.path.endswith(".webm")  # any downloaded container is found


MINERVA_INSTRUCTION = ("Think step by step inside <think></think>: one sentence per step, in the order of the video, "
                       "giving the time (MM:SS) of each moment you rely on. Then give only the letter of the correct "
                       "option inside <answer></answer>.")


def test_prompt_is_the_question_the_five_options_and_one_instruction_line(registry, tmp_path):
    """mosseval's own MINERVA prompt (none is published): no hard line breaks inside the instruction."""
    from mosseval.prompts import build_messages

    fx = make_minerva(tmp_path / "MINERVA", n=2, with_videos=False)
    s = load(registry, fx.root)[0]
    messages, prefill = build_messages(registry["minerva"], s, root=fx.root)
    assert prefill is None and messages[0]["content"][0] == {"type": "video"}
    it = fx.items[0]
    options = [f"{L}. {it[f'answer_choice_{k}']}" for k, L in enumerate("ABCDE")]
    assert messages[0]["content"][1]["text"] == "\n".join(
        [f"Question: {it['question']}", "Options:", *options, MINERVA_INSTRUCTION])


def test_both_question_type_spellings():
    assert skills_of({"question type": "Counting, Temporal Reasoning"}) == ["Counting", "Temporal Reasoning"]
    assert skills_of({"question_type": "Counting,Listening"}) == ["Counting", "Listening"]
    assert skills_of({"question type": ["Counting"]}) == ["Counting"]
    assert skills_of({}) == []


def test_reference_sentences_carry_their_timestamps(registry, tmp_path):
    fx = make_minerva(tmp_path / "MINERVA", n=2)
    s = load(registry, fx.root)[0]
    # "I first see … at 00:03 …. Between 00:04 and 00:06 …. Nothing else happens …"
    assert [(r.start, r.end) for r in s.reference_steps] == [(3.0, None), (4.0, 6.0), (None, None)]
    assert " ".join(r.text for r in s.reference_steps) == fx.items[0]["reasoning"]


@pytest.mark.parametrize("value,vid", [
    ("dQw4w9WgXcQ", "dQw4w9WgXcQ"), ("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=5", "dQw4w9WgXcQ"),
    ("https://youtu.be/dQw4w9WgXcQ", "dQw4w9WgXcQ"), (" dQw4w9WgXcQ ", "dQw4w9WgXcQ"),
])
def test_video_ids(value, vid):
    assert video_id_of(value) == vid


def test_missing_videos_are_per_sample_with_a_download_hint(registry, tmp_path, cli):
    fx = make_minerva(tmp_path / "MINERVA", n=2, with_videos=False)
    s = load(registry, fx.root)[0]
    assert s.video.path == f"videos/{fx.items[0]['video_id']}.mp4"
    assert "youtube.com/watch?v=" in s.metadata["media_hint"] and len(s.metadata["looked_in"]) == 8
    proc = cli("data", "check", "minerva", "--data-dir", str(tmp_path))
    assert proc.returncode == 3 and "missing" in proc.stdout


def test_parquet_copy_and_answer_by_text(registry, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    fx = make_minerva(tmp_path / "src", n=4)
    root = tmp_path / "mirror"
    (root / "data").mkdir(parents=True)
    rows = [dict(it) for it in fx.items]
    for r in rows:  # the mirror spells the skills key with an underscore
        r["question_type"] = r.pop("question type", None) or r["question_type"]
    rows[1]["answer_id"] = None  # fall back to the answer text
    pq.write_table(pa.Table.from_pylist(rows), root / "data" / "test-00000-of-00001.parquet")
    (root / "videos").symlink_to(fx.root / "videos")
    samples = load(registry, root)
    assert [s.answer for s in samples] == ["ABCDE"[it["answer_id"]] for it in fx.items]
    assert all(s.metadata["skills"] for s in samples)


def test_bad_items_name_the_problem(registry, tmp_path):
    fx = make_minerva(tmp_path / "MINERVA", n=2)
    path = fx.root / "minerva.json"
    path.write_text(json.dumps([dict(fx.items[0], answer_id=7)]))
    with pytest.raises(ConfigError, match="answer_id 7 is outside 0-4"):
        load(registry, fx.root)
    path.write_text(json.dumps([{k: v for k, v in fx.items[0].items() if k != "answer_choice_4"}]))
    with pytest.raises(ConfigError, match=r"lacks field\(s\) \['answer_choice_4'\]"):
        load(registry, fx.root)
    path.write_text(json.dumps([dict(fx.items[0], answer_id=None, answer="something else")]))
    with pytest.raises(ConfigError, match="no usable answer_id"):
        load(registry, fx.root)
    path.unlink()
    with pytest.raises(DataNotFoundError, match="MINERVA annotations not found"):
        load(registry, fx.root)


def test_oracle_and_random_runs(tmp_path, cli):
    make_minerva(tmp_path / "MINERVA", n=60)
    out = {}
    for model in ("oracle", "random"):
        out[model] = run_task(cli, model, "minerva", tmp_path, tmp_path / "runs").result
    oracle, rnd = out["oracle"], out["random"]
    assert oracle["accuracy"]["value"] == 1.0 and oracle["prr"]["value"] == 1.0 and oracle["format_rate"] == 1.0
    assert abs(rnd["accuracy"]["value"] - 0.2) < 0.15  # five options
    assert rnd["accuracy"]["ci_low"] <= 0.2 <= rnd["accuracy"]["ci_high"]
    assert rnd["prr"]["value"] < 0.2
    skills = oracle["breakdowns"]["skills"]
    assert set(skills) >= {"Temporal Reasoning", "Counting", "Listening"}
    # an item counts under each of its skills
    assert sum(v["n"] for v in skills.values()) > oracle["n"]
    assert set(oracle["breakdowns"]["domain"]) == {"Short Films", "Sports", "Educational", "Cooking"}
    assert "category" in oracle["breakdowns"]
