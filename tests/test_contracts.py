"""Every implementation of a seam keeps its protocol: the fakes as well as the real ones.

The seams: speech-to-text (`voice.asr.stt.SpeechToText`, and the window interface the batch
uses), VAD, text-to-speech (`voice.tts.speaker.TTSBackend`), OCR (`vision.ocr.OCREngine`), the
dialogue model (`dialogue.lm.generator.Generator`), the retriever
(`dialogue.knowledge.base.Retriever`) and a tool (`dialogue.policy.toolkit.Tool`)."""

from __future__ import annotations

import importlib.util
import shutil

import numpy as np
import pytest

from tests.conftest import (
    requires_espeak,
    tiny_llama,
    tiny_tokenizer,
    tiny_vits,
    tiny_whisper,
    tone,
)
from tests.fakes import FakeASR, FakeGenerator, FakeOCR, FakeRetriever, FakeTTS, FakeVAD
from voice.asr.stt import SpeechToText, WithVAD
from voice.asr.types import ASROptions, WindowResult
from voice.asr.vad import EnergyVAD, SileroVAD, SpeechRegion
from voice.asr.whisper import WhisperASR
from voice.types import Audio, Segment, Transcript


def _asrs() -> list:
    yield pytest.param(lambda: FakeASR(), id="fake")
    yield pytest.param(
        lambda: WhisperASR(tiny_whisper(), ASROptions(max_new_tokens=6, temperatures=(0.0,))),
        id="whisper-tiny-random",
    )


def _vads() -> list:
    yield pytest.param(FakeVAD, id="fake")
    yield pytest.param(EnergyVAD, id="energy")
    yield pytest.param(SileroVAD.load, id="silero")


@pytest.mark.parametrize("make", list(_asrs()))
def test_asr_protocol(make):
    asr = make()
    assert isinstance(asr.name, str) and asr.name
    windows = [tone(2.0), tone(5.0, 330.0)]
    results = asr.decode_windows(windows, [0.0, 10.0])
    assert len(results) == 2 and all(isinstance(r, WindowResult) for r in results)
    for r, off in zip(results, (0.0, 10.0), strict=True):
        assert all(isinstance(s, Segment) and s.start_s >= off for s in r.segments)
    t = asr.assemble(results, 15.0)
    assert isinstance(t, Transcript) and t.duration_s == 15.0
    assert [s.start_s for s in t.segments] == sorted(s.start_s for s in t.segments)
    assert set(t.to_dict()) >= {"text", "language", "duration_s", "segments", "model"}


@pytest.mark.parametrize("make", list(_vads()))
def test_vad_protocol(make):
    vad = make()
    assert isinstance(vad.name, str)
    sr = 16000
    audio = Audio(np.concatenate([np.zeros(sr, np.float32), tone(1.5), np.zeros(sr, np.float32)]))
    regions = vad.speech(audio)
    assert all(isinstance(r, SpeechRegion) for r in regions)
    assert all(0.0 <= r.start_s < r.end_s <= audio.duration_s + 1e-6 for r in regions)
    assert [r.start_s for r in regions] == sorted(r.start_s for r in regions)


def _stts():
    yield pytest.param(lambda: FakeASR(), id="fake")
    yield pytest.param(
        lambda: WithVAD(
            WhisperASR(tiny_whisper(), ASROptions(max_new_tokens=6, temperatures=(0.0,))),
            EnergyVAD(),
        ),
        id="whisper-tiny-random+energy",
    )

    def batched():
        from voice.asr.batcher import BatchingASR

        whisper = WhisperASR(tiny_whisper(), ASROptions(max_new_tokens=6, temperatures=(0.0,)))
        return BatchingASR(WithVAD(whisper, EnergyVAD()))

    yield pytest.param(batched, id="batched-whisper-tiny-random+energy")

    def remote():  # over HTTP to a real `cca asr-serve` app, batching a tiny random Whisper
        from tests.demo.test_asr_server import serve
        from voice.asr.remote import RemoteASR

        return RemoteASR(serve(batched()))

    yield pytest.param(remote, id="remote-http")


@pytest.mark.parametrize("make", list(_stts()))
def test_speech_to_text_protocol(make):
    stt = make()
    assert isinstance(stt, SpeechToText) and stt.name
    sr = 16000
    audio = Audio(np.concatenate([np.zeros(sr, np.float32), tone(1.5), np.zeros(sr, np.float32)]))
    t = stt.transcribe(audio)
    assert isinstance(t, Transcript) and t.duration_s == pytest.approx(audio.duration_s)
    assert all(0.0 <= s.start_s <= s.end_s <= audio.duration_s + 0.5 for s in t.segments)
    assert (t.text == "") == (not t.segments)
    empty = stt.transcribe(Audio(np.zeros(0, np.float32)))
    assert empty.text == "" and empty.segments == ()


