"""``aistock catalog sync|list|show|mark|unmark``: RD-Agent's research results in the app DB, from a terminal.

``sync`` pulls from the results API (``--source http://host:9000``) or an export directory, full or
``--incremental``; ``--confirm`` is the only thing that writes back to RD-Agent (``/ops/sync-confirm``).
With no ``--source`` it uses ``AISTOCK_RDAGENT_SOURCE``, else the demo export under ``AISTOCK_HOME``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import pandas as pd
import typer

from aistock_core.config import get_settings
from aistock_core.db import Database
from aistock_core.errors import CatalogError
from aistock_core.research.browse import LIST_KINDS, list_entries, show_entry
from aistock_core.research.defaults import blob_root
from aistock_core.research.marks import CANDIDATES, KINDS, clear_mark, set_mark
from aistock_core.research.source import open_source
from aistock_core.research.sync import sync as run_sync
from aistock_pipelines.cli.render import kv_table, make_console, print_frame

app = typer.Typer(help="Research catalogs from RD-Agent: sync, browse, mark candidates.", no_args_is_help=True)

SIGNED = ("ann_ret", "ann_ret_wc", "ir", "ir_wc", "ic", "best_sharpe", "best_ann_ret")
#: Columns a terminal table shows per catalog (``--json`` gives them all); ids are shortened to 12 characters.
TABLE_COLUMNS = {
    "factors": ["name", "source", "best_sharpe", "best_ann_ret", "expression", "candidate", "note"],
    "strategies": ["strategy_id", "strategy_class", "topk", "n_drop", "benchmark", "market", "candidate", "note"],
    "models": ["model_id", "model_class", "model_type", "task_run_id", "loop_id", "candidate", "note"],
    "loops": ["task_run_id", "loop_id", "action", "decision", "n_factors", "ann_ret", "mdd", "ir", "ann_ret_wc",
              "mdd_wc", "ir_wc", "ic", "candidate", "note"],
}
SHORT_IDS = ("strategy_id", "model_id", "task_run_id")


def _table_view(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The columns worth a terminal row; long ids and expressions shortened (``show`` has them in full)."""
    view = df[[c for c in TABLE_COLUMNS[kind] if c in df.columns]].copy()
    for col in SHORT_IDS:
        if col in view.columns:
            view[col] = view[col].astype(str).str.slice(0, 12)
    if "expression" in view.columns:
        view["expression"] = view["expression"].fillna("").astype(str).str.slice(0, 48)
    return view


def _db() -> Database:
    return Database(get_settings().sqlalchemy_url)


@app.command()
def sync(
    source: Annotated[str | None, typer.Option(help="Results API URL or export directory.")] = None,
    incremental: Annotated[bool, typer.Option("--incremental", help="Only loops changed since the last sync.")] = False,
    confirm: Annotated[bool, typer.Option("--confirm", help="Tell RD-Agent new bundles are synced (writes).")] = False,
    timeout: Annotated[float, typer.Option(help="HTTP deadline per request (connect to last byte), seconds.")] = 30.0,
    deadline: Annotated[float, typer.Option(help="HTTP deadline for the whole sync, seconds.")] = 900.0,
    allow_removals: Annotated[bool, typer.Option(
        "--allow-removals", help="Mark rows removed even when a whole part of the source (registry, tasks) is gone.")
    ] = False,
) -> None:
    """Sync the catalogs, KPIs, artifacts, bundles and SOTA factor code (one transaction)."""
    from aistock_core.specs import research_source  # imported here: it reaches the strategy and factor engines

    for name, value in (("--timeout", timeout), ("--deadline", deadline)):
        if not value > 0 or value == float("inf"):
            raise CatalogError(f"{name} must be a positive number of seconds, got {value}")
    settings = get_settings()
    spec = source or research_source(settings)
    db = _db()
    with open_source(spec, timeout=timeout, deadline=deadline) as src:
        report = run_sync(db, src, blob_root(settings), incremental=incremental, confirm=confirm,
                          allow_removals=allow_removals)
    console = make_console()
    console.print(kv_table({"run": report.run_id, "source": report.source, "mode": report.mode,
                            "status": report.status, "cursor": report.cursor_after or "—"}, title="catalog sync"))
    counts = pd.DataFrame([{"table": t, "new": c.new, "changed": c.changed, "unchanged": c.unchanged,
                            "removed": c.removed} for t, c in report.counts.items()])
    if not counts.empty:
        print_frame(counts, console=console, index=False)
    for error in report.errors:
        make_console(stderr=True).print(f"[yellow]warning:[/] {error}", soft_wrap=True)


