"""MINERVA (arXiv 2505.00681; ``minerva.json`` from google-deepmind/neptune): loader.

Annotations only; the videos are YouTube videos the user downloads (2 minutes to 1.5 hours). The
JSON file is a list of items with ``key``, ``video_id`` (a YouTube id; a watch URL is read too),
``question``, ``answer`` (text), ``answer_choice_0`` … ``answer_choice_4``, ``answer_id`` (0-based
index of the correct choice), ``reasoning`` (one first-person paragraph with inline ``MM:SS`` and
``MM:SS - MM:SS`` timestamps), ``question type`` (comma-separated skills; some copies, e.g.
lmms-eval's mirror ``lmms-lab-eval/minerva``, spell it ``question_type``: both are read), ``split``
(coarse video domain) and ``category`` (fine domain). JSONL and parquet copies are read too.

Layout under the data root::

    minerva.json                  (or any *.json / *.jsonl / *.parquet named in loader_args.file)
    videos/<video_id>.mp4         (.webm / .mkv / .mov also found; or <video_id>.<ext> at the root)

Reference steps: the ``reasoning`` paragraph split into sentences by
:func:`mosseval.prr.steps.steps_from_paragraph`, each sentence carrying the first time (range) it
names. Per-skill breakdowns count an item under each of its skills.

What is *not* official: the MINERVA authors published neither their prompt, their frame sampling
nor the MiRA judge prompts, and every published row gave the model ASR transcripts, which the
released JSON does not contain. mosseval's prompt and frames are its own (documented in the task
file), so its numbers are not comparable with the paper's table. No MiRA rubric is shipped: its
definition (four axes scored on 3-point scales) is published, its prompts and parsing are not.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from mosseval.data import register_holds_data, register_loader
from mosseval.data.files import find_annotations as find_files
from mosseval.data.files import find_video, read_items, unique_ids
from mosseval.errors import ConfigError, DataNotFoundError
from mosseval.prr.steps import steps_from_paragraph
from mosseval.records import Sample, TaskSpec, VideoRef

LETTERS = "ABCDE"
N_CHOICES = 5
ANNOTATIONS = ("minerva.json", "minerva.jsonl", "data/minerva.json")
VIDEO_DIRS = ("videos", "")
VIDEO_EXTS = (".mp4", ".webm", ".mkv", ".mov")
OBTAIN = (
    "download minerva.json (linked from https://github.com/google-deepmind/neptune#minerva) into DIR, "
    "download the YouTube videos it names to DIR/videos/<video_id>.mp4 (e.g. with yt-dlp), "
    "and pass --data-dir DIR (or set $MOSSEVAL_MINERVA_DIR)"
)


def find_annotations(root: Path, file: str | None = None) -> list[Path]:
    return find_files(root, file, ANNOTATIONS, ("*.parquet", "data/*.parquet", "data/**/*.parquet"))


@register_holds_data("minerva")
def holds_data(task: TaskSpec, path: Path) -> bool:
    """``minerva.json`` (or its parquet copy / ``loader_args.file``) is under ``path``."""
    return bool(find_annotations(path, task.loader_args.get("file")))


def video_id_of(value: Any) -> str:
    """The YouTube id of a ``video_id`` field (an id, or a watch / youtu.be URL)."""
    text = str(value or "").strip()
    if "://" in text:
        url = urlparse(text)
        if url.hostname and url.hostname.endswith("youtu.be"):
            return url.path.strip("/")
        ids = parse_qs(url.query).get("v")
        if ids:
            return ids[0]
        return url.path.rstrip("/").rsplit("/", 1)[-1]
    return text


def skills_of(item: dict[str, Any]) -> list[str]:
    """The comma-separated skills of ``question type`` (or ``question_type``)."""
    raw = item.get("question type")
    if raw is None:
        raw = item.get("question_type")
    if raw is None:
        return []
    parts = raw if isinstance(raw, list) else re.split(r"\s*,\s*", str(raw))
    return [p.strip() for p in parts if str(p).strip()]


def parse_item(item: Any, task_name: str, root: Path, where: str, index: int) -> Sample:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: item {index} must be an object")
    missing = [k for k in ("key", "video_id", "question") if item.get(k) in (None, "")]
    missing += [f"answer_choice_{i}" for i in range(N_CHOICES) if item.get(f"answer_choice_{i}") is None]
    if missing:
        raise ConfigError(f"{where}: item {index} lacks field(s) {missing}",
                          hint="MINERVA items carry key, video_id, question, answer, answer_choice_0..4, "
                               "answer_id, reasoning")
    key = str(item["key"])
    choices = [str(item[f"answer_choice_{i}"]) for i in range(N_CHOICES)]
    idx = item.get("answer_id")
    if isinstance(idx, str) and idx.strip().isdigit():
        idx = int(idx)
    if isinstance(idx, bool) or not isinstance(idx, int):
        answer_text = str(item.get("answer") or "").strip()
        if answer_text not in [c.strip() for c in choices]:
            raise ConfigError(f"{where}: item {key!r}: no usable answer_id ({item.get('answer_id')!r}) and "
                              f"its answer is not one of the choices")
        idx = [c.strip() for c in choices].index(answer_text)
    if not 0 <= idx < N_CHOICES:
        raise ConfigError(f"{where}: item {key!r}: answer_id {idx} is outside 0-{N_CHOICES - 1}")
    vid = video_id_of(item["video_id"])
    rel, looked, exists = find_video(root, vid, VIDEO_DIRS, VIDEO_EXTS)
    reasoning = str(item.get("reasoning") or "").strip()
    meta: dict[str, Any] = {
        "video_id": vid,
        "skills": skills_of(item),
        "domain": item.get("split"),
        "answer_text": choices[idx],
        "reasoning": reasoning,
    }
    if not exists:
        meta["looked_in"] = looked
        meta["media_hint"] = f"download https://www.youtube.com/watch?v={vid} to videos/{vid}.mp4"
    return Sample(
        id=key,
        task=task_name,
        video=VideoRef(path=rel),
        question=str(item["question"]),
        options={LETTERS[i]: c for i, c in enumerate(choices)},
        answer=LETTERS[idx],
        reference_steps=steps_from_paragraph(reasoning),
        category=str(item["category"]) if item.get("category") is not None else None,
        split=str(item["split"]) if item.get("split") is not None else None,
        metadata=meta,
    )


@register_loader("minerva")
def load(task: TaskSpec, root: Path) -> list[Sample]:
    """``loader_args``: ``file`` (annotation file relative to the root), ``skill`` / ``domain`` (keep
    items having that skill / coarse domain)."""
    root = Path(root)
    args = task.loader_args
    paths = find_annotations(root, args.get("file"))
    if not paths:
        looked = [root / args["file"]] if args.get("file") else [root / a for a in ANNOTATIONS] + [
            root / "*.parquet"]
        raise DataNotFoundError(
            f"{task.name}: MINERVA annotations not found. Looked in:\n" + "\n".join(f"  - {p}" for p in looked),
            hint=task.data.obtain or OBTAIN)
    where = str(paths[0]) if len(paths) == 1 else f"{paths[0].parent}/*.parquet"
    skill, domain = args.get("skill"), args.get("domain")
    samples = [parse_item(raw, task.name, root, where, i) for i, raw in enumerate(read_items(paths, "MINERVA"))]
    return unique_ids((s for s in samples if (not skill or skill in s.metadata["skills"])
                       and (not domain or s.metadata["domain"] == domain)), where, "key")
