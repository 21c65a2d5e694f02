"""The dashboard: pure drawing functions on synthetic data, the Session's controls and export
restrictions, and the running app through gradio_client (real engine on a synthetic stream)."""
from __future__ import annotations

import csv
import threading
import json
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import write_video

from corpora.labels import CLASSES
from stream.events import EventRecord
from stream.frames import Frame
from stream.sources import Source
from stream.store import EventDetail, Marker
from ui import drawing
from ui.session import FeedSource, Session, StampedSource, WebcamFeed, check_upload


def record(event_id=1, onset_s=2.0, offset_s=2.3, kind="micro", probs=None, labels=(), source="s01/s01_01",
           fps=60.0) -> EventRecord:
    return EventRecord(event_id=event_id, source=source, onset_frame=int(onset_s * fps),
                       apex_frame=int((onset_s + offset_s) / 2 * fps), offset_frame=int(offset_s * fps),
                       onset_s=onset_s, apex_s=(onset_s + offset_s) / 2, offset_s=offset_s,
                       apex_frame_by_view={"left": int(onset_s * fps) + 5, "right": int(onset_s * fps) + 6},
                       peak_intensity=3.0, kind=kind, labels=list(labels), probs=dict(probs or {}),
                       attention={"alpha_h": 0.2, "alpha_v": 0.3, "alpha_m": 0.5} if probs else {},
                       threshold=0.2 if probs else None, model="fake" if probs else None, latency_ms=5.0)


def timeline(seconds=10.0, fps=60.0, bump=(2.0, 2.3)):
    points = []
    for i in range(int(seconds * fps)):
        t = i / fps
        z = 8.0 if bump[0] <= t <= bump[1] else 0.3 * np.sin(i)
        points.append((i, t, {0: z, 1: z * 0.8}))
    return points


# ---------------------------------------------------------------- drawing
def test_frame_with_boxes_draws_each_window_and_leaves_the_input_alone():
    frame = np.zeros((800, 1600, 3), np.uint8)
    boxes = {"left": (100, 200, 300, 300), "right": (900, 220, 300, 300)}
    out = drawing.frame_with_boxes(frame, boxes, max_width=800)
    assert out.shape == (400, 800, 3) and out.dtype == np.uint8
    assert not frame.any()                                     # input untouched
    # left box: top edge at y=100, x 50..200 (half scale); right box at x=450
    assert tuple(out[100, 120]) == drawing.VIEW_COLOURS[0]
    assert tuple(out[110, 450]) == drawing.VIEW_COLOURS[1]
    assert not out[175, 125].any()                             # inside the box: untouched
    assert not out[20:40, 600:700].any()                       # far from any box


def test_fit_width_never_upscales():
    small = np.zeros((10, 20, 3), np.uint8)
    out, scale = drawing.fit_width(small, 100)
    assert out is small and scale == 1.0


