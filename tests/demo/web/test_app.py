"""The web demo's handlers without a browser: the real Agent on the small back office, fast fakes
for the models (demo_fixture). A refused upload is named in the panel and the conversation goes on;
the panel shows what the turn understood and did; turns are stored when a store is configured;
the command line refuses what it must."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from tests.conftest import ROOT, tone, write_wav
from tests.demo_fixture import HEARD, fast_runtime

gr = pytest.importorskip("gradio", reason="needs gradio: pip install 'gradio>=6,<7'")

from demo.web.app import check, main, parse_auth  # noqa: E402
from demo.web.ui import LABELS, build_ui, on_language, on_new, on_send  # noqa: E402
from demo.web.view import DemoLimits, DemoSession, latency_rows, panel_markdown  # noqa: E402

SCREENSHOT = ROOT / "demo" / "samples" / "screenshots" / "order-page-en.png"
LIMITS = DemoLimits(max_file_mb=1, max_audio_s=5.0, max_images=2)


@pytest.fixture
def runtime(tmp_path):
    rt = fast_runtime(tmp_path)
    yield rt
    rt.services.office.close()


def send(runtime, session=None, text="", audio=None, image=None, files=None, ui="en"):
    return on_send(session, text, audio, image, files, ui, runtime, LIMITS)


def test_a_text_and_screenshot_turn_fills_the_chat_the_voice_and_the_panel(runtime):
    session, chat, speech, panel, text, audio, image, files = send(
        runtime, text="Where is my order?", image=str(SCREENSHOT)
    )
    turn = session.last.turn
    assert turn.intent == "order_status" and turn.screenshots[0]["source"] == SCREENSHOT.name
    assert [m["role"] for m in chat] == ["user", "user", "assistant"]
    assert chat[1]["content"]["path"] == str(SCREENSHOT)
    assert chat[-1]["content"] == turn.reply
    rate, pcm = speech
    assert rate == 16_000 and pcm.dtype == np.int16 and len(pcm) > 0
    for shown in ("Order status", SCREENSHOT.name, "kb/shipping.md#delivery-times", "Latency"):
        assert shown in panel
    assert (text, audio, image, files) == ("", None, None, None)  # the inputs are cleared
    stages = [r[0] for r in latency_rows(session.last)]
    assert stages[-2:] == ["tts", "total"] and {"vision", "nlu", "policy"} <= set(stages)


def test_audio_turn_shows_what_was_heard(runtime, tmp_path):
    wav = write_wav(tmp_path / "q.wav", tone(1.0))
    session, chat, *_ = send(runtime, audio=str(wav))
    assert session.last.turn.transcript == HEARD
    assert f"“{HEARD}”" in chat[0]["content"] and "q.wav" in chat[0]["content"]


@pytest.mark.parametrize(
    "name, data, says",
    [
        ("corrupt.png", b"not a picture at all" * 20, "not a picture we recognise"),
        ("notes.txt", b"hello", ".txt is not an image type taken here; send one of .png"),
        ("huge.png", b"\x89PNG\r\n\x1a\n" + b"\0" * (1024**2 + 10), "over the 1 MB upload limit"),
    ],
)
def test_a_refused_screenshot_is_named_in_the_panel_and_the_conversation_goes_on(
    runtime, tmp_path, name, data, says
):
    path = tmp_path / name
    path.write_bytes(data)
    session, chat, speech, panel, *_ = send(runtime, files=[str(path)])
    assert session.last.turn is None  # nothing usable came: the agent was not asked
    assert f"Could not use {name}: " in panel and says in panel
    assert str(tmp_path) not in panel  # the temporary folder is not shown
    assert chat[-1]["role"] == "assistant" and name in chat[-1]["content"] and speech is None
    session, chat, speech, panel, *_ = send(runtime, session, text="hello", files=[str(path)])
    assert session.last.turn.intent == "greeting" and session.last.turn.index == 0
    assert f"Could not use {name}" in panel and speech is not None
    assert chat[-1]["content"].startswith(session.last.turn.reply)


def test_a_refused_recording_names_the_types_taken_and_the_length_limit(runtime, tmp_path):
    gif = tmp_path / "voice.gif"
    gif.write_bytes(b"GIF89a")
    *_, panel, _, _, _, _ = send(runtime, text="hello", audio=str(gif))
    assert "voice.gif: .gif is not an audio type taken here; send one of .wav, .mp3" in panel
    long = write_wav(tmp_path / "long.wav", np.zeros(16_000 * 6, np.float32))
    session, _, _, panel, *_ = send(runtime, text="hello", audio=str(long))
    assert "long.wav" in panel and "5" in panel and session.last.turn.intent == "greeting"


def test_an_empty_turn_asks_for_input_and_calls_nothing(runtime):
    session, chat, speech, panel, *_ = send(runtime, text="   ")
    assert chat == [] and speech is None and session.conversation.agent.turns == []
    assert "Type a message" in panel


def test_the_interface_switches_to_chinese_and_back(runtime, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"x" * 100)
    session, *_ = send(runtime, text="hello", files=[str(bad)])
    updates = on_language(session, "zh")
    assert updates[0]["value"] == LABELS["zh"]["title"] and updates[8]["value"] == "发送"
    assert "无法使用 bad.png" in updates[-1]["value"] and "意图" in updates[-1]["value"]
    assert "中性" in updates[-1]["value"] and "寒暄" in updates[-1]["value"]  # values too
    assert "neutral" not in updates[-1]["value"]
    assert "发送第一条消息后" in on_language(None, "zh")[-1]["value"]  # before any turn
    assert "Could not use bad.png" in on_language(session, "en")[-1]["value"]


def test_a_new_conversation_ends_the_old_one_and_empties_the_upload_boxes(runtime):
    session, *_ = send(runtime, text="hello")
    fresh, chat, speech, panel, audio, image, files = on_new(session, runtime, LIMITS)
    assert fresh is not session and chat == [] and fresh.conversation.agent.turns == []
    assert (audio, image, files) == (None, None, None)
    assert (
        "发送第一条消息后" in on_new(fresh, runtime, LIMITS, "zh")[3]
    )  # the empty panel, in the UI's language


def test_an_over_long_message_is_refused_kept_in_the_box_and_the_next_turn_works(runtime):
    limit = LIMITS.max_message_chars
    long = "where is my order " * (limit // 10)
    session, chat, speech, panel, text, *_ = send(runtime, text=long)
    assert text == long  # kept, to be shortened
    assert session.conversation.agent.turns == [] and speech is None  # the agent was not asked
    assert f"{len(long.strip()):,} characters" in chat[-1]["content"] and f"{limit:,}" in panel
    assert sum(len(str(m["content"])) for m in chat) < 1000  # the chat shows a clip, not all of it
    session, chat, speech, panel, text, *_ = send(runtime, session, text="hello")
    assert session.last.turn.intent == "greeting" and text == ""


def test_the_panel_clips_a_long_message():
    from dialogue.types import Decision, Turn

    turn = Turn(
        session_id="s", index=0, text="x" * 1900, transcript="", language="en", intent="greeting",
        confidence=1.0, entities=(), sentiment={}, screenshots=(), actions=(),
        decision=Decision("smalltalk", "greeting"), reply="Hi", reply_source="template",
        handoff=False, timings_ms={},
    )  # fmt: skip
    from demo.web.view import TurnView

    panel = panel_markdown(TurnView(turn))
    assert "x" * 499 in panel and "x" * 500 not in panel


@pytest.mark.parametrize(
    ("ui", "labels", "shown"),
    [("en", {"card_arrival": {"en": "Card not arrived yet", "zh": "银行卡未寄到"}}, "Card not arrived yet"),
     ("zh", {"card_arrival": {"en": "Card not arrived yet", "zh": "银行卡未寄到"}}, "银行卡未寄到"),
     ("zh", {"card_arrival": {"en": "Card not arrived yet"}}, "Card not arrived yet"),
     ("en", {}, "Card arrival"), ("zh", {}, "Card arrival")],
)  # fmt: skip
def test_the_panel_names_the_intent_in_the_packs_words(ui, labels, shown):
    """Any pack's intent in the words its domain.toml gives in the page's language ([intents.labels]),
    else in English, else its code made readable: in the table and in a handoff's summary."""
    from demo.web.view import TurnView, handoff_summary
    from dialogue.types import Decision, Turn

    turn = Turn(
        session_id="s", index=0, text="my card has not come", transcript="", language=ui,
        intent="card_arrival", confidence=0.9, entities=(), sentiment={}, screenshots=(), actions=(),
        decision=Decision("handoff", "handoff", handoff=True, reason="the customer asked for a person"),
        reply="...", reply_source="template", handoff=True, timings_ms={},
    )  # fmt: skip
    summary = handoff_summary([turn], ui, labels=labels)
    panel = panel_markdown(TurnView(turn, summary=summary, labels=labels), ui)
    assert f"| {shown} (0.90) |" in panel and f": {shown} ·" in panel
    assert "card_arrival" not in panel


