"""The event card and the session summary, drawn: apex crops, u / v / magnitude flow maps,
probability and attention bars (matplotlib, Agg: drawn once per event), the card's text, and the
one-page summary figure. Pure functions: no state, no gradio."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from mer_live.corpora.labels import CLASSES
from mer_live.stream.events import Event, view_name
from mer_live.stream.store import TimelinePoint
from mer_live.ui.drawing import (
    AXIS_COLOUR,
    KIND_COLOURS,
    SCORE_COLOUR,
    VIEW_COLOURS,
    current_segment,
    placeholder,
    put_text,
    score_of,
)


def hex_colour(rgb: Sequence[int]) -> str:
    """(r, g, b) as matplotlib's "#rrggbb"."""
    return "#{:02x}{:02x}{:02x}".format(*rgb)


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
    return {
        "u": colourise(flow[0], -1, 1, "RdBu_r"),
        "v": colourise(flow[1], -1, 1, "RdBu_r"),
        "m": colourise(flow[2], 0, 1, "magma"),
    }


def flow_grid(flow_maps: Mapping[str, np.ndarray], tile: int = 128) -> np.ndarray:
    """One image: a row per flow map ("left/onset_apex", ...), columns u, v, m, each row labelled."""
    label_h = 16
    names = sorted(flow_maps)
    if not names:
        return placeholder("no flow maps", 3 * tile, tile)
    rows = []
    for name in names:
        tiles = [
            cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA) for img in flow_images(flow_maps[name]).values()
        ]
        row = np.concatenate(tiles, axis=1)
        header = np.full((label_h, row.shape[1], 3), 255, np.uint8)
        put_text(header, f"{name}   u | v | m", (4, 12), AXIS_COLOUR, 0.4)
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
        put_text(crop, name, (4, 14), (255, 255, 0), 0.45)
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


def probability_bars(
    probs: Mapping[str, float],
    classes: Sequence[str],
    threshold: float | None = None,
    width: int = 420,
    height: int = 220,
) -> np.ndarray:
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


def attention_bars(
    attention: Mapping[str, float],
    se_gate_mean: float | None = None,
    block1: Mapping[str, float] | None = None,
    width: int = 420,
    height: int = 200,
) -> np.ndarray:
    """The stream weights α_u α_v α_m of block 2 (and block 1 when given) as grouped bars, SE gate in the title."""
    fig = _figure(width, height)
    ax = fig.add_axes([0.12, 0.18, 0.84, 0.68])
    names = ("alpha_u", "alpha_v", "alpha_m")
    xs = np.arange(len(names))
    blocks = [("block 2", attention)] + ([("block 1", block1)] if block1 else [])
    bar_w = 0.8 / len(blocks)
    for i, (label, values) in enumerate(blocks):
        ax.bar(xs + i * bar_w - 0.4 + bar_w / 2, [float(values.get(n, 0.0)) for n in names], bar_w, label=label)
    ax.set_xticks(xs, labels=["α_u", "α_v", "α_m"], fontsize=8)
    ax.set_ylim(0, 1)
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(fontsize=7, loc="upper right")
    title = "stream attention"
    if se_gate_mean is not None:
        title += f" · SE gate mean {se_gate_mean:.3f}"
    ax.set_title(title, fontsize=9)
    return figure_to_array(fig)


