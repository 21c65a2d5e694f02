"""The dashboard session without a page: its controls, export restrictions, sources, and a run's life
(calibration, stop, a stream that breaks, the page's timing)."""

from __future__ import annotations

import csv
import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import ListSource, make_event, timeline, wait_for
from mer_live.corpora.labels import CLASSES
from mer_live.stream.frames import Frame
from mer_live.stream.sources import Source
from mer_live.ui import drawing
from mer_live.ui.session import Session
from mer_live.ui.sources import FeedSource, StampedSource, WebcamFeed, check_upload


# ---------------------------------------------------------------- session
def fill(session: Session) -> None:
    probs = dict(zip(CLASSES, (0.7, 0.1, 0.25, 0.05, 0.01)))
    crop = np.zeros((224, 224), np.uint8)
    session.store.write(
        replace(
            make_event(1, 2.0, 2.3, "micro", probs, ("Negative", "Repression")),
            crops={0: (crop, crop, crop)},
            se_gate_mean=0.5,
            flow_maps={"left/onset_apex": np.zeros((3, 224, 224), np.float16)},
        )
    )
    session.store.write(make_event(2, 5.0, 6.0, "macro"))
    for point in timeline(7.0):
        session.store.add_point(*point)
    session.add_marker("question 3")


@pytest.mark.parametrize("name", ["../escape.jsonl", "/etc/passwd", "a/../../escape.csv", "..", "."])
def test_export_refuses_paths_outside_the_session_folder(session, name):
    with pytest.raises(ValueError, match="outside the session folder"):
        session.export("jsonl", name)


