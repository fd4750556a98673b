"""Generators of small benchmark datasets in the exact upstream schemas (nothing is downloaded).

* ``make_mvbench``: ``json/<subtask>.json`` lists ``{video, question, candidates, answer, start?,
  end?}`` for all 20 subtasks, and real videos under ``video/<source folder>/``: H.264 mp4, VP9
  webm (SSv2), MPEG-4 avi (NTU RGB+D), the TVQA folder of JPEG frames (``00001.jpg`` … at 3 fps),
  bounded items, 3-candidate items with "Not sure"; layouts ``original``, ``segment`` (the
  ``video`` branch: pre-cut ``<stem>_<start>_<end>.mp4`` segments and mp4 conversions) and
  ``mixed`` (star as segments, clevrer under the supplementary ``data0613/`` tree).
* ``make_mmvu``: ``validation.json`` with both question types, HF video URLs, subjects of all four
  disciplines (one item whose video lives in another subject's folder, as in the real data), and
  ``videos/<Subject_Dir>/<n>.mp4``; optionally the parquet form.
* ``make_moss_video``: ``test.jsonl`` / ``train.jsonl`` in the MOSS-Video schema plus videos.
* ``make_sharegpt4video_captions``: a ``sharegpt4video_40k.jsonl``-style captions file.

Videos are tiny (160x96) and shared between items, so a fixture is written in about a second.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.videos import write_avi, write_frame_folder, write_mp4, write_webm

# ----------------------------------------------------------------------------- MVBench

MVBENCH_FOLDERS = {
    "action_sequence": "star/Charades_v1_480",
    "action_prediction": "star/Charades_v1_480",
    "action_antonym": "ssv2_video",
    "fine_grained_action": "Moments_in_Time_Raw/videos",
    "unexpected_action": "FunQA_test/test",
    "object_existence": "clevrer/video_validation",
    "object_interaction": "star/Charades_v1_480",
    "object_shuffle": "perception/videos",
    "moving_direction": "clevrer/video_validation",
    "action_localization": "sta/sta_video",
    "scene_transition": "scene_qa/video",
    "action_count": "perception/videos",
    "moving_count": "clevrer/video_validation",
    "moving_attribute": "clevrer/video_validation",
    "state_change": "perception/videos",
    "fine_grained_pose": "nturgbd",
    "character_order": "perception/videos",
    "egocentric_navigation": "vlnqa",
    "episodic_reasoning": "tvqa/frames_fps3_hq",
    "counterfactual_inference": "clevrer/video_validation",
}
"""Written independently of ``mosseval.data.mvbench`` (from the published notebook's table)."""

MVBENCH_BOUNDED = {"action_sequence", "action_prediction", "object_interaction", "action_localization",
                   "episodic_reasoning"}
MVBENCH_SEGMENT_FOLDERS = {
    "star/Charades_v1_480": "star/Charades_segment",
    "sta/sta_video": "sta/sta_video_segment",
    "tvqa/frames_fps3_hq": "tvqa/video_fps3_hq_segment",
}
MVBENCH_CONVERTED = {"ssv2_video": "ssv2_video_mp4", "nturgbd": "nturgbd_convert"}

CANDIDATE_COUNTS = {"action_antonym": 3, "object_shuffle": 3, "episodic_reasoning": 5,
                    "unexpected_action": 4, "moving_count": 4}
"""Candidates per item; 3 means two answers plus "Not sure" (like the real action_antonym)."""

VIDEO_FPS = 10
VIDEO_FRAMES = 100  # 10 s
TVQA_FRAMES = 30  # 10 s at 3 fps

WORDS = ["the red cube", "a blue ball", "the green cylinder", "a person", "the cup", "the door", "a dog",
         "the laptop", "the chair", "a sandwich", "the window", "the book"]
VERBS = ["opened", "closed", "picked up", "put down", "moved left", "moved right", "entered", "left",
         "rotated", "stopped"]


@dataclass
class MVBenchFixture:
    root: Path
    items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    videos: dict[str, Path] = field(default_factory=dict)
    """Relative path (as resolved in this layout) -> file written."""


def _mvbench_video_name(subtask: str, folder: str, k: int) -> str:
    stem = f"{folder.split('/')[0]}_{k}"
    if folder == "tvqa/frames_fps3_hq":
        return f"castle_s01e0{k}_seg02_clip_0{k}"
    if folder == "ssv2_video":
        return f"{1000 + k}.webm"
    if folder == "nturgbd":
        return f"S001C001P00{k}R001A00{k}_rgb.avi"
    return f"{stem}.mp4"


def _bounds(k: int) -> tuple[float, float]:
    # bounds inside the 10 s videos, some with fractional rounding cases (x.5 * fps)
    return [(1.25, 7.75), (2.3, 8.9), (0.0, 5.05), (3.5, 9.5)][k % 4]


def _write_source(path: Path, folder: str) -> None:
    if folder == "tvqa/frames_fps3_hq":
        write_frame_folder(path, n=TVQA_FRAMES, first_index=1)
    elif folder == "ssv2_video":
        write_webm(path, n=VIDEO_FRAMES, fps=VIDEO_FPS)
    elif folder == "nturgbd":
        write_avi(path, n=VIDEO_FRAMES, fps=VIDEO_FPS)
    else:
        write_mp4(path, n=VIDEO_FRAMES, fps=VIDEO_FPS)


def _write_segment(path: Path, start: float, end: float) -> None:
    n = max(4, int(round((end - start) * VIDEO_FPS)))
    write_mp4(path, n=n, fps=VIDEO_FPS)


def make_mvbench(root: Path, n_per_subtask: int = 2, layout: str = "original", seed: int = 0,
                 videos_per_subtask: int = 2, subtasks: list[str] | None = None) -> MVBenchFixture:
    """Write an MVBench tree under ``root``; ``layout`` in original | segment | mixed."""
    assert layout in ("original", "segment", "mixed")
    root = Path(root)
    rng = random.Random(seed)
    fx = MVBenchFixture(root=root)
    written: set[str] = set()
    for subtask in subtasks or list(MVBENCH_FOLDERS):
        folder = MVBENCH_FOLDERS[subtask]
        ncand = CANDIDATE_COUNTS.get(subtask, 4)
        items = []
        for i in range(n_per_subtask):
            k = i % videos_per_subtask
            name = _mvbench_video_name(subtask, folder, k)
            start, end = _bounds(i)
            bounded = subtask in MVBENCH_BOUNDED
            # where this video goes in the chosen layout
            seg_folder = MVBENCH_SEGMENT_FOLDERS.get(folder)
            use_segment = seg_folder is not None and (
                layout == "segment" or (layout == "mixed" and folder.startswith("star")))
            if use_segment and bounded:
                stem = name.rsplit(".", 1)[0] if "." in name else name
                rel = f"video/{seg_folder}/{stem}_{float(start)}_{float(end)}.mp4"
                if rel not in written:
                    _write_segment(root / rel, start, end)
            elif layout == "segment" and folder in MVBENCH_CONVERTED:
                rel = f"video/{MVBENCH_CONVERTED[folder]}/{name.rsplit('.', 1)[0]}.mp4"
                if rel not in written:
                    write_mp4(root / rel, n=VIDEO_FRAMES, fps=VIDEO_FPS)
            elif layout == "mixed" and folder.startswith("clevrer"):
                rel = f"video/data0613/{folder}/{name}"
                if rel not in written:
                    _write_source(root / rel, folder)
            else:
                rel = f"video/{folder}/{name}"
                if rel not in written:
                    _write_source(root / rel, folder)
            written.add(rel)
            fx.videos[rel] = root / rel
            if ncand == 3:
                candidates = [f"{rng.choice(WORDS)} {v}" for v in rng.sample(VERBS, 2)] + ["Not sure"]
                answer = candidates[rng.randrange(2)]
            else:
                verbs = rng.sample(VERBS, ncand)
                candidates = [f"{rng.choice(WORDS)} {v}." for v in verbs]
                answer = candidates[rng.randrange(ncand)]
            item: dict[str, Any] = {
                "video": name,
                "question": f"What happened to {rng.choice(WORDS)} in the clip ({subtask} #{i})?",
                "candidates": candidates,
                "answer": answer,
            }
            if bounded:
                item["start"], item["end"] = start, end
            items.append(item)
        fx.items[subtask] = items
        write_mvbench_json(root, subtask, items)
    return fx


def write_mvbench_json(root: Path, subtask: str, items: list[dict[str, Any]]) -> Path:
    path = Path(root) / "json" / f"{subtask}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(items, indent=1), encoding="utf-8")
    return path


def official_segment_indices(num_frames: int, fps: float, bound: tuple[float, float] | None,
                             first_idx: int, n: int = 16, frame_folder: bool = False) -> list[int]:
    """The formula of SPEC §4.3, written out independently for the tests.

    Videos: ``max_frame = num_frames - 1``; frame folders: ``max_frame = number of files``
    (first index 1)."""
    import numpy as np

    start, end = bound if bound else (-100000, 100000)
    max_frame = num_frames if frame_folder else num_frames - 1
    start_idx = max(first_idx, round(start * fps))
    end_idx = min(round(end * fps), max_frame)
    seg = float(end_idx - start_idx) / n
    return [int(start_idx + seg / 2 + np.round(seg * i)) for i in range(n)]


# ----------------------------------------------------------------------------- MMVU

MMVU_SUBJECTS = [  # (subject, folder, discipline) — a spread over the 4 disciplines
    ("Art", "Art", "Humanities & Social Science"),
    ("Chemistry", "Chemistry", "Science"),
    ("Computer Science", "Computer_Science", "Engineering"),
    ("Thermodynamics", "Thermodynamics", "Science"),
    ("Clinical Medicine", "Clinical_Medicine", "Healthcare"),
    ("Electronics and Communication", "Electronics_and_Communication", "Engineering"),
    ("Pharmacy", "Pharmacy", "Healthcare"),
    ("Law", "Law", "Humanities & Social Science"),
]

OPEN_ANSWERS = ["Dolly Zoom", "Depth-First Search (DFS)", "High-pass filter", "Binary Search", "Resistance",
                "Embryo Transfer", "rectangular", "10 g"]


@dataclass
class MMVUFixture:
    root: Path
    items: list[dict[str, Any]]


def make_mmvu(root: Path, n: int = 16, seed: int = 0, parquet: bool = False,
              json_file: bool = True) -> MMVUFixture:
    """``validation.json`` (+ ``data/validation-00000-of-00001.parquet`` when ``parquet``)."""
    root = Path(root)
    rng = random.Random(seed)
    items = []
    counters: dict[str, int] = {}
    for i in range(n):
        subject, folder, _ = MMVU_SUBJECTS[i % len(MMVU_SUBJECTS)]
        if i == 5:  # like the real data: a video filed under another subject's folder
            folder = "Pharmacy"
        k = counters.get(folder, 0)
        counters[folder] = k + 1
        rel = f"videos/{folder}/{k}.mp4"
        write_mp4(root / rel, n=30, fps=VIDEO_FPS)
        mc = i % 3 != 2
        if mc:
            choices = {L: f"option {L.lower()} of item {i}" for L in "ABCDE"}
            answer = "ABCDE"[rng.randrange(5)]
        else:
            choices = {L: "" for L in "ABCDE"}
            answer = OPEN_ANSWERS[i % len(OPEN_ANSWERS)]
        items.append({
            "id": f"validation_{i}",
            "video": f"https://huggingface.co/datasets/yale-nlp/MMVU/resolve/main/{rel}",
            "youtube_url": f"https://www.youtube.com/watch?v=fixture{i}",
            "question_type": "multiple-choice" if mc else "open-ended",
            "metadata": {
                "subject": subject,
                "textbook": "A Textbook, 1st Edition (Someone)",
                "knowledge": [f"https://en.wikipedia.org/wiki/Topic_{i}"],
                "rationale": f"The video shows step {i} of the procedure on the bench. Therefore the answer "
                             f"follows from what happens in that step.",
            },
            "question": f"Which concept is shown in the video (item {i})?",
            "choices": choices,
            "answer": answer,
        })
    if json_file:
        (root / "validation.json").write_text(json.dumps(items, indent=4, ensure_ascii=False), encoding="utf-8")
    if parquet:
        import pyarrow as pa
        import pyarrow.parquet as pq

        (root / "data").mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(items), root / "data" / "validation-00000-of-00001.parquet")
    return MMVUFixture(root=root, items=items)