def test_timeline_draws_thresholds_spans_and_markers_where_expected():
    points = timeline()
    events = [record(1, 2.0, 2.3, "micro"), record(2, 5.0, 6.0, "macro"), record(3, 7.0, 7.5, "micro", source="other")]
    markers = [Marker(t_s=8.0, frame=480, note="question 3")]
    image = drawing.timeline_image(points, events, markers, (4.5, 2.0), width=800, height=240, window_s=None,
                                   source="s01/s01_01")
    assert image.shape == (240, 800, 3) and image.dtype == np.uint8
    axis = drawing.timeline_axis(points, (4.5, 2.0), 800, 240, None)
    mid = (axis.top + 240 - axis.bottom) // 2
    # marker: a magenta vertical line at t = 8 s
    column = image[axis.top + 2:240 - axis.bottom - 2, axis.x(8.0)]
    assert (column == drawing.MARKER_COLOUR).all(axis=1).mean() > 0.6
    # spans: micro (green tint) at 2.1 s, macro (purple tint) at 5.5 s, other recording not shaded
    green = image[mid - 40, axis.x(2.15)].astype(int)
    purple = image[mid - 40, axis.x(5.5)].astype(int)
    other = image[mid - 40, axis.x(7.25)].astype(int)
    assert green[1] > green[0] and green[1] > green[2] and green.sum() < 3 * 255
    assert purple[2] > purple[1] and purple[0] > purple[1]
    assert tuple(other) in {drawing.BACKGROUND, drawing.GRID_COLOUR}
    # thresholds: dashed rows in their colours
    assert (image[axis.y(4.5)] == drawing.K_HIGH_COLOUR).all(axis=1).sum() > 100
    assert (image[axis.y(2.0)] == drawing.K_LOW_COLOUR).all(axis=1).sum() > 100
    # the left view's curve passes the bump's height (anti-aliased: close to its colour)
    y, x = axis.y(8.0), axis.x(2.15)
    patch = image[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3).astype(int)
    assert np.abs(patch - np.array(drawing.VIEW_COLOURS[0])).sum(axis=1).min() < 100
    # the score, the views' mean (7.2 in the bump), in bold
    y = axis.y(7.2)
    patch = image[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3).astype(int)
    assert np.abs(patch - np.array(drawing.SCORE_COLOUR)).sum(axis=1).min() < 60
    # no marker, or one set in another recording → no magenta column
    plain = drawing.timeline_image(points, events, [], (4.5, 2.0), width=800, height=240, window_s=None)
    foreign = drawing.timeline_image(points, events, [Marker(8.0, 480, "question 3", source="other")], (4.5, 2.0),
                                     width=800, height=240, window_s=None, source="s01/s01_01")
    for drawn in (plain, foreign):
        assert not (drawn[axis.top + 2:240 - axis.bottom - 2, axis.x(8.0)] == drawing.MARKER_COLOUR).all(axis=1).any()


def test_timeline_window_and_new_recording():
    points = timeline(30.0)
    axis = drawing.timeline_axis(points, (4.5, 2.0), 800, 240, 10.0)
    assert axis.t1 == pytest.approx(points[-1][1]) and axis.t0 == pytest.approx(axis.t1 - 10.0)
    restarted = points + [(1, 0.0, {0: 0.0}), (2, 0.5, {0: 0.0})]
    assert drawing.current_segment(restarted) == restarted[-2:]
    empty = drawing.timeline_image([], [], [], (0.0, 0.0), width=300, height=120)
    assert empty.shape == (120, 300, 3)


def test_flow_images_and_grid():
    flow = np.zeros((3, 32, 32), np.float16)
    flow[0, :, :16], flow[0, :, 16:] = -1, 1
    flow[2] = np.linspace(0, 1, 32)[None, :]
    images = drawing.flow_images(flow)
    assert set(images) == {"u", "v", "m"} and all(i.shape == (32, 32, 3) for i in images.values())
    negative, positive = images["u"][0, 0].astype(int), images["u"][0, 31].astype(int)
    assert negative[2] > negative[0] and positive[0] > positive[2]        # blue for −, red for +
    assert images["m"][0, 31].sum() > images["m"][0, 0].sum()            # brighter for larger magnitude
    grid = drawing.flow_grid({"left/onset_apex": flow, "right/onset_apex": flow}, tile=64)
    assert grid.shape == (2 * (64 + 16), 3 * 64, 3)
    with pytest.raises(ValueError):
        drawing.flow_images(np.zeros((2, 8, 8)))


def test_bars_and_apex_pair():
    probs = dict(zip(CLASSES, (0.7, 0.1, 0.25, 0.05, 0.01)))
    bars = drawing.probability_bars(probs, CLASSES, 0.2, width=400, height=200)
    assert bars.shape == (200, 400, 3)

    def chosen_pixels(image):   # the highlight colour of classes at or above the threshold
        return int(np.all(np.abs(image.astype(int) - (46, 204, 113)) < 12, axis=2).sum())

    assert chosen_pixels(bars) > chosen_pixels(drawing.probability_bars(probs, CLASSES, 0.5, 400, 200)) > 0
    assert drawing.attention_bars({"alpha_h": 0.2, "alpha_v": 0.3, "alpha_m": 0.5}, 0.4,
                                  {"alpha_h": 0.3, "alpha_v": 0.3, "alpha_m": 0.4}, 400, 180).shape == (180, 400, 3)
    pair = drawing.apex_pair({"left": np.zeros((50, 50), np.uint8), "right": np.zeros((50, 50), np.uint8)}, tile=100)
    assert pair.shape == (100, 200, 3)


