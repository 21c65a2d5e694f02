"""Dense optical flow and motion intensity (paper eq. 1–3), as pure functions.

eq. 1: (u, v) = Farneback(F_onset, F_t)
eq. 2: m = sqrt(u² + v²)
eq. 3: I_t = Σ_pixels m ;  apex = argmax_t I_t
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from pydantic import Field

from mer_live.stream.settings import config_class


@config_class
class FarnebackParams:
    """OpenCV Farneback settings; the defaults are OpenCV's commonly used ones for faces."""

    pyr_scale: float = Field(0.5, gt=0, lt=1, description="image scale between pyramid levels")
    levels: int = Field(3, ge=1, description="pyramid levels, the full image included")
    winsize: int = Field(15, ge=1, description="averaging window (px)")
    iterations: int = Field(3, ge=1, description="iterations per pyramid level")
    poly_n: int = Field(5, ge=1, description="pixel neighbourhood of the polynomial fit (OpenCV: 5 or 7)")
    poly_sigma: float = Field(
        1.2, gt=0, description="Gaussian σ of the polynomial fit (OpenCV: 1.1 for poly_n 5, 1.5 for 7)"
    )


DEFAULT_FARNEBACK = FarnebackParams()


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 grayscale from RGB, RGBA or already-gray input."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_RGBA2GRAY)
    if image.shape[2] == 1:
        return image[:, :, 0]
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def farneback(reference: np.ndarray, target: np.ndarray, params: FarnebackParams = DEFAULT_FARNEBACK) -> np.ndarray:
    """Flow (H, W, 2) float32 from `reference` to `target`, both uint8 gray of one shape (eq. 1)."""
    if reference.shape != target.shape:
        raise ValueError(f"flow needs frames of one shape, got {reference.shape} and {target.shape}")
    return cv2.calcOpticalFlowFarneback(
        reference,
        target,
        None,
        params.pyr_scale,
        params.levels,
        params.winsize,
        params.iterations,
        params.poly_n,
        params.poly_sigma,
        0,
    )


# Mean absolute gray-level change (0–255) below which a frame repeats the one before it. Webcam and
# web videos often hold a frame for two or three frame times (a 10-fps capture in a 30-fps file;
# H.264 "skip" frames): measured on the shared real videos, repeats lie below 0.1 and new frames
# above 0.15, sensor noise alone giving ≥ 0.3 on most cameras.
REPEAT_LEVEL = 0.1


def repeats(previous: np.ndarray, current: np.ndarray, level: float = REPEAT_LEVEL) -> bool:
    """Whether `current` (uint8 gray) shows the same picture as `previous`: no new motion to measure."""
    return previous.shape == current.shape and float(cv2.absdiff(previous, current).mean()) < level


def magnitude(flow: np.ndarray) -> np.ndarray:
    """m = sqrt(u² + v²) per pixel (eq. 2)."""
    return np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2)


def intensity(flow: np.ndarray, mask: np.ndarray | None = None) -> float:
    """I = Σ m over the pixels, or over the pixels where `mask` is true (eq. 3)."""
    m = magnitude(flow)
    return float(m[mask].sum() if mask is not None else m.sum())


@lru_cache(maxsize=8)
def pixel_grid(height: int, width: int) -> np.ndarray:
    """(H, W, 3) float32 grid of [x, y, 1] per pixel; cached per shape (one face size per window)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.dstack([xs, ys, np.ones_like(xs)])


def affine_fit(
    flow: np.ndarray, mask: np.ndarray | None = None, stride: int = 4, keep_fraction: float = 0.75
) -> np.ndarray:
    """(3, 2) coefficients of the affine flow u, v = [x, y, 1] · A that best explains `flow`: head
    translation, roll, scale (moving closer) and, to first order, small nods and turns, all of which
    move the whole face as one plane.

    Least squares on every `stride`-th pixel (inside `mask` when given), then once more on the
    `keep_fraction` of them it explained best: a local expression is left out of the second fit,
    so it is not taken for head motion."""
    rows = pixel_grid(flow.shape[0], flow.shape[1])[::stride, ::stride].reshape(-1, 3)
    targets = flow[::stride, ::stride].reshape(-1, 2)
    if mask is not None:
        keep = mask[::stride, ::stride].ravel()
        rows, targets = rows[keep], targets[keep]
    rows, targets = rows.astype(np.float64), targets.astype(np.float64)
    coefficients = _least_squares(rows, targets)
    residual = ((rows @ coefficients - targets) ** 2).sum(axis=1)
    kept = int(keep_fraction * (len(residual) - 1))
    best = residual <= np.partition(residual, kept)[kept]
    return _least_squares(rows[best], targets[best])


def _least_squares(rows: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The normal equations solved (3 × 3): the same fit as lstsq without its SVD, which cost more
    than the rest of the fit per frame."""
    return np.linalg.solve(rows.T @ rows, rows.T @ targets)


def intensity_curve(frames: list[np.ndarray], params: FarnebackParams = DEFAULT_FARNEBACK) -> np.ndarray:
    """I_t of every frame against the first (onset) frame; I_0 = 0."""
    onset = frames[0]
    return np.array([0.0] + [intensity(farneback(onset, f, params)) for f in frames[1:]])


def apex_index(curve: np.ndarray) -> int:
    """Position of the apex: argmax of the intensity curve (eq. 3)."""
    return int(np.argmax(curve))
