"""The running dashboard through gradio_client (real engine on a synthetic stream), its login, privacy and
the controls it shows."""

from __future__ import annotations

import json
from pathlib import Path

import pympi
import pytest

from conftest import free_port, wait_for, write_video
from mer_live.stream.events import FACE_STATES
from mer_live.ui.session import Session

pytestmark = pytest.mark.slow  # make test-fast leaves this module out


# ---------------------------------------------------------------- the running app via gradio_client
@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from mer_live.ui.app import build_app, launch

    session = Session(tmp_path_factory.mktemp("ui-session"), checkpoint=None)
    app = build_app(session)
    _, url = launch(app, host="127.0.0.1", port=free_port(), block=False)
    yield session, url
    session.close()
    app.close()


def test_launch_refuses_share_links():
    from mer_live.ui.app import launch

    with pytest.raises(ValueError, match="share"):
        launch(object(), share=True)


def test_api_endpoints_drive_a_live_session(served):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    session, url = served
    assert url.startswith("http://127.0.0.1:")
    client = Client(url, verbose=False)
    names = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert {
        "/start",
        "/pause",
        "/resume",
        "/stop",
        "/status",
        "/events",
        "/add_marker",
        "/export_jsonl",
        "/export_csv",
        "/export_megc",
        "/export_elan",
        "/export_report",
        "/export_video",
        "/export_summary",
        "/set_threshold",
        "/set_k_high",
        "/calibrate",
        "/load_model",
        "/event_card",
    } <= names

    message = client.predict("synthetic", "3", None, "2 (side by side)", api_name="/start")
    assert "started synthetic:3" in message and "model microattnet-synth.pt" in message  # the shipped weights
    status = wait_for(lambda: (s := client.predict(api_name="/status"))["events_in_store"] and s, 40)
    assert status, f"no event within 40 s: {client.predict(api_name='/status')}"
    assert status["running"] and status["fps"] > 0 and status["face_found"] == {"left": True, "right": True}
    events = client.predict(api_name="/events")
    assert events[0]["kind"] == "micro" and events[0]["recording"] == "synthetic:3"
    assert 2.0 <= events[0]["onset_s"] <= 2.6  # the stream's first micro-expression (frames 129–143)

    assert "question 3" in client.predict("question 3", api_name="/add_marker")[0]
    with pytest.raises(AppError, match="note"):
        client.predict("", api_name="/add_marker")
    assert "applied to events classified from now on" in client.predict(0.15, api_name="/set_threshold")
    with pytest.raises(AppError, match="maximum|decision threshold"):
        client.predict(0.5, api_name="/set_threshold")
    assert "applied from the next frame" in client.predict(5.0, api_name="/set_k_high")
    assert client.predict(api_name="/status")["hysteresis"]["k_high"] == 5.0  # the running spotter's own
    assert client.predict(api_name="/pause") == "paused"
    assert client.predict(api_name="/status")["paused"]
    assert client.predict(api_name="/resume") == "resumed"
    assert client.predict(api_name="/pause") == "paused"  # stopped below while paused

    exported = Path(client.predict(api_name="/export_jsonl"))
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    assert lines[0]["event_id"] == events[0]["event_id"] and lines[-1]["note"] == "question 3"
    assert all(p.parent == session.folder for p in session.folder.glob("events-*.jsonl"))
    assert Path(client.predict(api_name="/export_summary")).read_bytes()[:4] == b"\x89PNG"
    assert Path(client.predict(api_name="/export_csv")).read_text().startswith("event_id,recording,kind")
    megc = Path(client.predict(api_name="/export_megc")).read_text().splitlines()
    assert megc[0] == "subject,video,onset,offset,emotion,apex" and len(megc) >= 2
    elan = pympi.Elan.Eaf(client.predict(api_name="/export_elan"))
    first = sorted(elan.get_annotation_data_for_tier(events[0]["kind"]))[0]
    assert first[:2] == (round(events[0]["onset_s"] * 1000), round(events[0]["offset_s"] * 1000))
    assert [a[2] for a in elan.get_annotation_data_for_tier("markers")] == ["question 3"]
    assert elan.get_annotation_data_for_tier("face state")
    report = Path(client.predict(api_name="/export_report")).read_text()
    assert report.count('<section class="event') == len(client.predict(api_name="/events"))
    assert "no model" in client.predict(str(session.folder / "none.pt"), api_name="/load_model")
    assert "Event #1" in client.predict(1, api_name="/event_card")["markdown"]

    with pytest.raises(AppError, match="press Stop first"):
        client.predict(api_name="/export_video")
    assert client.predict(api_name="/stop").startswith("stopped")
    assert not client.predict(api_name="/status")["running"]
    live_log = session.folder / "live-001.jsonl"
    logged = [json.loads(line) for line in live_log.read_text().splitlines()]
    assert [r["event_id"] for r in logged if r["kind"] != "face_state"][0] == 1
    assert {r["state"] for r in logged if r["kind"] == "face_state"} <= set(FACE_STATES)

    message = client.predict(2, api_name="/calibrate")
    assert "profile applied" in message and (session.folder / "profile.json").exists()
    assert session.profile is not None and {view for view, _ in session.profile.baselines} == {0, 1}


