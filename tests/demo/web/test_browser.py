"""`cca demo` in a real headless Chromium: the Gradio app is served on a free port, with the real
Agent on the small back office and fast fakes for the models (demo_fixture); the browser uploads a
screenshot, types, uploads a recording, sends a file that is not an image, and switches the UI to
Chinese, and holds a live call through Chromium's fake microphone. On a failure the page is saved as a PNG and the assertion says where.

Needs Debian's chromium (apt-get install -y chromium) and `pip install playwright` (the Python
package only: the browser is the apt one, found on PATH; nothing is downloaded). Skipped without.
A failure's screenshot goes to $CCA_TEST_ARTIFACTS when set, else test-artifacts/ in the checkout.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, tone, write_wav

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium on PATH: apt-get install -y chromium"
)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="needs the playwright package: pip install playwright"
)
pytest.importorskip("gradio", reason="needs gradio: pip install 'gradio>=6,<7'")

SCREENSHOT = ROOT / "demo" / "samples" / "screenshots" / "order-page-en.png"
WAIT_MS = 20_000

# every <audio> under an element, through shadow roots (the waveform player keeps its own)
AUDIO_SOURCES = """(id) => {
  const found = [];
  const walk = (root) => root.querySelectorAll('*').forEach((el) => {
    if (el.tagName === 'AUDIO' && el.currentSrc) found.push(el.currentSrc);
    if (el.shadowRoot) walk(el.shadowRoot);
  });
  walk(document.getElementById(id));
  return found;
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    """The app, with the live call, on 127.0.0.1:PORT in this process; yields (url, runtime)."""
    from demo.web.ui import build_ui, launch
    from demo.web.view import DemoLimits
    from tests.demo_fixture import fast_runtime
    from voice.live.stream_vad import EnergyStream, StreamVAD

    runtime = fast_runtime(tmp_path)
    limits = DemoLimits(max_file_mb=5)
    blocks = build_ui(runtime, limits, live=True, vad_factory=lambda: StreamVAD(EnergyStream()))
    port = _free_port()
    launch(blocks, host="127.0.0.1", port=port, auth=None, limits=limits, block=False)
    try:
        yield f"http://127.0.0.1:{port}/", runtime
    finally:
        blocks.close()
        runtime.services.office.close()


@pytest.fixture
def page(tmp_path):
    """A headless Chromium page whose microphone plays a recording: half a second of silence, a
    one-second tone (what the fake ASR hears as speech), then silence (the file loops)."""
    mic = write_wav(tmp_path / "mic.wav", np.concatenate([np.zeros(8000), tone(1.0), np.zeros(48_000)]))  # fmt: skip
    fake_mic = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-audio-capture={mic}"]  # fmt: skip
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu", *fake_mic]
        )  # fmt: skip
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1100}, permissions=["microphone"])  # fmt: skip
            yield context.new_page()
        finally:
            browser.close()


