"""MVBench (OpenGVLab/MVBench): loader and the official VideoChat2 answer check.

Published layout (Hugging Face dataset ``OpenGVLab/MVBench``, gated)::

    json/<subtask>.json          a list of {video, question, candidates, answer, start?, end?}
    video/<source folder>/...    the videos (main branch: zips to extract under video/)

``answer`` is the *text* of the correct candidate; its letter is its index in ``candidates``
(A = 0). Candidate counts vary per subtask (some items have 3, with "Not sure").

Video layouts, resolved per item at load time (the first that exists wins; see ``SUBTASKS``):

1. *original*: ``video/<folder>/<video>`` (or ``<folder>/<video>`` at the root), with the
   item's ``start``/``end`` bounds for the five bounded subtasks, and the TVQA folder of JPEG
   frames (3 fps, first frame ``00001.jpg``) for ``episodic_reasoning``;
2. *segment*: the ``video`` branch's pre-cut mp4 segments (``star/Charades_segment`` …): the
   file named by the item itself, ``<stem>_<start>_<end>.mp4`` or ``<stem>.mp4``; a pre-cut
   segment is sampled whole (the bounds are already applied by the cut);
3. *converted*: the ``video`` branch's mp4 conversions (``ssv2_video_mp4``, ``nturgbd_convert``);
4. *supplementary*: the ``data0613/<folder>/…`` tree.

When no candidate exists the canonical original path is kept, so preflight and the sampler report
the missing file per sample (with the other places looked at in ``metadata.looked_in``). Paths
stay relative to the data root; an item whose path escapes the root is kept as-is and refused
per sample by the sampler (``UnsafePathError``).

Official protocol (VideoChat2 ``mvbench.ipynb``): 16 frames at segment midpoints inside the
bounds, the system text, ``Question: …\\nOptions:\\n(A) …`` + ``\\nOnly give the best option.``,
the assistant turn pre-filled with ``Best option:(``, greedy decoding, 100 new tokens; the answer
check keeps the first line of the output, prepends ``(`` and compares its first token with the
gold ``(x)`` by mutual containment (``official_check``). Only that first token is read, as
upstream: ``"B) the cup. Or maybe (C)"`` is B, whatever follows. One deliberate departure,
stricter: an empty output (which the official check accepts, since ``"("`` is contained in every
gold label) is wrong and flagged unparsed. A first token that contains several labels at once
(``"(A)(B)"``, which the official check scores correct for either gold) is flagged ambiguous and
scored wrong.

Frames: when a start bound rounds past the last frame, the official index computation is
followed (``mosseval.video``), not refused.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mosseval.data import register_holds_data, register_loader
from mosseval.errors import ConfigError, DataNotFoundError, UnsafePathError
from mosseval.extract import AnswerResult
from mosseval.paths import safe_join
from mosseval.recorddata import sample_field
from mosseval.records import Sample, TaskSpec, VideoRef
from mosseval.scoring import extractors, register_extractor

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

SYSTEM_PROMPT = (
    "Carefully watch the video and pay attention to the cause and sequence of events, the detail "
    "and movement of objects, and the action and pose of persons. Based on your observations, "
    "select the best option that accurately addresses the question."
)
QUESTION_SUFFIX = "\nOnly give the best option."
PREFILL = "Best option:("
TVQA_FPS = 3.0
TVQA_FIRST_INDEX = 1


@dataclass(frozen=True)
class Subtask:
    name: str
    title: str
    folder: str
    """Folder of the original layout (under ``video/``)."""
    kind: str = "file"
    """``file`` or ``frames`` (TVQA JPEG folders)."""
    bound: bool = False
    """The official protocol samples inside the item's ``start``/``end`` (original layout)."""
    segment_folder: str | None = None
    """Pre-cut segments of the ``video`` branch (sampled whole)."""
    converted_folder: str | None = None
    """Format conversions of the ``video`` branch (``<stem>.mp4``)."""


_CLEVRER = "clevrer/video_validation"
_PERCEPTION = "perception/videos"
_STAR = "star/Charades_v1_480"
_STAR_SEG = "star/Charades_segment"

