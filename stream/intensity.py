"""The motion of a face between two pictures, shared by the live spotter and the offline apex.

Two faces (gray, cut from one fixed crop window) give a Farneback flow (eq. 1); from it:
  * the head's motion, an affine fit to the flow (translation, roll, zoom, and small nods and
    turns to first order), taken out of the flow and kept as one number (`FaceMotion.head`);
  * what is left, per region of the face: the length of the region's mean flow vector. An action
    unit moves a patch of skin one way, so its vectors add up while the flow's noise (which points
    anywhere) cancels: on real calm faces with injected expressions this separated events from
    idle frames better than the sum of magnitudes (eq. 2–3 per region), which adds the noise up too;
  * the eyes' own motion (`FaceMotion.eyes`), which the regions leave out: a blink moves the lids by
    several pixels, far more than a micro-expression, and is read as a face state instead.

What is measured is the face box with a strip of forehead above it: MediaPipe's box ends at the
brows, and brow raises and frowns happen there. The regions are bands of that area (brows and
eyes, nose and cheeks, mouth and chin) split into left and right halves (a one-sided unit, a lip
corner). Before the flow the target's brightness is scaled to the reference's (Farneback reads a
1 % gain change as motion).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Literal

import cv2
import numpy as np
from pydantic import Field, model_validator

from mer_live.stream.face import Box, eye_mask
from mer_live.stream.flow import FarnebackParams, affine_fit, farneback, pixel_grid
from mer_live.stream.settings import Switch, config_class

Fraction = Annotated[float, Field(gt=0, le=1)]
REFERENCE_FACE_PX = 224.0  # displacements are quoted at a face this wide: the paper's crop, where real sizes are known


@config_class
class IntensityConfig:
    size: int = Field(160, ge=16, description="the measured area is resized to size × size (px)")
    flow: FarnebackParams = Field(
        default_factory=lambda: FarnebackParams(levels=2, winsize=11, iterations=2),
        description="the running flow's Farneback settings (lighter than the phases')",
    )
    lag_s: float = Field(
        0.1,
        gt=0,
        description="the live reference is the newest new picture at least this far back "
        "(s): about an expression's rise, short enough that head drift and "
        "light changes add little",
    )
    forehead: float = Field(
        0.2,
        ge=0,
        le=0.5,
        description="share of the face box's height measured above it (the "
        "detector's box ends at the brows); at most the crop's "
        "margin",
    )
    motion_compensation: Literal["affine", "none"] = Field(
        "affine",
        description="head motion taken out of the flow: affine (translation, roll, scale, and small nods "
        "and turns to first order) or none",
    )
    eye_mask: Switch = Field(True, description="leave the eyes out of the regions (blinks) and measure them apart")
    eye_mask_size: tuple[Fraction, Fraction] = Field(
        (0.15, 0.07),
        description="the eye ellipses' half-axes, fractions of the face width: the eye opening and lids, "
        "not the brows (assumption, checked on the shared real videos)",
    )
    gain_compensation: Switch = Field(True, description="match the target's mean brightness to the reference's")
    band_edges: tuple[float, ...] = Field(
        (0.0, 0.45, 0.7, 1.0),
        description="row bounds of the face bands, fractions of the measured area's height "
        "from the top: forehead, brows + eyes | nose + cheeks | mouth + chin",
    )
    columns: Literal[1, 2] = Field(2, description="each band split into this many columns (2: the face's two halves)")
    apex_prior: tuple[Fraction, Fraction] | None = Field(
        (0.35, 0.2),
        description="where in onset…offset an apex falls, as (centre, width) fractions of the clip: the "
        "displacement is weighted by a Gaussian there before the argmax (a micro-expression "
        "rises faster than it fades; assumption, not fitted to our data); null: none",
    )

    @model_validator(mode="after")
    def _bands(self) -> IntensityConfig:
        bounds = self.band_edges
        if len(bounds) < 2 or bounds[0] != 0.0 or bounds[-1] != 1.0 or any(a >= b for a, b in zip(bounds, bounds[1:])):
            raise ValueError(f"band_edges must rise strictly from 0.0 to 1.0, got {bounds}")
        if len(set(self.band_starts() + [self.size])) < len(bounds):
            raise ValueError(f"band_edges {bounds} give an empty band at {self.size} px")
        return self

    def band_starts(self) -> list[int]:
        """First row of each band in the size × size area."""
        return [int(round(b * self.size)) for b in self.band_edges[:-1]]

    @property
    def regions(self) -> int:
        return (len(self.band_edges) - 1) * self.columns

    def region_band(self, region: int) -> int:
        return region // self.columns

    def largest_reference_px(self, motions: Iterable[FaceMotion]) -> float:
        """The largest region displacement among `motions`, in px at a REFERENCE_FACE_PX-wide face."""
        return max(float(m.regions.max()) for m in motions) * REFERENCE_FACE_PX / self.size

    def region_side(self, region: int) -> str | None:
        """'left' or 'right' half of the picture (not of the person), None with one column."""
        return None if self.columns == 1 else ("left", "right")[region % self.columns]


@dataclass(frozen=True)
class FaceMotion:
    """What moved between two pictures of a face (px at the measured size)."""

    vectors: np.ndarray  # (bands · columns, 2) each region's mean flow (u, v), head motion removed
    head: float  # RMS of the fitted head motion over the face
    eyes: float = 0.0  # mean flow magnitude inside the eye ellipses, head motion removed (0 without them)

    @cached_property
    def regions(self) -> np.ndarray:
        """(bands · columns,) the length of each region's mean flow."""
        return np.hypot(self.vectors[:, 0], self.vectors[:, 1])


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
    """Measures one crop window's face: `face(crop)` cuts the measured area out of a gray crop,
    `motion(reference, target)` gives the FaceMotion between two such areas. Holds only what the
    window fixes (the area, the eye mask, the regions)."""

    def __init__(self, config: IntensityConfig, crop: Box, face: Box, crop_size: int, margin: float):
        self.config = config
        offset, side = face_slice(crop_size, margin)
        above = min(int(round(config.forehead * side)), offset)
        self.rows = (offset - above, offset + side)
        self.cols = (offset, offset + side)
        scale_x, scale_y = crop.w / crop_size, crop.h / crop_size  # a whole-frame crop need not be square
        area = Box(
            int(round(crop.x + offset * scale_x)),
            int(round(crop.y + self.rows[0] * scale_y)),
            int(round(side * scale_x)),
            int(round((side + above) * scale_y)),
        )
        self.mask = eye_mask(face, area, config.size, *config.eye_mask_size) if config.eye_mask else None
        weights = np.ones((config.size, config.size), np.float32) if self.mask is None else self.mask.astype(np.float32)
        self._weights = weights
        self._row_starts = config.band_starts()
        self._col_starts = [int(round(c * config.size / config.columns)) for c in range(config.columns)]
        self._counts = np.maximum(self._per_region(weights), 1.0)
        self._eyes = None if self.mask is None or self.mask.all() else ~self.mask
        # the mean of [x, y, 1]ᵀ[x, y, 1] over the face: the head motion's mean square from its
        # affine coefficients alone, mean |[x, y, 1]·A|² = trace(Aᵀ M A), without the field
        grid = pixel_grid(config.size, config.size).reshape(-1, 3)
        self._moments = (grid * weights.reshape(-1, 1)).T @ grid / weights.sum()

    def face(self, gray_crop: np.ndarray) -> np.ndarray:
        area = gray_crop[self.rows[0] : self.rows[1], self.cols[0] : self.cols[1]]
        size = self.config.size
        return area if area.shape == (size, size) else cv2.resize(area, (size, size), interpolation=cv2.INTER_AREA)

    def _per_region(self, values: np.ndarray) -> np.ndarray:
        """Sums of `values` (H, W[, …]) over each band × column, flattened band by band."""
        sums = np.add.reduceat(np.add.reduceat(values, self._row_starts, axis=0), self._col_starts, axis=1)
        return sums.reshape(self.config.regions, *values.shape[2:])

    def residual_flow(self, reference: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the flow less the head's motion, the head motion's affine coefficients (3, 2)) from
        `reference` to `target` (eq. 1)."""
        if self.config.gain_compensation:
            target = match_brightness(reference, target, self.mask)
        flow = farneback(reference, target, self.config.flow)
        if self.config.motion_compensation == "none":
            return flow, np.zeros((3, 2))
        coefficients = affine_fit(flow, self.mask)
        return flow - pixel_grid(*flow.shape[:2]) @ coefficients.astype(np.float32), coefficients

    def motion(self, reference: np.ndarray, target: np.ndarray) -> FaceMotion:
        """What moved from `reference` to `target` (faces from `face`)."""
        residual, head = self.residual_flow(reference, target)
        mean_vectors = self._per_region(residual * self._weights[..., None]) / self._counts[:, None]
        head_rms = float(np.sqrt(max(np.trace(head.T @ self._moments @ head), 0.0)))
        eyes = float(np.hypot(*residual[self._eyes].T).mean()) if self._eyes is not None else 0.0
        return FaceMotion(mean_vectors.astype(np.float64), head_rms, eyes)

    def displacement(self, faces: list[np.ndarray], detrend: bool) -> np.ndarray:
        """(T, regions): each face's displacement from the first, per region (0 for the first).

        With `detrend` the faces run from onset to offset, both a resting face, so the first→last
        flow is head motion only; the share of it a steady drift has covered by face t,
        (t / T)·flow(0→T), is subtracted before the region means (0 at both ends)."""
        return self.displacement_of(self.motions_from_first(faces), detrend)

    def motions_from_first(self, faces: list[np.ndarray]) -> list[FaceMotion]:
        """The FaceMotion from the first face to each (`still` for the first)."""
        return [self.still()] + [self.motion(faces[0], face) for face in faces[1:]]

    def still(self) -> FaceMotion:
        """A face's motion from itself."""
        return FaceMotion(np.zeros((self.config.regions, 2)), 0.0)

    @staticmethod
    def displacement_of(motions: list[FaceMotion], detrend: bool) -> np.ndarray:
        """`displacement` from the motions of the faces from the first. A region's mean flow is linear
        in the flow, so the drift comes off the region means as it would off the flow."""
        vectors = np.stack([m.vectors for m in motions])
        last = len(motions) - 1
        if detrend and last >= 2:
            vectors = vectors - (np.arange(last + 1) / last)[:, None, None] * vectors[last]
        return np.hypot(vectors[..., 0], vectors[..., 1])

    def apex_curve(self, faces: list[np.ndarray], detrend: bool = True, region: int | None = None) -> np.ndarray:
        """(T,): each face's displacement from the first in `region` (None: the region that moved most),
        weighted by the apex prior; the apex is its argmax. `detrend` as in `displacement`."""
        displacement = self.displacement(faces, detrend)
        if region is None:
            region = int(np.argmax(displacement.max(axis=0)))
        return displacement[:, region] * apex_prior(len(faces), self.config.apex_prior)

    def apex_and_return(self, motions: list[FaceMotion], end: int, region: int) -> tuple[int, float, float]:
        """A spotted event's apex and how far its face came back: `motions` of the faces from the
        event's reference (`motions_from_first`) to a picture after it, `end` the index of its
        offset. Returns the apex's index (by `apex_curve` over motions[:end + 1]) and the displacement
        in `region` at the apex and at the last face: a micro-expression comes back (≈ 0 left); the
        onset of a held smile or a head that moved and stayed does not."""
        curve = self.displacement_of(motions[: end + 1], detrend=True)[:, region] * apex_prior(
            end + 1, self.config.apex_prior
        )
        apex = int(np.argmax(curve))
        return apex, float(motions[apex].regions[region]), float(motions[-1].regions[region])


def apex_prior(n: int, prior: tuple[float, float] | None) -> np.ndarray:
    """(n,) weights over the frames of onset…offset: a Gaussian at `prior` = (centre, width) of the clip."""
    if prior is None or n < 3:
        return np.ones(n)
    centre, width = prior
    position = np.arange(n) / (n - 1)
    return np.exp(-0.5 * ((position - centre) / width) ** 2)