def _ttss():
    yield pytest.param(lambda: FakeTTS(), id="fake")

    def espeak():
        from voice.tts.speaker import load_voice

        return load_voice("espeak")

    yield pytest.param(espeak, id="espeak-ng", marks=requires_espeak)

    def coqui():
        from voice.tts.backends import CoquiTTS

        model, config = tiny_vits()
        return CoquiTTS(model, languages={"en"}, sample_rate=config.audio.sample_rate, name="tiny")

    yield pytest.param(
        coqui,
        id="coqui-vits-tiny-random",
        marks=pytest.mark.skipif(importlib.util.find_spec("TTS") is None, reason="needs coqui-tts"),
    )


@pytest.mark.parametrize("make", list(_ttss()))
def test_text_to_speech_protocol(make):
    from voice.tts.speaker import TTSBackend

    tts = make()
    assert isinstance(tts, TTSBackend) and tts.name and tts.sample_rate > 0
    assert tts.languages and set(tts.languages) <= {"en", "zh"}
    for language in sorted(tts.languages):
        text = "Your order has shipped." if language == "en" else "您的订单已发货。"
        audio = tts.synthesize(text, language)
        assert isinstance(audio, Audio) and audio.sample_rate == tts.sample_rate
        assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
        assert audio.duration_s > 0.1 and np.isfinite(audio.samples).all()


def _ocrs():
    from vision.ocr import load_ocr

    yield pytest.param(lambda: FakeOCR(), id="fake")
    yield pytest.param(lambda: load_ocr("rapidocr"), id="rapidocr")
    yield pytest.param(
        lambda: load_ocr("tesseract"),
        id="tesseract",
        marks=pytest.mark.skipif(shutil.which("tesseract") is None, reason="needs tesseract"),
    )


@pytest.mark.parametrize("make", list(_ocrs()))
def test_ocr_protocol(make):
    from vision.ocr import OCREngine
    from vision.synth import render_lines
    from vision.types import PageText

    ocr = make()
    assert isinstance(ocr, OCREngine) and ocr.name and set(ocr.languages) >= {"en"}
    shot = render_lines(["Payment failed", "Order ORD-12345"], "en", seed=0)
    page = ocr.read(shot.image)
    assert isinstance(page, PageText) and page.lines
    h, w = shot.image.rgb.shape[:2]
    for line in page.lines:
        x0, y0, x1, y1 = line.box
        assert 0 <= x0 <= x1 <= w + 1 and 0 <= y0 <= y1 <= h + 1 and 0 <= line.confidence <= 1
    assert [line.box[1] for line in page.lines] == sorted(line.box[1] for line in page.lines)


def _generators():
    yield pytest.param(lambda tmp_path: FakeGenerator("Your refund is on its way."), id="fake")

    def tiny(tmp_path):
        from dialogue.lm.decoding import GenerationOptions
        from dialogue.lm.generator import LMGenerator
        from dialogue.lm.model import DialogueLM

        tok = tiny_tokenizer()
        lm = DialogueLM(tiny_llama(len(tok)), tok, device="cpu")
        return LMGenerator(lm, GenerationOptions(max_new_tokens=8), "tiny-llama")

    yield pytest.param(tiny, id="dialogue-lm-tiny-random")

    def llama_cpp_tiny(tmp_path):
        from dialogue.lm.decoding import GenerationOptions
        from dialogue.lm.llama_cpp import LlamaCppGenerator
        from tests.gguf_fixture import tiny_gguf

        path = tiny_gguf(tmp_path / "tiny.gguf")
        return LlamaCppGenerator.from_pretrained(str(path), options=GenerationOptions(max_new_tokens=8))  # fmt: skip

    yield pytest.param(
        llama_cpp_tiny,
        id="llama-cpp-tiny-random",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("llama_cpp") is None, reason="needs llama-cpp-python"
        ),
    )

    def openai_llama_server(tmp_path):
        from dialogue.lm.decoding import GenerationOptions
        from dialogue.lm.openai_client import OpenAIGenerator
        from tests.dialogue.lm.test_openai_client import llama_server_url

        url = llama_server_url()  # llama-cpp-python's server, shared with that file's tests
        return OpenAIGenerator.from_spec(f"openai:{url}/cca", GenerationOptions(max_new_tokens=8))

    yield pytest.param(openai_llama_server, id="openai-llama-server", marks=pytest.mark.weights)


