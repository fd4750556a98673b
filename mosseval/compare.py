"""``mosseval compare``: a paired, clustered non-inferiority gate between two runs.

Two run directories are joined per sample (on ``SampleRecord.key``) after checking that they are
comparable (:func:`mosseval.comparability.run_key`: the same tasks under the same comparability keys, the
same seed and metric version — the definition the leaderboard uses for its columns; only the model may
differ).
For each metric (accuracy, PRR), each task and overall:

* the difference ``candidate - baseline`` of the mean, with a paired **cluster bootstrap**
  percentile CI (clusters = videos) at level ``1 - alpha``;
* an exact test that must agree before a regression is declared: **exact McNemar** on the
  discordant pairs for accuracy, an exact **sign test over clusters** for PRR;
* a non-inferiority decision with margin ``m``: ``regression`` only when the whole CI lies below
  ``-m`` (and the exact test rejects equality at ``alpha``), ``pass`` when the CI lower bound is
  ``>= -m``, otherwise ``inconclusive`` with the approximate number of samples that would resolve it.

Metrics, differences, CIs and margins are stored as proportions (0-1); people see percent and
percentage points (``mosseval.units``). Nothing here imports torch; numpy only.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from mosseval.comparability import run_differences
from mosseval.errors import NotComparableError, UsageError, did_you_mean
from mosseval.records import SCHEMA_VERSION, ModelIdentity, Record, RunLog
from mosseval.rundir import LoadedRun, read_run_log
from mosseval.sampletable import SampleTable, read_table
from mosseval.stats import (
    mcnemar_exact,
    noninferiority_decision,
    paired_cluster_bootstrap,
    samples_needed,
    sign_test,
)
from mosseval.units import pct, pts

METRICS = ("accuracy", "prr")
GATES = ("overall", "tasks")
MIN_CLUSTERS = 5
"""Below this many clusters (videos) the bootstrap interval is not trusted for a decision."""

PASS, REGRESSION, INCONCLUSIVE, NOT_APPLICABLE = "pass", "regression", "inconclusive", "not_applicable"


@dataclass
class CompareSettings:
    margin_pp: float = 1.0
    """Non-inferiority margin in percentage points (accuracy; PRR on its 0-100 scale)."""
    prr_margin_pp: float | None = None
    """Margin for PRR; defaults to ``margin_pp``."""
    alpha: float = 0.05
    n_boot: int = 2000
    seed: int = 0
    metrics: tuple[str, ...] = METRICS
    gate: str = "overall"
    """``overall``: the exit code follows the overall rows; ``tasks``: every task row and the
    overall row gate, each at ``alpha / K`` (Bonferroni over the K decisions per metric)."""
    mid_p: bool = False

    def validate(self) -> CompareSettings:
        if not (self.margin_pp >= 0 and math.isfinite(self.margin_pp)):
            raise UsageError(f"--margin must be a non-negative number of percentage points, got {self.margin_pp}")
        if self.prr_margin_pp is not None and not (self.prr_margin_pp >= 0 and math.isfinite(self.prr_margin_pp)):
            raise UsageError(f"--prr-margin must be a non-negative number of points, got {self.prr_margin_pp}")
        if not (0 < self.alpha < 0.5):
            raise UsageError(f"--alpha must be in (0, 0.5), got {self.alpha}",
                             hint="0.05 gives 95% confidence intervals")
        if self.n_boot < 100:
            raise UsageError(f"--bootstrap must be at least 100 resamples, got {self.n_boot}",
                             hint="the default 2000 gives stable 95% percentile intervals")
        if self.gate not in GATES:
            hint = did_you_mean(self.gate, GATES)
            raise UsageError(f"unknown --gate {self.gate!r}; choose one of {', '.join(GATES)}",
                             hint=hint or None)
        if not self.metrics:
            raise UsageError("--metric names no metric", hint="use --metric accuracy,prr")
        for m in self.metrics:
            if m not in METRICS:
                hint = did_you_mean(m, METRICS)
                raise UsageError(f"unknown metric {m!r} in --metric; known: {', '.join(METRICS)}",
                                 hint=hint or None)
        return self

    def margin(self, metric: str) -> float:
        """The margin as a proportion (the scale the metrics are stored on)."""
        pp = self.prr_margin_pp if (metric == "prr" and self.prr_margin_pp is not None) else self.margin_pp
        return pp / 100.0


def parse_metrics(text: str) -> tuple[str, ...]:
    out: list[str] = []
    for part in text.split(","):
        part = part.strip().lower()
        if part and part not in out:
            out.append(part)
    return tuple(out)


# --------------------------------------------------------------------------- comparability


def check_comparable(base: ComparedRun | LoadedRun, cand: ComparedRun | LoadedRun) -> None:
    """Refuse (``NotComparableError``, exit 2) two runs that differ in anything but the model."""
    diffs = run_differences(base.log, cand.log)
    if diffs:
        shown = diffs[:20]
        more = f"\n  … and {len(diffs) - 20} more" if len(diffs) > 20 else ""
        raise NotComparableError(
            f"runs are not comparable: {base.path} and {cand.path} were evaluated differently:\n  - "
            + "\n  - ".join(shown) + more,
            hint="compare runs made with the same tasks and task settings (prompt, frames, decoding, "
                 "scoring), seed and metric version; only the model may differ")


# --------------------------------------------------------------------------- records


Verdict = Literal["pass", "regression", "inconclusive", "not_applicable"]


class Discordant(Record):
    baseline_only_correct: int
    candidate_only_correct: int


class ClusterSigns(Record):
    candidate_higher: int
    candidate_lower: int
    tied: int


class CompareRow(Record):
    """One decision: a metric on one task or overall. Values are proportions (0-1), ``*_pp`` points."""

    scope: Literal["task", "overall"]
    task: str | None = None
    metric: Literal["accuracy", "prr"]
    gating: bool
    alpha: float
    ci_level: float
    margin: float
    margin_pp: float
    n: int = 0
    n_excluded: int | None = None
    """PRR: paired samples without a PRR on one side."""
    n_clusters: int = 0
    baseline: float | None = None
    candidate: float | None = None
    difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    se: float | None = None
    ci_method: str | None = None
    n_boot: int | None = None
    p_value: float | None = None
    test: str | None = None
    discordant: Discordant | None = None
    cluster_signs: ClusterSigns | None = None
    verdict: Verdict = "not_applicable"
    reason: str = ""
    n_needed: int | None = None
    n_clusters_needed: int | None = None

    @property
    def scope_label(self) -> str:
        return self.task if self.scope == "task" and self.task else "overall"


class CompareRunInfo(Record):
    path: str
    run_id: str
    model: str
    model_identity: ModelIdentity | None = None
    model_identity_hash: str
    eval_identity_hash: str | None = None
    status: str
    n_samples: int


class CompareSettingsInfo(Record):
    margin_pp: float
    prr_margin_pp: float
    alpha: float
    bootstrap: int
    seed: int
    metrics: list[str]
    gate: str
    mid_p: bool
    min_clusters: int


class JoinInfo(Record):
    n_joined: int
    n_tasks: int
    only_baseline: int
    only_candidate: int
    only_baseline_examples: list[str] = Field(default_factory=list)
    only_candidate_examples: list[str] = Field(default_factory=list)


class CompareReport(Record):
    """The machine-readable verdict of ``mosseval compare`` (``--json``)."""

    schema_version: int = SCHEMA_VERSION
    kind: Literal["mosseval.compare"] = "mosseval.compare"
    verdict: Verdict
    exit_code: int
    baseline: CompareRunInfo
    candidate: CompareRunInfo
    settings: CompareSettingsInfo
    join: JoinInfo
    overall: dict[str, CompareRow]
    tasks: dict[str, dict[str, CompareRow]]
    notes: list[str] = Field(default_factory=list)
    units: str = "metrics, differences, CIs and margin are proportions (0-1); *_pp fields are percentage points"


# --------------------------------------------------------------------------- join


@dataclass
class Pair:
    key: str
    task: str
    cluster: str
    base_correct: bool
    cand_correct: bool
    base_prr: float | None
    cand_prr: float | None


@dataclass
class JoinResult:
    pairs: list[Pair]
    only_baseline: list[str]
    only_candidate: list[str]
    unscored: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)


@dataclass
class ComparedRun:
    """A run as ``compare`` reads it: its log and its samples as compact columns (``mosseval.sampletable``)."""

    path: Path
    log: RunLog
    table: SampleTable


def compared(run: ComparedRun | LoadedRun) -> ComparedRun:
    if isinstance(run, ComparedRun):
        return run
    return ComparedRun(run.path, run.log, SampleTable.from_records(run.records))


def load_compared(run_dir: str | Path) -> ComparedRun:
    """Read a run directory for ``compare``: ``run.json`` and one streamed pass over ``samples.jsonl``."""
    return ComparedRun(Path(run_dir), read_run_log(Path(run_dir)), read_table(run_dir))


def _prr(t: SampleTable, i: int) -> float | None:
    """The sample's PRR; an errored sample with reference steps has no steps, hence PRR 0 (SPEC §3)."""
    p = t.prr[i]
    if p is not None:
        return p
    if t.errored[i] and t.has_steps[i]:
        return 0.0
    return None


