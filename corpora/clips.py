"""Readers of the micro-expression clip datasets in their own layouts and coding sheets.

Each reader turns a dataset root into Sequences (corpora.fourdme) with the five-class labels of
corpora.labels, the dataset's own emotion word and its frame rate. Layouts, as public loaders read
them (the sheets themselves are licensed and not here):

  CASME II   CASME2-coding-*.xlsx: Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame, Action Units,
             Estimated Emotion (an apex of "/" is unknown);
             frames [CASME2_RAW_selected|Cropped]/sub01/EP02_01f/img46.jpg
  SAMM       SAMM_Micro_FACS_Codes_v2.xlsx, its header below a block of notes: Subject, Filename,
             Onset Frame, Apex Frame, Offset Frame, Action Units, Estimated Emotion;
             frames SAMM/006/006_1_2/006_05562.jpg
  CAS(ME)3   cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx, sheet "label": Subject, Filename, Onset, Apex,
             Offset, AU, emotion; frames .../part_A/spNO.1/b/color/166.jpg (several clips per folder)
  SMIC       no sheet: HS/s1/micro/negative/s1_ne_01/reg_image000123.bmp; onset and offset are the
             first and last frame, no apex; HS 100 fps, VIS and NIR 25 fps
  MMEW       MMEW_Micro_Exp.xlsx: Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame, Action Units,
             Estimated Emotion; frames Micro_Expression/happiness/S01-01-001/1.jpg

Frame numbers come from the digits of each file name (padding differs between releases). The folder
that holds the frames may sit a few levels below the root (CASME II's "Cropped", CAS(ME)3's
"data/part_A_split/part_A"): it is found once, from the first row whose clip exists. A row that cannot
be used (emotion outside the map, onset after offset, clip folder missing) is skipped and named;
a sheet without a needed column is refused.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path

from mer_live.corpora.fourdme import Sequence
from mer_live.corpora.labels import five_class
from mer_live.corpora.tables import column_names, frame_at, normalise, read_table
from mer_live.stream.folders import DatasetError, list_frames

FIELDS = ("subject", "clip", "onset", "apex", "offset", "emotion")
# Other spellings releases use (compared without case, spaces or underscores: "Onset Frame" == "OnsetFrame")
ALIASES = {
    "onset": ("Onset", "OnsetFrame", "OnsetF"),
    "apex": ("Apex", "ApexFrame", "ApexF"),
    "offset": ("Offset", "OffsetFrame", "OffsetF"),
    "emotion": ("Estimated Emotion", "Emotion"),
    "aus": ("Action Units", "AU", "AUs"),
}


@dataclass(frozen=True)
class Corpus:
    """A dataset as read: its name and frame rate, the usable sequences, the rows skipped with their
    reason, and the folder its frames were found under."""

    name: str
    root: Path
    sequences: list[Sequence]
    fps: float
    skipped: list[str] = field(default_factory=list)
    frames_root: Path | None = None


@dataclass(frozen=True)
class SheetLayout:
    """A clip dataset described by its coding sheet: where the sheet is, what its columns are called,
    and where a row's frames lie."""

    name: str
    sheet_globs: tuple[str, ...]
    columns: dict[str, str]  # FIELDS (and "aus", optional) → the sheet's header
    fps: float
    sheet_page: str | None = None  # the sheet to read when the workbook has it (else the first)
    subject_digits: int = 0  # zero-pad a numeric subject to this many digits
    subject_prefix: str = ""  # CASME II folders are "sub01" for subject 1
    folders: tuple[tuple[str, ...], ...] = (("{subject}", "{clip}"),)  # a row's frame folder, most specific first

    def subject_of(self, value: str) -> str:
        """The subject's folder name: a number (1, "006", "1.0") padded and prefixed, a name as it is."""
        try:
            number = float(value)
        except ValueError:
            return value
        return self.subject_prefix + str(int(number)).zfill(self.subject_digits) if number.is_integer() else value

    def clip_parts(self, subject: str, row: dict[str, str]) -> list[tuple[str, ...]]:
        """Candidate paths of a row's frame folder below the frames root, most specific first."""
        return [
            tuple(part.format(subject=subject, clip=row["clip"], emotion=row["emotion"]) for part in template)
            for template in self.folders
        ]


