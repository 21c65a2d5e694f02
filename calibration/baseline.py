"""Record a neutral baseline and derive the spotter's k_high / k_low from it.

The person sits still (neutral face, normal blinking) for N seconds. The running intensity of each
view and face band gives μ and σ; the largest score seen while neutral tells how far the noise
reaches, and the onset level is set with a safety factor above it (never below the default).
The face's motion at rest is kept too, with a note when it hides micro-expressions: a setup check.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import numpy as np

from mer_live.calibration.profile import Profile
from mer_live.stream.face import FaceDetector
from mer_live.stream.frames import Frame
from mer_live.stream.pipeline import EngineConfig, FramePipeline
from mer_live.stream.telemetry import rest_motion_note

SAFETY = 1.5  # k_high ≥ SAFETY × the largest neutral z (assumption)


def calibrate(
    frames: Iterable,
    seconds: float,
    config: EngineConfig,
    detector_factory: Callable[[], FaceDetector],
    source_name: str = "",
) -> Profile:
    """Run the live pipeline for `seconds` of recorded (or wall-clock, for cameras) time and build a profile."""
    pipeline = FramePipeline(config, detector_factory)
    zs: list[float] = []
    first_t = None
    started = time.perf_counter()
    try:
        for item in frames:
            if not isinstance(item, Frame):
                continue
            first_t = item.t_s if first_t is None else first_t
            pipeline.process(item)
            if pipeline.spotter.state.last_score is not None:
                zs.append(pipeline.spotter.state.last_score)
            if item.t_s - first_t >= seconds or time.perf_counter() - started > 10 * seconds + 30:
                break
    finally:
        pipeline.shutdown()
    baselines = pipeline.spotter.kept_baselines()
    if not baselines:
        raise ValueError(
            f"no face was tracked long enough in {source_name or 'the source'} to calibrate "
            f"({pipeline.stats.processed} frames, {pipeline.stats.no_face_frames} without a face)"
        )
    neutral_max = float(np.max(zs)) if zs else 0.0
    k_high = max(config.spotter.k_high, SAFETY * neutral_max)
    notes = [] if zs else ["no z-scores recorded: k_high and k_low are the defaults"]
    if k_high > config.spotter.k_high:
        notes.append(f"noisy neutral period: onset level raised to {k_high:.1f} σ")
    rest_motion = pipeline.stats.rest_motion_px
    if note := rest_motion_note(rest_motion):  # the setup check: can this camera and face show a micro-expression
        notes.append(note)
    return Profile(
        views=config.views,
        split_x=config.split_x,
        fps=config.spotter.fps,
        baselines=baselines,
        k_high=round(k_high, 3),
        k_low=round(k_high * config.spotter.k_low / config.spotter.k_high, 3),
        decision_threshold=config.decision_threshold,
        neutral_max_z=round(neutral_max, 3),
        rest_motion_px=rest_motion,
        source=source_name,
        seconds=seconds,
        notes=notes,
        intensity=config.features.intensity,
    )
