"""A stereo rig from two cameras: each device read by its own thread, frames paired by capture time.

    with StereoCameraSource((0, 1)) as rig:          # `mer stream camera:0+1`
        for item in rig:                              # Frame: both views side by side; DroppedFrame: unmatched
            ...

The rig delivers ONE side-by-side frame per matched pair (the second view resized to the first's
size), so the rest of the pipeline — two views split at the middle, a crop window per view,
calibration, profiles — works exactly as on a side-by-side camera.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

import cv2
import numpy as np

from mer_live.stream.frames import Frame
from mer_live.stream.sources import CAMERA_FPS_HINT, CameraSource, DroppedFrame, Item, Source, SourceError

STEREO_SPEC = re.compile(r"^(?:camera:)?(\d+)\+(\d+)$")
FPS_WINDOW = 60  # capture stamps per device the measured rate is taken over

Pairing = tuple[object | None, object | None]  # (first device's item, second's); None: no partner


class StereoPairer:
    """Pairs the frames of two devices by capture time: two frames pair when each is the other's
    nearest (ties go to the earlier frame) and their stamps lie within `tolerance_s`; every other
    frame is unmatched and counted for its device.

    Online and exact: `add` frames of each device in capture order and it returns the pairings
    decided so far, in time order — the same pairs a matching over the whole recordings would give.
    A decision waits for at most one later frame of each device; `end(device)` says none will come.
    A device whose partner has gone silent keeps at most `max_pending` frames waiting.
    """

    def __init__(self, tolerance_s: float, max_pending: int = 64) -> None:
        if tolerance_s <= 0:
            raise ValueError(f"tolerance_s must be positive, got {tolerance_s}")
        if max_pending < 2:
            raise ValueError(f"max_pending must be ≥ 2, got {max_pending}")
        self.tolerance_s = tolerance_s
        self.max_pending = max_pending
        self.pending: tuple[deque, deque] = (deque(), deque())  # per device: (t_s, item) not yet decided
        self.previous: list[float | None] = [None, None]  # per device: stamp of the last frame decided
        self.ended = [False, False]
        self.paired = 0
        self.unmatched = [0, 0]
        self.max_gap_s = 0.0

    def add(self, device: int, t_s: float, item) -> list[Pairing]:
        """One frame of `device` stamped `t_s` (after that device's earlier ones)."""
        self.pending[device].append((t_s, item))
        decided = self._decide()
        while len(self.pending[device]) > self.max_pending:  # the other device is silent: give up the oldest
            decided.append(self._unmatched(device))
        return decided

    def end(self, device: int) -> list[Pairing]:
        """`device` sends no more frames: decide what waited for it."""
        self.ended[device] = True
        return self._decide()

    def _unmatched(self, device: int) -> Pairing:
        t_s, item = self.pending[device].popleft()
        self.previous[device] = t_s
        self.unmatched[device] += 1
        return (item, None) if device == 0 else (None, item)

    def _decide(self) -> list[Pairing]:
        decided = []
        while True:
            heads = [waiting[0][0] if waiting else None for waiting in self.pending]
            if heads[0] is None and heads[1] is None:
                return decided
            # the earliest undecided frame: every frame of the other device before it is decided already
            d = 0 if heads[1] is None or (heads[0] is not None and heads[0] <= heads[1]) else 1
            o = 1 - d
            if heads[o] is None and not self.ended[o]:
                return decided  # its nearest may still come
            t_s = heads[d]
            if (
                heads[o] is None
                or heads[o] - t_s > self.tolerance_s
                or (self.previous[o] is not None and t_s - self.previous[o] <= heads[o] - t_s)
            ):
                decided.append(self._unmatched(d))  # nothing near enough, or its nearest is decided already
                continue
            if len(self.pending[d]) < 2 and not self.ended[d]:
                return decided  # the other's nearest may be d's next frame
            following = self.pending[d][1][0] if len(self.pending[d]) > 1 else None
            if following is not None and abs(following - heads[o]) < heads[o] - t_s:
                decided.append(self._unmatched(d))
                continue
            (_, mine), (t_other, theirs) = self.pending[d].popleft(), self.pending[o].popleft()
            self.previous[d], self.previous[o] = t_s, t_other
            self.paired += 1
            self.max_gap_s = max(self.max_gap_s, t_other - t_s)
            decided.append((mine, theirs) if d == 0 else (theirs, mine))


def side_by_side(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The two views in one frame, the second resized to the first's size (the seam at the middle)."""
    if second.shape != first.shape:
        second = cv2.resize(second, (first.shape[1], first.shape[0]), interpolation=cv2.INTER_AREA)
    return np.hstack([first, second])


class StereoCameraSource(Source):
    """Two cameras as one stereo rig. Each device is a `CameraSource` (its own reader thread, capture
    stamps, reconnects within `give_up_s`); their frames are paired by `StereoPairer` within half a
    frame period at `fps_hint`, and each pair is delivered as one side-by-side `Frame` (`t_s`: the
    mean of the two stamps, from the rig's start). A frame left without a partner is a
    `DroppedFrame` with reason "unmatched camera:N", so the engine counts drops per device.

    When a device gives up, the rig ends and `ended_reason` names it; with `allow_single_view` it goes
    on with the other device, its lost view black (no face there: the spotter scores the view it has).
    `device_status()` gives per device its measured rate, frames delivered, unmatched, overwritten
    before being read, reconnects and why it is lost.
    """

    live = True

    def __init__(
        self,
        devices: tuple[int | str, int | str],
        fps_hint: float = CAMERA_FPS_HINT,
        allow_single_view: bool = False,
        reconnect_s: float = 2.0,
        give_up_s: float = 10.0,
        capture_factory: Callable = cv2.VideoCapture,
        max_pending: int = 64,
    ) -> None:
        if len(devices) != 2 or devices[0] == devices[1]:
            raise SourceError(f"a stereo rig needs two different cameras, got {devices!r}")
        self.cameras = [CameraSource(device, fps_hint, reconnect_s, give_up_s, capture_factory) for device in devices]
        super().__init__("camera:" + "+".join(str(device) for device in devices), fps_hint)
        self.allow_single_view = allow_single_view
        self.pairer = StereoPairer(0.5 / fps_hint, max_pending)
        self.lost: list[str | None] = [None, None]  # per device: why it stopped delivering
        self.delivered = [0, 0]  # per device: frames shown (paired, or alone in single view)
        self.unmatched = [0, 0]  # per device: frames dropped without a partner
        self._stamps = [deque(maxlen=FPS_WINDOW), deque(maxlen=FPS_WINDOW)]
        self._stop = threading.Event()
        self._pumps: list[threading.Thread] = []

    def measured_fps(self, device: int) -> float:
        stamps = list(self._stamps[device])
        return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] else 0.0

    def device_status(self) -> list[dict]:
        """Per device: what the status line and the dashboard show."""
        return [
            {
                "device": camera.name,
                "fps": round(self.measured_fps(d), 2),
                "delivered": self.delivered[d],
                "unmatched": self.unmatched[d],
                "overwritten": camera.dropped,
                "reconnects": camera.reconnects,
                "lost": self.lost[d],
            }
            for d, camera in enumerate(self.cameras)
        ]

    def _pump(self, device: int, inbox: queue.Queue) -> None:
        """Move one camera's frames, stamped at capture, to the pairing loop; then its end."""
        camera = self.cameras[device]
        for frame in camera:
            if not self._put(inbox, (device, camera.started + frame.t_s, frame)):
                return
        self._put(inbox, (device, None, None))

    def _put(self, inbox: queue.Queue, entry) -> bool:
        while not self._stop.is_set():
            try:
                inbox.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _items(self) -> Iterator[Item]:
        inbox: queue.Queue = queue.Queue(maxsize=8)  # a slow consumer: the cameras' newest-frame slots take the loss
        started = time.monotonic()
        self._pumps = [
            threading.Thread(target=self._pump, args=(d, inbox), name=f"stereo-{camera.name}", daemon=True)
            for d, camera in enumerate(self.cameras)
        ]
        for pump in self._pumps:
            pump.start()
        index, last_t, blank = 0, -1.0, None
        while not self._stop.is_set() and self.ended_reason is None:
            try:
                device, stamp, frame = inbox.get(timeout=0.5)
            except queue.Empty:
                continue  # a silent camera ends its own stream after give_up_s: never a hang
            if frame is None:
                self.lost[device] = self.cameras[device].ended_reason or "ended"
                if not self.allow_single_view or self.lost[1 - device] is not None:
                    self._record_end(f"{self.cameras[device].name} lost: {self.lost[device]}", failed=True)
                decided = self.pairer.end(device)
            else:
                self._stamps[device].append(stamp)
                decided = self.pairer.add(device, stamp, frame)
            single_view = self.allow_single_view and self.lost != [None, None]
            for first, second in decided:
                lone = first if second is None else second if first is None else None
                if lone is not None and not single_view:
                    self.unmatched[0 if second is None else 1] += 1
                    yield DroppedFrame(lone.index, self.name, f"unmatched {lone.recording}")
                    continue
                if lone is not None and (blank is None or blank.shape != lone.image.shape):
                    blank = np.zeros_like(lone.image)  # the lost device's half
                views = (first, second)
                for d, view in enumerate(views):
                    if view is not None:
                        self.delivered[d] += 1
                t_s = float(np.mean([self.cameras[d].started + v.t_s for d, v in enumerate(views) if v is not None]))
                last_t = max(t_s - started, last_t + 1e-6)
                yield Frame(index, last_t, side_by_side(*(blank if v is None else v.image for v in views)), self.name)
                index += 1
        self.close()

    def close(self) -> None:
        self._stop.set()
        for camera in self.cameras:
            camera.close()
        for pump in self._pumps:
            if pump is not threading.current_thread():
                pump.join(timeout=1.0)
        self._record_end("closed", failed=False)


def describe_devices(status: list[dict]) -> str:
    """One line over a rig's devices, for the status line: rate, unmatched, lost."""
    return " · ".join(
        f"{d['device']} {d['fps']:.1f} fps {d['unmatched']} unmatched" + (f" LOST ({d['lost']})" if d["lost"] else "")
        for d in status
    )


def open_stereo(spec: str, fps: float | None = None, allow_single_view: bool = False) -> StereoCameraSource:
    """The rig a spec that matches STEREO_SPEC ("camera:0+1" or "0+1") names."""
    first, second = STEREO_SPEC.match(spec).groups()
    return StereoCameraSource(
        (int(first), int(second)), fps_hint=fps or CAMERA_FPS_HINT, allow_single_view=allow_single_view
    )
