"""The output-format rule (SPEC §3): the fast greedy pattern accepts exactly what the lazy one of the spec did."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

from mosseval.prr.format import answer_text, format_ok, think_text

SPEC_RE = re.compile(r"^\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*$", re.DOTALL)
"""The rule as SPEC §3 writes it (lazy groups): the reference the fast pattern is checked against."""

THINK_RE = re.compile(r"<think>(.*?)</think>", re.DOTALL)
"""The think block as the regex finds it: the reference ``think_text``'s string search is checked against."""

FIXED_RUNS = Path(__file__).resolve().parents[1] / "fixtures" / "fixed_runs" / "rundirs"


def test_the_rule_on_named_cases():
    ok = ["<think>a</think><answer>B</answer>", " \n<think>\nx\n</think>\n\n<answer>B</answer>\n",
          "<think></think><answer></answer>", "<think>a</think> <answer>B</answer> \t\n",
          "<think>a</think><answer>B</answer>\n",
          # what the rule does not forbid: more tags inside the blocks
          "<think>a</think><think>b</think><answer>B</answer>", "<think>a</think><answer>B</answer><answer>C</answer>"]
    bad = ["", "B", "<think>a</think>", "<answer>B</answer>", "x<think>a</think><answer>B</answer>",
           "<think>a</think>x<answer>B</answer>", "<think>a</think><answer>B</answer>x",
           "<answer>B</answer><think>a</think>", "<think>a<answer>B</answer>", "<think>a</think><answer>B",
           "<THINK>a</THINK><ANSWER>B</ANSWER>", "<think>a</think><answer>B</answer>\n.",
           "<think>a</think>\u00a0<answer>B</answer>x"]
    assert [format_ok(t) for t in ok] == [True] * len(ok)
    assert [format_ok(t) for t in bad] == [False] * len(bad)
    assert format_ok(None) is False
    assert think_text(ok[1]) == "\nx\n" and answer_text(ok[6]) == "C"


def test_greedy_pattern_equals_the_spec_pattern_on_every_arrangement():
    """Every string of up to 5 pieces from tags, whitespace (Unicode too) and text: the same verdict (and the
    same think block as the regex finds)."""
    pieces = ["<think>", "</think>", "<answer>", "</answer>", " ", "\n", "\u2003", "x", "B", "</think>\n<answer>"]
    n = 0
    for k in range(6):
        for combo in itertools.product(pieces, repeat=k):
            text = "".join(combo)
            assert format_ok(text) is (bool(text) and SPEC_RE.match(text) is not None), repr(text)
            m = THINK_RE.search(text)
            assert think_text(text) == (m.group(1) if m and text else None), repr(text)
            n += 1
    assert n == sum(len(pieces) ** k for k in range(6))


def test_greedy_pattern_equals_the_spec_pattern_on_real_completions():
    texts = [json.loads(line)["generation"]["text"] for d in sorted(FIXED_RUNS.iterdir())
             for line in (d / "samples.jsonl").read_text().splitlines()]
    verdicts = [format_ok(t) for t in texts]
    assert verdicts == [bool(t) and SPEC_RE.match(t) is not None for t in texts]
    assert True in verdicts and False in verdicts  # the fixed runs hold both kinds
