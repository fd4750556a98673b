"""``mosseval repro mini``: the MOSS-ChatV claim in miniature, end to end, with one command.

The paper's central claim is that GRPO with the process reasoning reward (PRR) gives more
consistent reasoning than GRPO without it, at equal or better accuracy. On moss-video-mini:

1. **data** -- ``mosseval data synth --train-size N`` (the test split never changes with N; no test
   item or video is ever in the train split, and every training run re-checks it);
2. **cold start** -- ``mosseval train --method sft`` on the reference traces (recipe
   ``repro-coldstart``), then from its checkpoint the same SFT with the answer's tokens weighted up
   (recipe ``repro-coldstart-answer``: the traces read the frames before the answer follows them),
   stopped early so the PRR has headroom;
3. **two GRPO arms** from that one checkpoint with identical budgets, rewards accuracy + format vs
   accuracy + format + PRR, for every seed (recipe ``repro-grpo``);
4. **evaluation** -- ``mosseval run`` of every model on the moss-video-mini test split and, for
   the trained models, on the blind (frames blanked) and shuffled (frames out of order) controls;
5. **one leaderboard** (``mosseval leaderboard``), **paired verdicts** between the arms per seed
   (``mosseval compare`` on accuracy and PRR, margin 2 points), a pooled paired bootstrap over
   seeds, and ``REPORT.md``: the table with CIs, PRR on correct vs wrong answers, the controls, the
   option-bias probe of the generator, wall times and the machine it ran on.

Every step is a subprocess of the real command line (logged with its wall time in
``commands.log``); up to ``jobs`` run at once, each with one torch thread, except the cold start, which runs
alone and lets the trainer choose its threads by timing (``num_threads: auto``). Re-running the same
command resumes: finished training runs and evaluations are reused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mosseval.errors import MossevalError, OutputError, UsageError

__all__ = ["ReproOptions", "ReproResult", "run_repro"]

TASK = "moss-video-mini"
CONTROLS = ("moss-video-mini-blind", "moss-video-mini-shuffled")
EVAL_ARGS = "num_threads=1,batch_size=8"
"""Model arguments of every evaluation of a trained model: one torch thread; eight questions per
generate call (greedy; the same texts as one at a time, measured on 24 items, at less than half the
CPU time)."""


@dataclass
class ReproOptions:
    out: Path
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    jobs: int = 2
    """Processes at once (each with one torch thread)."""
    train_size: int | None = None
    coldstart_steps: int | None = None
    """Steps of the cold start's first stage (traces)."""
    answer_steps: int | None = None
    """Steps of the cold start's second stage (answer weighted)."""
    grpo_steps: int | None = None
    limit: int | None = None
    """Evaluate on the first N test items only (smoke runs; the table says so)."""
    cache_dir: Path | None = None
    quiet: bool = False
    all_controls: bool = False
    """Evaluate the blind/shuffled controls for every seed's arms (default: the cold start and the
    first seed's arms only; the controls are two thirds of the evaluation time)."""


@dataclass
class Job:
    name: str
    args: list[str]
    done: Path
    """A file whose existence means the job finished (reused on a re-run)."""
    threads: int = 1
    ok_codes: tuple[int, ...] = (0,)
    seconds: float = 0.0
    returncode: int | None = None
    reused: bool = False


@dataclass
class ReproResult:
    out: Path
    report: Path
    data: dict[str, Any]
    seconds: float