# ----------------------------------------------------------------------------- MOSS-Video

@dataclass
class MossVideoFixture:
    root: Path
    test: list[dict[str, Any]]
    train: list[dict[str, Any]]


def moss_video_item(i: int, video: str, split: str, rng: random.Random) -> dict[str, Any]:
    states = ["on the left", "in the centre", "on the right", "under the table", "on the shelf"]
    shown = states[: 2 + i % 2]
    nxt = states[len(shown)]
    letters = "ABCD"
    ans = letters[rng.randrange(4)]
    wrong = [s for s in states if s != nxt][:3]
    options = {}
    for L in letters:
        options[L] = f"the ball will be {nxt}" if L == ans else f"the ball will be {wrong.pop()}"
    return {
        "id": f"{split}-{i}",
        "video": video,
        "start": 0.0,
        "end": 2.0 * len(shown),
        "question": "Where will the ball be next?",
        "options": options,
        "answer": ans,
        "reference_steps": [{"t": 2.0 * k, "text": f"The ball is {s} of the table."} for k, s in enumerate(shown)],
        "level": "coarse" if i % 2 == 0 else "fine",
        "category": ["position", "colour", "count"][i % 3],
        "split": split,
    }


def make_moss_video(root: Path, n_test: int = 8, n_train: int = 4, seed: int = 0) -> MossVideoFixture:
    root = Path(root)
    rng = random.Random(seed)
    out: dict[str, list[dict[str, Any]]] = {"test": [], "train": []}
    for split, n in (("test", n_test), ("train", n_train)):
        for i in range(n):
            video = f"videos/{split}_{i // 2}.mp4"
            if not (root / video).exists():
                write_mp4(root / video, n=VIDEO_FRAMES, fps=VIDEO_FPS)
            out[split].append(moss_video_item(i, video, split, rng))
        with (root / f"{split}.jsonl").open("w", encoding="utf-8") as fh:
            for item in out[split]:
                fh.write(json.dumps(item) + "\n")
    return MossVideoFixture(root=root, test=out["test"], train=out["train"])


