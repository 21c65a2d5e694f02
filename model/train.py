"""Training MicroAttNet (paper §3.4): focal loss, Adam, batch 32, ≤ 50 epochs, early stopping on
validation loss (the default rate and γ differ from the paper's, measured: model.config).
Phase-aware augmentation: both phases and both views of a sequence are separate training samples
carrying the sequence's labels. Subjects never straddle train / validation / test.
"""

from __future__ import annotations

import contextlib
import copy
import sys
from dataclasses import replace

import numpy as np
import torch
from tqdm import tqdm

from mer_live.corpora.fourdme import Sequence
from mer_live.corpora.labels import CLASSES
from mer_live.model.config import DEVICES, TrainConfig
from mer_live.model.loss import FocalLoss
from mer_live.model.microattnet import MicroAttNet, MicroAttNetConfig


def choose_device(name: str = "auto") -> torch.device:
    """`auto`: the GPU when torch sees one, else the CPU; `cuda` without a GPU is refused."""
    if name not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: torch sees no CUDA GPU on this machine (use auto or cpu)")
    return torch.device("cuda" if name == "cuda" or (name == "auto" and torch.cuda.is_available()) else "cpu")


def split_subjects(subjects: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(kept, held_out): at least one subject is held out, and at least one kept."""
    unique = sorted(set(subjects))
    if len(unique) < 2:
        raise ValueError(f"a subject-independent split needs ≥ 2 subjects, got {len(unique)}")
    n_out = min(len(unique) - 1, max(1, round(fraction * len(unique))))
    held_out = sorted(np.random.default_rng(seed).choice(unique, size=n_out, replace=False).tolist())
    return [s for s in unique if s not in held_out], held_out


def sample_arrays(
    sequences: list[Sequence], features: dict, classes: tuple[str, ...] = CLASSES
) -> tuple[np.ndarray, np.ndarray]:
    """Samples (N, 3, S, S) float16 and their multi-hot labels (N, C): every view × phase of each sequence."""
    xs, ys = [], []
    for seq in sequences:
        samples = features[seq.key]["samples"]
        xs.append(samples)
        ys.append(np.repeat(seq.multi_hot(classes)[None], len(samples), axis=0))
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
        yield order[start : start + size]


def _epoch_loss(
    model, loss_fn, x, y, batch_size, device, optimizer=None, rng=None, max_shift_px=0, scaler=None
) -> float:
    """Mean loss over one pass; with an optimizer it trains. On a GPU the forward pass runs in mixed
    precision (float16 autocast, the loss scaled against underflow by `scaler`)."""
    total = 0.0
    mixed = device.type == "cuda"
    scaler = scaler or torch.amp.GradScaler("cuda", enabled=mixed)
    for idx in _batches(len(x), batch_size, rng):
        if optimizer is not None and len(idx) < 2:
            continue  # BatchNorm cannot train on a single sample
        batch = x[idx].astype(np.float32)
        if optimizer is not None and max_shift_px:
            batch = augment(batch, rng, max_shift_px)
        xb = torch.from_numpy(batch).to(device)
        yb = torch.from_numpy(y[idx]).to(device)
        with torch.autocast("cuda", dtype=torch.float16) if mixed else contextlib.nullcontext():
            loss = loss_fn(model(xb).float(), yb)
        if optimizer is not None:
            optimizer.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        total += loss.item() * len(idx)
    return total / len(x)


def train_model(
    train: list[Sequence],
    val: list[Sequence],
    features: dict,
    model_config: MicroAttNetConfig = MicroAttNetConfig(),
    config: TrainConfig = TrainConfig(),
    device: torch.device | None = None,
    progress: bool = True,
    classes: tuple[str, ...] = CLASSES,
) -> tuple[MicroAttNet, list[dict]]:
    """Train with early stopping on validation loss; returns the best model (eval mode) and the history."""
    device = device or choose_device()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    x_train, y_train = sample_arrays(train, features, classes)
    x_val, y_val = sample_arrays(val, features, classes)
    model = MicroAttNet(replace(model_config, n_classes=len(classes))).to(device)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
    loss_fn = FocalLoss(gamma=config.focal_gamma)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = _scheduler(optimizer, config)
    best_loss, best_state, since_best, history = float("inf"), None, 0, []
    bar = tqdm(range(config.epochs), desc="train", unit="epoch", disable=not progress, file=sys.stderr)
    for epoch in bar:
        model.train()
        train_loss = _epoch_loss(
            model,
            loss_fn,
            x_train,
            y_train,
            config.batch_size,
            device,
            optimizer,
            rng,
            config.max_shift_px if config.augment else 0,
            scaler,
        )
        model.eval()
        with torch.inference_mode():
            val_loss = _epoch_loss(model, loss_fn, x_val, y_val, config.batch_size, device)
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": round(train_loss, 5),
                "val_loss": round(val_loss, 5),
                "lr": optimizer.param_groups[0]["lr"],
            }
        )
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(val_loss)
        elif scheduler is not None:
            scheduler.step()
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


def _scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig):
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=3)
    return None


def predict_sequences(
    model: MicroAttNet, sequences: list[Sequence], features: dict, device: torch.device | None = None
) -> np.ndarray:
    """Probabilities (N_seq, C), averaged over each sequence's views × phases (the inference rule)."""
    device = device or next(model.parameters()).device
    model.eval()
    out = []
    with torch.inference_mode():
        for seq in sequences:
            x = torch.from_numpy(features[seq.key]["samples"].astype(np.float32)).to(device)
            out.append(torch.sigmoid(model(x)).mean(dim=0).cpu().numpy())
    return np.stack(out)
