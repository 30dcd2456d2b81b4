"""The agent's side of a live voice turn: answer, speak, play out, and the caller barging in."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voice.live.endpoint import YES_NO, is_backchannel, is_blip, is_yes_no
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
class Job:
    """A transcript being taken of caller speech from the turn's first sound to `end_s`."""

    end_s: float
    task: asyncio.Task  # -> Transcript | None (None: the ASR failed or timed out)
    final: bool = False  # the turn's own transcript: if it fails, the turn gets the apology


@dataclass
class Probe:
    """Caller speech while the agent is active: backchannel or interruption?"""

    onset_s: float
    detected_s: float
    launched: bool = False
    final_launched: bool = False  # the speech has ended: its whole transcript decides
    job: Job | None = None  # that transcript (handed to the turn if the speech becomes one)
    next_onset_s: float | None = None  # speech begun after it ended, while it was being judged
    over_last: bool = False  # it began while the reply's last sentence was playing


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
        """Words that are not a backchannel stop the agent; at the speech's end a backchannel
        or nothing lets it go on. A transcript that fails decides nothing and drops nothing:
        at the end the speech is transcribed again as the caller's turn, the agent holding
        meanwhile; if that fails too, the speech is the caller's turn, which gets the apology."""
        if final:
            p.job = self._transcribe(p.onset_s, self.vad.time_s - self.vad.silence_s)
            transcript = await p.job.task
            if transcript is None and self._probe is p:
                p.job = self._transcribe(p.onset_s, p.job.end_s, final=True)
                transcript = await p.job.task
                if transcript is None and self._probe is p:
                    self._interrupt("no transcript of the caller's speech")
                    return
        else:
            start = p.onset_s - self.options.preroll_s
            transcript = await self._asr(self._audio(start, self.now_s))
        if self._probe is not p:
            return
        text = transcript.text.strip() if transcript else ""
        if text and not is_backchannel(text) and not self._misheard_listener(transcript):
            self._interrupt(f"caller said {text!r}")
        elif final and p.over_last and self._answers_question(text):
            # "yeah" over "Shall I go ahead?" is the answer, not "mm-hm": the caller's turn
            self._interrupt(f"caller answered {text!r}")
        elif final:
            # speech the caller began while this was transcribed is judged in its turn
            onset = p.next_onset_s
            self._probe = None if onset is None else Probe(onset, self.now_s)
            self.player.duck(1.0 if self._probe is None else self.options.duck_gain)
            self._emit("backchannel", text)
            if self._probe is None and self.player.paused:  # only "mm-hm": go on talking
                self.player.resume(int(self.options.resume_rewind_s * self.out_rate))
                self._emit("playback_resumed", data={"reason": "backchannel"})

    def _misheard_listener(self, transcript: Transcript) -> bool:
        """A word or two over the agent's voice heard in a language other than the one the
        agent speaks: on speech this short Whisper's language detection is unsure, and a
        listener word comes out in the other language (a Mandarin "好。" as "Hello", an English
        "Okay." as "我认为"). It lets the agent go on, as "mm-hm" does; speech longer than
        `backchannel_max_s` still stops it, in any language."""
        if not transcript.language or transcript.language == self._language:
            return False
        if is_blip(transcript.text):
            logger.info("%r heard in %s over a %s reply: taken as a listener sound",
                        transcript.text, transcript.language, self._language)  # fmt: skip
            return True
        return False

    def _answers_question(self, text: str) -> bool:
        """Whether `text`, listener words said over the end of the agent's reply, answers it:
        the reply asked a yes-or-no question (a write's confirmation) and `text` is a yes or a
        no ("yeah", "okay", "好的", "不用"). Said over an earlier sentence they stay "mm-hm"."""
        return self._expect == YES_NO and is_yes_no(text)

    def _transcribe(self, start_s: float, end_s: float, final: bool = False) -> Job:
        """Start transcribing the caller from `start_s` to `end_s`: the audio a turn with those
        bounds is answered from (voice.live.session `_end_turn`), so the turn can reuse it."""
        audio = self._audio(start_s - self.options.preroll_s, end_s + 0.1)
        return Job(end_s, self._spawn(self._asr(audio)), final)

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
        self._turn_overlapped = False  # judged: words, or too long for a backchannel
        if p is not None and (sp.responding or sp.prompt):  # the caller's speech is a new turn
            self._turn_start = p.onset_s
            self._take_over(p)
        else:  # speech before any reply was made continues the caller's turn
            self._turn_start = None if p is None else sp.turn_start_s
            self._take_over(None)

    def _spoken(self, sp: Speaking) -> None:
        """`sp` has been said to its end (or was a turn of only noise or "mm-hm", not answered):
        the agent listens again. Caller speech that began during it and is still undecided (it began in the reply's last moment, before the voice
        paused, or its quick transcript was still being taken) goes on as the caller's turn from
        its first sound, answered unless it is only a backchannel: never dropped."""
        sp.done.set()
        if sp.interrupted or self._speaking is not sp:
            return
        self._speaking, p, self._probe = None, self._probe, None
        self._idle_since = self.now_s
        if sp.playing:
            self._voice_end_s = self.now_s
        if p is not None and self._turn_start is None:
            self._turn_start, self._turn_overlapped = p.onset_s, sp.playing
            self._take_over(p)

    def _take_over(self, p: Probe | None) -> None:
        """The caller's turn now starts at `p`'s first sound: the transcript taken (or being
        taken) of that speech is the turn's, if the turn ends where it did."""
        self._partial, self._partial_upto = None, -1.0
        job = self._partial_job = None if p is None else p.job
        if job is None:
            return
        self._partial_asked = job.end_s  # no second quick transcript of the same speech
        if job.task.done() and not job.task.cancelled() and job.task.result() is not None:
            self._partial, self._partial_upto = job.task.result(), job.end_s

    # -- the agent's turn ---------------------------------------------------------------------

    def _prepare(self, transcript: Transcript) -> None:
        """Have a responder that can (`prepare`, `discard`) start answering `transcript` while
        the silence is timed; the turn's `respond` takes that answer if it ends on these words."""
        prepare = getattr(self.responder, "prepare", None)
        if self.options.preemptive and prepare is not None:
            try:
                prepare(transcript)
            except Exception as e:  # a hint: the turn is answered as usual
                logger.warning("prepare failed: %s", e)

    def _discard_prepared(self) -> None:
        discard = getattr(self.responder, "discard", None)
        if discard is not None:
            discard()

    async def _answer(self, sp: Speaking, audio: Audio, reuse: Transcript | None,
                      pending: Job | None = None) -> None:  # fmt: skip
        """`reuse`: a transcript of exactly this speech; `pending`: the job still taking one
        (the same audio: waiting is faster than transcribing it again). A turn whose own
        transcript failed gets the apology, and after `asr_failures_handoff` in a row a
        person: the caller is never left in silence."""
        transcript = reuse
        if transcript is None and pending is not None:
            transcript = await pending.task
        if transcript is None and not (pending is not None and pending.final):
            transcript = await self._asr(audio)
        sp.times["asr"] = self.clock.now()
        if sp.interrupted:
            return
        self._asr_failures = 0 if transcript is not None else self._asr_failures + 1
        if transcript is None:
            self._hangup_s = None  # the caller is there: no hanging up after a goodbye
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
        if (
            sp.info.get("overlapped")
            and (is_backchannel(said) or self._misheard_listener(transcript))
            and not self._answers_question(said)
        ):  # "mm-hm" as the agent finished; a "yes" over its question is the caller's answer
            self._emit("backchannel", said)
            said = ""
        else:
            self._emit("transcript", transcript.text, {"language": transcript.language})
        if not said:  # noise, or only a backchannel: back to listening
            self._discard_prepared()
            self._spoken(sp)  # speech begun meanwhile is the caller's next turn
            return
        sp.responding = True
        self._hangup_s = None  # the caller's turn is answered: the call goes on
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
