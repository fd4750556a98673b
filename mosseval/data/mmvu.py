"""MMVU (yale-nlp/MMVU, validation split): loader, discipline mapping and the offline rule score.

Published layout (Hugging Face dataset ``yale-nlp/MMVU``)::

    validation.json              a list of items (see below)
    videos/<Subject_Dir>/<n>.mp4 the videos

Items: ``id``, ``video`` (URL ending in ``videos/<Subject_Dir>/<n>.mp4``), ``youtube_url``,
``question_type`` ("multiple-choice" | "open-ended"), ``metadata: {subject, textbook, knowledge,
rationale}``, ``question``, ``choices`` (always keys A-E; empty strings for open-ended) and
``answer`` (a letter, or free text). The Hub's parquet conversion (and the lmms-lab repack with its
``video_path`` column) carry the same fields and are read too (needs ``pyarrow``).

The video's folder is taken from the URL, not from the subject: a few items live in another
subject's folder. There is no discipline field; ``DISCIPLINES`` maps the 27 subjects to the
paper's four disciplines.

Scoring. The official protocol has GPT-4o judge every answer (MC included) with the structured
output ``{extracted_answer, correct}`` (judge rubric ``mmvu-official``, run with ``mosseval
judge``). Without a judge, ``answer_check`` gives an offline *approximate* score (always flagged
``approximate``): it reads the final answer (the ``<answer>`` block, else the text after the last
"final answer is", else a final "Answer:" line), strips the official ``'Answer: …'`` wrapper, and

* multiple choice: the strict letter extractor on that answer (``"B, not A"`` is B; several
  letters are ambiguous, i.e. wrong; the article "a" is never option A);
* open-ended: correct only on a normalised exact match with the gold answer or one of its aliases
  (``"Depth-First Search (DFS)"`` → ``depth first search``, ``dfs``), on the gold phrase stated
  in a short answer without negation or alternatives, or on an equal number (1 % tolerance).
  An empty answer is never correct (unlike substring rules, which accept it), and a fragment of
  the gold answer is not the gold answer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from mosseval.data import register_holds_data, register_loader
from mosseval.data.answers import _WRAP, final_answer, normalize, open_ended_match  # noqa: F401 (re-exported)
from mosseval.errors import ConfigError, DataNotFoundError, UnsafePathError
from mosseval.extract import AnswerResult, extract_choice
from mosseval.paths import safe_join
from mosseval.prr.steps import steps_from_paragraph
from mosseval.recorddata import sample_field
from mosseval.records import Sample, TaskSpec, VideoRef
from mosseval.scoring import extractors, register_extractor

JUDGE_RUBRIC = "mmvu-official"
"""Name of the judge rubric that computes the official MMVU score (the judge issue)."""

SCIENCE = "Science"
ENGINEERING = "Engineering"
HEALTHCARE = "Healthcare"
HUMANITIES = "Humanities & Social Science"

DISCIPLINES: dict[str, str] = {
    # Science (10)
    "Astronomy": SCIENCE,
    "Biology": SCIENCE,
    "Chemistry": SCIENCE,
    "Electromagnetism": SCIENCE,
    "Geography": SCIENCE,
    "Materials Science": SCIENCE,
    "Mechanics": SCIENCE,
    "Modern Physics": SCIENCE,
    "Neurobiology": SCIENCE,
    "Thermodynamics": SCIENCE,
    # Engineering (6)
    "Biomedical Engineering": ENGINEERING,
    "Civil Engineering": ENGINEERING,
    "Computer Science": ENGINEERING,
    "Electrical Engineering": ENGINEERING,
    "Electronics and Communication": ENGINEERING,
    "Mechanical Engineering": ENGINEERING,
    # Healthcare (5)
    "Basic Medicine": HEALTHCARE,
    "Clinical Medicine": HEALTHCARE,
    "Dentistry": HEALTHCARE,
    "Pharmacy": HEALTHCARE,
    "Preventive Medicine": HEALTHCARE,
    # Humanities & Social Science (6)
    "Art": HUMANITIES,
    "Economics": HUMANITIES,
    "History": HUMANITIES,
    "Law": HUMANITIES,
    "Literature": HUMANITIES,
    "Management": HUMANITIES,
}

QUESTION_TYPES = ("multiple-choice", "open-ended")

OBTAIN = (
    "download https://huggingface.co/datasets/yale-nlp/MMVU (`huggingface-cli download yale-nlp/MMVU "
    "--repo-type dataset --local-dir DIR`; validation.json + videos/) and pass --data-dir DIR "
    "(or set $MOSSEVAL_MMVU_DIR)"
)


def discipline_of(subject: str | None) -> str | None:
    if not subject:
        return None
    key = " ".join(str(subject).replace("_", " ").split())
    if key in DISCIPLINES:
        return DISCIPLINES[key]
    lowered = {k.lower(): v for k, v in DISCIPLINES.items()}
    return lowered.get(key.lower())


# ----------------------------------------------------------------------------- loading


def annotation_candidates(root: Path, split: str) -> list[Path]:
    return [root / f"{split}.json", root / "data" / f"{split}.json", root / f"{split}.jsonl"]


def _parquet_files(root: Path, split: str) -> list[Path]:
    patterns = [f"{split}-*.parquet", f"data/{split}-*.parquet", f"{split}/*.parquet",
                f"default/{split}/*.parquet", f"data/{split}/*.parquet"]
    for pattern in patterns:
        found = sorted(root.glob(pattern))
        if found:
            return found
    return []


def find_annotations(root: Path, split: str = "validation", file: str | None = None) -> list[Path]:
    if file:
        path = root / file
        return [path] if path.is_file() else []
    for path in annotation_candidates(root, split):
        if path.is_file():
            return [path]
    return _parquet_files(root, split)


def looks_like_root(path: Path) -> bool:
    return bool(find_annotations(path))


@register_holds_data("mmvu")
def holds_data(task: TaskSpec, path: Path) -> bool:
    """``validation.json`` (or the split's parquet / ``loader_args.file``) is under ``path``."""
    return bool(find_annotations(path, str(task.loader_args.get("split", "validation")),
                                 task.loader_args.get("file")))


def read_items(paths: list[Path]) -> list[dict[str, Any]]:
    from mosseval.data.files import read_items as _read

    return _read(paths, "MMVU", keys=("validation", "data"))


def video_relpath(item: dict[str, Any]) -> str:
    """The video's path relative to the dataset root (``videos/<Subject_Dir>/<n>.mp4``)."""
    if item.get("video_path"):
        return str(item["video_path"]).replace("\\", "/")
    video = str(item.get("video") or "")
    if "://" in video:
        path = unquote(urlparse(video).path)
        m = re.search(r"/resolve/[^/]+/(.+)$", path)
        if m:
            return m.group(1)
        i = path.find("/videos/")
        return path[i + 1:] if i >= 0 else path.rsplit("/", 1)[-1]
    return video.replace("\\", "/")


def _resolve_video(root: Path, rel: str) -> str:
    alts = [rel]
    if rel.startswith("videos/"):
        alts.append(rel[len("videos/"):])
    else:
        alts.append("videos/" + rel)
    for alt in alts:
        try:
            if safe_join(root, alt).is_file():
                return alt
        except UnsafePathError:
            return rel  # keep it: the sampler refuses it per sample
    return rel


def _metadata(item: dict[str, Any]) -> dict[str, Any]:
    meta = item.get("metadata")
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except json.JSONDecodeError:
            meta = {}
    return dict(meta) if isinstance(meta, dict) else {}


def parse_item(item: Any, task_name: str, root: Path, where: str, index: int,
               rationale_reference: bool = False) -> Sample:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: item {index} must be an object")
    missing = [k for k in ("id", "question", "question_type", "answer") if item.get(k) is None]
    if not (item.get("video") or item.get("video_path")):
        missing.append("video")
    if missing:
        raise ConfigError(f"{where}: item {index} lacks field(s) {missing}")
    qtype = str(item["question_type"]).strip().lower()
    if qtype not in QUESTION_TYPES:
        raise ConfigError(f"{where}: item {item['id']!r}: question_type {item['question_type']!r} is not one of "
                          f"{list(QUESTION_TYPES)}")
    meta = _metadata(item)
    subject = meta.get("subject")
    choices = item.get("choices") or {}
    if isinstance(choices, str):
        try:
            choices = json.loads(choices)
        except json.JSONDecodeError:
            choices = {}
    if not isinstance(choices, dict):
        raise ConfigError(f"{where}: item {item['id']!r}: `choices` must be a mapping letter -> text")
    choices = {str(k).strip().upper(): ("" if v is None else str(v)) for k, v in choices.items()}
    answer = str(item["answer"]).strip()
    if qtype == "multiple-choice":
        options = {k: v for k, v in sorted(choices.items()) if v.strip()}
        answer = answer.upper()
        if answer not in options:
            raise ConfigError(f"{where}: item {item['id']!r}: answer {answer!r} is not one of its options "
                              f"{list(options)}")
    else:
        options = {}
        if not answer:
            raise ConfigError(f"{where}: item {item['id']!r}: open-ended answer is empty")
    rel = _resolve_video(root, video_relpath(item))
    metadata: dict[str, Any] = {
        "subject": subject,
        "discipline": discipline_of(subject),
        "textbook": meta.get("textbook"),
        "video_url": item.get("video"),
        "youtube_url": (item.get("youtube_url") or "").strip() or None,
        "choices": choices,
    }
    if meta.get("rationale"):
        metadata["rationale"] = meta["rationale"]
    if meta.get("knowledge"):
        metadata["knowledge"] = list(meta["knowledge"])
    parts = rel.split("/")
    if len(parts) >= 2:
        metadata["video_folder"] = parts[-2]
    steps = steps_from_paragraph(str(meta.get("rationale") or "")) if rationale_reference else []
    return Sample(
        id=str(item["id"]),
        task=task_name,
        video=VideoRef(path=rel),
        question=str(item["question"]),
        options=options,
        answer=answer,
        question_type=qtype,  # type: ignore[arg-type]
        reference_steps=steps,
        category=subject,
        split=str(item.get("split") or "validation"),
        metadata=metadata,
    )


@register_loader("mmvu")
def load(task: TaskSpec, root: Path) -> list[Sample]:
    """``loader_args``: ``split`` (default ``validation``), ``file`` (explicit annotation file),
    ``question_type`` (keep only one type), ``rationale_reference`` (true: the rationale paragraph,
    split into sentences, becomes the reference steps: a coarse "paragraph reference" for the PRR)."""
    root = Path(root)
    args = task.loader_args
    split = str(args.get("split", "validation"))
    paths = find_annotations(root, split, args.get("file"))
    if not paths:
        looked = [root / args["file"]] if args.get("file") else annotation_candidates(root, split) + [
            root / f"data/{split}-*.parquet", root / f"default/{split}/*.parquet"]
        raise DataNotFoundError(
            f"{task.name}: MMVU annotations not found. Looked in:\n" + "\n".join(f"  - {p}" for p in looked),
            hint=task.data.obtain or OBTAIN)
    where = str(paths[0]) if len(paths) == 1 else f"{paths[0].parent}/*.parquet"
    only = args.get("question_type")
    samples: list[Sample] = []
    seen: set[str] = set()
    for i, item in enumerate(read_items(paths)):
        sample = parse_item(item, task.name, root, where, i, bool(args.get("rationale_reference")))
        if only and sample.question_type != only:
            continue
        if sample.id in seen:
            raise ConfigError(f"{where}: duplicate id {sample.id!r}")
        seen.add(sample.id)
        samples.append(sample)
    return samples


# ----------------------------------------------------------------------------- rule-based score

@register_extractor("mmvu_rules")
def answer_check(text: str | None, sample: Sample, task: TaskSpec, prefill: str | None) -> AnswerResult:
    """Offline approximation of MMVU's judged score (always ``approximate=True``)."""
    return _answer_check(text, sample.question_type, sample.options, sample.answer)


@extractors.register_hook("mmvu_rules", "check_data")
def answer_check_data(text: str | None, data: dict[str, Any], task: TaskSpec, prefill: str | None) -> AnswerResult:
    """:func:`answer_check` of the sample's validated data (:mod:`mosseval.recorddata`)."""
    return _answer_check(text, sample_field(data, "question_type"), sample_field(data, "options"), data["answer"])


def _answer_check(text: str | None, question_type: str, options: dict[str, str], answer: str) -> AnswerResult:
    if text is None or not text.strip():
        return AnswerResult(None, False, True, approximate=True, detail="empty")
    cand = final_answer(text)
    if question_type == "multiple-choice":
        ex = extract_choice(cand if cand is not None else text, options)
        if not ex.parsed:
            return AnswerResult(None, False, True, approximate=True, detail=ex.status)
        return AnswerResult(ex.letter, ex.letter == answer.strip().upper(), False, approximate=True,
                            detail=ex.rule)
    if cand is None:
        # no marked final answer: accept a bare one-line answer, never a long unmarked text
        stripped = text.strip()
        if "\n" in stripped or len(stripped.split()) > 12:
            return AnswerResult(None, False, True, approximate=True, detail="no final answer")
        cand = stripped.strip(_WRAP).rstrip(".")
    if not normalize(cand):
        return AnswerResult(None, False, True, approximate=True, detail="empty")
    ok, rule = open_ended_match(cand, answer)
    return AnswerResult(cand, ok, False, approximate=True, detail=rule)
