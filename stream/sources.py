"""Where frames come from: image folders, video files, cameras; a dataset root is replayed by
`corpora.replay.DatasetSource`, the synthetic stream is `synth.source.SyntheticSource`, and
`corpora.replay.open_source(spec)` opens any of them from a command-line string.

Every source is a context-managed iterator of items, each a `Frame` or a `DroppedFrame`:

    with ImageFolderSource("data/s01/s01_01") as source:
        for item in paced(source, realtime=True):
            ...

A frame that cannot be decoded becomes a `DroppedFrame`, so one bad file never ends a stream and
the engine can count it. Images are (H, W, 3) uint8 RGB whatever the file holds (gray is
expanded, alpha dropped). Every source has `.name`, `.fps` and the counters `.frames` (frames
yielded) and `.dropped` (decode failures; for a camera, frames overwritten before being read).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mer_live.stream.folders import DatasetError, check_scale, decode_frame, list_frames, to_rgb
from mer_live.stream.frames import IMAGE_FPS, Frame

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
URL_PATTERN = re.compile(r"^(rtsps?|https?)://", re.IGNORECASE)
FALLBACK_VIDEO_FPS = 30.0
CAMERA_FPS_HINT = 30.0  # the rate asked of a camera when none is given


class SourceError(ValueError):
    """A source that cannot be opened; the message names it."""


@dataclass(frozen=True)
class DroppedFrame:
    """A frame the source knows of but does not deliver; `reason` is "corrupt", "empty" or "unreadable"
    (it could not be decoded), or "unmatched camera:N" (a stereo rig's frame without a partner)."""

    index: int
    source: str
    reason: str


Item = Frame | DroppedFrame


class Source:
    """Base of all sources: counters, context management; subclasses implement `_items`.
    `live`: frames arrive in real time (a camera), so there is nothing to pace."""

    live = False

    def __init__(self, name: str, fps: float) -> None:
        self.name = name
        self.fps = float(fps)
        self.frames = 0
        self.dropped = 0
        self.ended_reason: str | None = None  # why the stream ended, once it has
        self.failure: str | None = None  # the same when it ended because something broke

    def _record_end(self, reason: str, failed: bool) -> None:
        """Keep the first reason the stream ended; `failed` when it broke (a file cut short, a lost camera)."""
        if self.ended_reason is None:
            self.ended_reason = reason
            self.failure = reason if failed else None

    def _items(self) -> Iterator[Item]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Item]:
        for item in self._items():
            if isinstance(item, Frame):
                self.frames += 1
            else:
                self.dropped += 1
            yield item

    def close(self) -> None:
        """Release what the source holds; sources that hold nothing between frames need not override it."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, fps={self.fps:g})"


class ImageFolderSource(Source):
    """The frames of one folder in the numeric order of the numbers in their names.

    `index` is the file's number, so gaps in the numbering stay gaps; `t_s = index / fps`.
    The name is "<parent>/<folder>", i.e. "<sub_ID>/<fold_name>" in the 4DME layout.
    """

    def __init__(self, folder, fps: float = IMAGE_FPS, decode_scale: int = 1) -> None:
        folder = Path(folder)
        super().__init__(f"{folder.parent.name}/{folder.name}", fps)
        self.folder = folder
        self.decode_scale = check_scale(decode_scale)
        try:
            self.numbers, self.paths = list_frames(folder)
        except DatasetError as exc:
            raise SourceError(str(exc)) from None

    def _items(self) -> Iterator[Item]:
        for number, path in zip(self.numbers, self.paths):
            image = decode_frame(path, self.decode_scale)
            if isinstance(image, str):
                log.warning("dropped frame %s: %s", path, image)
                yield DroppedFrame(number, self.name, image)
            else:
                yield Frame(number, number / self.fps, image, self.name)


class VideoFileSource(Source):
    """The frames of a video file through cv2.VideoCapture.

    `index` counts decoded frames from 0 and `t_s` is the frame's presentation time in the file
    (variable-rate phone videos keep their real timing), else `index / fps`; fps from the
    container unless given (30 with a warning when the container has none; a given rate replaces
    the file's timing). The stream ends at the end of the file
    or at the first failed read; `ended_reason` says which.
    """

    def __init__(self, path, fps: float | None = None, decode_scale: int = 1) -> None:
        path = Path(path)
        self.path = path
        self.decode_scale = check_scale(decode_scale)
        self._capture = cv2.VideoCapture(str(path))
        if not self._capture.isOpened():
            self._capture.release()
            raise SourceError(f"cannot open video {path}")
        self.frame_count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self._stamped = fps is None  # a rate the user gives replaces the file's own timing
        self._last_t = -1.0
        if fps is None:
            fps = self._capture.get(cv2.CAP_PROP_FPS)
            if not fps or not math.isfinite(fps) or fps <= 0:
                warnings.warn(
                    f"{path} does not state its frame rate; assuming {FALLBACK_VIDEO_FPS:g} fps", stacklevel=2
                )
                fps = FALLBACK_VIDEO_FPS
        super().__init__(path.name, fps)

    def _items(self) -> Iterator[Item]:
        index = 0
        while True:
            ok, image = self._capture.read()
            if not ok or image is None:
                break
            if self.decode_scale > 1:
                height, width = image.shape[:2]
                size = (-(-width // self.decode_scale), -(-height // self.decode_scale))  # ceil, as libjpeg
                image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            yield Frame(index, self._time_of(index), to_rgb(image), self.name)
            index += 1
        if self.frame_count <= 0 or index >= self.frame_count:
            self._record_end("end of file", failed=False)
        else:
            self._record_end(f"{self.path.name}: read failed at frame {index} of {self.frame_count}", failed=True)
            log.warning("%s", self.failure)
        self.close()

    def _time_of(self, index: int) -> float:
        """The decoded frame's presentation time (a phone video's rate varies), `index / fps` where
        the container gives none or an earlier one than the last frame's."""
        nominal = index / self.fps
        stamp = max(self._capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0, 0.0) if self._stamped else nominal
        if not math.isfinite(stamp) or stamp <= self._last_t or (stamp == 0 and index > 0):
            stamp = max(nominal, self._last_t + 1e-6)
        self._last_t = stamp
        return stamp

    def close(self) -> None:
        self._capture.release()


