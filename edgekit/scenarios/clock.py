"""The one clock a scenario runs on: ``perf_counter_ns`` for real runs, a virtual clock for
exact tests (a stand-in system under test advances it by its scripted service time)."""

from __future__ import annotations

import time


class RealClock:
    """Monotonic nanoseconds. ``sleep_until`` sleeps to about a millisecond before the
    deadline, then spins, so an arrival is seen on time rather than a scheduler tick late."""

    spin_ns = 1_000_000

    def now(self) -> int:
        return time.perf_counter_ns()

    def sleep_until(self, t_ns: int) -> None:
        while True:
            left = t_ns - time.perf_counter_ns()
            if left <= 0:
                return
            if left > self.spin_ns:
                time.sleep((left - self.spin_ns) / 1e9)


class VirtualClock:
    """Time that moves only when told: ``advance`` (a stand-in's service time) or
    ``sleep_until`` (the harness waiting for the next arrival). Nothing sleeps for real."""

    def __init__(self, start_ns: int = 0) -> None:
        self.t = start_ns

    def now(self) -> int:
        return self.t

    def sleep_until(self, t_ns: int) -> None:
        self.t = max(self.t, t_ns)

    def advance(self, dt_ns: int) -> None:
        if dt_ns < 0:
            raise ValueError("time does not run backwards")
        self.t += dt_ns