class Repro:
    def __init__(self, opts: ReproOptions, console: Any):
        from mosseval.train.recipes import RECIPES

        self.opts = opts
        self.console = console
        self.out = Path(opts.out).resolve()
        self.cold = dict(RECIPES["repro-coldstart"])
        self.answer = dict(RECIPES["repro-coldstart-answer"])
        self.grpo = dict(RECIPES["repro-grpo"])
        if opts.train_size is not None:
            self.cold["train_size"] = self.answer["train_size"] = self.grpo["train_size"] = opts.train_size
        if opts.coldstart_steps is not None:
            self.cold["steps"] = opts.coldstart_steps
        if opts.answer_steps is not None:
            self.answer["steps"] = opts.answer_steps
        if opts.grpo_steps is not None:
            self.grpo["steps"] = opts.grpo_steps
        self.jobs: list[Job] = []
        self.log_path = self.out / "commands.log"

    # -- running commands ----------------------------------------------------------------------

    def _env(self, threads: int) -> dict[str, str]:
        env = dict(os.environ)
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="false")
        if self.opts.cache_dir is not None:
            env["MOSSEVAL_CACHE_DIR"] = str(self.opts.cache_dir)
        return env

    def run(self, job: Job) -> Job:
        if job.done.exists():
            job.reused = True
            job.seconds = self._logged_seconds(job)
            self._log(f"reused  {job.name}: {job.done}")
            return job
        cmd = [sys.executable, "-m", "mosseval", *job.args]
        self.say(f"[bold]$ mosseval {' '.join(job.args)}[/]")
        started = time.perf_counter()
        log_file = self.out / "logs" / f"{job.name}.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(log_file, "w", encoding="utf-8") as fh:
            proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=self._env(job.threads),
                                  cwd=str(self.out))
        job.seconds = time.perf_counter() - started
        job.returncode = proc.returncode
        self._log(f"{job.seconds:8.1f} s  exit {proc.returncode}  mosseval {' '.join(job.args)}")
        if proc.returncode not in job.ok_codes:
            tail = log_file.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
            raise step_error(proc.returncode, f"step {job.name!r} failed with exit code {proc.returncode}: "
                             f"{' | '.join(tail)}",
                             hint=f"full log: {log_file}; fix it and re-run the same command to resume")
        self.say(f"  done in {job.seconds:.0f} s: {job.name}")
        return job

    def run_all(self, jobs: list[Job], parallel: int) -> list[Job]:
        if parallel <= 1 or len(jobs) <= 1:
            return [self.run(j) for j in jobs]
        with ThreadPoolExecutor(parallel) as pool:
            return list(pool.map(self.run, jobs))

    def _logged_seconds(self, job: Job) -> float:
        """A reused job's wall time when it ran: its last successful line in ``commands.log``
        (``--resume`` aside, the same command), else 0."""
        want = " ".join(a for a in job.args if a != "--resume")
        seconds = 0.0
        try:
            lines = self.log_path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return seconds
        for line in lines:
            head, sep, cmd = line.partition("  mosseval ")
            parts = head.split()
            if sep and len(parts) >= 5 and parts[2] == "s" and parts[4] in {str(c) for c in job.ok_codes} \
                    and " ".join(a for a in cmd.split(" ") if a != "--resume") == want:
                seconds = float(parts[1])
        return seconds

    def _started(self, load: str) -> dict[str, Any]:
        """When this reproduction first started (``started.json``, kept across resumed invocations)."""
        from mosseval.clock import utc_now
        from mosseval.fileio import write_json_atomic

        path = self.out / "started.json"
        got = _read_json(path)
        if isinstance(got, dict) and "utc" in got and "epoch_s" in got:
            return got
        got = {"schema_version": 1, "utc": utc_now(), "epoch_s": time.time(), "load_average": load}
        write_json_atomic(path, got)
        return got

    def _log(self, line: str) -> None:
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(time.strftime("%H:%M:%S ") + line + "\n")

    def say(self, text: str) -> None:
        if not self.opts.quiet and self.console is not None:
            self.console.print(text, highlight=False)

    # -- the pipeline ---------------------------------------------------------------------------

    def train_args(self, recipe: dict[str, Any], out: Path, **over: Any) -> list[str]:
        import yaml

        cfg = {**recipe, **over, "output_dir": str(out)}
        if self.opts.cache_dir is not None:
            cfg["cache_dir"] = str(self.opts.cache_dir)
        path = self.out / "configs" / f"{out.name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
        resume = ["--resume"] if (out / "train_config.yaml").exists() else []
        return ["train", "--config", str(path), *resume]

    def eval_job(self, name: str, model: str, tasks: list[str], args: str | None = None) -> Job:
        run_dir = self.out / "runs" / name
        argv = ["run", "--model", model, "--tasks", ",".join(tasks), "--output-dir", str(self.out / "runs"),
                "--run-name", name, "-q", "--workers", "0"]
        if args:
            argv += ["--model-args", args]
        if self.opts.limit:
            argv += ["--limit", str(self.opts.limit)]
        return Job(f"eval-{name}", argv, run_dir / ".repro-done", ok_codes=(0, 3))

    def execute(self) -> ReproResult:
        started = time.perf_counter()
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"cannot create {self.out}: {e.strerror or e}") from None
        load_start = _loadavg()
        first = self._started(load_start)
        sampler = LoadSampler(self.out / "logs" / "load.tsv")
        sampler.start()
        try:
            return self._execute(started, load_start, first)
        finally:
            sampler.stop()

    def _execute(self, started: float, load_start: str, first: dict[str, Any]) -> ReproResult:
        seeds = self.opts.seeds
        self._log(f"start: seeds {seeds}, {self.opts.jobs} job(s) at once, cpus {os.cpu_count()}, "
                  f"load average {load_start}")

        # 1. data
        size = int(self.cold.get("train_size") or 420)
        data = self.run(Job("data", ["data", "synth", "--train-size", str(size)]
                            + (["--cache-dir", str(self.opts.cache_dir)] if self.opts.cache_dir else []),
                            self.out / "logs" / ".data-never-reused"))
        # 2. cold start, alone: its recipes choose their torch threads by timing (num_threads auto; on a shared
        #    machine two threads were 3.5x slower per step than one, 11 s vs 3 s at load 9 on 2 cores, on an idle
        #    one 1.9x faster), which never changes the weights
        traces_dir = self.out / "train" / "coldstart-traces"
        traces = self.run(Job("coldstart-traces", self.train_args(self.cold, traces_dir), traces_dir / "summary.json"))
        cold_dir = self.out / "train" / "coldstart"
        cold = self.run(Job("coldstart", self.train_args(self.answer, cold_dir, model=str(_last_checkpoint(traces_dir))),
                            cold_dir / "summary.json"))
        cold_ckpt = _last_checkpoint(cold_dir)
        # 3. GRPO arms
        from mosseval.train.recipes import ARMS

        arm_dirs: dict[tuple[str, int], Path] = {}
        jobs = []
        for seed in seeds:
            for arm, rewards in ARMS.items():
                d = self.out / "train" / f"grpo-{_slug(arm)}-s{seed}"
                arm_dirs[(arm, seed)] = d
                jobs.append(Job(f"grpo-{_slug(arm)}-s{seed}",
                                self.train_args(self.grpo, d, model=str(cold_ckpt), rewards=rewards, seed=seed),
                                d / "summary.json"))
        arm_jobs = self.run_all(jobs, self.opts.jobs)
        # 4. evaluations
        evals = [self.eval_job("random", "random", [TASK]), self.eval_job("oracle", "oracle", [TASK]),
                 self.eval_job("coldstart", str(cold_ckpt), [TASK], EVAL_ARGS),
                 self.eval_job("coldstart-controls", str(cold_ckpt), list(CONTROLS), EVAL_ARGS)]
        for (arm, seed), d in arm_dirs.items():
            name = f"grpo-{_slug(arm)}-s{seed}"
            evals.append(self.eval_job(name, str(_last_checkpoint(d)), [TASK], EVAL_ARGS))
            if self.opts.all_controls or seed == seeds[0]:
                evals.append(self.eval_job(f"{name}-controls", str(_last_checkpoint(d)), list(CONTROLS), EVAL_ARGS))
        eval_jobs = self.run_all(evals, self.opts.jobs)
        for j in eval_jobs:
            j.done.parent.mkdir(parents=True, exist_ok=True)
            j.done.touch()
        # 5. leaderboard and paired verdicts
        board = self.out / "leaderboard.html"
        self.run(Job("leaderboard", ["leaderboard", str(self.out / "runs" / "*"), "-o", str(board), "-q",
                                     "--title", "MOSS-ChatV in miniature (moss-video-mini)"],
                     self.out / "logs" / ".leaderboard-never-reused"))
        summary_md = self.out / "compare" / "summary.md"
        summary_md.parent.mkdir(parents=True, exist_ok=True)
        summary_md.write_text("", encoding="utf-8")
        verdicts = {}
        for seed in seeds:
            base = self.out / "runs" / f"grpo-{_slug('acc+fmt')}-s{seed}"
            cand = self.out / "runs" / f"grpo-{_slug('acc+fmt+prr')}-s{seed}"
            vj = self.out / "compare" / f"s{seed}.json"
            job = self.run(Job(f"compare-s{seed}", ["compare", str(base), str(cand), "--metric", "accuracy,prr",
                                                   "--margin", "2", "--json", str(vj), "--summary", str(summary_md)],
                               self.out / "logs" / f".compare-{seed}-never-reused", ok_codes=(0, 1)))
            verdicts[seed] = {"exit_code": job.returncode, "verdict": _read_json(vj)}
        # 6. the report
        seconds = time.perf_counter() - started
        data_out = self.collect([traces_dir, cold_dir], arm_dirs, verdicts, [data, traces, cold, *arm_jobs, *eval_jobs], seconds,
                                load_start)
        data_out["first_start"] = first
        # up to the last training or evaluation that finished (a later invocation that only reuses them
        # and rewrites the report does not count)
        finished = max((p.stat().st_mtime for p in [*self.out.glob("train/*/summary.json"),
                                                    *self.out.glob("runs/*/run.json")]), default=time.time())
        data_out["elapsed_since_first_start_s"] = round(finished - float(first["epoch_s"]), 1)
        data_out["machine"]["load_1min_samples"] = LoadSampler.summary(self.out / "logs" / "load.tsv",
                                                                        until=finished + LoadSampler.EVERY)
        (self.out / "repro.json").write_text(json.dumps(data_out, indent=2, default=str) + "\n", encoding="utf-8")
        report = self.out / "REPORT.md"
        report.write_text(render_report(data_out, summary_md.read_text(encoding="utf-8")), encoding="utf-8")
        return ReproResult(self.out, report, data_out, seconds)

    # -- results ----------------------------------------------------------------------------------

    def collect(self, cold_dirs: list[Path], arm_dirs: dict[tuple[str, int], Path], verdicts: dict[int, Any],
                jobs: list[Job], seconds: float, load_start: str) -> dict[str, Any]:
        from mosseval.data import synth
        from mosseval.paths import cache_dir

        runs = self.out / "runs"
        rows: list[dict[str, Any]] = []

        def row(label: str, name: str, arm: str | None, seed: int | None, train_dirs: list[Path]) -> None:
            r = _run_row(runs / name, TASK)
            ctl = runs / f"{name}-controls"
            if ctl.is_dir():
                for task in CONTROLS:
                    c = _run_row(ctl, task)
                    key = task.rsplit("-", 1)[-1]
                    r[f"{key}_accuracy"] = c.get("accuracy")
                    r[f"{key}_prr"] = c.get("prr")
                    r[f"{key}_unparsed"] = c.get("unparsed")
                    r[f"{key}_states"] = c.get("states")
            r.update(label=label, run=name, arm=arm, seed=seed)
            if train_dirs:
                r["train"] = _train_row(*train_dirs)
            rows.append(r)

        row("random (chance)", "random", None, None, [])
        row("oracle (ceiling)", "oracle", None, None, [])
        row("cold start (SFT)", "coldstart", None, None, cold_dirs)
        for (arm, seed), d in sorted(arm_dirs.items(), key=lambda x: (x[0][0], x[0][1])):
            row(f"GRPO {arm} (seed {seed})", f"grpo-{_slug(arm)}-s{seed}", arm, seed, [d])
        pooled = _pooled(runs, self.opts.seeds)
        root = cache_dir(self.opts.cache_dir) / "data" / synth.dataset_dirname(0, synth.DEFAULT_N_TEST,
                                                                               int(self.cold.get("train_size") or 420))
        probe = synth.option_bias_probe(root) if root.is_dir() else None
        return {
            "schema_version": 1,
            "seeds": self.opts.seeds,
            "limit": self.opts.limit,
            "control_seeds": self.opts.seeds if self.opts.all_controls else self.opts.seeds[:1],
            "recipes": {"coldstart": self.cold, "coldstart-answer": self.answer, "grpo": self.grpo},
            "rows": rows,
            "arm_means": _arm_means(rows),
            "verdicts": verdicts,
            "pooled": pooled,
            "option_bias_probe": probe,
            "wall_time_s": round(seconds, 1),
            "jobs": [{"name": j.name, "seconds": round(j.seconds, 1), "reused": j.reused, "exit": j.returncode}
                     for j in jobs],
            "machine": {"cpus": os.cpu_count(), "jobs_at_once": self.opts.jobs, "torch_threads_per_job": 1,
                        "coldstart_torch_threads": self.cold.get("num_threads"),
                        "load_average_start": load_start, "load_average_end": _loadavg(),
                        "gpu": _gpu_name()},
        }


