"""`mer`: the MER Live command line. Each subcommand builds a config and calls library code."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_USAGE = 2


class UserError(Exception):
    """A problem with what the user asked for; printed as one line, exit code 2."""


def _existing_path(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"path does not exist: {path}")
    return path


# ---------------------------------------------------------------- data
def cmd_synth(args: argparse.Namespace) -> None:
    from stream.synthetic import SynthConfig, ensure_demo_dataset, generate_dataset

    if args.demo:
        print(ensure_demo_dataset())
        return
    if args.out is None:
        raise UserError("synth needs an output folder (or --demo)")
    config = SynthConfig(fps=args.fps, noise=not args.no_noise, drift=not args.no_drift,
                         blinks=not args.no_blinks, flicker=not args.no_flicker, macro=not args.no_macro)
    summary = generate_dataset(Path(args.out), subjects=args.subjects, per_subject=args.per_subject, seed=args.seed,
                               long=args.long, faces_dir=args.faces, config=config, workers=args.workers)
    print(json.dumps(summary, indent=2))


def cmd_demo(args: argparse.Namespace) -> None:
    from model.data import load_dataset
    from stream.synthetic import ensure_demo_dataset

    root = ensure_demo_dataset()
    sequences = load_dataset(root)
    print(f"demo dataset: {root}")
    for seq in sequences:
        print(f"  {seq.subject}/{seq.name}: {len(seq.frame_numbers)} frames, onset {seq.onset} apex {seq.apex} "
              f"offset {seq.offset}, labels {'+'.join(seq.labels)}")
    print(f"{len(sequences)} sequences, {sum(len(s.frame_numbers) for s in sequences)} frames")


# ---------------------------------------------------------------- offline pipeline
def _preprocess_config(args: argparse.Namespace):
    from model.features import PreprocessConfig

    return PreprocessConfig(n_views=args.views)


def _extract(args: argparse.Namespace):
    from model.data import load_dataset
    from model.extract import extract_dataset

    sequences = load_dataset(args.data)
    cache = args.cache or args.data / ".mer-cache"
    extraction = extract_dataset(sequences, cache, _preprocess_config(args), workers=args.workers,
                                 face_model=args.face_model)
    return sequences, extraction


def cmd_extract(args: argparse.Namespace) -> None:
    import numpy as np

    sequences, extraction = _extract(args)
    errors = extraction.apex_errors(sequences)
    report = {"sequences": len(sequences), "extracted": len(extraction.features), "skipped": len(extraction.skipped)}
    if errors:
        report["apex_error_frames"] = {"mean": round(float(np.mean(errors)), 2), "median": float(np.median(errors)),
                                       "within_2": round(float(np.mean(np.array(errors) <= 2)), 3)}
    print(json.dumps(report, indent=2))


def _usable(sequences, extraction):
    usable = [s for s in sequences if s.key in extraction.features]
    if not usable:
        raise UserError("no sequence could be extracted (see the messages above)")
    return usable


def _train_config(args: argparse.Namespace):
    from model.train import TrainConfig

    return TrainConfig(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed)


def cmd_train(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from model import CLASSES
    from model.checkpoint import save_checkpoint
    from model.evaluate import evaluate_probs, make_split
    from model.microattnet import MicroAttNetConfig
    from model.train import predict_sequences, train_model

    sequences, extraction = _extract(args)
    split = make_split(_usable(sequences, extraction), args.test_fraction, args.val_fraction, args.seed)
    model_config = replace(MicroAttNetConfig(), fusion_attention=not args.no_fusion_attention,
                           se_block=not args.no_se)
    model, history = train_model(split.train, split.val, extraction.features, model_config, _train_config(args))
    report = evaluate_probs(split.test, predict_sequences(model, split.test, extraction.features), args.threshold)
    extra = {"subjects": split.subjects(), "epochs_run": len(history), "history": history,
             "test_report": report, "data": str(args.data), "threshold": args.threshold}
    save_checkpoint(args.out, model, labels=list(CLASSES), extra=extra)
    print(json.dumps({"checkpoint": str(args.out), "subjects": split.subjects(), "epochs_run": len(history),
                      "best_val_loss": min(h["val_loss"] for h in history),
                      "test": {k: report[k] for k in ("uf1", "uar", "per_class", "threshold", "n")}}, indent=2))


def cmd_evaluate(args: argparse.Namespace) -> None:
    from model.checkpoint import load_checkpoint
    from model.evaluate import evaluate_probs, plot_sweep, sweep_table
    from model.train import predict_sequences

    model, checkpoint = load_checkpoint(args.model)
    sequences, extraction = _extract(args)
    usable = _usable(sequences, extraction)
    if args.subjects:
        wanted = set(args.subjects.split(","))
    elif args.all:
        wanted = {s.subject for s in usable}
    else:   # the subjects held out when this checkpoint was trained, when they are in this dataset
        wanted = set(checkpoint.extra.get("subjects", {}).get("test", [])) or {s.subject for s in usable}
    chosen = [s for s in usable if s.subject in wanted]
    if not chosen:
        raise UserError(f"no sequence of subjects {sorted(wanted)} in {args.data}")
    report = evaluate_probs(chosen, predict_sequences(model, chosen, extraction.features), args.threshold)
    report["subjects"] = sorted({s.subject for s in chosen})
    print(sweep_table(report["sweep"]), file=sys.stderr)
    if args.sweep_plot:
        print(f"sweep plot: {plot_sweep(report['sweep'], args.sweep_plot)}", file=sys.stderr)
    print(json.dumps(report, indent=2))


def cmd_ablate(args: argparse.Namespace) -> None:
    from model.evaluate import ablate, ablation_table, make_split

    sequences, extraction = _extract(args)
    split = make_split(_usable(sequences, extraction), args.test_fraction, args.val_fraction, args.seed)
    rows = ablate(split, extraction.features, _train_config(args), args.threshold)
    print(ablation_table(rows))
    print(json.dumps({"subjects": split.subjects(), "rows": rows}, indent=2))


def _add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-fraction", type=float, default=0.25, help="fraction of subjects held out for testing")
    p.add_argument("--val-fraction", type=float, default=0.2,
                   help="fraction of the remaining subjects used for early stopping")
    p.add_argument("--threshold", type=float, default=0.2, help="decision threshold (paper: 0.2)")


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", type=_existing_path, help="dataset root in the 4DME layout")
    p.add_argument("--cache", type=Path, default=None, help="feature cache folder (default DATA/.mer-cache)")
    p.add_argument("--views", type=int, default=2, choices=(1, 2), help="views side by side per frame")
    p.add_argument("--workers", type=int, default=2, help="extraction processes")
    p.add_argument("--face-model", default=None, help="MediaPipe face detector .tflite (default: the bundled one)")


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
    for name in ("noise", "drift", "blinks", "flicker", "macro"):
        p.add_argument(f"--no-{name}", action="store_true", help=f"switch off the {name} confounder")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("demo", help="headless run on the built-in demo set")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("extract", help="crop, detect apex and cache phase features of a dataset")
    _add_data_args(p)
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("train", help="train MicroAttNet on a dataset (held-out subjects are tested)")
    _add_data_args(p)
    _add_train_args(p)
    p.add_argument("--out", type=Path, required=True, help="checkpoint to write")
    p.add_argument("--no-fusion-attention", action="store_true", help="Table 2 ablation switch")
    p.add_argument("--no-se", action="store_true", help="Table 2 ablation switch")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="UF1, UAR, per-class F1 and the threshold sweep of a checkpoint")
    _add_data_args(p)
    p.add_argument("--model", type=_existing_path, required=True)
    p.add_argument("--subjects", default=None, help="comma-separated subjects (default: the checkpoint's test subjects)")
    p.add_argument("--all", action="store_true", help="evaluate on every subject of DATA")
    p.add_argument("--threshold", type=float, default=0.2)
    p.add_argument("--sweep-plot", type=Path, default=None, help="PNG of the threshold sweep")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("ablate", help="train the four Table 2 configurations and print the table")
    _add_data_args(p)
    _add_train_args(p)
    p.set_defaults(func=cmd_ablate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as exc:
        print(f"mer: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, FileNotFoundError) as exc:   # DatasetError, CheckpointError and config checks
        print(f"mer: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mer: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
