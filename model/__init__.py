"""MicroAttNet: the paper's Triple-Stream recogniser, its training and evaluation.

Only light names live here; torch is imported by the submodules that need it. The five classes are
`corpora.labels.CLASSES` (the datasets' label maps live beside them).
"""

from pathlib import Path

SHIPPED_WEIGHTS = Path(__file__).resolve().parent / "weights" / "microattnet-synth.pt"  # trained on synthetic faces
