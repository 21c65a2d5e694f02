"""The spotter state machine on synthetic intensity series (no images): exact onsets, apexes, offsets."""
from __future__ import annotations

import numpy as np
import pytest

from stream.spotter import Baseline, Spotter, SpotterOptions

FPS = 60


def noise(n: int, seed: int = 0, mu: float = 100.0, sigma: float = 2.0) -> np.ndarray:
    return mu + sigma * np.random.default_rng(seed).standard_normal(n)


def bump(n: int, start: int, rise: int, fall: int, height: float) -> np.ndarray:
    """0 before `start`, a linear rise to `height` over `rise` frames, a linear fall over `fall` frames."""
    out = np.zeros(n)
    out[start:start + rise + 1] = np.linspace(0, height, rise + 1)
    out[start + rise:start + rise + fall + 1] = np.linspace(height, 0, fall + 1)
    return out


def run(series_by_view: dict[int, np.ndarray], options=SpotterOptions(fps=FPS), first_frame: int = 1, **kwargs):
    spotter = Spotter(options, **kwargs)
    n = len(next(iter(series_by_view.values())))
    spots = []
    for i in range(n):
        spot = spotter.update(first_frame + i, {v: float(s[i]) for v, s in series_by_view.items()})
        if spot:
            spots.append(spot)
    closing = spotter.close(first_frame + n - 1)
    return spots + ([closing] if closing else []), spotter


def test_one_micro_expression_gives_one_spot_with_its_apex():
    n = 300
    signal = noise(n) + bump(n, start=150, rise=8, fall=10, height=200)
    spots, _ = run({0: signal})
    assert len(spots) == 1
    (spot,) = spots
    assert spot.kind == "micro"
    assert spot.apex_frame_by_view[0] == 1 + 158          # frame numbers start at 1
    assert 150 <= spot.onset_frame <= 153
    assert 166 <= spot.offset_frame <= 170


def test_two_views_give_apex_per_view_and_combined_apex_from_the_stronger():
    n = 300
    left = noise(n, 1) + bump(n, 150, 8, 10, 120)
    right = noise(n, 2) + bump(n, 151, 9, 10, 300)
    (spot,), _ = run({0: left, 1: right})
    assert spot.apex_frame_by_view == {0: 159, 1: 161}
    assert spot.apex_frame == 161


def test_long_event_is_macro():
    n = 400
    signal = noise(n) + bump(n, 120, 30, 40, 400)     # 70 frames ≈ 1.2 s
    (spot,), _ = run({0: signal})
    assert spot.kind == "macro"


def test_noise_alone_never_fires():
    spots, spotter = run({0: noise(3000, 5)})
    assert spots == []
    assert spotter.state.mode == "idle"


def test_nothing_fires_during_warmup():
    options = SpotterOptions(fps=FPS, warmup_s=1.0)
    signal = noise(100) + bump(100, 20, 5, 5, 500)
    spots, _ = run({0: signal}, options)
    assert spots == []


def test_a_calibrated_baseline_skips_warmup():
    signal = noise(100) + bump(100, 20, 5, 5, 500)
    spots, _ = run({0: signal}, baselines={(0, 0): Baseline(100.0, 2.0)})
    assert len(spots) == 1 and spots[0].apex_frame_by_view[0] == 26


def test_hysteresis_holds_between_thresholds():
    """Above k_low but below k_high the event neither starts nor ends (settling off: a score that
    stops changing is what it ends, see the test below)."""
    options = SpotterOptions(fps=FPS, k_high=8, k_low=3, smooth_frames=1, settle_z=0)
    spotter = Spotter(options, baselines={(0, 0): Baseline(100.0, 1.0)})
    for frame in range(1, 11):
        assert spotter.update(frame, {0: 105.0}) is None       # z = 5: no onset
    assert spotter.state.mode == "idle"
    spotter.update(11, {0: 120.0})                               # z = 20: onset
    assert spotter.state.mode == "active"
    for frame in range(12, 42):
        assert spotter.update(frame, {0: 105.0}) is None       # z = 5: still active
    assert spotter.state.mode == "active"
    assert spotter.update(42, {0: 100.0}) is None              # one frame below k_low …
    spot = spotter.update(43, {0: 100.0})                       # … the second confirms the offset
    assert spot is not None and spot.offset_frame == 42
    assert spot.onset_frame == 1      # every earlier frame was above k_low: the rise is traced back to them


