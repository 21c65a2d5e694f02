"""Face boxes: a detector protocol, the MediaPipe adapter, and the fixed crop window (paper §3.1).

For a window of frames the largest detected box, widened by a margin and made square, is the crop
applied to every frame of that window, so the flow sees the face move inside a still frame.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from mer_live.stream.flow import to_gray


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels: top-left corner, width, height."""

    x: int
    y: int
    w: int
    h: int
    eyes: tuple[tuple[float, float], ...] = ()  # eye centres in pixels, when the detector gives them

    @property
    def area(self) -> int:
        return self.w * self.h

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h / 2)


class FaceDetector(Protocol):
    def detect(self, image: np.ndarray) -> list[Box]:
        """Face boxes in an (H, W, 3) uint8 RGB image, best first; empty when none."""
        ...


class NoFaceError(RuntimeError):
    """No face was found in any frame of a window."""


def bundled_face_model() -> str:
    """Path of the short-range face detector shipped inside the mediapipe wheel (≤ 0.10.21)."""
    import mediapipe

    path = os.path.join(
        os.path.dirname(mediapipe.__file__), "modules", "face_detection", "face_detection_short_range.tflite"
    )
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path} is missing: this mediapipe release ships no face model. "
            "Install mediapipe==0.10.21 or pass a model path (--face-model)."
        )
    return path


@contextlib.contextmanager
def quiet_native_stderr():
    """MediaPipe's C++ start-up chatter (EGL, XNNPACK, absl) goes to fd 2; hide it, keep Python's errors."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class MediaPipeFaceDetector:
    """FaceDetector on MediaPipe Tasks; `model_path` defaults to the model bundled with mediapipe."""

    def __init__(self, model_path: str | None = None, min_confidence: float = 0.5):
        os.environ.setdefault("GLOG_minloglevel", "2")
        with quiet_native_stderr():
            import mediapipe as mp
            from mediapipe.tasks.python import BaseOptions, vision

            self._mp = mp
            options = vision.FaceDetectorOptions(
                base_options=BaseOptions(model_asset_path=model_path or bundled_face_model()),
                min_detection_confidence=min_confidence,
            )
            self._detector = vision.FaceDetector.create_from_options(options)

    def detect(self, image: np.ndarray) -> list[Box]:
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        mp_image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(image))
        detections = self._detector.detect(mp_image).detections
        height, width = image.shape[:2]
        boxes = []
        for d in sorted(detections, key=lambda d: -d.categories[0].score):
            bb = d.bounding_box
            eyes = tuple((k.x * width, k.y * height) for k in d.keypoints[:2])  # MediaPipe: right eye, left eye
            if bb.width > 0 and bb.height > 0:
                boxes.append(Box(bb.origin_x, bb.origin_y, bb.width, bb.height, eyes))
        return boxes

    def close(self) -> None:
        """Stop the detector and free its graph now. MediaPipe's close() stops the graph but keeps
        its threads and memory until the task object is destroyed, which for an object in a reference
        cycle waits for Python's cycle collector: a server that starts and stops runs kept 4 threads
        and ~20 MB per run."""
        if self._detector is not None:
            self._detector.close()
            self._detector = None


def largest_box(boxes: Iterable[Box]) -> Box | None:
    """The box of largest area, or None when there is none."""
    return max(boxes, key=lambda b: b.area, default=None)


# A face box covering this share of the frame's width and of its height is a pre-cropped face (the
# "Cropped" releases of CASME II and SAMM): no margin fits around it, and a square would cut its chin
# or brow. A close-up in a landscape camera frame fills the height only and keeps its square crop.
FILLS_FRAME = 0.7


def whole_frame(image_shape: tuple[int, ...]) -> Box:
    return Box(0, 0, int(image_shape[1]), int(image_shape[0]))


def crop_window(box: Box, image_shape: tuple[int, ...], margin: float = 0.2) -> Box:
    """Square crop around `box` widened by `margin` of its size on each side, kept inside the image;
    the whole image when the face fills it (FILLS_FRAME)."""
    height, width = image_shape[:2]
    if box.w >= FILLS_FRAME * width and box.h >= FILLS_FRAME * height:
        return whole_frame(image_shape)
    side = int(round(max(box.w, box.h) * (1 + 2 * margin)))
    side = max(1, min(side, width, height))
    cx, cy = box.center
    x = int(round(cx - side / 2))
    y = int(round(cy - side / 2))
    x = min(max(x, 0), width - side)
    y = min(max(y, 0), height - side)
    return Box(x, y, side, side)


def eye_mask(face: Box, window: Box, size: int, half_width: float = 0.17, half_height: float = 0.08) -> np.ndarray:
    """(size, size) bool, False over ellipses around the eyes (half-axes as fractions of the face
    width): blinks then add no motion intensity. All True when the detector gave no eyes."""
    mask = np.ones((size, size), np.uint8)
    scale_x, scale_y = size / window.w, size / window.h
    axes = (max(1, int(round(half_width * face.w * scale_x))), max(1, int(round(half_height * face.w * scale_y))))
    for x, y in face.eyes:
        centre = (int(round((x - window.x) * scale_x)), int(round((y - window.y) * scale_y)))
        cv2.ellipse(mask, centre, axes, 0, 0, 360, 0, thickness=-1)
    return mask.astype(bool)


def gray_crop(image: np.ndarray, window: Box, size: int) -> np.ndarray:
    """The window's pixels in uint8 gray, resized to size × size (area interpolation when shrinking).
    Gray before the resize: a third of the pixels to resample (0.30 instead of 0.65 ms per view)."""
    patch = to_gray(image[window.y : window.y + window.h, window.x : window.x + window.w])
    interpolation = cv2.INTER_AREA if window.w >= size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interpolation)
