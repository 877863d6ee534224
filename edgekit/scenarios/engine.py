"""The loop that offers frames to the system under test and keeps every timestamp.

One thread, one clock. A frame that arrives while the pipeline is busy waits in a bounded
queue (the camera driver's buffer); a frame arriving to a full queue pushes the oldest out
(dropped). Frames that arrived during a busy spell are admitted when it ends, in arrival
order, which gives the same queue as admitting them on arrival: nothing leaves the queue
while the pipeline is busy."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class Frame:
    index: int
    arrival: int  # ns from the start: the scheduled arrival, not when the harness saw it
    start: int | None = None
    end: int | None = None
    dropped_at: int | None = None  # the arrival that pushed it out of a full queue
    woke: int | None = None  # when an idle harness woke for it (the arrival clock's lateness)


@dataclass
class Run:
    frames: list[Frame]
    interrupted: bool = False
    closed_loop: bool = False


def drive(sut: Callable[[int], Any], clock: Any, *, arrivals: Iterator[int] | None,
          more: Callable[[int, int], bool], queue: int | None = 1, lazy: bool = False,
          on_frame: Callable[[int], None] | None = None) -> Run:
    """Offer frames while ``more(i, t)`` (i frames offered so far; t the next arrival, or
    for a schedule of all-at-once frames and a closed loop, the time now) and process them.
    ``arrivals``: the schedule (ns from the start); None is a closed loop, each frame
    arriving when the previous result is out. ``queue``: waiting frames held (None: no
    bound). ``lazy``: admit a frame only when none waits (all-at-once frames, offered as
    the pipeline takes them, the same queue without holding every frame). ``on_frame(t)``
    runs after each result (the timeline's sampler). Ctrl-C stops the run and keeps what
    it measured, marked interrupted."""
    t0 = clock.now()
    frames: list[Frame] = []
    waiting: deque[Frame] = deque()
    run = Run(frames, closed_loop=arrivals is None)
    now = 0

    def admit(f: Frame) -> None:
        frames.append(f)
        if queue is not None and len(waiting) >= queue:
            waiting.popleft().dropped_at = f.arrival
        waiting.append(f)

    try:
        nxt = _next(arrivals, 0, now)
        while True:
            now = clock.now() - t0
            while nxt is not None and nxt <= now and not (lazy and waiting):
                if not more(len(frames), nxt if nxt else now):
                    nxt = None
                    break
                admit(Frame(len(frames), nxt))
                nxt = _next(arrivals, len(frames), now)
            if waiting:
                f = waiting.popleft()
                f.start = clock.now() - t0
                sut(f.index)
                f.end = clock.now() - t0
                if on_frame is not None:
                    on_frame(f.end)
                if arrivals is None:
                    nxt = f.end
                continue
            if nxt is None or not more(len(frames), nxt if nxt else now):
                break
            clock.sleep_until(t0 + nxt)
            f = Frame(len(frames), nxt, woke=clock.now() - t0)
            admit(f)
            nxt = _next(arrivals, len(frames), now)
    except KeyboardInterrupt:
        run.interrupted = True
    return run


def _next(arrivals: Iterator[int] | None, i: int, now: int) -> int | None:
    """The next arrival: from the schedule; in a closed loop the first frame at 0 (later
    ones are set when the previous result is out)."""
    if arrivals is None:
        return 0 if i == 0 else None
    return next(arrivals)
