"""`mer bench`: speed and memory of the live pipeline and the model, printed as one JSON object.

For each frame size (4DME: two 1200×1600 views; camera: two 640×480 views) a synthetic recording
is rendered to JPEG files once (cached), then measured in one run:
  decode_fps    reading + decoding the files alone (the ceiling for any pipeline)
  pipeline_fps  the live engine at max speed: decode, crops, running flow, spotter, classification
  paper_fps     a straightforward paper-style loop: full decode, face detection and 224² Farneback
                (the paper's settings) on every frame of both views
  latency_ms    offset confirmed → classified event written, p50 / p95 over the events of the
                pipeline run and of the looping replay (n: how many): at max speed, where capture
                fills every core. The worker classifies an event while the spotter waits out its
                dip (classified_ahead: classifications done so, one per dip, and how many a confirmed
                event took, written at once; a bridged dip's is thrown away)
  latency_at_own_rate_ms
                the same with the recording replayed at its own rate (60 fps), as a camera feeds
                frames; measured only where the pipeline runs faster than that (else it is the above)
  rss_mb        resident memory of a long looping replay: at its start, after its first minute (the
                crop ring full, the allocator settled) and at its end; growth is counted from the minute
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mer_live.stream.engine import Engine
from mer_live.stream.face import MediaPipeFaceDetector, crop_window, gray_crop
from mer_live.stream.flow import farneback, intensity
from mer_live.stream.folders import decode_frame, list_frames
from mer_live.stream.frames import Frame
from mer_live.stream.pipeline import EngineConfig
from mer_live.stream.sources import ImageFolderSource, Source
from mer_live.stream.telemetry import latency_summary
from mer_live.stream.views import split_views

SIZES = {"4dme": (1200, 1600), "camera": (640, 480)}  # one view: width, height
SOAK_WARMUP_S = 60.0  # video seconds before the soak's warm RSS sample: the crop ring (6 s) fills first
DECODE_SCALE = {"4dme": 2, "camera": 1}
OWN_RATE_MARGIN = 1.1  # a paced run says something new only where max speed is clearly above the rate


def rss_mb() -> float:
    """Current resident set size (Linux /proc), in MB."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def bench_frames(kind: str, seconds: float, cache: Path) -> Path:
    """A synthetic long recording at `kind` size as JPEG files (made once, then reused)."""
    from mer_live.synth import SynthConfig, generate_dataset

    width, height = SIZES[kind]
    root = cache / f"bench-{kind}-{int(seconds)}s"
    folder = root / "s01" / "s01_01"
    if not (root / "labels.csv").exists():
        generate_dataset(
            root,
            subjects=1,
            per_subject=1,
            seed=7,
            long=True,
            long_seconds=(seconds, seconds),
            config=SynthConfig(view_width=width, view_height=height),
            progress=True,
        )
    return folder


class LoopingFolderSource(Source):
    """The frames of a folder played over and over with rising frame numbers, for soak tests."""

    def __init__(self, folder: Path, seconds: float, fps: float = 60.0, decode_scale: int = 1):
        super().__init__(f"loop:{Path(folder).name}", fps)
        self.paths = list_frames(folder)[1]
        self.total = int(seconds * fps)
        self.decode_scale = decode_scale

    def _items(self) -> Iterator[Frame]:
        for index in range(self.total):
            image = decode_frame(self.paths[index % len(self.paths)], self.decode_scale)
            if not isinstance(image, str):
                yield Frame(index, index / self.fps, image, self.name)


def decode_fps(folder: Path, decode_scale: int) -> float:
    paths = list_frames(folder)[1]
    started = time.perf_counter()
    for path in paths:
        decode_frame(path, decode_scale)
    return len(paths) / (time.perf_counter() - started)


def paper_style_fps(folder: Path, limit: int = 300) -> float:
    """Detect + crop + 224² Farneback against the first frame, every frame, both views, full decode."""
    detector = MediaPipeFaceDetector()
    paths = list_frames(folder)[1][:limit]
    reference = None
    started = time.perf_counter()
    for path in paths:
        crops = []
        for view in split_views(decode_frame(path)):
            boxes = detector.detect(view)
            if boxes:
                crops.append(gray_crop(view, crop_window(boxes[0], view.shape), 224))
        if reference is None:
            reference = crops
        for first, crop in zip(reference, crops):
            intensity(farneback(first, crop))
    return len(paths) / (time.perf_counter() - started)