def _artifact(tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("CCA_TEST_ARTIFACTS") or ROOT / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def _chat_has(page, text: str) -> None:
    page.wait_for_function(
        "(t) => document.getElementById('chat').innerText.includes(t)", arg=text, timeout=WAIT_MS
    )


def _panel_has(page, text: str) -> None:
    page.wait_for_function(
        "(t) => document.getElementById('panel').innerText.includes(t)", arg=text, timeout=WAIT_MS
    )


def test_a_visitor_talks_to_the_agent_in_a_real_browser(served, page, tmp_path):
    url, runtime = served
    expected = runtime.start().respond("Where is my order?").reply  # same runtime, own conversation
    wav = write_wav(tmp_path / "question.wav", tone(1.2))
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(b"this is not a picture" * 10)
    try:
        page.goto(url)
        page.wait_for_selector("#send", timeout=WAIT_MS)

        # a screenshot and a typed question -> the reply in the chat, the panel, the voice
        page.locator("#image-in input[type=file]").set_input_files(str(SCREENSHOT))
        page.wait_for_selector("#image-in img", timeout=WAIT_MS)
        page.locator("#text textarea").fill("Where is my order?")
        page.click("#send")
        _chat_has(page, expected)
        for shown in ("Order status", "order-page-en.png", "kb/shipping.md#delivery-times", "nlu"):
            _panel_has(page, shown)
        page.wait_for_function(f"() => ({AUDIO_SOURCES})('reply-audio').length > 0", timeout=WAIT_MS)  # fmt: skip
        href = page.locator("#reply-audio a[download]").first.get_attribute("href")
        wav_bytes = page.request.get(href).body()
        assert wav_bytes[:4] == b"RIFF" and len(wav_bytes) > 1000, href

        # a recorded turn, uploaded: the transcript shows in the chat
        page.click("#audio-in button[aria-label='Upload file']")
        page.locator("#audio-in input[type=file]").set_input_files(str(wav))
        page.wait_for_function(f"() => ({AUDIO_SOURCES})('audio-in').length > 0", timeout=WAIT_MS)  # fmt: skip
        page.click("#send")
        _chat_has(page, "“where is my order”")

        # a file that is not a picture: named in the panel, and the typed words still answered
        page.locator("#files-in input[type=file]").set_input_files(str(bad))
        page.wait_for_function(  # Gradio may shorten a long name to fit ("c….png")
            "() => document.getElementById('files-in').innerText.includes('.png')",
            timeout=WAIT_MS,
        )
        page.locator("#text textarea").fill("hello")
        page.click("#send")
        _panel_has(page, "Could not use corrupt.png")
        _chat_has(page, "hello")
        assert "Greeting" in page.inner_text("#panel")  # the intent in words

        # the interface in Chinese
        page.get_by_label("中文").check()
        page.wait_for_function(
            "() => document.getElementById('send').innerText.includes('发送')", timeout=WAIT_MS
        )
        _panel_has(page, "无法使用 corrupt.png")
        _panel_has(page, "问候")  # and in the page's language
    except Exception as e:
        shot = _artifact(tmp_path, "demo-browser-failure.png")
        page.screenshot(path=str(shot), full_page=True)
        raise AssertionError(f"{e}\nthe page at the failure is saved at {shot}") from e


def test_a_live_call_streams_the_microphone_and_the_reply(served, page, tmp_path):
    url, _ = served
    try:
        page.goto(url)
        page.wait_for_selector("#send", timeout=WAIT_MS)
        page.get_by_text("Live call (streaming)").click()
        page.locator("#live-in button", has_text="Record").first.click()
        page.wait_for_function(
            "() => document.getElementById('live-log').innerText.includes('🤖')", timeout=WAIT_MS
        )
        assert "🎤 where is my order" in page.inner_text("#live-log")
        page.wait_for_function(f"() => ({AUDIO_SOURCES})('live-out').length > 0", timeout=WAIT_MS)  # fmt: skip
    except Exception as e:
        shot = _artifact(tmp_path, "demo-live-failure.png")
        page.screenshot(path=str(shot), full_page=True)
        raise AssertionError(f"{e}\nthe page at the failure is saved at {shot}") from e


def test_bad_input_never_jams_the_page(served, page, tmp_path):
    """A text file on the Screenshot box, a corrupt recording and an over-long message: each is
    named, the page keeps working, and the normal turn after each one is answered. Enter sends."""
    url, runtime = served
    fake_png = tmp_path / "fake.png"
    fake_png.write_text("this is a text file, not a picture\n" * 20)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + b"\x13" * 400)
    greeting = runtime.start().respond("hello").reply
    box = "#text textarea"
    try:
        page.goto(url)
        page.wait_for_selector("#send", timeout=WAIT_MS)

        # a text file on the Screenshot box, with a typed message sent by Enter
        page.locator("#image-in input[type=file]").set_input_files(str(fake_png))
        page.locator(box).fill("hello")
        page.locator(box).press("Enter")
        _panel_has(page, "Could not use fake.png")
        _chat_has(page, greeting)
        page.wait_for_function("() => !document.querySelector('#image-in img')", timeout=WAIT_MS)
        page.locator(box).fill("thanks, bye")
        page.locator(box).press("Enter")
        _chat_has(page, "thanks, bye")
        assert "fake.png" not in page.inner_text("#panel")  # the bad file left with its turn

        # a corrupt recording, with a typed message: named, and the words answered
        page.click("#audio-in button[aria-label='Upload file']")
        page.locator("#audio-in input[type=file]").set_input_files(str(corrupt))
        page.locator(box).fill("hello again")
        page.click("#send")
        _panel_has(page, "Could not use corrupt.wav")
        _chat_has(page, "hello again")

        # an over-long message: refused by its length, kept in the box, then a normal turn
        page.locator(box).fill("where is my order " * 2000)
        page.locator(box).press("Enter")
        _chat_has(page, "the limit is 2,000")
        assert len(page.locator(box).input_value()) > 30_000  # kept, to be shortened
        page.locator(box).fill("one more question")
        page.locator(box).press("Enter")
        page.wait_for_function(  # the message, then the agent's answer after it
            "(t) => { const c = document.getElementById('chat').innerText; const i = c.lastIndexOf(t);"
            " return i >= 0 && c.slice(i + t.length).trim().length > 0; }",
            arg="one more question", timeout=WAIT_MS,
        )  # fmt: skip
    except Exception as e:
        shot = _artifact(tmp_path, "demo-bad-input-failure.png")
        page.screenshot(path=str(shot), full_page=True)
        raise AssertionError(f"{e}\nthe page at the failure is saved at {shot}") from e


