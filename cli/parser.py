"""What `mer` accepts: every subcommand with its options and help, and the option groups they share."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mer_live.cli import live, offline
from mer_live.cli.common import existing_path, positive, user_password
from mer_live.cli.options import add_config_options

DESCRIPTION = "`mer`: the MER Live command line. Each subcommand builds a config and calls library code."


# ---------------------------------------------------------------- option groups
def _add_source_args(p: argparse.ArgumentParser, spec: bool = True) -> None:
    if spec:
        p.add_argument(
            "spec",
            metavar="SOURCE",
            help="camera index or URL, two cameras as a stereo rig (camera:0+1), video file, "
            "image folder, 4DME root, or synthetic[:SEED]",
        )
        p.add_argument(
            "--allow-single-view",
            action="store_true",
            help="a stereo rig goes on with one camera when the other is lost (default: it ends)",
        )
    p.add_argument(
        "--views",
        default=None,
        choices=("1", "2", "auto"),
        help="views side by side per frame (default: as the dataset's dataset.json states, else 2)",
    )
    p.add_argument("--fps", type=positive, default=None, help="frame rate of a recording (default: 60 for images)")
    p.add_argument(
        "--decode-scale",
        type=int,
        default=1,
        choices=(1, 2, 4, 8),
        help="decode JPEGs at 1/N size (fast for 4DME-size frames)",
    )
    pace = p.add_mutually_exclusive_group()  # both set `realtime` (None: as --config says, else max speed)
    pace.add_argument(
        "--realtime",
        action="store_true",
        dest="realtime",
        default=None,
        help="deliver recorded frames at their own pace (default: as fast as possible)",
    )
    pace.add_argument(
        "--max-speed",
        action="store_false",
        dest="realtime",
        default=None,
        help="as fast as the pipeline takes them (the default; for scripts that say so)",
    )
    p.add_argument(
        "--face-model",
        type=existing_path,
        default=None,
        help="MediaPipe face detector .tflite (default: the bundled one)",
    )
    p.add_argument(
        "--cropped",
        action="store_true",
        help="frames are pre-cropped faces: each whole frame is the crop, no face detection",
    )


def _add_report_arg(p: argparse.ArgumentParser, default: str = "") -> None:
    p.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="OUT.html",
        help="also write the session report when the run ends: one self-contained HTML page with the "
        "summary, the timeline, each event's apex crops, flow maps, labels and probabilities " + default,
    )


def _add_live_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=existing_path, default=None, help="checkpoint (default: shipped demo weights)")
    p.add_argument("--no-model", action="store_true", help="spot only, do not classify")
    p.add_argument("--profile", type=existing_path, default=None, help="calibration profile from `mer calibrate`")
    p.add_argument("--threshold", type=float, default=None, help="decision threshold (default 0.2 or the profile's)")
    p.add_argument("--quiet", action="store_true", help="no live status line")


def _add_engine_args(p: argparse.ArgumentParser) -> None:
    """--config and the spotter's options (its frame rate is the source's, --fps)."""
    from mer_live.stream.spotter import SpotterConfig

    p.add_argument(
        "--config",
        type=existing_path,
        default=None,
        metavar="FILE.json",
        help="engine settings as JSON (`mer config` prints the defaults to start from); a --profile's "
        "views, k_high and k_low override the file, the options given here override both",
    )
    add_config_options(p.add_argument_group("spotter"), SpotterConfig, skip=("fps",))


def _add_train_args(p: argparse.ArgumentParser, per_fold: bool = False) -> None:
    """Training options; `per_fold`: those of `mer evaluate --protocol loso|composite` (no test split,
    no threshold of its own)."""
    from mer_live.model.config import DEVICES, TrainConfig

    group = p.add_argument_group("training per fold (--protocol loso or composite)" if per_fold else "training")
    group.add_argument(
        "--config",
        type=existing_path,
        default=None,
        metavar="FILE.json",
        help="training settings as JSON (`mer config train` prints the defaults to start from); "
        "the options given here override the file",
    )
    add_config_options(group, TrainConfig)
    group.add_argument(
        "--init",
        type=existing_path,
        default=None,
        metavar="CHECKPOINT.pt",
        help="start from this checkpoint's weights (fine-tuning; --freeze keeps some layers), e.g. a model "
        "pre-trained on generated faces (mer train SYNTH-SET --out pre.pt); per fold under loso/composite",
    )
    if not per_fold:
        group.add_argument(
            "--test-fraction", type=float, default=0.25, help="fraction of subjects held out for testing"
        )
    group.add_argument(
        "--val-fraction", type=float, default=0.2, help="fraction of the remaining subjects used for early stopping"
    )
    group.add_argument(
        "--device",
        default="auto",
        choices=DEVICES,
        help="where to train: auto (a CUDA GPU when torch sees one, mixed precision), cpu or cuda",
    )
    if not per_fold:
        group.add_argument("--threshold", type=float, default=0.2, help="decision threshold (paper: 0.2)")
    # the group's options, for a command to refuse where it trains nothing (refuse_unused)
    p.set_defaults(training_options=[action.dest for action in group._group_actions])


def _add_data_args(p: argparse.ArgumentParser, several: bool = False) -> None:
    from mer_live.corpora import CLIP_SETS
    from mer_live.model.config import APEX_RULES, DEFAULT_APEX

    p.add_argument(
        "data",
        type=existing_path,
        nargs="+" if several else None,
        help="dataset root(s): 4DME, CASME II, SAMM, CAS(ME)3, SMIC or MMEW in its own layout",
    )
    p.add_argument(
        "--dataset",
        default=None,
        choices=CLIP_SETS,
        help="the dataset's layout (default: detected from the files present)",
    )
    p.add_argument(
        "--cropped",
        action="store_true",
        help="frames are pre-cropped faces: each whole frame is the crop (a face that fills "
        "the frame is taken so anyway)",
    )
    p.add_argument("--cache", type=Path, default=None, help="feature cache folder (default DATA/.mer-cache)")
    p.add_argument(
        "--views",
        type=int,
        default=None,
        choices=(1, 2),
        help="views side by side per frame (default: as DATA/dataset.json states, else 2 for 4DME, 1 for the "
        "one-face datasets)",
    )
    p.add_argument(
        "--apex",
        default=None,
        choices=APEX_RULES,
        help=f"where each clip's apex is taken for its phase features: the coding sheet's (labelled; "
        f"detected where the sheet gives none), detected from the flow, or the middle of onset…offset "
        f"(default: {DEFAULT_APEX}; mer evaluate --model: the checkpoint's, detected for one from before the choice)",
    )
    p.add_argument("--workers", type=int, default=2, help="extraction processes")
    p.add_argument(
        "--face-model",
        type=existing_path,
        default=None,
        help="MediaPipe face detector .tflite (default: the bundled one)",
    )


def _add_ray_arg(p: argparse.ArgumentParser, task: str) -> None:
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help=f"one Ray task per {task} (pip install 'mer-live[ray]'): a local Ray without ADDRESS, "
        "else the cluster at ADDRESS (auto, HOST:6379 or ray://HOST:10001); same output as without",
    )


def _add_spotting_set_arg(p: argparse.ArgumentParser) -> None:
    from mer_live.corpora import SPOTTING_SETS

    p.add_argument(
        "--dataset",
        default=None,
        choices=tuple(SPOTTING_SETS),
        help="a long-video set's layout (default: detected from its coding sheet)",
    )


# ---------------------------------------------------------------- the parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mer", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="generate a synthetic dataset in the 4DME layout")
    p.add_argument("out", nargs="?", type=Path)
    p.add_argument("--subjects", type=int, default=6)
    p.add_argument("--per-subject", type=int, default=10)
    p.add_argument("--fps", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--long", action="store_true", help="long recordings with several events (+ events.csv)")
    p.add_argument("--faces", type=existing_path, default=None, help="folder of your own face photos")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--demo", action="store_true", help="create (once) and print the built-in demo set")
    p.add_argument(
        "--layout",
        default="4dme",
        choices=("4dme", "casme2", "samm", "smic"),
        help="write the clips in this dataset's layout and coding sheet (first view of each)",
    )
    for name in ("noise", "drift", "blinks", "flicker", "macro"):
        p.add_argument(f"--no-{name}", action="store_true", help=f"switch off the {name} confounder")
    p.set_defaults(func=offline.cmd_synth)

    p = sub.add_parser("inject", help="inject known micro-expressions into real face videos (4DME layout + events.csv)")
    p.add_argument("videos", nargs="+", type=existing_path, help="real face videos (one view each)")
    p.add_argument("--out", type=Path, required=True, help="dataset root to write")
    p.add_argument(
        "--amp",
        type=float,
        nargs=2,
        default=(0.9, 2.5),
        metavar=("LO", "HI"),
        help="micro-expression amplitude range in px at a 224-px face",
    )
    p.add_argument("--macro-share", type=float, default=0.15, help="share of injected events that are macro")
    p.add_argument("--repeats", type=int, default=1, help="recordings per video, each with its own events")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None, help="processes (default: CPU count)")
    p.set_defaults(func=offline.cmd_inject)

    p = sub.add_parser("demo", help="the main job on the built-in demo set (headless replay)")
    _add_source_args(p, spec=False)
    _add_engine_args(p)
    _add_live_args(p)
    p.add_argument("--events", type=Path, default=None, help="JSONL event log (default: in the demo folder)")
    p.add_argument("--csv", type=Path, default=None)
    p.add_argument("--megc", type=Path, default=None)
    p.add_argument("--elan", type=Path, default=None, metavar="OUT.eaf", help="also write an ELAN file")
    _add_report_arg(p, "(default: in the demo folder)")
    p.set_defaults(func=live.cmd_demo)

    p = sub.add_parser("extract", help="crop, detect apex and cache phase features of a dataset")
    _add_data_args(p)
    _add_ray_arg(p, "sequence")
    p.set_defaults(func=offline.cmd_extract)

    p = sub.add_parser("train", help="train MicroAttNet on a dataset (held-out subjects are tested)")
    _add_data_args(p)
    _add_train_args(p)
    p.add_argument("--out", type=Path, required=True, help="checkpoint to write")
    p.add_argument("--no-fusion-attention", action="store_true", help="Table 2 ablation switch")
    p.add_argument("--no-se", action="store_true", help="Table 2 ablation switch")
    p.set_defaults(func=offline.cmd_train)

    p = sub.add_parser(
        "evaluate",
        help="UF1, UAR, per-class F1 and the threshold sweep of a checkpoint, "
        "or leave-one-subject-out / MEGC composite protocols",
    )
    _add_data_args(p, several=True)
    p.add_argument(
        "--protocol",
        default="holdout",
        choices=("holdout", "loso", "composite"),
        help="holdout: test --model on held-out subjects; loso: a model per left-out subject, "
        "predictions pooled; composite: loso over CASME II + SAMM + SMIC roots, three classes",
    )
    p.add_argument("--model", type=existing_path, default=None, help="checkpoint (--protocol holdout)")
    p.add_argument(
        "--subjects", default=None, help="comma-separated subjects (default: the checkpoint's test subjects)"
    )
    p.add_argument("--all", action="store_true", help="evaluate on every subject of DATA")
    p.add_argument("--threshold", type=float, default=0.2)
    _add_train_args(p, per_fold=True)
    p.add_argument("--sweep-plot", type=Path, default=None, help="PNG of the threshold sweep")
    p.set_defaults(func=offline.cmd_evaluate)

    p = sub.add_parser("stream", help="run the live pipeline on a camera, recording or dataset")
    _add_source_args(p)
    _add_engine_args(p)
    _add_live_args(p)
    p.add_argument("--events", type=Path, default=Path("events.jsonl"), help="live JSONL event log")
    p.add_argument("--csv", type=Path, default=None, help="also write events as CSV")
    p.add_argument("--megc", type=Path, default=None, help="also write MEGC spotting rows")
    p.add_argument(
        "--elan",
        type=Path,
        default=None,
        metavar="OUT.eaf",
        help="also write an ELAN file when the run ends: tiers micro, macro, labels, face state (the recording linked)",
    )
    _add_report_arg(p)
    p.set_defaults(func=live.cmd_stream)

    p = sub.add_parser("spot", help="run the live spotter over every recording of a dataset (MEGC CSV)")
    p.add_argument("data", type=existing_path)
    _add_source_args(p, spec=False)
    _add_engine_args(p)
    _add_live_args(p)
    p.add_argument("--out", type=Path, required=True, help="MEGC spotting CSV to write")
    p.add_argument("--events", type=Path, default=None, help="also write the JSONL event log")
    p.add_argument(
        "--elan",
        type=Path,
        default=None,
        metavar="DIR",
        help="also write one ELAN file per recording into DIR (tiers micro, macro, labels, face state)",
    )
    _add_spotting_set_arg(p)
    _add_ray_arg(p, "recording")
    p.set_defaults(func=live.cmd_spot)

    p = sub.add_parser("score-spots", help="precision, recall, F1 (IoU ≥ 0.5) and apex error of a spots CSV")
    p.add_argument("spots", type=existing_path)
    p.add_argument(
        "data",
        type=existing_path,
        help="dataset root holding events.csv, or a SAMM-LV / CAS(ME)² root with its coding sheet",
    )
    p.add_argument("--iou", type=float, default=0.5)
    _add_spotting_set_arg(p)
    p.set_defaults(func=live.cmd_score_spots)

    p = sub.add_parser("calibrate", help="record a neutral baseline and derive the spotter's k_high / k_low")
    _add_source_args(p)
    _add_engine_args(p)
    p.add_argument("--seconds", type=positive, default=10.0, help="length of the neutral stretch")
    p.add_argument("--out", type=Path, default=Path("profile.json"))
    p.add_argument("--threshold", type=float, default=None, help="decision threshold to store in the profile")
    p.set_defaults(func=live.cmd_calibrate)

    p = sub.add_parser(
        "annotate",
        help="a recording with the face box, the running score and each logged event's label drawn on (mp4)",
    )
    _add_source_args(p)
    p.add_argument("events", type=existing_path, help="the run's JSONL event log (mer stream --events)")
    _add_engine_args(p)
    p.add_argument("--profile", type=existing_path, default=None, help="the calibration profile the run used")
    p.add_argument("--out", type=Path, required=True, help="the annotated video to write (.mp4)")
    p.set_defaults(func=live.cmd_annotate)

    p = sub.add_parser("config", help="print the default settings as JSON, a file to start a --config from")
    p.add_argument(
        "which",
        nargs="?",
        default="engine",
        choices=("engine", "train"),
        help="engine: the live pipeline's (--config of stream, spot, demo, calibrate); train: training's "
        "(--config of train, evaluate, ablate)",
    )
    p.set_defaults(func=live.cmd_config)

    p = sub.add_parser("bench", help="speed and memory of the live pipeline and the model (JSON)")
    p.add_argument("--model", type=existing_path, default=None, help="checkpoint (default: shipped demo weights)")
    p.add_argument("--no-model", action="store_true")
    p.add_argument("--seconds", type=positive, default=20.0, help="length of the generated benchmark recordings")
    p.add_argument("--soak-s", type=float, default=120.0, help="seconds of video in the looping memory soak")
    p.add_argument("--sizes", default="4dme,camera", help="frame sizes to measure: 4dme, camera")
    p.add_argument("--cache", type=Path, default=None, help="where benchmark frames are kept")
    p.add_argument(
        "--real",
        type=existing_path,
        default=None,
        metavar="DIR",
        help="instead of speed: spotting and apex on the real face videos of DIR (../shared/realvideo)",
    )
    p.add_argument("--splits", default="design,heldout", help="with --real: design, heldout or both")
    p.add_argument(
        "--kinds",
        default="calm,talking,expressive,other",
        help="with --real: the kinds of video (SOURCES.md): calm, talking, expressive, other",
    )
    p.set_defaults(func=live.cmd_bench)

    p = sub.add_parser(
        "ui",
        help="the interviewer dashboard (Gradio, 127.0.0.1:7860); `mer ui --help`",
        description="The MER Live dashboard (local web page).",
    )
    p.add_argument(
        "--source", dest="spec", default=None, help="demo | camera index | video | folder | synthetic:SEED | webcam"
    )
    p.add_argument("--model", default=None, help="checkpoint (default model/weights/microattnet-synth.pt)")
    p.add_argument("--profile", default=None, help="calibration profile JSON")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument(
        "--auth",
        type=user_password,
        default=os.environ.get("MER_AUTH"),
        help="user:password (better: the MER_AUTH environment variable, which `ps` does not show)",
    )
    p.add_argument("--views", default="2", choices=["1", "2", "auto"], help="views of --source (default 2)")
    p.add_argument("--threshold", type=float, default=None, help="decision threshold (default 0.2 or the profile's)")
    _add_engine_args(p)
    p.add_argument("--session-dir", default=None)
    p.add_argument(
        "--data-root",
        action="append",
        default=None,
        metavar="DIR",
        help="a server folder the page may name (checkpoint, frames folder); repeatable "
        "(default: your home folder and the current folder)",
    )
    p.add_argument("--autostart", action="store_true", help="start --source (default demo) at once")
    p.set_defaults(func=live.cmd_ui)

    p = sub.add_parser("ablate", help="train the four Table 2 configurations and print the table")
    _add_data_args(p)
    _add_train_args(p)
    p.set_defaults(func=offline.cmd_ablate)
    for command_parser in sub.choices.values():
        command_parser.add_argument(
            "--debug", action="store_true", help="log at debug level, and show the traceback of an error"
        )
        command_parser.set_defaults(command_parser=command_parser)  # for refuse_unused: the command's own defaults
    return parser
