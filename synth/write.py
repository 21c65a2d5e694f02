"""Synthetic datasets on disk, and the demo set kept in the cache.

Layout written by `generate_dataset` (the 4DME layout):

    OUT/<sub_ID>/<fold_name>/img_<n>.jpg   n = 1, 2, ... (not zero-padded, as in 4DME);
                                           each JPEG holds view 1 | view 2 side by side
    OUT/labels.csv                         one row per micro-expression
    OUT/events.csv                         long recordings only: every true event, micro and macro

Frames render in worker processes; the bytes do not depend on the number of workers.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
from tqdm import tqdm

from mer_live.corpora import fourdme as dataset_format
from mer_live.corpora.labels import CLASSES
from mer_live.synth.faces import Subject
from mer_live.synth.plan import ExpressionEvent, SequenceSpec, SynthConfig, plan_dataset
from mer_live.synth.render import encode_frame, render_frames

LABEL_COLUMNS = dataset_format.LABEL_COLUMNS
EVENT_COLUMNS = dataset_format.EVENT_COLUMNS + ("kind",)  # the reader's columns plus its optional one


@dataclass(frozen=True)
class RenderJob:
    subject: Subject
    spec: SequenceSpec
    config: SynthConfig
    folder: Path


def _render_to_folder(job: RenderJob) -> int:
    job.folder.mkdir(parents=True, exist_ok=True)
    for number, rgb in render_frames(job.subject, job.spec, job.config):
        (job.folder / f"img_{number}.jpg").write_bytes(encode_frame(rgb, job.config))
    return job.spec.n_frames


def _single_thread_worker() -> None:
    cv2.setNumThreads(1)  # one process per core already


def _label_row(spec: SequenceSpec, event: ExpressionEvent) -> list:
    return [
        spec.sub_id,
        spec.fold_name,
        "+".join(event.labels),
        event.onset,
        event.apex,
        event.offset,
        "+".join(event.aus),
    ] + [int(c in event.labels) for c in CLASSES]


def write_csv(path: Path, header: tuple[str, ...], rows: list[list]) -> None:
    """A CSV file of `header` and `rows` (labels.csv, events.csv)."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def generate_dataset(
    out_dir,
    *,
    subjects: int = 6,
    per_subject: int = 10,
    seed: int = 0,
    long: bool = False,
    long_seconds: tuple[float, float] = (20.0, 40.0),
    faces_dir: str | os.PathLike | None = None,
    config: SynthConfig = SynthConfig(),
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Write a synthetic dataset in the 4DME layout (see the module docstring) and return a summary.

    Short mode: `subjects × per_subject` clips of one micro-expression each. Long mode
    (`long=True`): as many recordings of `long_seconds` (min, max) length, each with several micro
    events, macro-expressions (when `config.macro`) and events.csv. Frames render in `workers`
    processes (default: CPU count); the output does not depend on it.
    """
    started = time.perf_counter()
    out = Path(out_dir)
    planned = plan_dataset(
        subjects=subjects,
        per_subject=per_subject,
        seed=seed,
        long=long,
        long_seconds=long_seconds,
        faces_dir=faces_dir,
        config=config,
    )
    jobs = [
        RenderJob(subject, spec, config, out / spec.sub_id / spec.fold_name)
        for subject, specs in planned
        for spec in specs
    ]
    out.mkdir(parents=True, exist_ok=True)
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    bar = tqdm(total=sum(j.spec.n_frames for j in jobs), unit="frame", desc="synthesising", disable=not progress)
    if workers == 1:
        for count in map(_render_to_folder, jobs):
            bar.update(count)
    else:
        context = multiprocessing.get_context("spawn")  # the parent may hold MediaPipe threads
        with context.Pool(workers, initializer=_single_thread_worker) as pool:
            for count in pool.imap(_render_to_folder, jobs):
                bar.update(count)
    bar.close()

    specs = [job.spec for job in jobs]
    micro = [(spec, e) for spec in specs for e in spec.micro_events]
    write_csv(out / "labels.csv", LABEL_COLUMNS, [_label_row(spec, e) for spec, e in micro])
    summary = {
        "out_dir": str(out),
        "sequences": len(specs),
        "frames": sum(s.n_frames for s in specs),
        "micro_events": len(micro),
        "classes": {c: sum(c in e.labels for _, e in micro) for c in CLASSES},
    }
    if long:
        write_csv(
            out / "events.csv",
            EVENT_COLUMNS,
            [
                [s.sub_id, s.fold_name, e.onset, e.apex, e.offset, "+".join(e.labels), e.kind]
                for s in specs
                for e in s.events
            ],
        )
        summary["macro_events"] = sum(e.kind == "macro" for s in specs for e in s.events)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    return summary


# ---------------------------------------------------------------- the demo set
DEMO_VERSION = 1


def ensure_demo_dataset(cache_dir: str | os.PathLike | None = None) -> Path:
    """The demo set, generated on first use and reused once its marker file is written.

    Location: `cache_dir`, else `$MER_CACHE`, else `~/.cache/mer-live/demo`. Layout:

        <dir>/short/   returned; 2 subjects × 3 short clips (4DME layout, labels.csv), seed 0
        <dir>/long/    1 recording of 30 s with micro and macro events (labels.csv, events.csv), seed 1
        <dir>/complete.json   the marker; without it short/ and long/ are deleted and rebuilt
    """
    root = Path(cache_dir or os.environ.get("MER_CACHE") or Path.home() / ".cache" / "mer-live" / "demo")
    root = root.expanduser()
    marker = root / "complete.json"
    if marker.exists() and json.loads(marker.read_text()).get("version") == DEMO_VERSION:
        return root / "short"
    for part in ("short", "long"):
        shutil.rmtree(root / part, ignore_errors=True)
    short = generate_dataset(root / "short", subjects=2, per_subject=3, seed=0, progress=False)
    long = generate_dataset(
        root / "long", subjects=1, per_subject=1, seed=1, long=True, long_seconds=(30.0, 30.0), progress=False
    )
    marker.write_text(json.dumps({"version": DEMO_VERSION, "short": short, "long": long}, indent=2))
    return root / "short"
