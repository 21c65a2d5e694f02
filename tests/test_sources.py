"""Frame sources on files written here with cv2, a fake camera and the synthetic stream."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from mer_live.corpora.replay import DatasetSource
from mer_live.sources import open_source
from mer_live.stream.frames import Frame
from mer_live.stream.sources import (
    CameraSource,
    DroppedFrame,
    ImageFolderSource,
    PaceGate,
    SourceError,
    VideoFileSource,
    paced,
)
from mer_live.synth.source import SyntheticSource
from tests.conftest import write_frames


def write_image(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


def smooth_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A blurry BGR image: compresses like a photo, so JPEG corruption tests are realistic."""
    small = np.random.default_rng(seed).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def items_of(source) -> list:
    with source:
        return list(source)


# ---------------------------------------------------------------- image folders
def test_image_folder_yields_numeric_order_with_gaps_as_index_jumps(tmp_path):
    folder = tmp_path / "s07" / "s07_02"
    write_frames(folder, [10, 2, 1, 3], name="img_{}.jpg")  # text order would put img_10 before img_2
    source = ImageFolderSource(folder, fps=50.0)
    frames = items_of(source)
    assert [f.index for f in frames] == [1, 2, 3, 10]
    assert [f.t_s for f in frames] == pytest.approx([0.02, 0.04, 0.06, 0.2])
    assert {f.recording for f in frames} == {"s07/s07_02"} and source.name == "s07/s07_02"
    assert (source.frames, source.dropped, source.fps) == (4, 0, 50.0)


@pytest.mark.parametrize(
    "name, image",
    [
        ("gray.jpg", np.full((40, 60), 128, np.uint8)),
        ("gray.png", np.full((40, 60), 128, np.uint8)),
        ("rgba.png", np.dstack([np.full((40, 60, 3), 128, np.uint8), np.zeros((40, 60), np.uint8)])),
        ("odd_width.jpg", np.full((41, 81, 3), 128, np.uint8)),
        ("odd_width.png", np.full((41, 81, 3), 128, np.uint8)),
    ],
)
def test_any_image_comes_out_as_rgb_uint8_of_its_own_size(tmp_path, name, image):
    write_image(tmp_path / "rec" / f"1_{name}", image)
    [frame] = items_of(ImageFolderSource(tmp_path / "rec"))
    assert frame.image.shape == image.shape[:2] + (3,) and frame.image.dtype == np.uint8
    assert abs(int(frame.image.mean()) - 128) <= 2


def test_channels_come_out_in_rgb_order(tmp_path):
    bgr = np.zeros((8, 8, 3), np.uint8)
    bgr[..., 2] = 255  # red in OpenCV's BGR
    write_image(tmp_path / "rec" / "1.png", bgr)
    [frame] = items_of(ImageFolderSource(tmp_path / "rec"))
    assert frame.image[0, 0].tolist() == [255, 0, 0]


def test_a_frame_of_another_size_passes_through(tmp_path):
    folder = tmp_path / "rec"
    write_frames(folder, [1, 2], shape=(40, 80, 3))
    write_frames(folder, [3], shape=(60, 90, 3))
    write_frames(folder, [4], shape=(40, 80, 3))
    frames = items_of(ImageFolderSource(folder))
    assert [f.image.shape[:2] for f in frames] == [(40, 80), (40, 80), (60, 90), (40, 80)]


def _random_bytes(good: bytes) -> bytes:
    return np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes()


def _first_40_percent(good: bytes) -> bytes:
    return good[: int(len(good) * 0.4)]


def _nothing(good: bytes) -> bytes:
    return b""


