"""Image soft tokens: projector shapes, the merge into token embeddings, and gradient flow."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fusion.fuse import Fusion, FusionOptions
from fusion.projector import ImageProjector, ProjectorConfig, merge_image_embeddings
from fusion.types import TurnInput
from tests.conftest import tiny_llama, tiny_tokenizer
from vision.types import ImageFeatures, Kind, OCRLine, PageText, Screenshot


def features(grid=(7, 7), d=24, seed=0) -> ImageFeatures:
    rng = np.random.default_rng(seed)
    patches = rng.standard_normal((grid[0] * grid[1], d)).astype(np.float32)
    return ImageFeatures(patches, patches.mean(0), grid)


@pytest.mark.parametrize(
    "tokens, grid", [(1, (7, 7)), (4, (7, 7)), (16, (7, 7)), (9, (3, 5)), (16, (2, 2))]
)
def test_projector_shapes(tokens, grid):
    proj = ImageProjector(ProjectorConfig(d_vision=24, d_model=32, tokens_per_image=tokens))
    out = proj.project([features(grid), features(grid, seed=1)])
    assert out.shape == (2, tokens, 32)
    assert torch.isfinite(out).all()


def test_projector_mixed_grids_and_empty():
    proj = ImageProjector(ProjectorConfig(d_vision=24, d_model=32, tokens_per_image=4))
    a, b = features((7, 7)), features((4, 6), seed=2)
    both = proj.project([a, b])
    assert torch.allclose(both[0], proj.project([a])[0]) and torch.allclose(
        both[1], proj.project([b])[0]
    )
    assert proj.project([]).shape == (0, 4, 32)


def test_projector_config_errors():
    with pytest.raises(ValueError, match="square number"):
        ImageProjector(ProjectorConfig(tokens_per_image=8))
    proj = ImageProjector(ProjectorConfig(d_vision=24, d_model=32, tokens_per_image=4))
    with pytest.raises(ValueError, match="do not fit grid"):
        proj(torch.zeros(1, 10, 24), (7, 7))


def test_merge_replaces_exactly_the_placeholders_in_order():
    embeds = torch.zeros(2, 6, 3)
    ids = torch.tensor([[1, 9, 9, 2, 3, 4], [9, 9, 5, 6, 7, 8]])
    images = torch.arange(12, dtype=torch.float32).reshape(2, 2, 3) + 1
    out = merge_image_embeddings(embeds, ids, 9, images)
    assert torch.equal(out[0, 1:3], images[0]) and torch.equal(out[1, 0:2], images[1])
    untouched = ids != 9
    assert torch.equal(out[untouched], embeds[untouched])
    with pytest.raises(ValueError, match="4 image placeholder tokens but 2"):
        merge_image_embeddings(embeds, ids, 9, images[:1, :2].reshape(1, 2, 3))
    assert merge_image_embeddings(embeds, torch.ones_like(ids), 9, images[:0]) is embeds


def fused_batch(tokens_per_image=4):
    tok = tiny_tokenizer()
    shot = Screenshot(
        source="err.png", width=10, height=10,
        page=PageText((OCRLine("Payment failed", (0, 0, 9, 9), 0.9),), "en"),
        fields=(), kind=Kind("error_dialog", 0.9, {}), features=features(),
    )  # fmt: skip
    fused = Fusion(tok, FusionOptions(tokens_per_image=tokens_per_image)).fuse(
        TurnInput(text="it failed", screenshots=(shot, shot))
    )
    ids = torch.tensor([tok.encode(fused.prompt, add_special_tokens=False)])
    return tok, fused, ids


@pytest.mark.parametrize("freeze_lm", [False, True])
def test_gradient_flows_from_the_lm_loss_into_the_projector(freeze_lm):
    tok, fused, ids = fused_batch()
    lm = tiny_llama(len(tok))
    proj = ImageProjector(
        ProjectorConfig(d_vision=24, d_model=lm.config.hidden_size, tokens_per_image=4)
    )
    if freeze_lm:
        lm.requires_grad_(False)
    image_id = tok.convert_tokens_to_ids(fused.image_token)
    embeds = merge_image_embeddings(
        lm.get_input_embeddings()(ids), ids, image_id, proj.project(list(fused.images))
    )
    labels = ids.masked_fill(ids == image_id, -100)  # no loss on the image positions themselves
    loss = lm(inputs_embeds=embeds, labels=labels).loss
    loss.backward()
    for name, p in proj.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    lm_grads = [p.grad for p in lm.parameters() if p.grad is not None]
    assert (len(lm_grads) == 0) is freeze_lm


def test_one_training_step_lowers_the_loss_on_that_batch():
    tok, fused, ids = fused_batch()
    lm = tiny_llama(len(tok)).requires_grad_(False)
    proj = ImageProjector(
        ProjectorConfig(d_vision=24, d_model=lm.config.hidden_size, tokens_per_image=4)
    )
    image_id = tok.convert_tokens_to_ids(fused.image_token)
    labels = ids.masked_fill(ids == image_id, -100)
    opt = torch.optim.AdamW(proj.parameters(), lr=1e-2)

    def loss_now():
        embeds = merge_image_embeddings(
            lm.get_input_embeddings()(ids), ids, image_id, proj.project(list(fused.images))
        )
        return lm(inputs_embeds=embeds, labels=labels).loss

    before = loss_now()
    for _ in range(5):
        opt.zero_grad()
        loss = loss_now()
        loss.backward()
        opt.step()
    assert loss_now().item() < before.item()
