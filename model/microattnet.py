"""Triple-Stream MicroAttNet (4DMR 2025 challenge winner), in one file.

Each of the three optical-flow channels (u = horizontal, v = vertical, m = magnitude) gets its own
two-block CNN stream. Fusion attention re-weights the three streams after block 1 and after block 2,
a squeeze-and-excitation block recalibrates the magnitude stream's channels after block 2 (before the
block-2 fusion attention, so the stream weights see the recalibrated map: an assumption), and an
MLP head classifies the concatenated flattened streams into 5 multi-label logits.

Run ``python -m mer_live.model.microattnet`` to print the parameter count, the float32 state_dict size and the
CPU latency of a batch of 4 (2 views x 2 phases) for the default config.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Annotated, Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from mer_live.stream.settings import Switch, config_class, config_to_json

# Stream order = input channel order: horizontal flow u, vertical flow v, magnitude m.
STREAMS: tuple[str, ...] = ("u", "v", "m")
MAGNITUDE = STREAMS.index("m")

Width = Annotated[int, Field(ge=1, strict=True)]
Rate = Annotated[float, Field(ge=0, lt=1)]


@config_class
class MicroAttNetConfig:
    n_classes: Width = Field(5, description="multi-label outputs")
    input_size: Width = Field(224, description="side of the flow images (px)")
    block1_channels: Width = Field(
        16, description="Assumption: the paper does not give the stream widths; 16 -> 32 keeps the model small."
    )
    block2_channels: Width = Field(32, description="see block1_channels")
    kernel_size: Width = Field(3, description='Assumption: 3x3 convolutions with "same" padding (odd).')
    pool_size: Width = Field(
        4,
        description="Assumption: MaxPool 4 per block, so 224 -> 56 -> 14 and the flatten is 3 * 32 * 14 * 14 = 18816.",
    )
    conv_dropout: Rate = Field(0.1, description="Assumption: dropout rate of the conv blocks.")
    conv_dropout_at: Literal["before_pool", "after_pool"] = Field(
        "after_pool",
        description="Deviation: the paper's block is Conv-BN-ReLU-Dropout-MaxPool (before_pool). After the "
        "pool the same rate masks 16x fewer values: a CPU training step takes 0.55x the time (the dropout "
        "mask over the 224-px maps was a third of it). Its effect on the scores is not measured apart "
        "(docs/measurements.md); inference is identical (no dropout at eval).",
    )
    fc_dropout: Rate = Field(0.5, description="Assumption: dropout rate of the head.")
    fc_hidden: Width = Field(128, description="Assumption: head hidden width.")
    attention_hidden: Width = Field(
        8, description="Assumption: hidden width of the fusion attention's shared scoring MLP."
    )
    se_reduction: Width = Field(4, description="Assumption: SE reduction ratio (32 channels -> 8 hidden).")
    fusion_attention: Switch = Field(True, description="Table 2 ablation switch.")
    se_block: Switch = Field(True, description="Table 2 ablation switch.")

    @model_validator(mode="after")
    def _shapes_fit(self) -> MicroAttNetConfig:
        errors = []
        if self.kernel_size % 2 == 0:
            errors.append(f"kernel_size must be odd for same padding, got {self.kernel_size}")
        # Exact divisibility so that MaxPool never silently drops border rows/columns.
        if self.input_size % (self.pool_size**2):
            errors.append(f"input_size ({self.input_size}) must be divisible by pool_size**2 ({self.pool_size**2})")
        if self.se_reduction > self.block2_channels:
            errors.append(
                f"se_reduction ({self.se_reduction}) must not exceed block2_channels ({self.block2_channels})"
            )
        if errors:
            raise ValueError("; ".join(errors))
        return self

    @property
    def feature_size(self) -> int:
        """Side of each stream's feature map after block 2."""
        return self.input_size // self.pool_size**2

    @property
    def flat_features(self) -> int:
        return len(STREAMS) * self.block2_channels * self.feature_size**2


