"""Spotting scores, MEGC style: a spot is correct when its interval has IoU ≥ 0.5 with a true
interval of the same video; each true interval is matched at most once; F1 over all videos."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mer_live.corpora.fourdme import TrueEvent
from mer_live.stream.folders import DatasetError


@dataclass(frozen=True)
class Interval:
    subject: str
    video: str
    onset: int
    offset: int
    apex: int | None = None


def iou(a: Interval, b: Interval) -> float:
    """Intersection over union of two inclusive frame intervals."""
    inter = min(a.offset, b.offset) - max(a.onset, b.onset) + 1
    if inter <= 0:
        return 0.0
    union = (a.offset - a.onset + 1) + (b.offset - b.onset + 1) - inter
    return inter / union


def match(spots: list[Interval], truths: list[Interval], min_iou: float = 0.5) -> list[tuple[Interval, Interval]]:
    """Greedy one-to-one matching by highest IoU within each video."""
    pairs = sorted(
        (
            (iou(s, t), i, j)
            for i, s in enumerate(spots)
            for j, t in enumerate(truths)
            if (s.subject, s.video) == (t.subject, t.video)
        ),
        reverse=True,
    )
    used_s, used_t, matched = set(), set(), []
    for value, i, j in pairs:
        if value < min_iou:
            break
        if i not in used_s and j not in used_t:
            used_s.add(i)
            used_t.add(j)
            matched.append((spots[i], truths[j]))
    return matched


def spotting_report(spots: list[Interval], truths: list[Interval], min_iou: float = 0.5) -> dict:
    matched = match(spots, truths, min_iou)
    tp = len(matched)
    precision = tp / len(spots) if spots else 0.0
    recall = tp / len(truths) if truths else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    report = {
        "spots": len(spots),
        "true": len(truths),
        "tp": tp,
        "fp": len(spots) - tp,
        "fn": len(truths) - tp,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "min_iou": min_iou,
    }
    errors = [abs(s.apex - t.apex) for s, t in matched if s.apex is not None and t.apex is not None]
    if errors:
        report["apex_error_frames"] = {
            "mean": round(float(np.mean(errors)), 2),
            "within_1": round(float(np.mean(np.array(errors) <= 1)), 4),
            "within_2": round(float(np.mean(np.array(errors) <= 2)), 4),
        }
    return report


def true_intervals(events: list[TrueEvent], kind: str = "micro") -> list[Interval]:
    return [Interval(e.subject, e.name, e.onset, e.offset, e.apex) for e in events if e.kind == kind]


def read_spots(path: Path) -> list[Interval]:
    """Rows of a MEGC spotting CSV (`subject,video,onset,offset,emotion`; an `apex` column is used when present)."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"spots file does not exist: {path}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = {"subject", "video", "onset", "offset"} - set(reader.fieldnames or [])
            if missing:
                raise DatasetError(f"{path} is missing column(s) {', '.join(sorted(missing))}")
            return [
                Interval(
                    r["subject"],
                    r["video"],
                    int(r["onset"]),
                    int(r["offset"]),
                    int(r["apex"]) if r.get("apex") else None,
                )
                for r in reader
            ]
    except UnicodeDecodeError:
        raise DatasetError(f"{path} is not UTF-8 text (save it as CSV UTF-8)") from None
    except DatasetError:
        raise
    except ValueError as exc:
        raise DatasetError(f"{path}: a frame number is not an integer ({exc})") from None


def macro_confusions(spots: list[Interval], macros: list[Interval]) -> int:
    """Micro spots that overlap a true macro-expression: macro-expressions reported as micro."""
    return sum(1 for s in spots if any((s.subject, s.video) == (m.subject, m.video) and iou(s, m) > 0 for m in macros))
