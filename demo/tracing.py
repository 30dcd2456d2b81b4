"""Per-turn OpenTelemetry traces of the phone line, off by default.

    cca phone --otel                      # OTLP over HTTP to $OTEL_EXPORTER_OTLP_ENDPOINT
    cca phone --otel http://otel:4318     # ... to this collector
    cca phone --otel console              # spans printed as JSON, to try it

Also on without the flag when $OTEL_EXPORTER_OTLP_ENDPOINT is set (the SDK's own variable; its
other OTEL_EXPORTER_OTLP_* settings apply too) or $CCA_OTEL=1. Needs the `otel` extra
(opentelemetry-api, -sdk and -exporter-otlp-proto-http).

Each voice turn is one trace: a `turn` span from the end of the caller's speech to the first
frame of the reply, and one child span per stage, placed end to end from the turn's measured
durations (voice.live.types.TurnMetrics): `endpoint` (the silence waited), `asr`, the agent's
`nlu`, `knowledge`, `policy` and the model's `first_token` (inside the reply's time), and `tts`
(to the first audio). A stage the turn did not run has no span. The spans carry durations, the
channel, the turn's number in its call and how its end was decided, never what anyone said, a
phone number or a call's id: a trace store is not where personal data may go.
"""

from __future__ import annotations

import logging
import os
from typing import Any

logger = logging.getLogger(__name__)

ENV_FLAG = "CCA_OTEL"  # "1": traces on, to $OTEL_EXPORTER_OTLP_ENDPOINT (else localhost:4318)
ENV_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
AGENT_STAGES = ("nlu", "knowledge", "policy", "first_token")  # inside the reply's time, in order


class Tracing:
    """Turns as spans, through `tracer` (an opentelemetry Tracer); `provider` is flushed and
    closed by `shutdown()`."""

    def __init__(self, tracer, provider=None):
        self.tracer, self.provider = tracer, provider

    @classmethod
    def with_exporter(cls, exporter, service: str = "cca-phone", batch: bool = True) -> Tracing:
        """A provider of its own (not the process's global one) sending to `exporter`."""
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(
            (BatchSpanProcessor if batch else SimpleSpanProcessor)(exporter)
        )
        return cls(provider.get_tracer("cca"), provider)

    def observe_voice(self, m: Any, channel: str, end_ns: int) -> None:
        """One voice turn (voice.live.types.TurnMetrics) whose first reply frame went out at
        `end_ns` (time.time_ns())."""
        ms = 1_000_000
        start = end_ns - int(m.voice_to_voice_ms * ms)
        turn = self.tracer.start_span("turn", start_time=start, attributes={
            "cca.channel": channel, "cca.turn": int(m.turn), "cca.voice_to_voice_ms": round(m.voice_to_voice_ms, 1),
            "cca.endpoint_reason": str(m.endpoint_reason), "cca.reused_partial": bool(m.reused_partial),
            "cca.speech_s": round(m.speech_s, 2)})  # fmt: skip
        from opentelemetry import trace

        parent = trace.set_span_in_context(turn)
        at = start

        def stage(name: str, begin: int, duration_ms: float) -> int:
            end = begin + int(max(duration_ms, 0.0) * ms)
            span = self.tracer.start_span(name, context=parent, start_time=begin, attributes={"cca.ms": round(duration_ms, 1)})  # fmt: skip
            span.end(end_time=end)
            return end

        at = stage("endpoint", at, m.endpoint_ms)
        if m.asr_ms > 0:
            at = stage("asr", at, m.asr_ms)
        inner, reply_end = at, at + int(m.respond_ms * ms)
        for name in AGENT_STAGES:
            if name in m.responder_ms:
                inner = min(stage(name, inner, m.responder_ms[name]), reply_end)
        at = stage("tts", reply_end, m.tts_first_ms)
        turn.end(end_time=max(end_ns, at))

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()


def wanted(flag: str | None) -> str | None:
    """What `--otel` and the environment ask for: None (off), "console", or an endpoint URL
    ("" for the SDK's own default and variables)."""
    if flag is None:
        if os.environ.get(ENV_ENDPOINT):
            return ""
        return "" if os.environ.get(ENV_FLAG, "").strip() in ("1", "true", "yes") else None
    return flag


def build_tracing(flag: str | None, service: str = "cca-phone") -> Tracing | None:
    """`--otel`'s Tracing, or None when traces are off. ImportError names the extra."""
    target = wanted(flag)
    if target is None:
        return None
    try:
        if target == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporter = ConsoleSpanExporter()
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            endpoint = target.rstrip("/") + "/v1/traces" if target else None
            exporter = OTLPSpanExporter(endpoint=endpoint)
    except ImportError as e:
        raise ImportError(
            "traces need OpenTelemetry: pip install 'contact-centre-agent[otel]' (or leave --otel off)"
        ) from e
    where = "the console" if target == "console" else (target or os.environ.get(ENV_ENDPOINT) or "http://localhost:4318")  # fmt: skip
    logger.info("traces: one per voice turn, to %s", where)
    return Tracing.with_exporter(exporter, service)
