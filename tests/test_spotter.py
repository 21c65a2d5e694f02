"""The spotter on synthetic motion series (no images): events, their frames and the face states."""

from __future__ import annotations

import numpy as np
import pytest

from mer_live.stream.intensity import FaceMotion
from mer_live.stream.spotter import Baseline, Spotter, SpotterConfig

FPS = 30
REGIONS = 6  # 3 bands × 2 columns: 0–1 brows and eyes, 2–3 nose and cheeks, 4–5 mouth and chin


def noise(n: int, seed: int = 0, level: float = 0.05, spread: float = 0.01) -> np.ndarray:
    """(n, REGIONS) region values of a still face: small, positive, varying every frame."""
    return np.abs(level + spread * np.random.default_rng(seed).standard_normal((n, REGIONS)))


def bump(n: int, start: int, rise: int, fall: int, height: float) -> np.ndarray:
    """0 before `start`, a linear rise to `height` over `rise` frames, a linear fall over `fall` frames."""
    out = np.zeros(n)
    out[start : start + rise + 1] = np.linspace(0, height, rise + 1)
    out[start + rise : start + rise + fall + 1] = np.linspace(height, 0, fall + 1)
    return out


def motion(values, head: float = 0.0, eyes: float = 0.0) -> FaceMotion:
    """A FaceMotion whose regions have these lengths (each region's mean flow pointing right)."""
    values = np.asarray(values, float)
    return FaceMotion(np.stack([values, np.zeros_like(values)], axis=1), head, eyes)


def run(
    series: np.ndarray,
    options=SpotterConfig(fps=FPS),
    heads=None,
    eyes=None,
    times=None,
    second_view: np.ndarray | None = None,
    **kwargs,
):
    """Feed one row per frame (frame numbers from 1, reference = the frame before); the events found,
    the spotter, and the face state after each frame."""
    spotter = Spotter(options, **kwargs)
    events, states = [], []
    for i, row in enumerate(series):
        head = 0.0 if heads is None else heads[i]
        eye = 0.0 if eyes is None else eyes[i]
        motions = {0: motion(row, head, eye)}
        if second_view is not None:
            motions[1] = motion(second_view[i], head, eye)
        event = spotter.update(i + 1, motions, None if times is None else times[i])
        states.append(spotter.state.face_state)
        if event:
            events.append(event)
    closing = spotter.close(len(series))
    return events + ([closing] if closing else []), spotter, states


def test_one_micro_expression_gives_one_event_in_its_region():
    n = 300
    series = noise(n)
    series[:, 3] += bump(n, start=150, rise=4, fall=5, height=0.1)
    (event,), _, _ = run(series)
    assert event.kind == "micro" and event.region == 3 and event.band == 1
    assert 148 <= event.onset_frame <= 152 and 156 <= event.offset_frame <= 160
    assert abs(event.apex_frame_by_view[0] - 155) <= 1 and event.peak_intensity_by_view[0] == pytest.approx(
        0.15, abs=0.03
    )


def test_an_event_as_it_will_end_is_known_once_its_dip_begins_and_is_the_one_reported():
    """`ending()` gives the open event as it is reported if its region's dip lasts: at the dip's first
    picture it equals the event the spotter ends with gap_s later (what the engine classifies ahead)."""
    n = 300
    series = noise(n)
    series[:, 3] += bump(n, start=150, rise=4, fall=5, height=0.1)
    spotter = Spotter(SpotterConfig(fps=FPS))
    ending, reported = [], None
    for i, row in enumerate(series):
        reported = spotter.update(i + 1, {0: motion(row)}) or reported
        active = spotter.state.active
        ending.append(spotter.ending() if active is not None and active.pictures_below == 1 else None)
    (before,) = [e for e in ending if e is not None]
    assert reported is not None and before == reported
    assert spotter.ending() is None  # nothing open any more


def test_a_motion_larger_than_any_micro_expression_is_macro_however_short():
    n = 300
    series = noise(n)
    series[:, 5] += bump(n, start=150, rise=4, fall=5, height=0.6)  # a mouth opening, not a micro-expression
    (event,), _, _ = run(series)
    assert event.kind == "macro" and event.offset_frame - event.onset_frame < 15


def test_noise_alone_never_fires():
    events, spotter, states = run(noise(3000, 5))
    assert events == [] and spotter.state.mode == "idle" and set(states) == {"still"}


def test_nothing_fires_during_warmup_and_a_calibrated_baseline_skips_it():
    series = noise(100)
    series[:, 0] += bump(100, 10, 4, 4, 0.12)
    assert run(series, SpotterConfig(fps=FPS, warmup_s=1.0))[0] == []
    baselines = {(0, r): Baseline(0.05, 0.01) for r in range(REGIONS)}
    (event,), _, _ = run(series, baselines=baselines)
    assert event.region == 0 and 9 <= event.onset_frame <= 12


