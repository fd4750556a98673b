"""lmms-eval results as mosseval run records (an adapter: the board has one input path).

lmms-eval writes, per model, ``<output>/<model_sanitized>/<date_id>_results.json`` and, with
``--log_samples``, one ``<date_id>_samples_<task>.jsonl`` per task:

- results json: ``results`` {task: {"alias", "<metric>,<filter>": value, "<metric>_stderr,<filter>": se
  or "N/A"}}, optional ``groups``, ``group_subtasks`` {group: [task, ...], task: []}, ``configs``
  {task: dumped task YAML}, ``versions``, ``n-shot``, ``higher_is_better``, ``n-samples``
  {task: {"original", "effective"}}, ``config`` (older releases: ``model_configs``) with ``model``,
  ``model_args``, ``limit``, ``gen_kwargs``…, plus ``git_hash``, ``date`` and the tracker fields
  (``model_name``, ``model_source``…);
- samples jsonl: ``doc_id``, ``target``, ``filtered_resps`` (``resps`` only when different), ``input``,
  ``doc_hash``, ``prompt_hash``, ``target_hash``, optionally ``doc``, and one field per metric (a number,
  or a dict such as MVBench's ``{"pred_answer", "gt_answer", "score"}``).

The adapter turns one results file into a ``RunLog`` (``origin="lmms-eval"``) and ``SampleRecord``\\ s.
Its tasks carry a fingerprint of lmms-eval's task configuration, metric, filter and frame arguments, so
they never share a column with mosseval results (lmms-eval's prompts, frame sampling and answer parsing
are not verified to match any mosseval task). When per-sample scores exist the accuracy is recomputed over
**all** samples (lmms-eval's MVBench aggregate drops empty predictions from the denominator); lmms-eval's
number is kept as ``reported_accuracy``. Percent-scaled metrics (values above 1) are divided by 100.
"""

from __future__ import annotations

import glob
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mosseval.errors import UsageError
from mosseval.records import (
    Estimate,
    EvalIdentity,
    Generation,
    ModelIdentity,
    RunIdentity,
    RunLog,
    RunSpec,
    Sample,
    SampleRecord,
    SampleScore,
    TaskIdentity,
    TaskRef,
    TaskResult,
    VideoRef,
    digest,
)
from mosseval.stats import Z95, mean_ci
from mosseval.units import pct

ACC_HINTS = ("accuracy", "acc", "exact_match", "score", "perception_score", "correct")
FRAME_ARGS = ("max_frames_num", "max_num_frames", "num_frames", "nframes", "frames_upbound", "max_frames", "fps")
_ADDR = re.compile(r" at 0x[0-9a-fA-F]+")


@dataclass
class ImportedRun:
    path: Path
    log: RunLog
    records: list[SampleRecord]
    notes: list[str] = field(default_factory=list)


