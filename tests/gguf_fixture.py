"""Tiny llama.cpp models written as GGUF files: a Hugging Face Llama's weights (random, from a
config) under the llama architecture, with a byte-level SentencePiece vocabulary that tokenizes
any text. The same weights in both engines let a test compare them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SPECIALS = ("<unk>", "<s>", "</s>", "<end_of_turn>")
N_VOCAB = len(SPECIALS) + 256


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def gguf_from_llama(model, path: Path) -> Path:
    """Write a transformers LlamaForCausalLM (vocabulary of N_VOCAB) as a llama.cpp GGUF file."""
    import gguf

    c = model.config
    assert c.vocab_size == N_VOCAB, f"the byte vocabulary has {N_VOCAB} tokens"
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_context_length(512)
    w.add_embedding_length(c.hidden_size)
    w.add_block_count(c.num_hidden_layers)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    w.add_rope_dimension_count(c.hidden_size // c.num_attention_heads)
    w.add_rope_freq_base(float(getattr(c, "rope_theta", None) or 10000.0))
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("llama")
    w.add_token_list([s.encode() for s in SPECIALS] + [f"<0x{b:02X}>".encode() for b in range(256)])
    w.add_token_scores([0.0] * N_VOCAB)
    w.add_token_types([gguf.TokenType.UNKNOWN] + [gguf.TokenType.CONTROL] * 3 + [gguf.TokenType.BYTE] * 256)  # fmt: skip
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)
    w.add_add_space_prefix(False)
    w.add_tensor("token_embd.weight", sd["model.embed_tokens.weight"])
    w.add_tensor("output_norm.weight", sd["model.norm.weight"])
    w.add_tensor("output.weight", sd.get("lm_head.weight", sd["model.embed_tokens.weight"]))
    for i in range(c.num_hidden_layers):
        p = f"model.layers.{i}."
        w.add_tensor(f"blk.{i}.attn_norm.weight", sd[p + "input_layernorm.weight"])
        w.add_tensor(f"blk.{i}.ffn_norm.weight", sd[p + "post_attention_layernorm.weight"])
        w.add_tensor(f"blk.{i}.attn_q.weight", _permute(sd[p + "self_attn.q_proj.weight"], c.num_attention_heads))  # fmt: skip
        w.add_tensor(f"blk.{i}.attn_k.weight", _permute(sd[p + "self_attn.k_proj.weight"], c.num_key_value_heads))  # fmt: skip
        w.add_tensor(f"blk.{i}.attn_v.weight", sd[p + "self_attn.v_proj.weight"])
        w.add_tensor(f"blk.{i}.attn_output.weight", sd[p + "self_attn.o_proj.weight"])
        w.add_tensor(f"blk.{i}.ffn_gate.weight", sd[p + "mlp.gate_proj.weight"])
        w.add_tensor(f"blk.{i}.ffn_up.weight", sd[p + "mlp.up_proj.weight"])
        w.add_tensor(f"blk.{i}.ffn_down.weight", sd[p + "mlp.down_proj.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def tiny_gguf(path: Path, seed: int = 0) -> Path:
    """A two-layer llama with random weights (tests.conftest.tiny_llama) as a GGUF file."""
    from tests.conftest import tiny_llama

    return gguf_from_llama(tiny_llama(N_VOCAB, hidden=64, seed=seed), path)
