"""A stereo rig from two cameras: pairing by capture time (exact against a whole-recording matching),
then two fake capture devices at different rates, with jitter and a dropout, through the real threads."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from mer_live.sources import open_source
from mer_live.stream.engine import Engine
from mer_live.stream.face import MediaPipeFaceDetector
from mer_live.stream.frames import Frame
from mer_live.stream.pipeline import EngineConfig
from mer_live.stream.sources import DroppedFrame, SourceError
from mer_live.stream.stereo import StereoCameraSource, StereoPairer, describe_devices, side_by_side
from mer_live.stream.store import LiveStore


def capture_times(fps: float, seconds: float, jitter_s: float, seed: int, start_s: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * fps)
    return start_s + np.arange(n) / fps + rng.normal(0.0, jitter_s, n) if jitter_s else start_s + np.arange(n) / fps


def nearest(times: np.ndarray, of: np.ndarray) -> np.ndarray:
    """Index of the nearest entry of sorted `times` for each value of `of`; ties to the earlier."""
    after = np.clip(np.searchsorted(times, of), 1, len(times) - 1)
    before = after - 1
    return np.where(np.abs(times[after] - of) < np.abs(of - times[before]), after, before)


def whole_recording_pairs(a: np.ndarray, b: np.ndarray, tolerance_s: float) -> set[tuple[int, int]]:
    """Mutual nearest neighbours within the tolerance, knowing both recordings in full."""
    b_of_a, a_of_b = nearest(b, a), nearest(a, b)
    return {(i, int(j)) for i, j in enumerate(b_of_a) if a_of_b[j] == i and abs(a[i] - b[j]) <= tolerance_s}


def pair_online(a: np.ndarray, b: np.ndarray, tolerance_s: float) -> tuple[StereoPairer, list]:
    """Feed the pairer both devices' frames in arrival order (interleaved by capture time)."""
    pairer = StereoPairer(tolerance_s)
    arrivals = sorted([(t, 0, i) for i, t in enumerate(a)] + [(t, 1, j) for j, t in enumerate(b)])
    decided = []
    for t, device, index in arrivals:
        decided += pairer.add(device, t, index)
    decided += pairer.end(0) + pairer.end(1)
    return pairer, decided


HALF_FRAME_30 = 0.5 / 30


@pytest.mark.parametrize(
    "fps_b, jitter_s, seed", [(29.5, 0.0, 0), (29.5, 0.002, 1), (29.5, 0.004, 2), (30.0, 0.005, 3), (24.0, 0.002, 4)]
)
def test_pairs_are_the_whole_recording_matching_and_every_frame_is_counted(fps_b, jitter_s, seed):
    a = np.sort(capture_times(30.0, 60, jitter_s, seed))
    b = np.sort(capture_times(fps_b, 60, jitter_s, seed + 100, start_s=0.004))
    pairer, decided = pair_online(a, b, HALF_FRAME_30)
    pairs = {(i, j) for i, j in decided if i is not None and j is not None}
    assert pairs == whole_recording_pairs(a, b, HALF_FRAME_30)
    assert all(abs(a[i] - b[j]) <= HALF_FRAME_30 for i, j in pairs)
    assert pairer.max_gap_s <= HALF_FRAME_30
    assert pairer.paired == len(pairs)
    assert [pairer.paired + pairer.unmatched[0], pairer.paired + pairer.unmatched[1]] == [len(a), len(b)]
    assert sorted(i for i, _ in decided if i is not None) == list(range(len(a)))  # each frame decided once
    assert sorted(j for _, j in decided if j is not None) == list(range(len(b)))


def test_at_30_and_29_5_fps_the_faster_camera_loses_one_frame_every_two_seconds():
    a, b = capture_times(30.0, 60, 0, 0), capture_times(29.5, 60, 0, 0, start_s=0.004)
    pairer, _ = pair_online(a, b, HALF_FRAME_30)
    assert (len(a), len(b)) == (1800, 1770)
    assert pairer.paired == 1770 and pairer.unmatched == [30, 0]


def test_a_dropout_leaves_exactly_the_other_cameras_frames_of_that_stretch_unmatched():
    a = capture_times(30.0, 10, 0.002, 5)
    b = capture_times(30.0, 10, 0.002, 6, start_s=0.003)
    b = np.delete(b, np.arange(120, 135))  # camera 1 silent for half a second
    pairer, decided = pair_online(a, b, HALF_FRAME_30)
    assert pairer.unmatched == [15, 0]
    assert sorted(i for i, j in decided if j is None) == list(range(120, 135))


def test_a_silent_partner_keeps_a_bounded_queue():
    pairer = StereoPairer(HALF_FRAME_30, max_pending=10)
    decided = [p for n in range(50) for p in pairer.add(0, n / 30, n)]
    assert len(pairer.pending[0]) == 10 and pairer.unmatched[0] == 40 and len(decided) == 40


def test_the_pairer_refuses_a_tolerance_that_is_not_positive():
    with pytest.raises(ValueError, match="tolerance_s"):
        StereoPairer(0.0)


