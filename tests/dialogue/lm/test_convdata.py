"""Training conversations: the JSONL format (round trip, errors naming file:line), the split
(deterministic, groups never straddle splits), the retail generator's invariants on the small
fixture data set (replayed on the real tools), the STC-3/ABCD readers and the build CLI."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from dialogue.lm.convdata import (
    SPLITS,
    ConvDataError,
    Conversation,
    ConvTurn,
    TurnAction,
    group_key,
    read_jsonl,
    split_conversations,
    split_of,
    write_jsonl,
)
from dialogue.lm.converters import main, redact_conversation
from dialogue.lm.public_dialogues import clean_weibo, read_abcd, read_stc3
from domains.retail.data import parse_retail
from domains.retail.dialogues import AUTH_TOOLS, TASKS, WRITE_TOOLS, generate_retail
from domains.retail.intent_data import LABELS
from domains.retail.phrases import P
from tests.conftest import SHARED
from tests.retail_fixture import write_dataset


def conv(cid: str = "c1", group: str | None = None, language: str = "en") -> Conversation:
    turns = (
        ConvTurn("customer", "Cancel #W1 please", intent="cancel_order", transcript="cancel w one"),
        ConvTurn("agent", "", action=TurnAction("get_order_details", {"order_id": "#W1"})),
        ConvTurn(
            "agent",
            "Done.",
            action=TurnAction(
                "cancel_pending_order",
                {"order_id": "#W1", "reason": "no longer needed"},
                {"ok": True},
            ),
        ),  # fmt: skip
        ConvTurn("customer", "thanks", screenshot_text="Order #W1", image="shots/1.png"),
    )
    return Conversation(cid, "test", language, turns, {"group": group} if group else {})


# ---------------------------------------------------------------- format


def test_round_trip(tmp_path):
    convs = [conv("a"), conv("b", group="g"), Conversation("c", "test", "zh", [ConvTurn("agent", "您好")])]  # fmt: skip
    for c in convs:
        assert Conversation.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    path = tmp_path / "sub" / "x.jsonl"
    assert write_jsonl(path, convs) == 3
    assert read_jsonl(path) == convs
    assert "meta" not in json.loads(path.read_text().splitlines()[2])  # empty meta is left out
    assert [p.name for p in path.parent.iterdir()] == ["x.jsonl"]  # no temporary file left


def test_write_is_atomic(tmp_path):
    path = tmp_path / "x.jsonl"
    write_jsonl(path, [conv("a")])
    before = path.read_bytes()

    def broken():
        yield conv("b")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_jsonl(path, broken())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.jsonl"]


GOOD = conv("ok").to_dict()
BAD_LINES = [  # a malformed line, what the error says
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be an object"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "turns"}), "missing field 'turns'"),
    (json.dumps({**GOOD, "turns": []}), "turns is empty"),
    (json.dumps({**GOOD, "language": "fr"}), "language 'fr'"),
    (json.dumps({**GOOD, "id": ""}), "id must be a non-empty string"),
    (json.dumps({**GOOD, "extra": 1}), "unknown conversation field 'extra'"),
    (json.dumps({**GOOD, "turns": [{"role": "bot", "text": "hi"}]}), "turn 0: role 'bot'"),
    (json.dumps({**GOOD, "turns": [{"role": "customer", "text": "hi"}]}), "no agent turn"),
    (json.dumps({**GOOD, "turns": [{"role": "agent"}]}), "turn 0: turn is missing 'text'"),
    (
        json.dumps(
            {**GOOD, "turns": [{"role": "customer", "text": " "}, {"role": "agent", "text": "x"}]}
        ),
        "empty text",
    ),  # fmt: skip
    (
        json.dumps({**GOOD, "turns": [{"role": "agent", "text": "x", "intent": "affirm"}]}),
        "intent 'affirm' on an agent turn",
    ),  # fmt: skip
    (
        json.dumps(
            {
                **GOOD,
                "turns": [
                    {"role": "customer", "text": "x", "intent": "buy"},
                    {"role": "agent", "text": "y"},
                ],
            }
        ),
        "intent 'buy' is not one of",
    ),  # fmt: skip
    (
        json.dumps(
            {
                **GOOD,
                "turns": [
                    {"role": "customer", "text": "x", "action": {"tool": "t", "args": {}}},
                    {"role": "agent", "text": "y"},
                ],
            }
        ),
        "action 't' on a customer turn",
    ),  # fmt: skip
    (
        json.dumps({**GOOD, "turns": [{"role": "agent", "text": "y", "action": {"args": {}}}]}),
        "action needs a tool name",
    ),  # fmt: skip
    (
        json.dumps(
            {**GOOD, "turns": [{"role": "agent", "text": "y", "action": {"tool": "t", "args": []}}]}
        ),
        "action args must be an object",
    ),  # fmt: skip
    (
        json.dumps({**GOOD, "turns": [{"role": "agent", "text": 3}]}),
        "turn field 'text' must be a string",
    ),  # fmt: skip
    (json.dumps({**GOOD, "meta": []}), "meta must be an object"),
    (json.dumps(GOOD), "id 'ok' was already used on line 1"),  # the same id again
]


@pytest.mark.parametrize(("line", "message"), BAD_LINES)
def test_malformed_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + line + "\n", encoding="utf-8")
    with pytest.raises(ConvDataError) as e:
        read_jsonl(path)
    assert f"{path}:3:" in str(e.value)  # the blank line 2 still counts
    assert message in str(e.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(ConvDataError, match="no such file"):
        read_jsonl(tmp_path / "nope.jsonl")
    (tmp_path / "latin1.jsonl").write_bytes(b'{"id": "\xe9"}\n')
    with pytest.raises(ConvDataError, match=r"latin1.jsonl:1: not UTF-8"):
        read_jsonl(tmp_path / "latin1.jsonl")


def test_constructing_a_bad_turn_fails_at_once():
    with pytest.raises(ConvDataError, match="role"):
        ConvTurn("system", "x")
    with pytest.raises(ConvDataError, match="no agent turn"):
        Conversation("x", "s", "en", (ConvTurn("customer", "hi"),))
    assert ConvTurn("agent", "", action=TurnAction("t")).text == ""  # acting without words


# ---------------------------------------------------------------- split


def test_split_is_deterministic_and_by_group():
    convs = [conv(f"c{i}", group=f"g{i // 3}") for i in range(3000)]
    a, b = split_conversations(convs, seed=0), split_conversations(convs, seed=0)
    assert a == b
    ids = [c.id for s in SPLITS for c in a[s]]
    assert sorted(ids) == sorted(c.id for c in convs)  # each conversation once
    where = {group_key(c): s for s in SPLITS for c in a[s]}
    for s in SPLITS:
        assert all(where[group_key(c)] == s for c in a[s])  # a group never straddles splits
    shares = [len(a[s]) / len(convs) for s in SPLITS]
    assert shares == pytest.approx([0.8, 0.1, 0.1], abs=0.04)
    other = split_conversations(convs, seed=1)
    assert other != a
    assert split_of("g1", 5) == split_of("g1", 5)


def test_group_key_and_ratios():
    assert group_key(conv("x")) == "test:x"
    assert group_key(conv("x", group="stc3:1")) == "stc3:1"
    assert {split_of(f"k{i}", 0, (0, 0, 1)) for i in range(50)} == {"test"}
    assert {split_of(f"k{i}", 0, (1, 0, 0)) for i in range(50)} == {"train"}
    for bad in [(0.5, 0.5), (0.8, 0.1, 0.2), (1.2, -0.1, -0.1)]:
        with pytest.raises(ValueError, match="sum to 1"):
            split_of("k", 0, bad)


# ---------------------------------------------------------------- the retail generator


@pytest.fixture(scope="module")
def retail(tmp_path_factory):
    return parse_retail(write_dataset(tmp_path_factory.mktemp("retail")))


@pytest.fixture(scope="module")
def generated(retail):
    return generate_retail(retail, n=160, seed=0)


def writes(c: Conversation) -> list[int]:
    return [i for i, t in enumerate(c.turns) if t.action and t.action.tool in WRITE_TOOLS]


def test_authentication_comes_before_any_order_action(generated, retail):
    for c in generated:
        user = None
        for t in c.turns:
            a = t.action
            if a is None:
                continue
            if a.tool in AUTH_TOOLS:
                user = (a.result or {}).get("user_id", user)
                continue
            assert user == c.meta["user_id"], (c.id, a.tool)  # found before anything else
            if "order_id" in a.args:  # every order touched is the customer's own
                assert retail.orders[a.args["order_id"]]["user_id"] == user, (c.id, a.args)
            if "user_id" in a.args:
                assert a.args["user_id"] == user


def test_every_write_follows_a_confirmation_question_and_a_yes(generated):
    for c in generated:
        for i in writes(c):
            yes, question = c.turns[i - 1], c.turns[i - 2]
            assert yes.role == "customer" and yes.intent == "affirm", c.id
            assert question.role == "agent", c.id
            assert question.action is None or question.action.tool not in WRITE_TOOLS
            assert question.text.rstrip()[-1] in "?？", (c.id, question.text)
            if "order_id" in c.turns[i].action.args:
                assert c.turns[i].action.args["order_id"] in question.text


def test_outcomes_and_writes_agree(generated):
    for c in generated:
        n = len(writes(c))
        assert n == (1 if c.meta["outcome"] == "done" else 0), (c.id, c.meta)  # refusals: none


def test_done_is_said_only_where_it_was_done(generated):
    """The agent never says it did what no action in that turn did."""
    done = [
        re.compile(re.sub(r"\\\{\w+\\\}", ".*", re.escape(t)))
        for key, v in P.items()
        if key.startswith("done_")
        for ts in v.values()
        for t in ts
    ]
    for c in generated:
        for i, t in enumerate(c.turns):
            if t.role == "agent" and i not in writes(c):
                assert not any(d.match(t.text) for d in done), (c.id, t.text)
            if i in writes(c):
                assert any(d.match(t.text) for d in done), (c.id, t.text)


def test_coverage_and_labels(generated):
    assert {c.language for c in generated} == {"en", "zh"}
    assert {c.meta["task"] for c in generated} == set(TASKS)
    assert {"done", "refused", "declined", "answered", "transferred"} <= {c.meta["outcome"] for c in generated}  # fmt: skip
    assert {c.meta["auth"] for c in generated} >= {"email", "name_zip"}
    for c in generated:
        for t in c.turns:
            if t.role == "customer":
                assert t.intent in LABELS
                assert (t.transcript is not None) == (c.meta["channel"] == "voice")
            if t.screenshot_text:
                assert any(o in t.screenshot_text for o in retail_orders(c))


def retail_orders(c: Conversation) -> set[str]:
    return {t.action.args["order_id"] for t in c.turns if t.action and "order_id" in t.action.args}


def test_generator_is_deterministic_and_prefix_stable(retail, generated):
    assert generate_retail(retail, n=40, seed=0) == generated[:40]
    assert generate_retail(retail, n=40, seed=1) != generated[:40]
    assert generate_retail(retail, n=0) == []
    with pytest.raises(ValueError, match="n must be"):
        generate_retail(retail, n=-1)


def test_the_ambiguous_name_and_zip_is_never_used(generated):
    for c in generated:  # two Alice Smiths share zip 10001 in the fixture
        for t in c.turns:
            if t.action and t.action.tool == "find_user_id_by_name_zip":
                assert t.action.args["first_name"] != "Alice"


def test_actions_replay_on_the_real_tools(generated, tmp_path):
    """Each conversation's actions, run on the fixture back office, do what the data says."""
    from domains.retail.backoffice import BackOffice
    from domains.retail.tools import TOOLS, ToolSession, call

    assert {n for n, t in TOOLS.items() if t.writes} == WRITE_TOOLS
    folder = write_dataset(tmp_path / "data")
    office = BackOffice.open(tmp_path / "template.db")
    office.load_retail(folder, progress=False)
    office.close()
    for c in generated:
        db = tmp_path / f"{c.id}.db"
        shutil.copy(tmp_path / "template.db", db)
        office = BackOffice.open(db)
        session = ToolSession(office, session_id=c.id)
        for t in c.turns:
            if t.action is None:
                continue
            a = t.action
            r = call(session, a.tool, a.args)
            if a.tool in WRITE_TOOLS:
                assert r.code == "needs_confirmation", (c.id, a.tool, r.error)
                r = session.confirm(yes=True)
            assert r.ok == ("error" not in (a.result or {})), (c.id, a.tool, a.args, r.error)
            if r.ok and "status" in (a.result or {}):
                got = r.data.get("order", r.data).get("status")
                assert got == a.result["status"], (c.id, a.tool)
        office.close()