def test_the_sample_shops_intents_are_shown_in_chinese_on_a_chinese_page(runtime):
    session, *_ = send(runtime, text="Where is my order?", ui="zh")
    assert "| 订单状态 (0.95) |" in panel_markdown(session.last, "zh")
    assert "| Order status (0.95) |" in panel_markdown(session.last, "en")  # the switch, back


@pytest.mark.parametrize("kind", ["image", "audio"])
def test_a_file_gradio_cannot_read_reaches_the_apps_checks(tmp_path, kind):
    """What Gradio's own preprocessing fails on (a text file named .png or .mp3) comes to the
    handler as its path, where the app refuses it by name and the turn goes on."""
    from gradio.data_classes import FileData

    from demo.web import ui

    bad = tmp_path / ("fake.png" if kind == "image" else "fake.mp3")
    bad.write_bytes(b"this is a text file" * 10)

    def box():
        return ui.gr.Image(type="filepath") if kind == "image" else ui.gr.Audio(type="filepath", format="wav")  # fmt: skip

    with pytest.raises(Exception, match=".") as failed:  # what the plain component does  # noqa: B017
        box().preprocess(FileData(path=str(bad)))
    assert type(failed.value).__name__ in ("UnidentifiedImageError", "CouldntDecodeError")
    assert ui.lenient(box()).preprocess(FileData(path=str(bad))) == str(bad)


