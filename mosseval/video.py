"""The one video pipeline: frame selection, decoding, resizing (SPEC §5).

Every model sees frames produced here, so the indices, the decoder and the resize are the same
for all backends and are recorded per sample (``FrameInfo``).

* ``compute_indices`` is a pure function turning a ``FrameSpec`` plus (frame count, fps, bounds)
  into source-frame indices (strategies ``uniform``, ``segment`` = MVBench/VideoChat2,
  ``linspace`` = MMVU API models, ``linspace_fps`` = MMVU video models, ``bin_start`` =
  VCR-Bench, ``fps``).
* ``sample_frames`` resolves a ``VideoRef`` under its data root, decodes the chosen frames with
  PyAV (default) or decord, resizes them to the pixel budget and returns ``Frames``.
* ``probe`` reports frame count / fps / size for preflight checks.

PyAV decoding indexes the stream once by demuxing packets (no decoding): the frame count and
the presentation timestamps come from the packets actually present in the file, not from
container metadata. Frames are then decoded forward, seeking only when a keyframe lies after the
current decoder position and at or before the next wanted frame. Indexes are cached in a small
in-process LRU keyed by (path, size, mtime).

All failures raise ``MediaError`` (``UnsafePathError`` for escaping paths) whose message names
the file and says what is wrong.
"""

from __future__ import annotations

import bisect
import math
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from mosseval.errors import ConfigError, MediaError, MediaKindError, MissingDependencyError, MossevalError
from mosseval.paths import confine, safe_join
from mosseval.records import MAX_PIXELS_LIMIT, FrameInfo, FrameSpec, VideoRef

__all__ = [
    "Frames",
    "VideoProbe",
    "compute_indices",
    "sample_frames",
    "probe",
    "resize_shape",
    "clear_index_cache",
]

DEFAULT_FOLDER_FPS = 3.0
"""Frame rate assumed for a frame folder without ``fps`` (MVBench's TVQA frames are 3 fps)."""

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
RESAMPLE = "bicubic"
"""Resize filter (PIL ``Image.Resampling.BICUBIC``), the one Qwen-VL style processors use."""

DEFAULT_MAX_PIXELS = 3840 * 2160
"""Per-frame pixel cap when a task sets no ``frames.max_pixels`` (4K UHD): a huge source (say
8000x8000) is downscaled as each frame is decoded, so memory stays bounded (frames x 25 MB)."""

IMAGE_FORMATS = ("image2", "png_pipe", "jpeg_pipe", "jpegls_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe",
                 "gif_pipe", "qoi_pipe", "pgm_pipe", "ppm_pipe", "psd_pipe", "svg_pipe", "j2k_pipe")
"""FFmpeg demuxers of still images: such a file is reported, not decoded as a 1-frame video,
unless the task sets ``frames.allow_images``."""

INDEX_CACHE_SIZE = 128
SKIP_NONREF = True
"""Let the decoder drop non-reference frames that are not wanted (pixel-exact, about 2x faster)."""
_UNBOUNDED = 100000.0  # VideoChat2's stand-in for "no bound"
_EPS = 1e-9


@dataclass
class Frames:
    """Decoded frames as every model backend receives them, with how they were chosen."""

    array: np.ndarray
    """(T, H, W, 3) uint8 RGB."""
    info: FrameInfo
    cache: str | None = None
    """"hit" when the frames came from the shared frame cache, "miss" when they were decoded and
    stored, None when no cache was used (:mod:`mosseval.frame_cache`)."""


# --------------------------------------------------------------------------------------------
# Frame selection (pure)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    indices: list[int]
    window_seconds: float
    sampled_fps: float | None


def _fmt(x: float) -> str:
    return f"{x:g}"


def _check_inputs(num_frames: int, fps: float) -> None:
    if num_frames is None or num_frames <= 0:
        raise MediaError("the video has no decodable frames")
    if fps is None or not math.isfinite(fps) or fps <= 0:
        raise MediaError(f"the video has no usable frame rate (fps={fps!r})")


def _time_window(num_frames: int, fps: float, start: float | None, end: float | None) -> tuple[float, float]:
    """Clip [start, end] seconds to the video [0, num_frames/fps]; raise on an empty window."""
    duration = num_frames / fps
    if start is not None and end is not None and end < start:
        raise MediaError(f"bounds are reversed: end {_fmt(end)}s is before start {_fmt(start)}s")
    if start is not None and start >= duration:
        raise MediaError(f"bound start {_fmt(start)}s is at or beyond the end of the video "
                         f"({duration:.3f}s, {num_frames} frames at {fps:.3f} fps)")
    if end is not None and end <= 0:
        raise MediaError(f"bound end {_fmt(end)}s is at or before the start of the video")
    s = max(0.0, start if start is not None else 0.0)
    e = min(duration, end if end is not None else duration)
    if e - s <= _EPS:
        raise MediaError(f"the time window [{_fmt(s)}s, {_fmt(e)}s] is empty")
    return s, e