def test_redacted_retail_keeps_no_email_zip_or_street(generated, retail):
    secrets = {u["email"] for u in retail.users.values()} | {u["zip"] for u in retail.users.values()}  # fmt: skip
    for c in generated:
        red, _ = redact_conversation(c)
        blob = json.dumps(red.to_dict(), ensure_ascii=False)
        assert not any(s in blob for s in secrets), c.id
        for t in red.turns:
            if t.action and t.action.tool.startswith("modify_") and "address" in t.action.tool:
                assert t.action.args["address1"] == "<ADDRESS>" and t.action.args["zip"] == "<ZIP>"
        assert retail_orders(red) == retail_orders(c)  # order numbers are kept


# ---------------------------------------------------------------- public dialogues and the build

STC3_ZH = [
    {"id": "101", "annotations": [{"quality": {"A": 1, "S": 0, "E": 2}}, {"quality": {"A": 0, "S": 0, "E": 1}}],
     "turns": [{"sender": "customer", "utterances": ["网络又断了[呵呵]@中国电信客服 我在这里:http://t.cn/zHeVCoQ", ""]},
               {"sender": "helpdesk", "utterances": ["您好，请私信您的号码"]},
               {"sender": "customer", "utterances": ["13812345678"]},
               {"sender": "customer", "utterances": ["快点😤😤"]}]},
    {"id": "102", "annotations": [], "turns": [{"sender": "customer", "utterances": ["在吗"]}]},
    {"id": "103", "annotations": [], "turns": [{"sender": "customer", "utterances": ["订单1312121338444怎么还没到"]},
                                               {"sender": "helpdesk", "utterances": ["亲，已经发货了"]}]},
]  # fmt: skip
STC3_EN = [
    {"id": "101", "annotations": [{"quality": {"A": 1, "S": 0, "E": 2}}],
     "turns": [{"sender": "customer", "utterances": ["@ China Telecom Customer Service The network is down again [Ha Ha]"]},
               {"sender": "helpdesk", "utterances": ["Hello, please mail us at help@telecom.cn"]}]},
]  # fmt: skip
ABCD = [
    {"convo_id": 7, "scenario": {"flow": "product_defect", "subflow": "return_size"},
     "original": [["agent", "Hi!"], ["customer", "I need to return jeans"], ["customer", "wrong size"],
                  ["action", "Account has been pulled up for Ann Lee."], ["agent", "Thanks Ann."],
                  ["agent", "What is your email?"], ["customer", "ann@email.com"],
                  ["action", "Purchase validation in progress ..."], ["action", "Details entered."]],
     "delexed": [{}, {}, {}, {"targets": ["return_size", "take_action", "pull-up-account", ["ann lee"]]},
                 {}, {}, {}, {"targets": ["return_size", "take_action", "validate-purchase", ["ann@email.com"]]},
                 {"targets": ["return_size", "take_action", "enter-details", ["x"]]}]},
]  # fmt: skip
GUIDELINES = {
    "Product Defect": {"subflows": {
        "Refund Status": {"actions": [], "instructions": ["not this one"]},
        "Return Due to Size": {"actions": [{"button": "Pull up Account", "text": "Ask for the name", "subtext": ["or the account id"]}],
                               "instructions": ["End by asking if they need anything else."]}}},
}  # fmt: skip


