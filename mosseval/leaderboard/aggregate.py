"""Aggregate run directories (and imported lmms-eval results) into the canonical ``leaderboard.json``.

The board is plain JSON (``schema_version`` 1, documented in docs/howto/leaderboard.md):

- ``runs``: one entry per run, with model metadata and one *cell* per column (accuracy ± CI, PRR ± CI,
  PRR on correct / incorrect answers, format / parse-failure / error rates, judge scores, the
  approximate flag, per-category breakdowns, and the "tied with the leader" test result);
- ``columns``: one per (task, comparability key). Runs whose task version, protocol, frame sampling,
  prompt, decoding or scoring differ are never merged into one column: they get separate columns
  (``mvbench [official, 16f]`` / ``mvbench [reasoning, 8f]``) and a warning;
- ``overall``: the macro-average over the top-level columns shared by every mosseval run;
- ``samples``: a bounded, deterministic selection of per-sample records for the HTML browser, so the
  page can be re-rendered from the JSON alone.

Numbers are taken from each run's ``run.json`` (the runner's own aggregates); the per-sample records
are only used for paired significance tests, judge summaries and the sample browser.
"""

from __future__ import annotations

import glob
import hashlib
import json
import math
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mosseval.errors import UsageError
from mosseval.records import Estimate, RunLog, SampleRecord, TaskResult, TaskSpec
from mosseval.rundir import gc_paused

LEADERBOARD_SCHEMA_VERSION = 1
ALPHA = 0.05
"""Significance level of the "tied with the leader" tests."""
PAIRED_MIN_OVERLAP = 0.5
"""A paired test is used when the two runs share at least this share of the smaller run's samples."""
MAX_GENERATION_CHARS = 6000
MAX_TEXT_CHARS = 2000

Z95 = 1.959963984540054


# --------------------------------------------------------------------------- small helpers


def _short_hash(data: Any, n: int = 8) -> str:
    from mosseval.rundir import canonical_json

    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()[:n]


def _stable_rank(*parts: str) -> str:
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()


def _est(e: Estimate | dict | None) -> dict | None:
    """Estimate → compact JSON dict (value, ci_low, ci_high, n, n_clusters, method)."""
    if e is None:
        return None
    if isinstance(e, Estimate):
        e = e.model_dump()
    if e.get("value") is None:
        return None
    out = {"value": e.get("value"), "ci_low": e.get("ci_low"), "ci_high": e.get("ci_high"), "n": e.get("n", 0)}
    if e.get("n_clusters") is not None:
        out["n_clusters"] = e["n_clusters"]
    if e.get("method"):
        out["method"] = e["method"]
    return out


def _se_from(e: dict | None) -> float | None:
    """Standard error implied by an estimate's 95 % interval (falls back to the binomial SE)."""
    if not e or e.get("value") is None:
        return None
    lo, hi = e.get("ci_low"), e.get("ci_high")
    if lo is not None and hi is not None and hi > lo:
        return (hi - lo) / (2 * Z95)
    n = e.get("n") or 0
    p = e["value"]
    if n > 0 and 0.0 <= p <= 1.0:
        return math.sqrt(max(p * (1 - p), 0.25 / n) / n)
    return None


def _truncate(text: str | None, limit: int) -> tuple[str | None, bool]:
    if text is None or len(text) <= limit:
        return text, False
    return text[:limit], True


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def _iso_now() -> str:
    from mosseval.clock import utc_now  # the one clock

    return utc_now()


