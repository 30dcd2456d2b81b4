"""Who may do what with the records: roles, API keys, and a store that enforces them.

    key = create_api_key(store, "ana", "supervisor")       # printed once; only a hash is kept
    who = authenticate(store, key)                          # Principal("ana", "supervisor")
    records = AccessControlledStore(store, who)
    records.turns(conversation_id)                          # audited as "ana"
    records.erase_customer(email="a@b.com")                 # PermissionError: needs admin

Roles are ordered, each holding everything of the ones below:

- agent: writes conversations (customers, turns, recordings) and reads their turns; no
  recordings, feedback, audit log, erasure or export.
- supervisor: also reads recordings, feedback and the audit log, and adds feedback.
- admin: also erases customers, runs retention, rotates the records key, exports training data,
  and manages API keys.

A key is `cca_<key id>_<secret>`. The key id finds the row; the secret is checked against a
scrypt hash with a per-key salt, compared in constant time. Every allowed call is audited under
the principal's name by the store itself; a refusal is audited as action "denied", and a key that
does not authenticate as "auth_failed".
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update

from dialogue.records import schema as s
from dialogue.records.store import Store

ROLES = s.USER_ROLES  # ("agent", "supervisor", "admin"), lowest first
KEY_PREFIX = "cca"
_SCRYPT = dict(n=2**14, r=8, p=1, dklen=32)  # ~16 MiB and ~50 ms per check

# what a call needs: the lowest role allowed to make it
PERMISSIONS: dict[str, str] = {
    "add_customer": "agent",
    "find_customers": "agent",
    "start_conversation": "agent",
    "end_conversation": "agent",
    "add_turns": "agent",
    "add_turn_record": "agent",
    "turn_count": "agent",
    "add_recording": "agent",
    "conversation": "agent",
    "conversation_ids": "agent",
    "turns": "agent",
    "recording": "supervisor",
    "feedback": "supervisor",
    "add_feedback": "supervisor",
    "audit_log": "supervisor",
    "rotate_key": "admin",
    "erase_customer": "admin",
    "apply_retention": "admin",
    "export_training_data": "admin",
    "create_api_key": "admin",
    "list_api_keys": "admin",
    "revoke_api_key": "admin",
}


class AuthenticationError(PermissionError):
    """An API key that is malformed, unknown or revoked."""


class AccessDenied(PermissionError):
    """The principal's role does not allow the call; the message names the role needed."""


@dataclass(frozen=True)
class Principal:
    name: str
    role: str

    def may(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose from {ROLES}")


def _hash(secret: str, salt: bytes) -> str:
    return hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT).hex()


def _audit(store: Store, actor: str, action: str, record_type: str, record_id: str = "", **detail):
    with store.transaction() as conn:
        store.as_actor(actor)._audit(conn, action, record_type, record_id, **detail)


def audit_action(
    store: Store, principal: Principal, action: str, record_type: str, record_id: str = "", **detail
) -> None:
    """Write one audit row for something a principal did outside the store's own calls (a person
    taking a conversation at the agent desk), under the principal's name."""
    _check_role(principal.role)
    _audit(store, principal.name, action, record_type, record_id, **detail)


def create_api_key(store: Store, name: str, role: str) -> str:
    """A new key for `name` with `role`; the plaintext is returned once and never stored."""
    _check_role(role)
    if not name.strip():
        raise ValueError("an API key needs a name (who or what holds it)")
    key_id, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(32), secrets.token_bytes(16)
    with store.transaction() as conn:
        taken = conn.execute(select(s.api_keys.c.id).where(s.api_keys.c.name == name)).first()
        if taken is not None:
            raise ValueError(f"an API key named {name!r} exists; revoke it or pick another name")
        conn.execute(
            insert(s.api_keys).values(
                name=name, role=role, key_id=key_id, salt=salt.hex(),
                key_hash=_hash(secret, salt), created_at=time.time(),
            )
        )  # fmt: skip
        store._audit(conn, "create", "api_key", name, role=role, key_id=key_id)
    return f"{KEY_PREFIX}_{key_id}_{secret}"


