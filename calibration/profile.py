"""A calibration profile: what `mer calibrate` measured, loaded by `mer stream` and the dashboard."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from stream.intensity import IntensityConfig
from stream.spotter import Baseline, Channel

PROFILE_VERSION = 3     # 3: the intensity settings name the bands `band_edges`; 2: baselines per view and face band (1: per view)


class ProfileError(ValueError):
    """A profile file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class Profile:
    views: int
    split_x: int | None
    fps: float
    baselines: dict[Channel, Baseline]      # (view, face band) → neutral μ, σ of the running intensity
    k_high: float
    k_low: float
    decision_threshold: float = 0.2
    neutral_max_z: float = 0.0              # the largest score (strongest band's z) seen while neutral
    source: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    intensity: dict = field(default_factory=dict)   # the IntensityConfig the baselines were measured with

    def check_intensity(self, config: IntensityConfig, path: Path | str = "") -> None:
        """ProfileError unless the baselines were measured the way `config` measures (bands, eye mask,
        size, flow): otherwise each band would be scored against another band's μ and σ."""
        if self.intensity != intensity_settings(config):
            raise ProfileError(f"profile {path or self.source} was calibrated with other intensity settings "
                               f"({self.intensity}); run `mer calibrate` again")

    def to_json(self) -> dict:
        data = asdict(self)
        views = sorted({view for view, _ in self.baselines})
        data["baselines"] = {str(v): [asdict(b) for (view, _), b in sorted(self.baselines.items()) if view == v]
                             for v in views}
        data["version"] = PROFILE_VERSION
        return data

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2))
        return path


def intensity_settings(config: IntensityConfig) -> dict:
    """`config` as it reads back from a profile's JSON (tuples become lists)."""
    return json.loads(json.dumps(asdict(config)))


def load_profile(path: Path) -> Profile:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ProfileError(f"profile does not exist: {path}") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"profile {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"profile {path} is not a JSON object (it holds a {type(data).__name__})")
    if data.get("version") == 2 and isinstance(data.get("intensity"), dict) and "regions" in data["intensity"]:
        data["intensity"]["band_edges"] = data["intensity"].pop("regions")   # the one change from 2 to 3
        data["version"] = PROFILE_VERSION
    if data.get("version") != PROFILE_VERSION:
        raise ProfileError(f"profile {path} has version {data.get('version')!r}, expected {PROFILE_VERSION}: "
                           "run `mer calibrate` again")
    try:
        baselines = {(int(v), band): Baseline(float(b["mu"]), float(b["sigma"]))
                     for v, per_band in data.pop("baselines").items() for band, b in enumerate(per_band)}
        data.pop("version")
        profile = Profile(baselines=baselines, **data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProfileError(f"profile {path} is missing or has a bad field: {exc}") from None
    if not 0 < profile.k_low < profile.k_high:
        raise ProfileError(f"profile {path}: needs 0 < k_low < k_high, got {profile.k_low}, {profile.k_high}")
    return profile