# --------------------------------------------------------------------------- significance tests


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts ``b`` and ``c``.

    Under H0 the discordant pairs split Bin(b + c, 1/2); p = min(1, 2·P(X ≤ min(b, c))).
    Uses ``mosseval.stats.mcnemar_exact`` (the same test ``compare`` uses) when available; the
    log-space fallback below gives the same numbers.
    """
    try:
        from mosseval.stats import mcnemar_exact as shared
    except ImportError:  # pragma: no cover - older stats module
        shared = None
    if shared is not None:
        return shared(b, c)
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    log_half_n = -n * math.log(2.0)
    lg = math.lgamma
    terms = [lg(n + 1) - lg(i + 1) - lg(n - i + 1) + log_half_n for i in range(k + 1)]
    top = max(terms)
    tail = math.exp(top) * sum(math.exp(t - top) for t in terms)
    return min(1.0, 2.0 * tail)


def _z_p(diff: float, se: float | None) -> float | None:
    if se is None:
        return None
    if se <= 0:
        return 1.0 if abs(diff) < 1e-12 else 0.0
    return 2.0 * (1.0 - _norm_cdf(abs(diff) / se))


def _paired_values(a: dict[str, float], b: dict[str, float], n_a: int, n_b: int) -> list[tuple[float, float]] | None:
    if not a or not b:
        return None
    small, big = (a, b) if len(a) <= len(b) else (b, a)
    common = [k for k in small if k in big]
    need = PAIRED_MIN_OVERLAP * max(1, min(n_a or len(a), n_b or len(b)))
    if not common or len(common) < need:
        return None
    return [(a[k], b[k]) for k in common]


def tie_test(metric: str, leader: _Cell, other: _Cell) -> dict:
    """Is ``other`` statistically indistinguishable from ``leader`` on ``metric``?

    accuracy: exact McNemar on the discordant pairs when both runs share per-sample keys
    (≥ PAIRED_MIN_OVERLAP of the smaller run), else an unpaired z-test on the difference with
    each side's standard error taken from its (cluster-aware) 95 % interval.
    prr: paired z-test on the per-sample differences, else the same unpaired z-test.
    """
    le, oe = leader.data.get(metric), other.data.get(metric)
    if not le or not oe:
        return {"tied": None, "test": None}
    diff = oe["value"] - le["value"]
    vec_l = leader.outcomes if metric == "accuracy" else leader.prr_values
    vec_o = other.outcomes if metric == "accuracy" else other.prr_values
    pairs = _paired_values(vec_l, vec_o, le.get("n", 0), oe.get("n", 0))
    if pairs is not None and metric == "accuracy":
        b = sum(1 for x, y in pairs if x >= 0.5 > y)
        c = sum(1 for x, y in pairs if y >= 0.5 > x)
        p = mcnemar_exact(b, c)
        return {"tied": p >= ALPHA, "test": "mcnemar-exact", "p_value": p, "n_paired": len(pairs),
                "discordant": [b, c], "diff": diff}
    if pairs is not None:
        d = [y - x for x, y in pairs]
        m = sum(d) / len(d)
        var = sum((v - m) ** 2 for v in d) / (len(d) - 1) if len(d) > 1 else 0.0
        p = _z_p(m, math.sqrt(var / len(d)))
        return {"tied": p >= ALPHA, "test": "paired-z", "p_value": p, "n_paired": len(pairs), "diff": diff}
    se_l, se_o = _se_from(le), _se_from(oe)
    if se_l is None or se_o is None:
        return {"tied": None, "test": None, "diff": diff}
    p = _z_p(diff, math.sqrt(se_l ** 2 + se_o ** 2))
    return {"tied": p >= ALPHA, "test": "unpaired-z", "p_value": p, "diff": diff}


# --------------------------------------------------------------------------- internal model


@dataclass
class _Cell:
    data: dict[str, Any]
    """The JSON cell (accuracy, prr, rates, judge, breakdowns, ...)."""
    outcomes: dict[str, float] = field(default_factory=dict)
    """item key → 1.0 / 0.0 correctness (paired tests)."""
    prr_values: dict[str, float] = field(default_factory=dict)


@dataclass
class _Entry:
    """One task or group result of one run, before columns are formed."""

    name: str
    kind: str  # "task" | "group"
    group: str | None
    ckey: dict[str, Any]
    info: dict[str, Any]
    cell: _Cell
    top_level: bool
    members: list[str] = field(default_factory=list)


@dataclass
class _Run:
    meta: dict[str, Any]
    entries: list[_Entry]
    samples: list[dict[str, Any]] = field(default_factory=list)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)


# --------------------------------------------------------------------------- run discovery


def expand_run_paths(items: Iterable[str | os.PathLike]) -> list[Path]:
    """Turn run directories, parent folders of runs and glob patterns into run directories.

    - a directory with ``run.json`` is a run;
    - a directory without one whose direct children are runs stands for those runs;
    - a glob pattern (``*``, ``?``, ``[``; ``**`` recursive) matches run directories or run.json files.
    Missing paths, patterns matching no run and directories that hold no run raise ``UsageError``
    naming the path.
    """
    out: list[Path] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        rp = p.resolve()
        if rp not in seen:
            seen.add(rp)
            out.append(p)

    for raw in items:
        text = os.fspath(raw)
        if any(ch in text for ch in "*?["):
            matches = sorted(glob.glob(os.path.expanduser(text), recursive=True))
            runs = []
            for m in matches:
                mp = Path(m)
                if mp.is_file() and mp.name == "run.json":
                    runs.append(mp.parent)
                elif mp.is_dir() and (mp / "run.json").is_file():
                    runs.append(mp)
            if not runs:
                raise UsageError(f"the pattern {text!r} matches no run directory "
                                 f"({len(matches)} path(s) matched, none holds a run.json)",
                                 hint="pass directories created by `mosseval run` (they contain run.json)")
            for r in runs:
                add(r)
            continue
        p = Path(text).expanduser()
        if not p.exists():
            raise UsageError(f"run directory {text!r} does not exist",
                             hint="pass directories created by `mosseval run`, or a glob such as 'runs/*'")
        if p.is_file():
            if p.name == "run.json":
                add(p.parent)
                continue
            raise UsageError(f"{text!r} is a file, not a run directory",
                             hint="pass the directory that contains run.json (lmms-eval results go to --lmms)")
        if (p / "run.json").is_file():
            add(p)
            continue
        children = sorted(c for c in p.iterdir() if c.is_dir() and (c / "run.json").is_file())
        if not children:
            raise UsageError(f"{text!r} is not a mosseval run directory (no run.json in it or in its "
                             f"sub-folders)", hint="pass directories created by `mosseval run`")
        for c in children:
            add(c)
    return out


# --------------------------------------------------------------------------- mosseval runs


def frames_label(frames: dict[str, Any] | None) -> str:
    """Short human description of a FrameSpec: ``16f``, ``8f uniform``, ``1fps≤64``."""
    if not frames:
        return "?f"
    strategy = frames.get("strategy", "uniform")
    if strategy == "fps":
        fps = frames.get("fps")
        fps_s = f"{fps:g}" if isinstance(fps, (int, float)) else "?"
        return f"{fps_s}fps≤{frames.get('max_frames')}"
    return f"{frames.get('num_frames')}f"


def task_comparability_key(name: str, result: TaskResult, spec: TaskSpec | None,
                           fingerprint: str | None = None) -> dict[str, Any]:
    """What must be equal for two runs' results on a task to share a column.

    With the effective TaskSpec: version, protocol, frame sampling, prompt, generation settings,
    scoring (extractor, format rule, PRR configuration, approximate flag), loader and loader
    arguments (split / file). Data *location* and descriptions do not matter. Without a spec the
    task fingerprint recorded in the run spec is used.
    """
    if spec is None:
        return {"origin": "mosseval", "task": name, "version": result.version, "protocol": result.protocol,
                "fingerprint": fingerprint}
    return {
        "origin": "mosseval",
        "task": name,
        "version": spec.version,
        "protocol": spec.protocol,
        "frames": spec.frames.model_dump(mode="json"),
        "prompt": _short_hash(spec.prompt.model_dump(mode="json") if spec.prompt else None, 16),
        "generation": _short_hash(spec.generation.model_dump(mode="json"), 16),
        "scoring": _short_hash(spec.scoring.model_dump(mode="json"), 16),
        "loader": spec.loader,
        "loader_args": _short_hash(spec.loader_args, 16),
    }


def _judge_summary(records: list[SampleRecord], reported: dict[str, Any]) -> dict[str, Any]:
    """Per judge: mean score ± CI, judged-correct rate ± CI, counts of verdicts and errors."""
    from mosseval.stats import mean_ci

    by: dict[str, dict[str, list]] = defaultdict(lambda: {"score": [], "score_c": [], "correct": [],
                                                         "correct_c": [], "errors": [0], "n": [0],
                                                         "pairs": []})
    for rec in records:
        if rec.score is None:
            continue
        for name, v in rec.score.judge.items():
            slot = by[name]
            slot["n"][0] += 1
            if v.error:
                slot["errors"][0] += 1
                continue
            if v.score is not None:
                slot["score"].append(float(v.score))
                slot["score_c"].append(rec.sample.cluster_key)
            if v.correct is not None:
                slot["correct"].append(1.0 if v.correct else 0.0)
                slot["correct_c"].append(rec.sample.cluster_key)
                slot["pairs"].append((bool(v.correct), bool(rec.score.correct)))
    out: dict[str, Any] = {}
    for name, slot in sorted(by.items()):
        entry: dict[str, Any] = {"n_verdicts": slot["n"][0], "n_errors": slot["errors"][0]}
        if slot["score"]:
            entry["score"] = _est(mean_ci(slot["score"], slot["score_c"], lower=None, upper=None))
        if slot["correct"]:
            entry["correct"] = _est(mean_ci(slot["correct"], slot["correct_c"], binary=True))
            agree, kappa = _agreement(slot["pairs"])
            entry["correct"].update(agreement=agree, kappa=kappa)
        out[name] = entry
    if not out and reported:
        # No per-sample verdicts: keep what run.json reports, as-is.
        for name, val in reported.items():
            if isinstance(val, dict):
                entry = {"reported": val}
                for key in ("score", "correct", "accuracy"):
                    v = val.get(key)
                    if isinstance(v, dict) and v.get("value") is not None:
                        entry["score" if key == "score" else "correct"] = _est(v)
                    elif isinstance(v, (int, float)) and not isinstance(v, bool):
                        entry["score" if key == "score" else "correct"] = {"value": float(v), "ci_low": None,
                                                                           "ci_high": None, "n": 0}
                out[name] = entry
    return out


def _agreement(pairs: list[tuple[bool, bool]]) -> tuple[float | None, float | None]:
    """Share of items where the judge and the rule-based score agree, and Cohen's kappa."""
    n = len(pairs)
    if not n:
        return None, None
    po = sum(a == b for a, b in pairs) / n
    pj = sum(a for a, _ in pairs) / n
    pr = sum(b for _, b in pairs) / n
    pe = pj * pr + (1 - pj) * (1 - pr)
    return po, (None if pe >= 1 else (po - pe) / (1 - pe))


def _primary_judge(judge: dict[str, Any]) -> dict | None:
    for name, entry in judge.items():
        for key in ("score", "correct"):
            if entry.get(key):
                return {"name": name, "metric": key, **entry[key]}
    return None


def _cell_from_result(res: TaskResult, records: list[SampleRecord]) -> _Cell:
    judge = _judge_summary(records, res.judge)
    data: dict[str, Any] = {
        "n": res.n,
        "n_errors": res.n_errors,
        "accuracy": _est(res.accuracy),
        "prr": _est(res.prr),
        "prr_correct": _est(res.prr_correct),
        "prr_incorrect": _est(res.prr_incorrect),
        "prr_not_applicable": res.prr_not_applicable,
        "format_rate": res.format_rate,
        "parse_failure_rate": res.parse_failure_rate,
        "error_rate": res.error_rate,
        "approximate": bool(res.approximate),
        "judge": judge,
        "judge_primary": _primary_judge(judge),
        "breakdowns": {kind: {k: _est(v) for k, v in vals.items()} for kind, vals in res.breakdowns.items()},
    }
    outcomes: dict[str, float] = {}
    prr_values: dict[str, float] = {}
    for rec in records:
        key = f"{rec.task}/{rec.sample.id}"
        outcomes[key] = 1.0 if (rec.score is not None and rec.score.correct) else 0.0
        if rec.score is not None and rec.score.prr is not None:
            prr_values[key] = float(rec.score.prr)
    return _Cell(data, outcomes, prr_values)


def _first(*values: Any) -> Any:
    for v in values:
        if v not in (None, "", {}):
            return v
    return None


def _model_meta(log: RunLog) -> dict[str, Any]:
    spec = log.spec
    ident = log.identity.get("model") if isinstance(log.identity.get("model"), dict) else {}
    mid = spec.model_identity or {}
    extra = log.extra or {}
    pool = [mid, ident, extra.get("model", {}) if isinstance(extra.get("model"), dict) else {}, extra]

    def pick(*keys: str) -> Any:
        for d in pool:
            for k in keys:
                if isinstance(d, dict) and d.get(k) not in (None, ""):
                    return d[k]
        return None

    params = pick("params", "num_parameters", "n_params", "parameters")
    return {
        "checkpoint": pick("checkpoint", "path", "name_or_path", "model_id", "target", "revision_path"),
        "revision": pick("revision", "commit", "sha"),
        "params": params if isinstance(params, (int, float)) and not isinstance(params, bool) else None,
    }


def _load_mosseval_run(path: Path, index: int) -> tuple[_Run, list[SampleRecord], RunLog]:
    from mosseval.rundir import load_run, verify_run

    loaded = load_run(path)
    stale = verify_run(loaded)
    if stale:  # never trust a run.json that disagrees with samples.jsonl: recompute (in memory)
        from mosseval.runner import recompute_stale

        loaded = recompute_stale(loaded)
    log = loaded.log
    spec = log.spec
    refs = {t.name: t for t in spec.tasks}
    by_task: dict[str, list[SampleRecord]] = defaultdict(list)
    for rec in loaded.records:
        by_task[rec.task].append(rec)
    n_records = len(loaded.records)

    entries: list[_Entry] = []
    task_keys: dict[str, dict[str, Any]] = {}
    for name, res in log.results.items():
        tspec = log.task_specs.get(name)
        ref = refs.get(name)
        ckey = task_comparability_key(name, res, tspec, ref.fingerprint if ref else None)
        task_keys[name] = ckey
        group = ref.group if ref else None
        info = {
            "task": name, "version": res.version, "protocol": res.protocol,
            "frames": tspec.frames.model_dump(mode="json") if tspec else None,
            "frames_label": frames_label(tspec.frames.model_dump(mode="json")) if tspec else None,
            "approximate": bool(res.approximate or (tspec.scoring.approximate if tspec else False)),
            "has_prr": res.prr is not None,
            "has_format": res.format_rate is not None,
            "group": group,
            "fingerprint": ref.fingerprint if ref else None,
        }
        entries.append(_Entry(name, "task", group, ckey, info, _cell_from_result(res, by_task.get(name, [])),
                              top_level=group is None or group not in log.groups))
    for gname, res in log.groups.items():
        members = [t.name for t in spec.tasks if t.group == gname and t.name in log.results]
        recs = [r for m in members for r in by_task.get(m, [])]
        ckey = {"origin": "mosseval", "group": gname, "version": res.version, "protocol": res.protocol,
                "members": sorted(_short_hash(task_keys[m], 16) for m in members)}
        frames = sorted({frames_label(log.task_specs[m].frames.model_dump(mode="json"))
                         for m in members if m in log.task_specs})
        info = {
            "task": gname, "version": res.version, "protocol": res.protocol, "frames": None,
            "frames_label": "/".join(frames) if frames else None,
            "approximate": bool(res.approximate), "has_prr": res.prr is not None,
            "has_format": res.format_rate is not None, "group": None, "members": members,
        }
        entries.append(_Entry(gname, "group", None, ckey, info, _cell_from_result(res, recs), True, members))

    meta = {
        "run_id": log.run_id,
        "name": spec.model,
        "backend": spec.backend,
        **_model_meta(log),
        "date": log.created_at,
        "updated_at": log.updated_at,
        "git_revision": spec.git_revision,
        "mosseval_version": spec.mosseval_version,
        "origin": "mosseval",
        "status": log.status,
        "limit": spec.limit,
        "seed": spec.seed,
        "model_args": spec.model_args,
        "identity_hash": log.identity.get("hash") if isinstance(log.identity.get("hash"), str) else None,
        "run_dir": str(path),
        "n_samples": n_records,
        "n_expected": log.n_expected,
        "n_errors": log.n_errors,
        "packages": spec.packages,
        "task_data": {name: ts.data.model_dump(mode="json") for name, ts in log.task_specs.items()},
        "order": index,
        "stale": stale,
        "published": [{"task": v.score.task, "status": v.status, "line": v.line, "source": v.score.source}
                      for v in log.published],
    }
    from mosseval.redact import redact_value

    return _Run(redact_value(meta), entries), loaded.records, log


# --------------------------------------------------------------------------- sample selection


def _item_payload(rec: SampleRecord) -> dict[str, Any]:
    s = rec.sample
    video = None
    if s.video is not None:
        video = {"path": s.video.path, "kind": s.video.kind, "start": s.video.start, "end": s.video.end,
                 "fps": s.video.fps, "first_index": s.video.first_index}
    q, _ = _truncate(s.question, MAX_TEXT_CHARS)
    return {
        "task": rec.task,
        "id": s.id,
        "question": q,
        "options": s.options,
        "answer": _truncate(s.answer, MAX_TEXT_CHARS)[0],
        "question_type": s.question_type,
        "category": s.category,
        "level": s.level,
        "video": video,
        "reference_steps": [[st.t, _truncate(st.text, MAX_TEXT_CHARS)[0]] for st in s.reference_steps[:128]],
    }


def _sample_payload(rec: SampleRecord, item_id: str, why: str) -> dict[str, Any]:
    g, sc = rec.generation, rec.score
    text, cut = _truncate(g.text, MAX_GENERATION_CHARS)
    out: dict[str, Any] = {
        "key": rec.key, "item": item_id, "task": rec.task, "index": rec.index, "why": why,
        "text": text, "text_truncated": cut,
        "error": ({"kind": g.error.kind, "message": _truncate(g.error.message, 500)[0]} if g.error else None),
        "latency_s": g.latency_s,
        "tokens": g.usage.completion_tokens if g.usage else None,
        "frames": ({"indices": g.frames.indices[:256], "timestamps": [round(t, 3) for t in g.frames.timestamps[:256]],
                    "decoder": g.frames.decoder, "sampled_fps": g.frames.sampled_fps}
                   if g.frames else None),
    }
    if sc is not None:
        out.update({
            "extracted": sc.extracted, "correct": sc.correct, "parse_failed": sc.parse_failed,
            "format_ok": sc.format_ok, "prr": sc.prr, "prr_status": sc.prr_status,
            "approximate": sc.approximate,
            "steps": [_truncate(x, MAX_TEXT_CHARS)[0] for x in sc.steps[:128]],
            "steps_truncated": sc.steps_truncated,
            "alignment": ({"cost": sc.prr_detail.cost, "normalized_cost": sc.prr_detail.normalized_cost,
                           "path": [list(p) for p in sc.prr_detail.path],
                           "distances": [round(d, 4) for d in sc.prr_detail.step_distances]}
                          if sc.prr_detail else None),
            "judge": {name: {"score": v.score, "correct": v.correct, "error": v.error,
                             "extracted_answer": v.extracted_answer,
                             "rationale": _truncate(v.rationale, MAX_TEXT_CHARS)[0]}
                      for name, v in sc.judge.items()},
        })
    return out


def select_samples(records: list[SampleRecord], k: int) -> list[tuple[SampleRecord, str]]:
    """Deterministic mix: ~1/3 wrong answers, ~1/3 lowest PRR, the rest a key-hashed "random" draw.

    The random part ranks items by a hash of (task, sample id) only, so different runs show the
    same items and can be compared side by side.
    """
    if k <= 0 or not records:
        return []
    if len(records) <= k:
        chosen = [(r, "wrong" if not (r.score and r.score.correct) else "all") for r in records]
        return sorted(chosen, key=lambda x: (x[0].task, x[0].index))
    shared = {id(r): _stable_rank(r.task, r.sample.id) for r in records}
    picked: dict[int, tuple[SampleRecord, str]] = {}
    wrong = sorted((r for r in records if not (r.score and r.score.correct)), key=lambda r: shared[id(r)])
    for r in wrong[: k // 3]:
        picked[id(r)] = (r, "wrong")
    low = sorted((r for r in records if r.score and r.score.prr is not None and id(r) not in picked),
                 key=lambda r: (r.score.prr, shared[id(r)]))
    for r in low[: k // 3]:
        picked[id(r)] = (r, "low-prr")
    for r in sorted(records, key=lambda r: shared[id(r)]):
        if len(picked) >= k:
            break
        if id(r) not in picked:
            picked[id(r)] = (r, "random")
    return sorted(picked.values(), key=lambda x: (x[0].task, x[0].index))


def _attach_samples(run: _Run, records: list[SampleRecord], k: int, items: dict[str, dict]) -> None:
    for rec, why in select_samples(records, k):
        payload = _item_payload(rec)
        item_id = _short_hash(payload, 12)
        items.setdefault(item_id, payload)
        run.samples.append(_sample_payload(rec, item_id, why))


# --------------------------------------------------------------------------- columns


def _split_label(task: str, infos: list[dict[str, Any]], ckeys: list[dict[str, Any]], idx: int) -> str:
    """Label for one of several incompatible variants of the same task name.

    ``task [protocol, frames]``; the version is added when that is not enough to tell two variants
    apart, then a short hash of the comparability key (e.g. a different prompt).
    """
    def base(i: int) -> tuple:
        info = infos[i]
        parts = []
        if len({x.get("origin_label") or "" for x in infos}) > 1 and info.get("origin_label"):
            parts.append(info["origin_label"])
        parts.append(str(info.get("protocol") or "?"))
        if info.get("frames_label"):
            parts.append(info["frames_label"])
        return tuple(parts)

    others = [j for j in range(len(infos)) if j != idx]
    parts = list(base(idx))
    same = [j for j in others if base(j) == base(idx)]
    if same:
        parts.append(f"v{infos[idx].get('version')}")
        same = [j for j in same if str(infos[j].get("version")) == str(infos[idx].get("version"))]
    if same:
        parts.append(f"cfg {_short_hash(ckeys[idx], 6)}")
    return f"{task} [{', '.join(parts)}]"


def _differences(ckeys: list[dict[str, Any]]) -> list[str]:
    keys = sorted({k for c in ckeys for k in c})
    return [k for k in keys if len({_short_hash(c.get(k), 16) for c in ckeys}) > 1]


def _build_columns(runs: list[_Run]) -> tuple[list[dict], dict[tuple[int, int], str], list[str]]:
    """Group entries by name, split by comparability key. Returns columns, (run, entry) → column id."""
    variants: dict[tuple[str, str], dict[str, Any]] = {}
    by_name: dict[str, list[str]] = defaultdict(list)
    where: dict[tuple[int, int], str] = {}
    for ri, run in enumerate(runs):
        for ei, e in enumerate(run.entries):
            name = e.name if e.ckey.get("origin") != "lmms-eval" else f"lmms-eval:{e.name}"
            h = _short_hash(e.ckey, 8)
            cid = f"{name}@{h}"
            if cid not in variants:
                variants[cid] = {"entry": e, "name": name, "runs": 0, "top": False, "members": set()}
                by_name[name].append(cid)
            v = variants[cid]
            v["runs"] += 1
            v["top"] = v["top"] or e.top_level
            where[(ri, ei)] = cid
    # Member columns of a group column: the subtask columns whose entries belong to that group.
    for ri, run in enumerate(runs):
        names = {e.name: ei for ei, e in enumerate(run.entries)}
        for ei, e in enumerate(run.entries):
            if e.kind == "group":
                for m in e.members:
                    if m in names:
                        variants[where[(ri, ei)]]["members"].add(where[(ri, names[m])])

    warnings: list[str] = []
    columns: list[dict] = []
    for cids in by_name.values():
        infos = []
        for cid in cids:
            e = variants[cid]["entry"]
            info = dict(e.info)
            info["origin_label"] = "lmms-eval" if e.ckey.get("origin") == "lmms-eval" else None
            infos.append(info)
        ckeys = [variants[c]["entry"].ckey for c in cids]
        split = len(cids) > 1
        diffs = _differences(ckeys) if split else []
        for i, cid in enumerate(cids):
            v = variants[cid]
            e: _Entry = v["entry"]
            info = infos[i]
            external = e.ckey.get("origin") == "lmms-eval"
            label = _split_label(e.name, infos, ckeys, i) if split else e.name
            if external and not split:
                label = f"{e.name} (lmms-eval)"
            columns.append({
                "id": cid,
                "task": e.name,
                "label": label,
                "kind": e.kind,
                "top_level": bool(v["top"]),
                "group": e.group if not external else e.info.get("group"),
                "members": sorted(v["members"]),
                "version": info.get("version"),
                "protocol": info.get("protocol"),
                "frames": info.get("frames"),
                "frames_label": info.get("frames_label"),
                "approximate": bool(info.get("approximate")),
                "has_prr": bool(info.get("has_prr")),
                "has_format": bool(info.get("has_format")),
                "origin": "lmms-eval" if external else "mosseval",
                "external": external,
                "split": split,
                "split_differs": diffs,
                "comparability_key": e.ckey,
                "n_runs": v["runs"],
                "notes": list(e.info.get("notes", [])),
            })
    by_id = {c["id"]: c for c in columns}
    for c in columns:
        for m in c["members"]:
            if m in by_id:
                by_id[m]["group_column"] = c["id"]
    # Group keys differ through their members' keys: name the members' differing fields instead.
    for c in columns:
        if c["split"] and c["kind"] == "group":
            inner = sorted({d for m in c["members"] if m in by_id for d in by_id[m]["split_differs"]})
            c["split_differs"] = [d for d in c["split_differs"] if d != "members"] + \
                [d for d in inner if d not in c["split_differs"]] or c["split_differs"]
    # One warning per split task; subtasks whose group column is itself split are covered by it.
    done: set[str] = set()
    for c in columns:
        name = c["id"].rsplit("@", 1)[0]
        if not c["split"] or name in done:
            continue
        variants = [x for x in columns if x["id"].rsplit("@", 1)[0] == name]
        if all(not x["top_level"] and by_id.get(x.get("group_column"), {}).get("split") for x in variants):
            continue
        done.add(name)
        diffs = sorted({d for x in variants for d in x["split_differs"]})
        subs = " (and its subtasks)" if c["kind"] == "group" else ""
        warnings.append(f"{c['task']!r}{subs} was run under {len(variants)} incompatible settings (differing: "
                        f"{', '.join(diffs)}); shown as separate columns, never merged")
    # Order: mosseval before external; top-level columns alphabetically, each group followed by its
    # subtask columns (so "show subtask columns" puts them next to their group).
    def key(c: dict) -> tuple:
        return (c["external"], c["task"].lower(), c["label"])

    ordered: list[dict] = []
    placed: set[str] = set()
    for c in sorted((c for c in columns if c["top_level"]), key=key):
        ordered.append(c)
        placed.add(c["id"])
        for m in sorted((by_id[m] for m in c["members"] if m in by_id), key=key):
            if m["id"] not in placed and not m["top_level"]:
                ordered.append(m)
                placed.add(m["id"])
    ordered.extend(sorted((c for c in columns if c["id"] not in placed), key=key))
    return ordered, where, warnings


# --------------------------------------------------------------------------- overall and ties


def _overall_columns(runs: list[_Run], cells: list[dict[str, _Cell]], columns: list[dict]) -> list[str]:
    top = [c["id"] for c in columns if c["top_level"]]
    ref = [i for i, r in enumerate(runs) if r.meta["origin"] == "mosseval"] or list(range(len(runs)))
    return [cid for cid in top if all(cid in cells[i] and cells[i][cid].data.get("accuracy") for i in ref)]


def _overall_cell(cells: dict[str, _Cell], cols: list[str]) -> _Cell | None:
    if not cols or not all(c in cells and cells[c].data.get("accuracy") for c in cols):
        return None
    if len(cols) == 1:
        # One shared column: the overall *is* that column (same estimate, same tie test).
        src = cells[cols[0]].data
        keep = ("accuracy", "prr", "format_rate", "parse_failure_rate", "error_rate", "judge_primary",
                "approximate", "n", "tie")
        return _Cell({k: src.get(k) for k in keep}, cells[cols[0]].outcomes, cells[cols[0]].prr_values)
    data: dict[str, Any] = {}
    for metric in ("accuracy", "prr"):
        ests = [cells[c].data.get(metric) for c in cols]
        ests = [e for e in ests if e]
        if not ests or (metric == "accuracy" and len(ests) != len(cols)):
            data[metric] = None
            continue
        k = len(ests)
        mean = sum(e["value"] for e in ests) / k
        ses = [_se_from(e) for e in ests]
        if all(s is not None for s in ses):
            se = math.sqrt(sum(s * s for s in ses)) / k
            data[metric] = {"value": mean, "ci_low": max(0.0, mean - Z95 * se), "ci_high": min(1.0, mean + Z95 * se),
                            "n": sum(e.get("n", 0) for e in ests), "method": f"macro-mean of {k}"}
        else:
            data[metric] = {"value": mean, "ci_low": None, "ci_high": None, "n": sum(e.get("n", 0) for e in ests),
                            "method": f"macro-mean of {k}"}
    for rate in ("format_rate", "parse_failure_rate", "error_rate"):
        vals = [cells[c].data.get(rate) for c in cols]
        vals = [v for v in vals if v is not None]
        data[rate] = sum(vals) / len(vals) if vals else None
    js = [cells[c].data.get("judge_primary") for c in cols]
    js = [j for j in js if j]
    data["judge_primary"] = ({"name": js[0]["name"], "metric": js[0]["metric"],
                              "value": sum(j["value"] for j in js) / len(js), "ci_low": None, "ci_high": None,
                              "n": sum(j.get("n", 0) for j in js)}
                             if js and len({(j["name"], j["metric"]) for j in js}) == 1 else None)
    data["approximate"] = any(cells[c].data.get("approximate") for c in cols)
    data["n"] = sum(cells[c].data.get("n", 0) for c in cols)
    return _Cell(data, {}, {})


def _overall_tie(metric: str, leader: dict[str, _Cell], other: dict[str, _Cell], cols: list[str],
                 lo: dict, oo: dict) -> dict:
    """Tie test on the macro-mean: paired z over per-column mean differences when every column
    pairs, else unpaired z with the macro-means' standard errors."""
    diff = oo["value"] - lo["value"]
    var = 0.0
    paired_ok = True
    n_paired = 0
    for c in cols:
        lc, oc = leader[c], other[c]
        a = lc.outcomes if metric == "accuracy" else lc.prr_values
        b = oc.outcomes if metric == "accuracy" else oc.prr_values
        le, oe = lc.data.get(metric) or {}, oc.data.get(metric) or {}
        pairs = _paired_values(a, b, le.get("n", 0), oe.get("n", 0))
        if pairs is None:
            paired_ok = False
            break
        d = [y - x for x, y in pairs]
        m = sum(d) / len(d)
        v = sum((x - m) ** 2 for x in d) / (len(d) - 1) if len(d) > 1 else 0.0
        var += v / len(d)
        n_paired += len(d)
    if paired_ok and cols:
        p = _z_p(diff, math.sqrt(var) / len(cols))
        return {"tied": p >= ALPHA, "test": "paired-z (macro-mean)", "p_value": p, "n_paired": n_paired, "diff": diff}
    se_l, se_o = _se_from(lo), _se_from(oo)
    if se_l is None or se_o is None:
        return {"tied": None, "test": None, "diff": diff}
    p = _z_p(diff, math.sqrt(se_l ** 2 + se_o ** 2))
    return {"tied": p >= ALPHA, "test": "unpaired-z", "p_value": p, "diff": diff}


def _leader(run_ids: list[int], values: dict[int, dict]) -> int | None:
    cands = [i for i in run_ids if values.get(i) and values[i].get("value") is not None]
    if not cands:
        return None
    return max(cands, key=lambda i: (values[i]["value"], values[i].get("n", 0), -i))


def _apply_ties(cells: list[dict[str, _Cell]], columns: list[dict]) -> None:
    for col in columns:
        cid = col["id"]
        holders = [i for i, c in enumerate(cells) if cid in c]
        for metric in ("accuracy", "prr"):
            values = {i: cells[i][cid].data.get(metric) for i in holders}
            lead = _leader(holders, values)
            if lead is None:
                continue
            col.setdefault("leader", {})[metric] = lead
            for i in holders:
                if not values.get(i):
                    continue
                if i == lead:
                    t = {"leader": True, "tied": True, "test": None}
                else:
                    t = {"leader": False, **tie_test(metric, cells[lead][cid], cells[i][cid])}
                cells[i][cid].data.setdefault("tie", {})[metric] = t


# --------------------------------------------------------------------------- entry point


def _clean(obj: Any) -> Any:
    """Replace NaN/inf by None (JSON has no NaN) recursively."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def _display_names(runs: list[_Run]) -> None:
    counts: dict[str, int] = defaultdict(int)
    for r in runs:
        counts[r.meta["name"]] += 1
    for r in runs:
        name = r.meta["name"]
        disp = name
        if counts[name] > 1:
            date = (r.meta.get("date") or "")[:16].replace("T", " ")
            disp = f"{name} · {date or r.meta['run_id'][:8]}"
        r.meta["display_name"] = disp
    seen: dict[str, int] = defaultdict(int)
    for r in runs:
        seen[r.meta["display_name"]] += 1
        if seen[r.meta["display_name"]] > 1:
            r.meta["display_name"] += f" ({r.meta['run_id'][:8]})"


def build_leaderboard(run_dirs_or_globs: list[str], *, lmms: list[str] | None = None,
                      samples_per_run: int = 100, title: str | None = None) -> dict[str, Any]:
    """Aggregate runs into the canonical leaderboard dict (write it with ``write_leaderboard_json``).

    ``run_dirs_or_globs``: run directories, parent folders of runs, or glob patterns.
    ``lmms``: lmms-eval ``*_results.json`` files or folders holding them (imported as origin
    "lmms-eval", in their own "external" columns). ``samples_per_run``: how many per-sample records
    per run are embedded for the HTML sample browser (0 disables).
    Raises ``UsageError`` for missing / invalid paths and when no run is found.
    """
    paths = expand_run_paths(run_dirs_or_globs or [])
    runs: list[_Run] = []
    items: dict[str, dict[str, Any]] = {}
    with gc_paused():  # one definition: mosseval.rundir
        for i, p in enumerate(paths):
            run, records, _log = _load_mosseval_run(p, i)
            _attach_samples(run, records, samples_per_run, items)
            runs.append(run)
            del records, _log
        if lmms:
            from mosseval.leaderboard.lmms_import import load_lmms_runs

            for imported in load_lmms_runs(lmms, samples_per_run=samples_per_run, items=items,
                                           start_index=len(runs)):
                runs.append(imported)
    if not runs:
        raise UsageError("no runs to put on the leaderboard",
                         hint="pass run directories created by `mosseval run` (or lmms-eval results with --lmms)")
    seen_ids: dict[str, int] = defaultdict(int)
    for r in runs:
        seen_ids[r.meta["run_id"]] += 1
        if seen_ids[r.meta["run_id"]] > 1:
            r.meta["run_id"] = f"{r.meta['run_id']}~{seen_ids[r.meta['run_id']]}"
    _display_names(runs)

    columns, where, warnings = _build_columns(runs)
    cells: list[dict[str, _Cell]] = [dict() for _ in runs]
    for (ri, ei), cid in where.items():
        cells[ri][cid] = runs[ri].entries[ei].cell
    _apply_ties(cells, columns)

    overall_cols = _overall_columns(runs, cells, columns)
    overall_cells = [_overall_cell(c, overall_cols) for c in cells]
    overall_leader: dict[str, int] = {}
    if len(overall_cols) > 1:
        for metric in ("accuracy", "prr"):
            vals = {i: (oc.data.get(metric) if oc else None) for i, oc in enumerate(overall_cells)}
            lead = _leader(list(range(len(runs))), vals)
            if lead is None:
                continue
            overall_leader[metric] = lead
            for i, oc in enumerate(overall_cells):
                if oc is None or not oc.data.get(metric):
                    continue
                if i == lead:
                    t = {"leader": True, "tied": True, "test": None}
                else:
                    t = {"leader": False, **_overall_tie(metric, cells[lead], cells[i], overall_cols,
                                                         overall_cells[lead].data[metric], oc.data[metric])}
                oc.data.setdefault("tie", {})[metric] = t
    elif overall_cols:
        col = next(c for c in columns if c["id"] == overall_cols[0])
        overall_leader = {m: i for m, i in col.get("leader", {}).items()}
    elif any(c["top_level"] for c in columns):
        warnings.append("no task is shared by every mosseval run: the board has no overall column")
    for c in columns:
        if c["external"]:
            c["notes"].append("imported from lmms-eval: its prompt, frame sampling and scoring are not "
                              "verified to match any mosseval task, so it is never merged with one")
    if any(c["approximate"] for c in columns):
        warnings.append("columns marked ~ are approximate (an offline stand-in for the official protocol, "
                        "e.g. MMVU without its GPT-4o judge)")
    for r in runs:
        if r.meta.get("stale"):
            warnings.append(f"run {r.meta['display_name']!r}: its run.json was stale ({'; '.join(r.meta['stale'])}); "
                            "its numbers were recomputed from samples.jsonl (`mosseval score` rewrites run.json)")
        if r.meta.get("status") not in (None, "completed", "completed_with_errors"):
            warnings.append(f"run {r.meta['display_name']!r} is {r.meta['status']}: its numbers cover "
                            f"{r.meta.get('n_samples')} finished samples")

    leader_name = {m: runs[i].meta["run_id"] for m, i in overall_leader.items()}
    for c in columns:
        c["leader"] = {m: runs[i].meta["run_id"] for m, i in c.get("leader", {}).items()}

    out_runs = []
    for i, r in enumerate(runs):
        out_runs.append({
            **r.meta,
            "cells": {cid: cell.data for cid, cell in cells[i].items()},
            "overall": overall_cells[i].data if overall_cells[i] else None,
        })
    board = {
        "schema_version": LEADERBOARD_SCHEMA_VERSION,
        "kind": "mosseval-leaderboard",
        "title": title or "mosseval leaderboard",
        "generated_at": _iso_now(),
        "mosseval_version": _version(),
        "settings": {
            "alpha": ALPHA,
            "paired_min_overlap": PAIRED_MIN_OVERLAP,
            "overall": "unweighted mean of accuracy over the top-level columns that every mosseval run has",
            "tie_test": {
                "accuracy": "exact McNemar on per-sample discordant pairs (paired); unpaired z-test with "
                            "SEs from each run's cluster-aware 95% CI otherwise",
                "prr": "paired z-test on per-sample PRR differences; unpaired z-test otherwise",
                "overall": "paired z-test on the macro-mean of per-column paired differences; unpaired z otherwise",
            },
            "samples_per_run": samples_per_run,
        },
        "columns": columns,
        "overall": {"columns": overall_cols, "leader": leader_name,
                    "definition": "unweighted mean over the listed columns (shared by every mosseval run)"},
        "runs": out_runs,
        "warnings": warnings,
        "samples": {"items": items, "runs": {r.meta["run_id"]: r.samples for r in runs}},
    }
    return _clean(board)


def _version() -> str:
    from mosseval import __version__

    return __version__


def write_leaderboard_json(board: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write the board atomically (``OutputError`` when the location is not writable)."""
    from mosseval.leaderboard.render import _write_text_atomic

    return _write_text_atomic(Path(path), json.dumps(board, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
