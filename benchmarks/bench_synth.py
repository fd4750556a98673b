"""Generating moss-video-mini at its default sizes against the encoder alone (the encode floor).

``ensure_mini`` plans the items, renders every keyframe, encodes every video with libx264 (one thread,
fixed options), writes the JSONL files, the checksums and the manifest, and verifies nothing (the folder
is new). The floor encodes the same number of videos with the same number of frames through the
generator's own encoder function from one pre-rendered keyframe: what no generator of these files can
avoid. Interleaved (A B A B …), each repetition into a fresh folder. The ratio says how much the
generator adds to encoding; the minutes it takes are printed beside it.

(This replaces a wall-clock bound that a unit test asserted: timings live here, never in tests.)

    python benchmarks/bench_synth.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import interleave, pin_threads, ratio_line  # noqa: E402

from mosseval.data import synth  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    pin_threads()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        first = synth.ensure_mini(root / "probe", seed=0)
        manifest = json.loads((first / "manifest.json").read_text())
        # frames per video: FPS identical frames per keyframe, one keyframe per observation
        lengths = []
        for split in synth.SPLITS:
            for item in (json.loads(line) for line in (first / f"{split}.jsonl").read_text().splitlines()):
                lengths.append((item["video"], int(item["end"])))
        videos = dict(lengths)  # one entry per video (two questions may share one)
        assert len(videos) == sum(s["videos"] for s in manifest["splits"].values())
        shutil.rmtree(root / "probe")
        keyframe = synth._render_yuv420p([])
        counter = iter(range(10**6))

        def generate() -> Path:
            return synth.ensure_mini(root / f"gen{next(counter)}", seed=0)

        def floor() -> int:
            out = root / f"floor{next(counter)}"
            out.mkdir()
            for i, n_obs in enumerate(videos.values()):
                synth._encode(out / f"{i:05d}.mp4", [keyframe] * n_obs)
            return len(videos)

        def cleanup() -> None:
            for p in root.iterdir():
                shutil.rmtree(p, ignore_errors=True)

        times, _ = interleave({"generate": generate, "floor": floor}, args.repeats, setup=cleanup)
        frames = sum(videos.values()) * synth.FPS
        ratio_line("synth_mini_default_vs_encode_floor", times["generate"], times["floor"],
                   f"ensure_mini at the default sizes ({manifest['n_test']} test + {manifest['n_train']} train "
                   f"questions, {len(videos)} videos, {frames} frames) / encoding the same frames alone",
                   "informational (generation costs what encoding costs plus rendering)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
