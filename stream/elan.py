"""Events, labels, face states and markers as an ELAN file (.eaf), the format behavioural researchers
code video in (also read by Praat's and BORIS's importers). Written with pympi-ling, not by hand.

Tiers, times in the recording's milliseconds:
    micro, macro   one annotation per spotted event, onset → offset: "event N"
    labels         one per classified event, onset → offset: its labels and probabilities
    face state     the face's state over each stretch (still, moving, talking, eyes closed, no face)
    markers        the interviewer's notes, each MARKER_MS long from its time (ELAN has no points)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import pympi

from mer_live.stream.events import Event, FaceStateSpan, Record

TIERS = ("micro", "macro", "labels", "face state", "markers")
MARKER_MS = 100


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def _span(start_s: float, end_s: float) -> tuple[int, int]:
    start = _ms(start_s)
    return start, max(start + 1, _ms(end_s))  # ELAN refuses an annotation that ends where it starts


def label_text(event: Event) -> str:
    """ "Negative 0.62, Surprise 0.31": the labels with their probabilities, or why there are none."""
    if not event.labels:
        return event.why_unlabelled
    return ", ".join(f"{label} {event.probs.get(label, 0):.2f}" for label in event.labels)


def write_elan(
    path: str | os.PathLike,
    events: Iterable[Event],
    face_states: Iterable[FaceStateSpan] = (),
    markers: Sequence[dict] = (),
    media: str | os.PathLike | None = None,
) -> Path:
    """Write the .eaf file; `markers` are {"t_s", "note"} dicts; `media` the recording to link."""
    eaf = pympi.Elan.Eaf(author="MER Live")
    eaf.remove_tier("default")
    for tier in TIERS:
        eaf.add_tier(tier)
    if media is not None:
        eaf.add_linked_file(str(Path(media).resolve()))
    for event in events:
        start, end = _span(event.onset_s, event.offset_s)
        eaf.add_annotation(event.kind if event.kind in TIERS else "micro", start, end, f"event {event.event_id}")
        eaf.add_annotation("labels", start, end, label_text(event))
    for span in face_states:
        eaf.add_annotation("face state", *_span(span.start_s, span.end_s), span.state)
    for marker in markers:
        start = _ms(marker["t_s"])
        eaf.add_annotation("markers", start, start + MARKER_MS, marker["note"])
    path = Path(path)
    eaf.to_file(str(path))
    return path


class ElanSink:
    """A sink that keeps the run's records and writes the ELAN file when the run ends (an .eaf is
    one XML document: it cannot grow line by line the way the JSONL log, the crash-safe record, does).
    With `per_recording`, `path` is a folder and each recording of the run gets its own file, named
    after the recording ("s01/s01_02" → s01__s01_02.eaf)."""

    def __init__(self, path: str | os.PathLike, media: str | os.PathLike | None = None, per_recording: bool = False):
        self.path = Path(path)
        self.media = media
        self.per_recording = per_recording
        self.events: list[Event] = []
        self.face_states: list[FaceStateSpan] = []

    def write(self, record: Record) -> None:
        if isinstance(record, Event):
            self.events.append(record.without_pictures())
        else:
            self.face_states.append(record)

    def close(self) -> None:
        if not self.per_recording:
            write_elan(self.path, self.events, self.face_states, media=self.media)
            return
        self.path.mkdir(parents=True, exist_ok=True)
        for recording in sorted({r.recording for r in [*self.events, *self.face_states]}):
            write_elan(
                self.path / (recording.replace("/", "__") + ".eaf"),
                [e for e in self.events if e.recording == recording],
                [s for s in self.face_states if s.recording == recording],
            )
