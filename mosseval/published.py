"""Published-number checks: does a run reproduce the score a model's authors report?

The manifest (``manifests/published.yaml``, shipped with mosseval; versioned) lists (preset, task,
metric, frame recipe, published value, tolerance, primary source). A run is checked against every
entry whose preset it ran (by preset name or by the preset's checkpoint id) and whose task it holds:

* **reproduces** when the published value lies inside the run's 95 % CI widened by the tolerance
  on both sides: ``ci_low - tol <= published <= ci_high + tol``;
* **does not reproduce** otherwise (the line says by how many points, and in which direction);
* **not comparable** when the run cannot speak to the number: other frames than the recipe the
  number was produced with (``--frames-from task``), a partial run (``--limit``), an unfinished run,
  or a judged metric (MMVU's official GPT-4o score) that the run has not been judged for.

The check itself needs the real weights (and, at 7B+, a GPU); everything here is pure and runs on
saved run directories.
"""

from __future__ import annotations

import os
from pathlib import Path

from mosseval.errors import ConfigError
from mosseval.records import Estimate, PublishedManifest, PublishedScore, PublishedVerdict, RunLog, TaskResult, TaskSpec
from mosseval.units import fixed, pct, pct_ci

__all__ = ["load_manifest", "default_manifest_path", "matching_scores", "verdict", "check_run"]

MANIFEST_FILE = "published.yaml"


def default_manifest_path() -> Path:
    from mosseval.paths import resource_dir

    return resource_dir("manifests") / MANIFEST_FILE


def load_manifest(path: str | os.PathLike[str] | None = None) -> PublishedManifest:
    """Read and validate a manifest (default: the one shipped with mosseval)."""
    import yaml
    from pydantic import ValidationError

    from mosseval.fileio import load_yaml

    path = Path(path) if path is not None else default_manifest_path()
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the published-number manifest {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML in the published-number manifest {path}: {exc}") from None
    try:
        return PublishedManifest.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ()))
        raise ConfigError(f"{path}: key `{where}`: {err['msg']}",
                          hint="see docs/reference/published-numbers.md for the manifest format") from None


def _checkpoint_id(log: RunLog) -> str | None:
    ckpt = (log.spec.model_identity or {}).get("checkpoint")
    if isinstance(ckpt, dict):
        return ckpt.get("repo_id") or ckpt.get("source")
    return None


def runs_preset(log: RunLog, preset: str) -> bool:
    """Whether the run evaluated ``preset`` (by name, or the same Hub checkpoint under another name)."""
    from mosseval.models.registry import PRESETS

    if log.spec.model == preset:
        return True
    target = PRESETS[preset].target if preset in PRESETS else None
    return target is not None and target in (log.spec.model, _checkpoint_id(log))


def _result(log: RunLog, task: str) -> TaskResult | None:
    return log.results.get(task) or log.groups.get(task)


def matching_scores(log: RunLog, manifest: PublishedManifest) -> list[PublishedScore]:
    return [s for s in manifest.scores if runs_preset(log, s.preset) and _result(log, s.task) is not None]


def _leaf_specs(log: RunLog, task: str) -> list[TaskSpec]:
    names = [t.name for t in log.spec.tasks if t.name == task or t.group == task]
    return [log.task_specs[n] for n in names if n in log.task_specs]


def _official_style(res: TaskResult) -> Estimate | None:
    """The official-style accuracy an extractor reported (``TaskResult.extra[extractor]``), with the CI
    half-widths of mosseval's own accuracy around it (the official scripts give no interval)."""
    from mosseval.scoring import official_style_summary

    summary = official_style_summary(res)
    if summary is None:
        return None
    ours, value = res.accuracy, float(summary["accuracy"])
    if ours.value is None or ours.ci_low is None or ours.ci_high is None:
        return Estimate(value=value, n=int(summary.get("answered") or 0))
    return Estimate(value=value, ci_low=max(0.0, value - (ours.value - ours.ci_low)),
                    ci_high=min(1.0, value + (ours.ci_high - ours.value)), n=int(summary.get("answered") or 0),
                    method="official-style; CI half-widths of mosseval's accuracy")


