"""The MER Live dashboard (Gradio 6).

The engine runs in its own background thread (ui.session.Session); the page refreshes from a
gr.Timer whose callback only reads `store.snapshot()`: it never runs the model, and redraws the
frame and timeline only when they changed.

    mer ui --source demo                      # http://127.0.0.1:7860
    run_ui(spec="demo", autostart=True)     # what `mer ui` calls

API endpoints (gradio_client): start, pause, resume, stop, set_threshold, set_k_high,
load_model, calibrate, add_marker, export_jsonl, export_csv, export_megc, export_elan,
export_report, export_summary, export_video,
status, events, event_card.
"""

from __future__ import annotations

import html
import ipaddress
import logging
import os

from mer_live.ui.auth import LoginGuard
from mer_live.ui.session import Session
from mer_live.ui.sources import default_session_root, private_folder

# Nothing leaves the machine: no usage analytics, no version check (Gradio sends both unless told).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Gradio copies uploads and downloads into its temp folder, world-readable under /tmp by default;
# ours is private to the user. Gradio reads the setting when it is imported.
os.environ.setdefault("GRADIO_TEMP_DIR", str(private_folder(default_session_root().parent / "gradio")))

import gradio as gr  # noqa: E402  (after the setting above)

from mer_live.stream.pipeline import EngineConfig
from mer_live.stream.stereo import describe_devices
from mer_live.stream.telemetry import rest_motion_note
from mer_live.ui import drawing
from mer_live.ui.cards import card_images, card_markdown

log = logging.getLogger(__name__)
SOURCE_KINDS = ["demo", "camera", "video file", "folder", "synthetic", "browser webcam"]
VIEW_CHOICES = ["2 (side by side)", "1", "auto"]
TABLE_HEADERS = ["id", "onset (s)", "duration (s)", "apex frame", "kind", "labels", "top probabilities", "source"]
PREVIEW_WIDTH = 800
TIMELINE_SIZE = (960, 240)
CSS = """
.status-strip {display:flex; flex-wrap:wrap; gap:6px; font-family:monospace; font-size:13px}
.status-strip span {background:#f1f3f5; border-radius:4px; padding:2px 6px}
.status-strip .bad {background:#ffe3e3} .status-strip .good {background:#d3f9d8}
"""


def _views(choice: str) -> int | None:
    return {"1": 1, "auto": None}.get(str(choice).split(" ")[0], 2)


def controls_for(spec: str, views: int | None) -> tuple[str, str, str]:
    """(source kind, source text, views choice) that describe a running source spec, so a page
    opened on a session started from the command line shows what runs."""
    from pathlib import Path

    view_choice = {1: "1", None: "auto"}.get(views, VIEW_CHOICES[0])
    if spec == "demo":
        return "demo", "", view_choice
    if spec == "webcam":
        return "browser webcam", "", view_choice
    if spec.isdigit():
        return "camera", spec, view_choice
    if spec.startswith("synthetic"):
        return "synthetic", spec, view_choice
    return ("folder" if Path(spec).is_dir() else "video file"), spec, view_choice


# ---------------------------------------------------------------- pure formatting of snapshot data
def event_rows(events) -> list[list]:
    """Newest first, one row per event for the table."""
    rows = []
    for e in sorted(events, key=lambda e: e.event_id, reverse=True):
        top = sorted(e.probs.items(), key=lambda kv: -kv[1])[:3]
        rows.append(
            [
                e.event_id,
                round(e.onset_s, 2),
                round(e.duration_s, 3),
                e.apex_frame,
                e.kind,
                "+".join(e.labels) or ("—" if e.kind == "micro" else "(macro)"),
                ", ".join(f"{c} {p:.2f}" for c, p in top) or "—",
                e.recording,
            ]
        )
    return rows


