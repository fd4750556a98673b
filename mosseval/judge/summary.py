"""Judge summaries: a pure function of a run (``run.json`` + ``samples.jsonl``) and the judge's files.

Conventions (docs: explanation/judge):

* ``n`` counts items carrying a current verdict of the rubric; ``n_errors`` the verdicts that are judge
  errors (transport failures after retries, unparseable replies). Judge errors are **excluded** from every
  mean and denominator (``n_valid = n - n_errors``) and reported separately, never counted as wrong;
  ``accuracy_bounds`` shows the range if they had all been wrong / all right.
* Items whose model produced no output (a generation error, an empty reply) are not sent to the judge:
  for a correctness rubric they are wrong (as in the rule-based score), for a score rubric they get the
  scale minimum; ``n_no_output`` counts them.
* Items a rubric does not apply to (e.g. no reference timeline) carry no verdict: ``n_not_applicable``.
* A verdict whose sample changed since it was given (the sample was re-run) is stale: ignored, counted in
  ``n_stale`` and its item is pending again.
* Agreement with the rule-based score (correctness rubrics): the share of valid verdicts whose
  ``correct`` equals ``score.correct``, and Cohen's kappa.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from mosseval.judge.context import NO_OUTPUT, item_applies, sample_digest
from mosseval.judge.cost import Prices
from mosseval.judge.records import Agreement, JudgeSummary, RubricInfo, TokenCount
from mosseval.judge.store import StoredJudgements
from mosseval.records import JudgeVerdict, RunLog, SampleRecord
from mosseval.stats import cohen_kappa, correlation, mean_ci


def _field(rec: SampleRecord, key: str) -> Any:
    if key == "task":
        return rec.task
    if key.startswith("metadata."):
        value: Any = rec.sample.metadata
        for part in key.split(".")[1:]:
            value = value.get(part) if isinstance(value, dict) else None
        return value
    return getattr(rec.sample, key, None)


def summarize_rubric(rubric: RubricInfo, records: list[SampleRecord], verdicts: dict[str, JudgeVerdict], *,
                     n_stale: int = 0, breakdowns: list[str] | None = None,
                     prices: Prices | None = None) -> JudgeSummary:
    """One rubric over ``records`` (one task, or a group's members); ``verdicts``: sample key -> the
    current verdict of this rubric."""
    scored = [r for r in records if r.score is not None]
    applicable = [r for r in scored if item_applies(rubric.requires, r)]
    judged = [(r, verdicts[r.key]) for r in applicable if r.key in verdicts]
    valid = [(r, v) for r, v in judged if v.error is None]
    n_err = len(judged) - len(valid)
    out = JudgeSummary(
        rubric=rubric.name, kind=rubric.kind, official=rubric.official, scale=rubric.scale,
        rubric_versions=sorted({v.rubric_version for _, v in judged}),
        judges=sorted({v.judge for _, v in judged}),
        n=len(judged), n_valid=len(valid), n_errors=n_err,
        errors_counted_wrong=rubric.kind == "correctness" and rubric.judge_errors == "wrong",
        n_no_output=sum(1 for _, v in valid if (v.rationale or "").startswith(NO_OUTPUT)),
        n_pending=len(applicable) - len(judged), n_stale=n_stale,
        n_not_applicable=len(scored) - len(applicable),
        complete=len(judged) == len(applicable) and n_err == 0,
    )
    lo, hi = rubric.scale if rubric.scale else (0.0, 1.0)
    if rubric.kind == "score":
        pts = [(float(v.score), r) for r, v in valid if v.score is not None]
        out.mean_score = mean_ci([x for x, _ in pts], [r.sample.cluster_key for _, r in pts], lower=lo, upper=hi)
        prr = [(x, float(r.score.prr), r.sample.cluster_key) for x, r in pts
               if r.score is not None and r.score.prr is not None]
        if len(prr) >= 3:
            out.pearson_with_prr = correlation([a for a, _, _ in prr], [b for _, b, _ in prr], [c for _, _, c in prr],
                                               n_boot=1000)
    else:
        flags = [bool(v.correct) for _, v in valid]
        if rubric.judge_errors == "wrong":  # the official rule: a failed judgement is a wrong answer
            out.accuracy = mean_ci([1.0 if v.error is None and v.correct else 0.0 for _, v in judged],
                                   [r.sample.cluster_key for r, _ in judged], binary=True)
        else:
            out.accuracy = mean_ci([1.0 if f else 0.0 for f in flags], [r.sample.cluster_key for r, _ in valid],
                                   binary=True)
        if judged:
            n_ok = sum(flags)
            out.accuracy_bounds = (n_ok / len(judged), (n_ok + n_err) / len(judged))
        pairs = [(bool(v.correct), bool(r.score.correct)) for r, v in valid if r.score is not None]
        if pairs:
            out.agreement = Agreement(
                n=len(pairs), rate=sum(a == b for a, b in pairs) / len(pairs),
                cohen_kappa=cohen_kappa([a for a, _ in pairs], [b for _, b in pairs]),
                both_correct=sum(a and b for a, b in pairs), judge_only=sum(a and not b for a, b in pairs),
                rule_only=sum(b and not a for a, b in pairs), both_wrong=sum(not a and not b for a, b in pairs))
        if rubric.official:
            handled = ("counted wrong, as the official script does" if rubric.judge_errors == "wrong"
                       else "excluded from the denominator")
            note = ("official score: judged accuracy over all judged items (multiple-choice included); "
                    f"{n_err} judge error(s) {handled}")
            others = [j for j in out.judges if rubric.official_judge and not j.startswith(rubric.official_judge)]
            if others:
                note += f"; judged by {', '.join(others)}, not the official {rubric.official_judge}"
            out.official_note = note
    for key in breakdowns or []:
        groups: dict[str, list[tuple[float, str]]] = defaultdict(list)
        errors_wrong = rubric.kind == "correctness" and rubric.judge_errors == "wrong"
        for r, v in (judged if errors_wrong else valid):
            value = _field(r, key)
            if value is None or (v.score is None and not errors_wrong):
                continue
            x = (1.0 if v.error is None and v.correct else 0.0) if rubric.kind == "correctness" else float(v.score)
            groups[str(value)].append((x, r.sample.cluster_key))
        if groups:
            out.breakdowns[key.removeprefix("metadata.")] = {
                val: mean_ci([x for x, _ in items], [c for _, c in items], binary=rubric.kind == "correctness",
                             lower=lo, upper=hi)
                for val, items in sorted(groups.items())}
    from mosseval.judge.extensions import aggregator_for

    out.metrics = aggregator_for(rubric.aggregator)(rubric, valid)
    usage = [v.usage for _, v in judged if v.usage is not None]
    out.tokens = TokenCount(prompt=sum(u.prompt_tokens or 0 for u in usage),
                            completion=sum(u.completion_tokens or 0 for u in usage))
    if prices is not None:
        out.cost_usd = prices.cost(out.tokens.prompt, out.tokens.completion)
    return out


@dataclass
class RunJudgements:
    """The judge's view of one run: summaries per task and group, and the current verdicts per sample."""

    stored: StoredJudgements
    tasks: dict[str, dict[str, JudgeSummary]] = field(default_factory=dict)
    groups: dict[str, dict[str, JudgeSummary]] = field(default_factory=dict)
    verdicts: dict[str, dict[str, JudgeVerdict]] = field(default_factory=dict)
    """sample key -> rubric -> current (non-stale) verdict."""

    @property
    def judged(self) -> bool:
        return self.stored.judged


def summarize_run(log: RunLog, records: list[SampleRecord], stored: StoredJudgements) -> RunJudgements:
    """Every judge summary of a run, from the run and its judge files alone (no rubric files needed)."""
    out = RunJudgements(stored)
    if stored.log is None:
        return out
    by_task: dict[str, list[SampleRecord]] = defaultdict(list)
    for rec in records:
        by_task[rec.task].append(rec)
    prices = stored.log.prices
    current: dict[str, dict[str, JudgeVerdict]] = defaultdict(dict)  # rubric -> key -> verdict
    stale: dict[tuple[str, str], int] = defaultdict(int)  # (task, rubric) -> stale verdicts
    for rec in records:
        for name in stored.log.rubrics:
            line = stored.lines.get((rec.key, name))
            if line is None:
                continue
            if line.sample_digest != sample_digest(rec):
                stale[(rec.task, name)] += 1
                continue
            current[name][rec.key] = line.verdict
            out.verdicts.setdefault(rec.key, {})[name] = line.verdict
    for name, info in sorted(stored.log.rubrics.items()):
        for task in info.tasks:
            if task not in by_task:
                continue
            spec = log.task_specs.get(task)
            out.tasks.setdefault(task, {})[name] = summarize_rubric(
                info, by_task[task], current[name], n_stale=stale[(task, name)],
                breakdowns=list(spec.breakdowns) if spec is not None else [], prices=prices)
    members: dict[str, list[str]] = defaultdict(list)
    for ref in log.spec.tasks:
        if ref.group:
            members[ref.group].append(ref.name)
    for gname, names in members.items():  # a group: the same summaries over the member tasks' items
        for name, info in sorted(stored.log.rubrics.items()):
            judged = [t for t in names if t in info.tasks and t in by_task]
            if not judged:
                continue
            recs = [r for t in judged for r in by_task[t]]
            out.groups.setdefault(gname, {})[name] = summarize_rubric(
                info, recs, current[name], n_stale=sum(stale[(t, name)] for t in judged), breakdowns=["task"],
                prices=prices)
    return out


def official_from(judgements: RunJudgements) -> dict[str, Any]:
    """Task or group -> the official judge's accuracy (an ``Estimate``), from a run's judge summaries."""
    out: dict[str, Any] = {}
    for scope in (judgements.tasks, judgements.groups):
        for name, by_rubric in scope.items():
            for s in by_rubric.values():
                if s.official and s.kind == "correctness" and s.accuracy is not None and s.accuracy.value is not None:
                    out.setdefault(name, s.accuracy)
    return out


def official_accuracies(run_dir: Any, log: RunLog, records: list[SampleRecord]) -> dict[str, Any]:
    """The official judged accuracies of a run (e.g. MMVU's GPT-4o score), read from its judge files."""
    from mosseval.judge.store import read_judgements

    return official_from(summarize_run(log, records, read_judgements(run_dir)))


__all__ = ["summarize_rubric", "summarize_run", "RunJudgements", "official_from", "official_accuracies"]
