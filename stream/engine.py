"""The live engine: one reader thread, one processing loop that owns all per-frame state, one
classification worker. The capture side never waits for the model.

    reader thread ──bounded queue──▶ process(): split · crop window · ring · running intensity · spotter
                                                                          │ Spot
                                         worker thread ◀──event queue─────┘
                                         phase features (224²) · MicroAttNet · sinks · store
"""
from __future__ import annotations

import os
import queue
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Protocol

import numpy as np

from stream.features import PHASES, PreprocessConfig, phase_features
from stream.events import EventRecord, view_name
from stream.face import FaceDetector, gray_crop
from stream.intensity import FaceIntensity
from stream.frames import Frame
from stream.ring import CropRing
from stream.sinks import SinkSet
from stream.sources import paced
from stream.spotter import Baseline, Channel, Spot, Spotter, SpotterOptions
from stream.store import EventDetail, LiveStore
from stream.tracking import CropTracker, TrackingOptions, Window
from stream.views import split_views

Layout = Callable[[np.ndarray], tuple[int, int | None]]   # frame → (views, split_x)


class Classifier(Protocol):
    """What the engine needs of a recogniser (model.predictor.Predictor satisfies it)."""

    name: str

    def predict(self, samples: np.ndarray): ...


@dataclass(frozen=True)
class EngineConfig:
    views: int | None = 2              # views side by side in a frame (1: a mono webcam; None: detect)
    split_x: int | None = None         # the seam between views; None = the middle
    realtime: bool = False             # deliver recorded frames at their own pace (else: max speed)
    ring_s: float = 6.0                # seconds of crops kept; must exceed max_event_s + reference lag
    queue_frames: int = 32             # reader → processing queue bound
    events_queue: int = 64
    decision_threshold: float = 0.2    # paper: 0.2
    preview_every: int = 3             # frames between dashboard previews
    capture_nice: int = 5              # OS priority drop of the capture threads (Linux), see lowered_thread_priority
    spotter: SpotterOptions = field(default_factory=SpotterOptions)
    tracking: TrackingOptions = field(default_factory=TrackingOptions)
    features: PreprocessConfig = field(default_factory=PreprocessConfig)   # crop size, margin, flows, intensity

    def __post_init__(self) -> None:
        if self.views not in (1, 2, None):
            raise ValueError(f"views must be 1, 2 or None (detect), got {self.views}")
        if not 0.0 < self.decision_threshold < 1.0:
            raise ValueError(f"decision_threshold must lie in (0, 1), got {self.decision_threshold}")
        if self.ring_s <= self.spotter.max_event_s + self.spotter.reference_lag_s:
            raise ValueError(f"ring_s ({self.ring_s}) must exceed max_event_s + reference_lag_s")


@contextmanager
def lowered_thread_priority(steps: int):
    """Raise the calling thread's nice value by `steps` for the block (Linux keeps one per thread, and
    threads started meanwhile inherit it). At max speed capture fills every core, and a confirmed
    event's classification would get only its fair share of the CPU; with the capture threads niced
    the worker runs first, while capture still never waits for it. A no-op where the OS has no
    per-thread priority or refuses the change."""
    tid = threading.get_native_id()
    try:
        before = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, before + max(0, steps)))
    except (AttributeError, OSError):
        before = None
    try:
        yield
    finally:
        if before is not None:
            try:
                os.setpriority(os.PRIO_PROCESS, tid, before)
            except OSError:   # an unprivileged process may not lower its nice value again
                pass


def new_run_id() -> str:
    """Event ids restart at 1 each run; runs appending to one log are told apart by this."""
    return time.strftime("%Y%m%dT%H%M%S") + "-" + os.urandom(3).hex()


