"""Domain packs: domain.toml and intents.csv read with errors that name file and line, every
problem listed by `check_pack`, the starter pack of `cca domain new`, and the packs that ship."""

from __future__ import annotations

import pytest

from dialogue.domain.check import check_pack
from dialogue.domain.cli import main, new_pack
from dialogue.domain.pack import DomainError, DomainPack, read_intents
from tests.conftest import ROOT
from vision.fields import FieldCues


def write(folder, name, text):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def pack(tmp_path):
    return new_pack("shop", tmp_path)


def test_the_starter_pack_loads_and_checks_clean(pack):
    p = DomainPack.load(pack)
    assert p.name == "shop" and p.languages == ("en", "zh")
    assert p.intents_file == pack / "intents.csv" and p.knowledge_dir == pack / "knowledge"
    rows = p.intents()
    assert {r.intent for r in rows} == {"greeting", "talk_to_human", "out_of_scope"}
    assert {r.language for r in rows} == {"en", "zh"} and rows[0].line == 2
    problems = check_pack(pack)
    assert [x for x in problems if x.level == "error"] == []
    assert any("handoff" in x.message for x in problems)  # the starter has no number yet
    assert any("cca nlu train --domain" in x.message for x in problems)


def test_new_refuses_a_bad_name_or_an_existing_folder(pack, tmp_path):
    with pytest.raises(ValueError, match="lower-case"):
        new_pack("My Shop", tmp_path)
    with pytest.raises(FileExistsError):
        new_pack("shop", tmp_path)


@pytest.mark.parametrize(
    "toml, match",
    [
        ("[domain]\n", "needs name"),
        ('[domain]\nname = "x"\nlanguages = ["fr"]\n', "languages"),
        ('[domain\nname = "x"\n', "TOML"),
        ("domain = 3\n", "must be a table"),
    ],
)
def test_bad_domain_toml_names_the_file(tmp_path, toml, match):
    write(tmp_path, "domain.toml", toml)
    with pytest.raises(DomainError, match=match) as e:
        DomainPack.load(tmp_path)
    assert str(tmp_path / "domain.toml") in str(e.value)


def test_a_folder_without_domain_toml_says_how_to_make_one(tmp_path):
    with pytest.raises(DomainError, match="cca domain new"):
        DomainPack.load(tmp_path)


@pytest.mark.parametrize(
    "csv_text, line, match",
    [
        ("words,label\nhi,greeting\n", 1, "header"),
        ("text,intent\nhi,greeting\n,greeting\n", 3, "empty"),
        ("text,intent\nhi,greeting\nhello,greet ing\n", 3, "single word"),
        ("text,intent,language\nhi,greeting,en\nbonjour,greeting,fr\n", 3, "language"),
        ("text,intent\nhi,greeting\nhello, there,greeting\n", 3, "fields"),
    ],
)
def test_bad_intents_rows_name_file_and_line(tmp_path, csv_text, line, match):
    path = write(tmp_path, "intents.csv", csv_text)
    with pytest.raises(DomainError, match=match) as e:
        list(read_intents(path))
    assert str(e.value).startswith(f"{path}:{line}:")


def test_check_lists_every_problem_with_file_and_line(pack):
    write(
        pack,
        "intents.csv",
        "text,intent\nhi,greeting\nhello,greeting\nhey,greeting\nbye,bye\nhi,bye\n",
    )
    write(pack, "knowledge/broken.json", "{not json")
    write(pack, "knowledge/notes.txt", "ignored")
    write(pack, "tools.py", "")
    with open(pack / "domain.toml", "a", encoding="utf-8") as f:
        f.write('\n[tools]\nrefund = "tools.refund"\n[toolz]\n')
    problems = [((x.level, x.path.split("/")[-1], x.line), x.message) for x in check_pack(pack)]
    assert "broken.json" in {k[1] for k, _ in problems if k[0] == "error"}
    assert any("'bye' has 2" in v for (lvl, f, n), v in problems if n == 5)
    assert any("same text" in v for (lvl, f, n), v in problems if n == 2)
    assert any("out_of_scope" in v for (lvl, f, n), v in problems if f == "intents.csv")
    assert any("[toolz]" in v for (lvl, f, n), v in problems if lvl == "warning")
    assert any("[tools] accepted" in v for (lvl, f, n), v in problems if lvl == "note")
    keys = {k for k, _ in problems}
    assert ("note", "notes.txt", 0) in keys and ("note", "tools.py", 0) in keys
    levels = [x.level for x in check_pack(pack)]
    assert levels == sorted(levels, key=["error", "warning", "note"].index)


def test_check_says_how_to_build_a_missing_intents_file(pack):
    with open(pack / "domain.toml", encoding="utf-8") as f:
        text = f.read().replace(
            'file = "intents.csv"', 'file = "intents.csv"\nbuild = "make intents"'
        )
    write(pack, "domain.toml", text)
    (pack / "intents.csv").unlink()
    (error,) = [x for x in check_pack(pack) if x.level == "error"]
    assert "make intents" in error.message and error.path.endswith("intents.csv")


