"""What the loop knows from research, read from the synced catalog: the IC behind expected returns and the KPIs
behind the divergence verdict (both dialects)."""

from __future__ import annotations

from datetime import datetime

from aistock_core.db.models.research import ResearchLoopKpi
from aistock_core.feedback.divergence import loop_kpis
from aistock_core.signals.daily import loop_ic


def test_the_loops_research_figures_are_read_from_the_catalog(db):
    now = datetime(2024, 4, 1)
    with db.session() as s:
        s.add(ResearchLoopKpi(scope="task_run", run_id="run9", loop_id=3, cost_basis="with_cost", ic=0.042,
                              annualized_return=0.2, information_ratio=1.4, max_drawdown=-0.07, content_hash="h",
                              payload={}, first_seen_at=now, synced_at=now))
    assert loop_ic(db, "run9/3") == 0.042
    assert loop_ic(db, "run9/4") is None and loop_ic(db, None) is None and loop_ic(db, "run9/x") is None
    with db.session() as s:
        assert loop_kpis(s, "run9/3") == {"annualized_return": 0.2, "information_ratio": 1.4, "max_drawdown": -0.07}
        assert loop_kpis(s, "run9/4") is None and loop_kpis(s, "nonsense") is None
