"""What a call keeps of the caller: redacted text, and a recording silenced where they gave
personal data or typed on the keypad."""

from __future__ import annotations

import numpy as np

from demo.phone.privacy import CallPrivacy, redact_tree


def test_a_turn_with_personal_data_is_redacted_and_its_audio_silenced():
    p = CallPrivacy(rate=8000)
    p.speech_ended(1.0, 2.0)
    assert p.caller_said("where is my order #W2378156") == "where is my order #W2378156"
    p.speech_ended(3.0, 4.5)
    kept = p.caller_said("my email is mei.chen@example.com")
    assert "mei.chen" not in kept and "[EMAIL]" in kept
    audio = np.ones(8000 * 6, np.float32)
    out = p.silence(audio)
    assert out[: 3 * 8000].min() == 1.0  # the order question is kept
    assert out[3 * 8000 : int(4.5 * 8000)].max() == 0.0  # the email is gone
    assert out[int(4.5 * 8000) + 2 :].min() == 1.0
    assert audio.min() == 1.0  # the input is not changed


def test_a_card_read_over_two_turns_is_caught():
    p = CallPrivacy()
    p.speech_ended(0.0, 1.0)
    first = p.caller_said("my card is 4111 1111")
    p.speech_ended(2.0, 3.0)
    second = p.caller_said("1111 1111")
    assert "1111 1111" not in first + second
    assert len(p.silenced) == 2


def test_keypad_entry_is_a_pause_in_the_recording():
    p = CallPrivacy()
    p.keypad_started(800)
    p.keypad_started(1600)  # later keys do not move the start
    assert p.keypad_ended(4000, "4111111111111111") == "[CARD]"
    p.keypad_started(6000)  # still open when the call ends
    out = p.silence(np.ones(8000, np.float32), end_sample=7000)
    assert out[:800].min() == 1.0 and out[800:4000].max() == 0.0
    assert out[4000:6000].min() == 1.0 and out[6000:7000].max() == 0.0 and out[7000:].min() == 1.0


def test_redact_tree_reaches_every_string():
    tree = {"a": ["call me on +86 138 1234 5678", {"b": "ok"}], "n": 3}
    out = redact_tree(tree)
    assert "138" not in str(out) and out["a"][1] == {"b": "ok"} and out["n"] == 3
