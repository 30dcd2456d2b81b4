"""The dialogue policy on open turns, through the Agent on the fixture back office with the fake
NLU: vague openings, rule questions (no account, even mid-task), corrections, new questions
after a task, frustration acknowledged, and a person at once when asked for one."""

from __future__ import annotations

import pytest

from dialogue.agent import Agent, AgentServices, CustomerTurn
from dialogue.policy.state import DialogueState, Understood
from dialogue.policy.toolkit import ToolSession
from domains.retail.policy import DialoguePolicy
from tests.fakes import FakeNLU, FakeRetriever
from tests.retail_fixture import snapshot

PASSAGES = (  # the fake retriever finds a passage by the words it shares with the question
    ("faq.csv#refund-time", "How long does a refund take? how long until I see the money? A credit card refund takes 5-7 business days."),
    ("faq.csv#cancel-rules", "Can I cancel an order once it has been shipped? Only a pending order can be cancelled."),
    ("faq.csv#zh-refund-time", "退款一般多久能到账？ 退款一般 5-7 个工作日到账。"),
)  # fmt: skip
SCRIPT = {
    "hi there, I've got a problem with something I bought": ("out_of_scope", 0.76, ()),
    "你好，我买的东西有点问题": ("out_of_scope", 0.68, ()),
    "hi, I have a problem with an order": ("cancel_order", 0.70, ()),
    "I need help": ("out_of_scope", 0.74, ()),
    "How long does a refund take to get back to my credit card?": ("refund_status", 0.64, ()),
    "Can I still cancel an order once it has been shipped?": ("cancel_order", 1.0, ()),
    "退款一般多久能到账？": ("refund_status", 0.98, ()),
    "how long do refunds take?": ("refund_status", 0.78, ()),
    "Great. How long until I see the money?": ("out_of_scope", 1.0, ()),
    "Again no answer. How long do refunds take?": ("refund_status", 0.8, ()),
    "I want to cancel an order": ("cancel_order", 0.97, ()),
    "I want to return an item": ("return_item", 0.97, ()),
    "my email is alice@example.com": ("order_status", 0.6, (("email", "alice@example.com"),)),
    "it's order #W1": ("order_status", 0.7, (("order_number", "#W1"),)),
    "it's order #W3": ("order_status", 0.7, (("order_number", "#W3"),)),
    "where is order #W2?": ("order_status", 1.0, (("order_number", "#W2"),)),
    "I ordered it by mistake": ("deny", 0.6, ()),
    "all of it": ("return_item", 0.6, ()),
    "yes": ("affirm", 0.99, ()),
    "no, I don't want to cancel, I just want to know where it is": ("cancel_order", 0.96, ()),
    "不是要取消": ("deny", 0.96, ()),
    "This is the third time I'm contacting you about the same broken lamp and nobody has fixed it. I'm really fed up.": ("complaint", 0.65, ()),
    "我已经第三次联系你们了，台灯还是坏的，真的受够了！": ("complaint", 0.54, ()),
    "别跟我说这些，马上给我转人工！": ("complaint", 0.4, ()),  # even when the intent model misses it
    "let me talk to a human": ("talk_to_human", 0.99, ()),
    "real person please": ("talk_to_human", 0.92, ()),
    "转人工": ("talk_to_human", 1.0, ()),
    "我要找人工客服": ("talk_to_human", 1.0, ()),
    "I don't want to talk to a human, where is my order?": ("order_status", 0.9, ()),
    "thanks, that's all for now": ("thanks_goodbye", 1.0, ()),
}  # fmt: skip


def agent(office, knowledge=True) -> Agent:
    retriever = FakeRetriever(PASSAGES) if knowledge else None
    services = AgentServices(nlu=FakeNLU(SCRIPT), office=office, knowledge=retriever)
    return Agent(services, session_id="t")


def talk(a: Agent, *turns: str):
    return [a.respond(CustomerTurn(text=t)) for t in turns]


def tools(turn) -> list[str]:
    return [a.tool for a in turn.actions]


@pytest.mark.parametrize(
    "text, opening",
    [
        ("hi there, I've got a problem with something I bought", "I'm sorry to hear that."),
        ("你好，我买的东西有点问题", "很抱歉给您带来不便。"),
        ("hi, I have a problem with an order", "I'm sorry to hear that."),  # a cancel at 0.70
        ("I need help", "Of course"),
    ],
)
def test_a_vague_opening_gets_what_the_agent_can_do(office, text, opening):
    a = agent(office)
    turn = a.respond(CustomerTurn(text=text))
    assert turn.decision.template == "offer_help" and turn.reply.startswith(opening)
    assert ("cancel" in turn.reply) or ("取消" in turn.reply)
    assert a.state.task is None and tools(turn) == [] and not turn.handoff


