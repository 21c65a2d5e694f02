"""Known micro-expressions injected into real face videos: a real-footage test bed with exact truth.

Each frame of a real video gets its own FaceMesh landmarks (tracked in video mode), and an injected
expression is the generator's action-unit displacement field (`synth.actions`) anchored on that
frame's landmarks, so it rides on the real head: head motion, blinks, talking, sensor noise and
compression stay as they were, and only the injected expression is known. Frames without a face
are never injected, and no event is placed within `face_margin_s` of one.

Layout written by `inject_videos` (4DME, one view per frame, at each video's own frame rate):

    ROOT/<sub_ID>/<fold_name>/img_<n>.jpg   sub_ID = the video's stem, fold_name = <stem>_r<repeat>
    ROOT/labels.csv                          one clip row per injected micro-expression
    ROOT/events.csv                          every injected event, micro and macro (kind column)
    ROOT/dataset.json                        frame rate per recording and views per frame
"""

from __future__ import annotations

import multiprocessing
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import cv2
import numpy as np
from pydantic import Field, model_validator
from tqdm import tqdm

from mer_live.corpora.fourdme import DatasetInfo
from mer_live.corpora.labels import CLASSES
from mer_live.stream.flow import repeats
from mer_live.stream.intensity import REFERENCE_FACE_PX
from mer_live.stream.settings import config_class
from mer_live.synth.actions import draw_aus, draw_labels, expression_field, moves_landmarks
from mer_live.synth.plan import ExpressionEvent, draw_timing
from mer_live.synth.write import EVENT_COLUMNS, LABEL_COLUMNS, write_csv

Range = tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]]  # (low, high)


@config_class
class InjectConfig:
    """What is injected and where. Amplitudes are the field's largest displacement at a 224-px face."""

    micro_amp_px: Range = Field((0.9, 2.5), description="micro-expression amplitude range (px at a 224-px face)")
    macro_amp_px: Range = Field((4.0, 8.0), description="macro-expression amplitude range (px at a 224-px face)")
    micro_s: Range = Field((0.15, 0.5), description="micro-expression duration range (s)")
    macro_s: Range = Field((0.8, 2.0), description="macro-expression duration range (s)")
    macro_p: float = Field(0.15, ge=0, le=1, description="share of events that are macro-expressions")
    gap_s: Range = Field((1.2, 2.5), description="neutral time between one event's offset and the next onset (s)")
    lead_in_s: float = Field(1.5, ge=0, description="no event before this (a live spotter's warm-up; s)")
    face_margin_s: float = Field(
        0.2, ge=0, description="a face must be found this long before and after each event (s)"
    )
    jpeg_quality: int = Field(95, ge=1, le=100)

    @model_validator(mode="after")
    def _ranges_rise(self) -> InjectConfig:
        for name in ("micro_amp_px", "macro_amp_px", "micro_s", "macro_s", "gap_s"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name} must be (low, high) with low ≤ high, got {(low, high)}")
        return self


class LandmarkTracker:
    """FaceMesh in video mode: (468, 2) pixel landmarks per frame, or None where no face is found."""

    def __init__(self) -> None:
        from mer_live.stream.face import quiet_native_stderr

        os.environ.setdefault("GLOG_minloglevel", "2")
        with quiet_native_stderr():
            import mediapipe as mp

            self._mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1)

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        result = self._mesh.process(np.ascontiguousarray(rgb))
        if not result.multi_face_landmarks:
            return None
        height, width = rgb.shape[:2]
        return np.array([(p.x * width, p.y * height) for p in result.multi_face_landmarks[0].landmark], np.float32)

    def close(self) -> None:
        self._mesh.close()


