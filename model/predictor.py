"""Inference for one micro-expression event: average the model over the event's views x phases."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mer_live.corpora.labels import CLASSES
from mer_live.model.checkpoint import load_checkpoint
from mer_live.model.metrics import decide
from mer_live.model.microattnet import STREAMS, MicroAttNet, fused_for_inference

# The usual event: 2 views x 2 phases.
WARMUP_SAMPLES = 4


@dataclass(frozen=True)
class Prediction:
    """Result for one event.

    ``probs``: sigmoid probability per class, averaged over the event's samples.
    ``attention``: block-2 stream weights averaged over samples as ``alpha_u``/``alpha_v``/``alpha_m``,
    plus ``block1`` with the same keys for block 1; None when the model has no fusion attention.
    ``se_gate_mean``: mean SE gate of the magnitude stream; None when the model has no SE block.
    ``per_sample_probs``: (N, n_classes) read-only probabilities, columns in CLASSES order.
    """

    probs: dict[str, float]
    attention: dict[str, Any] | None
    se_gate_mean: float | None
    per_sample_probs: np.ndarray

    def labels(self, threshold: float = 0.2) -> list[str]:
        """Classes with probability >= threshold, most probable first.

        If no class reaches the threshold the single most probable class is returned, so every
        detected event gets a label.
        """
        chosen = decide(np.array([[self.probs[c] for c in CLASSES]]), threshold)[0]
        return sorted((c for c, on in zip(CLASSES, chosen) if on), key=self.probs.__getitem__, reverse=True)


def _alphas(alpha: torch.Tensor) -> dict[str, float]:
    # alpha: (N, 3) -> mean weight per stream
    return {f"alpha_{name}": float(a) for name, a in zip(STREAMS, alpha.mean(dim=0).tolist())}


class Predictor:
    def __init__(
        self,
        model: MicroAttNet,
        device: str | torch.device | None = None,
        name: str = "MicroAttNet",
        release_flow: str = "offset_to_apex",
    ):
        self.name = name
        self.release_flow = release_flow  # the live engine computes the release phase this way
        if model.config.n_classes != len(CLASSES):
            raise ValueError(f"model has {model.config.n_classes} classes, expected {len(CLASSES)}")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = fused_for_inference(model).to(self.device)
        size = model.config.input_size
        self.sample_shape = (len(STREAMS), size, size)
        # Warm-up: the first call pays for kernel selection and memory allocation.
        with torch.inference_mode():
            self.model(torch.zeros((WARMUP_SAMPLES, *self.sample_shape), device=self.device))

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str | torch.device | None = None) -> Predictor:
        model, checkpoint = load_checkpoint(path, map_location="cpu")
        return cls(model, device=device, name=os.path.basename(os.fspath(path)), release_flow=checkpoint.release_flow)

    def predict(self, samples: np.ndarray) -> Prediction:
        """``samples``: (N, 3, S, S) float32 u/v/m flow, the N views x phases of ONE event."""
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim != 4 or x.shape[0] < 1 or x.shape[1:] != self.sample_shape:
            raise ValueError(f"expected samples of shape (N, {', '.join(map(str, self.sample_shape))}), got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("samples contain NaN or infinite values")
        with torch.inference_mode():
            logits, info = self.model(torch.from_numpy(x).to(self.device), return_attention=True)
            per_sample = logits.sigmoid().float().cpu().numpy()  # (N, n_classes)
            attention = None
            if info["alpha2"] is not None:
                attention = {**_alphas(info["alpha2"]), "block1": _alphas(info["alpha1"])}
            se_gate_mean = None if info["se_gate"] is None else float(info["se_gate"].mean())
        per_sample.setflags(write=False)
        probs = {name: float(p) for name, p in zip(CLASSES, per_sample.mean(axis=0))}
        return Prediction(probs=probs, attention=attention, se_gate_mean=se_gate_mean, per_sample_probs=per_sample)
