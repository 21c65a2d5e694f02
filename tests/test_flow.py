"""Flow, intensity and apex (paper eq. 1–3) and the view split, on synthetic images."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from mer_live.stream.flow import (
    affine_fit,
    apex_index,
    farneback,
    intensity,
    intensity_curve,
    magnitude,
    pixel_grid,
    repeats,
)
from mer_live.stream.views import split_views


def textured(size=112, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 255, (size, size), dtype=np.uint8), (0, 0), 2)


def shifted(image: np.ndarray, dx: float, dy: float = 0.0) -> np.ndarray:
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, matrix, image.shape[::-1], borderMode=cv2.BORDER_REFLECT)


@pytest.mark.parametrize("dx, dy", [(1.0, 0.0), (0.0, -1.5), (2.0, 1.0)])
def test_farneback_recovers_a_known_shift(dx, dy):
    image = textured()
    flow = farneback(image, shifted(image, dx, dy))
    inner = flow[16:-16, 16:-16].reshape(-1, 2)
    assert np.median(inner[:, 0]) == pytest.approx(dx, abs=0.15)
    assert np.median(inner[:, 1]) == pytest.approx(dy, abs=0.15)


def test_intensity_is_sum_of_magnitudes_and_respects_mask():
    flow = np.zeros((4, 4, 2), np.float32)
    flow[0, 0] = (3, 4)
    flow[1, 1] = (0, 2)
    assert magnitude(flow)[0, 0] == 5
    assert intensity(flow) == 7
    mask = np.zeros((4, 4), bool)
    mask[1, 1] = True
    assert intensity(flow, mask) == 2


def test_apex_is_the_frame_of_largest_motion():
    image = textured()
    profile = [0, 0.4, 1.0, 1.8, 1.2, 0.5, 0.1]
    frames = [shifted(image, p) for p in profile]
    curve = intensity_curve(frames)
    assert curve[0] == 0
    assert apex_index(curve) == 3


def test_flow_refuses_frames_of_different_shape():
    with pytest.raises(ValueError, match="one shape"):
        farneback(np.zeros((10, 10), np.uint8), np.zeros((10, 12), np.uint8))


@pytest.mark.parametrize("width, split_x, widths", [(10, None, [5, 5]), (11, None, [5, 6]), (10, 3, [3, 7])])
def test_split_views(width, split_x, widths):
    image = np.arange(4 * width * 3, dtype=np.uint8).reshape(4, width, 3)
    views = split_views(image, 2, split_x)
    assert [v.shape[1] for v in views] == widths
    assert np.array_equal(np.concatenate(views, axis=1), image)


@pytest.mark.parametrize("n_views, split_x, message", [(3, None, "n_views"), (2, 0, "outside"), (2, 10, "outside")])
def test_split_views_refuses_bad_arguments(n_views, split_x, message):
    with pytest.raises(ValueError, match=message):
        split_views(np.zeros((4, 10, 3), np.uint8), n_views, split_x)


def test_gain_compensation_keeps_a_lighting_change_from_reading_as_motion():
    """A 5 % brighter frame of a still face: Farneback sees motion, the compensated measure far less."""
    from mer_live.stream.face import Box
    from mer_live.stream.intensity import FaceIntensity, IntensityConfig

    image = textured(size=160)
    brighter = cv2.convertScaleAbs(image, alpha=1.05)
    window = Box(0, 0, 160, 160)

    def measured(compensate: bool) -> float:
        config = IntensityConfig(gain_compensation=compensate, eye_mask=False, motion_compensation="none", forehead=0)
        residual, _ = FaceIntensity(config, window, window, 160, 0.0).residual_flow(image, brighter)
        return float(magnitude(residual).sum())

    assert measured(True) < 0.2 * measured(False)


def test_a_repeated_picture_is_told_from_a_new_one():
    """Two decodes of one frame repeat each other; sensor noise or a 0.3-px shift make a new picture."""
    image = textured(size=160)
    noisy = np.clip(image + np.random.default_rng(0).normal(0, 2.0, image.shape), 0, 255).astype(np.uint8)
    assert repeats(image, image.copy())
    assert not repeats(image, noisy) and not repeats(image, shifted(image, 0.3))
    assert not repeats(image, image[:, :-1])


@pytest.mark.parametrize("release_flow, sign", [("offset_to_apex", 1), ("apex_to_offset", -1)])
def test_release_phase_direction(release_flow, sign):
    """An expression that returns to the onset face: read offset→apex the release shows the rise's
    motion with the same sign; the paper's apex→offset shows it reversed."""
    from mer_live.stream.features import PreprocessConfig, phase_features

    onset = textured(size=64)
    apex = shifted(onset, 1.5)
    phases = phase_features(onset, apex, onset.copy(), PreprocessConfig(size=64, release_flow=release_flow))
    rise_u, release_u = (np.median(p[0, 16:-16, 16:-16]) for p in phases)
    assert rise_u > 0.5 and release_u == pytest.approx(sign * rise_u, abs=0.1)