def _segment(n_out: int, num_frames: int, fps: float, start, end, first_index: int) -> _Plan:
    """VideoChat2's MVBench ``get_index``, exactly (incl. half-to-even rounding).

    A start bound that rounds past the last frame (e.g. 9.96 s in a 100-frame 10 fps clip) makes
    the official segment length negative; its indices are still computed as published (they step
    back from the last frame: ``[99]*9 + [98]*7`` above) and used in that order. Only indices the
    official reader could not decode either (outside the video) are an error."""
    lo_t = start if start is not None else -_UNBOUNDED
    hi_t = end if end is not None else _UNBOUNDED
    if start is not None and end is not None and end < start:
        raise MediaError(f"bounds are reversed: end {_fmt(end)}s is before start {_fmt(start)}s")
    max_frame = first_index + num_frames - 1
    # Python's round() on floats is round-half-to-even, like numpy.round / np.rint.
    start_idx = max(first_index, int(round(lo_t * fps)))
    end_idx = min(int(round(hi_t * fps)), max_frame)
    seg = float(end_idx - start_idx) / n_out
    idx = [int(start_idx + seg / 2 + float(np.round(seg * i))) for i in range(n_out)]
    outside = [i for i in idx if not first_index <= i <= max_frame]
    if outside:
        raise MediaError(f"bound start {_fmt(lo_t)}s (frame {start_idx}) is beyond the last frame {max_frame} "
                         f"({num_frames} frames at {fps:.3f} fps): the official segment indices include frame "
                         f"{outside[0]}, outside the video")
    window = max(end_idx - start_idx + 1, 1) / fps
    return _Plan(idx, window, len(idx) / window)


def _plan(spec: FrameSpec, num_frames: int, fps: float, start: float | None, end: float | None,
          first_index: int) -> _Plan:
    _check_inputs(num_frames, fps)
    if spec.recipe:
        return _recipe_plan(spec.recipe, num_frames, fps, start, end, first_index)
    for name, value in (("start", start), ("end", end)):
        if value is not None and not math.isfinite(value):
            raise MediaError(f"bound {name}={value!r} is not a finite number of seconds")
    n_out = int(spec.num_frames)
    if spec.strategy == "segment":
        return _segment(n_out, num_frames, fps, start, end, first_index)

    s, e = _time_window(num_frames, fps, start, end)
    last = num_frames - 1
    window = e - s
    if spec.strategy == "uniform":
        a, b = s * fps, e * fps
        pos = [min(max(int(math.floor(a + (b - a) * (i + 0.5) / n_out + _EPS)), 0), last)
               for i in range(n_out)]
        sampled = n_out / window
    elif spec.strategy == "linspace":
        lo = max(0, int(math.ceil(s * fps - _EPS)))
        hi = min(last, int(math.ceil(e * fps - _EPS)) - 1)
        if hi < lo:  # window narrower than one frame period: the frame shown at `s`
            lo = hi = min(int(math.floor(s * fps + _EPS)), last)
        pos = [int(x) for x in np.linspace(lo, hi, n_out).astype(int)]
        sampled = n_out / window
    elif spec.strategy == "linspace_fps":
        if spec.fps is None:
            raise ConfigError("frame strategy 'linspace_fps' needs frames.fps (e.g. fps: 1)",
                              hint="set `frames: {strategy: linspace_fps, fps: 1, max_frames: 64}` in the task")
        lo = max(0, int(math.ceil(s * fps - _EPS)))
        hi = min(last, int(math.ceil(e * fps - _EPS)) - 1)
        if hi < lo:
            lo = hi = min(int(math.floor(s * fps + _EPS)), last)
        # MMVU video_to_ndarrays_fps: int(fps * int(duration)) capped, never more than the frames
        count = int(min(float(spec.fps) * int(window + _EPS), spec.max_frames))
        count = max(1, min(count, hi - lo + 1))
        pos = [int(x) for x in np.linspace(lo, hi, count).astype(int)]
        sampled = count / window
    elif spec.strategy == "bin_start":
        a, b = s * fps, e * fps
        pos = [min(max(int(math.floor(a + (b - a) * i / n_out + _EPS)), 0), last) for i in range(n_out)]
        sampled = n_out / window
    elif spec.strategy == "fps":
        if spec.fps is None:
            raise ConfigError("frame strategy 'fps' needs frames.fps (e.g. fps: 1)",
                              hint="set `frames: {strategy: fps, fps: 1, max_frames: 64}` in the task")
        step = 1.0 / float(spec.fps)
        count = max(1, int(math.ceil(window / step - _EPS)))
        js = list(range(count))
        sampled = float(spec.fps)
        if count > spec.max_frames:
            k = int(spec.max_frames)
            js = [int(math.floor((i + 0.5) * count / k)) for i in range(k)]
            sampled = k / window
        pos = [min(max(int(math.floor((s + j * step) * fps + _EPS)), 0), last) for j in js]
    else:  # pragma: no cover - FrameSpec validation prevents this
        raise ConfigError(f"unknown frame strategy {spec.strategy!r}")
    return _Plan([first_index + p for p in pos], window, sampled)


