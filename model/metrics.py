"""Recognition metrics (paper eq. 4–5) and the decision rule, in plain numpy.

F1_c = 2·TP_c / (2·TP_c + FP_c + FN_c)      (eq. 4)
UF1  = (1/C) Σ_c F1_c                        (eq. 5)
UAR  = (1/C) Σ_c TP_c / (TP_c + FN_c)
"""
from __future__ import annotations

import numpy as np

from model import CLASSES

THRESHOLD_SWEEP = tuple(round(0.10 + 0.02 * i, 2) for i in range(11))   # 0.10 … 0.30 (paper Fig. 5)


def decide(probs: np.ndarray, threshold: float) -> np.ndarray:
    """Multi-hot decisions (N, C): classes with p ≥ threshold; a row with none takes its top class."""
    probs = np.atleast_2d(probs)
    chosen = probs >= threshold
    empty = ~chosen.any(axis=1)
    chosen[empty, probs[empty].argmax(axis=1)] = True
    return chosen


def per_class_scores(truth: np.ndarray, predicted: np.ndarray) -> dict[str, np.ndarray]:
    """TP, FP, FN, F1 and recall per class from multi-hot arrays (N, C). A class never true nor predicted has F1 = 1."""
    truth, predicted = truth.astype(bool), predicted.astype(bool)
    tp = (truth & predicted).sum(axis=0)
    fp = (~truth & predicted).sum(axis=0)
    fn = (truth & ~predicted).sum(axis=0)
    denominator = 2 * tp + fp + fn
    f1 = np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 1.0)
    recall = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1), 1.0)
    return {"tp": tp, "fp": fp, "fn": fn, "f1": f1, "recall": recall}


def recognition_report(truth: np.ndarray, probs: np.ndarray, threshold: float) -> dict:
    """UF1, UAR and per-class F1 at one decision threshold."""
    scores = per_class_scores(truth, decide(probs, threshold))
    return {
        "uf1": float(scores["f1"].mean()),
        "uar": float(scores["recall"].mean()),
        "per_class": {c: round(float(f), 4) for c, f in zip(CLASSES, scores["f1"])},
        "threshold": threshold,
        "n": int(len(truth)),
    }


def threshold_sweep(truth: np.ndarray, probs: np.ndarray, thresholds=THRESHOLD_SWEEP) -> list[dict]:
    return [recognition_report(truth, probs, t) for t in thresholds]