# CASME II's sheet columns; MMEW's sheet uses the same
CASME2_COLUMNS = {
    "subject": "Subject",
    "clip": "Filename",
    "onset": "OnsetFrame",
    "apex": "ApexFrame",
    "offset": "OffsetFrame",
    "aus": "Action Units",
    "emotion": "Estimated Emotion",
}
CASME2 = SheetLayout(
    "CASME II",
    ("CASME2-coding*.xlsx", "CASME2*coding*.csv"),
    CASME2_COLUMNS,
    fps=200.0,
    subject_digits=2,
    subject_prefix="sub",
)
SAMM = SheetLayout(
    "SAMM",
    ("SAMM*Micro_FACS_Codes*.xlsx", "SAMM*Micro_FACS_Codes*.csv"),
    {
        "subject": "Subject",
        "clip": "Filename",
        "onset": "Onset Frame",
        "apex": "Apex Frame",
        "offset": "Offset Frame",
        "aus": "Action Units",
        "emotion": "Estimated Emotion",
    },
    fps=200.0,
    subject_digits=3,
)
CASME3 = SheetLayout(
    "CAS(ME)3",
    ("cas(me)3_part_A_ME_label*.xlsx", "cas(me)3_part_A_ME_label*.csv"),
    {
        "subject": "Subject",
        "clip": "Filename",
        "onset": "Onset",
        "apex": "Apex",
        "offset": "Offset",
        "aus": "AU",
        "emotion": "emotion",
    },
    fps=30.0,
    sheet_page="label",
    folders=(("{subject}", "{clip}", "color"), ("{subject}", "{clip}")),
)
MMEW = SheetLayout(
    "MMEW",
    ("MMEW_Micro_Exp*.xlsx", "MMEW_Micro_Exp*.csv"),
    CASME2_COLUMNS,
    fps=90.0,
    folders=(("Micro_Expression", "{emotion}", "{clip}"), ("{emotion}", "{clip}")),
)
SHEET_LAYOUTS = {"casme2": CASME2, "samm": SAMM, "casme3": CASME3, "mmew": MMEW}

SMIC_FPS = {"HS": 100.0, "VIS": 25.0, "NIR": 25.0}


def _entries(folder: Path) -> list[os.DirEntry]:
    """A folder's entries by name; d_type tells files from folders without a stat per frame file."""
    try:
        with os.scandir(folder) as entries:
            return sorted(entries, key=lambda e: e.name)
    except OSError:
        return []


def _subfolders(folder: Path) -> list[Path]:
    """The visible folders in `folder`, those named like a crop first ("Cropped" before "…_RAW_…":
    a dataset that ships both is read from its cropped faces)."""
    found = [Path(e.path) for e in _entries(folder) if e.is_dir() and not e.name.startswith(".")]
    return sorted(found, key=lambda p: ("crop" not in p.name.lower(), p.name))


def folders_breadth_first(root: Path, depth: int):
    """`root`, then the folders one level below it, … down to `depth` levels (the walk every search
    here shares: folders only, so a tree of frames costs one listing per folder)."""
    level = [Path(root)]
    for _ in range(depth + 1):
        yield from level
        level = [sub for folder in level for sub in _subfolders(folder)]


def find_file(root: Path, globs: tuple[str, ...], depth: int = 2) -> Path | None:
    """The first file matching one of `globs` (case ignored) in `root` or up to `depth` levels below."""
    patterns = [g.lower() for g in globs]
    for folder in folders_breadth_first(root, depth):
        files = [e for e in _entries(folder) if e.is_file()]
        for pattern in patterns:
            match = next((e for e in files if fnmatch.fnmatch(e.name.lower(), pattern)), None)
            if match is not None:
                return Path(match.path)
    return None


def resolve(base: Path, parts: tuple[str, ...]) -> Path | None:
    """`base/parts...` with each part matched without case ("spNO.1" finds "spNo.1"); None if absent."""
    here = base
    for part in parts:
        if (here / part).is_dir():
            here = here / part
            continue
        here = next((Path(e.path) for e in _entries(here) if e.is_dir() and e.name.lower() == part.lower()), None)
        if here is None:
            return None
    return here


def frames_root(root: Path, parts: list[tuple[str, ...]], depth: int = 4) -> Path | None:
    """The folder at or below `root` under which one of the candidate clip paths exists."""
    return next(
        (
            base
            for base in folders_breadth_first(root, depth)
            if any(resolve(base, candidate) is not None for candidate in parts)
        ),
        None,
    )


