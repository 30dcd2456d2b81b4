"""Sentiment and emotion of one customer turn, English and Chinese, from lexicons and rules.

Deterministic and explainable: every point of the score comes from a cue, and the cues are
returned ("negated:not happy", "repeat:third time", "manager:speak to a manager", "caps:USELESS").
A turn's score is the sum of its cues' valences, squashed into [-1, 1] by tanh:

- words and phrases with a valence ("great" +1.5, "terrible" -2, "满意" +1.5, "失望" -2);
- negation flips a word and damps it ("not happy", "never helpful", "不满意", "不太满意", "没有用");
  a negated negative is mildly positive ("not bad", "不差");
- intensifiers multiply by 1.5 ("very", "so", "really", "非常", "太", "特别");
- after a contrast ("but", "但是", "不过") cues count 1.5 times, before it half (the customer's
  point comes last);
- exclamation marks (up to three) and ALL-CAPS words strengthen whatever the turn already says and,
  when it is negative, add anger;
- anger: anger words ("furious", "ridiculous", "气死", "骗子"), mild profanity, shouting;
- frustration: repeated failure ("third time", "still not", "again", "又", "还是没有", "第三次"),
  long waits, asking for a manager ("speak to a manager", "找你们经理").

anger and frustration are 1 - exp(-evidence), in [0, 1). Labels: negative below -0.2, positive
above 0.2, else neutral.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

NEGATIVE_BELOW, POSITIVE_ABOVE = -0.2, 0.2


@dataclass(frozen=True)
class Sentiment:
    """How the customer feels this turn.

    label: "negative", "neutral" or "positive"
    score: valence in [-1, 1]
    confidence: in [0.5, 1]; 0.5 when no cue was found either way
    anger, frustration: in [0, 1)
    cues: what the score came from, in the order found
    """

    label: str
    score: float
    confidence: float
    anger: float
    frustration: float
    cues: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "score": round(self.score, 4),
            "confidence": round(self.confidence, 4),
            "anger": round(self.anger, 4),
            "frustration": round(self.frustration, 4),
            "cues": list(self.cues),
        }


# word -> (valence, emotion): emotion "anger" or "frustration" adds to it, "" adds nothing
def _lex(spec: str) -> dict[str, tuple[float, str]]:
    out = {}
    for item in spec.split():
        word, valence, *emotion = item.split(":")
        out[word.replace("_", " ")] = (float(valence), emotion[0] if emotion else "")
    return out


_EN = _lex(
    "good:1 great:1.5 excellent:2 amazing:2 awesome:2 love:2 loved:2 lovely:1.5 happy:1.5 glad:1 "
    "pleased:1.5 satisfied:1.5 perfect:2 fantastic:2 wonderful:2 helpful:1.5 thanks:1 thank:1 "
    "appreciate:1.5 appreciated:1.5 nice:1 fine:0.5 quick:0.5 fast:0.5 excited:1.5 brilliant:2 "
    "impressed:1.5 recommend:1 works:0.5 resolved:1 easy:0.5 cool:1 "
    "bad:-1.5 terrible:-2 awful:-2 horrible:-2 worst:-2.5 poor:-1.5 disappointed:-2 "
    "disappointing:-2 unhappy:-2 upset:-2 sad:-1.5 broken:-1.5 damaged:-1.5 defective:-1.5 "
    "wrong:-1 late:-0.7 delayed:-1 missing:-0.7 useless:-2 problem:-0.5 issue:-0.5 failed:-1 fails:-1 "
    "waste:-1.5 slow:-1 lost:-0.5 worried:-1 confusing:-1 unreliable:-1.5 cheated:-2 "
    "angry:-2:anger mad:-2:anger furious:-3:anger outraged:-3:anger livid:-3:anger "
    "annoyed:-1.5:anger annoying:-1.5:anger ridiculous:-2:anger unacceptable:-2.5:anger "
    "hate:-2.5:anger disgusting:-2.5:anger incompetent:-2.5:anger pathetic:-2.5:anger "
    "scam:-2.5:anger rude:-2:anger liars:-2.5:anger lied:-2:anger "
    "frustrated:-2:frustration frustrating:-2:frustration fed_up:-2:frustration "
    "sick_of:-2:frustration tired_of:-1.5:frustration waiting:-0.5:frustration "
    "damn:-1.5:profanity dammit:-1.5:profanity crap:-1.5:profanity crappy:-2:profanity "
    "shit:-2:profanity shitty:-2:profanity bullshit:-2.5:profanity wtf:-2:profanity "
    "fuck:-2.5:profanity fucking:-1.5:profanity bloody:-1:profanity goddamn:-2:profanity "
    "sucks:-2:profanity"
)
_ZH = _lex(
    "好:0.7 满意:1.5 喜欢:1.5 谢谢:1 感谢:1.5 多谢:1 棒:1.5 太棒了:2 不错:1 完美:2 开心:1.5 高兴:1.5 "
    "赞:1.5 优秀:1.5 给力:1.5 方便:1 及时:1 专业:1 耐心:1 好用:1.5 惊喜:1.5 靠谱:1.5 贴心:1.5 "
    "辛苦了:1 好评:1.5 解决了:1 帮助:0.5 有用:1 "
    "好的:0 好吧:0 你好:0 您好:0 好像:0 好几:0 好多:0 好久:0 只好:0 好不好:0 不好意思:0 不客气:0 "
    "没问题:0.5 没关系:0.5 没错:0 差不多:0 差点:0 出差:0 可靠:1 依靠:0 靠近:0 "
    "差:-1.5 糟糕:-2 失望:-2 不满:-2 投诉:-1 坏了:-1.5 坏:-1 破损:-1.5 损坏:-1.5 错:-1 问题:-0.5 "
    "慢:-1 伤心:-1.5 难过:-1.5 后悔:-1.5 延误:-1 丢了:-1 丢失:-1 没用:-1.5 难用:-1.5 郁闷:-1.5 "
    "差评:-2:anger 生气:-2:anger 愤怒:-3:anger 气死:-2.5:anger 骗子:-2.5:anger 骗:-2:anger "
    "欺骗:-2.5:anger 离谱:-2:anger 恶心:-2.5:anger 讨厌:-2:anger 坑:-2:anger 忽悠:-2:anger "
    "敷衍:-2:anger 恶劣:-2.5:anger 过分:-2:anger 荒唐:-2:anger 无法接受:-2.5:anger "
    "不能接受:-2.5:anger 火大:-2.5:anger "
    "烦:-1.5:frustration 无语:-1.5:frustration 着急:-1:frustration 受够了:-2.5:frustration "
    "崩溃:-2:frustration 迟迟:-1:frustration 折腾:-1.5:frustration "
    "垃圾:-2.5:profanity 他妈的:-2.5:profanity 妈的:-2:profanity 卧槽:-1.5:profanity "
    "靠:-1:profanity 混蛋:-2.5:profanity 坑爹:-2:profanity tmd:-2:profanity"
)
_EN_NEGATORS = {"not", "no", "never", "nothing", "hardly", "barely", "without", "nor", "cannot"}
_EN_INTENSIFIERS = {"very", "so", "really", "extremely", "super", "totally", "absolutely",
                    "incredibly", "too", "completely", "utterly", "truly", "most"}  # fmt: skip
_ZH_NEGATORS = ("并不", "不是", "毫不", "没有", "不", "没", "别", "未")  # longest first
_ZH_DEGREE = ("是很", "怎么", "那么", "太", "很", "够", "大")  # may stand between 不 and the word
_ZH_INTENSIFIERS = ("非常", "特别", "超级", "十分", "极其", "相当", "实在", "简直", "真的", "太",
                    "很", "超", "真", "最", "挺")  # fmt: skip
_CONTRAST = re.compile(r"(?<![A-Za-z])(?:but|however|though)(?![A-Za-z])|但是|可是|不过|但", re.I)
# (pattern, valence, kind, weight): kind "repeat" and "wait" add frustration, "manager" both
_PHRASES: tuple[tuple[re.Pattern[str], float, str, float], ...] = tuple(
    (re.compile(p, re.I), v, k, w)
    for p, v, k, w in (
        (r"\b(?:second|third|fourth|fifth|tenth|umpteenth|[0-9]+(?:nd|rd|th)) time\b", -1, "repeat", 1.0),
        (r"\bstill (?:not|no|nothing|hasn't|haven't|isn't|doesn't|don't|didn't|waiting|broken|missing)\b", -1, "repeat", 1.0),
        (r"\b(?:yet|once) again\b|\bagain and again\b|\bover and over\b|\bhow many times\b", -1, "repeat", 1.0),
        # a lone "again", not a greeting or thanks said again ("hello again", "thanks again")
        (r"(?<!yet )(?<!once )(?<!and )(?<!hello )(?<!hi )(?<!hey )(?<!thanks )(?<!thank you )\bagain\b(?! and again)", -0.3, "repeat", 0.4),
        (r"\b(?:keeps?|kept) (?:happening|failing|breaking|telling|saying|getting)\b|\bevery (?:single )?time\b", -1, "repeat", 0.8),
        (r"\balready (?:called|asked|told|contacted|explained|wrote|emailed)\b", -0.8, "repeat", 0.8),
        (r"\bfor (?:weeks|days|months|ages|hours|(?:two|three|four|five|six|[0-9]+) (?:days|weeks|months|hours))\b|\bbeen waiting\b", -0.8, "wait", 0.7),
        (r"\b(?:no one|nobody|no-one) (?:helps|helped|answers|answered|responds|responded|cares|called)\b|\bno (?:response|reply|answer)\b", -1, "repeat", 0.8),
        (r"\b(?:speak|talk|put me through)(?: to| with)? (?:a|an|your|the) (?:manager|supervisor|boss|someone in charge)\b|\bget (?:me )?(?:a|your|the) (?:manager|supervisor)\b|\bescalate\b", -1, "manager", 1.0),
        (r"\bthanks for nothing\b", -3, "anger", 1.0),
        (r"\b(?:this|that|it|you)(?:'s| is| are)(?: such| a total)? (?:a )?joke\b", -2, "anger", 0.8),
        (r"又(?:坏|没|不|出|错|是这样|要|延|迟|失败|被|卡|来|给|让|双叒)", -1, "repeat", 1.0),
        (r"还是(?:没有|没|不)|到现在(?:都|还)(?:没|不)|一直(?:没|不|在等)|还没(?:有)?(?:到|收到|发货|退|处理|解决|回复)", -1, "repeat", 1.0),
        (r"第[二三四五六七八九十两0-9]+次|好几次|多少次|无数次|三番五次|反复|再一次|又一次", -1, "repeat", 1.0),
        (r"等了(?:好几天|好久|很久|半天|一个(?:多)?(?:星期|礼拜|月)|[0-9一二三四五六七八九十两几]+(?:天|周|个星期|个月|小时))", -0.8, "wait", 0.7),
        (r"(?:找|叫|让|要)(?:你们)?(?:的)?(?:经理|主管|领导|负责人|上级)|(?:经理|主管|负责人)(?:出来|来)|12315|曝光|投诉你们", -1, "manager", 1.0),
    )
)  # fmt: skip
_EN_TOKEN = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)?|[.?;,:!]")
_CAPS_OK = {"USA", "UPS", "DHL", "USPS", "SKU", "PIN", "FAQ", "ETA", "ASAP", "CEO", "TV", "ID",
            "URL", "PDF", "SMS", "OTP", "FEDEX", "HDMI", "USB", "LED", "CPU", "GPU", "RMA"}  # fmt: skip


@dataclass
class _Acc:
    """What one pass over a text has found: (position, valence, cue) and emotion evidence."""

    items: list[tuple[int, float, str]]
    anger: float = 0.0
    frustration: float = 0.0


def _english(text: str, acc: _Acc) -> None:
    tokens = list(_EN_TOKEN.finditer(text))
    low = [t[0].lower() for t in tokens]
    i = 0
    while i < len(tokens):
        two = " ".join(low[i : i + 2])
        word, n = (two, 2) if i + 1 < len(low) and two in _EN else (low[i], 1)
        if word not in _EN:
            i += 1
            continue
        valence, emotion = _EN[word]
        surface = text[tokens[i].start() : tokens[i + n - 1].end()]
        cue = _kind(valence, emotion) + f":{surface}"
        if i and low[i - 1] in _EN_INTENSIFIERS:
            valence *= 1.5
            cue = f"intensified:{tokens[i - 1][0]} {surface}"
        for j in range(i - 1, max(i - 4, -1), -1):
            if low[j] in ".?;,:!" or low[j] in ("but", "however"):
                break
            if low[j] in _EN_NEGATORS or low[j].endswith(("n't", "n’t")):
                valence = -0.8 * valence if valence > 0 else -0.4 * valence
                cue = f"negated:{text[tokens[j].start() : tokens[i + n - 1].end()]}"
                emotion = "" if emotion in ("anger", "profanity") else emotion
                break
        if surface.isupper() and len(surface) >= 3:
            valence *= 1.5
        _emotion(acc, emotion, abs(valence))
        acc.items.append((tokens[i].start(), valence, cue))
        i += n


def _kind(valence: float, emotion: str) -> str:
    return emotion or ("negative" if valence < 0 else "positive")


def _emotion(acc: _Acc, emotion: str, strength: float) -> None:
    if emotion == "anger":
        acc.anger += 0.5 * strength
    elif emotion == "frustration":
        acc.frustration += 0.5 * strength
    elif emotion == "profanity":
        acc.anger += 0.4 * strength


def _zh_word_at(text: str, i: int) -> str:
    for n in range(5, 0, -1):
        if text[i : i + n] in _ZH:
            return text[i : i + n]
    return ""


def _chinese(text: str, acc: _Acc) -> None:
    i, boost, boost_from = 0, 1.0, -1
    while i < len(text):
        word = _zh_word_at(text, i)
        negated = ""
        for neg in _ZH_NEGATORS:
            if text.startswith(neg, i):
                j = i + len(neg)
                for degree in _ZH_DEGREE:
                    if text.startswith(degree, j) and _zh_word_at(text, j + len(degree)):
                        j += len(degree)
                        break
                target = _zh_word_at(text, j)
                if target and j + len(target) - i > len(word):
                    negated, word = text[i:j], target
                break
        if not word:
            intensifier = next((w for w in _ZH_INTENSIFIERS if text.startswith(w, i)), "")
            if intensifier:
                boost, boost_from = 1.5, i
                i += len(intensifier)
                continue
            i += 1
            continue
        if word == "好" and not negated and _zh_word_at(text, i + 1):
            boost, boost_from, i = 1.5, i, i + 1  # 好失望: 好 is "so"
            continue
        valence, emotion = _ZH[word]
        start = i
        i += len(negated) + len(word)
        if valence == 0:
            continue
        cue = _kind(valence, emotion) + f":{word}"
        if boost_from >= 0 and boost_from + 4 >= start:
            valence *= boost
            cue = f"intensified:{text[boost_from:i]}"
        if negated:
            valence = -0.8 * valence if valence > 0 else -0.4 * valence
            cue = f"negated:{text[start:i]}"
            emotion = "" if emotion in ("anger", "profanity") else emotion
        boost, boost_from = 1.0, -1
        _emotion(acc, emotion, abs(valence))
        acc.items.append((start, valence, cue))


def sentiment(text: str) -> Sentiment:
    """The sentiment of one turn (see the module docstring). Empty text is neutral."""
    if not isinstance(text, str):
        raise TypeError(f"sentiment wants a str, got {type(text).__name__}")
    acc = _Acc(items=[])
    for pattern, valence, kind, weight in _PHRASES:
        for m in pattern.finditer(text):
            acc.items.append((m.start(), valence, f"{kind}:{m[0]}"))
            if kind in ("repeat", "wait"):
                acc.frustration += weight
            elif kind == "manager":
                acc.frustration += 0.7 * weight
                acc.anger += 0.3 * weight
            else:
                acc.anger += weight
    _english(text, acc)
    _chinese(text, acc)
    contrast = list(_CONTRAST.finditer(text))
    pivot = contrast[-1].start() if contrast else -1
    raw = 0.0
    for pos, valence, _ in acc.items:
        raw += valence * (1.0 if pivot < 0 else 0.5 if pos < pivot else 1.5)
    cues = [c for _, _, c in sorted(acc.items, key=lambda t: t[0])]
    if pivot >= 0 and acc.items:
        cues.append(f"contrast:{contrast[-1][0]}")
    exclaim = min(len(re.findall(r"[!！]", text)), 3)
    caps = [w for w in re.findall(r"(?<![A-Za-z])[A-Z]{3,}(?![A-Za-z])", text) if w not in _CAPS_OK]
    if exclaim:
        cues.append("exclamation:" + "!" * exclaim)
    cues += [f"caps:{w}" for w in caps[:5]]
    raw *= 1 + 0.15 * exclaim + 0.1 * min(len(caps), 3)
    if raw <= 0 and (len(caps) >= 2 or (exclaim and caps)):
        raw -= 0.6  # shouting with nothing positive in it: "WHERE IS MY ORDER"
        cues.append("shouting")
    if raw < 0:
        acc.anger += 0.2 * exclaim + 0.25 * min(len(caps), 4)
    if re.search(r"[?？]{2,}", text):
        acc.frustration += 0.3
        cues.append("repeated_question")
    score = math.tanh(raw / 2.5)
    label = (
        "negative"
        if score < NEGATIVE_BELOW
        else "positive"
        if score > POSITIVE_ABOVE
        else "neutral"
    )
    if not cues:
        confidence = 0.5
    elif label == "neutral":
        confidence = 0.5 + 0.3 * (1 - abs(score) / POSITIVE_ABOVE)
    else:
        confidence = 0.5 + 0.5 * abs(score)
    return Sentiment(
        label=label,
        score=score,
        confidence=confidence,
        anger=1 - math.exp(-acc.anger),
        frustration=1 - math.exp(-acc.frustration),
        cues=tuple(cues),
    )