# ---------------------------------------------------------------- session
@pytest.fixture
def session(tmp_path):
    s = Session(tmp_path / "session", checkpoint=tmp_path / "missing.pt", detector_factory=lambda: None)
    yield s
    s.close()


def fill(session: Session) -> None:
    probs = dict(zip(CLASSES, (0.7, 0.1, 0.25, 0.05, 0.01)))
    session.store.write(record(1, 2.0, 2.3, "micro", probs, ("Negative", "Repression")),
                        EventDetail({"left": np.zeros((224, 224), np.uint8)},
                                    {"left/onset_apex": np.zeros((3, 224, 224), np.float16)}, 0.5, {}))
    session.store.write(record(2, 5.0, 6.0, "macro"))
    for i, t, z in timeline(7.0):
        session.store.add_point(i, t, z)
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
    assert lines[2] == {"kind": "marker", "source": "", "t_s": lines[2]["t_s"], "frame": lines[2]["frame"],
                        "note": "question 3"}
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


@pytest.mark.parametrize("name,size,error", [
    ("clip.mp4", 10, None), ("CLIP.MOV", 10, None), ("notes.txt", 10, "not a video"),
    ("big.mp4", 2000, "too large"), ("empty.avi", 0, "empty"),
])
def test_check_upload(tmp_path, name, size, error):
    path = tmp_path / name
    path.write_bytes(b"x" * size)
    if error is None:
        assert check_upload(path, max_bytes=1000) == path
    else:
        with pytest.raises(ValueError, match=error):
            check_upload(path, max_bytes=1000)


@pytest.mark.parametrize("kind,value,expected", [
    ("demo", "", "demo"), ("camera", "0", "0"), ("camera", "0+1", "0+1"), ("synthetic", "3", "synthetic:3"),
    ("synthetic", "synthetic:5", "synthetic:5"), ("browser webcam", "", "webcam"),
])
def test_resolve_spec(session, kind, value, expected):
    assert session.resolve_spec(kind, value) == expected


def test_an_upload_outlives_gradios_copy(session, tmp_path):
    """Gradio deletes its copy of an upload a few minutes in (delete_cache); the session replays,
    calibrates and restarts from its own."""
    upload = tmp_path / "gradio-cache" / "clip.mp4"
    upload.parent.mkdir()
    upload.write_bytes(b"video bytes")
    spec = Path(session.resolve_spec("video file", upload=str(upload)))
    assert spec.is_relative_to(session.folder)
    upload.unlink()
    assert spec.read_bytes() == b"video bytes"
    assert session.resolve_spec("video file", upload=str(spec)) == str(spec)
    # the page still holds Gradio's path: Start pressed again replays the session's copy
    assert session.resolve_spec("video file", upload=str(upload)) == str(spec)


@pytest.mark.parametrize("kind,value", [("camera", "front"), ("camera", "0+"), ("folder", "/no/such/folder"), ("video file", ""),
                                        ("ftp", "x")])
def test_resolve_spec_rejects(session, kind, value):
    with pytest.raises(ValueError):
        session.resolve_spec(kind, value)


def test_thresholds(session):
    assert "next start" in session.set_threshold(0.15) and session.threshold == 0.15
    with pytest.raises(ValueError):
        session.set_threshold(0.5)
    k_ratio = session.k_low / session.k_high
    session.set_sensitivity(6.0)
    assert session.k_high == 6.0 and session.k_low == pytest.approx(6.0 * k_ratio, abs=1e-3)
    with pytest.raises(ValueError):
        session.set_sensitivity(0.5)
    assert "no model" in session.set_checkpoint(session.folder / "none.pt")