def test_turns_are_stored_redacted_when_a_store_is_configured(tmp_path, monkeypatch):
    from demo.runtime import open_store
    from dialogue.records.crypto import new_key

    monkeypatch.delenv("CCA_RECORDS_DB", raising=False)
    assert open_store(None) is None  # nothing configured: nothing stored
    monkeypatch.setenv("CCA_RECORDS_KEY", new_key())
    monkeypatch.setenv("CCA_RECORDS_DB", f"sqlite:///{tmp_path / 'records.db'}")
    store = open_store(None)
    rt = fast_runtime(tmp_path, store=store)
    session = DemoSession(rt, LIMITS)
    session.take_turn("hello")
    session.take_turn("my email is alice@example.com")
    rows = store.turns(session.conversation.conversation_id)
    assert [r.role for r in rows] == ["customer", "agent"] * 2
    assert "alice@example.com" not in rows[2].text  # redacted on the way in
    session.end()
    assert store.conversation(session.conversation.conversation_id)["ended_at"]
    rt.services.office.close()


def test_a_store_without_a_key_fails_at_start_with_the_fix(tmp_path, monkeypatch):
    from demo.runtime import open_store

    monkeypatch.delenv("CCA_RECORDS_KEY", raising=False)
    monkeypatch.delenv("CCA_RECORDS_KEY_FILE", raising=False)
    with pytest.raises(ValueError, match="cca privacy new-key"):
        open_store(f"sqlite:///{tmp_path / 'records.db'}")


