"""Sequence → the paper's phase features, shared by the offline pipeline and the live engine.

Per view: a fixed face crop (largest box over the window, §3.1) → 224² gray frames → apex by
eq. 1–3 → Farneback flows of the two phases, the rise (onset→apex) and the release (read
offset→apex by default, see `phase_features`) → channels u, v, m (§3.2), normalised.
Pure numpy/OpenCV: no torch here, so the live engine can import it cheaply.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from stream.face import FaceDetector, NoFaceError, gray_crop, largest_box
from stream.flow import FarnebackParams, apex_index, farneback, intensity_curve, magnitude
from stream.intensity import FaceIntensity, IntensityConfig
from stream.tracking import Window
from stream.views import split_views

PHASES = ("onset_apex", "apex_offset")
APEX_INTENSITIES = ("detrended", "face", "paper")


@dataclass(frozen=True)
class PreprocessConfig:
    size: int = 224                 # crop side fed to the flow and the model (paper: 224×224)
    margin: float = 0.2             # crop widened by this fraction of the face box on each side (assumption)
    n_views: int = 2                # views side by side in a frame
    flow_scale: str = "sample"      # "sample": divide by the sample's 99th-percentile magnitude; "fixed": by flow_clip_px
    flow_clip_px: float = 4.0       # the fixed scale, and the sample scale's cap (assumption)
    flow: FarnebackParams = field(default_factory=FarnebackParams)       # phase flows: the paper's Farneback
    # "paper": eq. 3 over the whole crop against the onset; "face": stream.intensity (the live
    # spotter's) against the onset; "detrended": the face intensity less steady head motion, taken
    # from both ends of the clip (FaceIntensity.detrended_curve)
    apex_intensity: str = "detrended"
    release_flow: str = "offset_to_apex"   # the second phase's flow direction; the paper's is "apex_to_offset"
    cropped: bool = False           # frames are pre-cropped faces: each whole frame is the crop, no face detection
    intensity: IntensityConfig = field(default_factory=IntensityConfig)

    def __post_init__(self) -> None:
        if self.size < 32:
            raise ValueError(f"size must be ≥ 32 px, got {self.size}")
        if not 0 <= self.margin <= 1:
            raise ValueError(f"margin must lie in [0, 1], got {self.margin}")
        if self.n_views not in (1, 2):
            raise ValueError(f"n_views must be 1 or 2, got {self.n_views}")
        if self.flow_clip_px <= 0:
            raise ValueError(f"flow_clip_px must be > 0, got {self.flow_clip_px}")
        if self.flow_scale not in ("sample", "fixed"):
            raise ValueError(f"flow_scale must be 'sample' or 'fixed', got {self.flow_scale!r}")
        if self.release_flow not in ("offset_to_apex", "apex_to_offset"):
            raise ValueError(f"release_flow must be 'offset_to_apex' or 'apex_to_offset', got {self.release_flow!r}")
        if self.apex_intensity not in APEX_INTENSITIES:
            raise ValueError(f"apex_intensity must be one of {', '.join(APEX_INTENSITIES)}, got {self.apex_intensity!r}")

    def digest(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ViewFeatures:
    """One view of one event: the crop, the intensity curve, the apex and the two phase tensors."""

    window: Window
    curve: np.ndarray          # (T,) I_t against the onset frame
    apex_offset: int           # apex position within the window (0 = onset)
    phases: np.ndarray         # (2, 3, S, S) float32: phases × (u, v, m)


def fixed_crop_window(views: Iterable[np.ndarray], detector: FaceDetector, margin: float,
                      cropped: bool = False) -> Window:
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


MIN_SCALE_PX = 0.05   # below this the flow is noise: do not blow it up to full range


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


def phase_features(onset: np.ndarray, apex: np.ndarray, offset: np.ndarray,
                   config: PreprocessConfig) -> np.ndarray:
    """(2, 3, S, S): the Farneback flows of the rise (onset→apex) and of the release as u, v, m channels.

    The paper takes the release as apex→offset. That flow is the rise's mirror image in sign, so a
    brow raise's release reads exactly like a brow lowerer's rise, and with both phases as samples
    of one label the model is taught that the two look alike (held-out UF1 0.82 on synthetic data).
    With `release_flow="offset_to_apex"` the same two frames are read from the resting face to the
    apex, so both phases show the expression with one sign (UF1 0.95 in the same run)."""
    release = (farneback(offset, apex, config.flow) if config.release_flow == "offset_to_apex"
               else farneback(apex, offset, config.flow))
    return np.stack([flow_channels(farneback(onset, apex, config.flow), config), flow_channels(release, config)])


def apex_curve(gray_crops: list[np.ndarray], window: Window, config: PreprocessConfig) -> np.ndarray:
    """I_t of every crop from onset to offset, by the configured intensity; the apex is its argmax."""
    if config.apex_intensity == "paper":
        return intensity_curve(gray_crops, config.flow)
    measure = FaceIntensity(config.intensity, window.crop, window.face, config.size, window.margin)
    return measure.curve(gray_crops) if config.apex_intensity == "face" else measure.detrended_curve(gray_crops)


def view_features(gray_crops: list[np.ndarray], window: Window, config: PreprocessConfig,
                  apex_at: int | None = None) -> ViewFeatures:
    """Features of one view from its onset…offset gray crops; the apex is detected unless given."""
    curve = apex_curve(gray_crops, window, config)
    apex = apex_index(curve) if apex_at is None else apex_at
    phases = phase_features(gray_crops[0], gray_crops[apex], gray_crops[-1], config)
    return ViewFeatures(window, curve, apex, phases)


def event_features(frames: list[np.ndarray], detector: FaceDetector,
                   config: PreprocessConfig = PreprocessConfig()) -> list[ViewFeatures]:
    """Features of every view for an event given its onset…offset RGB frames (side by side)."""
    if len(frames) < 2:
        raise ValueError(f"an event needs at least 2 frames, got {len(frames)}")
    per_view = list(zip(*(split_views(f, config.n_views) for f in frames)))
    results = []
    for view_frames in per_view:
        window = fixed_crop_window(view_frames, detector, config.margin, config.cropped)
        crops = [gray_crop(f, window.crop, config.size) for f in view_frames]
        results.append(view_features(crops, window, config))
    return results


def stack_samples(views: list[ViewFeatures]) -> np.ndarray:
    """(V·2, 3, S, S): the views × phases of one event, the model's samples (phase-aware augmentation)."""
    return np.concatenate([v.phases for v in views])


class FeatureCache:
    """Phase features per sequence on disk, keyed by the preprocessing config, so reruns skip extraction."""

    def __init__(self, folder: Path, config: PreprocessConfig):
        self.folder = Path(folder) / f"features-{config.digest()}"
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
            path.unlink(missing_ok=True)   # a half-written file from an interrupted run
            return None

    def save(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        path = self.path(key)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)

