"""VCR-Bench (arXiv 2504.07956, Hugging Face ``VLM-Reasoning/VCR-Bench``): loader, the official
answer rules and CoT score, and an offline rule score.

Published layout (the dataset repository; ``v1/videos/video.zip`` unzipped in place)::

    v1/videos/meta_info_video.json        a JSON list of items (below)
    v1/videos/video/<source>/<name>.mp4   the 859 videos (``video_path`` is relative to v1/videos/)
    VCR-Bench.tsv                         VLMEvalKit's copy of the annotations (not needed here)

Items: ``id`` (int), ``video_path`` (``video/<source>/<name>.mp4``), ``duration`` (s),
``dimension`` (one of the 7 below), ``question`` (for multiple choice the options are already
appended inline: ``"…?A. x\\nB. y…"``), ``multiple-choice`` (bool, hyphenated key), ``choices``
(``{"A".."D"}``, empty strings for open-ended), ``answer`` (a letter, free text, ``"[start, end]"``
seconds for temporal grounding or ``"[x1, y1, x2, y2]"`` pixels for spatio-temporal grounding) and
``reasoning``: the annotated steps, one string each, ``"N. 0:07-0:55, text"`` (also ``"From 0:33
to 0:36, …"``).

Reference steps: ``reasoning`` serialized by :func:`mosseval.prr.steps.steps_from_list` (the marker
dropped, every sentence of a step keeping the step's time range on ``ReferenceStep.start/end``);
the raw list stays in ``metadata.reasoning`` for the CoT judge, which receives it as published.

Official scoring (``eval_code/eval.py``, ``cau_acc.py``, ``cau_total.py`` of the authors'
repository ``zhishuifeiqian/VCR-Bench``), reproduced here function by function with their quirks:

* **accuracy**: GPT-4o extracts the final answer; when gold and extracted answer are both
  intervals (``ast.literal_eval`` gives a list of two numbers) the item is correct at temporal
  IoU > 0.7; when both are boxes (``[…]`` holding exactly four ``int()``-parsable parts) at IoU > 0.5;
  otherwise GPT-4o compares the two answers and says 1/0. An exception while scoring (e.g. a box of
  zero area) scores ``0``; accuracy counts ``answer_scoring == '1'`` over the items of the output
  file, reported overall, per dimension and per duration bucket (``<= 60``, ``<= 300``, ``> 300``
  seconds; a missing duration counts as 0). Items whose processing failed are *absent* from the
  official output file, i.e. out of the denominator; mosseval counts them wrong.
* **CoT score**: recall: the judge types each reference step (Video Description / Logical
  Inference / Background Review) and marks it Matched / Unmatched; precision: the judge splits the
  response into at most 35 steps, typed the same way and marked Matched / Wrong / Redundant (a time
  within 3 s is correct). Per item, overall recall and precision count Video + Logical steps only
  (since the authors' 2025-07-15 update; VLMEvalKit's copy still counts Background too:
  ``include_background=True``); a value is ``''`` when its denominator is 0 and is then left out
  of that average. Dataset precision and recall are item means; F1 = 2PR / (P + R) of those means.

Offline (``vcrbench_rules``, always labelled approximate): intervals and boxes are read from the
response by rules and scored by the official IoU rules; multiple choice uses the strict letter
extractor; open-ended answers the conservative match of :mod:`mosseval.data.answers`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from mosseval.data import register_holds_data, register_loader
from mosseval.data.answers import final_answer, open_ended_match
from mosseval.data.files import as_list, read_json_list, unique_ids
from mosseval.data.files import find_annotations as find_files
from mosseval.errors import ConfigError, DataNotFoundError
from mosseval.extract import AnswerResult, extract_choice
from mosseval.prr.steps import CLOCK_PATTERN, clock_seconds, steps_from_list
from mosseval.recorddata import sample_field
from mosseval.records import Sample, TaskSpec, VideoRef
from mosseval.scoring import extractors, register_extractor

ANNOTATIONS = ("v1/videos/meta_info_video.json", "meta_info_video.json")
"""Where ``meta_info_video.json`` sits under the data root (the repository root or ``v1/videos``)."""

COT_PROMPT = "Please provide a step-by-step solution to the given question."
"""The CoT instruction every model received (paper, section 4.1)."""

DIMENSIONS: dict[str, str] = {
    "Fundamental Temporal Reasoning": "FTR",
    "Video Temporal Counting": "VTC",
    "Video Temporal Grounding": "VTG",
    "Video Knowledge Reasoning": "VKR",
    "Temporal Spatial Reasoning": "TSR",
    "Video Plot Analysis": "VPA",
    "Temporal Spatial Grounding": "TSG",
}
"""The seven dimensions and the abbreviations of the paper's tables."""

