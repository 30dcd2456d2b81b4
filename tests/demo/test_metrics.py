"""The metrics a contact centre watches: what moves them, the alert rules over them (checked and
unit-tested with promtool), and the dashboard naming only metrics that exist."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request

import pytest

from demo.metrics import Metrics, handoff_kind, refusal_kind
from dialogue.types import Decision, Turn
from tests.conftest import ROOT
from voice.live.types import TurnMetrics

DEPLOY = ROOT / "deploy"


def turn(
    source="model", handoff=False, reason="", label="neutral", errors=(), timings=None
) -> Turn:
    return Turn(
        session_id="s", index=0, text="hi", transcript="", language="en", intent="greeting",
        confidence=0.9, entities=(), sentiment={"label": label}, screenshots=(), actions=(),
        decision=Decision("handoff" if handoff else "answer", "t", handoff=handoff, reason=reason),
        reply="hello", reply_source=source, handoff=handoff,
        timings_ms=timings if timings is not None else {"nlu": 12.0, "generate": 700.0, "first_token": 90.0},
        errors=tuple(errors),
    )  # fmt: skip


def value(m: Metrics, name: str, **labels) -> float:
    got = m.registry.get_sample_value(name, labels)
    return 0.0 if got is None else got


def test_turns_move_the_counters_and_stage_histograms():
    m = Metrics()
    m.session_started("web")
    m.observe_turn(turn(), "web")
    m.observe_turn(turn(source="template (repeats itself)", label="negative"), "web")
    m.observe_turn(turn(source="template", handoff=True, reason="the customer asked for a person"), "web")  # fmt: skip
    m.observe_turn(turn(errors=("knowledge: database is locked",), timings={}), "web")
    assert value(m, "cca_sessions_active", channel="web") == 1
    assert value(m, "cca_turns_total", channel="web", language="en", source="model") == 2
    assert value(m, "cca_turns_total", channel="web", language="en", source="template") == 2
    assert (
        value(m, "cca_model_fallbacks_total", channel="web") == 1
    )  # the plain template is no fallback
    assert value(m, "cca_handoffs_total", channel="web", reason="asked") == 1
    assert value(m, "cca_negative_turns_total", channel="web") == 1
    assert value(m, "cca_stage_errors_total", channel="web", stage="knowledge") == 1
    assert value(m, "cca_stage_seconds_count", channel="web", stage="first_token") == 3
    assert value(m, "cca_stage_seconds_sum", channel="web", stage="generate") == pytest.approx(2.1)
    m.session_ended("web")
    assert value(m, "cca_sessions_active", channel="web") == 0


def test_a_model_server_that_failed_the_voice_and_the_records_are_counted():
    m = Metrics()
    m.observe_turn(turn(source="template", errors=("generate: http://lm/v1/completions: no reply began within 3 s",)), "phone")  # fmt: skip
    m.stage_error("phone", "asr")  # the voice session's, outside any agent turn
    m.stage_error("phone", "records")
    m.handoff("phone", "cannot_hear")
    assert value(m, "cca_model_fallbacks_total", channel="phone") == 1  # the template stood in
    assert value(m, "cca_stage_errors_total", channel="phone", stage="generate") == 1
    assert value(m, "cca_stage_errors_total", channel="phone", stage="asr") == 1
    assert value(m, "cca_stage_errors_total", channel="phone", stage="records") == 1
    assert value(m, "cca_handoffs_total", channel="phone", reason="cannot_hear") == 1


def test_voice_turns_give_latency_its_parts_and_the_asr_speed():
    m = Metrics()
    tm = TurnMetrics(turn=1, voice_to_voice_ms=1500, endpoint_ms=600, asr_ms=400, respond_ms=300,
                     tts_first_ms=150, playout_ms=50, responder_ms={}, speech_s=2.0,
                     silence_needed_s=0.6, endpoint_reason="silence", reused_partial=False)  # fmt: skip
    m.observe_voice(tm, "phone")
    assert value(m, "cca_voice_to_voice_seconds_sum", channel="phone") == pytest.approx(1.5)
    assert value(m, "cca_voice_to_voice_seconds_bucket", channel="phone", le="2.0") == 1
    assert value(m, "cca_voice_to_voice_seconds_bucket", channel="phone", le="1.0") == 0
    assert value(m, "cca_stage_seconds_sum", channel="phone", stage="endpoint") == pytest.approx(
        0.6
    )
    assert value(m, "cca_asr_real_time_factor_sum", channel="phone") == pytest.approx(0.2)
    depth = [3]
    m.watch_queue("asr", lambda: depth[0])
    assert value(m, "cca_model_queue_depth", server="asr") == 3
    depth[0] = 0
    assert b'cca_model_queue_depth{server="asr"} 0.0' in m.render()


@pytest.mark.parametrize(
    "reason, kind",
    [
        ("the customer asked for a person", "asked"),
        ("strong negative feeling (anger 0.9)", "upset"),
        ("2 turns in a row without help (out of scope)", "cannot_help"),
        ("exchange is not something I can do", "cannot_help"),
        ("refund needs a colleague for now", "needs_colleague"),
        ("", "other"),
    ],
)
def test_handoff_reasons_become_a_few_labels(reason, kind):
    assert handoff_kind(reason) == kind


def test_refusals_become_a_few_labels():
    assert refusal_kind("media format audio/x-alaw 8000 Hz x1; this bridge takes ...") == "format"
    assert (
        refusal_kind("no stream token from a verified webhook (an unannounced stream)") == "token"
    )
    assert refusal_kind("callSid CA2 is not the one the webhook announced") == "call_sid"
    assert refusal_kind("something new") == "other"


def test_metric_names_carry_no_text():
    """Labels are bounded: a customer's words or ids never become a label value."""
    m = Metrics()
    m.observe_turn(turn(handoff=True, reason="order #W2611340 for alice@example.com is stuck"), "web")  # fmt: skip
    text = m.render().decode()
    assert "W2611340" not in text and "alice" not in text


promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (apt-get install prometheus)")  # fmt: skip


@promtool
def test_the_alert_rules_are_valid_and_fire_on_their_unit_tests():
    rules = DEPLOY / "prometheus"
    check = subprocess.run(["promtool", "check", "rules", "alerts.yml"], cwd=rules, capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert "4 rules found" in check.stdout
    test = subprocess.run(["promtool", "test", "rules", "alerts_test.yml"], cwd=rules, capture_output=True, text=True)  # fmt: skip
    assert test.returncode == 0, test.stdout + test.stderr


def _names_in(expr: str) -> set[str]:
    words = set(re.findall(r"\b(cca_[a-z_]+)", expr))
    return {re.sub(r"_(bucket|count|sum|total)$", "", w) for w in words}


def test_the_rules_and_the_dashboard_name_only_metrics_that_exist():
    m = Metrics()
    known = {family.name for family in m.registry.collect()}
    dashboard = json.loads((DEPLOY / "grafana" / "cca-overview.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs.append((DEPLOY / "prometheus" / "alerts.yml").read_text())
    used = set().union(*(_names_in(e) for e in exprs))
    assert used and used <= known, used - known
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_the_web_demo_serves_metrics_beside_the_app():
    import gradio as gr

    from demo.web.ui import DemoLimits, launch

    with gr.Blocks() as blocks:
        gr.Markdown("hello")
    m = Metrics()
    m.session_started("web")
    _, url, _ = launch(blocks, host="127.0.0.1", port=None, auth=("ana", "pw"), limits=DemoLimits(), block=False, metrics=m)  # fmt: skip
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/metrics", timeout=10) as r:
            body = r.read().decode()
            assert r.headers["Content-Type"].startswith("text/plain")
        assert 'cca_sessions_active{channel="web"} 1.0' in body
    finally:
        blocks.close()
