"""A yes or a no said over the agent's yes-or-no question (a write's confirmation) answers it,
though it sounds like "mm-hm": on a virtual clock, with the fakes of test_session."""

from __future__ import annotations

import pytest

from tests.voice.live.test_session import HZ, kinds, run, timeline
from voice.live.endpoint import YES_NO, Endpointer, is_backchannel, is_yes_no
from voice.live.session import Reply

SUMMARY = "I can start a return for order W1."  # 34 characters: 1.36 s of the fake voice
QUESTION = "Shall I go ahead?"  # 0.68 s, the reply's last sentence
REPLY_AT = 0.3 + 1.0 + 0.65  # the caller's first turn ends, then the base silence


def ask(expect: str = YES_NO, language: str = "en") -> list[Reply]:
    return [Reply(f"{SUMMARY} {QUESTION}", language, expect=expect), Reply("Done.")]


def caller(word: str, at_s: float, length_s: float = 0.3):
    """The caller asks, then says `word` `at_s` seconds into the agent's reply."""
    return timeline((0.3, None), (1.0, HZ["where is my order"]), (0.65 + at_s, None),
                    (length_s, HZ[word]), (4.0, None))  # fmt: skip


@pytest.mark.parametrize("word", ["yeah", "好的"])
def test_a_yes_over_the_question_answers_it(word):
    result, _, responder, tts, _ = run(ask(), caller(word, 1.36 + 0.2))
    assert responder.transcripts == ["where is my order", word]
    barge = [e for e in result.events if e.kind == "barge_in"]
    assert len(barge) == 1 and barge[0].data["why"] == f"caller answered {word!r}"
    assert "backchannel" not in kinds(result)
    assert tts.said[-1] == "Done."  # the answer was answered


def test_a_yes_over_the_summary_is_still_mm_hm():
    """Over the action's summary, before the question, "yeah" only says the caller is listening:
    the reply goes on to its question and nothing is answered."""
    result, _, responder, tts, _ = run(ask(), caller("yeah", 0.4))
    assert responder.transcripts == ["where is my order"]
    assert "backchannel" in kinds(result) and "barge_in" not in kinds(result)
    assert tts.said[-1] == QUESTION


def test_a_yes_over_a_reply_that_asks_nothing_is_mm_hm():
    result, _, responder, _, _ = run(ask(expect=""), caller("yeah", 1.36 + 0.2))
    assert responder.transcripts == ["where is my order"]
    assert "backchannel" in kinds(result) and "barge_in" not in kinds(result)


@pytest.mark.parametrize(("expect", "answered"), [(YES_NO, True), ("", False)])
def test_a_yes_over_the_questions_end_is_the_answer(expect, answered):
    """Begun in the question's last moment and ended after the agent's voice: the caller's turn,
    answered when the question wanted a yes or a no, else only "mm-hm" (no reply)."""
    result, _, responder, tts, _ = run(ask(expect), caller("yeah", 1.36 + 0.55, length_s=0.4))
    assert responder.transcripts == ["where is my order", *(["yeah"] if answered else [])]
    assert (tts.said[-1] == "Done.") is answered


@pytest.mark.parametrize(
    ("text", "answer"),
    [("yeah", True), ("Okay.", True), ("no", True), ("Nope.", True), ("yes, yes", True),
     ("好的。", True), ("是的", True), ("不用", True), ("可以", True),
     ("uh-huh", False), ("mm", False), ("oh", False), ("嗯", False), ("哦", False), ("", False),
     ("yes, the blue one", False), ("不是这个订单", False)],
)  # fmt: skip
def test_what_answers_a_yes_or_no_question(text, answer):
    assert is_yes_no(text) is answer


def test_every_answer_word_but_a_no_is_also_a_backchannel():
    """The answers are the listener words that say yes or no; a plain "no" or "不用" was never
    taken for "mm-hm", so it stops the agent wherever it is said."""
    for word in ("yeah", "okay", "sure", "right", "好的", "是的", "对"):
        assert is_backchannel(word) and is_yes_no(word)
    for word in ("no", "nope", "不用", "不要"):
        assert not is_backchannel(word) and is_yes_no(word)


def test_a_yes_or_no_question_waits_for_no_identifier():
    base = Endpointer().options.base_silence_s
    assert Endpointer().silence_needed(None, YES_NO) == (base, "base")
    assert Endpointer().silence_needed("let me check", YES_NO) == (base, "complete")
    assert Endpointer().silence_needed(None, "email")[0] > base