# ----------------------------------------------------------------------------- ShareGPT4Video

OBJECTS = ["red ball", "blue cup", "white cat", "green kite", "yellow car", "black dog", "paper boat"]
PLACES = ["on the left of the table", "in the middle of the table", "on the right edge of the table",
          "on the floor", "near the window", "inside the box"]


def make_sharegpt4video_captions(path: Path, n_videos: int = 6, n_keyframes: int = 5, seed: int = 0,
                                 zip_folder: str = "mixkit_videos_1.zip") -> list[dict[str, Any]]:
    """Lines ``{video_id, video_path, zip_folder, captions: [{idx, content}]}``; idx "-1" is the
    whole-video summary, the others differential keyframe captions (~2 s apart)."""
    rng = random.Random(seed)
    lines = []
    for v in range(n_videos):
        obj = OBJECTS[v % len(OBJECTS)]
        places = rng.sample(PLACES, n_keyframes)
        caps = [{"idx": "-1", "content": f"A short clip in which a {obj} moves around a room, from "
                                         f"{places[0]} to {places[-1]}."}]
        for k, place in enumerate(places):
            text = (f"The video opens with a {obj} {place}." if k == 0 else
                    f"Compared with the previous frame, the {obj} has moved and is now {place}.")
            caps.append({"idx": str(k), "content": text})
        vid = f"mixkit-clip-{100 + v}"
        lines.append({"video_id": vid, "video_path": f"{vid}.mp4", "zip_folder": zip_folder, "captions": caps})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(json.dumps(line) + "\n")
    return lines


