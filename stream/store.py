"""What the dashboard reads: the engine writes here, the UI only takes snapshots. All bounded."""
from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field

import numpy as np

from stream.events import EventRecord


@dataclass(frozen=True)
class EventDetail:
    """Pictures behind an event card: apex crops per view and the flow channels per view × phase."""

    apex_crops: dict[str, np.ndarray]             # view → (S, S) uint8
    flow_maps: dict[str, np.ndarray]              # "left/onset_apex" → (3, S, S) float16 in [-1, 1]
    se_gate_mean: float | None = None
    attention_block1: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Marker:
    t_s: float
    frame: int
    note: str
    source: str = ""          # the recording the marker was set in


@dataclass(frozen=True)
class Snapshot:
    status: dict
    preview: np.ndarray | None
    boxes: dict[str, tuple[int, int, int, int]]                # view → crop window (x, y, w, h) in the frame
    timeline: list[tuple[int, float, dict[int, float]]]    # (frame, t_s, {view: z}); the views' mean is the spotter's score
    events: list[EventRecord]
    markers: list[Marker]
    thresholds: tuple[float, float]


class LiveStore:
    def __init__(self, timeline_points: int = 3600, max_events: int = 2000, detail_events: int = 50):
        self._lock = threading.Lock()
        self._status: dict = {}
        self._preview: np.ndarray | None = None
        self._boxes: dict[str, tuple[int, int, int, int]] = {}
        self._timeline: deque = deque(maxlen=timeline_points)
        self._events: deque[EventRecord] = deque(maxlen=max_events)
        self._details: OrderedDict[int, EventDetail] = OrderedDict()
        self._detail_events = detail_events
        self._markers: list[Marker] = []
        self._thresholds = (0.0, 0.0)

    # ---- written by the engine
    def set_status(self, status: dict) -> None:
        with self._lock:
            self._status = dict(status)

    def set_preview(self, image: np.ndarray, boxes: dict[str, tuple[int, int, int, int]]) -> None:
        with self._lock:
            self._preview = image
            self._boxes = dict(boxes)

    def add_point(self, frame: int, t_s: float, z: dict[int, float]) -> None:
        with self._lock:
            self._timeline.append((frame, t_s, dict(z)))

    def set_thresholds(self, k_high: float, k_low: float) -> None:
        with self._lock:
            self._thresholds = (k_high, k_low)

    def write(self, record: EventRecord, detail: EventDetail | None = None) -> None:
        with self._lock:
            self._events.append(record)
            if detail is not None:
                self._details[record.event_id] = detail
                while len(self._details) > self._detail_events:
                    self._details.popitem(last=False)

    def close(self) -> None:
        pass

    def clear(self) -> None:
        with self._lock:
            self._timeline.clear()
            self._events.clear()
            self._details.clear()
            self._markers.clear()
            self._preview = None

    # ---- written by the UI
    def add_marker(self, note: str, source: str = "") -> Marker:
        """A marker at the newest timeline point."""
        with self._lock:
            last = self._timeline[-1] if self._timeline else (0, 0.0, {})
            marker = Marker(t_s=last[1], frame=last[0], note=note, source=source)
            self._markers.append(marker)
            return marker

    # ---- read by the UI
    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(dict(self._status), self._preview, dict(self._boxes), list(self._timeline), list(self._events),
                            list(self._markers), self._thresholds)

    def event(self, event_id: int) -> tuple[EventRecord, EventDetail | None] | None:
        """An event's record and, while it is among the last `detail_events`, its detail."""
        with self._lock:
            record = next((e for e in reversed(self._events) if e.event_id == event_id), None)
            return None if record is None else (record, self._details.get(event_id))
