"""Feedback: LiveFeedback files written, optimizer proposals, their decisions, versioned instance parameters.

Revision ID: 0015_feedback
Revises: 0001_market
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_feedback"
down_revision = "0001_market"
branch_labels = ("feedback",)
depends_on = None


def _at(name: str, *, default: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now() if default else None,
                     nullable=False)


def upgrade() -> None:
    op.create_table(
        "feedback_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("instance", sa.String(160), nullable=False),
        sa.Column("env", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("breaches", sa.JSON(), nullable=False),
        sa.Column("request_path", sa.Text(), nullable=True),
        sa.Column("posted", sa.String(200), nullable=True),
        _at("written_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_files")),
        sa.UniqueConstraint("instance", "kind", "start_date", "end_date",
                            name=op.f("uq_feedback_files_instance_kind_start_date_end_date")),
    )
    op.create_index(op.f("ix_feedback_files_instance"), "feedback_files", ["instance"])
    op.create_table(
        "feedback_proposals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("proposal_key", sa.String(240), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("scope", sa.String(160), nullable=False),
        sa.Column("trading_day", sa.Date(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        _at("created_at", default=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_proposals")),
        sa.UniqueConstraint("proposal_key", name=op.f("uq_feedback_proposals_proposal_key")),
    )
    op.create_index(op.f("ix_feedback_proposals_scope"), "feedback_proposals", ["scope"])
    op.create_table(
        "feedback_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(12), nullable=False),
        sa.Column("decided_by", sa.String(128), nullable=False),
        _at("decided_at"),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["proposal_id"], ["feedback_proposals.id"],
                                name=op.f("fk_feedback_decisions_proposal_id_feedback_proposals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_decisions")),
        sa.UniqueConstraint("proposal_id", name=op.f("uq_feedback_decisions_proposal_id")),
    )
    op.create_table(
        "feedback_param_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("instance", sa.String(160), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        _at("created_at"),
        sa.ForeignKeyConstraint(["decision_id"], ["feedback_decisions.id"],
                                name=op.f("fk_feedback_param_versions_decision_id_feedback_decisions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_param_versions")),
        sa.UniqueConstraint("instance", "version", name=op.f("uq_feedback_param_versions_instance_version")),
    )
    op.create_index(op.f("ix_feedback_param_versions_instance"), "feedback_param_versions", ["instance"])


def downgrade() -> None:
    op.drop_table("feedback_param_versions")
    op.drop_table("feedback_decisions")
    op.drop_table("feedback_proposals")
    op.drop_table("feedback_files")
