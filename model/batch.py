"""Batches of recordings on Ray: `mer spot DATA --ray [ADDRESS]` and `mer extract DATA --ray [ADDRESS]`.

One Ray task per recording (per clip for `extract`), on a local Ray when no address is given. Tasks
return their results to this process, which writes the same files, rows and numbers as a run on one
machine, in the same order. A task that fails is tried once more, then named in the result; none
goes missing silently. Each Ray worker process keeps its face detectors and classifier from one
task to the next. Ray is imported only when a batch runs (`pip install 'mer-live[ray]'`).
"""

from __future__ import annotations

import itertools
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from tqdm import tqdm

from mer_live.corpora.replay import DatasetSource
from mer_live.stream.engine import Engine, new_run_id
from mer_live.stream.events import Event, Record
from mer_live.stream.face import FaceDetector, MediaPipeFaceDetector
from mer_live.stream.pipeline import EngineConfig
from mer_live.stream.sinks import SinkSet
from mer_live.stream.telemetry import latency_summary

RAY_MISSING = "--ray needs Ray: pip install 'mer-live[ray]'"
LOCAL = "local"  # `--ray` without an address


class BatchError(ValueError):
    """Ray is missing or its cluster cannot be reached; the message says which."""


@contextmanager
def ray_session(address: str) -> Iterator[None]:
    """Ray connected for the block: a local instance for `LOCAL`, else the cluster at `address`
    ("auto", "HOST:6379", "ray://HOST:10001"). A Ray already connected (a test's) is left as it is."""
    try:
        import ray
    except ImportError:
        raise BatchError(RAY_MISSING) from None
    if ray.is_initialized():
        yield
        return
    check_reachable(address)
    try:
        ray.init(
            address=None if address == LOCAL else address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="WARNING",
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise BatchError(f"cannot reach the Ray cluster at {address}: {first_line(exc)}") from None
    try:
        yield
    finally:
        ray.shutdown()


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Refuse a HOST:PORT (or ray://HOST:PORT) that takes no connection: Ray itself keeps retrying for minutes."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # LOCAL, "auto": nothing to dial here
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise BatchError(f"cannot reach the Ray cluster at {address}: {exc}") from None


def first_line(exc: BaseException) -> str:
    """What went wrong in a task, in one line: the worker's own exception where Ray carries it."""
    cause = getattr(exc, "cause", None) or exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else ''}".rstrip(": ")


@dataclass
class BatchResult:
    """Each item's result in the order given (None where it failed), failures by name with their
    reason, and the names that needed their second try."""

    results: list = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    retried: list[str] = field(default_factory=list)


def run_on_ray(task: Callable, items: list, names: list[str], desc: str, unit: str = "recording") -> BatchResult:
    """`task(item)` as one Ray task per item, with a progress bar over the items; an item whose
    task fails (an exception, a lost worker) is tried once more. Needs a connected Ray (`ray_session`)."""
    import ray

    remote = ray.remote(task).options(max_retries=0)  # retried here, so that the retry can be reported
    outcome = BatchResult(results=[None] * len(items))
    pending = {remote.remote(item): (i, 1) for i, item in enumerate(items)}
    with tqdm(total=len(items), desc=desc, unit=unit, file=sys.stderr) as bar:
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            i, attempt = pending.pop(ref)
            try:
                outcome.results[i] = ray.get(ref)
            except ray.exceptions.RayError as exc:
                if attempt == 1:
                    outcome.retried.append(names[i])
                    pending[remote.remote(items[i])] = (i, 2)
                    continue
                outcome.failed[names[i]] = first_line(exc)
            bar.update()
    return outcome


# ---------------------------------------------------------------- mer spot
@dataclass(frozen=True)
class SpotJob:
    """One recording for the live engine, with everything a worker needs to run it as `mer spot` would."""

    source: DatasetSource
    config: EngineConfig
    face_model: str | None = None
    checkpoint: str | None = None  # None: spot only
    baselines: dict | None = None  # a calibration profile's


class RecordList:
    """A sink that keeps the records (events without their pictures: they travel back to the driver),
    for the task to hand back."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def write(self, record: Record) -> None:
        self.records.append(record.without_pictures() if isinstance(record, Event) else record)

    def close(self) -> None:
        pass


class _KeptDetector:
    """A worker's face detector lent to one engine run: the run's shutdown leaves it open."""

    def __init__(self, detector: FaceDetector) -> None:
        self.detect = detector.detect


_worker_kept: dict[tuple, object] = {}  # this worker process's detectors and classifiers, across its tasks


def kept_detectors(face_model: str | None) -> Callable[[], FaceDetector]:
    """A detector factory for one engine run that hands out this worker's detectors (one per view),
    made on the worker's first task."""
    kept = _worker_kept.setdefault(("detectors", face_model), [])
    handed = itertools.count()

    def factory() -> FaceDetector:
        i = next(handed)
        if i == len(kept):
            kept.append(MediaPipeFaceDetector(face_model))
        return _KeptDetector(kept[i])

    return factory


def kept_classifier(checkpoint: str | None):
    if checkpoint is None:
        return None
    key = ("classifier", checkpoint)
    if key not in _worker_kept:
        from mer_live.model.predictor import Predictor

        _worker_kept[key] = Predictor.from_checkpoint(checkpoint)
    return _worker_kept[key]


def spot_recording(job: SpotJob) -> tuple[list[Record], dict]:
    """The engine over one recording: its events and face states in order, and its summary."""
    kept = RecordList()
    engine = Engine(
        job.source,
        job.config,
        detector_factory=kept_detectors(job.face_model),
        classifier=kept_classifier(job.checkpoint),
        sinks=[kept],
        baselines=job.baselines,
    )
    return kept.records, engine.run()


def spot_on_ray(jobs: list[SpotJob], sinks: list, address: str) -> dict:
    """Every job as a Ray task; their events written to `sinks` in recording order, numbered as one
    run; a summary of the whole as `Engine` gives one, with `failed` and `retried` recordings."""
    started = time.perf_counter()
    with ray_session(address):
        batch = run_on_ray(spot_recording, jobs, [job.source.recordings[0] for job in jobs], "spot")
    run_id, event_ids = new_run_id(), itertools.count(1)
    written, not_written = SinkSet(list(sinks)), Counter()
    totals: Counter = Counter()
    dropped, events, suppressed, states, latencies = Counter(), Counter(), Counter(), Counter(), []
    for outcome in batch.results:
        if outcome is None:
            continue
        spotted, summary = outcome
        for record in spotted:
            numbered = {"event_id": next(event_ids)} if isinstance(record, Event) else {}
            for name in written.write(replace(record, run_id=run_id, **numbered)):
                not_written[name] += 1
            if isinstance(record, Event) and record.threshold is not None:  # classified: the latency target's
                latencies.append(record.latency_ms)
        totals.update(
            {
                key: summary[key]
                for key in (
                    "frames",
                    "processed",
                    "no_face_frames",
                    "repeated_pictures",
                    "size_changes",
                    "recordings",
                    "unclassified",
                    "report_errors",
                )
            }
        )
        dropped.update(summary["dropped"])
        events.update(summary["events"])
        suppressed.update(summary["suppressed"])
        states.update(summary["face_state_seconds"])
    written.close()
    seconds = time.perf_counter() - started
    return {
        **totals,
        "dropped": dict(dropped),
        "events": dict(events),
        "events_not_written": dict(not_written),
        "suppressed": dict(suppressed),
        "face_state_seconds": {k: round(v, 2) for k, v in states.items()},
        "seconds": round(seconds, 2),
        "fps": round(totals["processed"] / seconds, 1),
        "latency_ms": latency_summary(latencies),
        "ray": address,
        "tasks": len(jobs),
        "retried": batch.retried,
        "failed": batch.failed,
    }
