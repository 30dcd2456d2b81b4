"""A call's memory in the shared call state, so that another worker can carry the call on.

While a call runs, its worker keeps under ("redaction", CallSid) in the `CallState`: the call's
`Redactor` (the end of what the caller last said, to catch a card number read over two turns),
the records store's Redactor of its conversation, and the conversation's id. A worker that is
stopped, drained or lost during a call leaves this behind; when the provider connects the call
again (a webhook with the same CallSid, to any worker), the worker that takes it reads it back:
the call's transcript and its records go on in the same conversation, and the second half of a
card number is still hidden. A call that ends (hang-up, goodbye, hand-over) forgets it; else it
expires after `ttl_s`.

Writes run in a thread, in the background, newest first: a slow database delays no audio frame.
A write that fails is logged with what to check and the call goes on (redacted in memory).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from demo.phone.privacy import CallPrivacy
from demo.phone.state import CallState, CallStateError
from dialogue.records.call_state import resume_store_redactor, store_redactor_state
from dialogue.records.redactor import Redactor

logger = logging.getLogger(__name__)

KIND = "redaction"
FINAL = ("hangup", "handoff", "end_call", "silence")  # how a call ends for good


class CallMemory:
    """One call's memory: `privacy` reads every turn; `conversation` is demo.runtime's."""

    def __init__(self, state: CallState, call_sid: str, ttl_s: float, privacy: CallPrivacy,
                 conversation, resumed: bool = False):  # fmt: skip
        self.state, self.call_sid, self.ttl_s = state, call_sid, ttl_s
        self.privacy, self.conversation, self.resumed = privacy, conversation, resumed
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task | None = None
        self._dirty = False
        self._forgotten = not call_sid  # a stream without a CallSid keeps nothing
        privacy.on_change = self.changed

    @classmethod
    async def open(cls, state: CallState, call_sid: str, ttl_s: float, conversation, rate: int = 8000) -> CallMemory:  # fmt: skip
        """The memory of call `call_sid`: what another worker left of it, else a fresh one."""
        value = None
        if call_sid:
            try:
                value = await asyncio.to_thread(state.get, KIND, call_sid)
            except CallStateError as e:
                logger.error("call %s: starting without its earlier turns' redaction memory: %s", call_sid, e)  # fmt: skip
        redactor = Redactor.from_dict(value["call"]) if value else None
        store, conv_id = conversation.store, (value or {}).get("conversation_id")
        if store is not None and conv_id:
            conversation.conversation_id = conv_id  # the records go on in the same conversation
            if value.get("records"):
                resume_store_redactor(store, conv_id, value["records"])
        if value:
            logger.info("call %s: resumed from another worker (conversation %s)", call_sid, conv_id or "-")  # fmt: skip
        return cls(state, call_sid, ttl_s, CallPrivacy(rate, redactor=redactor), conversation, bool(value))  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        conv_id, store = self.conversation.conversation_id, self.conversation.store
        records = store_redactor_state(store, conv_id) if store is not None and conv_id else None
        return {"call": self.privacy.redactor.to_dict(), "records": records, "conversation_id": conv_id}  # fmt: skip

    def changed(self) -> None:
        """The redactor read a turn: write its state soon (called in the event loop's thread)."""
        if self._forgotten:
            return
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = self._loop.create_task(self._write())

    async def _write(self) -> None:
        while self._dirty and not self._forgotten:
            self._dirty = False
            try:
                await asyncio.to_thread(self.state.put, KIND, self.call_sid, self.snapshot(), self.ttl_s)  # fmt: skip
            except CallStateError as e:
                logger.error("call %s: its redaction memory was not shared (another worker taking "
                             "the call over would not have it): %s", self.call_sid, e)  # fmt: skip

    async def flush(self) -> None:
        """Until the newest state is written (before the call is sent to another worker)."""
        self.changed()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def close(self, ended: str) -> None:
        """The call left this worker: forget its memory if it ended for good, else write it."""
        if self._forgotten:
            return
        if ended not in FINAL:  # another worker may take the call on: the newest state is kept
            await self.flush()
            self._forgotten = True
            return
        self._forgotten = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await asyncio.to_thread(self.state.take, KIND, self.call_sid)
        except CallStateError as e:
            logger.error("call %s: could not forget its redaction memory (it expires in %.0f s): %s", self.call_sid, self.ttl_s, e)  # fmt: skip


# -- a call the agent ended, as the provider comes back to the webhook --------------------------
# The stream's TwiML goes back to the webhook when the stream closes (a worker lost mid-call is
# replaced there); a call the agent itself ended (goodbye, hand-over) is marked ("ended",
# CallSid) just before its stream closes, and the webhook answers it with a hang-up.

ENDED_TTL_S = 3600.0


async def end_for_good(state: CallState, call_sid: str, how: str) -> None:
    try:
        await asyncio.to_thread(state.put, "ended", call_sid, {"ended": how}, ENDED_TTL_S)
    except CallStateError as e:
        logger.error("call %s: could not mark it ended (the provider may bring it back): %s", call_sid, e)  # fmt: skip


async def ended_for_good(state: CallState, call_sid: str) -> bool:
    try:
        return bool(call_sid) and await asyncio.to_thread(state.get, "ended", call_sid) is not None
    except CallStateError as e:
        logger.error("call %s: cannot tell whether it already ended (taken as a new call): %s", call_sid, e)  # fmt: skip
        return False