DURATION_BUCKETS = ("0-60", "60-300", "300+")
TIME_IOU_THRESHOLD = 0.7
BOX_IOU_THRESHOLD = 0.5
MAX_PRECISION_STEPS = 35
STEP_TYPES = ("Video Description Steps", "Logical Inference Steps", "Background Review Steps")
"""The judge's step types, as the official prompts and counters spell them."""

OBTAIN = (
    "git clone https://huggingface.co/datasets/VLM-Reasoning/VCR-Bench DIR (with git-lfs), or "
    "`huggingface-cli download VLM-Reasoning/VCR-Bench --repo-type dataset --local-dir DIR`; then "
    "`cd DIR/v1/videos && unzip video.zip` and pass --data-dir DIR (or set $MOSSEVAL_VCRBENCH_DIR)"
)


# ----------------------------------------------------------------------------- official rules


def duration_bucket(duration: Any) -> str:
    """``cau_acc.py``'s bucket: ``<= 60`` s, ``<= 300`` s, else ``300+`` (missing counts as 0)."""
    d = 0 if duration is None else duration
    if d <= 60:
        return "0-60"
    if d <= 300:
        return "60-300"
    return "300+"


def official_is_interval(text: Any) -> bool:
    """``is_valid_time_interval``: ``ast.literal_eval`` gives a list of two ints/floats.

    Quirks kept: ``True``/``False`` count as numbers (``bool`` is an ``int``), a tuple is not a
    list; anything ``literal_eval`` cannot read is not an interval."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return False
    return isinstance(value, list) and len(value) == 2 and all(isinstance(x, (int, float)) for x in value)


def official_is_box(text: Any) -> bool:
    """``is_valid_space_interval``: ``[`` … ``]`` with exactly four comma-separated ``int()``-parsable
    parts (so ``"[1.5, 2, 3, 4]"`` is not a box, ``"[ 1, 2, 3, 4 ]"`` is). A non-string raises, as
    upstream (the caller turns that into a 0 score)."""
    if not (text.startswith("[") and text.endswith("]")):
        return False
    parts = text[1:-1].split(",")
    if len(parts) != 4:
        return False
    for part in parts:
        try:
            int(part.strip())
        except ValueError:
            return False
    return True


def official_time_iou(a: list[float], b: list[float]) -> float:
    """``calculate_time_iou``: intersection over the hull of the two intervals (0 when the hull is empty)."""
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    if union == 0:
        return 0
    return inter / union


def official_box_iou(a: list[int], b: list[int]) -> float:
    """``calculate_space_iou`` (a zero-area union raises ``ZeroDivisionError``, as upstream)."""
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    if x2 < x1 or y2 < y1:
        return 0.0
    inter = (x2 - x1) * (y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def _box(text: str) -> list[int]:
    return [int(p.strip()) for p in text[1:-1].split(",")]


def official_rule_score(gold: Any, extracted: Any) -> str | int | None:
    """``match_answer`` up to the judge call: ``'1'``/``'0'`` by the IoU rules, ``0`` (an int, i.e.
    wrong) when scoring raised, ``None`` when the answer must go to the scoring judge."""
    try:
        if official_is_interval(gold) and official_is_interval(extracted):
            iou = official_time_iou(ast.literal_eval(gold), ast.literal_eval(extracted))
            return "1" if iou > TIME_IOU_THRESHOLD else "0"
        if official_is_box(gold) and official_is_box(extracted):
            return "1" if official_box_iou(_box(gold), _box(extracted)) > BOX_IOU_THRESHOLD else "0"
    except Exception:  # noqa: BLE001 - upstream: any error while scoring -> 0
        return 0
    return None


def official_accuracy(items: list[dict[str, Any]]) -> dict[str, Any]:
    """``cau_acc.py``: overall, per dimension and per duration bucket; ``items`` are dicts with
    ``answer_scoring`` (``'1'`` is correct, anything else wrong), ``dimension`` and ``duration``."""
    def acc(group: list[dict[str, Any]]) -> float:
        return sum(1 for it in group if it.get("answer_scoring") == "1") / len(group) if group else 0

    dims: dict[str, list[dict[str, Any]]] = {}
    buckets: dict[str, list[dict[str, Any]]] = {b: [] for b in DURATION_BUCKETS}
    for it in items:
        if it.get("dimension"):
            dims.setdefault(it["dimension"], []).append(it)
        buckets[duration_bucket(it.get("duration", 0))].append(it)
    return {"overall_accuracy": acc(items), "dimension_accuracy": {d: acc(g) for d, g in dims.items()},
            "duration_accuracy": {b: acc(g) for b, g in buckets.items()}}


def _counts(judgments: list[dict[str, Any]], labels: tuple[str, ...]) -> dict[str, dict[str, int]]:
    stats = {t: {lab: 0 for lab in labels} for t in STEP_TYPES}
    for j in judgments:
        stats[j["step_type"]][j["judgment"]] += 1  # an unknown type or label raises, as upstream
    return stats


def _ratio(num: int, den: int) -> float | str:
    return "" if den == 0 else num / den


def official_recall(judgments: list[dict[str, Any]], include_background: bool = False) -> dict[str, float | str]:
    """``recall()`` of eval.py from the judge's per-reference-step verdicts."""
    st = _counts(judgments, ("Matched", "Unmatched"))
    out: dict[str, float | str] = {}
    for key, t in (("Video", STEP_TYPES[0]), ("logic", STEP_TYPES[1]), ("background", STEP_TYPES[2])):
        out[f"{key}_recall"] = _ratio(st[t]["Matched"], st[t]["Matched"] + st[t]["Unmatched"])
    used = STEP_TYPES if include_background else STEP_TYPES[:2]
    out["overall_recall"] = _ratio(sum(st[t]["Matched"] for t in used),
                                   sum(st[t]["Matched"] + st[t]["Unmatched"] for t in used))
    return out