def find_results_files(paths: list[str]) -> list[Path]:
    """Results files from paths (files or folders searched recursively for ``*results.json``)."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if not p.exists():
            raise UsageError(f"lmms-eval results path {raw!r} does not exist",
                             hint="pass a *_results.json file written by lmms-eval, or its output folder")
        if p.is_file():
            out.append(p)
            continue
        found = sorted(q for q in p.rglob("*results*.json") if q.is_file())
        if not found:
            raise UsageError(f"no lmms-eval *_results.json file under {raw!r}",
                             hint="run lmms-eval with --output_path (and --log_samples for per-sample data)")
        out.extend(found)
    return out


def _read_results(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path} is not a readable lmms-eval results file: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise UsageError(f"{path} is not an lmms-eval results file (no 'results' mapping)",
                         hint="pass the <date>_results.json file that lmms-eval writes")
    return data


def _read_samples(path: Path) -> list[dict[str, Any]]:
    out = []
    try:
        with path.open("r", encoding="utf-8") as fh:
            for lineno, raw in enumerate(fh, 1):
                raw = raw.strip()
                if not raw:
                    continue
                try:
                    obj = json.loads(raw)
                except ValueError:
                    raise UsageError(f"{path}:{lineno}: not valid JSON (lmms-eval samples file)") from None
                if isinstance(obj, dict):
                    out.append(obj)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    return out


def _parse_model_args(args: Any) -> dict[str, str]:
    if isinstance(args, dict):
        return {str(k): str(v) for k, v in args.items()}
    out: dict[str, str] = {}
    if isinstance(args, str):
        for part in args.split(","):
            if "=" in part:
                k, _, v = part.partition("=")
                out[k.strip()] = v.strip()
    return out


def _model_name(data: dict[str, Any], config: dict[str, Any], margs: dict[str, str]) -> str:
    if data.get("model_name"):
        return str(data["model_name"])
    for key in ("peft", "delta", "pretrained", "model", "model_version", "model_name", "model_id", "path", "engine"):
        if margs.get(key):
            return margs[key]
    return str(config.get("model") or "lmms-eval model")


def _metrics_of(entry: dict[str, Any]) -> dict[str, tuple[str, Any, Any]]:
    """metric name → (filter, value, stderr)."""
    out: dict[str, tuple[str, Any, Any]] = {}
    for key, value in entry.items():
        if key == "alias" or "," not in key:
            continue
        metric, _, filt = key.partition(",")
        if metric.endswith("_stderr"):
            continue
        out[metric] = (filt, value, entry.get(f"{metric}_stderr,{filt}"))
    return out


def _primary_metric(metrics: dict[str, tuple[str, Any, Any]], hib: dict[str, Any]) -> str | None:
    numeric = [m for m, (_, v, _) in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not numeric:
        return None
    pool = [m for m in numeric if hib.get(m, True) is not False] or numeric
    for hint in ACC_HINTS:
        for m in pool:
            if hint in m.lower():
                return m
    return pool[0]


def _fraction(value: float) -> tuple[float, float]:
    """(factor, value as a fraction): metrics reported in percent (> 1) are mapped to [0, 1]."""
    if 1.0 + 1e-9 < value <= 100.0:
        return 0.01, value / 100.0
    return 1.0, value


def _sample_score(line: dict[str, Any], metric: str) -> float | None:
    v = line.get(metric)
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, dict):
        for key in ("score", "correct", "acc", "accuracy", "exact_match"):
            x = v.get(key)
            if isinstance(x, bool):
                return 1.0 if x else 0.0
            if isinstance(x, (int, float)):
                return float(x)
    return None


def _first_text(resps: Any) -> str | None:
    while isinstance(resps, list):
        if not resps:
            return None
        resps = resps[0]
    return None if resps is None else str(resps)


def _pred_of(line: dict[str, Any], metric: str | None) -> str | None:
    v = line.get(metric) if metric else None
    if isinstance(v, dict):
        for key in ("pred_answer", "pred", "prediction", "parsed_pred", "extracted_answer"):
            if key in v and v[key] is not None:
                return str(v[key])
    return _first_text(line.get("filtered_resps"))


def _frames(margs: dict[str, str]) -> tuple[dict[str, str], dict[str, Any]]:
    """(frame arguments as given, the same as a frame setting: ``{"num_frames": 32}`` / ``{"strategy": "fps"}``)."""
    found = {k: margs[k] for k in FRAME_ARGS if k in margs}
    for k in FRAME_ARGS[:-1]:
        if k in found:
            try:
                return found, {"num_frames": int(float(found[k]))}
            except ValueError:
                return found, {}
    if "fps" in found:
        try:
            return found, {"strategy": "fps", "fps": float(found["fps"])}
        except ValueError:
            return found, {}
    return found, {}


def _iso_date(date: Any, date_id: str | None) -> str | None:
    """lmms-eval dates ('20250201_100000', or the file prefix '2025-02-01T10-00-00.123456') → ISO 8601."""
    for text, fmt in ((date, "%Y%m%d_%H%M%S"), ((date_id or "").split(".")[0], "%Y-%m-%dT%H-%M-%S")):
        if isinstance(text, str) and text:
            try:
                return datetime.strptime(text, fmt).isoformat()
            except ValueError:
                pass
    if isinstance(date, (int, float)) and not isinstance(date, bool):
        return datetime.fromtimestamp(float(date)).replace(microsecond=0).isoformat()
    return str(date) if date is not None else date_id


def _record(task: str, line: dict[str, Any], metric: str | None, value: float | None) -> SampleRecord:
    doc = line.get("doc") if isinstance(line.get("doc"), dict) else {}
    options: dict[str, str] = {}
    cands = doc.get("candidates") or doc.get("options")
    if isinstance(cands, list):
        options = {chr(65 + i): str(c) for i, c in enumerate(cands[:26])}
    elif isinstance(cands, dict):
        options = {str(k): str(v) for k, v in cands.items()}
    doc_id = str(line.get("doc_id"))
    video = doc.get("video") if isinstance(doc.get("video"), str) else None
    sample = Sample(id=doc_id, task=task, question=str(doc.get("question") or line.get("input") or ""),
                    options=options, answer=str(line.get("target", "")),
                    question_type="multiple-choice" if options else "open-ended",
                    category=(str(doc.get("category") or doc.get("task_type"))
                              if doc.get("category") or doc.get("task_type") else None),
                    video=VideoRef(path=video) if video else None, cluster=video or doc_id)
    text = _first_text(line.get("resps"))
    if text is None:
        text = _first_text(line.get("filtered_resps"))
    pred = _pred_of(line, metric)
    score = SampleScore(extracted=pred if pred else None, correct=value is not None and value >= 0.5,
                        parse_failed=not (pred or "").strip())
    return SampleRecord(key=f"{task}/{doc_id}", task=task, index=int(line["doc_id"]) if isinstance(line.get("doc_id"), int) else 0,
                        sample=sample, generation=Generation(text=text), score=score)


def _leaf_result(task: str, entry: dict[str, Any], hib: dict[str, Any], lines: list[dict[str, Any]],
                 version: str, n_effective: int) -> tuple[TaskResult, list[SampleRecord], dict[str, float]]:
    metrics = _metrics_of(entry)
    metric = _primary_metric(metrics, hib)
    est: Estimate | None = None
    reported = None
    if metric is not None:
        _, value, se = metrics[metric]
        factor, reported = _fraction(float(value))
        if isinstance(se, (int, float)) and not isinstance(se, bool):
            s = float(se) * factor
            est = Estimate(value=reported, ci_low=max(0.0, reported - Z95 * s), ci_high=min(1.0, reported + Z95 * s),
                           n=n_effective, method="lmms-eval stderr")
        else:
            est = Estimate(value=reported, n=n_effective, method="lmms-eval (no CI)")
    values = [_sample_score(x, metric) for x in lines] if metric else []
    notes: list[str] = []
    parse_fail = None
    if lines and metric is not None and all(v is not None for v in values):
        vals = [float(v) for v in values]  # type: ignore[arg-type]
        if any(v > 1.0 for v in vals):
            vals = [v / 100.0 for v in vals]
        clusters = [str((x.get("doc") or {}).get("video") or x.get("doc_id")) for x in lines]
        e = mean_ci(vals, clusters, binary=all(v in (0.0, 1.0) for v in vals))
        est = e.model_copy(update={"method": (e.method or "") + " (recomputed from samples)"})
        parse_fail = sum(1 for x in lines if not (_pred_of(x, metric) or "").strip()) / len(lines)
        if reported is not None and e.value is not None and abs(reported - e.value) > 5e-4:
            notes.append(f"lmms-eval reported {pct(reported)} %; recomputed over all {len(vals)} samples "
                         f"(empty predictions count as wrong): {pct(e.value)} %")
    else:
        vals = []
    records = [_record(task, x, metric, v) for x, v in zip(lines, vals or [None] * len(lines))]
    outcomes = {r.key: v for r, v in zip(records, vals)}
    result = TaskResult(task=task, version=version, protocol="lmms-eval", n=(est.n if est else 0) or len(lines),
                        accuracy=est or Estimate(value=None), parse_failure_rate=parse_fail, metric=metric,
                        reported_accuracy=reported, notes=notes)
    return result, records, outcomes


def load_lmms_run(path: Path) -> ImportedRun:
    """One lmms-eval results file (and its samples files) as a run."""
    data = _read_results(path)
    config = data.get("config") or data.get("model_configs") or {}
    if not isinstance(config, dict):
        config = {}
    from mosseval.redact import redact_mapping

    margs = _parse_model_args(config.get("model_args"))
    frame_args, frames = _frames(margs)
    results: dict[str, dict] = data["results"]
    groups: dict[str, dict] = data.get("groups") or {}
    gsub: dict[str, list] = data.get("group_subtasks") or {}
    configs: dict[str, dict] = data.get("configs") or {}
    versions: dict[str, Any] = data.get("versions") or {}
    nsamp: dict[str, dict] = data.get("n-samples") or {}
    hib_all: dict[str, dict] = data.get("higher_is_better") or {}

    name = path.name
    date_id = name[: -len("_results.json")] if name.endswith("_results.json") else None
    sample_files: dict[str, Path] = {}
    if date_id:
        prefix = f"{date_id}_samples_"
        for f in path.parent.glob(f"{glob.escape(prefix)}*.jsonl"):
            sample_files[f.name[len(prefix): -len(".jsonl")]] = f
    group_names = [g for g, subs in gsub.items() if subs]
    member_of = {t: g for g, subs in gsub.items() for t in subs}
    leaves = [t for t in results if t not in group_names and t not in groups]

    def task_fp(task: str, metric: str | None, filt: str | None) -> str:
        cfg = {k: v for k, v in (configs.get(task) or {}).items() if k not in ("task_alias", "group_alias")}
        cfg = json.loads(_ADDR.sub("", json.dumps(cfg, sort_keys=True, default=str)))
        return digest({"config": cfg, "metric": metric, "filter": filt, "frames": frame_args}, 16)

    task_results: dict[str, TaskResult] = {}
    records: list[SampleRecord] = []
    refs: list[TaskRef] = []
    notes: list[str] = []
    per_task_values: dict[str, dict[str, float]] = {}
    for task in leaves:
        entry = results.get(task) or {}
        lines = _read_samples(sample_files[task]) if task in sample_files else []
        version = str(versions.get(task))
        res, recs, values = _leaf_result(task, entry, hib_all.get(task, {}), lines, version,
                                         int((nsamp.get(task) or {}).get("effective") or 0))
        task_results[task] = res
        records += recs
        per_task_values[task] = values
        notes += [f"{task}: {n}" for n in res.notes]
        metric = res.metric
        filt = _metrics_of(entry)[metric][0] if metric else None
        refs.append(TaskRef(name=task, version=version, fingerprint=task_fp(task, metric, filt),
                            group=member_of.get(task) if member_of.get(task) in group_names else None))
    group_results: dict[str, TaskResult] = {}
    for g in group_names:
        members = [t for t in gsub[g] if t in task_results]
        if not members:
            continue
        entry = results.get(g) or groups.get(g) or {}
        metrics = _metrics_of(entry)
        metric = _primary_metric(metrics, hib_all.get(g, {}))
        reported = _fraction(float(metrics[metric][1]))[1] if metric else None
        if all(per_task_values[t] for t in members):
            vals = [v for t in members for v in per_task_values[t].values()]
            e = mean_ci(vals, None, binary=all(v in (0.0, 1.0) for v in vals))
            est = e.model_copy(update={"method": (e.method or "") + " (pooled over all subtask samples)"})
        else:
            accs = [(task_results[t].accuracy, task_results[t].n) for t in members
                    if task_results[t].accuracy.value is not None]
            tot = sum(n for _, n in accs)
            if accs and tot > 0:
                est = Estimate(value=sum(a.value * n for a, n in accs) / tot, n=tot,  # type: ignore[operator]
                               method="size-weighted mean of subtasks")
            else:
                est = Estimate(value=reported, method="lmms-eval group value")
        pf = [task_results[t].parse_failure_rate for t in members]
        ns = [task_results[t].n for t in members]
        group_results[g] = TaskResult(
            task=g, version=str(versions.get(g)), protocol="lmms-eval", n=sum(ns), accuracy=est,
            parse_failure_rate=(sum(p * n for p, n in zip(pf, ns)) / sum(ns)  # type: ignore[misc]
                                if all(p is not None for p in pf) and sum(ns) else None),
            metric=metric, reported_accuracy=reported,
            breakdowns={"subtask": {t: task_results[t].accuracy for t in members
                                    if task_results[t].accuracy.value is not None}})

    model = _model_name(data, config, margs)
    backend = f"lmms-eval:{config.get('model')}" if config.get("model") else "lmms-eval"
    safe_args = redact_mapping(margs)
    seed = config.get("random_seed")
    identity = RunIdentity(model={"name": model, "backend": backend, "model_args": safe_args},
                           eval=EvalIdentity(tasks=[TaskIdentity(name=r.name, version=r.version, fingerprint=r.fingerprint)
                                                    for r in refs], seed=int(seed) if isinstance(seed, int) else 0,
                                             metric_version="lmms-eval"))
    date = _iso_date(data.get("date"), date_id) or ""
    limit = config.get("limit")
    log = RunLog(
        run_id="lmms-" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12],
        identity=identity,
        model=ModelIdentity(name=model, backend=backend, checkpoint=margs.get("pretrained") or margs.get("model"),
                            revision=margs.get("revision"), hash=identity.model_hash()),
        origin="lmms-eval",
        spec=RunSpec(model=model, backend=backend, model_args=safe_args, tasks=refs, frames=frames,
                     seed=int(seed) if isinstance(seed, int) else 0,
                     limit=int(limit) if isinstance(limit, (int, float)) and not isinstance(limit, bool) else None,
                     mosseval_version="", git_revision=data.get("git_hash")),
        status="completed", created_at=date, updated_at=date,
        n_expected=sum(int((nsamp.get(t) or {}).get("effective") or 0) for t in leaves) or len(records),
        n_done=len(records), results=task_results, groups=group_results)
    return ImportedRun(path, log, records, notes)


__all__ = ["ImportedRun", "find_results_files", "load_lmms_run"]