def join_runs(base: ComparedRun | LoadedRun, cand: ComparedRun | LoadedRun) -> JoinResult:
    """Pair the samples of two runs on their key. Correctness: errored and unscored samples count as wrong
    (``SampleTable.correct``)."""
    tb, tc = compared(base).table, compared(cand).table
    at_c = {k: j for j, k in enumerate(tc.key)}
    in_b = set(tb.key)
    only_b = [k for k in tb.key if k not in at_c]
    only_c = [k for k in tc.key if k not in in_b]
    pairs: list[Pair] = []
    mismatched: list[str] = []
    for i, key in enumerate(tb.key):
        j = at_c.get(key)
        if j is None:
            continue
        if tb.qa[i] != tc.qa[j]:  # not the same question and answer
            mismatched.append(key)
            continue
        pairs.append(Pair(key, tb.task[i], tb.cluster[i], tb.correct[i], tc.correct[j], _prr(tb, i), _prr(tc, j)))
    if mismatched:
        raise NotComparableError(
            f"{len(mismatched)} sample(s) share a key but not their question/answer "
            f"(e.g. {mismatched[0]!r}): the runs used different data",
            hint="evaluate both checkpoints on the same dataset files")
    if not pairs:
        raise NotComparableError(
            f"the runs have no sample in common (baseline {len(tb)}, candidate {len(tc)} samples)",
            hint="run both with the same --tasks and --limit")
    res = JoinResult(pairs, only_b, only_c)
    for side, t in (("baseline", tb), ("candidate", tc)):
        res.unscored[side] = sum(1 for s, e in zip(t.scored, t.errored) if not s and not e)
        res.errors[side] = sum(t.errored)
    return res