# ---------------------------------------------------------------- session summary
def summary_figure(
    events: Sequence,
    timeline: Sequence[TimelinePoint],
    markers: Sequence,
    hysteresis: tuple[float, float],
    classes: Sequence[str],
    title: str = "MER Live session",
):
    """A one-page session summary (matplotlib Figure): counts by class and by kind, the whole
    intensity timeline of the last recording with k_high / k_low, event spans and markers, and a few lines
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
    ax.bar(
        kinds,
        [sum(e.kind == k for e in events) for k in kinds],
        color=[hex_colour(KIND_COLOURS[k]) for k in kinds],
    )
    ax.set_title("events by kind", fontsize=10)
    ax.yaxis.get_major_locator().set_params(integer=True)

    ax = fig.add_subplot(grid[1, :])
    points = current_segment(timeline)
    views = sorted({v for point in points for v in point.z})
    for v in views:
        ts = [point.t_s for point in points if v in point.z]
        zs = [point.z[v] for point in points if v in point.z]
        ax.plot(ts, zs, lw=0.8, color=hex_colour(VIEW_COLOURS[v % len(VIEW_COLOURS)]), label=view_name(v))
    scored = [(point.t_s, score_of(point.z)) for point in points if point.z]
    if scored:
        ax.plot(*zip(*scored), lw=1.4, color=hex_colour(SCORE_COLOUR), label="score")
    if hysteresis[0]:
        ax.axhline(hysteresis[0], color="#d62728", ls="--", lw=1, label=f"k_high {hysteresis[0]:g}")
    if hysteresis[1]:
        ax.axhline(hysteresis[1], color="#7f7f7f", ls="--", lw=1, label=f"k_low {hysteresis[1]:g}")
    recording = events[-1].recording if events else None
    for e in events:
        if recording is None or e.recording == recording:
            ax.axvspan(e.onset_s, e.offset_s, color=hex_colour(KIND_COLOURS.get(e.kind, (200, 200, 200))), alpha=0.3)
    for m in markers:
        if recording is not None and m.recording not in ("", recording):
            continue
        ax.axvline(m.t_s, color="#e600b4", lw=1)
        ax.annotate(
            m.note,
            (m.t_s, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, 2),
            textcoords="offset points",
            color="#e600b4",
            fontsize=7,
            ha="left",
            va="bottom",
        )
    ax.set_xlabel("stream time (s)")
    ax.set_ylabel("z (baseline σ)")
    ax.set_title("motion intensity" + (f" — {recording}" if recording else ""), fontsize=10)
    if views:
        ax.legend(fontsize=7, loc="upper left")

    ax = fig.add_subplot(grid[2, :])
    ax.axis("off")
    micro = [e for e in events if e.kind == "micro"]
    lines = [f"events: {len(events)} ({len(micro)} micro, {len(events) - len(micro)} macro) · markers: {len(markers)}"]
    if micro:
        durations = [e.duration_s for e in micro]
        lines.append(
            f"micro durations: median {np.median(durations):.3f} s, range {min(durations):.3f}–{max(durations):.3f} s"
        )
    models = sorted({e.model for e in events if e.model})
    lines.append("model: " + (", ".join(models) if models else "none (events spotted, not classified)"))
    for m in markers[:8]:
        lines.append(f"marker @ {m.t_s:.2f} s (frame {m.frame}): {m.note}")
    ax.text(0.0, 1.0, "\n".join(lines), va="top", fontsize=9, family="monospace")
    return fig


def card_markdown(event: Event) -> str:
    lines = [
        f"### Event #{event.event_id} — {event.kind}",
        f"**{event.recording}** · onset {event.onset_s:.3f} s · apex {event.apex_s:.3f} s · "
        f"offset {event.offset_s:.3f} s · duration {event.duration_s:.3f} s",
        f"frames {event.onset_frame}–{event.apex_frame}–{event.offset_frame} · apex by view "
        + ", ".join(f"{view_name(v)} {f}" for v, f in sorted(event.apex_frame_by_view.items()))
        + f" · peak intensity {event.peak_intensity:.3f}"
        + (
            f" · moved most: face rows {event.band_rows[0]:g}–{event.band_rows[1]:g} (top–bottom)"
            if event.band_rows
            else ""
        ),
    ]
    if event.labels:
        lines.append(f"labels: **{'+'.join(event.labels)}** (threshold {event.threshold})")
    if event.attention:
        lines.append(
            "attention: "
            + ", ".join(f"{k} {v:.3f}" for k, v in sorted(event.attention.items()))
            + (f" · SE gate mean {event.se_gate_mean:.3f}" if event.se_gate_mean is not None else "")
        )
    if not event.has_pictures:
        lines.append("_No crops or flow maps kept for this event (the page keeps them for its newest events)._")
    if not event.probs:
        lines.append(f"_{event.why_unlabelled}._")
    return "\n\n".join(lines)


def card_images(event: Event):
    """(apex pair, flow grid, probability bars, attention bars) images for one event."""
    apex, flows = apex_pair(event.apex_crops), flow_grid(event.flow_maps, tile=112)
    probs = (
        probability_bars(event.probs, CLASSES, event.threshold)
        if event.probs
        else placeholder("no probabilities (not classified)", 420, 220)
    )
    attention = (
        attention_bars(event.attention, event.se_gate_mean, event.attention_block1)
        if event.attention
        else placeholder("no attention weights", 420, 200)
    )
    return apex, flows, probs, attention
