"""``aistock data export-qlib|show|snapshot``: make, inspect and query market data from a terminal.

``export-qlib`` writes the embedded synthetic market as a real Qlib directory, so everything downstream
(Qlib itself included) can be exercised on a laptop with no vendor data; ``show`` reads any Qlib directory
back through the same `DataService` the pipelines use (so what you see is what a factor sees);
``snapshot`` asks the configured source for the latest state of some instruments.
"""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from aistock_core.calendar import SESSION_TZ, TradingCalendar, exchange_today, xshg_calendar
from aistock_core.codes import to_internal
from aistock_core.config import get_settings
from aistock_core.data.factory import build_service
from aistock_core.data.fields import Adjust
from aistock_core.data.qlib_bin import QlibBinProvider, write_qlib_dir
from aistock_core.data.service import DataService
from aistock_core.data.store import check_output_target
from aistock_core.errors import DataError
from aistock_pipelines.cli.calendar import parse_day
from aistock_pipelines.cli.render import kv_table, make_console, print_frame

app = typer.Typer(help="Market data: export the synthetic market as Qlib bins, show bars, snapshots.",
                  no_args_is_help=True)

#: The markets every export writes: ``all`` and the CSI 300 stand-in research configs default to.
EXPORT_MARKETS = ("all", "csi300")


class AdjustView(StrEnum):
    """Price views (`aistock_core.data.fields.Adjust`) as the command line spells them."""

    qlib = "qlib"
    qfq = "qfq"
    none = "none"

    @property
    def adjust(self) -> Adjust:
        return None if self is AdjustView.none else self.value


