"""A session's events and markers written out: JSONL and CSV through the same sinks the command
line writes with (markers appended as their own rows), the MEGC spotting CSV, and a one-page PNG."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from mer_live.stream.sinks import CSV_COLUMNS, CsvSink, JsonlSink, MegcSink

EXPORT_KINDS = {
    "jsonl": ("events", ".jsonl"),
    "csv": ("events", ".csv"),
    "megc": ("megc", ".csv"),
    "summary": ("summary", ".png"),
}


def write_export(kind: str, path: Path, snap, markers: list[dict], title: str) -> None:
    """`kind` (one of EXPORT_KINDS) of the snapshot's events, oldest first, to a new file `path`."""
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
                            "source": m["source"],
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
    else:
        write_summary(path, snap, events, title)


def write_summary(path: Path, snap, events: list, title: str) -> None:
    """The one-page PNG: counts by class, the timeline with thresholds, events and markers."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from mer_live.corpora.labels import CLASSES
    from mer_live.ui.cards import summary_figure

    fig = summary_figure(events, snap.timeline, snap.markers, snap.thresholds, CLASSES, title)
    fig.savefig(path, format="png")
    plt.close(fig)
