"""Training MicroAttNet (paper §3.4): focal loss, Adam 1e-4, batch 32, ≤ 50 epochs, early stopping on
validation loss. Phase-aware augmentation: both phases and both views of a sequence are separate
training samples carrying the sequence's labels. Subjects never straddle train / validation / test.
"""
from __future__ import annotations

import copy
import sys
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from model.data import Sequence
from model.loss import FocalLoss
from model.microattnet import MicroAttNet, MicroAttNetConfig


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 50               # paper: at most 50
    batch_size: int = 32           # paper
    lr: float = 1e-4               # paper: Adam 1e-4
    focal_gamma: float = 2.0       # paper: focal loss; γ = 2 is the usual default (assumption)
    patience: int = 8              # epochs without a better validation loss before stopping (assumption)
    augment: bool = True           # mirror and shift training samples (assumption, see `augment`)
    max_shift_px: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if not 0 < self.lr < 1:
            raise ValueError(f"lr must lie in (0, 1), got {self.lr}")
        if self.focal_gamma < 0:
            raise ValueError(f"focal_gamma must be ≥ 0, got {self.focal_gamma}")


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def split_subjects(subjects: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(kept, held_out): at least one subject is held out, and at least one kept."""
    unique = sorted(set(subjects))
    if len(unique) < 2:
        raise ValueError(f"a subject-independent split needs ≥ 2 subjects, got {len(unique)}")
    n_out = min(len(unique) - 1, max(1, round(fraction * len(unique))))
    held_out = sorted(np.random.default_rng(seed).choice(unique, size=n_out, replace=False).tolist())
    return [s for s in unique if s not in held_out], held_out


def sample_arrays(sequences: list[Sequence], features: dict) -> tuple[np.ndarray, np.ndarray]:
    """Samples (N, 3, S, S) float16 and their multi-hot labels (N, C): every view × phase of each sequence."""
    xs, ys = [], []
    for seq in sequences:
        samples = features[seq.key]["samples"]
        xs.append(samples)
        ys.append(np.repeat(seq.multi_hot()[None], len(samples), axis=0))
    return np.concatenate(xs), np.concatenate(ys)


def augment(x: np.ndarray, rng: np.random.Generator, max_shift_px: int) -> np.ndarray:
    """Label-preserving changes of flow samples (N, 3, S, S), u, v, m: a mirrored face (u changes
    sign) and a small shift, so the model sees more faces than the training subjects' own."""
    x = x.copy()
    mirror = rng.random(len(x)) < 0.5
    x[mirror] = x[mirror, :, :, ::-1]
    x[mirror, 0] *= -1
    for i, (dy, dx) in enumerate(rng.integers(-max_shift_px, max_shift_px + 1, size=(len(x), 2))):
        x[i] = np.roll(x[i], (dy, dx), axis=(1, 2))
    return x


def _batches(n: int, size: int, rng: np.random.Generator | None):
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, size):
        yield order[start:start + size]


def _epoch_loss(model, loss_fn, x, y, batch_size, device, optimizer=None, rng=None, max_shift_px=0) -> float:
    total = 0.0
    for idx in _batches(len(x), batch_size, rng):
        if optimizer is not None and len(idx) < 2:
            continue   # BatchNorm cannot train on a single sample
        batch = x[idx].astype(np.float32)
        if optimizer is not None and max_shift_px:
            batch = augment(batch, rng, max_shift_px)
        xb = torch.from_numpy(batch).to(device)
        yb = torch.from_numpy(y[idx]).to(device)
        loss = loss_fn(model(xb), yb)
        if optimizer is not None:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        total += loss.item() * len(idx)
    return total / len(x)


def train_model(train: list[Sequence], val: list[Sequence], features: dict,
                model_config: MicroAttNetConfig = MicroAttNetConfig(), config: TrainConfig = TrainConfig(),
                device: torch.device | None = None, progress: bool = True) -> tuple[MicroAttNet, list[dict]]:
    """Train with early stopping on validation loss; returns the best model (eval mode) and the history."""
    device = device or default_device()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    x_train, y_train = sample_arrays(train, features)
    x_val, y_val = sample_arrays(val, features)
    model = MicroAttNet(model_config).to(device)
    loss_fn = FocalLoss(gamma=config.focal_gamma)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    best_loss, best_state, since_best, history = float("inf"), None, 0, []
    bar = tqdm(range(config.epochs), desc="train", unit="epoch", disable=not progress, file=sys.stderr)
    for epoch in bar:
        model.train()
        train_loss = _epoch_loss(model, loss_fn, x_train, y_train, config.batch_size, device, optimizer, rng,
                                 config.max_shift_px if config.augment else 0)
        model.eval()
        with torch.inference_mode():
            val_loss = _epoch_loss(model, loss_fn, x_val, y_val, config.batch_size, device)
        history.append({"epoch": epoch + 1, "train_loss": round(train_loss, 5), "val_loss": round(val_loss, 5)})
        bar.set_postfix(train=f"{train_loss:.4f}", val=f"{val_loss:.4f}")
        if val_loss < best_loss:
            best_loss, best_state, since_best = val_loss, copy.deepcopy(model.state_dict()), 0
        else:
            since_best += 1
            if since_best >= config.patience:
                break
    bar.close()
    model.load_state_dict(best_state)
    return model.eval(), history


def predict_sequences(model: MicroAttNet, sequences: list[Sequence], features: dict,
                      device: torch.device | None = None) -> np.ndarray:
    """Probabilities (N_seq, C), averaged over each sequence's views × phases (the inference rule)."""
    device = device or next(model.parameters()).device
    model.eval()
    out = []
    with torch.inference_mode():
        for seq in sequences:
            x = torch.from_numpy(features[seq.key]["samples"].astype(np.float32)).to(device)
            out.append(torch.sigmoid(model(x)).mean(dim=0).cpu().numpy())
    return np.stack(out)
