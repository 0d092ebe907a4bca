"""Execution, second step: mismatch acknowledgements, order price types, cancel request times.

Revision ID: 0012_execution_ack
Revises: 0011_execution
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_execution_ack"
down_revision = "0011_execution"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trade_acknowledgements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("instance", sa.String(64), nullable=False),
        sa.Column("trading_day", sa.Date(), nullable=False),
        sa.Column("acknowledged_by", sa.String(128), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("mismatches", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["instance"], ["trade_instances.name"],
                                name=op.f("fk_trade_acknowledgements_instance_trade_instances")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trade_acknowledgements")),
        sa.UniqueConstraint("instance", "acknowledged_at",
                            name=op.f("uq_trade_acknowledgements_instance_acknowledged_at")),
    )
    with op.batch_alter_table("trade_intent") as batch:
        batch.add_column(sa.Column("price_type", sa.String(8), server_default="limit", nullable=False))
    with op.batch_alter_table("trade_orders") as batch:
        batch.add_column(sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trade_orders") as batch:
        batch.drop_column("cancel_requested_at")
    with op.batch_alter_table("trade_intent") as batch:
        batch.drop_column("price_type")
    op.drop_table("trade_acknowledgements")
