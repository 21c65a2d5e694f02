"""The one event record: the spotter makes it, each later stage fills its own fields, the log
line holds the log's fields and never pixels, and the store keeps pictures of the newest only."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from stream.events import LOG_FIELDS, Event
from stream.spotter import Baseline, Spotter, SpotterOptions
from stream.store import LiveStore


def spotted() -> Event:
    """A real spot: two views, three bands, the middle band raised on frames 40–49, most at 45."""
    options = SpotterOptions(fps=60.0, warmup_s=0.1, min_event_s=0.05)
    spotter = Spotter(options, {(v, b): Baseline(10.0, 1.0) for v in (0, 1) for b in range(3)})
    events = []
    for frame in range(1, 90):
        bump = 8.0 * (40 <= frame < 50) + 2.0 * (frame == 45)
        found = spotter.update(frame, {0: np.array([10.0, 10.0 + bump, 10.0]),
                                       1: np.array([10.0, 10.0 + 0.8 * bump, 10.0])})
        events += [found] if found is not None else []
    (event,) = events
    return event


def test_the_spotter_fills_where_and_when_and_nothing_later():
    event = spotted()
    assert event.band == 1 and event.kind == "micro" and event.apex_frame_by_view == {0: 45, 1: 45}
    assert 38 <= event.onset_frame <= 40 and 50 <= event.offset_frame <= 53 and event.apex_frame == 45
    assert event.peak_z_by_view[0] > event.peak_z_by_view[1]       # view 0 moved more
    assert (event.source, event.event_id, event.labels, event.crops, event.band_rows) == ("", 0, (), {}, None)


def test_each_stage_fills_a_copy_and_the_log_line_has_the_logs_fields_only():
    event = spotted()
    crop = np.full((224, 224), 7, np.uint8)
    located = replace(event, source="s01/rec", onset_s=0.65, apex_s=0.73, offset_s=0.82,
                      band_rows=(0.45, 0.7), crops={0: (crop, crop, crop), 1: (crop, crop, crop)})
    classified = replace(located, event_id=3, run_id="r", labels=("Surprise",), probs={"Surprise": 0.9},
                         attention={"alpha_u": 0.2, "alpha_v": 0.3, "alpha_m": 0.5}, threshold=0.2, model="m.pt",
                         flow_maps={"left/onset_apex": np.zeros((3, 224, 224), np.float16)}, latency_ms=4.0)
    assert event.source == "" and not event.has_pictures           # earlier stages' copies are untouched
    line = json.loads(json.dumps(classified.to_dict()))
    assert tuple(line) == LOG_FIELDS
    assert line["apex_frame_by_view"] == {"left": event.apex_frame_by_view[0], "right": event.apex_frame_by_view[1]}
    assert (line["band"], line["band_rows"], line["labels"]) == (1, [0.45, 0.7], ["Surprise"])
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
