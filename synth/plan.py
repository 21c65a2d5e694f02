"""What happens when: the synthetic data's settings, the ground truth of each sequence, and the
plan of a whole dataset.

An event (`ExpressionEvent`) is a motion with an onset → apex → offset profile, its labels and
action units; a `SequenceSpec` holds a short clip's or a long recording's events and blinks.
`plan_dataset` builds the subjects and gives each its sequences. Everything is a pure function of
the seed: subjects and sequences draw from children of `np.random.SeedSequence(seed)`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from pydantic import Field

from mer_live.corpora.labels import CLASSES
from mer_live.stream.intensity import REFERENCE_FACE_PX
from mer_live.stream.settings import Switch, config_class
from mer_live.synth.actions import draw_aus, draw_labels
from mer_live.synth.faces import Subject, build_subject, load_face_photos


@config_class
class SynthConfig:
    """Frame geometry, encoding and the confounder switches (all on by default)."""

    fps: int = Field(60, ge=10, le=1000, strict=True)
    view_width: int = Field(640, ge=256, le=4096, strict=True, description="px")
    view_height: int = Field(800, ge=256, le=4096, strict=True, description="px")
    jpeg_quality: int = Field(90, ge=1, le=100, strict=True)
    noise: Switch = True
    jpeg: Switch = Field(
        True, description="off: frames are written at quality 100 and streamed without a JPEG round trip"
    )
    drift: Switch = True
    blinks: Switch = True
    flicker: Switch = True
    macro: Switch = Field(True, description="long recordings only")

    @property
    def view_shape(self) -> tuple[int, int]:
        return (self.view_height, self.view_width)


# ---------------------------------------------------------------- timing and ground truth
def peak_profile(x: float) -> float:
    """Rise from 0 at x=0 to 1 at x=1 with zero slope at the start and a non-zero slope at the
    apex, so the apex is a strict maximum (real intensity curves peak rather than plateau)."""
    return x * x * (2.0 - x)


@dataclass(frozen=True)
class Motion:
    """A local deformation on frames onset..offset, peaking at `apex` with `amplitude_px` (view-1 px)."""

    onset: int
    apex: int
    offset: int
    amplitude_px: float

    def __post_init__(self) -> None:
        if not self.onset < self.apex < self.offset:
            raise ValueError(f"need onset < apex < offset, got {self.onset}, {self.apex}, {self.offset}")

    def profile(self, frame_number: float) -> float:
        """0 outside (onset, offset), 1 exactly at the apex."""
        n = frame_number
        if n <= self.onset or n >= self.offset:
            return 0.0
        if n <= self.apex:
            return peak_profile((n - self.onset) / (self.apex - self.onset))
        return peak_profile((self.offset - n) / (self.offset - self.apex))

    def displacement(self, frame_number: float) -> float:
        """Largest displacement in px of this motion's field at the frame."""
        return self.amplitude_px * self.profile(frame_number)

    def overlaps(self, first: int, last: int, margin: int = 0) -> bool:
        return self.onset - margin <= last and first <= self.offset + margin


@dataclass(frozen=True)
class ExpressionEvent(Motion):
    """A micro- or macro-expression: its labels and the action units that make it."""

    kind: str
    labels: tuple[str, ...]
    aus: tuple[str, ...]

    def duration_s(self, fps: float) -> float:
        return (self.offset - self.onset) / fps


@dataclass(frozen=True)
class SequenceSpec:
    """Ground truth of one sequence or long recording. Frame numbers start at 1."""

    sub_id: str
    fold_name: str
    n_frames: int
    fps: int
    events: tuple[ExpressionEvent, ...]
    blinks: tuple[Motion, ...]
    render_seed: int

    @property
    def micro_events(self) -> tuple[ExpressionEvent, ...]:
        return tuple(e for e in self.events if e.kind == "micro")

    def frame_numbers(self) -> range:
        return range(1, self.n_frames + 1)

    def true_displacement(self, frame_number: int) -> float:
        """Max displacement in view-1 px of the expression field (confounders excluded) at the
        frame; each field peaks at its amplitude and events never overlap, so this is exact."""
        return sum(e.displacement(frame_number) for e in self.events)


