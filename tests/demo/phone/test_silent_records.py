"""The records database silent mid-call: a PostgreSQL cluster of the test's own, stopped with
SIGSTOP (it refuses nothing, answers nothing: a dead network link, a hung host) and woken with
SIGCONT. The call, its webhook and stream are real, in real time, as in test_faults.py, whose
worker and caller this reuses; the line's conversation store and its shared call state are both
in that database."""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy import select

from demo.metrics import Metrics
from dialogue.records import schema as s
from dialogue.records.db import make_engine
from tests.demo.phone.test_bridge import serving
from tests.demo.phone.test_faults import HZ, KEY, leg, line_worker, said, until

SILENT_REPLY_S = 10.0  # generous: a reply that waited for the database would wait until SIGCONT


def test_the_records_database_silent_mid_call_replies_keep_their_time(office, tmp_path, caplog):
    """The server goes silent once the first turn is stored and wakes once two more turns (a
    card number read over both) are answered: those replies are not held by the database, the
    turns wait in memory and are written after the first, in order and once, with the card still
    hidden in both; the recording and the call's end follow."""
    from tests.conftest import PostgresCluster

    cluster = PostgresCluster()
    try:
        _records_silent(office, tmp_path, caplog, cluster)
    finally:
        cluster.remove()  # woken first, if a failure left it stopped


def _records_silent(office, tmp_path, caplog, cluster) -> None:
    from tests.test_contracts import fresh_postgres_database

    caplog.set_level(logging.INFO)
    url = fresh_postgres_database(cluster.url)
    bridge = line_worker(office, tmp_path / "calls", url, KEY, metrics=Metrics())
    audio = said((1.0, None), (1.0, HZ["where is my order"]), (3.0, None), (1.0, HZ["my card number is 4111 1111"]),
                 (3.0, None), (1.0, HZ["1111 1111"]))  # fmt: skip
    seen: dict = {}

    def stored() -> tuple[list[tuple], list[tuple], int]:
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                turns = [tuple(r) for r in conn.execute(select(s.turns.c.idx, s.turns.c.role, s.turns.c.transcript_enc, s.turns.c.text).order_by(s.turns.c.idx))]  # fmt: skip
                convs = [tuple(r) for r in conn.execute(select(s.conversations.c.id, s.conversations.c.ended_at))]  # fmt: skip
                recordings = conn.execute(select(s.recordings.c.id)).all()
            return turns, convs, len(recordings)
        finally:
            engine.dispose()

    def first_turn_stored() -> bool:
        seen["before"] = stored()[0]
        return len(seen["before"]) == 2

    def answered() -> int:
        return sum(e["role"] == "agent" for c in bridge.calls.values() for e in c.entries)

    async def silent_then_back(sid):
        await until(first_turn_stored, "the first turn's two rows", thread=True)
        await asyncio.to_thread(cluster.pause)
        seen["paused_at"] = time.monotonic()
        try:
            await until(lambda: answered() >= 3, "two turns answered while the database is silent", timeout_s=30)  # fmt: skip
            (seen["conversation"],) = [c.responder.conversation for c in bridge.calls.values()]
            seen["call"] = list(bridge.calls.values())[0]
            seen["unsaved"] = len(seen["conversation"].unsaved)
        finally:
            await asyncio.to_thread(cluster.resume)
            seen["silent_s"] = time.monotonic() - seen["paused_at"]

    async def go():
        runner, base = await serving(bridge)
        try:
            import aiohttp

            async with aiohttp.ClientSession() as sess:
                await leg(sess, base, "CA9", audio, tail_s=4.0, at_s=1.0, during=silent_then_back)
        finally:
            await runner.cleanup()

    asyncio.run(go())
    (result,) = bridge.finished
    agent = [e for e in result["entries"] if e["role"] == "agent"]
    turns_m = seen["call"].session.metrics  # healthy, silent, silent (the last two wait 1.5 s for
    # more digits: a card number read out); respond: the agent's turn, once in the reply's path
    v2v_ms = [m.voice_to_voice_ms for m in turns_m]

    def row(name, values, fmt):
        return f"  {name}: " + " | ".join(format(v, fmt) for v in values)

    print(f"\nturn latency, database healthy | silent | silent (silent {seen['silent_s']:.1f} s, "
          f"{seen['unsaved']} turn(s) waiting)")  # fmt: skip
    print(row("voice to voice ms", v2v_ms, ".0f"))
    print(row("endpoint ms", [m.endpoint_ms for m in turns_m], ".0f"))
    print(row("respond ms", [m.respond_ms for m in turns_m], ".1f"))
    assert len(agent) == 3 and len(v2v_ms) == 3  # every turn answered
    assert seen["unsaved"] >= 1  # the silent turns waited in memory, not in the reply
    assert max(v2v_ms[1:3]) < 1000 * SILENT_REPLY_S

    t_end = time.monotonic() + 60  # the writer, behind the call, until everything is in
    while True:
        turns, convs, recordings = stored()
        if (len(turns) == 6 and recordings == 1 and convs[0][1] is not None) or time.monotonic() > t_end:  # fmt: skip
            break
        time.sleep(0.2)
    bridge.runtime.store.close()
    assert turns[:2] == seen["before"]  # kept as it was
    heard = [
        KEY.decrypt_text(t, "turns.transcript") for _, role, t, _ in turns if role == "customer"
    ]
    assert heard == ["where is my order", "my card number is [CARD]", "[CARD]"]
    assert [i for i, *_ in turns] == list(range(6))  # in order, once
    assert len(convs) == 1 and convs[0][1] is not None and recordings == 1  # ended, recorded
    assert "never written" not in caplog.text and "dropped unwritten" not in caplog.text
