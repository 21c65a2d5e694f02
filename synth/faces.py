"""Synthetic subjects: the face photos, their FaceMesh landmarks, and one identity per subject.

A real face photograph (the shipped one, or the user's own photos) becomes one subject's base
view: placed, scaled, turned, tinted and textured, with a second camera's fixed homography
(`build_subject`). `face_axes` gives the face's own left-right and chin-forehead axes, along which
the action units move (`synth.actions`). MediaPipe is imported only when landmarks are found.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
# NASA's portrait of the astronaut Eileen Collins (public domain; the one scikit-image ships as
# `astronaut`, the same pixels, losslessly recompressed): 512 × 512 RGB
SHIPPED_PHOTO = Path(__file__).with_name("astronaut.png")


@dataclass(frozen=True, eq=False)
class Subject:
    """One identity: its base view, FaceMesh landmarks in view-1 px and the second camera's homography."""

    sub_id: str
    base: np.ndarray = field(repr=False)  # (H, W, 3) uint8 RGB
    landmarks: np.ndarray = field(repr=False)  # (468, 2) float32 x, y
    view2_homography: np.ndarray = field(repr=False)  # 3×3, view-1 px → view-2 px

    @property
    def face_width(self) -> float:
        return float(np.linalg.norm(self.landmarks[454] - self.landmarks[234]))


def face_mesh_landmarks(rgb: np.ndarray) -> np.ndarray | None:
    """(468, 2) float32 pixel landmarks of the most prominent face, or None."""
    from mer_live.stream.face import quiet_native_stderr

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


def shipped_photo() -> np.ndarray:
    """The shipped face photograph, (512, 512, 3) uint8 RGB."""
    return cv2.cvtColor(cv2.imread(str(SHIPPED_PHOTO), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def load_face_photos(faces_dir: str | os.PathLike | None) -> list[FacePhoto]:
    """The source photos: the shipped one by default, else every readable jpg/png in `faces_dir`."""
    if faces_dir is None:
        named = [("astronaut", shipped_photo())]
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


def face_axes(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Midpoint, unit left→right axis and unit chin→forehead axis of the face."""
    across = landmarks[454] - landmarks[234]
    up = landmarks[10] - landmarks[152]
    return (landmarks[454] + landmarks[234]) / 2, across / np.linalg.norm(across), up / np.linalg.norm(up)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], blur: float) -> np.ndarray:
    """Low-frequency noise in about [-1, 1] for backgrounds."""
    small = rng.standard_normal((max(2, int(shape[0] / blur)), max(2, int(shape[1] / blur))), dtype=np.float32)
    return np.clip(cv2.resize(small, shape[::-1], interpolation=cv2.INTER_CUBIC) / 1.5, -1, 1)


def build_subject(photo: FacePhoto, rng: np.random.Generator, view_shape: tuple[int, int], sub_id: str) -> Subject:
    """A head-and-shoulders view of `photo` with identity-level changes: face width 200–320 px (at
    640×800), aspect, crop offset, rotation, flip, skin tone, background tint or replacement,
    a fixed fine skin texture, and a second camera's homography. `view_shape`: (height, width)."""
    height, width = view_shape
    view_scale = min(width / 640, height / 800)
    centre, across, _ = face_axes(photo.landmarks)
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
    centre, across, up = face_axes(landmarks)
    face_width = float(np.linalg.norm(landmarks[454] - landmarks[234]))
    face_height = float(np.linalg.norm(landmarks[10] - landmarks[152]))
    angle = float(np.degrees(np.arctan2(across[1], across[0])))
    mask = np.zeros(shape, np.float32)
    for middle, axes in (
        (centre + up * face_height * 0.2, (face_width * 0.8, face_height * 0.95)),
        (landmarks[152] - up * face_height * 1.6, (face_width * 1.9, face_height * 1.5)),
    ):
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
