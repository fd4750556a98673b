"""LLM-as-judge for saved runs: MMVU's official answer judge and a reasoning-process judge.

Layout (one concern per module):

- :mod:`~mosseval.judge.rubrics` — versioned YAML rubrics with Jinja templates;
- :mod:`~mosseval.judge.extensions` — named reply parsers and metric aggregators rubrics refer to;
- :mod:`~mosseval.judge.context` — what a rubric sees of a sample, applicability, fingerprints;
- :mod:`~mosseval.judge.plan` — rubric selection, jobs, cache lookups, cost estimates;
- :mod:`~mosseval.judge.requests` — sending requests (concurrency, rate limit, retries, budget);
- :mod:`~mosseval.judge.parse` — reading a verdict from a reply, with fallbacks;
- :mod:`~mosseval.judge.cache` — the append-only verdict cache;
- :mod:`~mosseval.judge.store` — the judge's files in a run directory;
- :mod:`~mosseval.judge.summary` — summaries, a pure function of the run and the judge's files;
- :mod:`~mosseval.judge.records` — the typed records of all of the above;
- :mod:`~mosseval.judge.controller` — ``judge_run``, which ties them together and returns a report.
"""

from mosseval.judge.context import item_context, verdict_fingerprint
from mosseval.judge.controller import DEFAULT_JUDGE, judge_run
from mosseval.judge.plan import select_rubrics
from mosseval.judge.records import JudgeLog, JudgeReport, JudgeSummary, VerdictLine
from mosseval.judge.rubrics import Rubric, get_rubric, load_rubrics
from mosseval.judge.store import read_judgements
from mosseval.judge.summary import RunJudgements, official_accuracies, official_from, summarize_run

__all__ = ["official_accuracies", "official_from", "judge_run", "JudgeReport", "JudgeSummary", "JudgeLog", "VerdictLine", "RunJudgements",
           "summarize_run", "read_judgements", "item_context", "verdict_fingerprint", "select_rubrics",
           "load_rubrics", "get_rubric", "Rubric", "DEFAULT_JUDGE"]
