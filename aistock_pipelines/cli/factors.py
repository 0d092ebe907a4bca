"""``aistock factors``: compute Qlib-expression factors (``compute``) and check migrated ones (``check``).

``compute`` evaluates Alpha158 or any Qlib expressions over a Qlib data directory with the Qlib-exact engine
and writes one Parquet file: index (datetime, instrument), one float32 column per factor, Qlib's names
(a missing value is the NaN the engine computed, not a Parquet null: `factors.parquet`).
Every expression is parsed before anything is loaded, and the file is written to a temporary name and renamed
into place, so a typo in one factor leaves nothing behind (exit 2, one line saying what and where).

``check`` lives in `aistock_pipelines.cli.factors_check` (part B) and is registered on this group below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aistock_core.data.store import PARQUET_MAGIC, atomic_path, check_output_target
from aistock_core.errors import FactorError
from aistock_core.factors.engine import FactorEngine, compute_frame
from aistock_core.factors.parquet import write_factor_parquet
from aistock_pipelines.cli import factors_check
from aistock_pipelines.cli.calendar import parse_day
from aistock_pipelines.cli.data import _data_service
from aistock_pipelines.cli.render import kv_table, make_console

app = typer.Typer(help="Factors: compute Qlib expressions, check migrated factors.", no_args_is_help=True)


@app.command("compute")
def compute(
    provider_uri: Annotated[Path, typer.Option("--provider-uri", help="Qlib data directory (bins, qlib view)")],
    factors: Annotated[str, typer.Option(
        "--factors", help="alpha158, or NAME[,NAME...] with NAME an Alpha158 name or NAME=EXPRESSION")],
    out: Annotated[Path, typer.Option("--out", help="Parquet file to write")],
    market: Annotated[str, typer.Option("--market", help="instruments file of the directory: all, csi300")] = "all",
    start: Annotated[str | None, typer.Option("--start", help="first day written (YYYY-MM-DD)")] = None,
    end: Annotated[str | None, typer.Option("--end", help="last day written (YYYY-MM-DD)")] = None,
    force: Annotated[bool, typer.Option(help="Replace --out even if it is not a Parquet file")] = False,
) -> None:
    """Compute factors over a Qlib directory and write them to one Parquet file."""
    expressions = factors_check.resolve_expressions(factors, None)
    FactorEngine(expressions)  # parse everything before touching data: a bad factor writes nothing
    if out.suffix.lower() != ".parquet":
        raise FactorError(f"--out {out} must end in .parquet")
    out = out.expanduser().resolve()
    check_output_target(out, folder=False, force=force, magic=PARQUET_MAGIC)
    if not provider_uri.is_dir():
        raise FactorError(f"--provider-uri {provider_uri} is not a directory; point it at a Qlib data dir")
    service = _data_service(provider_uri)
    if market not in service.provider.markets():
        raise FactorError(
            f"market {market!r} has no instruments file in {provider_uri}; "
            f"available: {', '.join(service.provider.markets())}"
        )
    frame = compute_frame(
        service, market, expressions,
        start=None if start is None else parse_day(start, "--start"),
        end=None if end is None else parse_day(end, "--end"),
    )
    with atomic_path(out, force=force, magic=PARQUET_MAGIC) as tmp:
        write_factor_parquet(frame, tmp)
    dates = frame.index.get_level_values("datetime")
    make_console().print(kv_table({
        "factors": len(frame.columns),
        "rows": len(frame),
        "instruments": frame.index.get_level_values("instrument").nunique(),
        "days": f"{dates.min():%Y-%m-%d} .. {dates.max():%Y-%m-%d}" if len(frame) else "-",
        "written": str(out),
    }, title="factors compute"))


# part B's command, on this group (its options and behaviour are documented in factors_check)
app.command("check")(factors_check.check)