@pytest.mark.parametrize("make", list(_generators()))
def test_generator_protocol(make, tmp_path):
    from dialogue.lm.generator import Generator

    gen = make(tmp_path)
    assert isinstance(gen, Generator) and gen.name and isinstance(gen.takes_images, bool)
    prompt = "<|user|>\nwhere is my refund?\n<|assistant|>\n"
    whole = gen.generate(prompt)
    pieces = list(gen.stream(prompt))
    assert isinstance(whole, str) and all(isinstance(p, str) for p in pieces)
    assert "".join(pieces) == whole  # greedy: the stream adds up to the whole reply
    gen.prefill("<|user|>\n")  # a hint between turns: it changes no reply
    assert gen.generate(prompt) == whole


def _retrievers():
    yield pytest.param(lambda tmp_path: FakeRetriever(), id="fake")

    def kb(tmp_path):
        from dialogue.embed import HashingEncoder
        from dialogue.knowledge.base import KnowledgeBase

        (tmp_path / "faq.md").write_text(
            "# Refunds\n\nRefunds reach the card within 5 to 7 business days.\n\n"
            "# Returns\n\nItems can be returned within 30 days of delivery.\n",
            encoding="utf-8",
        )
        base = KnowledgeBase(f"sqlite:///{tmp_path / 'kb.db'}", HashingEncoder(dim=64))
        base.add([tmp_path / "faq.md"], progress=False)
        return base

    yield pytest.param(kb, id="knowledge-base-hashing")


@pytest.mark.parametrize("make", list(_retrievers()))
def test_retriever_protocol(make, tmp_path):
    from dialogue.knowledge.base import Passage, Retriever

    r = make(tmp_path)
    assert isinstance(r, Retriever)
    hits = r.search("how many days until refunds reach my card", k=2)
    assert 1 <= len(hits) <= 2 and all(isinstance(p, Passage) for p in hits)
    assert "Refunds" in hits[0].text and hits[0].source
    assert [p.score for p in hits] == sorted((p.score for p in hits), reverse=True)
    assert len(r.search("refunds", k=1)) <= 1


def _tools():
    from dialogue.policy.toolkit import TOOLS

    __import__("domains.retail.tools")
    return sorted(TOOLS)


@pytest.mark.parametrize("name", _tools())
def test_tool_protocol(name, office):
    """Every tool declares a JSON schema, and a call with no arguments is refused with a code,
    never raised, never written."""
    from dialogue.policy.toolkit import CODES, TOOLS, Tool, ToolResult, ToolSession

    tool = TOOLS[name]
    assert isinstance(tool, Tool) and isinstance(tool.writes, bool)
    params = tool.params
    assert params["type"] == "object" and params["description"]
    assert set(params["required"]) <= set(params["properties"])
    session = ToolSession(office, "contract")
    result = tool.fn(session) if params["required"] else None
    if result is not None:
        assert isinstance(result, ToolResult) and not result.ok and result.code in CODES
        assert session.pending is None


def _pack_tools():
    from dialogue.domain.pack import DomainPack
    from dialogue.policy.declare import load_declarations
    from tests.conftest import ROOT

    return sorted(load_declarations(DomainPack.load(ROOT / "domains" / "bank")).tools)


@pytest.mark.parametrize("name", _pack_tools())
def test_pack_tool_protocol(name, tmp_path):
    """The bank pack's declared tools follow the same seam: a JSON schema, and a call with no
    arguments refused with a code (or answered, when it needs none), never raised, never written."""
    from dialogue.domain.pack import DomainPack
    from dialogue.policy.declare import load_declarations
    from dialogue.policy.pack_tools import PackTools, open_office
    from dialogue.policy.tooltypes import CODES, Tool, ToolResult
    from tests.conftest import ROOT

    declarations = load_declarations(DomainPack.load(ROOT / "domains" / "bank"))
    office = open_office(declarations, f"sqlite:///{tmp_path / 'bank.db'}")
    try:
        tool = PackTools(declarations, office).tools[name]
        assert isinstance(tool, Tool) and isinstance(tool.writes, bool)
        params = tool.params
        assert params["type"] == "object" and params["description"]
        assert set(params["required"]) <= set(params["properties"])
        session = PackTools(declarations, office).session(office, "contract")
        for user in (None, "C001"):
            session.user_id = user
            result = tool.fn(session)
            assert isinstance(result, ToolResult) and session.pending is None
            if params["required"]:
                assert not result.ok and result.code in CODES
            else:  # a list of the customer's: theirs once authenticated
                assert result.ok == (user is not None) and (result.ok or result.code in CODES)
        assert office.counts()["bank_audit"] == 0
    finally:
        office.close()


