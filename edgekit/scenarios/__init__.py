"""Real-time scenarios, as MLPerf LoadGen splits them: an arrival process (a camera's fixed
clock, seeded Poisson, back to back, all at once), a system under test (one frame end to
end), and the accounting (drops, deadline misses, arrival-to-result latency, validity, the
early-stopping bound, the timeline). :func:`run_scenario` is the entry point."""

from __future__ import annotations

from typing import Any

from .config import SCENARIOS, ScenarioConfig, check

__all__ = ["SCENARIOS", "ScenarioConfig", "check", "run_scenario"]


def run_scenario(target: Any, cfg: ScenarioConfig, bench: Any = None, **kw: Any
                 ) -> dict[str, Any]:
    """Run ``cfg``'s scenario on a bundle's backends (``bench``: a BenchConfig naming
    backends, threads...); see :func:`.run.run_scenario`."""
    from .run import run_scenario as run

    return run(target, cfg, bench, **kw)