def status_html(status: dict) -> str:
    def span(text, cls=""):
        return f'<span class="{cls}">{html.escape(str(text))}</span>'

    if status.get("paused"):
        state = "paused"
    elif status.get("running"):
        state = f"running · spotter {status.get('state', 'starting')}"
    elif status.get("failure"):
        state = f"broke: {status['failure']}"
    else:
        state = "stopped" if status.get("source") else "idle"
    parts = [
        span(
            f"● {state}",
            "good" if status.get("running") and not status.get("paused") else "bad" if status.get("failure") else "",
        ),
        span(
            f"source {status.get('source') or '—'}"
            + (f" at {status['measured_fps']:.1f} fps" if status.get("measured_fps") else "")
        ),  # once measured
        span(f"{status.get('fps', 0):.1f} fps processed"),
        span(f"dropped {status.get('dropped', 0)}", "bad" if status.get("dropped") else ""),
    ]
    for device in status.get("devices") or []:  # a stereo rig: each camera's measured rate and drops
        parts.append(span(describe_devices([device]), "bad" if device["lost"] else ""))
    for view, found in sorted((status.get("face_found") or {}).items()):
        parts.append(span(f"face {view} {'✓' if found else '✗'}", "good" if found else "bad"))
    if status.get("running") and status.get("face_state"):  # why something, or nothing, is reported now
        parts.append(span(f"face {status['face_state']}", "" if status["face_state"] == "still" else "bad"))
    rest = status.get("rest_motion_px")
    if rest is not None:  # whether this face and camera can show a micro-expression at all
        note = rest_motion_note(rest)
        unsteady = " · too unsteady for micro-expressions" if note else ""
        parts.append(span(f"motion at rest {rest:.2f} px{unsteady}", "bad" if note else ""))
    events = status.get("events") or {}
    suppressed = status.get("suppressed") or {}
    parts.append(
        span(
            f"events micro {events.get('micro', 0)} · macro {events.get('macro', 0)}"
            + (
                " · not reported: " + ", ".join(f"{n} {state}" for state, n in sorted(suppressed.items()))
                if suppressed
                else ""
            )
        )
    )
    latency = status.get("latency_ms")
    if latency:
        parts.append(span(f"classify p50 {latency['p50']} ms"))
    timing = status.get("timing", {})
    if "event_to_page_s" in timing:
        parts.append(span(f"event→page {timing['event_to_page_s']['median']:.2f} s"))
    if "tick_interval_s" in timing:
        t = timing["tick_interval_s"]
        parts.append(span(f"refresh {t['mean']:.2f}±{t['sd']:.2f} s"))
    if "webcam" in status:
        w = status["webcam"]
        parts.append(
            span(
                f"webcam in {w['measured_fps']:.1f} fps (asked {w['fps_hint']:g})",
                "bad" if w["measured_fps"] < 0.5 * w["fps_hint"] else "",
            )
        )
    parts.append(span(f"k_high {status['hysteresis']['k_high']:g} · k_low {status['hysteresis']['k_low']:g}"))
    parts.append(span(f"decision {status.get('decision_threshold'):g}"))
    parts.append(span(status.get("model", "")))
    return '<div class="status-strip">' + "".join(parts) + "</div>"