def _recipe_plan(name: str, num_frames: int, fps: float, start: float | None, end: float | None,
                 first_index: int) -> _Plan:
    """Indices from a model family's recipe (``mosseval.recipes``)."""
    from mosseval.recipes import get_recipe

    indices, window, sampled = get_recipe(name).plan(num_frames, fps, start, end, first_index)
    return _Plan(indices, window, sampled)


def target_shape(spec: FrameSpec, height: int, width: int, n_frames: int) -> tuple[int, int]:
    """(height, width) the decoded frames are resized to: the recipe's size when ``spec.recipe`` is set
    (its "processor" sizes keep the decoded size), else the pixel budget of ``spec``."""
    if spec.recipe:
        from mosseval.recipes import get_recipe

        size = get_recipe(spec.recipe).frame_size(height, width, n_frames)
        if size is not None:
            return size
        if spec.max_pixels is None:
            return height, width
    return resize_shape(height, width, spec.max_pixels, spec.size_multiple)


def compute_indices(spec: FrameSpec, num_frames: int, fps: float, start: float | None = None,
                    end: float | None = None, first_index: int = 0) -> list[int]:
    """Source-frame indices chosen by ``spec`` for a video of ``num_frames`` frames at ``fps``.

    Indices run from ``first_index`` to ``first_index + num_frames - 1`` (0 for video files, the
    number of the first image for frame folders). ``start``/``end`` are seconds (None = open);
    the caller decides whether to pass them (``spec.use_bounds``). Repeated indices are kept (a
    short window sampled densely yields duplicates, so every model still gets N frames).
    Raises ``MediaError`` for an empty window or a video without frames.
    """
    return _plan(spec, num_frames, fps, start, end, first_index).indices


# --------------------------------------------------------------------------------------------
# Resizing
# --------------------------------------------------------------------------------------------


def resize_shape(height: int, width: int, max_pixels: int | None, multiple: int = 1) -> tuple[int, int]:
    """Output (height, width): aspect kept, sides rounded to ``multiple``, H*W <= ``max_pixels``.

    Sides are first rounded to the nearest multiple; when that exceeds the budget they are
    scaled by sqrt(max_pixels / (H*W)) and rounded *down* to the multiple, so the budget always
    holds (unless a single ``multiple`` x ``multiple`` tile is already larger than it). Frames are
    never upscaled beyond this rounding.
    """
    m = max(1, int(multiple))
    h = max(m, int(round(height / m)) * m)
    w = max(m, int(round(width / m)) * m)
    if max_pixels is not None and h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(m, int(math.floor(height / beta / m)) * m)
        w = max(m, int(math.floor(width / beta / m)) * m)
    if m == 1 and max_pixels is not None and height * width <= max_pixels:
        return height, width
    return h, w


# --------------------------------------------------------------------------------------------
# PyAV index
# --------------------------------------------------------------------------------------------


@dataclass
class VideoProbe:
    """What preflight needs to know about one video (or frame folder)."""

    path: str
    num_frames: int
    """Frames that can actually be read (packets present in the file, or images in the folder)."""
    fps: float
    duration: float
    """``num_frames / fps`` seconds."""
    codec: str
    width: int
    height: int
    declared_frames: int | None = None
    """Frame count the container claims (None when it does not say)."""
    truncated: bool = False
    """True when the file ends early (damaged/short packets were dropped from the index)."""


@dataclass
class _Index:
    pts: list[int]
    """Presentation timestamps of the readable frames, ascending (stream time base)."""
    key_pos: list[int]
    """Positions (into ``pts``) of keyframes, ascending."""
    pos_of_pts: dict[int, int]
    time_base: Fraction
    fps: float
    codec: str
    width: int
    height: int
    declared_frames: int | None
    truncated: bool
    seekable: bool
    """False when timestamps are missing/duplicated: decode sequentially from the start."""
    readable_pts: frozenset = frozenset()
    """Timestamps of every readable packet (also those past a gap, which later-shown frames
    still reference); only these are fed to the decoder."""
    last_error: str | None = None
    seek_failed: bool = field(default=False)
    container_format: str = ""

    @property
    def num_frames(self) -> int:
        return len(self.pts)

    def timestamp(self, pos: int) -> float:
        if not self.pts:
            return 0.0
        return float((self.pts[pos] - self.pts[0]) * self.time_base)


_cache: OrderedDict[tuple, _Index] = OrderedDict()
_cache_lock = threading.Lock()


def clear_index_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _open(path: Path, label: str):
    import av

    try:
        return av.open(str(path), mode="r")
    except FileNotFoundError:
        raise MediaError(f"{label}: file not found") from None
    except IsADirectoryError:
        raise MediaError(f"{label}: is a directory, not a video file "
                         f"(for a folder of frames use video kind 'frames')") from None
    except av.FFmpegError as e:
        raise MediaError(f"{label}: cannot open as a video ({_ffmsg(e)}); the file is truncated, "
                         f"damaged or not a video") from None
    except OSError as e:
        raise MediaError(f"{label}: cannot read the file ({e.strerror or e})") from None


