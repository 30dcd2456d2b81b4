"""What every app builds once: the agent's services, a speaker, and the conversation store.

    runtime = build_runtime(RuntimeOptions(db="sqlite:///retail.db"))
    conversation = runtime.start("web")        # one conversation: its own Agent and record
    turn = conversation.respond(CustomerTurn(text="where is my order?"))  # answered, stored
    speech = runtime.speak(turn.reply, turn.language)  # voice.types.Audio, or None

The apps (the Gradio demo, the phone bridge) share this so that they behave the same. Tests build
a `Runtime` directly from fakes: `Runtime(services=AgentServices(...), speaker=tone_speaker)`.

Records: when a store URL is given (`RuntimeOptions.records`, else `CCA_RECORDS_DB`), every turn
is written there with `Store.add_turn_record` (redacted, encrypted with `CCA_RECORDS_KEY`) by the
conversation's `dialogue.records.writer.TurnWriter`, a thread of its own: a reply waits for its
turn's write `Runtime.writer.reply_wait_s` at most. A store that fails or does not answer
mid-call (the database down or silent, a full disk) is logged, counted as a `records` stage error,
and the conversation goes on: its turns wait in order in memory (up to `max_unsaved`) and are
written, in order and once, when the store takes them again. Turns still unwritten well after
the end are logged with their count (they are lost with the process); a write that failed never
leaves half a turn (one transaction per turn).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dialogue.agent import Agent, AgentServices, CustomerTurn
from dialogue.knowledge.store import store_exists
from dialogue.records.writer import TurnWriter, WriterOptions
from dialogue.types import Turn

# the retail pack's own short FAQ, indexed once into the cache when no knowledge base was built
from domains.retail.knowledge import FAQ as SAMPLE_FAQ
from domains.retail.knowledge import faq_knowledge as sample_knowledge
from fusion.types import TurnInput

logger = logging.getLogger(__name__)

ENV_RECORDS_DB = "CCA_RECORDS_DB"  # the conversation store's URL, when --records is not given
# A small made-up shop (3 customers, 7 orders), loaded when the back office is empty, so that the
# apps answer order questions out of the box: e.g. alice@example.com, order #W2378156.
SAMPLE_RETAIL = Path(__file__).resolve().parent / "samples" / "retail"


@dataclass(frozen=True)
class RuntimeOptions:
    db: str = "sqlite:///retail.db"  # the back office (domains.retail.backoffice)
    kb: str | None = "sqlite:///knowledge.db"  # the knowledge base, used when it exists
    retail: str | None = None  # a retail data folder loaded into `db` first
    asr_model: str = "base"  # Whisper model for audio turns, loaded on the first one
    lm: str | None = None  # a dialogue model to phrase replies; None: the templates
    adapter: str | None = None  # a LoRA adapter for `lm`
    tts: str = "offline"  # voice.tts.speaker profile; None of its voices loading means text only
    records: str | None = None  # conversation store URL; None: $CCA_RECORDS_DB, else not stored
    domain: str | None = None  # a domain pack that declares its tools; None: the sample shop


class _Recorded:
    """The knowledge base of one conversation, keeping the passages of its latest search."""

    def __init__(self, knowledge):
        self._knowledge = knowledge
        self.last: list = []

    def search(self, query: str, k: int = 5):
        self.last = list(self._knowledge.search(query, k=k))
        return self.last


class Conversation:
    """One customer's conversation: its Agent, the knowledge passages of its latest turn, its id
    in the store. Not shared between customers; `respond` takes one turn at a time."""

    def __init__(self, runtime: Runtime, channel: str):
        svc = runtime.services
        self.knowledge = _Recorded(svc.knowledge) if svc.knowledge is not None else None
        self.agent = Agent(replace(svc, knowledge=self.knowledge))
        self.store = runtime.store
        self.channel = channel
        self.metrics = runtime.metrics
        self._ended = False
        if self.metrics is not None:
            self.metrics.session_started(channel)
        self.on_stored = None  # called (in the writer's thread) after each turn is stored
        self.writer = None if self.store is None else TurnWriter(
            self.store, channel, runtime.writer, on_error=self._store_failed, on_written=self._stored
        )  # fmt: skip
        self._lock = threading.Lock()

    @property
    def conversation_id(self) -> str | None:
        """Its id in the store: None until its first turn is stored (or with no store)."""
        return self.writer.conversation_id if self.writer is not None else None

    @conversation_id.setter
    def conversation_id(self, value: str | None) -> None:  # to go on with one already stored
        if self.writer is not None:
            self.writer.conversation_id = value

    @property
    def unsaved(self) -> list[Turn]:
        """Turns the store has not taken yet, oldest first."""
        return self.writer.unsaved if self.writer is not None else []

    @property
    def store_errors(self) -> list[str]:
        return self.writer.errors if self.writer is not None else []

    @property
    def passages(self) -> list:
        """The knowledge passages (dialogue.knowledge.base.Passage) the latest turn searched."""
        return list(self.knowledge.last) if self.knowledge is not None else []

    @property
    def history(self) -> list:
        """The Agent's message history (dialogue.voice_agent.AgentResponder edits it on a
        barge-in), so that a Conversation can stand in for the Agent behind a voice session."""
        return self.agent.history

    def respond(self, turn: CustomerTurn | TurnInput | str, say=None) -> Turn:
        """The agent's turn, stored; `say`: see `dialogue.agent.Agent.respond`."""
        with self._lock:
            if self.knowledge is not None:
                self.knowledge.last = []
            record = self.agent.respond(turn, say=say)
            self._kept(record)
            return record

    def keep(self, record: Turn) -> None:
        """A turn the Agent answered ahead of its end (dialogue.voice_agent.AgentResponder),
        stored and counted as one answered here."""
        with self._lock:
            self._kept(record)

    def _kept(self, record: Turn) -> None:
        self._store(record)
        if self.metrics is not None:
            self.metrics.observe_turn(record, self.channel)

    def hold(self, text: str) -> None:
        """A customer's message after a handoff: stored for the colleague who takes over; the
        agent does not answer it."""
        if self.writer is not None and text:
            from dialogue.records.rows import TurnIn

            self.writer.add(TurnIn("customer", text))

    def _store(self, turn: Turn) -> None:
        if self.writer is not None:
            self.writer.add(turn)

    def _store_failed(self, first_line: str) -> None:
        if self.metrics is not None:
            self.metrics.stage_error(self.channel, "records")

    def _stored(self) -> None:
        if self.on_stored is not None:
            self.on_stored()

    def end(self, recording: bytes | None = None, started_at: float | None = None) -> None:
        """The conversation is over: the line's count, and its last records (turns still
        waiting, `recording`, the end time) written behind (`TurnWriter.end`)."""
        if self.metrics is not None and not self._ended:
            self.metrics.session_ended(self.channel)
        self._ended = True
        if self.writer is not None and not self.writer.end(recording, started_at):
            logger.warning("records: conversation %s ended with %d turn(s) not yet written; they "
                           "follow when the store takes them", self.conversation_id or "(not started)",
                           len(self.unsaved))  # fmt: skip


