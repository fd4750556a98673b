"""JSON Schemas of every record mosseval writes, generated from the pydantic records.

    python -m mosseval.schemas OUTDIR        # writes OUTDIR/<name>.schema.json for each record below

The docs build calls this to publish the reference; the leaderboard page's script reads only what
``leaderboard.schema.json`` declares.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# file stem -> (module, record, what it describes)
SCHEMAS: dict[str, tuple[str, str, str]] = {
    "task": ("mosseval.records", "TaskSpec", "a task definition (tasks/*.yaml)"),
    "run": ("mosseval.records", "RunLog", "run.json: one run's spec, identity, status and results"),
    "sample": ("mosseval.records", "SampleRecord", "one line of samples.jsonl"),
    "leaderboard": ("mosseval.leaderboard.records", "Board", "leaderboard.json"),
    "judge-log": ("mosseval.judge.records", "JudgeLog", "judge.json in a run directory"),
    "judge-verdict": ("mosseval.judge.records", "VerdictLine", "one line of judge_verdicts.jsonl"),
    "judge-report": ("mosseval.judge.records", "JudgeReport", "`mosseval judge --json`"),
    "compare": ("mosseval.compare", "CompareReport", "`mosseval compare --json`: the CI gate's verdict"),
}


def schema(name: str) -> dict[str, Any]:
    import importlib

    module, attr, what = SCHEMAS[name]
    model = getattr(importlib.import_module(module), attr)
    out = model.model_json_schema(mode="serialization")
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out.setdefault("description", what)
    return out


def write_schemas(out_dir: str | Path) -> list[Path]:
    """Write every schema to ``out_dir`` (created); returns the files."""
    from mosseval.fileio import atomic_write_text

    out = Path(out_dir)
    written = []
    for name in SCHEMAS:
        path = out / f"{name}.schema.json"
        atomic_write_text(path, json.dumps(schema(name), indent=2, sort_keys=True) + "\n",
                          hint="pass a writable folder")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print("usage: python -m mosseval.schemas OUTDIR   (writes one <record>.schema.json per record)",
              file=sys.stderr)
        return 0 if args and args[0] in ("-h", "--help") else 2
    from mosseval.errors import MossevalError

    try:
        for p in write_schemas(args[0]):
            print(p)
    except MossevalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 4))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
