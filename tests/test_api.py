"""The Python API (`from mer_live import spot`) and the ELAN files it, `mer stream --elan` and the
dashboard write: read back with pympi, the events must sit at their recorded times."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pympi
import pytest

import mer_live
from conftest import long_recordings
from mer_live.cli.main import main
from mer_live.stream.elan import MARKER_MS, label_text
from mer_live.stream.store import TimelinePoint
from mer_live.ui.exports import face_state_spans

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "realvideo"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"no real videos at {REAL} (CI has ../shared)")

pytestmark = pytest.mark.slow  # each test runs the engine


def annotations(eaf: pympi.Elan.Eaf, tier: str) -> list[tuple[int, int, str]]:
    return sorted(eaf.get_annotation_data_for_tier(tier))


@pytest.fixture(scope="module")
def real_run():
    """A real video with a movement the spotter reports (a posed expression at its end)."""
    return mer_live.spot(REAL / "liveportrait_d3.mp4", views=1)


@needs_real
def test_spot_on_a_real_video_gives_its_events_and_face_states(real_run):
    assert len(real_run) == len(list(real_run)) >= 1
    assert real_run.summary["processed"] == 354  # every frame of the 11.8 s video
    assert real_run.face_states and {s.state for s in real_run.face_states} <= {
        "still",
        "moving",
        "blink",
        "talking",
        "no face",
    }
    table = real_run.to_pandas()
    assert list(table["onset_s"]) == pytest.approx([e.onset_s for e in real_run], abs=1e-4)
    assert {"kind", "labels", "probs", "apex_s"} <= set(table.columns)


@needs_real
def test_the_elan_file_of_a_real_run_holds_each_event_at_its_time(real_run, tmp_path):
    markers = [{"t_s": 2.5, "note": "question 3"}]
    eaf = pympi.Elan.Eaf(str(real_run.to_elan(tmp_path / "run.eaf", markers)))
    assert set(eaf.get_tier_names()) == {"micro", "macro", "labels", "face state", "markers"}
    for kind in ("micro", "macro"):
        expected = [
            (round(e.onset_s * 1000), round(e.offset_s * 1000), f"event {e.event_id}")
            for e in real_run
            if e.kind == kind
        ]
        assert annotations(eaf, kind) == sorted(expected)
    assert [a[2] for a in annotations(eaf, "labels")] == [label_text(e) for e in real_run]
    assert len(annotations(eaf, "face state")) == len(real_run.face_states)
    assert annotations(eaf, "markers") == [(2500, 2500 + MARKER_MS, "question 3")]
    linked = eaf.get_linked_files()
    assert [Path(f["MEDIA_URL"].removeprefix("file://")).name for f in linked] == ["liveportrait_d3.mp4"]


def test_mer_stream_writes_an_elan_file_beside_the_log(tmp_path):
    recording = long_recordings(tmp_path / "data", per_subject=1, seconds=12)
    events, elan = tmp_path / "events.jsonl", tmp_path / "run.eaf"
    code = main(["stream", str(recording), "--events", str(events), "--elan", str(elan), "--quiet", "--no-model"])
    assert code == 0
    logged = [json.loads(line) for line in events.read_text().splitlines()]
    spotted = [r for r in logged if r.get("kind") in ("micro", "macro")]
    states = [r for r in logged if r.get("kind") == "face_state"]
    assert spotted, "the generated recording holds events"
    eaf = pympi.Elan.Eaf(str(elan))
    found = annotations(eaf, "micro") + annotations(eaf, "macro")
    assert sorted(found) == sorted(
        (round(r["onset_s"] * 1000), round(r["offset_s"] * 1000), f"event {r['event_id']}") for r in spotted
    )
    assert len(annotations(eaf, "face state")) == len(states)


def test_the_dashboards_timeline_becomes_face_state_stretches():
    points = [TimelinePoint(f, f / 10, {0: 0.0}, s) for f, s in enumerate(["still"] * 3 + ["talking"] * 2 + ["still"])]
    spans = face_state_spans(points)
    assert [(s.state, s.first_frame, s.last_frame) for s in spans] == [
        ("still", 0, 2),
        ("talking", 3, 4),
        ("still", 5, 5),
    ]
    assert spans[1].start_s == pytest.approx(0.3) and spans[1].end_s == pytest.approx(0.4)


def test_the_demo_runs_report_holds_every_event_with_its_pictures(tmp_path, capsys):
    """`mer demo` (what `make demo-headless` runs) writes its report; every event of its log is in it."""
    events, report = tmp_path / "events.jsonl", tmp_path / "report.html"
    assert main(["demo", "--events", str(events), "--report", str(report), "--quiet"]) == 0
    assert f'"report": "{report}"' in capsys.readouterr().out
    logged = [json.loads(line) for line in events.read_text().splitlines()]
    spotted = [r for r in logged if r["kind"] in ("micro", "macro")]
    page = report.read_text()
    assert spotted and page.count('<section class="event') == len(spotted)
    for record in spotted:
        section = page.split(f'id="event-{record["event_id"]}">', 1)[1].split("</section>", 1)[0]
        assert f"onset {record['onset_s']:.3f} s" in section
        assert all(f"<b>{label}</b> {record['probs'][label]:.2f}" in section for label in record["labels"])
        assert 'alt="apex crops"' in section and 'alt="flow maps"' in section  # pictures inline
    assert 'alt="session summary"' in page and 'src="http' not in page  # self-contained


@needs_real
def test_the_example_script_spots_a_real_video_and_plots_its_score(tmp_path):
    script = Path(__file__).resolve().parents[1] / "examples" / "spot_real_video.py"
    out = tmp_path / "score.png"
    ran = subprocess.run([sys.executable, str(script), "--out", str(out)], capture_output=True, text=True, timeout=240)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "macro" in ran.stdout and out.read_bytes()[:4] == b"\x89PNG"


@needs_real
def test_the_score_has_one_value_per_measured_frame(real_run):
    t, score = real_run.score()
    assert len(t) == len(score) > 300 and (t[1:] > t[:-1]).all()
    during = score[(t >= real_run.events[-1].onset_s) & (t <= real_run.events[-1].offset_s)]
    assert during.max() >= 5.0  # the event's onset crossed the onset level (k_high 5)


def test_mer_spot_writes_one_elan_file_per_recording(tmp_path):
    data = long_recordings(tmp_path / "data", per_subject=2, seconds=10)
    events, elan = tmp_path / "events.jsonl", tmp_path / "elan"
    args = ["spot", str(data), "--out", str(tmp_path / "spots.csv"), "--events", str(events), "--elan", str(elan)]
    assert main([*args, "--quiet", "--no-model"]) == 0
    logged = [json.loads(line) for line in events.read_text().splitlines()]
    recordings = sorted({r["recording"] for r in logged})
    assert sorted(p.name for p in elan.iterdir()) == [r.replace("/", "__") + ".eaf" for r in recordings]
    for recording in recordings:
        eaf = pympi.Elan.Eaf(str(elan / (recording.replace("/", "__") + ".eaf")))
        spotted = [r for r in logged if r["recording"] == recording and r["kind"] in ("micro", "macro")]
        found = annotations(eaf, "micro") + annotations(eaf, "macro")
        assert sorted(found) == sorted(
            (round(r["onset_s"] * 1000), round(r["offset_s"] * 1000), f"event {r['event_id']}") for r in spotted
        )
