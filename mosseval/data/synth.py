"""moss-video-mini: the embedded, deterministic, procedurally generated default benchmark.

Each video shows simple coloured shapes on a plain dark background whose state changes once per
second (a *keyframe*). The true state timeline is known exactly. The video file is cut before the
last state change: it holds only the observed states, and the question asks for the state that
comes next. Items follow the MOSS-Video JSONL schema (SPEC section 4.1).

Options are drawn before the answer and shown in their natural order, so the question and the
options alone never tell the answer (generator version 2; see ``_option_values``). The test
split depends only on (seed, n_test): a larger train split (``n_train``, ``mosseval data synth
--train-size N``) leaves it byte-identical, and no train video equals a test video.

Public API::

    generate(out_dir, seed=0, n_test=240, n_train=420) -> manifest dict
    ensure_mini(root, seed=0) -> root / "moss-video-mini-seed{seed}"   (generated once, verified on reuse)
    check_dataset(path, seed=None, n_test=None, n_train=None) -> list of problems (empty when sound)

Everything the items say is derived from a per-video random generator seeded from
``sha256(f"{seed}:{split}:{index}")``, so the JSONL files and the manifest are byte-identical for the
same seed on any platform; frames are rendered and converted to YUV 4:2:0 by this module (no
swscale), then encoded by libx264 with one thread and fixed options, so the mp4 bytes are identical
for the same seed under the same PyAV/FFmpeg build.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mosseval.errors import MissingDependencyError, OutputError, UsageError
from mosseval.fileio import TMP_SUFFIX, DirLock, os_reason, remove_stale_temp

NAME = "moss-video-mini"
GENERATOR_VERSION = "2"
DEFAULT_N_TEST = 240
DEFAULT_N_TRAIN = 420
SPLITS = ("test", "train")

# Geometry (pixels). The frame is square; a 5x5 grid of named cells covers it with a margin.
FPS = 8
FRAME_SIZE = 128
GRID = 5
CELL = 24
MARGIN = (FRAME_SIZE - GRID * CELL) // 2  # 4
CELL_OBJECT = 18  # width of an object that sits in a grid cell (motion and count videos)
CENTER_OBJECT = 40  # width of an object in the middle of the frame (equals size "medium")

BACKGROUND = (24, 24, 28)
GRID_LINE = (58, 58, 66)
# Colours in hue order (neighbours on this wheel are the "near" colours of fine-level items).
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (225, 35, 35),
    "orange": (245, 140, 25),
    "yellow": (240, 225, 40),
    "green": (40, 185, 60),
    "cyan": (40, 205, 220),
    "blue": (45, 85, 235),
    "purple": (155, 65, 220),
    "pink": (245, 125, 195),
}
SHAPES = ("square", "circle", "triangle", "diamond", "ring")
# Named sizes, smallest to largest, with the object's width in pixels.
SIZE_LEVELS: dict[str, int] = {
    "tiny": 16,
    "small": 28,
    "medium": 40,
    "large": 60,
    "very large": 80,
    "huge": 104,
}
CATEGORIES = ("motion", "color", "shape", "size", "count")
LEVELS = ("coarse", "fine")
LETTERS = ("A", "B", "C", "D")
JSONL_KEYS = ("id", "video", "start", "end", "question", "options", "answer", "reference_steps",
              "level", "category", "split")
ENCODER = "libx264"
ENCODER_OPTIONS = {"crf": "12", "preset": "medium"}
VIDEO_CHECKSUMS = "videos.sha256"

# One cycle of the plan: 11 videos, 15 questions, 3 per category; 4 videos carry two questions.
_CYCLE: tuple[tuple[str, ...], ...] = (
    ("motion",), ("color",), ("shape",), ("size",), ("count",), ("count",), ("count",),
    ("motion", "color"), ("motion", "shape"), ("color", "size"), ("shape", "size"),
)


# --------------------------------------------------------------------------------------------
# random streams


def _rng(seed: int, *parts: object) -> random.Random:
    """A ``random.Random`` seeded from sha256 of ``seed`` and ``parts`` (platform independent)."""
    text = ":".join([str(seed), *map(str, parts)])
    return random.Random(int.from_bytes(hashlib.sha256(text.encode()).digest()[:16], "big"))


# --------------------------------------------------------------------------------------------
# state timelines


@dataclass(frozen=True)
class _Obj:
    shape: str
    color: str
    cx: float
    cy: float
    size: int


@dataclass
class _Question:
    category: str
    question: str
    steps: list[str]  # one per observed keyframe, then the "Next, …" step
    correct: str
    options: list[str]  # the four options in their natural order (the correct one among them)


def cell_center(row: int, col: int) -> tuple[float, float]:
    """Pixel centre ``(x, y)`` of the grid cell at 1-based ``row`` (from the top) and ``col``."""
    return (MARGIN + CELL * (col - 1) + CELL / 2, MARGIN + CELL * (row - 1) + CELL / 2)


def _cell_name(cell: tuple[int, int]) -> str:
    return f"row {cell[0]}, column {cell[1]}"


def _object_name(color: str | None, shape: str | None) -> str:
    if color and shape:
        return f"the {color} {shape}"
    if shape:
        return f"the {shape}"
    if color:
        return f"the {color} object"
    return "the object"


def _count_plural(count: int, color: str, shape: str) -> str:
    return f"{count} {color} {shape}" + ("" if count == 1 else "s")


# --------------------------------------------------------------------------------------------
# option sets first, then the answer, then a timeline that leads to it
#
# Generator version 1 picked distractors *around* the answer (fine: its neighbours, coarse: values
# far from it), so the options alone gave the answer away: the answer was the option in the middle
# of the others (fine) or the isolated one (coarse), and some values were never answers. A
# text-only rule reached 47.5 % on the v1 test split (chance 25 %). Version 2 draws the number of
# observed states first, then the four options (every one reachable in that many states) without
# looking at the answer, shows them in their natural order, takes the answer at the position the
# split's balanced letter plan assigns, and only then builds a video whose next state is that
# answer. Given the question, the options and the video's length, every letter is equally likely:
# only what the frames show tells them apart.

_WHEEL = tuple(COLORS)
_SIZE_NAMES = tuple(SIZE_LEVELS)
_DIRECTIONS = tuple((dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0))
_CENTER = (3, 3)  # no straight path of 4+ cells ends in the middle cell: never an option
COUNT_RANGE = (4, 16)
"""Smallest and largest count an answer may have (1 + 1×3 is the smallest reachable)."""
N_OBS = (3, 4, 5)
"""Observed keyframes per video."""


def _allowed_n_obs(kind: str, level: str) -> set[int]:
    """Observed lengths for which *every* value an option set of ``kind``/``level`` may hold can be
    reached: the length is drawn first and the options after it, so the video's duration (visible
    even with blanked frames) says nothing about which option is the answer."""
    if kind == "size":
        return {3}  # 6 sizes: a 4-step ramp reaches every size only from 3 observed states
    if kind == "motion":
        return {3} if level == "fine" else {3, 4}  # 5-cell straight paths end on the border only
    return set(N_OBS)


def _motion_cells(n_obs: int) -> list[tuple[int, int]]:
    """Cells a straight path of ``n_obs + 1`` cells can end in."""
    return [(r, c) for r in range(1, GRID + 1) for c in range(1, GRID + 1) if _motion_directions((r, c), n_obs)]


def _option_values(rng: random.Random, kind: str, level: str, n_obs: int) -> list:
    """Four option values in natural order, drawn independently of which one will be the answer,
    each reachable by a timeline of ``n_obs`` observed states.

    fine: neighbouring values (off-by-one answers are wrong); coarse: values spread apart (count,
    motion) or, for colour and shape, a set whose other members never appear in the video.
    """
    if kind == "count":
        lo, hi = max(COUNT_RANGE[0], n_obs + 1), COUNT_RANGE[1]
        if level == "fine":
            a = rng.randint(lo, hi - 3)
            return [a, a + 1, a + 2, a + 3]
        a = rng.randint(lo, hi - 9)
        return [a, a + 3, a + 6, a + 9]
    if kind == "size":
        if level == "fine":
            s = rng.randint(0, len(_SIZE_NAMES) - 4)
            return list(range(s, s + 4))
        return sorted(rng.sample(range(len(_SIZE_NAMES)), 4))
    if kind == "motion":
        reachable = set(_motion_cells(n_obs))
        if level == "fine":
            blocks = [(r, c) for r in range(1, GRID) for c in range(1, GRID)
                      if {(r, c), (r + 1, c), (r, c + 1), (r + 1, c + 1)} <= reachable]
            r, c = rng.choice(blocks)
            return [(r, c), (r, c + 1), (r + 1, c), (r + 1, c + 1)]
        cells = sorted(reachable)
        while True:
            picked: list[tuple[int, int]] = []
            free = list(cells)
            while len(picked) < 4 and free:
                cell = rng.choice(free)
                picked.append(cell)
                free = [x for x in free if max(abs(x[0] - cell[0]), abs(x[1] - cell[1])) >= 2]
            if len(picked) == 4:
                return sorted(picked)
    if kind == "color":
        if level == "fine":
            i = rng.randrange(len(_WHEEL))
            chosen = {_WHEEL[(i + k) % len(_WHEEL)] for k in range(4)}
        else:
            chosen = set(rng.sample(_WHEEL, 4))
        return [c for c in _WHEEL if c in chosen]
    if kind == "shape":
        left_out = rng.choice(SHAPES)
        return [s for s in SHAPES if s != left_out]
    raise ValueError(kind)  # pragma: no cover


def _option_text(kind: str, value) -> str:
    if kind == "count":
        return str(value)
    if kind == "size":
        return _SIZE_NAMES[value]
    if kind == "motion":
        return _cell_name(value)
    return str(value)


def _motion_directions(target: tuple[int, int], n_obs: int) -> list[tuple[int, int]]:
    """Directions of straight paths of ``n_obs + 1`` cells inside the grid that end in ``target``."""
    return [(dr, dc) for dr, dc in _DIRECTIONS
            if 1 <= target[0] - dr * n_obs <= GRID and 1 <= target[1] - dc * n_obs <= GRID]


def _cycle_ending_in(rng: random.Random, answer: str, others: list[str], n_obs: int) -> list[str]:
    """A repeating pattern of ``answer`` and ``others`` whose value at index ``n_obs`` is ``answer``."""
    pattern = [answer, *others]
    rng.shuffle(pattern)
    p = len(pattern)
    shift = (pattern.index(answer) - n_obs) % p
    pattern = pattern[shift:] + pattern[:shift]
    return [pattern[k % p] for k in range(n_obs + 1)]


def _build_video(rng: random.Random, kinds: tuple[str, ...], levels: Sequence[str],
                 letters: Sequence[str]) -> tuple[int, list[list[_Obj]], list[_Question]]:
    """Sample one video with one question per kind: the objects of every keyframe (the observed
    ones plus the hidden next one, last) and the questions, whose answers sit at ``letters``."""
    allowed = set(N_OBS)
    for kind, level in zip(kinds, levels):
        allowed &= _allowed_n_obs(kind, level)
    n_obs = rng.choice(sorted(allowed))  # never empty: every kind allows 3
    options = [_option_values(rng, kind, level, n_obs) for kind, level in zip(kinds, levels)]
    answers = [opts[LETTERS.index(letter)] for opts, letter in zip(options, letters)]
    n = n_obs + 1
    if kinds == ("count",):
        return _count_video(rng, n_obs, answers[0], options[0])

    base_color = rng.choice(_WHEEL)
    base_shape = rng.choice(SHAPES)
    colors = [base_color] * n
    shapes = [base_shape] * n
    centers = [(FRAME_SIZE / 2, FRAME_SIZE / 2)] * n
    sizes = [CENTER_OBJECT] * n
    cells: list[tuple[int, int]] = []
    size_idx: list[int] = []
    for kind, level, answer, opts in zip(kinds, levels, answers, options):
        if kind == "motion":
            dr, dc = rng.choice(_motion_directions(answer, n_obs))
            cells = [(answer[0] - dr * (n_obs - k), answer[1] - dc * (n_obs - k)) for k in range(n)]
            centers = [cell_center(r, c) for r, c in cells]
            sizes = [CELL_OBJECT] * n
        elif kind == "size":
            ways = [d for d in (1, -1) if 0 <= answer - d * n_obs <= len(_SIZE_NAMES) - 1]
            d = rng.choice(ways)
            size_idx = [answer - d * (n_obs - k) for k in range(n)]
            sizes = [SIZE_LEVELS[_SIZE_NAMES[i]] for i in size_idx]
        elif kind in ("color", "shape"):
            domain = _WHEEL if kind == "color" else SHAPES
            # fine: the other states of the cycle are options too (order matters);
            # coarse: they are not, so the answer is the only option the video shows.
            pool = [v for v in (opts if level == "fine" else domain) if v != answer and v not in
                    (() if level == "fine" else opts)]
            period = rng.choice([p for p in (2, 3) if p + 1 <= n_obs and p - 1 <= len(pool)])
            seq = _cycle_ending_in(rng, answer, rng.sample(pool, period - 1), n_obs)
            if kind == "color":
                colors = seq
            else:
                shapes = seq
        else:  # pragma: no cover - the plan only holds known kinds
            raise ValueError(kind)
    frames = [[_Obj(shapes[k], colors[k], centers[k][0], centers[k][1], sizes[k])] for k in range(n)]
    obj = _object_name(None if "color" in kinds else base_color,
                       None if "shape" in kinds else base_shape)
    questions = []
    for kind, answer, opts in zip(kinds, answers, options):
        texts = [_option_text(kind, v) for v in opts]
        if kind == "motion":
            steps = [f"At {k} s {obj} is at {_cell_name(cells[k])}." for k in range(n_obs)]
            steps.append(f"Next, {obj} will be at {_cell_name(cells[n_obs])}.")
            q = (f"Which cell will {obj} occupy right after the video ends? It moves on a 5x5 grid (rows 1-5 "
                 "from top to bottom, columns 1-5 from left to right).")
        elif kind == "color":
            steps = [f"At {k} s {obj} is {colors[k]}." for k in range(n_obs)]
            steps.append(f"Next, {obj} will be {colors[n_obs]}.")
            q = f"What color will {obj} be right after the video ends? It keeps changing color."
        elif kind == "shape":
            steps = [f"At {k} s {obj} is a {shapes[k]}." for k in range(n_obs)]
            steps.append(f"Next, {obj} will be a {shapes[n_obs]}.")
            q = f"What shape will {obj} be right after the video ends? It keeps changing shape."
        else:  # size
            names = [_SIZE_NAMES[i] for i in size_idx]
            steps = [f"At {k} s {obj} is {names[k]}." for k in range(n_obs)]
            steps.append(f"Next, {obj} will be {names[n_obs]}.")
            q = (f"How big will {obj} be right after the video ends? It keeps changing size (sizes from "
                 f"smallest to largest: {', '.join(_SIZE_NAMES)}).")
        questions.append(_Question(kind, q, steps, _option_text(kind, answer), texts))
    return n_obs, frames, questions


def _count_video(rng: random.Random, n_obs: int, target: int,
                 options: list[int]) -> tuple[int, list[list[_Obj]], list[_Question]]:
    n = n_obs + 1
    color = rng.choice(_WHEEL)
    shape = rng.choice(SHAPES)
    step = rng.choice([s for s in (1, 2) if target - s * n_obs >= 1])
    counts = [target - step * (n_obs - k) for k in range(n)]
    cells = [(r, c) for r in range(1, GRID + 1) for c in range(1, GRID + 1)]
    rng.shuffle(cells)
    frames = [[_Obj(shape, color, *cell_center(r, c), CELL_OBJECT) for r, c in cells[:counts[k]]]
              for k in range(n)]
    steps = []
    for k in range(n_obs):
        verb = "is" if counts[k] == 1 else "are"
        steps.append(f"At {k} s there {verb} {_count_plural(counts[k], color, shape)}.")
    steps.append(f"Next, there will be {_count_plural(target, color, shape)}.")
    q = (f"How many {color} {shape}s will be visible right after the video ends? More keep appearing.")
    return n_obs, frames, [_Question("count", q, steps, str(target), [str(v) for v in options])]


def _signature(keyframes: Sequence[Sequence[_Obj]]) -> tuple:
    """What a video file shows (its observed keyframes): equal signatures, identical videos."""
    return tuple(tuple(sorted((o.shape, o.color, o.cx, o.cy, o.size) for o in objs)) for objs in keyframes)


# --------------------------------------------------------------------------------------------
# rendering and encoding


def _shape_mask(xx: np.ndarray, yy: np.ndarray, obj: _Obj) -> np.ndarray:
    dx = xx - obj.cx
    dy = yy - obj.cy
    h = obj.size / 2
    if obj.shape == "square":
        return (np.abs(dx) <= h) & (np.abs(dy) <= h)
    if obj.shape == "circle":
        return dx * dx + dy * dy <= h * h
    if obj.shape == "ring":
        r2 = dx * dx + dy * dy
        return (r2 <= h * h) & (r2 >= (h / 2) ** 2)
    if obj.shape == "diamond":
        return np.abs(dx) + np.abs(dy) <= h
    if obj.shape == "triangle":  # apex up, base at the bottom
        depth = dy + h  # 0 at the apex, size at the base
        return (depth >= 0) & (depth <= obj.size) & (np.abs(dx) <= depth / 2)
    raise ValueError(obj.shape)  # pragma: no cover


def _palette() -> tuple[list[str], np.ndarray]:
    names = ["background", "grid", *COLORS]
    rgb = np.array([BACKGROUND, GRID_LINE, *COLORS.values()], dtype=np.float64)
    return names, rgb


def _rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited range ("tv"), the default matrix decoders assume for untagged SD video."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    cb = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    cr = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return np.stack([y, cb, cr], axis=-1)


_PALETTE_NAMES, _PALETTE_RGB = _palette()
_PALETTE_YCC = _rgb_to_ycbcr(_PALETTE_RGB)
_COLOR_INDEX = {name: i for i, name in enumerate(_PALETTE_NAMES)}


def render_labels(objs: Sequence[_Obj]) -> np.ndarray:
    """A ``FRAME_SIZE`` square array of palette indices (0 background, 1 grid line, 2+ colours)."""
    size = FRAME_SIZE
    labels = np.zeros((size, size), dtype=np.uint8)
    for j in range(GRID + 1):
        p = MARGIN + CELL * j
        p = min(p, size - 1)
        labels[MARGIN:size - MARGIN + 1, p] = 1
        labels[p, MARGIN:size - MARGIN + 1] = 1
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    for obj in objs:
        labels[_shape_mask(xx, yy, obj)] = _COLOR_INDEX[obj.color]
    return labels


def render_rgb(objs: Sequence[_Obj]) -> np.ndarray:
    """The keyframe as an RGB ``uint8`` array (for previews and tests)."""
    return _PALETTE_RGB[render_labels(objs)].astype(np.uint8)


def _render_yuv420p(objs: Sequence[_Obj]) -> np.ndarray:
    """The keyframe as a planar yuv420p array of shape ``(1.5*H, W)`` computed here (no swscale)."""
    ycc = _PALETTE_YCC[render_labels(objs)]
    size = FRAME_SIZE
    y = np.clip(np.rint(ycc[..., 0]), 0, 255).astype(np.uint8)
    chroma = ycc[..., 1:].reshape(size // 2, 2, size // 2, 2, 2).mean(axis=(1, 3))
    chroma = np.clip(np.rint(chroma), 0, 255).astype(np.uint8)
    u = chroma[..., 0].reshape(size // 4, size)
    v = chroma[..., 1].reshape(size // 4, size)
    return np.concatenate([y, u, v], axis=0)


def _import_av():
    try:
        import av
    except ImportError as exc:  # pragma: no cover - av is a core dependency
        raise MissingDependencyError("PyAV is needed to write moss-video-mini videos",
                                     hint="pip install av") from exc
    return av


def _encode(path: Path, keyframes: Sequence[np.ndarray]) -> None:
    """Write ``FPS`` identical frames per keyframe as H.264 (yuv420p) in an mp4."""
    av = _import_av()
    container = av.open(str(path), mode="w", format="mp4")
    try:
        stream = container.add_stream(ENCODER, rate=FPS)
        stream.width = FRAME_SIZE
        stream.height = FRAME_SIZE
        stream.pix_fmt = "yuv420p"
        cc = stream.codec_context
        cc.thread_count = 1
        cc.color_range = 1  # MPEG / limited
        cc.colorspace = 6  # SMPTE 170M (BT.601)
        cc.color_primaries = 6
        cc.color_trc = 6
        stream.options = dict(ENCODER_OPTIONS)
        index = 0
        for planes in keyframes:
            for _ in range(FPS):
                frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
                frame.pts = index
                index += 1
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    finally:
        container.close()


# --------------------------------------------------------------------------------------------
# dataset generation


def _plan(seed: int, split: str, n_items: int) -> list[tuple[tuple[str, ...], list[str], list[str]]]:
    """Per video: its question kinds, their levels and their answer letters (exactly ``n_items``)."""
    rng = _rng(seed, split, "plan")
    videos: list[tuple[str, ...]] = []
    total = 0
    while total < n_items:
        cycle = list(_CYCLE)
        rng.shuffle(cycle)
        for kinds in cycle:
            if total >= n_items:
                break
            if total + len(kinds) > n_items:
                kinds = kinds[:n_items - total]
            videos.append(kinds)
            total += len(kinds)
    per_category = Counter(k for kinds in videos for k in kinds)
    level_lists = {}
    for cat in CATEGORIES:
        levels = [LEVELS[i % 2] for i in range(per_category[cat])]
        rng.shuffle(levels)
        level_lists[cat] = levels
    letters = [LETTERS[i % 4] for i in range(n_items)]
    rng.shuffle(letters)
    plan = []
    it = iter(letters)
    for kinds in videos:
        plan.append((kinds, [level_lists[k].pop() for k in kinds], [next(it) for _ in kinds]))
    return plan


def _split_items(out_dir: Path, seed: int, split: str, n_items: int,
                 avoid: frozenset = frozenset()) -> tuple[list[dict], dict]:
    """Generate one split. A video whose content equals one in ``avoid`` (the test split's, when
    this is the train split) is drawn again from a derived stream, so no test video is ever a
    training video. Returns the items and the split's statistics (with its video signatures)."""
    plan = _plan(seed, split, n_items)
    video_dir = out_dir / "videos" / split
    video_dir.mkdir(parents=True, exist_ok=True)
    items: list[dict] = []
    multi = redrawn = 0
    signatures: set[tuple] = set()
    for vidx, (kinds, levels, letters) in enumerate(plan):
        attempt = 0
        while True:
            rng = _rng(seed, split, vidx) if attempt == 0 else _rng(seed, split, vidx, "redraw", attempt)
            n_obs, frames, questions = _build_video(rng, kinds, levels, letters)
            signature = _signature(frames[:n_obs])
            if signature not in avoid:
                break
            attempt += 1
        redrawn += attempt > 0
        signatures.add(signature)
        video_id = f"{split}-{vidx:05d}"
        rel = f"videos/{split}/{video_id}.mp4"
        _encode(out_dir / rel, [_render_yuv420p(objs) for objs in frames[:n_obs]])
        multi += len(questions) > 1
        for qi, (q, level, letter) in enumerate(zip(questions, levels, letters), start=1):
            assert q.options[LETTERS.index(letter)] == q.correct
            steps = [{"t": float(k), "text": text} for k, text in enumerate(q.steps)]
            items.append({
                "id": f"{video_id}-q{qi}",
                "video": rel,
                "start": 0.0,
                "end": float(n_obs),
                "question": q.question,
                "options": dict(zip(LETTERS, q.options)),
                "answer": letter,
                "reference_steps": steps,
                "level": level,
                "category": q.category,
                "split": split,
            })
    items.sort(key=lambda item: item["id"])
    stats = {"videos": len(plan), "videos_with_two_questions": multi, "videos_redrawn": redrawn,
             "signatures": frozenset(signatures)}
    return items, stats


