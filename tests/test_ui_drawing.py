"""The dashboard's pure drawing functions on synthetic data: live frame, timeline, event card."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import make_event, timeline
from mer_live.corpora.labels import CLASSES
from mer_live.stream.store import Marker, TimelinePoint
from mer_live.ui import cards, drawing


# ---------------------------------------------------------------- drawing
def test_frame_with_boxes_draws_each_window_and_leaves_the_input_alone():
    frame = np.zeros((800, 1600, 3), np.uint8)
    boxes = {"left": (100, 200, 300, 300), "right": (900, 220, 300, 300)}
    out = drawing.frame_with_boxes(frame, boxes, max_width=800)
    assert out.shape == (400, 800, 3) and out.dtype == np.uint8
    assert not frame.any()  # input untouched
    # left box: top edge at y=100, x 50..200 (half scale); right box at x=450
    assert tuple(out[100, 120]) == drawing.VIEW_COLOURS[0]
    assert tuple(out[110, 450]) == drawing.VIEW_COLOURS[1]
    assert not out[175, 125].any()  # inside the box: untouched
    assert not out[20:40, 600:700].any()  # far from any box


def test_fit_width_never_upscales():
    small = np.zeros((10, 20, 3), np.uint8)
    out, scale = drawing.fit_width(small, 100)
    assert out is small and scale == 1.0


def test_timeline_draws_the_levels_spans_and_markers_where_expected():
    points = timeline()
    events = [
        make_event(1, 2.0, 2.3, "micro"),
        make_event(2, 5.0, 6.0, "macro"),
        make_event(3, 7.0, 7.5, "micro", recording="other"),
    ]
    markers = [Marker(t_s=8.0, frame=480, note="question 3")]
    image = drawing.timeline_image(
        points, events, markers, (4.5, 2.0), width=800, height=240, window_s=None, recording="s01/s01_01"
    )
    assert image.shape == (240, 800, 3) and image.dtype == np.uint8
    axis = drawing.timeline_axis(points, (4.5, 2.0), 800, 240, None)
    mid = (axis.top + 240 - axis.bottom) // 2
    # marker: a magenta vertical line at t = 8 s
    column = image[axis.top + 2 : 240 - axis.bottom - 2, axis.x(8.0)]
    assert (column == drawing.MARKER_COLOUR).all(axis=1).mean() > 0.6
    # spans: micro (green tint) at 2.1 s, macro (purple tint) at 5.5 s, other recording not shaded
    green = image[mid - 40, axis.x(2.15)].astype(int)
    purple = image[mid - 40, axis.x(5.5)].astype(int)
    other = image[mid - 40, axis.x(7.25)].astype(int)
    assert green[1] > green[0] and green[1] > green[2] and green.sum() < 3 * 255
    assert purple[2] > purple[1] and purple[0] > purple[1]
    assert tuple(other) in {drawing.BACKGROUND, drawing.GRID_COLOUR}
    # k_high, k_low: dashed rows in their colours
    assert (image[axis.y(4.5)] == drawing.K_HIGH_COLOUR).all(axis=1).sum() > 100
    assert (image[axis.y(2.0)] == drawing.K_LOW_COLOUR).all(axis=1).sum() > 100
    # the left view's curve passes the bump's height (anti-aliased: close to its colour)
    y, x = axis.y(8.0), axis.x(2.15)
    patch = image[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).astype(int)
    assert np.abs(patch - np.array(drawing.VIEW_COLOURS[0])).sum(axis=1).min() < 100
    # the score, the views' mean (7.2 in the bump), in bold
    y = axis.y(7.2)
    patch = image[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).astype(int)
    assert np.abs(patch - np.array(drawing.SCORE_COLOUR)).sum(axis=1).min() < 60
    # the face's state: a talking strip along the top from 5 to 6 s, none where the face is still
    strip = axis.top + drawing.STATE_STRIP // 2
    assert tuple(image[strip, axis.x(5.5)]) == drawing.STATE_COLOURS["talking"]
    assert tuple(image[strip, axis.x(3.0)]) != drawing.STATE_COLOURS["talking"]
    # no marker, or one set in another recording → no magenta column
    plain = drawing.timeline_image(points, events, [], (4.5, 2.0), width=800, height=240, window_s=None)
    foreign = drawing.timeline_image(
        points,
        events,
        [Marker(8.0, 480, "question 3", recording="other")],
        (4.5, 2.0),
        width=800,
        height=240,
        window_s=None,
        recording="s01/s01_01",
    )
    for drawn in (plain, foreign):
        assert not (drawn[axis.top + 2 : 240 - axis.bottom - 2, axis.x(8.0)] == drawing.MARKER_COLOUR).all(axis=1).any()


def test_timeline_window_and_new_recording():
    points = timeline(30.0)
    axis = drawing.timeline_axis(points, (4.5, 2.0), 800, 240, 10.0)
    assert axis.t1 == pytest.approx(points[-1].t_s) and axis.t0 == pytest.approx(axis.t1 - 10.0)
    restarted = points + [TimelinePoint(1, 0.0, {0: 0.0}), TimelinePoint(2, 0.5, {0: 0.0})]
    assert drawing.current_segment(restarted) == restarted[-2:]
    empty = drawing.timeline_image([], [], [], (0.0, 0.0), width=300, height=120)
    assert empty.shape == (120, 300, 3)


def test_flow_images_and_grid():
    flow = np.zeros((3, 32, 32), np.float16)
    flow[0, :, :16], flow[0, :, 16:] = -1, 1
    flow[2] = np.linspace(0, 1, 32)[None, :]
    images = cards.flow_images(flow)
    assert set(images) == {"u", "v", "m"} and all(i.shape == (32, 32, 3) for i in images.values())
    negative, positive = images["u"][0, 0].astype(int), images["u"][0, 31].astype(int)
    assert negative[2] > negative[0] and positive[0] > positive[2]  # blue for −, red for +
    assert images["m"][0, 31].sum() > images["m"][0, 0].sum()  # brighter for larger magnitude
    grid = cards.flow_grid({"left/onset_apex": flow, "right/onset_apex": flow}, tile=64)
    assert grid.shape == (2 * (64 + 16), 3 * 64, 3)
    with pytest.raises(ValueError):
        cards.flow_images(np.zeros((2, 8, 8)))


def test_bars_and_apex_pair():
    probs = dict(zip(CLASSES, (0.7, 0.1, 0.25, 0.05, 0.01)))
    bars = cards.probability_bars(probs, CLASSES, 0.2, width=400, height=200)
    assert bars.shape == (200, 400, 3)

    def chosen_pixels(image):  # the highlight colour of classes at or above the threshold
        return int(np.all(np.abs(image.astype(int) - (46, 204, 113)) < 12, axis=2).sum())

    assert chosen_pixels(bars) > chosen_pixels(cards.probability_bars(probs, CLASSES, 0.5, 400, 200)) > 0
    assert cards.attention_bars(
        {"alpha_u": 0.2, "alpha_v": 0.3, "alpha_m": 0.5},
        0.4,
        {"alpha_u": 0.3, "alpha_v": 0.3, "alpha_m": 0.4},
        400,
        180,
    ).shape == (180, 400, 3)
    pair = cards.apex_pair({"left": np.zeros((50, 50), np.uint8), "right": np.zeros((50, 50), np.uint8)}, tile=100)
    assert pair.shape == (100, 200, 3)
