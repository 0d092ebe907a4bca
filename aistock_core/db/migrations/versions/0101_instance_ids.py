"""Signals: stored instance ids take the one spelling, ``preview-<id>`` / ``trade-<name>``.

The signals box wrote ``preview:<id>`` / ``trade:<name>`` while feedback (whose folders are keyed by the id)
wrote ``preview-<id>`` / ``trade-<name>``; `aistock_core.instances` now has one id. This rewrites the ids the
signals tables hold: ``trading_signals.instance``, the id each ``signal_key`` starts with (in
``trading_signals`` and ``signal_transitions``), the virtual order ids of previews (``order_id`` starts with the
id), and ``performance_reports.instance`` with the ``instance`` inside its ``figures``. The downgrade writes the
old spelling back.

Revision ID: 0101_instance_ids
Revises: 0014_signals
"""

import sqlalchemy as sa
from alembic import op

revision = "0101_instance_ids"
down_revision = "0014_signals"
branch_labels = None
depends_on = None

#: (table, column) pairs whose value starts with an instance id.
_PREFIXED = (("trading_signals", "instance"), ("trading_signals", "signal_key"), ("trading_signals", "order_id"),
             ("signal_transitions", "signal_key"), ("performance_reports", "instance"))
_KINDS = ("preview", "trade")


def _respell(old: str, new: str) -> None:
    """Replace the separator ``old`` after each kind with ``new`` at the start of every prefixed column."""
    bind = op.get_bind()
    for table, column in _PREFIXED:
        for kind in _KINDS:
            bind.execute(sa.text(f"UPDATE {table} SET {column} = :new || substr({column}, :rest) "
                                 f"WHERE {column} LIKE :old"),
                         {"new": f"{kind}{new}", "rest": len(kind) + 2, "old": f"{kind}{old}%"})
    reports = sa.table("performance_reports", sa.column("id", sa.Integer), sa.column("figures", sa.JSON))
    for row_id, figures in bind.execute(sa.select(reports.c.id, reports.c.figures)).all():
        ref = str(figures.get("instance", "")) if isinstance(figures, dict) else ""
        kind = next((k for k in _KINDS if ref.startswith(f"{k}{old}")), None)
        if kind is not None:
            respelled = {**figures, "instance": f"{kind}{new}{ref[len(kind) + 1:]}"}
            bind.execute(reports.update().where(reports.c.id == row_id).values(figures=respelled))


def upgrade() -> None:
    _respell(":", "-")


def downgrade() -> None:
    _respell("-", ":")
