"""Shared fixtures: tiny frames and 4DME-layout folders built on the fly."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from mer_live.corpora.fourdme import LABEL_COLUMNS
from mer_live.corpora.labels import CLASSES
from mer_live.stream.events import Event
from mer_live.stream.frames import Frame
from mer_live.stream.sources import Source
from mer_live.stream.store import TimelinePoint


def write_frames(folder: Path, numbers, shape=(40, 80, 3), name="img_{:04d}.jpg") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for n in numbers:
        path = folder / name.format(n)
        cv2.imwrite(str(path), rng.integers(0, 255, shape, dtype=np.uint8))
        paths.append(path)
    return paths


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_video(path: Path, frames: int = 5, size=(64, 48)) -> Path:
    """A tiny black MJPG video (no face): enough for a source to open and read."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, size)
    for _ in range(frames):
        writer.write(np.zeros((size[1], size[0], 3), np.uint8))
    writer.release()
    return path


def label_row(sub="s01", fold="s01_01", onset=1, apex=3, offset=5, labels=("Positive",), aus="12") -> dict:
    row = {
        "sub_ID": sub,
        "fold_name": fold,
        "Emotion": "+".join(labels),
        "Onset": onset,
        "Apex": apex,
        "Offset": offset,
        "AUs": aus,
    }
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
    write_frames(tmp_path / "s02" / "s02_01", [1, 2, 3, 10, 11])  # a gap in the numbers
    write_labels_csv(tmp_path, [label_row(), label_row("s02", "s02_01", 2, 3, 11, ("Negative", "Surprise"), "4+1")])
    return tmp_path


def long_recordings(root: Path, per_subject: int, seconds: float) -> Path:
    """Generated long recordings (events.csv) of one subject in the 4DME layout at `root`."""
    from mer_live.synth import generate_dataset

    generate_dataset(
        root,
        subjects=1,
        per_subject=per_subject,
        seed=4,
        long=True,
        long_seconds=(seconds, seconds),
        workers=1,
        progress=False,
    )
    return root


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """A small generated 4DME-layout set (3 subjects × 4 clips), shared by the tests that need real faces."""
    from mer_live.synth import generate_dataset

    root = tmp_path_factory.mktemp("synth")
    generate_dataset(root, subjects=3, per_subject=4, seed=11, workers=2, progress=False)
    return root


@pytest.fixture(scope="session")
def synth_extraction(synth_root, tmp_path_factory):
    """(sequences, Extraction) of synth_root with the default settings: extracted once for every test
    that trains or evaluates on it."""
    from mer_live.corpora.fourdme import load_dataset
    from mer_live.model.extract import extract_dataset

    sequences = load_dataset(synth_root)
    return sequences, extract_dataset(sequences, tmp_path_factory.mktemp("cache"), workers=2, progress=False)


# ---------------------------------------------------------------- the dashboard's tests
def make_event(
    event_id=1, onset_s=2.0, offset_s=2.3, kind="micro", probs=None, labels=(), recording="s01/s01_01", fps=60.0
) -> Event:
    return Event(
        event_id=event_id,
        recording=recording,
        onset_frame=int(onset_s * fps),
        offset_frame=int(offset_s * fps),
        onset_s=onset_s,
        apex_s=(onset_s + offset_s) / 2,
        offset_s=offset_s,
        apex_frame_by_view={0: int(onset_s * fps) + 5, 1: int(onset_s * fps) + 6},
        peak_z_by_view={0: 5.0, 1: 6.0},
        peak_intensity_by_view={0: 3.0, 1: 2.5},
        kind=kind,
        labels=tuple(labels),
        probs=dict(probs or {}),
        attention={"alpha_u": 0.2, "alpha_v": 0.3, "alpha_m": 0.5} if probs else {},
        threshold=0.2 if probs else None,
        model="fake" if probs else None,
        latency_ms=5.0,
    )


def timeline(seconds=10.0, fps=60.0, bump=(2.0, 2.3)):
    points = []
    for i in range(int(seconds * fps)):
        t = i / fps
        z = 8.0 if bump[0] <= t <= bump[1] else 0.3 * np.sin(i)
        points.append(TimelinePoint(i, t, {0: z, 1: z * 0.8}, "talking" if 5.0 <= t <= 6.0 else "still"))
    return points


class ListSource(Source):
    def __init__(self, n=10, fps=100.0):
        super().__init__("list", fps)
        self.n = n

    def _items(self):
        for i in range(self.n):
            yield Frame(i, i / self.fps, np.zeros((4, 4, 3), np.uint8), "rec")


def wait_for(predicate, timeout_s: float, every_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every_s)
    return None


@pytest.fixture
def session(tmp_path):
    from mer_live.ui.session import Session

    s = Session(tmp_path / "session", checkpoint=tmp_path / "missing.pt", detector_factory=lambda: None)
    yield s
    s.close()
