"""The llama.cpp engine behind the Generator seam: a tiny random GGUF model written from a
config, and (weights) the packaged Gemma-3-270m GGUF."""

from __future__ import annotations

import importlib.util

import pytest

from dialogue.lm.decoding import GenerationOptions
from dialogue.lm.generator import Generator
from tests.gguf_fixture import tiny_gguf

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="needs llama-cpp-python (the llama extra)"
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from dialogue.lm.llama_cpp import LlamaCppGenerator, LlamaCppOptions

    path = tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")
    return LlamaCppGenerator.from_pretrained(
        str(path), options=GenerationOptions(max_new_tokens=8), engine=LlamaCppOptions(n_ctx=256)
    )


def test_a_tiny_model_speaks_through_the_seam(tiny):
    assert isinstance(tiny, Generator) and tiny.name.startswith("llama.cpp:")
    whole = tiny.generate("Where is my order W2611340? 我的订单在哪里？")
    assert isinstance(whole, str) and 1 <= tiny.last.new_tokens <= 8
    pieces = list(tiny.stream("Where is my order W2611340? 我的订单在哪里？"))
    assert "".join(pieces) == whole  # greedy: the same reply, whole or streamed


def test_the_conversation_cache_is_reused(tiny):
    tiny.llm.reset()
    first = "Customer: hello\nAgent:"
    tiny.generate(first)
    assert tiny.last.reused_tokens == 0
    n_first = tiny.last.prompt_tokens
    tiny.generate(first + " hi\nCustomer: where is my parcel?\nAgent:")
    assert tiny.last.reused_tokens >= n_first - 1  # only the new turn is evaluated
    tiny.llm.reset()
    tiny.generate("something else entirely")
    assert tiny.last.reused_tokens <= 1


def test_a_prompt_over_the_context_says_how_to_fix_it(tiny):
    from dialogue.lm.llama_cpp import LlamaCppError

    with pytest.raises(LlamaCppError, match="over the 256-token context"):
        tiny.generate("order " * 400)


def test_a_missing_model_file_says_what_it_takes(tmp_path):
    from dialogue.lm.llama_cpp import LlamaCppError, LlamaCppGenerator

    with pytest.raises(LlamaCppError, match="packaged:gemma-3-270m"):
        LlamaCppGenerator.from_pretrained(str(tmp_path / "nope.gguf"))
    with pytest.raises(LlamaCppError, match="LoRA adapter"):
        LlamaCppGenerator.from_pretrained(str(tiny_gguf(tmp_path / "t.gguf")), lora=tmp_path / "x")


@pytest.mark.weights
def test_the_packaged_gemma_stops_at_the_end_of_its_turn():
    from dialogue.lm.llama_cpp import LlamaCppGenerator

    gen = LlamaCppGenerator.from_pretrained(
        "packaged:gemma-3-270m", options=GenerationOptions(max_new_tokens=48)
    )
    prompt = "<start_of_turn>user\nSay hello.<end_of_turn>\n<start_of_turn>model\n"
    reply = gen.generate(prompt)
    assert "<end_of_turn>" not in reply and "<start_of_turn>" not in reply
    assert gen.last.prompt_tokens > 5 and gen.last.new_tokens <= 48


def test_a_prefill_reads_the_next_prompts_start_between_turns(tiny):
    """`prefill` reads the conversation so far in the background; the next reply then reads
    only its new turn, and says what it would have said without it."""
    import time

    tiny.llm.reset()
    history = "Customer: hello\nAgent: hi, how can I help?\nCustomer:"
    prompt = history + " where is my parcel?\nAgent:"
    want = tiny.generate(prompt)
    tiny.llm.reset()
    tiny.prefilled = 0
    tiny.prefill(history)
    deadline = time.monotonic() + 10
    while not tiny.prefilled and time.monotonic() < deadline:
        time.sleep(0.01)
    n = tiny.prefilled
    assert n == len(tiny._tokens(history))
    assert tiny.generate(prompt) == want
    assert tiny.last.reused_tokens >= n - 1  # the history was read before the turn came


class _ScriptedLlama:
    """Just enough of `llama_cpp.Llama` to play a fixed reply token by token, recording each
    thread setting and the piece it came before (unit test of the thread switch alone)."""

    def __init__(self, words: list[str]):
        self.words = words  # token i is words[i]; the last id is the end of text
        self.input_ids, self.n_tokens = [], 0
        self.log: list[tuple] = []
        ctx = type("Ctx", (), {})()
        ctx.set_n_threads = lambda n, nb: self.log.append(("threads", n, nb))
        self._ctx = ctx

    def n_ctx(self):
        return 512

    def token_bos(self):
        return -1

    def token_eos(self):
        return len(self.words)

    def set_seed(self, seed):
        pass

    def tokenize(self, text, add_bos=False, special=True):
        return [0]

    def detokenize(self, ids, special=True):
        return "".join(self.words[i] for i in ids if i < len(self.words)).encode()

    def generate(self, tokens, **_):
        for i in range(len(self.words) + 1):
            self.log.append(("token", i))
            yield i


def test_a_streamed_reply_leaves_the_voice_its_cores_once_a_clause_is_out():
    from dialogue.lm.llama_cpp import LlamaCppGenerator

    words = ["Sure", ",", " I", " can", " help", "."]
    llm = _ScriptedLlama(words)
    gen = LlamaCppGenerator(llm, GenerationOptions(max_new_tokens=20), threads=(2, 2, 1))
    assert "".join(gen.stream("hi")) == "Sure, I can help."
    log = llm.log
    # all cores for the first clause; one from the token after the comma; all again at the end
    assert log[0] == ("threads", 2, 2)
    switch = log.index(("threads", 1, 2))
    assert log[switch - 1] == ("token", 1) and log[switch + 1] == ("token", 2)
    assert log[-1] == ("threads", 2, 2)
    llm.log.clear()
    assert gen.generate("hi") == "Sure, I can help."  # not streamed: no switch
    assert ("threads", 1, 2) not in llm.log


def test_the_engine_starts_generating_on_every_thread_asked(tiny):
    import llama_cpp

    n, batch, later = tiny.threads
    assert later == n and batch == n  # no switch unless LlamaCppOptions.stream_threads asks
    list(tiny.stream("Where is my order? 我的订单在哪里？"))
    assert llama_cpp.llama_n_threads(tiny.llm._ctx.ctx) == n  # set back after a streamed reply
