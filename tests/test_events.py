"""The one event record: the spotter makes it, each later stage fills its own fields, the log
line holds the log's fields and never pixels, and the store keeps pictures of the newest only."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from mer_live.stream.events import LOG_FIELDS, Event, FaceStateSpan
from mer_live.stream.intensity import FaceMotion
from mer_live.stream.spotter import Baseline, Spotter, SpotterConfig
from mer_live.stream.store import LiveStore
from mer_live.ui.annotate import read_log


def motion(values) -> FaceMotion:
    return FaceMotion(np.stack([np.asarray(values, float), np.zeros(len(values))], axis=1), 0.0)


def spotted() -> Event:
    """A real spot: two views, six regions, region 3 (nose band, right half) moving on frames 40–45,
    most at 43."""
    options = SpotterConfig(fps=60.0, warmup_s=0.1, min_event_s=0.05)
    rng = np.random.default_rng(0)
    spotter = Spotter(options, {(v, r): Baseline(0.05, 0.01) for v in (0, 1) for r in range(6)})
    events = []
    for frame in range(1, 90):
        rise = 0.03 * max(0, 4 - abs(frame - 43)) * (40 <= frame < 47)
        noise = 0.05 + 0.005 * rng.standard_normal((2, 6))
        values = [noise[v] + np.eye(6)[3] * rise * (1.0 if v == 0 else 0.8) for v in (0, 1)]
        found = spotter.update(frame, {0: motion(values[0]), 1: motion(values[1])})
        events += [found] if found is not None else []
    (event,) = events
    return event


def test_the_spotter_fills_where_and_when_and_nothing_later():
    event = spotted()
    assert (event.band, event.region, event.kind) == (1, 3, "micro") and event.apex_frame_by_view == {0: 43, 1: 43}
    assert 39 <= event.onset_frame <= 41 and 45 <= event.offset_frame <= 48 and event.apex_frame == 43
    assert event.peak_z_by_view[0] > event.peak_z_by_view[1]  # view 0 moved more
    assert (event.recording, event.event_id, event.labels, event.crops, event.band_rows, event.side) == (
        "",
        0,
        (),
        {},
        None,
        None,
    )


def test_a_face_state_stretch_has_its_own_log_line():
    span = FaceStateSpan("talking", "s01/rec", 100, 160, 4.0, 6.4, run_id="r")
    assert span.duration_s == pytest.approx(2.4)
    assert json.loads(json.dumps(span.to_dict())) == {
        "kind": "face_state",
        "state": "talking",
        "recording": "s01/rec",
        "first_frame": 100,
        "last_frame": 160,
        "start_s": 4.0,
        "end_s": 6.4,
        "run_id": "r",
    }


def test_each_stage_fills_a_copy_and_the_log_line_has_the_logs_fields_only():
    event = spotted()
    crop = np.full((224, 224), 7, np.uint8)
    located = replace(
        event,
        recording="s01/rec",
        onset_s=0.65,
        apex_s=0.73,
        offset_s=0.82,
        band_rows=(0.45, 0.7),
        side="right",
        crops={0: (crop, crop, crop), 1: (crop, crop, crop)},
    )
    classified = replace(
        located,
        event_id=3,
        run_id="r",
        labels=("Surprise",),
        probs={"Surprise": 0.9},
        attention={"alpha_u": 0.2, "alpha_v": 0.3, "alpha_m": 0.5},
        threshold=0.2,
        model="m.pt",
        flow_maps={"left/onset_apex": np.zeros((3, 224, 224), np.float16)},
        latency_ms=4.0,
    )
    assert event.recording == "" and not event.has_pictures  # earlier stages' copies are untouched
    line = json.loads(json.dumps(classified.to_dict()))
    assert tuple(line) == LOG_FIELDS
    assert line["apex_frame_by_view"] == {"left": event.apex_frame_by_view[0], "right": event.apex_frame_by_view[1]}
    assert (line["band"], line["band_rows"], line["side"], line["labels"]) == (1, [0.45, 0.7], "right", ["Surprise"])
    assert line["peak_intensity"] == max(event.peak_intensity_by_view.values())
    assert classified.apex_crops == {"left": crop, "right": crop}
    assert classified.without_pictures() == classified and not classified.without_pictures().has_pictures


def test_the_store_keeps_pictures_of_the_newest_events_only():
    store = LiveStore(pictured_events=2)
    crop = np.zeros((224, 224), np.uint8)
    for event_id in (1, 2, 3):
        store.write(replace(spotted(), event_id=event_id, crops={0: (crop, crop, crop)}))
    assert [store.event(i).has_pictures for i in (1, 2, 3)] == [False, True, True]
    assert not any(e.has_pictures for e in store.snapshot().events)


def test_a_log_written_before_the_recording_field_was_renamed_reads_the_same(tmp_path):
    """Logs before 2026-12-07 named the recording `source`; one file may hold lines of both versions."""
    new = Event(onset_frame=10, offset_frame=20, apex_frame_by_view={0: 15}, kind="micro", event_id=2, recording="s/v")
    old = new.to_dict() | {"event_id": 1}
    old["source"] = old.pop("recording")
    log = tmp_path / "events.jsonl"
    log.write_text("\n".join(json.dumps(line) for line in (old, new.to_dict())) + "\n")
    events = read_log(log)
    assert [(e.event_id, e.recording) for e in events] == [(1, "s/v"), (2, "s/v")]
    assert not any(hasattr(e, "source") for e in events)
