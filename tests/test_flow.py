"""Flow, intensity and apex (paper eq. 1–3) and the view split, on synthetic images."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from stream.flow import (affine_fit, apex_index, farneback, intensity, intensity_curve, magnitude,
                         remove_affine_motion)
from stream.views import split_views


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
    from stream.face import Box
    from stream.intensity import FaceIntensity, IntensityConfig

    image = textured(size=160)
    brighter = cv2.convertScaleAbs(image, alpha=1.05)
    window = Box(0, 0, 160, 160)

    def measured(compensate: bool) -> float:
        face = FaceIntensity(IntensityConfig(gain_compensation=compensate, eye_mask=False), window, window, 160, 0.0)
        return float(face.measure(image, brighter).sum())

    assert measured(True) < 0.2 * measured(False)


@pytest.mark.parametrize("release_flow, sign", [("offset_to_apex", 1), ("apex_to_offset", -1)])
def test_release_phase_direction(release_flow, sign):
    """An expression that returns to the onset face: read offset→apex the release shows the rise's
    motion with the same sign; the paper's apex→offset shows it reversed."""
    from stream.features import PreprocessConfig, phase_features

    onset = textured(size=64)
    apex = shifted(onset, 1.5)
    phases = phase_features(onset, apex, onset.copy(), PreprocessConfig(size=64, release_flow=release_flow))
    rise_u, release_u = (np.median(p[0, 16:-16, 16:-16]) for p in phases)
    assert rise_u > 0.5 and release_u == pytest.approx(sign * rise_u, abs=0.1)


def test_face_bands_add_up_to_eq3_and_a_local_motion_lifts_its_own_band():
    """A 1-px shift of the mouth area only: the bottom band holds most of the motion, the band sums
    equal eq. 3 over the face, and the whole-face sum dilutes it with the still bands."""
    from stream.face import Box
    from stream.intensity import FaceIntensity, IntensityConfig

    config = IntensityConfig(eye_mask=False, motion_compensation="none", gain_compensation=False)
    image = textured(size=160)
    moved = image.copy()
    moved[120:, :] = shifted(image, 1.0)[120:, :]
    window = Box(0, 0, 160, 160)
    face = FaceIntensity(config, window, window, 160, 0.0)
    bands = face.measure(image, moved)
    assert bands.shape == (len(config.band_edges) - 1,)
    assert bands.sum() == pytest.approx(intensity(farneback(image, moved, config.flow)), rel=1e-4)
    assert bands[-1] > 0.8 * bands.sum()
    assert face.curve([image, moved])[1] == pytest.approx(bands.sum(), rel=1e-6)


@pytest.mark.parametrize("band_edges", [(0.0,), (0.1, 1.0), (0.0, 0.5, 0.5, 1.0), (0.0, 0.6, 0.4, 1.0), (0.0, 0.001, 1.0),
                                     (0.0, 0.999, 1.0)])
def test_bad_face_bands_are_refused(band_edges):
    from stream.intensity import IntensityConfig

    with pytest.raises(ValueError, match="band_edges"):
        IntensityConfig(band_edges=band_edges)


def face_photo(size=160) -> np.ndarray:
    """A real face (skimage's astronaut), gray: flat skin where Farneback smooths motion, unlike noise."""
    from skimage.data import astronaut

    return cv2.resize(cv2.cvtColor(astronaut(), cv2.COLOR_RGB2GRAY)[30:250, 140:360], (size, size),
                      interpolation=cv2.INTER_AREA)


def rendered(image: np.ndarray, remap_2x) -> np.ndarray:
    """The image moved by `remap_2x(xs, ys)` → sampling maps at twice its size, then taken back down
    the way a camera samples a moving scene (every frame resampled alike)."""
    big = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    ys, xs = np.mgrid[0:big.shape[0], 0:big.shape[1]].astype(np.float32)
    map_x, map_y = remap_2x(xs, ys)
    moved = cv2.remap(big, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    return cv2.resize(moved, image.shape[::-1], interpolation=cv2.INTER_AREA)


def test_affine_fit_recovers_head_motion_and_leaves_a_local_motion():
    """A roll + zoom + shift field with a local bump on top: the fit returns the affine part (the
    bump is left out of the second fit) and the removal keeps the bump."""
    ys, xs = np.mgrid[0:64, 0:64].astype(np.float32)
    coefficients = np.array([[0.01, -0.008], [0.008, 0.01], [0.5, -0.3]], np.float32)   # (x, y, 1) → (u, v)
    flow = np.dstack([xs, ys, np.ones_like(xs)]) @ coefficients
    bump = np.exp(-((xs - 20) ** 2 + (ys - 40) ** 2) / (2 * 4.0 ** 2)).astype(np.float32)
    flow[..., 1] += 2.0 * bump
    assert affine_fit(flow)[:2] == pytest.approx(coefficients[:2], abs=1e-3)
    assert affine_fit(flow)[2] == pytest.approx(coefficients[2], abs=1e-2)
    residual = magnitude(remove_affine_motion(flow))
    assert residual[40, 20] == pytest.approx(2.0, abs=0.1)
    assert residual[5, 60] < 0.05


def test_detrended_apex_survives_a_steady_head_drift():
    """A local 1.5-px rise and fall (apex at frame 4 of 12) while the whole face drifts 0.4 px a
    frame: against the onset the drift grows past the expression and the argmax lands on the last
    frame; with the onset→offset motion taken out pro rata, the argmax is the apex."""
    from stream.face import Box
    from stream.intensity import FaceIntensity, IntensityConfig

    profile = [0, 0.3, 0.6, 0.85, 1.0, 0.8, 0.6, 0.45, 0.3, 0.15, 0.05, 0, 0]

    def frame(t: int, weight: float) -> np.ndarray:
        def remap(xs, ys):
            bump = np.exp(-((xs - 120) ** 2 + (ys - 220) ** 2) / (2 * 24.0 ** 2)).astype(np.float32)
            return xs - 2 * 0.4 * t, ys - 2 * 1.5 * weight * bump
        return rendered(face_photo(), remap)

    frames = [frame(t, p) for t, p in enumerate(profile)]
    config = IntensityConfig(eye_mask=False, motion_compensation="none")
    window = Box(0, 0, 160, 160)
    measure = FaceIntensity(config, window, window, 160, 0.0)
    assert apex_index(measure.curve(frames)) == len(frames) - 1
    detrended = measure.detrended_curve(frames)
    assert detrended[0] == detrended[-1] == 0
    assert apex_index(detrended) == 4