def test_run_ui_serves_with_a_password(tmp_path, capsys):
    from gradio_client import Client

    from mer_live.ui.app import run_ui

    app, url = run_ui(
        host="127.0.0.1", port=free_port(), auth=("mer", "secret"), session_dir=str(tmp_path / "s"), block=False
    )
    try:
        assert url in capsys.readouterr().out
        with pytest.raises(ValueError, match="login"):  # refused without the password
            Client(url, verbose=False)
        client = Client(url, auth=("mer", "secret"), verbose=False)
        assert client.predict(api_name="/status")["running"] is False
    finally:
        app.mer_session.close()
        app.close()


def test_logins_are_locked_out_after_five_wrong_tries():
    from mer_live.ui.auth import LoginGuard

    now = [0.0]
    guard = LoginGuard("mer", "secret", max_failures=5, lockout_s=30.0, clock=lambda: now[0])
    assert guard("mer", "secret")
    assert not any(guard("mer", f"guess{i}") for i in range(5))
    assert not guard("mer", "secret")  # locked: even the right password waits
    now[0] = 31.0
    assert not any(guard("mer", f"guess{i}") for i in range(5))
    now[0] = 31.0 + 59.0
    assert not guard("mer", "secret")  # the second lockout lasts twice as long
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
                session.paths.resolve_spec("folder", path)
        assert refusals[0] == refusals[1] and "outside the folders" in refusals[0]
        assert session.checkpoint == before
        assert session.paths.resolve_spec("folder", str(data / "frames")) == str(data / "frames")
        assert "not found" in session.set_checkpoint(data / "none.pt")
    finally:
        session.close()


def test_the_server_keeps_what_it_writes_to_its_user(session):
    """Exports and uploads went world-readable into /tmp/gradio; the session folder was 0755."""
    import os

    import mer_live.ui.app  # noqa: F401  (sets Gradio's temp folder before Gradio is imported)

    gradio_temp = Path(os.environ["GRADIO_TEMP_DIR"])
    assert gradio_temp.stat().st_mode & 0o077 == 0
    assert session.folder.stat().st_mode & 0o077 == 0 and session.export("csv").parent == session.folder


def test_the_page_sends_no_analytics_and_checks_no_version(session):
    """The user guide promises nothing leaves the machine; Gradio would otherwise post usage data and
    ask PyPI for its latest version when the page is built."""
    import os

    from mer_live.ui.app import build_app

    assert os.environ.get("GRADIO_ANALYTICS_ENABLED") == "False"
    assert build_app(session).analytics_enabled is False


@pytest.mark.parametrize(
    "spec, views, expected",
    [
        ("demo", 2, ("demo", "", "2 (side by side)")),
        ("0", 2, ("camera", "0", "2 (side by side)")),
        ("synthetic:5", None, ("synthetic", "synthetic:5", "auto")),
        ("webcam", 1, ("browser webcam", "", "1")),
    ],
)
def test_controls_describe_the_running_source(spec, views, expected):
    from mer_live.ui.app import controls_for

    assert controls_for(spec, views) == expected


def test_a_page_opened_on_a_session_started_elsewhere_shows_what_runs(session, tmp_path):
    """`mer ui --source VIDEO --views 1 --autostart` used to show "demo" and "2 (side by side)"."""
    from mer_live.ui.app import build_app

    video = write_video(tmp_path / "clip.avi", frames=3)
    session.start(str(video), 1)
    app = build_app(session)
    shown = {
        b.elem_id: b.value
        for b in app.blocks.values()
        if getattr(b, "elem_id", None) in ("source-kind", "source-value", "views")
    }
    assert shown == {"source-kind": "video file", "source-value": str(video), "views": "1"}


def test_the_status_strip_says_whether_the_face_is_steady_enough_for_micro_expressions():
    from mer_live.ui.app import status_html

    def strip(rest):
        status = {"running": True, "face_state": "still", "rest_motion_px": rest, "decision_threshold": 0.2}
        return status_html(status | {"hysteresis": {"k_high": 5.0, "k_low": 2.5}})

    assert "motion at rest" not in strip(None)
    assert "motion at rest 0.03 px" in strip(0.03) and "unsteady" not in strip(0.03)
    assert "motion at rest 0.21 px · too unsteady for micro-expressions" in strip(0.21)
