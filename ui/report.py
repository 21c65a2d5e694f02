"""A session report: one self-contained HTML file (pictures inline) an interviewer can keep or send.

It holds the run's summary page (counts by class and kind, the motion timeline with k_high / k_low,
events and markers: ui.cards.summary_figure), the numbers and settings of the run, the markers,
and one section per event: times, labels with probabilities, and, where the event's pictures were
kept, its apex crops, flow maps (u, v, m per view and phase), probability and attention bars.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from mer_live.corpora.labels import CLASSES
from mer_live.stream.events import Event, Record
from mer_live.stream.store import LiveStore, TimelinePoint
from mer_live.ui.cards import card_images, figure_to_array, summary_figure

REPORT_TIMELINE_POINTS = 200_000  # the whole motion timeline of a run up to ~1 h at 60 fps (~40 MB)
PICTURED_EVENTS = 200  # events whose pictures go into a report; later ones get their facts only

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ddd; padding-top: 1em; }
table { border-collapse: collapse; font-size: 0.9em; } td, th { padding: 2px 10px; text-align: left; }
tr:nth-child(even) { background: #f6f6f6; } img { max-width: 100%; }
section.event { border: 1px solid #ddd; border-radius: 6px; padding: 0.5em 1em; margin: 1em 0; }
.micro { border-left: 6px solid #2ecc71 !important; } .macro { border-left: 6px solid #9b59b6 !important; }
.pictures { display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-start; }
pre { background: #f6f6f6; padding: 0.5em; font-size: 0.8em; overflow-x: auto; }
"""


def png_data_uri(image: np.ndarray) -> str:
    """An RGB image as an inline PNG."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("could not encode an image for the report")
    return "data:image/png;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


def _img(image: np.ndarray, alt: str) -> str:
    return f'<img src="{png_data_uri(image)}" alt="{html.escape(alt)}">'


def event_section(event: Event) -> str:
    """One event's part of the report (its pictures only when the event still has them)."""
    labels = ", ".join(f"<b>{html.escape(c)}</b> {event.probs.get(c, 0):.2f}" for c in event.labels)
    facts = (
        f"{html.escape(event.recording)} · onset {event.onset_s:.3f} s · apex {event.apex_s:.3f} s · "
        f"offset {event.offset_s:.3f} s · {event.duration_s:.3f} s · frames {event.onset_frame}–{event.offset_frame}"
        f" · peak intensity {event.peak_intensity:.3f}"
    )
    why = event.why_unlabelled
    parts = [
        f'<section class="event {html.escape(event.kind)}" id="event-{event.event_id}">',
        f"<h3>Event #{event.event_id} — {html.escape(event.kind)}</h3>",
        f"<p>{facts}</p>",
        f"<p>labels: {labels} (threshold {event.threshold})</p>" if labels else f"<p><i>{html.escape(why)}</i></p>",
    ]
    if event.has_pictures:
        apex, flows, probs, attention = card_images(event)
        parts.append('<div class="pictures">')
        parts += [_img(apex, "apex crops"), _img(flows, "flow maps")]
        if event.probs:
            parts += [_img(probs, "probabilities"), _img(attention, "attention")]
        parts.append("</div>")
    parts.append("</section>")
    return "\n".join(parts)


def _table(rows: Sequence[tuple[str, object]]) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def write_report(
    path: str | Path,
    events: Sequence[Event],
    timeline: Sequence[TimelinePoint] = (),
    markers: Sequence = (),
    hysteresis: tuple[float, float] = (0.0, 0.0),
    *,
    title: str = "MER Live session",
    summary: dict | None = None,
    setting: dict | None = None,
    sections: Sequence[str] | None = None,
) -> Path:
    """Write the report; `sections` (one per event, from `event_section`) when built beforehand."""
    events = sorted(events, key=lambda e: (e.onset_s, e.event_id))
    sections = list(sections) if sections is not None else [event_section(e) for e in events]
    figure = figure_to_array(summary_figure(events, timeline, markers, hysteresis, CLASSES, title))
    micro = [e for e in events if e.kind == "micro"]
    numbers = [
        ("events", len(events)),
        ("micro-expressions", len(micro)),
        ("macro-expressions", len(events) - len(micro)),
        ("markers", len(markers)),
    ] + [(k, v) for k, v in (summary or {}).items() if not isinstance(v, (dict, list))]
    marker_rows = [(f"{m.t_s:.2f} s", m.note) for m in markers]
    page = [
        "<!DOCTYPE html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>',
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        _img(figure, "session summary"),
        "<h2>The run</h2>",
        _table(numbers),
    ]
    if marker_rows:
        page += ["<h2>Markers</h2>", _table(marker_rows)]
    page += [f"<h2>Events ({len(events)})</h2>", *sections]
    if setting:
        page += [
            "<h2>Settings</h2>",
            f"<details><summary>the engine's setting (JSON)</summary><pre>{html.escape(json.dumps(setting, indent=2))}"
            "</pre></details>",
        ]
    page.append("</body></html>")
    path = Path(path)
    path.write_text("\n".join(page), encoding="utf-8")
    return path


class ReportSink:
    """Collects a run for its report: each event's section is drawn as the event arrives (so its
    pictures need not be kept), and `store` (handed to the engine) keeps the motion timeline."""

    def __init__(self, path: str | Path, pictured_events: int = PICTURED_EVENTS):
        self.path = Path(path)
        self.pictured_events = pictured_events
        self.events: list[Event] = []
        self.sections: list[str] = []  # one per event, in arrival order
        self.store = LiveStore(timeline_points=REPORT_TIMELINE_POINTS, pictured_events=1)

    def write(self, record: Record) -> None:
        if not isinstance(record, Event):
            return
        pictured = record if len(self.sections) < self.pictured_events else record.without_pictures()
        self.sections.append(event_section(pictured))
        self.events.append(record.without_pictures())

    def close(self) -> None:
        """Nothing to write until the run's summary is known (`write_html`)."""

    def write_html(self, title: str, summary: dict | None = None, setting: dict | None = None) -> Path:
        order = sorted(range(len(self.events)), key=lambda i: (self.events[i].onset_s, self.events[i].event_id))
        snap = self.store.snapshot()
        return write_report(
            self.path,
            [self.events[i] for i in order],
            snap.timeline,
            snap.markers,
            snap.hysteresis,
            title=title,
            summary=summary,
            setting=setting,
            sections=[self.sections[i] for i in order],
        )
