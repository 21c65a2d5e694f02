"""Rendering a planned sequence: frames warped from the subject's base view, and their JPEG bytes.

Each frame is a backward warp of the base view by the expression, blink and drift fields; the
confounders (sensor noise, JPEG, slow head drift, blinks, lighting flicker) can be switched off one
by one in `SynthConfig`. The second view is the same deformed face seen through the subject's fixed
homography, with its own noise. `iter_long_stream` renders one long recording in memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from mer_live.synth.actions import BLINK, EYE_CENTRES, LocalField, displacement_field, expression_field
from mer_live.synth.faces import Subject
from mer_live.synth.plan import ExpressionEvent, SequenceSpec, SynthConfig, plan_dataset

NOISE_PAD = 64
BLINK_DARKENING = 0.35


def _eye_shading(landmarks: np.ndarray, shape: tuple[int, int]) -> LocalField:
    """Soft mask (1 at the eye centres) where a closing lid darkens the eye; stored in channel 0."""
    face_width = float(np.linalg.norm(landmarks[454] - landmarks[234]))
    centres = np.array([landmarks[list(e)].mean(0) for e in EYE_CENTRES])
    reach = face_width * 0.12
    top, left = np.maximum(centres.min(0) - reach, 0).astype(int)[::-1]
    bottom, right = np.minimum(centres.max(0) + reach, shape[::-1]).astype(int)[::-1]
    ys, xs = np.mgrid[top:bottom, left:right].astype(np.float32)
    sigma2 = 2 * (face_width * 0.045) ** 2
    mask = sum(np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / sigma2) for cx, cy in centres)
    return LocalField(int(top), int(left), mask.astype(np.float32)[..., None])


class NoiseBank:
    """A few Gaussian noise fields per view, read at random offsets, so each frame gets fresh-looking
    sensor noise without drawing 1.5 M normals per frame. Stored as saturating uint8 (+, −) pairs."""

    def __init__(self, rng: np.random.Generator, shape: tuple[int, int], sigma: float, size: int = 3):
        noise = rng.standard_normal((size, shape[0] + NOISE_PAD, shape[1] + NOISE_PAD, 3), dtype=np.float32) * sigma
        noise = np.clip(np.rint(noise), -255, 255)
        self.positive = np.maximum(noise, 0).astype(np.uint8)
        self.negative = np.maximum(-noise, 0).astype(np.uint8)
        self.shape = shape

    def apply(self, rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
        k = int(rng.integers(len(self.positive)))
        y, x = rng.integers(NOISE_PAD, size=2)
        window = np.s_[y : y + self.shape[0], x : x + self.shape[1]]
        return cv2.subtract(cv2.add(image, self.positive[k][window]), self.negative[k][window])


def _drift_path(rng: np.random.Generator, n_frames: int, fps: int) -> np.ndarray:
    """(n_frames + 1, 2) head translation in px, zero at frame 1: a constant velocity of 0.02–0.08 px/s
    plus a sway of 0.05–0.2 px with a 20–50 s period. Faster drift would outweigh the flow of the
    faintest expressions in a whole-face intensity sum."""
    t = np.arange(n_frames + 1, dtype=np.float64) / fps
    heading = rng.uniform(0, 2 * np.pi)
    velocity = rng.uniform(0.02, 0.08) * np.array([np.cos(heading), np.sin(heading)])
    sway = rng.uniform(0.05, 0.2, 2) * np.sin(
        2 * np.pi * t[:, None] / rng.uniform(20, 50) + rng.uniform(0, 2 * np.pi, 2)
    )
    path = t[:, None] * velocity + sway
    return (path - path[1]).astype(np.float32)


def _flicker_path(rng: np.random.Generator, n_frames: int, fps: int) -> np.ndarray:
    """(n_frames + 1,) global gain around 1: a slow ±0.5–1.5 % oscillation."""
    t = np.arange(n_frames + 1) / fps
    return 1 + rng.uniform(0.005, 0.015) * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t + rng.uniform(0, 2 * np.pi))


def _homography_sampling(homography: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W, 2) float32: for each view-2 pixel, the view-1 point it shows."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    points = np.stack([xs, ys, np.ones_like(xs)], -1) @ np.linalg.inv(homography).T
    return (points[..., :2] / points[..., 2:]).astype(np.float32)


def render_frames(subject: Subject, spec: SequenceSpec, config: SynthConfig) -> Iterator[tuple[int, np.ndarray]]:
    """(frame_number, (H, 2W, 3) uint8 RGB) for every frame of `spec`: a backward warp of the base
    view by the expression, blink and drift fields; view 2 samples view 1 through the homography."""
    rng = np.random.default_rng(spec.render_seed)
    shape = config.view_shape
    n = spec.n_frames
    grid = np.dstack(np.meshgrid(np.arange(shape[1], dtype=np.float32), np.arange(shape[0], dtype=np.float32)))
    view2_points = _homography_sampling(subject.view2_homography, shape)
    moving = [(e, expression_field(subject.landmarks, e.aus, shape, e.amplitude_px)) for e in spec.events]
    moving += [(b, displacement_field(subject.landmarks, [("", BLINK)], shape, b.amplitude_px)) for b in spec.blinks]
    shading = _eye_shading(subject.landmarks, shape) if spec.blinks else None
    drift = _drift_path(rng, n, spec.fps) if config.drift else np.zeros((n + 1, 2), np.float32)
    gain = _flicker_path(rng, n, spec.fps) if config.flicker else np.ones(n + 1)
    noise = [NoiseBank(rng, shape, rng.uniform(2.0, 4.0)) for _ in range(2)] if config.noise else None
    for number in spec.frame_numbers():
        sampling = grid - drift[number]
        for motion, local in moving:
            weight = motion.profile(number)
            if weight > 0:
                sampling[local.region()] -= np.float32(weight) * local.values
        image = subject.base
        closing = max((b.profile(number) for b in spec.blinks), default=0.0)
        if shading is not None and closing > 0:
            image = image.copy()
            region = image[shading.region()]
            region[:] = (region * (1 - BLINK_DARKENING * closing * shading.values)).astype(np.uint8)
        if gain[number] != 1:
            image = cv2.convertScaleAbs(image, alpha=float(gain[number]))
        view1 = cv2.remap(image, sampling, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        view2_sampling = cv2.remap(sampling, view2_points, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        view2 = cv2.remap(image, view2_sampling, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if noise is not None:
            view1, view2 = noise[0].apply(rng, view1), noise[1].apply(rng, view2)
        yield number, np.hstack([view1, view2])


def encode_frame(rgb: np.ndarray, config: SynthConfig) -> bytes:
    """JPEG bytes of an RGB frame (quality `jpeg_quality`, or 100 when the jpeg confounder is off)."""
    quality = config.jpeg_quality if config.jpeg else 100
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return data.tobytes()


# ---------------------------------------------------------------- a long recording in memory
@dataclass(frozen=True)
class LongStream:
    """An in-memory long recording: `events` is its ground truth, `frames()` renders it on demand."""

    subject: Subject
    spec: SequenceSpec
    config: SynthConfig

    @property
    def events(self) -> tuple[ExpressionEvent, ...]:
        return self.spec.events

    def frames(self) -> Iterator[tuple[int, np.ndarray]]:
        """(frame_number, RGB frame); with the jpeg confounder on, each frame makes a JPEG round trip
        so the stream carries the same artefacts as written files."""
        for number, rgb in render_frames(self.subject, self.spec, self.config):
            if self.config.jpeg:
                bgr = cv2.imdecode(np.frombuffer(encode_frame(rgb, self.config), np.uint8), cv2.IMREAD_COLOR)
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            yield number, rgb

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        return self.frames()


def iter_long_stream(
    seed: int = 0, seconds: float = 60, config: SynthConfig = SynthConfig(), faces_dir: str | os.PathLike | None = None
) -> LongStream:
    """A long recording of `seconds` rendered frame by frame without files; it shows the same
    subject and events as `generate_dataset(..., subjects=1, per_subject=1, long=True,
    long_seconds=(seconds, seconds), seed=seed)`."""
    [(subject, [spec])] = plan_dataset(
        subjects=1,
        per_subject=1,
        seed=seed,
        long=True,
        long_seconds=(seconds, seconds),
        faces_dir=faces_dir,
        config=config,
    )
    return LongStream(subject, spec, config)
