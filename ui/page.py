"""What the dashboard measures of its own page: the refresh timer's ticks (their jitter) and how
long after an event's offset frame entered the engine the event reached the page."""

from __future__ import annotations

import statistics
import time
from collections import deque

import numpy as np

PAGE_GONE_S = 5.0  # no refresh for this long: the page was closed (or not yet open)


class PageTiming:
    def __init__(self) -> None:
        self.tick_walls: deque[float] = deque(maxlen=400)
        self.page_since: float | None = None  # first tick of the page's current run of refreshes
        self.shown: set[tuple[str, int]] = set()  # (source, event_id) already on the page
        self.event_delays_s: deque[float] = deque(maxlen=200)  # offset frame entered → event on the page

    def clear_run(self) -> None:
        """A new run: its events are new to the page."""
        self.shown.clear()
        self.event_delays_s.clear()

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if not self.tick_walls or now - self.tick_walls[-1] > PAGE_GONE_S:
            self.page_since = now
        self.tick_walls.append(now)

    def shown_events(self, events, source, now: float | None = None) -> None:
        """Called when the page receives the event table: the first time an event is shown, its delay
        from the moment its offset frame entered the engine is recorded, for events whose offset came
        while the page was refreshing (a page opened later would measure its own arrival)."""
        now = time.monotonic() if now is None else now
        for event in events:
            key = (event.recording, event.event_id)
            if key in self.shown:
                continue
            self.shown.add(key)
            wall = source.wall_of(event.recording, event.offset_frame) if source is not None else None
            if wall is not None and self.page_since is not None and wall >= self.page_since:
                self.event_delays_s.append(now - wall)

    def timing(self) -> dict:
        """Timer jitter (interval between ticks the page asked for) and event-to-page delays."""
        walls = list(self.tick_walls)
        intervals = np.diff(walls)[-200:] if len(walls) > 2 else np.array([])
        delays = list(self.event_delays_s)
        out: dict = {"ticks": len(walls)}
        if intervals.size:
            out["tick_interval_s"] = {
                "mean": round(float(intervals.mean()), 3),
                "sd": round(float(intervals.std()), 3),
                "p95": round(float(np.percentile(intervals, 95)), 3),
                "max": round(float(intervals.max()), 3),
            }
        if delays:
            out["event_to_page_s"] = {
                "n": len(delays),
                "median": round(statistics.median(delays), 3),
                "max": round(max(delays), 3),
            }
        return out
