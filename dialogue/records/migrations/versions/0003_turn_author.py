"""Turns: who wrote an agent turn. NULL is the automated agent; a person's name (the API key
holder at the agent desk) marks a reply a person wrote after a handoff.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("turns", sa.Column("author", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("author")