# ----------------------------------------------------------------------------- VCR-Bench

VCR_DIMENSIONS = [
    "Fundamental Temporal Reasoning", "Video Temporal Counting", "Video Temporal Grounding",
    "Video Knowledge Reasoning", "Temporal Spatial Reasoning", "Video Plot Analysis", "Temporal Spatial Grounding",
]
VCR_SOURCES = ["videoEspresso", "CharadesEgo", "ActivityNet", "perception_test"]
VCR_DURATIONS = [12, 45, 60, 61, 140, 300, 301, 1200]
"""Annotated durations (seconds) spanning the official buckets, including both edges."""


@dataclass
class VCRBenchFixture:
    root: Path
    items: list[dict[str, Any]]


def _mmss(t: float) -> str:
    return f"{int(t) // 60}:{int(t) % 60:02d}"


def vcr_item(i: int, video_path: str, rng: random.Random) -> dict[str, Any]:
    """One item in the published meta_info_video.json schema (written from the dataset card/files)."""
    dim = VCR_DIMENSIONS[i % len(VCR_DIMENSIONS)]
    kind = {"Video Temporal Grounding": "interval", "Temporal Spatial Grounding": "box"}.get(
        dim, "choice" if i % 2 == 0 else "text")
    obj = WORDS[i % len(WORDS)]
    verbs = rng.sample(VERBS, 4)
    t0 = 1 + i % 3
    steps = [
        f"1. {_mmss(t0)}-{_mmss(t0 + 2)}, {obj} {verbs[0]} near the table in the first scene.",
        f"2. From {_mmss(t0 + 3)} to {_mmss(t0 + 5)}, {obj} {verbs[1]}. The camera then follows it to the door.",
        f"3. Therefore, the event asked about is {obj} {verbs[1]}.",
    ]
    item: dict[str, Any] = {
        "id": i,
        "video_path": video_path,
        "duration": VCR_DURATIONS[i % len(VCR_DURATIONS)],
        "dimension": dim,
        "multiple-choice": kind == "choice",
        "choices": {k: "" for k in "ABCD"},
        "reasoning": steps,
    }
    if kind == "choice":
        options = {k: f"{obj} {v}." for k, v in zip("ABCD", verbs)}
        answer = "ABCD"[rng.randrange(4)]
        item["choices"] = options
        item["question"] = (f"What does {obj} do after the first scene (item {i})?"
                            + "".join(f"{k}. {v}\n" for k, v in options.items()))
        item["answer"] = answer
    elif kind == "interval":
        item["question"] = f"Please specify the start and end time of the event '{obj} {verbs[1]}' (item {i})."
        item["answer"] = f"[{t0 + 3}, {t0 + 5.5}]" if i % 2 else f"[{t0 + 3}, {t0 + 5}]"
    elif kind == "box":
        item["question"] = f"Give the bounding box of {obj} when it {verbs[1]} (item {i})."
        item["answer"] = f"[{10 + i}, 20, {110 + i}, 80]"
    else:
        item["question"] = f"Where does {obj} go after it {verbs[1]} (item {i})?"
        item["answer"] = ["Kitchen", "The living room", "Through the door", "Upstairs"][i % 4]
    return item