def test_a_local_motion_lifts_its_own_region_and_head_motion_none():
    """A 1-px shift of the lower right quarter only: its region (mouth band, right column) holds the
    displacement, the others none; a whole-face shift of 2 px is head motion, and leaves the regions
    near zero once the affine fit takes it out."""
    from mer_live.stream.face import Box
    from mer_live.stream.intensity import FaceIntensity, IntensityConfig

    config = IntensityConfig(eye_mask=False, gain_compensation=False, forehead=0)
    image = textured(size=160)
    moved = image.copy()
    moved[120:, 80:] = shifted(image, 1.0)[120:, 80:]
    window = Box(0, 0, 160, 160)
    face = FaceIntensity(config, window, window, 160, 0.0)
    local = FaceIntensity(replace(config, motion_compensation="none"), window, window, 160, 0.0).motion(image, moved)
    assert local.regions.shape == (6,) and int(np.argmax(local.regions)) == 5
    assert local.vectors[5, 0] > 0.4 and local.regions[:4].max() < 0.05
    head = face.motion(image, shifted(image, 2.0))
    assert head.head == pytest.approx(2.0, abs=0.3) and head.regions.max() < 0.1


def test_the_measured_area_reaches_above_the_face_box_for_the_brows():
    """The face box ends at the brows: the area measured starts `forehead` of its height above it,
    within the crop's margin."""
    from mer_live.stream.face import Box
    from mer_live.stream.intensity import FaceIntensity, IntensityConfig, face_slice

    crop = Box(0, 0, 224, 224)
    offset, side = face_slice(224, 0.2)
    measure = FaceIntensity(IntensityConfig(eye_mask=False), crop, crop, 224, 0.2)
    assert measure.rows == (offset - round(0.2 * side), offset + side) and measure.cols == (offset, offset + side)
    gray = np.arange(224 * 224, dtype=np.uint32).reshape(224, 224) % 251
    assert measure.face(gray.astype(np.uint8)).shape == (160, 160)
    wide = FaceIntensity(IntensityConfig(eye_mask=False, forehead=0.5), crop, crop, 224, 0.2)
    assert wide.rows[0] == 0  # no more than the margin holds


@pytest.mark.parametrize(
    "band_edges", [(0.0,), (0.1, 1.0), (0.0, 0.5, 0.5, 1.0), (0.0, 0.6, 0.4, 1.0), (0.0, 0.001, 1.0), (0.0, 0.999, 1.0)]
)
def test_bad_face_bands_are_refused(band_edges):
    from mer_live.stream.intensity import IntensityConfig

    with pytest.raises(ValueError, match="band_edges"):
        IntensityConfig(band_edges=band_edges)


