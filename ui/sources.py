"""The sources a dashboard session runs and what the page may name: the demo recording, an uploaded
video (checked, kept in the session's private folder), server paths inside the data roots
(`PagePaths`), frames pushed by the browser's webcam, and the wrapper that paces, pauses, stops and
time-stamps any of them for the page. Nothing here imports gradio."""

from __future__ import annotations

import logging
import os
import queue
import shutil
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mer_live.stream.frames import Frame
from mer_live.stream.sources import VIDEO_SUFFIXES, PaceGate, Source, paced
from mer_live.stream.stereo import STEREO_SPEC

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 500 * 1024 * 1024
DEMO = "demo"
WEBCAM = "webcam"


def default_session_root() -> Path:
    return Path.home() / ".cache" / "mer-live" / "sessions"


def private_folder(path: Path) -> Path:
    """`path`, made if missing and open to this user only: faces, events and uploads live there."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        path.chmod(0o700)
    except OSError as exc:  # a folder another user owns: it stays as it is
        log.warning("cannot make %s private: %s", path, exc)
    return path


class PagePaths:
    """What the page may name on the server: paths inside the data roots (and the session folder),
    uploads kept in the session folder, and the source spec for the page's source choice."""

    def __init__(self, folder: Path, roots: list[Path]) -> None:
        self.folder = folder
        self.roots = tuple(dict.fromkeys(r.expanduser().resolve() for r in [*roots, folder]))

    def page_path(self, text: str | Path, what: str) -> Path:
        """A server path typed on the page, if it lies inside a data root. The refusal is the same
        whether or not the path exists, so the page cannot probe the server's files."""
        path = Path(text).expanduser().resolve()
        if not any(path.is_relative_to(root) for root in self.roots):
            raise ValueError(
                f"{what} {str(text)!r} is outside the folders this dashboard may read "
                f"({', '.join(map(str, self.roots))}); `mer ui --data-root DIR` adds one"
            )
        return path

    def keep_upload(self, upload: Path) -> Path:
        """The upload, kept in the session folder: Gradio deletes its own copy minutes after the
        upload (delete_cache), while the video may still be replaying, calibrated or restarted."""
        kept = self.folder / "uploads" / upload.name
        if kept.resolve() == upload.resolve():
            return kept
        kept.parent.mkdir(exist_ok=True)
        kept.unlink(missing_ok=True)
        try:
            os.link(upload, kept)  # same disk: no copy
        except OSError:
            shutil.copyfile(upload, kept)
        return kept

    def resolve_spec(self, kind: str, value: str = "", upload: str | None = None) -> str:
        """The source spec for the UI's source choice: demo, camera index, video upload, folder, synthetic."""
        kind = (kind or "").lower()
        value = str(value or "").strip()
        if kind.startswith("demo"):
            return DEMO
        if kind.startswith("camera"):
            if not (value.isdigit() or STEREO_SPEC.match(value)):
                raise ValueError(f"camera wants an index such as 0 (or two, 0+1, for a stereo rig), got {value!r}")
            return value
        if kind.startswith("video"):
            if not upload:
                raise ValueError("upload a video file first")
            kept = self.folder / "uploads" / Path(upload).name
            if not Path(upload).exists() and kept.is_file():  # Gradio deleted its copy; ours stays
                return str(kept)
            return str(self.keep_upload(check_upload(upload)))
        if kind.startswith("folder"):
            if not value:
                raise ValueError("enter a folder path (4DME root or a folder of frames)")
            path = self.page_path(value, "folder")
            if not path.is_dir():
                raise ValueError(f"not a folder: {path}")
            return str(path)
        if kind.startswith("synthetic"):
            return value if value.startswith("synthetic") else f"synthetic:{value or 0}"
        if kind.startswith("webcam") or kind.startswith("browser"):
            return WEBCAM
        raise ValueError(f"unknown source kind {kind!r}")


def demo_source_path() -> Path:
    """The demo's 30 s long recording (4DME layout, with micro and macro events), made on first use."""
    from mer_live.synth import ensure_demo_dataset

    return ensure_demo_dataset().parent / "long"


def check_upload(path: str | Path, max_bytes: int = MAX_UPLOAD_BYTES) -> Path:
    """An uploaded video that the engine can open: a known video suffix and at most `max_bytes`.
    Raises ValueError with a message for the user otherwise."""
    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"not a video file: {path.name!r} (accepted: {', '.join(VIDEO_SUFFIXES)})")
    if not path.is_file():
        raise ValueError(f"upload not found: {path.name!r}")
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"video too large: {size / 2**20:.0f} MB (limit {max_bytes / 2**20:.0f} MB)")
    if size == 0:
        raise ValueError(f"empty file: {path.name!r}")
    return path


