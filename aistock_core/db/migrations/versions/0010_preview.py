"""Preview: virtual-account instances, their trades, daily positions and daily account rows.

Revision ID: 0010_preview
Revises: 0001_market
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_preview"
down_revision = "0001_market"
branch_labels = ("preview",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "preview_strategy",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("strategy_id", sa.String(128), nullable=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("initial_capital", sa.Float(), nullable=False),
        sa.Column("status", sa.String(16), server_default=sa.text("'running'"), nullable=False),
        sa.Column("loop", sa.String(256), nullable=True),
        sa.Column("model", sa.String(256), nullable=True),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preview_strategy")),
        sa.UniqueConstraint("name", name=op.f("uq_preview_strategy_name")),
    )
    op.create_table(
        "preview_trade",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("preview_id", sa.Integer(), nullable=False),
        sa.Column("trading_day", sa.Date(), nullable=False),
        sa.Column("datetime", sa.DateTime(), nullable=False),
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("volume", sa.Float(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("slot", sa.String(8), server_default=sa.text("''"), nullable=False),
        sa.Column("fee", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("status", sa.String(16), server_default=sa.text("'filled'"), nullable=False),
        sa.Column("target_volume", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["preview_id"], ["preview_strategy.id"], ondelete="CASCADE",
                                name=op.f("fk_preview_trade_preview_id_preview_strategy")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preview_trade")),
        sa.UniqueConstraint("preview_id", "trading_day", "slot", "symbol", "side",
                            name=op.f("uq_preview_trade_preview_id_trading_day_slot_symbol_side")),
    )
    op.create_table(
        "preview_position",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("preview_id", sa.Integer(), nullable=False),
        sa.Column("trading_day", sa.Date(), nullable=False),
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("volume", sa.Float(), nullable=False),
        sa.Column("avg_cost", sa.Float(), nullable=False),
        sa.Column("last_price", sa.Float(), nullable=False),
        sa.Column("market_value", sa.Float(), nullable=False),
        sa.Column("sellable", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("quote_time", sa.DateTime(), nullable=True),
        sa.Column("stale", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(["preview_id"], ["preview_strategy.id"], ondelete="CASCADE",
                                name=op.f("fk_preview_position_preview_id_preview_strategy")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preview_position")),
        sa.UniqueConstraint("preview_id", "trading_day", "symbol",
                            name=op.f("uq_preview_position_preview_id_trading_day_symbol")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Refreshes rewrite every holding's mark each minute: free room on each page lets PostgreSQL update in
        # place (HOT, no index writes), which is most of the refresh's cost at 50,000 holdings.
        op.execute("ALTER TABLE preview_position SET (fillfactor = 40)")
    op.create_table(
        "preview_account",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("preview_id", sa.Integer(), nullable=False),
        sa.Column("trading_day", sa.Date(), nullable=False),
        sa.Column("cash", sa.Float(), nullable=False),
        sa.Column("total_value", sa.Float(), nullable=False),
        sa.Column("daily_pnl", sa.Float(), nullable=True),
        sa.Column("cum_pnl", sa.Float(), nullable=True),
        sa.Column("market_value", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("fees", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("peak", sa.Float(), nullable=True),
        sa.Column("drawdown", sa.Float(), nullable=True),
        sa.Column("nav", sa.Float(), nullable=True),
        sa.Column("settled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("stale_positions", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["preview_id"], ["preview_strategy.id"], ondelete="CASCADE",
                                name=op.f("fk_preview_account_preview_id_preview_strategy")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preview_account")),
        sa.UniqueConstraint("preview_id", "trading_day", name=op.f("uq_preview_account_preview_id_trading_day")),
    )
    op.create_index("ix_preview_account_day", "preview_account", ["trading_day"])


def downgrade() -> None:
    op.drop_index("ix_preview_account_day", table_name="preview_account")
    op.drop_table("preview_account")
    op.drop_table("preview_position")
    op.drop_table("preview_trade")
    op.drop_table("preview_strategy")