def test_event_card_with_and_without_detail(session):
    from ui.app import card_images, card_markdown, event_rows

    fill(session)
    events = session.store.snapshot().events
    rows = event_rows(events)
    assert [r[0] for r in rows] == [2, 1] and rows[1][5] == "Negative+Repression" and rows[1][6].startswith("Negative 0.70")
    classified, macro = events
    record, detail = session.store.event(1)
    assert record is classified and session.store.event(99) is None
    assert "Event #1" in card_markdown(classified, detail) and "SE gate" in card_markdown(classified, detail)
    apex, flows, probs, attention = card_images(classified, detail)
    assert apex.shape[2] == flows.shape[2] == probs.shape[2] == attention.shape[2] == 3
    assert "macro-expression" in card_markdown(macro, None)
    assert np.array_equal(card_images(macro, None)[2], drawing.placeholder("no probabilities (not classified)", 420, 220))


class ListSource(Source):
    def __init__(self, n=10, fps=100.0):
        super().__init__("list", fps)
        self.n = n

    def _items(self):
        for i in range(self.n):
            yield Frame(i, i / self.fps, np.zeros((4, 4, 3), np.uint8), "rec")


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
    feed = WebcamFeed(nominal_fps=10, maxsize=2)
    for i in range(5):
        feed.push(np.full((8, 8, 3), i, np.uint8))
    assert feed.dropped == 3 and feed.received == 5 and feed.incoming_fps > 0
    source = FeedSource(feed)
    frames = []
    for frame in source:
        frames.append(frame)
        if len(frames) == 2:
            source.close()
    assert [int(f.image[0, 0, 0]) for f in frames] == [3, 4]


# ---------------------------------------------------------------- the running app via gradio_client
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from ui.app import build_app, launch

    session = Session(tmp_path_factory.mktemp("ui-session"), checkpoint=None)
    app = build_app(session)
    _, url = launch(app, host="127.0.0.1", port=free_port(), block=False)
    yield session, url
    session.close()
    app.close()


def wait_for(predicate, timeout_s: float, every_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every_s)
    return None


def test_launch_refuses_share_links():
    from ui.app import launch

    with pytest.raises(ValueError, match="share"):
        launch(object(), share=True)


def test_api_endpoints_drive_a_live_session(served):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    session, url = served
    assert url.startswith("http://127.0.0.1:")
    client = Client(url, verbose=False)
    names = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert {"/start", "/pause", "/resume", "/stop", "/status", "/events", "/add_marker", "/export_jsonl",
            "/export_csv", "/export_megc", "/export_summary", "/set_threshold", "/set_sensitivity",
            "/calibrate", "/load_model", "/event_card"} <= names

    message = client.predict("synthetic", "3", None, "2 (side by side)", api_name="/start")
    assert "started synthetic:3" in message and "model microattnet-synth.pt" in message   # the shipped weights
    status = wait_for(lambda: (s := client.predict(api_name="/status"))["events_in_store"] and s, 40)
    assert status, f"no event within 40 s: {client.predict(api_name='/status')}"
    assert status["running"] and status["fps"] > 0 and status["face_found"] == {"left": True, "right": True}
    events = client.predict(api_name="/events")
    assert events[0]["kind"] == "micro" and events[0]["source"] == "synthetic:3"
    assert 2.0 <= events[0]["onset_s"] <= 2.6                  # the stream's first micro-expression (frames 129–143)

    assert "question 3" in client.predict("question 3", api_name="/add_marker")[0]
    with pytest.raises(AppError, match="note"):
        client.predict("", api_name="/add_marker")
    assert "applied to events classified from now on" in client.predict(0.15, api_name="/set_threshold")
    with pytest.raises(AppError, match="maximum|decision threshold"):
        client.predict(0.5, api_name="/set_threshold")
    assert "applied from the next frame" in client.predict(5.0, api_name="/set_sensitivity")
    assert client.predict(api_name="/status")["thresholds"]["k_high"] == 5.0    # the running spotter's own
    assert client.predict(api_name="/pause") == "paused"
    assert client.predict(api_name="/status")["paused"]
    assert client.predict(api_name="/resume") == "resumed"
    assert client.predict(api_name="/pause") == "paused"          # stopped below while paused

    exported = Path(client.predict(api_name="/export_jsonl"))
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    assert lines[0]["event_id"] == events[0]["event_id"] and lines[-1]["note"] == "question 3"
    assert all(p.parent == session.folder for p in session.folder.glob("events-*.jsonl"))
    assert Path(client.predict(api_name="/export_summary")).read_bytes()[:4] == b"\x89PNG"
    assert Path(client.predict(api_name="/export_csv")).read_text().startswith("event_id,source,kind")
    megc = Path(client.predict(api_name="/export_megc")).read_text().splitlines()
    assert megc[0] == "subject,video,onset,offset,emotion,apex" and len(megc) >= 2
    assert "no model" in client.predict(str(session.folder / "none.pt"), api_name="/load_model")
    assert "Event #1" in client.predict(1, api_name="/event_card")["markdown"]

    assert client.predict(api_name="/stop").startswith("stopped")
    assert not client.predict(api_name="/status")["running"]
    live_log = session.folder / "live-001.jsonl"
    assert json.loads(live_log.read_text().splitlines()[0])["event_id"] == 1

    message = client.predict(2, api_name="/calibrate")
    assert "profile applied" in message and (session.folder / "profile.json").exists()
    assert session.profile is not None and {view for view, _ in session.profile.baselines} == {0, 1}


