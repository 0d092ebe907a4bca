"""``aistock preview``: virtual accounts — create, list, show, stop, archive, trade, refresh, settle, report.

Read commands take ``--json`` (pure JSON on stdout). Domain modules (and with them pandas-heavy imports) load
inside the commands so ``aistock --help`` stays fast. Every refusal (unknown id, capital ≤ 0, a non-session date,
a stopped instance) is a `PreviewError`: one line, exit 2, nothing changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from aistock_core.errors import PreviewError
from aistock_pipelines.cli.options import JsonOpt, PreviewId
from aistock_pipelines.cli.render import echo_json, kv_table, make_console, print_frame

app = typer.Typer(help="Strategy preview: virtual accounts traded on live prices.", no_args_is_help=True)



def _context():
    """(database, data service) from the settings."""
    from aistock_core.config import get_settings
    from aistock_core.data.factory import build_service
    from aistock_core.db import Database

    settings = get_settings()
    return Database(settings.sqlalchemy_url), build_service(settings)


def _db():
    from aistock_core.config import get_settings
    from aistock_core.db import Database

    return Database(get_settings().sqlalchemy_url)


def _ids(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise PreviewError(f"--ids {text!r} must be comma-separated instance ids, e.g. 1,2,3") from None


def _today():
    from aistock_core.calendar import exchange_today

    return exchange_today()


@app.command()
def create(
    name: Annotated[str, typer.Option("--name", help="Unique name of the instance.")],
    capital: Annotated[float, typer.Option("--capital", help="Initial capital in yuan (> 0).")] = 1_000_000.0,
    strategy: Annotated[str | None, typer.Option("--strategy", help="Strategy id the targets come from.")] = None,
    loop: Annotated[str | None, typer.Option("--loop", help="RD-Agent RUN/LOOP the targets come from.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Model version or alias, e.g. lgb@champion.")] = None,
    topk: Annotated[int | None, typer.Option("--topk", help="TopkDropout names held.")] = None,
    n_drop: Annotated[int | None, typer.Option("--n-drop", help="TopkDropout names replaced per day.")] = None,
    fees: Annotated[bool, typer.Option("--fees/--no-fees", help="Bill A-share fees on virtual fills.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Create a running instance; prints its id."""
    from aistock_core.preview.instances import create_instance

    params = {"fees": fees, **{k: v for k, v in (("topk", topk), ("n_drop", n_drop)) if v is not None}}
    instance = create_instance(_db(), name, capital, strategy_id=strategy, loop=loop, model=model, params=params)
    if as_json:
        echo_json(instance.as_dict(), indent=2)
    else:
        typer.echo(instance.id)


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="running | stopped | archived")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every instance with its latest settled figures."""
    import pandas as pd

    from aistock_core.preview.instances import list_instances

    rows = [i.as_dict() for i in list_instances(_db(), status)]
    if as_json:
        echo_json(rows, indent=2)
        return
    frame = pd.DataFrame(rows, columns=["id", "name", "status", "initial_capital", "strategy_id", "loop", "model"])
    print_frame(frame.set_index("id"), title="preview instances")


@app.command()
def show(preview_id: PreviewId, as_json: JsonOpt = False) -> None:
    """One instance: its settings, its latest account row and positions."""
    import pandas as pd
    from sqlalchemy import select

    from aistock_core.db.models.preview import PreviewAccount, PreviewPosition
    from aistock_core.preview.instances import get_instance

    db = _db()
    instance = get_instance(db, preview_id)
    with db.engine.connect() as conn:
        accounts = pd.read_sql(select(PreviewAccount).where(PreviewAccount.preview_id == preview_id)
                               .order_by(PreviewAccount.trading_day), conn)
        last_day = accounts["trading_day"].iloc[-1] if len(accounts) else None
        positions = pd.read_sql(select(PreviewPosition).where(PreviewPosition.preview_id == preview_id,
                                                              PreviewPosition.trading_day == last_day), conn)
    account = accounts.drop(columns=["id", "preview_id"]).iloc[-1].to_dict() if len(accounts) else None
    positions = positions.drop(columns=["id", "preview_id"])
    if as_json:
        echo_json({"instance": instance.as_dict(), "account": account,
                    "positions": positions.to_dict(orient="records")}, indent=2)
        return
    console = make_console()
    console.print(kv_table(instance.as_dict(), title=f"preview {preview_id}"))
    if account:
        console.print(kv_table(account, title="latest account"))
        print_frame(positions.set_index("symbol"), console=console, title=f"positions on {last_day}")


@app.command()
def stop(preview_id: PreviewId) -> None:
    """Stop an instance (no more trades, refreshes or settlements; history kept)."""
    from aistock_core.preview.instances import stop_instance

    typer.echo(f"preview {preview_id}: {stop_instance(_db(), preview_id).status}")


@app.command()
def archive(preview_id: PreviewId) -> None:
    """Archive an instance (final)."""
    from aistock_core.preview.instances import archive_instance

    typer.echo(f"preview {preview_id}: {archive_instance(_db(), preview_id).status}")


@app.command()
def trade(
    date: Annotated[str | None, typer.Option("--date", help="Session (default: today's).")] = None,
    at: Annotated[str, typer.Option("--at", help="Decision time HH:MM inside a session.")] = "09:35",
    as_json: JsonOpt = False,
) -> None:
    """The session's virtual trades of every running instance at the decision time."""
    from aistock_core.config import get_settings
    from aistock_core.preview.engine import SignalPreviewEngine
    from aistock_core.strategy.sources import target_engine

    db, service = _context()
    targets = target_engine(get_settings(), service, db)
    summary = SignalPreviewEngine(db, service, targets).run(date or _today(), at)
    payload = {"day": f"{summary.day:%Y-%m-%d}", "slot": summary.slot, "instances": summary.instances,
               "skipped": summary.skipped}
    if as_json:
        echo_json(payload, indent=2)
    else:
        make_console().print(kv_table({k: json.dumps(v) if isinstance(v, dict) else v for k, v in payload.items()},
                                      title="preview trade"))


