"""API keys: a public key id to find the row, and a per-key salt for the scrypt hash.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-15
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("key_id", sa.String(24)))
    op.add_column("api_keys", sa.Column("salt", sa.String(32)))
    op.create_index("ix_api_keys_key_id", "api_keys", ["key_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_api_keys_key_id", table_name="api_keys")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("salt")
        batch.drop_column("key_id")
