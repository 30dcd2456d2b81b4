"""The shipped dialogue model: which model a talking command builds (--lm, --no-lm, $CCA_LM, the
shipped default and what happens when it cannot run), its card, and under the weights marker the
shipped adapter answering through the Agent with llama.cpp."""

from __future__ import annotations

import pytest

from dialogue.lm import shipped
from dialogue.lm.shipped import ALIAS, SHIPPED_LM, ShippedModelMissing, choose


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


def test_the_default_is_the_shipped_model_when_it_runs_here(runs_here, monkeypatch):
    monkeypatch.delenv("CCA_LM", raising=False)
    assert choose(None) == (SHIPPED_LM, str(shipped.SHIPPED_DIR))
    assert choose(None, "my-adapter") == (SHIPPED_LM, "my-adapter")
    monkeypatch.setenv("CCA_LM", "none")
    assert choose(None) == (None, None)


def test_without_llama_cpp_the_default_falls_back_to_templates_and_says_why(missing, monkeypatch, caplog):  # fmt: skip
    monkeypatch.delenv("CCA_LM", raising=False)
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
    monkeypatch.setattr(shipped.importlib.util, "find_spec", lambda name: None)
    assert "pip install" in shipped.shipped_problem() and "[llama]" in shipped.shipped_problem()


def test_lm_info_without_a_shipped_model(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shipped, "SHIPPED_DIR", tmp_path)
    assert shipped.main(["info"]) == 1
    assert "no model ships" in capsys.readouterr().out
    assert shipped.main(["ship", str(tmp_path)]) == 2
    assert "no cca_run.json" in capsys.readouterr().err