class LoadSampler:
    """Appends the 1-minute load average to a TSV file every ``every`` seconds (kept across resumed
    invocations), so the report can say how busy the machine was during the whole reproduction."""

    EVERY = 30.0

    def __init__(self, path: Path, every: float = EVERY):
        import threading

        self.path, self.every = path, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="repro-load", daemon=True)

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()

    def _sample(self) -> None:
        try:
            load = os.getloadavg()[0]
        except OSError:
            return
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(f"{time.time():.0f}\t{load:.2f}\n")

    def _loop(self) -> None:
        while True:
            self._sample()
            if self._stop.wait(self.every):
                return

    @staticmethod
    def summary(path: Path, until: float | None = None) -> dict[str, Any] | None:
        """Mean, min and max of the samples (those taken up to ``until``, a Unix time, if given)."""
        try:
            rows = [x.split("\t") for x in path.read_text(encoding="utf-8").splitlines() if "\t" in x]
            loads = [float(b) for a, b in rows if until is None or float(a) <= until]
        except (OSError, ValueError, IndexError):
            return None
        if not loads:
            return None
        return {"n": len(loads), "mean": round(sum(loads) / len(loads), 2), "min": min(loads), "max": max(loads)}


def step_error(code: int, message: str, hint: str) -> MossevalError:
    """The error a failed step raises: its own exit code's class (usage, output, missing dependency,
    data not found), else an internal error."""
    from mosseval.errors import DataNotFoundError, InternalError, MissingDependencyError

    cls = {2: UsageError, 4: OutputError, 5: MissingDependencyError, 6: DataNotFoundError}.get(code, InternalError)
    return cls(message, hint=hint)