# --------------------------------------------------------------------------- statistics per row


def _seed(seed: int, metric: str) -> list[int]:
    # one stream per metric: identical pairs (a single task and "overall") give identical CIs
    return [int(seed), int(hashlib.sha256(metric.encode()).hexdigest()[:8], 16)]


def _row(pairs: Sequence[Pair], metric: str, settings: CompareSettings, alpha: float,
         scope: str, task: str | None, gating: bool) -> CompareRow:
    return CompareRow.model_validate(_row_data(pairs, metric, settings, alpha, scope, task, gating))


def _row_data(pairs: Sequence[Pair], metric: str, settings: CompareSettings, alpha: float,
              scope: str, task: str | None, gating: bool) -> dict[str, Any]:
    margin = settings.margin(metric)
    row: dict[str, Any] = {
        "scope": scope, "task": task, "metric": metric, "gating": gating,
        "alpha": alpha, "ci_level": 1 - alpha, "margin": margin, "margin_pp": margin * 100,
    }
    if metric == "accuracy":
        used = list(pairs)
        base_vals = [1.0 if p.base_correct else 0.0 for p in used]
        cand_vals = [1.0 if p.cand_correct else 0.0 for p in used]
    else:
        used = [p for p in pairs if p.base_prr is not None and p.cand_prr is not None]
        base_vals = [p.base_prr for p in used]  # type: ignore[misc]
        cand_vals = [p.cand_prr for p in used]  # type: ignore[misc]
        row["n_excluded"] = len(pairs) - len(used)
    n = len(used)
    row["n"] = n
    if n == 0:
        row.update(n_clusters=0, baseline=None, candidate=None, difference=None, ci_low=None,
                   ci_high=None, p_value=None, test=None, verdict=NOT_APPLICABLE, n_needed=None,
                   reason="no paired sample has this metric")
        return row
    diffs = [c - b for b, c in zip(base_vals, cand_vals)]
    clusters = [p.cluster for p in used]
    boot = paired_cluster_bootstrap(diffs, clusters, n_boot=settings.n_boot, alpha=alpha,
                                    seed=_seed(settings.seed, metric))
    row.update(
        n_clusters=boot.n_clusters,
        baseline=sum(base_vals) / n,
        candidate=sum(cand_vals) / n,
        difference=boot.estimate,
        ci_low=boot.ci_low,
        ci_high=boot.ci_high,
        se=boot.se,
        ci_method=boot.method,
        n_boot=boot.n_boot,
    )
    if metric == "accuracy":
        b = sum(1 for p in used if p.base_correct and not p.cand_correct)
        c = sum(1 for p in used if p.cand_correct and not p.base_correct)
        row["discordant"] = {"baseline_only_correct": b, "candidate_only_correct": c}
        row["p_value"] = mcnemar_exact(b, c, mid_p=settings.mid_p)
        row["test"] = "mcnemar_exact_mid_p" if settings.mid_p else "mcnemar_exact"
        no_difference = b == 0 and c == 0
    else:
        per_cluster: dict[str, float] = {}
        for d, k in zip(diffs, clusters):
            per_cluster[k] = per_cluster.get(k, 0.0) + d
        pos = sum(1 for v in per_cluster.values() if v > 1e-12)
        neg = sum(1 for v in per_cluster.values() if v < -1e-12)
        row["cluster_signs"] = {"candidate_higher": pos, "candidate_lower": neg,
                                "tied": len(per_cluster) - pos - neg}
        row["p_value"] = sign_test(pos, neg)
        row["test"] = "cluster_sign_test"
        no_difference = all(abs(d) <= 1e-12 for d in diffs)

    if no_difference:
        row["ci_low"] = row["ci_high"] = 0.0
        verdict, reason = PASS, "no sample differs"
    elif boot.n_clusters < MIN_CLUSTERS:
        verdict = INCONCLUSIVE
        reason = (f"only {boot.n_clusters} cluster(s) (videos); at least {MIN_CLUSTERS} are needed "
                  "for a bootstrap interval to decide")
    else:
        verdict = noninferiority_decision(boot.ci_low, boot.ci_high, margin)
        lvl = f"{100 * (1 - alpha):g}%"
        if verdict == REGRESSION and not row["p_value"] < alpha:
            verdict = INCONCLUSIVE
            reason = (f"the {lvl} CI is below -{margin * 100:g} points but the exact test "
                      f"({row['test']}, p={row['p_value']:.3g}) does not reject equality at alpha={alpha:g}")
        elif verdict == REGRESSION:
            reason = f"the {lvl} CI lies entirely below -{margin * 100:g} points"
        elif verdict == PASS:
            reason = f"the {lvl} CI lower bound is at or above -{margin * 100:g} points (non-inferior)"
        else:
            reason = f"the {lvl} CI contains -{margin * 100:g} points"
    row["verdict"] = verdict
    row["reason"] = reason
    row["n_needed"] = None
    if verdict == INCONCLUSIVE and row["ci_low"] is not None and boot.n_clusters >= 2:
        row["n_needed"] = samples_needed(n, boot.estimate, boot.ci_low, boot.ci_high, margin)
        # keep the samples-per-cluster ratio: more videos, not more questions per video
        if row["n_needed"] is not None:
            row["n_clusters_needed"] = math.ceil(row["n_needed"] * boot.n_clusters / n)
    return row


