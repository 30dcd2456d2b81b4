"""A streamed draft reaches the customer clause by clause, and only as prefixes the guard accepts
as whole replies: a bad clause is never said, a confirmation is said only once it is complete."""

from __future__ import annotations

import random

import pytest

from dialogue.policy.guard import DraftContext, check_draft
from dialogue.policy.reply import fill, render
from dialogue.policy.stream import ClauseGate
from dialogue.types import Decision

ASK = Decision("ask", "ask_auth")
CONFIRM = Decision(
    "confirm",
    "confirm_action",
    {"summary": "cancel order #W2611340 and refund $54.04 to your gift card"},
)
ANSWER = Decision(
    "answer", "kb_answer", {"answer": "Refunds reach your card in 5-7 business days."}
)


def ctx(decision=ASK, language="en", facts="", customer=""):
    template = render(decision.template, language, decision.slots)
    return DraftContext(decision, language, template, (), facts, customer)


def pieces(text: str, rng: random.Random) -> list[str]:
    """`text` cut at random places, the way a model's tokens arrive."""
    cuts = sorted(rng.sample(range(1, len(text)), k=min(len(text) - 1, len(text) // 3)))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


def stream(gate: ClauseGate, parts: list[str]) -> tuple[list[tuple[int, str]], tuple]:
    """(released: (index of the piece that released it, text), gate.finish())."""
    released = [(i, text) for i, p in enumerate(parts) for text in gate.push(p)]
    return released, gate.finish()


GOOD = (
    "Of course, I can help with that. To look at your account, I first need to check who you "
    "are: please tell me the email on your account, or your full name and zip code."
)


def test_a_good_draft_is_released_clause_by_clause_before_it_ends():
    parts = pieces(GOOD, random.Random(0))
    released, (reply, source, rest) = stream(ClauseGate(ctx(), {}), parts)
    assert source == "model" and reply == GOOD
    assert released[0][0] < len(parts) - 1  # the first clause went before the draft was done
    assert released[0][1] == "Of course,"  # a clause, not a sentence, is enough to start
    assert " ".join([t for _, t in released] + ([rest] if rest else [])) == GOOD


@pytest.mark.parametrize("seed", range(8))
def test_every_released_prefix_is_a_reply_the_guard_accepts(seed):
    """However the draft's pieces fall, what is said so far always passes the whole guard."""
    rng = random.Random(seed)
    bad = GOOD + " I have also refunded $99.00 to your card, and it will arrive tomorrow."
    context = ctx(customer="I want to know where my order is")
    gate = ClauseGate(context, {})
    said: list[str] = []
    for p in pieces(bad, rng):
        for text in gate.push(p):
            said.append(text)
            assert check_draft(" ".join(said), context) == ""
    reply, source, rest = gate.finish()
    assert "$99.00" not in reply and "$99.00" not in " ".join(said)
    assert source.startswith("model (cut: ") and "$99.00" in source
    # what was accepted, then the template: what the reply must say is said, whatever was cut
    assert " ".join(said) == GOOD and rest == context.template
    assert reply == f"{GOOD} {context.template}"


def test_a_confirmation_is_said_only_once_its_question_and_summary_are_there():
    draft = (
        "Sure thing. I can cancel order #W2611340 and refund $54.04 to your gift card. "
        "Shall I go ahead?"
    )
    released, (reply, source, _) = stream(
        ClauseGate(ctx(CONFIRM), {}), pieces(draft, random.Random(1))
    )
    assert source == "model" and reply == draft
    assert len(released) == 1 and released[0][1] == draft  # nothing before the question


def test_a_draft_that_is_wrong_from_the_start_gives_the_template_to_say():
    gate = ClauseGate(ctx(language="zh"), {})
    released, (reply, source, rest) = stream(gate, pieces(GOOD, random.Random(2)))
    assert released == [] and source == "template (not in Chinese)"
    assert reply == rest == render("ask_auth", "zh")


def test_marks_are_filled_and_numbers_are_not_cut_at_their_commas():
    decision = Decision("answer", "kb_answer", {"answer": "Orders over $1,200.00 ship free."})
    draft = "Good news: {answer} Anything else?"
    gate = ClauseGate(ctx(decision), decision.slots)
    released, (reply, source, _) = stream(gate, list(draft))  # a character at a time
    assert source == "model" and reply == fill(draft, decision.slots)
    assert all(not t.endswith("$1,") for _, t in released)
    assert "Orders over $1,200.00 ship free." in " ".join(t for _, t in released)


def test_chinese_clauses_end_at_chinese_punctuation():
    context = ctx(language="zh")
    draft = "好的，没问题。为了查看您的账户，请提供您账户的邮箱，或者您的姓名和邮编。"
    released, (reply, source, rest) = stream(ClauseGate(context, {}), list(draft))
    assert source == "model" and reply == draft
    assert released[0][1] == "好的，没问题。"
    assert "".join([t for _, t in released] + [rest]) == draft


def test_a_failed_model_keeps_only_what_was_released():
    gate = ClauseGate(ctx(), {})
    said = [t for p in pieces(GOOD[:60], random.Random(3)) for t in gate.push(p)]
    assert said
    reply, source, rest = gate.cut("the model failed")
    assert rest == render("ask_auth", "en") and source == "model (cut: the model failed)"
    assert reply == " ".join(said) + " " + rest
