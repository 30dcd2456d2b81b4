"""The types a live voice session shares with its apps and its responder: the reply, the
responder's two verbs, per-turn metrics, events and the session's options."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from voice.live.echo import ECHO_CANCELLERS
from voice.live.endpoint import EndpointOptions
from voice.types import Transcript

EVENT_KINDS = (
    "speech_started", "speech_ended", "partial", "transcript", "reply", "playback_started",
    "playback_stopped", "playback_paused", "playback_resumed", "barge_in", "backchannel",
    "reprompt", "metrics", "error", "ended",
)  # fmt: skip


@dataclass(frozen=True)
class Reply:
    """What the responder says to one caller turn."""

    text: str
    language: str = "en"
    timings_ms: dict[str, float] = field(default_factory=dict)  # its own stages: nlu, first_token
    handoff: bool = False  # a person takes over after this reply
    end_call: bool = False  # the conversation is over after this reply
    expect: str = ""  # what the reply asked for (voice.live.endpoint.EXPECTS), for endpointing


class Responder(Protocol):
    """The agent behind a voice session. `streams`: whether `respond` takes a `say` to speak its
    reply piece by piece while it is still writing it (a dialogue model's clauses); then every
    word to be said goes through `say(text, language)`, in order, and the session speaks each
    piece as it comes, instead of `Reply.text` at the end."""

    streams: bool

    def respond(self, transcript: Transcript, say: Callable[[str, str], None] | None = None) -> Reply: ...  # fmt: skip

    def played(self, heard: str) -> None:
        """After a barge-in: the part of the last reply the caller heard (may be "")."""


class Prepares(Protocol):
    """What a `Responder` may also do (dialogue.voice_agent.AgentResponder does): answer the
    caller's words before their turn is known to have ended. `prepare(transcript)` is called with
    a quick transcript taken in a pause and returns at once; the answer is made in the
    background, with no effect that cannot be undone. If the turn ends on those words, the
    session's `respond` gets the same `Transcript` and should use it. `discard()`: the caller
    spoke again, or the turn ended on other words; returns at once."""

    def prepare(self, transcript: Transcript) -> None: ...

    def discard(self) -> None: ...


@dataclass(frozen=True)
class TurnMetrics:
    """One turn's voice-to-voice latency and its parts; the parts add up to the total."""

    turn: int
    voice_to_voice_ms: float  # end of caller speech -> first reply frame out
    endpoint_ms: float  # end of speech -> end of turn decided (the silence waited)
    asr_ms: float  # -> final transcript (0 when the partial transcript covered the turn)
    respond_ms: float  # -> reply text
    tts_first_ms: float  # -> first audio chunk of the reply
    playout_ms: float  # -> first frame handed out (the frame clock)
    responder_ms: dict[str, float]  # the responder's own breakdown (nlu, first_token, ...)
    speech_s: float  # the caller's turn, first speech to last
    silence_needed_s: float
    endpoint_reason: str
    reused_partial: bool


@dataclass(frozen=True)
class Event:
    kind: str  # one of EVENT_KINDS
    time_s: float  # session clock
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    metrics: TurnMetrics | None = None


def _prompts(en: str, zh: str) -> dict[str, str]:
    return field(default_factory=lambda: {"en": en, "zh": zh})


@dataclass(frozen=True)
class SessionOptions:
    frame_ms: float = 20.0  # output frame length
    pace: bool = True  # hand out frames in real time on the clock (False: as fast as taken)
    emit_silence: bool = False  # silent frames while the agent is quiet (telephone bridges)
    preroll_s: float = 0.3  # audio kept before the VAD's speech start
    duck_gain: float = 0.3  # the agent's volume while the caller may be barging in
    barge_in_probe_s: float = 0.12  # speech during playback before the quick transcript
    # voiced speech during playback after which the voice pauses, before any word is known
    # (None: it only ducks until the words or the length decide)
    barge_in_pause_s: float | None = 0.12
    resume_rewind_s: float = 0.4  # after a backchannel the voice goes on from this far back
    backchannel_max_s: float = 0.8  # longer speech during playback always interrupts
    partial_asr: bool = True  # take a quick transcript at pauses (endpointing, faster turns)
    # a responder that `Prepares` starts answering that quick transcript while the silence is
    # timed, and the turn takes the answer if it ends on those words (off: answered after it ends)
    preemptive: bool = True
    silence_timeout_s: float | None = 8.0  # caller silence after the agent -> re-prompt, goodbye
    language: str = "en"  # for prompts before the caller's language is known
    # echo canceller on the line, by name (voice.live.echo: "webrtc", "gain"), or None for a
    # headset or a client that cancels echo itself; an instance given to VoiceSession wins
    echo: str | None = None
    endpoint: EndpointOptions = EndpointOptions()
    reprompt: dict[str, str] = _prompts("Are you still there?", "请问您还在吗？")
    goodbye: dict[str, str] = _prompts(
        "I haven't heard from you, so I'll end the call now. Goodbye!",
        "没有听到您的声音，我先挂断了，再见！",
    )
    apology: dict[str, str] = _prompts(
        "Sorry, something went wrong on my side. Could you say that again?",
        "抱歉，我这边出了点问题，请您再说一遍。",
    )
    asr_timeout_s: float | None = 6.0  # a turn's transcript not ready by then counts as failed
    asr_failures_handoff: int = 2  # failed transcriptions in a row, then a person takes over
    handover: dict[str, str] = _prompts(
        "I'm sorry, I'm having trouble hearing you. I'm connecting you to a colleague now.",
        "抱歉，我这边听不清您的声音，现在为您转接人工客服。",
    )

    def __post_init__(self):
        if self.echo is not None and self.echo not in ECHO_CANCELLERS:
            raise ValueError(f"echo canceller {self.echo!r} not found; available = "
                             f"{list(ECHO_CANCELLERS)} or None")  # fmt: skip
        pause = self.barge_in_pause_s
        if pause is not None and not 0 <= pause < self.backchannel_max_s:
            raise ValueError(f"barge_in_pause_s must be in [0, backchannel_max_s); got {pause}")
        if self.frame_ms <= 0 or self.barge_in_probe_s >= self.backchannel_max_s:
            raise ValueError(
                "need frame_ms > 0 and barge_in_probe_s < backchannel_max_s; got "
                f"{self.frame_ms}, {self.barge_in_probe_s}, {self.backchannel_max_s}"
            )
