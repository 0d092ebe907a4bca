"""Research catalog tables synced from RD-Agent (catalogs, KPIs, artifacts, bundles, SOTA code, marks).

Revision ID: 0002_research
Revises: 0001_market
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_research"
down_revision = "0001_market"
branch_labels = ("research",)
depends_on = None


def _synced_columns() -> list[sa.Column]:
    """The snapshot bookkeeping every synced catalog table carries (the `Synced` mixin of the models)."""
    return [
        sa.Column('content_hash', sa.String(length=64), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('synced_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    op.create_table('research_alpha_factors',
    sa.Column('alpha_set', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('expression', sa.Text(), nullable=False),
    *_synced_columns(),
    sa.PrimaryKeyConstraint('alpha_set', 'name', name=op.f('pk_research_alpha_factors'))
    )
    op.create_table('research_artifacts',
    sa.Column('artifact_id', sa.String(length=64), nullable=False),
    sa.Column('task_run_id', sa.String(length=64), nullable=False),
    sa.Column('loop_id', sa.Integer(), nullable=False),
    sa.Column('artifact_type', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=True),
    *_synced_columns(),
    sa.PrimaryKeyConstraint('artifact_id', name=op.f('pk_research_artifacts'))
    )
    op.create_index(op.f('ix_research_artifacts_task_run_id'), 'research_artifacts', ['task_run_id'], unique=False)
    op.create_table('research_bundle_factors',
    sa.Column('factor_name', sa.String(length=256), nullable=False),
    sa.Column('asset_bundle_id', sa.String(length=64), nullable=False),
    sa.Column('expression', sa.Text(), nullable=True),
    sa.Column('task_run_id', sa.String(length=64), nullable=True),
    sa.Column('loop_id', sa.Integer(), nullable=True),
    *_synced_columns(),
    sa.PrimaryKeyConstraint('factor_name', 'asset_bundle_id', name=op.f('pk_research_bundle_factors'))
    )
    op.create_table('research_bundle_files',
    sa.Column('asset_bundle_id', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    *_synced_columns(),
    sa.PrimaryKeyConstraint('asset_bundle_id', 'path', name=op.f('pk_research_bundle_files'))
    )
    op.create_table('research_bundles',
    sa.Column('asset_bundle_id', sa.String(length=64), nullable=False),
    sa.Column('task_run_id', sa.String(length=64), nullable=True),
    sa.Column('loop_id', sa.Integer(), nullable=True),
    sa.Column('n_files', sa.Integer(), nullable=False),
    sa.Column('total_bytes', sa.BigInteger(), nullable=False),
    *_synced_columns(),
    sa.PrimaryKeyConstraint('asset_bundle_id', name=op.f('pk_research_bundles'))
    )
    op.create_table('research_factor_code',
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('factor_name', sa.String(length=256), nullable=False),
    sa.Column('origin', sa.String(length=128), nullable=False),
    sa.Column('code_sha256', sa.String(length=64), nullable=False),
    sa.Column('source_code', sa.Text(), nullable=False),
    *_synced_columns(),
    sa.PrimaryKeyConstraint('task_id', 'factor_name', name=op.f('pk_research_factor_code'))
    )
    op.create_table('research_factors',
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('expr_key', sa.String(length=32), nullable=False),
    sa.Column('expression', sa.Text(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('impl_func', sa.String(length=256), nullable=True),
    *_synced_columns(),
    sa.PrimaryKeyConstraint('name', 'source', 'expr_key', name=op.f('pk_research_factors'))
    )
    op.create_table('research_loop_kpis',
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('loop_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('cost_basis', sa.String(length=16), nullable=False),
    sa.Column('annualized_return', sa.Float(), nullable=True),
    sa.Column('max_drawdown', sa.Float(), nullable=True),
    sa.Column('information_ratio', sa.Float(), nullable=True),
    sa.Column('mean_return', sa.Float(), nullable=True),
    sa.Column('std_return', sa.Float(), nullable=True),
    sa.Column('win_rate', sa.Float(), nullable=True),
    sa.Column('ic', sa.Float(), nullable=True),
    sa.Column('ic_ir', sa.Float(), nullable=True),
    sa.Column('rank_ic', sa.Float(), nullable=True),
    sa.Column('rank_ic_ir', sa.Float(), nullable=True),
    *_synced_columns(),
    sa.PrimaryKeyConstraint('scope', 'run_id', 'loop_id', 'cost_basis', name=op.f('pk_research_loop_kpis'))
    )
    op.create_table('research_loops',
    sa.Column('task_run_id', sa.String(length=64), nullable=False),
    sa.Column('loop_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('workspace_id', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=True),
    sa.Column('strategy_id', sa.String(length=64), nullable=True),
    sa.Column('asset_bundle_id', sa.String(length=64), nullable=True),
    sa.Column('is_solidified', sa.Boolean(), nullable=True),
    sa.Column('sync_status', sa.String(length=16), nullable=True),
    sa.Column('decision', sa.Boolean(), nullable=True),
    sa.Column('factor_names', sa.JSON(), nullable=False),
    sa.Column('in_catalog', sa.Boolean(), nullable=False),
    sa.Column('updated_at_utc', sa.String(length=40), nullable=True),
    *_synced_columns(),
    sa.PrimaryKeyConstraint('task_run_id', 'loop_id', name=op.f('pk_research_loops'))
    )
    op.create_index(op.f('ix_research_loops_asset_bundle_id'), 'research_loops', ['asset_bundle_id'], unique=False)
    op.create_table('research_marks',
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=320), nullable=False),
    sa.Column('candidate', sa.String(length=8), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('marked_by', sa.String(length=128), nullable=False),
    sa.Column('marked_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'key', name=op.f('pk_research_marks'))
    )
    op.create_table('research_models',
    sa.Column('model_id', sa.String(length=64), nullable=False),
    sa.Column('task_run_id', sa.String(length=64), nullable=True),
    sa.Column('loop_id', sa.Integer(), nullable=True),
    sa.Column('model_type', sa.String(length=128), nullable=True),
    sa.Column('model_class', sa.String(length=128), nullable=True),
    *_synced_columns(),
    sa.PrimaryKeyConstraint('model_id', name=op.f('pk_research_models'))
    )
    op.create_table('research_strategies',
    sa.Column('strategy_id', sa.String(length=64), nullable=False),
    sa.Column('step_name', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=True),
    sa.Column('strategy_class', sa.String(length=128), nullable=True),
    sa.Column('topk', sa.Integer(), nullable=True),
    sa.Column('n_drop', sa.Integer(), nullable=True),
    sa.Column('benchmark', sa.String(length=16), nullable=True),
    sa.Column('market', sa.String(length=64), nullable=True),
    *_synced_columns(),
    sa.PrimaryKeyConstraint('strategy_id', name=op.f('pk_research_strategies'))
    )
    op.create_table('research_sync_runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=1024), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cursor_before', sa.String(length=40), nullable=True),
    sa.Column('cursor_after', sa.String(length=40), nullable=True),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('errors', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_research_sync_runs'))
    )
    op.create_table('research_task_files',
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=256), nullable=False),
    sa.Column('origin', sa.String(length=64), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    *_synced_columns(),
    sa.PrimaryKeyConstraint('task_id', 'key', name=op.f('pk_research_task_files'))
    )
    op.create_table('research_task_loops',
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('loop_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('exp_type', sa.String(length=64), nullable=True),
    sa.Column('is_sota', sa.Boolean(), nullable=False),
    sa.Column('decision', sa.Boolean(), nullable=True),
    *_synced_columns(),
    sa.PrimaryKeyConstraint('task_id', 'loop_id', name=op.f('pk_research_task_loops'))
    )
    op.create_table('research_tasks',
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('updated_at_utc', sa.String(length=40), nullable=True),
    sa.Column('has_sota', sa.Boolean(), nullable=False),
    *_synced_columns(),
    sa.PrimaryKeyConstraint('task_id', name=op.f('pk_research_tasks'))
    )


def downgrade() -> None:
    op.drop_table('research_tasks')
    op.drop_table('research_task_loops')
    op.drop_table('research_task_files')
    op.drop_table('research_sync_runs')
    op.drop_table('research_strategies')
    op.drop_table('research_models')
    op.drop_table('research_marks')
    op.drop_index(op.f('ix_research_loops_asset_bundle_id'), table_name='research_loops')
    op.drop_table('research_loops')
    op.drop_table('research_loop_kpis')
    op.drop_table('research_factors')
    op.drop_table('research_factor_code')
    op.drop_table('research_bundles')
    op.drop_table('research_bundle_files')
    op.drop_table('research_bundle_factors')
    op.drop_index(op.f('ix_research_artifacts_task_run_id'), table_name='research_artifacts')
    op.drop_table('research_artifacts')
    op.drop_table('research_alpha_factors')
