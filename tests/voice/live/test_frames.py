"""InputClock: where the caller's stream is by the wall clock, though its frames are taken late."""

from __future__ import annotations

import pytest

from voice.live.frames import PLAY_SLACK_S, InputClock, reference_start

RATE, FRAME = 16_000, 320  # 20 ms frames


def fed(clock: InputClock, frames: int, t0: float = 100.0, late=lambda i: 0.0) -> float:
    """`frames` frames, frame i taken `late(i)` s after it ended on the line; -> the last time."""
    t = t0
    for i in range(frames):
        t = t0 + (i + 1) * FRAME / RATE + late(i)
        clock.took(FRAME, t)
    return t


def test_frames_on_time_give_the_count_and_the_time_since():
    c = InputClock(RATE)
    assert c.position(5.0) == 0  # nothing taken yet
    t = fed(c, 50)
    assert c.taken == 50 * FRAME and c.position(t) == 50 * FRAME
    assert c.position(t + 0.015) == 50 * FRAME + 240  # 15 ms into the next frame


def test_after_a_stall_the_position_is_the_lines_not_the_count():
    """The loop stalled 200 ms: the backlog of frames is taken at once, late; the line is where
    the wall clock says, 200 ms past what was taken when the stall ended."""
    c = InputClock(RATE)
    t = fed(c, 50, late=lambda i: 0.2 if i >= 40 else 0.0)  # frames 40.. taken 200 ms late
    assert c.taken == 50 * FRAME
    assert c.position(t) == pytest.approx(50 * FRAME + 0.2 * RATE, abs=2)


def test_a_slower_line_clock_is_followed_after_the_window():
    """A line whose clock runs 1% slow: frames are never early by the old start, so the start
    forgotten after `window_s` moves on, and the position never falls behind the count."""
    c = InputClock(RATE, window_s=2.0)
    t = 100.0
    for _ in range(500):  # 10 s of 20 ms frames, each arriving 20.2 ms after the last
        t += 1.01 * FRAME / RATE
        c.took(FRAME, t)
        assert c.position(t) >= c.taken
    # by the last 2 s, the start is at most 2 s x 1% stale: the position is within ~20 ms of it
    assert c.position(t) - c.taken <= 0.021 * RATE


def test_a_reference_gap_shorter_than_the_slack_is_no_gap():
    """A frame sent a few ms late, or a resampler's 319 samples for 320, leaves no gap in the
    echo reference (the line plays it back to back); a real pause in playback does."""
    slack = int(PLAY_SLACK_S * RATE)
    assert reference_start(None, n=1000, end=1000, sample_rate=RATE) == 1000
    assert reference_start(1000 + slack, n=900, end=1000, sample_rate=RATE) == 1000  # jitter
    assert reference_start(1000 + slack + 1, n=900, end=1000, sample_rate=RATE) == 1001 + slack
    assert reference_start(None, n=5000, end=1000, sample_rate=RATE) == 5000  # after a pause
    assert reference_start(200, n=5000, end=1000, sample_rate=RATE) == 5000  # never before now
    assert reference_start(1200, n=900, end=3000, sample_rate=RATE) == 3000  # after the queue
