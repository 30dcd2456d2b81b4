"""Clocks for live audio: the wall clock, and a virtual one that lets tests replay a call fast.

Both have the same three verbs:
- `now() -> float`: seconds;
- `await sleep(seconds)`;
- `await offload(fn, *args)`: run blocking work (a model call) in a worker thread.

`VirtualClock` holds time still while offloaded work runs and jumps to the next sleeper's deadline
once every task is waiting, so a 20-second call replays in well under a second and always the
same way. A fake model that should take time calls `clock.spend(seconds)` from its thread: the
result is then delivered that many virtual seconds later while audio frames keep flowing.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any


class RealClock:
    """The event loop's monotonic clock; offloaded work runs in `asyncio.to_thread`."""

    virtual = False

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def offload(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    def spend(self, seconds: float) -> None:
        """Take `seconds` of this thread's time (what a fake model does instead of computing)."""
        time.sleep(seconds)


class VirtualClock:
    """Time that moves only when every task waits: on a sleeper's deadline, never during work."""

    virtual = True

    def __init__(self, start_s: float = 0.0, settle_steps: int = 30):
        self._now = start_s
        self._sleepers: list[tuple[float, int, asyncio.Future]] = []
        self._seq = itertools.count()
        self._busy = 0  # offloaded calls still running in threads
        self._finished = 0  # offloaded calls done so far
        self._spent = threading.local()
        self._driver: asyncio.Task | None = None
        self.settle_steps = settle_steps  # loop turns that let woken tasks run before time jumps

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        if self._driver is None or self._driver.done():
            self._driver = loop.create_task(self._drive())
        fut = loop.create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), fut))
        await fut

    async def offload(self, fn: Callable[..., Any], *args: Any) -> Any:
        def work():
            self._spent.s = 0.0
            return fn(*args), self._spent.s

        self._busy += 1
        try:
            result, spent = await asyncio.to_thread(work)
        finally:
            self._busy -= 1
            self._finished += 1
        await self.sleep(spent)
        return result

    def spend(self, seconds: float) -> None:
        """Called from offloaded work: its result arrives `seconds` of virtual time later."""
        self._spent.s = getattr(self._spent, "s", 0.0) + seconds

    async def _settle(self) -> None:
        """Return once no worker thread computes and the tasks have had `settle_steps` loop
        turns since the last offloaded call came back: its caller's follow-up (an event, the
        next frame) happens at the time the call returned, whenever the thread finished."""
        while True:
            finished = self._finished
            for _ in range(self.settle_steps):
                await asyncio.sleep(0)
            if not self._busy and self._finished == finished:
                return
            if self._busy:
                await asyncio.sleep(0.0005)  # a worker thread is computing: real time passes

    async def _drive(self) -> None:
        while True:
            await self._settle()
            while self._sleepers and self._sleepers[0][2].done():  # cancelled sleepers
                heapq.heappop(self._sleepers)
            if not self._sleepers:
                await asyncio.sleep(0.001)
                continue
            deadline = self._sleepers[0][0]
            self._now = max(self._now, deadline)
            while self._sleepers and self._sleepers[0][0] <= self._now:
                fut = heapq.heappop(self._sleepers)[2]
                if not fut.done():
                    fut.set_result(None)
