"""No caller turn is lost at the edges of the agent's speech, on the virtual clock: a quick
transcript that fails, speech begun and ended while an earlier one is being judged, speech over
the silence goodbye's end; and a transcript taken of speech that becomes the turn is reused."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cache, partial

import pytest

from tests.voice.live.test_session import (
    GREETING,
    HZ,
    LONG_REPLY,
    ToneASR,
    greeting_end_s,
    kinds,
    run,
    timeline,
)  # fmt: skip
from voice.live.session import Reply, SessionOptions
from voice.types import Audio, Transcript

OPTIONS = SessionOptions()


@dataclass
class FlakyASR(ToneASR):
    """A ToneASR behind a loaded server: the first `fail[words]` transcriptions that hear
    `words` fail, raising, or (with `slow_s`) taking that much real time, past the session's
    `asr_timeout_s`."""

    fail: dict[str, int] = field(default_factory=dict)
    slow_s: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        self.fail, self.failed = dict(self.fail), 0

    def transcribe(self, audio: Audio, vad=None) -> Transcript:
        transcript = super().transcribe(audio)
        for words, n in self.fail.items():
            if n and words in transcript.text:
                self.fail[words], self.failed = n - 1, self.failed + 1
                if self.slow_s:
                    time.sleep(self.slow_s)
                    return transcript
                raise ConnectionError("the ASR server at http://asr:8090 is overloaded")
        return transcript


def over_the_reply(word: str, speech_s: float = 0.5) -> Audio:
    """A first turn, then `word` about 1.5 s into the ~3.4 s reply to it."""
    return timeline((0.3, None), (1.0, HZ["where is my order"]), (0.65 + 1.5, None),
                    (speech_s, HZ[word]), (4.0, None))  # fmt: skip


# (why, failed transcriptions of "hold on", slow_s: 0 an error, else a time-out)
FAILING = [
    ("the quick transcript fails, the one at the speech's end decides", 1, 0.0),
    ("both quick transcripts fail, the turn's own decides", 2, 0.0),
    ("both quick transcripts time out, the turn's own decides", 2, 0.5),
]  # fmt: skip


@pytest.mark.parametrize("why, fails, slow_s", FAILING, ids=[c[0] for c in FAILING])
def test_a_short_turn_over_a_reply_is_answered_though_its_quick_transcript_fails(why, fails, slow_s):  # fmt: skip
    """ "hold on" (shorter than a backchannel may be) over the reply, on a loaded ASR server: a
    failed transcript is no "nothing said": the agent stops and the turn is answered, from
    the transcript already taken of that speech (not transcribed once more)."""
    options = SessionOptions(asr_timeout_s=0.3) if slow_s else None
    asr = partial(FlakyASR, fail={"hold on": fails}, slow_s=slow_s)
    result, session, responder, tts, asr = run([LONG_REPLY, Reply("Sure.")], over_the_reply("hold on"),
                                               options=options, asr=asr)  # fmt: skip
    assert responder.transcripts == ["where is my order", "hold on"], kinds(result)
    assert tts.said[-1] == "Sure." and "barge_in" in kinds(result)
    assert responder.heard[0].startswith("Your order shipped on Monday.")
    assert asr.failed == fails and asr.heard.count("hold on") == fails + 1
    assert result.metrics[-1].reused_partial and session._asr_failures == 0


def test_a_turn_whose_every_transcript_fails_hears_the_apology():
    """Quick, end and own transcript all fail: the agent stops, and the caller hears the
    apology (the first failed turn: no handover yet), never silence or the rest of the reply."""
    asr = partial(FlakyASR, fail={"hold on": 3})
    result, session, responder, tts, asr = run([LONG_REPLY], over_the_reply("hold on"), asr=asr)
    assert responder.transcripts == ["where is my order"] and "barge_in" in kinds(result)
    said = " ".join(tts.said)  # sentence by sentence
    assert said.endswith(OPTIONS.apology["en"]) and OPTIONS.handover["en"] not in said
    assert asr.failed == 3 and asr.heard.count("hold on") == 3  # not transcribed a fourth time
    assert session._asr_failures == 1 and result.ended == "closed"  # the replay closed it


@pytest.mark.parametrize("word", ["uh-huh", "好的"])
def test_a_backchannel_whose_quick_transcripts_fail_still_lets_the_agent_go_on(word):
    """The turn's own transcript finds only "uh-huh": the agent, holding meanwhile, goes on."""
    asr = partial(FlakyASR, fail={word: 2})
    result, _, responder, _, asr = run([LONG_REPLY], over_the_reply(word, 0.4), asr=asr)
    assert responder.transcripts == ["where is my order"] and responder.heard == []
    assert "barge_in" not in kinds(result) and "playback_resumed" in kinds(result)
    assert [e.data["reason"] for e in result.events if e.kind == "playback_stopped"] == ["finished"]
    assert asr.failed == 2


