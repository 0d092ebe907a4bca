"""``aistock factors check``: compare migrated factors with a reference and print the alignment table.

References: ``qlib`` (Qlib's own ``D.features`` on the same data), ``code`` (the RD-Agent ``factor.py`` files of
``--code-dir`` run in the sandbox) or ``parquet`` (a bundle's ``combined_factors_df.parquet``). Exit 0 when every
factor verified, 1 when any failed, 2 on bad input (an `AistockError`, reported by the root group).

``--factors`` takes ``alpha158`` (all 158), or a comma list of names: Alpha158 names, names whose expression is
in a ``factor_meta.json``/``factor_catalog.json`` under ``--code-dir``, or ``NAME=EXPRESSION`` pairs (commas inside an
expression's parentheses do not split; ``;`` separates too).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from aistock_core.config import get_settings
from aistock_core.errors import FactorError
from aistock_pipelines.cli.calendar import parse_day
from aistock_pipelines.cli.data import _data_service
from aistock_pipelines.cli.render import kv_table, make_console, print_frame

#: Exit status when the check ran and some factor failed (2 is reserved for bad input).
FAILED_EXIT = 1
CATALOG_FILES = ("factor_meta.json", "factor_catalog.json")
#: Report columns → the short headers the table prints (a 12-column table must fit a terminal).
_COLUMNS = {
    "factor": "factor", "window": "window", "status": "status", "rows_compared": "rows", "rows_missing": "missing",
    "max_abs_err": "max abs", "max_rel_err": "max rel", "nan_mismatches": "NaN≠", "cells_out_of_tolerance": "out tol",
    "worst_instrument": "worst code", "worst_date": "worst day", "note": "note",
}


def _catalog_expressions(code_dir: Path | None) -> dict[str, str]:
    """name → expression from factor_meta.json / factor_catalog.json files under ``code_dir``
    (rdagent.md §3.1, §4.1)."""
    found: dict[str, str] = {}
    if code_dir is None:
        return found
    for name in CATALOG_FILES:
        for path in sorted(code_dir.rglob(name)):
            try:
                items = json.loads(path.read_text(encoding="utf-8")).get("factors", [])
            except (OSError, ValueError, AttributeError) as exc:
                raise FactorError(f"cannot read factor catalog {path}: {exc}") from exc
            found.update({str(i["name"]): str(i["expression"]) for i in items
                          if isinstance(i, dict) and i.get("name") and i.get("expression")})
    return found


def _split_top_level(spec: str) -> list[str]:
    """Split on ``;`` or on commas outside parentheses (expressions carry commas only inside calls)."""
    if ";" in spec:
        return spec.split(";")
    parts, depth, current = [], 0, []
    for char in spec:
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    return [*parts, "".join(current)]


def resolve_expressions(spec: str, code_dir: Path | None) -> dict[str, str]:
    """The ``--factors`` argument as name → expression, in the order given."""
    from aistock_core.factors.alpha158 import alpha158_expressions

    alpha = alpha158_expressions()
    if spec.strip().lower() == "alpha158":
        return dict(alpha)
    entries = [e.strip() for e in _split_top_level(spec) if e.strip()]
    if not entries:
        raise FactorError("--factors is empty; pass alpha158, names, or NAME=EXPRESSION pairs")
    catalog = _catalog_expressions(code_dir)
    out: dict[str, str] = {}
    unknown = []
    for entry in entries:
        name, _, expr = entry.partition("=")
        name = name.strip()
        if expr.strip():
            out[name] = expr.strip()
        elif name in alpha:
            out[name] = alpha[name]
        elif name in catalog:
            out[name] = catalog[name]
        else:
            unknown.append(name)
    if unknown:
        raise FactorError(
            f"no expression for factor(s) {unknown}: not Alpha158 names and not in a factor_meta.json/"
            f"factor_catalog.json under --code-dir; pass them as NAME=EXPRESSION"
        )
    return out


def _table(frame: pd.DataFrame) -> pd.DataFrame:
    """The printed columns: one line per factor × window, failures first."""
    shown = frame.assign(
        worst_instrument=[w[0]["key"] if w else None for w in frame["worst_instruments"]],
        worst_date=[w[0]["key"] if w else None for w in frame["worst_dates"]],
        _order=np.where(frame["status"] == "verified", 1, 0),
    ).sort_values(["_order", "factor", "window"], kind="stable")
    return shown[list(_COLUMNS)].rename(columns=_COLUMNS).set_index(["factor", "window"])


def check(
    factors: Annotated[str, typer.Option("--factors", help="alpha158, NAME[,NAME...] or NAME=EXPR pairs")],
    reference: Annotated[str, typer.Option("--reference", help="qlib | code | parquet")],
    provider_uri: Annotated[Path | None, typer.Option(
        "--provider-uri", help="Qlib data directory (default: the configured data source)")] = None,
    code_dir: Annotated[Path | None, typer.Option(
        "--code-dir", help="RD-Agent factor code: <name>.py, <name>_factor.py or <name>/factor.py")] = None,
    parquet: Annotated[Path | None, typer.Option("--parquet", help="a bundle's combined_factors_df.parquet")] = None,
    start: Annotated[str | None, typer.Option("--start", help="first day compared (YYYY-MM-DD)")] = None,
    end: Annotated[str | None, typer.Option("--end", help="last day compared (YYYY-MM-DD)")] = None,
    universe: Annotated[str | None, typer.Option(
        "--universe", help="market name or comma-separated codes (default: the configured market)")] = None,
    lookback: Annotated[int | None, typer.Option(
        "--lookback", help="sessions loaded before --start (default: the expressions' own look-back)")] = None,
    record: Annotated[bool, typer.Option(
        "--record/--no-record", help="store registry status and alignment rows in the app DB")] = True,
    source: Annotated[str, typer.Option("--source", help="registry source tag of these factors")] = "",
) -> None:
    """Compare migrated factors (our engine) with a reference; exit 1 when any factor fails."""
    from aistock_core.factors.alignment import REFERENCE_KINDS
    from aistock_core.factors.sandbox import load_code_dir
    from aistock_core.factors.verify import run_check

    if reference not in REFERENCE_KINDS:
        raise FactorError(f"--reference {reference!r} is not one of {', '.join(REFERENCE_KINDS)}")
    if reference == "code" and code_dir is None:
        raise FactorError("--reference code needs --code-dir with the factors' RD-Agent code")
    if reference == "parquet" and parquet is None:
        raise FactorError("--reference parquet needs --parquet FILE (a bundle's combined_factors_df.parquet)")
    if code_dir is not None and not code_dir.is_dir():
        raise FactorError(f"--code-dir {code_dir} is not a directory")
    expressions = resolve_expressions(factors, code_dir)
    start_day = parse_day(start, "--start") if start else None
    end_day = parse_day(end, "--end") if end else None
    service = _data_service(provider_uri)
    settings = get_settings()
    target = universe or settings.market
    codes = target if target in service.provider.markets() else [c.strip() for c in target.split(",") if c.strip()]
    sources = load_code_dir(code_dir, list(expressions)) if reference == "code" else None

    outcome = run_check(service, codes, expressions, reference, start=start_day, end=end_day, lookback=lookback,
                        code_sources=sources, parquet=parquet)
    report = outcome.report
    table = report.frame()
    console = make_console()
    print_frame(_table(table), console=console, title=f"Factor alignment vs {reference}", max_rows=200)
    failed = report.failed
    console.print(kv_table({
        "factors": len(expressions), "verified": len(expressions) - len(failed), "failed": len(failed),
        "rows compared": int(table["rows_compared"].max()), "provider": service.provider.name,
        "rtol / atol": "1e-05 / 1e-06",
    }, title="Summary"))
    if record:
        from aistock_core.db import Database
        from aistock_core.factors.registry import factor_entries, record_alignment

        tag = source or {"qlib": "qlib_alpha158", "code": "rdagent_generated", "parquet": "bundle"}[reference]
        db = Database(settings.sqlalchemy_url)
        try:
            record_alignment(db, report, source=tag, entries=factor_entries(expressions, tag, sources),
                             failures=outcome.failures)
        finally:
            db.dispose()
    if failed:
        raise typer.Exit(FAILED_EXIT)
