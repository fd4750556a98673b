"""The judge's typed records: what it writes into a run directory and what it reports.

Files the judge owns inside a run directory (``samples.jsonl`` and ``run.json`` are never touched):

- ``judge_verdicts.jsonl`` — one :class:`VerdictLine` per (sample, rubric): the current verdicts;
- ``judge.json`` — a :class:`JudgeLog`: the rubrics applied (and to which tasks), prices, accounting of
  every invocation (requests, tokens, cost) and totals;
- ``judge_cache.jsonl`` — the append-only verdict cache keyed by fingerprint (resumability).

Summaries (:class:`JudgeSummary`) are never stored: they are a pure function of the run and these files
(:func:`mosseval.judge.summary.summarize_run`), so re-scoring a run never leaves them stale.
Rates (accuracy, agreement) are fractions in [0, 1]; score means are on the rubric's own scale.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mosseval.errors import ExitCode
from mosseval.judge.cost import Prices
from mosseval.records import SCHEMA_VERSION, Estimate, JudgeVerdict, Record

RubricKind = Literal["correctness", "score"]


class RubricInfo(Record):
    """A rubric as it was applied to a run (enough to summarise its verdicts without the YAML)."""

    name: str
    version: str
    kind: RubricKind
    description: str = ""
    official: bool = False
    """Its judged accuracy is a benchmark's official number (e.g. MMVU)."""
    official_judge: str | None = None
    builtin: bool = False
    requires: list[str] = Field(default_factory=list)
    """Items lacking these (``reference_steps``, ``response``) are not applicable."""
    scale: tuple[float, float] | None = None
    """(min, max) of a score rubric."""
    judge: str
    """The judge model of the latest invocation that applied this rubric."""
    tasks: list[str] = Field(default_factory=list)
    """Tasks of the run this rubric was applied to."""
    aggregator: str = "default"
    """Named aggregator of per-verdict metrics (``mosseval.judge.extensions``)."""
    judge_errors: Literal["exclude", "wrong"] = "exclude"
    """How judge errors enter a correctness rubric's accuracy: left out of the denominator (mosseval's
    default, reported separately) or counted wrong (a benchmark whose official script does so, MMVU)."""


class VerdictLine(Record):
    """One line of ``judge_verdicts.jsonl``."""

    schema_version: int = SCHEMA_VERSION
    key: str
    """The sample's ``SampleRecord.key``."""
    task: str
    rubric: str
    sample_digest: str
    """Digest of the judged content (question, gold answer, model response): a verdict whose sample
    changed since (e.g. the sample was re-run) is stale and ignored."""
    verdict: JudgeVerdict


class JudgeInvocation(Record):
    """Accounting of one ``mosseval judge`` call on a run."""

    at: str
    judge: str
    host: str | None = None
    rubrics: dict[str, str] = Field(default_factory=dict)
    jobs: int = 0
    cache_hits: int = 0
    no_output: int = 0
    sent: int = 0
    requests: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    judge_errors: int = 0
    stopped: str | None = None


