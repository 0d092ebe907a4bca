"""Factors: the migrated-factor registry and alignment results.

Revision ID: 0003_factors
Revises: 0001_market
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_factors"
down_revision = "0001_market"
branch_labels = ("factors",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "factor_registry",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("expression", sa.Text(), nullable=True),
        sa.Column("code_sha256", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_factor_registry")),
        sa.UniqueConstraint("name", "source", name=op.f("uq_factor_registry_name_source")),
    )
    op.create_table(
        "factor_alignment",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("factor_name", sa.String(256), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("window", sa.String(64), nullable=False),
        sa.Column("reference_kind", sa.String(16), nullable=False),
        sa.Column("window_start", sa.Date(), nullable=True),
        sa.Column("window_end", sa.Date(), nullable=True),
        sa.Column("rows_compared", sa.Integer(), nullable=False),
        sa.Column("rows_missing", sa.Integer(), nullable=False),
        sa.Column("max_abs_err", sa.Float(), nullable=True),
        sa.Column("max_rel_err", sa.Float(), nullable=True),
        sa.Column("nan_mismatches", sa.Integer(), nullable=False),
        sa.Column("cells_out_of_tolerance", sa.Integer(), nullable=False),
        sa.Column("worst_instruments", sa.JSON(), nullable=False),
        sa.Column("worst_dates", sa.JSON(), nullable=False),
        sa.Column("rtol", sa.Float(), nullable=False),
        sa.Column("atol", sa.Float(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_factor_alignment")),
        sa.UniqueConstraint("factor_name", "source", "window", "reference_kind",
                            name=op.f("uq_factor_alignment_factor_name_source_window_reference_kind")),
    )


def downgrade() -> None:
    op.drop_table("factor_alignment")
    op.drop_table("factor_registry")
