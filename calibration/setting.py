"""The live engine's setting, built one way for the command line and the dashboard.

Later wins, in this order:
  1. the defaults (EngineConfig), or a `--config` file in their place;
  2. a calibration profile: its views, the seam between them, its k_high and k_low and its decision
     threshold (the seam only where the views in the end are the profile's: a seam found on two
     views says nothing about one);
  3. the options given: command-line options, or the dashboard's controls (views per start, the
     onset level slider); a source that states its views (a dataset's dataset.json) counts as given;
  4. `--threshold`.
A profile measured with other intensity settings than the result's is refused (Profile.check_intensity).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mer_live.calibration.profile import Profile
from mer_live.stream.pipeline import EngineConfig
from mer_live.stream.settings import ConfigError, config_from_json, config_to_json, read_json


def merged(data: dict, changes: Mapping[str, Any]) -> dict:
    """`data` (a config's JSON) with `changes` laid over it; a nested mapping changes only the fields it names."""
    out = dict(data)
    for key, value in changes.items():
        out[key] = merged(out.get(key) or {}, value) if isinstance(value, Mapping) else value
    return out


# what an engine setting file may not name, and why: the live engine takes these from elsewhere
NOT_IN_A_SETTING_FILE = {
    ("spotter", "fps"): "the spotter counts time in the source's own frame rate (a recording's: --fps)",
    ("features", "n_views"): "the live engine's views are `views` (--views); n_views is for extraction",
    ("features", "apex_intensity"): "the live apex is always the detrended running intensity's; it is for extraction",
    ("features", "release_flow"): "the live engine computes the release phase the way its model was trained",
}


def base_setting(config_file: str | Path | None) -> EngineConfig:
    """Step 1: the `--config` file's setting, or the defaults without one; a file naming a field the
    live engine takes from elsewhere is refused, naming it."""
    if not config_file:
        return EngineConfig()
    data = read_json(config_file)
    setting = config_from_json(EngineConfig, data, str(config_file))  # a file that is no setting is refused first
    for (group, name), why in NOT_IN_A_SETTING_FILE.items():
        if name in (data.get(group) or {}):
            raise ConfigError(f"{config_file}: {group}.{name}: {why}; remove it")
    return setting


def setting_file_defaults() -> dict:
    """The defaults as a setting file (`mer config`): without the fields a file may not name."""
    data = config_to_json(EngineConfig())
    for group, name in NOT_IN_A_SETTING_FILE:
        del data[group][name]
    return data


def engine_setting(
    base: EngineConfig | None = None,
    *,
    profile: Profile | None = None,
    options: Mapping[str, Any] | None = None,
    threshold: float | None = None,
    profile_name: str | Path = "",
) -> EngineConfig:
    """The setting from `base` (step 1), `profile`, `options` (EngineConfig fields as JSON, nested
    configs as mappings of the fields given: {"views": 1, "spotter": {"k_high": 6.0}}) and
    `threshold`, in the order above. `profile_name` names the profile in a refusal."""
    data = config_to_json(base or EngineConfig())
    if profile is not None:
        data = merged(
            data,
            {
                "views": profile.views,
                "decision_threshold": profile.decision_threshold,
                "spotter": {"k_high": profile.k_high, "k_low": profile.k_low},
            },
        )
    data = merged(data, options or {})
    if profile is not None:
        data["split_x"] = profile.split_x if data["views"] == profile.views else None
    if threshold is not None:
        data["decision_threshold"] = threshold
    setting = config_from_json(EngineConfig, data, "the engine settings")
    if profile is not None:
        profile.check_intensity(setting.features.intensity, profile_name)
    return setting
