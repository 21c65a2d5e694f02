"""The paper's offline pipeline on generated faces: crops, apex (eq. 1–3), phase features, no-face handling."""

from __future__ import annotations

import numpy as np
import pytest

from mer_live.corpora.fourdme import load_dataset
from mer_live.model.extract import extract_dataset, extract_sequence
from mer_live.stream.features import PreprocessConfig


@pytest.mark.slow
@pytest.mark.parametrize("apex_intensity", ["paper", "face"])
def test_farneback_apex_lies_within_two_frames_of_the_true_apex(synth_root, tmp_path, apex_intensity):
    """The data are fit for spotting: eq. 1–3 on the crop ("paper") peaks at the generator's apex
    (±2 frames) for ≥ 90 % of sequences and views; so does the face-box intensity the live spotter uses."""
    sequences = load_dataset(synth_root)
    result = extract_dataset(
        sequences, tmp_path, PreprocessConfig(apex_intensity=apex_intensity), workers=2, progress=False
    )
    errors = result.apex_errors(sequences)
    assert len(errors) == 2 * len(sequences)  # both views of every sequence
    assert np.mean(np.array(errors) <= 2) >= 0.9


@pytest.mark.slow
def test_phase_features_have_the_model_shape_and_range(synth_extraction):
    sequences, result = synth_extraction
    arrays = result.features[sequences[0].key]
    samples = arrays["samples"]
    assert samples.shape == (4, 3, 224, 224)  # 2 views × 2 phases, channels u, v, m
    assert np.isfinite(samples.astype(np.float32)).all()
    assert samples.min() >= -1 and samples.max() <= 1
    assert (samples[:, 2] >= 0).all()  # the magnitude channel
    assert np.abs(samples[:, :2]).max() > 0.05  # the expression moved something


def test_cache_is_reused(synth_extraction, tmp_path):
    sequences, _ = synth_extraction
    first = extract_dataset(sequences[:2], tmp_path, workers=1, progress=False)
    files = sorted(tmp_path.rglob("*.npz"))
    mtimes = [f.stat().st_mtime_ns for f in files]
    second = extract_dataset(sequences[:2], tmp_path, workers=1, progress=False)
    assert len(files) == 2 and [f.stat().st_mtime_ns for f in files] == mtimes
    key = sequences[0].key
    assert np.array_equal(first.features[key]["samples"], second.features[key]["samples"])


def test_sequence_without_a_face_is_skipped_and_counted(synth_root, tmp_path):
    import shutil

    import cv2

    sequences = load_dataset(synth_root)
    blank = sequences[0]
    for path in blank.frame_paths:  # a grey frame: nobody there
        cv2.imwrite(str(path.with_name("blank_" + path.name)), np.full((800, 1280, 3), 128, np.uint8))
    folder = tmp_path / blank.subject / blank.name
    folder.mkdir(parents=True)
    for path in blank.frame_paths:
        shutil.move(str(path.with_name("blank_" + path.name)), folder / path.name)
    from dataclasses import replace

    faceless = replace(blank, folder=folder, frame_paths=tuple(folder / p.name for p in blank.frame_paths))
    result = extract_dataset([faceless, sequences[1]], tmp_path / "cache", workers=1, progress=False)
    assert list(result.skipped) == [faceless.key]
    assert "no face" in result.skipped[faceless.key] and str(folder) in result.skipped[faceless.key]
    assert sequences[1].key in result.features


def test_single_view_config_gives_two_samples(synth_root):
    seq = load_dataset(synth_root)[0]
    arrays = extract_sequence(seq, PreprocessConfig(n_views=1))
    assert arrays["samples"].shape == (2, 3, 224, 224)


@pytest.fixture(scope="module")
def precropped_root(synth_root, tmp_path_factory):
    """The first view of eight generated clips cut to the face box, taller than wide, as the
    "Cropped" releases of CASME II and SAMM ship them: the face fills the frame."""
    import cv2

    from mer_live.stream.face import MediaPipeFaceDetector
    from mer_live.stream.views import split_views
    from tests.conftest import label_row, write_labels_csv

    root = tmp_path_factory.mktemp("precropped")
    detector = MediaPipeFaceDetector()
    rows = []
    for seq in load_dataset(synth_root)[:8]:
        first = split_views(seq.load_frame(seq.onset), 2)[0]
        face = detector.detect(first)[0]
        top, bottom = max(0, face.y - face.h // 10), min(first.shape[0], face.y + face.h + face.h // 10)
        folder = root / seq.subject / seq.name
        folder.mkdir(parents=True)
        for number in seq.event_numbers():
            view = split_views(seq.load_frame(number), 2)[0]
            cv2.imwrite(
                str(folder / f"img_{number:04d}.jpg"),
                cv2.cvtColor(view[top:bottom, face.x : face.x + face.w], cv2.COLOR_RGB2BGR),
            )
        rows.append(label_row(seq.subject, seq.name, seq.onset, seq.apex, seq.offset, seq.labels))
    write_labels_csv(root, rows)
    return root


@pytest.mark.parametrize("forced", [False, True])
def test_a_precropped_face_is_cropped_as_the_whole_frame_and_its_apex_found(precropped_root, tmp_path, forced):
    """A face that fills its frame has no room for the crop's margin: the whole (non-square) frame is
    the crop, detected (`forced=False`) or told (`--cropped`); the apex stays within ±2 frames."""
    sequences = load_dataset(precropped_root)
    result = extract_dataset(
        sequences, tmp_path, PreprocessConfig(n_views=1, cropped=forced), workers=1, progress=False
    )
    assert not result.skipped
    for seq in sequences:
        height, width = seq.load_frame(seq.onset).shape[:2]
        assert height > width  # any square crop would cut it
        assert result.features[seq.key]["windows"].tolist() == [[0, 0, width, height]]
    errors = np.array(result.apex_errors(sequences))
    assert np.mean(errors <= 2) >= 0.85, errors


def test_the_crop_keeps_its_margin_unless_the_face_fills_the_frame():
    from mer_live.stream.face import Box, crop_window
    from mer_live.stream.tracking import Window

    assert crop_window(Box(250, 150, 100, 120), (480, 640, 3)) == Box(216, 126, 168, 168)  # 120 · 1.4, centred
    assert crop_window(Box(120, 40, 400, 400), (480, 640, 3)) == Box(80, 0, 480, 480)  # a close-up: square
    assert crop_window(Box(20, 10, 150, 180), (200, 190, 3)) == Box(0, 0, 190, 200)  # fills both ways
    assert Window.around(1, Box(20, 10, 150, 180), (200, 190, 3), 0.2).margin == 0.0  # no margin around it
    assert Window.around(1, Box(250, 150, 100, 120), (480, 640, 3), 0.2).margin == 0.2


def test_a_tracker_told_the_faces_are_cropped_takes_each_frame_whole_without_detecting():
    from mer_live.stream.face import Box
    from mer_live.stream.tracking import CropTracker

    class NoDetection:
        def detect(self, image):
            raise AssertionError("a pre-cropped frame needs no face detection")

    tracker = CropTracker(NoDetection(), whole_frame=True)
    for _ in range(40):  # past the periodic face checks too
        window = tracker.update(np.zeros((230, 190, 3), np.uint8))
    assert window.crop == window.face == Box(0, 0, 190, 230) and window.serial == 1
