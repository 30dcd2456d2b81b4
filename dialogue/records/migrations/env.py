"""Alembic environment of the conversation store: run from `dialogue.records.store.upgrade`,
which hands over an open connection in `config.attributes["connection"]`."""

from __future__ import annotations

from alembic import context

from dialogue.records.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run the records migrations through dialogue.records.store.upgrade(url), "
        "which passes a database connection"
    )
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    version_table="records_alembic_version",
)
with context.begin_transaction():
    context.run_migrations()
