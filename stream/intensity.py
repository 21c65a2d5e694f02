"""The running motion intensity of a face, shared by the live spotter and the offline apex.

The paper's eq. 3 sums the flow magnitude over the whole crop. Measured on synthetic recordings,
these changes raise an expression's z-score 2–3× over that and keep blinks and lighting out:
  * the face box alone (the crop's margin holds only background and hair, i.e. noise);
  * the median flow subtracted (head translation);
  * the eyes masked (blinks move the lids by several pixels, far more than a micro-expression);
  * the target's brightness scaled to the reference's (Farneback reads a 1 % gain change as motion,
    so lighting flicker against a frozen reference kept events "on" for up to 0.7 s after they ended).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from stream.face import Box, eye_mask
from stream.flow import FarnebackParams, farneback, intensity, remove_global_motion


@dataclass(frozen=True)
class IntensityConfig:
    size: int = 160                    # the face box is resized to size × size
    flow: FarnebackParams = field(default_factory=lambda: FarnebackParams(levels=2, winsize=11, iterations=2))
    motion_compensation: bool = True   # subtract the median flow (head translation)
    eye_mask: bool = True              # ignore the eyes (blinks)
    eye_mask_size: tuple[float, float] = (0.22, 0.13)   # ellipse half-axes, fractions of the face width
    gain_compensation: bool = True     # match the target's mean brightness to the reference's

    def __post_init__(self) -> None:
        if self.size < 16:
            raise ValueError(f"intensity size must be ≥ 16 px, got {self.size}")


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
    gives the intensity between two such faces. Holds only what the window fixes (the eye mask)."""

    def __init__(self, config: IntensityConfig, crop: Box, face: Box, crop_size: int, margin: float):
        self.config = config
        self.offset, self.side = face_slice(crop_size, margin)
        scale = crop.w / crop_size
        region = Box(int(round(crop.x + self.offset * scale)), int(round(crop.y + self.offset * scale)),
                     int(round(self.side * scale)), int(round(self.side * scale)))
        self.mask = eye_mask(face, region, config.size, *config.eye_mask_size) if config.eye_mask else None

    def face(self, gray_crop: np.ndarray) -> np.ndarray:
        face = gray_crop[self.offset:self.offset + self.side, self.offset:self.offset + self.side]
        size = self.config.size
        return face if self.side == size else cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)

    def measure(self, reference: np.ndarray, target: np.ndarray) -> float:
        if self.config.gain_compensation:
            target = match_brightness(reference, target, self.mask)
        flow = farneback(reference, target, self.config.flow)
        if self.config.motion_compensation:
            flow = remove_global_motion(flow)
        return intensity(flow, self.mask)

    def curve(self, gray_crops: list[np.ndarray]) -> np.ndarray:
        """Intensity of every crop against the first one (0 for the first)."""
        faces = [self.face(c) for c in gray_crops]
        return np.array([0.0] + [self.measure(faces[0], f) for f in faces[1:]])
