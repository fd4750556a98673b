"""Leaderboard at scale: 50 runs x 5,000 samples (real run directories in a temp folder).

Times ``build_leaderboard`` and ``render_html`` and prints the page size. The baseline measured in
the same process is what any aggregation must pay: reading the same runs with a plain loop over
``mosseval.rundir.load_run`` (JSON parsing + pydantic validation of every record). build_leaderboard
pauses the cyclic GC while loading, which is why it can come in under that baseline.

    .venv/bin/python benchmarks/bench_leaderboard.py [--runs 50] [--samples 5000] [--samples-per-run 100]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

from mosseval.leaderboard import build_leaderboard, render_html, write_leaderboard_json
from mosseval.records import (
    FrameInfo,
    FrameSpec,
    Generation,
    PromptSpec,
    PRRConfig,
    PRRDetail,
    ReferenceStep,
    RunLog,
    RunSpec,
    Sample,
    SampleRecord,
    SampleScore,
    ScoringSpec,
    TaskRef,
    TaskSpec,
    VideoRef,
)
from mosseval.rundir import fingerprint, load_run, write_run_log
from mosseval.scoring import aggregate_group, aggregate_task

TASKS = [("moss-video-mini", True, 2000), ("mvb_action_sequence", False, 1000), ("mvb_moving_count", False, 1000),
         ("mmvu", False, 1000)]


def _spec(name: str, prr: bool) -> TaskSpec:
    return TaskSpec(name=name, version="1", loader="x", prompt=PromptSpec(template="{{ question }}"),
                    frames=FrameSpec(num_frames=8 if prr else 16), protocol="reasoning" if prr else "official",
                    scoring=ScoringSpec(require_format=prr, prr=PRRConfig() if prr else None,
                                        approximate=name == "mmvu"))


def make_runs(root: Path, n_runs: int, n_samples: int, seed: int = 0) -> list[Path]:
    rng = random.Random(seed)
    scale = n_samples / sum(n for _, _, n in TASKS)
    plan = [(t, prr, max(1, round(n * scale))) for t, prr, n in TASKS]
    specs = {t: _spec(t, prr) for t, prr, _ in plan}
    samples = {t: [Sample(id=f"{t}-{i}", task=t, video=VideoRef(path=f"v/{t}/{i // 4}.mp4"),
                          question=f"What happens after moment {i} in this clip?",
                          options={"A": "it moves left", "B": "it turns red", "C": "it disappears", "D": "nothing"},
                          answer="ABCD"[i % 4], category=["move", "color", "count", "appear"][i % 4],
                          level=["coarse", "fine"][i % 2],
                          reference_steps=[ReferenceStep(t=float(k), text=f"at {k} s the object {k} is visible")
                                           for k in range(4)] if prr else [])
                   for i in range(n)] for t, prr, n in plan}
    dirs = []
    for r in range(n_runs):
        skill = 0.25 + 0.7 * r / max(1, n_runs - 1)
        model = f"model-{r:02d}"
        refs = [TaskRef(name=t, version="1", fingerprint=specs[t].comparability_hash(),
                        group="mvb" if t.startswith("mvb_") else None) for t, _, _ in plan]
        identity = {"model": {"name": model, "backend": "hf", "params": 7_000_000_000, "run": r},
                    "eval": {"seed": 0}}
        log = RunLog(run_id=fingerprint(identity), identity=identity,
                     spec=RunSpec(model=model, backend="hf", model_identity=identity["model"], tasks=refs,
                                  mosseval_version="0.1.0"),
                     status="completed", created_at="2025-01-01T00:00:00Z", updated_at="2025-01-01T00:00:00Z",
                     task_specs=specs)
        path = root / model
        path.mkdir(parents=True)
        records: dict[str, list[SampleRecord]] = {}
        lines = []
        idx = 0
        for t, prr, _ in plan:
            recs = []
            for s in samples[t]:
                ok = rng.random() < skill
                ex = s.answer if ok else "ABCD"[("ABCD".index(s.answer) + 1) % 4]
                p = min(1.0, max(0.0, rng.gauss(skill, 0.15))) if prr else None
                gen = Generation(text=f"<think>at 0 s the object 0 is visible\nthen it moves</think><answer>{ex}</answer>",
                                 frames=FrameInfo(indices=list(range(0, 64, 8)), timestamps=[k / 2 for k in range(8)],
                                                  decoder="pyav"))
                score = SampleScore(extracted=ex, correct=ok, format_ok=True if prr else None,
                                    steps=["at 0 s the object 0 is visible", "then it moves"] if prr else [],
                                    prr=p, prr_status="scored" if prr else "disabled",
                                    prr_detail=PRRDetail(cost=0.4, normalized_cost=0.1, path=[(0, 0), (1, 1), (2, 1), (3, 1)],
                                                         step_distances=[0.0, 0.3, 0.5, 0.6]) if prr else None)
                rec = SampleRecord(key=f"{t}/{s.id}", task=t, index=idx, sample=s, generation=gen, score=score)
                idx += 1
                recs.append(rec)
                lines.append(rec.model_dump_json())
            records[t] = recs
            log.results[t] = aggregate_task(specs[t], recs)
        log.groups["mvb"] = aggregate_group("mvb", [specs[t] for t, _, _ in plan if t.startswith("mvb_")],
                                            [r for t in records for r in records[t]])
        log.n_expected = log.n_done = idx
        write_run_log(path, log)
        (path / "samples.jsonl").write_text("\n".join(lines) + "\n")
        dirs.append(path)
    return dirs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--samples-per-run", type=int, default=100)
    ap.add_argument("--keep", type=Path, default=None, help="write the page here instead of a temp folder")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mosseval-bench-lb-"))
    try:
        t0 = time.perf_counter()
        dirs = make_runs(root / "runs", args.runs, args.samples)
        t_make = time.perf_counter() - t0
        disk = sum(f.stat().st_size for d in dirs for f in d.iterdir())
        print(f"setup: {args.runs} runs x {args.samples} samples written in {t_make:.1f} s "
              f"({disk / 1e6:.0f} MB on disk)")

        t0 = time.perf_counter()
        for d in dirs:
            load_run(d)
        t_load = time.perf_counter() - t0

        t0 = time.perf_counter()
        board = build_leaderboard([str(root / "runs" / "*")], samples_per_run=args.samples_per_run)
        t_build = time.perf_counter() - t0

        out = (args.keep or root) / "leaderboard.html"
        t0 = time.perf_counter()
        write_leaderboard_json(board, out.with_suffix(".json"))
        t_json = time.perf_counter() - t0
        t0 = time.perf_counter()
        render_html(board, out, args.samples_per_run)
        t_render = time.perf_counter() - t0

        size = out.stat().st_size
        jsize = out.with_suffix(".json").stat().st_size
        print(f"baseline  load_run x {args.runs} (parse + validate every record): {t_load:6.2f} s")
        print(f"build_leaderboard (load + aggregate + tie tests):      {t_build:6.2f} s  "
              f"(ratio to the baseline: {t_build / t_load:.2f}x)")
        print(f"write leaderboard.json:                                {t_json:6.2f} s  ({jsize / 1e6:.1f} MB)")
        print(f"render_html:                                           {t_render:6.2f} s  ({size / 1e6:.1f} MB page, "
              f"{args.samples_per_run} samples/run, {len(board.samples.items)} distinct items)")
        print(f"total build + render:                                  {t_build + t_render:6.2f} s")
        print(json.dumps({"runs": args.runs, "samples": args.samples, "load_s": round(t_load, 3),
                          "build_s": round(t_build, 3), "render_s": round(t_render, 3), "page_bytes": size,
                          "json_bytes": jsize}))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
