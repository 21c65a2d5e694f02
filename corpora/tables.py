"""Coding sheets and label tables as rows by header: CSV or XLSX, header found below notes,
column names compared without case or spaces, frame numbers read strictly; errors name the file
and the row."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from mer_live.stream.folders import DatasetError


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


def column_names(
    rows: list[dict[str, str]], required: tuple[str, ...], path: Path, aliases: dict[str, tuple[str, ...]] | None = None
) -> dict[str, str]:
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
        number = float(text)  # sheets store 46 as "46.0"
        if number.is_integer():
            return int(number)
    except (ValueError, OverflowError):
        pass
    raise DatasetError(f"{path} row {row}: column {column} is not a frame number: {value!r}")
