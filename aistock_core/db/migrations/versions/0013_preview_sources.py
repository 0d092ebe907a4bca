"""Preview: what a position owes in dividend tax when it is sold (the day it was opened, dividends received).

Revision ID: 0013_preview_sources
Revises: 0010_preview
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_preview_sources"
down_revision = "0010_preview"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("preview_position") as batch:
        batch.add_column(sa.Column("opened", sa.Date(), nullable=True))
        batch.add_column(sa.Column("dividend", sa.Float(), server_default=sa.text("0"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("preview_position") as batch:
        batch.drop_column("dividend")
        batch.drop_column("opened")
