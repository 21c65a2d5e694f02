"""Shared fixtures: tiny frames and 4DME-layout folders built on the fly."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from corpora.labels import CLASSES
from corpora.fourdme import LABEL_COLUMNS


def write_frames(folder: Path, numbers, shape=(40, 80, 3), name="img_{:04d}.jpg") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for n in numbers:
        path = folder / name.format(n)
        cv2.imwrite(str(path), rng.integers(0, 255, shape, dtype=np.uint8))
        paths.append(path)
    return paths


def write_video(path: Path, frames: int = 5, size=(64, 48)) -> Path:
    """A tiny black MJPG video (no face): enough for a source to open and read."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, size)
    for _ in range(frames):
        writer.write(np.zeros((size[1], size[0], 3), np.uint8))
    writer.release()
    return path


def label_row(sub="s01", fold="s01_01", onset=1, apex=3, offset=5, labels=("Positive",), aus="12") -> dict:
    row = {"sub_ID": sub, "fold_name": fold, "Emotion": "+".join(labels), "Onset": onset, "Apex": apex,
           "Offset": offset, "AUs": aus}
    row.update({c: int(c in labels) for c in CLASSES})
    return row


def write_labels_csv(root: Path, rows: list[dict], columns=LABEL_COLUMNS) -> Path:
    import csv

    path = root / "labels.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    write_frames(tmp_path / "s01" / "s01_01", range(1, 8))
    write_frames(tmp_path / "s02" / "s02_01", [1, 2, 3, 10, 11])   # a gap in the numbers
    write_labels_csv(tmp_path, [label_row(), label_row("s02", "s02_01", 2, 3, 11, ("Negative", "Surprise"), "4+1")])
    return tmp_path


def long_recordings(root: Path, per_subject: int, seconds: float) -> Path:
    """Generated long recordings (events.csv) of one subject in the 4DME layout at `root`."""
    from synth import generate_dataset

    generate_dataset(root, subjects=1, per_subject=per_subject, seed=4, long=True, long_seconds=(seconds, seconds),
                     workers=1, progress=False)
    return root


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """A small generated 4DME-layout set (3 subjects × 4 clips), shared by the tests that need real faces."""
    from synth import generate_dataset

    root = tmp_path_factory.mktemp("synth")
    generate_dataset(root, subjects=3, per_subject=4, seed=11, workers=2, progress=False)
    return root
