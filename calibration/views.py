"""View-split detection for an unknown camera: one face or two side by side, and where the seam is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mer_live.stream.face import FaceDetector
from mer_live.stream.flow import to_gray
from mer_live.stream.views import split_views


@dataclass(frozen=True)
class ViewSplit:
    views: int
    split_x: int | None
    reason: str


def view_finder(
    detector_factory: Callable[[], FaceDetector], report: Callable[[ViewSplit], None] | None = None
) -> Callable[[np.ndarray], tuple[int, int | None]]:
    """The engine's `find_views` (frame → views, split_x) when the views are to be detected: the first
    frame's views, found with a detector made for it and closed at once (a MediaPipe detector holds
    threads and memory); `report` hears what was found."""

    def find_views(image: np.ndarray) -> tuple[int, int | None]:
        detector = detector_factory()
        try:
            found = detect_views(image, detector)
        finally:
            if hasattr(detector, "close"):
                detector.close()
        if report is not None:
            report(found)
        return found.views, found.split_x

    return find_views


def find_seam(image: np.ndarray, search: float = 0.1, contrast: float = 4.0) -> int | None:
    """The column near the middle where two camera images meet: a vertical edge `contrast` times
    stronger than the frame's typical column; None when there is no such edge."""
    gray = to_gray(image).astype(np.float32)
    width = gray.shape[1]
    gradient = np.abs(np.diff(gray, axis=1)).mean(axis=0)  # (W-1,) mean |∂x| between columns
    lo, hi = int(width * (0.5 - search)), int(width * (0.5 + search))
    best = lo + int(np.argmax(gradient[lo:hi]))
    return best + 1 if gradient[best] > contrast * np.median(gradient) else None


def detect_views(image: np.ndarray, detector: FaceDetector) -> ViewSplit:
    """Two views when a face is found in each half (split at a clear seam, else the middle); one view
    when the whole frame holds one face; with no face at all, a wide frame counts as two views."""
    seam = find_seam(image)
    if all(detector.detect(half) for half in split_views(image, 2, seam)):
        return ViewSplit(2, seam, "a face in each half")
    if detector.detect(image):
        return ViewSplit(1, None, "one face in the whole frame")
    wide = image.shape[1] >= 1.6 * image.shape[0]
    return ViewSplit(2 if wide else 1, None, "no face found; decided by the aspect ratio")