@pytest.fixture
def served_with_records(tmp_path, monkeypatch):
    """The app with a records store (so the History and Desk tabs are there) and an agent key;
    yields (url, key)."""
    from demo.web.ui import build_ui, launch
    from demo.web.view import DemoLimits
    from dialogue.records import access
    from dialogue.records.crypto import Keyring, new_key
    from dialogue.records.store import Store
    from tests.demo_fixture import fast_runtime

    monkeypatch.setattr(access, "_SCRYPT", dict(n=2**8, r=8, p=1, dklen=32))
    store = Store.open(f"sqlite:///{tmp_path / 'records.db'}", keyring=Keyring.from_strings([new_key()]))  # fmt: skip
    key = access.create_api_key(store, "ana", "agent")
    runtime = fast_runtime(tmp_path, store=store)
    limits = DemoLimits()
    blocks = build_ui(runtime, limits)
    port = _free_port()
    launch(blocks, host="127.0.0.1", port=port, auth=None, limits=limits, block=False)
    try:
        yield f"http://127.0.0.1:{port}/", key
    finally:
        blocks.close()
        runtime.services.office.close()
        store.close()


def test_a_handoff_ends_at_a_person_who_answers_in_the_desk(served_with_records, page, tmp_path):
    """The customer asks for a person in one tab; in another, a person signs in at the Desk with
    an agent key, takes the conversation and replies; the customer's page shows the reply,
    marked as a person's, without the customer doing anything."""
    url, key = served_with_records
    desk = page.context.new_page()
    try:
        page.goto(url)
        page.wait_for_selector("#send", timeout=WAIT_MS)
        page.locator("#text textarea").fill("I want to talk to a person")
        page.locator("#text textarea").press("Enter")
        _chat_has(page, "A colleague is taking over")

        desk.goto(url)
        desk.click("#tab-desk-button") if desk.locator("#tab-desk-button").count() else desk.get_by_role("tab", name="Desk").click()  # fmt: skip
        desk.locator("#desk-key input").fill(key)
        desk.click("#desk-sign-in")
        desk.wait_for_function("() => document.getElementById('desk-status').innerText.includes('Signed in as ana')", timeout=WAIT_MS)  # fmt: skip
        desk.wait_for_function("() => document.getElementById('desk-list').innerText.includes('asked for a person')", timeout=WAIT_MS)  # fmt: skip
        desk.locator("#desk-pick input").click()
        desk.get_by_role("option").first.click()
        desk.wait_for_function("() => document.getElementById('desk-turns').innerText.includes('I want to talk to a person')", timeout=WAIT_MS)  # fmt: skip
        desk.click("#desk-take")
        desk.wait_for_function("() => document.getElementById('desk-status').innerText.includes('You have taken')", timeout=WAIT_MS)  # fmt: skip
        _chat_has(page, "ana from our team has joined")
        desk.locator("#desk-reply textarea").fill("Hello, this is Ana. How can I help?")
        desk.locator("#desk-reply textarea").press("Enter")
        desk.wait_for_function("() => document.getElementById('desk-status').innerText.includes('Sent to the customer')", timeout=WAIT_MS)  # fmt: skip
        _chat_has(page, "ana (a person from our team)")
        _chat_has(page, "Hello, this is Ana. How can I help?")
        desk.wait_for_function("() => document.getElementById('desk-turns').innerText.includes('Hello, this is Ana')", timeout=WAIT_MS)  # fmt: skip
    except Exception as e:
        for name, p in (("customer", page), ("desk", desk)):
            p.screenshot(path=str(_artifact(tmp_path, f"demo-desk-{name}-failure.png")), full_page=True)  # fmt: skip
        raise AssertionError(
            f"{e}\nthe pages at the failure are saved in {_artifact(tmp_path, '')}"
        ) from e