def authenticate(store: Store, key: str) -> Principal:
    """The principal holding `key`; AuthenticationError (audited) when it is not a live key."""
    parts = (key or "").strip().split("_", 2)
    key_id, secret = (
        (parts[1], parts[2]) if len(parts) == 3 and parts[0] == KEY_PREFIX else ("", "")
    )
    with store.engine.connect() as conn:
        row = (
            conn.execute(select(s.api_keys).where(s.api_keys.c.key_id == key_id)).mappings().first()
            if key_id
            else None
        )
    salt = bytes.fromhex(row["salt"]) if row is not None else b"\0" * 16
    digest = _hash(secret, salt)  # also for an unknown id: the time taken says nothing
    if row is None or not hmac.compare_digest(digest, row["key_hash"]):
        _audit(store, "unknown", "auth_failed", "api_key", key_id[:24])
        raise AuthenticationError(
            "the API key is not valid; ask an admin for one (`cca privacy key create`)"
        )
    if row["revoked_at"] is not None:
        _audit(store, row["name"], "auth_failed", "api_key", row["name"], why="revoked")
        raise AuthenticationError(f"the API key of {row['name']!r} was revoked; ask for a new one")
    return Principal(row["name"], row["role"])


def list_api_keys(store: Store) -> list[dict[str, Any]]:
    """Every key's name, role, key id and times; never a hash or a secret."""
    cols = [s.api_keys.c[c] for c in ("name", "role", "key_id", "created_at", "revoked_at")]
    with store.transaction() as conn:
        rows = conn.execute(select(*cols).order_by(s.api_keys.c.id)).mappings().all()
        store._audit(conn, "list", "api_key", "", n=len(rows))
    return [dict(r) for r in rows]


def revoke_api_key(store: Store, name: str) -> None:
    with store.transaction() as conn:
        done = conn.execute(
            update(s.api_keys)
            .where(s.api_keys.c.name == name, s.api_keys.c.revoked_at.is_(None))
            .values(revoked_at=time.time())
        ).rowcount
        if not done:
            raise KeyError(f"no live API key named {name!r}; `cca privacy key list` shows them")
        store._audit(conn, "revoke", "api_key", name)


class AccessControlledStore:
    """A `Store` as one principal sees it: each call in PERMISSIONS is checked against the
    principal's role and audited under its name; anything else (the engine, raw transactions)
    is not reachable through it."""

    def __init__(self, store: Store, principal: Principal):
        _check_role(principal.role)
        self._store = store.as_actor(principal.name)
        self.principal = principal

    def _calls(self) -> dict[str, Callable[..., Any]]:
        from dialogue.records import erase

        st = self._store
        return {
            "erase_customer": lambda **kw: erase.erase_customer(st, **kw),
            "apply_retention": lambda *a, **kw: erase.apply_retention(st, *a, **kw),
            "export_training_data": lambda *a, **kw: erase.export_training_data(st, *a, **kw),
            "create_api_key": lambda *a, **kw: create_api_key(st, *a, **kw),
            "list_api_keys": lambda: list_api_keys(st),
            "revoke_api_key": lambda *a, **kw: revoke_api_key(st, *a, **kw),
        }

    def require(self, what: str) -> None:
        """Raise AccessDenied (and audit it) unless the principal may make call `what`."""
        need = PERMISSIONS[what]
        if not self.principal.may(need):
            _audit(self._store, self.principal.name, "denied", what, "",
                   role=self.principal.role, needs=need)  # fmt: skip
            raise AccessDenied(
                f"{self.principal.name!r} has the {self.principal.role} role; "
                f"{what} needs the {need} role or higher"
            )

    def __getattr__(self, what: str) -> Callable[..., Any]:
        if what.startswith("_") or what not in PERMISSIONS:
            raise AttributeError(
                f"{what!r} is not available through an access-controlled store; "
                f"available calls = {sorted(PERMISSIONS)}"
            )
        self.require(what)
        calls = self._calls()
        return calls[what] if what in calls else getattr(self._store, what)
