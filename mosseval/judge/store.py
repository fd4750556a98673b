"""The judge's own files in a run directory: ``judge_verdicts.jsonl`` and ``judge.json``.

The judge never rewrites ``samples.jsonl`` or ``run.json``; everything it knows about a run lives here
(plus the append-only cache ``judge_cache.jsonl``, see :mod:`mosseval.judge.cache`). Both files are
replaced atomically (verdicts first, then the log), so a reader sees a consistent old or new state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mosseval.errors import UsageError
from mosseval.fileio import atomic_write_text
from mosseval.judge.records import JudgeLog, JudgeTotals, VerdictLine
from mosseval.records import JudgeVerdict

JUDGE_FILE = "judge.json"
VERDICTS_FILE = "judge_verdicts.jsonl"
REQUESTS_FILE = "judge_requests.jsonl"
"""One line per HTTP request to the judge, appended as it is made, so a killed invocation's requests and
tokens still count in the run's totals."""
HISTORY_LIMIT = 20


@dataclass
class StoredJudgements:
    """What the judge files of one run hold (both empty for a run that was never judged)."""

    log: JudgeLog | None = None
    lines: dict[tuple[str, str], VerdictLine] = field(default_factory=dict)
    """(sample key, rubric) -> the current verdict line."""

    @property
    def judged(self) -> bool:
        return self.log is not None and bool(self.log.rubrics)

    def verdict(self, key: str, rubric: str) -> JudgeVerdict | None:
        line = self.lines.get((key, rubric))
        return line.verdict if line is not None else None


def read_judgements(run_dir: str | os.PathLike) -> StoredJudgements:
    """Read the judge files of a run (an unreadable file is a one-line ``UsageError`` naming it)."""
    run_dir = Path(run_dir)
    out = StoredJudgements()
    log_path = run_dir / JUDGE_FILE
    if log_path.is_file():
        try:
            out.log = JudgeLog.model_validate_json(log_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{log_path} is not a valid judge log: {str(exc).splitlines()[0]}",
                             hint="delete it and re-run `mosseval judge` (cached verdicts cost nothing)") from None
    path = run_dir / VERDICTS_FILE
    if path.is_file():
        with path.open("rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                if not raw.endswith(b"\n") or not raw.strip():
                    continue
                try:
                    line = VerdictLine.model_validate_json(raw)
                except ValueError as exc:
                    raise UsageError(f"{path}:{lineno}: invalid verdict line: {str(exc).splitlines()[0]}",
                                     hint="delete the file and re-run `mosseval judge` (cached verdicts "
                                          "cost nothing)") from None
                out.lines[(line.key, line.rubric)] = line
    return out


def current_verdicts(stored: StoredJudgements, records: list) -> dict[str, dict[str, JudgeVerdict]]:
    """Sample key -> rubric -> its stored verdict, for samples unchanged since they were judged (valid
    verdicts only: the prerequisites of rubrics judged ``after`` another)."""
    from mosseval.judge.context import sample_digest

    by_key = {r.key: r for r in records}
    out: dict[str, dict[str, JudgeVerdict]] = {}
    for (key, rubric), line in stored.lines.items():
        rec = by_key.get(key)
        if rec is None or line.verdict.error is not None or line.sample_digest != sample_digest(rec):
            continue
        out.setdefault(key, {})[rubric] = line.verdict
    return out


def write_judgements(run_dir: str | os.PathLike, log: JudgeLog, lines: list[VerdictLine]) -> None:
    """Replace the run's judge files (verdicts, then the log), each atomically."""
    run_dir = Path(run_dir)
    text = "".join(line.model_dump_json() + "\n" for line in lines)
    atomic_write_text(run_dir / VERDICTS_FILE, text, hint="the run directory must be writable to judge it")
    atomic_write_text(run_dir / JUDGE_FILE, log.model_dump_json(indent=2) + "\n",
                      hint="the run directory must be writable to judge it")


def ledger_totals(run_dir: str | os.PathLike) -> JudgeTotals:
    """Requests and tokens of every judge invocation on this run, killed ones included (the ledger)."""
    import json

    from mosseval.fileio import iter_jsonl

    out = JudgeTotals()
    invocations: set[str] = set()
    for _, line in iter_jsonl(Path(run_dir) / REQUESTS_FILE):
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("event") == "sent":
            out.requests += 1
            invocations.add(str(ev.get("invocation")))
        else:
            out.prompt_tokens += int(ev.get("prompt_tokens") or 0)
            out.completion_tokens += int(ev.get("completion_tokens") or 0)
    out.invocations = len(invocations)
    return out


__all__ = ["JUDGE_FILE", "VERDICTS_FILE", "REQUESTS_FILE", "ledger_totals", "HISTORY_LIMIT", "StoredJudgements", "read_judgements",
           "write_judgements"]
