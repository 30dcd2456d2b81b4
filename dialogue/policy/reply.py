"""The agent's words: deterministic English and Chinese templates, and the check that a language
model's draft may be sent instead.

The dialogue policy decides what to say (a `Decision` with a template key and slots); a language
model may phrase it more naturally, but its draft is sent only if it is non-empty, short enough,
in the customer's language, and promises nothing that no tool did this turn (the core's
`guard.PROMISES`: a discount, a cancellation, a date; and the pack's [promises], the sample
shop's money back and returns) unless an action of that kind succeeded or the facts given to it
say so. Otherwise the template is sent. The agent never says it did something it did not do.
The core's templates are generic; a domain pack's own come from its [templates] file
(`DomainPack.reply_templates`). `Replies` holds the serving pack's, handed to the Agent in its
services (`AgentServices.replies`); a call given none says the default pack's.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dialogue.domain.pack import DomainError, DomainPack, Words
from dialogue.paths import default_domain
from dialogue.policy.guard import PROMISES, DraftContext, Promise, check_draft, promises_of
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


@dataclass(frozen=True, eq=False)
class Replies:
    """What the agent of one pack says and may promise: every reply (the core's `TEMPLATES` with
    the pack's [templates] over them), the forms said aloud ([spoken.key]), and the promises the
    guard holds a model's draft to (`guard.promises_of`). Built once per pack (`of`) and handed
    to the Agent in its services; a call given none uses the default pack's (`default_replies`)."""

    templates: Mapping[str, Words]  # key -> language -> text; decisions name them by key
    spoken: Mapping[str, Words] = field(default_factory=dict)  # key -> language -> text
    # kind -> (pattern, tools), as `guard.promises_of` gives them; None: the default pack's,
    # read when a draft is judged (`guard.promises`)
    promises: Mapping[str, Promise] | None = None

    @classmethod
    def of(cls, pack: DomainPack) -> Replies:
        """The pack's; DomainError names its file and the fix."""
        written, spoken = pack.reply_templates()
        return cls({**TEMPLATES, **written}, spoken, promises_of(pack))


@functools.lru_cache(maxsize=4)
def _default_replies(folder: Path) -> Replies:
    try:
        written, spoken = DomainPack.load(folder).reply_templates()
    except DomainError as e:
        logger.warning("the core's replies alone: %s", e)
        written, spoken = {}, {}
    return Replies({**TEMPLATES, **written}, spoken)


def default_replies() -> Replies:
    """The replies of the default pack (`dialogue.paths.default_domain`): what a call given no
    `Replies` says."""
    return _default_replies(default_domain())


def templates(replies: Replies | None = None) -> Mapping[str, Words]:
    """Every reply: the core's, with the pack's ([templates] file) over them; the default pack's
    when `replies` is None. Its decisions name them by key (`Decision.template`)."""
    return (replies or default_replies()).templates


def spoken_templates(replies: Replies | None = None) -> Mapping[str, Words]:
    """The replies said aloud otherwise than written: the pack's [spoken.key] tables (the
    default pack's when `replies` is None), for a list no caller can hold ("You have 4 orders:
    ...")."""
    return (replies or default_replies()).spoken


def render_spoken(
    key: str, language: str, slots: dict | None = None, replies: Replies | None = None
) -> str:
    """The reply as said aloud when it differs from the written one, else ""."""
    slots = slots or {}
    spoken = spoken_templates(replies)
    if key not in spoken or int(slots.get("count") or 0) < SPOKEN_FROM:
        return ""
    text = (spoken[key].get(language) or spoken[key]["en"]).format_map(_Slots(slots))
    if slots.get("opening"):
        opening = render(slots["opening"], language, replies=replies)
        text = opening + ("" if language == "zh" else " ") + text
    return text.strip()


def render(
    key: str, language: str, slots: dict | None = None, replies: Replies | None = None
) -> str:
    """The template `key` of `replies` (the default pack's when None) in `language` (English when
    it has none) with `slots` filled in (a missing one says nothing), after its opening when the
    slots name one."""
    table = templates(replies)
    if key not in table:
        raise KeyError(f"no reply template {key!r}; templates: {sorted(table)}")
    slots = slots or {}
    text = (table[key].get(language) or table[key]["en"]).format_map(_Slots(slots))
    if slots.get("opening"):
        gap = "" if language == "zh" else " "
        text = render(slots["opening"], language, replies=replies) + gap + text.strip()
    return text.strip()


class _Slots(dict):
    def __missing__(self, key: str) -> str:
        return ""


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def render_marked(
    key: str, language: str, slots: dict | None = None, replies: Replies | None = None
) -> str:
    """The template as the dialogue model is shown it: each slot the decision fills kept as its
    `{name}`, so the model writes the words and the code writes the ids, amounts and passages
    (`fill`); a 270M model copies "#W4817420" or "$742.53" wrong often enough to matter."""
    slots = {k: v for k, v in (slots or {}).items() if v not in (None, "")}
    marks = {k: "{" + k + "}" for k in slots if k != "opening"}
    text = render(key, language, {**marks, **({"opening": slots["opening"]} if "opening" in slots else {})}, replies)  # fmt: skip
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
    replies: Replies | None = None,
) -> tuple[str, str]:
    """(reply, source): the model's draft, its `{slot}` marks filled (`fill`), when
    `guard.check_draft` lets it through, else the template of `replies` (the default pack's when
    None), with source "template (WHY)"."""
    template = render(decision.template, language, decision.slots, replies)
    promised = replies.promises if replies is not None else None
    context = DraftContext(decision, language, template, actions, facts, customer, prompt, promised)
    return judge(draft, context)


def judge(draft: str | None, context: DraftContext) -> tuple[str, str]:
    """(reply, source) for a draft of `context`'s turn: the draft, its marks filled, when the
    guard lets it through ("model"), else the context's template ("template (WHY)"), or the
    template alone when there is no draft ("template")."""
    if draft is None:
        return context.template, "template"
    draft = fill(draft, context.decision.slots)
    why = check_draft(draft, context)
    if not why:
        return draft.strip(), "model"
    return context.template, f"template ({why})"