def run_repro(opts: ReproOptions, console: Any) -> ReproResult:
    if not opts.seeds:
        raise UsageError("no seeds", hint="e.g. --seeds 0,1,2")
    if opts.jobs < 1:
        raise UsageError(f"--jobs {opts.jobs} must be >= 1")
    return Repro(opts, console).execute()


# --------------------------------------------------------------------------- helpers


def _slug(arm: str) -> str:
    return arm.replace("+", "-")


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _gpu_name() -> str | None:
    try:
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:  # noqa: BLE001 - informational only
        return None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _last_checkpoint(train_dir: Path) -> Path:
    from mosseval.train.checkpointing import last_checkpoint

    ckpt = last_checkpoint(train_dir)
    if ckpt is None:
        from mosseval.errors import InternalError

        raise InternalError(f"{train_dir} holds no checkpoint", hint="see its log under logs/")
    return ckpt


def _estimate(e: Any) -> dict[str, Any] | None:
    if e is None or e.value is None:
        return None
    return {"value": e.value, "ci_low": e.ci_low, "ci_high": e.ci_high, "n": e.n}


def _run_row(run_dir: Path, task: str) -> dict[str, Any]:
    """Headline numbers of ``task`` in a run, plus PRR split by answer correctness."""
    from mosseval.rundir import iter_records, read_run_log

    if not (run_dir / "run.json").is_file():
        return {}
    log = read_run_log(run_dir)
    res = log.results.get(task)
    if res is None:
        return {}
    prr_ok, prr_bad = [], []
    stated = observed = 0
    for rec in iter_records(run_dir / "samples.jsonl"):
        if rec.task != task:
            continue
        hit, n = states_stated(rec.generation.text, [s.text for s in rec.sample.reference_steps])
        stated, observed = stated + hit, observed + n
        if rec.score is None or rec.score.prr is None:
            continue
        (prr_ok if rec.score.correct else prr_bad).append(rec.score.prr)
    mean = lambda xs: sum(xs) / len(xs) if xs else None  # noqa: E731
    return {"n": res.n, "accuracy": _estimate(res.accuracy), "prr": _estimate(res.prr),
            "format": res.format_rate, "unparsed": res.parse_failure_rate,
            "prr_correct": mean(prr_ok), "prr_wrong": mean(prr_bad), "n_correct": len(prr_ok), "n_wrong": len(prr_bad),
            "states": stated / observed if observed else None}