def test_the_task_after_a_vague_opening_is_the_one_asked_for(office):
    a = agent(office)
    vague, where = talk(a, "hi, I have a problem with an order", "where is order #W2?")
    assert vague.decision.template == "offer_help"
    assert where.decision.template == "ask_auth" and a.state.task == "order_status"


@pytest.mark.parametrize(
    "text, fact",
    [
        ("How long does a refund take to get back to my credit card?", "5-7 business days"),
        ("Can I still cancel an order once it has been shipped?", "pending order"),
        ("退款一般多久能到账？", "5-7 个工作日"),
    ],
)
def test_a_rule_question_is_answered_from_knowledge_with_no_account(office, text, fact):
    turn = agent(office).respond(CustomerTurn(text=text))
    assert turn.decision.template == "kb_answer" and fact in turn.reply
    assert turn.decision.slots["source"].startswith("faq.csv#")  # the passage stays on the turn
    assert tools(turn) == []


def test_a_rule_question_in_the_middle_of_a_task_leaves_the_task_waiting(office):
    a = agent(office)
    ask, rule, email = talk(
        a,
        "I want to cancel an order",
        "How long does a refund take to get back to my credit card?",
        "my email is alice@example.com",
    )
    assert ask.decision.template == "ask_auth"
    assert rule.decision.template == "kb_answer" and "5-7 business days" in rule.reply
    assert email.decision.template == "ask_order_id" and a.state.task == "cancel_order"


def test_a_rule_question_while_a_write_waits_answers_and_asks_again_without_writing(office):
    a = agent(office)
    talk(a, "I want to cancel an order", "my email is alice@example.com", "it's order #W1")
    before = snapshot(office)
    proposed = a.respond(CustomerTurn(text="I ordered it by mistake"))
    assert proposed.decision.template == "confirm_action"
    rule = a.respond(CustomerTurn(text="how long do refunds take?"))
    assert rule.decision.template == "kb_answer_pending" and rule.decision.kind == "confirm"
    assert "5-7 business days" in rule.reply and "#W1" in rule.reply
    assert snapshot(office) == before and a.state.tools.pending is not None  # nothing written
    done = a.respond(CustomerTurn(text="yes"))
    assert done.decision.template == "action_done" and office.order("#W1")["status"] == "cancelled"


def test_a_rule_question_with_no_knowledge_is_not_an_account_request(office):
    turn = agent(office, knowledge=False).respond(
        CustomerTurn(text="How long does a refund take to get back to my credit card?")
    )
    assert turn.decision.template == "kb_none" and tools(turn) == []


def test_a_follow_up_rule_question_after_a_return_is_answered(office):
    a = agent(office)
    talk(a, "I want to return an item", "my email is alice@example.com", "it's order #W3")
    proposed = a.respond(CustomerTurn(text="all of it"))
    assert proposed.decision.template == "confirm_action"
    assert a.respond(CustomerTurn(text="yes")).decision.template == "action_done"
    follow = a.respond(CustomerTurn(text="Great. How long until I see the money?"))
    assert follow.decision.template == "kb_answer" and "5-7 business days" in follow.reply


def test_a_new_question_after_a_task_is_answered_as_itself(office):
    a = agent(office)
    status = talk(a, "where is order #W2?", "my email is alice@example.com")[-1]
    assert status.decision.template == "order_status"
    question = a.respond(CustomerTurn(text="how long do refunds take?"))
    assert question.decision.template == "kb_answer" and "#W2" not in question.reply


def test_no_to_the_task_in_hand_changes_the_task(office):
    a = agent(office)
    asked = talk(a, "I want to cancel an order", "my email is alice@example.com", "it's order #W1")
    assert asked[-1].decision.template == "ask_cancel_reason"
    turn = a.respond(
        CustomerTurn(text="no, I don't want to cancel, I just want to know where it is")
    )
    assert turn.decision.template == "order_status" and "#W1" in turn.reply
    assert a.state.tools.pending is None and "get_order_details" in tools(turn)


