"""App database: SQLAlchemy 2 models, Alembic migrations applied on start, transactional sessions."""

from aistock_core.db.base import Base
from aistock_core.db.engine import Database

__all__ = ["Base", "Database"]
