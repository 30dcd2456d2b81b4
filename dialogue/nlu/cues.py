"""What a turn says about the conversation itself, read from cue lists per language: a request for
a person, a question about the shop's rules, a vague opening, the tasks it names and the tasks it
says no to ("no, I don't want to cancel", "不是要取消").

The intent model reads what a turn is about; these cues read how it is meant, where the model is
weakest (a question about refunds is not a refund request; "not cancel" is not a cancel). They
are data: `CUES` (act -> language -> patterns) and `TASK_CUES` (intent -> language -> the words
that name it), compiled once and read by `read_cues(text, entities) -> Cues`. Both languages'
cues apply to every turn, so a mixed turn ("转人工 please") is read too. A cue counts only when
no negation governs it in its own clause ("I don't want to talk to a human" asks for no one).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

CUES: dict[str, dict[str, tuple[str, ...]]] = {
    "person": {  # an explicit request for a person: hand over at once
        "en": (
            r"\b(?:talk|speak|chat)(?:ing)? (?:to|with) (?:a |an |some |your |the )?(?:real |live |actual )?(?:human|person|people|agent|representative|rep|operator|someone|somebody|manager|supervisor)\b",
            r"\b(?:real|live|actual) (?:person|human|agent)\b",
            r"\bhuman (?:agent|being|please)\b",
            r"\bget me (?:a |an |your )?(?:human|person|agent|representative|manager|supervisor|someone|somebody)\b",
            r"\b(?:transfer|connect|put) me (?:to|through|with)\b",
            r"\bi (?:just |only )?want (?:a |an |to (?:talk|speak) to )?(?:human|person|agent|representative|manager)\b",
        ),
        "zh": (
            "转人工", "人工客服", "人工服务", "人工坐席", "找人工", "要人工", "真人", "转接客服",
            "找客服", r"找(?:你们的?)?(?:经理|主管|负责人)", "接线员",
        ),
    },
    "negation": {  # said just before a cue, in its clause, it says no to it (anchored at the end)
        "en": (
            r"\b(?:don['’]?t|do not|didn['’]?t|did not|not|never|no need to|won['’]?t)\s+"
            r"(?:(?:really|actually|even)\s+)?(?:(?:want|wanna|need|mean|meant|trying|try|going|"
            r"like|wish|asking|ask|looking)\s+(?:to\s+|for\s+)?)?(?:(?:to|an?|the|my|it|this|that)\s+)?$",
        ),
        "zh": (r"(?:不是|不要|不用|不想|不需要|别|并不|没想|没有要)(?:要|想|去|是|帮我|给我|再)?$",),
    },
    "unwanted": {  # anywhere before a cue in its clause, it says no to the whole clause
        "en": (r"\b(?:don['’]?t|do not|never)\s+(?:really\s+)?(?:want|wanna|need|wish)\s+to\b",),
        "zh": ("不想", "不要", "不用", "不需要", "没想"),
    },
    "question": {
        "en": (r"\?", r"(?:^|[.!?]\s+)(?:how|what|when|which|can|could|do|does|is|are|will|would|should|may)\b"),
        "zh": (r"[？?吗么呢]", "多久", "多长时间", "几天", "怎么", "怎样", "如何", "什么", "能不能", "可不可以", "能否", "是否", "有没有"),
    },
    "general": {  # the question is about a rule, not about one order
        "en": (
            r"\bhow long\b", r"\bhow many (?:business |working )?days\b", r"\bhow soon\b",
            r"\bhow quickly\b", r"\bwhen (?:will|do|does|would|can) (?:i|you|we|it|they) (?:get|see|receive)\b",
            r"\bpolic(?:y|ies)\b", r"\brules?\b", r"\bin general\b", r"\bgenerally\b",
            r"\busually\b", r"\bnormally\b", r"\btypically\b", r"\bonce\b",
            r"\bafter (?:it|an?|the|i|they)\b", r"\bif (?:i|an?|the|it|they)\b", r"\bstill\b",
            r"\bdo you (?:offer|accept|allow|charge|take|ship)\b", r"\bis it possible\b",
            r"\bwhat happens\b", r"\ballowed\b", r"\bdo (?:i|we) (?:need|have) to\b",
            r"\bwhere (?:does|do|will) (?:the |a |my )?(?:refund|money)s? go\b",
        ),
        "zh": ("一般", "通常", "多久", "多长时间", r"几个?工作日", "几天", "政策", "规定", "规则", "之后", "以后", "后还", "如果", "的话", "到账", "允许", "还能", "还可以", r"已经.{0,8}的(?:订单|商品)", "需不需要", "要不要", "必须", r"(?:退款|钱)会?退到哪"),
    },
    "topic": {  # the shop's business: a rule question must be about it
        "en": (
            r"\brefund", r"\breturn", r"\bcancel", r"\border", r"\bship", r"\bdeliver",
            r"\bexchange", r"\bpay", r"\bgift card", r"\bcard\b", r"\bpaypal\b", r"\baddress",
            r"\bitems?\b", r"\bmoney\b", r"\bprice", r"\bsize\b", r"\bcolou?r\b", r"\bmodif",
        ),
        "zh": ("退款", "退货", "取消", "订单", "发货", "配送", "快递", "换货", "支付", "付款", "礼品卡", "信用卡", "地址", "商品", "钱", "到账", "修改", "尺码", "颜色"),
    },
    "personal": {  # one order of theirs: a task, not a rule
        "en": (r"\b(?:my|this|that) (?:order|package|parcel|delivery|shipment)s?\b", r"\border (?:number|id)\b"),
        "zh": (r"我的(?:订单|快递|包裹|货)", "这个订单", "这单", "那个订单", "订单号"),
    },
    "trouble": {  # a problem, not yet said which
        "en": (r"\b(?:problem|issue|trouble)s?\b", r"\bsomething(?:['’]s| is)? wrong\b", r"\bnot right\b", r"\bnot working\b", r"\bwent wrong\b", r"\b(?:not happy|unhappy|disappointed) with\b"),
        "zh": ("问题", "不对劲", "出了点", "出错", "不太对", "不满意"),
    },
    "settled": {  # no problem after all: not a vague opening
        "en": (r"\bno (?:other |more |further )?(?:problems?|issues?|questions?)\b", r"\bnot a problem\b"),
        "zh": (r"没(?:有)?(?:别的|其他|什么)?问题", "没事"),
    },
    "help": {  # a request for help, not yet said with what
        "en": (r"\bhelp\b", r"\bquestion\b", r"\bassist", r"\bsupport\b", r"\bconcern\b"),
        "zh": ("帮忙", "帮助", "帮帮", "咨询", "请教", "麻烦"),
    },
}  # fmt: skip

TASK_CUES: dict[str, dict[str, tuple[str, ...]]] = {  # the words that name a task
    "order_status": {
        "en": (r"\bwhere(?:['’]s| is| are)?\b", r"\btrack(?:ing)?\b", r"\bstatus\b", r"\barriv", r"\bshipped\b"),
        "zh": ("到哪", "在哪", "哪里了", "物流", "快递到", "状态", "到了没", "还没到", "什么时候到", "发货了吗"),
    },
    "cancel_order": {"en": (r"\bcancel",), "zh": ("取消", "撤销")},
    "return_item": {"en": (r"\breturn", r"\bsend (?:\w+ ){0,2}back\b"), "zh": ("退货", "退掉", "退回去")},
    "exchange_item": {"en": (r"\bexchange", r"\bswap", r"\breplace"), "zh": ("换货", "换成", "换一个", "调换", "更换")},
    "change_address": {"en": (r"\baddress",), "zh": ("地址",)},
    "refund_status": {"en": (r"\brefund", r"\bmoney back\b"), "zh": ("退款", "退钱", "到账")},
    "change_payment": {"en": (r"\bpayment method", r"\bpay (?:with|by)\b"), "zh": ("支付方式", "付款方式")},
    "payment_issue": {"en": (r"\bpayment", r"\bcharged?\b", r"\bbilling\b", r"\bdeclined\b"), "zh": ("支付", "付款", "扣款", "扣费", "付不了")},
    "modify_order_items": {
        "en": (r"\b(?:change|modify|switch) (?:the |an? |my )?(?:items?|size|colou?r|options?)\b",),
        "zh": (r"改.{0,3}(?:商品|尺码|颜色|款式)",),
    },
    "account": {"en": (r"\bprofile\b", r"\bpassword\b", r"\blog ?in\b"), "zh": ("账户信息", "密码", "个人信息", "登录")},
}  # fmt: skip

PERSONAL_ENTITIES = ("order_number", "email", "tracking_number")  # a turn with one names its case
_CLAUSE = re.compile(r"[,.;!?，。；！？\n]")


def _compile(table: dict[str, tuple[str, ...]]) -> re.Pattern:
    return re.compile("|".join(f"(?:{p})" for lang in sorted(table) for p in table[lang]), re.I)


_ACTS = {act: _compile(table) for act, table in CUES.items()}
_TASKS = {intent: _compile(table) for intent, table in TASK_CUES.items()}


@dataclass(frozen=True)
class Cues:
    """How a turn is meant, beyond its intent.

    person: asks for a person ("let me talk to a human", "转人工")
    rule_question: asks how the shop works (a question, general, about the shop's business, and
        about no order of theirs: "how long do refunds take?", "发货后还能取消订单吗？")
    vague: "trouble" or "help" when the turn says it has a problem or wants help but names no
        task ("I've got a problem with something I bought"), else ""
    named: the tasks the turn names and does not negate
    negated: the tasks it says no to ("I don't want to cancel" -> cancel_order)
    question: it asks something (a question mark, "how", "can", "吗", "多久"...)
    """

    person: bool = False
    rule_question: bool = False
    vague: str = ""
    named: frozenset[str] = frozenset()
    negated: frozenset[str] = frozenset()
    question: bool = False


def _negated(text: str, start: int) -> bool:
    clause = _CLAUSE.split(text[:start])[-1]
    return bool(_ACTS["negation"].search(clause) or _ACTS["unwanted"].search(clause))


def said(pattern: re.Pattern, text: str) -> tuple[bool, bool]:
    """(said plainly somewhere, said under a negation somewhere): "I don't want to freeze my
    card" and "我不想冻结" say a freeze cue only under a negation."""
    plain = negated = False
    for m in pattern.finditer(text):
        if _negated(text, m.start()):
            negated = True
        else:
            plain = True
    return plain, negated


def read_cues(text: str, entities: Sequence[dict[str, Any]] = ()) -> Cues:
    """The cues of one turn; `entities` are its NLU entities ({"type", ...}), which make a
    question personal when they name an order, an email or a tracking number."""
    named, negated = set(), set()
    for intent, pattern in _TASKS.items():
        plain, no = said(pattern, text)
        if plain:
            named.add(intent)
        elif no:
            negated.add(intent)
    person = said(_ACTS["person"], text)[0]
    personal = bool(_ACTS["personal"].search(text)) or any(
        e.get("type") in PERSONAL_ENTITIES for e in entities
    )
    question = bool(_ACTS["question"].search(text))
    rule = question and not personal and all(_ACTS[k].search(text) for k in ("general", "topic"))
    vague = ""
    if not (named or person or rule or _ACTS["settled"].search(text)):
        vague = next((k for k in ("trouble", "help") if _ACTS[k].search(text)), "")
    return Cues(person, rule, vague, frozenset(named), frozenset(negated), question)
