"""What a judge call will do: which rubrics apply to which tasks, one job per (item, rubric), the
prompts, their fingerprints, which verdicts are already known and what the rest will cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mosseval.errors import UsageError
from mosseval.judge.cache import VerdictCache
from mosseval.judge.context import NO_OUTPUT, has_no_output, item_context, verdict_fingerprint
from mosseval.judge.cost import Prices, estimate_prompt_tokens
from mosseval.judge.records import JudgeEstimate
from mosseval.judge.rubrics import Rubric, get_rubric
from mosseval.judge.store import StoredJudgements
from mosseval.records import JudgeVerdict, SampleRecord, TaskSpec, digest


@dataclass
class Job:
    rec: SampleRecord
    rubric: Rubric
    messages: list[dict[str, str]]
    fp: str
    no_output: bool = False
    verdict: JudgeVerdict | None = None
    source: str = ""
    """Where the verdict came from: run / shared (cache), stored (the run's judge files), local (no model
    output), rule (the parser's precheck decided without a request), request."""
    prior: JudgeVerdict | None = None
    """The verdict of the rubric this one is judged ``after`` (None otherwise)."""

    @property
    def key(self) -> str:
        return self.rec.key


@dataclass
class Plan:
    rubrics: dict[str, list[Rubric]]
    """Task -> rubrics applied to it."""
    jobs: list[Job] = field(default_factory=list)
    n_not_applicable: int = 0
    n_waiting: int = 0
    """Items of an ``after`` rubric whose prerequisite verdict is not known yet (judged in a later wave)."""

    @property
    def used(self) -> dict[str, Rubric]:
        return {r.name: r for rs in self.rubrics.values() for r in rs}


def split_names(value: str | list[str] | tuple[str, ...] | None) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [p.strip() for v in items for p in str(v).split(",") if p.strip()]


def select_rubrics(records: list[SampleRecord], specs: dict[str, TaskSpec], rubrics: dict[str, Rubric],
                   wanted: list[str], tasks: list[str]) -> dict[str, list[Rubric]]:
    """Task -> rubrics to apply. Explicit ``wanted`` rubrics apply to every task; otherwise each task
    gets the rubrics whose ``default_for`` matches it."""
    present = list(dict.fromkeys(r.task for r in records))
    if tasks:
        unknown = [t for t in tasks if t not in present]
        if unknown:
            raise UsageError(f"task(s) {unknown} are not in this run", hint="tasks in the run: " + ", ".join(present))
        present = [t for t in present if t in tasks]
    chosen = [get_rubric(n, rubrics) for n in wanted]
    out: dict[str, list[Rubric]] = {}
    for task in present:
        if chosen:
            out[task] = chosen
            continue
        spec = specs.get(task)
        extractor = spec.scoring.extractor if spec is not None else None
        has_refs = any(r.sample.reference_steps for r in records if r.task == task)
        defaults = [r for _, r in sorted(rubrics.items()) if r.is_default_for(task, extractor, has_refs)]
        if defaults:
            out[task] = defaults
    if not out:
        raise UsageError(f"no default judge rubric applies to the tasks of this run ({', '.join(present)})",
                         hint="pass --rubric NAME (available: " + ", ".join(sorted(rubrics)) + ")")
    return out


def prior_context(prior: JudgeVerdict | None) -> dict[str, Any] | None:
    """What templates see of a prerequisite verdict (``prior``)."""
    if prior is None:
        return None
    return {"extracted_answer": prior.extracted_answer, "correct": prior.correct, "score": prior.score,
            "rationale": prior.rationale, "metrics": dict(prior.metrics)}


def build_plan(records: list[SampleRecord], rubrics: dict[str, list[Rubric]], judge_model: str,
               priors: dict[str, dict[str, JudgeVerdict]] | None = None,
               skip: set[tuple[str, str]] | None = None) -> Plan:
    """Render one prompt per (applicable item, rubric) and fingerprint it.

    A rubric judged ``after`` another gets a job only for items whose prerequisite has a valid verdict
    in ``priors`` (sample key -> rubric -> verdict); its prompt may use it (``prior``) and its
    fingerprint includes the prerequisite's, so a new prerequisite verdict means a new judgement. The
    others are counted in ``n_waiting``. ``skip``: (key, rubric) pairs already planned."""
    plan = Plan(rubrics)
    for rec in records:
        rs = rubrics.get(rec.task)
        if not rs:
            continue
        ctx = item_context(rec)
        no_output = has_no_output(rec)
        for r in rs:
            if skip and (rec.key, r.name) in skip:
                continue
            if not r.applies(rec):
                plan.n_not_applicable += 1
                continue
            prior = (priors or {}).get(rec.key, {}).get(r.after) if r.after else None
            if r.after and prior is None and not no_output:
                plan.n_waiting += 1
                continue
            messages = r.render({**ctx, "prior": prior_context(prior)})
            fp = verdict_fingerprint(judge_model, r, messages, rec)
            if prior is not None:
                fp = digest({"verdict": fp, "after": prior.fingerprint}, 16)
            plan.jobs.append(Job(rec, r, messages, fp, no_output=no_output, prior=prior))
    return plan


def prior_metrics(job: Job) -> dict[str, float]:
    """The prerequisite's metrics, carried by the dependent verdict as ``<rubric>.<metric>``."""
    if job.prior is None or not job.rubric.after:
        return {}
    return {f"{job.rubric.after}.{k}": v for k, v in job.prior.metrics.items()}


def precheck_verdict(job: Job, judge_model: str) -> JudgeVerdict | None:
    """The verdict of the rubric parser's ``precheck`` hook, when it decides the item without a request."""
    from mosseval.judge.extensions import parsers

    hook = parsers.hook(job.rubric.parser, "precheck") if job.rubric.parser in parsers else None
    if hook is None:
        return None
    pv = hook(job.rubric, job.rec, job.prior)
    if pv is None:
        return None
    r = job.rubric
    return JudgeVerdict(judge=judge_model, rubric=r.name, rubric_version=r.version, fingerprint=job.fp,
                        score=pv.score, correct=pv.correct, extracted_answer=pv.extracted_answer,
                        rationale=pv.rationale, metrics={**prior_metrics(job), **pv.metrics}, error=pv.error)


def local_verdict(job: Job, judge_model: str) -> JudgeVerdict:
    """The verdict of an item with no model output (never sent): wrong, or the scale minimum."""
    err = job.rec.generation.error
    why = f"{NO_OUTPUT} ({'generation error: ' + err.kind if err else 'empty reply'}); not sent to the judge"
    r = job.rubric
    base = dict(judge=judge_model, rubric=r.name, rubric_version=r.version, fingerprint=job.fp, rationale=why)
    if r.kind == "correctness":
        return JudgeVerdict(**base, score=0.0, correct=False, extracted_answer="")
    return JudgeVerdict(**base, score=r.scale[0] if r.scale else 0.0)


def resolve_known(plan: Plan, cache: VerdictCache, stored: StoredJudgements, judge_model: str,
                  retry_errors: bool = False) -> list[Job]:
    """Fill in every verdict that costs nothing (no output, cache hits, the run's current verdicts with the
    same fingerprint); return the jobs left to request."""
    todo: list[Job] = []
    for job in plan.jobs:
        if job.no_output:
            job.verdict, job.source = local_verdict(job, judge_model), "local"
            continue
        ruled = precheck_verdict(job, judge_model)
        if ruled is not None:
            job.verdict, job.source = ruled, "rule"
            continue
        hit, where = cache.get(job.fp)
        if hit is None:
            old = stored.verdict(job.key, job.rubric.name)
            if old is not None and old.fingerprint == job.fp and old.error is None:
                hit, where = old, "stored"
        if hit is not None and not (hit.error and retry_errors):
            job.verdict, job.source = hit, where
            continue
        todo.append(job)
    return todo


def estimate(jobs: list[Job], prices: Prices) -> JudgeEstimate:
    prompt = sum(estimate_prompt_tokens(j.messages) for j in jobs)
    typical = sum(j.rubric.expected_completion_tokens for j in jobs)
    upper = sum(j.rubric.max_tokens for j in jobs)
    return JudgeEstimate(requests=len(jobs), prompt_tokens=prompt, completion_tokens=typical,
                         completion_tokens_max=upper, cost_usd=prices.cost(prompt, typical),
                         cost_usd_max=prices.cost(prompt, upper))


__all__ = ["Job", "Plan", "split_names", "select_rubrics", "build_plan", "local_verdict", "resolve_known",
           "estimate", "prior_context", "prior_metrics", "precheck_verdict"]