@pytest.mark.parametrize(
    "damage, allowed",
    [
        (_random_bytes, {"corrupt"}),
        (_first_40_percent, {"corrupt", "frame"}),  # libjpeg may decode a truncated file partially
        (_nothing, {"empty"}),
    ],
)
def test_a_bad_file_is_dropped_and_the_stream_goes_on(tmp_path, damage, allowed):
    folder = tmp_path / "s01" / "s01_01"
    paths = [write_image(folder / f"img_{n}.jpg", smooth_image(120, 160, n)) for n in range(1, 5)]
    paths[1].write_bytes(damage(paths[1].read_bytes()))
    source = ImageFolderSource(folder)
    items = items_of(source)
    assert [item.index for item in items] == [1, 2, 3, 4]
    bad = items[1]
    outcome = bad.reason if isinstance(bad, DroppedFrame) else "frame"
    assert outcome in allowed
    if isinstance(bad, DroppedFrame):
        assert bad == DroppedFrame(2, "s01/s01_01", outcome)
        assert (source.frames, source.dropped) == (3, 1)
    assert all(isinstance(item, Frame) for item in items[2:])


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
@pytest.mark.parametrize("scale", [1, 2, 4, 8])
def test_decode_scale_divides_width_and_height(tmp_path, suffix, scale):
    write_image(tmp_path / "rec" / f"1{suffix}", smooth_image(160, 240))
    [frame] = items_of(ImageFolderSource(tmp_path / "rec", decode_scale=scale))
    assert frame.image.shape == (160 // scale, 240 // scale, 3)


def test_decode_scale_must_be_a_power_of_two_up_to_8(tmp_path):
    write_frames(tmp_path / "rec", [1])
    with pytest.raises(ValueError, match="decode_scale"):
        ImageFolderSource(tmp_path / "rec", decode_scale=3)


# ---------------------------------------------------------------- datasets
def test_dataset_replays_recordings_in_order_under_their_names(tiny_dataset):
    (tiny_dataset / "s03" / "s03_01").mkdir(parents=True)  # no frames: skipped
    source = DatasetSource(tiny_dataset, fps=60.0)
    frames = items_of(source)
    assert source.recordings == ["s01/s01_01", "s02/s02_01"]
    assert [(f.recording, f.index) for f in frames] == (
        [("s01/s01_01", n) for n in range(1, 8)] + [("s02/s02_01", n) for n in (1, 2, 3, 10, 11)]
    )
    assert frames[-1].t_s == pytest.approx(11 / 60)
    assert source.frames == 12


# ---------------------------------------------------------------- video files
@pytest.fixture
def video_file(tmp_path) -> Path:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 24.0, (64, 48))
    assert writer.isOpened()
    for i in range(12):
        writer.write(smooth_image(48, 64, i))
    writer.release()
    return path


def test_video_yields_every_frame_with_container_time(video_file):
    source = VideoFileSource(video_file)
    frames = items_of(source)
    assert source.fps == pytest.approx(24.0)
    assert [f.index for f in frames] == list(range(12))
    assert [f.t_s for f in frames] == pytest.approx([i / 24 for i in range(12)])
    assert frames[0].image.shape == (48, 64, 3) and frames[0].recording == "clip.avi"
    assert source.ended_reason == "end of file"


def test_video_fps_and_decode_scale_can_be_given(video_file):
    frames = items_of(VideoFileSource(video_file, fps=10.0, decode_scale=2))
    assert frames[3].t_s == pytest.approx(0.3)
    assert frames[3].image.shape == (24, 32, 3)


# ---------------------------------------------------------------- cameras
class FakeCamera:
    """A capture factory and capture in one: `frames` frames in all (over every reopen), each read
    taking `read_s`; then every read fails. `opens=False` makes every open fail."""

    def __init__(self, frames: int, read_s: float = 0.0, opens: bool = True) -> None:
        self.left, self.read_s, self.opens = frames, read_s, opens
        self.opened = self.released = self.delivered = 0

    def __call__(self, device):
        self.opened += 1
        return self

    def isOpened(self) -> bool:
        return self.opens

    def read(self):
        time.sleep(self.read_s)
        if self.left <= 0:
            return False, None
        self.left -= 1
        self.delivered += 1
        return True, np.full((4, 6, 3), self.left % 256, np.uint8)

    def release(self) -> None:
        self.released += 1


def open_camera(fake, **timeouts) -> CameraSource:
    return CameraSource(0, capture_factory=fake, **{"reconnect_s": 0.05, "give_up_s": 0.2, **timeouts})


@pytest.mark.parametrize(
    "fake", [FakeCamera(5, read_s=0.005), FakeCamera(0, opens=False)], ids=["stops_delivering", "never_opens"]
)
def test_camera_reconnects_then_gives_up_cleanly(fake):
    source = open_camera(fake)
    started = time.monotonic()
    frames = items_of(source)
    assert 0.2 <= time.monotonic() - started < 1.5
    assert source.frames + source.dropped == fake.delivered
    assert [f.index for f in frames] == list(range(len(frames)))
    assert all(0 <= a.t_s <= b.t_s for a, b in zip(frames, frames[1:]))
    assert source.reconnects >= 1 and fake.opened == source.reconnects + 1 == fake.released
    assert "no frame" in source.ended_reason
    assert not source._thread.is_alive()


def test_camera_keeps_only_the_newest_frame_for_a_slow_consumer():
    source = open_camera(FakeCamera(40, read_s=0.002))
    with source:
        for _ in source:
            time.sleep(0.02)
    assert source.dropped > 0 and source.frames > 0
    assert source.frames + source.dropped == 40


def test_closing_the_camera_stops_its_reader():
    fake = FakeCamera(10**9, read_s=0.001)
    with open_camera(fake) as source:
        for frame in source:
            if frame.index == 2:
                break
    assert not source._thread.is_alive()
    assert source.ended_reason == "closed" and fake.released == 1


def test_a_camera_read_that_never_returns_ends_the_stream():
    release = threading.Event()

    class BlockedCamera(FakeCamera):
        def read(self):
            release.wait()
            return False, None

    source = open_camera(BlockedCamera(0), reconnect_s=0.05, give_up_s=0.1)
    try:
        assert items_of(source) == []
        assert "blocked" in source.ended_reason
    finally:
        release.set()


