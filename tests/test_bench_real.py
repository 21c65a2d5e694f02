"""`mer bench --real`'s own arithmetic: the detectability figure and the per-kind report."""

from __future__ import annotations

import pytest

from mer_live.bench.real import (
    KINDS,
    Run,
    detectability,
    own_motion,
    raw_report,
    recall_by_state,
    state_at,
    summary_table,
)
from mer_live.corpora.scoring import Interval
from mer_live.stream.events import Event, FaceStateSpan


def run_with(scores: dict[int, float], recording: str = "v/v_r1") -> Run:
    run = Run()
    run.scores[recording] = scores
    run.lag_frames[recording] = 2
    run.seconds[recording] = 10.0
    return run


def test_detectability_is_the_auc_of_event_peaks_against_idle_frames():
    """Idle frames score 0…9 (frame f: f mod 10); one event peaks above all of them, one at 4.5 (above
    half of them): AUC (1 + 0.5) / 2. Frames within the lag and two of an event are not idle."""
    scores = {f: float(f % 10) for f in range(1, 400)}
    for f in list(range(96, 108)) + list(range(196, 208)):
        scores[f] = 0.0
    scores.update({100: 50.0, 101: 20.0, 200: 4.5, 201: 1.0})
    truths = [Interval("v", "v_r1", 99, 103), Interval("v", "v_r1", 199, 202)]
    auc = detectability(run_with(scores), truths, [])
    assert auc == pytest.approx(0.75, abs=0.02)
    assert detectability(run_with(scores), [], []) is None


def test_a_macro_expression_is_neither_idle_nor_scored():
    scores = {f: 0.0 for f in range(1, 200)}
    scores[150] = 99.0  # a macro-expression's peak: not an idle frame
    scores[50] = 1.0  # the micro-expression, above every idle frame
    micro, macro = Interval("v", "v_r1", 49, 52), Interval("v", "v_r1", 140, 160)
    assert detectability(run_with(scores), [micro], [macro]) == 1.0


def test_own_motion_sets_the_events_displacement_beside_the_idle_frames():
    """Idle frames move 0.1…1.0 px (frame f: (f mod 10 + 1) / 10); the events peak at 2 and 4 px."""
    run = run_with({})
    run.motion_px["v/v_r1"] = {f: (f % 10 + 1) / 10 for f in range(1, 400)}
    run.motion_px["v/v_r1"].update({100: 2.0, 200: 4.0})
    truths = [Interval("v", "v_r1", 99, 101), Interval("v", "v_r1", 199, 201)]
    figures = own_motion(run, truths, [])
    assert figures["event_median_px"] == pytest.approx(3.0)
    assert 0.5 <= figures["idle_median_px"] <= 0.6
    assert figures["idle_p90_px"] == pytest.approx(0.9, abs=0.05)
    assert own_motion(run, [], []) is None


def test_recall_by_state_counts_each_event_under_the_state_before_its_onset():
    run = run_with({})
    run.spans = [
        FaceStateSpan("still", "v/v_r1", 0, 49, 0.0, 2.0),
        FaceStateSpan("talking", "v/v_r1", 50, 149, 2.0, 6.0),
        FaceStateSpan("still", "v/v_r1", 160, 300, 6.4, 12.0),
    ]
    assert state_at(run.spans, "v/v_r1", 155) == "talking"  # between stretches: the last one before
    assert state_at(run.spans, "w/w_r1", 10) == "unknown"
    truths = [Interval("v", "v_r1", 20, 26), Interval("v", "v_r1", 100, 106), Interval("v", "v_r1", 200, 206)]
    found = [Interval("v", "v_r1", 20, 26), Interval("v", "v_r1", 101, 105), Interval("v", "v_r1", 240, 250)]
    assert recall_by_state(run, found, truths) == {"still": {"true": 2, "found": 1}, "talking": {"true": 1, "found": 1}}


def test_detectability_in_one_face_state_keeps_its_events_and_its_idle_frames():
    """Still frames score 0…4, talking ones 0…40: the event in the still stretch (score 10) is above
    every still frame but under most of the talking ones; the event begun while talking is left out."""
    scores = {f: float(f % 5) for f in range(0, 200)} | {f: float(f % 41) for f in range(200, 400)}
    scores.update({100: 10.0, 300: 99.0})
    run = run_with(scores)
    run.spans = [
        FaceStateSpan("still", "v/v_r1", 0, 199, 0.0, 8.0),
        FaceStateSpan("talking", "v/v_r1", 200, 399, 8.0, 16.0),
    ]
    truths = [Interval("v", "v_r1", 99, 101), Interval("v", "v_r1", 299, 301)]
    assert detectability(run, truths, [], "still") == 1.0
    assert detectability(run, truths, [], "talking") == 1.0
    assert detectability(run, truths[:1], []) < 0.8  # against every idle frame, talking ones included


def test_the_raw_report_counts_per_minute_and_the_face_states_as_shares():
    run = run_with({})
    run.seconds = {"a": 90.0, "b": 30.0}
    run.events = [Event(1, 5, {0: 3}, "micro"), Event(10, 80, {0: 30}, "macro"), Event(90, 95, {0: 92}, "micro")]
    run.states = {"still": 90.0, "talking": 30.0}
    run.suppressed = {"talking": 4}
    report = raw_report(run)
    assert (report["micro"], report["micro_per_minute"], report["macro_per_minute"]) == (2, 1.0, 0.5)
    assert report["face_states"] == {"still": 0.75, "talking": 0.25} and report["suppressed"] == {"talking": 4}


def test_every_kind_splits_its_videos_once_and_the_table_reads_the_report():
    for kind, splits in KINDS.items():
        assert not set(splits["design"]) & set(splits["heldout"]), kind
    names = [v for splits in KINDS.values() for split in splits.values() for v in split]
    assert len(names) == len(set(names))
    raw = {"seconds": 60.0, "micro_per_minute": 0.5, "macro_per_minute": 1.0, "suppressed": {}}
    motion = {"idle_median_px": 0.2, "idle_p90_px": 0.9, "event_median_px": 0.5}
    injected = {
        "f1": 0.5,
        "precision": 1.0,
        "recall": 0.33,
        "true": 9,
        "by_state": {"still": {"true": 4, "found": 3}, "talking": {"true": 5, "found": 0}},
        "per_video": {"v": {"detectability_auc": 0.9, "own_motion": motion}},
    }
    table = summary_table(
        {
            "calm": {
                "design": {"raw": raw, "injected": {"0.9-2.5px": injected}, "offline_apex": {"0.9-2.5px": {"clips": 3}}}
            }
        }
    )
    assert "calm" in table and "F1 0.500" in table and "[0.9]" in table
    assert "still 3/4, talking 0/5" in table and "p90 0.9 px" in table
