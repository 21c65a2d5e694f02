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

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model import CLASSES

LABEL_COLUMNS = ("sub_ID", "fold_name", "Emotion", "Onset", "Apex", "Offset", "AUs") + CLASSES
EVENT_COLUMNS = ("sub_ID", "fold_name", "onset", "apex", "offset", "labels")
XLSX_NAME = "4DME_Labelling_Micro_release v1.xlsx"
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
INFO_NAME = "dataset.json"


class DatasetError(ValueError):
    """A dataset file or folder that cannot be read as the 4DME layout; the message names it."""


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
    emotion: str = ""        # the dataset's own emotion word, before any label map
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


def read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB; gray and RGBA files are converted. A file that does not decode raises DatasetError."""
    from stream.sources import decode_frame   # stream.sources reads datasets through this module

    if not Path(path).exists():
        raise DatasetError(f"frame file does not exist: {path}")
    image = decode_frame(path)
    if isinstance(image, str):
        raise DatasetError(f"cannot decode image {path} ({image}: corrupt, truncated or not an image)")
    return image


def frame_number(path: Path) -> int:
    """The last run of digits in a file name's stem: `img_0042.jpg` → 42."""
    digits = re.findall(r"\d+", Path(path).stem)
    if not digits:
        raise DatasetError(f"frame file name has no number: {path}")
    return int(digits[-1])


def list_frames(folder: Path) -> tuple[tuple[int, ...], tuple[Path, ...]]:
    """Frame numbers and paths of a sequence folder, in numeric order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"sequence folder does not exist: {folder}")
    paths = [p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES]
    if not paths:
        raise DatasetError(f"sequence folder holds no frames ({', '.join(FRAME_SUFFIXES)}): {folder}")
    numbered = sorted((frame_number(p), p) for p in paths)
    numbers = [n for n, _ in numbered]
    if len(set(numbers)) != len(numbers):
        raise DatasetError(f"two frames share a number in {folder}")
    return tuple(numbers), tuple(p for _, p in numbered)


def normalise(name: object) -> str:
    """A column name compared without case, spaces or underscores: "Onset Frame" == "onset_frame"."""
    return re.sub(r"[\s_]+", "", str(name)).lower()


class SheetRow(dict):
    """One row of a sheet by its header, and where it stands in the file (for messages)."""

    def __init__(self, cells: dict[str, str], number: int):
        super().__init__(cells)
        self.number = number


def read_rows(path: Path, sheet: str | None = None, first_if_missing: bool = True) -> list[tuple[int, list[str]]]:
    """The non-empty rows of a CSV or XLSX file as (row number in the file, stripped cells). `sheet`
    names an XLSX sheet, case ignored; when it is missing the first sheet is read, or with
    `first_if_missing=False` the file is refused, naming the sheets it has."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        import openpyxl

        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types for a bad file
            raise DatasetError(f"cannot read spreadsheet {path}: {exc}") from None
        try:
            named = {name.lower(): name for name in book.sheetnames}
            if sheet is not None and sheet.lower() not in named and not first_if_missing:
                raise DatasetError(f"{path} has no sheet {sheet!r} (it has {', '.join(book.sheetnames)})")
            page = book[named[sheet.lower()]] if sheet is not None and sheet.lower() in named else book.worksheets[0]
            rows = [["" if v is None else str(v).strip() for v in row] for row in page.iter_rows(values_only=True)]
        except DatasetError:
            raise
        except Exception as exc:
            raise DatasetError(f"cannot read spreadsheet {path}: {exc}") from None
        finally:
            book.close()
    else:
        try:
            with open(path, newline="", encoding="utf-8-sig") as handle:
                rows = [[cell.strip() for cell in row] for row in csv.reader(handle)]
        except UnicodeDecodeError:
            raise DatasetError(f"{path} is not UTF-8 text (save it as CSV UTF-8)") from None
    return [(number, r) for number, r in enumerate(rows, start=1) if any(r)]


