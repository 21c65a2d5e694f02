"""The live engine: one reader thread, one processing loop that owns all per-frame state, one
classification worker. The capture side never waits for the model.

    reader thread ──bounded queue──▶ process(): split · crop window · ring · running intensity · spotter
                                                                          │ Event (+ crops)
                                         worker thread ◀──event queue─────┘
                                         phase features (224²) · MicroAttNet · sinks · store

A micro-expression goes to the worker twice: once as it would be reported if it ended, when its
dip begins (classified while the spotter waits the dip out), and once confirmed (written at once
with that result when its pictures are the same, classified then otherwise).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from mer_live.stream.events import MACRO_NOT_CLASSIFIED, Event, FaceStateSpan, Record, view_name
from mer_live.stream.face import FaceDetector
from mer_live.stream.features import PHASES, PreprocessConfig, phase_features
from mer_live.stream.frames import Frame
from mer_live.stream.pipeline import EngineConfig, FramePipeline, ViewFinder
from mer_live.stream.sinks import SinkSet
from mer_live.stream.sources import paced
from mer_live.stream.spotter import Baseline, Channel
from mer_live.stream.store import LiveStore
from mer_live.stream.telemetry import EngineStats, SwallowedErrors

log = logging.getLogger(__name__)


class Classifier(Protocol):
    """What the engine needs of a recogniser (model.predictor.Predictor satisfies it)."""

    name: str

    def predict(self, samples: np.ndarray): ...


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
            except OSError:  # an unprivileged process may not lower its nice value again
                pass


def new_run_id() -> str:
    """Event ids restart at 1 each run; runs appending to one log are told apart by this."""
    return time.strftime("%Y%m%dT%H%M%S") + "-" + os.urandom(3).hex()


_END = object()


@dataclass(frozen=True)
class _Ahead:
    """An open event as it would be reported if it ended now, its region's dip just begun: classified
    while the spotter waits the dip out (FramePipeline.ending_event)."""

    event: Event
    serial: int  # the engine's `_handed` when it was handed over: a later hand-over makes it stale


@dataclass(frozen=True)
class _Recognised:
    """An event's phase features and the classifier's prediction, from its crops under `features`."""

    crops: dict[int, tuple[np.ndarray, ...]]
    features: PreprocessConfig
    phases: dict[int, np.ndarray]
    prediction: object  # what the Classifier's predict returned

    def fits(self, event: Event, features: PreprocessConfig) -> bool:
        """Whether `event` would be recognised the same: the same pictures under the same settings."""
        return (
            features == self.features
            and list(event.crops) == list(self.crops)  # the views in one order: the samples are stacked so
            and all(
                len(crops) == len(self.crops[v]) and all(np.array_equal(a, b) for a, b in zip(crops, self.crops[v]))
                for v, crops in event.crops.items()
            )
        )


NO_MODEL = "no model loaded"


class Engine:
    """Runs a source through the live pipeline. `run()` blocks; `start()` runs it in a thread."""

    def __init__(
        self,
        source,
        config: EngineConfig = EngineConfig(),
        *,
        detector_factory: Callable[[], FaceDetector],
        classifier: Classifier | None = None,
        sinks: Iterable = (),
        store: LiveStore | None = None,
        baselines: dict[Channel, Baseline] | None = None,
        find_views: ViewFinder | None = None,
    ):
        self.source = source
        fps = float(getattr(source, "fps", None) or config.spotter.fps)
        # the release phase is computed the way the classifier was trained (phase features exist only for it)
        features = replace(
            config.features, release_flow=getattr(classifier, "release_flow", config.features.release_flow)
        )
        self.config = replace(config, spotter=replace(config.spotter, fps=fps), features=features)
        self.detector_factory = detector_factory
        self.classifier = classifier
        self.sinks = SinkSet(list(sinks))
        self.store = store
        self.baselines = baselines
        self.find_views = find_views
        self.stats = EngineStats()
        self.errors = SwallowedErrors(log)
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
        self._handed = 0  # events handed to the worker, ahead or confirmed (see _Ahead)
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
            self.stats.state = "paused"  # the processing loop sets the spotter's state again on resume
        else:
            self._resume.set()

    def set_hysteresis(self, k_high: float, k_low: float) -> None:
        """The spotter's onset / offset levels k_high, k_low, from the next frame on (an open event keeps going)."""
        self.config = replace(self.config, spotter=replace(self.config.spotter, k_high=k_high, k_low=k_low))
        if self._pipeline is not None:
            self._pipeline.set_hysteresis(self.config.spotter)

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
            log.debug("the source failed", exc_info=True)
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
                    if self._stop.is_set():  # the processing loop has stopped and will not read it
                        break

    def _process(self, frames: queue.Queue, jobs: queue.Queue) -> None:
        pipeline = self._pipeline = FramePipeline(
            self.config,
            self.detector_factory,
            self.baselines,
            self.stats,
            self.store,
            self._publish_status,
            self.find_views,
            getattr(self.source, "fps_of", None),
        )
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
                self.errors.log(
                    f"frame {type(exc).__name__}", f"frame {item.index} of {item.recording} dropped: {exc!r}"
                )
                continue
            self._submit(finished, jobs)
            self._classify_ahead(pipeline, jobs)
        self._submit(pipeline.close(), jobs)
        pipeline.shutdown()
        self._pipeline = None  # it points back at the engine: without the cycle a finished run is freed at once

    def _submit(self, finished: list[Record], jobs: queue.Queue) -> None:
        for record in finished:
            if isinstance(record, Event):
                self.stats.count("events", record.kind)
                self._handed += 1
            jobs.put(record)  # blocks only if the worker is `events_queue` jobs (records, events ahead) behind

    def _classify_ahead(self, pipeline: FramePipeline, jobs: queue.Queue) -> None:
        """Hands the worker the open event as it would be reported if it ended now, once its dip has begun
        (a micro-expression by then; its `confirmed_at` means nothing)."""
        if self.classifier is None:
            return
        try:
            ending = pipeline.ending_event()
        except Exception as exc:  # it is classified once confirmed instead
            self.errors.log("ahead", f"an open event could not be classified ahead: {exc!r}")
            return
        if ending is not None and ending.kind == "micro" and ending.crops:
            self._handed += 1
            try:
                jobs.put_nowait(_Ahead(ending, self._handed))
            except queue.Full:  # the worker is behind: capture never waits for a guess
                pass

    def _classify_loop(self, jobs: queue.Queue) -> None:
        # the views' flows in parallel (OpenCV releases the GIL): an event's latency is mostly these
        # four Farneback flows; threads made here share this thread's priority, above capture's
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="mer-features") as per_view:
            ahead: _Recognised | None = None  # the open event, classified before it was confirmed
            while True:
                event = jobs.get()
                if event is _END:
                    break
                if isinstance(event, FaceStateSpan):  # logged as it is, between the events
                    self._write(replace(event, run_id=self.run_id))
                    continue
                if isinstance(event, _Ahead):
                    # overtaken by a later dip or by the confirmed event, it is stale, and so is an older result
                    ahead = self._recognised_ahead(event.event, per_view) if event.serial == self._handed else None
                    continue
                try:
                    event = self._classify(event, per_view, ahead)
                except Exception as exc:  # the event is still written, without labels
                    self.stats.unclassified += 1
                    self.errors.log(
                        "classify", f"event at frame {event.onset_frame} of {event.recording} not classified: {exc!r}"
                    )
                    event = self._numbered(
                        event,
                        model=getattr(self.classifier, "name", None),
                        unclassified=f"classification failed: {exc}",
                    )
                ahead = None
                self._write(event)

    def _write(self, record: Record) -> None:
        for name in self.sinks.write(record):
            if isinstance(record, Event):  # the summary counts events lost; a lost state line is a gap in the log
                self.stats.count("not_written", name)
        if self.store is not None:
            try:
                self.store.write(record)
            except Exception as exc:  # the page misses the record; the sinks have it
                self.stats.report_errors += 1
                self.errors.log("store", f"the page's store did not take a record: {exc!r}")

    def _recognised(
        self, event: Event, per_view: ThreadPoolExecutor, features: PreprocessConfig, stage: str = "classify"
    ) -> _Recognised:
        t0 = time.perf_counter()
        views = per_view.map(lambda crops: phase_features(*crops, features), event.crops.values())
        phases = dict(zip(event.crops, views))
        prediction = self.classifier.predict(np.concatenate(list(phases.values())))  # (V·2, 3, S, S)
        self.stats.timers.add(stage, time.perf_counter() - t0)
        return _Recognised(event.crops, features, phases, prediction)

    def _recognised_ahead(self, event: Event, per_view: ThreadPoolExecutor) -> _Recognised | None:
        try:
            recognised = self._recognised(event, per_view, self.config.features, "classify ahead")
        except Exception:  # the confirmed event is classified again, and its failure logged then
            log.debug("an event could not be classified ahead", exc_info=True)
            return None
        self.stats.count("classified_ahead", "classified")
        return recognised

    def _classify(self, event: Event, per_view: ThreadPoolExecutor, ahead: _Recognised | None = None) -> Event:
        """The event with its labels, probabilities, attention and flow maps (a micro-expression with
        crops, when a classifier is loaded), numbered. `ahead`: the same event classified before its
        offset was confirmed, used where its pictures and settings are the same."""
        if event.kind != "micro":
            return self._numbered(event, unclassified=MACRO_NOT_CLASSIFIED)
        if self.classifier is None:
            self.stats.unclassified += 1
            return self._numbered(event, unclassified=NO_MODEL)
        if not event.crops:
            self.stats.unclassified += 1
            return self._numbered(
                event, model=getattr(self.classifier, "name", None), unclassified="its frames had left the crop ring"
            )
        config = self.config  # one read: the dashboard may swap the config meanwhile
        if ahead is not None and ahead.fits(event, config.features):
            self.stats.count("classified_ahead", "used")
            recognised = ahead
        else:
            recognised = self._recognised(event, per_view, config.features)
        phases, prediction = recognised.phases, recognised.prediction
        attention = prediction.attention or {}
        return self._numbered(
            event,
            labels=tuple(prediction.labels(config.decision_threshold)),
            probs={c: round(float(p), 4) for c, p in prediction.probs.items()},
            attention={k: round(float(v), 4) for k, v in attention.items() if not isinstance(v, dict)},
            threshold=config.decision_threshold,
            model=getattr(self.classifier, "name", None),
            flow_maps={
                f"{view_name(v)}/{phase}": p[i].astype(np.float16)
                for v, p in phases.items()
                for i, phase in enumerate(PHASES)
            },
            se_gate_mean=prediction.se_gate_mean,
            attention_block1=dict(attention.get("block1", {})),
        )

    def _numbered(self, event: Event, **classified) -> Event:
        """The event with this run's next id, its latency and what the classifier gave (`classified`)."""
        self._event_ids += 1
        latency_ms = round((time.perf_counter() - event.confirmed_at) * 1000, 2)
        if classified.get("probs"):  # the latency target is for classified events
            self.stats.latencies_ms.append(latency_ms)
        return replace(event, event_id=self._event_ids, run_id=self.run_id, latency_ms=latency_ms, **classified)

    def _publish_status(self) -> None:
        if self.store is None:
            return
        summary = self.stats.summary()
        devices = getattr(self.source, "device_status", None)  # a stereo rig: rate and drops per camera
        try:
            self.store.set_status(
                {
                    "state": self.stats.state,
                    "fps": round(self.stats.fps, 1),
                    "measured_fps": summary["measured_fps"],
                    "rest_motion_px": summary["rest_motion_px"],
                    "face_state": self.stats.face_state,
                    "suppressed": summary["suppressed"],
                    "frames": self.stats.frames,
                    "dropped": sum(summary["dropped"].values()),
                    "drop_reasons": summary["dropped"],
                    "no_face_frames": self.stats.no_face_frames,
                    "face_found": dict(self.stats.face_found),
                    "events": summary["events"],
                    "latency_ms": summary["latency_ms"],
                    "stage_ms": summary["stage_ms"],
                    "devices": devices() if devices is not None else None,
                }
            )
        except Exception as exc:  # a broken page must not stop the stream
            self.stats.report_errors += 1
            self.errors.log("report", f"the page's report failed: {exc!r}")
