"""PRR speed: mosseval's batched scorer vs plain Python over rouge-score + textbook DTW.

Scenario (SPEC §3): a GRPO group of 8 completions of ~12 reasoning steps each, scored against
~8 reference steps. Both sides start from the same completion texts and use the same step
splitter; the baseline then calls ``RougeScorer(["rouge1", "rouge2", "rougeL"],
use_stemmer=True).score`` for every (reference, generated) pair and aligns with a textbook
O(N·M·J) pure-Python DP (:func:`mosseval.prr.dtw.align_reference`). Values are asserted equal
(|Δ| <= 1e-9) before any timing is reported. Caches are cleared before every timed repetition
("cold"); "warm stems" keeps only the per-word stem cache, as in a long training run whose
vocabulary recurs.

Run:  python benchmarks/bench_prr.py [--repeats 7] [--quick]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from mosseval.prr import rouge as fast_rouge  # noqa: E402
from mosseval.prr.dtw import align_reference  # noqa: E402
from mosseval.prr.score import prr_from_normalized, reasoning_text, score_group  # noqa: E402
from mosseval.prr.steps import split_steps  # noqa: E402
from mosseval.records import PRRConfig  # noqa: E402

COLORS = ["red", "blue", "green", "yellow", "purple", "orange", "white", "black"]
OBJECTS = ["ball", "cube", "cylinder", "cone", "box", "sphere", "block", "ring"]
PLACES = ["the left edge", "the center of the table", "the right corner", "the top shelf",
          "the bottom of the frame", "the red mat", "the doorway", "the window sill"]
VERBS = ["rolls", "moves", "slides", "jumps", "falls", "rotates", "bounces", "drifts"]
VERB_VARIANTS = {"rolls": "is rolling", "moves": "moved", "slides": "is sliding",
                 "jumps": "jumped", "falls": "is falling", "rotates": "rotated",
                 "bounces": "keeps bouncing", "drifts": "drifted"}
FILLER = [
    "Let me check the frames around {t} seconds again to verify the position.",
    "Wait, I need to reconsider whether the {c} {o} was already visible earlier.",
    "Looking more carefully, the lighting changes slightly but nothing else happens.",
    "I should compare this with the previous keyframe before deciding.",
    "Hmm, the camera seems to pan a little toward {p}.",
    "So far the sequence of states is consistent with my observations.",
]


def ref_step(rng: random.Random, t: float) -> str:
    c, o, v, p, q = rng.choice(COLORS), rng.choice(OBJECTS), rng.choice(VERBS), rng.choice(PLACES), rng.choice(PLACES)
    forms = [
        f"At {t:.1f} s the {c} {o} {v} from {p} toward {q}.",
        f"Around {t:.1f} seconds, the {c} {o} {v} and ends up near {q}.",
        f"The {c} {o} {v} across {p} while the camera stays still.",
        f"By {t:.1f} s a {c} {o} appears next to {q} and stays there.",
    ]
    return rng.choice(forms)


def paraphrase(rng: random.Random, step: str) -> str:
    words = step.split()
    out = []
    for w in words:
        bare = w.strip(".,")
        if bare in VERB_VARIANTS and rng.random() < 0.6:
            w = w.replace(bare, VERB_VARIANTS[bare])
        elif bare in COLORS and rng.random() < 0.15:
            w = w.replace(bare, rng.choice(COLORS))
        out.append(w)
    if rng.random() < 0.3:
        out.insert(0, rng.choice(["First,", "Then", "Next,", "After that,", "I see that"]))
    return " ".join(out)


def make_group(rng: random.Random, n_ref: int, n_gen: int, g: int) -> tuple[list[str], list[str]]:
    refs = [ref_step(rng, 2.0 * i) for i in range(n_ref)]
    texts = []
    for _ in range(g):
        steps: list[str] = []
        order = list(range(n_ref))
        if rng.random() < 0.25:  # a partly shuffled trace
            i, j = rng.sample(order, 2)
            order[i], order[j] = order[j], order[i]
        for k in order:
            if len(steps) >= n_gen:
                break
            if rng.random() < 0.85:
                steps.append(paraphrase(rng, refs[k]))
            if len(steps) < n_gen and rng.random() < 0.45:
                steps.append(rng.choice(FILLER).format(t=rng.randint(1, 20), c=rng.choice(COLORS),
                                                       o=rng.choice(OBJECTS), p=rng.choice(PLACES)))
        while len(steps) < n_gen:
            steps.append(rng.choice(FILLER).format(t=rng.randint(1, 20), c=rng.choice(COLORS),
                                                   o=rng.choice(OBJECTS), p=rng.choice(PLACES)))
        body = "\n".join(f"{i + 1}. {s}" for i, s in enumerate(steps))
        texts.append(f"<think>\n{body}\n</think>\n<answer>{rng.choice('ABCD')}</answer>")
    return refs, texts


# --------------------------------------------------------------------------- the two scorers


def baseline_group(texts: list[str], refs: list[str], cfg: PRRConfig, scorer) -> list[float]:
    out = []
    for text in texts:
        steps, _ = split_steps(reasoning_text(text, True), cfg.max_steps, cfg.min_tokens)
        dist = []
        for r in refs:
            row = []
            for g in steps:
                s = scorer.score(r, g)
                row.append(1.0 - (s["rouge1"].fmeasure + s["rouge2"].fmeasure + s["rougeL"].fmeasure) / 3.0)
            dist.append(row)
        a = align_reference(np.array(dist), mode=cfg.alignment, jump=cfg.jump)
        out.append(prr_from_normalized(a.normalized_cost, cfg.alpha))
    return out


def fast_group(texts: list[str], refs: list[str], cfg: PRRConfig) -> list[float]:
    return [s.prr for s in score_group(texts, refs, cfg)]  # type: ignore[misc]


def timeit(fn, repeats: int, reset) -> float:
    times = []
    for _ in range(repeats):
        reset()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cold() -> None:
    fast_rouge.clear_caches()


def warm_stems() -> None:
    fast_rouge.tokenize.cache_clear()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="fewer repeats and a smaller scaling sweep")
    args = ap.parse_args()
    repeats = 3 if args.quick else args.repeats

    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    cfg = PRRConfig()
    rng = random.Random(1234)

    # ---------------------------------------------------------------- GRPO group
    refs, texts = make_group(rng, n_ref=8, n_gen=12, g=8)
    base_vals = baseline_group(texts, refs, cfg, scorer)
    fast_vals = fast_group(texts, refs, cfg)
    diff = max(abs(a - b) for a, b in zip(base_vals, fast_vals))
    assert diff <= 1e-9, f"values differ by {diff}"
    n_steps = [len(s.steps) for s in score_group(texts, refs, cfg)]
    pairs = sum(n * len(refs) for n in n_steps)
    print(f"GRPO group: {len(texts)} completions x {n_steps} steps vs {len(refs)} reference steps "
          f"= {pairs} pairs; PRR = {[round(v, 3) for v in fast_vals]}")
    print(f"max |fast - baseline| = {diff:.2e} (asserted <= 1e-9)")

    t_base = timeit(lambda: baseline_group(texts, refs, cfg, scorer), repeats, cold)
    t_fast = timeit(lambda: fast_group(texts, refs, cfg), repeats, cold)
    t_fast_w = timeit(lambda: fast_group(texts, refs, cfg), repeats, warm_stems)
    print(f"baseline (rouge-score per pair + textbook DTW): {t_base * 1e3:8.2f} ms/group  "
          f"{pairs / t_base:10.0f} pairs/s")
    print(f"mosseval score_group, cold caches:              {t_fast * 1e3:8.2f} ms/group  "
          f"{pairs / t_fast:10.0f} pairs/s  speed-up x{t_base / t_fast:.1f}")
    print(f"mosseval score_group, warm stem cache:          {t_fast_w * 1e3:8.2f} ms/group  "
          f"{pairs / t_fast_w:10.0f} pairs/s  speed-up x{t_base / t_fast_w:.1f}")

    # Core only (steps given): distance matrices + alignment.
    steps_per = [s.steps for s in score_group(texts, refs, cfg)]

    def base_core():
        for st in steps_per:
            d = np.array([[1.0 - (lambda s: (s["rouge1"].fmeasure + s["rouge2"].fmeasure
                                              + s["rougeL"].fmeasure) / 3.0)(scorer.score(r, g))
                           for g in st] for r in refs])
            align_reference(d, mode=cfg.alignment, jump=cfg.jump)

    def fast_core():
        from mosseval.prr.dtw import align_batch

        allg = [g for st in steps_per for g in st]
        d = fast_rouge.rouge_distance_matrix(refs, allg)
        cuts = np.cumsum([0] + [len(st) for st in steps_per])
        align_batch([d[:, a:b] for a, b in zip(cuts[:-1], cuts[1:])], cfg.alignment, cfg.jump)

    tb, tf = timeit(base_core, repeats, cold), timeit(fast_core, repeats, cold)
    print(f"core only (distances + alignment, steps given): baseline {tb * 1e3:.2f} ms, "
          f"mosseval {tf * 1e3:.2f} ms, speed-up x{tb / tf:.1f}")

    # ---------------------------------------------------------------- scaling with N, M
    print("\nscaling, one completion (N reference x M generated steps), cold caches:")
    print(f"{'N x M':>8} {'baseline ms':>12} {'mosseval ms':>12} {'speed-up':>9} {'pairs/s':>11}")
    sizes = [(4, 6), (8, 12), (16, 16), (32, 32), (64, 64)]
    if args.quick:
        sizes = sizes[:4]
    for n, m in sizes:
        r2, t2 = make_group(random.Random(n * 1000 + m), n_ref=n, n_gen=m, g=1)
        cfg2 = PRRConfig(max_steps=max(64, m))
        b = baseline_group(t2, r2, cfg2, scorer)
        f = fast_group(t2, r2, cfg2)
        assert abs(b[0] - f[0]) <= 1e-9, (n, m, b, f)
        m_eff = len(score_group(t2, r2, cfg2)[0].steps)
        reps = max(1, repeats if n * m <= 1024 else repeats // 2)
        tb = timeit(lambda: baseline_group(t2, r2, cfg2, scorer), reps, cold)
        tf = timeit(lambda: fast_group(t2, r2, cfg2), reps, cold)
        print(f"{n:>3} x {m_eff:<3} {tb * 1e3:12.2f} {tf * 1e3:12.2f} {tb / tf:8.1f}x "
              f"{n * m_eff / tf:11.0f}")
    print(f"\nheadline: GRPO group speed-up x{t_base / t_fast:.1f} (cold), "
          f"x{t_base / t_fast_w:.1f} (warm stems); target >= 20x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
