"""Tests for voice.asr.models (finding Whisper weights, offline) and voice.device (where they run)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
import torch
import whisper

import voice.asr.models
import voice.device
from tests.conftest import tiny_whisper
from voice.asr.ct2 import write_ct2
from voice.asr.models import available_packaged, checkpoint_path, load_whisper
from voice.device import choose_device, compute_dtype

HEADS = [[0, 1], [1, 0]]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty model cache; downloads fail loudly."""
    monkeypatch.setenv("CCA_CACHE_DIR", str(tmp_path / "cca-cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)  # so that no folder here is taken for a model name

    def no_download(*args, **kwargs):
        raise AssertionError(f"tried to download {args}")

    monkeypatch.setattr(whisper, "_download", no_download)
    return tmp_path / "cca-cache"


@pytest.fixture
def ct2_folder(tmp_path) -> tuple[Path, torch.nn.Module]:
    model = tiny_whisper()
    folder = tmp_path / "faster-whisper-tiny-test"
    folder.mkdir()
    write_ct2(model.state_dict(), model.dims, folder / "model.bin")
    (folder / "config.json").write_text(json.dumps({"alignment_heads": HEADS}))
    return folder, model


def test_checkpoint_path_of_a_pt_file(cache, tmp_path):
    path = tmp_path / "my-model.pt"
    path.write_bytes(b"not read here")
    assert checkpoint_path(str(path)) == path
    assert not cache.exists()  # nothing converted


def test_ct2_folder_is_converted_once(cache, ct2_folder):
    folder, _ = ct2_folder
    first = checkpoint_path(str(folder))
    assert first.parent == cache / "whisper" and first.name.startswith(folder.name)
    assert first.suffix == ".pt" and first.is_file()
    mtime = first.stat().st_mtime_ns
    second = checkpoint_path(str(folder))
    assert second == first and second.stat().st_mtime_ns == mtime  # reused, not rewritten
    assert [p.name for p in (cache / "whisper").iterdir()] == [first.name]  # no temp files


def test_load_whisper_from_ct2_folder(cache, ct2_folder):
    folder, want = ct2_folder
    model = load_whisper(str(folder))
    assert model.dims == want.dims
    got, expected = model.state_dict(), want.state_dict()
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert torch.equal(got[key], value), key
    assert model.alignment_heads.to_dense().tolist() == [[False, True], [True, False]]


def test_editing_config_json_refreshes_the_conversion(cache, ct2_folder):
    folder, _ = ct2_folder
    assert load_whisper(str(folder)).alignment_heads.to_dense().tolist() == [
        [False, True],
        [True, False],
    ]
    (folder / "config.json").write_text(json.dumps({"alignment_heads": [[1, 1]]}))
    heads = load_whisper(str(folder)).alignment_heads.to_dense().tolist()
    assert heads == [[False, False], [False, True]]


def test_folder_without_model_bin(cache, tmp_path):
    (tmp_path / "empty-model").mkdir()
    with pytest.raises(ValueError, match="no CTranslate2 model.bin"):
        checkpoint_path(str(tmp_path / "empty-model"))


@pytest.mark.parametrize(
    "name,why",
    [
        ("nope", "not an official name, a packaged name or an existing path"),
        ("packaged:nope", r"packaged names are \['tiny.en', 'base'\]"),
    ],
)
def test_unknown_names_list_the_available_models(cache, name, why):
    with pytest.raises(ValueError) as err:
        checkpoint_path(name)
    message = str(err.value)
    assert f"Whisper model {name!r} not found" in message
    assert re.search(why, message), message
    assert "available models = [" in message and "'small'" in message and "'turbo'" in message
    for packaged in available_packaged():
        assert f"'packaged:{packaged}'" in message


def test_offline_refuses_to_download(cache, monkeypatch):
    monkeypatch.setenv("CCA_OFFLINE", "1")
    monkeypatch.setattr(voice.asr.models, "available_packaged", lambda: [])
    with pytest.raises(ValueError, match="CCA_OFFLINE=1 forbids downloading") as err:
        checkpoint_path("small")
    assert "'packaged:" not in str(err.value)  # the list says what is really installed


def test_offline_uses_openai_whisper_cache(cache, monkeypatch, tmp_path):
    monkeypatch.setenv("CCA_OFFLINE", "1")
    monkeypatch.setattr(voice.asr.models, "available_packaged", lambda: [])
    cached = tmp_path / "xdg" / "whisper" / "small.pt"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"weights")
    assert checkpoint_path("small") == cached


def _packaged(name: str) -> None:
    if name not in available_packaged():
        pytest.skip(f"packaged {name} weights not installed (the offline extra)")


@pytest.mark.weights
@pytest.mark.parametrize(
    "name,n_audio_state,n_vocab", [("tiny.en", 384, 51864), ("base", 512, 51865)]
)
def test_official_names_resolve_to_packaged_weights(
    cache, monkeypatch, name, n_audio_state, n_vocab
):
    _packaged(name)
    monkeypatch.setenv("CCA_OFFLINE", "1")
    path = checkpoint_path(name)
    assert path.parent == cache / "whisper" and path.name.startswith(f"{name}-")
    assert checkpoint_path(f"packaged:{name}") == path
    model = load_whisper(name)
    assert (model.dims.n_audio_state, model.dims.n_vocab) == (n_audio_state, n_vocab)
    ours = model.alignment_heads.to_dense().clone()
    model.set_alignment_heads(whisper._ALIGNMENT_HEADS[name])
    assert torch.equal(ours, model.alignment_heads.to_dense())


# voice.device


def test_choose_device_cpu_when_asked():
    assert choose_device("cpu") == torch.device("cpu")


def test_choose_device_falls_back_to_cpu(monkeypatch, caplog):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with caplog.at_level(logging.INFO, logger="voice.device"):
        assert choose_device(None) == torch.device("cpu")
    assert "device=cpu: no CUDA device found" in caplog.text


@pytest.mark.parametrize("requested", ["cuda", "cuda:1"])
def test_choose_device_cuda_without_cuda(monkeypatch, requested):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match=rf"device='{requested}'.*no CUDA device.*--device cpu"):
        choose_device(requested)


@pytest.mark.parametrize(
    "device, requested, bf16_cpu, want",
    [
        ("cpu", "auto", False, torch.float32),
        ("cpu", "auto", True, torch.bfloat16),
        ("cpu", "float32", True, torch.float32),
        ("cuda", "auto", False, torch.float16),
        ("cuda:1", "bfloat16", False, torch.bfloat16),
    ],
)
def test_compute_dtype(monkeypatch, device, requested, bf16_cpu, want):
    monkeypatch.setattr(voice.device, "cpu_has_bf16", lambda: bf16_cpu)
    assert compute_dtype(torch.device(device), requested) == want


@pytest.mark.parametrize("requested, message", [("int4", "not known"), ("float16", "for CUDA")])
def test_compute_dtype_refuses_what_cannot_work(requested, message):
    with pytest.raises(ValueError, match=message):
        compute_dtype(torch.device("cpu"), requested)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_choose_device_picks_cuda_when_present():
    device = choose_device(None)
    assert device.type == "cuda" and compute_dtype(device) == torch.float16
    assert torch.ones(2, device=device).sum().item() == 2