def test_cli_new_then_check(tmp_path, capsys):
    assert main(["new", "bank2", "--dir", str(tmp_path)]) == 0
    assert main(["check", str(tmp_path / "bank2")]) == 0
    assert "0 error(s)" in capsys.readouterr().out
    (tmp_path / "bank2" / "intents.csv").write_text("nope\n", encoding="utf-8")
    assert main(["check", str(tmp_path / "bank2")]) == 1
    assert "intents.csv:1:" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["bank", "retail"])
def test_the_shipped_packs_have_no_errors(name):
    problems = check_pack(ROOT / "domains" / name)
    assert [str(x) for x in problems if x.level != "note"] == []


@pytest.mark.parametrize("name", ["bank", "retail"])
def test_the_shipped_packs_name_every_intent_in_both_languages(name):
    p = DomainPack.load(ROOT / "domains" / name)
    assert set(p.intent_labels) == set(p.labels())
    assert all(set(words) == {"en", "zh"} for words in p.intent_labels.values())
    assert not [x for x in check_pack(p.root) if "label" in x.message]


def test_an_intent_reads_as_its_label_else_its_code_made_readable(pack):
    with open(pack / "domain.toml", encoding="utf-8") as f:
        text = f.read().split("[intents.labels]")[0]  # the starter's labels, replaced
    write(pack, "domain.toml", text.replace('file = "intents.csv"', 'file = "intents.csv"\nlabels = { greeting = { zh = "问候" }, talk_to_humn = { en = "A person" } }'))  # fmt: skip
    p = DomainPack.load(pack)
    assert (
        p.intent_label("greeting", "zh") == "问候"
        and p.intent_label("greeting", "en") == "Greeting"
    )
    assert p.intent_label("talk_to_human", "zh") == "Talk to human"  # no label: the code, readable
    problems = [(x.level, x.message) for x in check_pack(pack)]
    assert any(lvl == "warning" and "talk_to_humn" in m for lvl, m in problems)  # a typo
    assert any(lvl == "note" and "no label in 'zh'" in m and "out_of_scope" in m for lvl, m in problems)  # fmt: skip


@pytest.mark.parametrize(
    "labels, match",
    [("labels = 3", "must be a table"), ("labels = { greeting = 'Hi' }", "per language"),
     ("labels = { greeting = { fr = 'Salut' } }", "greeting.fr"),
     ("labels = { greeting = { en = '' } }", "non-empty")],
)  # fmt: skip
def test_a_malformed_label_names_the_file_and_the_fix(pack, labels, match):
    text = (pack / "domain.toml").read_text(encoding="utf-8").split("[intents.labels]")[0]
    write(pack, "domain.toml", text.replace('file = "intents.csv"', f'file = "intents.csv"\n{labels}'))  # fmt: skip
    with pytest.raises(DomainError, match=match):
        DomainPack.load(pack)
    (error,) = check_pack(pack)
    assert error.level == "error" and error.path.endswith("domain.toml")


def test_check_turns_come_from_the_pack(pack, tmp_path):
    """`cca demo --check` asks each pack its own turns: [check], else its suite's first turn."""
    assert DomainPack.load(ROOT / "domains" / "bank").check_turns()[1] == "我的卡丢了"
    assert "order" in DomainPack.load(ROOT / "domains" / "retail").check_turns()[0]
    starter = DomainPack.load(pack)
    assert starter.check_turns() == ("Hello",) and starter.check_screenshot() is None
    (pack / "eval").mkdir(exist_ok=True)
    (pack / "eval" / "conversations.json").write_text('[{"turns": [{"text": "Is my parcel late?"}]}]', encoding="utf-8")  # fmt: skip
    assert DomainPack.load(pack).check_turns() == ("Is my parcel late?",)


def test_the_core_calls_a_packs_code_only_as_it_declares_it(pack):
    retail = DomainPack.load(ROOT / "domains" / "retail")
    assert callable(retail.code("services")) and retail.has_code("policy")
    with pytest.raises(DomainError, match=r"domain.toml: \[code\] has no services"):
        DomainPack.load(pack).code("services")
    toml = pack / "domain.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + '\n[code]\nservices = "no.such:thing"\n', encoding="utf-8")  # fmt: skip
    with pytest.raises(DomainError, match="cannot be loaded"):
        DomainPack.load(pack).code("services")


def test_check_names_a_code_entry_or_cues_file_that_cannot_be_used(pack):
    toml = pack / "domain.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + '\n[code]\nservices = "no.such:thing"\n[cues]\nfile = "cues.toml"\n', encoding="utf-8")  # fmt: skip
    (pack / "cues.toml").write_text('[tasks.x]\nen = ["(unclosed"]\n', encoding="utf-8")
    errors = [p for p in check_pack(pack) if p.level == "error"]
    assert any("[code] services" in p.message for p in errors)
    assert any(p.path.endswith("cues.toml") for p in errors)


