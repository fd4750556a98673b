"""Thumbnails of the frames each embedded sample's model actually saw (``FrameInfo.indices``), decoded
while the board is aggregated (never while rendering). Runs that saw the same frames of the same video
share one set. A video that cannot be read costs only its thumbnails (a warning, never a failure)."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

from mosseval.leaderboard.records import SampleView, Thumbnail
from mosseval.records import RunLog, SampleRecord, digest

THUMB_BOX = (160, 96)
MAX_THUMBS = 16
"""At most this many thumbnails per sample: evenly spread over the frames the model saw."""


def shown_positions(n: int, limit: int = MAX_THUMBS) -> list[int]:
    """Positions (into the frame list) to show: all of them, or ``limit`` evenly spread incl. both ends."""
    if n <= limit:
        return list(range(n))
    return sorted({round(i * (n - 1) / (limit - 1)) for i in range(limit)})


class ThumbnailMaker:
    """Decodes and encodes thumbnails for one board (data roots and results cached across runs)."""

    def __init__(self, data_dir: str | os.PathLike | None):
        self.data_dir = data_dir
        self.sets: dict[str, list[Thumbnail]] = {}
        self._problems: dict[str, list[str]] = {}  # task -> problems (first one named in the warning)
        self._roots: dict[tuple[str, int], Path | None] = {}
        self._failed: set[str] = set()

    def _root(self, log: RunLog, task: str) -> Path | None:
        key = (task, log.spec.seed)
        if key not in self._roots:
            spec = log.task_specs.get(task)
            if spec is None:
                self._roots[key] = None
            else:
                from mosseval.data.locate import resolve_data_root

                try:
                    self._roots[key] = resolve_data_root(spec, self.data_dir, seed=log.spec.seed, generate=False)
                except Exception as exc:  # noqa: BLE001 - reported, never fatal
                    self._roots[key] = None
                    self._problems.setdefault(task, []).append(f"data not found ({str(exc).splitlines()[0]})")
        return self._roots[key]

    def add(self, log: RunLog, rec: SampleRecord, view: SampleView) -> None:
        """Attach the thumbnails of the frames this sample's model saw to ``view`` (when readable)."""
        frames = rec.generation.frames
        video = rec.sample.video
        if frames is None or not frames.indices or video is None or view.frames is None:
            return
        positions = shown_positions(len(frames.indices))
        indices = [frames.indices[i] for i in positions]
        key = digest({"task": rec.task, "video": video.model_dump(mode="json"), "indices": indices}, 12)
        if key in self._failed:
            return
        if key not in self.sets:
            root = self._root(log, rec.task)
            if root is None:
                return
            from mosseval.video import read_frames_at

            try:
                array = read_frames_at(video, indices, root)
            except Exception as exc:  # noqa: BLE001 - a bad video only loses its thumbnails
                self._failed.add(key)
                self._problems.setdefault(rec.task, []).append(f"{rec.sample.id}: {str(exc).splitlines()[0][:200]}")
                return
            stamps = frames.timestamps
            self.sets[key] = [Thumbnail(src=_jpeg(array[k]), index=idx,
                                        t=stamps[pos] if pos < len(stamps) else None)
                              for k, (pos, idx) in enumerate(zip(positions, indices))]
        view.frames.thumbnails = key

    @property
    def warnings(self) -> list[str]:
        """One line per task whose thumbnails could not all be made (those samples show frame indices only)."""
        out = []
        for task, problems in sorted(self._problems.items()):
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            out.append(f"thumbnails for {task}: {problems[0]}{more}")
        return out


def _jpeg(frame) -> str:
    from PIL import Image

    img = Image.fromarray(frame)
    img.thumbnail(THUMB_BOX)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


__all__ = ["ThumbnailMaker", "shown_positions", "MAX_THUMBS"]