# ---------------------------------------------------------------- the app
def build_app(session: Session, refresh_s: float = 0.4, window_s: float = 20.0) -> gr.Blocks:
    with gr.Blocks(title="MER Live", delete_cache=(60, 180), analytics_enabled=False) as app:
        tab = gr.State({})
        gr.Markdown("## MER Live — micro-expression spotting and recognition")
        status_box = gr.HTML(status_html(session.status()), elem_id="status")
        running = controls_for(session.run.spec, session.run.views) if session.run else ("demo", "", VIEW_CHOICES[0])
        with gr.Row():
            with gr.Column(scale=3):
                live = gr.Image(
                    label="live frame (crop windows per view)",
                    format="jpeg",
                    interactive=False,
                    elem_id="live",
                    buttons=[],
                    show_label=False,
                )
                gr.Markdown(
                    "**motion intensity** — score (bold) and each view's z, k_high / k_low, events (green micro, "
                    "purple macro), markers (magenta)"
                )
                timeline = gr.Image(
                    label="motion intensity",
                    format="png",
                    interactive=False,
                    elem_id="timeline",
                    buttons=[],
                    show_label=False,
                )
            with gr.Column(scale=2):
                source_kind = gr.Radio(SOURCE_KINDS, value=running[0], label="source", elem_id="source-kind")
                source_value = gr.Textbox(
                    running[1],
                    label="camera index · folder path (4DME root or frames) · synthetic seed",
                    placeholder="0  ·  /data/4DME  ·  3",
                    elem_id="source-value",
                )
                upload = gr.File(
                    label="video upload (.mp4 .avi .mov .mkv .webm, ≤ 500 MB)",
                    type="filepath",
                    file_types=[".mp4", ".avi", ".mov", ".mkv", ".webm"],
                    height=80,
                )
                views = gr.Radio(VIEW_CHOICES, value=running[2], label="views in a frame", elem_id="views")
                with gr.Row():
                    start_btn = gr.Button("Start", variant="primary", elem_id="start")
                    pause_btn = gr.Button("Pause", elem_id="pause")
                    resume_btn = gr.Button("Resume", elem_id="resume")
                    stop_btn = gr.Button("Stop", variant="stop", elem_id="stop")
                message = gr.Textbox(label="message", interactive=False, elem_id="message", lines=2)
                with gr.Accordion("model, threshold and onset level", open=False):
                    with gr.Row():
                        checkpoint = gr.Textbox(value=str(session.checkpoint or ""), label="checkpoint", scale=4)
                        load_btn = gr.Button("Load", scale=1)
                    threshold = gr.Slider(
                        *session.threshold_range, value=session.threshold, step=0.01, label="decision threshold (live)"
                    )
                    k_high_slider = gr.Slider(
                        *session.k_high_range,
                        value=session.k_high,
                        step=0.1,
                        label="spotter onset level k_high (σ; higher = fewer, surer events)",
                    )
                    with gr.Row():
                        calib_s = gr.Number(value=5, minimum=1, maximum=120, label="calibrate (s)", scale=1)
                        calib_btn = gr.Button("Calibrate now", scale=2)
                with gr.Row():
                    note = gr.Textbox(label="interviewer marker", placeholder="question 3", scale=4, elem_id="note")
                    marker_btn = gr.Button("Add marker", scale=1, elem_id="add-marker")
        table = gr.Dataframe(
            headers=TABLE_HEADERS,
            value=[],
            interactive=False,
            label="events (select a row)",
            elem_id="events",
            max_height=260,
            wrap=True,
        )
        with gr.Group():
            card = gr.Markdown("_Select an event in the table._", elem_id="card")
            with gr.Row():
                apex_img = gr.Image(label="apex (crops)", interactive=False, format="png", buttons=[], show_label=False)
                flow_img = gr.Image(
                    label="flow u / v / m", interactive=False, format="png", buttons=[], show_label=False
                )
                prob_img = gr.Image(
                    label="probabilities", interactive=False, format="png", buttons=[], show_label=False
                )
                att_img = gr.Image(label="attention", interactive=False, format="png", buttons=[], show_label=False)
        with gr.Row():
            export_btns = {
                kind: gr.Button(f"Export {label}", elem_id=f"export-{kind}")
                for kind, label in (
                    ("jsonl", "JSONL"),
                    ("csv", "CSV"),
                    ("megc", "MEGC CSV"),
                    ("elan", "ELAN (.eaf)"),
                    ("report", "report (HTML)"),
                    ("summary", "summary (PNG)"),
                    ("video", "annotated video (after Stop)"),
                )
            }
        export_file = gr.File(label="download", interactive=False, elem_id="export-file")
        with gr.Accordion("browser webcam (one view; mirroring off)", open=False):
            gr.Markdown(
                "Choose source **browser webcam**, press Start, then start the camera here. "
                "Its measured incoming fps is in the status strip."
            )
            webcam = gr.Image(
                sources=["webcam"],
                streaming=True,
                type="numpy",
                label="webcam",
                webcam_options=gr.WebcamOptions(mirror=False),
                elem_id="webcam",
            )
        timer = gr.Timer(refresh_s)

        # ---- handlers
        def guarded(fn):
            def run(*args):
                try:
                    return fn(*args)
                except ValueError as exc:
                    raise gr.Error(str(exc)) from None

            run.__name__ = fn.__name__
            run.__doc__ = fn.__doc__
            return run

        @guarded
        def start(kind, value, file, view_choice):
            """Start the engine on the chosen source; returns a message."""
            return session.start(session.paths.resolve_spec(kind, value, file), _views(view_choice))

        def add_marker(text):
            try:
                marker = session.add_marker(text)
            except ValueError as exc:
                raise gr.Error(str(exc)) from None
            return f"marker '{marker.note}' at {marker.t_s:.2f} s (frame {marker.frame})", ""

        def make_export(kind):
            def export():
                return str(session.export(kind))

            export.__name__ = f"export_{kind}"
            return export

        def tick(cache):
            session.page.tick()
            snap = session.store.snapshot()
            cache = dict(cache or {})
            run = session.run
            recording = run.source.last[0] if run is not None and run.source.last else None
            # live frame: only when the engine published a new preview
            if snap.preview is not None and cache.get("preview") != id(snap.preview):
                cache["preview"] = id(snap.preview)
                frame_out = drawing.frame_with_boxes(snap.preview, snap.boxes, PREVIEW_WIDTH)
            elif snap.preview is None and cache.get("preview") is not None:
                cache["preview"] = None
                frame_out = None
            else:
                frame_out = gr.skip()
            # timeline: only when a point, event or marker was added
            last = snap.timeline[-1][:2] if snap.timeline else None
            key = (len(snap.timeline), last, len(snap.events), len(snap.markers), snap.hysteresis)
            if cache.get("timeline") != key:
                cache["timeline"] = key
                timeline_out = drawing.timeline_image(
                    snap.timeline,
                    snap.events,
                    snap.markers,
                    snap.hysteresis,
                    width=TIMELINE_SIZE[0],
                    height=TIMELINE_SIZE[1],
                    window_s=window_s,
                    recording=recording,
                )
            else:
                timeline_out = gr.skip()
            # table: only when events changed
            events_key = (len(snap.events), snap.events[-1].event_id if snap.events else None, session.runs)
            if cache.get("events") != events_key:
                cache["events"] = events_key
                table_out = event_rows(snap.events)
                session.page.shown_events(snap.events, run.source if run is not None else None)
            else:
                table_out = gr.skip()
            return frame_out, timeline_out, status_html(session.status(snap)), table_out, cache

        def on_select(evt: gr.SelectData):
            row = evt.row_value if evt is not None else None
            if not row:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return show_card(int(row[0]))

        def show_card(event_id):
            event = session.store.event(int(event_id))
            if event is None:
                return f"_event {event_id} is not in the store_", None, None, None, None
            return (card_markdown(event), *card_images(event))

        # ---- wiring (api_name = the endpoint name for gradio_client)
        start_btn.click(start, [source_kind, source_value, upload, views], message, api_name="start")
        pause_btn.click(session.pause, None, message, api_name="pause")
        resume_btn.click(session.resume, None, message, api_name="resume")
        stop_btn.click(session.stop, None, message, api_name="stop")
        load_btn.click(guarded(session.set_checkpoint), checkpoint, message, api_name="load_model")
        threshold.release(guarded(session.set_threshold), threshold, message, api_name="set_threshold")
        k_high_slider.release(guarded(session.set_k_high), k_high_slider, message, api_name="set_k_high")
        calib_btn.click(guarded(session.calibrate_now), calib_s, message, api_name="calibrate")
        marker_btn.click(add_marker, note, [message, note], api_name="add_marker")
        note.submit(add_marker, note, [message, note], api_name=False)
        for kind, btn in export_btns.items():
            btn.click(guarded(make_export(kind)), None, export_file, api_name=f"export_{kind}")
        timer.tick(
            tick,
            tab,
            [live, timeline, status_box, table, tab],
            api_visibility="undocumented",
            show_progress="hidden",
            trigger_mode="always_last",
        )
        table.select(on_select, None, [card, apex_img, flow_img, prob_img, att_img], api_visibility="undocumented")
        webcam.stream(
            session.webcam.push,
            webcam,
            None,
            stream_every=1.0 / session.webcam.fps_hint,
            time_limit=None,
            concurrency_limit=None,
            api_visibility="undocumented",
            show_progress="hidden",
        )

        def status() -> dict:
            """The status strip as data: state, fps, dropped frames, faces, events, latency, timing."""
            return session.status()

        def events() -> list[dict]:
            """All events in the store (event records as dicts), oldest first."""
            return [e.to_dict() for e in sorted(session.store.snapshot().events, key=lambda e: e.event_id)]

        def event_card(event_id: int) -> dict:
            """What the event card shows for one event, as data (crops and flows as shapes)."""
            event = session.store.event(int(event_id))
            if event is None:
                raise gr.Error(f"event {event_id} is not in the store")
            return {
                "record": event.to_dict(),
                "has_pictures": event.has_pictures,
                "apex_crops": {k: list(v.shape) for k, v in event.apex_crops.items()},
                "flow_maps": {k: list(v.shape) for k, v in event.flow_maps.items()},
                "se_gate_mean": event.se_gate_mean,
                "markdown": card_markdown(event),
            }

        gr.api(status, api_name="status")
        gr.api(events, api_name="events")
        gr.api(event_card, api_name="event_card")
    app.mer_session = session
    return app


