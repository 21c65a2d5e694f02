"""`mer bench --real`'s own arithmetic: the detectability figure and the per-kind report."""

from __future__ import annotations

import pytest

from mer_live.bench.real import KINDS, Run, detectability, raw_report, summary_table
from mer_live.corpora.scoring import Interval
from mer_live.stream.events import Event


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
    injected = {"f1": 0.5, "precision": 1.0, "recall": 0.33, "true": 9, "per_video": {"v": {"detectability_auc": 0.9}}}
    table = summary_table(
        {
            "calm": {
                "design": {"raw": raw, "injected": {"0.9-2.5px": injected}, "offline_apex": {"0.9-2.5px": {"clips": 3}}}
            }
        }
    )
    assert "calm" in table and "F1 0.500" in table and "[0.9]" in table