@pytest.fixture
def shared(tmp_path):
    """A tiny shared data folder in the real layout."""
    root = tmp_path / "shared"
    stc3, abcd = root / "dialogues" / "stc3", root / "kb" / "abcd"
    stc3.mkdir(parents=True)
    abcd.mkdir(parents=True)
    (stc3 / "train_data_cn.json").write_text(json.dumps(STC3_ZH, ensure_ascii=False))
    (stc3 / "train_data_en.json").write_text(json.dumps(STC3_EN))
    (abcd / "abcd_sample.json").write_text(json.dumps(ABCD))
    (abcd / "guidelines.json").write_text(json.dumps(GUIDELINES))
    write_dataset(root / "retail")
    return root


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("网络又断了[呵呵]@中国电信客服 我在这里:http://t.cn/zHeVCoQ", "zh", "网络又断了"),
        ("@中国联通 @中国联通客服 信号太差", "zh", "信号太差"),
        ("快点😤😤", "zh", "快点"),
        ("@ China Unicom Customer Service I have no signal", "en", "I have no signal"),
        ("Bad service [Ha Ha] see http://t.cn/R2pkPIV", "en", "Bad service see"),
        ("Keep [URL] and #topic#", "en", "Keep [URL] and #topic#"),
        ("It broke again. @ China Telecom Shanghai Customer Service", "en", "It broke again."),
        (
            "@OkBuy @official OkBuy Customer Service: send me coupons~~",
            "en",
            "OkBuy : send me coupons~~",
        ),  # fmt: skip
        ("@China Telecom Finally a call", "en", "China Telecom Finally a call"),  # only the @ goes
        ("my id is HZDSL105@16900.gd ok", "en", "my id is HZDSL105@16900.gd ok"),
    ],
)
def test_clean_weibo(text, language, expected):
    assert clean_weibo(text, language) == expected


