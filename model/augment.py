"""Label-preserving changes of flow samples, made for u, v, m inputs (N, 3, S, S) in [-1, 1].

A flow image is not a photograph: moving its pixels also changes what the vectors say. A mirrored
face moves the other way along x (u changes sign); a face turned by θ in the picture turns its
vectors by θ; a face seen larger moves by more pixels. Each change here moves the pixels and the
vectors together, and the magnitude channel stays the length of (u, v) up to the sample's scale.
Mixup blends two samples and their labels (Zhang et al. 2018), the way micro-expression papers
enlarge small sets (e.g. MEMix); "within_class" blends only samples with the same labels.

Every change is switched in TrainConfig; which are on by default is measured (docs/measurements.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from mer_live.model.config import TrainConfig

U, V, M = 0, 1, 2


def mirror_and_shift(x: np.ndarray, rng: np.random.Generator, max_shift_px: int) -> np.ndarray:
    """Half the samples mirrored left-right (u negated), each shifted by up to max_shift_px."""
    x = x.copy()
    mirror = rng.random(len(x)) < 0.5
    x[mirror] = x[mirror, :, :, ::-1]
    x[mirror, U] *= -1
    for i, (dy, dx) in enumerate(rng.integers(-max_shift_px, max_shift_px + 1, size=(len(x), 2))):
        x[i] = np.roll(x[i], (dy, dx), axis=(1, 2))
    return x


def rotate_and_scale(x: np.ndarray, rng: np.random.Generator, max_degrees: float, max_scale: float) -> np.ndarray:
    """Each sample turned by up to ±max_degrees and zoomed by up to ±max_scale (a share): the pixels
    move by the affine map A and each (u, v) vector becomes A·(u, v); the magnitude is scaled alike."""
    x = x.copy()
    size = x.shape[-1]
    center = ((size - 1) / 2, (size - 1) / 2)
    for i in range(len(x)):
        angle = rng.uniform(-max_degrees, max_degrees)
        scale = 1.0 + rng.uniform(-max_scale, max_scale)
        affine = cv2.getRotationMatrix2D(center, angle, scale)
        warped = [
            cv2.warpAffine(channel, affine, (size, size), flags=cv2.INTER_LINEAR, borderValue=0.0) for channel in x[i]
        ]
        linear = affine[:, :2]
        uv = np.einsum("ij,jhw->ihw", linear, np.stack(warped[:2]))
        x[i] = np.clip(np.stack([uv[0], uv[1], warped[M] * scale]), -1.0, 1.0)
    return x


def jitter_magnitude(x: np.ndarray, rng: np.random.Generator, jitter: float) -> np.ndarray:
    """Each sample's flow scaled by a factor in 1 ± jitter: the same expression, a little stronger or weaker."""
    factors = rng.uniform(1.0 - jitter, 1.0 + jitter, size=(len(x), 1, 1, 1)).astype(x.dtype)
    return np.clip(x * factors, -1.0, 1.0)


def mixup(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, alpha: float, within_class: bool
) -> tuple[np.ndarray, np.ndarray]:
    """x' = λ·x + (1 − λ)·x[p], y' likewise, λ ~ Beta(α, α) per sample; p pairs each sample with
    another of the batch (with `within_class`, one with the same labels, so y' = y)."""
    partner = np.arange(len(x))
    if within_class:
        _, groups = np.unique(y, axis=0, return_inverse=True)
        for group in np.unique(groups):
            members = np.flatnonzero(groups == group)
            partner[members] = rng.permutation(members)
    else:
        partner = rng.permutation(len(x))
    lam = rng.beta(alpha, alpha, size=len(x)).astype(np.float32)
    mixed_x = lam[:, None, None, None] * x + (1 - lam[:, None, None, None]) * x[partner]
    mixed_y = lam[:, None] * y + (1 - lam[:, None]) * y[partner]
    return mixed_x.astype(x.dtype), mixed_y.astype(y.dtype)


@dataclass(frozen=True)
class FlowAugment:
    """The training batch's augmentation as TrainConfig switches it."""

    config: TrainConfig

    @property
    def active(self) -> bool:
        c = self.config
        return c.augment or c.rotate_degrees > 0 or c.zoom > 0 or c.magnitude_jitter > 0 or c.mixup != "none"

    def __call__(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        c = self.config
        if c.augment:
            x = mirror_and_shift(x, rng, c.max_shift_px)
        if c.rotate_degrees > 0 or c.zoom > 0:
            x = rotate_and_scale(x, rng, c.rotate_degrees, c.zoom)
        if c.magnitude_jitter > 0:
            x = jitter_magnitude(x, rng, c.magnitude_jitter)
        if c.mixup != "none":
            x, y = mixup(x, y, rng, c.mixup_alpha, within_class=c.mixup == "within_class")
        return x, y
