"""The trainer's two speed-ups on the demo's SFT recipe, each against the plain loop, and proof they change nothing.

Arms, interleaved (A B C D A B C D ...), each a fresh ``train()`` of ``--steps`` steps of the ``demo-sft`` recipe
(mini-qwen2.5-vl, batch 8, 8 frames, vision frozen) on the first ``--limit`` training questions, so that videos
come back as they do in the demo (2,000 steps over 2,000 questions: 88 % of its video encodings are repeats):

* ``plain``: one torch thread, the vision tower run every time (the loop before these changes);
* ``cache``: one thread, the frozen tower's features looked up (``vision_cache``);
* ``auto``: threads chosen by timing (``num_threads: auto``), no cache;
* ``both``: the demo's setting.

Prints the training seconds (the sum of the step times) of each arm as a speed-up over ``plain`` (> 1: faster),
and asserts that every arm's final weights equal ``plain``'s bit for bit. The thread choice depends on the load of
the machine: ``auto`` only helps where a second core is free (the load average is printed).

    python benchmarks/bench_train.py [--steps 60] [--limit 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import interleave, ratio_line  # noqa: E402

ARMS = {"plain": (1, False), "cache": (1, True), "auto": ("auto", False), "both": ("auto", True)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--limit", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ["HF_HUB_OFFLINE"] = "1"

    import torch
    from safetensors.torch import load_file

    from mosseval.train import train
    from mosseval.train.recipes import recipe_config

    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        root = Path(tmp)
        seconds: dict[str, list[float]] = {k: [] for k in ARMS}
        counter = {"n": 0}

        def arm(name: str):
            threads, cache = ARMS[name]

            def go() -> dict[str, object]:
                counter["n"] += 1
                out = root / f"{name}-{counter['n']}"
                cfg = recipe_config("demo-sft", output_dir=str(out), cache_dir=str(root / "cache"), steps=args.steps,
                                    limit=args.limit, num_threads=threads, vision_cache=cache)
                res = train(cfg)
                summary = json.loads((out / "summary.json").read_text())
                seconds[name].append(float(summary["wall_time_s"]))
                return {"weights": load_file(res.last_checkpoint / "model.safetensors"),
                        "threads": summary.get("thread_steps"), "cache": summary.get("vision_cache")}
            return go

        # warm-up: builds the model and the data once, outside the timings
        recipe = recipe_config("demo-sft", output_dir=str(root / "warm"), cache_dir=str(root / "cache"), steps=2,
                               limit=args.limit, num_threads=1)
        train(recipe)
        _, results = interleave({k: arm(k) for k in ARMS}, args.repeats)
        plain = results["plain"]["weights"]  # type: ignore[index]
        for name, res in results.items():
            w = res["weights"]  # type: ignore[index]
            assert w.keys() == plain.keys() and all(torch.equal(w[k], plain[k]) for k in plain), \
                f"{name}: weights differ from the plain loop"
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; steps per thread count in the last "
              f"runs: auto {results['auto']['threads']}, both {results['both']['threads']}; "  # type: ignore[index]
              f"vision cache of the last run {results['both']['cache']}; "  # type: ignore[index]
              "weights of every arm identical to plain's", flush=True)
        what = f"{args.steps} steps of demo-sft on {args.limit} questions"
        for name in ("cache", "auto", "both"):
            # a speed-up: plain's seconds over the arm's (ratio_line divides its first list by its second)
            ratio_line(f"train_{name}_speedup", seconds["plain"], seconds[name],
                       f"training seconds of the plain loop / with {name}, {what} (> 1: faster)")


if __name__ == "__main__":
    main()