class JudgeTotals(Record):
    """Everything spent on judging this run, from the request ledger (killed invocations included)."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    invocations: int = 0


CONVENTIONS = ("judge errors are excluded from judged accuracy and counted in n_errors, except under a rubric "
               "with judge_errors: wrong (an official protocol's rule, e.g. mmvu-official), where they count as "
               "wrong answers; items with no model "
               "output are not sent and count as wrong (correctness) or the scale minimum (score); items a "
               "rubric does not apply to carry no verdict and are counted in n_not_applicable")


class JudgeLog(Record):
    """``judge.json``: which rubrics were applied to the run, with what prices, and what it cost."""

    schema_version: int = SCHEMA_VERSION
    kind: Literal["mosseval.judge"] = "mosseval.judge"
    run_id: str
    updated_at: str
    rubrics: dict[str, RubricInfo] = Field(default_factory=dict)
    prices: Prices | None = None
    totals: JudgeTotals = Field(default_factory=JudgeTotals)
    """Requests and tokens of every invocation (killed ones included, as far as they got)."""
    history: list[JudgeInvocation] = Field(default_factory=list)
    """The latest invocations (at most ``HISTORY_LIMIT``)."""
    conventions: str = CONVENTIONS


class Agreement(Record):
    """Agreement of a correctness judge with the rule-based score on the same items."""

    n: int
    rate: float
    """Share of items where judge and rule agree (a fraction)."""
    cohen_kappa: float | None = None
    """None when chance agreement is 1 (both always say the same thing)."""
    both_correct: int = 0
    judge_only: int = 0
    rule_only: int = 0
    both_wrong: int = 0


class TokenCount(Record):
    prompt: int = 0
    completion: int = 0


class JudgeSummary(Record):
    """One rubric over one task's (or group's) items; computed, never stored."""

    schema_version: int = SCHEMA_VERSION
    rubric: str
    kind: RubricKind
    rubric_versions: list[str] = Field(default_factory=list)
    judges: list[str] = Field(default_factory=list)
    official: bool = False
    n: int = 0
    """Items carrying a current verdict of this rubric."""
    n_valid: int = 0
    n_errors: int = 0
    """Judge errors: excluded from every mean and denominator, unless ``errors_counted_wrong``."""
    errors_counted_wrong: bool = False
    """The rubric's ``judge_errors: wrong`` (an official protocol's rule, MMVU): judge errors are wrong
    answers in the accuracy's denominator."""
    n_no_output: int = 0
    """Items without model output (not sent: wrong, or the scale minimum)."""
    n_pending: int = 0
    """Applicable items without a current verdict (not judged yet, or their sample changed)."""
    n_stale: int = 0
    """Verdicts ignored because their sample changed since they were given."""
    n_not_applicable: int = 0
    complete: bool = False
    scale: tuple[float, float] | None = None
    accuracy: Estimate | None = None
    """Correctness rubrics: judged accuracy over valid verdicts (over all judged items, errors wrong, when
    ``errors_counted_wrong``)."""
    accuracy_bounds: tuple[float, float] | None = None
    """Judged accuracy if every judge error had been wrong / right."""
    mean_score: Estimate | None = None
    """Score rubrics: the mean score on the rubric's scale."""
    agreement: Agreement | None = None
    pearson_with_prr: Estimate | None = None
    """Score rubrics: Pearson correlation of the judge's score with the PRR over the same items, with a
    cluster-bootstrap interval."""
    official_note: str | None = None
    breakdowns: dict[str, dict[str, Estimate]] = Field(default_factory=dict)
    metrics: dict[str, Estimate] = Field(default_factory=dict)
    """Rubric-specific numbers computed by the rubric's aggregator (e.g. step recall and precision)."""
    tokens: TokenCount = Field(default_factory=TokenCount)
    cost_usd: float | None = None

    @property
    def main(self) -> Estimate | None:
        """The headline number: judged accuracy (correctness) or the mean score (score)."""
        return self.accuracy if self.kind == "correctness" else self.mean_score


class JudgeEstimate(Record):
    """A dry-run style estimate of what the pending requests will cost."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    completion_tokens_max: int = 0
    cost_usd: float | None = None
    cost_usd_max: float | None = None
    method: str = ("prompt characters / 4 + 4 per message; completion: the rubric's typical reply length "
                   "(max_tokens for the upper bound)")


class JudgeReport(Record):
    """What one ``judge_run`` did (and, for a dry run, would do). ``--json`` writes it."""

    schema_version: int = SCHEMA_VERSION
    kind: Literal["mosseval.judge-report"] = "mosseval.judge-report"
    run_dir: str
    judge: str
    host: str | None = None
    rubrics: dict[str, str] = Field(default_factory=dict)
    """Rubric name -> version."""
    tasks: dict[str, list[str]] = Field(default_factory=dict)
    """Task -> rubrics applied to it."""
    n_jobs: int = 0
    """(item, rubric) pairs the rubrics apply to."""
    n_cached: int = 0
    n_no_output: int = 0
    n_to_request: int = 0
    n_requested: int = 0
    """Items whose request finished (successfully or not) in this call."""
    n_not_applicable: int = 0
    n_rule: int = 0
    """Items a rubric's precheck decided by a rule, without a request (VCR-Bench's IoU rule)."""
    n_waiting: int = 0
    """Items of a rubric judged ``after`` another whose prerequisite verdict is still missing (a judge
    error there, or a dry run: they are planned once it is known)."""
    n_errors: int = 0
    """Judge errors among the resulting verdicts."""
    requests: int = 0
    """HTTP requests sent in this call (retries included)."""
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    prices: Prices = Field(default_factory=Prices)
    estimate: JudgeEstimate = Field(default_factory=JudgeEstimate)
    dry_run: bool = False
    stopped: str | None = None
    """Why judging stopped early (budget, credentials, interruption), else None."""
    results: dict[str, dict[str, JudgeSummary]] = Field(default_factory=dict)
    """Task -> rubric -> summary after this call."""

    @property
    def exit_code(self) -> int:
        if self.dry_run:
            return int(ExitCode.OK)
        if self.stopped:
            return int(ExitCode.REMOTE)
        return int(ExitCode.SAMPLE_ERRORS if self.n_errors else ExitCode.OK)


__all__ = ["RubricInfo", "VerdictLine", "JudgeInvocation", "JudgeTotals", "JudgeLog", "Agreement", "TokenCount",
           "JudgeSummary", "JudgeEstimate", "JudgeReport", "CONVENTIONS"]
