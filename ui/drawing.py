"""Pure drawing functions for the dashboard: no state, no gradio. Inputs are plain data (arrays,
records from the store); outputs are (H, W, 3) uint8 RGB images, or matplotlib figures for the
session summary (Agg backend).

The live panels (frame, timeline) are drawn with OpenCV: a redraw costs about a millisecond, so the
page can refresh several times a second on a busy CPU. Matplotlib is used where the picture is drawn
once (probability bars, attention, the session summary).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import cv2
import numpy as np

from stream.events import view_name
from stream.spotter import SpotterOptions

# RGB colours
VIEW_COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (148, 103, 189))   # left, right, ...
KIND_COLOURS = {"micro": (46, 204, 113), "macro": (155, 89, 182)}
K_HIGH_COLOUR = (214, 39, 40)
K_LOW_COLOUR = (127, 127, 127)
SCORE_COLOUR = (20, 20, 20)
MARKER_COLOUR = (230, 0, 180)
BACKGROUND = (255, 255, 255)
AXIS_COLOUR = (60, 60, 60)
GRID_COLOUR = (230, 230, 230)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _ascii(text: str) -> str:
    """OpenCV's Hershey fonts draw ASCII only; anything else becomes '?'."""
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in str(text))


def _text(image: np.ndarray, text: str, org: tuple[int, int], colour=AXIS_COLOUR, scale: float = 0.4,
          thickness: int = 1) -> None:
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


def frame_with_boxes(frame: np.ndarray, boxes: Mapping[str, Sequence[int]], max_width: int = 960,
                     thickness: int = 2) -> np.ndarray:
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
        _text(image, name, (p0[0] + 3, max(12, p0[1] - 4)), colour, 0.45, 1)
    return image