class ConvBlock(nn.Sequential):
    """Conv-BN-ReLU-Dropout-MaxPool (the paper's), or Conv-BN-ReLU-MaxPool-Dropout (`conv_dropout_at`)."""

    def __init__(self, in_channels: int, out_channels: int, cfg: MicroAttNetConfig):
        layers = OrderedDict(
            # No conv bias: BatchNorm's shift makes it redundant.
            conv=nn.Conv2d(in_channels, out_channels, cfg.kernel_size, padding=cfg.kernel_size // 2, bias=False),
            bn=nn.BatchNorm2d(out_channels),
            relu=nn.ReLU(inplace=True),
        )
        dropout, pool = nn.Dropout(cfg.conv_dropout), nn.MaxPool2d(cfg.pool_size)
        if cfg.conv_dropout_at == "before_pool":
            layers.update(drop=dropout, pool=pool)
        else:
            layers.update(pool=pool, drop=dropout)
        super().__init__(layers)


class Stream(nn.Module):
    """One flow channel's CNN: two ConvBlocks.

    There is no ``forward``: MicroAttNet applies ``block1`` and ``block2`` itself because fusion
    attention across the three streams sits between them.
    """

    def __init__(self, cfg: MicroAttNetConfig):
        super().__init__()
        self.block1 = ConvBlock(1, cfg.block1_channels, cfg)
        self.block2 = ConvBlock(cfg.block1_channels, cfg.block2_channels, cfg)


class FusionAttention(nn.Module):
    """The paper's fusion attention over the three stream feature maps F_u, F_v, F_m (the paper's
    F_h is the horizontal-flow stream, u here as everywhere else in the code):

        g_i = GAP(F_i)                    (per-stream global average pool)
        s_i = W2 · ReLU(W1 · g_i)         (one MLP shared by the streams, one scalar per stream)
        α   = softmax(s_u, s_v, s_m)      (over the streams)
        F_i' = α_i · F_i

    W2 has no bias: softmax is invariant to a constant added to every score, so a bias could never
    learn anything (its gradient is exactly zero).
    """

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1, bias=False))

    def forward(self, maps: Tensor) -> tuple[Tensor, Tensor]:
        # maps: (B, 3, C, H, W)
        pooled = maps.mean(dim=(3, 4))  # (B, 3, C)
        alpha = self.score(pooled).squeeze(-1).softmax(dim=1)  # (B, 3)
        return maps * alpha[:, :, None, None, None], alpha


