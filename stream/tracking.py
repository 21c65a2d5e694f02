"""Per-view crop windows over time: fixed while the face stays, renewed when it is lost or drifts.

A window is the largest face box over its first `acquire_frames` detections (paper §3.1, run as a
stream); every `check_every` frames the face is looked for again, and the window ends when no face
is seen `lost_after` checks in a row or its centre drifts past `drift_bound` of the window side.
With `whole_frame` (pre-cropped faces) every frame is its own crop and no face is looked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field

from mer_live.stream.face import Box, FaceDetector, crop_window, largest_box, whole_frame
from mer_live.stream.settings import config_class


@config_class
class TrackingConfig:
    acquire_frames: int = Field(5, ge=1, description="detections whose largest face box makes a new window")
    check_every: int = Field(15, ge=1, description="frames between looks for the face")
    lost_after: int = Field(3, ge=1, description="checks in a row without a face that end the window")
    drift_bound: float = Field(
        0.15, gt=0, lt=1, description="the window ends when the face's centre drifts this share of the window side"
    )


@dataclass(frozen=True)
class Window:
    """A fixed crop and the face it was made from; `serial` tells windows of one view apart and
    `margin` is the share of the face box the crop adds on each side (0 for a whole-frame crop)."""

    serial: int
    crop: Box
    face: Box
    margin: float = 0.0

    @classmethod
    def around(cls, serial: int, face: Box, shape: tuple[int, ...], margin: float) -> Window:
        """The crop of `face` in a frame of `shape`: with `margin`, or the whole frame where the face fills it."""
        crop = crop_window(face, shape, margin)
        return cls(serial, crop, face, 0.0 if crop == whole_frame(shape) else margin)

    @classmethod
    def whole(cls, serial: int, shape: tuple[int, ...]) -> Window:
        """A pre-cropped face: the frame is the crop and the face."""
        return cls(serial, whole_frame(shape), whole_frame(shape))


class CropTracker:
    """One view's current crop window; `update` once per frame with that view's image."""

    def __init__(
        self,
        detector: FaceDetector | None,
        options: TrackingConfig = TrackingConfig(),
        margin: float = 0.2,
        whole_frame: bool = False,
    ):
        """`detector` may be None with `whole_frame`: no face is looked for then."""
        self.detector = detector
        self.options = options
        self.margin = margin
        self.whole_frame = whole_frame
        self.window: Window | None = None
        self._candidates: list[Box] = []
        self._since_check = 0
        self._misses = 0
        self._serial = 0
        self._shape: tuple[int, ...] | None = None

    def reset(self) -> None:
        self.window = None
        self._candidates = []
        self._misses = 0

    def update(self, view: np.ndarray) -> Window | None:
        if view.shape != self._shape:  # a frame of another size: old boxes mean nothing now
            self._shape = view.shape
            self.reset()
        if self.window is None:
            return self._acquire(view)
        self._since_check += 1
        if self._since_check >= self.options.check_every and not self.whole_frame:
            self._since_check = 0
            self._check(view)
        return self.window

    def _acquire(self, view: np.ndarray) -> Window | None:
        if self.whole_frame:
            self._serial += 1
            self.window = Window.whole(self._serial, view.shape)
            return self.window
        faces = self.detector.detect(view)
        if not faces:
            return None
        self._candidates.append(largest_box(faces))
        if len(self._candidates) < self.options.acquire_frames:
            return None
        face = largest_box(self._candidates)
        self._serial += 1
        self.window = Window.around(self._serial, face, view.shape, self.margin)
        self._candidates = []
        self._since_check = 0
        return self.window

    def _check(self, view: np.ndarray) -> None:
        face = largest_box(self.detector.detect(view))
        if face is None:
            self._misses += 1
            if self._misses >= self.options.lost_after:
                self.reset()
            return
        self._misses = 0
        (cx, cy), (wx, wy) = face.center, self.window.face.center
        if max(abs(cx - wx), abs(cy - wy)) > self.options.drift_bound * self.window.crop.w:
            self.reset()
