"""Recognition metrics (paper eq. 4–5) and the decision rule, in plain numpy.

F1_c = 2·TP_c / (2·TP_c + FP_c + FN_c)      (eq. 4)
UF1  = (1/C) Σ_c F1_c                        (eq. 5)
UAR  = (1/C) Σ_c TP_c / (TP_c + FN_c)

A class with no true sample has neither F1 nor recall (there is nothing to find): it is left out of
UF1 and UAR — the convention of MEGC's pooled scoring, where per-class F1 is taken only over the
classes in the ground truth — and named in the report's `absent`. Counting it as a perfect 1.0
would raise the score of a test set for the classes it lacks.
"""
from __future__ import annotations

import numpy as np

from model import CLASSES

THRESHOLD_SWEEP = tuple(round(0.10 + 0.02 * i, 2) for i in range(11))   # 0.10 … 0.30 (paper Fig. 5)


def decide(probs: np.ndarray, threshold: float | None) -> np.ndarray:
    """Multi-hot decisions (N, C): classes with p ≥ threshold; a row with none takes its top class.
    `threshold=None` is the single-label rule: the top class only."""
    probs = np.atleast_2d(probs)
    chosen = probs >= threshold if threshold is not None else np.zeros(probs.shape, dtype=bool)
    empty = ~chosen.any(axis=1)
    chosen[empty, probs[empty].argmax(axis=1)] = True
    return chosen


def per_class_scores(truth: np.ndarray, predicted: np.ndarray) -> dict[str, np.ndarray]:
    """TP, FP, FN, F1 and recall per class from multi-hot arrays (N, C); F1 and recall are NaN for a
    class with no true sample."""
    truth, predicted = truth.astype(bool), predicted.astype(bool)
    tp = (truth & predicted).sum(axis=0)
    fp = (~truth & predicted).sum(axis=0)
    fn = (truth & ~predicted).sum(axis=0)
    present = tp + fn > 0
    f1 = np.where(present, 2 * tp / np.maximum(2 * tp + fp + fn, 1), np.nan)
    recall = np.where(present, tp / np.maximum(tp + fn, 1), np.nan)
    return {"tp": tp, "fp": fp, "fn": fn, "f1": f1, "recall": recall, "present": present}


def recognition_report(truth: np.ndarray, probs: np.ndarray, threshold: float | None,
                       classes: tuple[str, ...] = CLASSES) -> dict:
    """UF1, UAR and per-class F1 at one decision threshold (None: the top class only), averaged over
    the classes present in `truth`."""
    scores = per_class_scores(truth, decide(probs, threshold))
    present = scores["present"]
    return {
        "uf1": float(scores["f1"][present].mean()) if present.any() else float("nan"),
        "uar": float(scores["recall"][present].mean()) if present.any() else float("nan"),
        "per_class": {c: round(float(f), 4) for c, f, p in zip(classes, scores["f1"], present) if p},
        "absent": [c for c, p in zip(classes, present) if not p],
        "threshold": threshold,
        "n": int(len(truth)),
    }


def threshold_sweep(truth: np.ndarray, probs: np.ndarray, thresholds=THRESHOLD_SWEEP,
                    classes: tuple[str, ...] = CLASSES) -> list[dict]:
    return [recognition_report(truth, probs, t, classes) for t in thresholds]
