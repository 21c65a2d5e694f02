"""The Python entry points: spot micro-expressions in a recording, recognise a clip, open a source.

    >>> from mer_live import spot
    >>> from mer_live.synth import ensure_demo_dataset
    >>> recording = ensure_demo_dataset().parent / "long"    # the demo's generated recording, two views
    >>> found = spot(recording, views=2, seconds=10)  # events.csv: micro 1.4 s, macro 4.2 s, micro 9.2 s
    >>> [(e.kind, round(e.onset_s, 1), e.labels) for e in found]
    [('micro', 1.4, ('Negative',)), ('macro', 4.3, ()), ('micro', 9.2, ('Positive',))]

The same engine as `mer stream` runs underneath (one setting, `EngineConfig`); nothing here
prints. Each result keeps the events (`Event`, the log's record) and the face's states
(`FaceStateSpan`), and turns them into a table (`to_pandas`) or an ELAN file (`to_elan`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mer_live.calibration.setting import engine_setting
from mer_live.model import SHIPPED_WEIGHTS
from mer_live.sources import open_source
from mer_live.stream.events import Event, FaceStateSpan, Record
from mer_live.stream.frames import Frame
from mer_live.stream.pipeline import EngineConfig
from mer_live.stream.sinks import csv_row
from mer_live.stream.sources import Source
from mer_live.stream.store import LiveStore, TimelinePoint
from mer_live.ui.drawing import score_of

TIMELINE_POINTS = 500_000  # the score of every measured frame, up to ~2 h at 60 fps (~100 MB)

__all__ = ["Spotting", "Recognition", "Recognizer", "spot", "open_source", "EngineConfig"]


@dataclass
class Spotting:
    """What one run found: iterate it for the events; `face_states` are the stretches between them."""

    events: list[Event] = field(default_factory=list)
    face_states: list[FaceStateSpan] = field(default_factory=list)
    summary: dict = field(default_factory=dict)  # the run's counters, as `mer stream` prints them
    media: Path | None = None  # the recording, when it is one file (linked from an ELAN file)
    timeline: list[TimelinePoint] = field(default_factory=list)  # per measured frame: z per view, face state

    def score(self) -> tuple[np.ndarray, np.ndarray]:
        """(t in s, the spotter's score) per measured frame: the views' mean z in the face region
        that scores highest, the number the onset level is compared with."""
        scored = [(p.t_s, score_of(p.z)) for p in self.timeline if p.z]
        t, z = zip(*scored) if scored else ((), ())
        return np.array(t, float), np.array(z, float)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def write(self, record: Record) -> None:  # the engine's sink protocol
        if isinstance(record, Event):
            self.events.append(record)
        else:
            self.face_states.append(record)

    def close(self) -> None:
        self.events.sort(key=lambda e: e.onset_s)

    def to_pandas(self):
        """The events as a pandas DataFrame, one row each with the CSV log's columns (needs pandas).

        >>> from mer_live.synth import ensure_demo_dataset
        >>> table = spot(ensure_demo_dataset().parent / "long", views=2, seconds=3).to_pandas()
        >>> list(table.columns[:4])
        ['event_id', 'recording', 'kind', 'onset_frame']
        """
        import pandas as pd

        return pd.DataFrame([csv_row(event) for event in self.events])

    def to_elan(self, path: str | os.PathLike, markers: Sequence[dict] = ()) -> Path:
        """An ELAN file (.eaf) of the events, their labels, the face's states and `markers`
        ({"t_s", "note"} dicts), linked to the recording when it is a file (stream.elan)."""
        from mer_live.stream.elan import write_elan

        return write_elan(path, self.events, self.face_states, markers, media=self.media)


def spot(
    source: str | os.PathLike | Source,
    *,
    views: int | None = None,
    model: str | os.PathLike | None = SHIPPED_WEIGHTS,
    config: EngineConfig | None = None,
    threshold: float | None = None,
    seconds: float | None = None,
    pictures: bool = False,
) -> Spotting:
    """Run the live spotter (and the classifier) over a recording and return what it found.

    `source`: anything `mer stream` takes (a video file, a folder of frames, a 4DME root,
    `synthetic[:SEED]`, a camera index) or an open `Source`. `views`: faces side by side per
    frame (1 or 2; None detects them from the first frame). `model`: the checkpoint that labels
    each event (default: the shipped weights, trained on generated faces); None spots without
    labels. `config`: the engine's setting (default: `EngineConfig()`); `threshold`: the labels'
    decision threshold. `seconds`: stop after this much of the recording (a camera never ends).
    `pictures`: keep each event's crops and flow maps (memory grows with the events).

    >>> from mer_live.synth import ensure_demo_dataset
    >>> found = spot(ensure_demo_dataset().parent / "long", views=2, seconds=3, model=None)
    >>> len(found) > 0 and all(e.labels == () and e.model is None for e in found)
    True
    """
    from mer_live.calibration.views import view_finder
    from mer_live.stream.engine import Engine
    from mer_live.stream.face import MediaPipeFaceDetector

    setting = engine_setting(config or EngineConfig(), options={"views": views, "realtime": False}, threshold=threshold)
    opened = open_source(str(source)) if not isinstance(source, Source) else source
    if seconds is not None:
        opened = _FirstSeconds(opened, seconds)
    classifier = None
    if model is not None:
        from mer_live.model.predictor import Predictor

        classifier = Predictor.from_checkpoint(model)
    found = Spotting(media=Path(source) if _is_file(source) else None)
    sink = found if pictures else _WithoutPictures(found)
    store = LiveStore(timeline_points=TIMELINE_POINTS, pictured_events=1)
    engine = Engine(
        opened,
        setting,
        detector_factory=MediaPipeFaceDetector,
        classifier=classifier,
        sinks=[sink],
        store=store,
        find_views=view_finder(MediaPipeFaceDetector) if setting.views is None else None,
    )
    found.summary = engine.run()
    found.timeline = store.snapshot().timeline
    return found


@dataclass(frozen=True)
class Recognition:
    """A clip's class probabilities and the labels at the decision threshold."""

    probs: dict[str, float]
    labels: tuple[str, ...]


class Recognizer:
    """MicroAttNet on a clip of frames from onset to offset (the paper's offline path).

    >>> from mer_live.corpora.fourdme import load_dataset
    >>> from mer_live.synth import ensure_demo_dataset
    >>> clip = load_dataset(ensure_demo_dataset())[0]        # a generated clip, two views
    >>> frames = [clip.load_frame(n) for n in clip.event_numbers()]
    >>> result = Recognizer.from_checkpoint().predict(frames, views=2)
    >>> sorted(result.probs) == ["Negative", "Others", "Positive", "Repression", "Surprise"]
    True
    >>> set(clip.labels) <= set(result.labels)                 # the shipped weights know generated faces
    True
    """

    def __init__(self, predictor, threshold: float = 0.2):
        self.predictor = predictor
        self.threshold = threshold

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike = SHIPPED_WEIGHTS, threshold: float = 0.2) -> Recognizer:
        from mer_live.model.predictor import Predictor

        return cls(Predictor.from_checkpoint(path), threshold)

    def predict(self, frames: Sequence[np.ndarray], views: int = 1, apex: int | None = None) -> Recognition:
        """`frames`: RGB frames from onset to offset (each `views` faces side by side); `apex`:
        its position in `frames` when known, else detected (eq. 1–3)."""
        from mer_live.stream.face import MediaPipeFaceDetector
        from mer_live.stream.features import PreprocessConfig, event_features, stack_samples

        config = PreprocessConfig(n_views=views, release_flow=self.predictor.release_flow)
        detector = MediaPipeFaceDetector()
        try:
            samples = stack_samples(event_features(list(frames), detector, config, apex))
        finally:
            detector.close()
        prediction = self.predictor.predict(samples)
        return Recognition(dict(prediction.probs), tuple(prediction.labels(self.threshold)))


# ---------------------------------------------------------------- helpers
class _WithoutPictures:
    """A sink that hands events on without their crops and flow maps."""

    def __init__(self, inner: Spotting):
        self.inner = inner

    def write(self, record: Record) -> None:
        self.inner.write(record.without_pictures() if isinstance(record, Event) else record)

    def close(self) -> None:
        self.inner.close()


def _is_file(source) -> bool:
    return isinstance(source, (str, os.PathLike)) and Path(source).is_file()


class _FirstSeconds(Source):
    """The frames of `inner` up to `seconds` of its own time."""

    def __init__(self, inner: Source, seconds: float):
        super().__init__(inner.name, inner.fps)
        self.inner, self.seconds, self.live = inner, seconds, inner.live

    def _items(self):
        for item in self.inner:
            if isinstance(item, Frame) and item.t_s > self.seconds:
                self._record_end(f"the first {self.seconds:g} s", failed=False)
                return
            yield item
        self._record_end(self.inner.ended_reason or "end of source", failed=self.inner.failure is not None)

    def close(self) -> None:
        self.inner.close()