def test_no_at_the_confirmation_with_another_request_drops_the_write_and_serves_that(office):
    a = agent(office)
    talk(a, "I want to cancel an order", "my email is alice@example.com", "it's order #W1")
    assert a.respond(CustomerTurn(text="I ordered it by mistake")).decision.kind == "confirm"
    before = snapshot(office)
    turn = a.respond(
        CustomerTurn(text="no, I don't want to cancel, I just want to know where it is")
    )
    assert turn.decision.template == "order_status" and "#W1" in turn.reply
    assert turn.reply.startswith("All right, I won't do that.")
    assert a.state.tools.pending is None and snapshot(office) == before


def test_a_bare_no_to_the_task_drops_it_and_asks_what_instead(office):
    a = agent(office)
    talk(a, "I want to cancel an order")
    turn = a.respond(CustomerTurn(text="不是要取消"))
    assert turn.decision.template == "offer_help" and turn.reply.startswith("好的，那就不办理了")
    assert a.state.task is None


REASON_TURNS = {  # what the model makes of them (most read as a no)
    "是的": "affirm", "对": "affirm", "yes": "affirm", "no": "deny", "都不是": "deny",
    "我不要了": "deny", "买错了": "deny", "不想要了": "deny", "下错单了": "deny", "不再需要": "deny",
    "I don't need it anymore": "deny", "ordered by mistake": "deny", "it was a mistake": "deny",
    "the first one": "affirm", "后者": "thanks_goodbye",
}  # fmt: skip


def asked_for_a_reason(office, language: str) -> Agent:
    script = {**SCRIPT, **{t: (i, 0.95, ()) for t, i in REASON_TURNS.items()}}
    script["我想取消订单"] = ("cancel_order", 0.99, ())
    script["我的邮箱是 alice@example.com"] = ("account", 0.86, (("email", "alice@example.com"),))
    script["订单号是 #W1"] = ("order_status", 0.43, (("order_number", "#W1"),))
    a = Agent(AgentServices(nlu=FakeNLU(script), office=office), session_id="t")
    turns = (
        ("我想取消订单", "我的邮箱是 alice@example.com", "订单号是 #W1")
        if language == "zh"
        else ("I want to cancel an order", "my email is alice@example.com", "it's order #W1")
    )
    assert talk(a, *turns)[-1].decision.template == "ask_cancel_reason"
    return a


@pytest.mark.parametrize(
    "language, answer, which",
    [("zh", "是的", "请问是哪一种：不再需要，还是误下单？"), ("zh", "对", "请问是哪一种：不再需要，还是误下单？"),
     ("zh", "都不是", "请问是哪一种：不再需要，还是误下单？"),
     ("en", "yes", "Which of the two is it: no longer needed, or ordered by mistake?"),
     ("en", "no", "Which of the two is it: no longer needed, or ordered by mistake?")],
)  # fmt: skip
def test_a_yes_to_the_either_or_of_a_cancel_names_the_two_once(office, language, answer, which):
    a = asked_for_a_reason(office, language)
    turn = a.respond(CustomerTurn(text=answer))
    assert turn.decision.template == "ask_cancel_reason_which" and turn.reply == which
    assert a.state.task == "cancel_order" and a.state.tools.pending is None
    then = a.respond(CustomerTurn(text="买错了" if language == "zh" else "it was a mistake"))
    assert then.decision.kind == "confirm" and a.state.tools.pending.args["reason"] == "ordered by mistake"  # fmt: skip


@pytest.mark.parametrize(
    "language, answer, reason",
    [("zh", "我不要了", "no longer needed"), ("zh", "不想要了", "no longer needed"),
     ("zh", "不再需要", "no longer needed"), ("zh", "买错了", "ordered by mistake"),
     ("zh", "下错单了", "ordered by mistake"), ("zh", "后者", "ordered by mistake"),
     ("en", "I don't need it anymore", "no longer needed"), ("en", "the first one", "no longer needed"),
     ("en", "ordered by mistake", "ordered by mistake"), ("en", "it was a mistake", "ordered by mistake")],
)  # fmt: skip
def test_a_cancel_reason_in_other_words_is_taken(office, language, answer, reason):
    a = asked_for_a_reason(office, language)
    before = snapshot(office)
    turn = a.respond(CustomerTurn(text=answer))
    assert turn.decision.kind == "confirm", turn.reply
    pending = a.state.tools.pending
    assert pending.tool == "cancel_pending_order" and pending.args["reason"] == reason
    assert snapshot(office) == before  # nothing is written before the yes