def states_stated(text: str | None, reference: list[str]) -> tuple[int, int]:
    """How many of a moss-video-mini item's observed keyframe states (every reference step but the
    last, which predicts the next state) the trace writes exactly, on the line of the same position;
    and how many there are. Perception, apart from the answer: a model that reads the frames
    states them far more often than its blind control."""
    from mosseval.prr.format import think_text

    observed = reference[:-1]
    lines = [line.strip() for line in (think_text(text) or "").splitlines() if line.strip()]
    return sum(1 for i, step in enumerate(observed) if i < len(lines) and lines[i] == step.strip()), len(observed)


def _train_row(*train_dirs: Path) -> dict[str, Any]:
    """Training figures of one model, over its stages (the cold start has two): steps, wall time and
    completions summed, the curves' first values from the first stage and last values from the last."""
    keep = ("loss", "answer_nll", "reward", "reward/accuracy", "reward/format", "reward/prr", "accuracy", "prr",
            "prr_correct", "prr_incorrect", "completion_length")
    steps: list[int] = []
    walls: list[float] = []
    medians: list[float] = []
    completions = 0
    first: dict[str, Any] = {}
    last: dict[str, Any] = {}
    for d in train_dirs:
        summary = _read_json(d / "summary.json") or {}
        metrics = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines() if x.strip()] \
            if (d / "metrics.jsonl").is_file() else []
        if summary.get("steps") is not None:
            steps.append(int(summary["steps"]))
        if summary.get("wall_time_s") is not None:
            walls.append(float(summary["wall_time_s"]))
        if summary.get("step_time_median_s") is not None:
            medians.append(float(summary["step_time_median_s"]))
        completions += sum(int(m.get("completions", 0)) for m in metrics)
        if metrics:
            first = first or metrics[0]
            last = metrics[-1]
    return {"steps": sum(steps) if steps else None, "stage_steps": steps,
            "wall_time_s": sum(walls) if walls else None,
            "step_time_median_s": medians[-1] if medians else None, "completions": completions,
            "first": {k: first.get(k) for k in keep if k in first}, "last": {k: last.get(k) for k in keep if k in last},
            "reports": [f"train/{d.name}/report.html" for d in train_dirs]}  # relative to the reproduction's folder


