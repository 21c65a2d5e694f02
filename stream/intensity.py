"""The running motion intensity of a face, shared by the live spotter and the offline apex.

The paper's eq. 3 sums the flow magnitude over the whole crop. Measured on synthetic recordings,
these changes raise an expression's z-score 2–3× over that and keep blinks and lighting out:
  * the face box alone (the crop's margin holds only background and hair, i.e. noise);
  * the head motion subtracted: an affine fit to the flow (translation, roll, zoom; the median flow,
    translation only, left a 0.5° roll above the strongest expression);
  * the eyes masked (blinks move the lids by several pixels, far more than a micro-expression);
  * the target's brightness scaled to the reference's (Farneback reads a 1 % gain change as motion,
    so lighting flicker against a frozen reference kept events "on" for up to 0.7 s after they ended);
  * the sum taken per band of the face (brows and eyes, nose and cheeks, mouth and chin), each scored
    against its own baseline by the spotter: an action unit is local, and the whole face's sum buried
    the faintest (≤ 0.6 px) in the noise of the rest. The bands add up to eq. 3 over the face, which
    the offline apex keeps using. A band next to the eyes saw blinks through the edge of the old
    eye mask (0.22 × 0.13), hence its larger default.
"""
from __future__ import annotations

from typing import Annotated, Literal

import cv2
import numpy as np
from pydantic import Field, model_validator

from stream.face import Box, eye_mask
from stream.flow import FarnebackParams, farneback, magnitude, remove_affine_motion
from stream.settings import Switch, config_class

Fraction = Annotated[float, Field(gt=0, le=1)]


@config_class
class IntensityConfig:
    size: int = Field(160, ge=16, description="the face box is resized to size × size (px)")
    flow: FarnebackParams = Field(default_factory=lambda: FarnebackParams(levels=2, winsize=11, iterations=2),
                                  description="the running flow's Farneback settings (lighter than the phases')")
    motion_compensation: Literal["affine", "none"] = Field(
        "affine", description="head motion taken out of the flow before the magnitude: affine (translation, roll, "
                              "scale, and small nods and turns to first order; it replaced the median flow, "
                              "translation only) or none")
    eye_mask: Switch = Field(True, description="ignore the eyes (blinks)")
    eye_mask_size: tuple[Fraction, Fraction] = Field(
        (0.26, 0.17), description="the eye ellipses' half-axes, fractions of the face width")
    gain_compensation: Switch = Field(True, description="match the target's mean brightness to the "
                                                        "reference's")
    band_edges: tuple[float, ...] = Field(
        (0.0, 0.45, 0.7, 1.0), description="row bounds of the face bands summed apart, fractions of the face box's "
                                           "height from the top: brows + eyes | nose + cheeks | mouth + chin; "
                                           "(0.0, 1.0) sums the whole face as one band")

    @model_validator(mode="after")
    def _bands(self) -> IntensityConfig:
        bounds = self.band_edges
        if len(bounds) < 2 or bounds[0] != 0.0 or bounds[-1] != 1.0 or any(a >= b for a, b in zip(bounds, bounds[1:])):
            raise ValueError(f"band_edges must rise strictly from 0.0 to 1.0, got {bounds}")
        if len(set(self.band_starts() + [self.size])) < len(bounds):
            raise ValueError(f"band_edges {bounds} give an empty band at {self.size} px")
        return self

    def band_starts(self) -> list[int]:
        """First row of each band in the size × size face."""
        return [int(round(b * self.size)) for b in self.band_edges[:-1]]


def face_slice(crop_size: int, margin: float) -> tuple[int, int]:
    """(offset, side) of the face box inside a crop made with `margin` on each side."""
    side = int(round(crop_size / (1 + 2 * margin)))
    return (crop_size - side) // 2, side


def match_brightness(reference: np.ndarray, target: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """`target` (uint8) scaled so its mean over `mask` equals the reference's."""
    mask_u8 = None if mask is None else mask.view(np.uint8)
    target_mean = cv2.mean(target, mask_u8)[0]
    if target_mean <= 0:
        return target
    return cv2.convertScaleAbs(target, alpha=cv2.mean(reference, mask_u8)[0] / target_mean)


class FaceIntensity:
    """Measures one crop window's face: `face(crop)` cuts the face out of a gray crop, `measure`
    gives the intensity per face band between two such faces. Holds only what the window fixes
    (the eye mask)."""

    def __init__(self, config: IntensityConfig, crop: Box, face: Box, crop_size: int, margin: float):
        self.config = config
        self.offset, self.side = face_slice(crop_size, margin)
        scale_x, scale_y = crop.w / crop_size, crop.h / crop_size    # a whole-frame crop need not be square
        face_box = Box(int(round(crop.x + self.offset * scale_x)), int(round(crop.y + self.offset * scale_y)),
                     int(round(self.side * scale_x)), int(round(self.side * scale_y)))
        self.mask = eye_mask(face, face_box, config.size, *config.eye_mask_size) if config.eye_mask else None
        self._weights = None if self.mask is None else self.mask.astype(np.float32)
        self._band_starts = config.band_starts()

    def face(self, gray_crop: np.ndarray) -> np.ndarray:
        face = gray_crop[self.offset:self.offset + self.side, self.offset:self.offset + self.side]
        size = self.config.size
        return face if self.side == size else cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)

    def flow(self, reference: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Farneback flow (eq. 1) from `reference` to `target` faces, brightness-matched, head motion removed."""
        if self.config.gain_compensation:
            target = match_brightness(reference, target, self.mask)
        flow = farneback(reference, target, self.config.flow)
        return remove_affine_motion(flow, self.mask) if self.config.motion_compensation == "affine" else flow

    def band_sums(self, flow: np.ndarray) -> np.ndarray:
        """Σ m over the unmasked pixels of each face band (eq. 2–3 per band; their sum is eq. 3)."""
        m = magnitude(flow)
        if self._weights is not None:
            m *= self._weights
        return np.add.reduceat(m.sum(axis=1), self._band_starts).astype(np.float64)

    def measure(self, reference: np.ndarray, target: np.ndarray) -> np.ndarray:
        """The intensity per face band between two faces."""
        return self.band_sums(self.flow(reference, target))

    def curve(self, gray_crops: list[np.ndarray]) -> np.ndarray:
        """Whole-face intensity of every crop against the first one (0 for the first)."""
        faces = [self.face(c) for c in gray_crops]
        return np.array([0.0] + [float(self.measure(faces[0], f).sum()) for f in faces[1:]])

    def detrended_curve(self, gray_crops: list[np.ndarray]) -> np.ndarray:
        """Whole-face intensity of the expression alone, for crops from onset to offset.

        The flow from the onset frame holds the expression and whatever the head did meanwhile.
        Both ends of a labelled clip show a resting face, so the onset→offset flow is head motion
        only; the share of it that a steady head motion has covered by frame t, (t / T)·flow(0→T),
        is subtracted before the magnitude. What a drifting head adds grows through the clip and
        put the argmax near the offset; what is left peaks with the expression (0 at both ends)."""
        faces = [self.face(c) for c in gray_crops]
        last = len(faces) - 1
        if last < 2:
            return np.zeros(len(faces))
        head = self.flow(faces[0], faces[last])
        curve = [0.0]
        for t in range(1, last):
            curve.append(float(self.band_sums(self.flow(faces[0], faces[t]) - (t / last) * head).sum()))
        return np.array(curve + [0.0])
