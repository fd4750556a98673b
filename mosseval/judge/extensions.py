"""Named reply parsers and metric aggregators that rubrics refer to (``parser:`` / ``aggregator:``).

A rubric is YAML + templates + (optionally) a named parser and aggregator, so a benchmark-specific judge
(e.g. a chain-of-thought step matcher that returns per-step decisions) needs no change to the judge:

    from mosseval.judge.extensions import register_parser, register_aggregator

    @register_parser("step-match")
    def parse_step_match(rubric, text, parsed):        # -> ParsedVerdict (set .score and .metrics)
        ...

    @register_aggregator("step-f1")
    def aggregate_step_f1(rubric_info, pairs):         # pairs: [(SampleRecord, JudgeVerdict)], valid only
        return {"recall": mean_ci(...), ...}           # -> dict[str, Estimate] (JudgeSummary.metrics)

Parsers turn one reply into a :class:`~mosseval.judge.parse.ParsedVerdict` (an unreadable reply is a
judge *error*, never a wrong answer); aggregators turn the valid verdicts of one task into named
estimates. The ``default`` parser reads ``{correct, extracted_answer}`` or ``{score, rationale}`` per the
rubric's ``fields``; the ``default`` aggregator averages every name in the verdicts' ``metrics``.

Both are registries (:mod:`mosseval.registry`): a third-party package adds its own through the
``mosseval.judge_parsers`` / ``mosseval.judge_aggregators`` entry-point groups, and rubric folders through
``mosseval.rubrics`` — no change to mosseval needed. ``mosseval plugins`` lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mosseval.judge.parse import ParsedVerdict, parse_verdict
from mosseval.records import Estimate, JudgeVerdict, SampleRecord
from mosseval.registry import Registry
from mosseval.stats import mean_ci

Parser = Callable[[Any, "str | None", "dict[str, Any] | None"], ParsedVerdict]
Aggregator = Callable[[Any, list[tuple[SampleRecord, JudgeVerdict]]], dict[str, Estimate]]

parsers: Registry[Parser] = Registry("judge_parsers", "mosseval.judge_parsers", "judge reply parser")
aggregators: Registry[Aggregator] = Registry("judge_aggregators", "mosseval.judge_aggregators",
                                             "judge metric aggregator")


# benchmark rubrics' parsers and aggregators live with their benchmark (imported when a rubric names them)
for _name, _what in (("vcrbench-extract", "VCR-Bench answer extraction (stage 1 of accuracy)"),
                     ("vcrbench-score", "VCR-Bench 1/0 answer scoring, with the official IoU rules as precheck"),
                     ("vcrbench-recall", "VCR-Bench CoT recall: the judge's typed, matched reference steps"),
                     ("vcrbench-precision", "VCR-Bench CoT precision: the judge's typed, judged response steps")):
    parsers.declare(_name, "mosseval.data.vcrbench", description=_what)
aggregators.declare("vcrbench-cot", "mosseval.data.vcrbench",
                    description="VCR-Bench CoT score (P, R, F1 per part) and its correlation with the PRR")
aggregators.declare("vcrbench-answer", "mosseval.data.vcrbench",
                    description="VCR-Bench accuracy extras: official-style (scored items only), rule share")


def register_parser(name: str) -> Callable[[Parser], Parser]:
    """Decorator: ``@register_parser("step-match")``; a rubric names it with ``parser: step-match``."""
    return parsers.register(name)


def register_aggregator(name: str) -> Callable[[Aggregator], Aggregator]:
    """Decorator: ``@register_aggregator("step-f1")``; a rubric names it with ``aggregator: step-f1``."""
    return aggregators.register(name)


def aggregator_for(name: str) -> Aggregator:
    """The named aggregator; a verdict file naming one that is no longer installed falls back to the default."""
    return aggregators.load(name if name in aggregators else "default")


@register_parser("default")
def default_parser(rubric: Any, text: str | None, parsed: dict[str, Any] | None) -> ParsedVerdict:
    return parse_verdict(rubric.kind, rubric.fields, text, parsed, rubric.scale)


@register_aggregator("default")
def mean_of_metrics(rubric: Any, pairs: list[tuple[SampleRecord, JudgeVerdict]]) -> dict[str, Estimate]:
    """The clustered mean of every per-verdict metric (none for the built-in rubrics)."""
    names = sorted({k for _, v in pairs for k in v.metrics})
    out: dict[str, Estimate] = {}
    for name in names:
        vals = [(v.metrics[name], r.sample.cluster_key) for r, v in pairs if name in v.metrics]
        out[name] = mean_ci([x for x, _ in vals], [c for _, c in vals], lower=None, upper=None)
    return out


__all__ = ["parsers", "aggregators", "register_parser", "register_aggregator", "aggregator_for", "default_parser",
           "mean_of_metrics"]
