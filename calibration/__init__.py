"""Calibration: the spotter's baseline and k_high / k_low, view-split detection, decision threshold, profiles."""
