"""``num_threads: auto``: the trainer picks torch's CPU thread count as it runs, from the step times it measures.

On an idle 2-core machine two threads train the demo's model 1.9x faster than one; on a busy one they train it
several times slower (each thread waits for the other at every parallel region, and the other waits for a core).
No fixed count is right for both, so ``auto`` measures: it times a few steps at each candidate count (1, 2, 4, ...
up to the cores this process may use), keeps the fastest (another count must be at least 10 % faster to replace
the kept one), and measures the others again later, less often each time the same count wins (every 50, 100, 200,
400 steps), or at once when the kept count's steps become 1.5 times slower than when it was chosen.

This changes only the speed, never the trained weights: torch's CPU kernels at these shapes compute the same bits
at 1 and 2 threads (they split the output across threads, not the sums), which
``tests/train/test_threads.py`` checks end to end on the machine it runs on: the same training with the count
switching between steps and with one thread gives identical weights. Every step's count is in ``metrics.jsonl``
(``torch_threads``) and the steps per count in ``summary.json`` (``thread_steps``).
"""

from __future__ import annotations

import os
import statistics
from collections import Counter

__all__ = ["ThreadTuner", "usable_cores", "candidate_counts"]


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def candidate_counts(cores: int) -> list[int]:
    """1, 2, 4, ... up to ``cores``, and ``cores`` itself."""
    out, n = [], 1
    while n < cores:
        out.append(n)
        n *= 2
    out.append(max(1, cores))
    return out


class ThreadTuner:
    """Chooses the thread count of each step: ``count(step)`` before it, ``record(seconds)`` after it.

    Schedule: the first step runs at one thread and is not timed (lazy initialisation); then each candidate runs
    ``probe_steps`` steps and the one with the lowest median step time is kept. After ``interval`` steps at the
    kept count the others are timed again (``probe_steps`` each) against the kept count's last ``probe_steps``
    steps; when the same count wins the interval doubles (up to ``max_interval``), when another wins it restarts.
    A count whose step takes more than ``give_up`` times the kept count's median is dropped from that probe at once;
    another count replaces the kept one only when its median is below ``margin`` times the kept one's; and when the
    kept count's last ``probe_steps`` steps take over ``react`` times what they took when it was chosen (someone
    else started using the cores), the others are timed again at once.
    """

    def __init__(self, candidates: list[int], *, probe_steps: int = 3, interval: int = 50,
                 max_interval: int = 400, give_up: float = 2.0, margin: float = 0.9, react: float = 1.5) -> None:
        if not candidates or probe_steps < 1 or interval < 1:
            raise ValueError("ThreadTuner needs candidates, probe_steps >= 1 and interval >= 1")
        self.candidates = sorted(set(candidates))
        self.probe_steps, self.base_interval, self.max_interval = probe_steps, interval, max_interval
        self.give_up, self.margin, self.react = give_up, margin, react
        self.expected = float("inf")  # the kept count's median step time when it was chosen
        self.interval = interval
        self.current = self.candidates[0]
        self.times: dict[int, list[float]] = {c: [] for c in self.candidates}
        self.steps: Counter[int] = Counter()
        self._plan: list[int] = []  # counts still to probe, one entry per step
        self._warm = False
        self._since = 0  # steps at the kept count since the last probe
        self._running = self.current
        if len(self.candidates) > 1:
            self._plan = [c for c in self.candidates for _ in range(probe_steps)]

    def count(self) -> int:
        """The thread count for the next step."""
        if not self._warm or not self._plan:
            self._running = self.current
        else:
            self._running = self._plan[0]
        return self._running

    def record(self, seconds: float) -> None:
        """The time of the step just run at ``count()``'s count."""
        self.steps[self._running] += 1
        if not self._warm:
            self._warm = True
            return
        self.times[self._running] = (self.times[self._running] + [seconds])[-self.probe_steps:]
        if self._plan:
            self._plan.pop(0)
            kept = self.times[self.current]
            if self._running != self.current and kept and seconds > self.give_up * statistics.median(kept):
                # clearly slower (a busy machine): stop timing this count now rather than after probe_steps
                self._plan = [c for c in self._plan if c != self._running]
            if not self._plan:
                self._choose()
            return
        self._since += 1
        if len(self.candidates) < 2:
            return
        recent = self.times[self.current]
        slower = len(recent) >= self.probe_steps and statistics.median(recent) > self.react * self.expected
        if slower:  # the load changed under the kept count: time the others now
            self.interval = self.base_interval
        if slower or self._since >= self.interval:
            self._plan = [c for c in self.candidates if c != self.current for _ in range(self.probe_steps)]
            self._since = 0

    def _median(self, count: int) -> float:
        return statistics.median(self.times[count]) if self.times[count] else float("inf")

    def _choose(self) -> None:
        best = min(self.candidates, key=lambda c: (self._median(c), c))
        if best != self.current and self._median(best) > self.margin * self._median(self.current):
            best = self.current  # not clearly faster: keep the count we have
        if best == self.current:
            self.interval = min(self.max_interval, self.interval * 2)
        else:
            self.interval = self.base_interval
        self.current = best
        self.expected = self._median(best)

    def summary(self) -> dict[str, int]:
        """Steps run at each thread count, e.g. ``{"1": 12, "2": 1988}``."""
        return {str(c): self.steps[c] for c in sorted(self.steps)}
