"""The per-frame pipeline, single-threaded: split the views, keep each view's crop window, fill the
crop ring, measure each view's face motion against its lag reference and run the spotter; a
finished event leaves with its recording, times, apex and crops filled in, and each stretch of one
face state as a FaceStateSpan (stream.events). The Engine (stream/engine.py) runs it between its
threads; calibration and the tests run it alone.

A picture that repeats the one before it (webcams and web videos often hold a frame for two or
three frame times) is stored but not measured: there is no new motion in it, and measuring it
would give the spotter a flow of zero that looks like a perfectly still face."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from mer_live.stream.events import Event, FaceStateSpan, Record, view_name
from mer_live.stream.face import FaceDetector, gray_crop
from mer_live.stream.features import PreprocessConfig
from mer_live.stream.flow import repeats
from mer_live.stream.frames import Frame
from mer_live.stream.intensity import FaceIntensity, FaceMotion
from mer_live.stream.ring import CropRing
from mer_live.stream.settings import Switch, config_class
from mer_live.stream.spotter import Baseline, Channel, Spotter, SpotterConfig
from mer_live.stream.store import LiveStore
from mer_live.stream.telemetry import EngineStats, SwallowedErrors
from mer_live.stream.tracking import CropTracker, TrackingConfig, Window
from mer_live.stream.views import split_views

log = logging.getLogger(__name__)

ViewFinder = Callable[[np.ndarray], tuple[int, int | None]]  # frame → (views, split_x)


@config_class
class EngineConfig:
    views: Literal[1, 2] | None = Field(2, description="views side by side in a frame (1: a mono webcam; null: detect)")
    split_x: int | None = Field(None, ge=1, description="the seam between views (px); null = the middle")
    realtime: Switch = Field(
        False, description="deliver recorded frames at their own pace (else: as fast as the pipeline takes them)"
    )
    ring_s: float = Field(6.0, gt=0, description="seconds of crops kept; must exceed max_event_s + the lag")
    queue_frames: int = Field(32, ge=1, description="reader → processing queue bound (frames)")
    events_queue: int = Field(64, ge=1, description="processing → classifier queue bound (events)")
    decision_threshold: float = Field(
        0.2, gt=0, lt=1, description="a class is reported above this probability (paper: 0.2)"
    )
    preview_every: int = Field(3, ge=1, description="frames between dashboard previews")
    capture_nice: int = Field(
        5, ge=0, le=19, description="OS priority drop of the capture threads (Linux), see lowered_thread_priority"
    )
    spotter: SpotterConfig = Field(default_factory=SpotterConfig, description="the spotter's k_high, k_low and times")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="crop windows over time")
    features: PreprocessConfig = Field(
        default_factory=PreprocessConfig, description="crop size, margin, flows, intensity"
    )

    @model_validator(mode="after")
    def _ring_holds_an_event(self) -> EngineConfig:
        needed = self.spotter.max_event_s + self.features.intensity.lag_s
        if self.ring_s <= needed:
            raise ValueError(
                f"ring_s ({self.ring_s}) must exceed spotter.max_event_s + features.intensity.lag_s "
                f"({needed}); a longer event needs a longer ring (ring_s in a --config file)"
            )
        return self


class FramePipeline:
    """Per-frame state of the processing loop: crop trackers, crop ring, eye masks and the spotter.

    Single-threaded and usable on its own (calibration, tests); the Engine adds the threads.
    """

    def __init__(
        self,
        config: EngineConfig,
        detector_factory: Callable[[], FaceDetector],
        baselines: dict[Channel, Baseline] | None = None,
        stats: EngineStats | None = None,
        store: LiveStore | None = None,
        on_tick: Callable[[], None] = lambda: None,
        find_views: ViewFinder | None = None,
        fps_of: Callable[[str], float] | None = None,
    ):
        """`fps_of` names each recording's own frame rate where a source mixes rates (a
        dataset of 25 and 30 fps videos); the spotter's time constants follow it."""
        if config.views is None and find_views is None:
            raise ValueError("views=None (detect) needs a find_views function")
        self.config = config
        self.detector_factory = detector_factory
        self.find_views = find_views
        self.stats = stats or EngineStats()
        self.errors = SwallowedErrors(log)
        self.store = store
        self.on_tick = on_tick
        self.fps_of = fps_of
        self.trackers: list[CropTracker] = []
        self.ring: CropRing | None = None
        if config.views is not None:
            self._setup_views(config.views, config.split_x)
        self.baselines = baselines
        self.spotter = self._new_spotter(config.spotter)
        self.measures: dict[int, tuple[int, FaceIntensity]] = {}  # view → (window serial, its measure)
        self._new: dict[int, deque] = {}  # view → its recent new pictures (frame, t_s, window)
        self._tracks: dict[int, tuple] = {}  # view → (reference, window, {frame: FaceMotion}) of the open event
        self._span: list | None = None  # the face state so far: [state, first, last, t0, t1]
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mer-view")
        self.recording: str | None = None
        self.shape: tuple[int, ...] | None = None
        self.last_frame, self.last_t = 0, 0.0
        self.measured = False  # whether the last frame was measured (not a repeat, a reference found)
        self.motions: dict[int, FaceMotion] = {}  # the last frame's motion per measured view
        self._fps_clock = (time.perf_counter(), 0)
        if store is not None:
            store.set_hysteresis(config.spotter.k_high, config.spotter.k_low)

    def _new_spotter(self, options: SpotterConfig) -> Spotter:
        intensity = self.config.features.intensity
        return Spotter(options, self.baselines, intensity.columns, len(intensity.band_edges) - 1, self.stats.suppressed)

    def set_hysteresis(self, options: SpotterConfig) -> None:
        """Spotter options with new k_high / k_low; the spotter keeps its baselines and state."""
        self.config = replace(self.config, spotter=options)
        self.spotter.options = replace(options, fps=self.spotter.options.fps)  # the recording's own rate stays
        if self.store is not None:
            self.store.set_hysteresis(options.k_high, options.k_low)

    def _setup_views(self, views: int, split_x: int | None) -> None:
        self.config = replace(self.config, views=views, split_x=split_x)
        # one detector per view: the views are measured in parallel threads
        cropped = self.config.features.cropped  # pre-cropped faces: no detector is ever asked
        self.trackers = [
            CropTracker(
                None if cropped else self.detector_factory(), self.config.tracking, self.config.features.margin, cropped
            )
            for _ in range(views)
        ]
        capacity = max(2, int(self.config.ring_s * self.config.spotter.fps))
        features = self.config.features
        self.ring = CropRing(capacity, views, features.size, features.intensity.size)

    def process(self, frame: Frame) -> list[Record]:
        """Take one frame; returns the events and face-state stretches that ended with it (events
        ready for the classifier)."""
        if self.ring is None:
            self._setup_views(*self.find_views(frame.image))
        finished = []
        if frame.recording != self.recording:  # a new recording: close what is open, start fresh
            finished += self.close()
            self.recording = frame.recording
            self.stats.recordings += 1
            self.stats.frame_times.clear()
            self.stats.rest_motion.clear()  # a property of this recording's face and camera
            self.ring.clear()
            self._new.clear()
            for tracker in self.trackers:
                tracker.reset()
            # neutral levels differ between recordings (crop size, light): only a calibrated baseline carries over
            options = self.config.spotter
            if self.fps_of is not None:
                options = replace(options, fps=self.fps_of(frame.recording))
            self.spotter = self._new_spotter(options)
        if self.shape is not None and frame.image.shape != self.shape:
            self.stats.size_changes += 1
        self.shape = frame.image.shape
        self.last_frame, self.last_t = frame.index, frame.t_s
        motions, reference, faces = self._motions(frame)
        self.measured, self.motions = bool(motions), motions
        event = self.spotter.update(frame.index, motions, frame.t_s, *reference) if motions else None
        if event is not None:
            finished.append(self.located(event))
        self._follow_event()
        state = "no face" if not faces else (self.spotter.state.face_state if motions else None)
        if state == "still":
            self.stats.rest_motion.append(self.config.features.intensity.largest_reference_px(motions.values()))
        finished += self._follow_state(state, frame)
        self.stats.processed += 1
        self.stats.frame_times.append(frame.t_s)
        try:
            self._report(frame, state)
        except Exception as exc:  # the dashboard's view of a frame must never cost an event spotted in it
            self.stats.report_errors += 1
            self.errors.log("preview", f"the page's view of frame {frame.index} failed: {exc!r}")
        return finished

    def close(self) -> list[Record]:
        """End of a recording: the open event, if any, ends at its last frame; so does the face state."""
        if self.recording is None:
            return []
        event = self.spotter.close(self.last_frame, self.last_t)
        return ([self.located(event)] if event is not None else []) + self._end_span()

    def _follow_state(self, state: str | None, frame: Frame) -> list[FaceStateSpan]:
        """The stretch of the previous state when `state` differs from it (None: unknown, the picture
        repeats the last one: the stretch goes on)."""
        span = self._span
        if state is None or (span is not None and span[0] == state):
            if span is not None:
                span[2], span[4] = frame.index, frame.t_s
            return []
        ended = self._end_span()
        self._span = [state, frame.index, frame.index, frame.t_s, frame.t_s]
        return ended

    def _end_span(self) -> list[FaceStateSpan]:
        span, self._span = self._span, None
        if span is None:
            return []
        self.stats.state_seconds[span[0]] += span[4] - span[3]
        return [FaceStateSpan(span[0], self.recording or "", span[1], span[2], span[3], span[4])]

    def shutdown(self) -> None:
        """Stop the view thread and close the face detectors (MediaPipe holds threads and memory)."""
        self._pool.shutdown(wait=True)
        for tracker in self.trackers:
            close = getattr(tracker.detector, "close", None)
            if close is not None:
                close()

    def _motions(self, frame: Frame) -> tuple[dict[int, FaceMotion], tuple[int | None, float | None], bool]:
        """Each view's face motion against its lag reference (views whose picture repeats, or that have
        no reference yet, are left out), the reference (frame, t_s) and whether any view shows a face.
        The second view is measured on the second core meanwhile."""
        t0 = time.perf_counter()
        views = split_views(frame.image, self.config.views, self.config.split_x)
        others = [self._pool.submit(self._measure_view, v, view, frame) for v, view in enumerate(views) if v]
        results = [self._measure_view(0, views[0], frame)] + [job.result() for job in others]
        motions, references, faces = {}, [], False
        for v, (window, feature, face, new, measured) in enumerate(results):
            self.stats.face_found[view_name(v)] = window is not None
            if window is None:
                self.stats.no_face_frames += 1
                continue
            faces = True
            self.ring.push(frame.index, frame.t_s, v, feature, face, window.serial, new)
            if measured is not None:
                motions[v], reference = measured
                references.append(reference)
            elif not new:
                self.stats.repeated_pictures += 1
        self.stats.timers.add("frame", time.perf_counter() - t0)
        return motions, (min(references) if references else (None, None)), faces

    def _measure_view(self, v: int, view: np.ndarray, frame: Frame):
        """(window, 224² crop, measured face area, new picture?, (motion, (reference, its t_s)) or None) of
        one view; reads the ring only."""
        window = self.trackers[v].update(view)
        if window is None:
            self._new.pop(v, None)
            return None, None, None, False, None
        t1 = time.perf_counter()
        measure = self._measure_of(v, window)
        feature = gray_crop(view, window.crop, self.config.features.size)
        face = measure.face(feature)
        self.stats.timers.add("crop", time.perf_counter() - t1)
        recent = self._new.setdefault(v, deque())
        if recent and recent[-1][2] != window.serial:  # a new crop window: its pictures start afresh
            recent.clear()
        last = self.ring.spot_crop(recent[-1][0], v) if recent else None
        if last is not None and repeats(last, face):
            return window, feature, face, False, None
        reference = self._reference(recent, frame.t_s)
        recent.append((frame.index, frame.t_s, window.serial))
        while recent[0][1] < frame.t_s - self.config.features.intensity.lag_s - 1.0:
            recent.popleft()
        reference_face = self.ring.spot_crop(reference[0], v) if reference is not None else None
        if reference_face is None:
            return window, feature, face, True, None
        t1 = time.perf_counter()
        motion = measure.motion(reference_face, face)
        self.stats.timers.add("flow", time.perf_counter() - t1)
        return window, feature, face, True, (motion, reference[:2])

    def _reference(self, recent: deque, t_s: float) -> tuple[int, float, int] | None:
        """The picture a view's new picture at `t_s` is measured against: the newest at least the lag back."""
        latest = t_s - self.config.features.intensity.lag_s + 0.5 / self.spotter.options.fps
        return next((entry for entry in reversed(recent) if entry[1] <= latest), None)

    def _measure_of(self, view: int, window: Window) -> FaceIntensity:
        serial, measure = self.measures.get(view, (None, None))
        if serial != window.serial:
            features = self.config.features
            measure = FaceIntensity(features.intensity, window.crop, window.face, features.size, window.margin)
            self.measures[view] = (window.serial, measure)
        return measure

    def located(self, event: Event) -> Event:
        """The event with its recording, recorded times, apex per view, band rows, side and crops: what
        the worker needs is copied out of the ring now, before newer frames overwrite it. A micro
        event whose face did not come back becomes macro (see `_apex`). Its latency counts from here."""
        confirmed_at = time.perf_counter()
        found = {v: self._apex(event, v) for v in event.apex_frame_by_view}
        apexes = {v: apex if apex is not None else event.apex_frame_by_view[v] for v, (apex, _) in found.items()}
        moved = [displacements for _, displacements in found.values() if displacements is not None]
        if event.kind == "micro" and moved and all(self.config.spotter.face_stayed(*d) for d in moved):
            event = replace(event, kind="macro")
        crops = {}
        for v, apex in apexes.items():
            apex_slot = self.ring.slot(apex, v)
            if apex_slot is None:
                continue
            window = int(self.ring.windows[apex_slot, v])
            frames = [self.ring.nearest(f, v, window) for f in (event.onset_frame, apex, event.offset_frame)]
            if None not in frames and len(set(frames)) == 3:
                crops[v] = tuple(self.ring.feature_crop(f, v) for f in frames)
        event = replace(event, apex_frame_by_view=apexes)
        marks = (event.onset_frame, event.apex_frame, event.offset_frame)
        onset_s, apex_s, offset_s = (
            t if t is not None else f / self.spotter.options.fps for t, f in zip(map(self.ring.time_of, marks), marks)
        )
        intensity = self.config.features.intensity
        return replace(
            event,
            recording=self.recording,
            onset_s=onset_s,
            apex_s=apex_s,
            offset_s=offset_s,
            band_rows=tuple(intensity.band_edges[event.band : event.band + 2]),
            side=intensity.region_side(event.region),
            crops=crops,
            confirmed_at=confirmed_at,
        )

    def ending_event(self) -> Event | None:
        """The open event as it would be reported if it ended now (`located`: apex, crops), once per dip
        of its region, at the dip's first measured picture; else None. The engine classifies it while
        the spotter waits the dip out (gap_s, at least 0.15 s), so that the labels are ready when the
        event is confirmed. What the confirmation finds may differ (the dip bridged, a face that
        has not come back yet, a new crop window): the engine then classifies the confirmed event."""
        active = self.spotter.state.active
        if not self.measured or active is None or active.pictures_below != 1:
            return None
        event = self.spotter.ending()
        return None if event is None else self.located(event)

    def _apex(self, event: Event, view: int) -> tuple[int | None, tuple[float, float] | None]:
        """(the view's apex, its displacement there and at the newest picture, px): the peak of the
        displacement from the event's reference in its region, less steady drift and weighted by the
        apex prior (FaceIntensity.apex_and_return, apex_curve offline). (None, None) where the
        pictures are gone or the crop window has changed."""
        serial, measure = self.measures.get(view, (None, None))
        first = event.reference_frame if event.reference_frame is not None else event.onset_frame
        frames = self.ring.new_frames(first, self.last_frame, view, serial) if serial is not None else []
        inside = [f for f in frames if f <= event.offset_frame]
        if len(inside) < 3 or frames[0] != first or len(frames) == len(inside):
            return None, None
        t0 = time.perf_counter()
        motions = [measure.still()] + self._motions_from(view, first, inside[1:] + frames[-1:])
        apex, at_apex, left = measure.apex_and_return(motions, len(inside) - 1, event.region)
        self.stats.timers.add("apex", time.perf_counter() - t0)
        return inside[apex], (at_apex, left)

    def _follow_event(self) -> None:
        """While the spotter holds an event open, each view's new pictures are measured against the
        event's reference as they come (the views side by side), so that once its offset is
        confirmed the apex needs only the newest picture measured: the search is not in the latency."""
        active = self.spotter.state.active
        if active is None:
            self._tracks.clear()
            return
        others = [self._pool.submit(self._follow_view, v, active.reference) for v in self.measures if v]
        if 0 in self.measures:
            self._follow_view(0, active.reference)
        for job in others:
            job.result()

    def _follow_view(self, view: int, reference: int) -> None:
        frames = self.ring.new_frames(reference, self.last_frame, view, self.measures[view][0])
        if frames and frames[0] == reference:
            t0 = time.perf_counter()
            self._motions_from(view, reference, frames[1:])
            self.stats.timers.add("event flow", time.perf_counter() - t0)

    def _motions_from(self, view: int, reference: int, frames: list[int]) -> list[FaceMotion]:
        """The view's FaceMotion from `reference` to each of `frames` (new pictures in the current
        crop window), each measured once per event and kept while the event is open."""
        serial, measure = self.measures[view]
        track = self._tracks.get(view)
        if track is None or track[:2] != (reference, serial):
            track = self._tracks[view] = (reference, serial, {})
        measured = track[2]
        reference_face = self.ring.spot_crop(reference, view)
        for f in frames:
            if f not in measured:
                measured[f] = measure.motion(reference_face, self.ring.spot_crop(f, view))
        return [measured[f] for f in frames]

    def _report(self, frame: Frame, face_state: str | None) -> None:
        stats = self.stats
        now = time.perf_counter()
        clock, count = self._fps_clock
        stats.state = self.spotter.state.mode
        if face_state is not None:
            stats.face_state = face_state
        store = self.store
        if store is not None:
            store.add_point(frame.index, frame.t_s, self.spotter.state.last_z, stats.face_state)
            if stats.processed % self.config.preview_every == 0:
                store.set_preview(frame.image, self.boxes())
        if now - clock >= 0.25:
            stats.fps = (stats.processed - count) / (now - clock)
            self._fps_clock = (now, stats.processed)
            self.on_tick()

    def boxes(self) -> dict[str, tuple[int, int, int, int]]:
        """Each view's crop window in frame coordinates, for drawing."""
        width = self.shape[1] if self.shape else 0
        offset = [0, self.config.split_x or width // 2]
        return {
            view_name(v): (t.window.crop.x + offset[v], t.window.crop.y, t.window.crop.w, t.window.crop.h)
            for v, t in enumerate(self.trackers)
            if t.window is not None
        }