def latency_summary(latencies_ms: list[float]) -> dict | None:
    """p50 / p95 in ms and the count; None without any."""
    if not latencies_ms:
        return None
    return {"p50": round(float(np.percentile(latencies_ms, 50)), 1),
            "p95": round(float(np.percentile(latencies_ms, 95)), 1), "n": len(latencies_ms)}


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
    dropped: Counter = field(default_factory=Counter)     # reason → count (bad frames, camera drops)
    no_face_frames: int = 0
    size_changes: int = 0
    recordings: int = 0
    events: Counter = field(default_factory=Counter)      # kind → count
    unclassified: int = 0
    not_written: Counter = field(default_factory=Counter)  # sink → events it could not write (lost to it)
    report_errors: int = 0                                  # dashboard store updates that failed
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=1000))
    timers: StageTimer = field(default_factory=StageTimer)
    started: float = field(default_factory=time.perf_counter)
    fps: float = 0.0
    state: str = "starting"
    face_found: dict[str, bool] = field(default_factory=dict)
    frame_times: deque = field(default_factory=lambda: deque(maxlen=90))   # t_s of the last frames processed
    ended: str | None = None       # why the source ended, once it has
    failure: str | None = None     # the same when it ended because something broke (a file cut short, a lost camera)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, counter: str, key: str) -> None:
        """One more of `key` in the named Counter (dropped, events, not_written): four threads count
        while the page and the status line read, and a new key must not land mid-copy."""
        with self.lock:
            getattr(self, counter)[key] += 1

    @property
    def source_fps(self) -> float:
        """The rate the source delivers at, from its frames' own times (a camera's measured rate,
        not the 30 it claims); 0 before two frames of one recording."""
        times = list(self.frame_times)
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        return round((len(times) - 1) / span, 1) if span > 0 else 0.0

    def summary(self) -> dict:
        elapsed = time.perf_counter() - self.started
        with self.lock:
            dropped, events, not_written = dict(self.dropped), dict(self.events), dict(self.not_written)
        return {
            "frames": self.frames, "processed": self.processed, "dropped": dropped,
            "no_face_frames": self.no_face_frames, "size_changes": self.size_changes,
            "recordings": self.recordings, "events": events, "unclassified": self.unclassified,
            "events_not_written": not_written, "report_errors": self.report_errors,
            "seconds": round(elapsed, 2), "fps": round(self.processed / elapsed, 1) if elapsed > 0 else 0.0,
            "latency_ms": latency_summary(list(self.latencies_ms)),
            "stage_ms": self.timers.means(), "source_fps": self.source_fps,
        } | ({"ended": self.ended} if self.ended else {}) | ({"failure": self.failure} if self.failure else {})


@dataclass
class _EventJob:
    spot: Spot
    source: str
    times: tuple[float, float, float]
    crops: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]   # view → onset, apex, offset 224² crops
    confirmed: float


_END = object()


