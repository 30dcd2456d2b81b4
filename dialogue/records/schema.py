"""The tables of the conversation store (SQLAlchemy Core). Alembic migrations in
`dialogue/records/migrations` create them; a test checks that the two agree.

Times are unix seconds (float). Text columns hold redacted text; the `*_enc` columns hold
AES-GCM ciphertexts (`dialogue.records.crypto`) of redacted text or of audio.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

CHANNELS = ("chat", "web", "phone")
ROLES = ("customer", "agent")
USER_ROLES = ("agent", "supervisor", "admin")

metadata = MetaData()

customers = Table(
    "customers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("email_hash", String(64), index=True),  # sha256 of the lowercased email, for erasure
    Column("created_at", Float, nullable=False),
)
conversations = Table(
    "conversations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("customer_id", ForeignKey("customers.id", ondelete="CASCADE"), index=True),
    Column("channel", String(16), nullable=False),
    Column("language", String(8), nullable=False, default=""),
    Column("consent", Boolean, nullable=False, default=False),  # may be used for training
    Column("started_at", Float, nullable=False, index=True),
    Column("ended_at", Float),
    CheckConstraint("channel IN ('chat', 'web', 'phone')", name="ck_conversations_channel"),
)


def _conversation_id() -> Column:
    """The owning conversation: its rows go when it goes."""
    return Column(
        "conversation_id",
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


turns = Table(
    "turns",
    metadata,
    Column("id", Integer, primary_key=True),
    _conversation_id(),
    Column("idx", Integer, nullable=False),  # 0, 1, ... within the conversation
    Column("role", String(16), nullable=False),
    Column("text", Text, nullable=False, default=""),
    Column("transcript_enc", LargeBinary),
    Column("screenshot_text_enc", LargeBinary),
    Column("language", String(8), nullable=False, default=""),
    Column("intent", String(64), nullable=False, default=""),
    Column("entities", JSON, nullable=False, default=list),
    Column("sentiment", JSON, nullable=False, default=dict),
    Column("actions", JSON, nullable=False, default=list),
    Column("latency", JSON, nullable=False, default=dict),  # stage -> milliseconds
    Column("errors", JSON, nullable=False, default=list),
    Column("created_at", Float, nullable=False),
    Column("author", String(64)),  # an agent turn a person wrote (the desk); NULL: the agent
    UniqueConstraint("conversation_id", "idx", name="uq_turns_conversation_idx"),
    CheckConstraint("role IN ('customer', 'agent')", name="ck_turns_role"),
)
recordings = Table(
    "recordings",
    metadata,
    Column("id", Integer, primary_key=True),
    _conversation_id(),
    Column("turn_idx", Integer),
    Column("audio_enc", LargeBinary),  # the encrypted audio bytes, or NULL when in a file
    Column("path", String(1024)),  # a file holding the encrypted audio bytes
    Column("media_type", String(64), nullable=False, default="audio/wav"),
    Column("created_at", Float, nullable=False),
)
feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True),
    _conversation_id(),
    Column("turn_idx", Integer),  # NULL: about the whole conversation
    Column("rating", Integer),  # 1 (bad) .. 5 (good)
    Column("comment", Text, nullable=False, default=""),
    Column("corrected_reply", Text),
    Column("actor", String(128), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
)
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", Float, nullable=False, index=True),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("record_type", String(32), nullable=False),
    Column("record_id", String(64), nullable=False, default=""),
    Column("detail", JSON, nullable=False, default=dict),
)
exports = Table(
    "exports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("path", String(1024), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("conversations", Integer, nullable=False, default=0),
)
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),  # scrypt of the secret, hex
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
    Column("key_id", String(24)),  # the public part of the key, to find its row (revision 0002)
    Column("salt", String(32)),  # per-key scrypt salt, hex (revision 0002)
    Index("ix_api_keys_key_id", "key_id", unique=True),
)
call_state = Table(  # what the workers of one phone line share (dialogue.records.call_state)
    "call_state",
    metadata,
    Column("kind", String(16), primary_key=True),  # stream, upload, upload_fail, redaction, ...
    Column("key", String(64), primary_key=True),  # a token, a code, an address, a call id
    Column("value", LargeBinary, nullable=False),  # JSON, sealed under the records key if given
    Column("expires_at", Float, nullable=False, index=True),  # unix seconds; gone after it
)
