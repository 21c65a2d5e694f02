"""The one record that travels the pipeline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# the one default frame rate, of frames that state none: numbered images without a dataset.json that
# gives theirs, and frames fed to the spotter without times (4DME's 60 fps; a video states its own)
IMAGE_FPS = 60.0


@dataclass(frozen=True)
class Frame:
    """One decoded frame of a source.

    `index` is the source's own frame number (the number in a 4DME file name); `t_s` is
    recorded time, `index / fps` for recordings, never the wall clock.
    """

    index: int
    t_s: float
    image: np.ndarray  # (H, W, 3) uint8 RGB
    recording: str  # the recording's name: 's01/s01_01', a file's stem, 'camera:0'


def split_recording(recording: str) -> tuple[str, str]:
    """'s01/s01_long01' → ('s01', 's01_long01'); a recording without a slash is its own subject and video."""
    subject, _, video = recording.rpartition("/")
    return (subject or video, video)