SUBTASKS: dict[str, Subtask] = {
    s.name: s
    for s in [
        Subtask("action_sequence", "Action Sequence", _STAR, bound=True, segment_folder=_STAR_SEG),
        Subtask("action_prediction", "Action Prediction", _STAR, bound=True, segment_folder=_STAR_SEG),
        Subtask("action_antonym", "Action Antonym", "ssv2_video", converted_folder="ssv2_video_mp4"),
        Subtask("fine_grained_action", "Fine-grained Action", "Moments_in_Time_Raw/videos"),
        Subtask("unexpected_action", "Unexpected Action", "FunQA_test/test"),
        Subtask("object_existence", "Object Existence", _CLEVRER),
        Subtask("object_interaction", "Object Interaction", _STAR, bound=True, segment_folder=_STAR_SEG),
        Subtask("object_shuffle", "Object Shuffle", _PERCEPTION),
        Subtask("moving_direction", "Moving Direction", _CLEVRER),
        Subtask("action_localization", "Action Localization", "sta/sta_video", bound=True,
                segment_folder="sta/sta_video_segment"),
        Subtask("scene_transition", "Scene Transition", "scene_qa/video"),
        Subtask("action_count", "Action Count", _PERCEPTION),
        Subtask("moving_count", "Moving Count", _CLEVRER),
        Subtask("moving_attribute", "Moving Attribute", _CLEVRER),
        Subtask("state_change", "State Change", _PERCEPTION),
        Subtask("fine_grained_pose", "Fine-grained Pose", "nturgbd", converted_folder="nturgbd_convert"),
        Subtask("character_order", "Character Order", _PERCEPTION),
        Subtask("egocentric_navigation", "Egocentric Navigation", "vlnqa"),
        Subtask("episodic_reasoning", "Episodic Reasoning", "tvqa/frames_fps3_hq", kind="frames", bound=True,
                segment_folder="tvqa/video_fps3_hq_segment"),
        Subtask("counterfactual_inference", "Counterfactual Inference", _CLEVRER),
    ]
}

VIDEO_BASES = ("video", "")
"""Where the source folders may sit under the data root (``video/star/…`` or ``star/…``)."""
SUPPLEMENTARY = "data0613"

OBTAIN = (
    "MVBench is gated on Hugging Face: accept the terms at https://huggingface.co/datasets/OpenGVLab/MVBench, "
    "then `huggingface-cli download OpenGVLab/MVBench --repo-type dataset --local-dir DIR` "
    "(add `--revision video` for the pre-cut mp4 layout), unzip the archives under DIR/video/, "
    "and pass --data-dir DIR (or set $MOSSEVAL_MVBENCH_DIR)"
)


# ----------------------------------------------------------------------------- loading


def json_candidates(root: Path, subtask: str) -> list[Path]:
    return [root / "json" / f"{subtask}.json", root / f"{subtask}.json"]


def find_json(root: Path, subtask: str) -> Path | None:
    for path in json_candidates(root, subtask):
        if path.is_file():
            return path
    return None


def _fmt_bound(x: Any) -> str:
    return str(float(x)) if isinstance(x, (int, float)) else str(x)


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


class _SegmentIndex:
    """Per-folder listing of ``<stem>_<start>_<end>.mp4`` segment files (built once, lazily)."""

    def __init__(self) -> None:
        self._folders: dict[Path, dict[str, list[tuple[float, float, str]]]] = {}

    def find(self, folder: Path, stem: str, start: float, end: float) -> str | None:
        index = self._folders.get(folder)
        if index is None:
            index = {}
            try:
                names = os.listdir(folder)
            except OSError:
                names = []
            for name in names:
                p = PurePosixPath(name)
                if p.suffix.lower() not in (".mp4", ".webm", ".mkv", ".avi"):
                    continue
                parts = p.stem.rsplit("_", 2)
                if len(parts) != 3:
                    continue
                try:
                    s, e = float(parts[1]), float(parts[2])
                except ValueError:
                    continue
                index.setdefault(parts[0], []).append((s, e, name))
            self._folders[folder] = index
        for s, e, name in index.get(stem, []):
            if abs(s - start) <= 1e-3 and abs(e - end) <= 1e-3:
                return name
        return None


