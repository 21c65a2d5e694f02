"""What the dashboard reads: the engine writes here, the UI only takes snapshots. All bounded."""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from mer_live.stream.events import Event, Record


@dataclass(frozen=True)
class Marker:
    t_s: float
    frame: int
    note: str
    recording: str = ""  # the recording the marker was set in


class TimelinePoint(NamedTuple):
    frame: int
    t_s: float
    z: dict[int, float]  # view → z in the scoring region; the views' mean is the spotter's score
    state: str = "still"  # the face's state (stream.events.FACE_STATES)


@dataclass(frozen=True)
class Snapshot:
    status: dict
    preview: np.ndarray | None
    boxes: dict[str, tuple[int, int, int, int]]  # view → crop window (x, y, w, h) in the frame
    timeline: list[TimelinePoint]
    events: list[Event]  # without their pictures
    markers: list[Marker]
    hysteresis: tuple[float, float]


class LiveStore:
    def __init__(self, timeline_points: int = 3600, max_events: int = 2000, pictured_events: int = 50):
        self._lock = threading.Lock()
        self._status: dict = {}
        self._preview: np.ndarray | None = None
        self._boxes: dict[str, tuple[int, int, int, int]] = {}
        self._timeline: deque = deque(maxlen=timeline_points)
        self._events: deque[Event] = deque(maxlen=max_events)  # without their pictures
        self._pictured: OrderedDict[int, Event] = OrderedDict()  # the newest, whole
        self._pictured_events = pictured_events
        self._markers: list[Marker] = []
        self._hysteresis = (0.0, 0.0)

    # ---- written by the engine
    def set_status(self, status: dict) -> None:
        with self._lock:
            self._status = dict(status)

    def set_preview(self, image: np.ndarray, boxes: dict[str, tuple[int, int, int, int]]) -> None:
        with self._lock:
            self._preview = image
            self._boxes = dict(boxes)

    def add_point(self, frame: int, t_s: float, z: dict[int, float], state: str = "still") -> None:
        with self._lock:
            self._timeline.append(TimelinePoint(frame, t_s, dict(z), state))

    def set_hysteresis(self, k_high: float, k_low: float) -> None:
        with self._lock:
            self._hysteresis = (k_high, k_low)

    def write(self, event: Record) -> None:
        """Keep the event; its crops and flow maps only while it is among the last `pictured_events`.
        (A face state's stretch is on the timeline already, point by point.)"""
        if not isinstance(event, Event):
            return
        with self._lock:
            self._events.append(event.without_pictures())
            if event.has_pictures:
                self._pictured[event.event_id] = event
                while len(self._pictured) > self._pictured_events:
                    self._pictured.popitem(last=False)

    def close(self) -> None:
        pass

    def clear(self) -> None:
        with self._lock:
            self._timeline.clear()
            self._events.clear()
            self._pictured.clear()
            self._markers.clear()
            self._preview = None

    # ---- written by the UI
    def add_marker(self, note: str, recording: str = "") -> Marker:
        """A marker at the newest timeline point."""
        with self._lock:
            last = self._timeline[-1] if self._timeline else TimelinePoint(0, 0.0, {})
            marker = Marker(t_s=last.t_s, frame=last.frame, note=note, recording=recording)
            self._markers.append(marker)
            return marker

    # ---- read by the UI
    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(
                dict(self._status),
                self._preview,
                dict(self._boxes),
                list(self._timeline),
                list(self._events),
                list(self._markers),
                self._hysteresis,
            )

    def event(self, event_id: int) -> Event | None:
        """An event, with its pictures while it is among the last `pictured_events`."""
        with self._lock:
            if event_id in self._pictured:
                return self._pictured[event_id]
            return next((e for e in reversed(self._events) if e.event_id == event_id), None)