def test_export_refuses_a_symlink_out(session, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (session.folder / "link").symlink_to(outside)
    with pytest.raises(ValueError):
        session.export("csv", "link/events.csv")
    assert not any(outside.iterdir())


def test_export_kinds_write_events_and_markers_inside_the_folder(session):
    fill(session)
    paths = {kind: session.export(kind) for kind in ("jsonl", "csv", "megc", "summary")}
    for path in paths.values():
        assert path.parent == session.folder and path.stat().st_size > 0
    lines = [json.loads(line) for line in paths["jsonl"].read_text().splitlines()]
    assert [line.get("event_id") for line in lines[:2]] == [1, 2]
    assert lines[2] == {
        "kind": "marker",
        "recording": "",
        "t_s": lines[2]["t_s"],
        "frame": lines[2]["frame"],
        "note": "question 3",
    }
    rows = list(csv.DictReader(paths["csv"].open()))
    assert [r["kind"] for r in rows] == ["micro", "macro", "marker"] and rows[2]["labels"] == "question 3"
    megc = list(csv.DictReader(paths["megc"].open()))
    assert len(megc) == 1 and megc[0]["emotion"] == "Negative+Repression"
    assert paths["summary"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="unknown export"):
        session.export("xlsx")


def test_marker_needs_a_note(session):
    with pytest.raises(ValueError):
        session.add_marker("   ")


@pytest.mark.parametrize(
    "name,size,error",
    [
        ("clip.mp4", 10, None),
        ("CLIP.MOV", 10, None),
        ("notes.txt", 10, "not a video"),
        ("big.mp4", 2000, "too large"),
        ("empty.avi", 0, "empty"),
    ],
)
def test_check_upload(tmp_path, name, size, error):
    path = tmp_path / name
    path.write_bytes(b"x" * size)
    if error is None:
        assert check_upload(path, max_bytes=1000) == path
    else:
        with pytest.raises(ValueError, match=error):
            check_upload(path, max_bytes=1000)


@pytest.mark.parametrize(
    "kind,value,expected",
    [
        ("demo", "", "demo"),
        ("camera", "0", "0"),
        ("camera", "0+1", "0+1"),
        ("synthetic", "3", "synthetic:3"),
        ("synthetic", "synthetic:5", "synthetic:5"),
        ("browser webcam", "", "webcam"),
    ],
)
def test_resolve_spec(session, kind, value, expected):
    assert session.paths.resolve_spec(kind, value) == expected


def test_an_upload_outlives_gradios_copy(session, tmp_path):
    """Gradio deletes its copy of an upload a few minutes in (delete_cache); the session replays,
    calibrates and restarts from its own."""
    upload = tmp_path / "gradio-cache" / "clip.mp4"
    upload.parent.mkdir()
    upload.write_bytes(b"video bytes")
    spec = Path(session.paths.resolve_spec("video file", upload=str(upload)))
    assert spec.is_relative_to(session.folder)
    upload.unlink()
    assert spec.read_bytes() == b"video bytes"
    assert session.paths.resolve_spec("video file", upload=str(spec)) == str(spec)
    # the page still holds Gradio's path: Start pressed again replays the session's copy
    assert session.paths.resolve_spec("video file", upload=str(upload)) == str(spec)


@pytest.mark.parametrize(
    "kind,value",
    [("camera", "front"), ("camera", "0+"), ("folder", "/no/such/folder"), ("video file", ""), ("ftp", "x")],
)
def test_resolve_spec_rejects(session, kind, value):
    with pytest.raises(ValueError):
        session.paths.resolve_spec(kind, value)


def test_threshold_and_onset_level(session):
    assert "next start" in session.set_threshold(0.15) and session.threshold == 0.15
    with pytest.raises(ValueError):
        session.set_threshold(0.5)
    k_ratio = session.k_low / session.k_high
    session.set_k_high(6.0)
    assert session.k_high == 6.0 and session.k_low == pytest.approx(6.0 * k_ratio, abs=1e-3)
    with pytest.raises(ValueError):
        session.set_k_high(0.5)
    assert "no model" in session.set_checkpoint(session.folder / "none.pt")


def test_event_card_with_and_without_pictures(session):
    from mer_live.ui.app import event_rows
    from mer_live.ui.cards import card_images, card_markdown

    fill(session)
    events = session.store.snapshot().events
    rows = event_rows(events)
    assert (
        [r[0] for r in rows] == [2, 1]
        and rows[1][5] == "Negative+Repression"
        and rows[1][6].startswith("Negative 0.70")
    )
    classified, macro = events
    assert not classified.has_pictures  # the table's copy is light: pictures stay in the store
    pictured = session.store.event(1)
    assert pictured.has_pictures and pictured == classified and session.store.event(99) is None
    assert "Event #1" in card_markdown(pictured) and "SE gate" in card_markdown(pictured)
    assert "newest events" in card_markdown(classified) and "newest events" not in card_markdown(pictured)
    apex, flows, probs, attention = card_images(pictured)
    assert apex.shape[2] == flows.shape[2] == probs.shape[2] == attention.shape[2] == 3
    assert "macro-expression" in card_markdown(macro)
    assert np.array_equal(card_images(macro)[2], drawing.placeholder("no probabilities (not classified)", 420, 220))


def test_stamped_source_paces_and_stamps():
    source = StampedSource(ListSource(10, 100.0), realtime=True)
    started = time.monotonic()
    items = list(source)
    assert len(items) == 10 and time.monotonic() - started >= 0.08
    assert source.wall_of("rec", 9) is not None and source.wall_of("rec", 9) >= source.wall_of("rec", 0) + 0.08
    assert source.wall_of("rec", 99) is None and source.last[:2] == ("rec", 9)
    stopped = StampedSource(ListSource(1000, 10.0), realtime=True)
    stopped.stop()
    assert len(list(stopped)) == 0


def test_webcam_feed_keeps_the_newest_frames():
    feed = WebcamFeed(fps_hint=10, maxsize=2)
    for i in range(5):
        feed.push(np.full((8, 8, 3), i, np.uint8))
    assert feed.dropped == 3 and feed.received == 5 and feed.measured_fps > 0
    source = FeedSource(feed)
    frames = []
    for frame in source:
        frames.append(frame)
        if len(frames) == 2:
            source.close()
    assert [int(f.image[0, 0, 0]) for f in frames] == [3, 4]


# ---------------------------------------------------------------- a run's life: calibration, stop, end
class CentreFace:
    """A face detector that finds the middle of any frame, slowly (a busy CPU's MediaPipe)."""

    def __init__(self, seconds_per_call: float = 0.01):
        self.seconds_per_call = seconds_per_call

    def detect(self, image):
        from mer_live.stream.face import Box

        time.sleep(self.seconds_per_call)
        height, width = image.shape[:2]
        return [Box(width // 4, height // 4, width // 2, height // 2)]


def noise_video(path: Path, frames: int) -> Path:
    import cv2

    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (48, 64, 3), np.uint8)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    for _ in range(frames):
        writer.write(np.clip(base.astype(int) + rng.integers(-3, 4, base.shape), 0, 255).astype(np.uint8))
    writer.release()
    return path


def finished(session: Session, timeout_s: float = 60) -> bool:
    return bool(wait_for(lambda: not session.running, timeout_s, 0.05))


def calibrating(session: Session, video: Path) -> tuple[threading.Thread, list]:
    """A calibration under way in a thread (after a replay of `video`); its answer lands in the list."""
    session.start(str(video), views=1)
    assert finished(session)
    results: list = []
    worker = threading.Thread(target=lambda: results.append(session.calibrate_now(5.0)))
    worker.start()
    assert wait_for(lambda: session.message.startswith("calibrating"), 10, 0.01)
    return worker, results


@pytest.mark.slow
def test_calibration_leaves_the_other_controls_free(tmp_path):
    """It used to hold the session lock throughout: threshold, export and stop waited for it."""
    video = noise_video(tmp_path / "neutral.avi", 300)
    session = Session(tmp_path / "s", checkpoint=None, detector_factory=lambda: CentreFace(0.02))
    try:
        worker, results = calibrating(session, video)
        started = time.monotonic()
        assert "0.25" in session.set_threshold(0.25)
        assert session.export("csv").is_file()
        assert time.monotonic() - started < 1.0 and worker.is_alive()
        worker.join(60)
        assert results and results[0].startswith("profile applied") and session.profile is not None
    finally:
        session.close()


@pytest.mark.slow
def test_stop_cancels_a_calibration_and_keeps_the_profile(tmp_path):
    video = noise_video(tmp_path / "neutral.avi", 300)
    session = Session(tmp_path / "s", checkpoint=None, detector_factory=lambda: CentreFace(0.05))
    try:
        worker, results = calibrating(session, video)
        with pytest.raises(ValueError, match="calibration is running"):
            session.start(str(video), views=1)
        assert session.stop().startswith("calibration cancelled")
        worker.join(10)
        assert not worker.is_alive() and results[0].startswith("calibration cancelled")
        assert session.profile is None and not (session.folder / "profile.json").exists()
    finally:
        session.close()


class StuckSource(Source):
    """A source whose driver ignores stop: each frame takes `seconds_per_frame`, closing or not."""

    def __init__(self, name: str, frames: int, seconds_per_frame: float, go: threading.Event | None = None):
        super().__init__(name, 30.0)
        self.frame_count, self.seconds_per_frame, self.go = frames, seconds_per_frame, go

    def _items(self):
        if self.go is not None:
            self.go.wait()
        for i in range(self.frame_count):
            time.sleep(self.seconds_per_frame)
            yield Frame(i, i / self.fps, np.zeros((48, 64, 3), np.uint8), self.name)


@pytest.mark.slow
def test_an_engine_that_outlives_its_stop_writes_nothing_into_the_next_run(tmp_path):
    session = Session(tmp_path / "s", checkpoint=None, detector_factory=lambda: CentreFace(0.0))
    session.stop_timeout_s = 0.2
    go = threading.Event()
    try:
        stuck = StuckSource("old", 100, 1.0)
        session.start_source(stuck, views=1, realtime=False)
        assert wait_for(lambda: stuck.frames >= 2, 30, 0.05)
        old = session.run.engine
        session.start_source(StuckSource("new", 10, 0.01, go), views=1, realtime=False)
        assert old.running  # still in its source's last read
        old.join(30)
        assert not old.running
        assert session.store.snapshot().status.get("frames", 0) == 0  # its last status went to its own store
        go.set()
        assert finished(session)
        assert session.store.snapshot().status["frames"] == 10
    finally:
        go.set()
        session.close()


@pytest.mark.slow
def test_a_stream_that_breaks_says_so_on_the_page(tmp_path):
    from mer_live.ui.app import status_html

    video = noise_video(tmp_path / "cut.avi", 60)
    with open(video, "r+b") as handle:
        handle.truncate(video.stat().st_size // 2)
    session = Session(tmp_path / "s", checkpoint=None, detector_factory=lambda: CentreFace(0.0))
    try:
        session.start(str(video), views=1)
        assert finished(session)
        status = session.status()
        assert status["message"].startswith("the stream broke: cut.avi: read failed at frame")
        assert "broke: cut.avi" in status_html(status)
        session.start(str(noise_video(tmp_path / "whole.avi", 20)), views=1)
        assert finished(session)
        assert session.status()["message"] == "the stream ended (end of file)"
    finally:
        session.close()


def test_event_to_page_counts_only_events_the_open_page_saw(tmp_path):
    """A page opened after the events used to report its own arrival as the pipeline's delay."""
    session = Session(tmp_path / "s", checkpoint=None, detector_factory=lambda: CentreFace(0.0))
    event = make_event(recording="rec", onset_s=4, offset_s=8, fps=1.0)
    try:
        session.start_source(ListSource(20, 100.0), views=1, realtime=False)
        assert finished(session)
        time.sleep(0.05)
        session.page.tick()  # the page opens now
        session.page.shown_events([event], session.run.source)
        assert "event_to_page_s" not in session.page.timing()
        session.page.tick()
        session.start_source(ListSource(20, 100.0), views=1, realtime=False)
        assert finished(session)
        session.page.tick()
        session.page.shown_events([event], session.run.source)
        delay = session.page.timing()["event_to_page_s"]
        assert delay["n"] == 1 and 0 <= delay["max"] < 5
    finally:
        session.close()


@pytest.mark.slow
def test_after_stop_the_recording_is_exported_annotated_frame_for_frame(tmp_path):
    import cv2

    session = Session(tmp_path / "s", checkpoint=None, detector_factory=lambda: CentreFace(0.0))
    try:
        with pytest.raises(ValueError, match="nothing to annotate yet"):
            session.export("video")
        video = noise_video(tmp_path / "whole.avi", 20)
        session.start(str(video), views=1)
        assert finished(session)
        out = session.export("video")
        capture = cv2.VideoCapture(str(out))
        assert out.parent == session.folder and out.suffix == ".mp4"
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 20
        assert capture.get(cv2.CAP_PROP_FPS) == cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FPS)
        capture.release()
    finally:
        session.close()
