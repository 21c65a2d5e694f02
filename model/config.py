"""Training settings, torch-free so the command line can show their defaults without loading torch."""
from __future__ import annotations

from dataclasses import dataclass

DEVICES = ("auto", "cpu", "cuda")
SCHEDULES = ("none", "cosine", "plateau")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 50               # paper: at most 50
    batch_size: int = 32           # paper
    # The paper's Adam 1e-4 and the usual focal γ = 2 under-train on sets of this size: every class stays
    # near the 0.2 threshold (UF1 0.61 on another seed's subjects after 50 epochs, 0.78–0.80 at 1e-4 for
    # up to 150). Chosen on a design set (seed 13) in a sweep of rate, schedule, epochs and γ: 1e-3 with γ = 1
    # (UF1 0.96 / 0.91 over two seeds; 1e-3 with γ = 2: 0.88 / 0.90). `--lr 1e-4 --focal-gamma 2` is the paper's.
    lr: float = 1e-3
    focal_gamma: float = 1.0       # paper: focal loss, γ unstated
    patience: int = 8              # epochs without a better validation loss before stopping (assumption)
    augment: bool = True           # mirror and shift training samples (assumption, see `augment`)
    max_shift_px: int = 8
    # "cosine": the learning rate falls to 0 over `epochs`; "plateau": halved after 3 epochs without a
    # better validation loss (assumption: the paper states none)
    schedule: str = "none"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if not 0 < self.lr < 1:
            raise ValueError(f"lr must lie in (0, 1), got {self.lr}")
        if self.focal_gamma < 0:
            raise ValueError(f"focal_gamma must be ≥ 0, got {self.focal_gamma}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
