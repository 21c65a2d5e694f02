"""MicroAttNet: the paper's Triple-Stream recogniser, its features, training and evaluation.

Only light names live here; torch is imported by the submodules that need it.
"""

CLASSES: tuple[str, ...] = ("Negative", "Positive", "Repression", "Surprise", "Others")
