"""Video-MME v1: the published parquet schema, the official prompt with and without subtitles (only the
cues at the sampled frames), the official answer parser with its quirks, the official-style accuracy
beside ours, and oracle / random runs end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from mosseval.data import get_loader
from mosseval.data.videomme import (
    BRADYFU_PREFIXES,
    DOMAINS,
    NO_SUBTITLES,
    TASK_TYPES,
    official_extract,
    parse_srt,
    prompt_context,
    subtitles_at,
)
from mosseval.errors import ConfigError, DataNotFoundError
from mosseval.prompts import build_messages
from mosseval.records import FrameInfo, Sample
from mosseval.tasks import load_registry
from tests.support.benchmarks import VIDEOMME_TASKS, make_videomme, run_task, write_srt
from tests.support.chat_server import message_text

INSTRUCTION = ("Select the best answer to the following multiple-choice question based on the video. "
               "Respond with only the letter (A, B, C, or D) of the correct option.")


@pytest.fixture(scope="module")
def registry():
    return load_registry()


@pytest.fixture(scope="module")
def vmme(tmp_path_factory):
    return make_videomme(tmp_path_factory.mktemp("data") / "Video-MME", n_videos=6)


def load(registry, root: Path, name: str = "videomme") -> list[Sample]:
    task = registry[name]
    return get_loader(task.loader)(task, root)


def test_constants_match_the_official_lists():
    assert len(DOMAINS) == 6 and len(TASK_TYPES) == 12 and list(TASK_TYPES) == VIDEOMME_TASKS


def test_loader_reads_the_published_rows(registry, vmme):
    samples = load(registry, vmme.root)
    assert [s.id for s in samples] == [r["question_id"] for r in vmme.rows]
    for s, r in zip(samples, vmme.rows):
        assert s.video.path == f"data/{r['videoID']}.mp4" and (vmme.root / s.video.path).is_file()
        assert s.answer == r["answer"] and s.metadata["options_raw"] == r["options"]
        assert s.options["A"] == r["options"][0][3:]
        assert s.cluster_key == r["videoID"]  # three questions per video share a cluster
        for key in ("duration", "domain", "sub_category", "task_type", "video_id", "url"):
            assert s.metadata[key] == r[key]


def test_official_prompt_without_subtitles(registry, vmme):
    s = load(registry, vmme.root)[0]
    messages, prefill = build_messages(registry["videomme"], s, root=vmme.root)
    assert prefill is None and messages[0]["content"][0] == {"type": "video"}
    assert messages[0]["content"][1]["text"] == "\n".join(
        [INSTRUCTION, s.question, *vmme.rows[0]["options"], "The best answer is:"])


def test_subtitles_are_the_cues_at_the_sampled_frames(registry, vmme):
    task = registry["videomme-subs"]
    s = load(registry, vmme.root, "videomme-subs")[0]
    vid = s.metadata["videoID"]
    # cues at [0.5, 1.5), [2.5, 3.5), [4.5, 5.5), [6.5, 7.5), [8.5, 9.5)
    frames = FrameInfo(indices=[0, 33, 66, 99], timestamps=[0.0, 3.3, 6.6, 9.9], decoder="pyav")
    ctx = prompt_context(task, s, vmme.root, frames)
    assert ctx == {"subtitles": "line 1 of video 0\nline 3 of video 0"}
    assert vid in vmme.subtitles
    text = build_messages(task, s, root=vmme.root, frames=frames)[0][0]["content"][1]["text"]
    assert text == "\n".join(["This video's subtitles are listed below:", "line 1 of video 0",
                              "line 3 of video 0", INSTRUCTION, s.question, *vmme.rows[0]["options"],
                              "The best answer is:"])
    # a video without a subtitle file
    no_srt = next(x for x in load(registry, vmme.root, "videomme-subs") if x.metadata["videoID"] not in vmme.subtitles)
    assert prompt_context(task, no_srt, vmme.root, frames) == {"subtitles": NO_SUBTITLES}
    # without frames (a backend that decodes itself) the task's own frame plan decides
    planned = prompt_context(task, s, vmme.root, None)["subtitles"].splitlines()
    assert planned == [f"line {k} of video 0" for k in range(5)]  # 32 frames over 10 s hit every cue
    assert prompt_context(registry["videomme"], s, vmme.root, frames) == {}


def test_srt_parsing(tmp_path):
    write_srt(tmp_path / "a.srt", [(0.0, 1.25, "hello &amp; bye"), (61.5, 3723.004, "late")])
    raw = (tmp_path / "a.srt").read_text()
    (tmp_path / "b.srt").write_text("\ufeff" + raw.replace("\n", "\r\n"), encoding="utf-8")
    for name in ("a.srt", "b.srt"):
        cues = parse_srt((tmp_path / name).read_text(encoding="utf-8"))
        assert cues == [(0.0, 1.25, "hello & bye"), (61.5, 3723.004, "late")]
    multi = parse_srt("1\n00:00:01,000 --> 00:00:02,000\nfirst line\n<i>second</i> line\n\n2\nbroken\n")
    assert multi == [(1.0, 2.0, "first line second line")]
    cues = [(3.0, 4.0, "c"), (0.0, 1.0, "a"), (1.0, 2.0, "b")]
    assert subtitles_at(cues, [1.0, 0.5, 3.5, 3.6]) == "a\nb\nc"  # time order, each once; [start, end)
    assert subtitles_at(cues, [2.0, 9.0]) == ""


@pytest.mark.parametrize("response,letter", [
    ("B", "B"), ("B. Gray.", "B"), ("The best answer is: C", "C"), ("(D)", "D"),
    ("The answer is D. Because A was wrong", "D"),
    ("Answer: B", "B"),
    ("According to the video, the answer is B.", "A"),  # quirk: the first capital A-D anywhere
    ("The best option is C", "C"),
    ("I think it's b", ""),  # lower case is never read
    ("one two three four five six seven eight nine ten eleven", ""),  # > 10 words, no A-D
    ("", ""), ("   ", ""),
])
def test_official_parser(response, letter):
    assert official_extract(response) == letter


def test_the_bradyfu_copy_reads_answer_b_as_a():
    assert official_extract("Answer: B") == "B"
    assert official_extract("Answer: B", BRADYFU_PREFIXES) == "A"


def test_bad_rows_name_the_problem(registry, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    fx = make_videomme(tmp_path / "Video-MME", n_videos=1)
    path = fx.root / "videomme" / "test-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist([dict(fx.rows[0], options=["A. x", "B. y"])]), path)
    with pytest.raises(ConfigError, match="question '001-1': `options` must be a list of 4"):
        load(registry, fx.root)
    pq.write_table(pa.Table.from_pylist([dict(fx.rows[0], answer="E")]), path)
    with pytest.raises(ConfigError, match="answer 'E' is not one of A-D"):
        load(registry, fx.root)
    path.unlink()
    with pytest.raises(DataNotFoundError, match="Video-MME annotations not found"):
        load(registry, fx.root)


def test_zipped_videos_get_a_hint_and_data_check_reports_them(registry, tmp_path, cli):
    fx = make_videomme(tmp_path / "Video-MME", n_videos=2, zipped=True)
    s = load(registry, fx.root)[0]
    assert "videos_chunked_01.zip" in s.metadata["media_hint"] and s.metadata["looked_in"]
    proc = cli("data", "check", "videomme", "--data-dir", str(tmp_path))
    assert proc.returncode == 3 and "missing" in proc.stdout


def test_subtitles_reach_the_model_at_the_sampled_frames(chat_server, tmp_path):
    """What the API model receives: 4 frames at linspace(0, 99, 4) = 0, 3.3, 6.6, 9.9 s and only the two
    cues on screen then; its answers are scored with the official parser."""
    from mosseval.rundir import load_run
    from mosseval.runner import Runner, RunOptions

    fx = make_videomme(tmp_path / "Video-MME", n_videos=3)
    seen: list[str] = []

    def responder(req):
        seen.append(message_text(req))
        return "According to the video the answer is C"  # the official parser reads the 'A' of 'According'

    srv = chat_server(responder)
    opts = RunOptions(model="openai:test-model", tasks=["videomme-subs"], output_dir=tmp_path / "runs",
                      data_dir=fx.root, progress=False, fsync=False, frames=4,
                      model_args={"base_url": srv.base_url, "timeout": 10})
    outcome = Runner(opts).execute()
    assert outcome.exit_code == 0, outcome.log.status
    assert len(seen) == 9
    first = next(t for t in seen if "question 1" in t and "video 0" in t)
    assert "line 1 of video 0\nline 3 of video 0\n" + INSTRUCTION in first and "line 0 of video 0" not in first
    assert any(NO_SUBTITLES in t for t in seen)  # the third video has no subtitle file
    run = load_run(outcome.run_dir)
    assert {r.score.extracted for r in run.records} == {"A"}
    assert all(r.generation.frames.indices == [0, 33, 66, 99] for r in run.records)


def test_oracle_and_random_runs_with_the_official_style_number(tmp_path, cli):
    fx = make_videomme(tmp_path / "Video-MME", n_videos=30)
    out = {}
    for model in ("oracle", "random"):
        done = run_task(cli, model, "videomme", tmp_path, tmp_path / "runs")
        out[model] = (done.result, done.run_dir)
    oracle, _ = out["oracle"]
    assert oracle["accuracy"]["value"] == 1.0 and oracle["protocol"] == "videomme-official"
    assert oracle["extra"]["videomme_official"]["accuracy"] == 1.0
    assert set(oracle["breakdowns"]["duration"]) == {"short", "medium", "long"}
    assert {"domain", "sub_category", "task_type"} <= set(oracle["breakdowns"])
    rnd, run_dir = out["random"]
    assert abs(rnd["accuracy"]["value"] - 0.25) < 0.15 and len(fx.rows) == 90
    official = rnd["extra"]["videomme_official"]
    assert official["label"].startswith("official-style") and official["answered"] + official["unanswered"] == 90
    assert official["accuracy"] == pytest.approx(official["correct"] / official["answered"])
    assert set(official["breakdowns"]) == {"duration", "domain", "sub_category", "task_type"}
    # the run table prints it under the table, labelled (re-running the finished run only reprints)
    proc = cli("run", "--model", "random", "--tasks", "videomme", "--data-dir", str(tmp_path), "-o",
               str(tmp_path / "runs"))
    assert proc.returncode == 0, proc.stderr
    shown = f"{100 * official['accuracy']:.1f} % ({official['correct']} of {official['answered']} answered"
    assert f"videomme: official-style accuracy {shown}" in " ".join(proc.stderr.split()), proc.stderr


def test_official_style_excludes_unanswered_items_and_ours_counts_them_wrong(registry, tmp_path):
    from mosseval.records import Generation, SampleRecord
    from mosseval.scoring import aggregate_task, official_style_line, score_sample

    fx = make_videomme(tmp_path / "Video-MME", n_videos=2)
    task = registry["videomme"]
    samples = load(registry, fx.root)
    replies = [s.answer for s in samples[:3]] + ["I cannot see the video well enough to decide."] * 2 + ["x"]
    records = []
    for i, (s, text) in enumerate(zip(samples, replies)):
        gen = Generation(text=text)
        records.append(SampleRecord(key=f"videomme/{i}", task=task.name, index=i, sample=s, generation=gen,
                                    score=score_sample(task, s, gen)))
    res = aggregate_task(task, records)
    assert res.accuracy.value == pytest.approx(3 / 6) and res.parse_failure_rate == pytest.approx(3 / 6)
    official = res.extra["videomme_official"]
    assert (official["accuracy"], official["answered"], official["unanswered"]) == (1.0, 3, 3)
    assert official_style_line("videomme", res).startswith(
        "† videomme: official-style accuracy 100.0 % (3 of 3 answered; 3 unanswered left out")
    assert official_style_line("mvbench", aggregate_task(registry["mvbench_action_count"], [])) is None
