"""A calibration profile: what `mer calibrate` measured, loaded by `mer stream` and the dashboard."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from mer_live.stream.intensity import IntensityConfig
from mer_live.stream.settings import ConfigError, config_class, config_from_json, config_to_json
from mer_live.stream.spotter import Baseline, Channel

PROFILE_VERSION = 4  # 4: baselines per view and face region (band × side); 3 and before: per face band


class ProfileError(ValueError):
    """A profile file that cannot be used; the message names the file."""


@config_class
class Profile:
    views: Literal[1, 2]
    split_x: int | None
    fps: float = Field(gt=0, description="the frame rate the baselines were measured at")
    baselines: dict[Channel, Baseline] = Field(description="(view, face region) → neutral μ, σ of the running motion")
    k_high: float = Field(gt=0, description="the spotter's onset level derived from the neutral stretch")
    k_low: float = Field(gt=0, description="its offset level")
    decision_threshold: float = Field(0.2, gt=0, lt=1)
    neutral_max_z: float = Field(0.0, description="the largest score (strongest region's z) seen while neutral")
    rest_motion_px: float | None = Field(
        None,
        ge=0,
        description="the face's motion at rest while neutral (px at a 224-px face; stream.telemetry): above "
        "REST_MOTION_LIMIT_PX the camera or the face is too unsteady to show most micro-expressions",
    )
    source: str = ""
    seconds: float = 0.0
    notes: list[str] = Field(default_factory=list)
    intensity: IntensityConfig = Field(default_factory=IntensityConfig, description="how the baselines were measured")

    @model_validator(mode="after")
    def _ordered(self) -> Profile:
        if not self.k_low < self.k_high:
            raise ValueError(f"needs k_low < k_high, got {self.k_low}, {self.k_high}")
        return self

    def check_intensity(self, config: IntensityConfig, path: Path | str = "") -> None:
        """ProfileError unless the baselines were measured the way `config` measures (regions, eye mask,
        size, flow, lag): otherwise each region would be scored against another region's μ and σ."""
        if self.intensity != config:
            raise ProfileError(
                f"profile {path or self.source} was calibrated with other intensity settings "
                f"({config_to_json(self.intensity)}); run `mer calibrate` again"
            )

    def to_json(self) -> dict:
        """The file's content: baselines as a list per view, one {mu, sigma} per face region."""
        data = config_to_json(replace(self, baselines={}))
        views = sorted({view for view, _ in self.baselines})
        data["baselines"] = {
            str(v): [config_to_json(b) for (view, _), b in sorted(self.baselines.items()) if view == v] for v in views
        }
        data["version"] = PROFILE_VERSION
        return data

    @classmethod
    def from_json(cls, data: dict, where: str = "profile") -> Profile:
        """A profile from its file's content; ProfileError naming `where` and the field. Profiles of
        version 3 and before held one baseline per face band, measured otherwise: they are refused."""
        data = dict(data)
        version = data.pop("version", None)
        if version != PROFILE_VERSION:
            raise ProfileError(
                f"{where} has version {version!r}, expected {PROFILE_VERSION}: run `mer calibrate` again"
            )
        per_view = data.get("baselines")
        if isinstance(per_view, dict) and all(isinstance(regions, list) for regions in per_view.values()):
            data["baselines"] = {
                (view, region): b for view, regions in per_view.items() for region, b in enumerate(regions)
            }
        try:
            return config_from_json(cls, data, where)
        except ConfigError as exc:
            raise ProfileError(str(exc)) from None

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.write_text(json.dumps(self.to_json(), indent=2))
        except OSError as exc:  # a write's own error (a full disk) does not name the file
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        return path


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
    return Profile.from_json(data, f"profile {path}")
