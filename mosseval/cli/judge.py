"""``mosseval judge RUN_DIR``: add LLM-judge verdicts to a saved run (logic in ``mosseval.judge``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mosseval.cli.options import JsonOutOpt, QuietOpt, WaitOpt

JUDGE = "Judge"
LIMITS = "Limits and cost"
OUT = "Output"


def register(app: typer.Typer) -> None:
    @app.command("judge")
    def judge(
        run_dir: Annotated[Optional[Path], typer.Argument(metavar="RUN_DIR", help="A run directory "
                                                          "(from `mosseval run`).", show_default=False)] = None,
        judge_model: Annotated[str, typer.Option("--judge", "-j", metavar="MODEL",
                                                 help="Judge model name at the endpoint.",
                                                 rich_help_panel=JUDGE)] = "gpt-4o",
        rubric: Annotated[Optional[list[str]], typer.Option("--rubric", "-r", metavar="NAME", help="Rubric(s) to apply "
                                                            "(repeatable or comma-separated). Default per task: "
                                                            "mmvu-official for MMVU, process-consistency for "
                                                            "tasks with reference steps.",
                                                            rich_help_panel=JUDGE)] = None,
        rubrics_dir: Annotated[Optional[list[Path]], typer.Option("--rubrics-dir", metavar="DIR", help="Extra folder of rubric "
                                                                  "YAML files (repeatable; also "
                                                                  "$MOSSEVAL_JUDGES_DIR).",
                                                                  rich_help_panel=JUDGE)] = None,
        tasks: Annotated[Optional[str], typer.Option("--tasks", "-t", metavar="TASK,...", help="Only judge these tasks "
                                                     "(comma-separated).", rich_help_panel=JUDGE)] = None,
        base_url: Annotated[Optional[str], typer.Option("--base-url", metavar="URL", help="OpenAI-compatible endpoint incl. /v1 (else "
                                                        "$MOSSEVAL_JUDGE_BASE_URL, $OPENAI_BASE_URL, "
                                                        "api.openai.com).", rich_help_panel=JUDGE)] = None,
        api_key: Annotated[Optional[str], typer.Option("--api-key", metavar="KEY", help="API key (prefer $MOSSEVAL_JUDGE_API_KEY or "
                                                       "$OPENAI_API_KEY: a command line is visible to other "
                                                       "processes). Never written anywhere.",
                                                       rich_help_panel=JUDGE, show_default=False)] = None,
        concurrency: Annotated[int, typer.Option("--concurrency", metavar="N", help="Requests in flight at once.",
                                                 rich_help_panel=LIMITS)] = 4,
        rpm: Annotated[Optional[float], typer.Option("--rpm", metavar="N", help="Client-side rate limit, requests per minute.",
                                                     rich_help_panel=LIMITS)] = None,
        max_requests: Annotated[Optional[int], typer.Option("--max-requests", metavar="N", help="Stop after this many HTTP requests "
                                                            "(retries count); re-run to continue.",
                                                            rich_help_panel=LIMITS)] = None,
        max_tokens: Annotated[Optional[int], typer.Option("--max-tokens", metavar="N", help="Stop after this many tokens (prompt + "
                                                          "completion) in this call.",
                                                          rich_help_panel=LIMITS)] = None,
        timeout: Annotated[float, typer.Option("--timeout", metavar="SECONDS", help="Total deadline of one HTTP "
                                               "attempt (connection, reply and body together).",
                                               rich_help_panel=LIMITS)] = 60.0,
        max_retries: Annotated[int, typer.Option("--max-retries", metavar="N", help="Retries on 429/5xx/timeouts (exponential backoff "
                                                 "with jitter).", rich_help_panel=LIMITS)] = 5,
        price_in: Annotated[Optional[float], typer.Option("--price-in", metavar="USD", help="USD per 1M prompt tokens (default: list "
                                                          "price for gpt-4o / gpt-4o-mini / gpt-4.1*).",
                                                          rich_help_panel=LIMITS)] = None,
        price_out: Annotated[Optional[float], typer.Option("--price-out", metavar="USD", help="USD per 1M completion tokens.",
                                                           rich_help_panel=LIMITS)] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be sent and its estimated "
                                              "tokens and cost; send nothing.", rich_help_panel=LIMITS)] = False,
        retry_errors: Annotated[bool, typer.Option("--retry-errors", help="Re-send items whose cached verdict "
                                                   "is a judge error.", rich_help_panel=JUDGE)] = False,
        shared_cache: Annotated[Optional[Path], typer.Option("--shared-cache", metavar="DIR", help="Also reuse/store verdicts in this folder "
                                                             "(else $MOSSEVAL_JUDGE_CACHE).",
                                                             rich_help_panel=JUDGE)] = None,
        list_rubrics: Annotated[bool, typer.Option("--list-rubrics", help="List available rubrics and exit.",
                                                   rich_help_panel=OUT)] = False,
        json_out: JsonOutOpt = None,
        wait: WaitOpt = False,
        quiet: QuietOpt = False,
    ) -> int:
        """Judge a saved run with an LLM (MMVU's official answer judge, reasoning-process rubric).

        Cached by fingerprint (a second run costs nothing), resumable, rate-limited and budgeted; verdicts go to samples.jsonl and summaries to run.json. Exit 0 ok, 3 some judge errors (recorded), 7 budget exhausted / credentials refused.
        """
        from mosseval.cli import console, out
        from mosseval.errors import UsageError
        from mosseval.judge import judge_run
        from mosseval.judge.rubrics import load_rubrics

        if list_rubrics:
            from rich.table import Table

            t = Table(title="judge rubrics", title_justify="left")
            for col in ("rubric", "version", "kind", "official", "description"):
                t.add_column(col)
            for name, r in sorted(load_rubrics([str(p) for p in rubrics_dir or []]).items()):
                t.add_row(name, r.version, r.kind, "yes" if r.official else "", r.description)
            out.print(t)
            return 0
        if run_dir is None:
            raise UsageError("missing RUN_DIR", hint="mosseval judge RUN_DIR [--judge gpt-4o]")
        summary = judge_run(
            run_dir, judge_model, rubric=rubric, base_url=base_url, api_key=api_key, concurrency=concurrency,
            dry_run=dry_run, console=None if quiet else console,
            rubrics_dir=[str(p) for p in rubrics_dir or []], tasks=tasks, rpm=rpm, max_requests=max_requests,
            max_tokens=max_tokens, timeout=timeout, max_retries=max_retries, price_in=price_in,
            price_out=price_out, retry_errors=retry_errors, shared_cache=str(shared_cache) if shared_cache else None,
            progress=not quiet, wait=wait,
        )
        if json_out is not None:
            from mosseval.fileio import write_json_atomic
            from mosseval.redact import redact_value

            write_json_atomic(json_out, redact_value(summary.as_dict()), hint="choose a writable --json path")
        return summary.exit_code
