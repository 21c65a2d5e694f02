"""Reader for datasets in the 4DME layout.

    ROOT/<sub_ID>/<fold_name>/<frames>.jpg      frames sorted by the number in their names
    ROOT/labels.csv  or  ROOT/4DME_Labelling_Micro_release v1.xlsx
        sub_ID, fold_name, Emotion, Onset, Apex, Offset, AUs, Negative, Positive, Repression, Surprise, Others
    ROOT/events.csv  (long recordings only)
        sub_ID, fold_name, onset, apex, offset, labels[, kind]
    ROOT/dataset.json  (optional) frame rate per recording and views per frame, e.g.
        {"views": 1, "fps": {"d14/d14_r1": 30.0}}

Frames load lazily: a Sequence holds paths, and `load_frame` decodes one on request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from mer_live.corpora.labels import CLASSES
from mer_live.corpora.tables import column_names, frame_at, normalise, read_table
from mer_live.stream.folders import DatasetError, list_frames, read_image
from mer_live.stream.settings import ConfigError, config_class, config_to_json, load_config

LABEL_COLUMNS = ("sub_ID", "fold_name", "Emotion", "Onset", "Apex", "Offset", "AUs") + CLASSES
EVENT_COLUMNS = ("sub_ID", "fold_name", "onset", "apex", "offset", "labels")
XLSX_NAME = "4DME_Labelling_Micro_release v1.xlsx"
INFO_NAME = "dataset.json"
FrameRate = Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]


@dataclass(frozen=True)
class Sequence:
    """One labelled micro-expression: a folder of frames and its onset/apex/offset frame numbers."""

    subject: str
    name: str
    folder: Path
    frame_numbers: tuple[int, ...]
    frame_paths: tuple[Path, ...]
    onset: int
    apex: int | None
    offset: int
    labels: tuple[str, ...]
    aus: str = ""
    emotion: str = ""  # the dataset's own emotion word, before any label map
    dataset: str = "4DME"

    @property
    def key(self) -> str:
        return f"{self.subject}/{self.name}/{self.onset}"

    def multi_hot(self, classes: tuple[str, ...] = CLASSES) -> np.ndarray:
        return np.array([float(c in self.labels) for c in classes], dtype=np.float32)

    def event_numbers(self) -> list[int]:
        """Frame numbers from onset to offset that exist on disk (gaps are skipped)."""
        return [n for n in self.frame_numbers if self.onset <= n <= self.offset]

    def path_of(self, number: int) -> Path:
        try:
            return self.frame_paths[self.frame_numbers.index(number)]
        except ValueError:
            raise DatasetError(f"frame {number} is not in {self.folder}") from None

    def load_frame(self, number: int) -> np.ndarray:
        """Decode frame `number` as (H, W, 3) uint8 RGB."""
        return read_image(self.path_of(number))


@dataclass(frozen=True)
class TrueEvent:
    """One ground-truth event of a long recording (events.csv)."""

    subject: str
    name: str
    onset: int
    apex: int
    offset: int
    labels: tuple[str, ...]
    kind: str = "micro"


def find_labels_file(root: Path) -> Path:
    for name in ("labels.csv", XLSX_NAME):
        if (root / name).exists():
            return root / name
    raise DatasetError(f"no labels.csv or '{XLSX_NAME}' in {root}")


def read_labels(path: Path, root: Path | None = None) -> list[Sequence]:
    """Sequences of a labels file; frame folders are looked up under `root` (default: the file's folder)."""
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    if not path.exists():
        raise DatasetError(f"labels file does not exist: {path}")
    rows = read_table(path)
    if not rows:
        raise DatasetError(f"labels file has no rows: {path}")
    col = column_names(rows, LABEL_COLUMNS, path)
    sequences = []
    for row in rows:
        i = row.number
        subject, name = row[col["sub_ID"]], row[col["fold_name"]]
        numbers, paths = list_frames(root / subject / name)
        onset = frame_at(row[col["Onset"]], "Onset", path, i)
        offset = frame_at(row[col["Offset"]], "Offset", path, i)
        apex = frame_at(row[col["Apex"]], "Apex", path, i, optional=True)
        if offset < onset or (apex is not None and not onset <= apex <= offset):
            raise DatasetError(f"{path} row {i}: needs Onset ≤ Apex ≤ Offset, got {onset}, {apex}, {offset}")
        labels = tuple(c for c in CLASSES if row[col[c]] not in ("", "0", "0.0"))
        if not labels:
            raise DatasetError(f"{path} row {i}: no class column is set for {subject}/{name}")
        sequences.append(
            Sequence(
                subject,
                name,
                root / subject / name,
                numbers,
                paths,
                onset,
                apex,
                offset,
                labels,
                row[col["AUs"]],
                row[col["Emotion"]],
            )
        )
    return sequences


def load_dataset(root: Path) -> list[Sequence]:
    """All labelled sequences under a 4DME-layout root."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder does not exist: {root}")
    return read_labels(find_labels_file(root), root)


def read_events(root: Path) -> list[TrueEvent]:
    """Ground-truth events of long recordings from ROOT/events.csv."""
    path = Path(root) / "events.csv"
    if not path.exists():
        raise DatasetError(f"no events.csv in {root} (needed for spotting scores)")
    rows = read_table(path)
    if not rows:
        return []
    col = column_names(rows, EVENT_COLUMNS, path)
    kind_col = next((k for k in rows[0] if normalise(k) == "kind"), None)  # optional column
    events = []
    for row in rows:
        i = row.number
        labels = tuple(x for x in row[col["labels"]].split("+") if x)
        events.append(
            TrueEvent(
                row[col["sub_ID"]],
                row[col["fold_name"]],
                frame_at(row[col["onset"]], "onset", path, i),
                frame_at(row[col["apex"]], "apex", path, i),
                frame_at(row[col["offset"]], "offset", path, i),
                labels,
                row[kind_col] if kind_col else "micro",
            )
        )
    return events


def recordings(root: Path) -> list[tuple[str, str, Path]]:
    """Every `(sub_ID, fold_name, folder)` under a root, sorted, whether labelled or not."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder does not exist: {root}")
    return sorted((s.name, f.name, f) for s in root.iterdir() if s.is_dir() for f in s.iterdir() if f.is_dir())


@config_class
class DatasetInfo:
    """What a dataset states about its recordings (ROOT/dataset.json): views per frame and the frame
    rate of each recording ("<sub_ID>/<fold_name>"), so a replay needs no --fps or --views."""

    views: Literal[1, 2] | None = None
    fps: dict[str, FrameRate] = Field(default_factory=dict)

    def fps_of(self, recording: str, default: float) -> float:
        return float(self.fps.get(recording, default))

    def write(self, root: Path) -> None:
        (Path(root) / INFO_NAME).write_text(json.dumps(config_to_json(self), indent=2) + "\n")

    @classmethod
    def read(cls, root: Path) -> DatasetInfo:
        """The root's dataset.json; an empty info when there is none."""
        path = Path(root) / INFO_NAME
        if not path.is_file():
            return cls()
        try:
            return load_config(cls, path)
        except ConfigError as exc:
            raise DatasetError(f"cannot read {exc}") from None