def _jsonl_bytes(items: list[dict]) -> bytes:
    lines = [json.dumps({k: item[k] for k in JSONL_KEYS}, ensure_ascii=False) + "\n" for item in items]
    return "".join(lines).encode("utf-8")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_args(seed: int, n_test: int, n_train: int) -> None:
    for name, value in (("seed", seed), ("n_test", n_test), ("n_train", n_train)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UsageError(f"moss-video-mini: {name} must be a non-negative integer, got {value!r}")


def generate(out_dir: Path, seed: int = 0, n_test: int = DEFAULT_N_TEST,
             n_train: int = DEFAULT_N_TRAIN) -> dict:
    """Write moss-video-mini into ``out_dir`` (created; must be empty) and return the manifest.

    Layout: ``videos/<split>/<video_id>.mp4``, ``test.jsonl``, ``train.jsonl``, ``manifest.json``
    and ``videos.sha256`` (``sha256sum -c`` format). ``n_test``/``n_train`` count questions.
    """
    _check_args(seed, n_test, n_train)
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UsageError(f"moss-video-mini: output folder {str(out_dir)!r} exists and is not empty",
                         hint="choose a new or empty folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"moss-video-mini: cannot create {str(out_dir)!r}: {exc}") from exc
    splits: dict[str, dict] = {}
    files: dict[str, dict] = {}
    avoid: frozenset = frozenset()
    for split, n_items in (("test", n_test), ("train", n_train)):
        # The test split depends on (seed, n_test) only, never on n_train; the train split avoids
        # every test video.
        items, stats = _split_items(out_dir, seed, split, n_items, avoid)
        avoid = stats["signatures"]
        data = _jsonl_bytes(items)
        (out_dir / f"{split}.jsonl").write_bytes(data)
        files[f"{split}.jsonl"] = {"sha256": _sha256(data), "lines": len(items)}
        splits[split] = {
            "items": len(items),
            "videos": stats["videos"],
            "videos_with_two_questions": stats["videos_with_two_questions"],
            **({"videos_redrawn_to_avoid_test_videos": stats["videos_redrawn"]} if split == "train" else {}),
            "categories": dict(sorted(Counter(i["category"] for i in items).items())),
            "levels": dict(sorted(Counter(i["level"] for i in items).items())),
            "answers": dict(sorted(Counter(i["answer"] for i in items).items())),
        }
    checksum_lines = []
    for split in SPLITS:
        for path in sorted((out_dir / "videos" / split).glob("*.mp4")):
            rel = path.relative_to(out_dir).as_posix()
            checksum_lines.append(f"{_sha256(path.read_bytes())}  {rel}\n")
    (out_dir / VIDEO_CHECKSUMS).write_text("".join(checksum_lines), encoding="utf-8")
    manifest = {
        "name": NAME,
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "n_test": n_test,
        "n_train": n_train,
        "fps": FPS,
        "width": FRAME_SIZE,
        "height": FRAME_SIZE,
        "encoder": {"codec": ENCODER, "pix_fmt": "yuv420p", "threads": 1, **ENCODER_OPTIONS},
        "categories": list(CATEGORIES),
        "splits": splits,
        "files": files,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
    return manifest


def check_dataset(path: Path, seed: int | None = None, n_test: int | None = None,
                  n_train: int | None = None) -> list[str]:
    """Problems found in a generated folder (empty list: complete and unmodified).

    Checks the manifest (name, generator version and, when given, seed and sizes), the sha256 of
    each JSONL file, and that every video listed in ``videos.sha256`` exists with that digest and
    that the JSONL files reference exactly those videos.
    """
    path = Path(path)
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"manifest.json unreadable: {exc}"]
    problems = []
    expected = {"name": NAME, "generator_version": GENERATOR_VERSION, "seed": seed,
                "n_test": n_test, "n_train": n_train}
    for key, value in expected.items():
        if value is not None and manifest.get(key) != value:
            problems.append(f"manifest {key} is {manifest.get(key)!r}, expected {value!r}")
    referenced: set[str] = set()
    for split in SPLITS:
        name = f"{split}.jsonl"
        try:
            data = (path / name).read_bytes()
        except OSError as exc:
            problems.append(f"{name} unreadable: {exc}")
            continue
        if _sha256(data) != manifest.get("files", {}).get(name, {}).get("sha256"):
            problems.append(f"{name} does not match its sha256 in manifest.json")
            continue
        for line in data.decode("utf-8").splitlines():
            referenced.add(json.loads(line)["video"])
    try:
        listed = {}
        for line in (path / VIDEO_CHECKSUMS).read_text(encoding="utf-8").splitlines():
            digest, rel = line.split("  ", 1)
            listed[rel] = digest
    except (OSError, ValueError) as exc:
        return problems + [f"{VIDEO_CHECKSUMS} unreadable: {exc}"]
    if referenced and set(listed) != referenced:
        problems.append(f"{VIDEO_CHECKSUMS} does not list exactly the videos the JSONL files use")
    for rel, digest in sorted(listed.items()):
        try:
            if _sha256((path / rel).read_bytes()) != digest:
                problems.append(f"{rel} does not match its sha256")
        except OSError:
            problems.append(f"{rel} is missing")
        if len(problems) > 20:
            break
    return problems


def _option_key(category: str, text: str):
    if category == "count":
        return (int(text),)
    if category == "size":
        return (_SIZE_NAMES.index(text),)
    if category == "motion":
        return tuple(int(x) for x in text.replace("row", "").replace("column", "").split(","))
    if category == "color":
        return (_WHEEL.index(text),)
    return (SHAPES.index(text),)


def _option_distance(category: str, a: tuple, b: tuple) -> int:
    if category == "color":
        d = abs(a[0] - b[0])
        return min(d, len(_WHEEL) - d)
    if category == "shape":
        return int(a != b)
    return max(abs(x - y) for x, y in zip(a, b))


def option_bias_probe(path: Path) -> dict:
    """How often answer-blind rules that read only the options pick the answer on the test split.

    Rules: *central* (the option closest to the others), *isolated* (the one farthest from its
    nearest neighbour), *train prior* (the option value that was most often the answer in the
    train split, per category), *length prior* (the same, per category and video length -- the
    duration is visible even in the blind control) and *first* (always A). Near 25 % each: the
    options carry no answer (version 1 of this generator: central/isolated by level reached 47.5 %,
    the train prior 41.7 %).
    """
    path = Path(path)
    read = lambda split: [json.loads(x) for x in (path / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]  # noqa: E731
    train, test = read("train"), read("test")
    prior = Counter((i["category"], i["options"][i["answer"]]) for i in train)
    by_length = Counter((i["category"], i["end"], i["options"][i["answer"]]) for i in train)

    def pick(rule: str, item: dict) -> str:
        cat, opts = item["category"], item["options"]
        keys = {k: _option_key(cat, v) for k, v in opts.items()}
        if rule == "central":
            return min(opts, key=lambda k: (sum(_option_distance(cat, keys[k], keys[j]) for j in opts), k))
        if rule == "isolated":
            return max(opts, key=lambda k: (min(_option_distance(cat, keys[k], keys[j]) for j in opts if j != k), k))
        if rule == "train prior":
            return max(opts, key=lambda k: (prior[(cat, opts[k])], k))
        if rule == "length prior":
            return max(opts, key=lambda k: (by_length[(cat, item["end"], opts[k])], k))
        return min(opts)

    rules = {r: sum(pick(r, i) == i["answer"] for i in test) / len(test) for r in
             ("central", "isolated", "train prior", "length prior", "first")} if test else {}
    return {"n": len(test), "rules": rules}


def dataset_dirname(seed: int = 0, n_test: int = DEFAULT_N_TEST, n_train: int = DEFAULT_N_TRAIN) -> str:
    """``moss-video-mini-seed{seed}``; non-default sizes add ``-n{test}x{train}``."""
    name = f"{NAME}-seed{seed}"
    if (n_test, n_train) != (DEFAULT_N_TEST, DEFAULT_N_TRAIN):
        name += f"-n{n_test}x{n_train}"
    return name


def ensure_mini(root: Path, seed: int = 0, *, n_test: int = DEFAULT_N_TEST,
                n_train: int = DEFAULT_N_TRAIN) -> Path:
    """Return ``root/moss-video-mini-seed{seed}``, generating it on first use.

    Generation goes into a temporary sibling folder that is renamed into place, so readers never
    see a partial dataset and concurrent callers (threads or processes) end up with one folder.
    An existing folder is verified (``check_dataset``) and regenerated if incomplete or modified.
    """
    _check_args(seed, n_test, n_train)
    root = Path(root)
    name = dataset_dirname(seed, n_test, n_train)
    final = root / name
    if final.is_dir() and not check_dataset(final, seed, n_test, n_train):
        return final
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"moss-video-mini: cannot create the cache folder {str(root)!r}: {os_reason(exc, root / 'x')}",
                          hint="set MOSSEVAL_CACHE_DIR to a writable folder") from exc
    # one generator per dataset at a time (others wait, then reuse its copy); correctness does not
    # depend on it (the final rename is atomic), it spares duplicate work
    with DirLock(root, name=f".{name}.lock", wait=True, clean_temp=False, command=f"generate {name}"):
        if final.is_dir() and not check_dataset(final, seed, n_test, n_train):
            return final  # another process finished it while we waited
        remove_stale_temp(root, prefix=f".{name}.")  # left by a generator that was killed (we hold its lock)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=TMP_SUFFIX, dir=root))
        stale: Path | None = None
        try:
            generate(tmp, seed, n_test, n_train)
            tmp.chmod(0o755)  # mkdtemp creates 0700; the cache is shared like every other output (0644 files)
            if final.exists():
                stale = root / f".{name}.stale-{os.getpid()}-{tmp.name[-12:]}"
                try:
                    os.rename(final, stale)
                except FileNotFoundError:
                    stale = None
            try:
                os.rename(tmp, final)
            except OSError as exc:
                if final.is_dir() and not check_dataset(final, seed, n_test, n_train):
                    return final  # lost a race to another process: use its copy
                raise OutputError(f"moss-video-mini: cannot move the generated data to {str(final)!r}: "
                                  f"{exc}") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            if stale is not None:
                shutil.rmtree(stale, ignore_errors=True)
    return final


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mosseval.data.synth OUT_DIR [--seed N] [--n-test N] [--n-train N]``."""
    import argparse
    import time

    parser = argparse.ArgumentParser(prog="python -m mosseval.data.synth", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-test", type=int, default=DEFAULT_N_TEST)
    parser.add_argument("--n-train", type=int, default=DEFAULT_N_TRAIN)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    manifest = generate(args.out_dir, args.seed, args.n_test, args.n_train)
    elapsed = time.perf_counter() - started
    for split in SPLITS:
        s = manifest["splits"][split]
        print(f"{split}: {s['items']} items, {s['videos']} videos, categories {s['categories']}, "
              f"levels {s['levels']}, answers {s['answers']}")
    print(f"generated in {elapsed:.2f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
