"""Signals: trading signals, their lifecycle transitions, daily performance reports.

Revision ID: 0014_signals
Revises: 0001_market
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_signals"
down_revision = "0001_market"
branch_labels = ("signals",)
depends_on = None


def _stamp(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "trading_signals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("signal_key", sa.String(200), nullable=False),
        sa.Column("instance", sa.String(80), nullable=False),
        sa.Column("env", sa.String(8), nullable=False),
        sa.Column("trading_day", sa.Date(), nullable=False),
        sa.Column("slot", sa.String(5), nullable=False),
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("direction", sa.String(4), nullable=False),
        sa.Column("signal_type", sa.String(16), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=True) for name in (
            "strength", "confidence", "expected_return", "risk_score", "suggested_quantity", "suggested_price",
            "stop_loss", "take_profit")),
        sa.Column("order_id", sa.String(200), nullable=True),
        *(sa.Column(name, sa.Float(), nullable=True) for name in (
            "decision_price", "executed_quantity", "executed_price", "execution_slippage_bps", "fill_seconds",
            "fees", "actual_return", "pnl", "evaluation_score")),
        _stamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trading_signals")),
        sa.UniqueConstraint("signal_key", name=op.f("uq_trading_signals_signal_key")),
    )
    op.create_index(op.f("ix_trading_signals_instance"), "trading_signals", ["instance"])
    op.create_index(op.f("ix_trading_signals_trading_day"), "trading_signals", ["trading_day"])
    op.create_table(
        "signal_transitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("signal_key", sa.String(200), nullable=False),
        sa.Column("from_state", sa.String(12), nullable=True),
        sa.Column("to_state", sa.String(12), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_transitions")),
        sa.UniqueConstraint("signal_key", "to_state", name=op.f("uq_signal_transitions_signal_key_to_state")),
    )
    op.create_index(op.f("ix_signal_transitions_signal_key"), "signal_transitions", ["signal_key"])
    op.create_table(
        "performance_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("instance", sa.String(80), nullable=False),
        sa.Column("trading_day", sa.Date(), nullable=False),
        sa.Column("env", sa.String(8), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=True) for name in (
            "total_return", "sharpe", "max_drawdown", "win_rate", "avg_evaluation_score", "tracking_error")),
        sa.Column("verdict", sa.Text(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        _stamp("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_performance_reports")),
        sa.UniqueConstraint("instance", "trading_day", name=op.f("uq_performance_reports_instance_trading_day")),
    )
    op.create_index(op.f("ix_performance_reports_trading_day"), "performance_reports", ["trading_day"])


def downgrade() -> None:
    op.drop_table("performance_reports")
    op.drop_table("signal_transitions")
    op.drop_table("trading_signals")
