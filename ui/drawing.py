"""Pure drawing functions for the dashboard's live panels (the frame with its crop windows, the
motion timeline): no state, no gradio. Inputs are plain data (arrays, events from the store);
outputs are (H, W, 3) uint8 RGB images. The event card and the session summary: ui/cards.py.

The live panels (frame, timeline) are drawn with OpenCV: a redraw costs about a millisecond, so the
page can refresh several times a second on a busy CPU. Matplotlib is used where the picture is drawn
once (probability bars, attention, the session summary).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from mer_live.stream.events import view_name
from mer_live.stream.spotter import SpotterConfig
from mer_live.stream.store import TimelinePoint

# RGB colours
VIEW_COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (148, 103, 189))  # left, right, ...
KIND_COLOURS = {"micro": (46, 204, 113), "macro": (155, 89, 182)}
K_HIGH_COLOUR = (214, 39, 40)
K_LOW_COLOUR = (127, 127, 127)
SCORE_COLOUR = (20, 20, 20)
MARKER_COLOUR = (230, 0, 180)
STATE_COLOURS = {
    "moving": (255, 160, 60),
    "blink": (90, 160, 255),
    "talking": (240, 200, 40),
    "no face": (120, 120, 120),
}
STATE_STRIP = 8  # px: the face-state strip's height
BACKGROUND = (255, 255, 255)
AXIS_COLOUR = (60, 60, 60)
GRID_COLOUR = (230, 230, 230)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _ascii(text: str) -> str:
    """OpenCV's Hershey fonts draw ASCII only; anything else becomes '?'."""
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in str(text))


def put_text(
    image: np.ndarray, text: str, org: tuple[int, int], colour=AXIS_COLOUR, scale: float = 0.4, thickness: int = 1
) -> None:
    cv2.putText(image, _ascii(text), (int(org[0]), int(org[1])), FONT, scale, colour, thickness, cv2.LINE_AA)


# ---------------------------------------------------------------- live frame
def fit_width(image: np.ndarray, max_width: int) -> tuple[np.ndarray, float]:
    """The image shrunk (area interpolation) to at most `max_width` columns, and the scale used."""
    height, width = image.shape[:2]
    if width <= max_width:
        return image, 1.0
    scale = max_width / width
    size = (max_width, max(1, int(round(height * scale))))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def frame_with_boxes(
    frame: np.ndarray, boxes: Mapping[str, Sequence[int]], max_width: int = 960, thickness: int = 2
) -> np.ndarray:
    """The frame (downscaled to `max_width`) with each view's crop window drawn and named.

    `boxes`: view name → (x, y, w, h) in full-frame coordinates. Always returns a new RGB array."""
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    image, scale = fit_width(frame, max_width)
    image = np.ascontiguousarray(image).copy()
    for i, (name, (x, y, w, h)) in enumerate(sorted(boxes.items())):
        colour = VIEW_COLOURS[i % len(VIEW_COLOURS)]
        p0 = (int(round(x * scale)), int(round(y * scale)))
        p1 = (int(round((x + w) * scale)) - 1, int(round((y + h) * scale)) - 1)
        cv2.rectangle(image, p0, p1, colour, thickness)
        put_text(image, name, (p0[0] + 3, max(12, p0[1] - 4)), colour, 0.45, 1)
    return image