@dataclass
class _Candidate:
    rel: str
    kind: str
    layout: str
    bounded: bool


def _candidates(sub: Subtask, video: str, start: Any, end: Any) -> list[_Candidate]:
    out: list[_Candidate] = []
    stem = PurePosixPath(video).stem if sub.kind == "file" else PurePosixPath(video.rstrip("/")).name
    has_bounds = isinstance(start, (int, float)) and isinstance(end, (int, float))
    for base in VIDEO_BASES:
        out.append(_Candidate(_join(base, sub.folder, video), sub.kind, "original", sub.bound))
    for base in VIDEO_BASES:
        if sub.segment_folder:
            seg = _join(base, sub.segment_folder)
            out.append(_Candidate(_join(seg, video), "file", "segment", False))
            if has_bounds:
                out.append(_Candidate(_join(seg, f"{stem}_{_fmt_bound(start)}_{_fmt_bound(end)}.mp4"),
                                      "file", "segment", False))
            out.append(_Candidate(_join(seg, f"{stem}.mp4"), "file", "segment", False))
        if sub.converted_folder:
            out.append(_Candidate(_join(base, sub.converted_folder, f"{stem}.mp4"), "file", "converted",
                                  sub.bound))
            out.append(_Candidate(_join(base, sub.converted_folder, video), "file", "converted", sub.bound))
    for base in VIDEO_BASES:
        out.append(_Candidate(_join(base, SUPPLEMENTARY, sub.folder, video), sub.kind, "supplementary",
                              sub.bound))
        if sub.segment_folder:
            out.append(_Candidate(_join(base, SUPPLEMENTARY, sub.segment_folder, video), "file",
                                  "supplementary", False))
    seen: set[str] = set()
    unique = []
    for c in out:
        if c.rel not in seen:
            seen.add(c.rel)
            unique.append(c)
    return unique


def _exists(root: Path, cand: _Candidate) -> bool:
    try:
        path = safe_join(root, cand.rel)
    except UnsafePathError:
        return False
    return path.is_dir() if cand.kind == "frames" else path.is_file()


def resolve_video(root: Path, sub: Subtask, video: str, start: Any, end: Any,
                  segments: _SegmentIndex | None = None) -> tuple[_Candidate, list[str]]:
    """The candidate location that exists (or the canonical one) and every place looked at."""
    cands = _candidates(sub, video, start, end)
    for cand in cands:
        if _exists(root, cand):
            return cand, [c.rel for c in cands]
    if sub.segment_folder and isinstance(start, (int, float)) and isinstance(end, (int, float)):
        segments = segments or _SegmentIndex()
        stem = PurePosixPath(video).stem if sub.kind == "file" else PurePosixPath(video.rstrip("/")).name
        for base in VIDEO_BASES + tuple(_join(b, SUPPLEMENTARY) for b in VIDEO_BASES):
            rel_folder = _join(base, sub.segment_folder)
            try:
                folder = safe_join(root, rel_folder)
            except UnsafePathError:
                continue
            if folder.is_dir():
                name = segments.find(folder, stem, float(start), float(end))
                if name:
                    layout = "supplementary" if SUPPLEMENTARY in rel_folder else "segment"
                    return _Candidate(_join(rel_folder, name), "file", layout, False), [c.rel for c in cands]
    return cands[0], [c.rel for c in cands]


def _is_escaping(video: str) -> bool:
    v = video.replace("\\", "/")
    return v.startswith("/") or v.startswith("~") or (len(v) > 1 and v[1] == ":") or ".." in v.split("/")


