"""The event record: one JSON object per line in the live log (schema in shared/DESIGN.md)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

VIEW_NAMES = ("left", "right")


@dataclass(frozen=True)
class EventRecord:
    event_id: int
    source: str
    onset_frame: int
    apex_frame: int
    offset_frame: int
    onset_s: float
    apex_s: float
    offset_s: float
    apex_frame_by_view: dict[str, int]
    peak_intensity: float                       # in the face band that moved most
    kind: str                                   # "micro" | "macro"
    labels: list[str] = field(default_factory=list)
    probs: dict[str, float] = field(default_factory=dict)
    attention: dict[str, float] = field(default_factory=dict)
    threshold: float | None = None
    model: str | None = None
    latency_ms: float | None = None
    face_band: list[float] | None = None        # rows of the face box (top, bottom; fractions) that moved most
    run_id: str = ""                            # the engine run that spotted it: (run_id, event_id) is unique in a log

    @property
    def duration_s(self) -> float:
        return self.offset_s - self.onset_s

    def to_dict(self) -> dict:
        return asdict(self)


def view_name(view: int) -> str:
    return VIEW_NAMES[view] if view < len(VIEW_NAMES) else f"view{view}"