def test_a_failing_store_is_shown_and_the_conversation_goes_on(runtime):
    class DeadStore:
        def start_conversation(self, *a, **k):
            raise OSError("disk full")

    runtime.store = DeadStore()
    session = DemoSession(runtime, LIMITS)
    view = session.take_turn("hello")
    assert view.turn.reply and "records: disk full" in panel_markdown(view)


def test_the_check_runs_both_turns_through_the_page_handler(runtime):
    report = check(runtime, LIMITS)
    assert report["ok"], json.dumps(report, indent=1)
    assert report["turns"][0]["intent"] == "order_status" and report["turns"][0]["speech_s"] > 0
    assert report["turns"][1]["screenshots"][0]["source"] == SCREENSHOT.name
    assert report["voice"] == {"tone": ["en", "zh"]}


def test_the_page_builds_with_the_live_call(runtime):
    assert isinstance(build_ui(runtime, LIMITS, live=True), gr.Blocks)


@pytest.mark.parametrize("value", ["nocolon", ":pw", "user:", ""])
def test_a_login_needs_a_user_and_a_password(value):
    if not value:
        assert parse_auth(value) is None
        return
    with pytest.raises(ValueError, match="USER:PASSWORD"):
        parse_auth(value)
    assert parse_auth("agent:s3:cret") == ("agent", "s3:cret")


def test_the_command_line_refuses_a_public_link_and_bad_limits(capsys):
    assert main(["--share"]) == 2
    assert "--share would publish" in capsys.readouterr().err
    assert main(["--auth", "nopassword", "--check"]) == 2
    assert "USER:PASSWORD" in capsys.readouterr().err
    assert main(["--concurrency", "0", "--check"]) == 2
    assert "must be positive" in capsys.readouterr().err


