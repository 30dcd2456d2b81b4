"""Call state: the short-lived keys the workers of one phone line share (stream tokens, upload
codes, each call's redaction memory), each with an expiry time.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_state",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_call_state_expires_at", "call_state", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_call_state_expires_at", "call_state")
    op.drop_table("call_state")
