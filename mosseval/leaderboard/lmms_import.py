"""Import lmms-eval result files so existing runs sit on the same board (origin "lmms-eval").

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

Imported columns are always *external*: lmms-eval's prompts, frame sampling and answer parsing are not
verified to match any mosseval task, so they never share a column with mosseval results. When
per-sample scores are available the accuracy is recomputed over **all** samples (lmms-eval's MVBench
aggregate drops empty predictions from the denominator); the number lmms-eval reported is kept as
``reported_accuracy``. Percent-scaled metrics (values above 1) are divided by 100.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from mosseval.errors import UsageError

ACC_HINTS = ("accuracy", "acc", "exact_match", "score", "perception_score", "correct")
FRAME_ARGS = ("max_frames_num", "max_num_frames", "num_frames", "nframes", "frames_upbound", "max_frames", "fps")
_ADDR = re.compile(r" at 0x[0-9a-fA-F]+")


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


def _redacted(args: dict[str, str]) -> dict[str, str]:
    """Secrets never reach the board (lmms-eval model_args may carry API keys)."""
    from mosseval.redact import redact_mapping

    return redact_mapping(args)


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
        se = entry.get(f"{metric}_stderr,{filt}")
        out[metric] = (filt, value, se)
    return out


def _primary_metric(metrics: dict[str, tuple[str, Any, Any]], hib: dict[str, Any]) -> str | None:
    numeric = [m for m, (_, v, _) in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not numeric:
        return None
    good = [m for m in numeric if hib.get(m, True) is not False]
    pool = good or numeric
    for hint in ACC_HINTS:
        for m in pool:
            if hint in m.lower():
                return m
    return pool[0]


def _scale(value: float, per_sample: list[float] | None = None) -> tuple[float, float]:
    """(factor, scaled value): metrics reported in percent (> 1) are mapped to [0, 1]."""
    if value is not None and value > 1.0 + 1e-9 and value <= 100.0:
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


def _pred_of(line: dict[str, Any], metric: str) -> str | None:
    v = line.get(metric)
    if isinstance(v, dict):
        for key in ("pred_answer", "pred", "prediction", "parsed_pred", "extracted_answer"):
            if key in v and v[key] is not None:
                return str(v[key])
    return _first_text(line.get("filtered_resps"))


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


def _frames_from_args(margs: dict[str, str]) -> tuple[dict[str, str], str | None]:
    found = {k: margs[k] for k in FRAME_ARGS if k in margs}
    if not found:
        return {}, None
    for k in ("max_frames_num", "max_num_frames", "num_frames", "nframes", "frames_upbound", "max_frames"):
        if k in found:
            return found, f"{found[k]}f"
    return found, f"{found['fps']}fps"


def load_lmms_runs(paths: list[str], *, samples_per_run: int = 100, items: dict[str, dict] | None = None,
                   start_index: int = 0) -> list:
    """Read lmms-eval results (and their samples files) into leaderboard runs."""
    files = find_results_files(paths)
    items = items if items is not None else {}
    return [load_lmms_run(p, samples_per_run=samples_per_run, items=items, index=start_index + i)
            for i, p in enumerate(files)]


def load_lmms_run(path: Path, *, samples_per_run: int = 100, items: dict[str, dict] | None = None,
                  index: int = 0):
    from mosseval.leaderboard.aggregate import _Cell, _Entry, _est, _Run, _short_hash, _stable_rank
    from mosseval.stats import mean_ci

    items = items if items is not None else {}
    data = _read_results(path)
    config = data.get("config") or data.get("model_configs") or {}
    if not isinstance(config, dict):
        config = {}
    margs = _parse_model_args(config.get("model_args"))
    frame_args, frames_label = _frames_from_args(margs)
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
        for f in path.parent.glob(f"{glob_escape(prefix)}*.jsonl"):
            sample_files[f.name[len(prefix): -len(".jsonl")]] = f

    group_names = [g for g, subs in gsub.items() if subs]
    member_of = {t: g for g, subs in gsub.items() for t in subs}
    leaf_names = [t for t in results if t not in group_names and t not in groups]

    run_id = "lmms-" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    entries: list[_Entry] = []
    per_task_records: dict[str, list[dict]] = {}
    task_cells: dict[str, _Cell] = {}
    task_keys: dict[str, dict] = {}
    notes_all: list[str] = []

    def cfg_hash(task: str) -> str:
        cfg = {k: v for k, v in (configs.get(task) or {}).items() if k not in ("task_alias", "group_alias")}
        return _short_hash(json.loads(_ADDR.sub("", json.dumps(cfg, sort_keys=True, default=str))), 16)

    for task in leaf_names:
        entry = results.get(task) or {}
        metrics = _metrics_of(entry)
        metric = _primary_metric(metrics, hib_all.get(task, {}))
        lines = _read_samples(sample_files[task]) if task in sample_files else []
        per_task_records[task] = lines
        reported = None
        est = None
        if metric is not None:
            filt, value, se = metrics[metric]
            factor, scaled = _scale(float(value))
            reported = scaled
            if isinstance(se, (int, float)) and not isinstance(se, bool):
                s = float(se) * factor
                est = {"value": scaled, "ci_low": max(0.0, scaled - 1.96 * s), "ci_high": min(1.0, scaled + 1.96 * s),
                       "n": int((nsamp.get(task) or {}).get("effective") or 0), "method": "lmms-eval stderr"}
            else:
                est = {"value": scaled, "ci_low": None, "ci_high": None,
                       "n": int((nsamp.get(task) or {}).get("effective") or 0), "method": "lmms-eval (no CI)"}
        outcomes: dict[str, float] = {}
        parse_fail = None
        notes: list[str] = []
        if lines and metric is not None:
            scores = [_sample_score(x, metric) for x in lines]
            if all(s is not None for s in scores):
                vals = [float(s) for s in scores]
                if any(v > 1.0 for v in vals):
                    vals = [v / 100.0 for v in vals]
                clusters = [str((x.get("doc") or {}).get("video") or x.get("doc_id")) for x in lines]
                binary = all(v in (0.0, 1.0) for v in vals)
                e = mean_ci(vals, clusters, binary=binary)
                est = {**_est(e), "method": (e.method or "") + " (recomputed from samples)"}
                for x, v in zip(lines, vals):
                    outcomes[f"{task}/{x.get('doc_id')}"] = v
                preds = [_pred_of(x, metric) for x in lines]
                parse_fail = sum(1 for p in preds if p is None or not str(p).strip()) / len(lines)
                if reported is not None and abs(reported - e.value) > 5e-4:
                    notes.append(f"lmms-eval reported {reported:.4f}; recomputed over all {len(vals)} samples "
                                 f"(empty predictions count as wrong): {e.value:.4f}")
        version = versions.get(task)
        ckey = {"origin": "lmms-eval", "task": task, "version": version, "metric": metric,
                "filter": metrics[metric][0] if metric else None, "config": cfg_hash(task),
                "frames": frame_args}
        task_keys[task] = ckey
        cell = _Cell({
            "n": (est or {}).get("n") or len(lines), "n_errors": 0,
            "accuracy": est, "reported_accuracy": reported, "metric": metric,
            "prr": None, "prr_correct": None, "prr_incorrect": None, "prr_not_applicable": 0,
            "format_rate": None, "parse_failure_rate": parse_fail, "error_rate": None,
            "approximate": False, "judge": {}, "judge_primary": None, "breakdowns": {},
            "notes": notes,
        }, outcomes, {})
        task_cells[task] = cell
        notes_all.extend(f"{task}: {n}" for n in notes)
        group = member_of.get(task)
        info = {"task": task, "version": version, "protocol": "lmms-eval", "frames": None,
                "frames_label": frames_label, "approximate": False, "has_prr": False, "has_format": False,
                "group": group, "notes": [f"metric: {metric}"] if metric else []}
        entries.append(_Entry(task, "task", group, ckey, info, cell,
                              top_level=group is None or group not in group_names))

    for g in group_names:
        members = [t for t in gsub[g] if t in task_cells]
        if not members:
            continue
        mcells = [task_cells[t] for t in members]
        entry = results.get(g) or groups.get(g) or {}
        metrics = _metrics_of(entry)
        metric = _primary_metric(metrics, hib_all.get(g, {}))
        reported = _scale(float(metrics[metric][1]))[1] if metric else None
        if all(c.outcomes for c in mcells):
            vals, outcomes = [], {}
            for c in mcells:
                for k, v in c.outcomes.items():
                    vals.append(v)
                    outcomes[k] = v
            e = mean_ci(vals, None, binary=all(v in (0.0, 1.0) for v in vals))
            est = {**_est(e), "method": (e.method or "") + " (pooled over all subtask samples)"}
        else:
            outcomes = {}
            accs = [(c.data["accuracy"], c.data.get("n") or 0) for c in mcells if c.data.get("accuracy")]
            tot = sum(n for _, n in accs)
            if accs and tot > 0:
                est = {"value": sum(a["value"] * n for a, n in accs) / tot, "ci_low": None, "ci_high": None,
                       "n": tot, "method": "size-weighted mean of subtasks"}
            elif reported is not None:
                est = {"value": reported, "ci_low": None, "ci_high": None, "n": 0, "method": "lmms-eval group value"}
            else:
                est = None
        pf = [c.data.get("parse_failure_rate") for c in mcells]
        pf_ok = all(p is not None for p in pf)
        ns = [c.data.get("n") or 0 for c in mcells]
        cell = _Cell({
            "n": sum(ns), "n_errors": 0, "accuracy": est, "reported_accuracy": reported, "metric": metric,
            "prr": None, "prr_correct": None, "prr_incorrect": None, "prr_not_applicable": 0,
            "format_rate": None,
            "parse_failure_rate": (sum(p * n for p, n in zip(pf, ns)) / sum(ns) if pf_ok and sum(ns) else None),
            "error_rate": None, "approximate": False, "judge": {}, "judge_primary": None,
            "breakdowns": {"subtask": {t: c.data["accuracy"] for t, c in zip(members, mcells) if c.data.get("accuracy")}},
            "notes": [],
        }, outcomes, {})
        ckey = {"origin": "lmms-eval", "group": g, "version": versions.get(g),
                "members": sorted(_short_hash(task_keys[m], 16) for m in members), "frames": frame_args}
        info = {"task": g, "version": versions.get(g), "protocol": "lmms-eval", "frames": None,
                "frames_label": frames_label, "approximate": False, "has_prr": False, "has_format": False,
                "group": None, "members": members}
        entries.append(_Entry(g, "group", None, ckey, info, cell, True, members))

    meta = {
        "run_id": run_id,
        "name": _model_name(data, config, margs),
        "backend": f"lmms-eval:{config.get('model')}" if config.get("model") else "lmms-eval",
        "checkpoint": margs.get("pretrained") or margs.get("model") or None,
        "revision": margs.get("revision"),
        "params": None,
        "date": _iso_date(data.get("date"), date_id),
        "updated_at": None,
        "git_revision": data.get("git_hash"),
        "mosseval_version": None,
        "origin": "lmms-eval",
        "status": "completed",
        "limit": config.get("limit"),
        "seed": config.get("random_seed"),
        "model_args": _redacted(margs),
        "identity_hash": None,
        "run_dir": str(path),
        "n_samples": sum(len(v) for v in per_task_records.values()),
        "n_expected": sum(int((nsamp.get(t) or {}).get("effective") or 0) for t in leaf_names),
        "n_errors": 0,
        "packages": {},
        "order": index,
        "notes": notes_all,
    }
    run = _Run(meta, entries)

    # Sample browser: a deterministic mix of wrong and hash-ranked items.
    if samples_per_run > 0:
        pool = []
        for task, lines in per_task_records.items():
            metric = task_cells[task].data.get("metric")
            for x in lines:
                score = _sample_score(x, metric) if metric else None
                pool.append((task, x, score))
        wrong = sorted((p for p in pool if p[2] is not None and p[2] < 0.5),
                       key=lambda p: _stable_rank(p[0], str(p[1].get("doc_id"))))
        chosen = {(p[0], str(p[1].get("doc_id"))): (p, "wrong") for p in wrong[: samples_per_run // 2]}
        for p in sorted(pool, key=lambda p: _stable_rank(p[0], str(p[1].get("doc_id")))):
            if len(chosen) >= samples_per_run:
                break
            chosen.setdefault((p[0], str(p[1].get("doc_id"))), (p, "random"))
        for (task, doc_id), ((_, x, score), why) in sorted(chosen.items()):
            metric = task_cells[task].data.get("metric")
            doc = x.get("doc") if isinstance(x.get("doc"), dict) else {}
            options = {}
            cands = doc.get("candidates") or doc.get("options")
            if isinstance(cands, list):
                options = {chr(65 + i): str(c) for i, c in enumerate(cands[:26])}
            elif isinstance(cands, dict):
                options = {str(k): str(v) for k, v in cands.items()}
            question = doc.get("question") or x.get("input") or ""
            item = {"task": task, "id": str(doc_id), "question": str(question)[:2000], "options": options,
                    "answer": str(x.get("target", ""))[:2000], "question_type": "multiple-choice" if options else None,
                    "category": doc.get("category") or doc.get("task_type"), "level": None,
                    "video": ({"path": str(doc["video"]), "kind": "file", "start": None, "end": None}
                              if isinstance(doc.get("video"), str) else None),
                    "reference_steps": []}
            item_id = _short_hash(item, 12)
            items.setdefault(item_id, item)
            text = _first_text(x.get("resps")) or _first_text(x.get("filtered_resps"))
            run.samples.append({
                "key": f"{task}/{doc_id}", "item": item_id, "task": task, "index": x.get("doc_id"), "why": why,
                "text": (text or "")[:6000] if text is not None else None, "text_truncated": bool(text and len(text) > 6000),
                "error": None, "latency_s": None, "tokens": None, "frames": None,
                "extracted": _pred_of(x, metric) if metric else None,
                "correct": (score >= 0.5) if score is not None else None,
                "parse_failed": not (_pred_of(x, metric) or "").strip() if metric else None,
                "format_ok": None, "prr": None, "prr_status": "disabled", "approximate": False,
                "steps": [], "steps_truncated": False, "alignment": None, "judge": {},
            })
    return run


def _iso_date(date: Any, date_id: str | None) -> str | None:
    """lmms-eval dates ('20250201_100000', or the file prefix '2025-02-01T10-00-00.123456') → ISO 8601."""
    from datetime import datetime

    for text, fmt in ((date, "%Y%m%d_%H%M%S"), ((date_id or "").split(".")[0], "%Y-%m-%dT%H-%M-%S")):
        if isinstance(text, str) and text:
            try:
                return datetime.strptime(text, fmt).isoformat()
            except ValueError:
                pass
    if isinstance(date, (int, float)) and not isinstance(date, bool):
        return datetime.fromtimestamp(float(date)).replace(microsecond=0).isoformat()
    return str(date) if date is not None else date_id


def glob_escape(text: str) -> str:
    import glob

    return glob.escape(text)