@dataclass
class PipelineRun:
    fps: float
    latencies_ms: list[float]
    events: dict
    classified_ahead: dict  # classifications done during an event's dip, and how many were used
    rss_start_mb: float
    rss_warm_mb: float | None  # once `warm_frames` were processed: the ring is full, the allocator settled
    rss_end_mb: float


def pipeline_run(
    source: Source, classifier, config: EngineConfig = EngineConfig(), warm_frames: int | None = None
) -> PipelineRun:
    rss_start = rss_mb()
    engine = Engine(source, config, detector_factory=MediaPipeFaceDetector, classifier=classifier)
    warm: list[float] = []
    done = threading.Event()

    def sample_when_warm() -> None:
        while not done.wait(0.2):
            if engine.stats.processed >= warm_frames:
                warm.append(rss_mb())
                return

    sampler = threading.Thread(target=sample_when_warm, daemon=True)
    if warm_frames is not None:
        sampler.start()
    summary = engine.run()
    done.set()
    if warm_frames is not None:
        sampler.join()
    return PipelineRun(
        summary["fps"],
        list(engine.stats.latencies_ms),
        summary["events"],
        summary["classified_ahead"],
        round(rss_start, 1),
        round(warm[0], 1) if warm else None,
        round(rss_mb(), 1),
    )


def model_inference_ms(classifier, repeats: int = 200) -> dict:
    """Per-event inference: the 4 samples of one event (2 views × 2 phases) in one call."""
    samples = np.random.default_rng(0).uniform(-1, 1, (4, 3, 224, 224)).astype(np.float32)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        classifier.predict(samples)
        times.append((time.perf_counter() - started) * 1000)
    return {
        "median": round(float(np.median(times)), 2),
        "p95": round(float(np.percentile(times, 95)), 2),
        "repeats": repeats,
    }


def run_bench(
    classifier, cache: Path, seconds: float = 20.0, soak_s: float = 120.0, kinds: tuple[str, ...] = ("4dme", "camera")
) -> dict:
    report = {"cpu_count": os.cpu_count()}
    if classifier is not None:
        report["model_inference_ms"] = model_inference_ms(classifier)
    for kind in kinds:
        folder = bench_frames(kind, seconds, cache)
        scale = DECODE_SCALE[kind]
        width, height = SIZES[kind]
        decode = decode_fps(folder, scale)
        own_fps = ImageFolderSource(folder).fps
        run = pipeline_run(ImageFolderSource(folder, decode_scale=scale), classifier)
        looping = LoopingFolderSource(folder, soak_s, decode_scale=scale)
        soak = pipeline_run(looping, classifier, warm_frames=int(min(SOAK_WARMUP_S, soak_s / 4) * looping.fps))
        paced = None
        if classifier is not None and run.fps > OWN_RATE_MARGIN * own_fps:
            paced = pipeline_run(ImageFolderSource(folder, decode_scale=scale), classifier, EngineConfig(realtime=True))
        report[kind] = {
            "frame": f"{2 * width}x{height} (two {width}x{height} views), decoded at 1/{scale}",
            "frames": len(list_frames(folder)[0]),
            "decode_fps": round(decode, 1),
            "pipeline_fps": run.fps,
            "pipeline_vs_decode": round(run.fps / decode, 3),
            "paper_style_fps": round(paper_style_fps(folder), 1),
            "latency_ms": latency_summary(run.latencies_ms + soak.latencies_ms),
            "latency_at_own_rate_ms": latency_summary(paced.latencies_ms) if paced is not None else None,
            "events": run.events,
            "classified_ahead": run.classified_ahead,
            "soak": {
                "seconds_of_video": soak_s,
                "fps": soak.fps,
                "rss_start_mb": soak.rss_start_mb,
                "rss_warm_mb": soak.rss_warm_mb,
                "rss_end_mb": soak.rss_end_mb,
                "rss_growth_mb": round(soak.rss_end_mb - soak.rss_start_mb, 1),
                "rss_growth_after_warmup_mb": None
                if soak.rss_warm_mb is None
                else round(soak.rss_end_mb - soak.rss_warm_mb, 1),
            },
        }
    report["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return report
