"""The one clock: timestamps written to disk are UTC ISO-8601 with seconds."""

from __future__ import annotations

from datetime import datetime, timezone


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