class CameraSource(Source):
    """A live camera or stream URL with a newest-frame policy.

    A reader thread grabs frames continuously into a one-slot buffer; a frame overwritten before
    the consumer took it counts in `dropped`. `index` counts delivered frames from 0 and `t_s` is
    the grab time in seconds since the reader started (monotonic clock).

    When a read fails (or the capture does not open), the capture is released and, `reconnect_s`
    later, reopened (`reconnects` counts these). After `give_up_s` without any frame the stream ends
    and `ended_reason` says why; so does a read that blocks for `give_up_s + reconnect_s`.
    `close()` stops the thread.
    `capture_factory(device)` must return an object with `isOpened()`, `read()` and `release()`.
    """

    live = True

    def __init__(
        self,
        device: int | str,
        fps_hint: float = CAMERA_FPS_HINT,
        reconnect_s: float = 2.0,
        give_up_s: float = 10.0,
        capture_factory: Callable = cv2.VideoCapture,
    ) -> None:
        super().__init__(f"camera:{device}", fps_hint)
        self.device = device
        self.reconnect_s = reconnect_s
        self.give_up_s = give_up_s
        self.reconnects = 0
        self._capture_factory = capture_factory
        self._slot: tuple[float, np.ndarray] | None = None  # (grab time, BGR image)
        self._ready = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started = 0.0  # monotonic clock reading `t_s` counts from
        self._last_frame = 0.0

    def _end(self, reason: str, failed: bool = True) -> None:
        """Record the first reason the stream ended and wake the consumer."""
        with self._ready:
            self._record_end(reason, failed)
            self._ready.notify_all()

    def _read_until_failure(self) -> None:
        capture = self._capture_factory(self.device)
        try:
            while not self._stop.is_set() and capture.isOpened():
                ok, image = capture.read()
                if not ok or image is None:
                    return
                now = time.monotonic()
                with self._ready:
                    self._last_frame = now
                    if self._slot is not None:
                        self.dropped += 1
                    self._slot = (now, image)
                    self._ready.notify_all()
        finally:
            capture.release()

    def _run(self) -> None:
        try:
            while True:
                self._read_until_failure()
                silent = time.monotonic() - self._last_frame
                if silent >= self.give_up_s:
                    self._end(
                        f"no frame from camera {self.device!r} for {self.give_up_s:g} s "
                        f"after {self.reconnects} reconnect(s)"
                    )
                    return
                if self._stop.wait(min(self.reconnect_s, self.give_up_s - silent)):
                    return
                self.reconnects += 1
                log.warning("camera %r stopped delivering; reconnecting (%d)", self.device, self.reconnects)
        except Exception as exc:  # a driver error must end the stream, not leave the consumer waiting
            log.exception("camera %r reader failed", self.device)
            self._end(f"camera {self.device!r} failed: {exc}")

    def _items(self) -> Iterator[Item]:
        if self._thread is None:
            self.started = self._last_frame = time.monotonic()
            self._thread = threading.Thread(target=self._run, name=f"camera-{self.device}", daemon=True)
            self._thread.start()
        index = 0
        while True:
            with self._ready:
                self._ready.wait_for(
                    lambda: self._slot is not None or self.ended_reason is not None,
                    timeout=self.give_up_s + self.reconnect_s,
                )
                if self._stop.is_set() or self._slot is None:
                    break
                grabbed, image = self._slot
                self._slot = None
            yield Frame(index, grabbed - self.started, to_rgb(image), self.name)
            index += 1
        if self.ended_reason is None:  # the reader is stuck in a read that never returns
            self._end(f"camera {self.device!r} blocked for {self.give_up_s + self.reconnect_s:g} s without a frame")
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        self._end("closed", failed=False)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)  # a read blocked in the driver may outlive this; the thread is a daemon


