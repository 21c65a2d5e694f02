"""Recognition metrics (paper eq. 4–5) and the decision rule, in plain numpy.

F1_c = 2·TP_c / (2·TP_c + FP_c + FN_c)      (eq. 4)
UF1  = (1/C) Σ_c F1_c                        (eq. 5)
UAR  = (1/C) Σ_c TP_c / (TP_c + FN_c)

A class that is neither true nor predicted anywhere in a test set has no F1 (nothing to find, nothing
claimed): it is left out of UF1 and named in the report's `absent`, as MEGC's pooled scoring takes
per-class F1 only over the classes that occur. Counting it as a perfect 1.0 would raise the score of a
test set for the classes it lacks. A class only predicted (false alarms, no true sample) scores F1 = 0.
Recall needs true samples, so UAR averages over the classes in the truth.
"""

from __future__ import annotations

import numpy as np

from mer_live.corpora.labels import CLASSES

THRESHOLD_SWEEP = tuple(round(0.10 + 0.02 * i, 2) for i in range(11))  # 0.10 … 0.30 (paper Fig. 5)


def decide(probs: np.ndarray, threshold: float | None) -> np.ndarray:
    """Multi-hot decisions (N, C): classes with p ≥ threshold; a row with none takes its top class.
    `threshold=None` is the single-label rule: the top class only."""
    probs = np.atleast_2d(probs)
    chosen = probs >= threshold if threshold is not None else np.zeros(probs.shape, dtype=bool)
    empty = ~chosen.any(axis=1)
    chosen[empty, probs[empty].argmax(axis=1)] = True
    return chosen


def per_class_scores(truth: np.ndarray, predicted: np.ndarray) -> dict[str, np.ndarray]:
    """TP, FP, FN, F1 and recall per class from multi-hot arrays (N, C): F1 is NaN for a class neither
    true nor predicted, recall NaN for a class with no true sample."""
    truth, predicted = truth.astype(bool), predicted.astype(bool)
    tp = (truth & predicted).sum(axis=0)
    fp = (~truth & predicted).sum(axis=0)
    fn = (truth & ~predicted).sum(axis=0)
    occurs, true = tp + fp + fn > 0, tp + fn > 0
    f1 = np.where(occurs, 2 * tp / np.maximum(2 * tp + fp + fn, 1), np.nan)
    recall = np.where(true, tp / np.maximum(tp + fn, 1), np.nan)
    return {"tp": tp, "fp": fp, "fn": fn, "f1": f1, "recall": recall, "occurs": occurs, "true": true}


def recognition_report(
    truth: np.ndarray, probs: np.ndarray, threshold: float | None, classes: tuple[str, ...] = CLASSES
) -> dict:
    """UF1 and per-class F1 over the classes that occur, UAR over the true ones, at one decision
    threshold (None: the top class only)."""
    scores = per_class_scores(truth, decide(probs, threshold))
    occurs, true = scores["occurs"], scores["true"]
    return {
        "uf1": float(scores["f1"][occurs].mean()) if occurs.any() else float("nan"),
        "uar": float(scores["recall"][true].mean()) if true.any() else float("nan"),
        "per_class": {c: round(float(f), 4) for c, f, o in zip(classes, scores["f1"], occurs) if o},
        "absent": [c for c, o in zip(classes, occurs) if not o],
        "threshold": threshold,
        "n": int(len(truth)),
    }


def threshold_sweep(
    truth: np.ndarray, probs: np.ndarray, thresholds=THRESHOLD_SWEEP, classes: tuple[str, ...] = CLASSES
) -> list[dict]:
    return [recognition_report(truth, probs, t, classes) for t in thresholds]
