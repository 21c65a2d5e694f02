"""The commands that run the live pipeline: stream, demo, spot, score-spots, calibrate, bench and the
dashboard (ui); `run_engine` is the engine run they share."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from mer_live.cli.common import StreamFailed, UserError, refuse_failed, refuse_unused, stated_views, writable
from mer_live.cli.options import given_options

# ---------------------------------------------------------------- the engine run


INTERRUPTED = "interrupted (Ctrl-C)"  # the summary's `ended` after a Ctrl-C


def _checkpoint(args: argparse.Namespace) -> Path | None:
    """The checkpoint to classify with: --model, else the shipped demo weights; None with --no-model."""
    if getattr(args, "no_model", False):
        return None
    from mer_live.model import SHIPPED_WEIGHTS

    path = args.model or (SHIPPED_WEIGHTS if SHIPPED_WEIGHTS.exists() else None)
    if path is None:
        print(
            "note: no checkpoint given and no shipped weights found: events are spotted, not classified",
            file=sys.stderr,
        )
    return path


def _classifier(args: argparse.Namespace):
    """The Predictor for --model (default: the shipped demo weights), or None with --no-model."""
    path = _checkpoint(args)
    if path is None:
        return None
    from mer_live.model.predictor import Predictor

    return Predictor.from_checkpoint(path)


def _given_setting(args: argparse.Namespace, views: bool = True) -> dict:
    """The engine settings the command line gave, as calibration.setting's options; `views`: with
    the views (--views, else as the source's dataset.json states)."""
    from mer_live.stream.spotter import SpotterConfig

    options: dict = {"spotter": given_options(SpotterConfig, args)}
    if views and (stated := args.views or stated_views(args.spec)):
        options["views"] = None if stated == "auto" else int(stated)
    if getattr(args, "realtime", None) is not None:
        options["realtime"] = args.realtime
    if getattr(args, "cropped", False):
        options["features"] = {"cropped": True}
    return options


def _engine_config(args: argparse.Namespace, profile=None):
    """The engine's setting (the order: calibration.setting): --config, the profile, the options given,
    --threshold."""
    from mer_live.calibration.setting import base_setting, engine_setting

    return engine_setting(
        base_setting(args.config),
        profile=profile,
        options=_given_setting(args),
        threshold=getattr(args, "threshold", None),
        profile_name=getattr(args, "profile", None) or "",
    )


def dashboard_setting(args: argparse.Namespace) -> dict:
    """What `mer ui`'s Session builds its setting from: the --config file, the options given and
    --threshold, as the other commands take them (the views are chosen per start)."""
    from mer_live.calibration.setting import base_setting

    return {
        "config": base_setting(args.config),
        "options": _given_setting(args, views=False),
        "threshold": args.threshold,
    }


def _open(args: argparse.Namespace):
    from mer_live.sources import open_source

    return open_source(
        str(args.spec),
        fps=args.fps,
        decode_scale=args.decode_scale,
        allow_single_view=getattr(args, "allow_single_view", False),
    )


def _say_views(found) -> None:
    print(f"views: {found.views} ({found.reason})", file=sys.stderr)


def _profile_and_config(args: argparse.Namespace):
    """The calibration profile --profile names (or None) and the engine config with it applied."""
    from mer_live.calibration.profile import load_profile

    profile = load_profile(args.profile) if getattr(args, "profile", None) else None
    return profile, _engine_config(args, profile)


def run_engine(args: argparse.Namespace, sinks: list, *, status_line: bool, source=None, store=None) -> dict:
    """The live engine over `source` (default: the one --source names) into `sinks` (and `store`,
    which keeps the motion timeline); its summary."""
    from mer_live.calibration.views import view_finder
    from mer_live.stream.engine import Engine
    from mer_live.stream.face import MediaPipeFaceDetector
    from mer_live.stream.stereo import describe_devices
    from mer_live.stream.telemetry import rest_motion_note

    profile, config = _profile_and_config(args)
    source = source or _open(args)
    detector_factory = lambda: MediaPipeFaceDetector(args.face_model)  # noqa: E731
    engine = Engine(
        source,
        config,
        detector_factory=detector_factory,
        classifier=_classifier(args),
        sinks=sinks,
        store=store,
        baselines=profile.baselines if profile else None,
        find_views=view_finder(detector_factory, _say_views) if config.views is None else None,
    )
    devices = getattr(source, "device_status", None)  # a stereo rig: rate and drops per camera
    engine.start()
    interrupted = False
    try:
        while engine.running:
            engine.join(0.5)
            if status_line:
                s = engine.stats.summary()
                print(
                    f"\r{s['processed']:7d} frames  {engine.stats.fps:6.1f} fps (source {s['measured_fps']:.1f})  "
                    f"state {engine.stats.state:<10}  face {engine.stats.face_state:<8} "
                    f"events {sum(s['events'].values()):4d}  "
                    f"dropped {sum(s['dropped'].values())}" + (f"  {describe_devices(devices())}" if devices else ""),
                    end="",
                    file=sys.stderr,
                )
    except KeyboardInterrupt:
        interrupted = True
        engine.stop()
        engine.join()
    if status_line:
        print(file=sys.stderr)
    summary = engine.stats.summary()
    note = rest_motion_note(summary["rest_motion_px"])
    if note:
        print(f"note: {note}", file=sys.stderr)
    summary["source"] = source.name
    if devices is not None:
        summary["devices"] = devices()
    if interrupted:
        summary["ended"] = INTERRUPTED
    return summary


# ---------------------------------------------------------------- commands
def cmd_stream(args: argparse.Namespace) -> None:
    from mer_live.stream.sinks import CsvSink, JsonlSink, MegcSink

    writable(args.events, args.csv, args.megc, args.elan, args.report)
    sinks = [JsonlSink(args.events)]
    if args.csv:
        sinks.append(CsvSink(args.csv))
    if args.megc:
        sinks.append(MegcSink(args.megc))
    if args.elan:
        from mer_live.stream.elan import ElanSink

        sinks.append(ElanSink(args.elan, media=args.spec if Path(str(args.spec)).is_file() else None))
    report = None
    if args.report:
        from mer_live.ui.report import ReportSink

        report = ReportSink(args.report)
        sinks.append(report)
    summary = run_engine(args, sinks, status_line=not args.quiet, store=report.store if report else None)
    summary["events_file"] = str(args.events)
    if report is not None:
        from mer_live.stream.settings import config_to_json

        _, config = _profile_and_config(args)
        title = f"MER Live — {summary['source']}"
        summary["report"] = str(report.write_html(title, summary, config_to_json(config)))
    print(json.dumps(summary, indent=2))
    _check_run(summary)


def cmd_annotate(args: argparse.Namespace) -> None:
    """The recording with its run's events drawn on, one output frame per source frame."""
    from dataclasses import replace

    from tqdm import tqdm

    from mer_live.stream.face import MediaPipeFaceDetector
    from mer_live.ui.annotate import annotate_video, read_log

    refuse_unused(args, "in mer annotate (it writes every frame, as fast as it can)", ["realtime", "allow_single_view"])
    writable(args.out)
    try:
        events = read_log(args.events)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    _, config = _profile_and_config(args)
    source = _open(args)
    with tqdm(total=getattr(source, "frame_count", None), desc="annotate", unit="frame", file=sys.stderr) as bar:
        result = annotate_video(
            source,
            events,
            args.out,
            replace(config, realtime=False),
            lambda: MediaPipeFaceDetector(args.face_model),
            progress=lambda _: bar.update(),
        )
    print(
        json.dumps(
            {
                "out": str(result.path),
                "frames": result.frames,
                "fps": result.fps,
                "size": list(result.size),
                "events_drawn": len({text for text in result.banners.values()}),
                "frames_not_measured": result.frame_errors,
            },
            indent=2,
        )
    )


def _check_run(summary: dict) -> None:
    """After the summary is printed: a run that lost events, broke or was interrupted does not exit 0."""
    lost = summary.get("events_not_written") or {}
    if lost:
        raise StreamFailed("events spotted but not written: " + ", ".join(f"{n} to {name}" for name, n in lost.items()))
    if summary.get("failure"):
        raise StreamFailed(f"the stream ended early: {summary['failure']}")
    if summary.get("ended") == INTERRUPTED:
        raise KeyboardInterrupt  # main() says "interrupted" and exits 130, as for a Ctrl-C anywhere else


def cmd_demo(args: argparse.Namespace) -> None:
    """The main job on the built-in demo: replay the demo recording through the live pipeline."""
    from mer_live.corpora.fourdme import load_dataset, read_events
    from mer_live.synth import ensure_demo_dataset

    short = ensure_demo_dataset()
    long = short.parent / "long"
    sequences = load_dataset(short)
    print(f"demo clips: {short} ({len(sequences)} sequences, {sum(len(s.frame_numbers) for s in sequences)} frames)")
    truths = read_events(long)
    print(
        f"demo recording: {long} ({sum(t.kind == 'micro' for t in truths)} micro, "
        f"{sum(t.kind == 'macro' for t in truths)} macro events in events.csv)"
    )
    args.spec, args.events = long, args.events or short.parent / "demo-events.jsonl"
    args.report = args.report or short.parent / "demo-report.html"
    args.events.unlink(missing_ok=True)
    cmd_stream(args)
    for line in args.events.read_text().splitlines():
        record = json.loads(line)
        if record["kind"] == "face_state":
            continue
        truth = next(
            (t for t in truths if t.onset <= record["offset_frame"] and t.offset >= record["onset_frame"]), None
        )
        found = f"true {truth.kind} {'+'.join(truth.labels)} {truth.onset}-{truth.offset}" if truth else "no true event"
        print(
            f"  {record['kind']:5} frames {record['onset_frame']}-{record['offset_frame']} apex "
            f"{record['apex_frame']}: {'+'.join(record['labels']) or '-'}   ({found})"
        )


def _spotting_truth(args: argparse.Namespace):
    """(the long-video set at DATA or None, the true events or None). A SAMM-LV or CAS(ME)² root is
    read through its coding sheet; a 4DME-layout root through its events.csv."""
    from mer_live.corpora import SPOTTING_SETS, UnknownDataset, detect, load_spotting_set
    from mer_live.corpora.fourdme import read_events
    from mer_live.stream.folders import DatasetError

    try:
        name = args.dataset or detect(args.data)
    except UnknownDataset:
        name = None
    if name in SPOTTING_SETS:
        found = load_spotting_set(args.data, name)
        for reason in found.skipped:
            print(f"skipped {reason}", file=sys.stderr)
        if not found.folders:
            raise UserError(f"{args.data}: no recording of {found.name} has its frames here")
        return found, found.events
    try:
        return None, read_events(args.data)
    except DatasetError:
        return None, None  # no ground truth: nothing to score


def cmd_spot(args: argparse.Namespace) -> None:
    from mer_live.corpora.scoring import read_spots, spotting_report, true_intervals
    from mer_live.stream.sinks import JsonlSink, MegcSink

    args.spec = args.data
    writable(args.out, args.events)
    spotting_set, truth = _spotting_truth(args)
    source = None
    if spotting_set is not None:
        from mer_live.corpora.replay import DatasetSource

        source = DatasetSource(args.data, args.fps or spotting_set.fps, args.decode_scale, spotting_set.folders)
        args.views = args.views or str(spotting_set.views)
    for path in (args.out, args.events):  # one run's output, not a log to append to
        if path is not None:
            path.unlink(missing_ok=True)
    sinks = [MegcSink(args.out)] + ([JsonlSink(args.events)] if args.events else [])
    if args.elan:
        from mer_live.stream.elan import ElanSink

        if args.elan.is_file():
            raise UserError(f"--elan names a folder (one file per recording): {args.elan} is a file")
        sinks.append(ElanSink(args.elan, per_recording=True))
    if args.ray is None:
        summary = run_engine(args, sinks, status_line=not args.quiet, source=source)
    else:
        summary = _spot_on_ray(args, sinks, source or _open(args))
    summary["spots_file"] = str(args.out)
    if truth is not None:
        summary["score"] = spotting_report(read_spots(args.out), true_intervals(truth))
    print(json.dumps(summary, indent=2))
    _check_run(summary)
    refuse_failed(summary.get("failed"), "recording")


def _spot_on_ray(args: argparse.Namespace, sinks: list, source) -> dict:
    """`mer spot` with one Ray task per recording: the same rows as the run on this machine."""
    from mer_live.model.batch import SpotJob, spot_on_ray

    if not hasattr(source, "per_recording"):
        raise UserError(f"--ray runs one task per recording of a dataset root; {args.data} is one recording")
    profile, config = _profile_and_config(args)
    if config.views is None:
        raise UserError("--ray needs the views per frame: give --views 1 or 2 (auto detects them once per run)")
    checkpoint = _checkpoint(args)
    jobs = [
        SpotJob(
            part,
            config,
            args.face_model and str(args.face_model),
            checkpoint and str(checkpoint),
            profile.baselines if profile else None,
        )
        for part in source.per_recording()
    ]
    return spot_on_ray(jobs, sinks, args.ray)


def cmd_score_spots(args: argparse.Namespace) -> None:
    from mer_live.corpora.scoring import macro_confusions, read_spots, spotting_report, true_intervals

    spots, (_, events) = read_spots(args.spots), _spotting_truth(args)
    if events is None:
        raise UserError(f"{args.data} holds no ground truth (events.csv, or a SAMM-LV / CAS(ME)² coding sheet)")
    report = spotting_report(spots, true_intervals(events), args.iou)
    report["spots_on_macro"] = macro_confusions(spots, true_intervals(events, "macro"))
    print(json.dumps(report, indent=2))


def cmd_calibrate(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from mer_live.calibration.baseline import calibrate
    from mer_live.calibration.views import view_finder
    from mer_live.stream.face import MediaPipeFaceDetector
    from mer_live.stream.sources import paced

    writable(args.out)
    config = _engine_config(args)
    source = _open(args)
    config = replace(config, spotter=replace(config.spotter, fps=source.fps))  # time constants at the source's rate
    detector_factory = lambda: MediaPipeFaceDetector(args.face_model)  # noqa: E731
    if config.views is None:
        with source:
            first = next((i for i in source if hasattr(i, "image")), None)
        if first is None:
            raise UserError(f"no frame could be read from {args.spec}")
        views, split_x = view_finder(detector_factory, _say_views)(first.image)
        config = replace(config, views=views, split_x=split_x)
        source = _open(args)
    with source:
        profile = calibrate(paced(iter(source), config.realtime), args.seconds, config, detector_factory, source.name)
    profile.save(args.out)
    print(json.dumps(profile.to_json(), indent=2))


def cmd_config(args: argparse.Namespace) -> None:
    """The default settings as JSON: a file for --config to start from."""
    if args.which == "train":
        from mer_live.model.config import TrainConfig
        from mer_live.stream.settings import config_to_json

        data = config_to_json(TrainConfig())
    else:
        from mer_live.calibration.setting import setting_file_defaults

        data = setting_file_defaults()
    print(json.dumps(data, indent=2))


def cmd_bench(args: argparse.Namespace) -> None:
    cache = args.cache or Path(os.environ.get("MER_CACHE", Path.home() / ".cache" / "mer-live"))
    if args.real is not None:
        from mer_live.bench.real import run_real_bench, summary_table

        refuse_unused(
            args,
            "with --real (it spots without a model, at each video's size)",
            ["model", "no_model", "seconds", "soak_s", "sizes"],
        )
        report = run_real_bench(args.real, cache, tuple(args.splits.split(",")), tuple(args.kinds.split(",")))
        print(summary_table(report), file=sys.stderr)
        print(json.dumps(report, indent=2))
        return
    from mer_live.bench.live import run_bench

    refuse_unused(args, "without --real", ["splits", "kinds"])
    report = run_bench(
        _classifier(args), cache, seconds=args.seconds, soak_s=args.soak_s, kinds=tuple(args.sizes.split(","))
    )
    print(json.dumps(report, indent=2))


# ---------------------------------------------------------------- dashboard
def cmd_ui(args: argparse.Namespace) -> None:
    from mer_live.ui.app import run_ui

    run_ui(
        args.spec,
        args.model,
        args.profile,
        args.host,
        args.port,
        args.auth,
        args.autostart or bool(args.spec),
        args.session_dir,
        None if args.views == "auto" else int(args.views),
        data_roots=args.data_root,
        **dashboard_setting(args),
    )
