"""Open turns for training the dialogue model: the turns no task script covers (vague openings,
rule questions, frustration, small talk, out-of-domain requests, requests for a person,
corrections), in English and Chinese, alone or after a task has started.

The wordings are written for training and differ from the open-turns suite
(dialogue/data/open_turns.json), which stays held out. `open_scripts(n, seed)` draws `n` scripts
(a function of n and seed only); `dialogue.lm.guided.guide_open` gives them the Agent's replies.
"""

from __future__ import annotations

import random

from dialogue.lm.guided import OpenScript

OPEN: dict[str, dict[str, tuple[str, ...]]] = {
    "vague_opening": {
        "en": (
            "hello, I have an issue with my purchase",
            "hey, something went wrong with what I ordered",
            "I have a question about an order",
            "hi, can you help me with something?",
            "good afternoon, I need a hand with an order",
            "there's a problem with my delivery",
            "hi, my package has an issue",
            "I'm not happy with something I got from you",
        ),
        "zh": (
            "你好，我买的东西出了点问题",
            "我想问一下订单的事",
            "你好，能帮我个忙吗",
            "我收到的东西有问题",
            "在吗，我的包裹有点问题",
            "你好，我有个订单的问题想咨询",
            "帮我看一下订单吧",
            "我对买的东西不太满意",
        ),
    },
    "rule_question": {
        "en": (
            "when does the refund show up on my card?",
            "how many days until I get refunded?",
            "is it too late to cancel once my order has shipped?",
            "can a shipped order still be cancelled?",
            "how do returns work at your shop?",
            "can I swap my shoes for a bigger size?",
            "can I change where my order is shipped to?",
            "can I pay with a different card on a pending order?",
            "what does 'processed' mean for my order?",
            "why do you need my email first?",
            "can I change the colour of an item I ordered?",
            "where does my refund go if I return something?",
        ),
        "zh": (
            "退款几天能到我的信用卡？",
            "钱多久能退回来？",
            "已经发货的订单还能取消吗？",
            "发货以后还可以取消吗",
            "你们的退货流程是怎样的？",
            "鞋子可以换大一码吗？",
            "订单的收货地址能改吗？",
            "待处理的订单能换一张卡付款吗？",
            "订单显示已处理是什么意思？",
            "为什么要先给邮箱？",
            "买的东西能换个颜色吗？",
            "退货后退款退到哪里？",
        ),
    },
    "frustration": {
        "en": (
            "I've called four times about this and I'm sick of it.",
            "This is unacceptable, my parcel is a week late!",
            "I'm really annoyed, nobody has helped me so far.",
            "Your service is terrible and I'm fed up.",
            "I am extremely upset, the box arrived smashed.",
            "This is the worst shopping experience I've had.",
        ),
        "zh": (
            "我已经打了四次电话了，烦死了",
            "太过分了，包裹晚了一个星期！",
            "我真的很生气，到现在都没人帮我",
            "你们的服务太糟糕了，受够了",
            "箱子到的时候都压坏了，我非常不满",
            "这是我最差的一次购物体验",
        ),
    },
    "small_talk": {
        "en": (
            "hey there!",
            "good morning",
            "how's it going?",
            "thank you so much",
            "ok thanks, bye",
            "that's everything, thanks",
            "nice to talk to you",
        ),
        "zh": (
            "嗨",
            "早上好",
            "最近怎么样？",
            "太感谢了",
            "好的谢谢，再见",
            "没别的事了，谢谢",
            "辛苦了",
        ),
    },
    "out_of_domain": {
        "en": (
            "who won the football game last night?",
            "can you help me with my maths homework?",
            "what's a good recipe for dinner?",
            "tell me a joke",
            "what time is it in Tokyo?",
            "which stock should I buy?",
        ),
        "zh": (
            "昨晚的球赛谁赢了？",
            "能帮我做数学作业吗？",
            "晚饭做什么好？",
            "给我讲个笑话",
            "东京现在几点？",
            "买哪只股票好？",
        ),
    },
    "human_request": {
        "en": (
            "put me through to a person",
            "I want a human agent now",
            "can I speak with someone real?",
            "transfer me to customer service staff",
            "I don't want a bot, get me an agent",
        ),
        "zh": (
            "给我转人工服务",
            "我要和真人说话",
            "帮我接人工",
            "请转客服人员",
            "不要机器人，我要人工",
        ),
    },
}
OPENERS = {  # a task started before the open turn
    "en": (
        "I want to cancel an order",
        "I'd like to return some items",
        "Where is my order?",
        "I need to change my shipping address",
    ),
    "zh": ("我要取消订单", "我想退货", "我的订单到哪了？", "我要改收货地址"),
}
CORRECTIONS = {  # said after an opener; the task must change
    "en": (
        "no, I don't want that, I only want to know where my order is",
        "no, forget the cancellation",
        "sorry, wrong thing, I just have a question about refunds",
        "not that, I want to return something",
    ),
    "zh": (
        "不是，我不想取消，只想知道订单到哪了",
        "不用取消了",
        "不好意思说错了，我只是想问下退款的事",
        "不是这个，我想退货",
    ),
}
WITH_OPENER = {"rule_question", "human_request", "frustration"}  # sometimes said mid-task


def open_scripts(n: int = 400, seed: int = 0) -> list[OpenScript]:
    """`n` open scripts, English and Chinese in turn, categories in turn."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(f"open:{seed}")
    cats = [*OPEN, "correction"]
    out = []
    for i in range(n):
        lang = ("en", "zh")[i % 2]
        cat = cats[(i // 2) % len(cats)]
        if cat == "correction":
            turns: tuple[str, ...] = (rng.choice(OPENERS[lang]), rng.choice(CORRECTIONS[lang]))
        else:
            turns = (rng.choice(OPEN[cat][lang]),)
            if cat in WITH_OPENER and rng.random() < 0.4:
                turns = (rng.choice(OPENERS[lang]), *turns)
        out.append(OpenScript(f"open-{seed}-{i:05d}-{lang}", lang, turns, cat))
    return out