def read_video(path: Path) -> tuple[float, Iterator[np.ndarray]]:
    """(fps, RGB frames) of a video file; a video that cannot be opened or states no rate is refused."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise ValueError(f"cannot open video {path}")
    fps = capture.get(cv2.CAP_PROP_FPS)
    if not fps or not np.isfinite(fps) or fps <= 0:
        capture.release()
        raise ValueError(f"{path} does not state its frame rate")

    def frames() -> Iterator[np.ndarray]:
        try:
            while True:
                ok, bgr = capture.read()
                if not ok or bgr is None:
                    return
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            capture.release()

    return float(fps), frames()


def face_width(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(landmarks[454] - landmarks[234]))


def face_pixels(landmarks: np.ndarray | None, *images: np.ndarray) -> list[np.ndarray]:
    """The pixels of the landmarks' bounding box in each image (whole images without landmarks)."""
    if landmarks is None:
        return list(images)
    (x0, y0), (x1, y1) = np.floor(landmarks.min(axis=0)).astype(int), np.ceil(landmarks.max(axis=0)).astype(int)
    height, width = images[0].shape[:2]
    return [image[max(y0, 0) : min(y1, height), max(x0, 0) : min(x1, width)] for image in images]


def plan_injection(
    rng: np.random.Generator, has_face: np.ndarray, fps: float, config: InjectConfig, first_class: int = 0
) -> list[tuple[str, int, int, int, float, tuple[str, ...], tuple[str, ...]]]:
    """Events as (kind, onset, apex, offset, amplitude at 224 px, labels, aus), frame numbers from 1.

    Events follow each other with `gap_s` of neutral face between them; one that would touch a frame
    without a face (within `face_margin_s`) moves past that frame. Classes cycle from `first_class`.
    """
    n = len(has_face)
    margin = max(1, int(round(config.face_margin_s * fps)))
    planned, cursor, k = [], int(round(config.lead_in_s * fps)) + 1, first_class
    while True:
        macro = rng.random() < config.macro_p
        low, high = config.macro_s if macro else config.micro_s
        duration = max(3, int(round(rng.uniform(low, high) * fps)))
        onset, apex, offset = draw_timing(rng, cursor, duration)
        if offset + margin > n:
            return planned
        first = max(1, onset - margin)
        window = has_face[first - 1 : offset + margin]
        if not window.all():
            faceless = first + int(np.flatnonzero(~window)[-1])  # frame number of the last faceless frame
            cursor = faceless + margin + 1
            continue
        labels = draw_labels(rng, CLASSES[k % len(CLASSES)])
        amplitude = rng.uniform(*(config.macro_amp_px if macro else config.micro_amp_px))
        planned.append(
            ("macro" if macro else "micro", onset, apex, offset, float(amplitude), labels, draw_aus(rng, labels))
        )
        k += not macro
        cursor = offset + max(1, int(round(rng.uniform(*config.gap_s) * fps)))


