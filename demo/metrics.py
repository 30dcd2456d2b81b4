"""What a running contact centre watches, as Prometheus metrics at `/metrics`.

`cca demo` and `cca phone` keep one `Metrics` on their runtime. The apps report what already
happens: every Agent turn (`dialogue.types.Turn`: its stages' times, the reply's source, a
handoff and its reason, the sentiment, a stage that failed) and every voice turn
(`voice.live.types.TurnMetrics`: voice-to-voice latency and its parts). Nothing here reads text,
so no personal data reaches the metrics. The names (all `cca_`):

    cca_sessions_active{channel}                 conversations open now (a gauge)
    cca_sessions_total{channel}                  conversations started
    cca_calls_refused_total{reason}              phone streams refused (format, token, ...)
    cca_turns_total{channel,language,source}     agent turns; source: model or template
    cca_model_fallbacks_total{channel}           turns the template answered for the model: its
                                                 draft rejected, or the model server failed
    cca_handoffs_total{channel,reason}           turns handed to a person: asked, upset,
                                                 cannot_help, needs_colleague, other, and
                                                 cannot_hear (the ASR failed turn after turn)
    cca_negative_turns_total{channel}            turns with negative sentiment
    cca_stage_errors_total{channel,stage}        a stage that failed (the turn still answered):
                                                 the agent's (nlu, generate, ...), the voice's
                                                 (asr, respond) and `records` (a store write)
    cca_stage_seconds{channel,stage}             a histogram per stage: endpoint, asr, nlu,
                                                 knowledge, policy, generate, first_token,
                                                 respond, tts_first_audio, playout, vision
    cca_voice_to_voice_seconds{channel}          end of the caller's speech -> first reply audio
    cca_asr_real_time_factor{channel}            ASR time / speech time, per voice turn
    cca_model_queue_depth{server}                work waiting on a shared model (e.g. asr)

The alert rules and a Grafana dashboard over these are in `deploy/`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dialogue.evals.stats import is_model

LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
RTF_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)
# the voice turn's parts (voice.live.types.TurnMetrics) -> stage names
_VOICE_STAGES = {
    "endpoint_ms": "endpoint",
    "asr_ms": "asr",
    "respond_ms": "respond",
    "tts_first_ms": "tts_first_audio",
    "playout_ms": "playout",
}
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """The process's metrics in their own registry (so tests and two apps in one process do not
    share counters). Every method is safe to call from any thread."""

    def __init__(self) -> None:
        try:
            import prometheus_client as p
        except ImportError as e:
            raise ImportError(
                "metrics need the prometheus-client package: pip install 'contact-centre-agent[demo]'"
            ) from e
        self._p = p
        self.registry = r = p.CollectorRegistry(auto_describe=True)
        self.sessions_active = p.Gauge("cca_sessions_active", "Conversations open now", ["channel"], registry=r)  # fmt: skip
        self.sessions = p.Counter("cca_sessions", "Conversations started", ["channel"], registry=r)
        self.refused = p.Counter("cca_calls_refused", "Phone streams refused", ["reason"], registry=r)  # fmt: skip
        self.turns = p.Counter("cca_turns", "Agent turns", ["channel", "language", "source"], registry=r)  # fmt: skip
        self.fallbacks = p.Counter("cca_model_fallbacks", "Turns the template answered for the model", ["channel"], registry=r)  # fmt: skip
        self.handoffs = p.Counter("cca_handoffs", "Turns handed to a person", ["channel", "reason"], registry=r)  # fmt: skip
        self.negative = p.Counter("cca_negative_turns", "Turns with negative sentiment", ["channel"], registry=r)  # fmt: skip
        self.errors = p.Counter("cca_stage_errors", "Stages that failed", ["channel", "stage"], registry=r)  # fmt: skip
        self.stage = p.Histogram("cca_stage_seconds", "Time per stage of a turn", ["channel", "stage"], buckets=LATENCY_BUCKETS, registry=r)  # fmt: skip
        self.v2v = p.Histogram("cca_voice_to_voice_seconds", "End of caller speech to first reply audio", ["channel"], buckets=LATENCY_BUCKETS, registry=r)  # fmt: skip
        self.rtf = p.Histogram("cca_asr_real_time_factor", "ASR time over speech time", ["channel"], buckets=RTF_BUCKETS, registry=r)  # fmt: skip
        self.queue = p.Gauge("cca_model_queue_depth", "Work waiting on a shared model", ["server"], registry=r)  # fmt: skip

    # -- what the apps report -------------------------------------------------------------------

    def session_started(self, channel: str) -> None:
        self.sessions.labels(channel).inc()
        self.sessions_active.labels(channel).inc()

    def session_ended(self, channel: str) -> None:
        self.sessions_active.labels(channel).dec()

    def call_refused(self, reason: str) -> None:
        self.refused.labels(refusal_kind(reason)).inc()

    def observe_turn(self, turn: Any, channel: str) -> None:
        """One Agent turn (dialogue.types.Turn)."""
        source = "model" if is_model(turn.reply_source) else "template"
        self.turns.labels(channel, turn.language or "unknown", source).inc()
        model_failed = any(e.startswith("generate:") for e in turn.errors)
        if turn.reply_source.startswith("template (") or model_failed:
            self.fallbacks.labels(channel).inc()  # the guard said no, or the server did
        if turn.handoff:
            self.handoffs.labels(channel, handoff_kind(turn.decision.reason)).inc()
        if (turn.sentiment or {}).get("label") == "negative":
            self.negative.labels(channel).inc()
        for stage, ms in turn.timings_ms.items():
            self.stage.labels(channel, stage).observe(ms / 1000)
        for error in turn.errors:
            self.errors.labels(channel, error.split(":", 1)[0].strip() or "unknown").inc()

    def handoff(self, channel: str, kind: str) -> None:
        """A hand-over the voice session made itself (kind `cannot_hear`: the ASR kept failing)."""
        self.handoffs.labels(channel, kind).inc()

    def stage_error(self, channel: str, stage: str) -> None:
        """A failure outside an Agent turn: the voice session's ASR, a records write."""
        self.errors.labels(channel, stage or "unknown").inc()

    def observe_voice(self, m: Any, channel: str) -> None:
        """One voice turn's latency (voice.live.types.TurnMetrics)."""
        self.v2v.labels(channel).observe(m.voice_to_voice_ms / 1000)
        for field, stage in _VOICE_STAGES.items():
            self.stage.labels(channel, stage).observe(getattr(m, field) / 1000)
        if m.asr_ms > 0 and m.speech_s > 0:
            self.rtf.labels(channel).observe(m.asr_ms / 1000 / m.speech_s)

    def watch_queue(self, server: str, depth: Callable[[], float]) -> None:
        """Read a shared model's queue depth at each scrape."""
        self.queue.labels(server).set_function(depth)

    def render(self) -> bytes:
        """The text exposition format, for GET /metrics."""
        return self._p.generate_latest(self.registry)


def handoff_kind(reason: str) -> str:
    """A bounded label for the policy's reason for a handoff: asked, upset, cannot_help,
    needs_colleague or other."""
    r = reason.lower()
    for needle, kind in (("asked for a person", "asked"), ("negative feeling", "upset"),
                         ("without help", "cannot_help"), ("not something i can do", "cannot_help"),
                         ("needs a colleague", "needs_colleague")):  # fmt: skip
        if needle in r:
            return kind
    return "other"


def refusal_kind(reason: str) -> str:
    """A short, bounded label for a refusal's reason (the reason itself names ids)."""
    r = reason.lower()
    for needle, kind in (("media format", "format"), ("token", "token"), ("callsid", "call_sid"),
                         ("full", "line_full"), ("busy", "line_full")):  # fmt: skip
        if needle in r:
            return kind
    return "other"


def build_metrics(notes: list[str] | None = None) -> Metrics | None:
    """A Metrics, or None (and a note why) when prometheus-client is missing."""
    try:
        return Metrics()
    except ImportError as e:
        if notes is not None:
            notes.append(f"no /metrics: {e}")
        return None