def fresh_postgres_database(base_url: str) -> str:
    """A new, empty database on the test server (tests.conftest.postgres_url)."""
    import uuid

    from sqlalchemy import create_engine, text

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return base_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def call_state(request, tmp_path):
    """Every implementation of demo.phone.state.CallState, the SQL ones sealed under a key."""
    from demo.phone.state import open_call_state
    from dialogue.records.crypto import Keyring, new_key

    if request.param == "memory":
        url = "memory"
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = fresh_postgres_database(request.getfixturevalue("postgres_url"))
    state = open_call_state(url, keyring=Keyring.from_strings([new_key()]))
    yield state
    state.close()


def test_call_state_protocol(call_state):
    """Values come back as written, once for `take`, never after their time; `new` refuses a
    live key and takes an expired one; of eight workers taking one key, one gets it."""
    import threading
    import time

    from demo.phone.state import CallState

    s = call_state
    assert isinstance(s, CallState)
    value = {"call_sid": "CA1", "caller": "+15550100", "n": [1, 2.5], "zh": "我叫"}
    assert s.put("stream", "tok", value, 60.0, new=True) is True
    assert s.put("stream", "tok", {"other": 1}, 60.0, new=True) is False
    got = s.get("stream", "tok")
    assert got == value
    got["call_sid"] = "changed"  # a copy, as a database gives
    assert s.get("stream", "tok") == value and s.get("upload", "tok") is None
    assert s.take("stream", "tok") == value and s.take("stream", "tok") is None
    assert s.put("redaction", "CA1", {"v": 1}, 60.0) and s.put("redaction", "CA1", {"v": 2}, 60.0)
    assert s.get("redaction", "CA1") == {"v": 2}
    s.put("upload", "123456", {"x": 1}, 0.2)
    time.sleep(0.3)
    assert s.get("upload", "123456") is None and s.take("upload", "123456") is None
    assert s.put("upload", "123456", {"x": 2}, 60.0, new=True) is True  # the old one expired
    s.put("image", "MZ1", {"data": "AA=="}, 60.0)
    won, go = [], threading.Barrier(8)

    def worker():
        go.wait()
        won.append(s.take("image", "MZ1"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [w for w in won if w is not None] == [{"data": "AA=="}]


# dialogue.nlu.intents.IntentClassifier: a head on a sentence encoder, a domain pack's blend


def _intent_classifiers():
    def head(tmp_path):
        from dialogue.embed import HashingEncoder
        from dialogue.nlu.intents import HeadClassifier, IntentHeadConfig, train_intent_head

        enc = HashingEncoder()
        texts, labels = ["lost my card", "change my pin", "我的卡丢了"], ["lost", "pin", "lost"]
        x = enc.embed(texts)
        config = IntentHeadConfig(max_epochs=20, patience=20)
        return HeadClassifier(train_intent_head(x, labels, x, labels, "hashing", config, ("lost", "pin")), enc)  # fmt: skip

    def pack(tmp_path):
        import os

        from dialogue.embed import HashingEncoder
        from dialogue.nlu.finetune import FinetuneConfig
        from dialogue.nlu.pack_intents import PackTrainConfig, train_pack_intents
        from tests.dialogue.nlu.test_finetune import tiny_bert

        os.environ["CCA_CACHE_DIR"] = str(tmp_path / "cache")
        rows = [("I lost my card", "card_lost", "en"), ("change my pin", "pin", "en"), ("我的卡丢了", "card_lost", "zh")]  # fmt: skip
        config = PackTrainConfig(finetune=FinetuneConfig(epochs=2, min_steps=0), head_epochs_without_tune=5)  # fmt: skip
        return train_pack_intents(rows, [], HashingEncoder(), config, base=tiny_bert())

    yield pytest.param(head, id="head")
    yield pytest.param(pack, id="pack")


@pytest.mark.parametrize("make", list(_intent_classifiers()))
def test_intent_classifier_protocol(make, tmp_path, monkeypatch):
    from dialogue.nlu.intents import IntentClassifier, IntentPrediction

    monkeypatch.setenv("CCA_CACHE_DIR", str(tmp_path / "cache"))
    c = make(tmp_path)
    assert isinstance(c, IntentClassifier)
    got = c.classify(["I lost my card", "我的卡丢了"], ["en", "zh"])
    assert len(got) == 2 and all(isinstance(p, IntentPrediction) for p in got)
    assert all(p.intent in c.labels or p.out_of_scope for p in got)
    assert all(0.0 <= p.confidence <= 1.0 and len(p.top) >= 1 for p in got)
    assert c.classify([], []) == []
