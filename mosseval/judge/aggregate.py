"""Per-task judge summaries (``TaskResult.judge[rubric]``) from the verdicts in the records.

Conventions (documented in docs/howto/judge.md):

* ``n`` counts items that carry a verdict of this rubric; ``n_errors`` the verdicts that are judge
  errors (transport failures after retries, unparseable replies). Judge errors are **excluded**
  from every mean and denominator (``n_valid = n - n_errors``) and reported separately, never
  counted as wrong; ``accuracy_bounds`` shows the range if they had all been wrong / all right.
* Items whose model produced no output (a generation error, an empty reply) are not sent to the
  judge: for a correctness rubric they are wrong (as in the rule-based score), for a score rubric
  they get the scale minimum; ``n_no_output`` counts them.
* Items a rubric does not apply to (e.g. no reference timeline) carry no verdict and are counted in
  ``n_not_applicable``.
* Agreement with the rule-based score (correctness rubrics): the share of valid verdicts whose
  ``correct`` equals ``score.correct``, and Cohen's kappa (None when chance agreement is 1).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from mosseval.records import SampleRecord
from mosseval.stats import mean_ci

NO_OUTPUT = "no model output"


def _field(rec: SampleRecord, key: str) -> Any:
    if key == "task":
        return rec.task
    if key.startswith("metadata."):
        value: Any = rec.sample.metadata
        for part in key.split(".")[1:]:
            value = value.get(part) if isinstance(value, dict) else None
        return value
    return getattr(rec.sample, key, None)


def cohen_kappa(a: list[bool], b: list[bool]) -> float | None:
    n = len(a)
    if n == 0:
        return None
    po = sum(x == y for x, y in zip(a, b)) / n
    pa, pb = sum(a) / n, sum(b) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    if pe >= 1.0 - 1e-12:
        return None
    return (po - pe) / (1 - pe)


def _pearson(x: list[float], y: list[float]) -> float | None:
    n = len(x)
    if n < 3:
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((v - mx) ** 2 for v in x)
    syy = sum((v - my) ** 2 for v in y)
    if sxx <= 0 or syy <= 0:
        return None
    return sum((u - mx) * (v - my) for u, v in zip(x, y)) / math.sqrt(sxx * syy)


def summarize_rubric(rubric: Any, judge_model: str | None, records: list[SampleRecord], n_applicable: int,
                     n_not_applicable: int = 0, breakdowns: list[str] | None = None) -> dict[str, Any]:
    """The summary dict of one rubric over one task's (or group's) records.

    ``n_applicable``: items the rubric applies to (each should carry a verdict once judging is
    complete); ``n_not_applicable``: items it does not apply to."""
    name = rubric.name
    judged = [r for r in records if r.score is not None and name in r.score.judge]
    verdicts = [r.score.judge[name] for r in judged]  # type: ignore[union-attr]
    valid = [(r, v) for r, v in zip(judged, verdicts) if v.error is None]
    errors = [v for v in verdicts if v.error is not None]
    judges = sorted({v.judge for v in verdicts})
    versions = sorted({v.rubric_version for v in verdicts})
    judge_model = judge_model or (judges[0] if judges else "")
    out: dict[str, Any] = {
        "rubric": name,
        "rubric_version": versions[0] if len(versions) == 1 else versions,
        "kind": rubric.kind,
        "judge": judges[0] if len(judges) == 1 else judges,
        "n": len(verdicts),
        "n_valid": len(valid),
        "n_errors": len(errors),
        "n_no_output": sum(1 for v in verdicts if v.error is None and (v.rationale or "").startswith(NO_OUTPUT)),
        "n_pending": max(0, n_applicable - len(verdicts)),
        "n_not_applicable": n_not_applicable,
        "complete": len(verdicts) >= n_applicable and not errors,
        "official": bool(rubric.official),
    }
    clusters = [r.sample.cluster_key for r, _ in valid]
    scores = [v.score for _, v in valid if v.score is not None]
    lo, hi = (rubric.scale if rubric.scale else (0.0, 1.0))
    out["mean_score"] = mean_ci(scores, [r.sample.cluster_key for r, v in valid if v.score is not None],
                                binary=rubric.kind == "correctness", lower=lo, upper=hi).model_dump(mode="json")
    if rubric.kind == "score":
        out["scale"] = [lo, hi]
        prr = [(v.score, r.score.prr) for r, v in valid if v.score is not None and r.score is not None
               and r.score.prr is not None]
        if prr:
            out["pearson_with_prr"] = _pearson([float(a) for a, _ in prr], [float(b) for _, b in prr])
    if rubric.kind == "correctness":
        flags = [bool(v.correct) for _, v in valid]
        acc = mean_ci([1.0 if f else 0.0 for f in flags], clusters, binary=True)
        out["accuracy"] = acc.model_dump(mode="json")
        n_all = len(verdicts)
        n_ok = sum(flags)
        out["accuracy_bounds"] = ([n_ok / n_all, (n_ok + len(errors)) / n_all] if n_all else [None, None])
        pairs = [(bool(v.correct), bool(r.score.correct)) for r, v in valid if r.score is not None]
        if pairs:
            jj, rr = [p[0] for p in pairs], [p[1] for p in pairs]
            out["agreement"] = {
                "n": len(pairs),
                "rate": sum(a == b for a, b in pairs) / len(pairs),
                "cohen_kappa": cohen_kappa(jj, rr),
                "both_correct": sum(a and b for a, b in pairs),
                "judge_only": sum(a and not b for a, b in pairs),
                "rule_only": sum(b and not a for a, b in pairs),
                "both_wrong": sum(not a and not b for a, b in pairs),
            }
        if rubric.official:
            out["official_accuracy"] = out["accuracy"]
            note = ("official score: judged accuracy over all judged items (multiple-choice included); "
                    f"{len(errors)} judge error(s) excluded from the denominator")
            if rubric.official_judge and judge_model and not str(judge_model).startswith(rubric.official_judge):
                note += f"; judged by {judge_model}, not the official {rubric.official_judge}"
            out["official_note"] = note
    for key in breakdowns or []:
        groups: dict[str, list[tuple[float, str]]] = defaultdict(list)
        for r, v in valid:
            value = _field(r, key)
            if value is None or v.score is None:
                continue
            x = (1.0 if v.correct else 0.0) if rubric.kind == "correctness" else float(v.score)
            groups[str(value)].append((x, r.sample.cluster_key))
        if groups:
            out.setdefault("breakdowns", {})[key.removeprefix("metadata.")] = {
                val: mean_ci([x for x, _ in items], [c for _, c in items],
                             binary=rubric.kind == "correctness", lower=lo, upper=hi).model_dump(mode="json")
                for val, items in sorted(groups.items())
            }
    usage = [v.usage for v in verdicts if v.usage is not None]
    out["tokens"] = {"prompt": sum(u.prompt_tokens or 0 for u in usage),
                     "completion": sum(u.completion_tokens or 0 for u in usage)}
    return out


__all__ = ["summarize_rubric", "cohen_kappa", "NO_OUTPUT"]
