"""Chat templates for language models that ship without one (base models such as Gemma-3-270m).

`ensure_chat_template(tokenizer)` leaves a tokenizer's own template alone; otherwise it sets
Gemma's turn format when the vocabulary has Gemma's turn tokens, else ChatML (whose two markers
it adds as special tokens: the caller must then resize the model's embeddings, and the returned
`added` says so). `stop_strings(tokenizer)` are the strings that end an assistant turn.
"""

from __future__ import annotations

from dataclasses import dataclass

from fusion.fuse import CHATML

# Gemma's turn format; a system message is folded into the first user turn, as Gemma 3 does.
GEMMA = (
    "{{ bos_token }}"
    "{% set ns = namespace(system='') %}"
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{% set ns.system = m['content'] + '\n\n' %}"
    "{% else %}"
    "<start_of_turn>{{ 'model' if m['role'] == 'assistant' else 'user' }}\n"
    "{% if m['role'] == 'user' %}{{ ns.system }}{% set ns.system = '' %}{% endif %}"
    "{{ m['content'] | trim }}<end_of_turn>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
GEMMA_TOKENS = ("<start_of_turn>", "<end_of_turn>")
CHATML_TOKENS = ("<|im_start|>", "<|im_end|>")


@dataclass(frozen=True)
class TemplateChoice:
    name: str  # "own", "gemma" or "chatml"
    added: int  # special tokens added to the vocabulary (resize the embeddings when > 0)


def _has(tokenizer, token: str) -> bool:
    ids = tokenizer.convert_tokens_to_ids(token)
    return ids is not None and ids != tokenizer.unk_token_id


def ensure_chat_template(tokenizer) -> TemplateChoice:
    if getattr(tokenizer, "chat_template", None):
        return TemplateChoice("own", 0)
    if all(_has(tokenizer, t) for t in GEMMA_TOKENS):
        tokenizer.chat_template = GEMMA
        return TemplateChoice("gemma", 0)
    added = tokenizer.add_special_tokens({"additional_special_tokens": list(CHATML_TOKENS)})
    tokenizer.chat_template = CHATML
    return TemplateChoice("chatml", int(added))


def stop_strings(tokenizer) -> tuple[str, ...]:
    """What ends the assistant's turn under this tokenizer's template."""
    template = getattr(tokenizer, "chat_template", "") or ""
    out = [t for t in ("<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|end|>") if t in template]
    # a base model may run on into the next turn instead of closing its own: stop there too
    out += [t for t in ("<start_of_turn>", "<|im_start|>") if t in template]
    if tokenizer.eos_token and tokenizer.eos_token not in out:
        out.append(tokenizer.eos_token)
    return tuple(out)