def read_sheet_corpus(root: Path, layout: SheetLayout) -> Corpus:
    root = Path(root)
    sheet = find_file(root, layout.sheet_globs)
    if sheet is None:
        raise DatasetError(f"no {layout.name} coding sheet ({' or '.join(layout.sheet_globs)}) in {root}")
    raw = read_table(sheet, header_cell=layout.columns["subject"], sheet=layout.sheet_page)
    if not raw:
        raise DatasetError(f"{sheet} has no rows below its header")
    aliases = {layout.columns[f]: ALIASES.get(f, ()) for f in layout.columns}
    col = column_names(raw, tuple(layout.columns[f] for f in FIELDS), sheet, aliases)
    present = {normalise(k): k for k in raw[0]}
    aus = next(
        (present[normalise(n)] for n in (layout.columns["aus"], *ALIASES["aus"]) if normalise(n) in present), None
    )  # optional: a sheet without action units still reads
    sequences, skipped, seen, base, searched = [], [], set(), None, set()
    for r in raw:
        row = {f: r[col[layout.columns[f]]] for f in FIELDS}
        row["aus"] = r[aus] if aus else ""
        if not row["subject"] or not row["clip"]:
            continue  # notes below the table
        subject = layout.subject_of(row["subject"])
        try:
            label = five_class(layout.name, row["emotion"])
            if label is None:
                raise DatasetError(f"emotion {row['emotion']!r} is not in the {layout.name} label map")
            candidates = layout.clip_parts(subject, row)
            top = candidates[-1][0]  # the subject's (MMEW: the emotion's) folder
            if base is None and top not in searched:  # the frames root is looked for once per such folder
                searched.add(top)
                base = frames_root(root, candidates)
            folder = next((f for c in candidates if base and (f := resolve(base, c)) is not None), None)
            if folder is None:
                raise DatasetError(f"no frame folder {'/'.join(candidates[0])} under {base or root}")
            sequence = _sequence(layout.name, subject, row, folder, sheet, r.number, label)
            if sequence.key in seen:
                raise DatasetError("the same clip and onset as a row above")
            seen.add(sequence.key)
            sequences.append(sequence)
        except DatasetError as exc:
            skipped.append(f"{sheet.name} row {r.number} ({subject}/{row['clip']}): {exc}")
    if not sequences:
        raise DatasetError(f"no usable clip in {sheet}" + (f"; the first problem: {skipped[0]}" if skipped else ""))
    return Corpus(layout.name, root, sequences, layout.fps, skipped, base)


def _sequence(
    dataset: str, subject: str, row: dict[str, str], folder: Path, sheet: Path, number: int, label: str
) -> Sequence:
    onset = frame_at(row["onset"], "onset", sheet, number)
    offset = frame_at(row["offset"], "offset", sheet, number)
    apex = frame_at(row["apex"], "apex", sheet, number, optional=True)
    if offset <= onset or (apex is not None and not onset <= apex <= offset):
        raise DatasetError(f"needs onset < offset and the apex between them, got {onset}, {apex}, {offset}")
    numbers, paths = list_frames(folder)
    if sum(onset <= n <= offset for n in numbers) < 2:
        raise DatasetError(f"fewer than 2 frames between onset {onset} and offset {offset} in {folder}")
    return Sequence(
        subject, row["clip"], folder, numbers, paths, onset, apex, offset, (label,), row["aus"], row["emotion"], dataset
    )


def smic_modality(root: Path, depth: int = 3) -> tuple[str, Path] | None:
    """(modality, its folder) of the first SMIC tree (HS, else VIS, else NIR: `<modality>/s<N>/micro/`)
    at or up to `depth` levels below `root`."""
    found = {}
    for folder in folders_breadth_first(root, depth):
        if (
            folder.name in SMIC_FPS
            and folder.name not in found
            and any((sub / "micro").is_dir() for sub in _subfolders(folder) if sub.name.startswith("s"))
        ):
            found[folder.name] = folder
    return next(((m, found[m]) for m in SMIC_FPS if m in found), None)


def read_smic(root: Path) -> Corpus:
    """SMIC's micro clips, labelled by their folders; the first modality found of HS, VIS, NIR."""
    root = Path(root)
    found = smic_modality(root)
    if found is None:
        raise DatasetError(f"no SMIC clips (HS|VIS|NIR/s<N>/micro/<emotion>/<clip>/) under {root}")
    modality, tree = found
    sequences, skipped = [], []
    for folder in sorted(p for p in tree.glob("s*/micro/*/*") if p.is_dir()):
        emotion, subject = folder.parent.name, folder.parent.parent.parent.name
        label = five_class("SMIC", emotion)
        try:
            if label is None:
                raise DatasetError(f"emotion folder {emotion!r} is not negative, positive or surprise")
            numbers, paths = list_frames(folder)
            if len(numbers) < 2:
                raise DatasetError("fewer than 2 frames")
        except DatasetError as exc:
            skipped.append(f"{folder}: {exc}")
            continue
        sequences.append(
            Sequence(
                subject,
                folder.name,
                folder,
                numbers,
                paths,
                numbers[0],
                None,
                numbers[-1],
                (label,),
                "",
                emotion,
                "SMIC",
            )
        )
    if not sequences:
        raise DatasetError(f"no usable SMIC clip under {tree}")
    return Corpus("SMIC", root, sequences, SMIC_FPS[modality], skipped, tree)
