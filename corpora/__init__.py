"""Readers for the micro-expression datasets researchers have, each in its own layout.

    load_corpus(root)                 the labelled clips of any supported dataset, its layout detected
    load_corpus(root, "samm")         … or named (`--dataset NAME`)
    load_spotting_set(root[, name])   a long-video set's recordings and true events (SAMM-LV, CAS(ME)2)

A dataset is recognised by the files it holds (its coding sheet, or SMIC's folder tree); `--dataset`
overrides when a folder holds several. Frame rates come with the reader (CASME II and SAMM 200 fps,
CAS(ME)3 30, MMEW 90, SMIC HS 100 / VIS and NIR 25; 4DME 60 unless its dataset.json says otherwise).
"""

from __future__ import annotations

from pathlib import Path

from mer_live.corpora.clips import SHEET_LAYOUTS, Corpus, find_file, read_sheet_corpus, read_smic, smic_modality
from mer_live.corpora.fourdme import XLSX_NAME, load_dataset
from mer_live.corpora.long_videos import CASME2_LV_SHEETS, SAMM_LV_SHEETS, SpottingSet, read_casme2_lv, read_samm_lv
from mer_live.stream.folders import DatasetError

FOURDME_FPS = 60.0
CLIP_SETS = ("4dme", *SHEET_LAYOUTS, "smic")
SPOTTING_SETS = {"samm-lv": read_samm_lv, "casme2-lv": read_casme2_lv}
DATASETS = CLIP_SETS + tuple(SPOTTING_SETS)

_SPOTTING_SHEETS = {"samm-lv": SAMM_LV_SHEETS, "casme2-lv": CASME2_LV_SHEETS}


class UnknownDataset(DatasetError):
    """A folder that holds none of the datasets MER Live reads (e.g. a plain tree of frames)."""


def detect(root: Path) -> str:
    """The dataset a folder holds, by its files: a labels.csv or 4DME sheet makes it 4DME (`mer synth`
    and `mer inject` write those); else the one coding sheet or SMIC tree found. None, or several, is refused."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder does not exist: {root}")
    if (root / "labels.csv").exists() or (root / XLSX_NAME).exists():
        return "4dme"
    found = [name for name, layout in SHEET_LAYOUTS.items() if find_file(root, layout.sheet_globs)]
    found += [name for name, globs in _SPOTTING_SHEETS.items() if find_file(root, globs)]
    if not found and smic_modality(root) is not None:
        found.append("smic")
    if not found:
        raise UnknownDataset(
            f"{root} holds no dataset MER Live knows (labels.csv, a CASME II, SAMM, CAS(ME)3, "
            "MMEW, SAMM-LV or CAS(ME)2 coding sheet, or SMIC's HS|VIS|NIR folders)"
        )
    if len(found) > 1:
        raise DatasetError(f"{root} holds several datasets ({', '.join(found)}): choose one with --dataset")
    return found[0]


def load_corpus(root: Path, name: str | None = None) -> Corpus:
    """The labelled clips of the dataset at `root` (its layout detected unless named)."""
    name = name or detect(root)
    if name == "4dme":
        return Corpus("4DME", Path(root), load_dataset(root), FOURDME_FPS)
    if name == "smic":
        return read_smic(root)
    if name in SHEET_LAYOUTS:
        return read_sheet_corpus(root, SHEET_LAYOUTS[name])
    if name in SPOTTING_SETS:
        raise DatasetError(
            f"{root} is the long-video set {name}: it has no labelled clips to train on; use it with `mer spot`"
        )
    raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")


def load_spotting_set(root: Path, name: str | None = None) -> SpottingSet | None:
    """A long-video set's recordings and true events, or None when `root` is not one (a 4DME-layout
    root keeps its events.csv)."""
    name = name or detect(root)
    return SPOTTING_SETS[name](root) if name in SPOTTING_SETS else None
