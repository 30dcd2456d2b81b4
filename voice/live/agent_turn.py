"""The agent's side of a live voice turn: answer, speak, play out, and the caller barging in."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voice.live.endpoint import is_backchannel
from voice.live.frames import StreamResampler
from voice.live.types import Reply, TurnMetrics
from voice.tts.text import speech_pieces
from voice.types import Audio, Transcript

logger = logging.getLogger(__name__)


@dataclass
class Speaking:
    """The agent's current reply, from the end of the caller's turn to the end of playback."""

    turn_start_s: float  # the caller turn it answers (for joining speech during the thinking)
    responding: bool = False  # respond() was called: the responder's history has this reply
    interrupted: bool = False
    heard: str = ""
    playing: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)
    times: dict[str, float] = field(default_factory=dict)  # clock times of the stages
    info: dict[str, Any] = field(default_factory=dict)
    prompt: bool = False  # a re-prompt or goodbye, not an answer


@dataclass
class Probe:
    """Caller speech while the agent is active: backchannel or interruption?"""

    onset_s: float
    detected_s: float
    launched: bool = False
    final_launched: bool = False


class AgentTurn:
    """The methods of `voice.live.session.VoiceSession` that run the agent's side of a turn; mixed
    into it, they use its state (player, clock, vad, tts, responder, the turn in progress) and
    its helpers (_emit, _spawn, _asr, _audio, _end, _prompt_language)."""

    # -- barge-in -----------------------------------------------------------------------------

    def _check_barge_in(self) -> None:
        p, o, sp = self._probe, self.options, self._speaking
        if p is None or sp is None:
            return
        if self.vad.speaking:
            # the length of the speech itself, to the end of its last voiced chunk: the VAD
            # still says "speaking" through its end hangover after a short "uh-huh"
            voiced_to = self.vad.time_s - self.vad.silence_s
            if voiced_to - p.onset_s >= o.backchannel_max_s:
                self._interrupt("speech longer than a backchannel")
                return
            pause = o.barge_in_pause_s
            if pause is not None and sp.playing and not self.player.paused and voiced_to - p.onset_s >= pause:  # fmt: skip
                # the caller is talking over the agent: fall silent now, on the voice alone; the
                # words (or the length) then decide between stopping and going on
                self.player.pause()
                self._emit("playback_paused", data={"reason": "barge_in", "speech_s": voiced_to - p.onset_s})  # fmt: skip
            if not p.launched and self.now_s - p.detected_s >= o.barge_in_probe_s:
                p.launched = True
                self._spawn(self._judge(p, final=False))
        elif not p.final_launched:
            p.final_launched = True
            self._spawn(self._judge(p, final=True))

    async def _judge(self, p: Probe, final: bool) -> None:
        end = self.vad.time_s - self.vad.silence_s if final else self.now_s
        transcript = await self._asr(self._audio(p.onset_s - self.options.preroll_s, end))
        if self._probe is not p:
            return
        text = transcript.text.strip() if transcript else ""
        if text and not is_backchannel(text):
            self._interrupt(f"caller said {text!r}")
        elif final:
            vad = self.vad  # the caller may have started again while this was transcribed
            self._probe = Probe(vad.time_s - vad.speech_s, self.now_s) if vad.speaking else None
            self.player.duck(1.0 if self._probe is None else self.options.duck_gain)
            self._emit("backchannel", text)
            if self._probe is None and self.player.paused:  # only "mm-hm": go on talking
                self.player.resume(int(self.options.resume_rewind_s * self.out_rate))
                self._emit("playback_resumed", data={"reason": "backchannel"})

    def _interrupt(self, why: str) -> None:
        sp, p = self._speaking, self._probe
        self._probe = None
        if sp is None:
            return
        sp.interrupted = True
        sp.heard = self.player.stop() if sp.playing else ""
        self.player.duck(1.0)
        self._emit("barge_in", sp.heard, {"why": why, "was_playing": sp.playing})
        if sp.playing:
            self._emit("playback_stopped", data={"reason": "barge_in"})
        sp.done.set()
        self._speaking = None
        # speech before any reply was made continues the caller's turn; else it starts a new one
        if p is None:
            self._turn_start = None
        elif not sp.responding and not sp.prompt:
            self._turn_start = sp.turn_start_s
        else:
            self._turn_start = p.onset_s
        self._turn_overlapped = False  # judged: words, or too long for a backchannel
        self._partial, self._partial_upto = None, -1.0

    def _spoken(self, sp: Speaking) -> None:
        """`sp` has been said to its end: the agent listens again. Caller speech that began
        during it and is still undecided (it began in the reply's last moment, before the voice
        paused, or its quick transcript was still being taken) goes on as the caller's turn from
        its first sound, answered unless it is only a backchannel: never dropped."""
        sp.done.set()
        if sp.interrupted or self._speaking is not sp:
            return
        self._speaking, p, self._probe = None, self._probe, None
        self._idle_since = self.now_s
        if p is not None and self._turn_start is None:
            self._turn_start, self._turn_overlapped = p.onset_s, True
            self._partial, self._partial_upto = None, -1.0

    # -- the agent's turn ---------------------------------------------------------------------

    async def _answer(
        self, sp: Speaking, audio: Audio, reuse: Transcript | None, pending=None
    ) -> None:
        """`reuse`: the partial transcript of exactly this speech; `pending`: the task still
        making it (the same audio: waiting is faster than transcribing it again)."""
        if reuse is None and pending is not None:
            reuse = await pending
        transcript = reuse or await self._asr(audio, final=True)
        sp.times["asr"] = self.clock.now()
        if sp.interrupted:
            return
        if transcript is None:
            self._speaking = None
            lang = self._prompt_language()
            give_up = self._asr_failures >= self.options.asr_failures_handoff
            said = Speaking(sp.turn_start_s, prompt=True)
            text = (self.options.handover if give_up else self.options.apology)[lang]
            self._emit("reprompt", text, {"reason": "asr_failed", "handoff": give_up})
            self._start_reply(said, text, self._language)
            if give_up:  # the words cannot be heard: a person takes the call
                self._spawn(self._end_after(said, "handoff"))
            return
        said = transcript.text.strip()
        if sp.info.get("overlapped") and is_backchannel(said):  # "mm-hm" as the agent finished
            self._emit("backchannel", said)
            said = ""
        else:
            self._emit("transcript", transcript.text, {"language": transcript.language})
        if not said:  # noise, or only a backchannel: back to listening
            self._speaking = None
            self._idle_since = self.now_s
            return
        sp.responding = True
        clauses: asyncio.Queue | None = asyncio.Queue() if self.responder.streams else None
        speaker = self._spawn(self._speak_from(sp, _drain(clauses))) if clauses else None
        try:
            reply = await self.clock.offload(self.responder.respond, transcript, *(
                (self._say_into(sp, clauses),) if clauses is not None else ()))  # fmt: skip
        except Exception as e:
            logger.exception("responder failed")
            self._emit("error", str(e), {"stage": "respond"})
            reply = Reply(self.options.apology[self._prompt_language()], self._language)
            if clauses is not None and not sp.info.get("said"):
                clauses.put_nowait((reply.text, reply.language))
        sp.times.setdefault("respond", self.clock.now())
        sp.info["responder_ms"] = dict(reply.timings_ms)
        if clauses is not None:
            clauses.put_nowait(None)  # the reply is complete
        if sp.interrupted:
            await self.clock.offload(self.responder.played, "")
            return
        self._language = reply.language if reply.language in self.tts.languages else self._language
        self._expect = reply.expect
        self._emit("reply", reply.text, {"language": reply.language, "handoff": reply.handoff,
                                         "end_call": reply.end_call, "expect": reply.expect})  # fmt: skip
        if speaker is not None:
            await speaker
            if sp.playing and "recorded" not in sp.info:
                self._record_metrics(sp)  # the first audio went out before the reply was whole
        else:
            await self._speak(sp, reply.text, reply.language)
        if sp.interrupted:
            await self.clock.offload(self.responder.played, sp.heard)
        elif reply.end_call or reply.handoff:
            self._end("handoff" if reply.handoff else "end_call")

    def _say_into(self, sp: Speaking, clauses: asyncio.Queue):
        """The responder's `say`, called from its thread: each piece joins the queue of what to
        speak, on the session's loop; the first one is the moment the reply began."""
        loop = asyncio.get_running_loop()

        def say(text: str, language: str) -> None:
            def put() -> None:
                sp.times.setdefault("respond", self.clock.now())
                sp.info["said"] = True
                clauses.put_nowait((text, language))

            loop.call_soon_threadsafe(put)

        return say

    def _start_reply(self, sp: Speaking, text: str, language: str) -> None:
        if self._speaking is not None and self._speaking is not sp:
            self._interrupt("the agent speaks again")
        self._speaking = sp
        self._spawn(self._speak(sp, text, language))

    async def _speak(self, sp: Speaking, text: str, language: str) -> None:
        await self._speak_from(sp, _once(text, language))

    async def _speak_from(self, sp: Speaking, pieces) -> None:
        """Speak (text, language) pieces as they come (an async iterator), sentence by sentence,
        into the player; then wait for the playback to finish (or the caller to barge in)."""
        self.player.reset()
        async for text, language in pieces:
            if sp.interrupted:
                return
            if language not in self.tts.languages:
                language = self._language
            for sentence in speech_pieces(text) or [text]:
                index = self.player.add_sentence(sentence)
                chunks = iter(self.tts.stream(sentence, language, self.out_rate))
                while not sp.interrupted:
                    try:
                        chunk = await self.clock.offload(next, chunks, None)
                    except Exception as e:
                        logger.exception("TTS failed on %r", sentence)
                        self._emit("error", str(e), {"stage": "tts"})
                        chunk = None
                    if chunk is None or sp.interrupted:
                        break
                    sp.times.setdefault("tts_first", self.clock.now())
                    self.player.add_audio(index, _at_rate(chunk, self.out_rate))
                    self._wake.set()
                if sp.interrupted:
                    return
        self.player.done_adding()
        if not self.player.has_audio:
            self._spoken(sp)
        self._wake.set()
        await sp.done.wait()
        self._spoken(sp)

    def _played(self, frame: np.ndarray) -> None:
        """A frame of the agent's voice is going out (called by `output`)."""
        sp = self._speaking
        if sp is None:
            return
        if not sp.playing:
            sp.playing = True
            sp.times["first_out"] = self.clock.now()
            self._emit("playback_started")
            if self._probe is not None:  # the caller started talking while the agent thought
                self.player.duck(self.options.duck_gain)
            if not sp.prompt and "endpoint" in sp.times and "responder_ms" in sp.info:
                self._record_metrics(sp)
        if self.player.finished:
            self._emit("playback_stopped", data={"reason": "finished"})
            self._spoken(sp)  # at once: the caller's next frames find the agent listening

    def _record_metrics(self, sp: Speaking) -> None:
        sp.info["recorded"] = True
        t = sp.times
        ms = [1000 * (t[b] - t[a]) for a, b in zip(("speech_end", "endpoint", "asr", "respond",
              "tts_first"), ("endpoint", "asr", "respond", "tts_first", "first_out"), strict=True)]  # fmt: skip
        m = TurnMetrics(
            len(self.metrics), 1000 * (t["first_out"] - t["speech_end"]), *ms,
            responder_ms=sp.info.get("responder_ms", {}), speech_s=sp.info["speech_s"],
            silence_needed_s=sp.info["needed"], endpoint_reason=sp.info["reason"],
            reused_partial=sp.info["reused"],
        )  # fmt: skip
        self.metrics.append(m)
        self._emit("metrics", metrics=m)


async def _once(text: str, language: str):
    yield text, language


async def _drain(clauses: asyncio.Queue):
    """The queue's (text, language) pieces until its None."""
    while (item := await clauses.get()) is not None:
        yield item


def _at_rate(chunk: Audio, rate: int) -> np.ndarray:
    if chunk.sample_rate == rate:
        return chunk.samples.astype(np.float32, copy=False)
    r = StreamResampler(chunk.sample_rate, rate)
    return np.concatenate([r.process(chunk.samples), r.process(np.zeros(r.half * 2, np.float32))])
