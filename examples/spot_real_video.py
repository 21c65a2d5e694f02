"""Spot a real face video with the Python API and plot the spotter's score with the events it found.

    python examples/spot_real_video.py [VIDEO] [--out score.png]

Default video: ../shared/realvideo/liveportrait_d3.mp4 (a woman posing expressions; the shared real
videos sit beside the repository and are not shipped). Prints one line per event.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mer_live import spot  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
KIND_COLOURS = {"micro": "#2ecc71", "macro": "#9b59b6"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path, default=REPO.parent / "shared/realvideo/liveportrait_d3.mp4")
    parser.add_argument("--out", type=Path, default=Path("score.png"))
    args = parser.parse_args()

    found = spot(args.video, views=1)
    for event in found:
        labels = ", ".join(event.labels) or "-"
        print(f"{event.kind:5} {event.onset_s:7.2f}–{event.offset_s:6.2f} s  {labels}")

    t, score = found.score()
    fig, ax = plt.subplots(figsize=(10, 3))
    ax.plot(t, score, color="black", lw=1, label="score (z)")
    for event in found:
        ax.axvspan(event.onset_s, event.offset_s, color=KIND_COLOURS[event.kind], alpha=0.3)
    ax.set_xlabel("time in the video (s)")
    ax.set_ylabel("z")
    ax.set_title(f"{args.video.name}: {len(found)} events")
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"plot: {args.out}")


if __name__ == "__main__":
    main()