def face_photo(size=160) -> np.ndarray:
    """A real face (the shipped photograph), gray: flat skin where Farneback smooths motion, unlike noise."""
    from mer_live.synth.faces import shipped_photo

    return cv2.resize(
        cv2.cvtColor(shipped_photo(), cv2.COLOR_RGB2GRAY)[30:250, 140:360], (size, size), interpolation=cv2.INTER_AREA
    )


def rendered(image: np.ndarray, remap_2x) -> np.ndarray:
    """The image moved by `remap_2x(xs, ys)` → sampling maps at twice its size, then taken back down
    the way a camera samples a moving scene (every frame resampled alike)."""
    big = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    ys, xs = np.mgrid[0 : big.shape[0], 0 : big.shape[1]].astype(np.float32)
    map_x, map_y = remap_2x(xs, ys)
    moved = cv2.remap(big, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    return cv2.resize(moved, image.shape[::-1], interpolation=cv2.INTER_AREA)


def test_affine_fit_recovers_head_motion_and_leaves_a_local_motion():
    """A roll + zoom + shift field with a local bump on top: the fit returns the affine part (the
    bump is left out of the second fit) and the removal keeps the bump."""
    ys, xs = np.mgrid[0:64, 0:64].astype(np.float32)
    coefficients = np.array([[0.01, -0.008], [0.008, 0.01], [0.5, -0.3]], np.float32)  # (x, y, 1) → (u, v)
    flow = np.dstack([xs, ys, np.ones_like(xs)]) @ coefficients
    bump = np.exp(-((xs - 20) ** 2 + (ys - 40) ** 2) / (2 * 4.0**2)).astype(np.float32)
    flow[..., 1] += 2.0 * bump
    assert affine_fit(flow)[:2] == pytest.approx(coefficients[:2], abs=1e-3)
    assert affine_fit(flow)[2] == pytest.approx(coefficients[2], abs=1e-2)
    residual = magnitude(flow - pixel_grid(64, 64) @ affine_fit(flow))
    assert residual[40, 20] == pytest.approx(2.0, abs=0.1)
    assert residual[5, 60] < 0.05


def test_detrended_apex_survives_a_steady_head_drift():
    """A local 1.5-px rise and fall (apex at frame 4 of 12) while the whole face drifts 0.4 px a
    frame: against the onset the drift grows past the expression and the argmax lands on the last
    frame; with the onset→offset motion taken out pro rata (and the apex prior), the argmax is the apex."""
    from mer_live.stream.face import Box
    from mer_live.stream.intensity import FaceIntensity, IntensityConfig

    profile = [0, 0.3, 0.6, 0.85, 1.0, 0.8, 0.6, 0.45, 0.3, 0.15, 0.05, 0, 0]

    def frame(t: int, weight: float) -> np.ndarray:
        def remap(xs, ys):
            bump = np.exp(-((xs - 120) ** 2 + (ys - 220) ** 2) / (2 * 24.0**2)).astype(np.float32)
            return xs - 2 * 0.4 * t, ys - 2 * 1.5 * weight * bump

        return rendered(face_photo(), remap)

    frames = [frame(t, p) for t, p in enumerate(profile)]
    config = IntensityConfig(eye_mask=False, motion_compensation="none", forehead=0)
    window = Box(0, 0, 160, 160)
    measure = FaceIntensity(config, window, window, 160, 0.0)
    assert apex_index(measure.displacement(frames, detrend=False).max(axis=1)) == len(frames) - 1
    detrended = measure.apex_curve(frames)
    assert detrended[0] == detrended[-1] == 0
    assert apex_index(detrended) == 4


def test_the_apex_prior_weights_the_clip_where_apexes_fall():
    from mer_live.stream.intensity import apex_prior

    weights = apex_prior(21, (0.35, 0.2))
    assert int(np.argmax(weights)) == 7 and weights[20] < weights[0] < weights[7]  # the rise is the shorter side
    assert np.array_equal(apex_prior(21, None), np.ones(21))
