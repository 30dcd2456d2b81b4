"""The agent's words: deterministic English and Chinese templates, and the check that a language
model's draft may be sent instead.

The dialogue policy decides what to say (a `Decision` with a template key and slots); a language
model may phrase it more naturally, but its draft is sent only if it is non-empty, short enough,
in the customer's language, and promises nothing that no tool did this turn (the promises of
`guard.PROMISES`: money back, a discount, a cancellation, a date) unless an action of that kind
succeeded or the facts given to it say so. Otherwise the template is sent. The agent never says
it did something it did not do. The core's templates are generic; a domain pack's own come from
its [templates] file (`DomainPack.reply_templates`).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from pathlib import Path

from dialogue.domain.pack import DomainError, DomainPack
from dialogue.paths import default_domain
from dialogue.policy.guard import PROMISES, DraftContext, check_draft
from dialogue.types import Action, Decision

logger = logging.getLogger(__name__)

# the core's replies: generic ones, and those the core itself says (an error, a handover, a
# knowledge answer, an opening). A pack's [templates] file gives its own and says any of these
# in its words (`templates`): the sample shop's ask for an order, say its status, and so on.
TEMPLATES: dict[str, dict[str, str]] = {
    "greeting": {
        "en": "Hello! How can I help you today?",
        "zh": "您好！请问有什么可以帮您？",
    },
    "goodbye": {"en": "Thank you for contacting us. Goodbye!", "zh": "感谢您的来电，再见！"},
    "ask_auth": {
        "en": "Before I can look at your account, I need to verify who you are. What are the details on your account?",
        "zh": "在查看您的账户之前，我需要先核实您的身份。请提供您账户上登记的信息。",
    },
    "auth_failed": {
        "en": "I could not find an account with {what}. Could you check it?",
        "zh": "没有找到与{what}对应的账户。请核对一下。",
    },
    "authenticated": {
        "en": "Thank you, {name}, I have found your account. {next}",
        "zh": "谢谢您，{name}，已找到您的账户。{next}",
    },
    "confirm_action": {
        "en": "{summary} Shall I go ahead? Please answer yes or no.",
        "zh": "{summary} 请问是否确认办理？请回答“是”或“否”。",
    },
    "ask_yes_no": {
        "en": "Sorry, I need a clear yes or no first: {summary}",
        "zh": "抱歉，我需要您先明确回答“是”或“否”：{summary}",
    },
    "action_done": {
        "en": "Done: {outcome}",
        "zh": "已为您办理完成：{outcome}",
    },
    "action_dropped": {
        "en": "All right, I have not changed anything. Is there anything else I can do?",
        "zh": "好的，我没有做任何更改。还有什么可以帮您？",
    },
    "action_refused": {
        "en": "I'm sorry, I can't do that: {why}",
        "zh": "抱歉，这个操作无法办理：{why}",
    },
    "kb_answer": {"en": "{answer}", "zh": "{answer}"},
    "kb_answer_quoted": {  # the passage is in another language than the customer's
        "en": "Here is what our rules say: {answer}",
        "zh": "以下是我们相关规定的原文：{answer}",
    },
    "kb_answer_pending": {  # a rule question while a write waits for a yes: answer, ask again
        "en": "{answer}\n\nAbout your request: {summary} Shall I go ahead? Please answer yes or no.",
        "zh": "{answer}\n\n关于您的申请：{summary} 请问是否确认办理？请回答“是”或“否”。",
    },
    "offer_help": {
        "en": "What would you like me to do for you?",
        "zh": "请问您需要我为您办理什么？",
    },
    "kb_none": {
        "en": "I'm not sure about that. Would you like me to connect you to a colleague?",
        "zh": "这个问题我不太确定。需要我为您转接人工客服吗？",
    },
    "clarify": {
        "en": "Sorry, I didn't quite get that. Could you tell me a bit more about what you need?",
        "zh": "抱歉，我没有完全理解。能再具体说一下您需要什么帮助吗？",
    },
    "out_of_scope": {
        "en": "I'm sorry, I can't help with that here. I can connect you to a colleague.",
        "zh": "抱歉，这超出了我能处理的范围。我可以为您转接人工客服。",
    },
    "handoff": {
        "en": "I'm connecting you to a colleague now; they will see everything we have said. {why}",
        "zh": "正在为您转接人工客服，他们会看到我们之前的全部对话。{why}",
    },
    "stage_error": {
        "en": "Sorry, something went wrong on our side while {stage}. Could you say that again, or type it?",
        "zh": "抱歉，我们这边在{stage}时出了点问题。能请您再说一遍或者打字告诉我吗？",
    },
    # openings: said before a reply, named by its decision's "opening" slot
    "ack_upset": {
        "en": "I'm sorry about this, and I understand how frustrating it is.",
        "zh": "非常抱歉给您带来这样的麻烦，我理解这有多让人沮丧。",
    },
    "ack_trouble": {"en": "I'm sorry to hear that.", "zh": "很抱歉给您带来不便。"},
    "ack_help": {"en": "Of course, I'm happy to help.", "zh": "好的，很乐意为您服务。"},
    "ack_dropped": {"en": "All right, I won't do that.", "zh": "好的，那就不办理了。"},
    # a domain pack's reply, rendered from its own templates (dialogue.policy.declared)
    "pack": {"en": "{answer}", "zh": "{answer}"},
}


# templates that already say sorry: an upset customer hears no second apology before them
APOLOGETIC = {"out_of_scope", "action_refused", "clarify", "stage_error", "offer_help"}

SPOKEN_FROM = 3  # a list of fewer items is read out as written


@functools.lru_cache(maxsize=4)
def _pack_replies(folder: Path) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    try:
        return DomainPack.load(folder).reply_templates()
    except DomainError as e:
        logger.warning("the core's replies alone: %s", e)
        return {}, {}


def templates() -> dict[str, dict[str, str]]:
    """Every reply: the core's, with the default pack's ([templates] file, `default_domain`)
    over them. Its decisions name them by key (`Decision.template`)."""
    return {**TEMPLATES, **_pack_replies(default_domain())[0]}


def spoken_templates() -> dict[str, dict[str, str]]:
    """The replies said aloud otherwise than written: the default pack's [spoken.key] tables,
    for a list no caller can hold ("You have 4 orders: ...")."""
    return _pack_replies(default_domain())[1]


def render_spoken(key: str, language: str, slots: dict | None = None) -> str:
    """The reply as said aloud when it differs from the written one, else ""."""
    slots = slots or {}
    spoken = spoken_templates()
    if key not in spoken or int(slots.get("count") or 0) < SPOKEN_FROM:
        return ""
    text = (spoken[key].get(language) or spoken[key]["en"]).format_map(_Slots(slots))
    if slots.get("opening"):
        text = render(slots["opening"], language) + ("" if language == "zh" else " ") + text
    return text.strip()


def render(key: str, language: str, slots: dict | None = None) -> str:
    """The template `key` in `language` (English when it has none) with `slots` filled in (a
    missing one says nothing), after its opening when the slots name one."""
    table = templates()
    if key not in table:
        raise KeyError(f"no reply template {key!r}; templates: {sorted(table)}")
    slots = slots or {}
    text = (table[key].get(language) or table[key]["en"]).format_map(_Slots(slots))
    if slots.get("opening"):
        gap = "" if language == "zh" else " "
        text = render(slots["opening"], language) + gap + text.strip()
    return text.strip()


class _Slots(dict):
    def __missing__(self, key: str) -> str:
        return ""


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def render_marked(key: str, language: str, slots: dict | None = None) -> str:
    """The template as the dialogue model is shown it: each slot the decision fills kept as its
    `{name}`, so the model writes the words and the code writes the ids, amounts and passages
    (`fill`); a 270M model copies "#W4817420" or "$742.53" wrong often enough to matter."""
    slots = {k: v for k, v in (slots or {}).items() if v not in (None, "")}
    marks = {k: "{" + k + "}" for k in slots if k != "opening"}
    text = render(key, language, {**marks, **({"opening": slots["opening"]} if "opening" in slots else {})})  # fmt: skip
    return text


def fill(draft: str, slots: dict | None) -> str:
    """The model's draft with each `{name}` it used replaced by the decision's value; a name the
    decision does not have stays, and the guard rejects the draft for it."""
    slots = slots or {}
    return _PLACEHOLDER.sub(
        lambda m: str(slots[m[1]]) if slots.get(m[1]) not in (None, "") else m[0], draft
    )


def delexicalize(text: str, slots: dict | None) -> str:
    """The reverse of `fill`, for training targets: each slot value said in `text` becomes its
    `{name}` (longest values first, so an order id inside a summary stays the summary's)."""
    pairs = [(k, str(v)) for k, v in (slots or {}).items() if k != "opening" and v not in (None, "")]  # fmt: skip
    for name, value in sorted(pairs, key=lambda kv: -len(kv[1])):
        if len(value) >= 2 and value in text:
            text = text.replace(value, "{" + name + "}")
    return text


_NEGATED = re.compile(
    r"(?:\bnot?\b|n't|cannot|unable|\bno\b|不|无法|没有|未)[^.!?。！？]{0,40}$", re.IGNORECASE
)
_PERSONAL = re.compile(
    r"#?\bW\d{7}\b|[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.IGNORECASE
)  # a customer's order id or email address: no FAQ should hold one
_FOR_STAFF = re.compile(  # a procedure or a log for the staff, not words for a customer
    r"\bthe (?:customer|agent|user|member)s?\b|\bif (?:the )?user\b|\[[A-Z][^\]]{0,30}\]"
    r"|\bclick\b|copy/paste|\bend the conversation|\b(?:agent|customer|action),\s"
    r"|\b(?:speaker|delexed|scenario)\b\s*[:.]",
    re.IGNORECASE,
)
_RECORD = re.compile(r"\b[a-z]+_[a-z0-9_]+\b|\b\w+\.\w+:")  # snake_case keys, dotted fields


def quote_risk(passage: str) -> str:
    """ "" when a knowledge passage may be read out to a customer word for word, else why not:
    it reads like an instruction to the agent, promises what no tool grants (a discount or
    compensation, not negated), or holds an order id or email address (someone's data). Anyone
    who can edit the knowledge base could otherwise speak through the agent. A procedure written
    for the staff ("ask the customer for ...", "[Pull up Account]"), a chat log or a data record
    is not said either: it answers no customer."""
    from fusion.fuse import looks_like_instruction

    if looks_like_instruction(passage):
        return "reads like an instruction"
    staff = _FOR_STAFF.search(passage)
    if staff:
        return f"is written for the staff ({staff.group(0).strip()!r})"
    if len(_RECORD.findall(passage)) >= 3 or sum(c.isalpha() for c in passage) < 0.6 * len(
        "".join(passage.split())
    ):
        return "is a data record, not prose"
    for m in PROMISES["discount"].finditer(passage):
        if not _NEGATED.search(passage[: m.start()]):
            return f"promises {m.group(0).strip()!r}"
    if _PERSONAL.search(passage):
        return "holds an order id or an email address"
    return ""


def phrase(
    decision: Decision,
    language: str,
    actions: Sequence[Action] = (),
    draft: str | None = None,
    facts: str = "",
    customer: str = "",
    prompt: str = "",
) -> tuple[str, str]:
    """(reply, source): the model's draft, its `{slot}` marks filled (`fill`), when
    `guard.check_draft` lets it through, else the template, with source "template (WHY)"."""
    template = render(decision.template, language, decision.slots)
    if draft is not None:
        draft = fill(draft, decision.slots)
        context = DraftContext(decision, language, template, actions, facts, customer, prompt)
        why = check_draft(draft, context)
        if not why:
            return draft.strip(), "model"
        return template, f"template ({why})"
    return template, "template"