def test_a_one_frame_glitch_is_smoothed_away_but_a_short_expression_is_not():
    """z scores the 3-frame mean: a single odd frame at z = 9 averages to 3 < k_high, while an
    expression of the same height held for 6 frames fires."""
    glitch = noise(300, sigma=0.0)
    glitch[150] += 9 * 2.0
    expression = noise(300, sigma=0.0) + bump(300, start=150, rise=3, fall=3, height=9 * 2.0)
    baselines = {(0, 0): Baseline(100.0, 2.0)}
    assert run({0: glitch}, baselines=baselines)[0] == []
    assert len(run({0: expression}, baselines=baselines)[0]) == 1


def test_frames_just_before_an_onset_never_become_a_reference():
    """A slow start too faint to trace back (z = 0.4 < edge_z) is still part of the expression: after
    the event the reference lies reference_lag before its onset, not on the slow start."""
    options = SpotterOptions(fps=FPS, reference_lag_s=0.1, refractory_s=0.05)   # lag: 6 frames
    spotter = Spotter(options, baselines={(0, 0): Baseline(100.0, 1.0)})
    values = [100.0] * 40 + [100.4] * 3 + [150.0] * 8 + [100.0] * 30
    spot = next(s for f, v in enumerate(values, 1) if (s := spotter.update(f, {0: v})))
    assert spot.onset_frame == 44
    assert spotter.reference_frame(spot.offset_frame + 2) == spot.onset_frame - 6


def test_refractory_gap_blocks_an_immediate_second_onset():
    options = SpotterOptions(fps=FPS, refractory_s=0.5)
    spotter = Spotter(options, baselines={(0, 0): Baseline(100.0, 1.0)})
    values = [100] * 5 + [150] * 5 + [100] * 3 + [150] * 5 + [100] * 40
    spots = [s for f, v in enumerate(values, 1) if (s := spotter.update(f, {0: float(v)}))]
    assert len(spots) == 1


def test_event_open_at_end_of_stream_is_not_lost():
    spotter = Spotter(SpotterOptions(fps=FPS), baselines={(0, 0): Baseline(100.0, 1.0)})
    spotter.update(1, {0: 100.0})
    spotter.update(2, {0: 200.0})
    spotter.update(3, {0: 250.0})
    spot = spotter.close(5)
    assert spot is not None and spot.apex_frame_by_view[0] == 3 and spot.offset_frame == 5


def test_reference_is_lagged_while_idle_and_frozen_while_active():
    options = SpotterOptions(fps=FPS, reference_lag_s=0.1)   # 6 frames
    spotter = Spotter(options, baselines={(0, 0): Baseline(100.0, 1.0)})
    assert spotter.reference_frame(50) == 44
    spotter.update(50, {0: 200.0})
    assert spotter.reference_frame(60) == 44


@pytest.mark.parametrize("kwargs, message", [
    (dict(k_high=2, k_low=3), "k_low < k_high"),
    (dict(min_event_s=0.6), "durations"),
    (dict(fps=0), "fps"),
    (dict(release_frames=0), "release_frames"),
    (dict(warmup_s=5, baseline_s=4), "warmup_s"),
])
def test_options_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpotterOptions(**kwargs)