def test_read_stc3_and_abcd(shared):
    notes = Counter()
    zh = read_stc3(shared / "dialogues/stc3/train_data_cn.json", "zh", notes)
    assert [c.id for c in zh] == ["stc3-zh-101", "stc3-zh-103"]  # 102 has no helpdesk turn
    assert notes["skipped: no customer or no helpdesk text left"] == 1
    assert notes["mentions"] == 1 and notes["urls"] == 1 and notes["emoticons"] == 1
    first = zh[0]
    assert [t.role for t in first.turns] == ["customer", "agent", "customer"]  # merged
    assert first.turns[2].text == "13812345678\n快点"
    assert first.meta["quality"] == {"A": [1, 0], "S": [0, 0], "E": [2, 1]}
    assert first.meta["quality_mean"] == {"A": 0.5, "S": 0.0, "E": 1.5}
    [c] = read_abcd(shared / "kb/abcd/abcd_sample.json", shared / "kb/abcd/guidelines.json")
    roles = [(t.role, t.action.tool if t.action else None, t.text) for t in c.turns]
    assert roles == [
        ("agent", None, "Hi!"),
        ("customer", None, "I need to return jeans\nwrong size"),
        ("agent", "pull-up-account", "Thanks Ann.\nWhat is your email?"),
        ("customer", None, "ann@email.com"),
        ("agent", "validate-purchase", ""),
        ("agent", "enter-details", ""),
    ]
    assert c.turns[2].action.args == {"values": ["ann lee"]}
    assert c.meta["guidelines"][0] == "[Pull up Account] Ask for the name: or the account id"
    (shared / "bad.json").write_text('{"not": "a list"}')
    with pytest.raises(ConvDataError, match=r"bad.json: expected a JSON list"):
        read_stc3(shared / "bad.json", "zh")