@pytest.mark.parametrize("second, answered", [("hold on", True), ("好的", False)])
def test_speech_begun_and_ended_while_the_last_is_judged_is_judged_too(second, answered):
    """ "uh-huh" over the reply, then a short second utterance that starts and ends while the
    transcript of the first (1 s: a loaded ASR) is still being taken: "hold on" stops the agent
    and is answered; "好的" is one more backchannel and the agent goes on."""
    options = SessionOptions(backchannel_max_s=1.5)  # neither is long enough to decide alone
    audio = timeline((0.3, None), (1.0, HZ["where is my order"]), (0.65 + 2.0, None),
                     (0.3, HZ["uh-huh"]), (0.4, None), (0.4, HZ[second]), (5.0, None))  # fmt: skip
    result, _, responder, tts, asr = run([LONG_REPLY, Reply("Sure.")], audio, options=options,
                                         latency=(1.0, 0, 0))  # fmt: skip
    ended = [e for e in result.events if e.kind == "speech_ended" and e.data["start_s"] > 3.5]
    judged = [e for e in result.events if e.kind == "backchannel"]
    assert ended[1].time_s < judged[0].time_s  # the second speech ended before "uh-huh" was judged
    if answered:
        assert responder.transcripts == ["where is my order", "hold on"], kinds(result)
        assert tts.said[-1] == "Sure." and "barge_in" in kinds(result)
        assert asr.heard.count("hold on") == 1  # the turn took the transcript of its judgement
    else:
        assert responder.transcripts == ["where is my order"] and "barge_in" not in kinds(result)
        assert [e.text for e in judged] == ["uh-huh", "好的"]


SILENCE = SessionOptions(silence_timeout_s=2.0)


@cache
def goodbye_end_s() -> float:
    """When the silence goodbye's last frame goes out, on a line where the caller then says
    nothing more."""
    audio = timeline((0.3, None), (0.8, HZ["where is my order"]), (12.0, None))
    result, *_ = run([Reply("It shipped.")], audio, options=SILENCE)
    assert result.ended == "silence"
    return [e.time_s for e in result.events if e.kind == "playback_stopped"][-1]


def over_the_goodbye(onset_s: float, word: str) -> Audio:
    start_s = goodbye_end_s() + onset_s
    return timeline((0.3, None), (0.8, HZ["where is my order"]), (start_s - 1.1, None),
                    (0.5, HZ[word]), (1.5, None))  # fmt: skip


ONSETS = {"well before its end": -0.6, "as it ends": -0.2, "in its last moment": -0.09,
          "before the VAD can tell": -0.03, "just after its last word": 0.02}  # fmt: skip


@pytest.mark.parametrize("onset", ONSETS.values(), ids=ONSETS.keys())
def test_a_turn_over_the_silence_goodbyes_end_is_answered_and_the_call_goes_on(onset):
    audio = over_the_goodbye(onset, "hold on")
    result, _, responder, tts, _ = run([Reply("It shipped."), Reply("Sure.")], audio,
                                       options=SILENCE)  # fmt: skip
    assert [e.data["goodbye"] for e in result.events if e.kind == "reprompt"][:2] == [False, True]
    assert responder.transcripts == ["where is my order", "hold on"], kinds(result)
    assert "Sure." in tts.said and result.ended == "closed"  # on until the replay hung up


@pytest.mark.parametrize("onset", [-0.6, -0.09, -0.03])
@pytest.mark.parametrize("word", ["uh-huh", "好的"])
def test_a_backchannel_over_the_silence_goodbyes_end_still_ends_the_call(word, onset):
    result, _, responder, _, _ = run([Reply("It shipped.")], over_the_goodbye(onset, word),
                                     options=SILENCE)  # fmt: skip
    assert responder.transcripts == ["where is my order"] and "barge_in" not in kinds(result)
    assert result.ended == "silence" and kinds(result)[-1] == "ended"


def test_speech_begun_while_a_backchannel_is_transcribed_is_the_next_turn():
    """ "uh-huh" over the greeting's last moment is a turn of its own, only a backchannel; the
    caller's question, begun while that turn was transcribed (1 s: a loaded ASR), is the next
    turn, and answered."""
    latency = (1.0, 0, 0)
    start_s = greeting_end_s(latency) - 0.09
    audio = timeline((start_s, None), (0.4, HZ["uh-huh"]), (0.8, None),
                     (1.0, HZ["where is my order"]), (4.0, None))  # fmt: skip
    result, _, responder, tts, _ = run([Reply("It shipped.")], audio, latency=latency,
                                       greeting=GREETING)  # fmt: skip
    assert [e.text for e in result.events if e.kind == "backchannel"] == ["uh-huh"]
    assert responder.transcripts == ["where is my order"], kinds(result)
    assert tts.said[-1] == "It shipped."
