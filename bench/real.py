"""`mer bench --real DIR`: how the spotter and the apex hold up on real face videos.

The videos of DIR (the repository's `../shared/realvideo/`, never shipped) are split once, by name:
every parameter is chosen on the *design* videos, and the *held-out* ones are only reported. For
each split:
  raw       the videos as they are (no micro-expression labelled): micro-expressions reported per
            minute, i.e. false alarms, and macro-expressions reported
  injected  each video with face twice, with known micro- and macro-expressions injected
            (`synth.inject`, seed 1 for design, 2 for held-out): spotting precision, recall, F1
            at IoU ≥ 0.5 per video and pooled, and the spotted apex within ±1 frame
  apex      the offline apex on the injected micro-expression clips (labelled onset…offset) against
            the middle frame of onset…offset, the baseline any apex detector must beat
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from corpora.fourdme import load_dataset, read_events
from corpora.replay import open_source
from corpora.scoring import Interval, macro_confusions, spotting_report, true_intervals
from stream.events import Event
from stream.face import MediaPipeFaceDetector
from stream.frames import Frame, split_source
from stream.pipeline import EngineConfig, FramePipeline
from synth import InjectConfig, inject_videos

SPLIT = {
    "design": ("liveportrait_d3.mp4", "liveportrait_d6.mp4", "liveportrait_d11.mp4", "liveportrait_d12.mp4",
               "single_face.mp4", "face_noface.mov", "short_hamilton_clip.mp4", "no_face.mp4"),
    "heldout": ("liveportrait_d0.mp4", "liveportrait_d10.mp4", "liveportrait_d13.mp4", "liveportrait_d14.mp4",
                "liveportrait_d20.mp4", "WolfgangLanger_Pexels.mp4"),
}
SEEDS = {"design": 1, "heldout": 2}
REPEATS = 2
INJECT_VERSION = 1


def spot_all(spec: str | Path, config: EngineConfig) -> tuple[list[Event], dict[str, float]]:
    """Every event of a source through the live per-frame pipeline (one view, the source's own fps);
    also the seconds of video per recording."""
    source = open_source(str(spec))
    fps_of = getattr(source, "fps_of", lambda _: source.fps)
    config = replace(config, spotter=replace(config.spotter, fps=source.fps))
    pipeline = FramePipeline(config, MediaPipeFaceDetector, recording_fps=fps_of)
    spots, frames = [], {}
    try:
        with source:
            for item in source:
                if not isinstance(item, Frame):
                    continue
                frames[item.source] = frames.get(item.source, 0) + 1
                spots += pipeline.process(item)
        spots += pipeline.close()
    finally:
        pipeline.shutdown()
    return spots, {name: count / fps_of(name) for name, count in frames.items()}


def _rounded(report: dict) -> dict:
    keep = ("true", "spots", "tp", "fp", "fn", "precision", "recall", "f1")
    return {k: report[k] for k in keep}


def injected_set(videos: list[Path], cache: Path, seed: int) -> Path:
    """The injected recordings of `videos`, made once and kept under `cache`."""
    root = cache / f"injected-{seed}"
    marker = root / "complete.json"
    wanted = {"version": INJECT_VERSION, "videos": sorted(v.name for v in videos), "seed": seed, "repeats": REPEATS}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return root
    shutil.rmtree(root, ignore_errors=True)
    inject_videos(videos, root, seed=seed, repeats=REPEATS, config=InjectConfig(), progress=False)
    marker.write_text(json.dumps(wanted))
    return root


def bench_split(name: str, folder: Path, cache: Path, config: EngineConfig) -> dict:
    videos = [folder / v for v in SPLIT[name] if (folder / v).is_file()]
    missing = [v for v in SPLIT[name] if not (folder / v).is_file()]
    started = time.perf_counter()
    raw, per_video = {"micro": 0, "macro": 0, "seconds": 0.0}, {}
    for video in videos:
        spots, seconds = spot_all(video, config)
        micro = sum(s.kind == "micro" for s in spots)
        per_video[video.stem] = {"raw_seconds": round(sum(seconds.values()), 1), "raw_micro": micro,
                                 "raw_macro": len(spots) - micro}
        raw["micro"] += micro
        raw["macro"] += len(spots) - micro
        raw["seconds"] += sum(seconds.values())

    root = injected_set(videos, cache, SEEDS[name])
    spots, _ = spot_all(root, config)
    found = [Interval(*split_source(s.source), s.onset_frame, s.offset_frame, s.apex_frame) for s in spots
             if s.kind == "micro"]
    events = read_events(root)
    truths, macros = true_intervals(events), true_intervals(events, "macro")
    pooled = spotting_report(found, truths)
    for video in {t.subject for t in truths}:
        report = spotting_report([f for f in found if f.subject == video], [t for t in truths if t.subject == video])
        per_video.setdefault(video, {})["injected"] = _rounded(report)

    from model.extract import extract_dataset
    from stream.features import PreprocessConfig

    sequences = load_dataset(root)
    extraction = extract_dataset(sequences, root / ".mer-cache", replace(PreprocessConfig(), n_views=1),
                                 workers=2, progress=False)
    apex = np.array(extraction.apex_errors(sequences), float)
    middle = np.array(extraction.middle_frame_errors(sequences), float)
    apex_of_found = pooled.get("apex_error_frames", {})
    return {
        "videos": [v.name for v in videos], "missing": missing,
        "raw": {"seconds": round(raw["seconds"], 1), "micro": raw["micro"], "macro": raw["macro"],
                "micro_per_minute": round(raw["micro"] / raw["seconds"] * 60, 2) if raw["seconds"] else None},
        "injected": {**_rounded(pooled), "macro_events": len(macros),
                     "macro_reported_as_micro": macro_confusions(found, macros),
                     "apex_within_1": apex_of_found.get("within_1"), "apex_mean_error": apex_of_found.get("mean")},
        "offline_apex": {"clips": len(apex), "mean_error": round(float(apex.mean()), 2) if len(apex) else None,
                         "within_1": round(float(np.mean(apex <= 1)), 3) if len(apex) else None,
                         "middle_frame_mean_error": round(float(middle.mean()), 2) if len(middle) else None},
        "per_video": per_video,
        "seconds": round(time.perf_counter() - started, 1),
    }


def run_real_bench(folder: Path, cache: Path, splits: tuple[str, ...] = ("design", "heldout")) -> dict:
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"real video folder does not exist: {folder}")
    unknown = [s for s in splits if s not in SPLIT]
    if unknown:
        raise ValueError(f"unknown split(s) {', '.join(unknown)}; known: {', '.join(SPLIT)}")
    config = EngineConfig(views=1)
    return {name: bench_split(name, folder, Path(cache) / "realbench", config) for name in splits}
