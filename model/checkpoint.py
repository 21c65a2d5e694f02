"""Save and load MicroAttNet checkpoints safely (``weights_only`` loading: no arbitrary unpickling)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mer_live.corpora.labels import CLASSES
from mer_live.model.microattnet import MicroAttNet, MicroAttNetConfig
from mer_live.stream.settings import ConfigError, config_from_json, config_to_json

CHECKPOINT_VERSION = 1
_REQUIRED_KEYS = ("state_dict", "config", "labels", "version")


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable or does not describe a valid MicroAttNet."""


@dataclass(frozen=True)
class Checkpoint:
    config: MicroAttNetConfig
    labels: tuple[str, ...]
    version: int
    extra: dict[str, Any]

    @property
    def release_flow(self) -> str:
        """The release-phase flow direction the model was trained on (stream.features.PreprocessConfig);
        checkpoints from before the choice existed used the paper's apex→offset."""
        return self.extra.get("release_flow", "apex_to_offset")


def save_checkpoint(
    path: str | os.PathLike, model: MicroAttNet, *, labels: tuple[str, ...] | list[str], extra: dict | None = None
) -> Path:
    """Write ``model`` to ``path`` (atomically, via a temporary file) and return the path."""
    path = Path(path)
    labels = list(labels)
    if tuple(labels) != CLASSES:
        raise ValueError(f"labels must be {list(CLASSES)}, got {labels}")
    try:
        # Round trip through JSON so only plain values (dict/list/str/number/bool/None) are stored.
        extra = json.loads(json.dumps(extra or {}))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"extra must hold only JSON-serialisable values: {exc}") from exc
    payload = {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": config_to_json(model.config),
        "labels": labels,
        "version": CHECKPOINT_VERSION,
        "extra": extra,
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> tuple[MicroAttNet, Checkpoint]:
    """Rebuild the model (in eval mode) and its metadata; any problem raises CheckpointError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    # torch.load reports damaged files through many exception types (zip, unpickling, EOF, runtime errors).
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable torch checkpoint (corrupt or truncated?): {reason}") from exc

    if not isinstance(payload, dict):
        raise CheckpointError(f"{path}: expected a dict, got {type(payload).__name__}")
    missing = [key for key in _REQUIRED_KEYS if key not in payload]
    if missing:
        raise CheckpointError(f"{path}: missing keys {missing}")
    if payload["version"] != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint version {payload['version']!r}, expected {CHECKPOINT_VERSION}")
    if not isinstance(payload["labels"], (list, tuple)) or tuple(payload["labels"]) != CLASSES:
        raise CheckpointError(f"{path}: labels {payload['labels']!r} do not match {list(CLASSES)}")
    extra = payload.get("extra", {})
    if not isinstance(extra, dict):
        raise CheckpointError(f"{path}: 'extra' must be a dict, got {type(extra).__name__}")
    try:
        config = config_from_json(MicroAttNetConfig, payload["config"], f"{path}: config")
    except ConfigError as exc:
        raise CheckpointError(str(exc)) from None
    if config.n_classes != len(CLASSES):
        raise CheckpointError(f"{path}: config has {config.n_classes} classes, labels have {len(CLASSES)}")

    model = MicroAttNet(config)
    _check_state_dict(path, payload["state_dict"], model.state_dict())
    model.load_state_dict(payload["state_dict"])
    model.to(map_location).eval()
    return model, Checkpoint(config=config, labels=CLASSES, version=payload["version"], extra=extra)


def _check_state_dict(path: Path, found: Any, expected: dict[str, torch.Tensor]) -> None:
    if not isinstance(found, dict) or not all(isinstance(v, torch.Tensor) for v in found.values()):
        raise CheckpointError(f"{path}: 'state_dict' must map names to tensors")
    problems = []
    missing = sorted(expected.keys() - found.keys())
    unexpected = sorted(found.keys() - expected.keys())
    if missing:
        problems.append(f"missing {missing}")
    if unexpected:
        problems.append(f"unexpected {unexpected}")
    problems += [
        f"{name} has shape {tuple(found[name].shape)}, config expects {tuple(tensor.shape)}"
        for name, tensor in expected.items()
        if name in found and found[name].shape != tensor.shape
    ]
    if problems:
        raise CheckpointError(f"{path}: state_dict does not match the config: " + "; ".join(problems))
