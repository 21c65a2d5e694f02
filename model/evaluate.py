"""Subject-independent evaluation: UF1, UAR, per-class F1, the threshold sweep (paper Fig. 5) and the
Table 2 ablations."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mer_live.corpora.fourdme import Sequence
from mer_live.corpora.labels import CLASSES
from mer_live.model.config import TrainConfig
from mer_live.model.metrics import recognition_report, threshold_sweep
from mer_live.model.microattnet import MicroAttNetConfig
from mer_live.model.train import predict_sequences, split_subjects, train_model

ABLATIONS = {  # paper Table 2
    "baseline (no FA, no SE)": dict(fusion_attention=False, se_block=False),
    "+ SE": dict(fusion_attention=False, se_block=True),
    "+ fusion attention": dict(fusion_attention=True, se_block=False),
    "full MicroAttNet": dict(fusion_attention=True, se_block=True),
}


@dataclass(frozen=True)
class Split:
    """Subject-independent split: train, validation (early stopping) and test subjects."""

    train: list[Sequence]
    val: list[Sequence]
    test: list[Sequence]

    def subjects(self) -> dict[str, list[str]]:
        return {
            name: sorted({s.subject for s in part})
            for name, part in (("train", self.train), ("val", self.val), ("test", self.test))
        }


def make_split(sequences: list[Sequence], test_fraction: float, val_fraction: float, seed: int) -> Split:
    kept, test_subjects = split_subjects([s.subject for s in sequences], test_fraction, seed)
    train_subjects, val_subjects = split_subjects(kept, val_fraction, seed + 1)

    def of(subjects: list[str]) -> list[Sequence]:
        return [s for s in sequences if s.subject in subjects]

    return Split(of(train_subjects), of(val_subjects), of(test_subjects))


def evaluate_probs(
    sequences: list[Sequence], probs: np.ndarray, threshold: float | None, classes: tuple[str, ...] = CLASSES
) -> dict:
    """The report at `threshold` (None: single-label, the top class) and, for multi-label decisions,
    the sweep over thresholds."""
    truth = np.stack([s.multi_hot(classes) for s in sequences])
    report = recognition_report(truth, probs, threshold, classes)
    if threshold is not None:
        report["sweep"] = [
            {k: r[k] for k in ("threshold", "uf1", "uar")} for r in threshold_sweep(truth, probs, classes=classes)
        ]
    return report


def sweep_table(sweep: list[dict]) -> str:
    lines = ["threshold   UF1     UAR"]
    lines += [f"  {r['threshold']:.2f}    {r['uf1']:.4f}  {r['uar']:.4f}" for r in sweep]
    return "\n".join(lines)


def plot_sweep(sweep: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    thresholds = [r["threshold"] for r in sweep]
    ax.plot(thresholds, [r["uf1"] for r in sweep], marker="o", label="UF1")
    ax.plot(thresholds, [r["uar"] for r in sweep], marker="s", label="UAR")
    ax.axvline(0.2, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("decision threshold")
    ax.set_ylabel("score")
    ax.set_ylim(0, 1.02)
    ax.set_title("Threshold sweep (paper Fig. 5)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def ablate(
    split: Split, features: dict, train_config: TrainConfig, threshold: float = 0.2, progress: bool = True, device=None
) -> list[dict]:
    """Train and test each Table 2 configuration on the same split."""
    rows = []
    for name, switches in ABLATIONS.items():
        model, history = train_model(
            split.train,
            split.val,
            features,
            replace(MicroAttNetConfig(), **switches),
            train_config,
            device=device,
            progress=progress,
        )
        report = evaluate_probs(split.test, predict_sequences(model, split.test, features), threshold)
        rows.append(
            {
                "configuration": name,
                **switches,
                "uf1": round(report["uf1"], 4),
                "uar": round(report["uar"], 4),
                "epochs": len(history),
                "params": sum(p.numel() for p in model.parameters()),
            }
        )
    return rows


def ablation_table(rows: list[dict]) -> str:
    lines = [f"{'configuration':<26} {'UF1':>7} {'UAR':>7} {'epochs':>7} {'params':>9}"]
    lines += [
        f"{r['configuration']:<26} {r['uf1']:>7.4f} {r['uar']:>7.4f} {r['epochs']:>7} {r['params']:>9}" for r in rows
    ]
    return "\n".join(lines)
