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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mosseval.judge.parse import ParsedVerdict, parse_verdict
from mosseval.records import Estimate, JudgeVerdict, SampleRecord
from mosseval.stats import mean_ci

Parser = Callable[[Any, "str | None", "dict[str, Any] | None"], ParsedVerdict]
Aggregator = Callable[[Any, list[tuple[SampleRecord, JudgeVerdict]]], dict[str, Estimate]]

PARSERS: dict[str, Parser] = {}
AGGREGATORS: dict[str, Aggregator] = {}


def register_parser(name: str) -> Callable[[Parser], Parser]:
    def deco(fn: Parser) -> Parser:
        PARSERS[name] = fn
        return fn
    return deco


def register_aggregator(name: str) -> Callable[[Aggregator], Aggregator]:
    def deco(fn: Aggregator) -> Aggregator:
        AGGREGATORS[name] = fn
        return fn
    return deco


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


__all__ = ["PARSERS", "AGGREGATORS", "register_parser", "register_aggregator", "default_parser", "mean_of_metrics"]