class SqueezeExcitation(nn.Module):
    """Channel gates σ(W2 · ReLU(W1 · GAP(F))) that rescale F channel-wise."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        hidden = channels // reduction
        self.gate = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels), nn.Sigmoid()
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        # x: (B, C, H, W)
        gate = self.gate(x.mean(dim=(2, 3)))  # (B, C)
        return x * gate[:, :, None, None], gate


class MicroAttNet(nn.Module):
    def __init__(self, config: MicroAttNetConfig | None = None):
        super().__init__()
        cfg = config or MicroAttNetConfig()
        self.config = cfg
        self.streams = nn.ModuleList(Stream(cfg) for _ in STREAMS)
        self.attn1 = FusionAttention(cfg.block1_channels, cfg.attention_hidden) if cfg.fusion_attention else None
        self.attn2 = FusionAttention(cfg.block2_channels, cfg.attention_hidden) if cfg.fusion_attention else None
        self.se = SqueezeExcitation(cfg.block2_channels, cfg.se_reduction) if cfg.se_block else None
        self.head = nn.Sequential(
            OrderedDict(
                fc=nn.Linear(cfg.flat_features, cfg.fc_hidden, bias=False),  # BatchNorm follows
                bn=nn.BatchNorm1d(cfg.fc_hidden),
                relu=nn.ReLU(inplace=True),
                drop=nn.Dropout(cfg.fc_dropout),
                out=nn.Linear(cfg.fc_hidden, cfg.n_classes),
            )
        )

    def forward_features(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor | None]]:
        """Stacked block-2 stream maps (B, 3, C2, H2, W2) and the attention info of ``forward``."""
        size = self.config.input_size
        if x.ndim != 4 or tuple(x.shape[1:]) != (len(STREAMS), size, size):
            raise ValueError(f"expected input of shape (B, {len(STREAMS)}, {size}, {size}), got {tuple(x.shape)}")
        # channels_last makes oneDNN take its fast convolution and max-pool paths (each ~10x faster on CPU).
        x = x.contiguous(memory_format=torch.channels_last)  # (B, 3, S, S), channels u, v, m
        maps = torch.stack(
            [stream.block1(x[:, i : i + 1]) for i, stream in enumerate(self.streams)], dim=1
        )  # (B, 3, C1, S/p, S/p)
        alpha1 = None
        if self.attn1 is not None:
            maps, alpha1 = self.attn1(maps)  # (B, 3, C1, S/p, S/p), (B, 3)
        streams = [stream.block2(maps[:, i]) for i, stream in enumerate(self.streams)]  # 3 x (B, C2, H2, W2)
        se_gate = None
        if self.se is not None:
            streams[MAGNITUDE], se_gate = self.se(streams[MAGNITUDE])  # (B, C2, H2, W2), (B, C2)
        maps = torch.stack(streams, dim=1)  # (B, 3, C2, H2, W2)
        alpha2 = None
        if self.attn2 is not None:
            maps, alpha2 = self.attn2(maps)  # (B, 3, C2, H2, W2), (B, 3)
        return maps, {"alpha1": alpha1, "alpha2": alpha2, "se_gate": se_gate}

    def forward_head(self, maps: Tensor) -> Tensor:
        # maps: (B, 3, C2, H2, W2); flattening the stack = concatenating the flattened streams
        return self.head(maps.flatten(1))  # (B, n_classes)

    def forward(self, x: Tensor, return_attention: bool = False) -> Tensor | tuple[Tensor, dict[str, Tensor | None]]:
        """Logits (B, n_classes); with ``return_attention`` also ``{"alpha1", "alpha2", "se_gate"}``:
        the (B, 3) stream weights after block 1 and 2 (order u, v, m; None without fusion attention)
        and the magnitude stream's (B, C2) SE gates (None without the SE block)."""
        maps, info = self.forward_features(x)
        logits = self.forward_head(maps)
        return (logits, info) if return_attention else logits


def fused_for_inference(model: MicroAttNet) -> MicroAttNet:
    """An eval-mode copy with each block's BatchNorm folded into its convolution: the same outputs
    (to float rounding) without the normalisation passes over the 224² maps, which took half the
    CPU time of a forward pass (per event: ~29 → ~7 ms on 2 cores). For inference only."""
    fused = copy.deepcopy(model).eval()
    for block in fused.modules():
        if isinstance(block, ConvBlock) and isinstance(block.bn, nn.BatchNorm2d):
            block.conv = fuse_conv_bn_eval(block.conv, block.bn)
            block.bn = nn.Identity()
    return fused


def state_dict_bytes(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def _report(batch: int = 4, runs: int = 50) -> None:
    import io
    import time

    torch.set_num_threads(2)
    model = MicroAttNet().eval()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    print(f"config: {config_to_json(model.config)}")
    print(f"parameters: {sum(p.numel() for p in model.parameters()):,}")
    print(
        f"state_dict: {state_dict_bytes(model) / 1e6:.2f} MB tensors, {buffer.tell() / 1e6:.2f} MB saved (limit 10 MB)"
    )
    x = torch.randn(batch, len(STREAMS), model.config.input_size, model.config.input_size)
    model = fused_for_inference(model)  # as the Predictor runs it
    times = []
    with torch.inference_mode():
        for _ in range(5):
            model(x)
        for _ in range(runs):
            start = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    print(f"batch {batch}, 2 threads: median {times[runs // 2]:.1f} ms, p95 {times[int(runs * 0.95)]:.1f} ms")


if __name__ == "__main__":
    _report()
