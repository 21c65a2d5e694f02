"""Spotting scores (MEGC IoU rule), the CSV sinks, and the crop ring's fixed memory."""

from __future__ import annotations

import csv
import logging
import os

import numpy as np
import pytest

from mer_live.corpora.scoring import Interval, iou, macro_confusions, match, read_spots, spotting_report
from mer_live.stream.events import Event
from mer_live.stream.folders import DatasetError
from mer_live.stream.ring import CropRing
from mer_live.stream.sinks import CsvSink, JsonlSink, MegcSink, SinkSet


def test_iou_of_inclusive_frame_intervals():
    a = Interval("s", "v", 10, 19)  # 10 frames
    b = Interval("s", "v", 15, 24)  # 10 frames, 5 shared
    assert iou(a, b) == pytest.approx(5 / 15)
    assert iou(a, Interval("s", "v", 20, 30)) == 0.0
    assert iou(a, a) == 1.0


def test_each_true_interval_is_matched_once_and_only_within_its_video():
    truths = [Interval("s", "v", 10, 19, 14), Interval("s", "w", 10, 19, 14)]
    spots = [Interval("s", "v", 10, 19, 15), Interval("s", "v", 11, 19, 14), Interval("s", "x", 10, 19, 14)]
    assert len(match(spots, truths)) == 1
    report = spotting_report(spots, truths)
    assert (report["tp"], report["fp"], report["fn"]) == (1, 2, 1)
    assert report["precision"] == pytest.approx(1 / 3, abs=1e-4) and report["recall"] == 0.5
    assert report["f1"] == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5), abs=1e-4)
    assert report["apex_error_frames"]["mean"] == 1.0


def test_micro_spots_on_a_macro_expression_are_counted():
    macros = [Interval("s", "v", 100, 160)]
    assert macro_confusions([Interval("s", "v", 150, 170), Interval("s", "v", 10, 20)], macros) == 1


def _event(kind="micro", event_id=1):
    return Event(
        onset_frame=10,
        offset_frame=20,
        apex_frame_by_view={0: 14, 1: 15},
        kind=kind,
        band=1,
        peak_z_by_view={0: 6.0, 1: 5.0},
        peak_intensity_by_view={0: 42.0, 1: 40.0},
        event_id=event_id,
        run_id="r1",
        recording="s01/s01_long",
        onset_s=0.1,
        apex_s=0.2,
        offset_s=0.3,
        band_rows=(0.45, 0.7),
        labels=("Positive",),
        probs={"Positive": 0.9},
        attention={"alpha_u": 0.3},
        threshold=0.2,
        model="m.pt",
        latency_ms=12.5,
    )


def test_megc_sink_writes_micro_rows_that_read_spots_reads_back(tmp_path):
    path = tmp_path / "spots.csv"
    with MegcSink(path) as sink:
        sink.write(_event("micro", 1))
        sink.write(_event("macro", 2))
    rows = list(csv.DictReader(open(path)))
    assert [r["subject"] for r in rows] == ["s01"] and rows[0]["video"] == "s01_long"
    assert read_spots(path) == [Interval("s01", "s01_long", 10, 20, 14)]


def test_a_spots_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "spots.csv"
    path.write_bytes("subject,video,onset,offset\ns01,vidéo,1,5\n".encode("latin-1"))
    with pytest.raises(DatasetError, match=r"spots.csv is not UTF-8"):
        read_spots(path)


def test_csv_sink_flattens_views_and_dicts(tmp_path):
    path = tmp_path / "events.csv"
    with CsvSink(path) as sink:
        sink.write(_event())
    (row,) = list(csv.DictReader(open(path)))
    assert row["apex_left"] == "14" and row["apex_right"] == "15" and row["labels"] == "Positive"
    assert (row["duration_s"], row["band"], row["band_rows"], row["run_id"]) == ("0.2", "1", "0.45-0.7", "r1")


def test_a_csv_sink_appends_only_under_its_own_columns(tmp_path):
    path = tmp_path / "events.csv"
    with CsvSink(path) as sink:
        sink.write(_event(event_id=1))
    with CsvSink(path) as sink:  # same columns: appended
        sink.write(_event(event_id=2))
    assert [r["event_id"] for r in csv.DictReader(open(path))] == ["1", "2"]
    old = tmp_path / "old.csv"  # an older version's columns (face_band, no run_id)
    old.write_text("event_id,source,kind,face_band\n1,s/v,micro,0-0.45\n")
    with pytest.raises(ValueError, match="cannot append to .*old.csv: its columns"):
        CsvSink(old)
    assert old.read_text().count("\n") == 2  # left as it was


def test_sink_set_names_a_failing_sink_and_keeps_the_others(tmp_path, caplog):
    class Broken:
        def write(self, event):
            raise OSError("disk full")

        def close(self):
            pass

    good = CsvSink(tmp_path / "e.csv")
    sinks = SinkSet([Broken(), good])
    with caplog.at_level(logging.DEBUG, logger="mer_live.stream.sinks"):
        failed = [sinks.write(_event()), sinks.write(_event())]
    sinks.close()
    assert failed == [["Broken"], ["Broken"]]
    assert len(list(csv.DictReader(open(tmp_path / "e.csv")))) == 2
    # logged, not flooded: one warning with the reason, each failure with its traceback at debug level
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(warnings) == 1 and "Broken failed and is skipped for this record: disk full" in warnings[0].message
    assert len(debug) == 2 and all(r.exc_info and r.exc_info[0] is OSError for r in debug)


def test_ring_memory_is_fixed_and_old_frames_are_forgotten():
    ring = CropRing(capacity=10, n_views=2, feature_size=32, spot_size=16)
    size = ring.nbytes
    for frame in range(1, 101):
        for view in range(2):
            ring.push(
                frame,
                frame / 60,
                view,
                np.full((32, 32), frame % 255, np.uint8),
                np.zeros((16, 16), np.uint8),
                window=1,
            )
    assert ring.nbytes == size and len(ring) == 10
    assert ring.feature_crop(90, 0) is None and ring.feature_crop(95, 1)[0, 0] == 95
    assert ring.at_or_before(99, 0, window=1) == 99 and ring.at_or_before(99, 0, window=2) is None


def test_each_event_is_on_the_disk_before_the_log_reports_it(tmp_path, monkeypatch):
    """What kill -9 cannot take: every record the JSONL log has taken is already in the file (another
    reader sees it while the sink is open) and fsynced to the disk (one fsync of the log's own file per
    record). A buffered write, or a flush without fsync, fails here — a kill -9 test could not fail:
    the page cache outlives the process."""
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real_fsync(fd))
    log = tmp_path / "events.jsonl"
    sink = JsonlSink(log)
    for n in range(1, 4):
        sink.write(_event())
        assert len(log.read_text().splitlines()) == n  # in the file while the sink is open
        assert synced == [str(log)] * n  # and on the disk
    sink.close()
    export = JsonlSink(tmp_path / "export.jsonl", durable=False)  # a one-off export: no fsync asked
    export.write(_event())
    export.close()
    assert len(synced) == 3
