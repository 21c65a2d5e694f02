"""Deterministic synthetic micro-expression data in the two-view 4DME layout.

A real face photograph (skimage's astronaut, or the user's own photos) becomes one base view per
subject; FACS-like action units deform it with smooth Gaussian displacement fields anchored on
MediaPipe FaceMesh landmarks, following an onset → apex → offset profile. Confounders (sensor
noise, JPEG, slow head drift, blinks, lighting flicker, macro-expressions in long recordings)
can be switched off one by one. The second view is the same deformed face seen through a fixed
per-subject homography, with its own noise.

Layout written by `generate_dataset`:

    OUT/<sub_ID>/<fold_name>/img_<n>.jpg   n = 1, 2, ... (not zero-padded, as in 4DME);
                                           each JPEG holds view 1 | view 2 side by side
    OUT/labels.csv                         one row per micro-expression
    OUT/events.csv                         long recordings only: every true event, micro and macro

Everything is a pure function of the seed: subjects and sequences draw from children of
`np.random.SeedSequence(seed)`, so the bytes do not depend on the number of workers.
"""
from __future__ import annotations

import csv
import json
import multiprocessing
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
from tqdm import tqdm

from corpora.labels import CLASSES
from corpora import fourdme as dataset_format

LABEL_COLUMNS = dataset_format.LABEL_COLUMNS
EVENT_COLUMNS = dataset_format.EVENT_COLUMNS + ("kind",)  # the reader's columns plus its optional one
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
REFERENCE_FACE_WIDTH = 224.0  # amplitudes are given for a face this wide and scaled to the view's face


