"""The virtual clock replays a call the same way whatever the worker threads' real timing: time
moves only when every task waits, and what follows an offloaded call happens at the time the call
returned."""

from __future__ import annotations

import asyncio
import random
import time

from voice.live.clock import VirtualClock


def test_what_follows_an_offloaded_call_happens_when_it_returned_however_long_the_thread_took():
    """A caller offloads work of random real length (under a millisecond), then takes a few loop
    turns (an event, a queue) before it reads the clock; a ticker keeps a deadline 20 ms ahead
    all along. Every reading is the time the call returned at, never a tick later."""
    rng = random.Random(7)
    clock = VirtualClock()
    readings: list[tuple[float, float]] = []

    def work(seconds: float, spent: float) -> None:
        time.sleep(seconds)
        clock.spend(spent)

    async def caller():
        for _ in range(400):
            before = clock.now()
            spent = rng.choice([0.0, 0.01])
            await clock.offload(work, rng.random() * 0.0008, spent)
            returned = clock.now()
            assert returned == before + spent
            for _ in range(rng.randint(1, 12)):  # well within the clock's settling turns
                await asyncio.sleep(0)
            readings.append((returned, clock.now()))

    async def ticker(done: asyncio.Future):
        ticks = 0
        while not done.done():
            await clock.sleep(0.02)
            ticks += 1
        return ticks

    async def main():
        done = asyncio.ensure_future(caller())
        ticks = await ticker(done)
        await done
        return ticks

    ticks = asyncio.run(main())
    assert len(readings) == 400
    late = [(r, n) for r, n in readings if n != r]
    assert late == []
    assert ticks >= 1  # the ticker ran: time could have jumped, and did not


def test_time_moves_to_the_next_deadline_only_once_every_task_waits():
    clock = VirtualClock()
    order: list[tuple[str, float]] = []

    async def sleeper(name: str, s: float):
        await clock.sleep(s)
        order.append((name, clock.now()))

    async def main():
        await asyncio.gather(sleeper("b", 0.5), sleeper("a", 0.2), sleeper("c", 0.5))

    started = time.monotonic()
    asyncio.run(main())
    assert order == [("a", 0.2), ("b", 0.5), ("c", 0.5)]
    assert time.monotonic() - started < 0.45  # virtual: half a second never waited for