def draw_timing(rng: np.random.Generator, onset: int, duration: int) -> tuple[int, int, int]:
    """(onset, apex, offset) of an event of `duration` frames: the apex 30–50 % of the way in."""
    rise = int(np.clip(round(duration * rng.uniform(0.3, 0.5)), 1, duration - 1))
    return onset, onset + rise, onset + duration


def draw_event(
    rng: np.random.Generator, *, kind: str, labels: tuple[str, ...], onset: int, duration: int, face_width: float
) -> ExpressionEvent:
    """An event of `labels` starting at `onset` and lasting `duration` frames; micro amplitudes are
    0.5–3 px and macro 4–8 px at a 224-px face, scaled to `face_width`."""
    low, high = (0.5, 3.0) if kind == "micro" else (4.0, 8.0)
    amplitude = rng.uniform(low, high) * face_width / REFERENCE_FACE_PX
    return ExpressionEvent(*draw_timing(rng, onset, duration), float(amplitude), kind, labels, draw_aus(rng, labels))


def _draw_blink(rng: np.random.Generator, onset: int, duration: int, face_width: float) -> Motion:
    return Motion(*draw_timing(rng, onset, duration), float(face_width * rng.uniform(0.05, 0.07)))


def _frames(seconds: float, fps: int, minimum: int = 1) -> int:
    return max(minimum, int(round(seconds * fps)))


def plan_short_sequence(
    rng: np.random.Generator,
    *,
    labels: tuple[str, ...],
    face_width: float,
    fps: int = 60,
    blinks: bool = True,
    sub_id: str = "s01",
    fold_name: str = "s01_01",
) -> SequenceSpec:
    """A ~0.4–1.0 s clip: a neutral lead-in of random length, one micro-expression of 0.1–0.5 s,
    a short tail; a blink in one clip of ~25, placed clear of the event."""
    duration = _frames(rng.uniform(0.1, 0.5), fps, minimum=2)
    lead_in = _frames(rng.uniform(0.15, 0.4), fps)
    tail = _frames(rng.uniform(0.15, 0.3), fps)
    onset = lead_in + 1
    n_frames = lead_in + duration + tail + 1
    event = draw_event(rng, kind="micro", labels=labels, onset=onset, duration=duration, face_width=face_width)
    blink_list: list[Motion] = []
    blink_len = _frames(rng.uniform(0.1, 0.25), fps, minimum=2)
    if blinks and rng.random() < 0.04:
        gap = 2
        room_before = range(1, event.onset - gap - blink_len + 1)
        room_after = range(event.offset + gap, n_frames - blink_len + 1)
        starts = list(room_before) + list(room_after)
        if starts:
            blink_list.append(_draw_blink(rng, starts[rng.integers(len(starts))], blink_len, face_width))
    return SequenceSpec(sub_id, fold_name, n_frames, fps, (event,), tuple(blink_list), int(rng.integers(2**63)))