@app.command("list")
def list_(
    kind: Annotated[str, typer.Argument(help=f"One of {', '.join(LIST_KINDS)}.")],
    where: Annotated[list[str] | None, typer.Option("--where", "-w", help="Filter col<op>value; repeatable.")] = None,
    sort: Annotated[str | None, typer.Option(help="Sort column; prefix '-' for descending.")] = None,
    limit: Annotated[int | None, typer.Option(help="Show at most this many rows.")] = None,
    removed: Annotated[bool, typer.Option("--removed", help="Include entries no longer in the source.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON records instead of a table.")] = False,
) -> None:
    """List a synced catalog (loops carry KPIs without cost, and with cost as *_wc)."""
    df = list_entries(_db(), kind, where=where, sort=sort, include_removed=removed, limit=limit)
    if as_json:
        typer.echo(df.to_json(orient="records", force_ascii=False))
        return
    shown = _table_view(df, kind)
    print_frame(shown, index=False, title=f"{kind} ({len(df)})", signed=[c for c in SIGNED if c in shown.columns],
                max_rows=60)


@app.command()
def show(
    kind: Annotated[str, typer.Argument(help=f"One of {', '.join(LIST_KINDS)}.")],
    key: Annotated[str, typer.Argument(help="factor name, strategy_id, model_id or task_run_id/loop_id.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Everything stored about one entry."""
    entry = show_entry(_db(), kind, key)
    if as_json:
        typer.echo(json.dumps(entry, default=str, ensure_ascii=False, indent=1))
        return
    console = make_console()
    summary: dict[str, Any] = {k: v for k, v in entry["summary"].items() if not isinstance(v, (list, dict))}
    console.print(kv_table(summary, title=f"{kind} {key}"))
    for section in ("kpis", "artifacts", "bundle_files"):
        if entry.get(section):
            print_frame(pd.DataFrame(entry[section]), console=console, index=False, title=section)
    for section in ("payload", "variants"):
        if entry.get(section) is not None:
            console.print_json(json.dumps(entry[section], default=str, ensure_ascii=False))


@app.command()
def mark(
    kind: Annotated[str, typer.Argument(help=f"One of {', '.join(KINDS)}.")],
    key: Annotated[str, typer.Argument(help="factor name, strategy_id, model_id or task_run_id/loop_id.")],
    candidate: Annotated[str | None, typer.Option(help=f"Candidate for {' / '.join(CANDIDATES)} trading.")] = None,
    note: Annotated[str | None, typer.Option(help="Free text kept with the mark.")] = None,
    who: Annotated[str | None, typer.Option(help="Who marks (default: login name).")] = None,
) -> None:
    """Mark an entry (e.g. a loop as a paper-trading candidate) with a note."""
    row = set_mark(_db(), kind, key, candidate=candidate, note=note, who=who)
    make_console().print(kv_table({"kind": row.kind, "key": row.key, "candidate": row.candidate or "—",
                                   "note": row.note or "—", "by": row.marked_by,
                                   "at": pd.Timestamp(row.marked_at)}, title="marked"))


@app.command()
def unmark(
    kind: Annotated[str, typer.Argument()],
    key: Annotated[str, typer.Argument()],
) -> None:
    """Remove a mark."""
    removed = clear_mark(_db(), kind, key)
    make_console().print("mark removed" if removed else "no mark to remove")