def test_reply_templates_are_read_and_a_bad_one_is_named(tmp_path):
    (tmp_path / "domain.toml").write_text('[domain]\nname = "t"\n[templates]\nfile = "t.toml"\n', encoding="utf-8")  # fmt: skip
    pack = DomainPack.load(tmp_path)
    (tmp_path / "t.toml").write_text('[greeting]\nen = "Hi"\nzh = "你好"\n[spoken.greeting]\nen = "Hi there"\n', encoding="utf-8")  # fmt: skip
    assert pack.reply_templates() == ({"greeting": {"en": "Hi", "zh": "你好"}}, {"greeting": {"en": "Hi there"}})  # fmt: skip
    (tmp_path / "t.toml").write_text('[greeting]\nzh = "你好"\n', encoding="utf-8")
    with pytest.raises(DomainError, match=r"t.toml: \[greeting\] must give .* en = "):
        pack.reply_templates()
    (tmp_path / "domain.toml").write_text('[domain]\nname = "t"\n', encoding="utf-8")
    assert DomainPack.load(tmp_path).reply_templates() == ({}, {})


def test_screen_words_are_the_packs_or_a_domain_error(tmp_path):
    words = DomainPack.load(ROOT / "domains" / "retail").screen_words()
    assert set(words) == {"en", "zh"} and words["zh"]["labels"]["orders"]
    (tmp_path / "domain.toml").write_text('[domain]\nname = "t"\n', encoding="utf-8")
    with pytest.raises(DomainError, match=r"no \[screens\] file"):
        DomainPack.load(tmp_path).screen_words()
    (tmp_path / "domain.toml").write_text('[domain]\nname = "t"\n[screens]\nfile = "s.toml"\n', encoding="utf-8")  # fmt: skip
    (tmp_path / "s.toml").write_text("[en]\n", encoding="utf-8")
    with pytest.raises(DomainError, match=r"s.toml: \[en\] has no shops"):
        DomainPack.load(tmp_path).screen_words()


def test_promises_are_read_and_a_bad_pattern_is_named(tmp_path):
    (tmp_path / "domain.toml").write_text('[domain]\nname = "t"\n[promises.gift]\npattern = "a gift"\ntools = ["give"]\n', encoding="utf-8")  # fmt: skip
    assert DomainPack.load(tmp_path).promises() == {"gift": ("a gift", ("give",))}
    (tmp_path / "domain.toml").write_text('[domain]\nname = "t"\n[promises.gift]\npattern = "(a"\n', encoding="utf-8")  # fmt: skip
    with pytest.raises(DomainError, match=r"\[promises.gift\] pattern: bad regex"):
        DomainPack.load(tmp_path).promises()
    (tmp_path / "domain.toml").write_text('[domain]\nname = "t"\n[promises]\ngift = "a gift"\n', encoding="utf-8")  # fmt: skip
    with pytest.raises(DomainError, match=r"\[promises\] gift = 'a gift'; write"):
        DomainPack.load(tmp_path).promises()


def test_a_packs_reading_words_are_read_and_bad_ones_named(pack):
    """[fields] and [kinds]: the words that name a field and tell a kind of picture, beside the
    core's; none is the core's alone; a bad table is a check error naming domain.toml."""
    cues, kinds = DomainPack.load(pack).reading_words()
    assert cues == FieldCues() and kinds == {}
    toml = pack / "domain.toml"
    base = toml.read_text(encoding="utf-8")
    toml.write_text(base + '\n[fields]\namount = ["转账"]\n[kinds]\norder_page = ["账单"]\n', encoding="utf-8")  # fmt: skip
    assert DomainPack.load(pack).reading_words() == (FieldCues(amount=("转账",)), {"order_page": ("账单",)})  # fmt: skip
    assert not [p for p in check_pack(pack) if p.level == "error"]
    for table, said in [('[fields]\ncard = ["卡号"]', "no field kind ['card']"),
                        ('[fields]\namount = "转账"', "give a list of words"),
                        ('[kinds]\nproduct_photo = ["照片"]', "words tell the kinds"),
                        ('[kinds]\norder_page = "账单"', 'holds kind = ["word", ...]')]:  # fmt: skip
        toml.write_text(base + "\n" + table + "\n", encoding="utf-8")
        with pytest.raises(DomainError, match="domain.toml"):
            DomainPack.load(pack).reading_words()
        errors = [p for p in check_pack(pack) if p.level == "error"]
        assert any(p.path.endswith("domain.toml") and said in p.message for p in errors), (table, errors)  # fmt: skip


def test_the_sample_shop_gives_its_words_and_the_bank_none():
    cues, kinds = DomainPack.load(ROOT / "domains" / "retail").reading_words()
    assert "订单号" in cues.order_number and "快递单号" in cues.tracking_number
    assert "订单" in kinds["order_page"]
    assert DomainPack.load(ROOT / "domains" / "bank").reading_words() == (FieldCues(), {})