def make_vcrbench(root: Path, n: int = 14, seed: int = 0, zipped: bool = False) -> VCRBenchFixture:
    """``v1/videos/meta_info_video.json`` + ``v1/videos/video/<source>/<name>.mp4`` (two items per video);
    with ``zipped`` the videos are left in ``v1/videos/video.zip`` as downloaded."""
    import zipfile

    root = Path(root)
    rng = random.Random(seed)
    base = root / "v1" / "videos"
    items = []
    written: list[str] = []
    for i in range(n):
        src = VCR_SOURCES[(i // 2) % len(VCR_SOURCES)]
        rel = f"video/{src}/clip_{i // 2:03d}.mp4"
        if rel not in written:
            write_mp4(base / rel, n=VIDEO_FRAMES, fps=VIDEO_FPS)
            written.append(rel)
        items.append(vcr_item(i, rel, rng))
    (base / "meta_info_video.json").write_text(json.dumps(items, indent=4, ensure_ascii=False), encoding="utf-8")
    if zipped:
        with zipfile.ZipFile(base / "video.zip", "w") as zf:
            for rel in written:
                zf.write(base / rel, rel)
        import shutil

        shutil.rmtree(base / "video")
    return VCRBenchFixture(root=root, items=items)


# ----------------------------------------------------------------------------- MINERVA

MINERVA_SKILLS = ["Temporal Reasoning", "Counting", "Spatial Perception", "Cause and Effect", "Reading (OCR)",
                  "Listening", "Goal Reasoning"]
MINERVA_DOMAINS = [("Short Films", "Animation"), ("Sports", "Soccer"), ("Educational", "Science lecture"),
                   ("Cooking", "Recipe")]


@dataclass
class MinervaFixture:
    root: Path
    items: list[dict[str, Any]]


def minerva_item(i: int, video_id: str, rng: random.Random, legacy_key: bool = True) -> dict[str, Any]:
    """One item in the published minerva.json schema (README of google-deepmind/neptune)."""
    obj = WORDS[i % len(WORDS)]
    verbs = rng.sample(VERBS, 5)
    answer_id = rng.randrange(5)
    domain, category = MINERVA_DOMAINS[i % len(MINERVA_DOMAINS)]
    skills = ", ".join(MINERVA_SKILLS[(i + k) % len(MINERVA_SKILLS)] for k in range(2 + i % 2))
    t = 3 + i % 4
    item: dict[str, Any] = {
        "key": f"minerva_{i:04d}",
        "video_id": video_id,
        "question": f"What happens to {obj} right after it is first seen (item {i})?",
        "answer": f"{obj} {verbs[answer_id]}",
        **{f"answer_choice_{k}": f"{obj} {v}" for k, v in enumerate(verbs)},
        "answer_id": answer_id,
        "reasoning": (f"I first see {obj} at 00:{t:02d} near the table. Between 00:{t + 1:02d} and "
                      f"00:{t + 3:02d} the person reaches for {obj}, and then {obj} {verbs[answer_id]}. "
                      f"Nothing else happens to it afterwards, so the answer is that {obj} {verbs[answer_id]}."),
        ("question type" if legacy_key else "question_type"): skills,
        "split": domain,
        "category": category,
    }
    return item


def make_minerva(root: Path, n: int = 10, seed: int = 0, with_videos: bool = True) -> MinervaFixture:
    """``minerva.json`` + ``videos/<video_id>.mp4`` (one ``.webm``; two items per video; one item spells
    the skills key ``question_type`` as lmms-eval's mirror does)."""
    root = Path(root)
    rng = random.Random(seed)
    items = []
    for i in range(n):
        vid = f"yt{i // 2:03d}AbCdEf"[:11]
        ext = ".webm" if i // 2 == 1 else ".mp4"
        if with_videos and not (root / "videos" / f"{vid}{ext}").exists():
            (write_webm if ext == ".webm" else write_mp4)(root / "videos" / f"{vid}{ext}", n=VIDEO_FRAMES,
                                                          fps=VIDEO_FPS)
        items.append(minerva_item(i, vid, rng, legacy_key=i != 3))
    root.mkdir(parents=True, exist_ok=True)
    (root / "minerva.json").write_text(json.dumps(items, indent=2, ensure_ascii=False), encoding="utf-8")
    return MinervaFixture(root=root, items=items)


# ----------------------------------------------------------------------------- Video-MME

VIDEOMME_DOMAINS = [("Knowledge", "Astronomy"), ("Film & Television", "Animation"),
                    ("Sports Competition", "Football"), ("Artistic Performance", "Magic Show"),
                    ("Life Record", "Travel"), ("Multilingual", "Multilingual")]
VIDEOMME_TASKS = ["Temporal Perception", "Spatial Perception", "Attribute Perception", "Action Recognition",
                  "Object Recognition", "OCR Problems", "Counting Problem", "Temporal Reasoning",
                  "Spatial Reasoning", "Action Reasoning", "Object Reasoning", "Information Synopsis"]


@dataclass
class VideoMMEFixture:
    root: Path
    rows: list[dict[str, Any]]
    subtitles: dict[str, list[tuple[float, float, str]]] = field(default_factory=dict)
    """videoID -> cues written to subtitle/<videoID>.srt (videos without subtitles are absent)."""


def _srt_time(t: float) -> str:
    ms = int(round(t * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def write_srt(path: Path, cues: list[tuple[float, float, str]]) -> None:
    """An SRT file as Video-MME ships them (each line wrapped in a <font> tag)."""
    blocks = [f'{k}\n{_srt_time(s)} --> {_srt_time(e)}\n<font color="white" size=".72c">{text}</font>'
              for k, (s, e, text) in enumerate(cues, 1)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")


def make_videomme(root: Path, n_videos: int = 6, seed: int = 0, zipped: bool = False) -> VideoMMEFixture:
    """``videomme/test-00000-of-00001.parquet`` (3 questions per video), ``data/<videoID>.mp4`` and
    ``subtitle/<videoID>.srt`` (every third video has none, as in the real release)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(root)
    rng = random.Random(seed)
    rows = []
    fx = VideoMMEFixture(root=root, rows=rows)
    durations = ["short", "medium", "long"]
    for v in range(n_videos):
        vid = f"fX{v:02d}vidmme"  # 11 characters, like a YouTube id
        if not zipped:
            write_mp4(root / "data" / f"{vid}.mp4", n=VIDEO_FRAMES, fps=VIDEO_FPS)
        if v % 3 != 2:
            cues = [(0.5 + 2.0 * k, 1.5 + 2.0 * k, f"line {k} of video {v}") for k in range(5)]
            write_srt(root / "subtitle" / f"{vid}.srt", cues)
            fx.subtitles[vid] = cues
        domain, sub = VIDEOMME_DOMAINS[v % len(VIDEOMME_DOMAINS)]
        for q in range(3):
            obj = WORDS[(v + q) % len(WORDS)]
            texts = rng.sample(VERBS, 4)
            rows.append({
                "video_id": f"{v + 1:03d}",
                "duration": durations[v % 3],
                "domain": domain,
                "sub_category": sub,
                "url": f"https://www.youtube.com/watch?v={vid}",
                "videoID": vid,
                "question_id": f"{v + 1:03d}-{q + 1}",
                "task_type": VIDEOMME_TASKS[(3 * v + q) % len(VIDEOMME_TASKS)],
                "question": f"What did {obj} do in the video (question {q + 1})?",
                "options": [f"{L}. {t.capitalize()}." for L, t in zip("ABCD", texts)],
                "answer": "ABCD"[rng.randrange(4)],
            })
    (root / "videomme").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), root / "videomme" / "test-00000-of-00001.parquet")
    if zipped:
        (root / "videos_chunked_01.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    return fx


# ----------------------------------------------------------------------------- running a task


@dataclass
class TaskRun:
    run_dir: Path
    result: dict[str, Any]
    """``run.json`` → ``results[task]``."""
    records: list[dict[str, Any]]
    """The lines of ``samples.jsonl``."""


def run_task(cli: Any, model: str, task: str, data_dir: Path, out: Path) -> TaskRun:
    """``mosseval run --model MODEL --tasks TASK --data-dir DATA -o OUT -q`` in a subprocess (exit 0 asserted)."""
    proc = cli("run", "--model", model, "--tasks", task, "--data-dir", str(data_dir), "-o", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    result = json.loads((run_dir / "run.json").read_text())["results"][task]
    records = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines() if line.strip()]
    return TaskRun(run_dir, result, records)
