"""The Agent: one conversation, turn by turn.

`Agent(services).respond(CustomerTurn(text=..., audio=..., images=...)) -> Turn` runs the stages
in order, timing each and recording any that fails on the turn instead of raising:

    asr (audio -> transcript) + vision (images -> screenshots) -> nlu (intent, entities,
    sentiment) -> knowledge (passages) -> policy (decision, tool calls) -> fusion + generator
    (the reply phrased by the dialogue model, checked) or the template -> tts (when present)

`AgentServices` holds the models and stores, built once and shared by every conversation; the
Agent holds one conversation's state. Every part but the NLU and the back office is optional.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from dialogue.knowledge.base import Retriever
from dialogue.lm.generator import Generator
from dialogue.nlu.entities import extract_entities
from dialogue.policy.draft import draft_reply
from dialogue.policy.guard import DraftContext
from dialogue.policy.reply import Replies, render, render_marked, render_spoken
from dialogue.policy.state import DialogueState, Understood
from dialogue.types import Action, Decision, Turn, evidence, tool_fact
from fusion.types import Fact, Message, TurnInput
from vision.types import Image, Screenshot
from voice.asr.stt import SpeechToText
from voice.types import Audio

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class CustomerTurn:
    """What the customer gave this turn, raw: typed text, audio, pictures (any may be empty)."""

    text: str = ""
    audio: Audio | None = None
    images: tuple[Image, ...] = ()


@dataclass(frozen=True, eq=False)
class AgentServices:
    """The services an agent is built from, each behind its seam: the NLU, the back office, a
    `Retriever` for the knowledge, `SpeechToText`, a screenshot reader (vision.see.ScreenshotReader),
    the fusion module (fusion.fuse.Fusion), the dialogue model's `Generator` (templates alone when
    None), a speaker (voice.tts.speaker.Speaker) and the serving pack's `Replies`."""

    nlu: Any  # dialogue.nlu.understand.NLU: analyse(text, language) -> NLUResult
    office: Any  # the domain's back office, handed to the tools' session
    knowledge: Retriever | None = None
    asr: SpeechToText | None = None
    reader: Any = None  # vision.see.ScreenshotReader: read(images) -> list[Screenshot]
    fusion: Any = None  # fusion.fuse.Fusion: fuse(...) -> FusedInput
    generator: Generator | None = None
    tts: Any = None  # voice.tts.speaker.Speaker
    # decide(state, understood) -> (Decision, actions); None: the default pack's [code] policy
    policy: Any = None
    knowledge_k: int = 3
    # the tools' results quoted in the model's prompt. Off: the policy's decision (its template
    # with {slot} marks, filled after) already carries what the reply says of them, and the
    # guard still checks the draft against them whole; leaving them out reads about a third of
    # the tokens a turn (bench/bench_model_turns.py), for a few more template fallbacks
    tool_results_in_prompt: bool = False
    # the model reads the turn's prompt up to its facts (the customer's words) while the NLU,
    # retrieval and policy work, so that the draft starts from the facts alone. Off by default:
    # on 2 CPU cores the read competes with the NLU for the same cores and the first token came
    # no sooner (bench/bench_model_turns.py --read-ahead); a machine with cores to spare may gain
    read_turn_ahead: bool = False
    # (office, session_id) -> the conversation's tool session; None: the ToolSession of the
    # registered tools (dialogue.policy.toolkit).
    # A domain pack's comes from dialogue.policy.pack_tools (PackTools.session)
    sessions: Callable[[Any, str], Any] | None = None
    # what the agent says and may promise: the serving pack's replies ([templates] over the
    # core's) and the promises its guard holds a draft to (`Replies.of(pack)`); None: the default
    # pack's (dialogue.paths.default_domain)
    replies: Replies | None = None