def test_a_local_event_fires_on_its_face_band_where_the_whole_face_sum_stays_under_threshold():
    """Nine bands of equal noise, a bump in one: the band's own z passes k_high (~6), while the same
    values summed (one whole-face channel) bury it under three times the noise (~2)."""
    n, bands = 300, 9
    series = np.stack([noise(n, seed=10 + b, mu=20.0) for b in range(bands)], axis=1)
    series[:, 2] += bump(n, start=150, rise=8, fall=10, height=14)

    def spots_of(values_per_frame):
        spotter, found = Spotter(SpotterOptions(fps=FPS)), []
        for i, values in enumerate(values_per_frame):
            found.append(spotter.update(1 + i, {0: values}))
        return [s for s in found if s], spotter

    per_band, spotter = spots_of(series)
    whole_face, _ = spots_of(series.sum(axis=1))
    assert len(per_band) == 1 and 150 <= per_band[0].onset_frame <= 156
    assert abs(per_band[0].apex_frame_by_view[0] - 159) <= 2      # the band's raw argmax: its own noise counts
    assert whole_face == []
    assert set(spotter.state.history) == {(0, b) for b in range(bands)}


def test_the_score_averages_views_per_band_then_takes_the_strongest_band():
    z = {(0, 0): 1.0, (1, 0): 3.0, (0, 1): 5.0, (1, 1): 0.0}
    assert Spotter.strongest_band(z) == (1, 2.5) and Spotter.combined(z) == 2.5
    assert Spotter.strongest_band({}) == (None, None)


def test_the_displayed_view_z_average_to_the_score():
    baselines = {(v, b): Baseline(100.0, 1.0) for v in (0, 1) for b in (0, 1)}
    spotter = Spotter(SpotterOptions(fps=FPS, smooth_frames=1), baselines=baselines)
    spotter.update(1, {0: np.array([101.0, 103.0]), 1: np.array([102.0, 100.0])})    # band scores 1.5, 1.5 → 0
    spotter.update(2, {0: np.array([101.0, 105.0]), 1: np.array([102.0, 102.0])})    # 1.5, 3.5 → band 1
    assert spotter.state.last_z == {0: 5.0, 1: 2.0} and spotter.state.last_score == 3.5


@pytest.mark.parametrize("settle_z, longest", [(3.0, 60), (0.0, 240)])
def test_a_face_that_moves_and_stays_ends_its_event_and_moves_the_reference(settle_z, longest):
    """A step (the face rolled and stayed, against a frozen reference): with settling, the event ends
    once it is too long for a micro-expression and its score has stopped changing, as macro, and
    the next reference comes after it; without, it runs to max_event_s (4 s = 240 frames)."""
    options = SpotterOptions(fps=FPS, settle_z=settle_z)
    spotter = Spotter(options)
    signal = noise(600)
    signal[150:] += 60.0
    spot = next(s for s in (spotter.update(i + 1, {0: float(v)}) for i, v in enumerate(signal)) if s)
    assert spot.kind == "macro" and 150 <= spot.onset_frame <= 153
    assert spot.offset_frame - spot.onset_frame <= longest
    if settle_z:
        after = spot.offset_frame + 30
        assert spotter.reference_frame(after) > spot.offset_frame


@pytest.mark.parametrize("stamped, kind", [(True, "macro"), (False, "micro")])
def test_micro_or_macro_is_decided_by_recorded_time(stamped, kind):
    """A camera set to 30 fps that delivers 15: an event of some 15 frames lasts about a second
    (macro), not the half second (micro) its frame count says at the nominal rate."""
    options = SpotterOptions(fps=30)
    spotter = Spotter(options)
    signal = noise(200) + bump(200, 120, 5, 7, 200)
    spots = [spotter.update(i + 1, {0: float(v)}, (i + 1) / 15 if stamped else None) for i, v in enumerate(signal)]
    (spot,) = [s for s in spots if s]
    assert 12 <= spot.offset_frame - spot.onset_frame <= 15      # ≤ 0.5 s at the nominal 30 fps, 0.8–1 s at the real 15
    assert spot.kind == kind