def _ffmsg(e: BaseException) -> str:
    msg = getattr(e, "strerror", None) or str(e)
    # drop the absolute file name FFmpeg appends to some messages
    return re.sub(r":\s*'[^']*'$", "", str(msg)).strip()


def _video_stream(container, label: str):
    streams = list(container.streams.video)
    if not streams:
        raise MediaError(f"{label}: contains no video stream")
    stream = streams[0]
    ctx = stream.codec_context
    ctx.thread_count = 1  # deterministic, and cheap to run many in parallel
    return stream


def _build_index(path: Path, label: str) -> _Index:
    import av

    container = _open(path, label)
    try:
        stream = _video_stream(container, label)
        ctx = stream.codec_context
        tb = stream.time_base or Fraction(1, 1)
        pts_list: list[int | None] = []
        keys: list[bool] = []
        truncated = False
        last_error = None
        try:
            for pkt in container.demux(stream):
                if pkt.size == 0:
                    continue  # end-of-stream flush packet
                if pkt.is_corrupt:
                    truncated = True
                    break
                ts = pkt.pts if pkt.pts is not None else pkt.dts
                pts_list.append(ts)
                keys.append(bool(pkt.is_keyframe))
        except av.FFmpegError as e:
            truncated = True
            last_error = _ffmsg(e)
        declared = int(stream.frames) if stream.frames else None
        if declared is not None and declared > len(pts_list):
            truncated = True
        codec = ctx.name or (ctx.codec.name if ctx.codec else "unknown")
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        seekable = all(p is not None for p in pts_list) and len(set(pts_list)) == len(pts_list)
        if seekable:
            order = sorted(range(len(pts_list)), key=lambda k: pts_list[k])
            pts = [int(pts_list[k]) for k in order]
            readable = frozenset(pts)
            rank = {k: r for r, k in enumerate(order)}
            key_pos = sorted(rank[k] for k in range(len(pts_list)) if keys[k])
            if truncated and len(pts) > 2:
                # With B-frames, the readable decode-order prefix can lack frames shown *before*
                # the last readable ones; keep only the gap-free presentation prefix so position
                # i really is source frame i.
                steps = np.diff(np.asarray(pts, dtype=np.int64))
                step = float(np.median(steps))
                gaps = np.nonzero(steps > 1.5 * step)[0]
                if len(gaps):
                    keep = int(gaps[0]) + 1
                    pts = pts[:keep]
                    key_pos = [p for p in key_pos if p < keep]
        else:
            pts = list(range(len(pts_list)))
            readable = frozenset()
            key_pos = [0] if pts else []
            tb = Fraction(1, 1) / Fraction(rate) if rate else Fraction(1, 25)
        fps = float(rate) if rate else 0.0
        if fps <= 0 and len(pts) > 1 and seekable:
            span = float((pts[-1] - pts[0]) * tb)
            fps = (len(pts) - 1) / span if span > 0 else 0.0
        return _Index(pts=pts, key_pos=key_pos, pos_of_pts={p: i for i, p in enumerate(pts)},
                      time_base=Fraction(tb), fps=fps, codec=codec, width=width, height=height,
                      declared_frames=declared, truncated=truncated, seekable=seekable,
                      readable_pts=readable, last_error=last_error,
                      container_format=str(getattr(container.format, "name", "") or ""))
    finally:
        container.close()


def _get_index(path: Path, label: str) -> _Index:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise MediaError(f"{label}: file not found") from None
    except OSError as e:
        raise MediaError(f"{label}: cannot read the file ({e.strerror or e})") from None
    if path.is_dir():
        raise MediaError(f"{label}: is a directory, not a video file "
                         f"(for a folder of frames use video kind 'frames')")
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    index = _build_index(path, label)
    with _cache_lock:
        _cache[key] = index
        _cache.move_to_end(key)
        while len(_cache) > INDEX_CACHE_SIZE:
            _cache.popitem(last=False)
    return index


# --------------------------------------------------------------------------------------------
# PyAV decoding
# --------------------------------------------------------------------------------------------


class _SeekMiss(Exception):
    """A seek landed after the wanted frame; retry decoding sequentially."""


class _PtsMismatch(MediaError):
    """Decoded frames carried timestamps that match no packet; retry counting frames."""


def _decode_pyav(path: Path, label: str, index: _Index, positions: list[int],
                 shrink: _Shrinker | None = None) -> dict[int, np.ndarray]:
    """Decoded RGB arrays for the presentation positions ``positions``.

    Frames are matched to positions by their timestamps. If a seek overshoots, decoding is
    redone from the start without seeking; if a wanted frame is missing while decoded frames
    carried timestamps matching no packet (odd containers), it is redone counting frames in
    output order. A frame that is simply missing is a ``MediaError``, never a substitute.
    """
    wanted = sorted(set(positions))
    if index.seekable:
        try:
            if not index.seek_failed:
                try:
                    return _decode_positions(path, label, index, wanted, allow_seek=True, by_pts=True,
                                             shrink=shrink)
                except _SeekMiss:
                    index.seek_failed = True
            return _decode_positions(path, label, index, wanted, allow_seek=False, by_pts=True, shrink=shrink)
        except _PtsMismatch:
            if index.truncated:
                raise
    return _decode_positions(path, label, index, wanted, allow_seek=False, by_pts=False, shrink=shrink)


