"""Video-MME v1 (arXiv 2405.21075; Hugging Face ``lmms-lab/Video-MME``): loader, subtitles at the
sampled frames, and the official answer parser.

Published layout (the Hugging Face dataset, archives unzipped in place)::

    videomme/test-00000-of-00001.parquet   2,700 rows (one per question)
    data/<videoID>.mp4                     the 900 videos (from videos_chunked_*.zip)
    subtitle/<videoID>.srt                 subtitles (from subtitle.zip; not every video has one)

Rows: ``video_id`` ("001"…"900"), ``duration`` (short < 2 min / medium 4-15 / long 30-60),
``domain`` (6), ``sub_category`` (30), ``url``, ``videoID`` (the YouTube id naming the files),
``question_id`` ("001-1"), ``task_type`` (12), ``question``, ``options`` (four strings
``"A. text"``) and ``answer`` (a letter). Videos are also found under ``videos/`` or the root,
as ``.mp4`` / ``.MP4`` / ``.mkv``.

Official prompt (README of BradyFU/Video-MME), without subtitles::

    Select the best answer to the following multiple-choice question based on the video. Respond
    with only the letter (A, B, C, or D) of the correct option.
    <question>
    <the four option strings, one per line>
    The best answer is:

with subtitles the prompt starts ``This video's subtitles are listed below:`` followed by the
subtitle lines. Only the subtitles shown at the sampled frames are given (each cue whose
``[start, end)`` contains a sampled frame's timestamp, in time order, HTML ``<font>`` tags
removed), computed from the frames the model actually receives (``prompt_context``). A video
without a subtitle file gets "No subtitles available" (lmms-eval's wording; the authors do not say).

Official scoring (``eval_your_results.py`` of the authors, in the HF-schema version of
thanku-all/parse_answer): remove the answer prefixes listed in ``PARSE_ANSWER_PREFIXES`` anywhere
in the response (note the two pairs fused by missing commas upstream), then take the first capital
A-D *anywhere* (so "According to …" reads as A); a response of more than 10 words without A-D, or
none at all, is unanswered. Accuracy = correct / answered: unanswered items leave the denominator.
mosseval uses the same parser but counts unanswered items wrong (``accuracy``), and reports the
official-style number beside it in ``TaskResult.extra["videomme_official"]`` (the extractor's name), labelled;
``mosseval run`` prints it under the table.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from mosseval.data import loaders, register_holds_data, register_loader
from mosseval.data.files import as_list, find_video, read_items, unique_ids
from mosseval.data.files import find_annotations as find_files
from mosseval.errors import ConfigError, DataNotFoundError, MediaError, UnsafePathError
from mosseval.extract import AnswerResult
from mosseval.paths import safe_join
from mosseval.records import FrameInfo, Sample, SampleRecord, TaskSpec, VideoRef
from mosseval.scoring import extractors, register_extractor

ANNOTATIONS = ("videomme/test-00000-of-00001.parquet",)
VIDEO_DIRS = ("data", "videos", "video", "")
VIDEO_EXTS = (".mp4", ".MP4", ".mkv")
SUBTITLE_DIRS = ("subtitle", "subtitles")
LETTERS = "ABCD"
DURATIONS = ("short", "medium", "long")
DOMAINS = ("Knowledge", "Film & Television", "Sports Competition", "Artistic Performance", "Life Record",
           "Multilingual")
TASK_TYPES = ("Temporal Perception", "Spatial Perception", "Attribute Perception", "Action Recognition",
              "Object Recognition", "OCR Problems", "Counting Problem", "Temporal Reasoning", "Spatial Reasoning",
              "Action Reasoning", "Object Reasoning", "Information Synopsis")
NO_SUBTITLES = "No subtitles available"

PARSE_ANSWER_PREFIXES = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option is" "The correct option is",  # fused upstream (missing comma): neither alone is removed
    "Best answer:" "Best option:",  # likewise
    "Answer:",
    "Option:",
    "The correct answer",
    "The correct option",
)
"""The prefixes thanku-all/parse_answer removes (the HF-schema release of the official script)."""
BRADYFU_PREFIXES = PARSE_ANSWER_PREFIXES[:6]
"""The shorter list of BradyFU/Video-MME's own copy, where "Answer: B" reads as A (the A of "Answer")."""

OFFICIAL_LABEL = ("official-style: the official parser's answers, unanswered items excluded from the denominator "
                  "(eval_your_results.py); mosseval's accuracy counts them wrong")

OBTAIN = (
    "download https://huggingface.co/datasets/lmms-lab/Video-MME (`huggingface-cli download lmms-lab/Video-MME "
    "--repo-type dataset --local-dir DIR`), unzip the videos_chunked_*.zip archives and subtitle.zip in DIR "
    "(videos land in DIR/data/, subtitles in DIR/subtitle/), and pass --data-dir DIR "
    "(or set $MOSSEVAL_VIDEOMME_DIR)"
)


