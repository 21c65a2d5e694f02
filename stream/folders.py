"""Image files and folders of numbered frames: decoding a frame (at a reduced size if asked) and
listing a folder's frames in numeric order. Every reader of frames on disk goes through here."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
# libjpeg scales JPEGs in the DCT domain while decoding; other formats are decoded, then resized.
# IMREAD_COLOR_RGB has the decoder write RGB: a separate BGR→RGB pass over a freshly decoded
# 4DME frame cost 2.2 ms (page faults on the new buffer), a third of the decode itself.
DECODE_FLAGS = {
    scale: flag | cv2.IMREAD_COLOR_RGB
    for scale, flag in {
        1: cv2.IMREAD_COLOR,
        2: cv2.IMREAD_REDUCED_COLOR_2,
        4: cv2.IMREAD_REDUCED_COLOR_4,
        8: cv2.IMREAD_REDUCED_COLOR_8,
    }.items()
}


class DatasetError(ValueError):
    """A frame, folder or dataset file that cannot be read; the message names it (and the row, for a table)."""


def check_scale(decode_scale: int) -> int:
    if decode_scale not in DECODE_FLAGS:
        raise ValueError(f"decode_scale must be one of {sorted(DECODE_FLAGS)}, got {decode_scale!r}")
    return decode_scale


def to_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB from what OpenCV hands out: BGR, BGRA or single-channel gray."""
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def decode_frame(path: Path, decode_scale: int = 1) -> np.ndarray | str:
    """The (H, W, 3) RGB image of a frame file at 1/`decode_scale` size, or why it cannot be had:
    "unreadable" (the file cannot be read), "empty" (zero bytes) or "corrupt" (does not decode)."""
    try:
        data = np.fromfile(str(path), np.uint8)
    except OSError:
        return "unreadable"
    if not data.size:
        return "empty"
    image = cv2.imdecode(data, DECODE_FLAGS[decode_scale])
    return "corrupt" if image is None else image


def read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB; gray and RGBA files are converted. A file that does not decode raises DatasetError."""
    if not Path(path).exists():
        raise DatasetError(f"frame file does not exist: {path}")
    image = decode_frame(path)
    if isinstance(image, str):
        raise DatasetError(f"cannot decode image {path} ({image}: corrupt, truncated or not an image)")
    return image


def frame_number(path: Path) -> int:
    """The last run of digits in a file name's stem: `img_0042.jpg` → 42."""
    digits = re.findall(r"\d+", Path(path).stem)
    if not digits:
        raise DatasetError(f"frame file name has no number: {path}")
    return int(digits[-1])


def list_frames(folder: Path) -> tuple[tuple[int, ...], tuple[Path, ...]]:
    """Frame numbers and paths of a sequence folder, in numeric order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"sequence folder does not exist: {folder}")
    paths = [p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES]
    if not paths:
        raise DatasetError(f"sequence folder holds no frames ({', '.join(FRAME_SUFFIXES)}): {folder}")
    numbered = sorted((frame_number(p), p) for p in paths)
    numbers = [n for n, _ in numbered]
    if len(set(numbers)) != len(numbers):
        raise DatasetError(f"two frames share a number in {folder}")
    return tuple(numbers), tuple(p for _, p in numbered)


def has_frames(folder: Path) -> bool:
    return any(p.suffix.lower() in FRAME_SUFFIXES for p in folder.iterdir() if p.is_file())