def combine(verdicts: Iterable[str]) -> str:
    vs = [v for v in verdicts if v != NOT_APPLICABLE]
    if REGRESSION in vs:
        return REGRESSION
    if INCONCLUSIVE in vs:
        return INCONCLUSIVE
    return PASS if vs else NOT_APPLICABLE


# --------------------------------------------------------------------------- report


def _run_summary(run: ComparedRun) -> CompareRunInfo:
    log = run.log
    return CompareRunInfo(path=str(run.path), run_id=log.run_id, model=log.spec.model,
                          model_identity=log.model_identity(), model_identity_hash=log.identity.model_hash(),
                          eval_identity_hash=log.identity.eval_hash(), status=log.status,
                          n_samples=len(run.table))


def compare_runs(base: ComparedRun | LoadedRun, cand: ComparedRun | LoadedRun,
                 settings: CompareSettings | None = None) -> CompareReport:
    """Compare two runs (read with :func:`load_compared`, or loaded records); returns the machine-readable
    verdict (see docs/howto/ci-gate.md).

    Raises ``NotComparableError`` when the runs are not comparable or nothing overlaps."""
    settings = (settings or CompareSettings()).validate()
    base, cand = compared(base), compared(cand)
    check_comparable(base, cand)
    joined = join_runs(base, cand)
    tasks = sorted({p.task for p in joined.pairs})
    by_task = {t: [p for p in joined.pairs if p.task == t] for t in tasks}
    multi = len(tasks) > 1
    k = (len(tasks) + 1) if (settings.gate == "tasks" and multi) else 1
    gate_alpha = settings.alpha / k

    overall: dict[str, CompareRow] = {}
    per_task: dict[str, dict[str, CompareRow]] = {t: {} for t in tasks}
    for metric in settings.metrics:
        gating_tasks = settings.gate == "tasks" or not multi
        overall[metric] = _row(joined.pairs, metric, settings, gate_alpha, "overall", None, gating=True)
        if len(tasks) == 1:  # its pairs, alpha, gating and seed are the overall row's: no second bootstrap
            per_task[tasks[0]][metric] = overall[metric].model_copy(update={"scope": "task", "task": tasks[0]})
            continue
        for t in tasks:
            per_task[t][metric] = _row(by_task[t], metric, settings,
                                       gate_alpha if gating_tasks else settings.alpha,
                                       "task", t, gating=gating_tasks)

    gating_rows = list(overall.values())
    if settings.gate == "tasks":
        gating_rows += [r for rows in per_task.values() for r in rows.values()]
    verdict = combine(r.verdict for r in gating_rows)
    if verdict == NOT_APPLICABLE:
        raise UsageError(
            f"nothing to compare for metric(s) {', '.join(settings.metrics)}: no joined sample has a value",
            hint="PRR needs tasks with reference steps; use --metric accuracy")
    notes: list[str] = []
    if joined.only_baseline or joined.only_candidate:
        notes.append(f"{len(joined.only_baseline)} sample(s) only in the baseline and "
                     f"{len(joined.only_candidate)} only in the candidate were excluded")
    for side, run in (("baseline", base), ("candidate", cand)):
        if run.log.status not in ("completed", "completed_with_errors"):
            notes.append(f"the {side} run is {run.log.status}, not completed")
        if joined.unscored.get(side):
            notes.append(f"{joined.unscored[side]} {side} sample(s) have no score and count as wrong")
        if joined.errors.get(side):
            notes.append(f"{joined.errors[side]} {side} sample(s) errored and count as wrong")
    if k > 1:
        notes.append(f"--gate tasks: each of the {k} decisions per metric uses alpha/{k} = {gate_alpha:.4g} (Bonferroni)")
    return CompareReport(
        verdict=verdict,  # type: ignore[arg-type]
        exit_code=1 if verdict == REGRESSION else 0,
        baseline=_run_summary(base),
        candidate=_run_summary(cand),
        settings=CompareSettingsInfo(
            margin_pp=settings.margin_pp,
            prr_margin_pp=settings.prr_margin_pp if settings.prr_margin_pp is not None else settings.margin_pp,
            alpha=settings.alpha, bootstrap=settings.n_boot, seed=settings.seed, metrics=list(settings.metrics),
            gate=settings.gate, mid_p=settings.mid_p, min_clusters=MIN_CLUSTERS),
        join=JoinInfo(n_joined=len(joined.pairs), n_tasks=len(tasks), only_baseline=len(joined.only_baseline),
                      only_candidate=len(joined.only_candidate),
                      only_baseline_examples=joined.only_baseline[:5],
                      only_candidate_examples=joined.only_candidate[:5]),
        overall=overall,
        tasks=per_task,
        notes=notes,
    )


