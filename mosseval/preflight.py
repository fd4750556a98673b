"""Preflight: open every video a task references before any model is loaded.

``check_task(task, root)`` loads the task's samples, probes each distinct video (or frame folder)
once with the same pipeline the runner uses (``mosseval.video.probe``: packets are indexed, no
pixels decoded) and checks every sample's bounds and frame selection against what was found.

Problems reported (``PreflightReport.problems``), one entry per video or per sample:

=============  ==============================================================================
``unsafe``     the dataset path is absolute or climbs out of the data root (refused)
``missing``    the file or frame folder does not exist
``unreadable`` it exists but cannot be opened as a video / image sequence (damaged, not a video)
``truncated``  the file ends early: fewer frames are readable than the container declares
``bounds``     start at/after the end of the video, end before start, or end beyond the video's
               duration by more than ``BOUNDS_TOLERANCE_S`` seconds
``sampling``   the task's frame selection fails for this sample (e.g. an empty window)
=============  ==============================================================================

An end bound past the duration by less than the tolerance is clamped (as the official samplers do)
and only counted (``clamped``). ``mosseval data check`` prints the report and exits 0 when it is
clean and 3 (``ExitCode.SAMPLE_ERRORS``) when it lists problems; ``mosseval run --preflight`` stops
before loading the model in the same case.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from mosseval.errors import MediaError, UnsafePathError
from mosseval.paths import safe_join
from mosseval.records import Sample, TaskSpec, VideoRef

ProblemKind = Literal["unsafe", "missing", "unreadable", "truncated", "bounds", "sampling"]
BOUNDS_TOLERANCE_S = 1.0
MAX_LISTED_SAMPLES = 5


@dataclass
class Problem:
    kind: ProblemKind
    path: str
    message: str
    samples: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        ids = ", ".join(self.samples[:MAX_LISTED_SAMPLES])
        more = f" (+{len(self.samples) - MAX_LISTED_SAMPLES} more)" if len(self.samples) > MAX_LISTED_SAMPLES else ""
        who = f" [samples: {ids}{more}]" if ids else ""
        return f"{self.kind}: {self.path}: {self.message}{who}"


@dataclass
class VideoInfo:
    path: str
    kind: str
    status: str
    """``ok`` or the problem kind."""
    samples: list[str]
    num_frames: int | None = None
    fps: float | None = None
    duration: float | None = None
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    declared_frames: int | None = None


@dataclass
class PreflightReport:
    task: str
    root: str
    n_samples: int
    n_videos: int
    n_checked: int
    videos: list[VideoInfo] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    clamped: int = 0
    """Samples whose end bound lies slightly past the video's end (clamped, not a problem)."""
    sampled: bool = False
    """True when only a random subset of the videos was opened (``--sample K``)."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.problems:
            out[p.kind] = out.get(p.kind, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        d["counts"] = self.counts()
        return d


def _classify(exc: MediaError) -> ProblemKind:
    if isinstance(exc, UnsafePathError):
        return "unsafe"
    msg = str(exc).lower()
    if "not found" in msg or "no such file" in msg:
        return "missing"
    return "unreadable"


def _video_key(ref: VideoRef) -> tuple[str, str, float | None, int]:
    return (ref.path, ref.kind, ref.fps, ref.first_index)


def check_samples(task: TaskSpec, root: Path, samples: list[Sample], *, sample_videos: int | None = None,
                  seed: int = 0) -> PreflightReport:
    """Check already-loaded samples (see module docstring)."""
    from mosseval.video import compute_indices, probe

    root = Path(root)
    groups: OrderedDict[tuple[str, str, float | None, int], list[Sample]] = OrderedDict()
    for s in samples:
        if s.video is not None:
            groups.setdefault(_video_key(s.video), []).append(s)
    keys = list(groups)
    sampled = False
    if sample_videos is not None and 0 <= sample_videos < len(keys):
        chosen = set(random.Random(seed).sample(range(len(keys)), sample_videos))
        keys = [k for i, k in enumerate(keys) if i in chosen]
        sampled = True
    report = PreflightReport(task=task.name, root=str(root), n_samples=len(samples), n_videos=len(groups),
                             n_checked=len(keys), sampled=sampled)
    spec = task.frames
    for key in keys:
        members = groups[key]
        ref = members[0].video
        assert ref is not None
        ids = [s.id for s in members]
        info = VideoInfo(path=ref.path, kind=ref.kind, status="ok", samples=ids)
        report.videos.append(info)
        try:
            safe_join(root, ref.path)
            vp = probe(ref, root)
        except MediaError as exc:
            kind = _classify(exc)
            info.status = kind
            msg = _strip_label(str(exc), ref.path)
            looked = members[0].metadata.get("looked_in") if kind == "missing" else None
            if looked:
                msg += "; also looked for: " + ", ".join(x for x in looked if x != ref.path)
            hint = members[0].metadata.get("media_hint") if kind == "missing" else None
            if hint:
                msg += f"; {hint}"
            report.problems.append(Problem(kind, ref.path, msg, ids))
            continue
        info.num_frames, info.fps, info.duration = vp.num_frames, round(vp.fps, 6), round(vp.duration, 6)
        info.codec, info.width, info.height, info.declared_frames = vp.codec, vp.width, vp.height, vp.declared_frames
        if vp.truncated:
            info.status = "truncated"
            declared = f" of {vp.declared_frames} declared" if vp.declared_frames else ""
            report.problems.append(Problem(
                "truncated", ref.path,
                f"the file ends early: {vp.num_frames}{declared} frames readable "
                f"({vp.duration:.2f}s at {vp.fps:.3f} fps); re-download or re-extract it", ids))
        for s in members:
            v = s.video
            assert v is not None
            start, end = (v.start, v.end) if spec.use_bounds else (None, None)
            bad = _bounds_problem(start, end, vp.duration)
            if bad:
                report.problems.append(Problem("bounds", ref.path, bad, [s.id]))
                continue
            if end is not None and end > vp.duration:
                report.clamped += 1
            try:
                compute_indices(spec, vp.num_frames, vp.fps, start, end,
                                v.first_index if v.kind == "frames" else 0)
            except MediaError as exc:
                report.problems.append(Problem("sampling", ref.path, _strip_label(str(exc), ref.path), [s.id]))
    return report


def _strip_label(msg: str, label: str) -> str:
    return msg[len(label) + 2:] if msg.startswith(label + ": ") else msg


def _bounds_problem(start: float | None, end: float | None, duration: float) -> str | None:
    if start is not None and end is not None and end <= start:
        return f"bounds are reversed or empty: start {start:g}s, end {end:g}s"
    if start is not None and start >= duration:
        return f"start {start:g}s is at or beyond the end of the video ({duration:.2f}s)"
    if end is not None and end > duration + BOUNDS_TOLERANCE_S:
        return f"end {end:g}s is beyond the end of the video ({duration:.2f}s)"
    if end is not None and end <= 0:
        return f"end {end:g}s is at or before the start of the video"
    return None


def check_task(task: TaskSpec, root: Path, limit: int | None = None, *, sample_videos: int | None = None,
               seed: int = 0, samples: list[Sample] | None = None) -> PreflightReport:
    """Load ``task``'s samples from ``root`` (first ``limit``) and check their videos.

    Loading problems (missing annotations, malformed files) raise the loader's ``MossevalError``;
    media problems are collected in the report, never raised.
    """
    if samples is None:
        from mosseval.data import get_loader

        if task.loader is None:
            samples = []
        else:
            samples = get_loader(task.loader)(task, Path(root))
    if limit is not None:
        samples = samples[:limit]
    return check_samples(task, Path(root), samples, sample_videos=sample_videos, seed=seed)