@dataclass(frozen=True)
class SynthConfig:
    """Frame geometry, encoding and the confounder switches (all on by default)."""

    fps: int = 60
    view_width: int = 640
    view_height: int = 800
    jpeg_quality: int = 90
    noise: bool = True
    jpeg: bool = True       # off: frames are written at quality 100 and streamed without a JPEG round trip
    drift: bool = True
    blinks: bool = True
    flicker: bool = True
    macro: bool = True      # long recordings only

    def __post_init__(self) -> None:
        for name in ("fps", "view_width", "view_height", "jpeg_quality"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"SynthConfig.{name} must be an integer, got {value!r}")
        if not 10 <= self.fps <= 1000:
            raise ValueError(f"SynthConfig.fps must lie in 10..1000, got {self.fps}")
        for name in ("view_width", "view_height"):
            if not 256 <= getattr(self, name) <= 4096:
                raise ValueError(f"SynthConfig.{name} must lie in 256..4096 px, got {getattr(self, name)}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"SynthConfig.jpeg_quality must lie in 1..100, got {self.jpeg_quality}")
        for name in ("noise", "jpeg", "drift", "blinks", "flicker", "macro"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"SynthConfig.{name} must be True or False, got {getattr(self, name)!r}")

    @property
    def view_shape(self) -> tuple[int, int]:
        return (self.view_height, self.view_width)


# ---------------------------------------------------------------- action units
@dataclass(frozen=True)
class PointGroup:
    """Landmarks that move one way: `out` along the face's left-right axis away from the midline
    (negative = inward; no effect on midline points), `up` along the chin → forehead axis."""

    landmarks: tuple[int, ...]
    out: float
    up: float


@dataclass(frozen=True)
class ActionUnit:
    groups: tuple[PointGroup, ...]
    sigma: float  # Gaussian radius as a fraction of the face width


def _au(sigma: float, *groups: tuple[tuple[int, ...], float, float]) -> ActionUnit:
    return ActionUnit(tuple(PointGroup(*g) for g in groups), sigma)


INNER_BROWS = (107, 66, 336, 296)
OUTER_BROWS = (70, 63, 105, 300, 293, 334)
UPPER_LIDS = (159, 158, 160, 386, 385, 387)
LOWER_LIDS = (145, 153, 144, 374, 380, 373)
LIP_CORNERS = (61, 291)
CHIN = (152, 175, 199)

ACTION_UNITS: dict[str, ActionUnit] = {
    "1": _au(0.06, (INNER_BROWS, 0.0, 1.0)),
    "2": _au(0.06, (OUTER_BROWS, 0.15, 1.0)),
    "4": _au(0.06, (INNER_BROWS + OUTER_BROWS, -0.6, -1.0)),
    "5": _au(0.04, (UPPER_LIDS, 0.0, 1.0)),
    "6": _au(0.07, ((205, 425, 50, 280), 0.2, 1.0)),
    "7": _au(0.04, (LOWER_LIDS, -0.2, 1.0)),
    "9": _au(0.05, ((129, 358), -0.3, 1.0)),
    "10": _au(0.05, ((0, 37, 267), 0.0, 1.0)),
    "12": _au(0.06, (LIP_CORNERS, 1.0, 0.8)),
    "14": _au(0.05, (LIP_CORNERS, 0.7, 0.0)),
    "15": _au(0.06, (LIP_CORNERS, 0.2, -1.0)),
    "17": _au(0.07, (CHIN + (17,), 0.0, 1.0)),
    "18": _au(0.05, (LIP_CORNERS, -1.0, 0.0), ((0,), 0.0, -0.4), ((17,), 0.0, 0.4)),
    "24": _au(0.04, ((13, 0), 0.0, -1.0), ((14, 17), 0.0, 1.0)),
    "26": _au(0.08, (CHIN + (14, 17), 0.0, -1.0)),
}
BLINK = _au(0.035, (UPPER_LIDS, 0.0, -1.0))
EYE_CENTRES = ((33, 133, 159, 145), (263, 362, 386, 374))


@dataclass(frozen=True)
class Recipe:
    """AUs of one class: one of `cores`, plus each of `optional` with probability `optional_p`."""

    cores: tuple[tuple[str, ...], ...]
    optional: tuple[str, ...] = ()
    optional_p: float = 0.4


RECIPES: dict[str, Recipe] = {
    "Negative": Recipe((("4", "7"),), ("9", "15")),
    "Positive": Recipe((("12",),), ("6",)),
    "Repression": Recipe((("14", "17"), ("17", "24"), ("14", "24"), ("14", "17", "24"))),
    "Surprise": Recipe((("1", "2"),), ("5", "26")),
    "Others": Recipe((("L1", "L2"), ("R1", "R2"), ("10",), ("18",))),
}
# Classes that may co-occur in one event (about one in five events of these primaries carries two labels).
LABEL_PARTNERS: dict[str, tuple[str, ...]] = {
    "Negative": ("Surprise", "Repression"),
    "Positive": ("Surprise", "Repression"),
    "Repression": ("Negative", "Positive"),
    "Surprise": ("Negative", "Positive"),
    "Others": (),
}
MULTI_LABEL_P = 0.2


def parse_au(name: str) -> tuple[str, ActionUnit]:
    """('L' | 'R' | '', unit) of an AU name such as '12' or 'L1'; L/R mean the image-left/right half of view 1."""
    side, code = (name[0], name[1:]) if name[:1] in ("L", "R") else ("", name)
    if code not in ACTION_UNITS:
        raise ValueError(f"unknown action unit {name!r}; known: {', '.join(ACTION_UNITS)}")
    return side, ACTION_UNITS[code]


def draw_aus(rng: np.random.Generator, labels: tuple[str, ...]) -> tuple[str, ...]:
    """AUs for an event of `labels`, in FACS order, one recipe per label."""
    aus: set[str] = set()
    for label in labels:
        recipe = RECIPES[label]
        aus.update(recipe.cores[rng.integers(len(recipe.cores))])
        aus.update(au for au in recipe.optional if rng.random() < recipe.optional_p)
    return tuple(sorted(aus, key=lambda a: (int(a.lstrip("LR")), a)))


def draw_labels(rng: np.random.Generator, primary: str) -> tuple[str, ...]:
    """`primary`, sometimes with a partner class; in CLASSES order."""
    partners = LABEL_PARTNERS[primary]
    labels = {primary}
    if partners and rng.random() < MULTI_LABEL_P:
        labels.add(partners[rng.integers(len(partners))])
    return tuple(c for c in CLASSES if c in labels)


# ---------------------------------------------------------------- timing and ground truth
def peak_profile(x: float) -> float:
    """Rise from 0 at x=0 to 1 at x=1 with zero slope at the start and a non-zero slope at the
    apex, so the apex is a strict maximum (real intensity curves peak rather than plateau)."""
    return x * x * (2.0 - x)


@dataclass(frozen=True)
class Motion:
    """A local deformation on frames onset..offset, peaking at `apex` with `amplitude_px` (view-1 px)."""

    onset: int
    apex: int
    offset: int
    amplitude_px: float

    def __post_init__(self) -> None:
        if not self.onset < self.apex < self.offset:
            raise ValueError(f"need onset < apex < offset, got {self.onset}, {self.apex}, {self.offset}")

    def profile(self, frame_number: float) -> float:
        """0 outside (onset, offset), 1 exactly at the apex."""
        n = frame_number
        if n <= self.onset or n >= self.offset:
            return 0.0
        if n <= self.apex:
            return peak_profile((n - self.onset) / (self.apex - self.onset))
        return peak_profile((self.offset - n) / (self.offset - self.apex))

    def displacement(self, frame_number: float) -> float:
        """Largest displacement in px of this motion's field at the frame."""
        return self.amplitude_px * self.profile(frame_number)

    def overlaps(self, first: int, last: int, margin: int = 0) -> bool:
        return self.onset - margin <= last and first <= self.offset + margin


@dataclass(frozen=True)
class ExpressionEvent(Motion):
    """A micro- or macro-expression: its labels and the action units that make it."""

    kind: str
    labels: tuple[str, ...]
    aus: tuple[str, ...]

    def duration_s(self, fps: float) -> float:
        return (self.offset - self.onset) / fps


@dataclass(frozen=True)
class SequenceSpec:
    """Ground truth of one sequence or long recording. Frame numbers start at 1."""

    sub_id: str
    fold_name: str
    n_frames: int
    fps: int
    events: tuple[ExpressionEvent, ...]
    blinks: tuple[Motion, ...]
    render_seed: int

    @property
    def micro_events(self) -> tuple[ExpressionEvent, ...]:
        return tuple(e for e in self.events if e.kind == "micro")

    def frame_numbers(self) -> range:
        return range(1, self.n_frames + 1)

    def true_displacement(self, frame_number: int) -> float:
        """Max displacement in view-1 px of the expression field (confounders excluded) at the
        frame; each field peaks at its amplitude and events never overlap, so this is exact."""
        return sum(e.displacement(frame_number) for e in self.events)


def _draw_timing(rng: np.random.Generator, onset: int, duration: int) -> tuple[int, int, int]:
    rise = int(np.clip(round(duration * rng.uniform(0.3, 0.5)), 1, duration - 1))
    return onset, onset + rise, onset + duration


def draw_event(rng: np.random.Generator, *, kind: str, labels: tuple[str, ...], onset: int, duration: int,
               face_width: float) -> ExpressionEvent:
    """An event of `labels` starting at `onset` and lasting `duration` frames; micro amplitudes are
    0.5–3 px and macro 4–8 px at a 224-px face, scaled to `face_width`."""
    low, high = (0.5, 3.0) if kind == "micro" else (4.0, 8.0)
    amplitude = rng.uniform(low, high) * face_width / REFERENCE_FACE_WIDTH
    return ExpressionEvent(*_draw_timing(rng, onset, duration), float(amplitude), kind, labels, draw_aus(rng, labels))


def _draw_blink(rng: np.random.Generator, onset: int, duration: int, face_width: float) -> Motion:
    return Motion(*_draw_timing(rng, onset, duration), float(face_width * rng.uniform(0.05, 0.07)))


def _frames(seconds: float, fps: int, minimum: int = 1) -> int:
    return max(minimum, int(round(seconds * fps)))


def plan_short_sequence(rng: np.random.Generator, *, labels: tuple[str, ...], face_width: float, fps: int = 60,
                        blinks: bool = True, sub_id: str = "s01", fold_name: str = "s01_01") -> SequenceSpec:
    """A ~0.4–1.0 s clip: a neutral lead-in of random length, one micro-expression of 0.1–0.5 s,
    a short tail; a blink in one clip of ~25, placed clear of the event."""
    duration = _frames(rng.uniform(0.1, 0.5), fps, minimum=2)
    lead_in = _frames(rng.uniform(0.15, 0.4), fps)
    tail = _frames(rng.uniform(0.15, 0.3), fps)
    onset = lead_in + 1
    n_frames = lead_in + duration + tail + 1
    event = draw_event(rng, kind="micro", labels=labels, onset=onset, duration=duration, face_width=face_width)
    blink_list: list[Motion] = []
    blink_len = _frames(rng.uniform(0.1, 0.25), fps, minimum=2)
    if blinks and rng.random() < 0.04:
        gap = 2
        room_before = range(1, event.onset - gap - blink_len + 1)
        room_after = range(event.offset + gap, n_frames - blink_len + 1)
        starts = list(room_before) + list(room_after)
        if starts:
            blink_list.append(_draw_blink(rng, starts[rng.integers(len(starts))], blink_len, face_width))
    return SequenceSpec(sub_id, fold_name, n_frames, fps, (event,), tuple(blink_list),
                        int(rng.integers(2 ** 63)))


def plan_long_recording(rng: np.random.Generator, *, seconds: float, face_width: float, fps: int = 60,
                        macro: bool = True, blinks: bool = True, first_class: int | None = None,
                        sub_id: str = "s01", fold_name: str = "s01_01") -> SequenceSpec:
    """A recording of `seconds` with about one micro-expression per 5–8 s (4–6 in 30 s) and, when
    `macro`, 1–2 macro-expressions of 0.8–2 s, all separated by ≥ 1.5 s of neutral face; blinks
    every 2–6 s in the neutral stretches."""
    n_frames = _frames(seconds, fps)
    n_micro = max(1, int(rng.integers(round(seconds / 8), round(seconds / 5) + 1)))
    kinds = ["micro"] * n_micro + (["macro"] * int(rng.integers(1, 3)) if macro else [])
    kinds = [kinds[i] for i in rng.permutation(len(kinds))]
    durations = [_frames(rng.uniform(0.1, 0.5) if k == "micro" else rng.uniform(0.8, 2.0), fps, minimum=2)
                 for k in kinds]
    lead_in, gap = _frames(1.0, fps), _frames(1.5, fps)
    while kinds and lead_in + sum(durations) + gap * len(kinds) > n_frames:
        kinds.pop()
        durations.pop()
    if "micro" not in kinds:
        raise ValueError(f"a {seconds:g} s recording is too short to hold a micro-expression with its neutral gaps")
    slack = n_frames - lead_in - sum(durations) - gap * len(kinds)
    extra = np.floor(rng.dirichlet(np.ones(len(kinds) + 1)) * slack).astype(int)
    start = int(rng.integers(len(CLASSES))) if first_class is None else first_class
    events, cursor, n_seen = [], lead_in + 1 + extra[0], 0
    for kind, duration, pause in zip(kinds, durations, extra[1:]):
        labels = draw_labels(rng, CLASSES[(start + n_seen) % len(CLASSES)])
        n_seen += kind == "micro"
        events.append(draw_event(rng, kind=kind, labels=labels, onset=int(cursor), duration=duration,
                                 face_width=face_width))
        cursor += duration + gap + pause
    blink_list = []
    if blinks:
        margin = _frames(0.15, fps)
        t = int(rng.integers(1, _frames(3.0, fps)))
        while True:
            length = _frames(rng.uniform(0.1, 0.25), fps, minimum=2)
            if t + length > n_frames:
                break
            clash = next((e for e in events if e.overlaps(t, t + length, margin)), None)
            if clash is None:
                blink_list.append(_draw_blink(rng, t, length, face_width))
                t += _frames(rng.uniform(2.0, 6.0), fps)
            else:
                t = clash.offset + margin + 1
    return SequenceSpec(sub_id, fold_name, n_frames, fps, tuple(events), tuple(blink_list),
                        int(rng.integers(2 ** 63)))


# ---------------------------------------------------------------- subjects
@dataclass(frozen=True, eq=False)
class Subject:
    """One identity: its base view, FaceMesh landmarks in view-1 px and the second camera's homography."""

    sub_id: str
    base: np.ndarray = field(repr=False)   # (H, W, 3) uint8 RGB
    landmarks: np.ndarray = field(repr=False)  # (468, 2) float32 x, y
    view2_homography: np.ndarray = field(repr=False)  # 3×3, view-1 px → view-2 px

    @property
    def face_width(self) -> float:
        return float(np.linalg.norm(self.landmarks[454] - self.landmarks[234]))


def face_mesh_landmarks(rgb: np.ndarray) -> np.ndarray | None:
    """(468, 2) float32 pixel landmarks of the most prominent face, or None."""
    from stream.face import quiet_native_stderr

    os.environ.setdefault("GLOG_minloglevel", "2")
    with quiet_native_stderr():
        import mediapipe as mp

        with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1) as mesh:
            result = mesh.process(np.ascontiguousarray(rgb))
    if not result.multi_face_landmarks:
        return None
    height, width = rgb.shape[:2]
    return np.array([(p.x * width, p.y * height) for p in result.multi_face_landmarks[0].landmark], np.float32)