def test_a_camera_driver_error_ends_the_stream_with_its_message():
    def broken_factory(device):
        raise RuntimeError("device busy")

    source = open_camera(broken_factory)
    assert items_of(source) == []
    assert "device busy" in source.ended_reason


# ---------------------------------------------------------------- synthetic stream
def test_synthetic_source_streams_its_recording_with_true_events():
    from mer_live.synth import SynthConfig

    config = SynthConfig(fps=10, view_width=256, view_height=320, macro=False)
    source = SyntheticSource(seed=0, seconds=6, config=config)
    frames = items_of(source)
    assert [f.index for f in frames] == list(range(1, 61))
    assert frames[-1].t_s == pytest.approx(6.0)
    assert frames[0].image.shape == (320, 512, 3) and frames[0].recording == "synthetic:0"
    assert source.events and all(1 <= e.onset < e.offset <= 60 for e in source.events)


# ---------------------------------------------------------------- open_source
@pytest.fixture
def kinds(tmp_path, tiny_dataset, video_file) -> dict[str, str]:
    write_frames(tmp_path / "folder" / "rec", [1, 2])
    return {"folder": str(tmp_path / "folder" / "rec"), "dataset": str(tiny_dataset), "video": str(video_file)}


@pytest.mark.parametrize(
    "spec, kind",
    [
        ("0", CameraSource),
        ("rtsp://192.168.0.5/stream", CameraSource),
        ("http://cam.local/video", CameraSource),
        ("folder", ImageFolderSource),
        ("dataset", DatasetSource),
        ("video", VideoFileSource),
        ("synthetic:3", SyntheticSource),
    ],
)
def test_open_source_recognises_each_kind(kinds, spec, kind):
    with open_source(kinds.get(spec, spec)) as source:
        assert type(source) is kind


def test_open_source_passes_fps_and_device_on(kinds):
    with (
        open_source("2", fps=25.0) as camera,
        open_source(kinds["folder"], fps=25.0) as folder,
        open_source(kinds["video"], fps=25.0, decode_scale=2) as video,
    ):
        assert (camera.device, camera.fps) == (2, 25.0)
        assert folder.fps == 25.0
        assert (video.fps, video.decode_scale) == (25.0, 2)


@pytest.mark.parametrize(
    "name, make, message",
    [
        ("missing", None, "source does not exist: {path}"),
        ("empty", Path.mkdir, "no frames in {path}"),
        ("notes.txt", Path.touch, "not a video file"),
    ],
)
def test_open_source_rejects_what_it_cannot_open(tmp_path, name, make, message):
    path = tmp_path / name
    if make:
        make(path)
    with pytest.raises(SourceError, match=re.escape(message.format(path=path))):
        open_source(str(path))


def test_open_source_wants_an_integer_synthetic_seed():
    with pytest.raises(SourceError, match="integer seed"):
        open_source("synthetic:abc")


# ---------------------------------------------------------------- pacing
def _frames(*timeline: tuple[str, float]) -> list[Frame]:
    image = np.zeros((2, 2, 3), np.uint8)
    return [Frame(i, t_s, image, name) for i, (name, t_s) in enumerate(timeline)]


@pytest.mark.parametrize(
    "items, realtime, speed, seconds",
    [
        (_frames(("a", 1.0), ("a", 1.05), ("a", 1.1)), True, 1.0, 0.1),
        (_frames(("a", 0.0), ("a", 0.1)), True, 2.0, 0.05),
        (_frames(("a", 0.0), ("a", 0.05), ("b", 0.0), ("b", 0.05)), True, 1.0, 0.1),  # new recording: clock restarts
        (_frames(("a", 0.0), ("a", 5.0)), False, 1.0, 0.0),
    ],
)
def test_paced_delivers_frames_at_their_time(items, realtime, speed, seconds):
    items = items + [DroppedFrame(99, "a", "corrupt")]
    started = time.monotonic()
    delivered = list(paced(items, realtime, speed))
    assert len(delivered) == len(items) and all(a is b for a, b in zip(delivered, items))
    assert seconds <= time.monotonic() - started < seconds + 0.05


def test_a_gate_holds_a_paced_stream_while_paused_and_ends_it_when_stopped():
    gate = PaceGate()
    stream = paced(_frames(("a", 0.0), ("a", 0.05), ("a", 0.1), ("a", 0.15)), True, gate=gate)
    assert next(stream).index == 0
    gate.pause(True)
    threading.Timer(0.3, gate.pause, (False,)).start()
    started = time.monotonic()
    assert next(stream).index == 1
    after_pause = time.monotonic()
    assert after_pause - started >= 0.29  # held while paused
    assert next(stream).index == 2
    assert 0.03 <= time.monotonic() - after_pause < 0.25  # re-anchored: frame 2 keeps its 0.05 s gap (not at once)
    gate.stop()
    assert list(stream) == []