def compare_paths(baseline: str | Path, candidate: str | Path,
                  settings: CompareSettings | None = None) -> CompareReport:
    settings = (settings or CompareSettings()).validate()
    for label, p in (("BASELINE", baseline), ("CANDIDATE", candidate)):
        if not Path(p).is_dir():
            raise UsageError(f"{label} {p} is not a directory",
                             hint="pass run directories written by `mosseval run` (they hold run.json)")
    return compare_runs(load_compared(baseline), load_compared(candidate), settings)


# --------------------------------------------------------------------------- presentation (percent, points)


def report_rows(report: CompareReport) -> list[CompareRow]:
    """Rows in display order: per task (when several tasks) then overall, metric by metric."""
    rows: list[CompareRow] = []
    for metric in report.settings.metrics:
        if report.join.n_tasks > 1:
            rows += [report.tasks[t][metric] for t in sorted(report.tasks)]
            rows.append(report.overall[metric])
        else:
            rows += [report.tasks[t][metric] for t in report.tasks]
    return rows


def fmt_ci(row: CompareRow) -> str:
    """The interval of the difference in points: ``[-2.1, +0.4]``."""
    if row.ci_low is None or row.ci_high is None:
        return "n/a"
    return f"[{pts(row.ci_low).removesuffix(' pts')}, {pts(row.ci_high).removesuffix(' pts')}]"


