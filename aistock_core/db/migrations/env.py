"""Alembic environment: runs on the connection `Database.migrate` hands over (no alembic.ini needed)."""

from alembic import context

from aistock_core.db import models  # noqa: F401  (registers every table on Base.metadata)
from aistock_core.db.base import Base

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
