"""Export mosseval tasks as an lmms-eval (0.7.x) task folder, so lmms-eval users run them, PRR included.

``mosseval export-lmms TASK... --out DIR`` writes, per leaf task ``T`` (named ``mosseval_T`` in
lmms-eval, so nothing collides with lmms-eval's own tasks of the same benchmark):

* ``mosseval_T.yaml`` -- the task: a local JSON dataset (``dataset_path: json``), ``generate_until``
  with the task's generation settings, and three metrics computed by mosseval itself:
  ``mosseval_accuracy`` (mosseval's strict extraction; unparsed counts as wrong), ``mosseval_prr``
  (the Process Reasoning Reward, items without reference steps excluded) and ``mosseval_format``;
* ``data/mosseval_T.jsonl`` -- one line per sample: the absolute video path, the prompt mosseval would
  send (system text, rendered template, and any answer prefill, as one text), the gold answer, and the
  full mosseval ``Sample`` for scoring;
* ``mosseval_T.task.json`` -- the effective ``TaskSpec`` (scoring settings, PRR parameters);
* a group YAML for every group selected (e.g. ``mosseval_mvbench``), and one ``utils.py``.

Scoring imports mosseval, so it must be installed where lmms-eval runs. Prompts that depend on the
sampled frames (Video-MME with subtitles) are rendered for the task's own frame protocol. lmms-eval's
models pick their own frames from the video path (mosseval's frame protocol does not travel), and frame folders
(MVBench's TVQA items) are passed as folder paths, which most lmms-eval video models cannot read.
Use it with ``python -m lmms_eval --tasks mosseval_T --include_path DIR ...``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from mosseval import __version__
from mosseval.errors import OutputError, UsageError
from mosseval.fileio import atomic_write_text

__all__ = ["export_lmms", "lmms_name"]


def lmms_name(task: str) -> str:
    """The lmms-eval task name of a mosseval task (``mvbench_action_sequence`` -> ``mosseval_mvbench_action_sequence``)."""
    return "mosseval_" + re.sub(r"[^A-Za-z0-9_]", "_", task)


UTILS = '''"""lmms-eval hooks for tasks exported by mosseval {version}. Re-export instead of editing."""

import json
import math
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def _task(name):
    from mosseval.records import TaskSpec

    return TaskSpec.model_validate_json((HERE / f"{{name}}.task.json").read_text(encoding="utf-8"))


def mosseval_doc_to_visual(doc):
    return [doc["video"]] if doc.get("video") else []


def mosseval_doc_to_text(doc, lmms_eval_specific_kwargs=None):
    return doc["prompt"]


def mosseval_process_results(doc, results):
    from mosseval.records import Generation, Sample
    from mosseval.scoring import score_sample

    task = _task(doc["lmms_task"])
    sample = Sample.model_validate_json(doc["sample"])
    text = results[0] if results else ""
    score = score_sample(task, sample, Generation(text=text), doc.get("prefill") or None)
    return {{
        "mosseval_accuracy": 1.0 if score.correct else 0.0,
        "mosseval_prr": score.prr if score.prr_status != "not_applicable" and score.prr is not None else None,
        "mosseval_format": None if score.format_ok is None else (1.0 if score.format_ok else 0.0),
    }}


def mosseval_mean(items):
    """Mean over the items that have a value (PRR of items without reference steps is not applicable)."""
    values = [float(x) for x in items if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return sum(values) / len(values) if values else float("nan")
'''


def _task_yaml(name: str, data_file: Path, task: Any) -> str:
    gen = task.generation
    metrics = "\n".join(
        f"  - metric: {m}\n    aggregation: !function utils.mosseval_mean\n    higher_is_better: true"
        for m in ("mosseval_accuracy", "mosseval_prr", "mosseval_format"))
    return (
        f"# Exported by mosseval {__version__} from task {task.name!r} (version {task.version}).\n"
        f"task: {name}\n"
        "dataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {json.dumps(str(data_file))}\n"
        "test_split: test\n"
        "output_type: generate_until\n"
        "doc_to_visual: !function utils.mosseval_doc_to_visual\n"
        "doc_to_text: !function utils.mosseval_doc_to_text\n"
        "doc_to_target: answer\n"
        "process_results: !function utils.mosseval_process_results\n"
        "generation_kwargs:\n"
        f"  max_new_tokens: {gen.max_new_tokens}\n"
        f"  temperature: {gen.temperature}\n"
        f"  top_p: {gen.top_p}\n"
        f"  do_sample: {'true' if gen.temperature > 0 else 'false'}\n"
        f"metric_list:\n{metrics}\n"
        f"metadata:\n  version: {json.dumps(str(task.version))}\n  mosseval_version: {json.dumps(__version__)}\n"
    )


def _group_yaml(name: str, members: list[str]) -> str:
    lines = [f"# Exported by mosseval {__version__}.", f"group: {name}", "task:"]
    lines += [f"  - {m}" for m in members]
    lines += ["aggregate_metric_list:"]
    lines += [f"  - metric: {m}\n    aggregation: mean\n    weight_by_size: true"
              for m in ("mosseval_accuracy",)]
    lines += ["metadata:", "  version: 1"]
    return "\n".join(lines) + "\n"


def _prompt_text(messages: list[dict[str, Any]], prefill: str | None) -> str:
    parts: list[str] = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            parts.append(content)
            continue
        parts += [c["text"] for c in content or [] if isinstance(c, dict) and c.get("type") == "text"]
    text = "\n".join(p for p in parts if p)
    return text + ("\n" + prefill if prefill else "")


def export_lmms(task_names: list[str], out_dir: str | os.PathLike, *, data_dir: str | os.PathLike | None = None,
                cache_dir: str | os.PathLike | None = None, tasks_dirs: list[str] | None = None,
                limit: int | None = None, seed: int = 0) -> list[str]:
    """Write the lmms-eval task folder; returns the lmms-eval names written (tasks, then groups)."""
    from mosseval.data import get_loader
    from mosseval.data.locate import resolve_data_root
    from mosseval.paths import safe_join
    from mosseval.prompts import build_messages
    from mosseval.tasks import load_registry, resolve_tasks

    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1 (got {limit})")
    registry = load_registry(tasks_dirs or [])
    leaves = resolve_tasks(task_names, registry)
    out = Path(out_dir)
    try:
        (out / "data").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {out}: {exc.strerror or exc}", hint="pass a writable --out") from None
    written: list[str] = []
    groups: dict[str, list[str]] = {}
    for task, group in leaves:
        name = lmms_name(task.name)
        root = resolve_data_root(task, data_dir, cache_dir, seed=seed)
        samples = get_loader(task.loader or "")(task, root)
        if limit is not None:
            samples = samples[:limit]
        rows = []
        for s in samples:
            messages, prefill = build_messages(task, s, root=root)  # prompt context (e.g. subtitles) too
            video = str(safe_join(root, s.video.path)) if s.video is not None else None
            rows.append({"lmms_task": name, "id": s.id, "video": video,
                         "video_kind": s.video.kind if s.video else None,
                         "start": s.video.start if s.video else None, "end": s.video.end if s.video else None,
                         "prompt": _prompt_text(messages, prefill), "prefill": prefill or "",
                         "answer": s.answer, "sample": s.model_dump_json()})
        data_file = (out / "data" / f"{name}.jsonl").resolve()
        atomic_write_text(data_file, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        atomic_write_text(out / f"{name}.task.json", task.model_dump_json(indent=2))
        atomic_write_text(out / f"{name}.yaml", _task_yaml(name, data_file, task))
        written.append(name)
        if group:
            groups.setdefault(group, []).append(name)
    for group, members in groups.items():
        gname = lmms_name(group)
        atomic_write_text(out / f"{gname}.yaml", _group_yaml(gname, members))
        written.append(gname)
    atomic_write_text(out / "utils.py", UTILS.format(version=__version__))
    return written
