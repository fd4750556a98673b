"""SIGKILL `mosseval train` at random points, resume, and end byte-identical to an uninterrupted run
(issue 12's kill loop for training; slow: about ten process starts)."""

from __future__ import annotations

import json
import random
import signal
import time
from pathlib import Path

import pytest

from tests.support.cli import mosseval_cli, mosseval_popen

pytestmark = [pytest.mark.hf, pytest.mark.slow]

pytest.importorskip("transformers")
pytest.importorskip("accelerate")

STEPS = 6
KILLS = 10


def _args(out: Path, *extra: str) -> list[str]:
    return ["train", "--model", "tiny-qwen2.5-vl", "--data", "moss-video-mini:train", "-b", "1", "-G", "4",
            "--frames", "4", "--max-completion-length", "12", "--steps", str(STEPS), "--save-every", "1",
            "--lr", "1e-3", "--num-threads", "1", "--log-completions", "2", "-o", str(out), "-q", *extra]


def _results(out: Path) -> dict:
    from mosseval.train.trainer import TIMING_KEYS

    final = out / f"checkpoint-{STEPS}"
    state = json.loads((final / "mosseval_train_state.json").read_text())
    # where the run was written and whether it was resumed differ by construction; the rest must not
    state["config"] = {k: v for k, v in state["config"].items() if k not in ("output_dir", "resume")}
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    return {
        "weights": (final / "model.safetensors").read_bytes(),
        "metrics": [{k: v for k, v in m.items() if k not in TIMING_KEYS} for m in metrics],
        "completions": (out / "completions.jsonl").read_text(),
        "state": {k: v for k, v in state.items() if k not in ("saved_at", "metrics", "param_digests")},
    }


def _stage(out: Path) -> int:
    """The last complete checkpoint's step (0: none yet)."""
    return max((int(c.name.split("-")[1]) for c in out.glob("checkpoint-*")), default=0)


def test_sigkill_at_random_points_then_resume_is_byte_identical(tmp_path):
    ref = tmp_path / "reference"
    proc = mosseval_cli(*_args(ref))
    assert proc.returncode == 0, proc.stderr
    expected = _results(ref)

    rng = random.Random(12)
    kills: list[tuple[float, int]] = []  # (seconds after start, last complete checkpoint when killed)
    runs = 0
    while len(kills) < KILLS:
        out = tmp_path / f"killed-{runs}"
        runs += 1
        first = True
        while True:  # kill this run at random points until it completes, then check it
            started = time.monotonic()
            p = mosseval_popen(*_args(out, *([] if first else ["--resume"])))
            first = False
            # kill after a random number of further checkpoints (0: during start-up or the first step)
            # plus a random jitter: driven by progress, not wall time, so the kills land at different
            # stages on a fast machine as on a loaded one
            target = _stage(out) + rng.randint(0, 3)
            jitter = rng.uniform(0.5, 6.0) if target == _stage(out) else rng.uniform(0.0, 0.5)
            deadline = started + 300
            while p.poll() is None and _stage(out) < target and time.monotonic() < deadline:
                time.sleep(0.01)
            if p.poll() is None:
                time.sleep(jitter)
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.communicate()
                kills.append((round(time.monotonic() - started, 2), _stage(out)))
                continue
            _, err = p.communicate()
            assert p.returncode == 0, err
            break
        got = _results(out)
        assert got["weights"] == expected["weights"], f"run {out.name} (kills so far: {kills})"
        assert got["metrics"] == expected["metrics"]
        assert got["completions"] == expected["completions"]
        assert got["state"] == expected["state"]
        assert not list(out.glob(".checkpoint-*.partial"))
    # the kills landed at different stages: before the first checkpoint and between later ones
    stages = {c for _, c in kills}
    assert len(kills) >= KILLS and len(stages) >= 3, kills
