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
from mer_live.model.augment import FlowAugment
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


def _inverse_class_frequency(y: np.ndarray) -> np.ndarray:
    """Per class, (mean positives per class) / (its positives): 1 for a class of average size."""
    positives = np.maximum((y > 0).sum(axis=0), 1).astype(np.float64)
    return positives.mean() / positives


def _sample_weights(y: np.ndarray) -> np.ndarray:
    """A sample's draw probability ∝ the inverse frequency of its rarest class."""
    weights = ((y > 0) * _inverse_class_frequency(y)[None]).max(axis=1)
    weights[weights == 0] = 1.0
    return weights / weights.sum()


def _batches(n: int, size: int, rng: np.random.Generator | None, weights: np.ndarray | None = None):
    if weights is not None:
        order = rng.choice(n, size=n, replace=True, p=weights)
    else:
        order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, size):
        yield order[start : start + size]


def _epoch_loss(
    model, loss_fn, x, y, batch_size, device, optimizer=None, rng=None, augment=None, scaler=None, weights=None
) -> float:
    """Mean loss over one pass; with an optimizer it trains (`augment` changes each batch, `weights`
    draws the samples). On a GPU the forward pass runs in mixed precision (float16 autocast, the
    loss scaled against underflow by `scaler`)."""
    total = 0.0
    mixed = device.type == "cuda"
    scaler = scaler or torch.amp.GradScaler("cuda", enabled=mixed)
    for idx in _batches(len(x), batch_size, rng, weights):
        if optimizer is not None and len(idx) < 2:
            continue  # BatchNorm cannot train on a single sample
        batch, targets = x[idx].astype(np.float32), y[idx]
        if optimizer is not None and augment is not None:
            batch, targets = augment(batch, targets, rng)
        xb = torch.from_numpy(np.ascontiguousarray(batch)).to(device)
        yb = torch.from_numpy(np.ascontiguousarray(targets)).to(device)
        with torch.autocast("cuda", dtype=torch.float16) if mixed else contextlib.nullcontext():
            loss = loss_fn(model(xb).float(), yb)
        if optimizer is not None:
            optimizer.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        total += loss.item() * len(idx)
    return total / len(x)


def start_from(model: MicroAttNet, init_state: dict[str, torch.Tensor]) -> list[str]:
    """Load a starting checkpoint's weights; a layer whose shape differs (the output layer when the
    class count does) keeps its fresh weights. Returns the names of the layers left fresh."""
    own = model.state_dict()
    fresh = [k for k in own if k not in init_state or init_state[k].shape != own[k].shape]
    model.load_state_dict({k: v for k, v in init_state.items() if k not in fresh and k in own}, strict=False)
    return fresh


def frozen_modules(model: MicroAttNet, freeze: str) -> list[torch.nn.Module]:
    """The modules `freeze` keeps as they start: none, the streams' first blocks, or everything
    before the head (streams, fusion attention, SE)."""
    if freeze == "none":
        return []
    if freeze == "block1":
        return [stream.block1 for stream in model.streams]
    return [m for m in (model.streams, model.attn1, model.attn2, model.se) if m is not None]


def _set_training(model: MicroAttNet, frozen: list[torch.nn.Module]) -> None:
    """Train mode, except frozen modules: their BatchNorm statistics stay the checkpoint's."""
    model.train()
    for module in frozen:
        module.eval()


def train_model(
    train: list[Sequence],
    val: list[Sequence],
    features: dict,
    model_config: MicroAttNetConfig = MicroAttNetConfig(),
    config: TrainConfig = TrainConfig(),
    device: torch.device | None = None,
    progress: bool = True,
    classes: tuple[str, ...] = CLASSES,
    init_state: dict[str, torch.Tensor] | None = None,
) -> tuple[MicroAttNet, list[dict]]:
    """Train with early stopping on validation loss; returns the best model (eval mode) and the history.
    With `init_state` (a checkpoint's weights) training starts from them, `config.freeze` kept fixed."""
    device = device or choose_device()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    x_train, y_train = sample_arrays(train, features, classes)
    x_val, y_val = sample_arrays(val, features, classes)
    model = MicroAttNet(replace(model_config, n_classes=len(classes)))
    frozen = []
    if init_state is not None:
        start_from(model, init_state)
        frozen = frozen_modules(model, config.freeze)
        for module in frozen:
            module.requires_grad_(False)
    elif config.freeze != "none":
        raise ValueError(f"freeze={config.freeze!r} keeps layers of a starting checkpoint: give one (--init)")
    model = model.to(device)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
    positive_weights = None
    if config.class_balance == "loss_weights":
        positive_weights = torch.from_numpy(_inverse_class_frequency(y_train).astype(np.float32)).to(device)
    loss_fn = FocalLoss(gamma=config.focal_gamma, positive_weights=positive_weights)
    val_loss_fn = FocalLoss(gamma=config.focal_gamma)
    sample_weights = _sample_weights(y_train) if config.class_balance == "sampler" else None
    augment = FlowAugment(config)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    scheduler = _scheduler(optimizer, config)
    best_loss, best_state, since_best, history = float("inf"), None, 0, []
    bar = tqdm(range(config.epochs), desc="train", unit="epoch", disable=not progress, file=sys.stderr, leave=False)
    for epoch in bar:
        _set_training(model, frozen)
        train_loss = _epoch_loss(
            model,
            loss_fn,
            x_train,
            y_train,
            config.batch_size,
            device,
            optimizer,
            rng,
            augment if augment.active else None,
            scaler,
            sample_weights,
        )
        model.eval()
        with torch.inference_mode():
            val_loss = _epoch_loss(model, val_loss_fn, x_val, y_val, config.batch_size, device)
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
