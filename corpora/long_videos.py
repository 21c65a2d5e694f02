"""The long-video spotting sets with their MEGC annotations, as ground truth for `mer spot` scoring.

  SAMM-LV    SAMM_LongVideos_V*_Release.xlsx: notes, then a header row (Subject, Filename, Inducement
             Code, Onset, Apex, Offset, Duration, Type, Action Units, Notes); Type "Micro - 1/2" or
             "Macro"; an offset of 0 means the apex. Frames SAMM_longvideos/006_1/006_1_0001.jpg: the
             recording is the video code, the first two fields of Filename (006_1_2 → 006_1).
  CAS(ME)2   CAS(ME)^2code_final.xlsx: sheet 1 has no header; its columns by position are participant,
             clip (anger1_1), onset, apex, offset (0 = the apex), AUs, class, type ("micro-expression"
             or "macro-expression"), emotion; sheet "naming rule1" maps participant → subject folder
             (s15), sheet "naming rule2" maps the clip's prefix (anger1) → a video code (0401).
             Frames rawpic/s15/15_0401girlcrashing/img001.jpg.

Each event names its recording by the folder its frames lie in ("<parent>/<folder>"), as the stream
source names recordings, so spots and truth meet by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mer_live.corpora.clips import find_file, frames_root, resolve
from mer_live.corpora.fourdme import TrueEvent
from mer_live.corpora.tables import frame_at, read_rows
from mer_live.stream.folders import DatasetError

SAMM_LV_SHEETS = ("SAMM_LongVideos*.xlsx", "SAMM_LongVideos*.csv")
CASME2_LV_SHEETS = ("CAS(ME)^2code_final*.xlsx", "CAS(ME)2code_final*.xlsx", "code_final*.xlsx")


@dataclass(frozen=True)
class SpottingSet:
    """A long-video set as read: its recordings' folders, the true events, and rows skipped with why.
    These sets film one face: one view per frame."""

    name: str
    fps: float
    folders: list[Path]
    events: list[TrueEvent]
    skipped: list[str]
    views: int = 1


def read_samm_lv(root: Path) -> SpottingSet:
    """The rows whose Filename reads <subject>_<video>_<n> are events; the notes and the header above
    them are not (releases differ in how many rows they take, so the columns are read by position)."""
    root = Path(root)
    sheet = find_file(root, SAMM_LV_SHEETS)
    if sheet is None:
        raise DatasetError(f"no SAMM_LongVideos_*.xlsx in {root}")
    rows = [(i, r) for i, r in read_rows(sheet) if len(r) >= 8 and re.fullmatch(r"\d+_\d+_\d+", r[1].split(".")[0])]
    if not rows:
        raise DatasetError(f"{sheet}: no event rows (Filename like 006_1_2 in column 2)")
    return _spotting_set(
        "SAMM-LV",
        200.0,
        root,
        sheet,
        [
            (
                i,
                "_".join(r[1].split("_")[:2]),
                r[3],
                r[4],
                r[5],
                "micro" if r[7].lower().startswith("micro") else "macro",
                (),
            )
            for i, r in rows
        ],
    )


def read_casme2_lv(root: Path) -> SpottingSet:
    root = Path(root)
    sheet = find_file(root, CASME2_LV_SHEETS)
    if sheet is None:
        raise DatasetError(f"no CAS(ME)^2code_final.xlsx in {root}")
    subjects = {_number(r[2]): _number(r[1]) for r in _naming_rows(sheet, "naming rule1", (1, 2))}
    videos = {r[1]: _number(r[0]).zfill(4) for r in _naming_rows(sheet, "naming rule2", (0, 1))}
    events = []
    for number, cells in read_rows(sheet):  # no header: every row is data
        if len(cells) < 8:
            raise DatasetError(f"{sheet} row {number}: needs 8 columns (participant … type), got {len(cells)}")
        participant, clip = _number(cells[0]), cells[1]
        subject, video = subjects.get(participant), videos.get(clip.split("_")[0])
        if subject is None or video is None:
            events.append(
                (
                    number,
                    None,
                    "",
                    "",
                    "",
                    "",
                    f"participant {participant!r} or clip {clip!r} is not in the naming rule sheets",
                )
            )
            continue
        kind = "micro" if "micro" in cells[7].lower() else "macro"
        events.append((number, f"s{subject}/{subject}_{video}", cells[2], cells[3], cells[4], kind, (cells[6],)))
    return _spotting_set("CAS(ME)2", 30.0, root, sheet, events)


def _number(cell: str) -> str:
    """The number in a code cell without leading zeros: 15.0 → "15", "s15" → "15", "01" → "1"."""
    digits = re.sub(r"\D", "", cell.split(".")[0])
    return str(int(digits)) if digits else ""


def _naming_rows(sheet: Path, page: str, columns: tuple[int, ...]) -> list[list[str]]:
    """The rows of a naming-rule sheet that fill the given columns."""
    return [
        r
        for _, r in read_rows(sheet, page, first_if_missing=False)
        if len(r) > max(columns) and all(r[c] for c in columns)
    ]


def _spotting_set(name: str, fps: float, root: Path, sheet: Path, rows: list[tuple]) -> SpottingSet:
    """Events from (row, recording, onset, apex, offset, kind, labels) rows; a recording is matched
    to the folder that holds its frames (its name, or a folder whose name starts with it)."""
    folders: dict[str, Path] = {}
    events, skipped, base = [], [], None
    for number, recording, onset, apex, offset, kind, labels in rows:
        where = f"{sheet.name} row {number}"
        if recording is None:
            skipped.append(f"{where}: {labels}")
            continue
        try:
            parts = tuple(recording.split("/"))
            base = base or frames_root(root, [parts[:-1] or parts])  # the recordings' holder, found once
            folder = folders.get(recording) or _recording_folder(base, parts, root)
            folders[recording] = folder
            start = frame_at(onset, "onset", sheet, number)
            peak = frame_at(apex, "apex", sheet, number, optional=True)
            end = frame_at(offset, "offset", sheet, number, optional=True) or peak  # 0 / blank: the apex
            if peak is None or end is None or not start <= peak <= end:
                raise DatasetError(f"needs onset ≤ apex ≤ offset, got {onset}, {apex}, {offset}")
        except DatasetError as exc:
            skipped.append(f"{where} ({recording}): {exc}")
            continue
        events.append(TrueEvent(folder.parent.name, folder.name, start, peak, end, labels, kind))
    return SpottingSet(name, fps, sorted(set(folders.values())), events, skipped)


def _recording_folder(base: Path | None, parts: tuple[str, ...], root: Path) -> Path:
    """The folder of a recording ("<parent>/<name>" or "<name>" as `parts`) below `base`; a folder
    named by a prefix ("15_0401" → "15_0401girlcrashing") is found too."""
    holder = resolve(base, parts[:-1]) if base is not None else None
    if holder is not None:
        match = resolve(holder, parts[-1:]) or next(
            (
                sub
                for sub in sorted(holder.iterdir())
                if sub.is_dir() and sub.name.lower().startswith(parts[-1].lower())
            ),
            None,
        )
        if match is not None:
            return match
    raise DatasetError(f"no frame folder for recording {'/'.join(parts)} under {root}")
