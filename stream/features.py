"""Sequence → the paper's phase features, shared by the offline pipeline and the live engine.

Per view: a fixed face crop (largest box over the window, §3.1) → 224² gray frames → apex by
eq. 1–3 → Farneback flows of the two phases, the rise (onset→apex) and the release (read
offset→apex by default, see `phase_features`) → channels u, v, m (§3.2), normalised.
Pure numpy/OpenCV: no torch here, so the live engine can import it cheaply.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from mer_live.stream.face import FaceDetector, NoFaceError, gray_crop, largest_box
from mer_live.stream.flow import FarnebackParams, apex_index, farneback, intensity_curve, magnitude
from mer_live.stream.intensity import FaceIntensity, IntensityConfig
from mer_live.stream.settings import Switch, config_class, config_to_json
from mer_live.stream.tracking import Window
from mer_live.stream.views import split_views

PHASES = ("onset_apex", "apex_offset")


@config_class
class PreprocessConfig:
    size: int = Field(224, ge=32, description="crop side fed to the flow and the model (px; paper: 224×224)")
    margin: float = Field(
        0.2, ge=0, le=1, description="the crop widens the face box by this fraction on each side (assumption)"
    )
    n_views: Literal[1, 2] = Field(2, description="views side by side in a frame")
    flow_scale: Literal["sample", "fixed"] = Field(
        "sample", description="sample: divide by the sample's 99th-percentile magnitude; fixed: by flow_clip_px"
    )
    flow_clip_px: float = Field(4.0, gt=0, description="the fixed scale, and the sample scale's cap (px; assumption)")
    flow: FarnebackParams = Field(default_factory=FarnebackParams, description="phase flows: the paper's Farneback")
    apex_intensity: Literal["detrended", "face", "paper"] = Field(
        "detrended",
        description="paper: eq. 3 over the whole crop against the onset; face: the displacement from the "
        "onset in the face region that moved most (stream.intensity, the live spotter's "
        "measure); detrended: the same less steady head motion taken from both ends of the "
        "clip, weighted by the apex prior (FaceIntensity.apex_curve; the live apex too)",
    )
    release_flow: Literal["offset_to_apex", "apex_to_offset"] = Field(
        "offset_to_apex", description="the second phase's flow direction; the paper's is apex_to_offset"
    )
    cropped: Switch = Field(
        False, description="frames are pre-cropped faces: each whole frame is the crop, no face detection"
    )
    intensity: IntensityConfig = Field(
        default_factory=IntensityConfig, description="the running intensity (the live spotter's and the apex's)"
    )

    def digest(self) -> str:
        """The feature cache's key: changes with any setting."""
        return hashlib.sha1(json.dumps(config_to_json(self), sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ViewFeatures:
    """One view of one event: the crop, the intensity curve, the apex and the two phase tensors."""

    window: Window
    curve: np.ndarray  # (T,) I_t against the onset frame
    apex_offset: int  # apex position within the window (0 = onset)
    phases: np.ndarray  # (2, 3, S, S) float32: phases × (u, v, m)


def fixed_crop_window(
    views: Iterable[np.ndarray], detector: FaceDetector, margin: float, cropped: bool = False
) -> Window:
    """The largest face box over the frames of a window, and its square crop (paper §3.1); with
    `cropped`, the whole frame (a face that fills the frame gets it from `crop_window` too)."""
    if cropped:
        return Window.whole(0, next(iter(views)).shape)
    shape = None
    boxes = []
    for view in views:
        shape = view.shape
        boxes.extend(detector.detect(view))
    face = largest_box(boxes)
    if face is None or shape is None:
        raise NoFaceError("no face found in any frame of the window")
    return Window.around(0, face, shape, margin)


MIN_SCALE_PX = 0.05  # below this the flow is noise: do not blow it up to full range


def flow_channels(flow: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """(H, W, 2) flow → (3, H, W) float32 channels u, v, m, scaled into [-1, 1] (§3.2 "normalised").

    With `flow_scale="sample"` each sample is divided by its own 99th-percentile magnitude (capped
    at flow_clip_px), so the model sees where and which way the face moved whatever the amplitude;
    with "fixed" every sample is divided by flow_clip_px."""
    u, v, m = flow[..., 0], flow[..., 1], magnitude(flow)
    scale = config.flow_clip_px
    if config.flow_scale == "sample":
        scale = float(np.clip(np.percentile(m, 99), MIN_SCALE_PX, config.flow_clip_px))
    return np.clip(np.stack([u, v, m]) / scale, -1.0, 1.0).astype(np.float32)


def phase_features(onset: np.ndarray, apex: np.ndarray, offset: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """(2, 3, S, S): the Farneback flows of the rise (onset→apex) and of the release as u, v, m channels.

    The paper takes the release as apex→offset. That flow is the rise's mirror image in sign, so a
    brow raise's release reads exactly like a brow lowerer's rise, and with both phases as samples
    of one label the model is taught that the two look alike (held-out UF1 0.82 on synthetic data).
    With `release_flow="offset_to_apex"` the same two frames are read from the resting face to the
    apex, so both phases show the expression with one sign (UF1 0.95 in the same run)."""
    release = (
        farneback(offset, apex, config.flow)
        if config.release_flow == "offset_to_apex"
        else farneback(apex, offset, config.flow)
    )
    return np.stack([flow_channels(farneback(onset, apex, config.flow), config), flow_channels(release, config)])


def apex_curve(gray_crops: list[np.ndarray], window: Window, config: PreprocessConfig) -> np.ndarray:
    """I_t of every crop from onset to offset, by the configured intensity; the apex is its argmax."""
    if config.apex_intensity == "paper":
        return intensity_curve(gray_crops, config.flow)
    measure = FaceIntensity(config.intensity, window.crop, window.face, config.size, window.margin)
    faces = [measure.face(crop) for crop in gray_crops]
    if config.apex_intensity == "face":
        return measure.displacement(faces, detrend=False).max(axis=1)
    return measure.apex_curve(faces)


def view_features(
    gray_crops: list[np.ndarray], window: Window, config: PreprocessConfig, apex_at: int | None = None
) -> ViewFeatures:
    """Features of one view from its onset…offset gray crops; the apex is detected unless given."""
    curve = apex_curve(gray_crops, window, config)
    apex = apex_index(curve) if apex_at is None else apex_at
    phases = phase_features(gray_crops[0], gray_crops[apex], gray_crops[-1], config)
    return ViewFeatures(window, curve, apex, phases)


def event_features(
    frames: list[np.ndarray],
    detector: FaceDetector,
    config: PreprocessConfig = PreprocessConfig(),
    apex_at: int | None = None,
) -> list[ViewFeatures]:
    """Features of every view for an event given its onset…offset RGB frames (side by side); the
    apex (a position in `frames`) is detected per view unless given."""
    if len(frames) < 2:
        raise ValueError(f"an event needs at least 2 frames, got {len(frames)}")
    per_view = list(zip(*(split_views(f, config.n_views) for f in frames)))
    results = []
    for view_frames in per_view:
        window = fixed_crop_window(view_frames, detector, config.margin, config.cropped)
        crops = [gray_crop(f, window.crop, config.size) for f in view_frames]
        results.append(view_features(crops, window, config, apex_at))
    return results


def stack_samples(views: list[ViewFeatures]) -> np.ndarray:
    """(V·2, 3, S, S): the views × phases of one event, the model's samples (phase-aware augmentation)."""
    return np.concatenate([v.phases for v in views])


class FeatureCache:
    """Phase features per sequence on disk, keyed by the preprocessing config, so reruns skip extraction."""

    def __init__(self, folder: Path, config: PreprocessConfig, apex: str = "detected"):
        self.folder = Path(folder) / (f"features-{config.digest()}" + ("" if apex == "detected" else f"-apex-{apex}"))
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.folder / (key.replace("/", "__") + ".npz")

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        path = self.path(key)
        if not path.exists():
            return None
        try:
            with np.load(path) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError):
            path.unlink(missing_ok=True)  # a half-written file from an interrupted run
            return None

    def save(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        path = self.path(key)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)
