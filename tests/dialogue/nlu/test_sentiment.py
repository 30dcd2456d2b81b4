"""Sentiment and emotion: tables in English and Chinese, the cues that explain them, and the
ranges every answer stays in."""

from __future__ import annotations

import pytest

from dialogue.nlu.sentiment import Sentiment, sentiment

# (text, label, a cue the answer must give, or "")
LABELS = [
    ("Hello, I want to check my order status.", "neutral", ""),
    ("Thanks so much, that was really helpful!", "positive", "intensified:really helpful"),
    ("Great, it works perfectly now", "positive", "positive:Great"),
    ("I'm not happy with the delivery", "negative", "negated:not happy"),
    ("I'm NOT happy", "negative", "negated:NOT happy"),
    ("not bad at all", "positive", "negated:not bad"),
    ("The product is great but the delivery was terrible", "negative", "contrast:but"),
    ("This is the third time I've called!", "negative", "repeat:third time"),
    ("it's still not working", "negative", "repeat:still not"),
    ("I want to speak to a manager", "negative", "manager:speak to a manager"),
    ("this is fucking ridiculous", "negative", "profanity:fucking"),
    ("I am furious", "negative", "anger:furious"),
    ("I'm fed up with this", "negative", "frustration:fed up"),
    ("WHERE IS MY ORDER", "negative", "shouting"),
    ("thanks for nothing", "negative", "anger:thanks for nothing"),
    ("I don’t like it, it's useless", "negative", "negative:useless"),
    ("tell me a joke", "neutral", ""),
    ("我对这次服务很不满意", "negative", "negated:不满意"),
    ("不太满意", "negative", "negated:不太满意"),
    ("质量不错", "positive", "positive:不错"),
    ("太棒了，谢谢！", "positive", "positive:太棒了"),
    ("非常感谢", "positive", "intensified:非常感谢"),
    ("又坏了，第三次了！", "negative", "repeat:第三次"),
    ("我等了一个星期还是没有收到", "negative", "repeat:还是没有"),
    ("找你们经理来", "negative", "manager:找你们经理"),
    ("你们这是骗子吧，气死我了", "negative", "anger:气死"),
    ("东西很好，但是物流太慢了", "negative", "contrast:但是"),
    ("好失望啊", "negative", "intensified:好失望"),
    ("垃圾服务", "negative", "profanity:垃圾"),
    ("好的", "neutral", ""),
    ("没问题，可以", "neutral", "positive:没问题"),
    ("差不多就行", "neutral", ""),
    ("这个很可靠", "positive", "intensified:很可靠"),
    ("", "neutral", ""),
]


@pytest.mark.parametrize(("text", "label", "cue"), LABELS)
def test_label_and_cue(text, label, cue):
    s = sentiment(text)
    assert s.label == label, s
    if cue:
        assert cue in s.cues, s.cues
    else:
        assert s.cues == () or label == "neutral"


# (calmer, angrier): the second must score lower and be at least as angry or frustrated
ORDERED = [
    ("my order is late", "my order is late!!!"),
    ("my order is late", "my order is LATE AGAIN"),
    ("I'm unhappy", "I'm very unhappy"),
    ("the item is broken", "the item is broken again, third time"),
    ("退款还没到", "退款还是没有到，第三次问了！"),
    ("我不满意", "我非常不满意，找你们经理"),
]


@pytest.mark.parametrize(("calm", "angry"), ORDERED)
def test_more_intense_is_more_negative(calm, angry):
    a, b = sentiment(calm), sentiment(angry)
    assert b.score < a.score
    assert b.anger >= a.anger and b.frustration >= a.frustration


@pytest.mark.parametrize(
    ("text", "emotion"),
    [
        ("I am furious, this is unacceptable!!", "anger"),
        ("你们这是骗子，气死我了！", "anger"),
        ("third time asking, still not fixed", "frustration"),
        ("我等了一个星期，还是没有收到，又没人回复", "frustration"),
    ],
)
def test_emotions(text, emotion):
    s = sentiment(text)
    assert getattr(s, emotion) > 0.5
    assert s.label == "negative"


def test_negated_anger_is_not_anger():
    assert sentiment("I'm not angry").anger == 0.0
    assert sentiment("I'm angry").anger > 0.5


@pytest.mark.parametrize("text", [t for t, _, _ in LABELS] + ["!!!", "\x00\xff", "a" * 10_000])
def test_ranges_and_determinism(text):
    s = sentiment(text)
    assert isinstance(s, Sentiment)
    assert -1 <= s.score <= 1 and 0.5 <= s.confidence <= 1
    assert 0 <= s.anger < 1 and 0 <= s.frustration < 1
    assert s == sentiment(text)
    d = s.to_dict()
    assert set(d) == {"label", "score", "confidence", "anger", "frustration", "cues"}
    assert d["cues"] == list(s.cues)


def test_not_a_string():
    with pytest.raises(TypeError, match="wants a str"):
        sentiment(None)


@pytest.mark.parametrize(
    "text", ["hello again", "Hi again!", "thanks again", "thank you again, bye"]
)
def test_a_greeting_or_thanks_said_again_is_not_frustration(text):
    assert sentiment(text).frustration == 0.0
    assert sentiment("it broke again").frustration > sentiment(text).frustration