def placeholder(text: str, width: int = 640, height: int = 200) -> np.ndarray:
    """A grey panel with a centred message (no frame yet, no detail for this event, ...)."""
    image = np.full((height, width, 3), 245, np.uint8)
    lines = _ascii(text).split("\n")
    for i, line in enumerate(lines):
        (tw, th), _ = cv2.getTextSize(line, FONT, 0.5, 1)
        y = height // 2 + (i - (len(lines) - 1) / 2) * (th + 8)
        _text(image, line, ((width - tw) // 2, int(y + th / 2)), (90, 90, 90), 0.5)
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
        return int(round(self.height - self.bottom - 1 - (z - self.z0) / span * (self.height - self.top - self.bottom - 1)))


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


def current_segment(timeline: Sequence[tuple[int, float, dict]]) -> list[tuple[int, float, dict]]:
    """The points after the last backwards jump in time (a new recording of a dataset restarts t_s)."""
    start = 0
    for i in range(1, len(timeline)):
        if timeline[i][1] < timeline[i - 1][1]:
            start = i
    return list(timeline[start:])


def timeline_axis(timeline: Sequence[tuple[int, float, dict]], thresholds: tuple[float, float], width: int,
                  height: int, window_s: float | None) -> TimeAxis:
    """The axis a timeline image uses: the last `window_s` seconds of the current recording (all of it
    when None) and a z range that shows both thresholds."""
    points = current_segment(timeline)
    t_last = points[-1][1] if points else 0.0
    t_first = points[0][1] if points else 0.0
    if window_s is None:
        t0, t1 = t_first, max(t_last, t_first + 1.0)
    else:
        t1 = max(t_last, t_first + window_s)
        t0 = t1 - window_s
    zs = [z for _, t, zz in points if t >= t0 for z in zz.values() if np.isfinite(z)]
    k_high = thresholds[0] if thresholds and thresholds[0] > 0 else SpotterOptions.k_high
    z_top = max(1.6 * k_high, min(max(zs, default=0.0) * 1.1, 6 * k_high))
    z_bottom = min(-1.0, max(min(zs, default=0.0), -0.5 * k_high))
    return TimeAxis(t0, t1, z_bottom, z_top, width, height)


def timeline_image(timeline: Sequence[tuple[int, float, dict]], events: Iterable = (), markers: Iterable = (),
                   thresholds: tuple[float, float] = (0.0, 0.0), *, width: int = 960, height: int = 240,
                   window_s: float | None = 20.0, source: str | None = None,
) -> np.ndarray:
    """The motion-intensity timeline against stream time: the spotter's score (bold; the views' mean
    z in the face band that scores highest, the number compared with the thresholds) and each view's
    z in that band, the k_high / k_low lines, event spans shaded by kind (micro green, macro purple),
    markers as vertical lines with their note.

    `timeline`: the store's (frame, t_s, {view: z}); only the current recording (after the last
    backwards jump in t_s) is drawn, its last `window_s` seconds. `events`: EventRecords (those of
    another recording than `source` are left out when `source` is given). `markers`: store Markers
    (likewise, those set in another recording are left out)."""
    points = current_segment(timeline)
    axis = timeline_axis(points, thresholds, width, height, window_s)
    image = np.full((height, width, 3), BACKGROUND, np.uint8)
    plot_x0, plot_x1 = axis.left, width - axis.right - 1
    plot_y0, plot_y1 = axis.top, height - axis.bottom - 1

    # event spans (under everything else)
    overlay = image.copy()
    for record in events:
        if source is not None and getattr(record, "source", source) != source:
            continue
        if record.offset_s < axis.t0 or record.onset_s > axis.t1:
            continue
        x0, x1 = max(plot_x0, axis.x(record.onset_s)), min(plot_x1, axis.x(record.offset_s))
        cv2.rectangle(overlay, (x0, plot_y0), (max(x0 + 1, x1), plot_y1), KIND_COLOURS.get(record.kind, (200, 200, 200)), -1)
    image = cv2.addWeighted(overlay, 0.35, image, 0.65, 0)

    # grid and axes
    step = _nice_step(axis.t1 - axis.t0)
    t = math.ceil(axis.t0 / step) * step
    while t <= axis.t1 + 1e-9:
        x = axis.x(t)
        cv2.line(image, (x, plot_y0), (x, plot_y1), GRID_COLOUR, 1)
        label = f"{t:g}"
        (tw, _), _ = cv2.getTextSize(label, FONT, 0.35, 1)
        _text(image, label, (min(x - tw // 2, width - tw - 2), height - 6), AXIS_COLOUR, 0.35)
        t += step
    zstep = _nice_step(axis.z1 - axis.z0, 5)
    z = math.ceil(axis.z0 / zstep) * zstep
    while z <= axis.z1 + 1e-9:
        y = axis.y(z)
        cv2.line(image, (plot_x0, y), (plot_x1, y), GRID_COLOUR, 1)
        _text(image, f"{z:g}", (4, y + 4), AXIS_COLOUR, 0.35)
        z += zstep
    cv2.rectangle(image, (plot_x0, plot_y0), (plot_x1, plot_y1), AXIS_COLOUR, 1)
    _text(image, "z", (4, 12), AXIS_COLOUR, 0.4)
    _text(image, "t (s)", (4, height - 6), AXIS_COLOUR, 0.35)

    # thresholds
    for k, colour, name in ((thresholds[0], K_HIGH_COLOUR, "k_high"), (thresholds[1], K_LOW_COLOUR, "k_low")):
        if k and axis.z0 <= k <= axis.z1:
            y = axis.y(k)
            for x in range(plot_x0, plot_x1, 10):
                cv2.line(image, (x, y), (min(x + 5, plot_x1), y), colour, 1)
            _text(image, f"{name} {k:g}", (plot_x1 - 80, y - 3), colour, 0.35)

    # intensity curves
    visible = [(t, zz) for _, t, zz in points if axis.t0 <= t <= axis.t1]
    views = sorted({v for _, zz in visible for v in zz})
    curves = [(VIEW_COLOURS[v % len(VIEW_COLOURS)], 1, view_name(v), [(t, zz.get(v)) for t, zz in visible])
              for v in views]
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
        _text(image, name, (x + 18, 14), AXIS_COLOUR, 0.35)

    # markers
    for marker in markers:
        if not axis.t0 <= marker.t_s <= axis.t1 or (source is not None and marker.source not in ("", source)):
            continue
        x = axis.x(marker.t_s)
        cv2.line(image, (x, plot_y0), (x, plot_y1), MARKER_COLOUR, 1)
        cv2.line(image, (x, plot_y0 - 12), (x, plot_y0), MARKER_COLOUR, 1)
        _text(image, str(marker.note)[:24], (min(x + 3, width - 100), plot_y0 - 3), MARKER_COLOUR, 0.38)
    return image


# ---------------------------------------------------------------- event card
def _lut(name: str) -> np.ndarray:
    import matplotlib

    cmap = matplotlib.colormaps[name]
    return (cmap(np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)


_LUTS: dict[str, np.ndarray] = {}


def colourise(channel: np.ndarray, lo: float, hi: float, cmap: str) -> np.ndarray:
    """(H, W) values in [lo, hi] → (H, W, 3) RGB through a matplotlib colour map."""
    if cmap not in _LUTS:
        _LUTS[cmap] = _lut(cmap)
    index = np.clip((np.asarray(channel, np.float32) - lo) / (hi - lo) * 255.0, 0, 255).astype(np.uint8)
    return _LUTS[cmap][index]


def flow_images(flow: np.ndarray) -> dict[str, np.ndarray]:
    """A (3, S, S) u/v/m flow in [-1, 1] → colour images: u, v diverging (blue −, red +), m magma."""
    flow = np.asarray(flow, np.float32)
    if flow.ndim != 3 or flow.shape[0] != 3:
        raise ValueError(f"expected a (3, S, S) u/v/m flow, got {flow.shape}")
    return {"u": colourise(flow[0], -1, 1, "RdBu_r"), "v": colourise(flow[1], -1, 1, "RdBu_r"),
            "m": colourise(flow[2], 0, 1, "magma")}


def flow_grid(flow_maps: Mapping[str, np.ndarray], tile: int = 128) -> np.ndarray:
    """One image: a row per flow map ("left/onset_apex", ...), columns u, v, m, each row labelled."""
    label_h = 16
    names = sorted(flow_maps)
    if not names:
        return placeholder("no flow maps", 3 * tile, tile)
    rows = []
    for name in names:
        tiles = [cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA)
                 for img in flow_images(flow_maps[name]).values()]
        row = np.concatenate(tiles, axis=1)
        header = np.full((label_h, row.shape[1], 3), 255, np.uint8)
        _text(header, f"{name}   u | v | m", (4, 12), AXIS_COLOUR, 0.4)
        rows.append(np.concatenate([header, row], axis=0))
    return np.concatenate(rows, axis=0)


def apex_pair(apex_crops: Mapping[str, np.ndarray], tile: int = 224) -> np.ndarray:
    """The apex crops of the views side by side (gray crops shown as RGB), each named."""
    if not apex_crops:
        return placeholder("no apex crops", 2 * tile, tile)
    tiles = []
    for name in sorted(apex_crops):
        crop = np.asarray(apex_crops[name])
        crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2RGB) if crop.ndim == 2 else crop
        crop = np.ascontiguousarray(cv2.resize(crop, (tile, tile), interpolation=cv2.INTER_AREA))
        _text(crop, name, (4, 14), (255, 255, 0), 0.45)
        tiles.append(crop)
    return np.concatenate(tiles, axis=1)


def figure_to_array(fig) -> np.ndarray:
    """Render a matplotlib figure (Agg) to an RGB array and close it."""
    import matplotlib.pyplot as plt

    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image


def _figure(width_px: int, height_px: int):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    dpi = 100
    return plt.figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)


def probability_bars(probs: Mapping[str, float], classes: Sequence[str], threshold: float | None = None,
                     width: int = 420, height: int = 220) -> np.ndarray:
    """A horizontal bar per class (probability 0–1), chosen classes (≥ threshold) highlighted."""
    fig = _figure(width, height)
    ax = fig.add_axes([0.25, 0.18, 0.7, 0.72])
    values = [float(probs.get(c, 0.0)) for c in classes]
    colours = ["#2ecc71" if threshold is not None and p >= threshold else "#95a5a6" for p in values]
    ax.barh(range(len(classes)), values, color=colours)
    ax.set_yticks(range(len(classes)), labels=list(classes), fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.tick_params(axis="x", labelsize=7)
    if threshold is not None:
        ax.axvline(threshold, color="#d62728", ls="--", lw=1)
    ax.set_title("probability per class" + (f" (threshold {threshold:g})" if threshold is not None else ""), fontsize=9)
    return figure_to_array(fig)


def attention_bars(attention: Mapping[str, float], se_gate_mean: float | None = None,
                   block1: Mapping[str, float] | None = None, width: int = 420, height: int = 200) -> np.ndarray:
    """The stream weights α_h α_v α_m of block 2 (and block 1 when given) as grouped bars, SE gate in the title."""
    fig = _figure(width, height)
    ax = fig.add_axes([0.12, 0.18, 0.84, 0.68])
    names = ("alpha_h", "alpha_v", "alpha_m")
    xs = np.arange(len(names))
    blocks = [("block 2", attention)] + ([("block 1", block1)] if block1 else [])
    bar_w = 0.8 / len(blocks)
    for i, (label, values) in enumerate(blocks):
        ax.bar(xs + i * bar_w - 0.4 + bar_w / 2, [float(values.get(n, 0.0)) for n in names], bar_w, label=label)
    ax.set_xticks(xs, labels=["α_h (u)", "α_v (v)", "α_m (m)"], fontsize=8)
    ax.set_ylim(0, 1)
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(fontsize=7, loc="upper right")
    title = "stream attention"
    if se_gate_mean is not None:
        title += f" · SE gate mean {se_gate_mean:.3f}"
    ax.set_title(title, fontsize=9)
    return figure_to_array(fig)


# ---------------------------------------------------------------- session summary
def summary_figure(events: Sequence, timeline: Sequence[tuple[int, float, dict]], markers: Sequence,
                   thresholds: tuple[float, float], classes: Sequence[str], title: str = "MER Live session"):
    """A one-page session summary (matplotlib Figure): counts by class and by kind, the whole
    intensity timeline of the last recording with thresholds, event spans and markers, and a few lines
    of text. The caller saves it (PNG)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(11, 8.5), dpi=100)
    fig.suptitle(title, fontsize=13)
    grid = fig.add_gridspec(3, 2, height_ratios=[1.0, 1.3, 0.6], hspace=0.45, wspace=0.3)

    ax = fig.add_subplot(grid[0, 0])
    counts = [sum(c in e.labels for e in events) for c in classes]
    ax.bar(range(len(classes)), counts, color="#3498db")
    ax.set_xticks(range(len(classes)), labels=list(classes), fontsize=8)
    ax.set_title("micro-expressions by class (labels)", fontsize=10)
    ax.yaxis.get_major_locator().set_params(integer=True)
    unlabelled = sum(1 for e in events if e.kind == "micro" and not e.labels)
    if unlabelled:
        ax.text(0.98, 0.95, f"{unlabelled} unclassified", transform=ax.transAxes, ha="right", va="top", fontsize=8)

    ax = fig.add_subplot(grid[0, 1])
    kinds = ("micro", "macro")
    ax.bar(kinds, [sum(e.kind == k for e in events) for k in kinds],
           color=["#%02x%02x%02x" % KIND_COLOURS[k] for k in kinds])
    ax.set_title("events by kind", fontsize=10)
    ax.yaxis.get_major_locator().set_params(integer=True)

    ax = fig.add_subplot(grid[1, :])
    points = current_segment(timeline)
    views = sorted({v for _, _, zz in points for v in zz})
    for v in views:
        ts = [t for _, t, zz in points if v in zz]
        zs = [zz[v] for _, t, zz in points if v in zz]
        ax.plot(ts, zs, lw=0.8, color="#%02x%02x%02x" % VIEW_COLOURS[v % len(VIEW_COLOURS)],
                label=view_name(v))
    scored = [(t, score_of(zz)) for _, t, zz in points if zz]
    if scored:
        ax.plot(*zip(*scored), lw=1.4, color="#%02x%02x%02x" % SCORE_COLOUR, label="score")
    if thresholds[0]:
        ax.axhline(thresholds[0], color="#d62728", ls="--", lw=1, label=f"k_high {thresholds[0]:g}")
    if thresholds[1]:
        ax.axhline(thresholds[1], color="#7f7f7f", ls="--", lw=1, label=f"k_low {thresholds[1]:g}")
    source = events[-1].source if events else None
    for e in events:
        if source is None or e.source == source:
            ax.axvspan(e.onset_s, e.offset_s, color="#%02x%02x%02x" % KIND_COLOURS.get(e.kind, (200, 200, 200)),
                       alpha=0.3)
    for m in markers:
        if source is not None and m.source not in ("", source):
            continue
        ax.axvline(m.t_s, color="#e600b4", lw=1)
        ax.annotate(m.note, (m.t_s, 1.0), xycoords=("data", "axes fraction"), xytext=(2, 2),
                    textcoords="offset points", color="#e600b4", fontsize=7, ha="left", va="bottom")
    ax.set_xlabel("stream time (s)")
    ax.set_ylabel("z (baseline σ)")
    ax.set_title("motion intensity" + (f" — {source}" if source else ""), fontsize=10)
    if views:
        ax.legend(fontsize=7, loc="upper left")

    ax = fig.add_subplot(grid[2, :])
    ax.axis("off")
    micro = [e for e in events if e.kind == "micro"]
    lines = [f"events: {len(events)} ({len(micro)} micro, {len(events) - len(micro)} macro) · markers: {len(markers)}"]
    if micro:
        durations = [e.duration_s for e in micro]
        lines.append(f"micro durations: median {np.median(durations):.3f} s, range {min(durations):.3f}–{max(durations):.3f} s")
    models = sorted({e.model for e in events if e.model})
    lines.append("model: " + (", ".join(models) if models else "none (events spotted, not classified)"))
    for m in markers[:8]:
        lines.append(f"marker @ {m.t_s:.2f} s (frame {m.frame}): {m.note}")
    ax.text(0.0, 1.0, "\n".join(lines), va="top", fontsize=9, family="monospace")
    return fig
