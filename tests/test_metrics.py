"""UF1 / UAR against a hand-computed example (paper eq. 4–5)."""
from __future__ import annotations

import numpy as np
import pytest

from model.metrics import decide, recognition_report


def test_uf1_matches_hand_computation():
    # classes: Negative, Positive, Repression, Surprise, Others
    truth = np.array([[1, 0, 0, 0, 0], [1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 1]])
    probs = np.array([[.9, 0, 0, 0, 0], [0, .8, 0, 0, 0], [0, .7, 0, 0, 0], [0, 0, .6, .1, 0], [0, 0, 0, 0, .5]])
    report = recognition_report(truth, probs, threshold=0.2)
    # Negative: TP1 FN1 → F1 2/3; Positive: TP1 FP1 → 2/3; Repression 1; Surprise: FN1 → 0; Others 1
    assert report["per_class"] == pytest.approx({"Negative": 2 / 3, "Positive": 2 / 3, "Repression": 1.0,
                                                 "Surprise": 0.0, "Others": 1.0}, abs=1e-4)
    assert report["uf1"] == pytest.approx((2 / 3 + 2 / 3 + 1 + 0 + 1) / 5)
    # recalls: 1/2, 1, 1, 0, 1
    assert report["uar"] == pytest.approx((0.5 + 1 + 1 + 0 + 1) / 5)


def test_decide_falls_back_to_top_class():
    decisions = decide(np.array([[0.05, 0.1, 0.02, 0.0, 0.0], [0.5, 0.3, 0.1, 0.0, 0.25]]), threshold=0.2)
    assert decisions.tolist() == [[False, True, False, False, False], [True, True, False, False, True]]