class StampedSource:
    """Wraps a source: paces recorded frames at their own rate (when `realtime`), can hold the stream
    while paused or end it (`paced` with a gate), and stamps the wall time (time.monotonic) at which
    each frame entered the engine, so the dashboard can tell how long after an event's offset it was
    shown. The engine is then run with realtime=False (pacing happens here)."""

    def __init__(self, inner: Source, realtime: bool, keep: int = 2048):
        self.inner = inner
        self.realtime = realtime
        self.name = inner.name
        self.fps = inner.fps
        self.device_status = getattr(inner, "device_status", None)  # a stereo rig's per-camera rates and drops
        self._stamps: deque[tuple[str, int, float, float]] = deque(maxlen=keep)  # (source, index, t_s, wall)
        self._lock = threading.Lock()
        self._gate = PaceGate()

    # control
    def pause(self, paused: bool) -> None:
        self._gate.pause(paused)

    def stop(self) -> None:
        self._gate.stop()
        if self.inner.live or isinstance(self.inner, FeedSource):  # wake a reader blocked waiting for a frame
            self.inner.close()

    @property
    def stopped(self) -> bool:
        """Stopped by the session (not ended on its own)."""
        return self._gate.stopped.is_set()

    @property
    def ended_reason(self) -> str | None:
        return self.inner.ended_reason

    @property
    def failure(self) -> str | None:
        return self.inner.failure

    @property
    def last(self) -> tuple[str, int, float, float] | None:
        with self._lock:
            return self._stamps[-1] if self._stamps else None

    def wall_of(self, recording: str, index: int) -> float | None:
        """Wall time at which frame `index` of `recording` entered the engine (recent frames only)."""
        with self._lock:
            for r, i, _, wall in reversed(self._stamps):
                if r == recording and i <= index:
                    return wall if i == index else None
        return None

    # Source protocol (what Engine uses)
    def __enter__(self):
        self.inner.__enter__()
        return self

    def __exit__(self, *exc):
        self.inner.__exit__(*exc)

    def close(self) -> None:
        self.inner.close()

    def __iter__(self) -> Iterator:
        for item in paced(self.inner, self.realtime, gate=self._gate):
            if isinstance(item, Frame):
                with self._lock:
                    self._stamps.append((item.recording, item.index, item.t_s, time.monotonic()))
            yield item


class WebcamFeed:
    """Frames pushed by the browser webcam (gradio streaming) into a small newest-frame queue.

    `source()` gives a Source the engine consumes; the feed outlives it, so a restart or a calibration
    reads from the same feed. `measured_fps` is measured from the arrival times of the last 2 s."""

    def __init__(self, fps_hint: float = 10.0, maxsize: int = 4):
        self.fps_hint = fps_hint
        self._queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self._arrivals: deque[float] = deque(maxlen=256)
        self._lock = threading.Lock()
        self.dropped = 0
        self.received = 0
        self._started = time.monotonic()

    def push(self, image: np.ndarray | None) -> None:
        if image is None:
            return
        now = time.monotonic()
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        image = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
        with self._lock:
            self._arrivals.append(now)
            self.received += 1
        while True:
            try:
                self._queue.put_nowait((now, image))
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    @property
    def measured_fps(self) -> float:
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._arrivals if now - t <= 2.0]
        if len(recent) < 2:
            return 0.0
        return round((len(recent) - 1) / max(recent[-1] - recent[0], 1e-6), 1)

    def source(self) -> FeedSource:
        return FeedSource(self)

    def next(self, timeout: float) -> tuple[float, np.ndarray] | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None


class FeedSource(Source):
    """One run's view of a WebcamFeed: `t_s` is the arrival time since this run started."""

    def __init__(self, feed: WebcamFeed):
        super().__init__("browser-webcam", feed.fps_hint)
        self.feed = feed
        self._closed = threading.Event()

    def _items(self) -> Iterator[Frame]:
        started = time.monotonic()
        index = 0
        while not self._closed.is_set():
            got = self.feed.next(0.2)
            if got is None:
                continue
            arrived, image = got
            yield Frame(index, max(0.0, arrived - started), image, self.name)
            index += 1

    def close(self) -> None:
        self._closed.set()
