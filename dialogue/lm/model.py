"""The dialogue language model behind one verb: `DialogueLM(model, tokenizer).generate(prompt) -> str`.

`stream(prompt)` is its twin: it yields the reply in pieces as tokens are produced. The decoding
loop is our own (not `model.generate`), so that streaming, stop strings and the KV cache are exact:

- text is decoded incrementally over a window of recent tokens and released only when it is
  whole, so a Chinese character spread over several byte tokens is never split;
- the reply ends at the first stop string (the chat template's end-of-turn, the tokenizer's EOS
  and `GenerationOptions.stop`), which is not part of the output; text that could be the start
  of a stop string is held back until it is clear that it is not;
- `generate` is `"".join(stream(...))`.

A conversation keeps its KV cache between turns (`lm.new_conversation()`): a prompt that begins
with the tokens of the previous prompt and reply encodes only what follows them; where it
departs earlier (history trimmed), the cache is cut back to the common prefix, or dropped.

Image soft tokens (fusion.projector): with a projector attached (`cca train` saves one beside
the adapter when the data had pictures, and `from_pretrained` loads it), `generate_fused(fused)`
projects `fused.images` into the prompt's placeholders; `takes_images` says whether it can.
Underneath it is `generate_embeds`:

    ids = lm.encode(fused.prompt)
    embeds = merge_image_embeddings(lm.embed(ids), torch.tensor([ids]), image_token_id,
                                    projector.project(fused.images))
    reply = lm.generate_embeds(embeds)

Loading by name (`DialogueLM.from_pretrained`) is resolved in dialogue.lm.load: local folders,
`packaged:gemma-3-270m` (offline) and hub names such as Qwen/Qwen2.5-1.5B-Instruct.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from dialogue.lm.decoding import (
    Conversation,
    GenerationOptions,
    GenerationStats,
    LMError,
    common_prefix,
    pick_token,
)
from dialogue.lm.load import load_adapter, load_pretrained, prepare_vocabulary
from dialogue.lm.template import stop_strings
from dialogue.lm.text import IncrementalDecoder, StopMatcher
from voice.device import choose_device

logger = logging.getLogger(__name__)
DEFAULT_OPTIONS = GenerationOptions()  # the verbs' default (frozen, so one instance serves all)


def _causal_lm(model):
    """The transformers model that runs the forward pass: for a peft model (LoRA not merged) its
    base model, into whose layers the adapters are injected."""
    try:
        from peft import PeftModel
    except ImportError:
        return model
    return model.get_base_model() if isinstance(model, PeftModel) else model


class DialogueLM:
    """A causal language model and its tokenizer (Hugging Face transformers, peft LoRA allowed).

    The tokenizer gets a chat template if it has none (dialogue.lm.template; the embeddings grow
    when that adds tokens). The model is moved to `device` (None: CUDA when present, else the
    CPU, logged) in `dtype` (None: bfloat16 on CUDA, float32 on the CPU). One sequence at a time.
    """

    streaming = True  # `stream` yields the reply as it is produced

    def __init__(self, model, tokenizer, device: str | torch.device | None = None, dtype=None):
        self.device = device if isinstance(device, torch.device) else choose_device(device)
        dtype = dtype or default_dtype(self.device)
        self.template = prepare_vocabulary(_causal_lm(model), tokenizer)
        self.model = model.to(device=self.device, dtype=dtype).eval()
        self.tokenizer = tokenizer
        self._net = _causal_lm(model)
        params = inspect.signature(type(self._net).forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"  # transformers 5.x
        self.max_positions = getattr(self._net.config, "max_position_embeddings", None) or 1 << 30
        self.stop_strings = stop_strings(tokenizer)
        eos = self._net.generation_config.eos_token_id if self._net.generation_config else None
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        specials = self._special_ids(self.stop_strings)
        self.stop_ids = frozenset({tokenizer.eos_token_id, *eos, *specials} - {None})
        probe = tokenizer("", add_special_tokens=True)["input_ids"]
        bos = tokenizer.bos_token_id
        self._bos = [bos] if bos is not None and probe[:1] == [bos] else []
        self.projector = None  # fusion.projector.ImageProjector, see attach_projector
        self.image_encoder = ""  # the encoder the projector was trained on

    @property
    def takes_images(self) -> bool:
        """True when image soft tokens can go in (a projector is attached)."""
        return self.projector is not None

    def attach_projector(self, projector, encoder: str = "") -> None:
        """Use `projector` for the pictures of fused inputs; `encoder` names the image encoder
        it was trained on (the screenshot reader must use the same)."""
        d_model = self._net.get_input_embeddings().embedding_dim
        if projector.config.d_model != d_model:
            raise ValueError(
                f"the projector gives {projector.config.d_model}-wide tokens and this model takes "
                f"{d_model}: it was trained for another model"
            )
        self.projector = projector.to(self.device).eval()
        self.image_encoder = encoder

    @classmethod
    def from_pretrained(
        cls,
        name: str,
        adapter: str | Path | None = None,
        merge: bool = False,
        device: str | None = None,
        dtype: torch.dtype | None = None,
    ) -> DialogueLM:
        """Load by name (see dialogue.lm.load.resolve_model), with a peft LoRA adapter folder on
        top (merged into the weights when `merge`). An adapter folder holding tokenizer files
        brings its own tokenizer (the one it was trained with)."""
        dev = choose_device(device)
        dtype = dtype or default_dtype(dev)
        model, tokenizer = load_pretrained(name, dtype=dtype)
        if adapter is not None:
            if (Path(adapter) / "tokenizer_config.json").is_file():
                from transformers import AutoTokenizer

                tokenizer = AutoTokenizer.from_pretrained(adapter)
                logger.info("tokenizer from the adapter folder %s", adapter)
            prepare_vocabulary(model, tokenizer)  # before the adapter, whose shapes follow it
            model = load_adapter(model, adapter, merge=merge)
        lm = cls(model, tokenizer, device=dev, dtype=dtype)
        if adapter is not None:
            from fusion.projector import ImageProjector

            if ImageProjector.exists(adapter):
                projector, encoder = ImageProjector.load(adapter)
                lm.attach_projector(projector.to(dtype=dtype), encoder)
                logger.info("image projector from %s (encoder %s)", adapter, encoder or "?")
        return lm

    # ------------------------------------------------------------ helpers

    def _special_ids(self, stops: Sequence[str]) -> set[int]:
        """Ids of the stop strings that are one special token: decoding hides those, so the loop
        stops on the id."""
        tok = self.tokenizer
        return {
            ids[0]
            for ids in (tok.encode(s, add_special_tokens=False) for s in stops)
            if len(ids) == 1 and not tok.decode(ids, skip_special_tokens=True)
        }

    def encode(self, prompt: str) -> list[int]:
        """The prompt's token ids; BOS is added when the tokenizer uses one and the prompt (a
        rendered chat template usually does) does not already begin with it."""
        ids = self.tokenizer.encode(prompt, add_special_tokens=False)
        return ids if ids[:1] == self._bos else self._bos + ids

    def embed(self, ids: Sequence[int]) -> torch.Tensor:
        """(1, len(ids), d_model) input embeddings, as the model computes them from ids."""
        with torch.inference_mode():
            t = torch.tensor([list(ids)], device=self.device)
            return self._net.get_input_embeddings()(t)

    def new_conversation(self) -> Conversation:
        return Conversation()

    # ------------------------------------------------------------ the verbs

    def generate(
        self,
        prompt: str,
        options: GenerationOptions = DEFAULT_OPTIONS,
        conversation: Conversation | None = None,
    ) -> str:
        return "".join(self.stream(prompt, options, conversation))

    def stream(
        self,
        prompt: str,
        options: GenerationOptions = DEFAULT_OPTIONS,
        conversation: Conversation | None = None,
    ) -> Iterator[str]:
        """Yield the reply to `prompt` (rendered with the chat template) in pieces as it is produced."""
        ids = self.encode(prompt)
        if not ids:
            raise ValueError(
                "the prompt is empty: render the messages with the chat template first"
            )
        self._check_length(len(ids))
        if conversation is not None and conversation.busy:
            raise RuntimeError("this conversation is still streaming a reply: finish or close that stream first")  # fmt: skip
        return self._loop(ids, None, options, conversation)

    def generate_fused(
        self,
        fused,
        options: GenerationOptions = DEFAULT_OPTIONS,
        conversation: Conversation | None = None,
    ) -> str:
        return "".join(self.stream_fused(fused, options, conversation))

    def stream_fused(
        self,
        fused,
        options: GenerationOptions = DEFAULT_OPTIONS,
        conversation: Conversation | None = None,
    ) -> Iterator[str]:
        """As `stream`, from a fusion.FusedInput: its pictures go in as soft tokens through the
        attached projector (a prompt with pictures runs without the conversation's KV cache)."""
        if not fused.images:
            return self.stream(fused.prompt, options, conversation)
        if self.projector is None:
            raise ValueError(
                "the fused input has image placeholders but this model has no projector: load an "
                "adapter trained with images, or fuse with FusionOptions(image_tokens=False)"
            )
        from fusion.projector import merge_image_embeddings

        ids = self.encode(fused.prompt)
        embeds = self.embed(ids)
        with torch.inference_mode():
            soft = self.projector.project(fused.images, self.device, embeds.dtype)
            token = self.tokenizer.convert_tokens_to_ids(fused.image_token)
            embeds = merge_image_embeddings(embeds, torch.tensor([ids], device=self.device), token, soft)  # fmt: skip
        return self.stream_embeds(embeds, options)

    def generate_embeds(
        self,
        inputs_embeds: torch.Tensor,
        options: GenerationOptions = DEFAULT_OPTIONS,
        attention_mask: torch.Tensor | None = None,
    ) -> str:
        return "".join(self.stream_embeds(inputs_embeds, options, attention_mask))

    def stream_embeds(
        self,
        inputs_embeds: torch.Tensor,
        options: GenerationOptions = DEFAULT_OPTIONS,
        attention_mask: torch.Tensor | None = None,
    ) -> Iterator[str]:
        """As `stream`, from input embeddings (1, seq, d_model) or (seq, d_model), such as
        `merge_image_embeddings` returns. One unpadded sequence: a mask, if given, is all ones."""
        embeds = inputs_embeds if inputs_embeds.dim() == 3 else inputs_embeds.unsqueeze(0)
        if embeds.dim() != 3 or embeds.shape[0] != 1 or embeds.shape[1] == 0:
            raise ValueError(f"inputs_embeds must be one sequence, (1, seq, d_model) or (seq, d_model); got {tuple(inputs_embeds.shape)}")  # fmt: skip
        if attention_mask is not None and not bool(attention_mask.bool().all()):
            raise ValueError("attention_mask has padding: pass one sequence without its padding")
        self._check_length(embeds.shape[1])
        param = next(self._net.parameters())
        return self._loop(None, embeds.to(param.device, param.dtype), options, None)

    # ------------------------------------------------------------ the decoding loop

    def _check_length(self, n: int) -> None:
        if n >= self.max_positions:
            raise ValueError(
                f"the prompt has {n} tokens and the model takes at most {self.max_positions}; "
                "trim the history (fusion.FusionOptions.max_input_tokens)"
            )

    def _plan(self, conv: Conversation | None, ids: list[int]):
        """(cache, tokens reused from it): the conversation's cache cut back to the longest
        prefix it shares with `ids` (one token is always left to encode), or a new cache."""
        from transformers import DynamicCache

        # No config given: every layer keeps all its keys (sliding-window layers too, masked by
        # the model), so the cache can always be cut back. Attention-only decoders.
        if conv is None:
            return DynamicCache(), 0
        n = min(common_prefix(conv.ids, ids), len(ids) - 1)
        if conv.cache is None or n == 0:
            conv.reset()
            conv.cache = DynamicCache()
        elif n < len(conv.ids):
            conv.cache.crop(n - len(conv.ids))
            del conv.ids[n:]
        conv.prefill_tokens += len(ids) - n
        conv.reused_tokens += n
        logger.debug("prompt: %d tokens, %d from the conversation cache", len(ids), n)
        return conv.cache, n

    def _forward(self, conv, cache, pos: int, ids=None, embeds=None) -> torch.Tensor:
        """Logits (vocab,) float32 after feeding `ids` (list) or `embeds` at position `pos`."""
        n = len(ids) if ids is not None else embeds.shape[1]
        kwargs = {self._cache_arg: cache}
        try:
            out = self._net(
                input_ids=torch.tensor([ids], device=self.device) if ids is not None else None,
                inputs_embeds=embeds,
                position_ids=torch.arange(pos, pos + n, device=self.device).unsqueeze(0),
                use_cache=True,
                logits_to_keep=1,
                **kwargs,
            )
        except BaseException as e:
            if conv is not None:
                conv.reset()  # the cache may hold part of this step
            if isinstance(e, torch.cuda.OutOfMemoryError):
                raise LMError(
                    f"out of GPU memory at {pos + n} tokens of context: shorten the prompt "
                    "or use a smaller model",
                    retryable=True,
                ) from e
            raise
        if conv is not None:
            conv.ids.extend(ids if ids is not None else [])
        return out.logits[0, -1].float()

    @torch.inference_mode()
    def _loop(self, ids, embeds, options: GenerationOptions, conv) -> Iterator[str]:
        t0 = time.perf_counter()
        if conv is not None:
            conv.busy = True
        reused = new = 0
        first_s, stopped_by = 0.0, "closed"
        try:
            if ids is not None:
                cache, reused = self._plan(conv, ids)
                logits = self._forward(conv, cache, reused, ids=ids[reused:])
                pos = len(ids)
            else:
                cache, _ = self._plan(None, [])
                logits = self._forward(None, cache, 0, embeds=embeds)
                pos = embeds.shape[1]
            gen = None
            if options.temperature > 0 and options.seed is not None:
                gen = torch.Generator(device=logits.device).manual_seed(options.seed)
            decoder = IncrementalDecoder(self.tokenizer)
            stops = StopMatcher(self.stop_strings + options.stop)
            stop_ids = self.stop_ids | self._special_ids(options.stop)
            limit = min(options.max_new_tokens, self.max_positions - pos)
            hit = False
            for step in range(limit):
                token = pick_token(logits, options, gen)
                new += 1
                first_s = first_s or time.perf_counter() - t0
                if token in stop_ids:
                    break
                text, hit = stops.push(decoder.push(token))
                if text:
                    yield text
                if hit or step + 1 == limit:
                    break
                logits = self._forward(conv, cache, pos, ids=[token])
                pos += 1
            stopped_by = "length" if new == limit and not hit and token not in stop_ids else "stop"
            if not hit:
                tail = stops.flush(decoder.flush())
                if tail:
                    yield tail
        finally:
            if conv is not None:
                conv.busy = False
                total = time.perf_counter() - t0
                conv.last = GenerationStats(len(ids), reused, new, first_s, total, stopped_by)


def default_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 on CUDA; float32 on the CPU, where the tiny models we run are exact and fast."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    logger.info("dtype=%s: %s", str(dtype).removeprefix("torch."), device.type)
    return dtype
