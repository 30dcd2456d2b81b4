"""The retraining loop's promotion rule and its comparison table."""

from dialogue.lm.retrain import comparison_table, verdict


def suites(success=1.0, passed=1.0, wrong=0, unconfirmed=0):
    replies = {"turns": 10, "model": 4, "fallbacks": 6, "degenerate": 0, "p50_ms": 600.0, "p95_ms": 900.0}  # fmt: skip
    return {
        "conversations": {
            "task_success": success,
            "wrong_actions": wrong,
            "unconfirmed_actions": unconfirmed,
            "replies": replies,
        },  # fmt: skip
        "open_turns": {"pass_rate": passed, "replies": replies},
    }


def test_a_candidate_no_worse_anywhere_is_promoted():
    v = verdict(suites(0.9, 0.8), suites(0.9, 0.85))
    assert v.promote and v.reasons == ()


def test_any_regression_or_unsafe_write_keeps_the_current_model():
    cases = {
        "conversations: task_success": suites(0.85, 0.9),
        "open_turns: pass_rate": suites(0.95, 0.79),
        "wrong actions": suites(1.0, 1.0, wrong=1),
        "unconfirmed actions": suites(1.0, 1.0, unconfirmed=2),
    }
    for reason, candidate in cases.items():
        v = verdict(suites(0.9, 0.8), candidate)
        assert not v.promote and len(v.reasons) == 1 and reason in v.reasons[0], reason


def test_a_suite_left_out_blocks_promotion():
    candidate = suites()
    del candidate["open_turns"]
    v = verdict(suites(), candidate)
    assert not v.promote and "open_turns" in v.reasons[0]


def test_the_table_has_a_row_per_path_with_its_scores():
    table = comparison_table({"shipped": suites(0.9, 0.8), "candidate": suites(1.0, 0.85, wrong=1)})
    rows = table.splitlines()
    assert len(rows) == 3 and rows[1].startswith("shipped") and rows[2].startswith("candidate")
    assert "90.0%" in rows[1] and "80.0%" in rows[1] and "100.0%" in rows[2] and "85.0%" in rows[2]
    assert rows[2].split()[2] == "1"  # wrong writes
