"""Execution: trading instances, approvals, trade intents, orders, fills, risk events, halts, account snapshots.

Revision ID: 0011_execution
Revises: 0001_market
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_execution"
down_revision = "0001_market"
branch_labels = ("execution",)
depends_on = None


def _created_at() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "trade_instances",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("gateway", sa.String(16), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("capital", sa.Float(), nullable=False),
        sa.Column("loop", sa.String(256), nullable=True),
        sa.Column("model", sa.String(256), nullable=True),
        sa.Column("frequency", sa.String(8), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("trading_state", sa.String(16), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trade_instances")),
        sa.UniqueConstraint("name", name=op.f("uq_trade_instances_name")),
    )
    op.create_table(
        "trade_approvals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("instance", sa.String(64), nullable=False),
        sa.Column("approved_by", sa.String(128), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("limits", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["instance"], ["trade_instances.name"],
                                name=op.f("fk_trade_approvals_instance_trade_instances")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trade_approvals")),
        sa.UniqueConstraint("instance", "approved_at", name=op.f("uq_trade_approvals_instance_approved_at")),
    )
    op.create_table(
        "trade_intent",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("intent_key", sa.String(160), nullable=False),
        sa.Column("remark", sa.String(24), nullable=False),
        sa.Column("instance", sa.String(64), nullable=False),
        sa.Column("trading_day", sa.Date(), nullable=False),
        sa.Column("slot", sa.String(4), nullable=False),
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("volume", sa.Integer(), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("limit_up", sa.Float(), nullable=False),
        sa.Column("limit_down", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(128), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trade_intent")),
        sa.UniqueConstraint("intent_key", name=op.f("uq_trade_intent_intent_key")),
    )
    op.create_index(op.f("ix_trade_intent_remark"), "trade_intent", ["remark"])
    op.create_index(op.f("ix_trade_intent_instance"), "trade_intent", ["instance"])
    op.create_table(
        "trade_orders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("intent_key", sa.String(160), nullable=False),
        sa.Column("instance", sa.String(64), nullable=False),
        sa.Column("trading_day", sa.Date(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("broker_order_id", sa.String(64), nullable=True),
        sa.Column("filled_volume", sa.Integer(), nullable=False),
        sa.Column("filled_value", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["intent_key"], ["trade_intent.intent_key"],
                                name=op.f("fk_trade_orders_intent_key_trade_intent")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trade_orders")),
        sa.UniqueConstraint("intent_key", name=op.f("uq_trade_orders_intent_key")),
    )
    op.create_index(op.f("ix_trade_orders_instance"), "trade_orders", ["instance"])
    op.create_index(op.f("ix_trade_orders_broker_order_id"), "trade_orders", ["broker_order_id"])
    op.create_table(
        "trade_fills",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("broker_trade_id", sa.String(64), nullable=False),
        sa.Column("broker_order_id", sa.String(64), nullable=False),
        sa.Column("intent_key", sa.String(160), nullable=True),
        sa.Column("instance", sa.String(64), nullable=False),
        sa.Column("trading_day", sa.Date(), nullable=False),
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("volume", sa.Integer(), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("fee", sa.Float(), nullable=False),
        sa.Column("traded_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trade_fills")),
        sa.UniqueConstraint("account_id", "broker_trade_id", name=op.f("uq_trade_fills_account_id_broker_trade_id")),
    )
    op.create_index(op.f("ix_trade_fills_intent_key"), "trade_fills", ["intent_key"])
    op.create_index(op.f("ix_trade_fills_instance"), "trade_fills", ["instance"])
    op.create_table(
        "risk_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_key", sa.String(200), nullable=False),
        sa.Column("instance", sa.String(64), nullable=False),
        sa.Column("trading_day", sa.Date(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("intent_key", sa.String(160), nullable=True),
        sa.Column("symbol", sa.String(16), nullable=True),
        sa.Column("allowed", sa.Boolean(), nullable=True),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_events")),
        sa.UniqueConstraint("event_key", name=op.f("uq_risk_events_event_key")),
    )
    op.create_index(op.f("ix_risk_events_instance"), "risk_events", ["instance"])
    op.create_table(
        "trade_halts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("instance", sa.String(64), nullable=False),
        sa.Column("halted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("halted_by", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("resumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resumed_by", sa.String(128), nullable=True),
        sa.ForeignKeyConstraint(["instance"], ["trade_instances.name"],
                                name=op.f("fk_trade_halts_instance_trade_instances")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trade_halts")),
        sa.UniqueConstraint("instance", "halted_at", name=op.f("uq_trade_halts_instance_halted_at")),
    )
    op.create_table(
        "trade_account_snapshots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("instance", sa.String(64), nullable=False),
        sa.Column("trading_day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("cash", sa.Float(), nullable=False),
        sa.Column("equity", sa.Float(), nullable=False),
        sa.Column("positions", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trade_account_snapshots")),
        sa.UniqueConstraint("instance", "trading_day", "kind",
                            name=op.f("uq_trade_account_snapshots_instance_trading_day_kind")),
    )


def downgrade() -> None:
    for table in ("trade_account_snapshots", "trade_halts", "risk_events", "trade_fills", "trade_orders",
                  "trade_intent", "trade_approvals", "trade_instances"):
        op.drop_table(table)