class Agent:
    def __init__(self, services: AgentServices, session_id: str | None = None):
        self.services = services
        self.session_id = session_id or uuid.uuid4().hex[:12]
        self.policy = services.policy or _default_policy()
        sessions = services.sessions or _tool_sessions()
        self.state = DialogueState(tools=sessions(services.office, self.session_id))
        self.history: list[Message] = []
        self.turns: list[Turn] = []
        self._prefill(self.state.language)

    def respond(
        self, turn: CustomerTurn | TurnInput | str, say: Callable[[str, str], None] | None = None
    ) -> Turn:
        """The turn's record. `say(text, language)`: called with the reply as it may be said, in
        order: the model's draft clause by clause, as the guard releases it; else the whole reply
        at once, in its spoken form for a long list. Joined, the pieces are what a voice says."""
        if isinstance(turn, str):
            turn = CustomerTurn(text=turn)
        timings: dict[str, float] = {}
        errors: list[str] = []
        svc = self.services

        transcript = turn.transcript if isinstance(turn, TurnInput) else None
        if isinstance(turn, CustomerTurn) and turn.audio is not None:
            transcript = self._stage(
                "asr", timings, errors, lambda: svc.asr.transcribe(turn.audio), needs=svc.asr
            )
        screenshots: tuple[Screenshot, ...] = (
            turn.screenshots if isinstance(turn, TurnInput) else ()
        )
        if isinstance(turn, CustomerTurn) and turn.images:
            read = self._stage(
                "vision",
                timings,
                errors,
                lambda: svc.reader.read(list(turn.images)),
                needs=svc.reader,
            )
            screenshots = tuple(read or ())
        heard = transcript.text.strip() if transcript else ""
        words = " ".join(x for x in (turn.text.strip(), heard) if x)
        screen_text = "\n".join(s.text for s in screenshots)
        if not words and not screen_text:
            decision = Decision(
                "error",
                "stage_error" if errors else "clarify",
                {"stage": _stage_said(errors, self.state.language)},
                reason="nothing understood",
            )
            return self._finish(
                turn, transcript, None, screenshots, decision, [], timings, errors, say=say
            )

        language = (
            transcript.language
            if transcript and heard and transcript.language in ("en", "zh")
            else None
        )
        self._prefill_turn(
            TurnInput(text=turn.text, transcript=transcript, screenshots=screenshots)
        )
        nlu = self._stage(
            "nlu", timings, errors, lambda: svc.nlu.analyse(words or screen_text, language=language)
        )
        if nlu is None:
            decision = Decision(
                "error",
                "stage_error",
                {"stage": _stage_said(errors, self.state.language)},
                reason="nlu failed",
            )
            return self._finish(
                turn, transcript, None, screenshots, decision, [], timings, errors, say=say
            )
        if nlu.language != self.state.language and not language:
            nlu = replace(nlu, language=_kept_language(words, nlu, self.state.language))
        entities = [e.to_dict() for e in nlu.entities]
        for shot in screenshots:  # what a screenshot shows counts as said
            entities += [
                {"type": f.kind, "value": f.value, "start": -1, "end": -1, "source": shot.source}
                for f in shot.fields
            ]
            if not any(f.kind == "order_number" for f in shot.fields):
                # a bare id, as a chat capture shows it: "charged twice for W2378156"
                bare = [e for e in extract_entities(shot.text) if e.type == "order_number"]
                entities += [{"type": e.type, "value": e.value, "start": -1, "end": -1, "source": shot.source} for e in bare]  # fmt: skip
        passages: Sequence[Any] = ()
        if svc.knowledge is not None:
            passages = (
                self._stage(
                    "knowledge",
                    timings,
                    errors,
                    lambda: svc.knowledge.search(words or screen_text, k=svc.knowledge_k),
                )
                or ()
            )
        understood = Understood(
            text=words, language=nlu.language, intent=nlu.intent, confidence=nlu.confidence,
            out_of_scope=nlu.out_of_scope, entities=entities, anger=nlu.sentiment.anger,
            frustration=nlu.sentiment.frustration, sentiment=nlu.sentiment.label, passages=passages,
        )  # fmt: skip
        t0 = time.perf_counter()
        try:
            decision, actions = self.policy.decide(self.state, understood)
        except Exception as e:  # a bug or a dead database must not end the call
            logger.exception("policy failed")
            errors.append(f"policy: {e}")
            decision, actions = (
                Decision(
                    "error",
                    "stage_error",
                    {"stage": _stage_said(["policy"], nlu.language)},
                    reason="policy failed",
                ),
                [],
            )
        timings["policy"] = (time.perf_counter() - t0) * 1000
        return self._finish(
            turn, transcript, nlu, screenshots, decision, actions, timings, errors, passages, say
        )

    # ------------------------------------------------------------------ helpers
    def _stage(self, name: str, timings: dict, errors: list, fn, needs: Any = True):
        if needs is None:
            errors.append(f"{name}: not configured in this agent")
            return None
        t0 = time.perf_counter()
        try:
            return fn()
        except Exception as e:
            logger.warning("stage %s failed: %s", name, e)
            errors.append(f"{name}: {e}")
            return None
        finally:
            timings[name] = (time.perf_counter() - t0) * 1000

    def _finish(
        self,
        turn,
        transcript,
        nlu,
        screenshots,
        decision: Decision,
        actions: list[Action],
        timings,
        errors,
        passages=(),
        say: Callable[[str, str], None] | None = None,
    ) -> Turn:
        svc = self.services
        replies = svc.replies
        language = nlu.language if nlu else self.state.language
        facts = [tool_fact(a.tool, a.result) for a in actions] + [
            Fact(f"kb:{p.source}", p.text) for p in passages
        ]
        text = getattr(turn, "text", "")
        customer = "\n".join(
            [m.content for m in self.history if m.role == "user"]
            + [text, transcript.text if transcript else ""]
            + [s.text for s in screenshots]
        )
        spoken = render_spoken(decision.template, language, decision.slots, replies)
        template = render(decision.template, language, decision.slots, replies)
        promised = replies.promises if replies is not None else None
        context = DraftContext(decision, language, template, actions, evidence(actions, facts), customer, promises=promised)  # fmt: skip
        reply, source = template, "template"
        if svc.generator is not None and svc.fusion is not None and decision.kind != "error":
            t0 = time.perf_counter()
            # the passages the reply reads from, not every one retrieved: the others only
            # lengthen the prompt (time on a CPU) and draw the model off the decision
            shown = [f for f in facts if not f.source.startswith("kb:") or f.text[:40] in template]
            if not svc.tool_results_in_prompt:
                shown = [f for f in shown if not f.source.startswith("tool:")]
            guide = Fact("policy:decision", f"{decision.kind}: {render_marked(decision.template, language, decision.slots, replies)}")  # fmt: skip
            turn_input = TurnInput(text=text, transcript=transcript, screenshots=screenshots)
            # a spoken summary is said whole
            streamed = (lambda piece: say(piece, language)) if say and not spoken else None
            reply, source = draft_reply(
                svc.generator, svc.fusion, turn_input, self.history, [guide, *shown], context,
                errors, timings, streamed,
            )  # fmt: skip
            timings["generate"] = (time.perf_counter() - t0) * 1000
            if streamed is not None:
                spoken = None  # said already: clause by clause, or the template
        if say is not None and spoken is not None:
            say(spoken or reply, language)
        self.history += [
            Message(
                "user",
                " ".join(x for x in (text, transcript.text if transcript else "") if x)
                or "(screenshot)",
            ),
            Message("assistant", reply),
        ]
        record = Turn(
            session_id=self.session_id, index=len(self.turns), text=text,
            transcript=transcript.text if transcript else "", language=language,
            intent=nlu.intent if nlu else "", confidence=nlu.confidence if nlu else 0.0,
            entities=tuple(e.to_dict() for e in nlu.entities) if nlu else (),
            sentiment=nlu.sentiment.to_dict() if nlu else {},
            screenshots=tuple({"source": s.source, "kind": s.kind.label, "language": s.language, "fields": s.fields_by_kind(), "text": s.text} for s in screenshots),
            actions=tuple(actions), decision=decision, reply=reply, reply_source=source,
            handoff=decision.handoff, timings_ms=timings, errors=tuple(errors),
            spoken=render_spoken(decision.template, language, decision.slots, replies),
        )  # fmt: skip
        self.turns.append(record)
        self._prefill(language)
        return record

    def _prefill(self, language: str) -> None:
        """Tell the model what the next prompt starts with, so that it can read it while the
        customer is still talking or typing."""
        svc = self.services
        if svc.generator is not None and svc.fusion is not None:
            try:
                svc.generator.prefill(svc.fusion.prefix(self.history, language))
            except Exception as e:  # a hint: a failure costs only time
                logger.warning("prefill: %s", e)

    def _prefill_turn(self, turn_input: TurnInput) -> None:
        """Tell the model this turn's prompt up to its facts (the customer's words are known
        before the understanding, the retrieval and the policy are done), so that it reads them
        meanwhile and the draft starts from the facts alone."""
        svc = self.services
        if (
            not svc.read_turn_ahead
            or svc.generator is None
            or not hasattr(svc.fusion, "turn_prefix")
        ):
            return
        try:
            prefix = svc.fusion.turn_prefix(turn_input, self.history)
            if prefix:
                svc.generator.prefill(prefix)
        except Exception as e:  # a hint: a failure costs only time
            logger.warning("prefill: %s", e)