@dataclass(frozen=True, eq=False)
class FacePhoto:
    name: str
    rgb: np.ndarray = field(repr=False)
    landmarks: np.ndarray = field(repr=False)


def load_face_photos(faces_dir: str | os.PathLike | None) -> list[FacePhoto]:
    """The source photos: skimage's astronaut by default, else every readable jpg/png in `faces_dir`."""
    if faces_dir is None:
        from skimage.data import astronaut

        named = [("astronaut", astronaut())]
    else:
        folder = Path(faces_dir)
        if not folder.is_dir():
            raise ValueError(f"faces folder does not exist: {folder}")
        named = []
        for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES):
            bgr = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_COLOR)
            if bgr is not None:
                named.append((str(path), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
        if not named:
            raise ValueError(f"no usable face photo (readable .jpg/.jpeg/.png) in {folder}")
    photos = []
    for name, rgb in named:
        landmarks = face_mesh_landmarks(rgb)
        if landmarks is None:
            raise ValueError(f"no face found in {name}; use a frontal photo with one clearly visible face")
        photos.append(FacePhoto(name, rgb, landmarks))
    return photos


def _face_axes(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Midpoint, unit left→right axis and unit chin→forehead axis of the face."""
    across = landmarks[454] - landmarks[234]
    up = landmarks[10] - landmarks[152]
    return (landmarks[454] + landmarks[234]) / 2, across / np.linalg.norm(across), up / np.linalg.norm(up)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], blur: float) -> np.ndarray:
    """Low-frequency noise in about [-1, 1] for backgrounds."""
    small = rng.standard_normal((max(2, int(shape[0] / blur)), max(2, int(shape[1] / blur))), dtype=np.float32)
    return np.clip(cv2.resize(small, shape[::-1], interpolation=cv2.INTER_CUBIC) / 1.5, -1, 1)


def build_subject(photo: FacePhoto, rng: np.random.Generator, config: SynthConfig, sub_id: str) -> Subject:
    """A head-and-shoulders view of `photo` with identity-level changes: face width 200–320 px (at
    640×800), aspect, crop offset, rotation, flip, skin tone, background tint or replacement,
    a fixed fine skin texture, and a second camera's homography."""
    height, width = config.view_shape
    view_scale = min(width / 640, height / 800)
    centre, across, _ = _face_axes(photo.landmarks)
    source_width = float(np.linalg.norm(photo.landmarks[454] - photo.landmarks[234]))
    scale = rng.uniform(200, 320) * view_scale / source_width
    aspect = rng.uniform(0.9, 1.1)
    angle = np.deg2rad(rng.uniform(-5, 5)) + np.arctan2(across[1], across[0])  # also levels a tilted photo
    flip = -1.0 if rng.random() < 0.5 else 1.0
    target = np.array([width * rng.uniform(0.45, 0.55), height * rng.uniform(0.36, 0.44)])
    rotation = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    linear = np.diag([flip * scale * aspect, scale / aspect]) @ rotation
    affine = np.hstack([linear, (target - linear @ centre)[:, None]]).astype(np.float64)
    view = cv2.warpAffine(photo.rgb, affine, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    landmarks = (photo.landmarks @ affine[:, :2].T + affine[:, 2]).astype(np.float32)

    image = view.astype(np.float32) * rng.uniform(0.85, 1.15, 3).astype(np.float32) + rng.uniform(-12, 12, 3)
    image += cv2.GaussianBlur(rng.standard_normal((height, width), dtype=np.float32), (0, 0), 0.8)[..., None] * 6
    image = np.clip(image, 0, 255)

    face_mask = _soft_head_mask(landmarks, (height, width))
    if rng.random() < 0.5:
        colour = rng.uniform(40, 220, 3).astype(np.float32)
        background = colour + _smooth_noise(rng, (height, width), 80)[..., None] * rng.uniform(5, 25)
    else:
        background = image * rng.uniform(0.6, 1.2, 3).astype(np.float32)
    base = np.clip(face_mask[..., None] * image + (1 - face_mask[..., None]) * background, 0, 255)
    return Subject(sub_id, base.astype(np.uint8), landmarks, _second_camera(rng, (height, width)))


def _soft_head_mask(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """1 on the head (an ellipse around face and hair) and on the neck and shoulders (a wide ellipse
    below the chin), fading to 0 over a few pixels."""
    centre, across, up = _face_axes(landmarks)
    face_width = float(np.linalg.norm(landmarks[454] - landmarks[234]))
    face_height = float(np.linalg.norm(landmarks[10] - landmarks[152]))
    angle = float(np.degrees(np.arctan2(across[1], across[0])))
    mask = np.zeros(shape, np.float32)
    for middle, axes in ((centre + up * face_height * 0.2, (face_width * 0.8, face_height * 0.95)),
                         (landmarks[152] - up * face_height * 1.6, (face_width * 1.9, face_height * 1.5))):
        cv2.ellipse(mask, (int(middle[0]), int(middle[1])), (int(axes[0]), int(axes[1])), angle, 0, 360, 1.0, -1)
    return cv2.GaussianBlur(mask, (0, 0), face_width * 0.04)


def _second_camera(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A small fixed rotation, shear, scale, shift and perspective about the view centre."""
    height, width = shape
    angle = np.deg2rad(rng.uniform(-3, 3))
    shear = rng.uniform(-0.03, 0.03)
    scale = rng.uniform(0.95, 1.05)
    linear = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ [[1, shear], [0, 1]]
    to_centre = np.array([[1, 0, -width / 2], [0, 1, -height / 2], [0, 0, 1]])
    core = np.eye(3)
    core[:2, :2] = linear
    core[:2, 2] = rng.uniform(-0.02, 0.02, 2) * (width, height)
    core[2, :2] = rng.uniform(-2e-5, 2e-5, 2)
    return np.linalg.inv(to_centre) @ core @ to_centre


# ---------------------------------------------------------------- displacement fields
@dataclass(frozen=True, eq=False)
class LocalField:
    """A displacement field (h, w, 2) float32 placed at (top, left) of the view."""

    top: int
    left: int
    values: np.ndarray

    def region(self) -> tuple[slice, slice]:
        return slice(self.top, self.top + self.values.shape[0]), slice(self.left, self.left + self.values.shape[1])


def _moving_points(landmarks: np.ndarray,
                   units: list[tuple[str, ActionUnit]]) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """(landmark point, direction, σ in px) of every bump the units make on this face; 'L'/'R' keep
    the image-left/right half only (a face turned far to one side may leave such a unit none)."""
    centre, across, up = _face_axes(landmarks)
    face_width = float(np.linalg.norm(landmarks[454] - landmarks[234]))
    points = []
    for side, unit in units:
        for group in unit.groups:
            for index in group.landmarks:
                point = landmarks[index]
                offset = float((point - centre) @ across)
                point_side = 0 if abs(offset) < 0.05 * face_width else int(np.sign(offset))
                if (side == "L" and point_side > 0) or (side == "R" and point_side < 0):
                    continue
                points.append((point, group.out * point_side * across + group.up * up, unit.sigma * face_width))
    return points


def moves_landmarks(landmarks: np.ndarray, aus: tuple[str, ...]) -> bool:
    """Whether the action units find landmarks to move on this face."""
    return any(np.any(direction) for _, direction, _ in _moving_points(landmarks, [parse_au(a) for a in aus]))


def displacement_field(landmarks: np.ndarray, units: list[tuple[str, ActionUnit]], shape: tuple[int, int],
                       peak_px: float) -> LocalField:
    """Sum of Gaussian bumps (σ = unit.sigma × face width) around each unit's landmarks, moving them
    along their directions (see _moving_points). Scaled so the largest displacement is exactly `peak_px`."""
    face_width = float(np.linalg.norm(landmarks[454] - landmarks[234]))
    reach = 3.5 * max(u.sigma for _, u in units) * face_width
    top, left = (np.maximum(landmarks.min(0) - reach, 0)).astype(int)[::-1]
    bottom, right = np.minimum(landmarks.max(0) + reach + 1, shape[::-1]).astype(int)[::-1]
    ys, xs = np.mgrid[top:bottom, left:right].astype(np.float32)
    values = np.zeros(ys.shape + (2,), np.float32)
    for point, direction, sigma in _moving_points(landmarks, units):
        bump = np.exp(-((xs - point[0]) ** 2 + (ys - point[1]) ** 2) / (2 * sigma ** 2))
        values += bump[..., None] * direction.astype(np.float32)
    peak = float(np.sqrt((values ** 2).sum(-1)).max())
    if peak == 0:
        raise ValueError("the action units select no landmark on this face")
    return LocalField(int(top), int(left), values * np.float32(peak_px / peak))


def expression_field(landmarks: np.ndarray, aus: tuple[str, ...], shape: tuple[int, int],
                     peak_px: float) -> LocalField:
    return displacement_field(landmarks, [parse_au(a) for a in aus], shape, peak_px)


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


# ---------------------------------------------------------------- rendering
NOISE_PAD = 64
BLINK_DARKENING = 0.35


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
        window = np.s_[y:y + self.shape[0], x:x + self.shape[1]]
        return cv2.subtract(cv2.add(image, self.positive[k][window]), self.negative[k][window])


def _drift_path(rng: np.random.Generator, n_frames: int, fps: int) -> np.ndarray:
    """(n_frames + 1, 2) head translation in px, zero at frame 1: a constant velocity of 0.02–0.08 px/s
    plus a sway of 0.05–0.2 px with a 20–50 s period. Faster drift would outweigh the flow of the
    faintest expressions in a whole-face intensity sum."""
    t = np.arange(n_frames + 1, dtype=np.float64) / fps
    heading = rng.uniform(0, 2 * np.pi)
    velocity = rng.uniform(0.02, 0.08) * np.array([np.cos(heading), np.sin(heading)])
    sway = rng.uniform(0.05, 0.2, 2) * np.sin(2 * np.pi * t[:, None] / rng.uniform(20, 50) + rng.uniform(0, 2 * np.pi, 2))
    path = t[:, None] * velocity + sway
    return (path - path[1]).astype(np.float32)


def _flicker_path(rng: np.random.Generator, n_frames: int, fps: int) -> np.ndarray:
    """(n_frames + 1,) global gain around 1: a slow ±0.5–1.5 % oscillation."""
    t = np.arange(n_frames + 1) / fps
    return 1 + rng.uniform(0.005, 0.015) * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t + rng.uniform(0, 2 * np.pi))


def _homography_sampling(homography: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W, 2) float32: for each view-2 pixel, the view-1 point it shows."""
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
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


# ---------------------------------------------------------------- planning a dataset
@dataclass(frozen=True)
class RenderJob:
    subject: Subject
    spec: SequenceSpec
    config: SynthConfig
    folder: Path


def plan_dataset(*, subjects: int, per_subject: int, seed: int, long: bool, long_seconds: tuple[float, float],
                 faces_dir: str | os.PathLike | None, config: SynthConfig) -> list[tuple[Subject, list[SequenceSpec]]]:
    """Subjects and their sequence specs. Subject i uses photo i mod #photos; primary classes cycle
    over all sequences so every class appears about equally often."""
    if subjects < 1 or per_subject < 1:
        raise ValueError(f"subjects and per_subject must be ≥ 1, got {subjects} and {per_subject}")
    if not 0 < long_seconds[0] <= long_seconds[1]:
        raise ValueError(f"long_seconds must be (min, max) with 0 < min ≤ max, got {long_seconds}")
    photos = load_face_photos(faces_dir)
    planned = []
    for s, subject_seed in enumerate(np.random.SeedSequence(seed).spawn(subjects)):
        identity_seed, *sequence_seeds = subject_seed.spawn(per_subject + 1)
        sub_id = f"s{s + 1:02d}"
        subject = build_subject(photos[s % len(photos)], np.random.default_rng(identity_seed), config, sub_id)
        specs = []
        for j, sequence_seed in enumerate(sequence_seeds):
            rng = np.random.default_rng(sequence_seed)
            fold_name = f"{sub_id}_{j + 1:02d}"
            k = s * per_subject + j
            if long:
                specs.append(plan_long_recording(
                    rng, seconds=rng.uniform(*long_seconds), face_width=subject.face_width, fps=config.fps,
                    macro=config.macro, blinks=config.blinks, first_class=k % len(CLASSES),
                    sub_id=sub_id, fold_name=fold_name))
            else:
                specs.append(plan_short_sequence(
                    rng, labels=draw_labels(rng, CLASSES[k % len(CLASSES)]), face_width=subject.face_width,
                    fps=config.fps, blinks=config.blinks, sub_id=sub_id, fold_name=fold_name))
        planned.append((subject, specs))
    return planned


def _render_to_folder(job: RenderJob) -> int:
    job.folder.mkdir(parents=True, exist_ok=True)
    for number, rgb in render_frames(job.subject, job.spec, job.config):
        (job.folder / f"img_{number}.jpg").write_bytes(encode_frame(rgb, job.config))
    return job.spec.n_frames


def _single_thread_worker() -> None:
    cv2.setNumThreads(1)  # one process per core already


def _label_row(spec: SequenceSpec, event: ExpressionEvent) -> list:
    return ([spec.sub_id, spec.fold_name, "+".join(event.labels), event.onset, event.apex, event.offset,
             "+".join(event.aus)] + [int(c in event.labels) for c in CLASSES])


def _write_csv(path: Path, header: tuple[str, ...], rows: list[list]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def generate_dataset(out_dir, *, subjects: int = 6, per_subject: int = 10, seed: int = 0, long: bool = False,
                     long_seconds: tuple[float, float] = (20.0, 40.0), faces_dir: str | os.PathLike | None = None,
                     config: SynthConfig = SynthConfig(), workers: int | None = None,
                     progress: bool = True) -> dict:
    """Write a synthetic dataset in the 4DME layout (see the module docstring) and return a summary.

    Short mode: `subjects × per_subject` clips of one micro-expression each. Long mode
    (`long=True`): as many recordings of `long_seconds` (min, max) length, each with several micro
    events, macro-expressions (when `config.macro`) and events.csv. Frames render in `workers`
    processes (default: CPU count); the output does not depend on it.
    """
    started = time.perf_counter()
    out = Path(out_dir)
    planned = plan_dataset(subjects=subjects, per_subject=per_subject, seed=seed, long=long,
                           long_seconds=long_seconds, faces_dir=faces_dir, config=config)
    jobs = [RenderJob(subject, spec, config, out / spec.sub_id / spec.fold_name)
            for subject, specs in planned for spec in specs]
    out.mkdir(parents=True, exist_ok=True)
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    bar = tqdm(total=sum(j.spec.n_frames for j in jobs), unit="frame", desc="synthesising", disable=not progress)
    if workers == 1:
        for count in map(_render_to_folder, jobs):
            bar.update(count)
    else:
        context = multiprocessing.get_context("spawn")  # the parent may hold MediaPipe threads
        with context.Pool(workers, initializer=_single_thread_worker) as pool:
            for count in pool.imap(_render_to_folder, jobs):
                bar.update(count)
    bar.close()

    specs = [job.spec for job in jobs]
    micro = [(spec, e) for spec in specs for e in spec.micro_events]
    _write_csv(out / "labels.csv", LABEL_COLUMNS, [_label_row(spec, e) for spec, e in micro])
    summary = {
        "out_dir": str(out),
        "sequences": len(specs),
        "frames": sum(s.n_frames for s in specs),
        "micro_events": len(micro),
        "classes": {c: sum(c in e.labels for _, e in micro) for c in CLASSES},
    }
    if long:
        _write_csv(out / "events.csv", EVENT_COLUMNS,
                   [[s.sub_id, s.fold_name, e.onset, e.apex, e.offset, "+".join(e.labels), e.kind]
                    for s in specs for e in s.events])
        summary["macro_events"] = sum(e.kind == "macro" for s in specs for e in s.events)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    return summary


# ---------------------------------------------------------------- live stream and demo set
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


def iter_long_stream(seed: int = 0, seconds: float = 60, config: SynthConfig = SynthConfig(),
                     faces_dir: str | os.PathLike | None = None) -> LongStream:
    """A long recording of `seconds` rendered frame by frame without files; it shows the same
    subject and events as `generate_dataset(..., subjects=1, per_subject=1, long=True,
    long_seconds=(seconds, seconds), seed=seed)`."""
    [(subject, [spec])] = plan_dataset(subjects=1, per_subject=1, seed=seed, long=True,
                                       long_seconds=(seconds, seconds), faces_dir=faces_dir, config=config)
    return LongStream(subject, spec, config)


DEMO_VERSION = 1


def ensure_demo_dataset(cache_dir: str | os.PathLike | None = None) -> Path:
    """The demo set, generated on first use and reused once its marker file is written.

    Location: `cache_dir`, else `$MER_CACHE`, else `~/.cache/mer-live/demo`. Layout:

        <dir>/short/   returned; 2 subjects × 3 short clips (4DME layout, labels.csv), seed 0
        <dir>/long/    1 recording of 30 s with micro and macro events (labels.csv, events.csv), seed 1
        <dir>/complete.json   the marker; without it short/ and long/ are deleted and rebuilt
    """
    root = Path(cache_dir or os.environ.get("MER_CACHE") or Path.home() / ".cache" / "mer-live" / "demo")
    root = root.expanduser()
    marker = root / "complete.json"
    if marker.exists() and json.loads(marker.read_text()).get("version") == DEMO_VERSION:
        return root / "short"
    for part in ("short", "long"):
        shutil.rmtree(root / part, ignore_errors=True)
    short = generate_dataset(root / "short", subjects=2, per_subject=3, seed=0, progress=False)
    long = generate_dataset(root / "long", subjects=1, per_subject=1, seed=1, long=True, long_seconds=(30.0, 30.0),
                            progress=False)
    marker.write_text(json.dumps({"version": DEMO_VERSION, "short": short, "long": long}, indent=2))
    return root / "short"