def parse_item(item: Any, sub: Subtask, index: int, where: str) -> dict[str, Any]:
    """Validate one published item; returns the fields needed (raises ConfigError naming it)."""
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: item {index} must be a JSON object, got {type(item).__name__}")
    missing = [k for k in ("video", "question", "candidates", "answer") if k not in item]
    if missing:
        raise ConfigError(f"{where}: item {index} lacks field(s) {missing}",
                          hint="MVBench items carry video, question, candidates, answer (and start/end)")
    cands = item["candidates"]
    if not isinstance(cands, list) or len(cands) < 2 or len(cands) > len(LETTERS):
        raise ConfigError(f"{where}: item {index}: `candidates` must be a list of 2-26 strings")
    cands = [str(c) for c in cands]
    answer = str(item["answer"])
    if answer in cands:
        answer_idx = cands.index(answer)
    else:
        stripped = [c.strip() for c in cands]
        if answer.strip() in stripped:
            answer_idx = stripped.index(answer.strip())
        else:
            raise ConfigError(f"{where}: item {index}: answer {answer!r} is not one of its candidates {cands}")
    start, end = item.get("start"), item.get("end")
    for name, value in (("start", start), ("end", end)):
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)
                                  or not math.isfinite(float(value))):
            raise ConfigError(f"{where}: item {index}: `{name}` must be a number of seconds, got {value!r}")
    return {"video": str(item["video"]), "question": str(item["question"]), "candidates": cands,
            "answer_idx": answer_idx, "start": start, "end": end}


def load_subtask(task_name: str, subtask: str, root: Path, obtain: str | None = None) -> list[Sample]:
    if subtask not in SUBTASKS:
        raise ConfigError(f"task {task_name!r}: unknown MVBench subtask {subtask!r}",
                          hint="one of: " + ", ".join(SUBTASKS))
    sub = SUBTASKS[subtask]
    path = find_json(root, subtask)
    if path is None:
        looked = "\n".join(f"  - {p}" for p in json_candidates(root, subtask))
        raise DataNotFoundError(f"{task_name}: MVBench annotations for {subtask!r} not found. Looked in:\n{looked}",
                                hint=obtain or OBTAIN)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a JSON list of items, got {type(data).__name__}")
    segments = _SegmentIndex()
    zips = sorted(p.name for base in VIDEO_BASES for p in (root / base).glob("*.zip")) if root.is_dir() else []
    samples: list[Sample] = []
    for i, raw in enumerate(data):
        item = parse_item(raw, sub, i, str(path))
        video, start, end = item["video"], item["start"], item["end"]
        if _is_escaping(video):
            cand, looked = _Candidate(video, sub.kind, "original", sub.bound), [video]
        else:
            cand, looked = resolve_video(root, sub, video, start, end, segments)
        use_bounds = cand.bounded and start is not None and end is not None
        ref = VideoRef(
            path=cand.rel,
            kind="frames" if cand.kind == "frames" else "file",
            start=float(start) if use_bounds else None,
            end=float(end) if use_bounds else None,
            fps=TVQA_FPS if cand.kind == "frames" else None,
            first_index=TVQA_FIRST_INDEX if cand.kind == "frames" else 1,
        )
        cands = item["candidates"]
        letter = LETTERS[item["answer_idx"]]
        metadata: dict[str, Any] = {
            "subtask": subtask,
            "subtask_title": sub.title,
            "source_video": video,
            "layout": cand.layout,
            "num_candidates": len(cands),
            "answer_text": cands[item["answer_idx"]],
            "gold_official": f"({letter}) {cands[item['answer_idx']]}",
        }
        if start is not None or end is not None:
            metadata["bounds"] = [start, end]
            metadata["bounds_applied"] = use_bounds
        if cand.layout == "original" and len(looked) > 1 and not _exists(root, cand):
            metadata["looked_in"] = looked
            if zips:
                metadata["media_hint"] = (f"the videos may still be zipped ({', '.join(zips[:4])}"
                                          f"{', …' if len(zips) > 4 else ''}): unzip them in place")
        samples.append(Sample(
            id=f"{subtask}-{i:04d}",
            task=task_name,
            video=ref,
            question=item["question"],
            options={LETTERS[k]: c for k, c in enumerate(cands)},
            answer=letter,
            category=subtask,
            metadata=metadata,
        ))
    return samples


