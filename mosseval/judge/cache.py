"""The verdict cache: append-only JSONL, one verdict per line, keyed by fingerprint.

``<run_dir>/judge_cache.jsonl`` travels with the run; an optional shared folder
(``--shared-cache DIR`` / ``$MOSSEVAL_JUDGE_CACHE``) holds ``DIR/judge_cache.jsonl`` for verdicts
reused across runs (same sample, same response, same judge and rubric). Each verdict is written
with a single ``write`` on an ``O_APPEND`` descriptor and fsynced as it arrives, so a killed judge
loses at most the requests in flight; a partial last line left by a kill is ignored on read and cut
off before the next append.

The fingerprint (see :func:`mosseval.judge.verdict_fingerprint`) covers the judge model, the rubric
name and version, the rendered prompt, the generation settings, the reply schema and the sample
content, so a verdict is never reused for another judge, rubric version, prompt or response.
"""

from __future__ import annotations

import json
from pathlib import Path

from mosseval.clock import utc_now
from mosseval.fileio import JsonlAppender, iter_jsonl
from mosseval.records import JudgeVerdict

CACHE_FILE = "judge_cache.jsonl"
SHARED_ENV = "MOSSEVAL_JUDGE_CACHE"


_now = utc_now


class CacheFile:
    def __init__(self, path: Path, fsync: bool = True):
        self.path = Path(path)
        self.fsync = fsync
        self.entries: dict[str, JudgeVerdict] = {}
        self._out: JsonlAppender | None = None
        self._load()

    def _load(self) -> None:
        for _, line in iter_jsonl(self.path):
            try:
                obj = json.loads(line)
                verdict = JudgeVerdict.model_validate(obj["verdict"])
            except (ValueError, KeyError, TypeError):
                continue  # a foreign or corrupt line never stops judging; it is re-requested
            self.entries[verdict.fingerprint] = verdict

    def get(self, fp: str) -> JudgeVerdict | None:
        return self.entries.get(fp)

    def put(self, key: str, verdict: JudgeVerdict) -> None:
        if self._out is None:
            self._out = JsonlAppender(self.path, fsync=self.fsync, hint="judged verdicts so far are kept")
        self._out.write_json({"fingerprint": verdict.fingerprint, "key": key, "at": _now(),
                              "verdict": verdict.model_dump(mode="json")})
        self.entries[verdict.fingerprint] = verdict

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


class VerdictCache:
    """The run's cache plus an optional shared one (lookups: run first, then shared)."""

    def __init__(self, run_dir: Path, shared_dir: Path | None = None, fsync: bool = True):
        self.run = CacheFile(Path(run_dir) / CACHE_FILE, fsync)
        self.shared = CacheFile(Path(shared_dir) / CACHE_FILE, fsync) if shared_dir else None

    def get(self, fp: str) -> tuple[JudgeVerdict | None, str]:
        v = self.run.get(fp)
        if v is not None:
            return v, "run"
        if self.shared is not None:
            v = self.shared.get(fp)
            if v is not None:
                return v, "shared"
        return None, ""

    def put(self, key: str, verdict: JudgeVerdict, *, run_only: bool = False) -> None:
        self.run.put(key, verdict)
        if self.shared is not None and not run_only:
            self.shared.put(key, verdict)

    def close(self) -> None:
        self.run.close()
        if self.shared is not None:
            self.shared.close()


__all__ = ["CACHE_FILE", "SHARED_ENV", "CacheFile", "VerdictCache"]
