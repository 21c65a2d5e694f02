"""A session's events and markers written out: JSONL and CSV through the same sinks the command
line writes with (markers appended as their own rows), the MEGC spotting CSV, an ELAN file and a
one-page PNG."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

from mer_live.stream.elan import write_elan
from mer_live.stream.events import FaceStateSpan
from mer_live.stream.sinks import CSV_COLUMNS, CsvSink, JsonlSink, MegcSink

EXPORT_KINDS = {
    "jsonl": ("events", ".jsonl"),
    "csv": ("events", ".csv"),
    "megc": ("megc", ".csv"),
    "elan": ("events", ".eaf"),
    "report": ("report", ".html"),
    "video": ("annotated", ".mp4"),  # drawn by Session (ui.annotate), not from a snapshot
    "summary": ("summary", ".png"),
}


def write_export(
    kind: str, path: Path, snap, markers: list[dict], title: str, media: Path | None = None, pictured=None
) -> None:
    """`kind` (one of EXPORT_KINDS) of the snapshot's events, oldest first, to a new file `path`;
    `media`: the recording the session replayed, linked from an ELAN file; `pictured`: event id →
    the event with its pictures (or None), for the report."""
    events = sorted(snap.events, key=lambda e: e.event_id)
    if kind == "jsonl":
        with JsonlSink(path, durable=False) as sink:
            for event in events:
                sink.write(event)
        with open(path, "a", encoding="utf-8") as handle:
            for marker in markers:
                handle.write(json.dumps(marker, ensure_ascii=False) + "\n")
    elif kind == "csv":
        with CsvSink(path) as sink:
            for event in events:
                sink.write(event)
        if markers:
            with open(path, "a", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(CSV_COLUMNS))
                for m in markers:
                    writer.writerow(
                        {c: "" for c in CSV_COLUMNS}
                        | {
                            "recording": m["recording"],
                            "kind": "marker",
                            "onset_frame": m["frame"],
                            "apex_frame": m["frame"],
                            "offset_frame": m["frame"],
                            "onset_s": m["t_s"],
                            "apex_s": m["t_s"],
                            "offset_s": m["t_s"],
                            "duration_s": 0,
                            "labels": m["note"],
                        }
                    )
    elif kind == "megc":
        with MegcSink(path) as sink:
            for event in events:
                sink.write(event)
    elif kind == "elan":
        write_elan(path, events, face_state_spans(snap.timeline), markers, media=media)
    elif kind == "report":
        from mer_live.ui.report import write_report

        whole = [(pictured(e.event_id) if pictured else None) or e for e in events]
        write_report(path, whole, snap.timeline, snap.markers, snap.hysteresis, title=title, summary=snap.status)
    else:
        write_summary(path, snap, events, title)


def write_summary(path: Path, snap, events: list, title: str) -> None:
    """The one-page PNG: counts by class, the timeline with k_high / k_low, events and markers."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from mer_live.corpora.labels import CLASSES
    from mer_live.ui.cards import summary_figure

    fig = summary_figure(events, snap.timeline, snap.markers, snap.hysteresis, CLASSES, title)
    fig.savefig(path, format="png")
    plt.close(fig)


def face_state_spans(timeline) -> list[FaceStateSpan]:
    """The face's states as stretches, from the timeline's points (one state each) of one recording
    after another: a stretch ends where the state or the recording changes."""
    spans: list[FaceStateSpan] = []
    for point in timeline:
        last = spans[-1] if spans else None
        if last is not None and last.state == point.state and point.frame > last.last_frame:
            spans[-1] = replace(last, last_frame=point.frame, end_s=point.t_s)
        else:
            spans.append(FaceStateSpan(point.state, "", point.frame, point.frame, point.t_s, point.t_s))
    return spans
