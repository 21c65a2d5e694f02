"""One dashboard session: an Engine running in its background thread, the LiveStore it writes, and a
session folder that holds everything the session writes (live log, exports, calibration profile).

The UI reads `store.snapshot()` only; the methods here are the controls (start / pause / resume /
stop, threshold and k_high, calibration, markers, exports). Nothing here imports gradio.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mer_live.calibration.setting import engine_setting, merged
from mer_live.calibration.views import view_finder
from mer_live.model import SHIPPED_WEIGHTS
from mer_live.sources import open_source
from mer_live.stream.engine import Engine
from mer_live.stream.frames import Frame
from mer_live.stream.memory import hand_back_memory
from mer_live.stream.pipeline import EngineConfig
from mer_live.stream.sinks import JsonlSink
from mer_live.stream.sources import Source, SourceError
from mer_live.stream.store import LiveStore
from mer_live.ui.annotate import annotate_video, read_log
from mer_live.ui.exports import EXPORT_KINDS, write_export
from mer_live.ui.page import PageTiming
from mer_live.ui.sources import (
    DEMO,
    WEBCAM,
    PagePaths,
    StampedSource,
    WebcamFeed,
    default_session_root,
    demo_source_path,
    private_folder,
)

log = logging.getLogger(__name__)

THRESHOLD_RANGE = (0.10, 0.30)  # the page's sliders (the paper sweeps 0.10–0.30), widened to take a launch value
K_HIGH_RANGE = (2.0, 12.0)


def widened(bounds: tuple[float, float], value: float) -> tuple[float, float]:
    return min(bounds[0], value), max(bounds[1], value)


# ---------------------------------------------------------------- the session
@dataclass
class RunInfo:
    spec: str
    source: StampedSource
    engine: Engine
    views: int | None
    message: str = ""  # what the page said when it started


class Session:
    """Owns one Engine + LiveStore + a session folder. All methods return a short message for the
    user (or raise ValueError for bad input); none of them blocks on the engine except `stop` and
    `calibrate_now`."""

    def __init__(
        self,
        folder: str | Path | None = None,
        *,
        checkpoint: str | Path | None = None,
        profile=None,
        detector_factory: Callable | None = None,
        config: EngineConfig | None = None,
        options: Mapping[str, Any] | None = None,
        threshold: float | None = None,
        webcam_fps: float = 10.0,
        data_roots: list[str | Path] | None = None,
    ):
        if folder is None:
            folder = default_session_root() / datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        self.folder = private_folder(Path(folder).expanduser().resolve())
        if detector_factory is None:
            from mer_live.stream.face import MediaPipeFaceDetector

            detector_factory = MediaPipeFaceDetector
        self.detector_factory = detector_factory
        # the engine's setting (calibration.setting): `config` in the defaults' place, the profile, the
        # options given at launch, then the page's controls (views per start, onset level, decision threshold)
        self.base_config = config or EngineConfig()
        self.options = dict(options or {})
        self.launch_threshold = threshold
        self.store = LiveStore()
        self.webcam = WebcamFeed(webcam_fps)
        self.checkpoint: Path | None = Path(checkpoint) if checkpoint else SHIPPED_WEIGHTS
        # the server folders the page may name (checkpoint, frames folder); the startup checkpoint's is one
        roots = [Path.home(), Path.cwd()] if data_roots is None else [Path(r) for r in data_roots]
        self.paths = PagePaths(self.folder, roots + ([self.checkpoint.parent] if self.checkpoint else []))
        self._classifier = None
        self._classifier_path: Path | None = None
        self.classifier_note = ""
        self.profile = None
        self.threshold_range, self.k_high_range = THRESHOLD_RANGE, K_HIGH_RANGE
        self._take_controls(self._setting(threshold=self.launch_threshold))
        self.run: RunInfo | None = None
        self.runs = 0
        self.stop_timeout_s = 10.0  # a run's engine not stopped by then is left to end on its own
        self.paused = False
        self.message = "ready"
        self._lock = threading.RLock()
        self._calibrating: StampedSource | None = None  # the calibration's stream, which stop() ends
        self._exports = 0
        # what the dashboard measured: ticks of its timer and the delay of events reaching the page
        self.page = PageTiming()
        if profile is not None:
            self.apply_profile(profile)

    # ------------------------------------------------------------ model and profile
    def set_checkpoint(self, path: str | Path | None) -> str:
        """The checkpoint named on the page (inside a data root), or none: spot without classifying."""
        with self._lock:
            self.checkpoint = self.paths.page_path(path, "checkpoint") if path else None
            self._classifier, self._classifier_path = None, None
            return self._load_classifier() + (" (used from the next start)" if self.running else "")

    def _load_classifier(self):
        path = self.checkpoint
        if path is None:
            self.classifier_note = "no model: events are spotted but not classified"
            return self.classifier_note
        if self._classifier is not None and self._classifier_path == path:
            return self.classifier_note
        if not path.is_file():
            self._classifier = None
            self.classifier_note = f"no model ({path.name} not found): events are spotted but not classified"
            return self.classifier_note
        try:
            from mer_live.model.predictor import Predictor

            self._classifier = Predictor.from_checkpoint(path, device="cpu")
            self._classifier_path = path
            self.classifier_note = f"model {self._classifier.name}"
        except Exception as exc:  # a bad checkpoint must not stop spotting
            self._classifier = None
            self.classifier_note = f"model {path.name} failed to load ({exc}): events are not classified"
        return self.classifier_note

    def apply_profile(self, profile) -> str:
        """A calibration Profile (or the path of one): its baselines, k_high and k_low apply from the next start."""
        name = ""
        if not hasattr(profile, "baselines"):
            from mer_live.calibration.profile import load_profile

            name, profile = profile, load_profile(Path(profile))
        self._take_controls(self._setting(profile, threshold=self.launch_threshold, profile_name=name))
        self.profile = profile
        views = sorted({view for view, _ in profile.baselines})
        return f"profile applied: k_high {self.k_high:g}, k_low {self.k_low:g}, baselines for views {views}"

    # ------------------------------------------------------------ run control
    @property
    def running(self) -> bool:
        return self.run is not None and self.run.engine.running

    def _open(self, spec: str) -> tuple[Source, bool]:
        """(source, realtime) for a spec; recorded sources are replayed at their own pace."""
        if spec == DEMO:
            return open_source(str(demo_source_path())), True
        if spec == WEBCAM:
            return self.webcam.source(), False
        source = open_source(spec)
        return source, not source.live

    def _setting(
        self, profile=None, controls: Mapping[str, Any] | None = None, threshold: float | None = None, profile_name=""
    ) -> EngineConfig:
        """The engine setting (calibration.setting) from the launch's file and options, `profile`, the
        page's `controls` laid over the options, and `threshold` last."""
        return engine_setting(
            self.base_config,
            profile=profile,
            options=merged(self.options, controls or {}),
            threshold=threshold,
            profile_name=profile_name,
        )

    def _take_controls(self, setting: EngineConfig) -> None:
        """The page's controls start from `setting`'s values (their ranges widened to hold them)."""
        self.threshold = setting.decision_threshold
        self.k_high, self.k_low = setting.spotter.k_high, setting.spotter.k_low
        self.threshold_range = widened(self.threshold_range, self.threshold)
        self.k_high_range = widened(self.k_high_range, self.k_high)

    def _config(self, views: int | None, fps: float | None = None) -> EngineConfig:
        """The setting of a run on `views` (the stream paces itself: not realtime here)."""
        spotter = {"k_high": self.k_high, "k_low": self.k_low} | ({"fps": fps} if fps else {})
        return self._setting(self.profile, {"views": views, "realtime": False, "spotter": spotter}, self.threshold)

    def _say_views(self, found) -> None:
        self.message = f"views: {found.views} view(s) ({found.reason})"

    def start(self, spec: str, views: int | None = 2, realtime: bool | None = None) -> str:
        """Start (or restart) the engine on a source spec: "demo", "webcam" (browser), a camera index,
        a video file, a folder, "synthetic:SEED". `views`: 2 side by side, 1, or None to detect."""
        with self._lock:
            if self.run is not None:
                self._stop_run()
            if spec == WEBCAM and views == 2:
                views = 1  # a browser webcam is one view unless told otherwise
            try:
                inner, own_pace = self._open(spec)
            except SourceError as exc:
                raise ValueError(str(exc)) from None
            return self.start_source(inner, views, own_pace if realtime is None else realtime, spec)

    def start_source(self, inner: Source, views: int | None = 2, realtime: bool = True, spec: str = "") -> str:
        """Start (or restart) the engine on an opened source; `start` opens one from a spec."""
        with self._lock:
            if self.run is not None:
                self._stop_run()
            if self._calibrating is not None:
                raise ValueError("a calibration is running: wait for it, or press Stop to cancel it")
            note = self._load_classifier()
            self.store = LiveStore()  # an old engine that outlived its stop keeps writing only into its own store
            self.page.clear_run()
            self.runs += 1
            source = StampedSource(inner, realtime)
            if spec == DEMO:
                source.name = f"demo ({inner.name})"
            config = self._config(views)
            baselines = self.profile.baselines if self.profile is not None else None
            log_path = self.folder / f"live-{self.runs:03d}.jsonl"
            engine = Engine(
                source,
                config,
                detector_factory=self.detector_factory,
                classifier=self._classifier,
                sinks=[JsonlSink(log_path)],
                store=self.store,
                baselines=baselines,
                find_views=view_finder(self.detector_factory, self._say_views) if views is None else None,
            )
            engine.start()
            self.paused = False
            self.message = f"started {source.name} ({'real time' if realtime else 'as fast as it comes'}); {note}"
            self.run = RunInfo(spec, source, engine, views, self.message)
            return self.message

    def _stop_run(self) -> None:
        run = self.run
        if run is None:
            return
        run.source.stop()
        run.engine.stop()
        run.engine.join(self.stop_timeout_s)
        if run.engine.running:  # a source stuck in its driver; the next run has a store of its own
            log.warning("engine did not stop within %.0f s", self.stop_timeout_s)
        else:
            hand_back_memory()

    def pause(self) -> str:
        return self._set_paused(True)

    def resume(self) -> str:
        return self._set_paused(False)

    def _set_paused(self, paused: bool) -> str:
        with self._lock:
            if not self.running:
                return "nothing is running"
            self.run.source.pause(paused)
            self.run.engine.pause(paused)
            self.paused = paused
            self.message = "paused" if paused else "resumed"
            return self.message

    def stop(self) -> str:
        with self._lock:
            if self._calibrating is not None:
                self._calibrating.stop()
                return "calibration cancelled: the profile is unchanged"
            if self.run is None:
                return "nothing is running"
            self._stop_run()
            self.paused = False
            self.message = f"stopped; {len(self.store.snapshot().events)} event(s) kept for export"
            return self.message

    def set_threshold(self, value: float) -> str:
        """The decision threshold: applied live to events classified from now on."""
        value = float(value)
        low, high = self.threshold_range
        if not low - 1e-9 <= value <= high + 1e-9:
            raise ValueError(f"decision threshold must lie in {low:g}–{high:g}, got {value}")
        with self._lock:
            self.threshold = round(value, 4)
            if self.running:
                self.run.engine.set_decision_threshold(self.threshold)
                return f"decision threshold {self.threshold:g}: applied to events classified from now on"
            return f"decision threshold {self.threshold:g}: used from the next start"

    def set_k_high(self, k_high: float) -> str:
        """The spotter's onset level (k_high, in baseline σ); k_low keeps its ratio to k_high.
        A running engine takes it from its next frame."""
        k_high = float(k_high)
        low, high = self.k_high_range
        if not low <= k_high <= high:
            raise ValueError(f"k_high must lie in {low:g}–{high:g}, got {k_high}")
        with self._lock:
            self.k_high, self.k_low = round(k_high, 3), round(k_high * self.k_low / self.k_high, 3)
            message = f"onset level k_high {self.k_high:g} (k_low {self.k_low:g})"
            if self.running:
                self.run.engine.set_hysteresis(self.k_high, self.k_low)
                return message + ": applied from the next frame"
            return message + ": used from the next start"

    def calibrate_now(self, seconds: float = 5.0) -> str:
        """Record a neutral baseline from the current (or last) source for `seconds` of stream time,
        save the profile in the session folder and apply it. A running engine is stopped for it and
        restarted afterwards (a recording restarts from its beginning). The session lock is not held
        while it records: the page's other controls answer meanwhile, and Stop cancels it."""
        seconds = float(seconds)
        if not 1.0 <= seconds <= 120.0:
            raise ValueError(f"calibration wants 1–120 s, got {seconds}")
        with self._lock:
            if self._calibrating is not None:
                raise ValueError("a calibration is already running")
            if self.run is None:
                raise ValueError("start a source first: calibration reads the current source")
            spec, views, was_running = self.run.spec, self.run.views, self.running
            self._stop_run()
            self._calibrating = source = StampedSource(self._open(spec)[0], realtime=False)
            self.message = f"calibrating on {source.name} for {seconds:g} s"
        try:
            profile = self._record_baseline(source, views, seconds)
        except ValueError:
            if not source.stopped:
                raise
        finally:
            with self._lock:
                self._calibrating = None
        with self._lock:
            if source.stopped:
                self.message = "calibration cancelled: the profile is unchanged"
                return self.message
            path = profile.save(self.folder / "profile.json")
            message = self.apply_profile(profile) + f"; saved {path.name}"
            if profile.notes:
                message += "; " + "; ".join(profile.notes)
            if was_running:
                self.start(spec, profile.views)
                message += "; restarted"
            self.message = message
            return message

    def _record_baseline(self, source: StampedSource, views: int | None, seconds: float):
        """A calibration Profile from `source` (a fresh opening of the run's source)."""
        from mer_live.calibration.baseline import calibrate

        with source:
            items = iter(source)
            if views is None:
                first = next((i for i in items if isinstance(i, Frame)), None)
                if first is None:
                    raise ValueError("the source gave no frame")
                views = view_finder(self.detector_factory)(first.image)[0]
            return calibrate(items, seconds, self._config(views, fps=source.fps), self.detector_factory, source.name)

    # ------------------------------------------------------------ markers
    def add_marker(self, note: str):
        note = " ".join(str(note or "").split())[:120]
        if not note:
            raise ValueError("a marker needs a note, e.g. 'question 3'")
        last = self.run.source.last if self.run is not None else None
        return self.store.add_marker(note, recording=last[0] if last else "")

    def markers(self) -> list[dict]:
        return [
            {"kind": "marker", "recording": m.recording, "t_s": round(m.t_s, 4), "frame": m.frame, "note": m.note}
            for m in self.store.snapshot().markers
        ]

    # ------------------------------------------------------------ exports
    def inside(self, name: str | Path) -> Path:
        """`name` resolved inside the session folder; ValueError when it would escape it."""
        path = (self.folder / Path(name)).resolve()
        if path == self.folder or not path.is_relative_to(self.folder):
            raise ValueError(f"refusing to write outside the session folder: {name}")
        return path

    def export(self, kind: str, name: str | None = None) -> Path:
        """Write the store's events (and markers) to a new file in the session folder:
        jsonl (event records, then one {"kind": "marker", ...} line per marker), csv (the CSV columns;
        markers as rows of kind "marker" with the note in `labels`), megc (MEGC spotting CSV, micro
        events only), elan (an ELAN file: micro, macro, labels, face state and markers tiers, the
        replayed recording linked), report (one HTML page: the summary, the timeline, each event with
        its pictures while the store keeps them), summary (a one-page PNG: counts by class, the
        timeline, markers), video (the replayed recording annotated: ui.annotate; after Stop)."""
        kind = str(kind).lower()
        if kind not in EXPORT_KINDS:
            raise ValueError(f"unknown export {kind!r}; one of {', '.join(EXPORT_KINDS)}")
        if kind == "video":
            self._check_annotatable()
        stem, suffix = EXPORT_KINDS[kind]
        with self._lock:
            self._exports += 1
            if name is None:
                name = f"{stem}-{datetime.now():%Y%m%d-%H%M%S}-{self._exports:03d}{suffix}"
            path = self.inside(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)
        title = f"MER Live session {self.folder.name}" + (f" — {self.run.source.name}" if self.run else "")
        if kind == "video":
            self._annotate(path)
            return path
        media = Path(self.run.spec) if self.run and Path(self.run.spec).is_file() else None
        write_export(kind, path, self.store.snapshot(), self.markers(), title, media, self.store.event)
        return path

    def _check_annotatable(self) -> None:
        """An annotated video needs a finished run of a recording (its whole log, frames to read again)."""
        if self.run is None:
            raise ValueError("nothing to annotate yet: start a recording, then Stop it")
        if self.running:
            raise ValueError("press Stop first: the video is drawn from the run's whole log")
        if self.run.spec == WEBCAM or self.run.source.inner.live:
            raise ValueError("a live camera is not recorded: there is no video to annotate")

    def _annotate(self, out: Path) -> None:
        """The last run's recording with its face box, score and events drawn on (`mer annotate`)."""
        run = self.run
        source, _ = self._open(run.spec)
        log_path = self.folder / f"live-{self.runs:03d}.jsonl"
        annotate_video(source, read_log(log_path), out, run.engine.config, self.detector_factory)

    def status(self, snap=None) -> dict:
        """Everything the status strip shows, as plain data (also the `status` API endpoint)."""
        snap = snap or self.store.snapshot()
        status = dict(snap.status)
        run = self.run
        out = {
            "running": self.running,
            "paused": self.paused,
            "message": self.message,
            "source": run.source.name if run is not None else None,
            "spec": run.spec if run is not None else None,
            "state": status.get("state", "idle" if run is None else "starting"),
            "face_state": status.get("face_state"),
            "suppressed": status.get("suppressed", {}),
            "fps": status.get("fps", 0.0),
            "measured_fps": status.get("measured_fps", 0.0),
            "rest_motion_px": status.get("rest_motion_px"),
            "frames": status.get("frames", 0),
            "dropped": status.get("dropped", 0),
            "no_face_frames": status.get("no_face_frames", 0),
            "face_found": status.get("face_found", {}),
            "events": status.get("events", {}),
            "events_in_store": len(snap.events),
            "latency_ms": status.get("latency_ms"),
            "stage_ms": status.get("stage_ms", {}),
            "markers": len(snap.markers),
            "hysteresis": {"k_high": snap.hysteresis[0], "k_low": snap.hysteresis[1]},
            "decision_threshold": self.threshold,
            "model": self.classifier_note or "not loaded yet",
            "folder": str(self.folder),
            "profile": None
            if self.profile is None
            else {"k_high": self.profile.k_high, "k_low": self.profile.k_low, "source": self.profile.source},
            "timing": self.page.timing(),
        }
        if run is not None and not self.running and not run.source.stopped:  # it ended on its own
            stats = run.engine.stats
            out["ended"], out["failure"] = stats.ended, stats.failure
            if self.message in (run.message, "resumed"):
                out["message"] = (
                    f"the stream broke: {stats.failure}"
                    if stats.failure
                    else f"the stream ended ({stats.ended or 'end of source'})"
                )
        if run is not None:
            last = run.source.last
            if last is not None and run.source.realtime and not self.paused:
                out["stream_t_s"] = round(last[2], 2)
            if run.spec == WEBCAM:
                out["webcam"] = {
                    "measured_fps": self.webcam.measured_fps,
                    "received": self.webcam.received,
                    "dropped": self.webcam.dropped,
                    "fps_hint": self.webcam.fps_hint,
                }
            if status.get("drop_reasons"):
                out["drop_reasons"] = status["drop_reasons"]
            if status.get("devices"):
                out["devices"] = status["devices"]
        return out

    def close(self) -> None:
        with self._lock:
            self._stop_run()