def placeholder(text: str, width: int = 640, height: int = 200) -> np.ndarray:
    """A grey panel with a centred message (no frame yet, no detail for this event, ...)."""
    image = np.full((height, width, 3), 245, np.uint8)
    lines = _ascii(text).split("\n")
    for i, line in enumerate(lines):
        (tw, th), _ = cv2.getTextSize(line, FONT, 0.5, 1)
        y = height // 2 + (i - (len(lines) - 1) / 2) * (th + 8)
        put_text(image, line, ((width - tw) // 2, int(y + th / 2)), (90, 90, 90), 0.5)
    return image


# ---------------------------------------------------------------- timeline
@dataclass(frozen=True)
class TimeAxis:
    """Maps stream time and z-scores to pixel columns and rows of a timeline image."""

    t0: float
    t1: float
    z0: float
    z1: float
    width: int
    height: int
    left: int = 44
    right: int = 8
    top: int = 30
    bottom: int = 20

    def x(self, t: float) -> int:
        span = max(self.t1 - self.t0, 1e-9)
        return int(round(self.left + (t - self.t0) / span * (self.width - self.left - self.right - 1)))

    def y(self, z: float) -> int:
        span = max(self.z1 - self.z0, 1e-9)
        z = min(max(z, self.z0), self.z1)
        return int(
            round(self.height - self.bottom - 1 - (z - self.z0) / span * (self.height - self.top - self.bottom - 1))
        )


def _nice_step(span: float, target: int = 8) -> float:
    raw = span / max(target, 1)
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def score_of(z_by_view: dict[int, float]) -> float | None:
    """The spotter's score at a timeline point: the mean of the views' z in the scoring band."""
    return sum(z_by_view.values()) / len(z_by_view) if z_by_view else None


def current_segment(timeline: Sequence[TimelinePoint]) -> list[TimelinePoint]:
    """The points after the last backwards jump in time (a new recording of a dataset restarts t_s)."""
    start = 0
    for i in range(1, len(timeline)):
        if timeline[i].t_s < timeline[i - 1].t_s:
            start = i
    return list(timeline[start:])


def timeline_axis(
    timeline: Sequence[TimelinePoint], hysteresis: tuple[float, float], width: int, height: int, window_s: float | None
) -> TimeAxis:
    """The axis a timeline image uses: the last `window_s` seconds of the current recording (all of it
    when None) and a z range that shows k_high and k_low."""
    points = current_segment(timeline)
    t_last = points[-1].t_s if points else 0.0
    t_first = points[0].t_s if points else 0.0
    if window_s is None:
        t0, t1 = t_first, max(t_last, t_first + 1.0)
    else:
        t1 = max(t_last, t_first + window_s)
        t0 = t1 - window_s
    zs = [z for point in points if point.t_s >= t0 for z in point.z.values() if np.isfinite(z)]
    k_high = hysteresis[0] if hysteresis and hysteresis[0] > 0 else SpotterConfig.k_high
    z_top = max(1.6 * k_high, min(max(zs, default=0.0) * 1.1, 6 * k_high))
    z_bottom = min(-1.0, max(min(zs, default=0.0), -0.5 * k_high))
    return TimeAxis(t0, t1, z_bottom, z_top, width, height)


def timeline_image(
    timeline: Sequence[TimelinePoint],
    events: Iterable = (),
    markers: Iterable = (),
    hysteresis: tuple[float, float] = (0.0, 0.0),
    *,
    width: int = 960,
    height: int = 240,
    window_s: float | None = 20.0,
    recording: str | None = None,
) -> np.ndarray:
    """The motion-intensity timeline against stream time: the spotter's score (bold; the views' mean
    z in the face region that scores highest, the number compared with k_high and k_low) and each
    view's z in that region, the k_high / k_low lines, event spans shaded by kind (micro green, macro
    purple), the face's state as a strip along the top (moving, blink, talking, no face; still is
    left blank) with a legend, markers as vertical lines with their note.

    `timeline`: the store's TimelinePoints; only the current recording (after the last
    backwards jump in t_s) is drawn, its last `window_s` seconds. `events`: Events (those of
    another recording than `recording` are left out when `recording` is given). `markers`: store Markers
    (likewise, those set in another recording are left out)."""
    points = current_segment(timeline)
    axis = timeline_axis(points, hysteresis, width, height, window_s)
    image = np.full((height, width, 3), BACKGROUND, np.uint8)
    plot_x0, plot_x1 = axis.left, width - axis.right - 1
    plot_y0, plot_y1 = axis.top, height - axis.bottom - 1

    # event spans (under everything else)
    overlay = image.copy()
    for event in events:
        if recording is not None and event.recording != recording:
            continue
        if event.offset_s < axis.t0 or event.onset_s > axis.t1:
            continue
        x0, x1 = max(plot_x0, axis.x(event.onset_s)), min(plot_x1, axis.x(event.offset_s))
        cv2.rectangle(
            overlay, (x0, plot_y0), (max(x0 + 1, x1), plot_y1), KIND_COLOURS.get(event.kind, (200, 200, 200)), -1
        )
    image = cv2.addWeighted(overlay, 0.35, image, 0.65, 0)

    # grid and axes
    step = _nice_step(axis.t1 - axis.t0)
    t = math.ceil(axis.t0 / step) * step
    while t <= axis.t1 + 1e-9:
        x = axis.x(t)
        cv2.line(image, (x, plot_y0), (x, plot_y1), GRID_COLOUR, 1)
        label = f"{t:g}"
        (tw, _), _ = cv2.getTextSize(label, FONT, 0.35, 1)
        put_text(image, label, (min(x - tw // 2, width - tw - 2), height - 6), AXIS_COLOUR, 0.35)
        t += step
    zstep = _nice_step(axis.z1 - axis.z0, 5)
    z = math.ceil(axis.z0 / zstep) * zstep
    while z <= axis.z1 + 1e-9:
        y = axis.y(z)
        cv2.line(image, (plot_x0, y), (plot_x1, y), GRID_COLOUR, 1)
        put_text(image, f"{z:g}", (4, y + 4), AXIS_COLOUR, 0.35)
        z += zstep
    cv2.rectangle(image, (plot_x0, plot_y0), (plot_x1, plot_y1), AXIS_COLOUR, 1)
    put_text(image, "z", (4, 12), AXIS_COLOUR, 0.4)
    put_text(image, "t (s)", (4, height - 6), AXIS_COLOUR, 0.35)

    # k_high, k_low
    for k, colour, name in ((hysteresis[0], K_HIGH_COLOUR, "k_high"), (hysteresis[1], K_LOW_COLOUR, "k_low")):
        if k and axis.z0 <= k <= axis.z1:
            y = axis.y(k)
            for x in range(plot_x0, plot_x1, 10):
                cv2.line(image, (x, y), (min(x + 5, plot_x1), y), colour, 1)
            put_text(image, f"{name} {k:g}", (plot_x1 - 80, y - 3), colour, 0.35)

    # the face's state: a strip along the top of the plot
    visible_points = [point for point in points if axis.t0 <= point.t_s <= axis.t1]
    for point, following in zip(visible_points, visible_points[1:] + visible_points[-1:]):
        colour = STATE_COLOURS.get(point.state)
        if colour is not None:
            x0, x1 = axis.x(point.t_s), max(axis.x(following.t_s), axis.x(point.t_s) + 1)
            cv2.rectangle(image, (x0, plot_y0 + 1), (x1, plot_y0 + STATE_STRIP), colour, -1)
    shown = sorted({point.state for point in visible_points} & set(STATE_COLOURS), key=list(STATE_COLOURS).index)
    for i, state in enumerate(shown):
        x = plot_x1 - 80 * (len(shown) - i)
        cv2.rectangle(image, (x, height - 14), (x + 10, height - 6), STATE_COLOURS[state], -1)
        put_text(image, state, (x + 14, height - 6), AXIS_COLOUR, 0.35)

    # intensity curves
    visible = [(point.t_s, point.z) for point in visible_points]
    views = sorted({v for _, zz in visible for v in zz})
    curves = [
        (VIEW_COLOURS[v % len(VIEW_COLOURS)], 1, view_name(v), [(t, zz.get(v)) for t, zz in visible]) for v in views
    ]
    curves.append((SCORE_COLOUR, 2, "score", [(t, score_of(zz)) for t, zz in visible]))
    for colour, thickness, _, values in curves:
        run: list[tuple[int, int]] = []
        for t, z in values + [(None, None)]:
            if z is None or not np.isfinite(z):
                if len(run) >= 2:
                    cv2.polylines(image, [np.array(run, np.int32)], False, colour, thickness, cv2.LINE_AA)
                run = []
                continue
            run.append((axis.x(t), axis.y(z)))
    for i, (colour, thickness, name, _) in enumerate(curves):
        x = plot_x0 + 6 + 70 * i
        cv2.line(image, (x, 10), (x + 14, 10), colour, thickness + 1)
        put_text(image, name, (x + 18, 14), AXIS_COLOUR, 0.35)

    # markers
    for marker in markers:
        if not axis.t0 <= marker.t_s <= axis.t1 or (recording is not None and marker.recording not in ("", recording)):
            continue
        x = axis.x(marker.t_s)
        cv2.line(image, (x, plot_y0), (x, plot_y1), MARKER_COLOUR, 1)
        cv2.line(image, (x, plot_y0 - 12), (x, plot_y0), MARKER_COLOUR, 1)
        put_text(image, str(marker.note)[:24], (min(x + 3, width - 100), plot_y0 - 3), MARKER_COLOUR, 0.38)
    return image