class Engine:
    """Runs a source through the live pipeline. `run()` blocks; `start()` runs it in a thread."""

    def __init__(self, source, config: EngineConfig = EngineConfig(), *,
                 detector_factory: Callable[[], FaceDetector], classifier: Classifier | None = None,
                 sinks: Iterable = (), store: LiveStore | None = None,
                 baselines: dict[Channel, Baseline] | None = None, layout: Layout | None = None):
        self.source = source
        fps = float(getattr(source, "fps", None) or config.spotter.fps)
        # the release phase is computed the way the classifier was trained
        features = replace(config.features, release_flow=getattr(classifier, "release_flow", config.features.release_flow))
        self.config = replace(config, spotter=replace(config.spotter, fps=fps), features=features)
        self.detector_factory = detector_factory
        self.classifier = classifier
        self.sinks = SinkSet(list(sinks))
        self.store = store
        self.baselines = baselines
        self.layout = layout
        self.stats = EngineStats()
        self._stop = threading.Event()
        self._resume = threading.Event()
        # set when run() has finished; join() and running read it rather than Thread.join, which an
        # interrupting Ctrl-C can leave believing a live thread stopped (a CPython race), so the
        # interpreter then exits under native code still running in the pipeline's threads (abort)
        self._finished = threading.Event()
        self._resume.set()
        self._thread: threading.Thread | None = None
        self._pipeline: FramePipeline | None = None
        self._event_ids = 0
        self.run_id = new_run_id()

    # ---------------------------------------------------------------- control
    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.run, name="mer-engine", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        self._stop.set()
        self._resume.set()

    def pause(self, paused: bool) -> None:
        if paused:
            self._resume.clear()
            self.stats.state = "paused"    # the processing loop sets the spotter's state again on resume
        else:
            self._resume.set()

    def set_thresholds(self, k_high: float, k_low: float) -> None:
        """The spotter's onset / offset thresholds, from the next frame on (an open event keeps going)."""
        self.config = replace(self.config, spotter=replace(self.config.spotter, k_high=k_high, k_low=k_low))
        if self._pipeline is not None:
            self._pipeline.set_thresholds(self.config.spotter)

    def set_decision_threshold(self, threshold: float) -> None:
        """The label threshold, for events classified from now on."""
        self.config = replace(self.config, decision_threshold=threshold)

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._finished.wait(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._finished.is_set()

    # ---------------------------------------------------------------- threads
    def run(self) -> dict:
        frames: queue.Queue = queue.Queue(maxsize=self.config.queue_frames)
        jobs: queue.Queue = queue.Queue(maxsize=self.config.events_queue)
        reader = threading.Thread(target=self._read, args=(frames,), name="mer-reader", daemon=True)
        worker = threading.Thread(target=self._classify_loop, args=(jobs,), name="mer-worker", daemon=True)
        worker.start()
        reader.start()
        try:
            with lowered_thread_priority(self.config.capture_nice):
                self._process(frames, jobs)
        finally:
            try:
                self._stop.set()
                jobs.put(_END)
                worker.join()
                reader.join(timeout=5)
                self.sinks.close()
                self.stats.state = "stopped"
                self._publish_status()
            finally:
                self._finished.set()
        return self.stats.summary()

    def _read(self, frames: queue.Queue) -> None:
        try:
            with self.source, lowered_thread_priority(self.config.capture_nice):
                items = paced(iter(self.source), self.config.realtime)
                while not self._stop.is_set():
                    t0 = time.perf_counter()
                    item = next(items, _END)
                    self.stats.timers.add("read", time.perf_counter() - t0)
                    if item is _END:
                        break
                    while not self._stop.is_set():
                        try:
                            frames.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
        except Exception as exc:  # a source that dies ends the stream with its reason, not a traceback
            self.stats.count("dropped", f"source error: {exc}")
            self.stats.failure = f"source error: {exc}"
        finally:
            self.stats.ended = getattr(self.source, "ended_reason", None) or self.stats.failure or "end of source"
            self.stats.failure = self.stats.failure or getattr(self.source, "failure", None)
            # the end marker must get through: a paused engine's queue can be full when the source
            # ends, and without the marker the processing loop would wait for a frame forever
            while True:
                try:
                    frames.put(_END, timeout=0.1)
                    break
                except queue.Full:
                    if self._stop.is_set():   # the processing loop has stopped and will not read it
                        break

    def _process(self, frames: queue.Queue, jobs: queue.Queue) -> None:
        pipeline = self._pipeline = FramePipeline(self.config, self.detector_factory, self.baselines, self.stats,
                                                  self.store, self._publish_status, self.layout,
                                                  getattr(self.source, "fps_of", None))
        while True:
            self._resume.wait()
            try:
                item = frames.get(timeout=0.5)
            except queue.Empty:
                if self._stop.is_set():
                    break
                continue
            if item is _END or self._stop.is_set():
                break
            self.stats.frames += 1
            if not isinstance(item, Frame):
                self.stats.count("dropped", getattr(item, "reason", "bad frame"))
                continue
            try:
                finished = pipeline.process(item)
            except Exception as exc:  # one bad frame must never kill the stream
                self.stats.count("dropped", f"processing error: {type(exc).__name__}")
                continue
            self._submit(finished, jobs)
        self._submit(pipeline.close(), jobs)
        pipeline.shutdown()
        self._pipeline = None   # it points back at the engine: without the cycle a finished run is freed at once

    def _submit(self, finished: list[_EventJob], jobs: queue.Queue) -> None:
        for job in finished:
            self.stats.count("events", job.spot.kind)
            jobs.put(job)   # blocks only if the worker is `events_queue` events behind

    def _classify_loop(self, jobs: queue.Queue) -> None:
        while True:
            job = jobs.get()
            if job is _END:
                break
            detail = None
            try:
                record, detail = self._classify(job)
            except Exception as exc:  # the event is still written, without labels
                self.stats.unclassified += 1
                record = self._record(job, None, note=f"classification failed: {exc}")
            for name in self.sinks.write(record):
                self.stats.count("not_written", name)
            if self.store is not None:
                try:
                    self.store.write(record, detail)
                except Exception:  # the page misses the event; the sinks have it
                    self.stats.report_errors += 1

    def _classify(self, job: _EventJob) -> tuple[EventRecord, EventDetail | None]:
        apex_crops = {view_name(v): crops[1] for v, crops in job.crops.items()}
        if job.spot.kind != "micro" or self.classifier is None or not job.crops:
            if job.spot.kind == "micro":
                self.stats.unclassified += 1
            return self._record(job, None), EventDetail(apex_crops=apex_crops, flow_maps={})
        t0 = time.perf_counter()
        phases = {v: phase_features(*crops, self.config.features) for v, crops in job.crops.items()}
        samples = np.concatenate(list(phases.values()))               # (V·2, 3, S, S)
        prediction = self.classifier.predict(samples)
        self.stats.timers.add("classify", time.perf_counter() - t0)
        detail = EventDetail(
            apex_crops=apex_crops,
            flow_maps={f"{view_name(v)}/{phase}": p[i].astype(np.float16)
                       for v, p in phases.items() for i, phase in enumerate(PHASES)},
            se_gate_mean=prediction.se_gate_mean,
            attention_block1=dict((prediction.attention or {}).get("block1", {})),
        )
        return self._record(job, prediction), detail

    def _record(self, job: _EventJob, prediction, note: str | None = None) -> EventRecord:
        spot, config = job.spot, self.config    # one read: the dashboard may swap the config meanwhile
        self._event_ids += 1
        probs, labels, attention = {}, [], {}
        if prediction is not None:
            probs = {c: round(float(p), 4) for c, p in prediction.probs.items()}
            labels = prediction.labels(config.decision_threshold)
            attention = {k: round(float(v), 4) for k, v in (prediction.attention or {}).items()
                         if not isinstance(v, dict)}
        latency_ms = round((time.perf_counter() - job.confirmed) * 1000, 2)
        if prediction is not None:   # the latency target is for classified events
            self.stats.latencies_ms.append(latency_ms)
        return EventRecord(
            event_id=self._event_ids, source=job.source,
            onset_frame=spot.onset, apex_frame=spot.apex, offset_frame=spot.offset,
            onset_s=round(job.times[0], 4), apex_s=round(job.times[1], 4), offset_s=round(job.times[2], 4),
            apex_frame_by_view={view_name(v): f for v, f in spot.apex_by_view.items()},
            peak_intensity=max(spot.peak_intensity_by_view.values()), kind=spot.kind,
            face_band=list(config.features.intensity.regions[spot.region:spot.region + 2]),
            labels=labels, probs=probs, attention=attention,
            threshold=config.decision_threshold if prediction is not None else None,
            model=getattr(self.classifier, "name", None) if prediction is not None else note,
            latency_ms=latency_ms, run_id=self.run_id,
        )

    def _publish_status(self) -> None:
        if self.store is None:
            return
        summary = self.stats.summary()
        devices = getattr(self.source, "device_status", None)   # a stereo rig: rate and drops per camera
        try:
            self.store.set_status({
                "state": self.stats.state, "fps": round(self.stats.fps, 1), "source_fps": self.stats.source_fps,
                "frames": self.stats.frames,
                "dropped": sum(summary["dropped"].values()), "drop_reasons": summary["dropped"],
                "no_face_frames": self.stats.no_face_frames,
                "face_found": dict(self.stats.face_found),
                "events": summary["events"], "latency_ms": summary["latency_ms"], "stage_ms": summary["stage_ms"],
                "devices": devices() if devices is not None else None,
            })
        except Exception:  # a broken page must not stop the stream
            self.stats.report_errors += 1


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

    def process(self, frame: Frame) -> list[_EventJob]:
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
        spot = self.spotter.update(frame.index, intensities, frame.t_s)
        if spot is not None:
            finished.append(self.job(spot))
        self.stats.processed += 1
        self.stats.frame_times.append(frame.t_s)
        try:
            self._report(frame)
        except Exception:  # the dashboard's view of a frame must never cost an event spotted in it
            self.stats.report_errors += 1
        return finished

    def close(self) -> list[_EventJob]:
        """End of a recording: the open event, if any, ends at its last frame."""
        spot = self.spotter.close(self.last_frame) if self.source is not None else None
        return [self.job(spot)] if spot is not None else []

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

    def job(self, spot: Spot) -> _EventJob:
        """Copy what the worker needs out of the ring now, before newer frames overwrite it."""
        crops = {}
        for v in range(self.config.views):
            if v not in spot.apex_by_view:
                continue
            apex_slot = self.ring.slot(spot.apex_by_view[v], v)
            if apex_slot is None:
                continue
            window = int(self.ring.windows[apex_slot, v])
            frames = [self.ring.nearest(f, v, window) for f in (spot.onset, spot.apex_by_view[v], spot.offset)]
            if None not in frames and len(set(frames)) == 3:
                crops[v] = tuple(self.ring.feature_crop(f, v) for f in frames)
        recorded = [self.ring.time_of(f) for f in (spot.onset, spot.apex, spot.offset)]
        times = tuple(t if t is not None else f / self.spotter.options.fps
                      for t, f in zip(recorded, (spot.onset, spot.apex, spot.offset)))
        return _EventJob(spot, self.source, times, crops, time.perf_counter())

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
