"""Dataset readers on hand-made fixtures in each dataset's own layout: a few tiny frames and a coding
sheet with the headers public loaders read (the sheets themselves are licensed and never here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import Workbook

from mer_live.corpora import detect, load_corpus, load_spotting_set
from mer_live.corpora.labels import COMPOSITE, FIVE_CLASS, composite_class, five_class, table_markdown
from mer_live.stream.folders import DatasetError
from tests.conftest import write_frames

CASME2_HEADER = [
    "Subject",
    "Filename",
    None,
    "OnsetFrame",
    "ApexFrame",
    "OffsetFrame",
    None,
    "Action Units",
    "Estimated Emotion",
]


def write_sheet(path: Path, rows: list[list], page: str | None = None, extra_pages: dict | None = None) -> Path:
    book = Workbook()
    sheet = book.active
    if page:
        sheet.title = page
    for row in rows:
        sheet.append(row)
    for name, page_rows in (extra_pages or {}).items():
        other = book.create_sheet(name)
        for row in page_rows:
            other.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


@pytest.fixture
def casme2(tmp_path: Path) -> Path:
    write_frames(tmp_path / "CASME2_RAW_selected" / "sub01" / "EP02_01f", range(46, 52))  # both releases here
    write_frames(tmp_path / "Cropped" / "sub01" / "EP02_01f", range(46, 52), name="reg_img{}.jpg")
    write_frames(tmp_path / "Cropped" / "sub04" / "EP12_01f", range(10, 16), name="reg_img{}.jpg")
    write_sheet(
        tmp_path / "CASME2-coding-20140508.xlsx",
        [
            CASME2_HEADER,
            [1, "EP02_01f", None, "46.0", 48, 51, None, "12", "happiness"],  # numbers stored as text floats
            [4, "EP12_01f", None, 10, "/", 15, None, "4+7", "repression"],
            [],  # a blank row
            [4, "EP99_01", None, 1, 2, 3, None, "4", "disgust"],  # no such folder
            [4, "EP12_01f", None, 10, 11, 15, None, "4", "pride"],  # not in the label map
            [4, "EP12_01f", None, 10, 12.5, 15, None, "4", "disgust"],  # not a frame number
            [4, "EP12_01f", None, 10, 13, 15, None, "4", "disgust"],  # the same clip and onset again
        ],
    )
    return tmp_path


def test_casme2_reads_its_coding_sheet_and_cropped_frames(casme2):
    assert detect(casme2) == "casme2"
    corpus = load_corpus(casme2)
    first, second = corpus.sequences
    assert (first.subject, first.name, first.onset, first.apex, first.offset) == ("sub01", "EP02_01f", 46, 48, 51)
    assert first.labels == ("Positive",) and first.emotion == "happiness" and first.aus == "12"
    assert first.folder == casme2 / "Cropped" / "sub01" / "EP02_01f" and first.event_numbers() == list(range(46, 52))
    assert corpus.frames_root == casme2 / "Cropped"  # the cropped faces first
    assert corpus.fps == 200 and first.dataset == "CASME II"
    assert second.apex is None and second.labels == ("Repression",)  # "/" is an unknown apex
    assert [reason.split(":")[0] for reason in corpus.skipped] == [
        "CASME2-coding-20140508.xlsx row 5 (sub04/EP99_01)",
        "CASME2-coding-20140508.xlsx row 6 (sub04/EP12_01f)",
        "CASME2-coding-20140508.xlsx row 7 (sub04/EP12_01f)",
        "CASME2-coding-20140508.xlsx row 8 (sub04/EP12_01f)",
    ]
    assert "no frame folder" in corpus.skipped[0] and "'pride'" in corpus.skipped[1]
    assert "'12.5'" in corpus.skipped[2] and "same clip and onset" in corpus.skipped[3]


def test_a_sheet_missing_a_column_is_refused_naming_the_column_and_the_file(tmp_path):
    write_frames(tmp_path / "sub01" / "EP02_01f", range(1, 4))
    sheet = write_sheet(
        tmp_path / "CASME2-coding-20140508.xlsx",
        [[h for h in CASME2_HEADER if h != "ApexFrame"], [1, "EP02_01f", None, 1, 3, None, "12", "happiness"]],
    )
    with pytest.raises(DatasetError, match=r"missing column\(s\) ApexFrame") as error:
        load_corpus(tmp_path)
    assert str(sheet) in str(error.value)


def test_samm_finds_its_header_below_the_notes(tmp_path):
    write_frames(tmp_path / "SAMM" / "006" / "006_1_2", range(5562, 5570), name="006_{:05d}.jpg")
    write_frames(tmp_path / "SAMM" / "011" / "011_2_1", range(900, 906), name="011_{:04d}.jpg")
    header = [
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
    notes = [["SAMM micro-movement FACS codes"], [], ["Notes: frame numbers are absolute"]] + [[]] * 10
    write_sheet(
        tmp_path / "SAMM_Micro_FACS_Codes_v2.xlsx",
        notes
        + [
            header,
            ["006", "006_1_2", 1, 5562, 5566, 5569, 8, "Micro", "R12", "Happiness", 1, ""],
            [11, "011_2_1", 2, 900, 902, 905, 6, "Micro", "4+7", "Contempt", 3, ""],  # subject as a number
        ],
    )
    assert detect(tmp_path) == "samm"
    corpus = load_corpus(tmp_path)
    assert [(s.subject, s.name, s.onset, s.apex, s.offset, s.labels) for s in corpus.sequences] == [
        ("006", "006_1_2", 5562, 5566, 5569, ("Positive",)),
        ("011", "011_2_1", 900, 902, 905, ("Negative",)),
    ]
    assert corpus.sequences[1].emotion == "Contempt" and corpus.fps == 200


def test_casme3_part_a_holds_several_clips_per_folder_below_color(tmp_path):
    frames = tmp_path / "part_A" / "data" / "part_A_split" / "part_A"
    write_frames(frames / "spNo.1" / "b" / "color", range(160, 200), name="{}.jpg")  # folder case differs
    write_sheet(
        tmp_path / "part_A" / "annotation" / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx",
        [
            ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"],
            ["spNO.1", "b", 166, 175, 179, "4", "III", "disgust"],
            ["spNO.1", "b", 185, 190, 196, "12", "I", "happy"],
        ],
        page="Label",
    )  # the sheet's case varies
    corpus = load_corpus(tmp_path, "casme3")
    assert [(s.onset, s.apex, s.offset, s.labels) for s in corpus.sequences] == [
        (166, 175, 179, ("Negative",)),
        (185, 190, 196, ("Positive",)),
    ]
    assert corpus.sequences[0].folder == frames / "spNo.1" / "b" / "color"
    assert len({s.key for s in corpus.sequences}) == 2 and corpus.fps == 30


def test_mmew_frames_lie_in_emotion_folders(tmp_path):
    write_frames(tmp_path / "Micro_Expression" / "happiness" / "S01-01-001", range(1, 32), name="{}.jpg")
    write_sheet(
        tmp_path / "MMEW_Micro_Exp.xlsx",
        [
            [
                "Subject",
                "Filename",
                "OnsetFrame",
                "ApexFrame",
                "OffsetFrame",
                "Action Units",
                "Estimated Emotion",
                "remarks",
            ],
            [1, "S01-01-001", 1, 15, 31, "6+12", "happiness", None],
        ],
    )
    assert detect(tmp_path) == "mmew"
    corpus = load_corpus(tmp_path)
    (seq,) = corpus.sequences
    assert (seq.subject, seq.onset, seq.apex, seq.offset, seq.labels, corpus.fps) == ("1", 1, 15, 31, ("Positive",), 90)


def test_smic_labels_come_from_folders_and_there_is_no_apex(tmp_path):
    hs = tmp_path / "SMIC_all_cropped" / "HS"
    write_frames(hs / "s1" / "micro" / "negative" / "s1_ne_01", range(123, 130), name="reg_image{:06d}.bmp")
    write_frames(hs / "s3" / "micro" / "surprise" / "s3_sur_02", range(40, 45), name="reg_image{:06d}.bmp")
    write_frames(hs / "s3" / "non_micro" / "s3_no_01", range(1, 5), name="reg_image{:06d}.bmp")
    assert detect(tmp_path) == "smic"
    corpus = load_corpus(tmp_path)
    assert [(s.subject, s.name, s.onset, s.apex, s.offset, s.labels) for s in corpus.sequences] == [
        ("s1", "s1_ne_01", 123, None, 129, ("Negative",)),
        ("s3", "s3_sur_02", 40, None, 44, ("Surprise",)),
    ]
    assert corpus.fps == 100


def test_4dme_reads_as_before_with_its_rate(tiny_dataset):
    corpus = load_corpus(tiny_dataset)
    assert corpus.name == "4DME" and len(corpus.sequences) == 2 and corpus.fps == 60


def test_a_folder_of_nothing_known_and_one_of_two_datasets_are_refused(tmp_path, casme2):
    with pytest.raises(DatasetError, match="holds no dataset"):
        detect(tmp_path / "Cropped" / "sub01")
    write_sheet(casme2 / "MMEW_Micro_Exp.xlsx", [["Subject"]])
    with pytest.raises(DatasetError, match="several datasets .*--dataset"):
        detect(casme2)
    assert load_corpus(casme2, "casme2").name == "CASME II"


def test_samm_long_videos_give_micro_and_macro_events_by_recording(tmp_path):
    write_frames(tmp_path / "SAMM_longvideos" / "006_1", range(1, 30), name="006_1_{:04d}.jpg")
    preamble = [["SAMM Long Videos"], ["Release V3"]] + [[f"note {i}"] for i in range(7)]
    write_sheet(
        tmp_path / "SAMM_LongVideos_V3_Release.xlsx",
        preamble
        + [
            [
                "Subject",
                "Filename",
                "Inducement Code",
                "Onset",
                "Apex",
                "Offset",
                "Duration",
                "Type",
                "Action Units",
                "Notes",
            ],
            ["006", "006_1_1", 1, 3, 5, 9, 7, "Micro - 1/2", "R12", ""],
            ["006", "006_1_2", 1, 12, 15, 0, 4, "Macro", "6+12", "offset 0: the apex"],
            ["006", "006_1_3", 1, 20, 18, 25, 6, "Micro - 1/2", "4", "apex before onset"],
        ],
    )
    found = load_spotting_set(tmp_path)
    assert found.name == "SAMM-LV" and found.fps == 200
    assert found.folders == [tmp_path / "SAMM_longvideos" / "006_1"]
    assert [(e.subject, e.name, e.onset, e.apex, e.offset, e.kind) for e in found.events] == [
        ("SAMM_longvideos", "006_1", 3, 5, 9, "micro"),
        ("SAMM_longvideos", "006_1", 12, 15, 15, "macro"),
    ]
    assert len(found.skipped) == 1 and "row 13" in found.skipped[0]


def test_casme_sq_long_videos_map_codes_through_the_naming_sheets(tmp_path):
    write_frames(tmp_path / "rawpic" / "s15" / "15_0401girlcrashing", range(1, 40), name="img{:03d}.jpg")
    write_sheet(
        tmp_path / "CAS(ME)^2code_final.xlsx",
        [
            [1, "anger1_1", 5, 8, 12, "4+7", "negative", "micro-expression", "anger"],
            [1, "anger1_2", 20, 26, 0, "12", "positive", "macro-expression", "happiness"],
        ],
        page="CASFEcode_final",
        extra_pages={
            "naming rule1": [[None, "s15", "01"]],  # a padded code
            "naming rule2": [["0401", "anger1", None]],
        },
    )
    found = load_spotting_set(tmp_path)
    assert found.fps == 30 and found.folders == [tmp_path / "rawpic" / "s15" / "15_0401girlcrashing"]
    assert [(e.subject, e.name, e.onset, e.apex, e.offset, e.kind, e.labels) for e in found.events] == [
        ("s15", "15_0401girlcrashing", 5, 8, 12, "micro", ("negative",)),
        ("s15", "15_0401girlcrashing", 20, 26, 26, "macro", ("positive",)),
    ]
    with pytest.raises(DatasetError, match="long-video set casme2-lv"):
        load_corpus(tmp_path)


def test_label_maps_cover_the_composite_and_the_dataset_guide_states_them():
    assert five_class("CASME II", " Disgust ") == "Negative" and composite_class("CASME II", "repression") == "negative"
    assert composite_class("CASME II", "fear") is None  # left out, as the MEGC 2019 ground truth does
    assert composite_class("SAMM", "Contempt") == "negative" and composite_class("SAMM", "Other") is None
    for dataset, words in COMPOSITE.items():
        assert set(words) <= set(FIVE_CLASS[dataset])  # a composite word is a known word
    readme = (Path(__file__).resolve().parent.parent / "docs" / "datasets.md").read_text()
    assert table_markdown() in readme


@pytest.mark.slow
def test_mer_spot_replays_and_scores_a_samm_long_video_root(tmp_path, capsys):
    """A generated long recording laid out as SAMM-LV (one view a frame, frames renamed, events in the
    release's sheet): `mer spot` finds the recordings through the sheet, reads one view without being
    told, and scores against the sheet, as on the 4DME layout."""
    import cv2

    from mer_live.cli.main import main
    from mer_live.corpora.fourdme import read_events
    from mer_live.stream.folders import list_frames, read_image
    from mer_live.stream.views import split_views
    from mer_live.synth import generate_dataset

    source = tmp_path / "generated"
    generate_dataset(
        source, subjects=1, per_subject=1, seed=4, long=True, long_seconds=(10.0, 10.0), workers=1, progress=False
    )
    (folder,) = [f for f in source.glob("*/*") if f.is_dir()]
    root = tmp_path / "samm-lv"
    video = root / "SAMM_longvideos" / "006_1"
    video.mkdir(parents=True)
    for number, path in zip(*list_frames(folder)):
        left = split_views(read_image(path), 2)[0]
        cv2.imwrite(str(video / f"006_1_{number:04d}.jpg"), cv2.cvtColor(left, cv2.COLOR_RGB2BGR))
    events = read_events(source)
    write_sheet(
        root / "SAMM_LongVideos_V3_Release.xlsx",
        [
            ["SAMM Long Videos"],
            [
                "Subject",
                "Filename",
                "Inducement Code",
                "Onset",
                "Apex",
                "Offset",
                "Duration",
                "Type",
                "Action Units",
                "Notes",
            ],
        ]
        + [
            [
                "006",
                f"006_1_{i + 1}",
                1,
                e.onset,
                e.apex,
                e.offset,
                e.offset - e.onset + 1,
                "Micro - 1/2" if e.kind == "micro" else "Macro",
                "",
                "",
            ]
            for i, e in enumerate(events)
        ],
    )
    spots = tmp_path / "spots.csv"
    assert main(["spot", str(root), "--fps", "60", "--no-model", "--quiet", "--out", str(spots)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["score"]["true"] == sum(e.kind == "micro" for e in events) > 0
    assert summary["score"]["tp"] >= 1 and summary["score"]["fp"] == 0
    assert spots.read_text().splitlines()[1].startswith("SAMM_longvideos,006_1,")
