"""Calibration: neutral-baseline spotter thresholds, view-split detection, decision threshold, profiles."""
