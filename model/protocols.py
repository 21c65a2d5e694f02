"""Leave-one-subject-out (LOSO), the protocol the micro-expression papers compare by.

Each subject in turn is the test fold; a model is trained on the other subjects (some of them held
back for early stopping, so the test subject never steers training) and predicts the test subject's
sequences. The predictions of all folds are pooled before UF1 and UAR are computed, as MEGC scores
(a fold holds few sequences and often lacks classes: a mean of per-fold UF1 would be noisy and biased).

The MEGC 2019 composite protocol is LOSO over the union of CASME II, SAMM and SMIC with their emotions
mapped to three classes; the caller relabels the sequences (corpora.labels) and names each subject
with its dataset, so folds never merge two datasets' "sub01".
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import replace

import numpy as np
from tqdm import tqdm

from mer_live.corpora.fourdme import Sequence
from mer_live.corpora.labels import CLASSES
from mer_live.model.config import TrainConfig
from mer_live.model.evaluate import evaluate_probs
from mer_live.model.metrics import recognition_report
from mer_live.model.microattnet import MicroAttNetConfig
from mer_live.model.train import predict_sequences, split_subjects, train_model

log = logging.getLogger(__name__)
MIN_CLASS_CLIPS = 5  # fewer training clips of a class in a fold than this, and the fold warns


def loso(
    sequences: list[Sequence],
    features: dict,
    train_config: TrainConfig = TrainConfig(),
    model_config: MicroAttNetConfig = MicroAttNetConfig(),
    classes: tuple[str, ...] = CLASSES,
    threshold: float | None = 0.2,
    val_fraction: float = 0.2,
    device=None,
    progress: bool = True,
    init_state: dict | None = None,
    min_class_clips: int = MIN_CLASS_CLIPS,
) -> dict:
    """Pooled report over all folds, a row per fold (with its training clips per class and its wall
    time), and per dataset when the sequences come from several. Every fold starts from `init_state`
    when given (fine-tuning), else from scratch. A class with fewer than `min_class_clips` training
    clips in a fold is warned about: its score there says little."""
    subjects = sorted({s.subject for s in sequences})
    if len(subjects) < 3:
        raise ValueError(f"leave-one-subject-out needs ≥ 3 subjects (test, validation, training), got {len(subjects)}")
    probs = np.zeros((len(sequences), len(classes)), dtype=np.float64)
    folds = []
    bar = tqdm(subjects, desc="loso", unit="fold", disable=not progress, file=sys.stderr)
    for subject in bar:
        started = time.perf_counter()
        test_rows = [i for i, s in enumerate(sequences) if s.subject == subject]
        rest = [s for s in sequences if s.subject != subject]
        train_subjects, _ = split_subjects([s.subject for s in rest], val_fraction, train_config.seed)
        train = [s for s in rest if s.subject in train_subjects]
        val = [s for s in rest if s.subject not in train_subjects]
        counts = clips_per_class(train, classes)
        rare = [f"{name} ({n})" for name, n in counts.items() if n < min_class_clips]
        if rare:
            log.warning(
                "fold %s: fewer than %d training clips of %s: those scores say little",
                subject,
                min_class_clips,
                ", ".join(rare),
            )
        model, history = train_model(
            train,
            val,
            features,
            model_config,
            train_config,
            device=device,
            progress=progress,
            classes=classes,
            init_state=init_state,
        )
        test = [sequences[i] for i in test_rows]
        probs[test_rows] = predict_sequences(model, test, features)
        fold = recognition_report(np.stack([s.multi_hot(classes) for s in test]), probs[test_rows], threshold, classes)
        folds.append(
            {
                "subject": subject,
                "n": len(test),
                "uf1": _rounded(fold["uf1"]),
                "uar": _rounded(fold["uar"]),
                "absent": fold["absent"],
                "epochs": len(history),
                "train_clips": counts,
                "wall_s": round(time.perf_counter() - started, 1),
            }
        )
        bar.set_postfix(subject=subject, uf1=f"{fold['uf1']:.3f}")
    report = {
        "protocol": "loso",
        "classes": list(classes),
        "pooled": evaluate_probs(sequences, probs, threshold, classes),
        "folds": folds,
    }
    datasets = sorted({s.dataset for s in sequences})
    if len(datasets) > 1:
        report["by_dataset"] = {
            name: _summary(
                evaluate_probs(
                    [s for s in sequences if s.dataset == name],
                    probs[[i for i, s in enumerate(sequences) if s.dataset == name]],
                    threshold,
                    classes,
                )
            )
            for name in datasets
        }
    return report


def subject_per_dataset(sequences: list[Sequence], features: dict) -> tuple[list[Sequence], dict]:
    """The sequences with each subject named by its dataset ("CASME II/1"), and their features under the
    new keys: folds of a composite protocol never join two datasets' subjects that share a name."""
    renamed = [replace(s, subject=f"{s.dataset}/{s.subject}") for s in sequences]
    return renamed, {new.key: features[old.key] for old, new in zip(sequences, renamed)}


def clips_per_class(sequences: list[Sequence], classes: tuple[str, ...]) -> dict[str, int]:
    """How many of the clips carry each class."""
    hot = np.stack([s.multi_hot(classes) for s in sequences]) if sequences else np.zeros((0, len(classes)))
    return {name: int(n) for name, n in zip(classes, hot.sum(axis=0))}


def fold_table(report: dict) -> str:
    """One line per fold: its scores, epochs, wall time and training clips per class (by initial)."""
    classes = report["classes"]
    per_class = " ".join(f"{name[:3]:>4}" for name in classes)
    lines = [f"{'subject':<16} {'n':>4} {'UF1':>7} {'UAR':>7} {'epochs':>7} {'wall s':>7}  train clips: {per_class}"]
    lines += [
        f"{f['subject']:<16} {f['n']:>4} {f['uf1']:>7.4f} {f['uar']:>7.4f} {f['epochs']:>7} {f['wall_s']:>7.0f}  "
        f"{'':>13}{_counts_row(f['train_clips'], classes)}"
        + (f"  absent: {', '.join(f['absent'])}" if f["absent"] else "")
        for f in report["folds"]
    ]
    pooled = report["pooled"]
    lines.append(f"{'pooled':<16} {pooled['n']:>4} {pooled['uf1']:>7.4f} {pooled['uar']:>7.4f}")
    return "\n".join(lines)


def _counts_row(counts: dict[str, int], classes: list[str]) -> str:
    return " ".join(f"{counts[name]:>4}" for name in classes)


def _rounded(value: float) -> float:
    return round(float(value), 4)


def _summary(report: dict) -> dict:
    """The scores of a report without its threshold sweep."""
    return {k: report[k] for k in ("uf1", "uar", "per_class", "absent", "n")}