def test_a_long_event_is_macro():
    n = 400
    series = noise(n)
    series[:, 4] += bump(n, 150, 20, 25, 0.15)  # 45 frames = 1.5 s, each frame's change small
    (event,), _, _ = run(series)
    assert event.kind == "macro" and event.offset_frame - event.onset_frame > 30


def test_the_baseline_follows_the_head_a_turn_is_not_an_event_but_a_still_face_one_is():
    """While the head turns (head motion 0.5 px) the flow's error in every region is three times a
    still face's. Scored against frames with as much head motion, the turns stay quiet; an
    expression on the still face between them stands out."""
    n = 1200
    rng = np.random.default_rng(3)
    heads = np.where((np.arange(n) // 60) % 3 == 0, 0.45 + 0.1 * rng.random(n), 0.02 * rng.random(n))
    series = noise(n, 4) * (1 + 4 * heads[:, None])
    series[:, 1] += bump(n, 1000, 4, 4, 0.1)
    options = SpotterConfig(fps=FPS, moving_px=5.0)  # no 'moving' state here: the baseline alone
    events, _, _ = run(series, options, heads=heads)
    assert [(e.region, e.kind) for e in events] == [(1, "micro")] and 998 <= events[0].onset_frame <= 1002
    unconditioned = SpotterConfig(fps=FPS, moving_px=5.0, neighbours=10_000)  # every idle frame alike
    assert len(run(series, unconditioned, heads=heads)[0]) > 3


def test_a_motion_while_the_head_moves_is_suppressed_as_moving():
    n = 400
    heads = np.zeros(n)
    heads[200:215] = 2.0
    series = noise(n)
    series[:, 2] += bump(n, 200, 5, 6, 0.5)
    events, spotter, states = run(series, heads=heads)
    assert events == [] and spotter.suppressed == {"moving": 1} and "moving" in states[200:215]


def test_a_blink_is_suppressed_but_a_frown_that_moves_the_lids_is_not():
    """Eyes moving 1.5 px while the brows barely move: a blink, and the brow band's candidate is its
    trace. A frown moving the brows 0.3 px and the lids twice as much is an expression."""
    n = 600
    eyes = np.full(n, 0.05) + 0.005 * np.random.default_rng(1).standard_normal(n)
    series = noise(n)
    eyes[200:206] += 1.5
    series[200:206, 0] += 0.2  # the blink leaks into the brow band a little
    eyes[400:408] += 0.6 * bump(n, 400, 4, 4, 1.0)[400:408]
    series[:, 1] += bump(n, 400, 4, 4, 0.3)
    events, spotter, states = run(series, eyes=eyes)
    assert [e.region for e in events] == [1] and 398 <= events[0].onset_frame <= 402
    assert spotter.suppressed == {"blink": 1} and "blink" in states[200:206]


def test_a_blink_that_pulls_the_cheeks_is_suppressed_and_a_cheek_event_is_not():
    """A blink's lower lids pull the top of the cheek band (talking_franck: 3 of its 8 false micro
    candidates were blinks seen there): at a blink, the bands beside the eyes explain a candidate;
    a cheek movement without one is an event. The mouth band is never an eye band."""
    n = 600
    eyes = np.full(n, 0.05) + 0.005 * np.random.default_rng(1).standard_normal(n)
    series = noise(n)
    eyes[200:206] += 1.5
    series[200:206, 2] += 0.2  # the blink's trace in the cheeks
    series[:, 3] += bump(n, 400, 4, 4, 0.1)  # a cheek raise, no blink
    events, spotter, _ = run(series, eyes=eyes)
    assert [e.region for e in events] == [3] and spotter.suppressed == {"blink": 1}
    assert Spotter(SpotterConfig(), bands=3).eye_bands == {0, 1} and Spotter(SpotterConfig(), bands=2).eye_bands == {0}


def test_a_blink_right_after_an_event_ends_it_and_is_suppressed_on_its_own():
    """A micro-expression in the cheeks, a blink 0.1 s after it: the blink's trace in the brow band
    scores higher than the event, and used to take the event over (suppressed as the blink) or carry
    it on as one long event. The blink ends the event and is a candidate of its own."""
    n = 400
    eyes = np.full(n, 0.05) + 0.005 * np.random.default_rng(1).standard_normal(n)
    series = noise(n)
    series[:, 3] += bump(n, start=150, rise=4, fall=5, height=0.1)
    eyes[161:167] += 1.5
    series[161:167, 0] += 0.2
    events, spotter, _ = run(series, eyes=eyes)
    assert [(e.kind, e.region) for e in events] == [("micro", 3)]
    assert 148 <= events[0].onset_frame <= 152 and events[0].offset_frame <= 161
    assert spotter.suppressed == {"blink": 1}


def test_talking_suppresses_the_mouth_band_and_not_the_brows():
    """Mouth movements beyond any micro-expression's size in a sixth of three seconds: talking; a small
    mouth candidate then is not a micro-expression, a brow raise is (and the short bursts themselves,
    each under min_event_s, are no event at all)."""
    n = 900
    series = noise(n)
    for start in range(300, 620, 15):
        series[:, 5] += bump(n, start, 2, 2, 0.4)
    series[:, 4] += bump(n, 527, 4, 4, 0.1)  # between the bursts, while talking
    series[:, 0] += bump(n, 660, 4, 4, 0.1)  # after them
    events, spotter, states = run(series)
    assert [(e.region, e.kind) for e in events] == [(0, "micro")] and spotter.suppressed == {"talking": 1}
    assert states[560] == "talking" and states[250] == "still"


def test_the_score_averages_the_views_per_region_then_takes_the_strongest():
    baselines = {(v, r): Baseline(1.0, 0.1) for v in (0, 1) for r in range(2)}
    spotter = Spotter(SpotterConfig(fps=FPS), baselines, columns=2, bands=1)
    spotter.update(1, {0: motion([1.1, 1.3]), 1: motion([1.2, 1.0])})  # region scores 1.5, 1.5
    spotter.update(2, {0: motion([1.1, 1.5]), 1: motion([1.2, 1.2])})  # 1.5, 3.5 → region 1
    assert spotter.state.last_z == pytest.approx({0: 5.0, 1: 2.0}) and spotter.state.last_score == pytest.approx(3.5)
    assert spotter.region_scores({(0, 0): 1.0, (1, 0): 3.0, (0, 1): 5.0, (1, 1): 0.0}) == {0: 2.0, 1: 2.5}


def test_the_refractory_time_blocks_an_immediate_second_onset():
    series = noise(300)
    series[:, 0] += bump(300, 100, 4, 4, 0.12) + bump(300, 118, 4, 4, 0.12)
    assert len(run(series)[0]) == 2
    assert len(run(series, SpotterConfig(fps=FPS, refractory_s=1.0))[0]) == 1


def test_an_event_open_at_the_end_of_the_stream_is_not_lost():
    series = noise(100)
    series[95:, 2] += 0.1
    (event,), _, _ = run(series)
    assert event.onset_frame >= 94 and event.offset_frame == 100


def test_a_held_picture_video_keeps_an_expression_s_rise_and_fall_together():
    """A web video that holds each picture for three frames (10 new pictures a second): the lag
    signal sees the rise and the fall of one expression 0.3 s apart, two quiet pictures between —
    longer than gap_s. Ended on time alone the rise is one event too short to keep and the fall
    comes in the refractory time: nothing. Counted in pictures as well, it is one event."""
    n = 120
    series = noise(n)
    series[50, 1] += 0.12  # the rise, seen against the picture before
    series[53, 1] += 0.12  # the fall

    def spot(options):
        spotter, events = Spotter(options), []
        for i, row in enumerate(series, start=1):
            event = spotter.update(3 * i, {0: motion(row)}, i / 10, reference=3 * (i - 1), reference_s=(i - 1) / 10)
            events += [event] if event else []
        return events

    assert spot(SpotterConfig(fps=FPS, gap_pictures=1)) == []
    (event,) = spot(SpotterConfig(fps=FPS))
    assert event.kind == "micro" and event.region == 1 and event.offset_frame == 3 * 54


@pytest.mark.parametrize(
    "at_apex, left, stayed",
    [
        (0.05, 0.15, False),  # drift over the event on a still real face
        (0.10, 0.56, True),  # talking: the face moved on and stayed
        (0.40, 0.30, False),  # a large motion that came back most of the way
        (0.40, 0.36, True),
    ],
)
def test_a_face_stayed_when_what_is_left_beats_both_the_share_and_the_drift(at_apex, left, stayed):
    assert SpotterConfig().face_stayed(at_apex, left) is stayed


@pytest.mark.parametrize("stamped, kind", [(True, "macro"), (False, "micro")])
def test_micro_or_macro_is_decided_by_recorded_time(stamped, kind):
    """A camera set to 30 fps that delivers 15: an event of 12 frames lasts 0.8 s (macro), not the
    0.4 s (micro) its frame count says at the nominal rate."""
    n = 300
    series = noise(n)
    series[:, 4] += bump(n, 200, 5, 7, 0.1)
    times = np.arange(1, n + 1) / 15 if stamped else None
    (event,), _, _ = run(series, SpotterConfig(fps=30), times=times)
    assert event.kind == kind


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(k_high=2, k_low=3), "k_low < k_high"),
        (dict(min_event_s=0.6), "durations"),
        (dict(fps=0), "fps"),
        (dict(neighbours=2), "neighbours"),
        (dict(edge_z=3.0), "edge_z"),
    ],
)
def test_options_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpotterConfig(**kwargs)
