"""Image soft tokens: encoder patches projected into the language model's embedding space.

LLaVA style. `ImageProjector` pools each picture's patch grid to `tokens_per_image` cells and
maps them through a two-layer MLP to `d_model`; `merge_image_embeddings` puts the results where
the prompt holds the image placeholder token. The projector trains jointly with the dialogue
fine-tuning (gradients flow through the merge) and is optional at inference: a prompt fused with
`image_tokens=False` has no placeholders and needs none of this.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vision.types import ImageFeatures


@dataclass(frozen=True)
class ProjectorConfig:
    d_vision: int = 1280  # encoder channels (EfficientNet-Lite0: 1280)
    d_model: int = 640  # language model hidden size (Gemma-3-270m: 640)
    hidden: int = 0  # MLP width; 0 means d_model
    tokens_per_image: int = 16  # a square number: the patch grid is pooled to sqrt x sqrt


class ImageProjector(nn.Module):
    """(n_images, n_patches, d_vision) with a (rows, cols) grid -> (n_images, tokens, d_model)."""

    def __init__(self, config: ProjectorConfig):
        super().__init__()
        side = math.isqrt(config.tokens_per_image)
        if side * side != config.tokens_per_image:
            raise ValueError(
                f"tokens_per_image must be a square number (4, 9, 16, ...), got {config.tokens_per_image}"
            )
        self.config = config
        self.side = side
        hidden = config.hidden or config.d_model
        self.norm = nn.LayerNorm(config.d_vision)
        self.mlp = nn.Sequential(
            nn.Linear(config.d_vision, hidden), nn.GELU(), nn.Linear(hidden, config.d_model)
        )

    def forward(self, patches: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        n, p, d = patches.shape
        rows, cols = grid
        if rows * cols != p or d != self.config.d_vision:
            raise ValueError(
                f"patches {tuple(patches.shape)} do not fit grid {grid} and d_vision={self.config.d_vision}"
            )
        fmap = patches.transpose(1, 2).reshape(n, d, rows, cols)
        pooled = F.adaptive_avg_pool2d(fmap, self.side).flatten(2).transpose(1, 2)  # (n, tokens, d)
        return self.mlp(self.norm(pooled))

    def project(self, features: Sequence[ImageFeatures], device=None, dtype=None) -> torch.Tensor:
        """Project encoder outputs (pictures of one grid size per call) -> (n, tokens, d_model)."""
        if not features:
            return torch.zeros(
                0, self.config.tokens_per_image, self.config.d_model, device=device, dtype=dtype
            )
        grids = {f.grid for f in features}
        if len(grids) != 1:
            return torch.cat([self.project([f], device, dtype) for f in features])
        param = next(self.parameters())
        x = torch.from_numpy(np.stack([f.patches for f in features])).to(param.device, param.dtype)
        out = self(x, grids.pop())
        return out.to(device or out.device, dtype or out.dtype)

    # ------------------------------------------------------------ files
    WEIGHTS = "projector.safetensors"
    CONFIG = "projector.json"

    def save(self, folder: str | Path, encoder: str = "") -> None:
        """projector.safetensors and projector.json (its config and the image encoder it was
        trained on, which must read the pictures at inference) into `folder`."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(folder / self.WEIGHTS))
        meta = {"config": asdict(self.config), "encoder": encoder}
        (folder / self.CONFIG).write_text(json.dumps(meta, indent=2))

    @classmethod
    def exists(cls, folder: str | Path) -> bool:
        return (Path(folder) / cls.WEIGHTS).is_file()

    @classmethod
    def load(cls, folder: str | Path) -> tuple[ImageProjector, str]:
        """(the projector saved in `folder`, the name of the encoder it was trained on)."""
        from safetensors.torch import load_file

        folder = Path(folder)
        if not cls.exists(folder):
            raise FileNotFoundError(
                f"no {cls.WEIGHTS} in {folder}: it holds no trained projector (train with images)"
            )
        meta = json.loads((folder / cls.CONFIG).read_text())
        projector = cls(ProjectorConfig(**meta["config"]))
        projector.load_state_dict(load_file(str(folder / cls.WEIGHTS)))
        return projector.eval(), meta.get("encoder", "")


def merge_image_embeddings(
    inputs_embeds: torch.Tensor,
    input_ids: torch.Tensor,
    image_token_id: int,
    image_embeds: torch.Tensor,
) -> torch.Tensor:
    """Replace the placeholder positions of `input_ids` with `image_embeds`, in order.

    inputs_embeds: (batch, seq, d_model) the token embeddings
    input_ids: (batch, seq)
    image_embeds: (n_images, tokens_per_image, d_model), images in prompt order, batch-major
    """
    mask = input_ids == image_token_id
    n_slots = int(mask.sum())
    n_given = image_embeds.shape[0] * image_embeds.shape[1]
    if n_slots != n_given:
        raise ValueError(
            f"the prompt has {n_slots} image placeholder tokens but {n_given} image embeddings were given "
            f"({image_embeds.shape[0]} images x {image_embeds.shape[1]}); fuse and project with the same "
            "tokens_per_image, and check that the placeholder is one special token in the tokenizer"
        )
    if n_slots == 0:
        return inputs_embeds
    flat = image_embeds.reshape(-1, image_embeds.shape[-1]).to(inputs_embeds.dtype)
    return inputs_embeds.masked_scatter(mask.unsqueeze(-1).expand_as(inputs_embeds), flat)
