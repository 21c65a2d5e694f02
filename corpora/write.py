"""Write a 4DME-layout set (e.g. `mer synth` output) in the layout of CASME II, SAMM or SMIC, so the
composite protocol and the readers can run end to end without the licensed data.

One view per clip (these datasets film one face), the frames from onset to offset, a coding sheet with
the dataset's own headers (SAMM's below a block of notes) and each clip's first label as the dataset's
emotion word. SMIC has no sheet: its folders carry the label (its releases hold .bmp frames; these are
JPEG, which the reader takes alike). A label SMIC has no word for (Others) is not written. SAMM has no
repression: Repression clips are written as Contempt, which its readers map to Negative (and the
composite to negative, as Repression is there).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import cv2
from tqdm import tqdm

from mer_live.corpora.fourdme import Sequence
from mer_live.stream.views import split_views

LAYOUTS = ("casme2", "samm", "smic")

EMOTION_WORDS = {
    "casme2": {
        "Negative": "disgust",
        "Positive": "happiness",
        "Repression": "repression",
        "Surprise": "surprise",
        "Others": "others",
    },
    "samm": {
        "Negative": "Anger",
        "Positive": "Happiness",
        "Repression": "Contempt",
        "Surprise": "Surprise",
        "Others": "Other",
    },
    "smic": {"Negative": "negative", "Positive": "positive", "Repression": "negative", "Surprise": "surprise"},
}
CASME2_HEADER = [
    "Subject",
    "Filename",
    "",
    "OnsetFrame",
    "ApexFrame",
    "OffsetFrame",
    "",
    "Action Units",
    "Estimated Emotion",
]
SAMM_HEADER = [
    "Subject",
    "Filename",
    "Inducement Code",
    "Onset Frame",
    "Apex Frame",
    "Offset Frame",
    "Duration",
    "Micro",
    "Action Units",
    "Estimated Emotion",
    "Objective Classes",
    "Notes",
]
SAMM_NOTES = 13  # rows of notes above SAMM's header


def write_layout(sequences: list[Sequence], out: Path, layout: str, views: int = 2, progress: bool = True) -> dict:
    """Write `sequences` (first view of each) under `out` in `layout`; returns counts per emotion word."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    out = Path(out)
    subjects = {s: i + 1 for i, s in enumerate(sorted({seq.subject for seq in sequences}))}
    rows, counts, per_subject = [], defaultdict(int), defaultdict(int)
    for seq in tqdm(sequences, desc=f"write {layout}", unit="clip", disable=not progress, file=sys.stderr):
        word = EMOTION_WORDS[layout].get(seq.labels[0])
        if word is None:
            continue
        number = subjects[seq.subject]
        per_subject[number] += 1
        clip, folder, name = _clip_path(layout, number, per_subject[number], word)
        (out / folder).mkdir(parents=True, exist_ok=True)
        for frame in seq.event_numbers():
            view = split_views(seq.load_frame(frame), views)[0]
            cv2.imwrite(str(out / folder / name.format(frame)), cv2.cvtColor(view, cv2.COLOR_RGB2BGR))
        rows.append(_sheet_row(layout, number, clip, seq, word))
        counts[word] += 1
    if layout != "smic":
        _write_sheet(out, layout, rows)
    return {"layout": layout, "clips": sum(counts.values()), "emotions": dict(counts), "root": str(out)}


def _clip_path(layout: str, subject: int, index: int, word: str) -> tuple[str, str, str]:
    """(clip name, its frame folder below the root, frame file name pattern)."""
    if layout == "casme2":
        clip = f"EP{index:02d}_01"
        return clip, f"CASME2_RAW_selected/sub{subject:02d}/{clip}", "img{}.jpg"
    if layout == "samm":
        code = f"{subject:03d}"
        clip = f"{code}_1_{index}"
        return clip, f"SAMM/{code}/{clip}", code + "_{:05d}.jpg"
    clip = f"s{subject}_{word[:2] if word != 'surprise' else 'sur'}_{index:02d}"
    return clip, f"SMIC_all_cropped/HS/s{subject}/micro/{word}/{clip}", "reg_image{:06d}.jpg"


def _sheet_row(layout: str, subject: int, clip: str, seq: Sequence, word: str) -> list:
    apex = seq.apex if seq.apex is not None else "/"
    if layout == "casme2":
        return [subject, clip, "", seq.onset, apex, seq.offset, "", seq.aus, word]
    return [
        f"{subject:03d}",
        clip,
        1,
        seq.onset,
        apex,
        seq.offset,
        seq.offset - seq.onset + 1,
        "Micro",
        seq.aus,
        word,
        "",
        "",
    ]


def _write_sheet(out: Path, layout: str, rows: list[list]) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    if layout == "samm":
        for i in range(SAMM_NOTES):
            sheet.append([f"note {i + 1}: written by mer synth --layout samm"] if i % 4 == 0 else [])
        sheet.append(SAMM_HEADER)
        path = out / "SAMM_Micro_FACS_Codes_v2.xlsx"
    else:
        sheet.append(CASME2_HEADER)
        path = out / "CASME2-coding-20140508.xlsx"
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path
