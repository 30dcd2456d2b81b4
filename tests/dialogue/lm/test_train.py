"""Fine-tuning with a tiny random Llama and a tokenizer built in the test: the label mask, the loss
going down, early stopping, resuming at the same step with the same state, adapter round trips,
and recipe errors."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import pytest
import torch

from dialogue.lm.examples import IGNORE, build_example, build_examples, encode, messages_of
from dialogue.lm.recipe import (
    DataConfig,
    EvalConfig,
    LoraConfig,
    OptimConfig,
    RunConfig,
    TrainConfig,
    load_config,
)
from dialogue.lm.train import Trainer, wrap_lora
from fusion.fuse import Fusion
from tests.conftest import tiny_llama, tiny_tokenizer


@dataclass(frozen=True)
class Turn:
    role: str
    text: str
    transcript: str | None = None
    screenshot_text: str | None = None
    image: str | None = None


@dataclass(frozen=True)
class Conv:
    id: str
    language: str
    turns: tuple
    source: str = "test"


def conv(i: int) -> Conv:
    return Conv(
        f"c{i}",
        "en",
        (
            Turn("customer", f"hello, my order {i} is late"),
            Turn("agent", f"sorry, order {i} is on its way"),
            Turn("customer", "thanks", transcript="thanks a lot"),
            Turn("agent", "you are welcome"),
        ),
    )


def setup(tmp_path, **optim):
    tok = tiny_tokenizer()
    fusion = Fusion(tok)
    train = build_examples([conv(i) for i in range(8)], tok, fusion, max_len=512)
    dev = build_examples([conv(100 + i) for i in range(2)], tok, fusion, max_len=512)
    config = TrainConfig(
        lora=LoraConfig(r=4, alpha=8, dropout=0.1),
        optim=OptimConfig(
            **{
                "lr": 1e-2,
                "batch_size": 2,
                "grad_accum": 2,
                "warmup_ratio": 0.1,
                "max_steps": 6,
                **optim,
            }
        ),
        eval=EvalConfig(every=2, patience=10),
        run=RunConfig(out=str(tmp_path / "run"), seed=3, device="cpu"),
    )
    torch.manual_seed(0)
    model = wrap_lora(tiny_llama(len(tok), seed=0), config.lora)
    return config, model, tok, train, dev


def test_labels_cover_exactly_the_agent_replies():
    tok = tiny_tokenizer()
    ids, labels = encode(tok, messages_of(conv(1), Fusion(tok)))
    assert len(ids) == len(labels)
    trained = tok.decode([i for i, lab in zip(ids, labels, strict=True) if lab != IGNORE])
    assert trained == "sorry, order 1 is on its way<|im_end|>\nyou are welcome<|im_end|>\n"
    assert all(lab in (IGNORE, i) for i, lab in zip(ids, labels, strict=True))
    full = tok.apply_chat_template(
        [m.to_dict() for m in messages_of(conv(1), Fusion(tok))], tokenize=False
    )
    assert tok.decode(ids) == full  # piecewise tokenization renders the same conversation
    assert (
        "thanks a lot" in full and '<data source="transcript"' in full
    )  # quoted as the Agent does


def test_long_conversations_lose_their_oldest_exchanges_first():
    tok = tiny_tokenizer()
    fusion = Fusion(tok)
    full = build_example(conv(1), tok, fusion, max_len=10_000)
    short = build_example(conv(1), tok, fusion, max_len=len(full.input_ids) - 5)
    assert len(short.input_ids) < len(full.input_ids)
    assert (
        tok.decode(
            [i for i, lab in zip(short.input_ids, short.labels, strict=True) if lab != IGNORE]
        )
        == "you are welcome<|im_end|>\n"
    )


def test_a_few_steps_lower_the_loss(tmp_path):
    config, model, tok, train, dev = setup(tmp_path)
    trainer = Trainer(config, model, tok, train, dev)
    before = trainer.dev_loss()
    state = trainer.train(progress=False)
    assert state.step == 6 and state.stopped == "max steps"
    assert trainer.dev_loss() < before
    rows = [
        json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6] and "dev_loss" in rows[1]
    assert (tmp_path / "run" / "loss.png").stat().st_size > 1000
    assert (tmp_path / "run" / "best" / "adapter_config.json").is_file()


def test_early_stopping_fires_and_keeps_the_best(tmp_path, monkeypatch):
    config, model, tok, train, dev = setup(tmp_path, max_steps=20)
    config = replace(config, eval=EvalConfig(every=1, patience=2))
    trainer = Trainer(config, model, tok, train, dev)
    losses = iter([3.0, 2.0, 2.5, 2.4, 1.0])
    monkeypatch.setattr(trainer, "dev_loss", lambda: next(losses))
    state = trainer.train(progress=False)
    assert state.stopped == "early stopping"
    assert state.step == 4 and state.best_step == 2 and state.best_dev == 2.0


def trainable(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def test_resume_continues_at_the_same_step_with_the_same_state(tmp_path):
    config, model, tok, train, dev = setup(tmp_path / "a")
    straight = Trainer(config, model, tok, train, dev)
    straight.train(progress=False)
    expected = trainable(straight.model)

    config_b, model_b, _, _, _ = setup(tmp_path / "b")
    first = Trainer(config_b, model_b, tok, train, dev)
    st = first.train(progress=False, until_step=3)  # interrupted
    assert st.step == 3 and st.stopped == ""
    config_c, model_c, _, _, _ = setup(tmp_path / "b")  # a new process: fresh weights, same out
    second = Trainer(config_c, model_c, tok, train, dev)
    st = second.train(progress=False)
    assert st.step == 6
    got = trainable(second.model)
    assert got.keys() == expected.keys()
    for name in expected:
        assert torch.allclose(got[name], expected[name], atol=1e-6), name
    rows = [
        json.loads(line)
        for line in (tmp_path / "b" / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]


def test_the_best_adapter_round_trips(tmp_path):
    from peft import PeftModel

    config, model, tok, train, dev = setup(tmp_path)
    trainer = Trainer(config, model, tok, train, dev)
    trainer.train(progress=False)
    trainer.save_model(tmp_path / "adapter")
    model.eval()
    loaded = PeftModel.from_pretrained(tiny_llama(len(tok), seed=0), tmp_path / "adapter").eval()
    x = torch.tensor([train[0].input_ids])
    with torch.no_grad():
        assert torch.allclose(model(x).logits, loaded(x).logits, atol=1e-5)
        merged = loaded.merge_and_unload()
        assert torch.allclose(model(x).logits, merged(x).logits, atol=1e-4)


def test_recipe_errors_name_the_key(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text(
        '[model]\nname = "x"\n[optim]\nlr = 0.001\n[lora]\ntarget_modules = ["q_proj"]\n'
    )
    cfg = load_config(good)
    assert (
        cfg.model.name == "x" and cfg.optim.lr == 0.001 and cfg.lora.target_modules == ("q_proj",)
    )
    assert cfg.data == DataConfig()
    bad = tmp_path / "bad.toml"
    bad.write_text("[optim]\nlearning_rate = 0.1\n")
    with pytest.raises(ValueError, match=r"unknown keys in \[optim\]: \['learning_rate'\]"):
        load_config(bad)
    bad.write_text("[optimiser]\nlr = 0.1\n")
    with pytest.raises(ValueError, match="unknown sections"):
        load_config(bad)


def test_lora_on_missing_modules_says_which(tmp_path):
    with pytest.raises(ValueError, match="not in this model"):
        wrap_lora(tiny_llama(50), LoraConfig(target_modules=("c_attn",)))


def test_no_training_examples_is_an_error(tmp_path):
    config, model, tok, _, dev = setup(tmp_path)
    with pytest.raises(ValueError, match="no training examples"):
        Trainer(config, model, tok, [], dev)


def test_the_shipped_recipes_load():
    from tests.conftest import ROOT

    recipes = sorted((ROOT / "recipes").glob("*.toml"))
    assert recipes
    for path in recipes:
        cfg = load_config(path)
        assert cfg.model.name and cfg.run.out.startswith("runs/")


def test_the_target_only_loss_equals_the_full_loss(tmp_path):
    from dialogue.lm.loss import agent_token_loss, collate

    config, model, tok, train, _ = setup(tmp_path)
    batch = collate(train[:3], tok.pad_token_id)
    model.eval()
    with torch.no_grad():
        assert torch.allclose(agent_token_loss(model, batch), model(**batch).loss, atol=1e-5)


@dataclass(frozen=True)
class ActTurn(Turn):
    action: dict | None = None


def test_per_turn_examples_quote_each_turns_tool_result_as_the_agent_does():
    tok = tiny_tokenizer()
    fusion = Fusion(tok)
    c = Conv(
        "t1",
        "en",
        (
            ActTurn("customer", "where is order W1?"),
            ActTurn(
                "agent",
                "Order W1 has shipped.",
                action={"tool": "get_order_details", "args": {}, "result": {"status": "shipped"}},
            ),
            ActTurn("customer", "thanks"),
            ActTurn("agent", "You are welcome."),
        ),
    )
    examples = build_examples([c], tok, fusion, max_len=10_000, per_turn=True)
    from dialogue.lm.convdata import TurnAction

    typed = replace(c, turns=(c.turns[0], replace(c.turns[1], action=TurnAction("get_order_details", {}, {"status": "shipped"})), *c.turns[2:]))  # fmt: skip
    assert build_examples([typed], tok, fusion, max_len=10_000, per_turn=True) == examples
    assert [e.conversation_id for e in examples] == ["t1#0", "t1#1"]
    for e, reply in zip(examples, ("Order W1 has shipped.", "You are welcome."), strict=True):
        trained = tok.decode(
            [i for i, lab in zip(e.input_ids, e.labels, strict=True) if lab != IGNORE]
        )
        assert trained == reply + "<|im_end|>\n"  # only this turn's reply is learned
    first, second = (tok.decode(e.input_ids) for e in examples)
    system, customer = first.split("<|im_end|>")[:2]
    assert "shipped" not in system  # the facts follow the customer's message
    assert customer.index("where is order W1?") < customer.index('<data source="tool:get_order_details"')  # fmt: skip
    assert "tool:get_order_details" not in second  # a later turn has its own facts
    assert "Order W1 has shipped." in second  # ...and the earlier reply as history
    short = build_examples([c], tok, fusion, max_len=len(examples[1].input_ids) - 3, per_turn=True)
    assert short[1].n_target == examples[1].n_target  # the history is cut, never the reply


def test_a_source_cap_keeps_the_same_conversations_whatever_the_order(tmp_path):
    from dialogue.lm.train_data import cap_sources

    convs = [replace(conv(i), source="stc3" if i % 2 else "retail") for i in range(40)]
    kept = cap_sources(convs, {"stc3": 5})
    assert sum(c.source == "stc3" for c in kept) == 5
    assert [c for c in kept if c.source == "retail"] == [c for c in convs if c.source == "retail"]
    again = cap_sources(list(reversed(convs)), {"stc3": 5})
    assert {c.id for c in again} == {c.id for c in kept}
    assert cap_sources(convs, {"stc3": 0}) == [c for c in convs if c.source == "retail"]
    assert cap_sources(convs, {}) == convs


def test_a_limit_takes_every_source_in_turn(tmp_path):
    from dialogue.lm.train_data import interleave_sources

    convs = [replace(conv(i), source="a") for i in range(5)] + [replace(conv(i + 5), source="b") for i in range(2)]  # fmt: skip
    mixed = interleave_sources(convs)
    assert [c.source for c in mixed] == ["a", "b", "a", "b", "a", "a", "a"]
    assert sorted(c.id for c in mixed) == sorted(c.id for c in convs)  # nothing lost or doubled
    assert [c.id for c in mixed if c.source == "a"] == [f"c{i}" for i in range(5)]  # order kept


def test_the_recipe_caps_sources_and_reads_the_dev_loss_on_its_own_sources(tmp_path):
    from dialogue.lm.convdata import Conversation, ConvTurn, write_jsonl
    from dialogue.lm.train_data import read_conversations

    turns = (ConvTurn("customer", "hi"), ConvTurn("agent", "hello"))
    path = tmp_path / "dev.jsonl"
    write_jsonl(path, [Conversation(f"{s}{i}", s, "en", turns) for s in ("stc3", "retail", "open") for i in range(6)])  # fmt: skip
    recipe = tmp_path / "r.toml"
    recipe.write_text('[data]\nsources = ["stc3", "retail", "open"]\nmax_per_source = { stc3 = 2 }\ndev_sources = ["retail", "open"]\n')  # fmt: skip
    data = load_config(recipe).data
    assert data.max_per_source == (("stc3", 2),) and data.dev_sources == ("retail", "open")
    assert [c.source for c in read_conversations(str(path), data)].count("stc3") == 2
    dev = read_conversations(str(path), replace(data, sources=data.dev_sources), limit=4)
    assert [c.source for c in dev] == ["retail", "open", "retail", "open"]
    recipe.write_text("[data]\nmax_per_source = { stc3 = -1 }\n")
    with pytest.raises(ValueError, match="max_per_source.stc3 must be a whole number"):
        load_config(recipe)
