"""Token estimates and cost accounting for judge runs.

Prices are USD per one million tokens (standard, non-batch API). The defaults below are
OpenAI's list prices as of ``PRICES_AS_OF``; they change, so pass ``--price-in`` / ``--price-out``
for anything else (or for a gateway with its own prices). A model that matches none of them has no
cost estimate unless prices are given. Matching is by the longest name prefix, so dated snapshots
(``gpt-4o-2024-08-06``) get their family's price.
"""

from __future__ import annotations

import math
from typing import Any

from mosseval.records import Record

PRICES_AS_OF = "2025-06-01"

DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
}

CHARS_PER_TOKEN = 4.0
MESSAGE_OVERHEAD_TOKENS = 4
REQUEST_OVERHEAD_TOKENS = 3


class Prices(Record):
    """USD per one million prompt / completion tokens, and where the numbers come from."""

    input_per_1m: float | None = None
    output_per_1m: float | None = None
    source: str = "unknown"

    @property
    def known(self) -> bool:
        return self.input_per_1m is not None and self.output_per_1m is not None

    def cost(self, prompt_tokens: float, completion_tokens: float) -> float | None:
        if not self.known:
            return None
        return (prompt_tokens * self.input_per_1m + completion_tokens * self.output_per_1m) / 1e6  # type: ignore[operator]

    def describe(self) -> str:
        if not self.known:
            return "unknown prices (pass --price-in / --price-out)"
        return f"${self.input_per_1m:g}/${self.output_per_1m:g} per 1M in/out tokens ({self.source})"


def prices_for(model: str, price_in: float | None = None, price_out: float | None = None) -> Prices:
    base = None
    name = (model or "").lower().split("/")[-1]
    for prefix in sorted(DEFAULT_PRICES, key=len, reverse=True):
        if name == prefix or name.startswith(prefix + "-"):
            base = (prefix, DEFAULT_PRICES[prefix])
            break
    if price_in is not None or price_out is not None:
        pin = price_in if price_in is not None else (base[1][0] if base else None)
        pout = price_out if price_out is not None else (base[1][1] if base else None)
        return Prices(input_per_1m=pin, output_per_1m=pout, source="options")
    if base is not None:
        return Prices(input_per_1m=base[1][0], output_per_1m=base[1][1],
                      source=f"default list price of {base[0]} as of {PRICES_AS_OF}")
    return Prices(source="unknown (pass --price-in / --price-out)")


def estimate_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """A rough prompt size: characters / 4 plus a few tokens per message (no tokenizer needed)."""
    total = REQUEST_OVERHEAD_TOKENS
    for m in messages:
        content = m.get("content")
        text = content if isinstance(content, str) else " ".join(
            p.get("text", "") for p in content or [] if isinstance(p, dict))
        total += MESSAGE_OVERHEAD_TOKENS + math.ceil(len(text) / CHARS_PER_TOKEN)
    return total


def fmt_usd(value: float | None) -> str:
    if value is None:
        return "unknown"
    if value < 0.01:
        return f"${value:.4f}"
    return f"${value:.2f}"


__all__ = ["DEFAULT_PRICES", "PRICES_AS_OF", "Prices", "prices_for", "estimate_prompt_tokens", "fmt_usd"]