def test_run_ui_serves_with_a_password(tmp_path, capsys):
    from gradio_client import Client

    from ui.app import run_ui

    app, url = run_ui(host="127.0.0.1", port=free_port(), auth=("mer", "secret"), session_dir=str(tmp_path / "s"),
                      block=False)
    try:
        assert url in capsys.readouterr().out
        with pytest.raises(ValueError, match="login"):                 # refused without the password
            Client(url, verbose=False)
        client = Client(url, auth=("mer", "secret"), verbose=False)
        assert client.predict(api_name="/status")["running"] is False
    finally:
        app.mer_session.close()
        app.close()


def test_logins_are_locked_out_after_five_wrong_tries():
    from ui.auth import LoginGuard

    now = [0.0]
    guard = LoginGuard("mer", "secret", max_failures=5, lockout_s=30.0, clock=lambda: now[0])
    assert guard("mer", "secret")
    assert not any(guard("mer", f"guess{i}") for i in range(5))
    assert not guard("mer", "secret")          # locked: even the right password waits
    now[0] = 31.0
    assert not any(guard("mer", f"guess{i}") for i in range(5))
    now[0] = 31.0 + 59.0
    assert not guard("mer", "secret")          # the second lockout lasts twice as long
    now[0] = 31.0 + 61.0
    assert guard("mer", "secret") and guard.lockouts == 0


def test_page_paths_outside_the_data_roots_are_refused_alike(tmp_path):
    """The checkpoint and folder boxes once took any server path, and their messages told whether a
    file existed there (and, through the loader's error, its first byte)."""
    data = tmp_path / "data"
    (data / "frames").mkdir(parents=True)
    session = Session(tmp_path / "s", checkpoint=None, detector_factory=lambda: None, data_roots=[data])
    before = session.checkpoint
    try:
        refusals = []
        for path in ("/etc/hostname", "/etc/no-such-file"):
            with pytest.raises(ValueError) as refused:
                session.set_checkpoint(path)
            refusals.append(str(refused.value).replace(path, "PATH"))
            with pytest.raises(ValueError, match="outside the folders"):
                session.resolve_spec("folder", path)
        assert refusals[0] == refusals[1] and "outside the folders" in refusals[0]
        assert session.checkpoint == before
        assert session.resolve_spec("folder", str(data / "frames")) == str(data / "frames")
        assert "not found" in session.set_checkpoint(data / "none.pt")
    finally:
        session.close()


def test_the_server_keeps_what_it_writes_to_its_user(session):
    """Exports and uploads went world-readable into /tmp/gradio; the session folder was 0755."""
    import os

    import ui.app  # noqa: F401  (sets Gradio's temp folder before Gradio is imported)

    gradio_temp = Path(os.environ["GRADIO_TEMP_DIR"])
    assert gradio_temp.stat().st_mode & 0o077 == 0
    assert session.folder.stat().st_mode & 0o077 == 0 and session.export("csv").parent == session.folder