def test_the_live_call_hears_a_turn_and_streams_the_reply_back(runtime):
    from demo.web.live import LiveCall
    from voice.live.session import SessionOptions
    from voice.live.stream_vad import EnergyStream, StreamVAD

    call = LiveCall(runtime, lambda: StreamVAD(EnergyStream()), SessionOptions(silence_timeout_s=None))  # fmt: skip
    rate, chunk = 48_000, 12_000  # what a browser microphone hands over, 0.25 s at a time
    speech = np.concatenate([np.zeros(rate // 2), tone(1.0, sr=rate), np.zeros(rate * 3)])
    pcm = (speech * 32767).astype(np.int16)
    got = []
    try:
        for i in range(0, len(pcm), chunk):
            call.push(rate, pcm[i : i + chunk])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not got:
            call.push(rate, np.zeros(chunk, np.int16))  # the browser keeps sending silence
            got = [x for x in [call.take()] if x is not None]
            time.sleep(0.1)
    finally:
        call.close()
    assert ("caller", HEARD) in call.lines and any(w == "agent" for w, _ in call.lines)
    assert got and got[0][0] == 24_000 and got[0][1].dtype == np.int16
    assert "🎤 where is my order" in call.log_markdown()
    assert call.conversation.agent.turns[0].intent == "order_status"


def test_a_trial_has_a_store_of_its_own_and_a_key_for_its_desk(tmp_path, monkeypatch):
    """With no --records, a run keeps its conversations in a store in the data folder, under a
    key of its own, and its printed API key signs in at the Desk, where a handoff of the run
    waits for a person."""
    from demo.web.data import trial_records
    from demo.web.desk import Desk, on_sign_in
    from dialogue.records import access

    monkeypatch.setattr(access, "_SCRYPT", dict(n=2**8, r=8, p=1, dklen=32))
    monkeypatch.delenv("CCA_RECORDS_KEY", raising=False)  # the trial has its own
    folder = tmp_path / "records"
    store, key = trial_records(folder)
    try:
        assert (folder / "records.db").is_file() and key.startswith("cca_")
        rt = fast_runtime(tmp_path, store=store)
        desk = Desk(store)
        session = DemoSession(rt, LIMITS, desk)
        assert session.take_turn("I want to talk to a person").turn.handoff
        view = on_sign_in(desk, key)
        assert "Sam" in view.status and len(view.listing) == 1
    finally:
        store.close()


def test_after_a_handoff_the_agent_stops_and_the_message_waits_for_a_colleague(tmp_path, monkeypatch):  # fmt: skip
    from demo.runtime import open_store
    from dialogue.records.crypto import new_key

    monkeypatch.setenv("CCA_RECORDS_KEY", new_key())
    store = open_store(f"sqlite:///{tmp_path / 'records.db'}")
    rt = fast_runtime(tmp_path, store=store)
    session = DemoSession(rt, LIMITS)
    view = session.take_turn("let me talk to a human please")
    assert view.turn.handoff and session.messages[-1]["content"].startswith("👤 A colleague")
    panel = panel_markdown(view)
    assert "Handed over to a colleague" in panel and "let me talk to a human please" in panel
    n = len(session.conversation.agent.turns)
    view = session.take_turn("hello? are you still there?")
    assert len(session.conversation.agent.turns) == n  # the agent did not answer
    assert view.turn is None and view.held == "hello? are you still there?"
    assert session.messages[-2]["content"] == "hello? are you still there?"
    assert "colleague" in session.messages[-1]["content"]
    assert "已转交人工客服" in panel_markdown(view, "zh")
    rows = store.turns(session.conversation.conversation_id)
    assert [r.role for r in rows] == ["customer", "agent", "customer"]  # kept for the colleague
    assert rows[-1].text == "hello? are you still there?"
    session.end()
    rt.services.office.close()


@pytest.mark.parametrize(
    ("ui", "found", "handed"),
    [("en", "Found the account by its email alice@example.com", "the customer asked for a person"),
     ("zh", "按邮箱 alice@example.com 找到账户", "客户要求人工服务")],
)  # fmt: skip
def test_the_panel_says_what_was_done_in_words_with_no_internal_ids(runtime, ui, found, handed):
    """Tool actions as sentences in the page's language: no tool names, JSON or back-office ids
    (account, payment method); a handoff's reason in the page's language too."""
    session, *_ = send(runtime, text="Where is my order?", ui=ui)
    session, _, _, panel, *_ = send(runtime, session, text="my email is alice@example.com", ui=ui)
    assert found in panel
    for internal in ("find_user_id", "list_user_orders", "alice_1", "{", "user_id"):
        assert internal not in panel, internal
    session, _, _, panel, *_ = send(runtime, session, text="I want to talk to a person", ui=ui)
    assert handed in panel and ("the customer asked" not in panel if ui == "zh" else True)
    assert "transfer_to_human" not in panel


def test_a_knowledge_source_shows_its_file_not_the_servers_folders():
    from demo.web.view import source_name

    assert source_name("/srv/app/domains/retail/faq.csv#en-verify") == "faq.csv#en-verify"
    assert source_name("kb/shipping.md#delivery-times") == "kb/shipping.md#delivery-times"


def test_a_reason_or_a_screenshot_in_the_panel_names_no_tool_and_shows_no_json(runtime):
    from demo.web.actions import reason_words

    said = reason_words("confirm return_delivered_order_items proposed", "confirm")
    assert said == "confirm return items of order proposed"
    assert reason_words("confirm return_delivered_order_items proposed", "confirm", "zh", "待确认") == "待确认"  # fmt: skip
    _, _, _, panel, *_ = send(runtime, text="Where is my order?", image=str(SCREENSHOT))
    assert "order_page" in panel and "{" not in panel and '"' not in panel.split("Screenshots")[1]
