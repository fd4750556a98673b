"""``num_threads: auto``: the schedule of the thread tuner, and that switching counts between steps leaves the
trained weights bit-identical (what lets the trainer choose the count from timings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mosseval.errors import ConfigError
from mosseval.train.config import load_config
from mosseval.train.threads import ThreadTuner, candidate_counts, usable_cores


def _drive(tuner: ThreadTuner, seconds: dict[int, float], steps: int) -> list[int]:
    used = []
    for _ in range(steps):
        n = tuner.count()
        used.append(n)
        tuner.record(seconds[n])
    return used


def test_candidates_are_powers_of_two_up_to_the_cores():
    assert candidate_counts(1) == [1]
    assert candidate_counts(2) == [1, 2]
    assert candidate_counts(6) == [1, 2, 4, 6]
    assert candidate_counts(8) == [1, 2, 4, 8]
    assert usable_cores() >= 1


def test_an_idle_machine_gets_two_threads_and_the_probes_grow_rarer():
    t = ThreadTuner([1, 2], probe_steps=3, interval=10, max_interval=40)
    used = _drive(t, {1: 0.28, 2: 0.15}, 200)
    # warm-up at 1 (untimed), three steps at each count, then 2 threads
    assert used[:8] == [1, 1, 1, 1, 2, 2, 2, 2]
    ones = [i for i, n in enumerate(used) if n == 1 and i >= 8]
    # re-probes of 1 thread: after 10, then 20, then 40 steps at 2 threads (3 steps each)
    assert ones[:3] == [17, 18, 19] and ones[3:6] == [40, 41, 42] and ones[6:9] == [83, 84, 85]
    assert t.summary() == {"1": used.count(1), "2": used.count(2)} and used.count(2) > 170


def test_a_busy_machine_keeps_one_thread_and_drops_a_slow_probe_at_once():
    t = ThreadTuner([1, 2], probe_steps=3, interval=10, max_interval=40)
    used = _drive(t, {1: 0.28, 2: 1.5}, 100)
    assert used[:6] == [1, 1, 1, 1, 2, 1]  # the first 2-thread step is > 2x slower: no more of them in that probe
    # one 2-thread step in the first probe, then in re-probes after 20 and 40 steps at one thread (the interval
    # doubles each time one thread wins again)
    assert [i for i, n in enumerate(used) if n == 2] == [4, 25, 66]
    assert t.current == 1


def test_the_choice_follows_a_change_of_load():
    t = ThreadTuner([1, 2], probe_steps=2, interval=5, max_interval=5)
    speed = {1: 0.28, 2: 0.15}
    used = _drive(t, speed, 30)
    assert used[-1] == 2
    speed[2] = 0.5  # someone else starts using the second core
    used = _drive(t, speed, 30)
    assert t.current == 1 and used[15:].count(1) >= 2 * used[15:].count(2)  # 2-thread steps: the probes only


def test_a_load_change_under_the_kept_count_is_noticed_at_once():
    t = ThreadTuner([1, 2], probe_steps=3, interval=50, max_interval=400)
    speed = {1: 0.28, 2: 0.15}
    assert _drive(t, speed, 20)[-1] == 2
    speed.update({1: 0.35, 2: 0.9})  # another process takes a core: two threads now wait for each other
    used = _drive(t, speed, 10)
    # two slow steps make the last three's median 1.5x what two threads took when chosen; the probe of one thread
    # follows at once (not after the 50-step interval), and one thread is kept
    assert used == [2, 2, 1, 1, 1, 1, 1, 1, 1, 1] and t.current == 1


def test_a_count_must_be_clearly_faster_to_replace_the_kept_one():
    t = ThreadTuner([1, 2], probe_steps=3, interval=10)
    used = _drive(t, {1: 0.28, 2: 0.27}, 40)  # 4 % faster: within the noise of a shared machine
    assert t.current == 1 and used[7:].count(2) <= 6  # only probes


def test_one_core_means_one_thread_without_probes():
    t = ThreadTuner(candidate_counts(1))
    assert _drive(t, {1: 0.2}, 50) == [1] * 50 and t.summary() == {"1": 50}


def test_num_threads_accepts_a_count_or_auto_and_refuses_anything_else():
    base = {"model": "tiny-qwen2.5-vl"}
    assert load_config(None, {**base, "num_threads": "auto"}).num_threads == "auto"
    assert load_config(None, {**base, "num_threads": "3"}).num_threads == 3
    for bad in ("0", "two", 1.5, True):
        with pytest.raises(ConfigError, match=r"key `num_threads` \(--num-threads\): .* give a whole number >= 1, "
                                              r"or auto"):
            load_config(None, {**base, "num_threads": bad})


@pytest.mark.hf
@pytest.mark.skipif(usable_cores() < 2, reason="needs two cores to switch between 1 and 2 threads")
def test_switching_thread_counts_between_steps_leaves_the_weights_identical(tmp_path: Path):
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    import torch
    from safetensors.torch import load_file

    from mosseval.train import train

    base = dict(method="sft", model="tiny-qwen2.5-vl", data="moss-video-mini:train", per_device_batch_size=4,
                frames=4, max_completion_length=120, quiet=True, save_every=0, lr=3e-3, warmup_ratio=0.0,
                lr_scheduler="constant", steps=8, freeze_vision=True, cache_dir=str(tmp_path / "cache"))
    before = torch.get_num_threads()
    try:
        one = train(load_config(None, {**base, "num_threads": 1, "output_dir": str(tmp_path / "one")}))
        auto = train(load_config(None, {**base, "num_threads": "auto", "output_dir": str(tmp_path / "auto")}))
    finally:
        torch.set_num_threads(before)
    # auto ran steps at both counts (the first probe times every count), and says so
    used = [json.loads(line)["torch_threads"] for line in (tmp_path / "auto" / "metrics.jsonl").open()]
    assert 1 in used and 2 in used
    summary = json.loads((tmp_path / "auto" / "summary.json").read_text())
    assert summary["torch_threads"] == "auto" and sum(summary["thread_steps"].values()) == 8
    assert summary["thread_steps"] == {str(n): used.count(n) for n in sorted(set(used))}
    a = load_file(one.last_checkpoint / "model.safetensors")
    b = load_file(auto.last_checkpoint / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    losses = [[json.loads(line)["loss"] for line in (tmp_path / d / "metrics.jsonl").open()] for d in ("one", "auto")]
    assert losses[0] == losses[1] and losses[0][-1] < losses[0][0]
