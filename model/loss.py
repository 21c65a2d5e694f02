"""Focal loss for multi-label (per-class sigmoid) logits."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

_REDUCTIONS = ("mean", "sum", "none")


class FocalLoss(nn.Module):
    """Per-element focal BCE: ``alpha_t * (1 - p_t) ** gamma * BCE(logit, target)``.

    ``p_t`` is the probability given to the target (``p`` for positives, ``1 - p`` for negatives) and
    ``alpha_t`` is ``alpha`` for positives and ``1 - alpha`` for negatives (no weighting when ``alpha``
    is None). With ``gamma=0`` and ``alpha=None`` this is exactly BCE-with-logits.
    ``positive_weights`` (C,) scales each class's positive terms (a soft target t by 1 + (w − 1)·t),
    so a rare class counts as much as a common one (TrainConfig.class_balance).
    """

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float | None = None,
        reduction: str = "mean",
        positive_weights: Tensor | None = None,
    ):
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        if alpha is not None and not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be None or in [0, 1], got {alpha}")
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.gamma = gamma
        self.alpha = alpha
        self.reduction = reduction
        self.positive_weights = positive_weights

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        if logits.shape != targets.shape:
            raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} differ in shape")
        targets = targets.to(logits.dtype)
        loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        if self.gamma:
            p = logits.sigmoid()
            p_t = p * targets + (1 - p) * (1 - targets)
            loss = (1 - p_t) ** self.gamma * loss
        if self.alpha is not None:
            loss = (self.alpha * targets + (1 - self.alpha) * (1 - targets)) * loss
        if self.positive_weights is not None:
            loss = (1 + (self.positive_weights - 1) * targets) * loss
        if self.reduction == "mean":
            return loss.mean()
        if self.reduction == "sum":
            return loss.sum()
        return loss

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, alpha={self.alpha}, reduction={self.reduction!r}"
