"""The parts of the live voice session: stream resampling, streaming VAD (energy and the packaged
Silero model), endpointing and backchannel rules, what a caller heard, the echo canceller."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import tone
from voice.live.echo import DelayGainCanceller as EchoCanceller
from voice.live.endpoint import (
    Endpointer,
    has_identifier,
    is_backchannel,
    is_blip,
    mid_identifier,
)
from voice.live.frames import StreamResampler, as_samples
from voice.live.playback import Player
from voice.live.stream_vad import EnergyStream, SileroStream, StreamVAD, StreamVADOptions

SR = 16_000


@pytest.mark.parametrize("rates", [(8000, 16000), (48000, 16000), (16000, 24000), (44100, 16000)])
def test_stream_resampler_matches_the_signal_frame_by_frame(rates):
    a, b = rates
    x = np.sin(2 * np.pi * 440 * np.arange(a) / a).astype(np.float32)
    r = StreamResampler(a, b)
    step = a // 50  # 20 ms frames
    y = np.concatenate([r.process(x[i : i + step]) for i in range(0, len(x), step)])
    assert abs(len(y) - b) <= 2
    lag = r.half * b / a
    ref = np.sin(2 * np.pi * 440 * (np.arange(len(y)) - lag) / b)
    assert np.abs(y - ref)[200:-200].max() < 0.01


def test_frames_from_int16_and_bytes():
    pcm = np.array([0, 16384, -32768], dtype="<i2")
    x, rate = as_samples(pcm.tobytes(), 8000)
    assert rate == 8000 and np.allclose(x, [0, 0.5, -1])
    with pytest.raises(ValueError, match="mono"):
        as_samples(np.zeros((4, 2)), 8000)


def feed(vad: StreamVAD, x: np.ndarray, frame: int = 320):
    return [e for i in range(0, len(x), frame) for e in vad.feed(x[i : i + frame])]


def test_energy_vad_reports_start_and_end_with_hysteresis():
    x = np.concatenate([np.zeros(SR), tone(1.0), np.zeros(SR // 10), tone(0.5), np.zeros(SR)])
    events = feed(StreamVAD(EnergyStream()), x)
    assert [e.kind for e in events] == ["start", "end"]  # the 100 ms pause does not split
    start, end = events
    assert start.start_s == pytest.approx(1.0, abs=0.04) and start.end_s <= 1.0 + 0.1 + 0.04
    assert end.end_s == pytest.approx(2.6, abs=0.04)
    # a burst shorter than min_speech_s is not speech
    blip = np.concatenate([np.zeros(SR), tone(0.05), np.zeros(SR)])
    assert feed(StreamVAD(EnergyStream()), blip) == []
    with pytest.raises(ValueError, match="hysteresis"):
        StreamVADOptions(threshold=0.3, hysteresis=0.4)


def _resonate(x: np.ndarray, hz: float, bw: float) -> np.ndarray:
    r, th = np.exp(-np.pi * bw / SR), 2 * np.pi * hz / SR
    a1, a2, y = 2 * r * np.cos(th), -r * r, np.zeros_like(x)
    for n in range(len(x)):
        y[n] = (1 - r) * x[n] + a1 * y[n - 1] + a2 * y[n - 2]
    return y


def speechlike(seconds: float) -> np.ndarray:
    """A voice-like sound: a 120 Hz pulse train through three vowel formants, 4 syllables/s."""
    t = np.arange(int(seconds * SR)) / SR
    phase = np.cumsum(120 * (1 + 0.1 * np.sin(2 * np.pi * 3 * t))) / SR
    y = (np.diff(np.floor(phase), prepend=0) > 0).astype(np.float64)
    for hz, bw in ((700, 80), (1200, 90), (2600, 120)):
        y = _resonate(y, hz, bw)
    y *= 0.5 - 0.5 * np.cos(2 * np.pi * 4 * t)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def test_packaged_silero_finds_speech_in_8_khz_phone_frames():
    x16 = np.concatenate([np.zeros(SR), speechlike(1.5), np.zeros(SR)])
    x8 = x16[::2]  # the band above 4 kHz is weak in this signal
    up = StreamResampler(8000, SR)
    vad = StreamVAD(SileroStream.load())
    events = [e for i in range(0, len(x8), 160) for e in vad.feed(up.process(x8[i : i + 160]))]
    assert [e.kind for e in events] == ["start", "end"]
    assert events[0].start_s == pytest.approx(1.0, abs=0.1)
    assert 1.2 < events[1].end_s < 2.6


@pytest.mark.parametrize(
    "text, expected",
    [("uh-huh", True), ("OK.", True), ("yeah, right", True), ("嗯", True), ("好的", True),
     ("对对，是的", True), ("嗯嗯好的", True), ("", False), ("wait", False), ("no stop", False),
     ("不对", False), ("okay but my order is late", False)],
)  # fmt: skip
def test_backchannels(text, expected):
    assert is_backchannel(text) is expected


@pytest.mark.parametrize(
    "text, expected",
    [("Hello", True), ("我认为", True), ("Ho!", True), ("no thanks", True), ("", False),
     ("...", False), ("wait, not that one", False), ("我想取消订单", False), ("好 W1", True)],
)  # fmt: skip
def test_blips_are_a_word_or_two(text, expected):
    assert is_blip(text) is expected


@pytest.mark.parametrize(
    "text, expected",
    [("my order number is 4 5", "digits"), ("it's W 1 2", "digits"), ("seven eight", "digits"),
     ("订单号是三五七", "digits"), ("my email is alice at", "email"), ("alice@exa", "email"),
     ("alice dot", "email"), ("alice@example.com", ""), ("where is my order", ""),
     ("order 4567 please", ""),
     # said in full, as Whisper writes a finished sentence: no more to wait for
     ("the zip code is 94105.", ""), ("订单号是W8632149。", ""), ("the pending one.", ""),
     ("my card is 4111 1111 1111 1111.", "digits"), ("W8632149", "digits")],
)  # fmt: skip
def test_mid_identifier(text, expected):
    assert mid_identifier(text) == expected


def test_endpointer_rule():
    e = Endpointer()
    assert e.silence_needed(None) == (0.65, "base")
    assert e.silence_needed("where is my order")[0] == 0.65
    assert e.silence_needed("my number is 5 5 5")[0] == 1.5
    assert e.silence_needed(None, "email")[0] == 1.5  # asked, nothing heard yet
    assert e.silence_needed("hold on", "email")[0] == 1.5
    assert e.silence_needed("it's alice@example.com thanks", "email")[0] == 0.65
    assert e.silence_needed("order 4567 please", "order_number")[0] == 0.65
    assert has_identifier("alice at example dot com", "email")
    assert has_identifier("Bob at example.com.", "email")  # as Whisper writes it
    # asked for an email, the caller says something else in full: no long wait
    assert e.silence_needed("Thank you, goodbye.", "email") == (0.65, "complete")
    assert e.silence_needed("Let me check.", "email")[0] == 1.5
    assert e.silence_needed("稍等", "order_number")[0] == 1.5
    assert e.too_long(30.0) and not e.too_long(29.0)


def test_what_the_caller_heard():
    p = Player(frame_samples=100)
    texts = ["Your order shipped.", "It arrives on Friday at noon.", "Anything else?"]
    for text in texts:
        p.add_audio(p.add_sentence(text), np.ones(1000, np.float32))
    p.done_adding()
    for _ in range(15):  # all of the first sentence, half of the second
        p.next_frame()
    assert p.heard() == "Your order shipped. It arrives on…"
    p.next_frame()
    p.duck(0.25)
    assert p.next_frame().max() == pytest.approx(0.25)
    assert p.stop() == "Your order shipped. It arrives on Friday…"
    assert p.next_frame() is None and not p.has_audio
    zh = Player(100)
    zh.add_audio(zh.add_sentence("您的订单已发货。"), np.ones(100, np.float32))
    zh.add_audio(zh.add_sentence("预计周五送达。"), np.ones(1000, np.float32))
    zh.next_frame(), zh.next_frame(), zh.next_frame(), zh.next_frame(), zh.next_frame()
    assert zh.heard() == "您的订单已发货。预计周…"  # 40 % of 7 characters
    nothing = Player(100)
    nothing.add_audio(nothing.add_sentence("Hello there."), np.ones(1000, np.float32))
    nothing.next_frame()
    assert nothing.heard() == ""  # 10 %: not heard


def test_echo_canceller_finds_the_delay_and_takes_the_echo_out():
    rng = np.random.default_rng(0)
    ref = (0.3 * rng.standard_normal(SR * 2)).astype(np.float32)
    delay, gain = int(0.09 * SR), 0.5
    echo = np.concatenate([np.zeros(delay, np.float32), gain * ref])[: len(ref)]
    ec = EchoCanceller()
    out = []
    for i in range(0, len(ref), 320):
        ec.play(ref[i : i + 320])
        out.append(ec.process(echo[i : i + 320]))
    assert ec.delay == delay and ec.gain == pytest.approx(gain, abs=0.01)
    tail = np.concatenate(out)[SR:]
    assert np.sqrt(np.mean(tail**2)) < 0.01 * np.sqrt(np.mean(echo[SR:] ** 2))
    # the caller talking over the echo comes through
    voice = tone(0.5, 300.0)
    before = len(out)
    for i in range(0, len(voice), 320):
        ec.play(np.zeros(320, np.float32))
        out.append(ec.process(voice[i : i + 320]))
    assert ec.double_talk
    assert np.abs(np.concatenate(out[before:])).max() > 0.1


def test_echo_canceller_forgets_the_path_when_playback_starts_again():
    """Each reply lands at a new place against the input: after a silence the old delay is not
    used (Geigel's test suppresses the echo until a new estimate), and a new one is found."""
    rng = np.random.default_rng(1)
    ec = EchoCanceller()
    ref = (0.3 * rng.standard_normal(SR)).astype(np.float32)
    for delay in (int(0.09 * SR), int(0.2 * SR)):  # one reply, silence, another reply
        echo = np.concatenate([np.zeros(delay, np.float32), 0.5 * ref])[: len(ref)]
        for _ in range(0, SR // 2, 320):  # silence: nothing played
            ec.process(np.zeros(320, np.float32))
        first = True
        out = []
        for i in range(0, len(ref), 320):
            ec.play(ref[i : i + 320])
            if first:
                assert ec.delay is None  # the restart made it forget
                first = False
            out.append(ec.process(echo[i : i + 320]))
        assert ec.delay == delay
        tail = np.concatenate(out)[SR // 2 :]
        assert np.sqrt(np.mean(tail**2)) < 0.05 * np.sqrt(np.mean(echo[SR // 2 :] ** 2))
