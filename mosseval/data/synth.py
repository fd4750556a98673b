"""moss-video-mini: the embedded, deterministic, procedurally generated default benchmark.

Each video shows simple coloured shapes on a plain dark background whose state changes once per
second (a *keyframe*). The true state timeline is known exactly. The video file is cut before the
last state change: it holds only the observed states, and the question asks for the state that
comes next. Items follow the MOSS-Video JSONL schema (SPEC section 4.1).

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
from mosseval.fileio import TMP_SUFFIX, DirLock, remove_stale_temp

NAME = "moss-video-mini"
GENERATOR_VERSION = "1"
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
# Shapes that look alike (fine-level distractors after the shapes seen in the video).
_SIMILAR_SHAPES = {
    "square": ("diamond", "circle"),
    "circle": ("ring", "square"),
    "triangle": ("diamond", "square"),
    "diamond": ("square", "triangle"),
    "ring": ("circle", "square"),
}
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
_SPLIT_CODES = {"test": 1, "train": 2}


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
    fine: list[list[str]]  # distractor tiers, most preferred first
    coarse: list[list[str]]


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


def _motion_path(rng: random.Random, n: int) -> list[tuple[int, int]]:
    """``n`` consecutive cells along a constant direction, all inside the grid (1-based)."""
    choices = []
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr == dc == 0:
                continue
            for r0 in range(1, GRID + 1):
                for c0 in range(1, GRID + 1):
                    r_end, c_end = r0 + dr * (n - 1), c0 + dc * (n - 1)
                    if 1 <= r_end <= GRID and 1 <= c_end <= GRID:
                        choices.append((r0, c0, dr, dc))
    r0, c0, dr, dc = rng.choice(choices)
    return [(r0 + dr * k, c0 + dc * k) for k in range(n)]


def _count_plural(count: int, color: str, shape: str) -> str:
    return f"{count} {color} {shape}" + ("" if count == 1 else "s")


def _build_video(rng: random.Random, kinds: tuple[str, ...]) -> tuple[int, list[list[_Obj]],
                                                                       list[_Question]]:
    """Sample one video: its number of observed keyframes, the objects of every keyframe
    (observed ones plus the hidden next one, last) and one question per kind."""
    n_obs = rng.choice((3, 4) if "motion" in kinds else (3, 4, 5))
    n = n_obs + 1
    if kinds == ("count",):
        return _build_count_video(rng, n_obs)

    base_color = rng.choice(list(COLORS))
    base_shape = rng.choice(SHAPES)
    colors = [base_color] * n
    shapes = [base_shape] * n
    centers = [(FRAME_SIZE / 2, FRAME_SIZE / 2)] * n
    sizes = [CENTER_OBJECT] * n
    cells: list[tuple[int, int]] = []
    size_names: list[str] = []
    color_pattern: list[str] = []
    shape_pattern: list[str] = []
    for kind in kinds:
        if kind == "motion":
            cells = _motion_path(rng, n)
            centers = [cell_center(r, c) for r, c in cells]
            sizes = [CELL_OBJECT] * n
        elif kind == "color":
            period = rng.choice([p for p in (2, 3) if p + 1 <= n_obs])
            color_pattern = rng.sample(list(COLORS), period)
            colors = [color_pattern[k % period] for k in range(n)]
        elif kind == "shape":
            period = rng.choice([p for p in (2, 3) if p + 1 <= n_obs])
            shape_pattern = rng.sample(list(SHAPES), period)
            shapes = [shape_pattern[k % period] for k in range(n)]
        elif kind == "size":
            names = list(SIZE_LEVELS)
            step = rng.choice((1, -1))
            lo = 0 if step == 1 else n - 1
            hi = len(names) - n if step == 1 else len(names) - 1
            start = rng.randint(lo, hi)
            size_names = [names[start + step * k] for k in range(n)]
            sizes = [SIZE_LEVELS[s] for s in size_names]
        else:  # pragma: no cover - the plan only holds known kinds
            raise ValueError(kind)
    frames = [[_Obj(shapes[k], colors[k], centers[k][0], centers[k][1], sizes[k])] for k in range(n)]
    obj = _object_name(None if "color" in kinds else base_color,
                       None if "shape" in kinds else base_shape)
    questions = []
    for kind in kinds:
        if kind == "motion":
            steps = [f"At {k} s {obj} is at {_cell_name(cells[k])}." for k in range(n_obs)]
            steps.append(f"Next, {obj} will be at {_cell_name(cells[n_obs])}.")
            target = cells[n_obs]
            all_cells = [(r, c) for r in range(1, GRID + 1) for c in range(1, GRID + 1)]
            dist = {cell: max(abs(cell[0] - target[0]), abs(cell[1] - target[1])) for cell in all_cells}
            near = [_cell_name(c) for c in all_cells if dist[c] == 1]
            far = [_cell_name(c) for c in all_cells if dist[c] >= 2]
            q = (f"{obj[0].upper()}{obj[1:]} moves on a 5x5 grid (rows 1-5 from top to bottom, "
                 "columns 1-5 from left to right). Which cell will it occupy right after the video "
                 "ends?")
            questions.append(_Question("motion", q, steps, _cell_name(target), [near, far], [far, near]))
        elif kind == "color":
            steps = [f"At {k} s {obj} is {colors[k]}." for k in range(n_obs)]
            steps.append(f"Next, {obj} will be {colors[n_obs]}.")
            wheel = list(COLORS)
            target = colors[n_obs]
            ti = wheel.index(target)
            seen = [c for c in color_pattern if c != target]
            hue_near = [wheel[(ti - 1) % len(wheel)], wheel[(ti + 1) % len(wheel)]]
            unseen_far = [c for c in wheel if c not in color_pattern
                          and min((wheel.index(c) - ti) % 8, (ti - wheel.index(c)) % 8) >= 2]
            q = (f"{obj[0].upper()}{obj[1:]} keeps changing color. What color will it be right after "
                 "the video ends?")
            questions.append(_Question("color", q, steps, target, [seen, hue_near, wheel],
                                       [unseen_far, [c for c in wheel if c not in color_pattern], wheel]))
        elif kind == "shape":
            steps = [f"At {k} s {obj} is a {shapes[k]}." for k in range(n_obs)]
            steps.append(f"Next, {obj} will be a {shapes[n_obs]}.")
            target = shapes[n_obs]
            seen = [s for s in shape_pattern if s != target]
            unseen = [s for s in SHAPES if s not in shape_pattern]
            q = (f"{obj[0].upper()}{obj[1:]} keeps changing shape. What shape will it be right after "
                 "the video ends?")
            questions.append(_Question("shape", q, steps, target,
                                       [seen, list(_SIMILAR_SHAPES[target]), list(SHAPES)],
                                       [unseen, list(SHAPES)]))
        elif kind == "size":
            steps = [f"At {k} s {obj} is {size_names[k]}." for k in range(n_obs)]
            steps.append(f"Next, {obj} will be {size_names[n_obs]}.")
            names = list(SIZE_LEVELS)
            target = size_names[n_obs]
            ti = names.index(target)
            by_dist: dict[int, list[str]] = {}
            for i, s in enumerate(names):
                if i != ti:
                    by_dist.setdefault(abs(i - ti), []).append(s)
            q = (f"{obj[0].upper()}{obj[1:]} keeps changing size (sizes from smallest to largest: "
                 f"{', '.join(names)}). How big will it be right after the video ends?")
            questions.append(_Question("size", q, steps, target,
                                       [by_dist[d] for d in sorted(by_dist)],
                                       [[s for d in sorted(by_dist) if d >= 2 for s in by_dist[d]], names]))
    return n_obs, frames, questions


def _build_count_video(rng: random.Random, n_obs: int) -> tuple[int, list[list[_Obj]],
                                                                  list[_Question]]:
    n = n_obs + 1
    color = rng.choice(list(COLORS))
    shape = rng.choice(SHAPES)
    first = rng.randint(1, 3)
    step = rng.choice((1, 2))
    counts = [first + step * k for k in range(n)]
    cells = [(r, c) for r in range(1, GRID + 1) for c in range(1, GRID + 1)]
    rng.shuffle(cells)
    frames = []
    for k in range(n):
        frames.append([_Obj(shape, color, *cell_center(r, c), CELL_OBJECT) for r, c in cells[:counts[k]]])
    steps = []
    for k in range(n_obs):
        verb = "is" if counts[k] == 1 else "are"
        steps.append(f"At {k} s there {verb} {_count_plural(counts[k], color, shape)}.")
    target = counts[n_obs]
    steps.append(f"Next, there will be {_count_plural(target, color, shape)}.")
    near = [str(v) for v in (target - 2, target - 1, target + 1, target + 2) if v >= 1]
    far = [str(v) for v in range(max(1, target - 8), target + 9) if abs(v - target) >= 3]
    q = (f"{color.capitalize()} {shape}s keep appearing. How many {color} {shape}s will be visible "
         "right after the video ends?")
    return n_obs, frames, [_Question("count", q, steps, str(target), [near, far], [far, near])]


def _pick_distractors(rng: random.Random, tiers: list[list[str]], correct: str, k: int = 3) -> list[str]:
    out: list[str] = []
    for tier in tiers:
        tier = list(tier)
        rng.shuffle(tier)
        for value in tier:
            if value != correct and value not in out:
                out.append(value)
                if len(out) == k:
                    return out
    raise AssertionError(f"not enough distractors for {correct!r}")  # pragma: no cover


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


def _split_items(out_dir: Path, seed: int, split: str, n_items: int) -> tuple[list[dict], int, int]:
    plan = _plan(seed, split, n_items)
    video_dir = out_dir / "videos" / split
    video_dir.mkdir(parents=True, exist_ok=True)
    items: list[dict] = []
    multi = 0
    for vidx, (kinds, levels, letters) in enumerate(plan):
        rng = _rng(seed, split, vidx)
        n_obs, frames, questions = _build_video(rng, kinds)
        video_id = f"{split}-{vidx:05d}"
        rel = f"videos/{split}/{video_id}.mp4"
        _encode(out_dir / rel, [_render_yuv420p(objs) for objs in frames[:n_obs]])
        multi += len(questions) > 1
        for qi, (q, level, letter) in enumerate(zip(questions, levels, letters), start=1):
            distractors = _pick_distractors(rng, q.fine if level == "fine" else q.coarse, q.correct)
            others = iter(distractors)
            options = {L: (q.correct if L == letter else next(others)) for L in LETTERS}
            steps = [{"t": float(k), "text": text} for k, text in enumerate(q.steps)]
            items.append({
                "id": f"{video_id}-q{qi}",
                "video": rel,
                "start": 0.0,
                "end": float(n_obs),
                "question": q.question,
                "options": options,
                "answer": letter,
                "reference_steps": steps,
                "level": level,
                "category": q.category,
                "split": split,
            })
    items.sort(key=lambda item: item["id"])
    return items, len(plan), multi


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
    for split, n_items in (("test", n_test), ("train", n_train)):
        items, n_videos, multi = _split_items(out_dir, seed, split, n_items)
        data = _jsonl_bytes(items)
        (out_dir / f"{split}.jsonl").write_bytes(data)
        files[f"{split}.jsonl"] = {"sha256": _sha256(data), "lines": len(items)}
        splits[split] = {
            "items": len(items),
            "videos": n_videos,
            "videos_with_two_questions": multi,
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
        raise OutputError(f"moss-video-mini: cannot create the cache folder {str(root)!r}: {exc}",
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
