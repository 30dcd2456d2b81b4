"""The Agent and its dialogue policy on a real SQLite back office (the small fixture data set):
writes only after an explicit yes, refusals that change nothing, handoffs, stage failures that
still get an answer, screenshots that carry the order number, and a model draft that promises
too much replaced by the template."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dialogue.agent import Agent, AgentServices, CustomerTurn
from dialogue.evals.conversations import run_conversation, summarise
from dialogue.policy.reply import render
from fusion.fuse import Fusion
from fusion.types import TurnInput
from tests.conftest import tiny_tokenizer
from tests.fakes import FakeGenerator, FakeNLU, FakeOCR
from tests.retail_fixture import snapshot
from vision.image import from_array
from vision.see import ScreenshotReader
from voice.types import Audio

SCRIPT = {
    "I want to cancel an order": ("cancel_order", 0.97, ()),
    "my email is alice@example.com": ("order_status", 0.6, (("email", "alice@example.com"),)),
    "my email is bob@example.com": ("order_status", 0.6, (("email", "bob@example.com"),)),
    "it's order #W1": ("order_status", 0.7, (("order_number", "#W1"),)),
    "it's order #W6": ("order_status", 0.7, (("order_number", "#W6"),)),
    "it's order #W3": ("order_status", 0.7, (("order_number", "#W3"),)),
    "I ordered it by mistake": ("deny", 0.6, ()),
    "yes": ("affirm", 0.99, ()),
    "no": ("deny", 0.99, ()),
    "where is my order": ("order_status", 0.95, ()),
    "I want to talk to a person": ("talk_to_human", 0.95, ()),
    "This is the third time, I'm furious, this is ridiculous!": ("complaint", 0.9, ()),
    "hello": ("greeting", 0.99, ()),
    "what is the meaning of life": ("out_of_scope", 0.9, ()),
    "tell me a joke": ("out_of_scope", 0.9, ()),
    "look at this": ("order_status", 0.9, ()),
}


def agent(office, **extra) -> Agent:
    return Agent(AgentServices(nlu=FakeNLU(SCRIPT), office=office, **extra), session_id="t")


def talk(a: Agent, *turns: str):
    return [a.respond(CustomerTurn(text=t)) for t in turns]


def writes(turns) -> list[str]:
    return [
        a.tool
        for t in turns
        for a in t.actions
        if a.ok and a.tool.startswith(("cancel", "return", "modify", "exchange"))
    ]


def test_a_cancel_is_written_only_after_the_customers_yes(office):
    a = agent(office)
    before = snapshot(office)
    turns = talk(
        a,
        "I want to cancel an order",
        "my email is alice@example.com",
        "it's order #W1",
        "I ordered it by mistake",
    )
    assert [t.decision.template for t in turns] == [
        "ask_auth",
        "ask_order_id",
        "ask_cancel_reason",
        "confirm_action",
    ]
    assert "#W1" in turns[-1].reply and "mistake" in turns[-1].reply
    assert snapshot(office) == before  # proposed, not done
    done = a.respond(CustomerTurn(text="yes"))
    assert done.decision.template == "action_done" and writes([done]) == ["cancel_pending_order"]
    assert office.order("#W1")["status"] == "cancelled"
    assert [row["tool"] for row in office.audit("t")] == ["cancel_pending_order"]


def test_no_at_the_confirmation_changes_nothing(office):
    a = agent(office)
    talk(
        a,
        "I want to cancel an order",
        "my email is alice@example.com",
        "it's order #W1",
        "I ordered it by mistake",
    )
    before = snapshot(office)
    turn = a.respond(CustomerTurn(text="no"))
    assert turn.decision.template == "action_dropped" and snapshot(office) == before


def test_another_users_order_is_refused_and_nothing_changes(office):
    a = agent(office)
    before = snapshot(office)
    turns = talk(
        a, "I want to cancel an order", "my email is alice@example.com", "it's order #W6", "yes"
    )
    # read as a miss, never as "someone else's": what was tried is named and her orders offered
    assert turns[2].decision.template == "order_not_on_account"
    assert turns[2].reply.startswith("I could not find order #W6 on your account.")
    assert "#W1 (pending), #W2 (pending)" in turns[2].reply and "bob" not in turns[2].reply.lower()
    assert writes(turns) == [] and snapshot(office) == before


def test_a_delivered_order_cannot_be_cancelled(office):
    a = agent(office)
    turns = talk(
        a,
        "I want to cancel an order",
        "my email is alice@example.com",
        "it's order #W3",
        "I ordered it by mistake",
        "yes",
    )
    assert any(t.decision.reason.startswith("not_pending") for t in turns)
    assert writes(turns) == [] and office.order("#W3")["status"] == "delivered"


def test_nothing_is_read_before_authentication(office):
    turn = agent(office).respond(CustomerTurn(text="it's order #W1"))
    assert turn.decision.template == "ask_auth"
    assert [a.tool for a in turn.actions] == []


@pytest.mark.parametrize(
    "text, reason, opening",
    [
        ("I want to talk to a person", "asked for a person", "I'm connecting you"),
        (
            "This is the third time, I'm furious, this is ridiculous!",
            "strong negative",
            "I'm sorry",
        ),
    ],
)
def test_handoff_when_asked_or_angry(office, text, reason, opening):
    turn = agent(office).respond(CustomerTurn(text=text))
    assert turn.handoff and reason in turn.decision.reason
    assert turn.reply.startswith(opening) and "I'm connecting you to a colleague" in turn.reply


def test_two_unhelpful_turns_in_a_row_reach_a_person(office):
    a = agent(office)
    first, second = talk(a, "what is the meaning of life", "tell me a joke")
    assert not first.handoff and first.decision.template == "out_of_scope"
    assert second.handoff and "without help" in second.decision.reason


def test_a_screenshot_carries_the_order_number(office):
    reader = ScreenshotReader(
        FakeOCR(
            lines=(("Order details", (0, 0, 200, 20)), ("Order number: ORD-4711", (0, 30, 300, 50)))
        )
    )
    a = agent(office, reader=reader)
    talk(a, "where is my order", "my email is alice@example.com")
    turn = a.respond(
        CustomerTurn(
            text="look at this",
            images=(from_array(np.full((60, 300, 3), 255, np.uint8), "order.png"),),
        )
    )
    assert turn.screenshots[0]["fields"]["order_number"] == ["ORD-4711"]
    assert any(
        a.tool == "get_order_details" and a.args["order_id"] == "ORD-4711" for a in turn.actions
    )


def test_an_order_number_with_no_cue_on_a_screenshot_is_looked_up(office):
    """A chat capture names the order bare ("I was charged twice for W2378156"), with no "order"
    before it: the agent still takes it as the order the customer means."""
    lines = (("Ava Johnson 5:53 PM", (0, 0, 200, 20)), ("I was charged twice for W2378156.", (0, 30, 300, 50)))  # fmt: skip
    a = agent(office, reader=ScreenshotReader(FakeOCR(lines=lines)))
    talk(a, "where is my order", "my email is alice@example.com")
    image = from_array(np.full((60, 300, 3), 255, np.uint8), "chat.png")
    turn = a.respond(CustomerTurn(text="what about this one?", images=(image,)))
    assert any(a.args.get("order_id", "").endswith("W2378156") for a in turn.actions), turn.actions


class BrokenASR:
    def transcribe(self, audio):
        raise RuntimeError("the GPU fell over")


def test_a_failing_stage_is_recorded_and_the_customer_still_gets_an_answer(office):
    a = agent(office, asr=BrokenASR())
    turn = a.respond(CustomerTurn(audio=Audio(np.zeros(16000, np.float32))))
    assert turn.errors == ("asr: the GPU fell over",)
    assert "listening to your audio" in turn.reply and "asr" in turn.timings_ms
    ok = a.respond(CustomerTurn(text="hello"))  # the conversation goes on
    assert ok.decision.template == "greeting" and ok.errors == ()


def test_a_model_draft_that_promises_a_refund_is_replaced_by_the_template(office):
    gen = FakeGenerator("No problem, I've refunded you in full!")
    a = agent(office, generator=gen, fusion=Fusion(tiny_tokenizer()))
    turn = a.respond(CustomerTurn(text="I want to cancel an order"))
    assert turn.reply_source.startswith("template (promises a refund")
    assert turn.reply.startswith("Before I can look at your account")
    assert "policy:decision" in gen.prompts[0]  # the model saw the decision it was to phrase
    ok = Agent(
        AgentServices(
            nlu=FakeNLU(SCRIPT),
            office=office,
            generator=FakeGenerator("Hi! How can I help?"),
            fusion=Fusion(tiny_tokenizer()),
        )
    ).respond(CustomerTurn(text="hello"))
    assert ok.reply == "Hi! How can I help?" and ok.reply_source == "model"


def test_the_turn_record_has_the_documented_shape(office):
    turn = agent(office).respond(CustomerTurn(text="my email is alice@example.com"))
    d = json.loads(json.dumps(turn.to_dict()))
    assert {
        "transcript",
        "language",
        "intent",
        "entities",
        "sentiment",
        "actions",
        "reply",
        "handoff",
        "timings_ms",
    } <= set(d)
    assert {"nlu", "policy"} <= set(d["timings_ms"])


def test_run_conversation_scores_writes_statuses_and_handoff(office):
    spec = {
        "id": "c1", "language": "en", "category": "cancel",
        "turns": [{"text": t} for t in ("I want to cancel an order", "my email is alice@example.com", "it's order #W1", "I ordered it by mistake", "yes")],
        "expect": {"writes": [{"tool": "cancel_pending_order", "args": {"order_id": "#W1", "reason": "ordered by mistake"}}], "orders": {"#W1": {"status": "cancelled"}}, "handoff": False},
    }  # fmt: skip
    result = run_conversation(spec, AgentServices(nlu=FakeNLU(SCRIPT), office=office))
    assert result.success and result.wrong_actions == [] and result.unconfirmed_actions == []
    wrong = dict(
        spec,
        id="c2",
        expect={"writes": [], "orders": {"#W1": {"status": "pending"}}, "handoff": True},
    )
    bad = run_conversation(wrong, AgentServices(nlu=FakeNLU(SCRIPT), office=office))
    assert not bad.success and bad.handoff is False
    summary = summarise([result, bad])
    assert summary["task_success"] == 0.5 and summary["handoff_recall"] == 0.0
    replies = summary["replies"]  # every turn's reply: fallbacks, degenerate ones, latency
    assert replies["turns"] == 10 and replies["fallbacks"] == replies["degenerate"] == 0
    assert 0 < replies["p50_ms"] <= replies["p95_ms"]


def test_account_details_end_that_task(office):
    script = dict(
        SCRIPT,
        **{
            "show my account": ("account", 0.95, ()),
            "my email is alice@example.com": ("account", 0.9, (("email", "alice@example.com"),)),
        },
    )
    a = Agent(AgentServices(nlu=FakeNLU(script), office=office))
    talk(a, "show my account", "my email is alice@example.com")
    assert a.state.task is None
    turns = talk(a, "I want to cancel an order", "it's order #W1")
    assert turns[-1].decision.template == "ask_cancel_reason"


@pytest.mark.slow
@pytest.mark.weights
def test_cca_eval_conversations_on_the_real_back_office(capsys):
    from tests.conftest import SHARED

    retail = SHARED / "data" / "retail"
    if not (retail / "orders.json").is_file():
        pytest.skip(f"no retail data at {retail}")
    from dialogue.evals.cli import main

    assert (
        main(
            [
                "conversations",
                "--retail",
                str(retail),
                "--only",
                "cancel",
                "--json",
                "--no-progress",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["conversations"] >= 8
    assert out["summary"]["wrong_actions"] == 0 and out["summary"]["unconfirmed_actions"] == 0


@pytest.mark.parametrize(
    "said, kept",
    [
        ("alice@example.com", "zh"),  # an email alone is no switch
        ("ok", "zh"),
        ("新地址是 12 Oak Street, Springfield, IL 62704", "zh"),
        ("Actually, could you answer me in English please?", "en"),  # a sentence is
    ],
)
def test_a_chinese_conversation_stays_chinese_through_ids_and_addresses(office, said, kept):
    nlu = FakeNLU({"我要取消订单": ("cancel_order", 0.97, ()),
                   "alice@example.com": ("order_status", 0.6, (("email", "alice@example.com"),))})  # fmt: skip
    a = Agent(AgentServices(nlu=nlu, office=office), session_id="zh")
    first, turn = talk(a, "我要取消订单", said)
    assert first.language == "zh" and turn.language == kept
    assert any("\u4e00" <= c <= "\u9fff" for c in turn.reply) is (kept == "zh"), turn.reply


def test_with_say_the_models_clauses_are_said_as_the_guard_releases_them(office):
    """The draft's first clause reaches `say` while the model is still writing; a clause that
    promises what no tool did is never said, and the record holds what was said."""
    events: list[str] = []

    class Writer(FakeGenerator):
        def stream(self, prompt):
            for piece in super().stream(prompt):
                events.append(f"wrote {piece.strip()}")
                yield piece

    gen = Writer("Of course, I can look into that for you. I have refunded you in full.")
    a = agent(office, generator=gen, fusion=Fusion(tiny_tokenizer()))
    said: list[tuple[str, str]] = []
    turn = a.respond(
        CustomerTurn(text="I want to cancel an order"),
        say=lambda text, language: (said.append((text, language)), events.append("said")),
    )
    template = render("ask_auth", "en")
    assert [t for t, _ in said] == ["Of course,", "I can look into that for you.", template]
    assert {lang for _, lang in said} == {"en"}
    assert events.index("said") < events.index("wrote full.")  # before the draft was done
    assert turn.reply == f"Of course, I can look into that for you. {template}"
    assert turn.reply_source.startswith("model (cut: promises a refund")
    assert a.history[-1].content == turn.reply


def test_with_say_a_template_reply_is_said_whole(office):
    said: list[tuple[str, str]] = []
    a = agent(office)  # no model: templates
    turn = a.respond(CustomerTurn(text="hello"), say=lambda t, lang: said.append((t, lang)))
    assert said == [(turn.said(), "en")] and turn.reply_source == "template"
    gen = FakeGenerator("I've refunded you in full!")  # rejected before any clause
    b = agent(office, generator=gen, fusion=Fusion(tiny_tokenizer()))
    said.clear()
    turn = b.respond(CustomerTurn(text="I want to cancel an order"), say=lambda t, lang: said.append((t, lang)))  # fmt: skip
    assert said == [(turn.reply, "en")] and turn.reply_source.startswith("template (promises")


def test_the_model_is_told_what_the_next_prompt_starts_with(office):
    """At the start and after every turn the Agent hands the model the start of its next prompt
    (the system message and the history), which a cached engine reads while the customer talks."""
    gen = FakeGenerator("Hi! How can I help?")
    a = agent(office, generator=gen, fusion=Fusion(tiny_tokenizer()))
    assert len(gen.prefixes) == 1
    for text in ("hello", "where is my order"):
        a.respond(CustomerTurn(text=text))
        assert gen.prompts[-1].startswith(gen.prefixes[-2])  # the prefix was this prompt's start
    assert len(gen.prefixes) == 3 and "Hi! How can I help?" in gen.prefixes[-1]
    assert gen.prefixes[-1].startswith(gen.prefixes[0])


def test_the_model_is_told_the_turns_words_before_the_understanding(office):
    """Once the customer's words are known the model is told the turn's prompt up to its facts,
    before the NLU, the retrieval and the policy run, so a cached engine reads them meanwhile."""
    from fusion.fuse import FACTS_HEADER

    gen = FakeGenerator("Sure.")
    told_before_nlu: list[int] = []

    class Watching(FakeNLU):
        def analyse(self, text, language=None):
            told_before_nlu.append(len(gen.prefixes))
            return super().analyse(text, language)

    a = Agent(AgentServices(nlu=Watching(SCRIPT), office=office, generator=gen, fusion=Fusion(tiny_tokenizer()), read_turn_ahead=True), session_id="t")  # fmt: skip
    for i, text in enumerate(("hello", "where is my order")):
        a.respond(CustomerTurn(text=text))
        turn_prefix = gen.prefixes[-2]  # then the prefix of the next turn, after the reply
        assert told_before_nlu[-1] == 2 * i + 2  # between turns, then this turn's words
        assert gen.prompts[-1].startswith(turn_prefix)
        assert turn_prefix.endswith(FACTS_HEADER + "\n") and text in turn_prefix
        assert turn_prefix.startswith(gen.prefixes[-3])  # the history's prefix, read before


def test_an_empty_or_failing_turn_prefix_costs_nothing(office):
    class Broken(Fusion):
        def turn_prefix(self, turn, history=()):
            raise RuntimeError("tokenizer gone")

    gen = FakeGenerator("Sure.")
    a = agent(office, generator=gen, fusion=Broken(tiny_tokenizer()), read_turn_ahead=True)
    turn = a.respond(CustomerTurn(text="hello"))
    assert turn.reply and gen.prompts  # the reply is made all the same
    assert Fusion(tiny_tokenizer()).turn_prefix(TurnInput()) == ""
    off = FakeGenerator("Sure.")
    agent(office, generator=off, fusion=Fusion(tiny_tokenizer())).respond(
        CustomerTurn(text="hello")
    )  # the default
    assert len(off.prefixes) == 2 and "hello" not in off.prefixes[0]  # between turns only


@pytest.mark.parametrize("in_prompt", [False, True])
def test_tool_results_reach_the_prompt_only_when_asked_and_the_guard_always(office, in_prompt):
    """By default the model phrases the decision (its template with {slot} marks) and is not
    shown the tools' results; the guard still judges a draft against them whole."""
    gen = FakeGenerator("Order #W1 is on its way and will arrive on March 3.")
    a = agent(office, generator=gen, fusion=Fusion(tiny_tokenizer()), tool_results_in_prompt=in_prompt)  # fmt: skip
    talk(a, "where is my order", "my email is alice@example.com")
    turn = a.respond(CustomerTurn(text="it's order #W1"))
    assert any(x.tool == "get_order_details" for x in turn.actions)
    assert ('source="tool:get_order_details"' in gen.prompts[-1]) is in_prompt
    assert 'source="policy:decision"' in gen.prompts[-1]
    # a date no tool returned is refused either way, and the template stands in
    assert turn.reply_source.startswith("template (") and "March 3" not in turn.reply