def read_table(path: Path, header_cell: str | None = None, sheet: str | None = None) -> list[SheetRow]:
    """Rows of a CSV or XLSX file by header. The header is the first non-empty row, or the first row
    holding a cell `header_cell` (coding sheets that open with notes, e.g. SAMM's)."""
    rows = read_rows(path, sheet)
    if header_cell is not None:
        wanted = normalise(header_cell)
        start = next((i for i, (_, r) in enumerate(rows) if wanted in map(normalise, r)), None)
        if start is None:
            raise DatasetError(f"{path} has no header row with a {header_cell!r} column")
        rows = rows[start:]
    if not rows:
        return []
    header = [h if h else f"column {i + 1}" for i, h in enumerate(rows[0][1])]
    return [SheetRow(dict(zip(header, r + [""] * (len(header) - len(r)))), number) for number, r in rows[1:]]


def column_names(rows: list[dict[str, str]], required: tuple[str, ...], path: Path,
                 aliases: dict[str, tuple[str, ...]] | None = None) -> dict[str, str]:
    """Map each required column to the file's own spelling (case, spaces and underscores ignored);
    `aliases` gives other spellings a column goes by. A missing column is refused by name."""
    present = {normalise(k): k for k in (rows[0] if rows else {})}
    found, missing = {}, []
    for column in required:
        spellings = (column, *(aliases or {}).get(column, ()))
        match = next((present[normalise(s)] for s in spellings if normalise(s) in present), None)
        if match is None:
            missing.append(column)
        else:
            found[column] = match
    if missing:
        raise DatasetError(f"{path} is missing column(s) {', '.join(missing)}")
    return found


def frame_at(value: str, column: str, path: Path, row: int, optional: bool = False) -> int | None:
    """A frame number from a sheet cell; with `optional`, "/", "-" or blank mean unknown (None)."""
    text = value.strip()
    if optional and text in ("", "/", "-", "nan", "None"):
        return None
    try:
        number = float(text)      # sheets store 46 as "46.0"
        if number.is_integer():
            return int(number)
    except (ValueError, OverflowError):
        pass
    raise DatasetError(f"{path} row {row}: column {column} is not a frame number: {value!r}")


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
        sequences.append(Sequence(subject, name, root / subject / name, numbers, paths,
                                  onset, apex, offset, labels, row[col["AUs"]], row[col["Emotion"]]))
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
    kind_col = next((k for k in rows[0] if normalise(k) == "kind"), None)   # optional column
    events = []
    for row in rows:
        i = row.number
        labels = tuple(x for x in row[col["labels"]].split("+") if x)
        events.append(TrueEvent(row[col["sub_ID"]], row[col["fold_name"]],
                                frame_at(row[col["onset"]], "onset", path, i), frame_at(row[col["apex"]], "apex", path, i),
                                frame_at(row[col["offset"]], "offset", path, i), labels,
                                row[kind_col] if kind_col else "micro"))
    return events


def recordings(root: Path) -> list[tuple[str, str, Path]]:
    """Every `(sub_ID, fold_name, folder)` under a root, sorted, whether labelled or not."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder does not exist: {root}")
    return sorted((s.name, f.name, f) for s in root.iterdir() if s.is_dir()
                  for f in s.iterdir() if f.is_dir())


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset states about its recordings (ROOT/dataset.json): views per frame and the frame
    rate of each recording ("<sub_ID>/<fold_name>"), so a replay needs no --fps or --views."""

    views: int | None = None
    fps: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.views not in (None, 1, 2):
            raise ValueError(f"views must be 1 or 2, got {self.views!r}")
        for name, rate in self.fps.items():
            if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not math.isfinite(rate) or rate <= 0:
                raise ValueError(f"frame rate of {name} must be a number > 0, got {rate!r}")

    def fps_of(self, recording: str, default: float) -> float:
        return float(self.fps.get(recording, default))

    def write(self, root: Path) -> None:
        (Path(root) / INFO_NAME).write_text(json.dumps({"views": self.views, "fps": self.fps}, indent=2) + "\n")

    @classmethod
    def read(cls, root: Path) -> DatasetInfo:
        """The root's dataset.json; an empty info when there is none."""
        path = Path(root) / INFO_NAME
        if not path.is_file():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            return cls(views=data.get("views"), fps=dict(data.get("fps") or {}))
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            raise DatasetError(f"cannot read {path}: {exc}") from None