def _arm_means(rows: list[dict[str, Any]]) -> dict[str, Any]:
    import statistics

    out: dict[str, Any] = {}
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r.get("arm"):
            by[r["arm"]].append(r)
    for arm, rs in by.items():
        stats: dict[str, Any] = {"seeds": len(rs)}
        for key in ("accuracy", "prr"):
            vals = [r[key]["value"] for r in rs if r.get(key)]
            if vals:
                stats[key] = {"mean": statistics.fmean(vals), "sd": statistics.stdev(vals) if len(vals) > 1 else None}
        for key in ("format", "unparsed", "prr_correct", "prr_wrong"):
            vals = [r[key] for r in rs if r.get(key) is not None]
            stats[key] = statistics.fmean(vals) if vals else None
        for key in ("blind_accuracy", "shuffled_accuracy", "blind_prr", "shuffled_prr"):
            vals = [r[key]["value"] for r in rs if r.get(key)]
            stats[key] = statistics.fmean(vals) if vals else None
        out[arm] = stats
    return out


def _pooled(runs: Path, seeds: list[int]) -> dict[str, Any]:
    """Paired differences PRR-arm minus no-PRR-arm per test item, averaged over seeds, with a cluster
    bootstrap over videos (items of one video move together)."""
    from mosseval.rundir import iter_records
    from mosseval.stats import paired_cluster_bootstrap

    per: dict[str, dict[str, list[float]]] = {"accuracy": defaultdict(list), "prr": defaultdict(list)}
    videos: dict[str, str] = {}
    for seed in seeds:
        a = {r.key: r for r in iter_records(runs / f"grpo-{_slug('acc+fmt')}-s{seed}" / "samples.jsonl")
             if r.task == TASK and r.score is not None}
        b = {r.key: r for r in iter_records(runs / f"grpo-{_slug('acc+fmt+prr')}-s{seed}" / "samples.jsonl")
             if r.task == TASK and r.score is not None}
        for key in sorted(set(a) & set(b)):
            videos[key] = a[key].sample.video.path if a[key].sample.video else key
            per["accuracy"][key].append(float(b[key].score.correct) - float(a[key].score.correct))
            pa, pb = a[key].score.prr, b[key].score.prr
            if pa is not None and pb is not None:
                per["prr"][key].append(pb - pa)
    out: dict[str, Any] = {}
    for metric, by_item in per.items():
        keys = sorted(k for k, v in by_item.items() if len(v) == len(seeds))
        if not keys:
            continue
        diffs = [sum(by_item[k]) / len(seeds) for k in keys]
        ci = paired_cluster_bootstrap(diffs, [videos[k] for k in keys], n_boot=4000, seed=0)
        out[metric] = {"diff": ci.estimate, "ci_low": ci.ci_low, "ci_high": ci.ci_high, "items": len(keys),
                       "videos": ci.n_clusters, "method": ci.method}
    return out


# --------------------------------------------------------------------------- Markdown


BROKEN_CONTROL = 0.25
"""A blind control with more unparsed answers than this cannot say whether the model reads the video."""


def learning_caveats(rows: list[dict[str, Any]]) -> list[str]:
    """Plain statements about whether each trained model learned more than chance: its accuracy CI
    against the random baseline's, and against its own blind (frames blanked) control. A line that
    starts with ``**`` is a failure."""
    from mosseval.units import pct

    random = next((r for r in rows if r.get("run") == "random"), {})
    r_acc = random.get("accuracy") or {}
    out = []
    for r in rows:
        acc = r.get("accuracy")
        if r.get("train") is None or not acc or acc.get("ci_low") is None:
            continue
        above = r_acc.get("ci_high") is not None and acc["ci_low"] > r_acc["ci_high"]
        line = (f"{r['label']}: accuracy {pct(acc['value'])} % [{pct(acc['ci_low'])}, {pct(acc['ci_high'])}] vs "
                f"random {pct(r_acc.get('value'))} % [{pct(r_acc.get('ci_low'))}, {pct(r_acc.get('ci_high'))}]: "
                + ("above chance" if above else "**not** clearly above chance"))
        blind = r.get("blind_accuracy")
        if blind and blind.get("ci_high") is not None:
            sees = acc["ci_low"] > blind["ci_high"]
            broken = (r.get("blind_unparsed") or 0.0) > BROKEN_CONTROL
            line += f"; blind control {pct(blind['value'])} % [{pct(blind['ci_low'])}, {pct(blind['ci_high'])}]: "
            if sees and broken:
                # blanked frames throw the model off its format: a lower score says it needs frames to
                # write an answer at all, not that it reads the answer from them
                line += (f"lower, but {pct(r['blind_unparsed'])} % of the blind answers do not parse: blanking the "
                         "frames breaks the output, which does not show that the answers come from the video")
            else:
                line += "the video helps" if sees else "**not** clearly above its blind control"
        if r.get("states") is not None and r.get("blind_states") is not None:
            line += (f"; its trace states {pct(r['states'])} % of the observed keyframes exactly "
                     f"({pct(r['blind_states'])} % with blank frames"
                     + (f", {pct(r['shuffled_states'])} % shuffled" if r.get("shuffled_states") is not None else "")
                     + ("): it reads the frames" if reads_frames(r) else "): no sign that it reads the frames"))
        out.append(("" if above else "**not learned** ") + line)
    return out


