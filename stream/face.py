"""Face boxes: a detector protocol, the MediaPipe adapter, and the fixed crop window (paper §3.1).

For a window of frames the largest detected box, widened by a margin and made square, is the crop
applied to every frame of that window, so the flow sees the face move inside a still frame.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Protocol

import cv2
import numpy as np


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels: top-left corner, width, height."""

    x: int
    y: int
    w: int
    h: int

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

    path = os.path.join(os.path.dirname(mediapipe.__file__), "modules", "face_detection",
                        "face_detection_short_range.tflite")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path} is missing: this mediapipe release ships no face model. "
            "Install mediapipe==0.10.21 or pass a model path (--face-model).")
    return path


class MediaPipeFaceDetector:
    """FaceDetector on MediaPipe Tasks; `model_path` defaults to the model bundled with mediapipe."""

    def __init__(self, model_path: str | None = None, min_confidence: float = 0.5):
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
        boxes = [Box(d.bounding_box.origin_x, d.bounding_box.origin_y, d.bounding_box.width, d.bounding_box.height)
                 for d in sorted(detections, key=lambda d: -d.categories[0].score)]
        return [b for b in boxes if b.w > 0 and b.h > 0]

    def close(self) -> None:
        self._detector.close()


def largest_box(boxes: Iterable[Box]) -> Box | None:
    """The box of largest area, or None when there is none."""
    return max(boxes, key=lambda b: b.area, default=None)


def crop_window(box: Box, image_shape: tuple[int, ...], margin: float = 0.2) -> Box:
    """Square crop around `box` widened by `margin` of its size on each side, kept inside the image."""
    height, width = image_shape[:2]
    side = int(round(max(box.w, box.h) * (1 + 2 * margin)))
    side = max(1, min(side, width, height))
    cx, cy = box.center
    x = int(round(cx - side / 2))
    y = int(round(cy - side / 2))
    x = min(max(x, 0), width - side)
    y = min(max(y, 0), height - side)
    return Box(x, y, side, side)


def crop_resize(image: np.ndarray, window: Box, size: int) -> np.ndarray:
    """The window's pixels resized to size × size (area interpolation when shrinking)."""
    patch = image[window.y:window.y + window.h, window.x:window.x + window.w]
    interpolation = cv2.INTER_AREA if window.w >= size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interpolation)
