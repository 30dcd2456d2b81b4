"""Training the image projector with the dialogue model: examples carry the features of their
screenshots in prompt order, the projector learns through the language model's loss, is saved
beside the adapter, resumes with the rest, and the saved pair answers a fused prompt."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from dialogue.lm.examples import IGNORE, build_example, build_examples
from dialogue.lm.loss import collate
from dialogue.lm.recipe import (
    EvalConfig,
    ImagesConfig,
    LoraConfig,
    OptimConfig,
    RunConfig,
    TrainConfig,
)
from dialogue.lm.train import Trainer, wrap_lora
from fusion.fuse import Fusion, FusionOptions
from fusion.projector import ImageProjector, ProjectorConfig
from tests.conftest import tiny_llama, tiny_tokenizer
from tests.dialogue.lm.test_train import (  # the same stand-ins for dialogue.lm.convdata's types
    Conv,
    Turn,
)
from vision.types import ImageFeatures

PER_IMAGE = 4
D_VISION = 8


def features(seed: int) -> ImageFeatures:
    rng = np.random.default_rng(seed)
    patches = rng.standard_normal((4, D_VISION)).astype(np.float32)
    return ImageFeatures(patches, patches.mean(0), (2, 2))


def conv(i: int) -> Conv:
    """The reply depends on the picture alone: the text gives no hint of the status."""
    status = ("shipped", "refunded")[i % 2]
    return Conv(
        f"c{i}",
        "en",
        (
            Turn(
                "customer",
                "what is the status of this order?",
                screenshot_text="Order",
                image=f"{i}.png",
            ),  # fmt: skip
            Turn("agent", f"your order is {status}"),
        ),
    )


def picture(i: int) -> ImageFeatures:
    """Two clearly different kinds of picture, one per status."""
    f = features(i)
    shift = 3.0 if i % 2 else -3.0
    return replace(f, patches=f.patches + shift)


def fusion(tok) -> Fusion:
    return Fusion(tok, FusionOptions(tokens_per_image=PER_IMAGE))


def test_examples_carry_their_pictures_behind_placeholders():
    tok = tiny_tokenizer()
    token = tok.convert_tokens_to_ids("<image>")
    c = Conv("x", "en", (*conv(0).turns, Turn("customer", "and this?", image="b.png"), Turn("agent", "ok")))  # fmt: skip
    feats = {"0.png": features(0), "b.png": features(1)}
    e = build_example(c, tok, fusion(tok), 4096, feats)
    slots = [k for k, i in enumerate(e.input_ids) if i == token]
    assert len(slots) == 2 * PER_IMAGE and len(e.images) == 2
    assert all(e.labels[k] == IGNORE for k in slots)
    assert e.images[0] is feats["0.png"] and e.images[1] is feats["b.png"]
    # without features the same conversation is text only
    plain = build_example(c, tok, fusion(tok), 4096)
    assert token not in plain.input_ids and plain.images == ()


def test_a_cut_keeps_only_whole_pictures_the_latest_first():
    tok = tiny_tokenizer()
    token = tok.convert_tokens_to_ids("<image>")
    c = Conv("x", "en", (*conv(0).turns, Turn("customer", "and this?", image="b.png"), Turn("agent", "ok")))  # fmt: skip
    feats = {"0.png": features(0), "b.png": features(1)}
    full = build_example(c, tok, fusion(tok), 4096, feats)
    last = max(k for k, i in enumerate(full.input_ids) if i == token)
    for max_len in range(len(full.input_ids) - last + 1, len(full.input_ids), 7):
        e = build_example(c, tok, fusion(tok), max_len, feats)
        n = sum(i == token for i in e.input_ids)
        assert n % PER_IMAGE == 0 and n // PER_IMAGE == len(e.images)
        assert e.images == tuple(list(full.images)[len(full.images) - len(e.images) :])


def setup(tmp_path, steps=30, projector_seed=0):
    tok = tiny_tokenizer()
    fu = fusion(tok)
    feats = {f"{i}.png": picture(i) for i in range(100)}
    train = build_examples([conv(i) for i in range(16)], tok, fu, 512, feats)
    dev = build_examples([conv(50 + i) for i in range(4)], tok, fu, 512, feats)
    config = TrainConfig(
        lora=LoraConfig(r=4, alpha=8, dropout=0.0),
        optim=OptimConfig(lr=1e-2, batch_size=4, grad_accum=1, warmup_ratio=0.1, max_steps=steps),
        eval=EvalConfig(every=5, patience=100),
        images=ImagesConfig(tokens_per_image=PER_IMAGE, lr=1e-2),
        run=RunConfig(out=str(tmp_path / "run"), seed=1, device="cpu"),
    )
    torch.manual_seed(0)
    model = wrap_lora(tiny_llama(len(tok), seed=0), config.lora)
    torch.manual_seed(projector_seed)
    projector = ImageProjector(ProjectorConfig(D_VISION, 32, tokens_per_image=PER_IMAGE))
    return config, model, tok, train, dev, projector


def test_examples_with_pictures_need_a_projector(tmp_path):
    config, model, tok, train, dev, _ = setup(tmp_path)
    with pytest.raises(ValueError, match="no projector"):
        Trainer(config, model, tok, train, dev)


def test_the_projector_learns_with_the_model(tmp_path):
    config, model, tok, train, dev, projector = setup(tmp_path)
    before = {n: p.detach().clone() for n, p in projector.named_parameters()}
    trainer = Trainer(config, model, tok, train, dev, projector)
    start = trainer.dev_loss()
    trainer.train(progress=False)
    assert trainer.dev_loss() < start
    moved = [n for n, p in projector.named_parameters() if not torch.equal(p, before[n])]
    assert len(moved) == len(before)  # every projector weight was trained
    best = tmp_path / "run" / "best"
    assert ImageProjector.exists(best) and (best / "adapter_config.json").is_file()


def test_the_pictures_matter_after_training(tmp_path):
    """Swapping the pictures of the dev set raises its loss: the reply was read from them."""
    config, model, tok, train, dev, projector = setup(tmp_path, steps=40)
    trainer = Trainer(config, model, tok, train, dev, projector)
    trainer.train(progress=False)
    right = trainer.dev_loss()
    swapped = [replace(e, images=(picture(int(e.conversation_id[1:]) + 1),)) for e in dev]
    trainer.dev_set = swapped
    assert trainer.dev_loss() > right


def test_resume_restores_the_projector_too(tmp_path):
    config, model, tok, train, dev, projector = setup(tmp_path / "a", steps=6)
    straight = Trainer(config, model, tok, train, dev, projector)
    straight.train(progress=False)
    config_b, model_b, _, _, _, proj_b = setup(tmp_path / "b", steps=6)
    Trainer(config_b, model_b, tok, train, dev, proj_b).train(progress=False, until_step=3)
    config_c, model_c, _, _, _, proj_c = setup(tmp_path / "b", steps=6, projector_seed=9)
    resumed = Trainer(config_c, model_c, tok, train, dev, proj_c)
    assert resumed.train(progress=False).step == 6
    want, got = straight.named_trainables(), resumed.named_trainables()
    assert any(n.startswith("projector.") for n in got) and want.keys() == got.keys()
    for n in want:
        assert torch.allclose(want[n], got[n], atol=1e-6), n


def test_collate_orders_pictures_batch_major(tmp_path):
    _, _, tok, train, _, _ = setup(tmp_path)
    batch = collate(train[:3], tok.pad_token_id)
    assert batch["images"] == [f for e in train[:3] for f in e.images]


def test_the_saved_pair_answers_a_fused_prompt(tmp_path):
    from dialogue.lm.decoding import GenerationOptions
    from dialogue.lm.model import DialogueLM
    from fusion.types import TurnInput
    from vision.types import Kind, OCRLine, PageText, Screenshot

    config, model, tok, train, dev, projector = setup(tmp_path, steps=4)
    trainer = Trainer(config, model, tok, train, dev, projector)
    trainer.train(progress=False)
    lm = DialogueLM(tiny_llama(len(tok), seed=0), tok, device="cpu")
    assert not lm.takes_images
    loaded, encoder = ImageProjector.load(tmp_path / "run" / "best")
    assert encoder == config.images.encoder
    page = PageText((OCRLine("Order", (0, 0, 1, 1), 1.0),), "en")
    shot = Screenshot("s.png", 10, 10, page, (), Kind("order_page", 1.0), picture(1))
    fused = fusion(tok).fuse(TurnInput(text="status?", screenshots=(shot,)), [])
    assert len(fused.images) == 1
    with pytest.raises(ValueError, match="no projector"):
        lm.generate_fused(fused)
    lm.attach_projector(loaded, encoder)
    options = GenerationOptions(max_new_tokens=5)
    assert isinstance(lm.generate_fused(fused, options), str)
    with pytest.raises(ValueError, match="another model"):
        lm.attach_projector(ImageProjector(ProjectorConfig(D_VISION, 64, tokens_per_image=PER_IMAGE)))  # fmt: skip


def test_a_vocabulary_grown_for_the_placeholder_alone_keeps_the_adapter_small(tmp_path):
    """The placeholder's embedding row is never read, so the adapter holds no embedding matrix."""
    from safetensors import safe_open

    config, _, tok, train, dev, projector = setup(tmp_path, steps=1)
    model = tiny_llama(len(tok), seed=0)
    model.resize_token_embeddings(len(tok) + 1)  # as when "<image>" had to be added
    trainer = Trainer(config, wrap_lora(model, config.lora), tok, train, dev, projector)
    trainer.only_image_token_added = True
    trainer.save_model(tmp_path / "saved")
    with safe_open(str(tmp_path / "saved" / "adapter_model.safetensors"), "pt") as f:
        names = list(f.keys())
    assert names and all("lora_" in n for n in names)
