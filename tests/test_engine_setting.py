"""One engine setting for the command line and the dashboard (calibration.setting): the same file,
profile and options give the same EngineConfig, in the stated order."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from mer_live.calibration.profile import Profile, ProfileError
from mer_live.calibration.setting import base_setting, engine_setting, merged, setting_file_defaults
from mer_live.cli.live import _profile_and_config, dashboard_setting
from mer_live.cli.parser import build_parser
from mer_live.stream.intensity import IntensityConfig
from mer_live.stream.pipeline import EngineConfig
from mer_live.stream.settings import ConfigError, config_from_json
from mer_live.stream.spotter import Baseline
from mer_live.ui.session import Session


def profile(**changes) -> Profile:
    fields = dict(
        views=2,
        split_x=300,
        fps=30.0,
        baselines={(v, r): Baseline(0.1, 0.02) for v in (0, 1) for r in range(6)},
        k_high=5.5,
        k_low=2.8,
        decision_threshold=0.25,
    )
    return Profile(**(fields | changes))


@pytest.fixture
def files(tmp_path):
    config = tmp_path / "engine.json"
    config.write_text(json.dumps({"decision_threshold": 0.15, "spotter": {"k_high": 4.5, "gap_s": 0.2}}))
    return config, profile().save(tmp_path / "profile.json")


def both(tmp_path, options: list[str], views: int) -> tuple[EngineConfig, EngineConfig]:
    """The setting `mer stream` runs with and the one the dashboard starts a run on `views` with."""
    parser = build_parser()
    stream_args = parser.parse_args(["stream", "synthetic:1", "--views", str(views), *options])
    ui_args = parser.parse_args(["ui", *options])
    _, from_cli = _profile_and_config(stream_args)
    session = Session(
        tmp_path / "session",
        checkpoint=None,
        profile=ui_args.profile,
        detector_factory=lambda: None,
        **dashboard_setting(ui_args),
    )
    return replace(from_cli, realtime=False), session._config(views)


def test_the_command_line_and_the_dashboard_build_the_same_setting(tmp_path, files):
    config, profile_path = files
    common = ["--config", str(config), "--profile", str(profile_path), "--k-low", "2.0"]
    from_cli, from_ui = both(tmp_path, common, views=2)
    assert from_cli == from_ui
    assert from_cli.spotter.gap_s == 0.2  # the file's
    assert from_cli.spotter.k_high == 5.5 and from_cli.decision_threshold == 0.25  # the profile beats the file
    assert from_cli.spotter.k_low == 2.0  # an option beats the profile
    assert from_cli.split_x == 300  # the views agree with the profile's: its seam
    from_cli, from_ui = both(tmp_path, [*common, "--threshold", "0.12"], views=1)
    assert from_cli == from_ui
    assert from_cli.decision_threshold == 0.12 and from_cli.views == 1 and from_cli.split_x is None


def test_without_a_profile_the_file_and_the_options_make_the_setting(tmp_path, files):
    config, _ = files
    from_cli, from_ui = both(tmp_path, ["--config", str(config), "--k-high", "6"], views=2)
    assert from_cli == from_ui
    assert (from_cli.spotter.k_high, from_cli.spotter.gap_s, from_cli.decision_threshold) == (6.0, 0.2, 0.15)


def test_the_order_later_wins():
    base = EngineConfig(decision_threshold=0.15)
    setting = engine_setting(base, profile=profile(), options={"views": 2, "spotter": {"k_high": 7.0}}, threshold=0.3)
    assert (setting.spotter.k_high, setting.spotter.k_low) == (7.0, 2.8)
    assert setting.decision_threshold == 0.3 and setting.split_x == 300
    assert engine_setting(base, profile=profile()).views == 2  # the profile's views where none are given
    assert engine_setting(base).decision_threshold == 0.15


def test_a_profile_measured_otherwise_is_refused_naming_it():
    other = profile(intensity=IntensityConfig(band_edges=(0.0, 0.5, 1.0)))
    with pytest.raises(ProfileError, match="p.json"):
        engine_setting(profile=other, profile_name="p.json")


def test_the_dashboard_takes_a_launch_threshold_outside_its_slider(tmp_path):
    session = Session(tmp_path / "s", checkpoint=None, detector_factory=lambda: None, threshold=0.4)
    assert session.threshold == 0.4 and session.threshold_range == (0.10, 0.4)
    assert "0.35" in session.set_threshold(0.35)
    with pytest.raises(ValueError, match="0.1–0.4"):
        session.set_threshold(0.45)


def test_merged_changes_only_the_fields_named():
    assert merged({"a": 1, "n": {"x": 1, "y": 2}}, {"n": {"y": 3}, "b": None}) == {
        "a": 1,
        "n": {"x": 1, "y": 3},
        "b": None,
    }


@pytest.mark.parametrize(
    "data, named",
    [
        ({"spotter": {"fps": 25}}, "spotter.fps: the spotter counts time in the source's own frame rate"),
        ({"features": {"n_views": 1}}, "features.n_views: the live engine's views are `views`"),
        ({"features": {"apex_intensity": "paper"}}, "features.apex_intensity: the live apex is always"),
        ({"features": {"release_flow": "apex_to_offset"}}, "features.release_flow: the live engine computes the"),
    ],
)
def test_a_setting_file_naming_what_the_live_engine_takes_elsewhere_is_refused(tmp_path, data, named):
    path = tmp_path / "engine.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=f"^{re.escape(str(path))}: {re.escape(named)}"):
        base_setting(path)
    assert "fps" not in setting_file_defaults()["spotter"]  # what `mer config` prints loads back
    assert config_from_json(EngineConfig, setting_file_defaults()) == EngineConfig()