def test_the_language_switch_turns_gradios_own_labels_too(served, page, tmp_path):
    """Gradio's built-in words (the image box's drop text, the microphone's Record button, the
    live call's recorder) follow the page's 中文 / English switch, not only the browser's
    language, and come back; a screenshot already in its box stays there. A browser that
    prefers Chinese opens the page in Chinese."""
    url, _ = served
    shows = "([box, words]) => (document.getElementById(box)?.textContent || '').includes(words)"

    def wait(box: str, words: str) -> None:
        try:
            page.wait_for_function(shows, arg=[box, words], timeout=WAIT_MS)
        except sync_api.TimeoutError:
            raise AssertionError(f"#{box} does not show {words!r}: {page.text_content('#' + box)!r}") from None  # fmt: skip

    try:
        page.goto(url)
        page.wait_for_selector("#send", timeout=WAIT_MS)
        wait("image-in", "Drop Image Here")
        page.get_by_label("中文").check()
        for box, words in (("image-in", "将图像拖放到此处"), ("audio-in", "录制"), ("image-in", "截图")):  # fmt: skip
            wait(box, words)
        page.get_by_text("实时通话（流式）").click()  # the live call's recorder appears in Chinese
        wait("live-in", "录制")
        assert "Drop Image Here" not in page.text_content("#image-in")
        page.locator("#image-in input[type=file]").set_input_files(str(SCREENSHOT))
        page.wait_for_selector("#image-in img", timeout=WAIT_MS)
        page.get_by_label("English").check()
        for box, words in (("audio-in", "Record"), ("image-in", "Screenshot"), ("live-in", "Record")):  # fmt: skip
            wait(box, words)
        assert "录制" not in page.text_content("#audio-in")
        page.wait_for_selector("#image-in img", timeout=WAIT_MS)  # the screenshot is still there

        # a browser that prefers Chinese gets the page in Chinese, Gradio's words included
        page = page.context.browser.new_context(locale="zh-CN").new_page()
        page.goto(url)
        page.wait_for_function("() => document.getElementById('send')?.innerText.includes('发送')", timeout=WAIT_MS)  # fmt: skip
        wait("image-in", "将图像拖放到此处")
    except Exception as e:
        shot = _artifact(tmp_path, "demo-locale-failure.png")
        page.screenshot(path=str(shot), full_page=True)
        raise AssertionError(f"{e}\nthe page at the failure is saved at {shot}") from e
