"""Configs: one validation (errors name the field), one JSON path both ways, and the command line
built from them (`--config FILE.json`, options over it, `mer config`)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import ValidationError

from mer_live.calibration.profile import Profile, ProfileError
from mer_live.corpora.fourdme import DatasetInfo
from mer_live.model.config import TrainConfig
from mer_live.model.microattnet import MicroAttNetConfig
from mer_live.stream.features import PreprocessConfig
from mer_live.stream.flow import FarnebackParams
from mer_live.stream.intensity import IntensityConfig
from mer_live.stream.pipeline import EngineConfig
from mer_live.stream.settings import ConfigError, config_from_json, config_to_json, describe, load_config
from mer_live.stream.spotter import Baseline, SpotterConfig
from mer_live.stream.tracking import TrackingConfig
from mer_live.synth.inject import InjectConfig
from mer_live.synth.plan import SynthConfig

REPO = Path(__file__).resolve().parents[1]

CONFIGS = [  # every config class, and a value of it other than the defaults
    SpotterConfig(k_high=6.0, neighbours=50, moving_px=0.8),
    TrackingConfig(drift_bound=0.3),
    FarnebackParams(levels=4, poly_n=7, poly_sigma=1.5),
    IntensityConfig(band_edges=(0.0, 1.0), motion_compensation="none", eye_mask=False),
    PreprocessConfig(n_views=1, release_flow="apex_to_offset", intensity=IntensityConfig(size=128)),
    EngineConfig(
        views=None, ring_s=8.0, spotter=SpotterConfig(max_event_s=6.0), features=PreprocessConfig(cropped=True)
    ),
    TrainConfig(lr=1e-4, focal_gamma=2.0, schedule="cosine", augment=False),
    MicroAttNetConfig(fc_hidden=64, se_block=False),
    SynthConfig(fps=30, view_width=320, view_height=400, macro=False),
    InjectConfig(micro_amp_px=(1.0, 2.0), macro_p=0.3),
    DatasetInfo(views=1, fps={"s01/s01_1": 30.0}),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: type(c).__name__)
def test_every_config_goes_to_json_and_back_unchanged(config):
    for value in (type(config)(), config):
        data = config_to_json(value)
        assert json.loads(json.dumps(data)) == data  # plain JSON values only
        assert config_from_json(type(value), data) == value
    assert config_from_json(type(config), {}) == type(config)()  # a field left out takes its default


def test_a_profile_goes_to_its_file_format_and_back():
    profile = Profile(
        views=2,
        split_x=310,
        fps=60.0,
        baselines={(v, b): Baseline(1.0 + b, 0.1) for v in (0, 1) for b in (0, 1)},
        k_high=4.5,
        k_low=1.7,
        notes=["dim light"],
        intensity=IntensityConfig(band_edges=(0.0, 0.5, 1.0)),
    )
    assert Profile.from_json(json.loads(json.dumps(profile.to_json()))) == profile
    bad = profile.to_json() | {"k_low": 5.0}
    with pytest.raises(ProfileError, match="^p.json: needs k_low < k_high"):
        Profile.from_json(bad, "p.json")


@pytest.mark.parametrize(
    "cls, data, named",
    [
        (SpotterConfig, {"fps": 0}, "fps: Input should be greater than 0 (got 0)"),
        (SpotterConfig, {"k_high": 2, "k_low": 3}, "k_low < k_high"),
        (SpotterConfig, {"min_event_s": 0.6}, "min_event_s ≤ max_micro_s"),
        (SpotterConfig, {"edge_z": 3.0}, "edge_z"),
        (SpotterConfig, {"neighbours": 1.5}, "neighbours: Input should be a valid integer"),
        (SpotterConfig, {"k_hihg": 5}, "k_hihg: Unexpected keyword argument"),
        (TrackingConfig, {"drift_bound": 1.0}, "drift_bound"),
        (FarnebackParams, {"pyr_scale": 1.5}, "pyr_scale"),
        (IntensityConfig, {"motion_compensation": "median"}, "motion_compensation: Input should be 'affine' or 'none'"),
        (IntensityConfig, {"band_edges": [0.0, 0.6, 0.4, 1.0]}, "band_edges must rise"),
        (IntensityConfig, {"eye_mask": 1}, "eye_mask: Input should be a valid boolean"),
        (PreprocessConfig, {"n_views": 3}, "n_views: Input should be 1 or 2"),
        (PreprocessConfig, {"intensity": {"size": 8}}, "intensity.size"),
        (EngineConfig, {"spotter": {"k_low": -1}}, "spotter.k_low: Input should be greater than 0"),
        (EngineConfig, {"features": {"flow": {"levels": 0}}}, "features.flow.levels"),
        (EngineConfig, {"ring_s": 3.0}, "ring_s (3.0) must exceed spotter.max_event_s + features.intensity.lag_s"),
        (EngineConfig, {"decision_threshold": 1.5}, "decision_threshold"),
        (EngineConfig, {"views": "two"}, "views"),
        (TrainConfig, {"schedule": "step"}, "schedule: Input should be 'none', 'cosine' or 'plateau'"),
        (TrainConfig, {"epochs": 0}, "epochs"),
        (MicroAttNetConfig, {"input_size": 100}, "divisible"),
        (MicroAttNetConfig, {"block1_channels": 16.0}, "block1_channels"),
        (SynthConfig, {"noise": "yes"}, "noise"),
        (InjectConfig, {"micro_s": [0.5, 0.1]}, "micro_s must be (low, high) with low ≤ high"),
        (DatasetInfo, {"fps": {"a/b": float("nan")}}, "fps.a/b: Input should be a finite number"),
    ],
)
def test_a_bad_config_is_refused_in_one_line_naming_the_field(cls, data, named):
    with pytest.raises(ConfigError) as error:
        config_from_json(cls, data, "x.json")
    message = str(error.value)
    assert message.startswith("x.json: ") and named in message and "\n" not in message
    with pytest.raises(ValidationError) as direct:  # built in code: pydantic's error, a ValueError too
        cls(**data)
    assert isinstance(direct.value, ValueError) and named in describe(direct.value)


def test_a_config_file_names_itself_and_the_field(tmp_path):
    path = tmp_path / "engine.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match=f"^{path}: not a readable JSON file"):
        load_config(EngineConfig, path)
    path.write_text(json.dumps({"spotter": {"k_high": "high"}}))
    with pytest.raises(ConfigError, match=f"^{path}: spotter.k_high: Input should be a valid number"):
        load_config(EngineConfig, path)


def _engine_config(*argv):
    from mer_live.cli.live import _engine_config
    from mer_live.cli.parser import build_parser

    return _engine_config(build_parser().parse_args(["stream", "clip.mp4", *map(str, argv)]))


def test_options_override_the_config_file_and_leave_the_rest_as_it_says(tmp_path):
    path = tmp_path / "engine.json"
    path.write_text(
        json.dumps(
            {"views": 1, "realtime": True, "ring_s": 9.0, "spotter": {"k_high": 6.0, "k_low": 2.0, "neighbours": 50}}
        )
    )
    assert _engine_config() == EngineConfig()
    from_file = _engine_config("--config", path)
    assert (from_file.views, from_file.realtime, from_file.ring_s) == (1, True, 9.0)
    assert (from_file.spotter.k_high, from_file.spotter.k_low, from_file.spotter.neighbours) == (6.0, 2.0, 50)
    both = _engine_config("--config", path, "--k-high", 7, "--views", 2, "--max-speed", "--threshold", 0.3, "--cropped")
    assert both == replace(
        from_file,
        views=2,
        realtime=False,
        decision_threshold=0.3,
        spotter=replace(from_file.spotter, k_high=7.0),
        features=replace(from_file.features, cropped=True),
    )
    with pytest.raises(ConfigError, match="^the engine settings: spotter: the hysteresis needs k_low < k_high"):
        _engine_config("--config", path, "--k-high", 1.5)


def test_train_options_are_the_train_config_fields(tmp_path):
    from mer_live.cli.offline import _train_config
    from mer_live.cli.parser import build_parser

    parser = build_parser()
    read = lambda *flags: _train_config(parser.parse_args(["train", str(REPO), "--out", "m.pt", *flags]))  # noqa: E731
    assert read() == TrainConfig()
    assert read(
        "--epochs",
        "3",
        "--lr",
        "1e-4",
        "--focal-gamma",
        "2",
        "--schedule",
        "plateau",
        "--batch-size",
        "8",
        "--seed",
        "5",
        "--no-augment",
    ) == TrainConfig(epochs=3, lr=1e-4, focal_gamma=2.0, schedule="plateau", batch_size=8, seed=5, augment=False)
    with pytest.raises(ConfigError, match="^the command line: epochs: Input should be greater than or equal to 1"):
        read("--epochs", "0")
    path = tmp_path / "train.json"  # a file, and options over it
    path.write_text(json.dumps({"lr": 1e-4, "schedule": "cosine", "epochs": 7}))
    assert read("--config", str(path), "--epochs", "3") == TrainConfig(lr=1e-4, schedule="cosine", epochs=3)


@pytest.mark.parametrize("which, cls", [("engine", EngineConfig), ("train", TrainConfig)])
def test_mer_config_prints_the_defaults_as_a_file_that_loads_back(tmp_path, which, cls):
    result = subprocess.run(
        [sys.executable, "-m", "mer_live", "config", which], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert result.returncode == 0, result.stderr
    path = tmp_path / "config.json"
    path.write_text(result.stdout)
    assert load_config(cls, path) == cls()
    if cls is EngineConfig:
        assert _engine_config("--config", path) == EngineConfig()
