"""A PEFT LoRA adapter as a GGUF LoRA: llama.cpp with the converted adapter computes what
transformers with the adapter computes, on the same random weights."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch

from dialogue.lm.llama_buffers import model_params_for, use_extra_buffers
from dialogue.lm.lora_gguf import LoraConversionError, convert_lora
from tests.conftest import tiny_llama
from tests.gguf_fixture import N_VOCAB, gguf_from_llama

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="needs llama-cpp-python (the llama extra)"
)
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(base GGUF, adapter folder, the HF model with the adapter)."""
    from peft import LoraConfig, get_peft_model

    tmp = tmp_path_factory.mktemp("lora")
    base = tiny_llama(N_VOCAB, hidden=64, seed=1).eval()
    base_gguf = gguf_from_llama(base, tmp / "base.gguf")
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS))
    torch.manual_seed(2)
    for name, p in model.named_parameters():
        if "lora_B" in name:  # PEFT starts B at zero; a trained adapter is not
            p.data.normal_(0, 0.2)
    model.save_pretrained(tmp / "adapter")
    return base_gguf, tmp / "adapter", model.eval()


def llama_cpp_logits(path, ids, lora=None):
    import llama_cpp

    with model_params_for(use_extra_buffers()):  # not AMX's buffers, where they crash
        llm = llama_cpp.Llama(
            str(path), lora_path=str(lora) if lora else None, n_ctx=128, logits_all=True, verbose=False
        )  # fmt: skip
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)])


def test_llama_cpp_with_the_converted_adapter_matches_transformers(pair, tmp_path):
    base_gguf, adapter, model = pair
    out = convert_lora(adapter, tmp_path / "adapter.gguf", model.base_model.model.config)
    ids = [1, 60, 70, 80, 90, 100, 110, 120]
    with torch.inference_mode():
        want = model(torch.tensor([ids])).logits[0].numpy()
        with model.disable_adapter():
            plain = model(torch.tensor([ids])).logits[0].numpy()
    got = llama_cpp_logits(base_gguf, ids, out)
    assert np.abs(want - plain).max() > 0.05  # the adapter changes the logits...
    np.testing.assert_allclose(got, want, atol=2e-3, rtol=1e-3)  # ...as llama.cpp applies it
    np.testing.assert_allclose(llama_cpp_logits(base_gguf, ids), plain, atol=2e-3, rtol=1e-3)


def test_an_adapter_with_full_weights_or_rslora_is_refused(pair, tmp_path):
    _, adapter, model = pair
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    (tmp_path / "rs").mkdir()
    (tmp_path / "rs" / "adapter_config.json").write_text(json.dumps({**cfg, "use_rslora": True}))
    (tmp_path / "rs" / "adapter_model.safetensors").write_bytes((adapter / "adapter_model.safetensors").read_bytes())  # fmt: skip
    with pytest.raises(LoraConversionError, match="rsLoRA"):
        convert_lora(tmp_path / "rs", tmp_path / "x.gguf", model.base_model.model.config)
    with pytest.raises(LoraConversionError, match="not a PEFT LoRA adapter"):
        convert_lora(tmp_path, tmp_path / "x.gguf", model.base_model.model.config)


def test_the_merged_model_computes_what_the_adapter_at_run_time_computes(pair, tmp_path):
    """`merged_gguf` folds the adapter into the base (its weights in Q8_0): llama.cpp on the merged
    file gives the logits of llama.cpp with the adapter applied at run time, within Q8_0's error;
    it is built once and found again by content."""
    from dialogue.lm.merge_gguf import MergeError, merged_gguf

    base_gguf, adapter, model = pair
    lora = convert_lora(adapter, tmp_path / "adapter.gguf", model.base_model.model.config)
    merged = merged_gguf(base_gguf, lora, out_dir=tmp_path / "cache")
    assert merged.parent == tmp_path / "cache" and not list(merged.parent.glob("*.part"))
    ids = [1, 60, 70, 80, 90, 100, 110, 120]
    at_run_time = llama_cpp_logits(base_gguf, ids, lora)
    got = llama_cpp_logits(merged, ids)
    plain = llama_cpp_logits(base_gguf, ids)
    assert np.abs(at_run_time - plain).max() > 0.05  # the adapter matters here...
    np.testing.assert_allclose(got, at_run_time, atol=0.03)  # ...and the merge keeps it
    mtime = merged.stat().st_mtime_ns
    assert merged_gguf(base_gguf, lora, out_dir=tmp_path / "cache").stat().st_mtime_ns == mtime
    other = gguf_from_llama(tiny_llama(N_VOCAB, hidden=32, seed=3), tmp_path / "other.gguf")
    with pytest.raises(MergeError, match="another base model|base"):
        merged_gguf(other, lora, out_dir=tmp_path / "cache2")
