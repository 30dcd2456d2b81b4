"""Erasure (a customer asks to be forgotten), retention (old conversations go), and the export
of consented conversations as training data, whose files erasure also cleans.

Every removal says what it removed: conversations, turns, recordings (rows and files),
feedback rows, customers, and lines of exported JSONL files (`exports` table). Exported lines
carry meta["conversation_id"], which is how erasure finds them.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import Connection, delete, func, insert, select

from dialogue.lm.convdata import Conversation, ConvTurn, TurnAction, write_jsonl
from dialogue.records import schema as s
from dialogue.records.store import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Removal:
    """What an erasure or a retention run removed."""

    customers: int = 0
    conversations: int = 0
    turns: int = 0
    recordings: int = 0
    recording_files: int = 0
    feedback: int = 0
    export_lines: int = 0
    export_files: tuple[str, ...] = ()
    conversation_ids: tuple[str, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["export_files"] = list(self.export_files)
        d.pop("conversation_ids")
        return d


def _remove_from_exports(conn: Connection, conversation_ids: set[str]) -> tuple[int, list[str]]:
    lines, files = 0, []
    for (path,) in conn.execute(select(s.exports.c.path)).all():
        p = Path(path)
        if not p.exists():
            continue
        kept, dropped = [], 0
        for line in p.read_text(encoding="utf-8").splitlines(keepends=True):
            try:
                cid = (json.loads(line).get("meta") or {}).get("conversation_id")
            except (json.JSONDecodeError, AttributeError):
                cid = None
            if cid in conversation_ids:
                dropped += 1
            else:
                kept.append(line)
        if dropped:
            tmp = p.with_name(p.name + ".tmp")
            tmp.write_text("".join(kept), encoding="utf-8")
            os.replace(tmp, p)
            lines += dropped
            files.append(str(p))
    return lines, files


def _remove(
    store: Store, conversation_ids: Iterable[str], customer_ids: Iterable[str], action: str, **why
) -> Removal:
    convs, custs = sorted(set(conversation_ids)), sorted(set(customer_ids))
    files_to_delete: list[Path] = []
    with store.transaction() as conn:

        def count(table, where):
            return conn.execute(select(func.count()).select_from(table).where(where)).scalar() or 0

        in_convs = s.turns.c.conversation_id.in_(convs)
        n_turns = count(s.turns, in_convs)
        n_feedback = count(s.feedback, s.feedback.c.conversation_id.in_(convs))
        rec = conn.execute(
            select(s.recordings.c.path).where(s.recordings.c.conversation_id.in_(convs))
        ).all()
        files_to_delete = [Path(p) for (p,) in rec if p]
        for table in (s.turns, s.feedback, s.recordings):
            conn.execute(delete(table).where(table.c.conversation_id.in_(convs)))
        n_convs = conn.execute(
            delete(s.conversations).where(s.conversations.c.id.in_(convs))
        ).rowcount
        n_custs = (
            conn.execute(delete(s.customers).where(s.customers.c.id.in_(custs))).rowcount
            if custs
            else 0
        )
        lines, export_files = _remove_from_exports(conn, set(convs))
        removal = Removal(
            customers=n_custs, conversations=n_convs, turns=n_turns, recordings=len(rec),
            feedback=n_feedback, export_lines=lines, export_files=tuple(export_files),
            conversation_ids=tuple(convs),
        )  # fmt: skip
        store._audit(
            conn,
            action,
            "customer" if custs else "conversation",
            ",".join(custs)[:64],
            **why,
            **removal.to_dict(),
        )
    deleted = 0
    for p in files_to_delete:  # after the commit: a rollback must not leave rows without files
        try:
            p.unlink()
            deleted += 1
        except FileNotFoundError:
            logger.warning("recording file %s was already gone", p)
    return Removal(**{**asdict(removal), "recording_files": deleted})


def erase_customer(
    store: Store, customer_id: str | None = None, email: str | None = None
) -> Removal:
    """Remove a customer (by id, or every customer with this email) and everything of theirs."""
    if bool(customer_id) == bool(email):
        raise ValueError("give exactly one of customer_id or email")
    ids = [customer_id] if customer_id else store.find_customers(email or "")
    with store.engine.connect() as conn:
        convs = (
            conn.execute(select(s.conversations.c.id).where(s.conversations.c.customer_id.in_(ids)))
            .scalars()
            .all()
        )
    return _remove(store, convs, ids, "erase", by="email" if email else "id")


def apply_retention(store: Store, days: float, now: float | None = None) -> Removal:
    """Remove every conversation that started more than `days` days ago."""
    if days < 0:
        raise ValueError(f"--days must be 0 or more, got {days}")
    cutoff = (time.time() if now is None else now) - days * 86400
    with store.engine.connect() as conn:
        convs = (
            conn.execute(select(s.conversations.c.id).where(s.conversations.c.started_at < cutoff))
            .scalars()
            .all()
        )
    return _remove(store, convs, [], "retention", days=days)


def export_training_data(store: Store, out: Path, good_rating: int = 4) -> int:
    """Write the consented conversations as dialogue JSONL (`dialogue.lm.convdata`) to `out`, and
    register the file for erasure. A turn rated `good_rating` or better is listed in
    meta["good_turns"]; a corrected reply replaces the agent's text, listed in
    meta["corrected_turns"]. Returns the number of conversations written. A customer turn keeps
    its intent when it is one of the default pack's (`dialogue.domain.pack.default_pack`)."""
    from dialogue.domain.pack import default_pack

    labels = set(default_pack().labels())
    convs = []
    for cid in store.conversation_ids(consented_only=True):
        info = store.conversation(cid)
        # a customer turn of speech or a screenshot alone counts too: its transcript and OCR text
        turns = [t for t in store.turns(cid) if t.role == "agent" or t.text or t.transcript or t.screenshot_text]  # fmt: skip
        fb = store.feedback(cid)
        good = sorted(
            {
                f["turn_idx"]
                for f in fb
                if f["turn_idx"] is not None and (f["rating"] or 0) >= good_rating
            }
        )
        fixes = {
            f["turn_idx"]: f["corrected_reply"]
            for f in fb
            if f["turn_idx"] is not None and f["corrected_reply"]
        }
        rows = []
        for t in turns:
            text = fixes.get(t.idx, t.text) if t.role == "agent" else t.text
            intent = t.intent if t.role == "customer" and t.intent in labels else None
            calls = [a for a in (t.actions or []) if a.get("ok")] if t.role == "agent" else []
            # the tools that ran, each on its own agent turn before the reply (the convdata form),
            # so a replay (dialogue.lm.guided) can tell whether it acted as the agent did
            rows += [ConvTurn("agent", "", action=TurnAction(a["tool"], dict(a.get("args") or {}))) for a in calls]  # fmt: skip
            said = dict(transcript=t.transcript or None, screenshot_text=t.screenshot_text or None) if t.role == "customer" else {}  # fmt: skip
            rows.append(ConvTurn(role=t.role, text=text, intent=intent, **said))
        if not any(r.role == "agent" for r in rows):
            continue
        language = info["language"] if info["language"] in ("en", "zh") else "en"
        meta = {
            "conversation_id": cid,
            "channel": info["channel"],
            "good_turns": good,
            "corrected_turns": sorted(fixes),
        }
        convs.append(
            Conversation(
                id=f"records-{cid}",
                source="records",
                language=language,
                turns=tuple(rows),
                meta=meta,
            )
        )
    out = Path(out)
    write_jsonl(out, convs)
    with store.transaction() as conn:
        conn.execute(delete(s.exports).where(s.exports.c.path == str(out.resolve())))
        conn.execute(
            insert(s.exports).values(
                path=str(out.resolve()), created_at=time.time(), conversations=len(convs)
            )
        )
        store._audit(conn, "export", "exports", "", path=str(out), conversations=len(convs))
    return len(convs)
