"""Market reference data: instruments and the bar-partition ledger.

Revision ID: 0001_market
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_market"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instruments",
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("board", sa.String(16), nullable=False),
        sa.Column("list_date", sa.Date(), nullable=True),
        sa.Column("delist_date", sa.Date(), nullable=True),
        sa.Column("source", sa.String(256), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_instruments")),
    )
    op.create_table(
        "bar_partitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dataset", sa.String(64), nullable=False),
        sa.Column("trade_date", sa.Date(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("source", sa.String(256), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bar_partitions")),
        sa.UniqueConstraint("dataset", "trade_date", name=op.f("uq_bar_partitions_dataset_trade_date")),
    )


def downgrade() -> None:
    op.drop_table("bar_partitions")
    op.drop_table("instruments")
