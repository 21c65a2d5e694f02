"""The per-frame pipeline, single-threaded: split the views, keep each view's crop window, fill the
crop ring, measure the running intensity per face band and run the spotter; a finished event leaves
with its recording, times and crops filled in (stream.events). The Engine (stream/engine.py) runs
it between its threads; calibration and the tests run it alone."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Callable, Literal

import numpy as np
from pydantic import Field, model_validator

from stream.events import Event, view_name
from stream.face import FaceDetector, gray_crop
from stream.features import PreprocessConfig
from stream.frames import Frame
from stream.intensity import FaceIntensity
from stream.ring import CropRing
from stream.settings import Switch, config_class
from stream.spotter import Baseline, Channel, Spotter, SpotterOptions
from stream.store import LiveStore
from stream.telemetry import EngineStats
from stream.tracking import CropTracker, TrackingOptions, Window
from stream.views import split_views

Layout = Callable[[np.ndarray], tuple[int, int | None]]   # frame → (views, split_x)



@config_class
class EngineConfig:
    views: Literal[1, 2] | None = Field(2, description="views side by side in a frame (1: a mono webcam; "
                                                       "null: detect)")
    split_x: int | None = Field(None, ge=1, description="the seam between views (px); null = the middle")
    realtime: Switch = Field(False, description="deliver recorded frames at their own pace (else: as "
                                                "fast as the pipeline takes them)")
    ring_s: float = Field(6.0, gt=0, description="seconds of crops kept; must exceed max_event_s + reference_lag_s")
    queue_frames: int = Field(32, ge=1, description="reader → processing queue bound (frames)")
    events_queue: int = Field(64, ge=1, description="processing → classifier queue bound (events)")
    decision_threshold: float = Field(0.2, gt=0, lt=1, description="a class is reported above this probability "
                                                                    "(paper: 0.2)")
    preview_every: int = Field(3, ge=1, description="frames between dashboard previews")
    capture_nice: int = Field(5, ge=0, le=19, description="OS priority drop of the capture threads (Linux), see "
                                                          "lowered_thread_priority")
    spotter: SpotterOptions = Field(default_factory=SpotterOptions, description="the spotter's thresholds and times")
    tracking: TrackingOptions = Field(default_factory=TrackingOptions, description="crop windows over time")
    features: PreprocessConfig = Field(default_factory=PreprocessConfig,
                                       description="crop size, margin, flows, intensity")

    @model_validator(mode="after")
    def _ring_holds_an_event(self) -> EngineConfig:
        if self.ring_s <= self.spotter.max_event_s + self.spotter.reference_lag_s:
            raise ValueError(f"ring_s ({self.ring_s}) must exceed spotter.max_event_s + spotter.reference_lag_s "
                             f"({self.spotter.max_event_s} + {self.spotter.reference_lag_s}); a longer event needs "
                             "a longer ring (ring_s in a --config file)")
        return self


class FramePipeline:
    """Per-frame state of the processing loop: crop trackers, crop ring, eye masks and the spotter.

    Single-threaded and usable on its own (calibration, tests); the Engine adds the threads.
    """

    def __init__(self, config: EngineConfig, detector_factory: Callable[[], FaceDetector],
                 baselines: dict[Channel, Baseline] | None = None,
                 stats: EngineStats | None = None, store: LiveStore | None = None,
                 on_tick: Callable[[], None] = lambda: None, layout: Layout | None = None,
                 recording_fps: Callable[[str], float] | None = None):
        """`recording_fps` names each recording's own frame rate where a source mixes rates (a
        dataset of 25 and 30 fps videos); the spotter's time constants follow it."""
        if config.views is None and layout is None:
            raise ValueError("views=None (detect) needs a layout function")
        self.config = config
        self.detector_factory = detector_factory
        self.layout = layout
        self.stats = stats or EngineStats()
        self.store = store
        self.on_tick = on_tick
        self.recording_fps = recording_fps
        self.trackers: list[CropTracker] = []
        self.ring: CropRing | None = None
        if config.views is not None:
            self._setup_views(config.views, config.split_x)
        self.baselines = baselines
        self.spotter = Spotter(config.spotter, baselines)
        self.measures: dict[int, tuple[int, FaceIntensity]] = {}    # view → (window serial, its measure)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mer-view")
        self.source: str | None = None
        self.shape: tuple[int, ...] | None = None
        self.last_frame = 0
        self._fps_clock = (time.perf_counter(), 0)
        if store is not None:
            store.set_thresholds(config.spotter.k_high, config.spotter.k_low)

    def set_thresholds(self, options: SpotterOptions) -> None:
        """Spotter options with new thresholds; the spotter keeps its baselines and state."""
        self.config = replace(self.config, spotter=options)
        self.spotter.options = replace(options, fps=self.spotter.options.fps)   # the recording's own rate stays
        if self.store is not None:
            self.store.set_thresholds(options.k_high, options.k_low)

    def _setup_views(self, views: int, split_x: int | None) -> None:
        self.config = replace(self.config, views=views, split_x=split_x)
        # one detector per view: the views are measured in parallel threads
        cropped = self.config.features.cropped   # pre-cropped faces: no detector is ever asked
        self.trackers = [CropTracker(None if cropped else self.detector_factory(), self.config.tracking,
                                     self.config.features.margin, cropped)
                         for _ in range(views)]
        capacity = max(2, int(self.config.ring_s * self.config.spotter.fps))
        features = self.config.features
        self.ring = CropRing(capacity, views, features.size, features.intensity.size)

    def process(self, frame: Frame) -> list[Event]:
        """Take one frame; returns the events that ended with it, ready for the classifier."""
        if self.ring is None:
            self._setup_views(*self.layout(frame.image))
        finished = []
        if frame.source != self.source:               # a new recording: close what is open, start fresh
            finished += self.close()
            self.source = frame.source
            self.stats.recordings += 1
            self.stats.frame_times.clear()
            self.ring.clear()
            for tracker in self.trackers:
                tracker.reset()
            # neutral levels differ between recordings (crop size, light): only a calibrated baseline carries over
            options = self.config.spotter
            if self.recording_fps is not None:
                options = replace(options, fps=self.recording_fps(frame.source))
            self.spotter = Spotter(options, self.baselines)
        if self.shape is not None and frame.image.shape != self.shape:
            self.stats.size_changes += 1
        self.shape = frame.image.shape
        self.last_frame = frame.index
        intensities = self._intensities(frame)
        event = self.spotter.update(frame.index, intensities, frame.t_s)
        if event is not None:
            finished.append(self.located(event))
        self.stats.processed += 1
        self.stats.frame_times.append(frame.t_s)
        try:
            self._report(frame)
        except Exception:  # the dashboard's view of a frame must never cost an event spotted in it
            self.stats.report_errors += 1
        return finished

    def close(self) -> list[Event]:
        """End of a recording: the open event, if any, ends at its last frame."""
        event = self.spotter.close(self.last_frame) if self.source is not None else None
        return [self.located(event)] if event is not None else []

    def shutdown(self) -> None:
        """Stop the view thread and close the face detectors (MediaPipe holds threads and memory)."""
        self._pool.shutdown(wait=True)
        for tracker in self.trackers:
            close = getattr(tracker.detector, "close", None)
            if close is not None:
                close()

    def _intensities(self, frame: Frame) -> dict[int, np.ndarray]:
        """Running intensity of each view, per face band; the second view is measured on the second core meanwhile."""
        t0 = time.perf_counter()
        views = split_views(frame.image, self.config.views, self.config.split_x)
        reference = self.spotter.reference_frame(frame.index)
        others = [self._pool.submit(self._measure_view, v, view, reference) for v, view in enumerate(views) if v]
        results = [self._measure_view(0, views[0], reference)] + [job.result() for job in others]
        intensities = {}
        for v, (window, feature, spot, value) in enumerate(results):
            self.stats.face_found[view_name(v)] = window is not None
            if window is None:
                self.stats.no_face_frames += 1
                continue
            self.ring.push(frame.index, frame.t_s, v, feature, spot, window.serial)
            if value is not None:
                intensities[v] = value
        self.stats.timers.add("frame", time.perf_counter() - t0)
        return intensities

    def _measure_view(self, v: int, view: np.ndarray, reference: int):
        """(window, 224² crop, spot crop, intensity against the reference) of one view; reads the ring only."""
        window = self.trackers[v].update(view)
        if window is None:
            return None, None, None, None
        t1 = time.perf_counter()
        measure = self._measure_of(v, window)
        feature = gray_crop(view, window.crop, self.config.features.size)
        face = measure.face(feature)
        self.stats.timers.add("crop", time.perf_counter() - t1)
        ref = self.ring.at_or_before(reference, v, window.serial)
        if ref is None:
            return window, feature, face, None
        t1 = time.perf_counter()
        value = measure.measure(self.ring.spot_crop(ref, v), face)
        self.stats.timers.add("flow", time.perf_counter() - t1)
        return window, feature, face, value

    def _measure_of(self, view: int, window: Window) -> FaceIntensity:
        serial, measure = self.measures.get(view, (None, None))
        if serial != window.serial:
            features = self.config.features
            measure = FaceIntensity(features.intensity, window.crop, window.face, features.size, window.margin)
            self.measures[view] = (window.serial, measure)
        return measure

    def located(self, event: Event) -> Event:
        """The event with its recording, recorded times, band rows and crops: what the worker needs is
        copied out of the ring now, before newer frames overwrite it."""
        crops = {}
        for v, apex in event.apex_frame_by_view.items():
            apex_slot = self.ring.slot(apex, v)
            if apex_slot is None:
                continue
            window = int(self.ring.windows[apex_slot, v])
            frames = [self.ring.nearest(f, v, window) for f in (event.onset_frame, apex, event.offset_frame)]
            if None not in frames and len(set(frames)) == 3:
                crops[v] = tuple(self.ring.feature_crop(f, v) for f in frames)
        marks = (event.onset_frame, event.apex_frame, event.offset_frame)
        onset_s, apex_s, offset_s = (t if t is not None else f / self.spotter.options.fps
                                     for t, f in zip(map(self.ring.time_of, marks), marks))
        edges = self.config.features.intensity.band_edges
        return replace(event, source=self.source, onset_s=onset_s, apex_s=apex_s, offset_s=offset_s,
                       band_rows=tuple(edges[event.band:event.band + 2]), crops=crops,
                       confirmed_at=time.perf_counter())

    def _report(self, frame: Frame) -> None:
        stats = self.stats
        now = time.perf_counter()
        clock, count = self._fps_clock
        stats.state = self.spotter.state.mode
        store = self.store
        if store is not None:
            store.add_point(frame.index, frame.t_s, self.spotter.state.last_z)
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
        return {view_name(v): (t.window.crop.x + offset[v], t.window.crop.y, t.window.crop.w, t.window.crop.h)
                for v, t in enumerate(self.trackers) if t.window is not None}