# ---------------------------------------------------------------- launching
def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def launch(
    app: gr.Blocks,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: tuple[str, str] | None = None,
    share: bool = False,
    block: bool = True,
    quiet: bool = True,
):
    """Serve the app on host:port. Never a public share link: `share=True` is refused. Off loopback
    without `auth` a warning is logged. Returns (server app, local URL)."""
    if share:
        raise ValueError(
            "share links are disabled for MER Live: it shows faces; serve on 127.0.0.1 "
            "(or a LAN address with auth) instead"
        )
    if not _is_loopback(host) and auth is None:
        log.warning("serving on %s without a password; pass auth=(user, password)", host)
    session: Session = app.mer_session
    app.queue(default_concurrency_limit=4)
    server, url, _ = app.launch(
        server_name=host,
        server_port=port,
        auth=LoginGuard(*auth) if auth else None,
        share=False,
        prevent_thread_lock=True,
        quiet=quiet,
        allowed_paths=[str(session.folder)],
        max_file_size="500mb",
        css=CSS,
        footer_links=["api"],
        ssr_mode=False,
        show_error=True,
    )
    if block:
        try:
            app.block_thread()
        finally:
            session.close()
    return server, url


def run_ui(
    spec: str | None = None,
    model: str | None = None,
    profile: str | None = None,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: tuple[str, str] | None = None,
    autostart: bool = False,
    session_dir: str | None = None,
    views: int | None = 2,
    block: bool = True,
    data_roots: list[str] | None = None,
    config: EngineConfig | None = None,
    options: dict | None = None,
    threshold: float | None = None,
) -> tuple[gr.Blocks, str]:
    """Build a Session and the dashboard, optionally start the source `spec` names ("demo", a camera index, a video,
    a folder, "synthetic:SEED", "webcam"), print the URL and serve (blocking unless block=False).
    `config`, `options`, `threshold`: the engine setting's (Session). Returns (app, url)."""
    session = Session(
        session_dir,
        checkpoint=model,
        profile=profile,
        data_roots=data_roots,
        config=config,
        options=options,
        threshold=threshold,
    )
    if autostart:  # before the page is built, so its controls show the running source
        print(session.start(spec or "demo", views))
    app = build_app(session)
    _, url = launch(app, host, port, auth, block=False)
    print(f"MER Live dashboard: {url}  (session folder {session.folder})", flush=True)
    if block:
        try:
            app.block_thread()
        finally:
            session.close()
    return app, url