@dataclass
class Runtime:
    services: AgentServices
    speaker: Any = (
        None  # voice.tts.speaker.Speaker (or anything with synthesize(text, language, rate))
    )
    store: Any = None  # dialogue.records.store.Store, or None: turns are not stored
    notes: list[str] = field(default_factory=list)  # what was left out at start-up, and why
    metrics: Any = None  # demo.metrics.Metrics, or None: nothing is counted
    # the pack's intents in words, intent -> {language: words} (DomainPack.intent_labels)
    intent_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    writer: WriterOptions = field(default_factory=WriterOptions)  # how turns reach the store

    def start(self, channel: str = "web") -> Conversation:
        return Conversation(self, channel)

    def speak(self, text: str, language: str, sample_rate: int | None = None):
        """The reply as speech (voice.types.Audio), or None when there is no voice or it fails."""
        if self.speaker is None or not text.strip():
            return None
        try:
            return self.speaker.synthesize(text, language, sample_rate)
        except Exception as e:  # text still reaches the customer
            logger.warning("could not speak the reply (%s: %s)", type(e).__name__, e)
            return None


def _empty_back_office(db: str) -> bool:
    from domains.retail.backoffice import BackOffice

    try:
        return BackOffice.open(db).counts().get("retail_orders", 0) == 0
    except Exception as e:  # noqa: BLE001 - build_services reports an unusable database itself
        logger.debug("could not count the orders at %s: %s", db, e)
        return False


