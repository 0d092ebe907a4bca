"""``aistock loop``: the closed loop at a glance — instances, today's signals, the last evaluation — and one
instance's signals of a day with their lifecycle.

``status`` is built from `STATUS_SECTIONS`, a list of functions each returning one `Section` (a title and its
rows); a box that adds to the loop (proposals, feedback files) adds a function to the list and nothing else.
Every read takes ``--json`` (pure JSON on stdout). Bad input — an unknown instance, a date that is not a
session — is one line (`SignalError` / `CalendarError`), exit 2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import typer

from aistock_core.errors import SignalError
from aistock_pipelines.cli.proposals import register as register_proposals
from aistock_pipelines.cli.render import AsJson, echo_json, make_console, print_frame

app = typer.Typer(help="The closed loop: instances, signals, evaluations, optimizer proposals and their approval.",
                  no_args_is_help=True)
register_proposals(app)


@dataclass
class LoopContext:
    """What every status section reads: the app DB and the session the screen is about."""

    db: Any
    day: Any


@dataclass
class Section:
    key: str
    title: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


def _db():
    from aistock_core.config import get_settings
    from aistock_core.db import Database

    return Database(get_settings().sqlalchemy_url)


def _session_day(text: str | None):
    """``text`` as a session (default: today, or the last session before it on a closed day)."""
    import pandas as pd

    from aistock_core.calendar import exchange_today, xshg_calendar

    cal = xshg_calendar()
    if text is None:
        today = exchange_today()
        return today if cal.is_session(today) else cal.previous(today)
    try:
        day = pd.Timestamp(text)
    except ValueError:
        raise SignalError(f"--date {text!r} is not a date; use YYYY-MM-DD") from None
    return cal.require_session(day)


def instances_section(ctx: LoopContext) -> Section:
    from aistock_core.instances import list_instances

    rows = [i.as_dict() for i in list_instances(ctx.db)]
    return Section("instances", "Instances", rows, "" if rows else "no instance yet (`aistock preview create`, "
                                                                 "`aistock trade instance create`)")


def signals_section(ctx: LoopContext) -> Section:
    from aistock_core.signals.store import SignalStore

    counts = SignalStore(ctx.db).state_counts(ctx.day)
    rows = [{"instance": inst, **states, "total": sum(states.values())} for inst, states in sorted(counts.items())]
    return Section("signals", f"Signals of {ctx.day:%Y-%m-%d} by state", rows,
                   "" if rows else f"no signals for {ctx.day:%Y-%m-%d}")


def evaluation_section(ctx: LoopContext) -> Section:
    from sqlalchemy import func, select

    from aistock_core.db.models.signals import PerformanceReportRow as R

    with ctx.db.session() as s:
        last = s.scalar(select(func.max(R.trading_day)).where(R.trading_day <= ctx.day.date()))
        reports = list(s.scalars(select(R).where(R.trading_day == last).order_by(R.instance))) if last else []
        rows = [{"instance": r.instance, "day": f"{r.trading_day:%Y-%m-%d}", "sessions": r.sessions,
                 "total_return": r.total_return, "sharpe": r.sharpe, "max_drawdown": r.max_drawdown,
                 "avg_score": r.avg_evaluation_score, "verdict": r.verdict} for r in reports]
    return Section("last_evaluation", f"Last evaluation ({last:%Y-%m-%d})" if last else "Last evaluation", rows,
                   "" if rows else "no evaluation yet (the performance_report asset runs at 18:00)")


def proposals_section(ctx: LoopContext) -> Section:
    from aistock_core.feedback.proposals import list_proposals

    rows = [{"id": p.id, "kind": p.kind, "scope": p.scope, "day": p.day}
            for p in list_proposals(ctx.db, "pending")]
    return Section("open_proposals", "Open optimizer proposals", rows,
                   "" if rows else "none pending (the optimizer_proposals asset runs at 22:00)")


def feedback_section(ctx: LoopContext) -> Section:
    from sqlalchemy import select

    from aistock_core.db.models.feedback import FeedbackFile as F

    with ctx.db.session() as s:
        files = list(s.scalars(select(F).order_by(F.written_at.desc(), F.id.desc()).limit(5)))
        rows = [{"instance": f.instance, "kind": f.kind, "period": f"{f.start_date:%Y-%m-%d}..{f.end_date:%Y-%m-%d}",
                 "path": f.path, "request": f.request_path or ""} for f in files]
    return Section("last_feedback", "Last LiveFeedback written", rows,
                   "" if rows else "none yet (the live_feedback asset, or `aistock feedback build`)")


#: The sections of ``loop status``, in screen order.
STATUS_SECTIONS: list[Callable[[LoopContext], Section]] = [instances_section, signals_section, evaluation_section,
                                                          proposals_section, feedback_section]


@app.command()
def status(as_json: AsJson = False) -> None:
    """One screen: instances, today's signals by state, the last evaluation, open proposals, last feedback."""
    import pandas as pd

    ctx = LoopContext(_db(), _session_day(None))
    sections = [build(ctx) for build in STATUS_SECTIONS]
    if as_json:
        echo_json({"day": f"{ctx.day:%Y-%m-%d}", **{s.key: s.rows for s in sections}}, indent=2)
        return
    console = make_console()
    for section in sections:
        if section.rows:
            print_frame(pd.DataFrame(section.rows), console=console, title=section.title, index=False)
        else:
            console.print(f"[bold]{section.title}[/bold]: {section.note}")


#: Columns of ``loop signals`` (the table; ``--json`` has every column and the transitions).
SIGNAL_COLUMNS = ["symbol", "direction", "signal_type", "state", "strength", "confidence", "expected_return",
                  "risk_score", "suggested_quantity", "suggested_price", "executed_price", "execution_slippage_bps",
                  "actual_return", "pnl", "evaluation_score"]


@app.command()
def signals(
    instance: str = typer.Option(..., "--instance", help="Instance id (preview-ID, trade-NAME) or unique name."),
    date: str = typer.Option(..., "--date", help="Trading day YYYY-MM-DD."),
    as_json: AsJson = False,
) -> None:
    """One instance's signals of a day, with their states and (``--json``) every transition and its cause."""
    from aistock_core.instances import resolve_instance
    from aistock_core.signals.store import SignalStore

    db = _db()
    inst = resolve_instance(db, instance)
    day = _session_day(date)
    store = SignalStore(db)
    frame = store.frame(day, inst.id)
    if as_json:
        moves = store.transitions(list(frame["signal_key"])) if len(frame) else None
        records = frame.drop(columns=["id", "updated_at"]).astype(object).where(frame.notna(), None)
        out = []
        for row in records.to_dict("records"):
            path = moves[moves["signal_key"] == row["signal_key"]] if moves is not None else []
            out.append({**row, "transitions": [] if len(path) == 0 else path.drop(columns="signal_key")
                        .to_dict("records")})
        echo_json({"instance": inst.id, "day": f"{day:%Y-%m-%d}", "signals": out}, indent=2)
        return
    if frame.empty:
        typer.echo(f"no signals for {inst.id} on {day:%Y-%m-%d}")
        return
    print_frame(frame[SIGNAL_COLUMNS], title=f"{inst.id} ({inst.name}) · {day:%Y-%m-%d}", index=False,
                signed=["expected_return", "actual_return", "pnl"])
