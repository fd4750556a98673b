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

        Cached by fingerprint (a second run costs nothing), resumable, rate-limited and budgeted; verdicts go to the judge's own files in the run directory (judge_verdicts.jsonl, judge.json); samples.jsonl and run.json are never changed. Exit 0 ok, 3 some judge errors (recorded), 7 budget exhausted / credentials refused.
        """
        from mosseval.cli import console, out
        from mosseval.errors import JudgeStoppedError, UsageError
        from mosseval.judge import judge_run
        from mosseval.judge.rubrics import load_rubrics
        from mosseval.progress import progress

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
        show = None if quiet else console  # -q: no plan, no progress; results and errors are still printed
        try:
            report = judge_run(
                run_dir, judge_model, rubric=rubric, base_url=base_url, api_key=api_key, concurrency=concurrency,
                dry_run=dry_run, progress=lambda total, label: progress(show, total, label, transient=True),
                on_plan=(lambda r: print_plan(show, r)) if show is not None else None,
                say=lambda text: console.print(text, highlight=False),
                rubrics_dir=[str(p) for p in rubrics_dir or []], tasks=tasks, rpm=rpm, max_requests=max_requests,
                max_tokens=max_tokens, timeout=timeout, max_retries=max_retries, price_in=price_in,
                price_out=price_out, retry_errors=retry_errors,
                shared_cache=str(shared_cache) if shared_cache else None, wait=wait,
            )
        except JudgeStoppedError as exc:
            print_results(console, exc.summary)
            _write_json(json_out, exc.summary)
            raise
        print_results(console, report)
        _write_json(json_out, report)
        return report.exit_code


def _write_json(path: Optional[Path], report) -> None:
    """``--json``: the JudgeReport record (redacted, written atomically)."""
    if path is not None:
        from mosseval.fileio import write_json_atomic
        from mosseval.redact import redact_value

        write_json_atomic(path, redact_value(report.model_dump(mode="json")), hint="choose a writable --json path")


def print_plan(console, report) -> None:
    """What the judge is about to do: rubrics, items, cache hits, and the estimated cost."""
    if console is None:
        return
    from mosseval.judge.cost import fmt_usd

    say = lambda text: console.print(text, highlight=False)  # noqa: E731
    rub = ", ".join(f"{n} v{v}" for n, v in report.rubrics.items())
    say(f"judge [bold]{report.judge}[/] at {report.host}: {rub} on {', '.join(report.tasks)}")
    line = (f"  {report.n_jobs} item verdicts: {report.n_cached} cached, {report.n_no_output} without model output "
            f"(not sent), {report.n_to_request} to request")
    if report.n_not_applicable:
        line += f"; {report.n_not_applicable} not applicable"
    say(line)
    e = report.estimate
    if report.n_to_request:
        cost = (f"≈{fmt_usd(e.cost_usd)} (≤{fmt_usd(e.cost_usd_max)}) at {report.prices.describe()}"
                if e.cost_usd is not None else "cost unknown: " + report.prices.describe())
        say(f"  estimate: {e.requests} requests, ≈{e.prompt_tokens:,} prompt + ≈{e.completion_tokens:,} completion "
            f"tokens (≤{e.completion_tokens_max:,}); {cost}")
    if report.dry_run:
        say("  dry run: no request was sent")


def judge_main_value(summary) -> str:
    """A summary's headline number with its unit: judged accuracy in percent, or the mean score on the
    rubric's scale (e.g. ``6.2 /10``)."""
    from mosseval.units import pct_ci

    e = summary.main
    if e is None or e.value is None:
        return "–"
    if summary.kind == "correctness":
        return pct_ci(e) + " %"
    hi = summary.scale[1] if summary.scale else None
    ci = f" [{e.ci_low:.1f}, {e.ci_high:.1f}]" if e.ci_low is not None and e.ci_high is not None else ""
    return f"{e.value:.1f}{ci}" + (f" /{hi:g}" if hi is not None else "")


_RATE_SUFFIXES = ("_f1", "_precision", "_recall")
_CORRELATION_SUFFIXES = ("_pearson", "_spearman")


def metrics_line(summary) -> str | None:
    """A rubric aggregator's headline metrics in one line: rates (F1, precision, recall, accuracies, the share
    decided by rule) in percent, correlations as r with their interval; the rest stays in ``--json``."""
    from mosseval.units import pct_ci

    parts = []
    for name, e in summary.metrics.items():
        if e.value is None:
            continue
        if name.endswith(_CORRELATION_SUFFIXES):
            ci = f" [{e.ci_low:+.2f}, {e.ci_high:+.2f}]" if e.ci_low is not None and e.ci_high is not None else ""
            parts.append(f"{name} {e.value:+.2f}{ci} (n={e.n})")
        elif name.endswith(_RATE_SUFFIXES) or "accuracy" in name or name == "decided_by_rule":
            parts.append(f"{name} {pct_ci(e)} %")
    return "; ".join(parts) or None


def print_results(console, report) -> None:
    if console is None or report.dry_run:
        return
    from rich.table import Table

    from mosseval.judge.cost import fmt_usd
    from mosseval.units import pct

    t = Table(title=f"judge {report.judge}", title_justify="left",
              caption="judged: accuracy in % (correctness rubrics) or mean score on the rubric's scale; "
                      "agree: % of items where judge and rule-based score agree; κ: Cohen's kappa",
              caption_justify="left")
    for col in ("task", "rubric", "n", "err", "judged (95% CI)", "agree %", "κ"):
        t.add_column(col, justify="left" if col in ("task", "rubric") else "right", overflow="fold")
    for task, by_r in report.results.items():
        for name, r in by_r.items():
            label = judge_main_value(r) + (" official" if r.official and r.kind == "correctness" else "")
            ag = r.agreement
            n = str(r.n) if not r.n_pending else f"{r.n}/{r.n + r.n_pending}"
            t.add_row(task, name, n, str(r.n_errors), label, "–" if ag is None else pct(ag.rate),
                      "–" if ag is None or ag.cohen_kappa is None else f"{ag.cohen_kappa:.2f}")
    console.print(t)
    for task, by_r in report.results.items():
        for name, r in by_r.items():
            line = metrics_line(r)
            if line:
                console.print(f"{task} · {name}: {line}", highlight=False)
    console.print(f"requests: {report.requests} (retries {report.retries}), cache hits: {report.n_cached}, tokens: "
                  f"{report.prompt_tokens:,} prompt + {report.completion_tokens:,} completion, cost ≈ "
                  f"{fmt_usd(report.cost_usd)} at {report.prices.describe()}", highlight=False)
    if report.n_errors:
        wrong = sorted({name for by_r in report.results.values() for name, r in by_r.items()
                        if r.errors_counted_wrong and r.n_errors})
        how = ("excluded from judged accuracy" if not wrong else
               f"counted wrong by {', '.join(wrong)} (the official rule), excluded from judged accuracy elsewhere")
        console.print(f"[yellow]{report.n_errors} judge error(s)[/]: {how}; listed in judge_verdicts.jsonl "
                      "(verdict.error); re-run with --retry-errors to try again", highlight=False)