def fmt_p(row: CompareRow) -> str:
    p = row.p_value
    if p is None:
        return "n/a"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def fmt_diff(row: CompareRow) -> str:
    return "n/a" if row.difference is None else pts(row.difference).removesuffix(" pts")


def verdict_line(report: CompareReport) -> str:
    v = report.verdict.upper()
    s = report.settings
    base = (f"{v}: candidate {report.candidate.model} vs baseline {report.baseline.model} "
            f"on {report.join.n_joined} paired samples, margin {s.margin_pp:g} points, "
            f"{100 * (1 - s.alpha):g}% CIs")
    if report.verdict == INCONCLUSIVE:
        needs = [r.n_needed for r in report_rows(report) if r.gating and r.verdict == INCONCLUSIVE and r.n_needed]
        if needs:
            base += f"; about {max(needs)} samples would be needed to decide"
    return base


UNITS_NOTE = "baseline and candidate in % (PRR on 0-100); diff and CI in percentage points"
P_NOTE = ("p: exact McNemar test on accuracy; on other metrics a sign test over videos (which one is higher), "
          "so it can be large while the CI of the mean difference excludes 0")


def render_markdown(report: CompareReport) -> str:
    """A small Markdown summary for ``$GITHUB_STEP_SUMMARY``: a one-line verdict and a table."""
    lines = ["### mosseval compare", "", f"**{_md(verdict_line(report))}**", "",
             "| scope | metric | n (videos) | baseline % | candidate % | diff (pts) | CI (pts) | p | verdict |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in report_rows(report):
        lines.append(
            f"| {_md(r.scope_label)} | {r.metric} | {r.n} ({r.n_clusters}) | {pct(r.baseline)} | "
            f"{pct(r.candidate)} | {fmt_diff(r)} | {fmt_ci(r)} | {fmt_p(r)} | "
            f"{r.verdict.upper()}{'' if r.gating else ' (info)'} |")
    lines += ["", f"_{UNITS_NOTE}; {P_NOTE}_", ""]
    for r in report_rows(report):
        if r.verdict == INCONCLUSIVE:
            need = f"; ~{r.n_needed} samples needed" if r.n_needed else ""
            lines.append(f"- {_md(r.scope_label)} / {r.metric}: {_md(r.reason)}{need}")
    for note in report.notes:
        lines.append(f"- {_md(note)}")
    lines.append("")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def write_outputs(report: CompareReport, summary: Path | None, json_path: Path | None) -> None:
    """``--json`` is (re)written atomically; ``--summary`` is appended (as ``$GITHUB_STEP_SUMMARY`` expects)."""
    if json_path is not None:
        from mosseval.fileio import atomic_write_text

        atomic_write_text(Path(json_path), report.model_dump_json(indent=2) + "\n", hint="choose a writable --json path")
    if summary is not None:
        from mosseval.errors import OutputError

        try:
            Path(summary).parent.mkdir(parents=True, exist_ok=True)
            with Path(summary).open("a", encoding="utf-8") as fh:
                fh.write(render_markdown(report))
        except OSError as exc:
            raise OutputError(f"cannot write summary {summary}: {exc.strerror or exc}") from None
