"""UF1 / UAR against a hand-computed example (paper eq. 4–5)."""

from __future__ import annotations

import numpy as np
import pytest

from mer_live.model.metrics import decide, recognition_report


def test_uf1_matches_hand_computation():
    # classes: Negative, Positive, Repression, Surprise, Others
    truth = np.array([[1, 0, 0, 0, 0], [1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 1]])
    probs = np.array([[0.9, 0, 0, 0, 0], [0, 0.8, 0, 0, 0], [0, 0.7, 0, 0, 0], [0, 0, 0.6, 0.1, 0], [0, 0, 0, 0, 0.5]])
    report = recognition_report(truth, probs, threshold=0.2)
    # Negative: TP1 FN1 → F1 2/3; Positive: TP1 FP1 → 2/3; Repression 1; Surprise: FN1 → 0; Others 1
    assert report["per_class"] == pytest.approx(
        {"Negative": 2 / 3, "Positive": 2 / 3, "Repression": 1.0, "Surprise": 0.0, "Others": 1.0}, abs=1e-4
    )
    assert report["uf1"] == pytest.approx((2 / 3 + 2 / 3 + 1 + 0 + 1) / 5)
    # recalls: 1/2, 1, 1, 0, 1
    assert report["uar"] == pytest.approx((0.5 + 1 + 1 + 0 + 1) / 5)


def test_decide_falls_back_to_top_class():
    decisions = decide(np.array([[0.05, 0.1, 0.02, 0.0, 0.0], [0.5, 0.3, 0.1, 0.0, 0.25]]), threshold=0.2)
    assert decisions.tolist() == [[False, True, False, False, False], [True, True, False, False, True]]


def test_a_class_neither_true_nor_predicted_is_left_out_not_scored_perfect():
    # only Negative and Positive occur; nothing predicts Repression, Surprise or Others
    truth = np.array([[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 1, 0, 0, 0]])
    probs = np.array([[0.9, 0.1, 0, 0, 0], [0.8, 0.1, 0, 0, 0], [0, 0.9, 0, 0, 0]])
    report = recognition_report(truth, probs, threshold=0.5)
    # Negative: TP1 FP1 → 2/3; Positive: TP1 FN1 → 2/3; the three absent classes do not lift the mean to 0.8
    assert report["uf1"] == pytest.approx(2 / 3)
    assert report["uar"] == pytest.approx((1 + 0.5) / 2)
    assert report["absent"] == ["Repression", "Surprise", "Others"]
    assert set(report["per_class"]) == {"Negative", "Positive"}


def test_false_alarms_on_a_class_with_no_true_sample_score_zero():
    truth = np.array([[1, 0, 0], [1, 0, 0]])
    probs = np.array([[0.9, 0.9, 0], [0.9, 0.9, 0]])  # multi-label: class b claimed, never true
    report = recognition_report(truth, probs, threshold=0.5, classes=("a", "b", "c"))
    assert report["per_class"] == {"a": 1.0, "b": 0.0} and report["absent"] == ["c"]
    assert report["uf1"] == pytest.approx(0.5) and report["uar"] == pytest.approx(1.0)


def test_single_label_rule_takes_only_the_top_class():
    decisions = decide(np.array([[0.5, 0.45, 0.3]]), threshold=None)
    assert decisions.tolist() == [[True, False, False]]