# ----------------------------------------------------------------------------- official parser


def official_extract(response: str, prefixes: tuple[str, ...] = PARSE_ANSWER_PREFIXES) -> str:
    """``extract_characters_regex`` as published: ``""`` when unanswered."""
    s = response.strip()
    for prefix in prefixes:
        s = s.replace(prefix, "")
    if len(s.split()) > 10 and not re.search("[ABCD]", s):
        return ""
    m = re.search(r"[ABCD]", s)
    return m[0] if m else ""


@register_extractor("videomme_official")
def answer_check(text: str | None, sample: Sample, task: TaskSpec, prefill: str | None) -> AnswerResult:
    """The official parser; an unanswered item is wrong here and flagged (``parse_failed``)."""
    return _answer_check(text, sample.answer)


@extractors.register_hook("videomme_official", "check_data")
def answer_check_data(text: str | None, data: dict[str, Any], task: TaskSpec, prefill: str | None) -> AnswerResult:
    """:func:`answer_check` of the sample's validated data (:mod:`mosseval.recorddata`)."""
    return _answer_check(text, data["answer"])


def _answer_check(text: str | None, answer: str) -> AnswerResult:
    letter = official_extract(text or "")
    if not letter:
        return AnswerResult(None, False, True, detail="unanswered (official parser)")
    return AnswerResult(letter, letter == (answer or "").strip().upper(), False, detail="official")


@extractors.register_hook("videomme_official", "summarize")
def official_style(records: list[SampleRecord], breakdowns: list[str]) -> dict[str, Any]:
    """correct / answered overall and per breakdown (the official denominators), labelled."""
    from mosseval.scoring import breakdown_value

    def summary(recs: list[SampleRecord]) -> dict[str, Any]:
        answered = [r for r in recs if r.score is not None and r.generation.error is None
                    and not r.score.parse_failed]
        correct = sum(1 for r in answered if r.score and r.score.correct)
        return {"accuracy": correct / len(answered) if answered else None, "correct": correct,
                "answered": len(answered), "unanswered": len(recs) - len(answered)}

    out: dict[str, Any] = {"label": OFFICIAL_LABEL, **summary(records), "breakdowns": {}}
    for key in breakdowns:
        groups: dict[str, list[SampleRecord]] = {}
        for r in records:
            for v in breakdown_value(r, key):
                groups.setdefault(v, []).append(r)
        if groups:
            out["breakdowns"][key.removeprefix("metadata.")] = {v: summary(g) for v, g in sorted(groups.items())}
    return out


# ----------------------------------------------------------------------------- loading


def find_annotations(root: Path, file: str | None = None) -> list[Path]:
    return find_files(root, file, ANNOTATIONS, ("videomme/*.parquet",))


@register_holds_data("videomme")
def holds_data(task: TaskSpec, path: Path) -> bool:
    """``videomme/test-00000-of-00001.parquet`` (or ``loader_args.file``) is under ``path``."""
    return bool(find_annotations(path, task.loader_args.get("file")))


def parse_options(value: Any, where: str, qid: str) -> tuple[dict[str, str], list[str]]:
    raw = as_list(value)
    if raw is None or len(raw) != 4:
        raise ConfigError(f"{where}: question {qid!r}: `options` must be a list of 4 strings 'A. text'")
    options: dict[str, str] = {}
    for letter, opt in zip(LETTERS, raw):
        text = str(opt)
        m = re.match(rf"\s*{letter}\s*[.)]\s?(.*)$", text, re.DOTALL)
        options[letter] = m.group(1) if m else text
    return options, [str(o) for o in raw]


def parse_row(row: Any, task_name: str, root: Path, where: str, index: int) -> Sample:
    if not isinstance(row, dict):
        raise ConfigError(f"{where}: row {index} must be a record")
    missing = [k for k in ("question_id", "videoID", "question", "options", "answer") if row.get(k) in (None, "")]
    if missing:
        raise ConfigError(f"{where}: row {index} lacks field(s) {missing}",
                          hint="Video-MME rows carry video_id, duration, domain, sub_category, videoID, "
                               "question_id, task_type, question, options, answer")
    qid = str(row["question_id"])
    options, raw = parse_options(row["options"], where, qid)
    answer = str(row["answer"]).strip().upper()
    if answer not in options:
        raise ConfigError(f"{where}: question {qid!r}: answer {row['answer']!r} is not one of A-D")
    vid = str(row["videoID"]).strip()
    rel, looked, exists = find_video(root, vid, VIDEO_DIRS, VIDEO_EXTS)
    meta: dict[str, Any] = {
        "video_id": row.get("video_id"),
        "videoID": vid,
        "duration": row.get("duration"),
        "domain": row.get("domain"),
        "sub_category": row.get("sub_category"),
        "task_type": row.get("task_type"),
        "url": row.get("url"),
        "options_raw": raw,
    }
    if not exists:
        meta["looked_in"] = looked
        zips = sorted(p.name for p in root.glob("videos_chunked_*.zip")) if root.is_dir() else []
        if zips:
            meta["media_hint"] = f"the videos may still be zipped ({', '.join(zips[:3])}…): unzip them in {root}"
    return Sample(
        id=qid,
        task=task_name,
        video=VideoRef(path=rel),
        question=str(row["question"]),
        options=options,
        answer=answer,
        category=str(row["task_type"]) if row.get("task_type") is not None else None,
        cluster=vid,
        metadata=meta,
    )