def _not_comparable(score: PublishedScore, reason: str, observed: Estimate | None = None) -> PublishedVerdict:
    return PublishedVerdict(score=score, status="not_comparable", observed=observed, reason=reason,
                            line=f"not comparable with {pct(score.published)}: {reason}")


def verdict(log: RunLog, score: PublishedScore, judged: dict[str, Estimate] | None = None) -> PublishedVerdict:
    """Compare one run with one published number (see the module docstring). ``judged``: task or group ->
    the official judge's accuracy (``mosseval.judge.official_accuracies``), for judged metrics."""
    res = _result(log, score.task)
    if res is None:
        return _not_comparable(score, f"the run has no result for {score.task!r}")
    recipes = {spec.frames.recipe for spec in _leaf_specs(log, score.task)}
    if recipes != {score.recipe}:
        used = ", ".join(sorted(r or "the task's frame protocol" for r in recipes)) or "unknown frames"
        return _not_comparable(score, f"the run used {used}; the number was produced with the {score.recipe} "
                               "recipe (re-run with --frames-from model)")
    if log.spec.limit is not None:
        return _not_comparable(score, f"partial run (--limit {log.spec.limit}); the number is over the full set")
    if log.status not in ("completed", "completed_with_errors"):
        return _not_comparable(score, f"the run is {log.status}")
    if score.metric == "judged_accuracy":
        observed = (judged or {}).get(score.task)
        if observed is None:
            return _not_comparable(score, "the number is the official judge's accuracy; judge the run first "
                                   "(mosseval judge RUN_DIR); its rule-based score is only an approximation",
                                   res.accuracy)
    elif score.metric == "official_style_accuracy":
        observed = _official_style(res)
        if observed is None:
            return _not_comparable(score, "the task's extractor reports no official-style accuracy", res.accuracy)
    else:
        observed = res.accuracy
        if res.approximate:
            return _not_comparable(score, "the run's score is an offline approximation of the official protocol",
                                   observed)
    if observed.value is None:
        return _not_comparable(score, "the run has no score for this metric", observed)
    lo = observed.ci_low if observed.ci_low is not None else observed.value
    hi = observed.ci_high if observed.ci_high is not None else observed.value
    ok = lo - score.tolerance <= score.published <= hi + score.tolerance
    ours = f"ours {pct_ci(observed)}"
    errors = f"; {res.n_errors} failed sample(s) counted as wrong" if res.n_errors else ""
    if ok:
        return PublishedVerdict(score=score, status="reproduces", observed=observed,
                                line=f"reproduces {pct(score.published)}: {ours}{errors}")
    gap = (lo - score.tolerance - score.published) if score.published < lo else (score.published - hi - score.tolerance)
    side = "above" if score.published < lo else "below"
    return PublishedVerdict(
        score=score, status="does_not_reproduce", observed=observed,
        line=f"does not reproduce {pct(score.published)}: {ours}, {fixed(100 * gap)} pts {side} even with the "
        f"{fixed(100 * score.tolerance)}-pt tolerance{errors}")


def check_run(log: RunLog, manifest: PublishedManifest | None = None,
              judged: dict[str, Estimate] | None = None) -> list[PublishedVerdict]:
    """Verdicts for every published number the run evaluated the preset and task of. ``judged``: the run's
    official judged accuracies (from its judge files), without which judged metrics are not comparable."""
    manifest = manifest if manifest is not None else _shipped_manifest()
    return [verdict(log, s, judged) for s in matching_scores(log, manifest)]


_SHIPPED: dict[str, object] = {}


def _shipped_manifest() -> PublishedManifest:
    """The shipped manifest, read once per process by :func:`load_manifest` (the board checks every run
    against it; reading it took ~0.15 s per run). Read-only: verdicts refer to its scores."""
    if _SHIPPED.get("loader") is not load_manifest:  # a replaced loader (tests) is honoured
        _SHIPPED["manifest"] = load_manifest()
        _SHIPPED["loader"] = load_manifest
    return _SHIPPED["manifest"]  # type: ignore[return-value]