def _decode_positions(path: Path, label: str, index: _Index, wanted: list[int],
                      allow_seek: bool, by_pts: bool, shrink: _Shrinker | None = None) -> dict[int, np.ndarray]:
    import av

    out: dict[int, np.ndarray] = {}
    container = _open(path, label)
    try:
        stream = _video_stream(container, label)
        ctx = stream.codec_context
        accepted = index.readable_pts if by_pts else None
        cur = -1  # presentation position of the newest frame the decoder returned
        floor = 0  # after a seek, frames before the keyframe are ignored
        errors: list[str] = []
        seq = 0  # output counter for the non-seekable (sequential) mode
        skip_nonref = SKIP_NONREF and by_pts
        wanted_pts = {index.pts[p] for p in wanted} if by_pts else set()
        state = {"skip": "DEFAULT"}

        def frames_from_here():
            """Yield decoded frames, feeding only indexed packets; flush at the end."""
            for pkt in container.demux(stream):
                if pkt.size == 0:
                    break
                if pkt.is_corrupt:
                    break
                if accepted is not None:
                    ts = pkt.pts if pkt.pts is not None else pkt.dts
                    if ts not in accepted:
                        break
                    if skip_nonref:
                        # Frames nothing else references are only decoded when wanted: the
                        # pixels of every other frame are unaffected, and decoding is ~2x faster.
                        mode = "DEFAULT" if ts in wanted_pts else "NONREF"
                        if mode != state["skip"]:
                            ctx.skip_frame = mode
                            state["skip"] = mode
                try:
                    decoded = ctx.decode(pkt)
                except av.FFmpegError as e:
                    errors.append(_ffmsg(e))
                    continue
                yield from decoded
            try:
                yield from ctx.decode(None)
            except av.FFmpegError as e:
                errors.append(_ffmsg(e))

        wanted_set = frozenset(wanted)
        gen = frames_from_here()
        after_seek = False
        unmatched = 0  # decoded frames whose timestamp is not in the index
        i = 0
        while i < len(wanted):
            target = wanted[i]
            if allow_seek:
                k = bisect.bisect_right(index.key_pos, target) - 1
                kf = index.key_pos[k] if k >= 0 else 0
                if kf > cur and not (cur == -1 and kf == 0 and not after_seek):
                    # a keyframe lies after the current position and at/before the target
                    gen.close()
                    container.seek(index.pts[kf], stream=stream, backward=True, any_frame=False)
                    ctx.flush_buffers()
                    gen = frames_from_here()
                    floor, after_seek = kf, True
            for frame in gen:
                if by_pts:
                    pos = index.pos_of_pts.get(frame.pts) if frame.pts is not None else None
                    if pos is None:
                        unmatched += 1
                        continue
                else:
                    pos, seq = seq, seq + 1
                if pos < floor:
                    continue
                if after_seek:
                    after_seek = False
                    if pos > target:
                        raise _SeekMiss()
                cur = pos
                if pos in wanted_set and pos not in out:
                    rgb = frame.to_ndarray(format="rgb24")
                    out[pos] = shrink(rgb) if shrink is not None else rgb
                if pos >= target:
                    break
            if target not in out:
                last_ok = max(out) if out else None
                why = f"; decoder said: {errors[-1]}" if errors else ""
                raise (_PtsMismatch if unmatched else MediaError)(
                    f"{label}: frame {target} of {index.num_frames} could not be decoded "
                    f"(the file is damaged or truncated"
                    + (f" after frame {last_ok}" if last_ok is not None else "") + f"){why}")
            while i < len(wanted) and wanted[i] in out:
                i += 1
        gen.close()
        return out
    finally:
        container.close()



# --------------------------------------------------------------------------------------------
# decord (optional)
# --------------------------------------------------------------------------------------------


def _import_decord():
    try:
        import decord  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            "frame decoder 'decord' was requested but the decord package is not installed",
            hint="pip install 'mosseval[decord]', or use the default decoder: pyav") from None
    return decord


