"""The synthetic micro-expression generator: layout, labels, determinism, ground truth, long mode, config."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from mer_live.corpora.labels import CLASSES
from mer_live.synth.actions import RECIPES
from mer_live.synth.plan import SynthConfig, plan_dataset, plan_long_recording, plan_short_sequence
from mer_live.synth.render import encode_frame, iter_long_stream, render_frames
from mer_live.synth.write import DEMO_VERSION, LABEL_COLUMNS, ensure_demo_dataset, generate_dataset

SHORT = dict(subjects=2, per_subject=5, seed=3)
SMALL_VIEW = SynthConfig(fps=30, view_width=320, view_height=400)


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames), list(reader)


def plan(**kwargs):
    args = dict(long=False, long_seconds=(20.0, 40.0), faces_dir=None, config=SynthConfig()) | kwargs
    return plan_dataset(**args)


@pytest.fixture(scope="module")
def short_set(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synth")
    return out, generate_dataset(out, **SHORT, workers=2, progress=False)


@pytest.fixture(scope="module")
def short_specs():
    return {spec.fold_name: spec for _, specs in plan(**SHORT) for spec in specs}


@pytest.mark.slow
def test_layout_and_labels_csv(short_set, short_specs):
    out, summary = short_set
    columns, rows = read_csv(out / "labels.csv")
    assert (
        tuple(columns)
        == LABEL_COLUMNS
        == (
            "sub_ID",
            "fold_name",
            "Emotion",
            "Onset",
            "Apex",
            "Offset",
            "AUs",
            "Negative",
            "Positive",
            "Repression",
            "Surprise",
            "Others",
        )
    )
    assert [r["fold_name"] for r in rows] == [f"s{s:02d}_{j:02d}" for s in (1, 2) for j in range(1, 6)]
    assert summary["sequences"] == len(rows) == 10
    for row in rows:
        folder = out / row["sub_ID"] / row["fold_name"]
        numbers = sorted(int(p.stem.removeprefix("img_")) for p in folder.glob("img_*.jpg"))
        assert numbers == list(range(1, len(numbers) + 1))
        assert 1 < int(row["Onset"]) < int(row["Apex"]) < int(row["Offset"]) <= len(numbers)
        labels = row["Emotion"].split("+")
        assert [c for c in CLASSES if row[c] == "1"] == labels
        assert all(row[c] in ("0", "1") for c in CLASSES)
        assert all(au.lstrip("LR").isdigit() for au in row["AUs"].split("+"))
        assert short_specs[row["fold_name"]].events[0].labels == tuple(labels)
    assert summary["frames"] == sum(len(list((out / r["sub_ID"] / r["fold_name"]).iterdir())) for r in rows)
    assert sum(summary["classes"].values()) >= 10


def test_frames_hold_two_different_views(short_set):
    out, _ = short_set
    image = cv2.imread(str(out / "s01" / "s01_01" / "img_1.jpg"))
    assert image.shape == (800, 1280, 3)
    left, right = image[:, :640].astype(int), image[:, 640:].astype(int)
    assert np.abs(left - right).mean() > 5


def test_written_frames_are_rgb_in_bgr_order(short_set, short_specs):
    out, _ = short_set
    [(subject, _)] = plan(subjects=1, per_subject=1, seed=SHORT["seed"])
    decoded = cv2.cvtColor(cv2.imread(str(out / "s01" / "s01_01" / "img_1.jpg")), cv2.COLOR_BGR2RGB)
    rendered = next(render_frames(subject, short_specs["s01_01"], SynthConfig()))[1]
    assert np.abs(decoded.astype(int) - rendered).mean() < 3


def test_same_seed_gives_identical_bytes_whatever_the_workers(short_set):
    out, _ = short_set
    [(subject, [spec])] = plan(subjects=1, per_subject=1, seed=SHORT["seed"])
    frames = render_frames(subject, spec, SynthConfig())
    for number, rgb in (next(frames), next(frames)):
        assert encode_frame(rgb, SynthConfig()) == (out / "s01" / "s01_01" / f"img_{number}.jpg").read_bytes()
    [(other_subject, [other_spec])] = plan(subjects=1, per_subject=1, seed=SHORT["seed"] + 1)
    _, other = next(render_frames(other_subject, other_spec, SynthConfig()))
    assert encode_frame(other, SynthConfig()) != (out / "s01" / "s01_01" / "img_1.jpg").read_bytes()


@pytest.mark.slow
def test_labelled_apex_is_where_the_written_face_moves_most(tmp_path):
    """Measured on the frames written to disk (confounders off, so only the expression moves):
    the labelled apex is the frame farthest from the onset frame, and onset and offset look neutral.
    (It used to compare the label with the displacement of the same spec it was made from.)"""
    clean = SynthConfig(
        fps=30, view_width=320, view_height=400, noise=False, jpeg=False, drift=False, blinks=False, flicker=False
    )
    generate_dataset(tmp_path, subjects=2, per_subject=3, seed=8, config=clean, workers=1, progress=False)
    _, rows = read_csv(tmp_path / "labels.csv")
    for row in rows:
        folder = tmp_path / row["sub_ID"] / row["fold_name"]
        frames = {
            int(p.stem.removeprefix("img_")): cv2.imread(str(p)).astype(np.int16)
            for p in folder.iterdir()
            if p.stem.startswith("img_")
        }
        onset, apex, offset = (int(row[k]) for k in ("Onset", "Apex", "Offset"))
        change = {n: float(np.abs(image - frames[onset]).mean()) for n, image in frames.items()}
        assert max(change, key=change.get) == apex, (
            row["fold_name"],
            sorted(change.items(), key=lambda kv: -kv[1])[:3],
        )
        assert change[offset] < 0.1 * change[apex] and change[1] < 0.1 * change[apex]


@pytest.mark.parametrize("label", CLASSES)
def test_every_class_recipe_is_producible(label):
    for seed in range(5):
        spec = plan_short_sequence(np.random.default_rng(seed), labels=(label,), face_width=260.0)
        event = spec.events[0]
        assert event.labels == (label,) and event.kind == "micro"
        assert any(set(core) <= set(event.aus) for core in RECIPES[label].cores)
        assert 0.5 * 260 / 224 <= event.amplitude_px <= 3.0 * 260 / 224


def test_every_subject_is_written_with_every_class(short_set):
    """As the trainer reads the written set: each subject holds each of the five classes, so any
    split by subject (hold-out, LOSO) trains and tests on all of them."""
    from mer_live.corpora.fourdme import load_dataset

    out, _ = short_set
    by_subject: dict[str, set] = {}
    for sequence in load_dataset(out):
        by_subject.setdefault(sequence.subject, set()).update(sequence.labels)
    assert sorted(by_subject) == ["s01", "s02"]
    assert all(classes == set(CLASSES) for classes in by_subject.values()), by_subject


def test_long_recordings_keep_events_apart():
    for seed in range(20):
        spec = plan_long_recording(np.random.default_rng(seed), seconds=30.0, face_width=260.0)
        micro = [e for e in spec.events if e.kind == "micro"]
        macro = [e for e in spec.events if e.kind == "macro"]
        assert 4 <= len(micro) <= 6 and 1 <= len(macro) <= 2
        assert all(e.duration_s(60) <= 0.5 + 1 / 60 for e in micro)
        assert all(e.duration_s(60) > 0.5 for e in macro)
        events = sorted(spec.events, key=lambda e: e.onset)
        assert all(b.onset - a.offset >= 1.5 * 60 for a, b in zip(events, events[1:]))
        assert all(not blink.overlaps(e.onset, e.offset) for blink in spec.blinks for e in events)
        assert len(spec.blinks) >= 3
        assert events[-1].offset <= spec.n_frames


@pytest.mark.slow
def test_long_mode_writes_events_csv(tmp_path):
    summary = generate_dataset(
        tmp_path,
        subjects=1,
        per_subject=1,
        seed=2,
        long=True,
        long_seconds=(12.0, 12.0),
        config=SMALL_VIEW,
        workers=1,
        progress=False,
    )
    columns, events = read_csv(tmp_path / "events.csv")
    assert columns == ["sub_ID", "fold_name", "onset", "apex", "offset", "labels", "kind"]
    kinds = [e["kind"] for e in events]
    assert "micro" in kinds and "macro" in kinds and set(kinds) <= {"micro", "macro"}
    for e in events:
        seconds = (int(e["offset"]) - int(e["onset"])) / SMALL_VIEW.fps
        assert seconds > 0.5 if e["kind"] == "macro" else seconds <= 0.5 + 1 / SMALL_VIEW.fps
    spans = sorted((int(e["onset"]), int(e["offset"])) for e in events)
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:]))
    _, labels = read_csv(tmp_path / "labels.csv")
    assert len(labels) == kinds.count("micro") == summary["micro_events"]
    assert {r["fold_name"] for r in labels} == {"s01_01"}
    assert len(list((tmp_path / "s01" / "s01_01").glob("*.jpg"))) == summary["frames"] == 12 * SMALL_VIEW.fps


def test_macro_switch_and_in_memory_stream():
    stream = iter_long_stream(
        seed=4, seconds=8, config=SynthConfig(fps=30, view_width=320, view_height=400, macro=False)
    )
    assert stream.events and all(e.kind == "micro" for e in stream.events)
    frames = stream.frames()
    first, second = next(frames), next(frames)
    assert (first[0], second[0]) == (1, 2) and first[1].shape == (400, 640, 3) and first[1].dtype == np.uint8


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("fps", 0, "fps"),
        ("fps", 30.5, "fps"),
        ("view_width", 100, "view_width"),
        ("view_height", 10000, "view_height"),
        ("jpeg_quality", 0, "jpeg_quality"),
        ("jpeg_quality", 101, "jpeg_quality"),
        ("noise", "yes", "noise"),
        ("macro", 1, "macro"),
    ],
)
def test_config_rejects_bad_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        SynthConfig(**{field: value})


def test_faces_dir_without_usable_photos_names_the_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("no photos here")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match=f"no usable face photo.*{tmp_path}"):
        generate_dataset(tmp_path / "out", subjects=1, per_subject=1, faces_dir=tmp_path, progress=False)


def test_faces_dir_photo_without_a_face_names_the_file(tmp_path):
    cv2.imwrite(str(tmp_path / "wall.png"), np.full((200, 200, 3), 128, np.uint8))
    with pytest.raises(ValueError, match="no face found in .*wall.png"):
        generate_dataset(tmp_path / "out", subjects=1, per_subject=1, faces_dir=tmp_path, progress=False)


def test_demo_dataset_is_reused_once_complete(tmp_path):
    (tmp_path / "complete.json").write_text(json.dumps({"version": DEMO_VERSION}))
    assert ensure_demo_dataset(tmp_path) == tmp_path / "short"
    assert not (tmp_path / "short").exists()  # nothing was regenerated


def test_a_one_sided_unit_has_nothing_to_move_on_a_face_turned_away():
    """All landmarks but the face edges moved to the side of landmark 234 (a head turned far to one
    side): R1+R2, which keeps the 454 side, has no landmark left to move; L1+L2 and AU1+2 still have."""
    from mer_live.synth.actions import moves_landmarks
    from mer_live.synth.faces import load_face_photos

    landmarks = load_face_photos(None)[0].landmarks.copy()
    centre_x = (landmarks[454, 0] + landmarks[234, 0]) / 2
    edges = landmarks[[454, 234]].copy()
    width = abs(landmarks[454, 0] - landmarks[234, 0])
    landmarks[:, 0] = (
        np.minimum(landmarks[:, 0], centre_x - 0.1 * width)
        if landmarks[454, 0] > landmarks[234, 0]
        else np.maximum(landmarks[:, 0], centre_x + 0.1 * width)
    )
    landmarks[[454, 234]] = edges
    assert moves_landmarks(landmarks, ("1", "2"))
    assert moves_landmarks(landmarks, ("L1", "L2"))
    assert not moves_landmarks(landmarks, ("R1", "R2"))
