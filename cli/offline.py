"""The offline commands: generated data (synth, inject) and the dataset pipeline (extract, train,
evaluate, ablate)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mer_live.cli.common import UserError, refuse_failed, refuse_unused, stated_views
from mer_live.cli.options import config_from_args

if TYPE_CHECKING:
    from mer_live.model.microattnet import MicroAttNetConfig


# ---------------------------------------------------------------- data
def cmd_synth(args: argparse.Namespace) -> None:
    from mer_live.synth import SynthConfig, ensure_demo_dataset, generate_dataset

    if args.demo:
        refuse_unused(
            args,
            "with --demo (it makes the built-in set as it is)",
            ["out", "subjects", "per_subject", "fps", "seed", "long", "faces", "workers", "layout"]
            + [f"no_{name}" for name in ("noise", "drift", "blinks", "flicker", "macro")],
        )
        print(ensure_demo_dataset())
        return
    if args.out is None:
        raise UserError("synth needs an output folder (or --demo)")
    config = SynthConfig(
        fps=args.fps,
        noise=not args.no_noise,
        drift=not args.no_drift,
        blinks=not args.no_blinks,
        flicker=not args.no_flicker,
        macro=not args.no_macro,
    )
    if args.layout == "4dme":
        summary = generate_dataset(
            Path(args.out),
            subjects=args.subjects,
            per_subject=args.per_subject,
            seed=args.seed,
            long=args.long,
            faces_dir=args.faces,
            config=config,
            workers=args.workers,
        )
        print(json.dumps(summary, indent=2))
        return
    import tempfile

    from mer_live.corpora.fourdme import DatasetInfo, load_dataset
    from mer_live.corpora.write import write_layout

    if args.long:
        raise UserError(f"--layout {args.layout} writes labelled clips; --long is for the 4DME layout")
    with tempfile.TemporaryDirectory(prefix="mer-synth-") as staging:
        generate_dataset(
            Path(staging),
            subjects=args.subjects,
            per_subject=args.per_subject,
            seed=args.seed,
            faces_dir=args.faces,
            config=config,
            workers=args.workers,
        )
        views = DatasetInfo.read(staging).views or 2
        print(json.dumps(write_layout(load_dataset(staging), Path(args.out), args.layout, views), indent=2))


def cmd_inject(args: argparse.Namespace) -> None:
    from mer_live.synth import InjectConfig, inject_videos

    config = InjectConfig(micro_amp_px=tuple(args.amp), macro_p=args.macro_share)
    summary = inject_videos(
        args.videos, args.out, seed=args.seed, repeats=args.repeats, config=config, workers=args.workers
    )
    print(json.dumps(summary, indent=2))


# ---------------------------------------------------------------- dataset pipeline
def _preprocess_config(args: argparse.Namespace, root: Path, dataset: str = "4DME", release_flow: str | None = None):
    """Views: as asked, else as the root's dataset.json states, else 2 for 4DME and 1 for the
    datasets that film one face."""
    from dataclasses import replace

    from mer_live.stream.features import PreprocessConfig

    views = args.views or stated_views(root) or (2 if dataset == "4DME" else 1)
    config = PreprocessConfig(n_views=views, cropped=args.cropped)
    return config if release_flow is None else replace(config, release_flow=release_flow)


def _extract(
    args: argparse.Namespace, root: Path | None = None, release_flow: str | None = None, apex: str | None = None
):
    """Sequences of a dataset root (default: DATA) in its own layout and their features;
    `release_flow` as a checkpoint was trained with (default: the config's), the apex from --apex,
    else `apex`, else the default source."""
    from mer_live.corpora import load_corpus
    from mer_live.model.extract import extract_dataset

    several = isinstance(args.data, list) and len(args.data) > 1
    root = root or _single_root(args)
    if several and args.dataset:
        raise UserError("--dataset names one layout; with several roots each one's layout is detected")
    corpus = load_corpus(root, args.dataset)
    for reason in corpus.skipped:
        print(f"skipped {reason}", file=sys.stderr)
    print(
        f"{corpus.name} ({corpus.fps:g} fps): {len(corpus.sequences)} clips"
        + (f" from {corpus.frames_root}" if corpus.frames_root else "")
        + (f", {len(corpus.skipped)} rows skipped (above)" if corpus.skipped else ""),
        file=sys.stderr,
    )
    cache = root / ".mer-cache"
    if args.cache:  # several datasets in one given folder: one subfolder each, their clip keys may meet
        cache = args.cache / corpus.name.replace(" ", "_") if several else args.cache
    extraction = extract_dataset(
        corpus.sequences,
        cache,
        _preprocess_config(args, root, corpus.name, release_flow),
        workers=args.workers,
        face_model=args.face_model,
        ray=getattr(args, "ray", None),
        apex=_apex(args, apex),
    )
    return corpus.sequences, extraction


def _apex(args: argparse.Namespace, fallback: str | None = None) -> str:
    from mer_live.model.config import DEFAULT_APEX

    return args.apex or fallback or DEFAULT_APEX


def _single_root(args: argparse.Namespace) -> Path:
    roots = args.data if isinstance(args.data, list) else [args.data]
    if len(roots) != 1:
        raise UserError(f"one dataset root is needed here, got {len(roots)} (several are for --protocol composite)")
    return roots[0]


def cmd_extract(args: argparse.Namespace) -> None:
    import numpy as np

    if args.ray is not None:
        refuse_unused(args, "with --ray (one Ray task per sequence)", ["workers"])
    sequences, extraction = _extract(args)
    errors = extraction.apex_errors(sequences)
    report = {
        "sequences": len(sequences),
        "extracted": len(extraction.features),
        "skipped": len(extraction.skipped),
        "apex": _apex(args),
    }
    if errors:
        report["apex_error_frames"] = {
            "mean": round(float(np.mean(errors)), 2),
            "median": float(np.median(errors)),
            "within_1": round(float(np.mean(np.array(errors) <= 1)), 3),
            "within_2": round(float(np.mean(np.array(errors) <= 2)), 3),
        }
        middle = extraction.middle_frame_errors(sequences)
        report["middle_frame_error_frames"] = {
            "mean": round(float(np.mean(middle)), 2),
            "median": float(np.median(middle)),
        }
    if extraction.failed:
        report["failed"] = extraction.failed
    print(json.dumps(report, indent=2))
    refuse_failed(extraction.failed, "sequence")


def _usable(sequences, extraction):
    usable = [s for s in sequences if s.key in extraction.features]
    if not usable:
        raise UserError("no sequence could be extracted (see the messages above)")
    return usable


def _train_config(args: argparse.Namespace):
    """The training settings: the defaults < --config < the options given."""
    from mer_live.model.config import TrainConfig
    from mer_live.stream.settings import load_config

    config = config_from_args(TrainConfig, args, load_config(TrainConfig, args.config) if args.config else None)
    if config.freeze != "none" and getattr(args, "init", None) is None:
        raise UserError(f"--freeze {config.freeze} keeps layers of a starting checkpoint: give one with --init")
    return config


@dataclass(frozen=True)
class StartingPoint:
    """A checkpoint training starts from (--init): its architecture, weights and feature settings."""

    path: Path
    model_config: MicroAttNetConfig
    state: dict
    release_flow: str

    def recorded(self, freeze: str) -> dict:
        return {"checkpoint": str(self.path), "freeze": freeze}


def _starting_point(args: argparse.Namespace) -> StartingPoint | None:
    """The --init checkpoint, loaded (a problem names the file), or None."""
    if args.init is None:
        return None
    from mer_live.model.checkpoint import load_checkpoint

    if getattr(args, "no_fusion_attention", False) or getattr(args, "no_se", False):
        raise UserError("--init: the architecture is the starting checkpoint's; drop --no-fusion-attention / --no-se")
    model, checkpoint = load_checkpoint(args.init)
    return StartingPoint(args.init, model.config, model.state_dict(), checkpoint.release_flow)


def _device(args: argparse.Namespace):
    from mer_live.model.train import choose_device

    return choose_device(args.device)


def cmd_train(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from mer_live.corpora.labels import CLASSES
    from mer_live.model.checkpoint import save_checkpoint
    from mer_live.model.evaluate import evaluate_probs, make_split
    from mer_live.model.microattnet import MicroAttNetConfig
    from mer_live.model.train import predict_sequences, train_model
    from mer_live.stream.settings import config_to_json

    device, train_config = _device(args), _train_config(args)  # refused before any extraction
    start = _starting_point(args)
    release_flow = start.release_flow if start else None
    sequences, extraction = _extract(args, release_flow=release_flow)
    split = make_split(_usable(sequences, extraction), args.test_fraction, args.val_fraction, train_config.seed)
    model_config = (
        start.model_config
        if start
        else replace(MicroAttNetConfig(), fusion_attention=not args.no_fusion_attention, se_block=not args.no_se)
    )
    model, history = train_model(
        split.train,
        split.val,
        extraction.features,
        model_config,
        train_config,
        device=device,
        init_state=start.state if start else None,
    )
    report = evaluate_probs(split.test, predict_sequences(model, split.test, extraction.features), args.threshold)
    extra = {
        "subjects": split.subjects(),
        "epochs_run": len(history),
        "history": history,
        "test_report": report,
        "data": str(args.data),
        "threshold": args.threshold,
        "release_flow": _preprocess_config(args, args.data, release_flow=release_flow).release_flow,
        "apex": _apex(args),
        "init": start.recorded(train_config.freeze) if start else None,
        "train": config_to_json(train_config),
    }
    save_checkpoint(args.out, model, labels=list(CLASSES), extra=extra)
    print(
        json.dumps(
            {
                "checkpoint": str(args.out),
                "subjects": split.subjects(),
                "epochs_run": len(history),
                "best_val_loss": min(h["val_loss"] for h in history),
                "test": {k: report[k] for k in ("uf1", "uar", "per_class", "threshold", "n")},
            },
            indent=2,
        )
    )


def cmd_evaluate(args: argparse.Namespace) -> None:
    from mer_live.model.checkpoint import load_checkpoint
    from mer_live.model.evaluate import evaluate_probs, plot_sweep, sweep_table
    from mer_live.model.train import predict_sequences

    if args.protocol != "holdout":
        refuse_unused(
            args,
            f"with --protocol {args.protocol} (a model per fold, every subject tested once)",
            ["model", "subjects", "all", "sweep_plot"],
        )
        _evaluate_loso(args)
        return
    refuse_unused(args, "with --protocol holdout (it tests a trained --model)", args.training_options)
    if args.model is None:
        raise UserError(
            "--protocol holdout evaluates a checkpoint: give --model (or train per fold with --protocol loso)"
        )
    model, checkpoint = load_checkpoint(args.model)
    # a checkpoint from before the choice existed was trained on detected apexes
    sequences, extraction = _extract(
        args, release_flow=checkpoint.release_flow, apex=checkpoint.extra.get("apex", "detected")
    )
    usable = _usable(sequences, extraction)
    if args.subjects:
        wanted = set(args.subjects.split(","))
    elif args.all:
        wanted = {s.subject for s in usable}
    else:  # the subjects held out when this checkpoint was trained, when they are in this dataset
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

    from mer_live.corpora.labels import CLASSES
    from mer_live.model.microattnet import MicroAttNetConfig
    from mer_live.model.protocols import fold_table, loso, subject_per_dataset

    device, train_config = _device(args), _train_config(args)  # refused before any extraction
    start = _starting_point(args)
    release_flow = start.release_flow if start else None
    started = time.perf_counter()
    if args.protocol == "loso":
        sequences, extraction = _extract(args, release_flow=release_flow)
        sequences, features, classes, threshold = (
            _usable(sequences, extraction),
            extraction.features,
            CLASSES,
            args.threshold,
        )
    else:
        from mer_live.corpora.labels import COMPOSITE_CLASSES, composite_class

        sequences, features, names = [], {}, set()
        for root in args.data:
            found, extraction = _extract(args, root, release_flow=release_flow)
            mapped = [
                replace(s, labels=(label,))
                for s in _usable(found, extraction)
                if (label := composite_class(s.dataset, s.emotion)) is not None
            ]
            if not mapped:
                raise UserError(
                    f"{root}: no clip has an emotion of the composite classes (the composite "
                    "protocol is defined for CASME II, SAMM and SMIC)"
                )
            if mapped[0].dataset in names:
                raise UserError(f"{root}: {mapped[0].dataset} is given twice")
            names.add(mapped[0].dataset)
            renamed, renamed_features = subject_per_dataset(mapped, extraction.features)
            sequences += renamed
            features.update(renamed_features)
        classes, threshold = COMPOSITE_CLASSES, None
    report = loso(
        sequences,
        features,
        train_config,
        classes=classes,
        threshold=threshold,
        val_fraction=args.val_fraction,
        device=device,
        model_config=start.model_config if start else MicroAttNetConfig(),
        init_state=start.state if start else None,
    )
    report["protocol"] = args.protocol
    report["apex"] = _apex(args)
    report["init"] = start.recorded(train_config.freeze) if start else None
    report["wall_s"] = round(time.perf_counter() - started, 1)
    print(fold_table(report), file=sys.stderr)
    print(json.dumps(report, indent=2))


def cmd_ablate(args: argparse.Namespace) -> None:
    from mer_live.model.evaluate import ablate, ablation_table, make_split

    refuse_unused(args, "in mer ablate (each configuration trains from scratch)", ["init"])
    device, train_config = _device(args), _train_config(args)  # refused before any extraction
    sequences, extraction = _extract(args)
    split = make_split(_usable(sequences, extraction), args.test_fraction, args.val_fraction, train_config.seed)
    rows = ablate(split, extraction.features, train_config, args.threshold, device=device)
    print(ablation_table(rows))
    print(json.dumps({"subjects": split.subjects(), "rows": rows}, indent=2))