def _sample_decord(path: Path, label: str, spec: FrameSpec, start, end):
    decord = _import_decord()
    if not path.exists():
        raise MediaError(f"{label}: file not found")
    if path.is_dir():
        raise MediaError(f"{label}: is a directory, not a video file "
                         f"(for a folder of frames use video kind 'frames')")
    try:
        # num_threads=1: decord's default thread count fails on VP9 (SPEC §5); also deterministic.
        vr = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    except Exception as e:  # decord raises DECORDError / RuntimeError with FFmpeg text
        raise MediaError(f"{label}: decord cannot open the file ({_first_line(e)}); it is truncated, "
                         f"damaged or not a video") from None
    n = len(vr)
    fps = float(vr.get_avg_fps() or 0.0)
    plan = _labeled_plan(label, spec, n, fps, start, end, 0)
    uniq = sorted(set(plan.indices))
    try:
        batch = vr.get_batch(uniq).asnumpy()
        stamps = vr.get_frame_timestamp(uniq)[:, 0]
        t0 = float(vr.get_frame_timestamp([0])[0, 0])
    except Exception as e:
        raise MediaError(f"{label}: decord failed to decode frames {uniq[:4]}…: {_first_line(e)}") from None
    by_pos = {p: batch[k] for k, p in enumerate(uniq)}
    ts_by_pos = {p: float(stamps[k]) - t0 for k, p in enumerate(uniq)}
    frames = [by_pos[p] for p in plan.indices]
    timestamps = [round(ts_by_pos[p], 6) for p in plan.indices]
    return frames, plan, timestamps, fps, n, "decord"


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__


# --------------------------------------------------------------------------------------------
# Frame folders
# --------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def _list_frames(path: Path, label: str, root: Path | None = None) -> list[Path]:
    if not path.exists():
        raise MediaError(f"{label}: frame folder not found")
    if not path.is_dir():
        raise MediaError(f"{label}: is a file, not a frame folder (use video kind 'file' for video files)")
    numbered: list[tuple[int, str, Path]] = []
    try:
        entries = list(os.scandir(path))
    except OSError as e:
        raise MediaError(f"{label}: cannot list the frame folder ({e.strerror or e})") from None
    for entry in entries:
        name = entry.name
        if not name.lower().endswith(IMAGE_SUFFIXES) or not entry.is_file():
            continue
        m = _NUMBER.search(Path(name).stem)
        if m is None:
            raise MediaError(f"{label}: frame file {name!r} has no frame number; frames must be "
                             f"numbered like 00001.jpg")
        file = Path(entry.path)
        if root is not None:
            confine(root, file, f"{label}/{name}")
        numbered.append((int(m.group(1)), name, file))
    if not numbered:
        raise MediaError(f"{label}: frame folder contains no .jpg/.jpeg/.png frames")
    numbered.sort()
    for a, b in zip(numbered, numbered[1:]):
        if a[0] == b[0]:
            raise MediaError(f"{label}: two frames carry the number {a[0]} ({a[1]!r}, {b[1]!r})")
    return [p for _, _, p in numbered]