@register_loader("mvbench")
def load(task: TaskSpec, root: Path) -> list[Sample]:
    """``loader_args``: ``subtask`` (one of ``SUBTASKS``)."""
    subtask = task.loader_args.get("subtask")
    if not subtask:
        raise ConfigError(f"task {task.name!r} ({task.source_file}): key `loader_args.subtask` is required "
                          f"for the mvbench loader", hint="one of: " + ", ".join(SUBTASKS))
    return load_subtask(task.name, str(subtask), Path(root), task.data.obtain)


def looks_like_root(path: Path) -> bool:
    """True when ``path`` holds MVBench annotations (used by data location)."""
    return any(find_json(path, s) is not None for s in SUBTASKS)


@register_holds_data("mvbench")
def holds_data(task: TaskSpec, path: Path) -> bool:
    """The subtask's ``json/<subtask>.json`` (any subtask's when none is named) is under ``path``."""
    sub = task.loader_args.get("subtask")
    return find_json(path, str(sub)) is not None if sub else looks_like_root(path)


# ----------------------------------------------------------------------------- scoring


def official_check(pred: str, gt: str) -> bool:
    """VideoChat2's ``check_ans`` as published: ``pred`` is ``"(" + first line of the output``,
    ``gt`` is ``"(X) answer text"``; correct when the first lower-cased token of ``pred``
    (stripped of '.') and the gold ``(x)`` contain one another."""
    pred_option = pred.lower().split(" ")[0]
    gt_option = gt.lower().split(" ")[0]
    return pred_option.replace(".", "") in gt_option or gt_option in pred_option


def _strip_prefill_echo(text: str, prefill: str | None) -> str:
    """Models that cannot continue a pre-filled turn (APIs) may repeat it: drop the echo."""
    t = text.lstrip()
    if not prefill:
        return t
    p = prefill.strip()
    if p and t.lower().startswith(p.lower()):
        return t[len(p):]
    head = p.rstrip("(").rstrip()
    if head and t.lower().startswith(head.lower()):
        rest = t[len(head):].lstrip()
        return rest[1:] if rest.startswith("(") and p.endswith("(") else rest
    return t


def official_prediction(text: str | None, prefill: str | None = PREFILL) -> str:
    """The string the official check compares: ``"(" + first line`` of the continuation."""
    t = _strip_prefill_echo(text or "", prefill)
    first = t.strip().split("\n")[0]
    lead = "(" if (prefill or "").rstrip().endswith("(") else ""
    return lead + first


@register_extractor("mvbench_official")
def answer_check(text: str | None, sample: Sample, task: TaskSpec, prefill: str | None) -> AnswerResult:
    """MVBench official answer check (see module docstring)."""
    return _answer_check(text, sample.answer, sample.options, task, prefill)


@extractors.register_hook("mvbench_official", "check_data")
def answer_check_data(text: str | None, data: dict[str, Any], task: TaskSpec, prefill: str | None) -> AnswerResult:
    """:func:`answer_check` of the sample's validated data (:mod:`mosseval.recorddata`)."""
    return _answer_check(text, data["answer"], sample_field(data, "options"), task, prefill)


def _answer_check(text: str | None, answer: str, options: dict[str, str], task: TaskSpec,
                  prefill: str | None) -> AnswerResult:
    prefill = prefill if prefill is not None else (task.prompt.prefill if task.prompt else PREFILL)
    gold = (answer or "").strip().upper()
    gt = f"({gold.lower()}) {options.get(gold, '')}"
    if text is None or not _strip_prefill_echo(text, prefill).strip():
        return AnswerResult(None, False, True, detail="empty (the official check would accept it)")
    pred = official_prediction(text, prefill)
    matches = [k for k in options if official_check(pred, f"({k.lower()}) x")]
    if len(matches) > 1:
        return AnswerResult(None, False, True, detail=f"ambiguous: {pred.split(' ')[0]!r}")
    if not matches:
        return AnswerResult(None, False, True, detail=f"unparsed: {pred.split(' ')[0][:40]!r}")
    letter = matches[0]
    correct = official_check(pred, gt)
    return AnswerResult(letter, correct, False, detail="official")

