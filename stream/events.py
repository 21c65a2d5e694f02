"""The event: one record that travels from the spotter to the sinks and the page.

Each stage fills its own fields and hands on a copy (`dataclasses.replace`), so an event a reader
holds never changes under it:

    spotter   where and when, in the recording's frame numbers (onset, apex per view, offset, region, kind)
    pipeline  the recording, recorded times, the apex per view (the displacement's peak), the face
              band's rows and side, the 224² crops of each view
    worker    id and run, labels, probabilities, attention, latency, the flow maps of each phase

`to_dict()` is one line of the live log (schema in shared/DESIGN.md): the log's fields, never pixels.
Between the events the log holds the face's states (`FaceStateSpan`: still, moving, blink, talking,
no face), one line per stretch, so a reader sees why something or nothing was reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

VIEW_NAMES = ("left", "right")

# the live log's fields, in the order they are written
LOG_FIELDS = (
    "event_id",
    "recording",
    "onset_frame",
    "apex_frame",
    "offset_frame",
    "onset_s",
    "apex_s",
    "offset_s",
    "apex_frame_by_view",
    "peak_intensity",
    "kind",
    "labels",
    "probs",
    "attention",
    "threshold",
    "model",
    "unclassified",
    "latency_ms",
    "band",
    "band_rows",
    "side",
    "run_id",
)
# fields renamed since logs were first written, old name → new: a reader takes a line of either version
RENAMED_LOG_FIELDS = {"source": "recording"}
FACE_STATES = ("still", "moving", "blink", "talking", "no face")
MACRO_NOT_CLASSIFIED = "a macro-expression: logged, not classified"


def read_log_record(record: dict) -> dict:
    """A line of a live log (events, face states, markers) under this version's field names."""
    return {RENAMED_LOG_FIELDS.get(name, name): value for name, value in record.items()}


def view_name(view: int) -> str:
    return VIEW_NAMES[view] if view < len(VIEW_NAMES) else f"view{view}"


@dataclass(frozen=True)
class Event:
    # ---- spotted (stream.spotter); apex, z and intensity per view are those of the strongest band
    onset_frame: int
    offset_frame: int
    apex_frame_by_view: dict[int, int]  # view → frame of its peak intensity (eq. 3 in the band)
    kind: str  # "micro" | "macro"
    band: int = 0  # the face band that moved most (index, top band 0)
    region: int = 0  # the face region that moved most (band · columns + column)
    peak_z_by_view: dict[int, float] = field(default_factory=dict)
    peak_intensity_by_view: dict[int, float] = field(default_factory=dict)
    reference_frame: int | None = None  # the neutral frame the intensities were measured against
    # ---- located (stream.pipeline)
    recording: str = ""  # the recording's name (Frame.recording)
    onset_s: float = 0.0  # recorded times of onset, apex, offset
    apex_s: float = 0.0
    offset_s: float = 0.0
    band_rows: tuple[float, float] | None = None  # the band's top and bottom row, fractions of the measured height
    side: str | None = None  # the region's half of the picture: left, right (None: whole width)
    crops: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False, compare=False
    )  # view → onset, apex, offset 224²
    confirmed_at: float = 0.0  # perf_counter() when the spotter confirmed the offset
    # ---- classified (stream.engine's worker)
    event_id: int = 0
    run_id: str = ""  # the engine run: (run_id, event_id) is unique in a log
    labels: tuple[str, ...] = ()
    probs: dict[str, float] = field(default_factory=dict)
    attention: dict[str, float] = field(default_factory=dict)  # block-2 stream weights alpha_u, alpha_v, alpha_m
    threshold: float | None = None  # the decision threshold the labels were taken at
    model: str | None = None  # the classifier's name (None: no classifier ran)
    unclassified: str | None = None  # why the event has no labels (macro, no model, frames gone, a failure)
    latency_ms: float | None = None  # offset confirmed → classified and written
    flow_maps: dict[str, np.ndarray] = field(
        default_factory=dict, repr=False, compare=False
    )  # "left/onset_apex" → (3, S, S) float16 in [-1, 1]
    se_gate_mean: float | None = None
    attention_block1: dict[str, float] = field(default_factory=dict)

    @property
    def apex_frame(self) -> int:
        """The combined apex: that of the view with the strongest response."""
        if not self.peak_z_by_view:
            return min(self.apex_frame_by_view.values())
        view = max(self.peak_z_by_view, key=self.peak_z_by_view.get)
        return self.apex_frame_by_view[view]

    @property
    def peak_intensity(self) -> float:
        return max(self.peak_intensity_by_view.values(), default=0.0)

    @property
    def duration_s(self) -> float:
        return self.offset_s - self.onset_s

    @property
    def why_unlabelled(self) -> str:
        """Why the event has no labels: the engine's reason, else what its kind says."""
        return self.unclassified or (MACRO_NOT_CLASSIFIED if self.kind == "macro" else "not classified")

    @property
    def apex_crops(self) -> dict[str, np.ndarray]:
        """View name → the 224² crop at that view's apex."""
        return {view_name(v): crops[1] for v, crops in self.crops.items()}

    @property
    def has_pictures(self) -> bool:
        return bool(self.crops or self.flow_maps)

    def without_pictures(self) -> Event:
        """The same event without its crops and flow maps: what is kept of it once it is old."""
        return replace(self, crops={}, flow_maps={}) if self.has_pictures else self

    def to_dict(self) -> dict:
        """The event's line in the live log."""
        values = {
            "apex_frame": self.apex_frame,
            "peak_intensity": round(self.peak_intensity, 4),
            "apex_frame_by_view": {view_name(v): f for v, f in self.apex_frame_by_view.items()},
            "onset_s": round(self.onset_s, 4),
            "apex_s": round(self.apex_s, 4),
            "offset_s": round(self.offset_s, 4),
            "labels": list(self.labels),
            "probs": dict(self.probs),
            "attention": dict(self.attention),
            "band_rows": list(self.band_rows) if self.band_rows is not None else None,
        }
        return {name: values[name] if name in values else getattr(self, name) for name in LOG_FIELDS}


@dataclass(frozen=True)
class FaceStateSpan:
    """A stretch of one face state in one recording: frames first…last, recorded times start…end."""

    state: str  # one of FACE_STATES
    recording: str
    first_frame: int
    last_frame: int
    start_s: float
    end_s: float
    run_id: str = ""

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_dict(self) -> dict:
        """Its line in the live log, told from events by `kind`."""
        return {
            "kind": "face_state",
            "state": self.state,
            "recording": self.recording,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "start_s": round(self.start_s, 4),
            "end_s": round(self.end_s, 4),
            "run_id": self.run_id,
        }


Record = Event | FaceStateSpan  # what the pipeline hands on: events and the face's states between them