def _read_image(file: Path, label: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as im:
            im.load()
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise MediaError(f"{label}/{file.name}: cannot decode the image ({_first_line(e)}); "
                         f"it is truncated, damaged or not an image") from None


def _sample_folder(path: Path, label: str, ref: VideoRef, spec: FrameSpec, start, end, root: Path,
                   shrink: _Shrinker, files: list[Path] | None = None):
    if files is None:
        files = _list_frames(path, label, root)
    fps = float(ref.fps or DEFAULT_FOLDER_FPS)
    first = int(ref.first_index)
    plan = _labeled_plan(label, spec, len(files), fps, start, end, first)
    shrink.n_frames = len(plan.indices)
    cache: dict[int, np.ndarray] = {}
    for idx in plan.indices:
        if idx not in cache:
            cache[idx] = shrink(_read_image(files[idx - first], label))
    frames = [cache[i] for i in plan.indices]
    timestamps = [round((i - first) / fps, 6) for i in plan.indices]
    return frames, plan, timestamps, fps, len(files), "pil"


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def _labeled_plan(label: str, spec: FrameSpec, n: int, fps: float, start, end, first: int) -> _Plan:
    try:
        return _plan(spec, n, fps, start, end, first)
    except MediaError as e:
        raise MediaError(f"{label}: {e}") from None


def _refuse_image(index: _Index, label: str, allow_images: bool) -> None:
    if index.container_format in IMAGE_FORMATS and not allow_images:
        kind = index.codec.upper() if index.codec else index.container_format
        raise MediaKindError(f"{label}: is a still image ({kind}), not a video; the task does not accept "
                             f"images (set frames.allow_images: true in its YAML to decode it as a 1-frame video)")


def _sample_pyav(path: Path, label: str, spec: FrameSpec, start, end, shrink: _Shrinker | None = None):
    index = _get_index(path, label)
    _refuse_image(index, label, spec.allow_images)
    if index.num_frames == 0:
        extra = f" (the file is truncated: {index.last_error})" if index.last_error else ""
        raise MediaError(f"{label}: contains no decodable video frames{extra}")
    plan = _labeled_plan(label, spec, index.num_frames, index.fps, start, end, 0)
    if shrink is not None:
        shrink.n_frames = len(plan.indices)
    decoded = _decode_pyav(path, label, index, plan.indices, shrink)
    frames = [decoded[p] for p in plan.indices]
    timestamps = [round(index.timestamp(p), 6) for p in plan.indices]
    return frames, plan, timestamps, index.fps, index.num_frames, "pyav"


_USE_DEFAULT: Any = object()


def sample_frames(ref: VideoRef, spec: FrameSpec, root: Path, cache: Any = _USE_DEFAULT) -> Frames:
    """Decode the frames ``spec`` selects from ``ref`` (resolved under ``root``).

    Returns ``Frames(array=(T, H, W, 3) uint8 RGB, info=FrameInfo)``; T == ``len(info.indices)``
    (duplicates included). Raises ``MediaError`` (``UnsafePathError`` for paths escaping
    ``root``) with the file name and the reason, ``MissingDependencyError`` when decord is asked
    for but missing.

    Frames come from the shared frame cache when it holds them (:mod:`mosseval.frame_cache`; the
    process default unless ``cache`` is given, ``cache=None`` bypasses it); the result is
    bit-identical either way. ``Frames.cache`` says which happened ("hit", "miss" or None).
    """
    label = str(ref.path)
    path = safe_join(root, ref.path)
    # Every media safety check runs before the cache is asked: a frame folder's frames are each
    # confined to the root here (a hit must never serve frames a link out of the root now points to).
    files = _list_frames(path, label, root) if ref.kind == "frames" else None
    if cache is _USE_DEFAULT:
        from mosseval.frame_cache import default_cache

        cache = default_cache()
    key = None
    if cache is not None:
        try:
            key = cache.key(path, ref, spec)
        except OSError:
            key = None  # missing or unreadable: decoding below reports it properly
        if key is not None:
            hit = cache.get(key)
            if hit is not None:
                array, info = hit
                return Frames(array=array, info=FrameInfo.model_validate(info), cache="hit")
    frames = _decode_frames(ref, spec, path, label, root, files)
    if key is not None:
        cache.put(key, frames.array, frames.info.model_dump(mode="json"))
        frames.cache = "miss"
    return frames


def _decode_frames(ref: VideoRef, spec: FrameSpec, path: Path, label: str, root: Path,
                   files: list[Path] | None = None) -> Frames:
    start, end = (ref.start, ref.end) if spec.use_bounds else (None, None)
    shrink = _Shrinker(spec)
    try:
        if ref.kind == "frames":
            frames, plan, stamps, fps, n, decoder = _sample_folder(path, label, ref, spec, start, end, root,
                                                                   shrink, files)
        elif spec.decoder == "decord":
            frames, plan, stamps, fps, n, decoder = _sample_decord(path, label, spec, start, end)
            shrink.n_frames = len(frames)
            frames = [shrink(f) for f in frames]
        else:
            frames, plan, stamps, fps, n, decoder = _sample_pyav(path, label, spec, start, end, shrink)
        array = _resize_all(frames, shrink.shape or frames[0].shape[:2])
    except (MediaError, MossevalError):
        raise
    except MemoryError:
        raise MediaError(f"{label}: out of memory while decoding; lower frames.max_pixels or "
                         f"frames.num_frames") from None
    except Exception as e:  # never let a bare decoder exception escape
        raise MediaError(f"{label}: unexpected {type(e).__name__} while reading the video: "
                         f"{_first_line(e)}") from e
    indices, stamps = [int(i) for i in plan.indices], [float(t) for t in stamps]
    if spec.control != "none":
        array, order = apply_control(array, spec.control, str(ref.path))
        indices, stamps = [indices[k] for k in order], [stamps[k] for k in order]
    info = FrameInfo(
        indices=indices,
        timestamps=stamps,
        decoder=decoder,
        source_fps=round(float(fps), 6),
        sampled_fps=round(float(plan.sampled_fps), 6) if plan.sampled_fps else None,
        num_source_frames=int(n),
        width=int(array.shape[2]),
        height=int(array.shape[1]),
        recipe=spec.recipe,
    )
    return Frames(array=array, info=info)


def apply_control(array: np.ndarray, control: str, key: str) -> tuple[np.ndarray, list[int]]:
    """The frames an ablation control shows instead of ``array`` (T, H, W, 3), and the order of the
    original frames they come from: ``blank`` is mid-grey everywhere (order unchanged), ``shuffle``
    a permutation seeded by ``key`` that moves at least one frame when T > 1."""
    import hashlib

    t = int(array.shape[0])
    if control == "blank":
        return np.full_like(array, 128), list(range(t))
    if control == "shuffle":
        rng = np.random.default_rng(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little"))
        order = list(range(t))
        while t > 1 and order == sorted(order):
            order = [int(i) for i in rng.permutation(t)]
        return np.ascontiguousarray(array[order]), order
    raise ValueError(f"unknown frame control {control!r}")  # pragma: no cover - FrameSpec validates


def read_frames_at(ref: VideoRef, indices: list[int], root: Path, *, max_pixels: int | None = None) -> np.ndarray:
    """Decode exactly the frames ``indices`` of ``ref`` as a sample recorded them (``FrameInfo.indices``:
    stream positions of a file, numbers of a frame folder), e.g. to show the frames a model saw.

    Returns (T, H, W, 3) uint8 RGB, each frame shrunk to ``max_pixels`` (else the default cap) as it is
    decoded. Files are read with PyAV (every correct decoder returns the same pixels). The same media
    safety as :func:`sample_frames`: ``UnsafePathError`` outside ``root`` (symbolic links included),
    ``MediaError`` for anything unreadable."""
    label = str(ref.path)
    if not indices:
        raise MediaError(f"{label}: no frame indices to read")
    path = safe_join(root, ref.path)
    shrink = _Shrinker(FrameSpec(max_pixels=max_pixels))
    shrink.n_frames = len(indices)
    try:
        if ref.kind == "frames":
            files = _list_frames(path, label, root)
            first = int(ref.first_index)
            frames = []
            for i in indices:
                if not 0 <= i - first < len(files):
                    raise MediaError(f"{label}: frame {i} is not in the folder ({len(files)} frames from {first})")
                frames.append(shrink(_read_image(files[i - first], label)))
        else:
            index = _get_index(path, label)
            missing = [i for i in indices if not 0 <= i < index.num_frames]
            if missing:
                raise MediaError(f"{label}: frame {missing[0]} is beyond the {index.num_frames} readable frames")
            decoded = _decode_pyav(path, label, index, list(indices), shrink)
            frames = [decoded[i] for i in indices]
        return _resize_all(frames, shrink.shape or frames[0].shape[:2])
    except (MediaError, MossevalError):
        raise
    except Exception as e:  # never let a bare decoder exception escape
        raise MediaError(f"{label}: unexpected {type(e).__name__} while reading frames: {_first_line(e)}") from e


def pixel_budget(spec: FrameSpec) -> int:
    """The per-frame pixel budget frames are resized to: the task's ``max_pixels``, else the
    default cap ``DEFAULT_MAX_PIXELS`` (never above ``MAX_PIXELS_LIMIT``)."""
    return min(spec.max_pixels or DEFAULT_MAX_PIXELS, MAX_PIXELS_LIMIT)


class _Shrinker:
    """Resizes each frame to its target size (``target_shape``: the recipe's size, else the pixel
    budget, else the default cap) as soon as it is decoded — the shape comes from the first frame,
    as for the whole clip — so a clip never holds full-size frames. ``n_frames`` is set once the
    frame selection is known (recipes size frames by their count)."""

    def __init__(self, spec: FrameSpec):
        self.spec = spec if spec.max_pixels else spec.model_copy(update={"max_pixels": pixel_budget(spec)})
        self.n_frames = 1
        self.shape: tuple[int, int] | None = None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        if self.shape is None:
            self.shape = target_shape(self.spec, frame.shape[0], frame.shape[1], self.n_frames)
        h, w = self.shape
        if frame.shape[0] == h and frame.shape[1] == w:
            return frame
        from PIL import Image

        return np.asarray(Image.fromarray(frame).resize((w, h), Image.Resampling.BICUBIC))


def _resize_all(frames: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    if all(f.shape[0] == h and f.shape[1] == w for f in frames):
        return np.ascontiguousarray(np.stack(frames).astype(np.uint8, copy=False))
    from PIL import Image

    out = np.empty((len(frames), h, w, 3), dtype=np.uint8)
    done: dict[int, np.ndarray] = {}
    for k, f in enumerate(frames):
        key = id(f)  # duplicates share the same decoded array: resize once
        if key not in done:
            if f.shape[0] == h and f.shape[1] == w:
                done[key] = f
            else:
                done[key] = np.asarray(Image.fromarray(f).resize((w, h), Image.Resampling.BICUBIC))
        out[k] = done[key]
    return out


def probe(ref: VideoRef, root: Path, *, allow_images: bool = False) -> VideoProbe:
    """Frame count, fps, duration, codec and size of ``ref`` without decoding pixels."""
    label = str(ref.path)
    path = safe_join(root, ref.path)
    try:
        if ref.kind == "frames":
            files = _list_frames(path, label, root)
            from PIL import Image, UnidentifiedImageError

            try:
                with Image.open(files[0]) as im:
                    width, height, fmt = im.size[0], im.size[1], (im.format or "image").lower()
            except (UnidentifiedImageError, OSError) as e:
                raise MediaError(f"{label}/{files[0].name}: cannot read the image ({_first_line(e)})") from None
            fps = float(ref.fps or DEFAULT_FOLDER_FPS)
            return VideoProbe(path=label, num_frames=len(files), fps=fps, duration=len(files) / fps,
                              codec=fmt, width=width, height=height, declared_frames=None)
        index = _get_index(path, label)
        _refuse_image(index, label, allow_images)
        if index.num_frames == 0:
            extra = f" (the file is truncated: {index.last_error})" if index.last_error else ""
            raise MediaError(f"{label}: contains no decodable video frames{extra}")
        if index.fps <= 0:
            raise MediaError(f"{label}: the video has no usable frame rate")
        return VideoProbe(path=label, num_frames=index.num_frames, fps=index.fps,
                          duration=index.num_frames / index.fps, codec=index.codec,
                          width=index.width, height=index.height,
                          declared_frames=index.declared_frames, truncated=index.truncated)
    except (MediaError, MossevalError):
        raise
    except Exception as e:
        raise MediaError(f"{label}: unexpected {type(e).__name__} while probing the video: "
                         f"{_first_line(e)}") from e