def build(shared: Path, out: Path, *extra: str) -> int:
    return main(["build", "--out", str(out), "--data", str(shared), "--n-retail", "40", "--no-progress", *extra])  # fmt: skip


def test_build_writes_redacted_splits_and_a_manifest(shared, tmp_path, capsys):
    out = tmp_path / "out"
    assert build(shared, out) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    rows = {s: read_jsonl(out / f"{s}.jsonl") for s in SPLITS}
    assert sum(len(r) for r in rows.values()) == manifest["counts"]["conversations"] == 2 + 1 + 1 + 40  # fmt: skip
    assert {s: len(r) for s, r in rows.items()} == manifest["counts"]["by_split"]
    split_of_id = {c.id: s for s, r in rows.items() for c in r}
    assert split_of_id["stc3-zh-101"] == split_of_id["stc3-en-101"]  # translations stay together
    by_group = {}
    for s, r in rows.items():
        for c in r:
            assert by_group.setdefault(group_key(c), s) == s
    text = "".join((out / f"{s}.jsonl").read_text() for s in SPLITS)
    for secret in ("13812345678", "ann@email.com", "help@telecom.cn", "alice@example.com", "@中国电信"):  # fmt: skip
        assert secret not in text
    assert "1312121338444" in text  # an order number is kept
    assert manifest["redaction"]["phone"] >= 1 and manifest["redaction"]["email"] >= 3
    assert {i["path"] for i in manifest["inputs"]} >= {"retail/orders.json", "kb/abcd/guidelines.json"}  # fmt: skip
    assert manifest["counts"]["by_source"]["retail"].keys() == {"en", "zh"}
    printed = capsys.readouterr().out
    assert "wrote 44 conversations" in printed and "retail" in printed
    again = tmp_path / "again"
    assert build(shared, again) == 0  # deterministic: the same bytes
    assert json.loads((again / "manifest.json").read_text())["files"] == manifest["files"]