def test_a_reason_is_picked_by_its_place_in_the_question():
    from domains.retail.choose import pick_reason

    assert pick_reason("the first one") == "no longer needed" and pick_reason("第二个") == "ordered by mistake"  # fmt: skip
    assert pick_reason("the first or the second?") is None and pick_reason("hello") is None


def test_where_is_an_order_while_cancelling_switches_to_its_status(office):
    a = agent(office)
    talk(a, "I want to cancel an order", "my email is alice@example.com", "it's order #W1")
    turn = a.respond(CustomerTurn(text="where is order #W2?"))
    assert turn.decision.template == "order_status" and "#W2" in turn.reply


@pytest.mark.parametrize(
    "text, opening",
    [
        (
            "This is the third time I'm contacting you about the same broken lamp and nobody has fixed it. I'm really fed up.",
            "I'm sorry about this, and I understand how frustrating it is.",
        ),
        ("我已经第三次联系你们了，台灯还是坏的，真的受够了！", "非常抱歉"),
    ],
)  # fmt: skip
def test_frustration_is_acknowledged_in_the_handover(office, text, opening):
    turn = agent(office).respond(CustomerTurn(text=text))
    assert turn.handoff and turn.reply.startswith(opening)


def test_frustration_is_acknowledged_in_a_reply_that_helps(office):
    turn = agent(office).respond(CustomerTurn(text="Again no answer. How long do refunds take?"))
    assert not turn.handoff and turn.reply.startswith("I'm sorry about this")
    assert "5-7 business days" in turn.reply


@pytest.mark.parametrize(
    "text",
    ["别跟我说这些，马上给我转人工！", "let me talk to a human", "real person please", "转人工", "我要找人工客服"],
)  # fmt: skip
def test_a_person_at_once_when_asked(office, text):
    turn = agent(office).respond(CustomerTurn(text=text))
    assert turn.handoff and turn.decision.reason == "the customer asked for a person"


def test_a_person_at_once_even_with_a_write_waiting_and_nothing_is_written(office):
    a = agent(office)
    talk(a, "I want to cancel an order", "my email is alice@example.com", "it's order #W1")
    a.respond(CustomerTurn(text="I ordered it by mistake"))
    before = snapshot(office)
    turn = a.respond(CustomerTurn(text="别跟我说这些，马上给我转人工！"))
    assert turn.handoff and tools(turn) == ["transfer_to_human_agents"]
    assert a.state.tools.pending is None and snapshot(office) == before


def test_no_person_when_the_customer_says_they_do_not_want_one(office):
    turn = agent(office).respond(
        CustomerTurn(text="I don't want to talk to a human, where is my order?")
    )
    assert not turn.handoff and turn.decision.template == "ask_auth"


def test_thats_all_is_a_goodbye_not_every_item(office):
    turn = agent(office).respond(CustomerTurn(text="thanks, that's all for now"))
    assert turn.decision.template == "goodbye"


def test_the_policy_alone_decides_on_understood_turns(office):
    state = DialogueState(tools=ToolSession(office, "p"))
    u = Understood("转人工", "zh", "out_of_scope", 0.9, True, ())
    decision, actions = DialoguePolicy().decide(state, u)
    assert decision.handoff and actions == [] and state.handed_off


def test_a_demand_is_not_answered_with_whatever_passage_ranks_first(office):
    """Retrieval always ranks something first; only a question (or a knowledge intent) is
    answered with it. "I insist, give me the discount now!" is not, and the agent that cannot
    help twice hands over."""
    from dialogue.knowledge.base import Passage

    class Anything:  # as hybrid retrieval does: a best passage for every query
        def search(self, query, k=5):
            return [Passage("faq.csv#item-rules", "Items", "Items can be changed once.", 0.03, None, 1)]  # fmt: skip

    script = {
        **SCRIPT,
        "Give me a 50% discount on my next purchase.": ("out_of_scope", 0.9, ()),
        "I insist, give me the discount now!": ("cancel_order", 0.5, ()),
    }
    a = Agent(AgentServices(nlu=FakeNLU(script), office=office, knowledge=Anything()), "t")
    first, second = talk(a, "Give me a 50% discount on my next purchase.", "I insist, give me the discount now!")  # fmt: skip
    assert not first.decision.reason.startswith("knowledge")
    assert second.handoff and "Items can be changed" not in second.reply
