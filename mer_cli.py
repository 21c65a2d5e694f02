"""`mer`: the MER Live command line. Each subcommand builds a config and calls library code."""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """A problem with what the user asked for; printed as one line, exit code 2."""


class StreamFailed(Exception):
    """The stream broke before its end (a file cut short, a camera lost); printed as one line, exit code 1."""


def _positive(text: str) -> float:
    """A finite number > 0 (a frame rate, a duration)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _writable(*paths: Path | None) -> None:
    """Refuse an output file that cannot be written before any work is done for it (its missing
    folders are made when it is written)."""
    for path in paths:
        if path is None:
            continue
        if path.is_dir():
            raise UserError(f"cannot write {path}: it is a folder")
        existing = path.expanduser().absolute().parent
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise UserError(f"cannot write {path}: {existing} is a file, not a folder")
        if (path.exists() and not os.access(path, os.W_OK)) or not os.access(existing, os.W_OK):
            raise UserError(f"cannot write {path}: permission denied")


def _existing_path(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"path does not exist: {path}")
    return path


# ---------------------------------------------------------------- data
def cmd_synth(args: argparse.Namespace) -> None:
    from synth import SynthConfig, ensure_demo_dataset, generate_dataset

    if args.demo:
        print(ensure_demo_dataset())
        return
    if args.out is None:
        raise UserError("synth needs an output folder (or --demo)")
    config = SynthConfig(fps=args.fps, noise=not args.no_noise, drift=not args.no_drift,
                         blinks=not args.no_blinks, flicker=not args.no_flicker, macro=not args.no_macro)
    if args.layout == "4dme":
        summary = generate_dataset(Path(args.out), subjects=args.subjects, per_subject=args.per_subject,
                                   seed=args.seed, long=args.long, faces_dir=args.faces, config=config,
                                   workers=args.workers)
        print(json.dumps(summary, indent=2))
        return
    import tempfile

    from corpora.write import write_layout
    from corpora.fourdme import load_dataset, DatasetInfo

    if args.long:
        raise UserError(f"--layout {args.layout} writes labelled clips; --long is for the 4DME layout")
    with tempfile.TemporaryDirectory(prefix="mer-synth-") as staging:
        generate_dataset(Path(staging), subjects=args.subjects, per_subject=args.per_subject, seed=args.seed,
                         faces_dir=args.faces, config=config, workers=args.workers)
        views = DatasetInfo.read(staging).views or 2
        print(json.dumps(write_layout(load_dataset(staging), Path(args.out), args.layout, views), indent=2))


def cmd_inject(args: argparse.Namespace) -> None:
    from synth import InjectConfig, inject_videos

    config = InjectConfig(micro_amp_px=tuple(args.amp), macro_p=args.macro_share)
    summary = inject_videos(args.videos, args.out, seed=args.seed, repeats=args.repeats, config=config,
                            workers=args.workers)
    print(json.dumps(summary, indent=2))


def cmd_demo(args: argparse.Namespace) -> None:
    """The main job on the built-in demo: replay the demo recording through the live pipeline."""
    from corpora.fourdme import load_dataset, read_events
    from synth import ensure_demo_dataset

    short = ensure_demo_dataset()
    long = short.parent / "long"
    sequences = load_dataset(short)
    print(f"demo clips: {short} ({len(sequences)} sequences, "
          f"{sum(len(s.frame_numbers) for s in sequences)} frames)")
    truths = read_events(long)
    print(f"demo recording: {long} ({sum(t.kind == 'micro' for t in truths)} micro, "
          f"{sum(t.kind == 'macro' for t in truths)} macro events in events.csv)")
    args.source, args.events = long, args.events or short.parent / "demo-events.jsonl"
    args.events.unlink(missing_ok=True)
    cmd_stream(args)
    for line in args.events.read_text().splitlines():
        record = json.loads(line)
        truth = next((t for t in truths if t.onset <= record["offset_frame"] and t.offset >= record["onset_frame"]),
                     None)
        found = f"true {truth.kind} {'+'.join(truth.labels)} {truth.onset}-{truth.offset}" if truth else "no true event"
        print(f"  {record['kind']:5} frames {record['onset_frame']}-{record['offset_frame']} apex "
              f"{record['apex_frame']}: {'+'.join(record['labels']) or '-'}   ({found})")


# ---------------------------------------------------------------- offline pipeline
def _preprocess_config(args: argparse.Namespace, root: Path, dataset: str = "4DME", release_flow: str | None = None):
    """Views: as asked, else as the root's dataset.json states, else 2 for 4DME and 1 for the
    datasets that film one face."""
    from dataclasses import replace

    from stream.features import PreprocessConfig

    views = args.views or _stated_views(root) or (2 if dataset == "4DME" else 1)
    config = PreprocessConfig(n_views=views, cropped=args.cropped)
    return config if release_flow is None else replace(config, release_flow=release_flow)


def _extract(args: argparse.Namespace, root: Path | None = None, release_flow: str | None = None):
    """Sequences of a dataset root (default: DATA) in its own layout and their features;
    `release_flow` as a checkpoint was trained with (default: the config's)."""
    from corpora import load_corpus
    from model.extract import extract_dataset

    several = isinstance(args.data, list) and len(args.data) > 1
    root = root or _single_root(args)
    if several and args.dataset:
        raise UserError("--dataset names one layout; with several roots each one's layout is detected")
    corpus = load_corpus(root, args.dataset)
    for reason in corpus.skipped:
        print(f"skipped {reason}", file=sys.stderr)
    print(f"{corpus.name} ({corpus.fps:g} fps): {len(corpus.sequences)} clips"
          + (f" from {corpus.frames_root}" if corpus.frames_root else "")
          + (f", {len(corpus.skipped)} rows skipped (above)" if corpus.skipped else ""), file=sys.stderr)
    cache = root / ".mer-cache"
    if args.cache:   # several datasets in one given folder: one subfolder each, their clip keys may meet
        cache = args.cache / corpus.name.replace(" ", "_") if several else args.cache
    extraction = extract_dataset(corpus.sequences, cache, _preprocess_config(args, root, corpus.name, release_flow),
                                 workers=args.workers, face_model=args.face_model, ray=getattr(args, "ray", None))
    return corpus.sequences, extraction


def _single_root(args: argparse.Namespace) -> Path:
    roots = args.data if isinstance(args.data, list) else [args.data]
    if len(roots) != 1:
        raise UserError(f"one dataset root is needed here, got {len(roots)} (several are for --protocol composite)")
    return roots[0]


def cmd_extract(args: argparse.Namespace) -> None:
    import numpy as np

    sequences, extraction = _extract(args)
    errors = extraction.apex_errors(sequences)
    report = {"sequences": len(sequences), "extracted": len(extraction.features), "skipped": len(extraction.skipped)}
    if errors:
        report["apex_error_frames"] = {"mean": round(float(np.mean(errors)), 2), "median": float(np.median(errors)),
                                       "within_1": round(float(np.mean(np.array(errors) <= 1)), 3),
                                       "within_2": round(float(np.mean(np.array(errors) <= 2)), 3)}
        middle = extraction.middle_frame_errors(sequences)
        report["middle_frame_error_frames"] = {"mean": round(float(np.mean(middle)), 2),
                                               "median": float(np.median(middle))}
    if extraction.failed:
        report["failed"] = extraction.failed
    print(json.dumps(report, indent=2))
    _refuse_failed(extraction.failed, "sequence")


def _usable(sequences, extraction):
    usable = [s for s in sequences if s.key in extraction.features]
    if not usable:
        raise UserError("no sequence could be extracted (see the messages above)")
    return usable


def _train_config(args: argparse.Namespace):
    from model.config import TrainConfig

    return TrainConfig(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                       focal_gamma=args.focal_gamma, schedule=args.schedule)


def _device(args: argparse.Namespace):
    from model.train import choose_device

    return choose_device(args.device)


def cmd_train(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from corpora.labels import CLASSES
    from model.checkpoint import save_checkpoint
    from model.evaluate import evaluate_probs, make_split
    from model.microattnet import MicroAttNetConfig
    from model.train import predict_sequences, train_model

    device, train_config = _device(args), _train_config(args)   # refused before any extraction
    sequences, extraction = _extract(args)
    split = make_split(_usable(sequences, extraction), args.test_fraction, args.val_fraction, args.seed)
    model_config = replace(MicroAttNetConfig(), fusion_attention=not args.no_fusion_attention,
                           se_block=not args.no_se)
    model, history = train_model(split.train, split.val, extraction.features, model_config, train_config,
                                 device=device)
    report = evaluate_probs(split.test, predict_sequences(model, split.test, extraction.features), args.threshold)
    extra = {"subjects": split.subjects(), "epochs_run": len(history), "history": history,
             "test_report": report, "data": str(args.data), "threshold": args.threshold,
             "release_flow": _preprocess_config(args, args.data).release_flow}
    save_checkpoint(args.out, model, labels=list(CLASSES), extra=extra)
    print(json.dumps({"checkpoint": str(args.out), "subjects": split.subjects(), "epochs_run": len(history),
                      "best_val_loss": min(h["val_loss"] for h in history),
                      "test": {k: report[k] for k in ("uf1", "uar", "per_class", "threshold", "n")}}, indent=2))


def cmd_evaluate(args: argparse.Namespace) -> None:
    from model.checkpoint import load_checkpoint
    from model.evaluate import evaluate_probs, plot_sweep, sweep_table
    from model.train import predict_sequences

    if args.protocol != "holdout":
        _evaluate_loso(args)
        return
    if args.model is None:
        raise UserError("--protocol holdout evaluates a checkpoint: give --model (or train per fold with "
                        "--protocol loso)")
    model, checkpoint = load_checkpoint(args.model)
    sequences, extraction = _extract(args, release_flow=checkpoint.release_flow)
    usable = _usable(sequences, extraction)
    if args.subjects:
        wanted = set(args.subjects.split(","))
    elif args.all:
        wanted = {s.subject for s in usable}
    else:   # the subjects held out when this checkpoint was trained, when they are in this dataset
        wanted = set(checkpoint.extra.get("subjects", {}).get("test", [])) or {s.subject for s in usable}
    chosen = [s for s in usable if s.subject in wanted]
    if not chosen:
        raise UserError(f"no sequence of subjects {sorted(wanted)} in {_single_root(args)}")
    report = evaluate_probs(chosen, predict_sequences(model, chosen, extraction.features), args.threshold)
    report["subjects"] = sorted({s.subject for s in chosen})
    print(sweep_table(report["sweep"]), file=sys.stderr)
    if args.sweep_plot:
        print(f"sweep plot: {plot_sweep(report['sweep'], args.sweep_plot)}", file=sys.stderr)
    print(json.dumps(report, indent=2))


def _evaluate_loso(args: argparse.Namespace) -> None:
    """Leave-one-subject-out on one dataset (five classes, multi-label at --threshold), or the MEGC
    composite over several (three classes, the top class)."""
    import time
    from dataclasses import replace

    from corpora.labels import CLASSES
    from model.protocols import fold_table, loso, subject_per_dataset

    if args.model is not None:
        raise UserError(f"--protocol {args.protocol} trains a model per fold; --model is for --protocol holdout")
    device, train_config = _device(args), _train_config(args)   # refused before any extraction
    started = time.perf_counter()
    if args.protocol == "loso":
        sequences, extraction = _extract(args)
        sequences, features, classes, threshold = _usable(sequences, extraction), extraction.features, CLASSES, \
            args.threshold
    else:
        from corpora.labels import COMPOSITE_CLASSES, composite_class

        sequences, features, names = [], {}, set()
        for root in args.data:
            found, extraction = _extract(args, root)
            mapped = [replace(s, labels=(label,)) for s in _usable(found, extraction)
                      if (label := composite_class(s.dataset, s.emotion)) is not None]
            if not mapped:
                raise UserError(f"{root}: no clip has an emotion of the composite classes (the composite "
                                "protocol is defined for CASME II, SAMM and SMIC)")
            if mapped[0].dataset in names:
                raise UserError(f"{root}: {mapped[0].dataset} is given twice")
            names.add(mapped[0].dataset)
            renamed, renamed_features = subject_per_dataset(mapped, extraction.features)
            sequences += renamed
            features.update(renamed_features)
        classes, threshold = COMPOSITE_CLASSES, None
    report = loso(sequences, features, train_config, classes=classes, threshold=threshold,
                  val_fraction=args.val_fraction, device=device)
    report["protocol"] = args.protocol
    report["wall_s"] = round(time.perf_counter() - started, 1)
    print(fold_table(report), file=sys.stderr)
    print(json.dumps(report, indent=2))


def cmd_ablate(args: argparse.Namespace) -> None:
    from model.evaluate import ablate, ablation_table, make_split

    device, train_config = _device(args), _train_config(args)   # refused before any extraction
    sequences, extraction = _extract(args)
    split = make_split(_usable(sequences, extraction), args.test_fraction, args.val_fraction, args.seed)
    rows = ablate(split, extraction.features, train_config, args.threshold, device=device)
    print(ablation_table(rows))
    print(json.dumps({"subjects": split.subjects(), "rows": rows}, indent=2))


# ---------------------------------------------------------------- live
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "model" / "weights" / "microattnet-synth.pt"


def _checkpoint(args: argparse.Namespace) -> Path | None:
    """The checkpoint to classify with: --model, else the shipped demo weights; None with --no-model."""
    if getattr(args, "no_model", False):
        return None
    path = args.model or (DEFAULT_WEIGHTS if DEFAULT_WEIGHTS.exists() else None)
    if path is None:
        print("note: no checkpoint given and no shipped weights found: events are spotted, not classified",
              file=sys.stderr)
    return path


def _classifier(args: argparse.Namespace):
    """The Predictor for --model (default: the shipped demo weights), or None with --no-model."""
    path = _checkpoint(args)
    if path is None:
        return None
    from model.predictor import Predictor

    return Predictor.from_checkpoint(path)


def _engine_config(args: argparse.Namespace, profile=None):
    from dataclasses import replace

    from stream.engine import EngineConfig

    views = args.views or str(_stated_views(args.source) or 2)
    config = EngineConfig(views=None if views == "auto" else int(views), realtime=args.realtime)
    if getattr(args, "cropped", False):
        config = replace(config, features=replace(config.features, cropped=True))
    if profile is not None:
        config = replace(config, views=profile.views, split_x=profile.split_x,
                         decision_threshold=profile.decision_threshold,
                         spotter=replace(config.spotter, k_high=profile.k_high, k_low=profile.k_low))
    if getattr(args, "threshold", None) is not None:
        config = replace(config, decision_threshold=args.threshold)
    return config


def _stated_views(source) -> int | None:
    """Views per frame as a dataset folder's dataset.json states them (e.g. `mer inject` output)."""
    from corpora.fourdme import DatasetInfo

    path = Path(str(source)).expanduser()
    return DatasetInfo.read(path).views if path.is_dir() else None


def _open(args: argparse.Namespace):
    from corpora.replay import open_source

    return open_source(str(args.source), fps=args.fps, decode_scale=args.decode_scale,
                       allow_single_view=getattr(args, "allow_single_view", False))


def _say_layout(found) -> None:
    print(f"views: {found.views} ({found.reason})", file=sys.stderr)


def _profile_and_config(args: argparse.Namespace):
    """The calibration profile --profile names (or None) and the engine config with it applied."""
    from calibration.profile import load_profile

    profile = load_profile(args.profile) if getattr(args, "profile", None) else None
    config = _engine_config(args, profile)
    if profile is not None:
        profile.check_intensity(config.features.intensity, args.profile)
    return profile, config


def run_engine(args: argparse.Namespace, sinks: list, *, status_line: bool, source=None) -> dict:
    """The live engine over `source` (default: the one --source names) into `sinks`; its summary."""
    from calibration.views import layout_hook
    from stream.engine import Engine
    from stream.face import MediaPipeFaceDetector
    from stream.stereo import describe_devices

    profile, config = _profile_and_config(args)
    source = source or _open(args)
    detector_factory = lambda: MediaPipeFaceDetector(args.face_model)  # noqa: E731
    engine = Engine(source, config, detector_factory=detector_factory, classifier=_classifier(args),
                    sinks=sinks, baselines=profile.baselines if profile else None,
                    layout=layout_hook(detector_factory, _say_layout) if config.views is None else None)
    devices = getattr(source, "device_status", None)   # a stereo rig: rate and drops per camera
    engine.start()
    interrupted = False
    try:
        while engine.running:
            engine.join(0.5)
            if status_line:
                s = engine.stats.summary()
                print(f"\r{s['processed']:7d} frames  {engine.stats.fps:6.1f} fps (source {s['source_fps']:.1f})  "
                      f"state {engine.stats.state:<10}  events {sum(s['events'].values()):4d}  "
                      f"dropped {sum(s['dropped'].values())}" + (f"  {describe_devices(devices())}" if devices else ""),
                      end="", file=sys.stderr)
    except KeyboardInterrupt:
        interrupted = True
        engine.stop()
        engine.join()
    if status_line:
        print(file=sys.stderr)
    summary = engine.stats.summary()
    summary["source"] = source.name
    if devices is not None:
        summary["devices"] = devices()
    if interrupted:
        summary["ended"] = "interrupted (Ctrl-C)"
    return summary


def cmd_stream(args: argparse.Namespace) -> None:
    from stream.sinks import CsvSink, JsonlSink, MegcSink

    _writable(args.events, args.csv, args.megc)
    sinks = [JsonlSink(args.events)]
    if args.csv:
        sinks.append(CsvSink(args.csv))
    if args.megc:
        sinks.append(MegcSink(args.megc))
    summary = run_engine(args, sinks, status_line=not args.quiet)
    summary["events_file"] = str(args.events)
    print(json.dumps(summary, indent=2))
    _check_run(summary)


def _check_run(summary: dict) -> None:
    """After the summary is printed: a run that lost events, broke or was interrupted does not exit 0."""
    lost = summary.get("events_not_written") or {}
    if lost:
        raise UserError("events spotted but not written: " + ", ".join(f"{n} to {name}" for name, n in lost.items()))
    if summary.get("failure"):
        raise StreamFailed(f"the stream ended early: {summary['failure']}")
    if summary.get("ended", "").startswith("interrupted"):
        raise KeyboardInterrupt


def _spotting_truth(args: argparse.Namespace):
    """(the long-video set at DATA or None, the true events or None). A SAMM-LV or CAS(ME)² root is
    read through its coding sheet; a 4DME-layout root through its events.csv."""
    from corpora import SPOTTING_SETS, UnknownDataset, detect, load_spotting_set
    from corpora.fourdme import read_events
    from stream.folders import DatasetError

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
        return None, None   # no ground truth: nothing to score


def cmd_spot(args: argparse.Namespace) -> None:
    from corpora.scoring import read_spots, spotting_report, true_intervals
    from stream.sinks import JsonlSink, MegcSink

    args.source = args.data
    _writable(args.out, args.events)
    spotting_set, truth = _spotting_truth(args)
    source = None
    if spotting_set is not None:
        from corpora.replay import DatasetSource

        source = DatasetSource(args.data, args.fps or spotting_set.fps, args.decode_scale, spotting_set.folders)
        args.views = args.views or str(spotting_set.views)
    for path in (args.out, args.events):   # one run's output, not a log to append to
        if path is not None:
            path.unlink(missing_ok=True)
    sinks = [MegcSink(args.out)] + ([JsonlSink(args.events)] if args.events else [])
    if args.ray is None:
        summary = run_engine(args, sinks, status_line=not args.quiet, source=source)
    else:
        summary = _spot_on_ray(args, sinks, source or _open(args))
    summary["spots_file"] = str(args.out)
    if truth is not None:
        summary["score"] = spotting_report(read_spots(args.out), true_intervals(truth))
    print(json.dumps(summary, indent=2))
    _check_run(summary)
    _refuse_failed(summary.get("failed"), "recording")


def _spot_on_ray(args: argparse.Namespace, sinks: list, source) -> dict:
    """`mer spot` with one Ray task per recording: the same rows as the run on this machine."""
    from model.batch import SpotJob, spot_on_ray

    if not hasattr(source, "per_recording"):
        raise UserError(f"--ray runs one task per recording of a dataset root; {args.data} is one recording")
    profile, config = _profile_and_config(args)
    if config.views is None:
        raise UserError("--ray needs the views per frame: give --views 1 or 2 (auto detects them once per run)")
    checkpoint = _checkpoint(args)
    jobs = [SpotJob(part, config, args.face_model and str(args.face_model), checkpoint and str(checkpoint),
                    profile.baselines if profile else None) for part in source.per_recording()]
    return spot_on_ray(jobs, sinks, args.ray)


def _refuse_failed(failed: dict | None, what: str) -> None:
    if failed:
        raise UserError(f"{len(failed)} {what}(s) failed on Ray after a retry: "
                        + "; ".join(f"{name} ({reason})" for name, reason in failed.items()))


def cmd_score_spots(args: argparse.Namespace) -> None:
    from corpora.scoring import macro_confusions, read_spots, spotting_report, true_intervals

    spots, (_, events) = read_spots(args.spots), _spotting_truth(args)
    if events is None:
        raise UserError(f"{args.data} holds no ground truth (events.csv, or a SAMM-LV / CAS(ME)² coding sheet)")
    report = spotting_report(spots, true_intervals(events), args.iou)
    report["spots_on_macro"] = macro_confusions(spots, true_intervals(events, "macro"))
    print(json.dumps(report, indent=2))


def cmd_calibrate(args: argparse.Namespace) -> None:
    from calibration.baseline import calibrate
    from calibration.views import layout_hook
    from stream.face import MediaPipeFaceDetector
    from stream.sources import paced

    from dataclasses import replace

    _writable(args.out)
    config = _engine_config(args)
    source = _open(args)
    config = replace(config, spotter=replace(config.spotter, fps=source.fps))   # time constants at the source's rate
    detector_factory = lambda: MediaPipeFaceDetector(args.face_model)  # noqa: E731
    if config.views is None:
        with source:
            first = next((i for i in source if hasattr(i, "image")), None)
        if first is None:
            raise UserError(f"no frame could be read from {args.source}")
        views, split_x = layout_hook(detector_factory, _say_layout)(first.image)
        config = replace(config, views=views, split_x=split_x)
        source = _open(args)
    with source:
        profile = calibrate(paced(iter(source), args.realtime), args.seconds, config, detector_factory, source.name)
    profile.save(args.out)
    print(json.dumps(profile.to_json(), indent=2))


def cmd_bench(args: argparse.Namespace) -> None:
    cache = args.cache or Path(os.environ.get("MER_CACHE", Path.home() / ".cache" / "mer-live"))
    if args.real is not None:
        from bench.real import run_real_bench

        print(json.dumps(run_real_bench(args.real, cache, tuple(args.splits.split(","))), indent=2))
        return
    from bench.live import run_bench

    report = run_bench(_classifier(args), cache, seconds=args.seconds, soak_s=args.soak_s,
                       kinds=tuple(args.sizes.split(",")))
    print(json.dumps(report, indent=2))


def _add_source_args(p: argparse.ArgumentParser, source: bool = True) -> None:
    if source:
        p.add_argument("source", help="camera index or URL, two cameras as a stereo rig (camera:0+1), video file, "
                                      "image folder, 4DME root, or synthetic[:SEED]")
        p.add_argument("--allow-single-view", action="store_true",
                       help="a stereo rig goes on with one camera when the other is lost (default: it ends)")
    p.add_argument("--views", default=None, choices=("1", "2", "auto"),
                   help="views side by side per frame (default: as the dataset's dataset.json states, else 2)")
    p.add_argument("--fps", type=_positive, default=None, help="frame rate of a recording (default: 60 for images)")
    p.add_argument("--decode-scale", type=int, default=1, choices=(1, 2, 4, 8),
                   help="decode JPEGs at 1/N size (fast for 4DME-size frames)")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--realtime", action="store_true", help="deliver recorded frames at their own pace")
    pace.add_argument("--max-speed", action="store_true", help="as fast as possible (the default)")
    p.add_argument("--face-model", type=_existing_path, default=None,
                   help="MediaPipe face detector .tflite (default: the bundled one)")
    p.add_argument("--cropped", action="store_true",
                   help="frames are pre-cropped faces: each whole frame is the crop, no face detection")


def _add_live_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=_existing_path, default=None, help="checkpoint (default: shipped demo weights)")
    p.add_argument("--no-model", action="store_true", help="spot only, do not classify")
    p.add_argument("--profile", type=_existing_path, default=None, help="calibration profile from `mer calibrate`")
    p.add_argument("--threshold", type=float, default=None, help="decision threshold (default 0.2 or the profile's)")
    p.add_argument("--quiet", action="store_true", help="no live status line")


def _add_train_args(p: argparse.ArgumentParser, per_fold: bool = False) -> None:
    """Training options; `per_fold`: those of `mer evaluate --protocol loso|composite` (no test split,
    no threshold of its own)."""
    from model.config import DEVICES, SCHEDULES, TrainConfig

    defaults = TrainConfig()
    group = p.add_argument_group("training per fold (--protocol loso or composite)") if per_fold else p
    group.add_argument("--epochs", type=int, default=defaults.epochs)
    group.add_argument("--lr", type=float, default=defaults.lr,
                       help=f"Adam learning rate (default {defaults.lr:g}; the paper's is 1e-4, see README)")
    group.add_argument("--focal-gamma", type=float, default=defaults.focal_gamma,
                       help=f"focal loss γ (default {defaults.focal_gamma:g})")
    group.add_argument("--schedule", default=defaults.schedule, choices=SCHEDULES, help="learning-rate schedule")
    group.add_argument("--batch-size", type=int, default=defaults.batch_size)
    group.add_argument("--seed", type=int, default=defaults.seed)
    if not per_fold:
        group.add_argument("--test-fraction", type=float, default=0.25, help="fraction of subjects held out for testing")
    group.add_argument("--val-fraction", type=float, default=0.2,
                       help="fraction of the remaining subjects used for early stopping")
    group.add_argument("--device", default="auto", choices=DEVICES,
                       help="where to train: auto (a CUDA GPU when torch sees one, mixed precision), cpu or cuda")
    if not per_fold:
        group.add_argument("--threshold", type=float, default=0.2, help="decision threshold (paper: 0.2)")


def _add_data_args(p: argparse.ArgumentParser, several: bool = False) -> None:
    from corpora import CLIP_SETS

    p.add_argument("data", type=_existing_path, nargs="+" if several else None,
                   help="dataset root(s): 4DME, CASME II, SAMM, CAS(ME)3, SMIC or MMEW in its own layout")
    p.add_argument("--dataset", default=None, choices=CLIP_SETS,
                   help="the dataset's layout (default: detected from the files present)")
    p.add_argument("--cropped", action="store_true",
                   help="frames are pre-cropped faces: each whole frame is the crop (a face that fills "
                        "the frame is taken so anyway)")
    p.add_argument("--cache", type=Path, default=None, help="feature cache folder (default DATA/.mer-cache)")
    p.add_argument("--views", type=int, default=None, choices=(1, 2),
                   help="views side by side per frame (default: as DATA/dataset.json states, else 2 for 4DME, 1 for the one-face datasets)")
    p.add_argument("--workers", type=int, default=2, help="extraction processes")
    p.add_argument("--face-model", type=_existing_path, default=None,
                   help="MediaPipe face detector .tflite (default: the bundled one)")


def _add_ray_arg(p: argparse.ArgumentParser, task: str) -> None:
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help=f"one Ray task per {task} (pip install 'mer-live[ray]'): a local Ray without ADDRESS, "
                        "else the cluster at ADDRESS (auto, HOST:6379 or ray://HOST:10001); same output as without")