def test_build_with_images_renders_every_screenshot(shared, tmp_path):
    from vision.image import load_image

    out = tmp_path / "out"
    assert build(shared, out, "--images") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    turns = [t for s in SPLITS for c in read_jsonl(out / f"{s}.jsonl") for t in c.turns]
    shots = [t for t in turns if t.screenshot_text]
    assert shots and manifest["counts"]["images"] == len(shots)
    assert all(t.image and t.image.startswith("images/") for t in shots)
    assert not any(t.image for t in turns if not t.screenshot_text)
    picture = load_image(out / shots[0].image)
    assert picture.width == 640 and picture.height > 80
    plain = tmp_path / "plain"
    assert build(shared, plain) == 0  # without --images the text is the same, with no image paths
    texts = [t.screenshot_text for s in SPLITS for c in read_jsonl(plain / f"{s}.jsonl") for t in c.turns if t.screenshot_text]  # fmt: skip
    assert sorted(texts) == sorted(t.screenshot_text for t in shots)


def test_stats_checks_hashes(shared, tmp_path, capsys):
    out = tmp_path / "out"
    assert build(shared, out, "--sources", "retail") == 0
    capsys.readouterr()
    assert main(["stats", str(out)]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == ["source", "lang", "train", "dev", "test", "total"]
    assert "retail   en" in table and "redacted:" in table
    with (out / "train.jsonl").open("a") as f:
        f.write("\n")
    assert main(["stats", str(out)]) == 1
    assert "sha256 differs" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sources", "stc3,twitter"], "unknown source(s) ['twitter']"),
        (["--ratios", "0.5,0.6,0.1"], "sum to 1"),
        (["--n-retail", "-3"], "--n-generated must be >= 0"),  # the old name still parses
    ],
)
def test_build_errors(shared, tmp_path, capsys, argv, message):
    assert main(["build", "--out", str(tmp_path / "o"), "--data", str(shared), "--no-progress", *argv]) != 0  # fmt: skip
    assert message in capsys.readouterr().err


def test_build_names_a_missing_input(shared, tmp_path, capsys):
    (shared / "kb/abcd/guidelines.json").unlink()
    assert build(shared, tmp_path / "o") == 1
    err = capsys.readouterr().err
    assert "kb/abcd/guidelines.json: not found" in err and "--data" in err
    assert main(["stats", str(tmp_path / "nothing")]) == 1
    assert "no manifest" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "data" / "retail").is_dir(), reason="needs ../shared/data")
def test_build_from_the_real_shared_data(tmp_path):
    out = tmp_path / "dialogue"
    assert main(["build", "--out", str(out), "--data", str(SHARED / "data"), "--no-progress"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    by_source = manifest["counts"]["by_source"]
    assert sum(by_source["retail"][lang][s] for lang in ("en", "zh") for s in SPLITS) == 1500
    assert sum(by_source["stc3"]["zh"].values()) > 3500 and sum(by_source["stc3"]["en"].values()) > 1600  # fmt: skip
    real = generate_retail(parse_retail(SHARED / "data" / "retail"), n=1500)
    for c in real:
        for i in writes(c):
            assert c.turns[i - 1].intent == "affirm" and c.turns[i - 2].text.rstrip()[-1] in "?？"
        assert len(writes(c)) == (1 if c.meta["outcome"] == "done" else 0)
