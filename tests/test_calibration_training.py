"""Calibration (baseline profile, the views of a frame) and a short real training run on generated data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mer_live.calibration.baseline import calibrate
from mer_live.calibration.profile import ProfileError, load_profile
from mer_live.calibration.views import detect_views, find_seam
from mer_live.corpora.fourdme import load_dataset
from mer_live.stream.face import MediaPipeFaceDetector
from mer_live.stream.intensity import IntensityConfig
from mer_live.stream.pipeline import EngineConfig
from mer_live.stream.telemetry import REST_MOTION_LIMIT_PX
from mer_live.synth.source import SyntheticSource


@pytest.mark.slow
def test_calibration_profile_round_trip(tmp_path):
    with SyntheticSource(seed=1, seconds=12) as source:
        profile = calibrate(iter(source), 1.5, EngineConfig(), MediaPipeFaceDetector, source.name)
    regions = EngineConfig().features.intensity.regions
    assert set(profile.baselines) == {(view, region) for view in (0, 1) for region in range(regions)}
    assert all(b.sigma > 0 and b.mu > 0 for b in profile.baselines.values())
    assert profile.k_high >= EngineConfig().spotter.k_high and 0 < profile.k_low < profile.k_high
    assert profile.rest_motion_px is not None and profile.rest_motion_px < REST_MOTION_LIMIT_PX  # a steady face
    assert not any("at rest" in note for note in profile.notes)
    loaded = load_profile(profile.save(tmp_path / "p.json"))
    assert loaded == profile
    loaded.check_intensity(EngineConfig().features.intensity)
    with pytest.raises(ProfileError, match="other intensity settings"):  # one band instead of three
        loaded.check_intensity(IntensityConfig(band_edges=(0.0, 1.0)), tmp_path / "p.json")
    # a version-3 profile held one baseline per face band: measured otherwise, it is refused
    (tmp_path / "v3.json").write_text(json.dumps(profile.to_json() | {"version": 3}))
    with pytest.raises(ProfileError, match="version 3, expected 4"):
        load_profile(tmp_path / "v3.json")


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", "not valid JSON"),
        (json.dumps({"version": 99}), "version"),
        (json.dumps({"version": 1, "baselines": {"0": {"mu": 1.0, "sigma": 0.1}}}), "calibrate` again"),
        (json.dumps({"version": 4, "baselines": {}}), "views: Field required"),
    ],
)
def test_bad_profiles_are_refused_with_the_file_named(tmp_path, content, message):
    path = tmp_path / "p.json"
    path.write_text(content)
    with pytest.raises(ProfileError, match=message) as info:
        load_profile(path)
    assert str(path) in str(info.value)


@pytest.mark.slow
def test_the_views_of_a_frame_of_two_and_of_one(synth_root):
    frame = load_dataset(synth_root)[0].load_frame(1)
    detector = MediaPipeFaceDetector()
    assert detect_views(frame, detector).views == 2
    assert detect_views(frame[:, : frame.shape[1] // 2], detector).views == 1


def test_seam_is_found_where_two_images_meet():
    rng = np.random.default_rng(0)
    left = np.full((50, 47, 3), 40, np.uint8) + rng.integers(0, 3, (50, 47, 3), dtype=np.uint8)
    right = np.full((50, 53, 3), 200, np.uint8) + rng.integers(0, 3, (50, 53, 3), dtype=np.uint8)
    assert find_seam(np.concatenate([left, right], axis=1)) == 47
    assert find_seam(np.full((50, 100, 3), 128, np.uint8)) is None


@pytest.mark.slow
def test_a_short_training_run_lowers_the_loss_and_saves_a_loadable_checkpoint(synth_extraction, tmp_path):
    from mer_live.model.checkpoint import load_checkpoint, save_checkpoint
    from mer_live.model.evaluate import make_split
    from mer_live.model.train import TrainConfig, predict_sequences, train_model

    sequences, extraction = synth_extraction
    features = extraction.features
    split = make_split(sequences, test_fraction=0.34, val_fraction=0.5, seed=0)
    assert not {s.subject for s in split.test} & {s.subject for s in split.train + split.val}
    model, history = train_model(
        split.train, split.val, features, config=TrainConfig(epochs=3, lr=1e-3), progress=False
    )
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    save_checkpoint(tmp_path / "m.pt", model, labels=["Negative", "Positive", "Repression", "Surprise", "Others"])
    loaded, _ = load_checkpoint(tmp_path / "m.pt")
    assert np.allclose(predict_sequences(model, split.test, features), predict_sequences(loaded, split.test, features))


def test_device_auto_takes_what_torch_sees_and_cuda_without_a_gpu_is_refused():
    from mer_live.model.train import choose_device

    assert choose_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert choose_device("auto").type == "cpu"
        with pytest.raises(ValueError, match="no CUDA GPU"):
            choose_device("cuda")


@pytest.mark.slow
def test_a_cosine_schedule_brings_the_rate_down_over_the_epochs(synth_extraction, tmp_path):
    from mer_live.model.config import TrainConfig
    from mer_live.model.evaluate import make_split
    from mer_live.model.train import train_model

    sequences, extraction = synth_extraction
    features = extraction.features
    split = make_split(sequences, test_fraction=0.34, val_fraction=0.5, seed=0)
    _, history = train_model(
        split.train,
        split.val,
        features,
        progress=False,
        config=TrainConfig(epochs=4, lr=1e-3, schedule="cosine", patience=4),
    )
    rates = [h["lr"] for h in history]
    assert rates[0] == pytest.approx(1e-3) and all(a > b for a, b in zip(rates, rates[1:]))
    assert rates[-1] == pytest.approx(1e-3 * (1 + np.cos(np.pi * 3 / 4)) / 2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (mixed-precision path)")
def test_training_on_a_gpu_in_mixed_precision_lowers_the_loss(synth_extraction, tmp_path):
    from mer_live.model.config import TrainConfig
    from mer_live.model.evaluate import make_split
    from mer_live.model.train import train_model

    sequences, extraction = synth_extraction
    features = extraction.features
    split = make_split(sequences, test_fraction=0.34, val_fraction=0.5, seed=0)
    model, history = train_model(
        split.train, split.val, features, config=TrainConfig(epochs=3), device=torch.device("cuda"), progress=False
    )
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert next(model.parameters()).device.type == "cuda"