def plan_long_recording(
    rng: np.random.Generator,
    *,
    seconds: float,
    face_width: float,
    fps: int = 60,
    macro: bool = True,
    blinks: bool = True,
    first_class: int | None = None,
    sub_id: str = "s01",
    fold_name: str = "s01_01",
) -> SequenceSpec:
    """A recording of `seconds` with about one micro-expression per 5–8 s (4–6 in 30 s) and, when
    `macro`, 1–2 macro-expressions of 0.8–2 s, all separated by ≥ 1.5 s of neutral face; blinks
    every 2–6 s in the neutral stretches."""
    n_frames = _frames(seconds, fps)
    n_micro = max(1, int(rng.integers(round(seconds / 8), round(seconds / 5) + 1)))
    kinds = ["micro"] * n_micro + (["macro"] * int(rng.integers(1, 3)) if macro else [])
    kinds = [kinds[i] for i in rng.permutation(len(kinds))]
    durations = [
        _frames(rng.uniform(0.1, 0.5) if k == "micro" else rng.uniform(0.8, 2.0), fps, minimum=2) for k in kinds
    ]
    lead_in, gap = _frames(1.0, fps), _frames(1.5, fps)
    while kinds and lead_in + sum(durations) + gap * len(kinds) > n_frames:
        kinds.pop()
        durations.pop()
    if "micro" not in kinds:
        raise ValueError(f"a {seconds:g} s recording is too short to hold a micro-expression with its neutral gaps")
    slack = n_frames - lead_in - sum(durations) - gap * len(kinds)
    extra = np.floor(rng.dirichlet(np.ones(len(kinds) + 1)) * slack).astype(int)
    start = int(rng.integers(len(CLASSES))) if first_class is None else first_class
    events, cursor, n_seen = [], lead_in + 1 + extra[0], 0
    for kind, duration, pause in zip(kinds, durations, extra[1:]):
        labels = draw_labels(rng, CLASSES[(start + n_seen) % len(CLASSES)])
        n_seen += kind == "micro"
        events.append(
            draw_event(rng, kind=kind, labels=labels, onset=int(cursor), duration=duration, face_width=face_width)
        )
        cursor += duration + gap + pause
    blink_list = []
    if blinks:
        margin = _frames(0.15, fps)
        t = int(rng.integers(1, _frames(3.0, fps)))
        while True:
            length = _frames(rng.uniform(0.1, 0.25), fps, minimum=2)
            if t + length > n_frames:
                break
            clash = next((e for e in events if e.overlaps(t, t + length, margin)), None)
            if clash is None:
                blink_list.append(_draw_blink(rng, t, length, face_width))
                t += _frames(rng.uniform(2.0, 6.0), fps)
            else:
                t = clash.offset + margin + 1
    return SequenceSpec(sub_id, fold_name, n_frames, fps, tuple(events), tuple(blink_list), int(rng.integers(2**63)))


# ---------------------------------------------------------------- planning a dataset
def plan_dataset(
    *,
    subjects: int,
    per_subject: int,
    seed: int,
    long: bool,
    long_seconds: tuple[float, float],
    faces_dir: str | os.PathLike | None,
    config: SynthConfig,
) -> list[tuple[Subject, list[SequenceSpec]]]:
    """Subjects and their sequence specs. Subject i uses photo i mod #photos; primary classes cycle
    over all sequences so every class appears about equally often."""
    if subjects < 1 or per_subject < 1:
        raise ValueError(f"subjects and per_subject must be ≥ 1, got {subjects} and {per_subject}")
    if not 0 < long_seconds[0] <= long_seconds[1]:
        raise ValueError(f"long_seconds must be (min, max) with 0 < min ≤ max, got {long_seconds}")
    photos = load_face_photos(faces_dir)
    planned = []
    for s, subject_seed in enumerate(np.random.SeedSequence(seed).spawn(subjects)):
        identity_seed, *sequence_seeds = subject_seed.spawn(per_subject + 1)
        sub_id = f"s{s + 1:02d}"
        subject = build_subject(
            photos[s % len(photos)], np.random.default_rng(identity_seed), config.view_shape, sub_id
        )
        specs = []
        for j, sequence_seed in enumerate(sequence_seeds):
            rng = np.random.default_rng(sequence_seed)
            fold_name = f"{sub_id}_{j + 1:02d}"
            k = s * per_subject + j
            if long:
                specs.append(
                    plan_long_recording(
                        rng,
                        seconds=rng.uniform(*long_seconds),
                        face_width=subject.face_width,
                        fps=config.fps,
                        macro=config.macro,
                        blinks=config.blinks,
                        first_class=k % len(CLASSES),
                        sub_id=sub_id,
                        fold_name=fold_name,
                    )
                )
            else:
                specs.append(
                    plan_short_sequence(
                        rng,
                        labels=draw_labels(rng, CLASSES[k % len(CLASSES)]),
                        face_width=subject.face_width,
                        fps=config.fps,
                        blinks=config.blinks,
                        sub_id=sub_id,
                        fold_name=fold_name,
                    )
                )
        planned.append((subject, specs))
    return planned
