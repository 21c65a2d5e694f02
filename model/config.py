"""Training settings, torch-free so the command line can show their defaults without loading torch."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mer_live.stream.settings import Switch, config_class

DEVICES = ("auto", "cpu", "cuda")


@config_class
class TrainConfig:
    epochs: int = Field(50, ge=1, description="training epochs at most (paper: at most 50)")
    batch_size: int = Field(32, ge=1, description="samples per step (paper: 32)")
    # The paper's Adam 1e-4 and the usual focal γ = 2 under-train on sets of this size: every class stays
    # near the 0.2 threshold (UF1 0.61 on another seed's subjects after 50 epochs, 0.78–0.80 at 1e-4 for
    # up to 150). Chosen on a design set (seed 13) in a sweep of rate, schedule, epochs and γ: 1e-3 with γ = 1
    # (UF1 0.96 / 0.91 over two seeds; 1e-3 with γ = 2: 0.88 / 0.90). `--lr 1e-4 --focal-gamma 2` is the paper's.
    lr: float = Field(1e-3, gt=0, lt=1, description="Adam learning rate (the paper's is 1e-4; README: Honest notes)")
    focal_gamma: float = Field(1.0, ge=0, description="focal loss γ (paper: focal loss, γ unstated)")
    patience: int = Field(8, ge=1, description="epochs without a better validation loss before stopping (assumption)")
    augment: Switch = Field(True, description="mirror and shift training samples (assumption, see `augment`)")
    max_shift_px: int = Field(8, ge=0, description="the augmentation's largest shift (px)")
    schedule: Literal["none", "cosine", "plateau"] = Field(
        "none",
        description="learning-rate schedule: cosine falls to 0 over the epochs; plateau halves it after 3 "
        "epochs without a better validation loss (assumption: the paper states none)",
    )
    seed: int = Field(0, ge=0, description="seed of the weights, the augmentation and the subject split")