class FakeCamera:
    """A capture device at `fps` with Gaussian jitter; after `frames` reads it is unplugged. Each
    image carries its device in the first pixel and its frame number in the next two."""

    def __init__(self, device: int, fps: float, jitter_s: float, frames: int, seed: int):
        self.device, self.period, self.frames = device, 1.0 / fps, frames
        self.jitter = np.random.default_rng(seed).normal(0.0, jitter_s, frames)
        self.read_count = 0
        self.t0: float | None = None

    def isOpened(self) -> bool:
        return self.read_count < self.frames

    def read(self):
        if self.read_count >= self.frames:
            return False, None
        self.t0 = self.t0 or time.monotonic()
        n = self.read_count
        time.sleep(max(0.0, self.t0 + n * self.period + self.jitter[n] - time.monotonic()))
        image = np.full((48, 64, 3), 40 + 100 * self.device, np.uint8)
        image[0, 0, 1:] = divmod(n, 256)
        self.read_count += 1
        return True, image

    def release(self) -> None:
        pass


def rig(frames=(75, 45), allow_single_view=False, fps=(30.0, 29.5)):
    cameras = {d: FakeCamera(d, fps[d], 0.002, frames[d], seed=d) for d in (0, 1)}
    source = StereoCameraSource(
        (0, 1),
        fps_hint=30.0,
        allow_single_view=allow_single_view,
        reconnect_s=0.05,
        give_up_s=0.3,
        capture_factory=cameras.__getitem__,
    )
    return source, cameras


@pytest.mark.slow
def test_two_fake_cameras_pair_within_half_a_frame_and_a_lost_one_ends_the_rig_naming_it():
    source, cameras = rig()
    started = time.monotonic()
    with source:
        items = list(source)
    assert time.monotonic() - started < 10
    frames = [i for i in items if isinstance(i, Frame)]
    assert source.ended_reason.startswith("camera:1 lost: no frame from camera 1")
    assert len(frames) >= 30 and source.pairer.max_gap_s <= 0.5 / 30
    for frame in frames:
        left, right = frame.image[:, :64], frame.image[:, 64:]
        assert (left[1, 1, 0], right[1, 1, 0]) == (40, 140)  # camera 0 on the left, camera 1 on the right
    status = {d["device"]: d for d in source.device_status()}
    assert status["camera:1"]["lost"] and not status["camera:0"]["lost"]
    assert 25 < status["camera:0"]["fps"] < 35 and 25 < status["camera:1"]["fps"] < 35
    assert "camera:1" in describe_devices(source.device_status()) and "LOST" in describe_devices(source.device_status())


@pytest.mark.slow
def test_with_single_view_allowed_the_rig_goes_on_and_every_captured_frame_is_accounted_for():
    source, cameras = rig(frames=(90, 45), allow_single_view=True)
    with source:
        items = list(source)
    assert source.ended_reason.startswith("camera:0 lost")
    unmatched = {
        d: sum(isinstance(i, DroppedFrame) and i.reason == f"unmatched camera:{d}" for i in items) for d in (0, 1)
    }
    frames = [i for i in items if isinstance(i, Frame)]
    single = [f for f in frames if not f.image[:, 64:].any()]  # camera 1's half black
    assert len(single) > 0
    assert all(f.image[1, 1, 0] == 40 for f in single)
    for d in range(len(source.cameras)):
        status = source.device_status()[d]
        assert status["unmatched"] == unmatched[d]
        # every frame the device gave is paired (or shown alone), unmatched, or overwritten before it was read
        assert status["delivered"] + status["unmatched"] + status["overwritten"] == cameras[d].read_count
    assert [f.index for f in frames] == list(range(len(frames)))
    assert all(b.t_s > a.t_s for a, b in zip(frames, frames[1:]))


@pytest.mark.slow
def test_the_engine_counts_drops_per_camera_and_the_dashboard_status_shows_each_device():
    from mer_live.ui.app import status_html
    from mer_live.ui.sources import StampedSource

    source, cameras = rig(frames=(60, 60))
    store = LiveStore()
    engine = Engine(
        StampedSource(source, realtime=False),
        EngineConfig(views=2, capture_nice=0),
        detector_factory=MediaPipeFaceDetector,
        store=store,
    )
    thread = threading.Thread(target=engine.run)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    status = store.snapshot().status
    devices = {d["device"]: d for d in status["devices"]}
    assert set(devices) == {"camera:0", "camera:1"}
    for d in (0, 1):
        assert engine.stats.dropped.get(f"unmatched camera:{d}", 0) == devices[f"camera:{d}"]["unmatched"]
    assert engine.stats.processed == devices["camera:0"]["delivered"] > 0
    strip = status_html(
        {"devices": status["devices"], "hysteresis": {"k_high": 4, "k_low": 1.5}, "decision_threshold": 0.2}
    )
    assert "camera:0 " in strip and "camera:1 " in strip and "unmatched" in strip


@pytest.mark.parametrize("spec", ["camera:0+1", "0+1", "camera:2+0"])
def test_a_two_camera_spec_opens_a_rig_without_touching_the_devices(spec):
    source = open_source(spec, fps=25)
    assert isinstance(source, StereoCameraSource) and source.fps == 25
    assert source.pairer.tolerance_s == pytest.approx(0.02)


def test_one_camera_twice_is_refused():
    with pytest.raises(SourceError, match="two different cameras"):
        open_source("camera:1+1")


def test_views_of_different_sizes_are_put_side_by_side_at_the_first_ones_size():
    image = side_by_side(np.zeros((48, 64, 3), np.uint8), np.full((96, 128, 3), 7, np.uint8))
    assert image.shape == (48, 128, 3) and image[:, 64:].min() == 7