@app.command()
def refresh(
    at: Annotated[str | None, typer.Option("--at", help='"YYYY-MM-DD HH:MM" Shanghai time (default: now).')] = None,
    as_json: JsonOpt = False,
) -> None:
    """One refresh of all running instances at live prices."""
    import pandas as pd

    from aistock_core.calendar import exchange_now
    from aistock_core.preview.refresh import refresh as run_refresh

    try:
        when = exchange_now() if at is None else pd.Timestamp(at)
    except ValueError:
        when = pd.NaT
    if when is pd.NaT:
        raise PreviewError(f"--at {at!r} is not a moment; write it as 'YYYY-MM-DD HH:MM' (Shanghai time)")
    db, service = _context()
    result = run_refresh(db, service, when)
    if as_json:
        echo_json(result.as_dict(), indent=2)
    else:
        make_console().print(kv_table(result.as_dict(), title="preview refresh"))


@app.command()
def settle(
    date: Annotated[str, typer.Option("--date", help="Session to settle (first of the range with --end).")],
    end: Annotated[str | None, typer.Option("--end", help="Backfill every session up to this one.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """End-of-day settlement at raw closes (a range: each session in order), then the reconciliation check."""
    from aistock_core.preview.check import reconcile_values
    from aistock_core.preview.settle import settle_range

    db, service = _context()
    results = settle_range(db, service, date, end or date)
    check = reconcile_values(db, service, results[-1].day)
    rows = [{"day": f"{r.day:%Y-%m-%d}", "instances": r.instances, "positions": r.positions, "stale": r.stale,
             "seconds": round(r.seconds, 3)} for r in results]
    payload = {"settled": rows, "reconciled": int(check["ok"].sum()), "mismatches": int((~check["ok"]).sum())}
    if as_json:
        echo_json(payload, indent=2)
    else:
        import pandas as pd

        print_frame(pd.DataFrame(rows).set_index("day"), title="preview settlement")
        typer.echo(f"reconciled to the cent: {payload['reconciled']}, mismatches: {payload['mismatches']}")
    if payload["mismatches"]:
        raise PreviewError(f"{payload['mismatches']} instance(s) do not reconcile with preview_trade + closes on "
                           f"{results[-1].day:%Y-%m-%d}; see `aistock preview show ID`")


@app.command()
def report(
    ids: Annotated[str, typer.Option("--ids", help="Comma-separated instance ids.")],
    out: Annotated[Path, typer.Option("--out", help="HTML file to write (a PNG is written beside it).")],
    benchmark: Annotated[str, typer.Option("--benchmark", help="Index to compare with.")] = "000001.SH",
    start: Annotated[str | None, typer.Option("--start", help="First day (default: first settled).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last day (default: last settled).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """NAV curves of instances against the index, with KPIs: one self-contained HTML and a PNG."""
    from aistock_core.codes import to_internal
    from aistock_core.preview.nav import kpis, nav_frame
    from aistock_core.preview.report import write_report

    db, service = _context()
    bench = to_internal(benchmark)
    nav = nav_frame(db, service, _ids(ids), bench, start, end)
    table = kpis(nav, bench)
    html, png = write_report(nav, table, out)
    if as_json:
        echo_json({"html": str(html), "png": str(png), "kpis": table.reset_index(names="series")
                    .to_dict(orient="records")}, indent=2)
        return
    print_frame(table, title="preview KPIs")
    typer.echo(f"report: {html}\nchart:  {png}")