def test_the_page_sends_no_analytics_and_checks_no_version(session):
    """The README promises nothing leaves the machine; Gradio would otherwise post usage data and
    ask PyPI for its latest version when the page is built."""
    import os

    from ui.app import build_app

    assert os.environ.get("GRADIO_ANALYTICS_ENABLED") == "False"
    assert build_app(session).analytics_enabled is False


@pytest.mark.parametrize("spec, views, expected", [
    ("demo", 2, ("demo", "", "2 (side by side)")), ("0", 2, ("camera", "0", "2 (side by side)")),
    ("synthetic:5", None, ("synthetic", "synthetic:5", "auto")), ("webcam", 1, ("browser webcam", "", "1")),
])
def test_controls_describe_the_running_source(spec, views, expected):
    from ui.app import controls_for

    assert controls_for(spec, views) == expected


def test_a_page_opened_on_a_session_started_elsewhere_shows_what_runs(session, tmp_path):
    """`mer ui --source VIDEO --views 1 --autostart` used to show "demo" and "2 (side by side)"."""
    from ui.app import build_app

    video = write_video(tmp_path / "clip.avi", frames=3)
    session.start(str(video), 1)
    app = build_app(session)
    shown = {b.elem_id: b.value for b in app.blocks.values() if getattr(b, "elem_id", None) in
             ("source-kind", "source-value", "views")}
    assert shown == {"source-kind": "video file", "source-value": str(video), "views": "1"}


# ---------------------------------------------------------------- a run's life: calibration, stop, end
class CentreFace:
    """A face detector that finds the middle of any frame, slowly (a busy CPU's MediaPipe)."""

    def __init__(self, seconds_per_call: float = 0.01):
        self.seconds_per_call = seconds_per_call

    def detect(self, image):
        from stream.face import Box

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


def test_calibration_leaves_the_other_controls_free(tmp_path):
    """It used to hold the session lock throughout: threshold, export and stop waited for it."""
    video = noise_video(tmp_path / "neutral.avi", 300)
    session = Session(tmp_path / "s", checkpoint=None, detector_factory=lambda: CentreFace(0.02))
    try:
        session.start(str(video), views=1)
        assert finished(session)
        results = []
        worker = threading.Thread(target=lambda: results.append(session.calibrate_now(5.0)))
        worker.start()
        assert wait_for(lambda: session.message.startswith("calibrating"), 10, 0.01)
        started = time.monotonic()
        assert "0.25" in session.set_threshold(0.25)
        assert session.export("csv").is_file()
        assert time.monotonic() - started < 1.0 and worker.is_alive()
        worker.join(60)
        assert results and results[0].startswith("profile applied") and session.profile is not None
    finally:
        session.close()


def test_stop_cancels_a_calibration_and_keeps_the_profile(tmp_path):
    video = noise_video(tmp_path / "neutral.avi", 300)
    session = Session(tmp_path / "s", checkpoint=None, detector_factory=lambda: CentreFace(0.05))
    try:
        session.start(str(video), views=1)
        assert finished(session)
        results = []
        worker = threading.Thread(target=lambda: results.append(session.calibrate_now(5.0)))
        worker.start()
        assert wait_for(lambda: session.message.startswith("calibrating"), 10, 0.01)
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
        assert old.running                     # still in its source's last read
        old.join(30)
        assert not old.running
        assert session.store.snapshot().status.get("frames", 0) == 0   # its last status went to its own store
        go.set()
        assert finished(session)
        assert session.store.snapshot().status["frames"] == 10
    finally:
        go.set()
        session.close()


def test_a_stream_that_breaks_says_so_on_the_page(tmp_path):
    from ui.app import status_html

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
    event = record(source="rec", onset_s=4, offset_s=8, fps=1.0)
    try:
        session.start_source(ListSource(20, 100.0), views=1, realtime=False)
        assert finished(session)
        time.sleep(0.05)
        session.note_tick()                      # the page opens now
        session.note_shown([event])
        assert "event_to_page_s" not in session.timing()
        session.note_tick()
        session.start_source(ListSource(20, 100.0), views=1, realtime=False)
        assert finished(session)
        session.note_tick()
        session.note_shown([event])
        delay = session.timing()["event_to_page_s"]
        assert delay["n"] == 1 and 0 <= delay["max"] < 5
    finally:
        session.close()
