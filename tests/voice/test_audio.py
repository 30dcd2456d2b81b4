"""Tests for voice.audio: any common audio file to 16 kHz mono float32, with limits and errors."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ffmpeg_convert, requires_ffmpeg, tone, write_wav
from voice.audio import (
    AudioError,
    AudioInfo,
    AudioLimits,
    from_array,
    load_audio,
    load_audio_bytes,
    load_channels,
    probe,
    resample,
)
from voice.types import SAMPLE_RATE

SECONDS = 2.0
F0 = 440.0  # tone() adds harmonics at 2 and 3 x F0; all stay under 4 kHz (8 kHz Nyquist)


def dominant_hz(x: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spectrum)])


def amplitude_at(x: np.ndarray, hz: float, sr: int = SAMPLE_RATE) -> float:
    """Peak amplitude of the sine at `hz` (x should hold a whole number of its periods)."""
    spectrum = np.abs(np.fft.rfft(x)) * 2 / len(x)
    return float(spectrum[int(round(hz * len(x) / sr))])


def sine(hz: float, seconds: float, sr: int, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * hz * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def _ffmpeg(*args: str) -> bytes:
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", *args]
    return subprocess.run(cmd, check=True, capture_output=True).stdout


def _assert_audio_error(err: pytest.ExceptionInfo, path: Path | str, problem: str) -> None:
    assert err.value.source == str(path)
    assert str(path) in str(err.value)
    assert re.search(problem, err.value.problem), err.value.problem


# file ending, rate of the source WAV, ffmpeg arguments, the codec ffprobe should report
FORMATS = [
    pytest.param("wav", 16_000, (), "pcm_s16le", id="wav-16k"),
    pytest.param("wav", 44_100, (), "pcm_s16le", id="wav-44k"),
    pytest.param("wav", 8_000, (), "pcm_s16le", id="wav-8k"),
    pytest.param("flac", 44_100, (), "flac", id="flac"),
    pytest.param("mp3", 44_100, (), "mp3", id="mp3"),
    pytest.param("ogg", 48_000, ("-c:a", "libopus"), "opus", id="ogg-opus"),
    pytest.param("m4a", 44_100, ("-c:a", "aac"), "aac", id="m4a-aac"),
    pytest.param("wav", 8_000, ("-c:a", "pcm_mulaw"), "pcm_mulaw", id="mulaw-8k"),
    pytest.param("wav", 8_000, ("-c:a", "pcm_alaw"), "pcm_alaw", id="alaw-8k"),
]


@requires_ffmpeg
@pytest.mark.parametrize("ext,rate,args,codec", FORMATS)
def test_decodes_each_format_to_16k_mono(tmp_path, ext, rate, args, codec):
    src = write_wav(tmp_path / "src.wav", tone(SECONDS, F0, sr=rate), sr=rate)
    path = src if not args and ext == "wav" else ffmpeg_convert(src, tmp_path / f"in.{ext}", *args)
    info = probe(path)
    assert (info.codec, info.channels, info.sample_rate) == (codec, 1, rate)

    audio = load_audio(path)
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert audio.sample_rate == SAMPLE_RATE and audio.source == str(path)
    assert abs(audio.duration_s - SECONDS) < 0.05
    assert abs(dominant_hz(audio.samples) - F0) < 3  # the pitch survives resampling
    want_rms = float(np.sqrt(np.mean(tone(SECONDS, F0) ** 2)))
    got_rms = float(np.sqrt(np.mean(audio.samples**2)))
    assert got_rms == pytest.approx(want_rms, rel=0.2)  # the level survives, lossy codecs too


@requires_ffmpeg
def test_resampling_is_band_limited(tmp_path):
    sr = 44_100
    x = sine(1000, SECONDS, sr, 0.3) + sine(10_000, SECONDS, sr, 0.3)  # 10 kHz: over 8 kHz
    audio = load_audio(write_wav(tmp_path / "in.wav", x, sr=sr))
    assert abs(dominant_hz(audio.samples) - 1000) < 2
    assert amplitude_at(audio.samples, 1000) == pytest.approx(0.3, rel=0.02)
    # Dropping samples would fold 10 kHz onto 6 kHz; a real resampler filters it out.
    assert amplitude_at(audio.samples, 6000) < 0.003


@requires_ffmpeg
def test_resample_array():
    x = sine(1000, 1.0, 8000)
    y = resample(x, 8000, SAMPLE_RATE)
    assert y.dtype == np.float32
    assert abs(len(y) - SAMPLE_RATE) <= 16
    assert abs(dominant_hz(y) - 1000) < 2
    assert amplitude_at(y[:SAMPLE_RATE], 1000) == pytest.approx(0.5, rel=0.05)
    assert resample(x, 8000, 8000) is x  # same rate: untouched

    mixed = sine(1000, 1.0, 44_100, 0.3) + sine(10_000, 1.0, 44_100, 0.3)
    y = resample(mixed, 44_100, SAMPLE_RATE)[:SAMPLE_RATE]
    assert amplitude_at(y, 1000) == pytest.approx(0.3, rel=0.02)
    assert amplitude_at(y, 6000) < 0.003  # 10 kHz filtered out, not folded onto 6 kHz


def test_from_array_int16_float_and_two_channels():
    pcm = np.array([0, 16384, -16384, 32767], dtype=np.int16)
    np.testing.assert_allclose(from_array(pcm, SAMPLE_RATE).samples, [0, 0.5, -0.5, 1], atol=1e-4)

    floats = from_array(np.array([0.25, -2.0, 2.0]), SAMPLE_RATE, source="mic")
    assert floats.samples.dtype == np.float32 and floats.source == "mic"
    np.testing.assert_array_equal(floats.samples, [0.25, -1.0, 1.0])  # clipped to [-1, 1]

    stereo = np.stack([np.full(100, 0.4), np.full(100, 0.2)], axis=1)  # (n, channels)
    mixed = from_array(stereo, SAMPLE_RATE)
    assert mixed.samples.shape == (100,)
    np.testing.assert_allclose(mixed.samples, 0.3, atol=1e-6)

    with pytest.raises(AudioError, match="zero-length"):
        from_array(np.zeros(0, np.float32), SAMPLE_RATE)


@requires_ffmpeg
def test_from_array_resamples_int16_at_8k():
    pcm = (sine(1000, 1.0, 8000) * 32767).astype(np.int16)
    audio = from_array(pcm, 8000)
    assert audio.sample_rate == SAMPLE_RATE and abs(audio.duration_s - 1.0) < 0.002
    assert abs(dominant_hz(audio.samples) - 1000) < 2


@pytest.fixture(scope="module")
def stereo_call(tmp_path_factory) -> Path:
    """2 s stereo WAV: 500 Hz on the left (agent), 1500 Hz on the right (customer)."""
    x = np.stack([sine(500, SECONDS, SAMPLE_RATE), sine(1500, SECONDS, SAMPLE_RATE)], axis=1)
    return write_wav(tmp_path_factory.mktemp("stereo") / "call.wav", x)


@requires_ffmpeg
@pytest.mark.parametrize(
    "channel,present,absent", [(None, (500, 1500), ()), (0, (500,), (1500,)), (1, (1500,), (500,))]
)
def test_stereo_mix_and_channel_pick(stereo_call, channel, present, absent):
    assert probe(stereo_call).channels == 2
    x = load_audio(stereo_call, channel=channel).samples
    assert abs(len(x) / SAMPLE_RATE - SECONDS) < 0.05
    levels = {hz: amplitude_at(x, hz) for hz in (500, 1500)}
    assert dominant_hz(x) in present
    for hz in present:
        assert levels[hz] > 0.2, levels
    for hz in absent:
        assert levels[hz] < 0.005, levels
    if channel is None:
        assert levels[500] == pytest.approx(levels[1500], rel=0.05)  # both sides, equally


@requires_ffmpeg
def test_load_channels_decodes_every_channel_in_one_pass(stereo_call):
    left, right = load_channels(stereo_call)
    assert abs(dominant_hz(left.samples) - 500) < 2 and abs(dominant_hz(right.samples) - 1500) < 2
    np.testing.assert_allclose(left.samples, load_audio(stereo_call, channel=0).samples, atol=1e-4)
    np.testing.assert_allclose(right.samples, load_audio(stereo_call, channel=1).samples, atol=1e-4)
    (mono,) = load_channels(write_wav(stereo_call.parent / "mono.wav", sine(700, 1.0, SAMPLE_RATE)))
    assert abs(mono.duration_s - 1.0) < 0.01


@requires_ffmpeg
def test_stereo_mixdown_keeps_the_level_of_dual_mono(tmp_path):
    x = sine(500, SECONDS, SAMPLE_RATE, amp=0.9)
    mono = load_audio(write_wav(tmp_path / "mono.wav", x)).samples
    mixed = load_audio(write_wav(tmp_path / "dual.wav", np.stack([x, x], axis=1))).samples
    assert np.abs(mixed).max() < 0.95
    np.testing.assert_allclose(mixed, mono, atol=1e-3)


@requires_ffmpeg
@pytest.mark.parametrize("channel", [2, 5])
def test_channel_out_of_range(stereo_call, channel):
    with pytest.raises(AudioError) as err:
        load_audio(stereo_call, channel=channel)
    _assert_audio_error(err, stereo_call, rf"has 2 channel\(s\); channel {channel} asked for")


@requires_ffmpeg
def test_negative_channel_is_out_of_range(stereo_call):
    with pytest.raises(AudioError) as err:
        load_audio(stereo_call, channel=-1)
    _assert_audio_error(err, stereo_call, "channel")


def _no_audio_stream(path: Path) -> None:
    _ffmpeg("-f", "lavfi", "-i", "color=c=black:s=16x16:d=1", str(path))


# file name, how to make it (None: leave it absent), the problem the error must name
BAD_FILES = [
    pytest.param("missing.wav", None, "no such file", id="missing"),
    pytest.param("folder.wav", lambda p: p.mkdir(), "not a regular file", id="folder"),
    pytest.param("empty.wav", lambda p: p.write_bytes(b""), r"empty file \(0 bytes\)", id="empty"),
    pytest.param(
        "corrupt.wav",
        lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)),
        "not a readable audio file",
        id="corrupt",
        marks=requires_ffmpeg,
    ),
    pytest.param(
        "notes.ogg",
        lambda p: p.write_text("these are meeting notes, not audio\n" * 20),
        "not a readable audio file",
        id="text",
        marks=requires_ffmpeg,
    ),
    pytest.param(
        "video.mp4",
        _no_audio_stream,
        "no audio stream",
        id="no-audio-stream",
        marks=requires_ffmpeg,
    ),
]


@pytest.mark.parametrize("name,make,problem", BAD_FILES)
def test_bad_files_raise_audio_error_naming_the_file(tmp_path, name, make, problem):
    path = tmp_path / name
    if make is not None:
        make(path)
    with pytest.raises(AudioError) as err:
        load_audio(path)
    _assert_audio_error(err, path, problem)


@requires_ffmpeg
def test_size_and_duration_limits(tmp_path):
    path = write_wav(tmp_path / "long.wav", tone(SECONDS))
    assert abs(load_audio(path).duration_s - SECONDS) < 0.01  # fine under the default limits

    with pytest.raises(AudioError) as err:
        load_audio(path, limits=AudioLimits(max_bytes=1000))
    _assert_audio_error(err, path, r"over the limit .*--max-bytes")

    with pytest.raises(AudioError) as err:
        load_audio(path, limits=AudioLimits(max_duration_s=1.0))
    _assert_audio_error(err, path, r"over the limit .*--max-duration")

    assert load_audio(path, limits=AudioLimits(max_duration_s=SECONDS + 1)).duration_s > 1.9


@requires_ffmpeg
def test_duration_limit_without_a_declared_duration(tmp_path):
    src = write_wav(tmp_path / "src.wav", tone(SECONDS))
    path = tmp_path / "streamed.mka"
    path.write_bytes(_ffmpeg("-i", str(src), "-f", "matroska", "pipe:1"))
    assert probe(path).duration_s == 0.0  # the container does not say how long it is
    assert abs(load_audio(path).duration_s - SECONDS) < 0.05
    with pytest.raises(AudioError, match="over the limit"):
        load_audio(path, limits=AudioLimits(max_duration_s=1.0))


@requires_ffmpeg
@pytest.mark.parametrize(
    "limits", [AudioLimits(max_bytes=1000), AudioLimits(max_duration_s=1.0)], ids=["bytes", "s"]
)
def test_limit_messages_show_distinct_numbers(tmp_path, limits):
    path = write_wav(tmp_path / "long.wav", tone(SECONDS))
    with pytest.raises(AudioError) as err:
        load_audio(path, limits=limits)
    found, limit = (float(n) for n in re.findall(r"\d+(?:\.\d+)?", err.value.problem)[:2])
    assert found > limit > 0, err.value.problem


@pytest.fixture
def playlists(tmp_path) -> dict[str, Path]:
    """Playlists that make ffmpeg read another local file: a WAV and an MP3 of a 700 Hz tone."""
    secret = write_wav(tmp_path / "secret.wav", tone(SECONDS, 700.0))
    ffmpeg_convert(secret, tmp_path / "secret.mp3")
    hls = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXTINF:2.0,\nsecret.mp3\n#EXT-X-ENDLIST\n"
    concat = "ffconcat version 1.0\nfile 'secret.wav'\n"
    out = {}
    for name, text in [
        ("list.m3u8", hls),
        ("hls-named.wav", hls),
        ("list.ffconcat", concat),
        ("concat-named.wav", concat),
    ]:
        out[name] = tmp_path / name
        out[name].write_text(text)
    return out


@requires_ffmpeg
@pytest.mark.parametrize(
    "name", ["list.m3u8", "hls-named.wav", "list.ffconcat", "concat-named.wav"]
)
def test_playlists_that_read_other_files_are_refused(playlists, name):
    path = playlists[name]
    # The premise: ffmpeg without our whitelists does decode the referenced file.
    cmd = ("-i", str(path), "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "pipe:1")
    leaked = np.frombuffer(_ffmpeg(*cmd), np.float32)
    assert abs(len(leaked) / SAMPLE_RATE - SECONDS) < 0.1 and abs(dominant_hz(leaked) - 700) < 3

    with pytest.raises(AudioError) as err:
        load_audio(path)
    _assert_audio_error(err, path, "not a readable audio file")
    # The decode step refuses on its own too, even when the probe is skipped.
    with pytest.raises(AudioError) as err:
        load_audio(path, info=AudioInfo("wav", "pcm_s16le", 1, 16_000, SECONDS))
    _assert_audio_error(err, path, "decoding failed")


@requires_ffmpeg
def test_refused_playlist_says_why(playlists):
    with pytest.raises(AudioError) as err:
        load_audio(playlists["list.m3u8"])
    assert "not an allowed audio format" in err.value.problem


@requires_ffmpeg
def test_load_audio_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # to see the temporary files
    data = write_wav(tmp_path / "src.wav", tone(SECONDS)).read_bytes()
    before = set(tmp_path.iterdir())

    audio = load_audio_bytes(data, name="call.wav")
    assert audio.source == "call.wav" and abs(audio.duration_s - SECONDS) < 0.01
    assert abs(dominant_hz(audio.samples) - 220.0) < 3

    bad = [
        (b"this is not audio at all" * 10, {}, "not a readable audio file"),
        (b"", {}, "empty file"),
        (data, {"limits": AudioLimits(max_bytes=1000)}, "upload is .* over the limit"),
    ]
    for payload, kwargs, problem in bad:
        with pytest.raises(AudioError) as err:
            load_audio_bytes(payload, name="upload-7.wav", **kwargs)
        _assert_audio_error(err, "upload-7.wav", problem)
    assert set(tmp_path.iterdir()) == before  # no temporary file left behind