def _default_policy():
    """The default pack's policy, declared in its domain.toml as [code] policy (the sample pack's
    tools register when it is imported)."""
    from dialogue.domain.pack import default_pack

    return default_pack().code("policy")()


def _tool_sessions():
    from dialogue.policy.toolkit import ToolSession

    return ToolSession


def _kept_language(words: str, nlu, current: str) -> str:
    """The turn's language when detection says it changed: an email, an order number, an address
    in Latin letters or a bare "ok" is not a switch. "我的邮箱是 a.b@example.com" and
    "新地址是 2051 Cedar Lane, New York" stay Chinese; a switch needs a sentence's worth of the
    other language outside the entities."""
    from dialogue.nlu.understand import detect_language

    rest = list(words)
    for e in nlu.entities:
        rest[e.start : e.end] = [" "] * (e.end - e.start)
    text = "".join(rest)
    cjk = len(re.findall(r"[\u4e00-\u9fff]", text))
    latin_words = len(re.findall(r"[A-Za-z]{2,}", text))
    if current == "zh" and cjk >= 2:
        return "zh"
    if not text.strip() or (cjk == 0 and latin_words < 3 and current == "zh"):
        return current
    return detect_language(text)


def _stage_said(errors: Sequence[str], language: str) -> str:
    stage = errors[0].split(":", 1)[0] if errors else ""
    en = {
        "asr": "listening to your audio",
        "vision": "reading your picture",
        "nlu": "understanding your message",
        "policy": "looking that up",
    }
    zh = {"asr": "识别您的语音", "vision": "读取您的图片", "nlu": "理解您的消息", "policy": "查询"}
    return (zh if language == "zh" else en).get(
        stage, "处理您的请求" if language == "zh" else "handling that"
    )