def inject_frame(rgb: np.ndarray, landmarks: np.ndarray, event: ExpressionEvent, number: int) -> np.ndarray:
    """The frame with `event`'s field (at this frame's weight) applied by a backward warp of its region."""
    weight = event.profile(number)
    if weight <= 0:
        return rgb
    amplitude = event.amplitude_px * face_width(landmarks) / REFERENCE_FACE_PX
    local = expression_field(landmarks, event.aus, rgb.shape[:2], amplitude)
    rows, cols = local.region()
    ys, xs = np.mgrid[rows, cols].astype(np.float32)
    shift = np.float32(weight) * local.values
    out = rgb.copy()
    out[rows, cols] = cv2.remap(
        rgb, xs - shift[..., 0], ys - shift[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return out


def _name(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", path.stem).strip("-") or "video"


@dataclass(frozen=True)
class InjectJob:
    video: Path
    folder: Path
    sub_id: str
    fold_name: str
    seed: int
    first_class: int
    config: InjectConfig


def inject_video(job: InjectJob) -> dict:
    """Write one injected recording; returns its fps, frame count and events (as dicts)."""
    cv2.setNumThreads(1)
    fps, frames = read_video(job.video)
    tracker = LandmarkTracker()
    try:
        landmarks = [tracker(rgb) for rgb in frames]
    finally:
        tracker.close()
    if not landmarks:
        raise ValueError(f"no frame could be read from {job.video}")
    has_face = np.array([lm is not None for lm in landmarks])
    rng = np.random.default_rng(job.seed)
    events = [
        ExpressionEvent(onset, apex, offset, amplitude, kind, labels, aus)
        for kind, onset, apex, offset, amplitude, labels, aus in plan_injection(
            rng, has_face, fps, job.config, job.first_class
        )
    ]
    # a one-sided unit (L1+L2, R1+R2) finds nothing to move on a face turned far away: such an event is not made
    events = [e for e in events if all(moves_landmarks(landmarks[n - 1], e.aus) for n in range(e.onset + 1, e.offset))]
    job.folder.mkdir(parents=True, exist_ok=True)
    quality = [cv2.IMWRITE_JPEG_QUALITY, job.config.jpeg_quality]
    _, frames = read_video(job.video)
    gray, shown = None, 0
    for number, (rgb, marks) in enumerate(zip(frames, landmarks), start=1):
        # a frame that repeats the last one (a 10-fps capture in a 30-fps file) shows the expression
        # as that frame did: a real face is not seen moving between two copies of one picture
        previous, gray = gray, cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if previous is None or not repeats(*face_pixels(marks, previous, gray)):
            shown = number
        for event in events:
            if event.onset < shown < event.offset:
                rgb = inject_frame(rgb, marks, event, shown)
        cv2.imwrite(str(job.folder / f"img_{number}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), quality)
    return {"fps": fps, "frames": len(landmarks), "face_frames": int(has_face.sum()), "events": events}


def inject_videos(
    videos: list[Path],
    out_dir: Path,
    *,
    seed: int = 0,
    repeats: int = 1,
    config: InjectConfig = InjectConfig(),
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Inject every video `repeats` times (each with its own child seed) into a 4DME-layout root."""
    if repeats < 1:
        raise ValueError(f"repeats must be ≥ 1, got {repeats}")
    for video in videos:
        if not Path(video).is_file():
            raise ValueError(f"video does not exist: {video}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        # recordings left from another run would be replayed with no truth in events.csv
        raise ValueError(f"output folder is not empty: {out}; choose a new one")
    seeds = np.random.SeedSequence(seed).spawn(len(videos) * repeats)
    jobs = []
    for i, video in enumerate(videos):
        sub_id = _name(Path(video))
        for r in range(repeats):
            k = i * repeats + r
            fold = f"{sub_id}_r{r + 1}"
            jobs.append(
                InjectJob(
                    Path(video),
                    out / sub_id / fold,
                    sub_id,
                    fold,
                    int(seeds[k].generate_state(1)[0]),
                    k % len(CLASSES),
                    config,
                )
            )
    if len({(j.sub_id, j.fold_name) for j in jobs}) < len(jobs):
        raise ValueError("two videos share a file name stem; rename one")
    out.mkdir(parents=True, exist_ok=True)
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    bar = tqdm(total=len(jobs), unit="video", desc="injecting", disable=not progress)
    if workers == 1:
        results = []
        for job in jobs:
            results.append(inject_video(job))
            bar.update()
    else:
        context = multiprocessing.get_context("spawn")  # MediaPipe threads do not survive a fork
        with context.Pool(workers) as pool:
            results = []
            for result in pool.imap(inject_video, jobs):
                results.append(result)
                bar.update()
    bar.close()

    label_rows, event_rows = [], []
    for job, result in zip(jobs, results):
        for e in result["events"]:
            event_rows.append([job.sub_id, job.fold_name, e.onset, e.apex, e.offset, "+".join(e.labels), e.kind])
            if e.kind == "micro":
                label_rows.append(
                    [job.sub_id, job.fold_name, "+".join(e.labels), e.onset, e.apex, e.offset, "+".join(e.aus)]
                    + [int(c in e.labels) for c in CLASSES]
                )
    write_csv(out / "labels.csv", LABEL_COLUMNS, label_rows)
    write_csv(out / "events.csv", EVENT_COLUMNS, event_rows)
    info = DatasetInfo(views=1, fps={f"{j.sub_id}/{j.fold_name}": r["fps"] for j, r in zip(jobs, results)})
    info.write(out)
    return {
        "out_dir": str(out),
        "recordings": len(jobs),
        "frames": sum(r["frames"] for r in results),
        "frames_without_face": sum(r["frames"] - r["face_frames"] for r in results),
        "micro_events": sum(row[-1] == "micro" for row in event_rows),
        "macro_events": sum(row[-1] == "macro" for row in event_rows),
        "fps": sorted({round(r["fps"], 3) for r in results}),
    }
