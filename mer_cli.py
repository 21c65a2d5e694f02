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
