"""The 4DME-layout reader on hand-made folders, CSV and XLSX label files."""

from __future__ import annotations

import numpy as np
import pytest

from mer_live.corpora.fourdme import LABEL_COLUMNS, XLSX_NAME, load_dataset, read_labels
from mer_live.corpora.labels import CLASSES
from mer_live.stream.folders import DatasetError, frame_number, list_frames
from tests.conftest import label_row, write_frames, write_labels_csv


def test_reads_sequences_with_labels_and_lazy_frames(tiny_dataset):
    sequences = load_dataset(tiny_dataset)
    assert [(s.subject, s.name) for s in sequences] == [("s01", "s01_01"), ("s02", "s02_01")]
    first, second = sequences
    assert (first.onset, first.apex, first.offset) == (1, 3, 5)
    assert first.labels == ("Positive",) and first.aus == "12"
    assert second.multi_hot().tolist() == [float(c in ("Negative", "Surprise")) for c in CLASSES]
    assert second.event_numbers() == [2, 3, 10, 11]
    image = second.load_frame(10)
    assert image.shape == (40, 80, 3) and image.dtype == np.uint8


def test_frames_sort_by_number_not_by_text(tmp_path):
    write_frames(tmp_path, [1, 2, 10, 9], name="frame{}.jpg")
    numbers, paths = list_frames(tmp_path)
    assert numbers == (1, 2, 9, 10)
    assert [p.name for p in paths] == ["frame1.jpg", "frame2.jpg", "frame9.jpg", "frame10.jpg"]


@pytest.mark.parametrize("name, number", [("img_0042.jpg", 42), ("s01_v2_0007.png", 7), ("12.jpg", 12)])
def test_frame_number_is_the_last_digit_run(tmp_path, name, number):
    assert frame_number(tmp_path / name) == number


def test_frame_name_without_number_is_named(tmp_path):
    (tmp_path / "cover.jpg").write_bytes(b"")
    with pytest.raises(DatasetError, match="cover.jpg"):
        list_frames(tmp_path)


def test_empty_sequence_folder_is_named(tmp_path):
    (tmp_path / "s01" / "s01_01").mkdir(parents=True)
    write_labels_csv(tmp_path, [label_row()])
    with pytest.raises(DatasetError, match="holds no frames.*s01_01"):
        load_dataset(tmp_path)


def test_missing_folder_is_named(tmp_path):
    write_labels_csv(tmp_path, [label_row()])
    with pytest.raises(DatasetError, match="does not exist.*s01_01"):
        load_dataset(tmp_path)


def test_corrupt_frame_gives_clear_error(tiny_dataset):
    seq = load_dataset(tiny_dataset)[0]
    seq.path_of(2).write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(DatasetError, match="cannot decode.*img_0002.jpg"):
        seq.load_frame(2)


@pytest.mark.parametrize(
    "onset, apex, offset, message",
    [
        (5, 3, 7, "Onset ≤ Apex ≤ Offset"),
        (5, 6, 2, "Onset ≤ Apex ≤ Offset"),
        ("x", 3, 5, "Onset is not a frame number"),
    ],
)
def test_bad_frame_numbers_are_refused(tmp_path, onset, apex, offset, message):
    write_frames(tmp_path / "s01" / "s01_01", range(1, 8))
    write_labels_csv(tmp_path, [label_row(onset=onset, apex=apex, offset=offset)])
    with pytest.raises(DatasetError, match=message):
        load_dataset(tmp_path)


def test_missing_apex_is_allowed(tmp_path):
    write_frames(tmp_path / "s01" / "s01_01", range(1, 8))
    write_labels_csv(tmp_path, [label_row(apex="/")])
    assert load_dataset(tmp_path)[0].apex is None


def _write_xlsx(path, columns, rows):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(columns))
    for row in rows:
        sheet.append([row[c] for c in columns])
    book.save(path)


def test_reads_the_original_xlsx(tmp_path):
    write_frames(tmp_path / "s01" / "s01_01", range(1, 8))
    _write_xlsx(tmp_path / XLSX_NAME, LABEL_COLUMNS, [label_row(labels=("Repression", "Others"))])
    (seq,) = load_dataset(tmp_path)
    assert seq.labels == ("Repression", "Others") and seq.onset == 1 and seq.offset == 5


@pytest.mark.parametrize("dropped", ["Apex", "Surprise", "fold_name"])
def test_sheet_missing_a_column_names_column_and_file(tmp_path, dropped):
    write_frames(tmp_path / "s01" / "s01_01", range(1, 8))
    columns = [c for c in LABEL_COLUMNS if c != dropped]
    _write_xlsx(tmp_path / XLSX_NAME, columns, [label_row()])
    with pytest.raises(DatasetError) as info:
        read_labels(tmp_path / XLSX_NAME)
    assert dropped in str(info.value) and XLSX_NAME in str(info.value)


def test_no_labels_file_is_named(tmp_path):
    with pytest.raises(DatasetError, match="no labels.csv"):
        load_dataset(tmp_path)
