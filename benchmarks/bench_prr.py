"""PRR speed against the strongest simple baseline, with identical values.

Implementations, all starting from the same completion texts and the same step splitter:

* ``mosseval``        – :func:`mosseval.prr.score.score_batch` / ``score_group`` (vectorised over every
                        step pair of every item, cold caches each repetition);
* ``tokenize-once``   – the strongest simple baseline: every distinct string tokenized once (with
                        mosseval's tokenizer, so both pay the same for stemming), then ROUGE-1/2/L F1 in plain Python
                        (Counter overlaps, O(nm) LCS) and a textbook O(N·M·J) DTW
                        (:func:`mosseval.prr.dtw.align_reference`);
* ``rouge-score``     – for reference: ``RougeScorer(["rouge1","rouge2","rougeL"], use_stemmer=True).score``
                        for every (reference, generated) pair, same textbook DTW.

Values are asserted equal (|Δ| ≤ 1e-9 against rouge-score; mosseval == tokenize-once to 1e-12) before any
timing. Scenarios: one GRPO group (8 completions × ~12 steps vs 8 reference steps), a scoring batch of
240 samples with their own references (5 × 5 steps: ``score`` of a moss-video-mini run), and the alignment
alone (64 × 64). Repetitions are interleaved (A B C A B C …); min and median are reported.

    python benchmarks/bench_prr.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import interleave, pin_threads, ratio_line  # noqa: E402

from mosseval.prr import rouge as fast_rouge  # noqa: E402
from mosseval.prr.dtw import align_batch, align_reference  # noqa: E402
from mosseval.prr.score import prr_from_normalized, reasoning_text, score_batch  # noqa: E402
from mosseval.prr.steps import split_steps  # noqa: E402
from mosseval.records import PRRConfig  # noqa: E402

COLORS = ["red", "blue", "green", "yellow", "purple", "orange", "white", "black"]
OBJECTS = ["ball", "cube", "cylinder", "cone", "box", "sphere", "block", "ring"]
PLACES = ["the left edge", "the center of the table", "the right corner", "the top shelf",
          "the bottom of the frame", "the red mat", "the doorway", "the window sill"]
VERBS = ["rolls", "moves", "slides", "jumps", "falls", "rotates", "bounces", "drifts"]
VARIANTS = {"rolls": "is rolling", "moves": "moved", "slides": "is sliding", "jumps": "jumped",
            "falls": "is falling", "rotates": "rotated", "bounces": "keeps bouncing", "drifts": "drifted"}
FILLER = ["Let me check the frames around {t} seconds again to verify the position.",
          "Wait, I need to reconsider whether the {c} {o} was already visible earlier.",
          "Looking more carefully, the lighting changes slightly but nothing else happens.",
          "Hmm, the camera seems to pan a little toward {p}."]


def ref_step(rng: random.Random, t: float) -> str:
    c, o, v, p, q = (rng.choice(COLORS), rng.choice(OBJECTS), rng.choice(VERBS), rng.choice(PLACES),
                     rng.choice(PLACES))
    return rng.choice([f"At {t:.1f} s the {c} {o} {v} from {p} toward {q}.",
                       f"Around {t:.1f} seconds, the {c} {o} {v} and ends up near {q}.",
                       f"The {c} {o} {v} across {p} while the camera stays still.",
                       f"By {t:.1f} s a {c} {o} appears next to {q} and stays there."])


def completion(rng: random.Random, refs: list[str], n_gen: int) -> str:
    steps: list[str] = []
    for k in range(len(refs)):
        if len(steps) >= n_gen:
            break
        if rng.random() < 0.85:
            words = [VARIANTS.get(w, w) if rng.random() < 0.5 else w for w in refs[k].split()]
            steps.append(" ".join(words))
        if len(steps) < n_gen and rng.random() < 0.45:
            steps.append(rng.choice(FILLER).format(t=rng.randint(1, 20), c=rng.choice(COLORS),
                                                   o=rng.choice(OBJECTS), p=rng.choice(PLACES)))
    while len(steps) < n_gen:
        steps.append(rng.choice(FILLER).format(t=rng.randint(1, 20), c=rng.choice(COLORS),
                                               o=rng.choice(OBJECTS), p=rng.choice(PLACES)))
    body = "\n".join(f"{i + 1}. {s}" for i, s in enumerate(steps))
    return f"<think>\n{body}\n</think>\n<answer>{rng.choice('ABCD')}</answer>"


# --------------------------------------------------------------------------- baselines


def _lcs(a: list[str], b: list[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def _f(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def _dist_tokens(r: list[str], g: list[str]) -> float:
    fs = []
    for n in (1, 2):
        cr = Counter(zip(*(r[i:] for i in range(n))))
        cg = Counter(zip(*(g[i:] for i in range(n))))
        inter = sum(min(c, cg[k]) for k, c in cr.items())
        fs.append(_f(inter / max(sum(cg.values()), 1), inter / max(sum(cr.values()), 1)))
    lcs = _lcs(r, g)
    fs.append(_f(lcs / len(g), lcs / len(r)) if r and g else 0.0)
    return 1.0 - (fs[0] + fs[1] + fs[2]) / 3.0


def tokenize_once(items: list[tuple[str, list[str]]], cfg: PRRConfig) -> list[float]:
    cache: dict[str, list[str]] = {}

    def tok(s: str) -> list[str]:
        t = cache.get(s)
        if t is None:
            t = cache[s] = list(fast_rouge.tokenize(s))
        return t

    out = []
    for text, refs in items:
        steps, _ = split_steps(reasoning_text(text, True), cfg.max_steps, cfg.min_tokens)
        d = np.array([[min(max(_dist_tokens(tok(r), tok(g)), 0.0), 1.0) for g in steps] for r in refs])
        out.append(prr_from_normalized(align_reference(d, cfg.alignment, cfg.jump).normalized_cost, cfg.alpha))
    return out


def rouge_score_loop(items: list[tuple[str, list[str]]], cfg: PRRConfig, scorer) -> list[float]:
    out = []
    for text, refs in items:
        steps, _ = split_steps(reasoning_text(text, True), cfg.max_steps, cfg.min_tokens)
        d = []
        for r in refs:
            row = []
            for g in steps:
                s = scorer.score(r, g)
                row.append(min(max(1.0 - (s["rouge1"].fmeasure + s["rouge2"].fmeasure + s["rougeL"].fmeasure) / 3.0,
                                   0.0), 1.0))
            d.append(row)
        out.append(prr_from_normalized(align_reference(np.array(d), cfg.alignment, cfg.jump).normalized_cost,
                                       cfg.alpha))
    return out


def ours(items: list[tuple[str, list[str]]], cfg: PRRConfig) -> list[float]:
    return [s.prr for s in score_batch(items, cfg)]  # type: ignore[misc]


def scenario(name: str, items, cfg, repeats: int, scorer, with_rouge_score: bool = True) -> None:
    a = ours(items, cfg)
    b = tokenize_once(items, cfg)
    diff = max(abs(x - y) for x, y in zip(a, b))
    assert diff <= 1e-12, f"{name}: mosseval and tokenize-once differ by {diff}"
    fns = {"mosseval": lambda: ours(items, cfg), "tokenize-once": lambda: tokenize_once(items, cfg)}
    if with_rouge_score:
        c = rouge_score_loop(items, cfg, scorer)
        diff = max(abs(x - y) for x, y in zip(a, c))
        assert diff <= 1e-9, f"{name}: mosseval and rouge-score differ by {diff}"
        fns["rouge-score"] = lambda: rouge_score_loop(items, cfg, scorer)
    times, _ = interleave(fns, repeats, setup=fast_rouge.clear_caches)
    pairs = sum(len(r) * len(split_steps(reasoning_text(t, True), cfg.max_steps, cfg.min_tokens)[0]) for t, r in items)
    print(f"{name}: {len(items)} completions, {pairs} step pairs; values equal (asserted)")
    ratio_line(f"prr_{name}_vs_tokenize_once", times["tokenize-once"], times["mosseval"],
               "speed-up of mosseval over tokenize-once pure Python, cold caches")
    if with_rouge_score:
        ratio_line(f"prr_{name}_vs_rouge_score", times["rouge-score"], times["mosseval"],
                   "speed-up of mosseval over the rouge-score loop, cold caches")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    pin_threads()
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    cfg = PRRConfig()
    rng = random.Random(1234)

    refs = [ref_step(rng, 2.0 * i) for i in range(8)]
    group = [(completion(rng, refs, 12), refs) for _ in range(8)]
    scenario("grpo_group", group, cfg, args.repeats, scorer)

    batch = []
    for _ in range(240):
        r = [ref_step(rng, 1.0 * i) for i in range(5)]
        batch.append((completion(rng, r, 5), r))
    scenario("score_240", batch, cfg, args.repeats, scorer)

    # The alignment alone (distances given): vectorised sweep vs the textbook DP.
    d = np.random.default_rng(0).random((64, 64))
    a, b = align_batch([d], cfg.alignment, cfg.jump)[0], align_reference(d, cfg.alignment, cfg.jump)
    assert a.path == b.path and a.cost == b.cost
    times, _ = interleave({"vec": lambda: align_batch([d], cfg.alignment, cfg.jump),
                           "ref": lambda: align_reference(d, cfg.alignment, cfg.jump)}, args.repeats)
    ratio_line("dtw_64x64_vs_textbook", times["ref"], times["vec"], "speed-up of the vectorised alignment alone")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