def official_precision(judgments: list[dict[str, Any]], include_background: bool = False) -> dict[str, float | str]:
    """``precision()`` of eval.py from the judge's per-response-step verdicts (an empty list raises
    ``ZeroDivisionError`` in the efficiency, as upstream: that item drops out of the official file)."""
    st = _counts(judgments, ("Matched", "Wrong", "Redundant"))
    out: dict[str, float | str] = {}
    for key, t in (("Video", STEP_TYPES[0]), ("logic", STEP_TYPES[1]), ("background", STEP_TYPES[2])):
        out[f"{key}_precision"] = _ratio(st[t]["Matched"], st[t]["Matched"] + st[t]["Wrong"])
    used = STEP_TYPES if include_background else STEP_TYPES[:2]
    matched = sum(st[t]["Matched"] for t in used)
    wrong = sum(st[t]["Wrong"] for t in used)
    out["overall_precision"] = _ratio(matched, matched + wrong)
    total = sum(sum(c.values()) for c in st.values())
    redundant = sum(c["Redundant"] for c in st.values())
    out["efficiency"] = (total - redundant) / total
    return out


def official_cot_score(items: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """``cau_total.py``: per metric (``Video``, ``logic``, ``overall``), precision and recall are the
    means over the items where they are defined (not ``''``), F1 = 2PR / (P + R) of those means."""
    out: dict[str, dict[str, float]] = {}
    for metric in ("Video", "logic", "overall"):
        ps = [it[f"{metric}_precision"] for it in items if it.get(f"{metric}_precision", "") not in ("", None)]
        rs = [it[f"{metric}_recall"] for it in items if it.get(f"{metric}_recall", "") not in ("", None)]
        p = sum(ps) / len(ps) if ps else 0
        r = sum(rs) / len(rs) if rs else 0
        out[metric] = {"precision": p, "recall": r, "f1": (2 * p * r) / (p + r) if (p + r) > 0 else 0}
    return out


RECALL_LABELS = ("Matched", "Unmatched")
PRECISION_LABELS = ("Matched", "Wrong", "Redundant")
_FENCED_JSON_RE = re.compile(r"```json\n(.*?)```", re.DOTALL)


def parse_step_judgments(text: str | None, labels: tuple[str, ...]) -> list[dict[str, str]]:
    """The judge's JSON array of ``{step, step_type, judgment}`` (recall or precision reply).

    Upstream reads the block fenced as ```` ```json ```` (VLMEvalKit: the whole reply) and asks again
    until it parses and every ``step_type``/``judgment`` is a known label; here a reply that cannot be
    read that way raises ``ValueError`` (a judge error, retried by ``--retry-errors``). One departure:
    the precision prompt itself names the label "Match", so "Match" is read as "Matched"."""
    import json

    if not text or not text.strip():
        raise ValueError("empty reply")
    m = _FENCED_JSON_RE.search(text)
    body = m.group(1).strip() if m else text.strip()
    if not m and not body.startswith("["):
        start, end = body.find("["), body.rfind("]")
        if start < 0 or end <= start:
            raise ValueError("no JSON array in the reply")
        body = body[start:end + 1]
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the JSON array does not parse ({exc.msg})") from None
    if not isinstance(data, list):
        raise ValueError("the reply is not a JSON array")
    out: list[dict[str, str]] = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise ValueError(f"element {i} is not an object")
        step_type, judgment = str(item.get("step_type", "")).strip(), str(item.get("judgment", "")).strip()
        if judgment == "Match" and "Matched" in labels:
            judgment = "Matched"
        if step_type not in STEP_TYPES:
            raise ValueError(f"element {i}: unknown step_type {step_type!r}")
        if judgment not in labels:
            raise ValueError(f"element {i}: unknown judgment {judgment!r} (expected one of {list(labels)})")
        out.append({"step": str(item.get("step", "")), "step_type": step_type, "judgment": judgment})
    return out


def scoring_reply_correct(text: str | None) -> bool:
    """The scoring judge's verdict as upstream reads it: correct only when the reply is ``1`` (here
    after trimming surrounding whitespace, which upstream does not do)."""
    return (text or "").strip() == "1"


def extraction_reply(text: str | None) -> str:
    """The extracted answer (``Z``: the response gives none / matches no option)."""
    return (text or "").strip()


def item_f1(precision: float | str | None, recall: float | str | None) -> float | None:
    """The CoT F1 of one item (for correlations; the dataset F1 is computed from means)."""
    if precision in ("", None) or recall in ("", None):
        return None
    p, r = float(precision), float(recall)  # type: ignore[arg-type]
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


# ----------------------------------------------------------------------------- loading


def find_annotations(root: Path, file: str | None = None) -> Path | None:
    found = find_files(root, file, ANNOTATIONS)
    return found[0] if found else None


@register_holds_data("vcrbench")
def holds_data(task: TaskSpec, path: Path) -> bool:
    """``meta_info_video.json`` is under ``path`` (the repository root or ``v1/videos``)."""
    return find_annotations(path, task.loader_args.get("file")) is not None


def answer_kind(item: dict[str, Any]) -> str:
    """``choice``, ``interval`` (VTG), ``box`` (TSG) or ``text``, by the official validity rules."""
    if item.get("multiple-choice"):
        return "choice"
    gold = str(item.get("answer", ""))
    if official_is_interval(gold):
        return "interval"
    if official_is_box(gold):
        return "box"
    return "text"


def parse_item(item: Any, task_name: str, base: str, where: str, index: int) -> Sample:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: item {index} must be an object")
    missing = [k for k in ("id", "video_path", "question", "answer") if item.get(k) in (None, "")]
    if "multiple-choice" not in item:
        missing.append("multiple-choice")
    if missing:
        raise ConfigError(f"{where}: item {index} lacks field(s) {missing}",
                          hint="VCR-Bench items carry id, video_path, question, multiple-choice, choices, answer, "
                               "reasoning")
    mc = bool(item["multiple-choice"])
    choices = item.get("choices") or {}
    if not isinstance(choices, dict):
        raise ConfigError(f"{where}: item {item['id']!r}: `choices` must be a mapping letter -> text")
    answer = str(item["answer"]).strip()
    options: dict[str, str] = {}
    if mc:
        options = {str(k).strip().upper(): str(v) for k, v in sorted(choices.items()) if str(v or "").strip()}
        answer = answer.upper()
        if answer not in options:
            raise ConfigError(f"{where}: item {item['id']!r}: answer {answer!r} is not one of its options "
                              f"{list(options)}")
    reasoning = as_list(item.get("reasoning"))
    if item.get("reasoning") is not None and reasoning is None:
        raise ConfigError(f"{where}: item {item['id']!r}: `reasoning` must be a list of steps")
    reasoning = [str(r) for r in (reasoning or []) if str(r or "").strip()]
    rel = str(item["video_path"]).replace("\\", "/")
    dimension = item.get("dimension")
    duration = item.get("duration")
    meta: dict[str, Any] = {
        "dimension": dimension,
        "dimension_abbr": DIMENSIONS.get(str(dimension)),
        "duration": duration,
        "duration_bucket": duration_bucket(duration),
        "answer_kind": answer_kind(item),
        "source": rel.split("/")[1] if rel.count("/") >= 2 else None,
        "reasoning": reasoning,
    }
    return Sample(
        id=str(item["id"]),
        task=task_name,
        video=VideoRef(path=f"{base}/{rel}" if base else rel),
        question=str(item["question"]),
        options=options,
        answer=answer,
        question_type="multiple-choice" if mc else "open-ended",
        reference_steps=steps_from_list(reasoning),
        category=str(dimension) if dimension is not None else None,
        metadata=meta,
    )


@register_loader("vcrbench")
def load(task: TaskSpec, root: Path) -> list[Sample]:
    """``loader_args``: ``file`` (annotation file relative to the root), ``dimension`` (keep one),
    ``answer_kind`` (keep one of choice / text / interval / box)."""
    root = Path(root)
    args = task.loader_args
    path = find_annotations(root, args.get("file"))
    if path is None:
        looked = [root / args["file"]] if args.get("file") else [root / a for a in ANNOTATIONS]
        raise DataNotFoundError(
            f"{task.name}: VCR-Bench annotations not found. Looked in:\n" + "\n".join(f"  - {p}" for p in looked),
            hint=task.data.obtain or OBTAIN)
    base = path.parent.relative_to(root).as_posix() if path.parent != root else ""
    only_dim, only_kind = args.get("dimension"), args.get("answer_kind")
    zipped = (path.parent / "video.zip").is_file() and not (path.parent / "video").is_dir()
    samples = unique_ids((s for s in (parse_item(raw, task.name, base, str(path), i)
                                      for i, raw in enumerate(read_json_list(path)))
                          if (not only_dim or s.metadata["dimension"] == only_dim)
                          and (not only_kind or s.metadata["answer_kind"] == only_kind)), str(path))
    for s in samples if zipped else []:
        s.metadata["media_hint"] = f"the videos are still zipped: unzip {path.parent / 'video.zip'} in place"
    return samples


# ----------------------------------------------------------------------------- offline rule score

_NUM = r"[-+]?\d+(?:\.\d+)?"
_BRACKET_PAIR_RE = re.compile(rf"\[\s*({_NUM})\s*(?:s|sec|seconds)?\s*,\s*({_NUM})\s*(?:s|sec|seconds)?\s*\]")
_BRACKET_BOX_RE = re.compile(rf"\[\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*\]")
_SECONDS_RANGE_RE = re.compile(
    rf"(?:from\s+)?({_NUM})\s*(?:s|sec|secs|seconds)?\s*(?:-|–|to|until)\s*({_NUM})\s*(?:s|sec|secs|seconds)\b",
    re.IGNORECASE)
_CLOCK_RANGE_RE = re.compile(rf"(?:from\s+)?{CLOCK_PATTERN}\s*(?:-|–|—|to|until)\s*{CLOCK_PATTERN}",
                             re.IGNORECASE)
_START_END_RE = re.compile(
    rf"start(?:\s+time)?\s*[:=]?\s*\**\s*(?:{CLOCK_PATTERN}|({_NUM})\s*s?)"
    rf".{{0,80}}?end(?:\s+time)?\s*[:=]?\s*\**\s*(?:{CLOCK_PATTERN}|({_NUM})\s*s?)",
    re.IGNORECASE | re.DOTALL)


def _clock(groups: tuple[str | None, ...]) -> float:
    return clock_seconds(*groups)  # type: ignore[arg-type]


def extract_interval(text: str) -> list[float] | None:
    """The last ``[start, end]`` (seconds) the answer states: ``[12, 20.5]``, ``0:12 - 0:20``,
    ``from 12 s to 20 s``, ``Start time: 00:12 … End time: 00:20``."""
    found: list[tuple[int, list[float]]] = []
    for m in _BRACKET_PAIR_RE.finditer(text):
        found.append((m.start(), [float(m.group(1)), float(m.group(2))]))
    for m in _CLOCK_RANGE_RE.finditer(text):
        g = m.groups()
        found.append((m.start(), [_clock(g[:4]), _clock(g[4:8])]))
    for m in _SECONDS_RANGE_RE.finditer(text):
        found.append((m.start(), [float(m.group(1)), float(m.group(2))]))
    for m in _START_END_RE.finditer(text):
        g = m.groups()
        start = _clock(g[0:4]) if g[1] is not None else float(g[4])
        end = _clock(g[5:9]) if g[6] is not None else float(g[9])
        found.append((m.start(), [start, end]))
    if not found:
        return None
    return max(found, key=lambda x: x[0])[1]


def extract_box(text: str) -> list[float] | None:
    """The last ``[x1, y1, x2, y2]`` the answer states."""
    boxes = [[float(v) for v in m.groups()] for m in _BRACKET_BOX_RE.finditer(text)]
    return boxes[-1] if boxes else None


def _answer_region(text: str) -> str:
    block = final_answer(text)
    return block if block else text


@register_extractor("vcrbench_rules")
def answer_check(text: str | None, sample: Sample, task: TaskSpec, prefill: str | None) -> AnswerResult:
    """Offline approximation of VCR-Bench's judged accuracy (always ``approximate=True``)."""
    return _answer_check(text, sample.metadata, sample.options, sample.answer)


@extractors.register_hook("vcrbench_rules", "check_data")
def answer_check_data(text: str | None, data: dict[str, Any], task: TaskSpec, prefill: str | None) -> AnswerResult:
    """:func:`answer_check` of the sample's validated data (:mod:`mosseval.recorddata`)."""
    return _answer_check(text, sample_field(data, "metadata"), sample_field(data, "options"), data["answer"])


def _answer_check(text: str | None, metadata: dict[str, Any], options: dict[str, str], answer: str) -> AnswerResult:
    if text is None or not text.strip():
        return AnswerResult(None, False, True, approximate=True, detail="empty")
    kind = metadata.get("answer_kind") or "text"
    if kind == "choice":
        ex = extract_choice(text, options)
        if not ex.parsed:
            return AnswerResult(None, False, True, approximate=True, detail=ex.status)
        return AnswerResult(ex.letter, ex.letter == answer, False, approximate=True, detail=ex.rule)
    region = _answer_region(text)
    if kind == "interval":
        got = extract_interval(region) or extract_interval(text)
        if got is None:
            return AnswerResult(None, False, True, approximate=True, detail="no interval")
        gold = [float(x) for x in ast.literal_eval(answer)]
        iou = official_time_iou(gold, got)
        return AnswerResult(f"[{got[0]:g}, {got[1]:g}]", iou > TIME_IOU_THRESHOLD, False, approximate=True,
                            detail=f"time IoU {iou:.3f}")
    if kind == "box":
        box = extract_box(region) or extract_box(text)
        if box is None:
            return AnswerResult(None, False, True, approximate=True, detail="no box")
        try:
            iou = official_box_iou([float(x) for x in _box(answer)], box)
        except ZeroDivisionError:
            iou = 0.0
        shown = "[" + ", ".join(f"{v:g}" for v in box) + "]"
        return AnswerResult(shown, iou > BOX_IOU_THRESHOLD, False, approximate=True, detail=f"box IoU {iou:.3f}")
    cand = final_answer(text)
    if cand is None:
        lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
        cand = lines[-1] if lines else ""
    ok, rule = open_ended_match(cand, answer)
    return AnswerResult(cand or None, ok, not cand, approximate=True, detail=rule)


# ----------------------------------------------------------------------------- judge rubrics
#
# The official judged scores run through `mosseval judge` with the rubrics in judges/vcrbench-*.yaml, whose
# prompts are the authors' (eval_code/prompt.py) verbatim. These are their named parsers, the IoU precheck
# and the aggregators (declared in mosseval.judge.extensions).

from mosseval.judge.extensions import parsers, register_aggregator, register_parser  # noqa: E402
from mosseval.judge.parse import ParsedVerdict  # noqa: E402
from mosseval.records import Estimate, JudgeVerdict, SampleRecord  # noqa: E402

NO_ANSWER = "Z"
"""What the extraction judge answers when the response gives no (matching) final answer."""


@register_parser("vcrbench-extract")
def parse_extraction(rubric: Any, text: str | None, parsed: dict[str, Any] | None) -> ParsedVerdict:
    """Stage 1 of accuracy: the extracted final answer (score 1 when there is one, 0 for ``Z``)."""
    ans = extraction_reply(text)
    if not ans:
        return ParsedVerdict(error="empty reply")
    return ParsedVerdict(extracted_answer=ans, score=0.0 if ans == NO_ANSWER else 1.0)


@register_parser("vcrbench-score")
def parse_scoring(rubric: Any, text: str | None, parsed: dict[str, Any] | None) -> ParsedVerdict:
    """Stage 2 of accuracy: the scoring judge's 1/0 (anything but ``1`` is wrong, as upstream)."""
    ok = scoring_reply_correct(text)
    reply = (text or "").strip()
    return ParsedVerdict(correct=ok, score=1.0 if ok else 0.0, rationale=f"scoring judge replied {reply[:40]!r}",
                         metrics={"nonbinary_reply": 0.0 if reply in ("0", "1") else 1.0})


@parsers.register_hook("vcrbench-score", "precheck")
def iou_precheck(rubric: Any, rec: SampleRecord, prior: JudgeVerdict | None) -> ParsedVerdict | None:
    """The official IoU rules, decided locally when gold and extracted answer are both intervals or both
    boxes (no scoring request); a scoring exception is wrong (``0``), as upstream."""
    if prior is None or prior.extracted_answer is None:
        return None
    rule = official_rule_score(rec.sample.answer, prior.extracted_answer)
    if rule is None:
        return None
    ok = rule == "1"
    how = "temporal IoU > 0.7" if official_is_interval(rec.sample.answer) else "box IoU > 0.5"
    return ParsedVerdict(correct=ok, score=1.0 if ok else 0.0, extracted_answer=prior.extracted_answer,
                         rationale=f"official rule ({how}): {'met' if ok else 'not met'}; no scoring request")


def _judgment_parser(labels: tuple[str, ...], official: Any, prefix: str) -> Any:
    def parse(rubric: Any, text: str | None, parsed: dict[str, Any] | None) -> ParsedVerdict:
        try:
            judgments = parse_step_judgments(text, labels)
            values = official(judgments)
        except (ValueError, KeyError, ZeroDivisionError) as exc:
            return ParsedVerdict(error=f"unreadable {prefix} judgement: {exc}")
        metrics = {k: float(v) for k, v in values.items() if v != ""}
        metrics["n_steps"] = float(len(judgments))
        overall = values.get(f"overall_{prefix}")
        return ParsedVerdict(score=None if overall == "" else float(overall), metrics=metrics,
                             rationale=f"{len(judgments)} steps judged")
    return parse


register_parser("vcrbench-recall")(_judgment_parser(RECALL_LABELS, official_recall, "recall"))
register_parser("vcrbench-precision")(_judgment_parser(PRECISION_LABELS, official_precision, "precision"))


def _mean(pairs: list[tuple[SampleRecord, float]]) -> Estimate:
    from mosseval.stats import mean_ci

    return mean_ci([x for _, x in pairs], [r.sample.cluster_key for r, _ in pairs])


@register_aggregator("vcrbench-cot")
def aggregate_cot(rubric: Any, pairs: list[tuple[SampleRecord, JudgeVerdict]]) -> dict[str, Estimate]:
    """The CoT score of ``cau_total.py`` from the precision verdicts, which carry their item's recall
    (judged first: ``after: vcrbench-recall``): per part (``Video`` = perception, ``logic`` = reasoning,
    ``overall``) the mean precision and recall over the items where each is defined, and
    ``F1 = 2PR / (P + R)`` of those means (an ``Estimate`` without interval: it is a function of two
    means); plus the correlation of the item-level CoT F1 with the PRR where both exist (Pearson and
    Spearman, cluster-bootstrap intervals)."""
    from mosseval.stats import correlation

    out: dict[str, Estimate] = {}
    rec_key = "vcrbench-recall."
    for part in ("Video", "logic", "overall"):
        p = [(r, v.metrics[f"{part}_precision"]) for r, v in pairs if f"{part}_precision" in v.metrics]
        rc = [(r, v.metrics[rec_key + f"{part}_recall"]) for r, v in pairs if rec_key + f"{part}_recall" in v.metrics]
        pe, re_ = _mean(p), _mean(rc)
        out[f"{part}_precision"], out[f"{part}_recall"] = pe, re_
        if pe.value is not None and re_.value is not None:
            f1 = 2 * pe.value * re_.value / (pe.value + re_.value) if pe.value + re_.value > 0 else 0.0
            out[f"{part}_f1"] = Estimate(value=f1, n=min(pe.n, re_.n), method="2PR/(P+R) of the item means")
    eff = [(r, v.metrics["efficiency"]) for r, v in pairs if "efficiency" in v.metrics]
    if eff:
        out["efficiency"] = _mean(eff)
    both = [(r, item_f1(v.metrics.get("overall_precision", ""), v.metrics.get(rec_key + "overall_recall", "")))
            for r, v in pairs]
    both = [(r, f) for r, f in both if f is not None and r.score is not None and r.score.prr is not None]
    if both:
        xs = [r.score.prr for r, _ in both]  # type: ignore[union-attr]
        ys = [f for _, f in both]
        cl = [r.sample.cluster_key for r, _ in both]
        out["prr_vs_cot_f1_pearson"] = correlation(xs, ys, cl, method="pearson")
        out["prr_vs_cot_f1_spearman"] = correlation(xs, ys, cl, method="spearman")
    return out


@register_aggregator("vcrbench-answer")
def aggregate_answer(rubric: Any, pairs: list[tuple[SampleRecord, JudgeVerdict]]) -> dict[str, Estimate]:
    """Beside the judged accuracy (judge errors counted wrong): the official-style accuracy over the
    items that were scored (the official script drops items whose judging failed), the share decided by
    the IoU rules, and per-duration-bucket accuracy as ``cau_acc.py`` reports it."""
    from mosseval.stats import mean_ci

    out: dict[str, Estimate] = {}
    vals = [(r, 1.0 if v.correct else 0.0) for r, v in pairs]
    if vals:
        out["accuracy_scored_items_only"] = mean_ci([x for _, x in vals], [r.sample.cluster_key for r, _ in vals],
                                                    binary=True)
        out["decided_by_rule"] = mean_ci([1.0 if (v.rationale or "").startswith("official rule") else 0.0
                                          for _, v in pairs], None, binary=True)
    return out
