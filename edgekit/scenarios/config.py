"""A scenario's parameters and the checks on them, made before any model is loaded."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import UsageError

SCENARIOS = ("single-stream", "stream", "server", "offline")
OPEN_LOOP = ("stream", "server")
#: CI-friendly minimums; MLPerf's own are 600 s (and per-benchmark query counts)
MIN_DURATION_S = 10.0
MIN_QUERIES = 256


@dataclass
class ScenarioConfig:
    name: str = "single-stream"
    fps: float | None = None  # stream: the arrival rate
    qps: float | None = None  # server: the mean Poisson rate
    queue: int | None = None  # waiting frames held; None: 1 for stream and server
    deadline_ms: float | None = None  # None: one period (stream, server)
    max_drop_pct: float = 0.0
    find_max_fps: bool = False
    min_duration_s: float = MIN_DURATION_S
    min_queries: int = MIN_QUERIES
    duration_s: float | None = None  # the run's exact length; None: until both minimums
    iters: int | None = None  # single-stream, offline: exactly this many frames
    seed: int = 0
    percentile: float = 99.0
    budget_ms: float | None = None  # gate the percentile's early-stopping bound on it
    warmup: int = 10
    search_tolerance_pct: float = 1.0

    @property
    def rate(self) -> float | None:
        return self.fps if self.name == "stream" else self.qps if self.name == "server" \
            else None

    @property
    def queue_size(self) -> int | None:
        if self.name in OPEN_LOOP:
            return self.queue if self.queue is not None else 1
        return None  # single-stream never queues; offline holds everything

    def period_ns(self, rate: float | None = None) -> int | None:
        r = rate if rate is not None else self.rate
        return round(1e9 / r) if r else None

    def deadline_ns(self, rate: float | None = None) -> int | None:
        if self.deadline_ms is not None:
            return round(self.deadline_ms * 1e6)
        return self.period_ns(rate) if self.name in OPEN_LOOP else None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["queue"] = self.queue_size
        return d


def check(cfg: ScenarioConfig) -> None:
    """Refuse (UsageError, exit 2) what cannot run, in one line."""
    if cfg.name not in SCENARIOS:
        raise UsageError(f"--scenario {cfg.name}: choose {', '.join(SCENARIOS)}")
    for flag, v in (("--fps", cfg.fps), ("--qps", cfg.qps)):
        if v is not None and not v > 0:
            raise UsageError(f"{flag} {v:g}: a rate must be above 0")
    if cfg.find_max_fps and cfg.name != "stream":
        raise UsageError(f"--find-max-fps searches a stream's rate; --scenario {cfg.name} has "
                         "none (use --scenario stream)")
    if cfg.name == "stream" and cfg.fps is None and not cfg.find_max_fps:
        raise UsageError("--scenario stream needs its arrival rate: --fps F (or "
                         "--find-max-fps)")
    if cfg.name == "server" and cfg.qps is None:
        raise UsageError("--scenario server needs its arrival rate: --qps Q")
    if cfg.qps is not None and cfg.name != "server":
        raise UsageError(f"--qps is the server scenario's rate, not {cfg.name}'s")
    if cfg.queue is not None and cfg.queue < 1:
        raise UsageError(f"--queue {cfg.queue}: hold at least 1 waiting frame")
    if cfg.queue is not None and cfg.name not in OPEN_LOOP:
        raise UsageError(f"--queue applies to stream and server, not {cfg.name}")
    if cfg.deadline_ms is not None and not cfg.deadline_ms > 0:
        raise UsageError(f"--deadline-ms {cfg.deadline_ms:g}: must be above 0")
    if not 0 <= cfg.max_drop_pct <= 100:
        raise UsageError(f"--max-drop-pct {cfg.max_drop_pct:g}: a percentage, 0 to 100")
    if cfg.min_duration_s < 0:
        raise UsageError(f"--min-duration {cfg.min_duration_s:g}: cannot be below 0")
    if cfg.min_queries < 1:
        raise UsageError(f"--min-queries {cfg.min_queries}: at least 1")
    if not 0 < cfg.percentile < 100:
        raise UsageError(f"--percentile {cfg.percentile:g}: between 0 and 100")
    if cfg.budget_ms is not None and not cfg.budget_ms > 0:
        raise UsageError(f"--budget-ms {cfg.budget_ms:g}: must be above 0")