def load_voice_or_fallback(profile: str):
    """The profile's Speaker; else espeak-ng alone; else None (text only), each choice logged."""
    from voice.tts.speaker import Speaker, load_speaker

    try:
        return load_speaker(profile)
    except (RuntimeError, ValueError) as e:
        logger.warning("tts: %s; trying espeak-ng alone", e)
    try:
        from voice.tts.backends import EspeakTTS

        return Speaker([EspeakTTS.from_system()])
    except (OSError, RuntimeError) as e:
        logger.warning("tts: no voice at all (%s): replies are text only", e)
        return None


def open_store(url: str | None):
    """The conversation store at `url` (else $CCA_RECORDS_DB), or None when neither is set.
    Raises the store's own error (no key: how to make one) when a URL is set but unusable."""
    url = url or os.environ.get(ENV_RECORDS_DB) or None
    if not url:
        logger.info("records: not stored (set --records URL or %s to keep them)", ENV_RECORDS_DB)
        return None
    from dialogue.records.store import Store

    return Store.open(url, actor="demo")


def build_runtime(options: RuntimeOptions = RuntimeOptions(), store: Any = None) -> Runtime:
    """The runtime every app builds from `options`; `store`: a conversation store already open
    (else `options.records`, else $CCA_RECORDS_DB, else none)."""
    from dialogue.chat import build_pack_services
    from domains.retail.services import build_services

    if options.domain:  # a pack's own agent: its back office (seeded on first use) and knowledge
        services = build_pack_services(options.domain, options.db, options.kb, options.lm, options.adapter, options.asr_model)  # fmt: skip
        return _runtime(services, options, store)
    if options.retail is None and SAMPLE_RETAIL.is_dir() and _empty_back_office(options.db):
        logger.info("the back office at %s is empty: loading the sample shop %s", options.db, SAMPLE_RETAIL)  # fmt: skip
        options = replace(options, retail=str(SAMPLE_RETAIL))

    if options.kb and SAMPLE_FAQ.is_file() and not store_exists(options.kb):
        logger.info("no knowledge base at %s: answering from the sample shop's FAQ %s", options.kb, SAMPLE_FAQ)  # fmt: skip
        options = replace(options, kb=sample_knowledge())
    services = build_services(
        options.db, options.kb, options.retail, options.asr_model, options.lm, options.adapter
    )
    return _runtime(services, options, store)


def _runtime(services, options: RuntimeOptions, store: Any) -> Runtime:
    notes = []
    if services.knowledge is None:
        notes.append(f"no knowledge base at {options.kb} (build one with `cca kb add`)")
    speaker = load_voice_or_fallback(options.tts)
    if speaker is None:
        notes.append("no voice loads here: replies are text only (apt-get install espeak-ng)")
    from demo.metrics import build_metrics

    store = store if store is not None else open_store(options.records)
    labels = pack_labels(options.domain)
    return Runtime(services, speaker, store, notes, build_metrics(notes), labels)


def pack_labels(domain: str | None) -> dict[str, dict[str, str]]:
    """The intents in words of the pack served (`domain`, else the sample shop); {} (logged)
    when its domain.toml cannot be read: the intents then read as their codes made readable."""
    from dialogue.domain.pack import DomainError, DomainPack
    from dialogue.paths import DEFAULT_DOMAIN

    try:
        return DomainPack.load(domain or DEFAULT_DOMAIN).intent_labels
    except DomainError as e:
        logger.warning("intents shown as their codes made readable: %s", e)
        return {}
