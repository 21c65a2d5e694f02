"""Where events go: the crash-safe JSONL log, CSV and the MEGC spotting CSV (memory: stream.store).

Sinks are context managers with one verb, `write(record)`: an Event, or a FaceStateSpan (the face's
state over a stretch), which only the JSONL log keeps. `SinkSet` fans a record out and keeps going
when one sink fails, counting the failure: a full disk must not stop the stream.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from pathlib import Path
from typing import Protocol

from mer_live.stream.events import Event, Record
from mer_live.stream.frames import split_recording
from mer_live.stream.telemetry import SwallowedErrors

log = logging.getLogger(__name__)

CSV_COLUMNS = (
    "event_id",
    "recording",
    "kind",
    "onset_frame",
    "apex_frame",
    "offset_frame",
    "onset_s",
    "apex_s",
    "offset_s",
    "duration_s",
    "apex_left",
    "apex_right",
    "peak_intensity",
    "labels",
    "probs",
    "attention",
    "threshold",
    "model",
    "latency_ms",
    "band",
    "band_rows",
    "run_id",
    "unclassified",
)
MEGC_COLUMNS = ("subject", "video", "onset", "offset", "emotion", "apex")  # MEGC's five, then our apex


class Sink(Protocol):
    def write(self, record: Record) -> None: ...

    def close(self) -> None: ...


class _FileSink:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class JsonlSink(_FileSink):
    """One JSON line per event, flushed and fsynced, so `kill -9` loses no event already written
    (`durable=False`: plain buffered writes, for a one-off export of events already safe elsewhere)."""

    def __init__(self, path: Path, durable: bool = True):
        super().__init__(path)
        self._file = open(self.path, "a", encoding="utf-8")
        self.durable = durable
        if self._ends_mid_line():  # a crash cut the last record short: ours start on a line of their own
            self._file.write("\n")
            self._file.flush()

    def _ends_mid_line(self) -> bool:
        if self.path.stat().st_size == 0:
            return False
        with open(self.path, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) != b"\n"

    def write(self, record: Record) -> None:
        self._file.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
        if self.durable:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def csv_row(event: Event) -> dict:
    row = event.to_dict()
    row["duration_s"] = round(event.duration_s, 4)
    row["apex_left"] = row["apex_frame_by_view"].get("left", "")
    row["apex_right"] = row["apex_frame_by_view"].get("right", "")
    row["labels"] = "+".join(event.labels)
    row["probs"] = json.dumps(event.probs)
    row["attention"] = json.dumps(event.attention)
    row["band_rows"] = "-".join(f"{b:g}" for b in event.band_rows) if event.band_rows else ""
    return {c: row.get(c, "") for c in CSV_COLUMNS}


def megc_row(event: Event) -> dict:
    subject, video = split_recording(event.recording)
    return {
        "subject": subject,
        "video": video,
        "onset": event.onset_frame,
        "offset": event.offset_frame,
        "emotion": "+".join(event.labels),
        "apex": event.apex_frame,
    }


class _CsvSink(_FileSink):
    columns: tuple[str, ...] = ()

    def __init__(self, path: Path):
        super().__init__(path)
        new = not self.path.exists() or self.path.stat().st_size == 0
        if not new:
            self._check_header()
        self._file = open(self.path, "a", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._file, fieldnames=list(self.columns))
        if new:
            self._writer.writeheader()

    def _check_header(self) -> None:
        """Rows are appended only under the same columns (a file from an older version has others)."""
        with open(self.path, newline="", encoding="utf-8", errors="replace") as handle:
            header = next(csv.reader(handle), [])
        if header != list(self.columns):
            raise ValueError(
                f"cannot append to {self.path}: its columns are not this version's "
                f"({', '.join(self.columns)}); name a new file"
            )

    def row(self, event: Event) -> dict | None:
        raise NotImplementedError

    def write(self, record: Record) -> None:
        row = self.row(record) if isinstance(record, Event) else None
        if row is not None:
            self._writer.writerow(row)
            self._file.flush()

    def close(self) -> None:
        self._file.close()


class CsvSink(_CsvSink):
    """Every event, one row, flat columns."""

    columns = CSV_COLUMNS

    def row(self, event: Event) -> dict:
        return csv_row(event)


class MegcSink(_CsvSink):
    """MEGC spotting rows `subject,video,onset,offset,emotion` for micro-expressions only."""

    columns = MEGC_COLUMNS

    def row(self, event: Event) -> dict | None:
        return megc_row(event) if event.kind == "micro" else None


def sink_name(sink) -> str:
    """A sink's class and, for a file sink, its file: what a user needs to find it."""
    path = getattr(sink, "path", None)
    return f"{type(sink).__name__}({path})" if path is not None else type(sink).__name__


class SinkSet:
    """Writes each event to every sink; a sink that raises is logged (a warning once) and named in
    `write`'s answer, never fatal: the engine counts what each sink lost (EngineStats.not_written)."""

    def __init__(self, sinks: list[Sink]):
        self.sinks = list(sinks)
        self.errors = SwallowedErrors(log)

    def write(self, record: Record) -> list[str]:
        """Names of the sinks that could not take the record (it is lost to them)."""
        failed = []
        for sink in self.sinks:
            try:
                sink.write(record)
            except Exception as exc:  # a sink's failure must not stop the stream
                name = sink_name(sink)
                self.errors.log(name, f"{name} failed and is skipped for this record: {exc}")
                failed.append(name)
        return failed

    def close(self) -> None:
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:
                self.errors.log(f"close {sink_name(sink)}", f"closing {sink_name(sink)} failed: {exc}")
