"""`mer annotate`: every frame of the recording written at its rate, each logged event's label on
the frames of its span, its apex included."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import long_recordings
from mer_live.cli.main import main
from mer_live.ui.annotate import read_log
from mer_live.ui.drawing import KIND_COLOURS

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "realvideo"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"no real videos at {REAL} (CI has ../shared)")

pytestmark = pytest.mark.slow  # each test runs the pipeline twice


def frame_count_and_rate(path: Path) -> tuple[int, float]:
    capture = cv2.VideoCapture(str(path))
    try:
        return int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), capture.get(cv2.CAP_PROP_FPS)
    finally:
        capture.release()


def read_frame(path: Path, index: int) -> np.ndarray:
    capture = cv2.VideoCapture(str(path))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = capture.read()
    capture.release()
    assert ok, f"no frame {index} in {path}"
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def run_and_annotate(source: Path, tmp_path: Path, capsys, *options: str) -> tuple[Path, list, dict]:
    """(the annotated video, the run's logged events, what mer annotate printed)."""
    log = tmp_path / "events.jsonl"
    assert main(["stream", str(source), "--events", str(log), "--quiet", *options]) == 0
    out = tmp_path / "annotated.mp4"
    capsys.readouterr()
    assert main(["annotate", str(source), str(log), "--out", str(out), *options]) == 0
    return out, read_log(log), json.loads(capsys.readouterr().out)


@needs_real
def test_a_real_video_keeps_its_frame_count_and_rate(tmp_path, capsys):
    video = REAL / "liveportrait_d3.mp4"
    out, events, printed = run_and_annotate(video, tmp_path, capsys, "--views", "1")
    assert frame_count_and_rate(out) == frame_count_and_rate(video) == (354, 30.0) and printed["frames"] == 354
    assert events, "the posed expression at the end is reported"
    last = events[-1]
    drawn = read_frame(out, last.onset_frame)  # a video file's frames are numbered from 0
    assert np.abs(drawn[5, 5].astype(int) - KIND_COLOURS[last.kind]).max() < 40, "the banner in the kind's colour"


def test_each_event_is_labelled_on_its_apex_frame(tmp_path, capsys):
    recording = long_recordings(tmp_path / "data", per_subject=1, seconds=12)
    folder = next((recording / "s01").iterdir())
    out, events, printed = run_and_annotate(folder, tmp_path, capsys, "--views", "2")
    frames = len(list(folder.glob("*.jpg")))
    assert frame_count_and_rate(out) == (frames, 60.0) and printed["frames"] == frames
    assert printed["events_drawn"] == len(events)  # every logged event got its own banner
    micro = [e for e in events if e.kind == "micro"]
    assert micro and all(e.labels for e in micro), "the shipped weights label the generated micro-expressions"
    for event in micro:
        apex = read_frame(out, event.apex_frame - 1)  # the folder's frames are numbered from 1
        assert np.abs(apex[5, 5].astype(int) - KIND_COLOURS["micro"]).max() < 40
