"""A recording annotated for watching afterwards: each frame with the face's crop window, the
running score strip below it (the dashboard's timeline, k_high / k_low and face states included) and,
while an event of the log lasts (and for a second after), its kind, number and labels.

The score is measured again by the live pipeline (one FramePipeline over the recording, no
classifier); the events and their labels come from the run's JSONL log, so the video shows what
that run reported. Every frame of the source is written, at the source's frame rate.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np

from mer_live.calibration.views import view_finder
from mer_live.stream.elan import label_text
from mer_live.stream.events import read_log_record
from mer_live.stream.frames import Frame
from mer_live.stream.pipeline import EngineConfig, FramePipeline
from mer_live.stream.sources import Source
from mer_live.stream.store import TimelinePoint
from mer_live.stream.telemetry import SwallowedErrors
from mer_live.ui.drawing import KIND_COLOURS, frame_with_boxes, put_text, timeline_image

log = logging.getLogger(__name__)

STRIP_HEIGHT = 160  # px: the score strip under the frame
STRIP_WINDOW_S = 10.0  # seconds of score the strip shows
LABEL_HOLD_S = 1.0  # an event's banner stays this long after its offset


@dataclass
class Annotated:
    """What was written: frames, their rate and size, and the banner each event got (frame → text)."""

    path: Path
    frames: int = 0
    fps: float = 0.0
    size: tuple[int, int] = (0, 0)  # width, height
    banners: dict[int, str] = field(default_factory=dict)
    frame_errors: int = 0


def read_log(path: Path) -> list[SimpleNamespace]:
    """The events of a JSONL log (face-state lines and markers left out); a bad line names the file."""
    events = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} line {number}: not a JSON record ({exc.msg})") from None
        if record.get("kind") in KIND_COLOURS:
            events.append(SimpleNamespace(**read_log_record(record)))
    return events


def banner(event: SimpleNamespace) -> str:
    return f"{event.kind} #{event.event_id}" + (f": {label_text(event)}" if event.labels else "")


def annotate_video(
    source: Source,
    events: list[SimpleNamespace],
    out: Path,
    config: EngineConfig,
    detector_factory: Callable,
    progress: Callable[[int], None] = lambda frames: None,
) -> Annotated:
    """Write `out` (mp4): every frame of `source` with its annotations; `events` from its log (those
    of another recording than the source's are left out when the log names this one)."""
    mine = [e for e in events if getattr(e, "recording", None) == source.name] or events
    hold = LABEL_HOLD_S * source.fps
    pipeline = FramePipeline(
        config, detector_factory, find_views=view_finder(detector_factory) if config.views is None else None
    )
    errors = SwallowedErrors(log)
    result = Annotated(Path(out), fps=source.fps)
    window: deque[TimelinePoint] = deque()  # the strip's last STRIP_WINDOW_S seconds, not the whole run
    writer = None
    try:
        for frame in source:
            if not isinstance(frame, Frame):
                continue  # a frame a live source dropped: nothing to draw
            try:
                pipeline.process(frame)
                z = dict(pipeline.spotter.state.last_z)
                window.append(TimelinePoint(frame.index, frame.t_s, z, pipeline.stats.face_state))
                while window[0].t_s < frame.t_s - STRIP_WINDOW_S:
                    window.popleft()
                boxes = pipeline.boxes()
            except Exception as exc:  # one bad frame is written as it is, never ends the video
                result.frame_errors += 1
                errors.log("frame", f"frame {frame.index} could not be measured: {exc!r}")
                boxes = {}
            picture = frame_with_boxes(frame.image, boxes, max_width=frame.image.shape[1])
            current = [e for e in mine if e.onset_frame <= frame.index <= e.offset_frame + hold]
            if current:
                text = banner(current[-1])
                result.banners[frame.index] = text
                _draw_banner(picture, text, KIND_COLOURS[current[-1].kind])
            strip = timeline_image(
                list(window),
                mine,
                hysteresis=(config.spotter.k_high, config.spotter.k_low),
                width=picture.shape[1],
                height=STRIP_HEIGHT,
                window_s=STRIP_WINDOW_S,
            )
            composed = np.vstack([picture, strip])
            if writer is None:
                result.size = (composed.shape[1], composed.shape[0])
                writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), source.fps, result.size)
                if not writer.isOpened():
                    raise OSError(f"cannot write a video to {out}")
            writer.write(cv2.cvtColor(composed, cv2.COLOR_RGB2BGR))
            result.frames += 1
            progress(result.frames)
    finally:
        if writer is not None:
            writer.release()
        pipeline.shutdown()
        source.close()
    return result


def _draw_banner(picture: np.ndarray, text: str, colour: tuple[int, int, int]) -> None:
    """The event's kind, number and labels in a filled box at the frame's top left."""
    scale, thickness = max(0.5, picture.shape[1] / 900), 2
    (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    if width > picture.shape[1] - 16:  # a narrow video: smaller letters, so the labels fit
        scale, thickness = scale * (picture.shape[1] - 16) / width, 1
        (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    cv2.rectangle(picture, (0, 0), (width + 16, height + 18), colour, -1)
    put_text(picture, text, (8, height + 9), (255, 255, 255), scale, thickness)