def _add_spotting_set_arg(p: argparse.ArgumentParser) -> None:
    from corpora import SPOTTING_SETS

    p.add_argument("--dataset", default=None, choices=tuple(SPOTTING_SETS),
                   help="a long-video set's layout (default: detected from its coding sheet)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="generate a synthetic dataset in the 4DME layout")
    p.add_argument("out", nargs="?", type=Path)
    p.add_argument("--subjects", type=int, default=6)
    p.add_argument("--per-subject", type=int, default=10)
    p.add_argument("--fps", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--long", action="store_true", help="long recordings with several events (+ events.csv)")
    p.add_argument("--faces", type=_existing_path, default=None, help="folder of your own face photos")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--demo", action="store_true", help="create (once) and print the built-in demo set")
    p.add_argument("--layout", default="4dme", choices=("4dme", "casme2", "samm", "smic"),
                   help="write the clips in this dataset's layout and coding sheet (first view of each)")
    for name in ("noise", "drift", "blinks", "flicker", "macro"):
        p.add_argument(f"--no-{name}", action="store_true", help=f"switch off the {name} confounder")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("inject", help="inject known micro-expressions into real face videos (4DME layout + events.csv)")
    p.add_argument("videos", nargs="+", type=_existing_path, help="real face videos (one view each)")
    p.add_argument("--out", type=Path, required=True, help="dataset root to write")
    p.add_argument("--amp", type=float, nargs=2, default=(0.9, 2.5), metavar=("LO", "HI"),
                   help="micro-expression amplitude range in px at a 224-px face")
    p.add_argument("--macro-share", type=float, default=0.15, help="share of injected events that are macro")
    p.add_argument("--repeats", type=int, default=1, help="recordings per video, each with its own events")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None, help="processes (default: CPU count)")
    p.set_defaults(func=cmd_inject)

    p = sub.add_parser("demo", help="the main job on the built-in demo set (headless replay)")
    _add_source_args(p, source=False)
    _add_live_args(p)
    p.add_argument("--events", type=Path, default=None, help="JSONL event log (default: in the demo folder)")
    p.add_argument("--csv", type=Path, default=None)
    p.add_argument("--megc", type=Path, default=None)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("extract", help="crop, detect apex and cache phase features of a dataset")
    _add_data_args(p)
    _add_ray_arg(p, "sequence")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("train", help="train MicroAttNet on a dataset (held-out subjects are tested)")
    _add_data_args(p)
    _add_train_args(p)
    p.add_argument("--out", type=Path, required=True, help="checkpoint to write")
    p.add_argument("--no-fusion-attention", action="store_true", help="Table 2 ablation switch")
    p.add_argument("--no-se", action="store_true", help="Table 2 ablation switch")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="UF1, UAR, per-class F1 and the threshold sweep of a checkpoint, "
                                        "or leave-one-subject-out / MEGC composite protocols")
    _add_data_args(p, several=True)
    p.add_argument("--protocol", default="holdout", choices=("holdout", "loso", "composite"),
                   help="holdout: test --model on held-out subjects; loso: a model per left-out subject, "
                        "predictions pooled; composite: loso over CASME II + SAMM + SMIC roots, three classes")
    p.add_argument("--model", type=_existing_path, default=None, help="checkpoint (--protocol holdout)")
    p.add_argument("--subjects", default=None, help="comma-separated subjects (default: the checkpoint's test subjects)")
    p.add_argument("--all", action="store_true", help="evaluate on every subject of DATA")
    p.add_argument("--threshold", type=float, default=0.2)
    _add_train_args(p, per_fold=True)
    p.add_argument("--sweep-plot", type=Path, default=None, help="PNG of the threshold sweep")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("stream", help="run the live pipeline on a camera, recording or dataset")
    _add_source_args(p)
    _add_live_args(p)
    p.add_argument("--events", type=Path, default=Path("events.jsonl"), help="live JSONL event log")
    p.add_argument("--csv", type=Path, default=None, help="also write events as CSV")
    p.add_argument("--megc", type=Path, default=None, help="also write MEGC spotting rows")
    p.set_defaults(func=cmd_stream)

    p = sub.add_parser("spot", help="run the live spotter over every recording of a dataset (MEGC CSV)")
    p.add_argument("data", type=_existing_path)
    _add_source_args(p, source=False)
    _add_live_args(p)
    p.add_argument("--out", type=Path, required=True, help="MEGC spotting CSV to write")
    p.add_argument("--events", type=Path, default=None, help="also write the JSONL event log")
    _add_spotting_set_arg(p)
    _add_ray_arg(p, "recording")
    p.set_defaults(func=cmd_spot)

    p = sub.add_parser("score-spots", help="precision, recall, F1 (IoU ≥ 0.5) and apex error of a spots CSV")
    p.add_argument("spots", type=_existing_path)
    p.add_argument("data", type=_existing_path,
                   help="dataset root holding events.csv, or a SAMM-LV / CAS(ME)² root with its coding sheet")
    p.add_argument("--iou", type=float, default=0.5)
    _add_spotting_set_arg(p)
    p.set_defaults(func=cmd_score_spots)

    p = sub.add_parser("calibrate", help="record a neutral baseline and derive spotter thresholds")
    _add_source_args(p)
    p.add_argument("--seconds", type=_positive, default=10.0, help="length of the neutral stretch")
    p.add_argument("--out", type=Path, default=Path("profile.json"))
    p.add_argument("--threshold", type=float, default=None, help="decision threshold to store in the profile")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("bench", help="speed and memory of the live pipeline and the model (JSON)")
    p.add_argument("--model", type=_existing_path, default=None, help="checkpoint (default: shipped demo weights)")
    p.add_argument("--no-model", action="store_true")
    p.add_argument("--seconds", type=_positive, default=20.0, help="length of the generated benchmark recordings")
    p.add_argument("--soak-s", type=float, default=120.0, help="seconds of video in the looping memory soak")
    p.add_argument("--sizes", default="4dme,camera", help="frame sizes to measure: 4dme, camera")
    p.add_argument("--cache", type=Path, default=None, help="where benchmark frames are kept")
    p.add_argument("--real", type=_existing_path, default=None, metavar="DIR",
                   help="instead of speed: spotting and apex on the real face videos of DIR (../shared/realvideo)")
    p.add_argument("--splits", default="design,heldout", help="with --real: design, heldout or both")
    p.set_defaults(func=cmd_bench)

    sub.add_parser("ui", help="the interviewer dashboard (Gradio, 127.0.0.1:7860); `mer ui --help`")

    p = sub.add_parser("ablate", help="train the four Table 2 configurations and print the table")
    _add_data_args(p)
    _add_train_args(p)
    p.set_defaults(func=cmd_ablate)
    return parser


def main(argv: list[str] | None = None) -> int:
    from stream.memory import limit_malloc_arenas

    limit_malloc_arenas()   # before any thread: runs that start and stop threads keep their memory flat
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["ui"]:                 # the dashboard parses its own options
        from ui.app import main as ui_main

        return ui_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as exc:
        print(f"mer: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, OSError) as exc:   # DatasetError, CheckpointError, config checks; files we cannot read or write
        print(f"mer: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StreamFailed as exc:
        print(f"mer: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("mer: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:   # whoever read our output stopped (`mer ... | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # so the exit-time flush stays quiet
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
