"""OpenTelemetry traces of the phone line: off unless asked for; during a simulated call (the real
bridge on loopback, the SDK's in-memory exporter) one `turn` span per voice turn with its stages
as children, and nothing a caller said or any id of theirs in an attribute."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

pytest.importorskip("opentelemetry.sdk", reason="needs the otel extra")

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from demo.phone.sim import SimOptions, sim_call  # noqa: E402
from demo.tracing import Tracing, build_tracing, wanted  # noqa: E402
from tests.demo.phone.test_bridge import HZ, TOKEN, caller, make_bridge, serving  # noqa: E402
from voice.live.types import TurnMetrics  # noqa: E402

ATTRIBUTES = {"cca.channel", "cca.turn", "cca.voice_to_voice_ms", "cca.endpoint_reason",
              "cca.reused_partial", "cca.speech_s", "cca.ms"}  # fmt: skip


def test_traces_are_off_unless_asked_for(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("CCA_OTEL", raising=False)
    assert wanted(None) is None and build_tracing(None) is None
    monkeypatch.setenv("CCA_OTEL", "1")
    assert wanted(None) == ""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318")
    monkeypatch.delenv("CCA_OTEL")
    assert wanted(None) == "" and wanted("console") == "console"
    tracing = build_tracing("http://127.0.0.1:1")  # nothing listens: spans are dropped, not raised
    assert isinstance(tracing, Tracing)
    tracing.shutdown()


def test_a_turn_lays_its_stages_end_to_end_inside_it():
    exporter = InMemorySpanExporter()
    tracing = Tracing.with_exporter(exporter, batch=False)
    m = TurnMetrics(turn=3, voice_to_voice_ms=1200.0, endpoint_ms=500.0, asr_ms=200.0, respond_ms=300.0,
                    tts_first_ms=150.0, playout_ms=50.0, responder_ms={"nlu": 40.0, "policy": 10.0, "first_token": 200.0},
                    speech_s=1.4, silence_needed_s=0.5, endpoint_reason="silence", reused_partial=False)  # fmt: skip
    end = time.time_ns()
    tracing.observe_voice(m, "phone", end)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert list(spans) == ["endpoint", "asr", "nlu", "policy", "first_token", "tts", "turn"]
    turn = spans.pop("turn")
    assert (
        turn.parent is None
        and turn.end_time == end
        and turn.end_time - turn.start_time == 1_200_000_000
    )
    assert all(s.parent.span_id == turn.context.span_id for s in spans.values())
    assert all(
        turn.start_time <= s.start_time <= s.end_time <= turn.end_time for s in spans.values()
    )
    order = ["endpoint", "asr", "nlu", "policy", "first_token", "tts"]
    assert all(
        spans[a].end_time <= spans[b].start_time for a, b in zip(order, order[1:], strict=False)
    )
    assert spans["asr"].end_time - spans["asr"].start_time == 200_000_000


def test_a_simulated_call_is_traced_turn_by_turn_with_no_personal_data(office, tmp_path):
    exporter = InMemorySpanExporter()
    bridge, _ = make_bridge(office, tmp_path, token=TOKEN)
    bridge.tracing = Tracing.with_exporter(exporter, batch=False)
    said = ("where is my order", "I want to talk to a person")
    audio = caller((0.3, None), (1.0, HZ[said[0]]), (1.5, None), (1.0, HZ[said[1]]))

    async def go():
        runner, base = await serving(bridge)
        try:
            async with aiohttp.ClientSession() as s:
                opts = SimOptions(tail_s=6.0, webhook=True, auth_token=TOKEN)
                return await sim_call(s, base, audio, options=opts)
        finally:
            await runner.cleanup()

    result = asyncio.run(go())
    assert result["ok"]
    spans = exporter.get_finished_spans()
    turns = [s for s in spans if s.name == "turn"]
    assert len(turns) == 2 and [t.attributes["cca.turn"] for t in turns] == [0, 1]
    for turn in turns:
        children = {
            s.name
            for s in spans
            if s.parent is not None and s.parent.span_id == turn.context.span_id
        }
        assert {"endpoint", "asr", "nlu", "policy", "tts"} <= children <= {"endpoint", "asr", "nlu", "knowledge", "policy", "first_token", "tts"}  # fmt: skip
        assert turn.context.trace_id not in {t.context.trace_id for t in turns if t is not turn}
    private = [*said, result["call_sid"], "+1555", "MZ", "CA"]
    for span in spans:
        assert set(span.attributes) <= ATTRIBUTES, span.attributes
        values = " ".join(str(v) for v in span.attributes.values())
        assert not [p for p in private if p in values], (span.name, span.attributes)
