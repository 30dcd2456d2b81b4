"""A pack's declarations: the bank's load whole, and each mistake is named with its file, its
line and the fix (`load_declarations`, and `cca domain check` through `check_declarations`)."""

from __future__ import annotations

import json
import shutil

import pytest

from dialogue.domain.check import check_pack
from dialogue.domain.pack import DomainError, DomainPack
from dialogue.policy.declare import REPLIES, load_declarations
from tests.conftest import ROOT

BANK = ROOT / "domains" / "bank"


def test_the_bank_declares_its_tools_policy_slots_and_templates():
    d = load_declarations(DomainPack.load(BANK))
    writes = {n for n, t in d.tools.items() if t.writes}
    assert writes == {"freeze_card", "unfreeze_card", "report_lost", "dispute_charge"}
    assert all(d.tools[n].summary.keys() == {"en", "zh"} for n in writes)
    assert d.tools["unfreeze_card"].state.allowed == ("frozen",)
    assert d.policy.auth.factors == (("email", "last4"), ("email", "birth_date"))
    assert {t.name for t in d.policy.tasks} >= {"freeze_card", "report_lost", "dispute_charge"}
    assert set(REPLIES) <= set(d.templates) and d.values["frozen"]["zh"] == "已冻结"
    assert d.tools["freeze_card"].line > 1  # where tools.json declares it


def test_the_bank_pack_checks_clean():
    problems = check_pack(BANK)
    assert [p for p in problems if p.level in ("error", "warning")] == []
    assert not any("not use" in p.message for p in problems)  # its tables are read now


@pytest.fixture
def pack(tmp_path):
    folder = tmp_path / "bank"
    folder.mkdir()
    for name in ("domain.toml", "tools.json", "templates.toml", "intents.csv"):
        shutil.copy(BANK / name, folder / name)
    return folder


def edit_tools(pack, change):
    tools = json.loads((pack / "tools.json").read_text(encoding="utf-8"))
    change({t["name"]: t for t in tools})
    (pack / "tools.json").write_text(json.dumps(tools, indent=1), encoding="utf-8")


def declared(pack, level: str) -> list:
    """The problems `cca domain check` finds in the declarations (the copy has no eval/ or
    knowledge/, which it reports too)."""
    files = {str(pack / n) for n in ("tools.json", "templates.toml", "domain.toml")}
    return [p for p in check_pack(pack) if p.level == level and p.path in files]


def line(path, needle: str) -> int:
    return next(n for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in text)  # fmt: skip


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda t: t["freeze_card"].update(kind="delete"), 'kind must be "read" or "write"'),
        (lambda t: t["freeze_card"].pop("summary"), "a write needs a summary"),
        (lambda t: t["freeze_card"].update(http="http://x"), "give one implementation"),
        (lambda t: t["freeze_card"]["state"].update(read="nope"), "state.read names no tool"),
        (lambda t: t["freeze_card"]["parameters"].update(anyOf=[]), "'anyOf' is not supported"),
    ],
)  # fmt: skip
def test_a_mistake_in_tools_json_names_the_tool_and_its_line(pack, change, words):
    edit_tools(pack, change)
    with pytest.raises(DomainError) as e:
        load_declarations(DomainPack.load(pack))
    at = line(pack / "tools.json", '"freeze_card"')
    where = f"{pack / 'tools.json'}:{at}:"
    assert str(e.value).startswith(where) and words in str(e.value)
    (problem,) = declared(pack, "error")
    assert problem.path == str(pack / "tools.json") and words in problem.message


def test_a_python_tool_that_cannot_be_loaded_is_an_error_of_cca_domain_check(pack):
    edit_tools(pack, lambda t: t["card_status"].update(python="domains.bank.tools:no_such_tool"))
    (problem,) = declared(pack, "error")
    assert problem.line == line(pack / "tools.json", '"card_status"') and "no_such_tool" in problem.message  # fmt: skip


def test_a_task_naming_no_tool_and_a_missing_template_are_named(pack):
    toml = pack / "domain.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('[policy.tasks.card_status]', '[policy.tasks.card_status]\ntool = "card_state"'), encoding="utf-8")  # fmt: skip
    with pytest.raises(DomainError, match=r"domain.toml:\d+: \[policy.tasks.card_status\] tool names no tool"):  # fmt: skip
        load_declarations(DomainPack.load(pack))
    shutil.copy(BANK / "domain.toml", toml)
    templates = pack / "templates.toml"
    templates.write_text(templates.read_text(encoding="utf-8").replace("[clarify]", "[clarified]"), encoding="utf-8")  # fmt: skip
    with pytest.raises(DomainError, match=r"templates.toml: no reply template for \['clarify'\]"):
        load_declarations(DomainPack.load(pack))


def test_a_missing_translation_is_a_warning(pack):
    templates = pack / "templates.toml"
    text = templates.read_text(encoding="utf-8")
    templates.write_text(
        text.replace('zh = "感谢您致电银行卡服务热线，再见！"\n', ""), encoding="utf-8"
    )
    (problem,) = declared(pack, "warning")
    assert problem.line == line(templates, "[goodbye]") and "'zh'" in problem.message