READS_FRAMES = 0.10
"""Observed keyframe states written exactly: at least this many points above the blank-frames
control say the trace comes from the frames."""


def reads_frames(row: dict[str, Any]) -> bool:
    """The row's trace states the observed keyframes clearly more often than with blank frames."""
    s, b = row.get("states"), row.get("blind_states")
    return s is not None and b is not None and s - b >= READS_FRAMES


def _p(v: float | None) -> str:
    from mosseval.units import pct

    return pct(v)


def _pci(e: dict[str, Any] | None) -> str:
    from mosseval.units import pct

    if not e:
        return "–"
    if e.get("ci_low") is None:
        return pct(e["value"])
    return f"{pct(e['value'])} [{pct(e['ci_low'])}, {pct(e['ci_high'])}]"


def _states(r: dict[str, Any]) -> str:
    if r.get("states") is None:
        return "–"
    ctl = [r.get("blind_states"), r.get("shuffled_states")]
    return _p(r["states"]) + (f" ({' / '.join(_p(c) if c is not None else '–' for c in ctl)})"
                              if any(c is not None for c in ctl) else "")


def render_report(d: dict[str, Any], compare_md: str) -> str:
    from mosseval.units import fixed, pct, pts

    lines = ["# MOSS-ChatV in miniature: GRPO with and without the PRR on moss-video-mini", ""]
    m = d["machine"]
    total = d.get("elapsed_since_first_start_s") or d["wall_time_s"]
    resumed = total - d["wall_time_s"] > 60
    first = d.get("first_start") or {}
    samples = m.get("load_1min_samples")
    lines += [f"Seeds {', '.join(map(str, d['seeds']))}; wall time **{total / 60:.1f} min** on "
              f"{m['cpus']} CPU core(s)"
              + (f" (from the first start at {first.get('utc')} to the last training or evaluation that finished; "
                 f"the invocation that wrote this report took {d['wall_time_s'] / 60:.1f} min)" if resumed else "")
              + f"; {m['jobs_at_once']} job(s) at once, {m['torch_threads_per_job']} torch "
              f"thread each"
              + (" (the cold start, alone: threads chosen by timing)" if m.get("coldstart_torch_threads") == "auto"
                 else "")
              + f"; GPU: {m['gpu'] or 'none'}. Load average at the first start "
              f"{first.get('load_average', m['load_average_start'])}, when the report was written {m['load_average_end']}"
              + (f"; 1-minute load sampled every 30 s: mean {samples['mean']:.1f}, min {samples['min']:.1f}, max "
                 f"{samples['max']:.1f} ({samples['n']} samples)" if samples else "")
              + ". A load above the core count means the machine was shared and the times are inflated.", ""]
    if d.get("limit"):
        lines += [f"**Smoke run: only the first {d['limit']} test items were evaluated.**", ""]
    lines += ["Rates in % (0-100) with 95 % CIs; PRR on its 0-100 scale. *blind*: every frame blanked; "
              "*shuffled*: frames out of order (controls on the same test items"
              + (f"; evaluated for the cold start and the seed {', '.join(map(str, d['control_seeds']))} arms only"
                 if d.get("control_seeds") is not None and len(d["control_seeds"]) < len(d["seeds"]) else "")
              + "). *states*: the observed keyframe states (every reference step but the last, the prediction) "
              "that the trace writes exactly, on the line of the same position: whether the model reads the "
              "frames, apart from its answer.", "",
              "| model | acc % | PRR | format % | unparsed % | PRR ✓ / ✗ | blind acc % | shuffled acc % | "
              "states % (blind / shuffled) | train steps | train time |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in d["rows"]:
        t = r.get("train") or {}
        lines.append("| " + " | ".join([
            r["label"], _pci(r.get("accuracy")), _pci(r.get("prr")), _p(r.get("format")), _p(r.get("unparsed")),
            f"{_p(r.get('prr_correct'))} / {_p(r.get('prr_wrong'))}", _pci(r.get("blind_accuracy")),
            _pci(r.get("shuffled_accuracy")), _states(r), " + ".join(map(str, t["stage_steps"])) if len(t.get("stage_steps") or []) > 1
            else str(t.get("steps") or "–"),
            f"{t['wall_time_s']:.0f} s" if t.get("wall_time_s") else "–"]) + " |")
    lines += ["", "Means over seeds (± sd across seeds):", "", "| arm | acc % | PRR | PRR ✓ / ✗ | blind acc % |",
              "|---|---|---|---|---|"]
    def ms(s: dict[str, Any], key: str) -> str:
        v = s.get(key)
        if not v:
            return "–"
        return pct(v["mean"]) + (f" ± {fixed(100 * v['sd'])}" if v.get("sd") is not None else "")

    for arm, s in d["arm_means"].items():
        lines.append(f"| {arm} | {ms(s, 'accuracy')} | {ms(s, 'prr')} | {_p(s.get('prr_correct'))} / "
                     f"{_p(s.get('prr_wrong'))} | {_p(s.get('blind_accuracy'))} |")
    pooled = d.get("pooled") or {}
    caveats = learning_caveats(d["rows"])
    if caveats:
        lines += ["", "## Did the models learn the task?", ""] + [f"- {c}" for c in caveats]
    lines += ["", "## Does the PRR arm beat the no-PRR arm?", ""]
    for metric in ("prr", "accuracy"):
        p = pooled.get(metric)
        if p:
            lines.append(f"- pooled over seeds, {metric}: {pts(p['diff'])} [{pts(p['ci_low'])}, {pts(p['ci_high'])}] "
                         f"(PRR arm minus no-PRR arm; {p['items']} items, {p['videos']} videos, {p['method']})")
    prr, acc = pooled.get("prr"), pooled.get("accuracy")
    if prr and acc and prr.get("ci_low") is not None and acc.get("ci_low") is not None:
        better = prr["ci_low"] > 0
        noninf = acc["ci_low"] >= -0.02
        if better and noninf:
            verdict = "**yes**: the PRR arm's PRR is higher (the CI excludes 0) at non-inferior accuracy (margin 2 pts)."
        elif better:
            verdict = ("**partly**: the PRR is higher (CI excludes 0), but accuracy is not shown non-inferior "
                       "within 2 pts.")
        elif prr["ci_high"] < 0:
            verdict = ("**no**: the PRR arm's PRR is *lower* (the CI lies below 0); the claim is not reproduced "
                       "here.")
        else:
            verdict = "**no**: the PRR difference's CI does not exclude 0; the claim is not reproduced here."
        if any(c.startswith("**") for c in caveats):
            seeing = [r for r in d["rows"] if r.get("train") is not None and reads_frames(r)]
            verdict += (" But the trained models' accuracy is not clearly above chance (see above), so this compares "
                        "the reasoning of models that have not learned to answer the task, not the paper's claim"
                        + (" (their traces do read the frames: " + ", ".join(
                            f"{r['label']} states {pct(r['states'])} % of the observed keyframes, "
                            f"{pct(r['blind_states'])} % blind" for r in seeing) + ")" if seeing else "") + ".")
        lines += ["", "Verdict: " + verdict]
    cold = next((r for r in d["rows"] if r.get("run") == "coldstart"), {})
    for metric, name in (("prr", "PRR"), ("accuracy", "Accuracy")):
        start = (cold.get(metric) or {}).get("value")
        moves = [f"{arm} {pts(s[metric]['mean'] - start)}" for arm, s in d["arm_means"].items()
                 if s.get(metric) and start is not None]
        if moves:
            lines += ["", f"{name} after GRPO relative to the cold start ({pct(start)}), mean over seeds: "
                      + ", ".join(moves) + "."]
    lines += ["", "Per-seed `mosseval compare` verdicts (baseline: no-PRR arm; candidate: PRR arm):", ""]
    for seed, v in d["verdicts"].items():
        lines.append(f"- seed {seed}: exit code {v['exit_code']} (0: non-inferior on every gated metric; 1: a "
                     "regression beyond the margin)")
    if compare_md.strip():
        lines += ["", "<details><summary>compare summaries</summary>", "", compare_md.strip(), "", "</details>"]
    probe = d.get("option_bias_probe")
    if probe:
        lines += ["", "## Can the options alone give the answer away?", "",
                  "Answer-blind rules that read only the question's options, on the test split (chance 25 %):", ""]
        for name, v in probe["rules"].items():
            lines.append(f"- {name}: {pct(v)} %")
        lines.append(f"\n{probe['n']} test items; the blind control above measures the same thing for the models.")
    lines += ["", "## Training curves", ""]
    for r in d["rows"]:
        t = r.get("train")
        if t:
            first, last = t.get("first", {}), t.get("last", {})
            keys = [k for k in ("loss", "answer_nll", "reward", "reward/prr", "prr", "accuracy") if k in last]
            change = ", ".join(f"{k} {first.get(k, float('nan')):.3f} → {last[k]:.3f}" for k in keys
                               if isinstance(last.get(k), (int, float)) and isinstance(first.get(k), (int, float)))
            links = ", ".join(f"[{Path(p).parent.name}]({p})" for p in t["reports"])
            lines.append(f"- {r['label']}: {change} (reports: {links})")
    lines += ["", "## Steps", "", "| step | seconds | reused |", "|---|---|---|"]
    for j in d["jobs"]:
        lines.append(f"| {j['name']} | {j['seconds']:.0f} | {'yes' if j['reused'] else ''} |")
    return "\n".join(lines) + "\n"
