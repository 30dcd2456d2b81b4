"""What the workers of one phone line share: the `CallState` seam and where it lives.

A webhook, the media stream it announces and an upload during that call may each reach a
different worker behind a load balancer, and a worker may restart during a call. What one
worker issues another must find, so it lives in a `CallState`: short-lived JSON values under
(kind, key), each with a time to live. The phone line keeps these kinds:

| kind | key | value | lives |
|---|---|---|---|
| `stream` | a stream token | the call's CallSid and caller, the expiry | `stream_token_ttl_s` |
| `upload` | a six-digit code | the call (its CallSid), the expiry, used or not | the code's life and the lockout |
| `upload_fail` | a client address | times of wrong codes | the lockout |
| `call` | a CallSid | the call is on the line (for an upload reaching another worker) | the call, or `redaction_ttl_s` after its worker is lost |
| `image` | a CallSid | a checked picture for that call, until its worker takes it | a minute |
| `redaction` | a CallSid | the call's `Redactor.to_dict()` | `redaction_ttl_s` |
| `ended` | a CallSid | the agent ended the call: the webhook, reached again, hangs up | an hour |

A call's stream sid changes when another worker takes the call on; its CallSid does not, so
what must follow the call is keyed by the CallSid (the stream sid when a stream has none).

Implementations: `MemoryCallState` (one process: the default, today's behaviour) and
`dialogue.records.call_state.SqlCallState` (an SQLite file or PostgreSQL, by the records
migrations; every value sealed under the records key). `open_call_state(url)` picks one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from dialogue.records.call_state import CallStateError

__all__ = ["CallState", "CallStateError", "MemoryCallState", "open_call_state"]

MEMORY = "memory"
RECORDS = "records"  # --state records: the conversation store's database


@runtime_checkable
class CallState(Protocol):
    """Short-lived values shared by the workers of a line; values are JSON-ready dicts."""

    def put(self, kind: str, key: str, value: dict[str, Any], ttl_s: float, *, new: bool = False) -> bool:  # fmt: skip
        """Keep `value` for `ttl_s` seconds; new=True writes only if the key is absent or
        expired. Returns whether it was written."""
        ...

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        """The value, or None when absent or expired."""
        ...

    def take(self, kind: str, key: str) -> dict[str, Any] | None:
        """As `get`, and the key is gone: of two workers taking one key, one gets it."""
        ...


class MemoryCallState:
    """In this process only: a restart forgets it and another worker cannot see it."""

    url = MEMORY

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self._values: dict[tuple[str, str], tuple[str, float]] = {}  # -> (JSON, expires at)
        self._lock = threading.Lock()

    def put(self, kind: str, key: str, value: dict[str, Any], ttl_s: float, *, new: bool = False) -> bool:  # fmt: skip
        now = self.clock()
        with self._lock:
            self._values = {k: v for k, v in self._values.items() if v[1] > now}
            if new and (kind, key) in self._values:
                return False
            self._values[(kind, key)] = (json.dumps(value), now + ttl_s)  # a copy, as a store keeps
            return True

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._values.get((kind, key))
        return json.loads(found[0]) if found and found[1] > self.clock() else None

    def take(self, kind: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._values.pop((kind, key), None)
        return json.loads(found[0]) if found and found[1] > self.clock() else None

    def keys(self, kind: str) -> list[str]:
        """The live keys of one kind (for tests and the health page)."""
        now = self.clock()
        with self._lock:
            return [k for (c, k), v in self._values.items() if c == kind and v[1] > now]

    def close(self) -> None:
        pass


def open_call_state(url: str, records_url: str | None = None, keyring=None) -> CallState:
    """The call state named by `url`: "memory" (or ""), "records" (the conversation store's
    database, `records_url`), or a database URL (sqlite:///state.db, postgresql+psycopg://...).
    A database needs `keyring` (the records key): what a caller last said is kept there."""
    url = (url or MEMORY).strip()
    if url == MEMORY:
        return MemoryCallState()
    if url == RECORDS:
        if not records_url:
            raise ValueError("--state records needs a conversation store: give --records URL or set CCA_RECORDS_DB")  # fmt: skip
        url = records_url
    if keyring is None:
        raise ValueError(
            f"--state {url}: the shared call state keeps the end of what each caller last said (to "
            "redact a card number read over two turns), sealed under the records key; set "
            "CCA_RECORDS_KEY (make one with `cca privacy new-key`), the same on every worker"
        )
    from dialogue.records.call_state import SqlCallState

    return SqlCallState.open(url, keyring)