def export_window(calendar: TradingCalendar, days: int, end: str | None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The last ``days`` sessions ending on ``end`` (the session on or before it).

    Default end: the last session before today, as `SyntheticMarket` defaults, or the calendar's last session
    once today is past its horizon (the market is simulated, so there is nothing later to wait for).
    """
    if end:
        end_day = calendar.last_session_on_or_before(parse_day(end, "--end"))
    else:
        end_day = calendar.last_session_before(exchange_today())
    start_day = calendar.offset(end_day, -(days - 1))
    return start_day, end_day


def _human_size(n_bytes: int) -> str:
    """``812 B``, ``45.3 KiB``, ``1.2 GiB``."""
    if n_bytes < 1024:
        return f"{n_bytes} B"
    size = float(n_bytes)
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            break
    return f"{size:,.1f} {unit}"


def _dir_size(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


@app.command("export-qlib")
def export_qlib(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write (replaced atomically).")],
    instruments: Annotated[int, typer.Option("--instruments", "-n", min=1, help="Stocks to simulate.")] = 300,
    days: Annotated[int, typer.Option("--days", "-d", min=1, help="Sessions to write, ending on --end.")] = 250,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic market (same seed, same data).")] = 7,
    end: Annotated[str | None, typer.Option(help="Last day (default: the last session before today).")] = None,
    force: Annotated[bool, typer.Option(help="Replace --out even if aistock did not write it.")] = False,
) -> None:
    """Write the synthetic market (N stocks, the last T sessions) as a Qlib directory: markets all, csi300."""
    from aistock_core.data.synthetic import SyntheticMarket

    out = out.expanduser().resolve()
    check_output_target(out, folder=True, force=force)
    settings = get_settings()
    calendar = xshg_calendar()
    start_day, end_day = export_window(calendar, days, end)
    # Simulate from the configured start (prices are path-dependent), so the export is a window of the same
    # market `aistock demo` and the pipelines see, and two exports with different --days agree where they overlap.
    simulate_from = min(parse_day(settings.synthetic_start, "AISTOCK_SYNTHETIC_START"), start_day)
    began = time.perf_counter()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
               "{task.total}"), TimeElapsedColumn())
    with Progress(*columns, console=make_console(stderr=True), transient=True) as progress:
        task = progress.add_task(f"simulating {instruments} stocks × {days} sessions", total=3)
        market = SyntheticMarket(seed=seed, n_instruments=instruments, start=f"{simulate_from:%Y-%m-%d}",
                                 end=f"{end_day:%Y-%m-%d}", calendar=calendar)
        progress.update(task, advance=1, description=f"writing Qlib bins to {out}")
        path = write_qlib_dir(DataService(market), out, start=start_day, end=end_day, markets=EXPORT_MARKETS,
                              force=force)
        progress.update(task, advance=1, description="reading the directory back")
        written = QlibBinProvider(path)
        members = {m: len(written.instruments(m)) for m in EXPORT_MARKETS}
        progress.update(task, advance=1)
    files, size = _dir_size(path)
    make_console().print(kv_table({
        "directory": str(path),
        "sessions": len(written.calendar),
        "from": written.calendar.first,
        "to": written.calendar.last,
        **{f"market {m}": f"{n:,} instruments" for m, n in members.items()},
        "fields": ", ".join(written.fields()),
        "files": files,
        "size": _human_size(size),
        "seed": seed,
        "seconds": f"{time.perf_counter() - began:.2f}",
    }, title="Qlib directory written"))


def _data_service(provider_uri: Path | None) -> DataService:
    """A Qlib directory when given, else the configured source (AISTOCK_DATA_SOURCE)."""
    if provider_uri is not None:
        return DataService(QlibBinProvider(provider_uri))
    return build_service(get_settings())


def _check_window(service: DataService, start: pd.Timestamp | None, end: pd.Timestamp | None) -> None:
    """Both bounds inside the data, with a message naming the data's range otherwise."""
    first, last = service.provider.data_range()
    covers = f"{service.provider.name} covers {first:%Y-%m-%d}..{last:%Y-%m-%d}"
    for option, day in (("--start", start), ("--end", end)):
        if day is not None and not first <= day <= last:
            raise DataError(f"{option} {day:%Y-%m-%d} is outside the data: {covers}")
    if start is not None and end is not None and start > end:
        raise DataError(f"--start {start:%Y-%m-%d} is after --end {end:%Y-%m-%d}")


@app.command()
def show(
    instrument: Annotated[str, typer.Option("--instrument", "-i", help="Code in any spelling: 600000.SH, sh600000.")],
    provider_uri: Annotated[Path | None, typer.Option(help="Qlib directory (default: the configured source).")] = None,
    start: Annotated[str | None, typer.Option(help="First day (default: the first day of the data).")] = None,
    end: Annotated[str | None, typer.Option(help="Last day (default: the last day of the data).")] = None,
    adjust: Annotated[AdjustView, typer.Option(help="qlib: price × factor; qfq: to the window's end; none: raw.")]
    = AdjustView.qlib,
    fields: Annotated[str | None, typer.Option(help="Comma-separated fields (default: all daily fields).")] = None,
    rows: Annotated[int, typer.Option(min=2, help="Rows to show (head and tail of a longer window).")] = 40,
) -> None:
    """Print one instrument's daily bars as a table."""
    code = to_internal(instrument)
    service = _data_service(provider_uri)
    start_day = parse_day(start, "--start") if start else None
    end_day = parse_day(end, "--end") if end else None
    _check_window(service, start_day, end_day)
    wanted = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
    frame = service.get_history_window([code], start=start_day, end=end_day, fields=wanted, adjust=adjust.adjust)
    if frame.empty:
        spans = service.provider.instrument_spans("all")
        listed = spans[spans["instrument"] == code]
        when = ", ".join(f"{s:%Y-%m-%d}..{e:%Y-%m-%d}" for s, e in zip(listed["start"], listed["end"], strict=True))
        raise DataError(f"{code} has no bars in the requested window of {service.provider.name}; listed {when}")
    frame = frame.droplevel("instrument")
    print_frame(frame, console=make_console(), max_rows=rows,
                title=f"{code} daily bars ({adjust.value}) from {service.provider.name}")


def _parse_moment(text: str | None) -> pd.Timestamp | None:
    """``--at``: a date or a date and time; naive means Shanghai time."""
    if text is None:
        return None
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError) as exc:
        raise DataError(f"cannot read --at {text!r} as a time; write e.g. '2024-06-03 10:15'") from exc
    return stamp.tz_localize(SESSION_TZ) if stamp.tzinfo is None else stamp.tz_convert(SESSION_TZ)


@app.command()
def snapshot(
    codes: Annotated[list[str], typer.Argument(help="Instrument codes, any spelling.")],
    at: Annotated[str | None, typer.Option(help="Moment (Shanghai time if naive); default now.")] = None,
) -> None:
    """Latest quote per instrument from the configured source (raw prices), with the change vs prev close."""
    service = build_service(get_settings())
    frame = service.get_realtime_snapshot([to_internal(c) for c in codes], at=_parse_moment(at))
    frame = frame.assign(pct=frame["close"] / frame["prev_close"] - 1)
    print_frame(frame, console=make_console(), signed=["pct"], formats={"pct": "{:+.2%}"},
                title=f"Snapshot from {service.provider.name}")
