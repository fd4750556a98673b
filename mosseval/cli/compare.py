"""``mosseval compare BASELINE CANDIDATE``: the CI regression gate (logic in ``mosseval.compare``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mosseval.cli.options import JsonOutOpt

GATE = "Decision"
OUT = "Output"


def register(app: typer.Typer) -> None:
    @app.command("compare")
    def compare(
        baseline: Annotated[Path, typer.Argument(metavar="BASELINE",
                                                            help="Run directory of the reference checkpoint.",
                                                            show_default=False)],
        candidate: Annotated[Path, typer.Argument(metavar="CANDIDATE",
                                                             help="Run directory of the checkpoint under test.",
                                                             show_default=False)],
        margin: Annotated[float, typer.Option("--margin", metavar="POINTS", help="Non-inferiority margin in percentage points: fail only "
                                              "when the candidate is worse by more than this, with confidence.",
                                              rich_help_panel=GATE)] = 1.0,
        prr_margin: Annotated[Optional[float], typer.Option("--prr-margin", metavar="POINTS", help="Margin for PRR in points of its 0-100 "
                                                            "scale (default: --margin).",
                                                            rich_help_panel=GATE)] = None,
        metric: Annotated[str, typer.Option("--metric", metavar="METRIC,...", help="Comma-separated metrics to gate on: accuracy, prr.",
                                            rich_help_panel=GATE)] = "accuracy,prr",
        alpha: Annotated[float, typer.Option("--alpha", metavar="ALPHA", help="Two-sided CIs of level 1-alpha; exact tests at alpha.",
                                             rich_help_panel=GATE)] = 0.05,
        bootstrap: Annotated[int, typer.Option("--bootstrap", metavar="N", help="Cluster-bootstrap resamples.",
                                               rich_help_panel=GATE)] = 2000,
        seed: Annotated[int, typer.Option("--seed", metavar="N", help="Bootstrap seed (results are deterministic).",
                                          rich_help_panel=GATE)] = 0,
        gate: Annotated[str, typer.Option("--gate", metavar="overall|tasks", help="overall: exit code follows the overall rows; tasks: every "
                                          "task also gates (Bonferroni-corrected).",
                                          rich_help_panel=GATE)] = "overall",
        mid_p: Annotated[bool, typer.Option("--mid-p", help="Use the mid-p McNemar test (less conservative).",
                                            rich_help_panel=GATE)] = False,
        summary: Annotated[Optional[Path], typer.Option("--summary", metavar="FILE", help="Append a Markdown summary to this file "
                                                        "(e.g. \"$GITHUB_STEP_SUMMARY\").",
                                                        rich_help_panel=OUT)] = None,
        json_out: JsonOutOpt = None,
    ) -> int:
        """Gate a candidate run against a baseline run: exit 0 pass/inconclusive, 1 regression, 2 not comparable.

        Joins the runs per sample, then tests non-inferiority with a paired cluster-bootstrap CI of the difference (clusters = videos) and an exact McNemar test (a cluster sign test for PRR).
        """
        from mosseval.compare import CompareSettings, compare_paths, parse_metrics, write_outputs

        settings = CompareSettings(margin_pp=margin, prr_margin_pp=prr_margin, alpha=alpha, n_boot=bootstrap,
                                   seed=seed, metrics=parse_metrics(metric), gate=gate, mid_p=mid_p)
        report = compare_paths(baseline, candidate, settings)
        print_report(report)
        write_outputs(report, summary, json_out)
        return int(report.exit_code)


def print_report(report) -> None:
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from mosseval.compare import INCONCLUSIVE, P_NOTE, UNITS_NOTE, fmt_ci, fmt_diff, fmt_p, report_rows, verdict_line
    from mosseval.units import pct

    con = Console()
    if not con.is_terminal:  # CI logs: do not squeeze the table into 80 columns
        con = Console(width=max(con.width, 150))
    s = report.settings
    title = escape(f"compare: {report.candidate.model} (candidate) vs {report.baseline.model} (baseline)")
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD,
                  caption=UNITS_NOTE + "; n (videos) = paired samples (clusters); " + P_NOTE, caption_justify="left")
    for col in ("scope", "metric", "n (videos)", "baseline %", "candidate %", "diff (pts)",
                f"{100 * (1 - s.alpha):g}% CI (pts)", "p", "verdict"):
        table.add_column(col, justify="left" if col in ("scope", "metric", "verdict") else "right",
                         no_wrap=col != "scope")
    colours = {"pass": "green", "regression": "bold red", "inconclusive": "yellow", "not_applicable": "dim"}
    for r in report_rows(report):
        verdict = Text(r.verdict.upper() + ("" if r.gating else " (info)"), style=colours[r.verdict])
        table.add_row(Text(r.scope_label), r.metric, f"{r.n} ({r.n_clusters})", pct(r.baseline), pct(r.candidate),
                      fmt_diff(r), fmt_ci(r), fmt_p(r), verdict)
    con.print(table)
    for r in report_rows(report):
        if r.verdict == INCONCLUSIVE:
            need = f"; ~{r.n_needed} samples needed to decide" if r.n_needed else ""
            con.print(Text(f"{r.scope_label} / {r.metric}: {r.reason}{need}"))
    for note in report.notes:
        con.print(Text(f"note: {note}"), style="dim")
    con.print(Text(verdict_line(report), style=colours[report.verdict]))