@register_loader("videomme")
def load(task: TaskSpec, root: Path) -> list[Sample]:
    """``loader_args``: ``file`` (parquet relative to the root), ``duration`` (short / medium / long),
    ``subtitles`` (true: the prompt gets the subtitles at the sampled frames)."""
    root = Path(root)
    args = task.loader_args
    paths = find_annotations(root, args.get("file"))
    if not paths:
        looked = [root / args["file"]] if args.get("file") else [root / a for a in ANNOTATIONS]
        raise DataNotFoundError(
            f"{task.name}: Video-MME annotations not found. Looked in:\n" + "\n".join(f"  - {p}" for p in looked),
            hint=task.data.obtain or OBTAIN)
    where = str(paths[0]) if len(paths) == 1 else f"{paths[0].parent}/*.parquet"
    only = args.get("duration")
    if only is not None and only not in DURATIONS:
        raise ConfigError(f"task {task.name!r}: loader_args.duration {only!r} is not one of {list(DURATIONS)}")
    samples = [parse_row(row, task.name, root, where, i) for i, row in enumerate(read_items(paths, "Video-MME"))]
    return unique_ids((s for s in samples if not only or s.metadata["duration"] == only), where, "question_id")


# ----------------------------------------------------------------------------- subtitles

_SRT_TIME = r"(\d{1,2}):(\d{2}):(\d{2})[,.](\d{1,3})"
_SRT_CUE_RE = re.compile(rf"{_SRT_TIME}\s*-->\s*{_SRT_TIME}")
_TAG_RE = re.compile(r"<[^>]+>")


def _srt_seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def parse_srt(text: str) -> list[tuple[float, float, str]]:
    """Cues ``(start, end, text)`` of an SRT file, tags removed, in file order."""
    cues: list[tuple[float, float, str]] = []
    for block in re.split(r"\r?\n\s*\r?\n", text.replace("\ufeff", "")):
        lines = [ln for ln in block.strip().splitlines()]
        for k, line in enumerate(lines):
            m = _SRT_CUE_RE.search(line)
            if m:
                g = m.groups()
                body = " ".join(html.unescape(_TAG_RE.sub("", ln)).strip() for ln in lines[k + 1:])
                body = " ".join(body.split())
                if body:
                    cues.append((_srt_seconds(*g[:4]), _srt_seconds(*g[4:]), body))
                break
    return cues


def subtitles_at(cues: list[tuple[float, float, str]], times: list[float]) -> str:
    """The cues shown at any of ``times`` (``start <= t < end``), once each, in time order."""
    chosen = sorted({i for t in times for i, (s, e, _) in enumerate(cues) if s <= t < e},
                    key=lambda i: (cues[i][0], i))
    return "\n".join(cues[i][2] for i in chosen)


def subtitle_file(root: Path, video_id: str) -> Path | None:
    for d in SUBTITLE_DIRS:
        try:
            path = safe_join(root, f"{d}/{video_id}.srt")
        except UnsafePathError:
            return None
        if path.is_file():
            return path
    return None


def _frame_times(sample: Sample, task: TaskSpec, root: Path, frames: FrameInfo | None) -> list[float]:
    if frames is not None and frames.timestamps:
        return list(frames.timestamps)
    from mosseval.video import compute_indices, probe

    assert sample.video is not None
    vp = probe(sample.video, root)
    idx = compute_indices(task.frames, vp.num_frames, vp.fps)
    return [i / vp.fps for i in idx]


def prompt_context(task: TaskSpec, sample: Sample, root: Path | None, frames: FrameInfo | None) -> dict[str, Any]:
    """Template variables for one sample: ``subtitles`` (the cues at the sampled frames) when the task
    asks for them (``loader_args.subtitles: true``)."""
    if not task.loader_args.get("subtitles"):
        return {}
    if root is None or sample.video is None:
        raise ConfigError(f"task {task.name!r}: subtitles need the data root and the video's frames")
    path = subtitle_file(root, str(sample.metadata.get("videoID") or ""))
    if path is None:
        return {"subtitles": NO_SUBTITLES}
    try:
        cues = parse_srt(path.read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        raise MediaError(f"{path.name}: cannot read the subtitles ({exc.strerror or exc})") from None
    return {"subtitles": subtitles_at(cues, _frame_times(sample, task, root, frames))}


loaders.register_hook("videomme", "prompt_context")(prompt_context)