class PaceGate:
    """Pause and stop for a `paced` stream, set from another thread: paused, the stream holds before
    its next item (and its clock re-anchors afterwards); stopped, it ends."""

    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self.stopped = threading.Event()

    def pause(self, paused: bool) -> None:
        (self._running.clear if paused else self._running.set)()

    def stop(self) -> None:
        self.stopped.set()
        self._running.set()

    def hold(self) -> float | None:
        """Wait while paused; the seconds held, or None once stopped."""
        started = time.monotonic()
        while not self._running.wait(0.1):
            pass
        return None if self.stopped.is_set() else time.monotonic() - started


def paced(items: Iterable[Item], realtime: bool, speed: float = 1.0, gate: PaceGate | None = None) -> Iterator[Item]:
    """Pass items through; when `realtime`, hold each frame until its `t_s` (relative to the first,
    divided by `speed`) has elapsed on the wall clock. The clock re-anchors when the source
    changes or time runs backwards (a new recording of a dataset); dropped frames pass at once.
    A `gate` can pause or stop the stream between items."""
    if speed <= 0:
        raise ValueError(f"speed must be positive, got {speed}")
    if not realtime and gate is None:
        yield from items
        return
    anchor: tuple[float, float] | None = None  # (t_s, wall clock) of the frame the clock started at
    previous: Frame | None = None
    for item in items:
        if gate is not None:
            held = gate.hold()
            if held is None:
                return
            if anchor is not None:
                anchor = (anchor[0], anchor[1] + held)
        if realtime and isinstance(item, Frame):
            if previous is None or item.recording != previous.recording or item.t_s < previous.t_s:
                anchor = (item.t_s, time.monotonic())
            delay = anchor[1] + (item.t_s - anchor[0]) / speed - time.monotonic()
            if delay > 0:
                if gate is None:
                    time.sleep(delay)
                elif gate.stopped.wait(delay):
                    return
            previous = item
        yield item
