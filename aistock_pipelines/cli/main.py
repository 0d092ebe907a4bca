"""``aistock``: entry point; each command group lives in its own module and is registered here.

Two things every command gets from here rather than doing itself:

- errors: an `AistockError` is the project telling the user something they can fix (a wrong code, a date
  outside the data, a missing directory), so it is printed as one red line on stderr with exit code 2 and no
  traceback. Anything else is a bug and keeps its traceback.
- the calendar horizon: exchange_calendars only knows holidays a year or so ahead; when fewer than 30 days
  of authoritative future remain, every command warns on stderr (never on stdout, so ``--json`` output stays
  pure JSON), long before schedules would stop on the horizon.
"""

from __future__ import annotations

import typer
from click import Context
from rich.text import Text
from typer.core import TyperGroup

from aistock_core.calendar import exchange_today, xshg_calendar
from aistock_core.errors import AistockError, CalendarError
from aistock_pipelines.cli import alerts as alerts_cli
from aistock_pipelines.cli import backtest as backtest_cli
from aistock_pipelines.cli import calendar as calendar_cli
from aistock_pipelines.cli import catalog as catalog_cli
from aistock_pipelines.cli import data as data_cli
from aistock_pipelines.cli import demo as demo_cli
from aistock_pipelines.cli import factors as factors_cli
from aistock_pipelines.cli.render import make_console

#: Exit status of a command stopped by an `AistockError` (bad input or environment, not a crash).
USER_ERROR_EXIT = 2


def report_error(exc: AistockError) -> None:
    """Print ``exc`` as one red line on stderr (as text, so brackets in the message are not rich markup)."""
    message = " ".join(str(exc).split()) or "(no message)"
    line = Text(f"error ({type(exc).__name__}): {message}", style="bold red")
    make_console(stderr=True).print(line, soft_wrap=True)


class AistockGroup(TyperGroup):
    """The root group: turns an `AistockError` raised anywhere below it into `report_error` + exit 2."""

    def invoke(self, ctx: Context):
        try:
            return super().invoke(ctx)
        except AistockError as exc:
            report_error(exc)
            raise typer.Exit(USER_ERROR_EXIT) from None


app = typer.Typer(
    cls=AistockGroup,
    help="AIstock pipelines: run research results for real on A-shares.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def warn_if_calendar_ends_soon() -> None:
    """The horizon warning of `TradingCalendar.horizon_warning`, on stderr (never stdout), when one is due.

    A calendar that cannot be built (a malformed holiday file) is only a warning here: the commands that need
    the calendar fail with the full message, and ``calendar holidays verify|add`` stay usable to fix it.
    """
    try:
        warning = xshg_calendar().horizon_warning(exchange_today())
    except CalendarError as exc:
        warning = str(exc)
    if warning:
        make_console(stderr=True).print(Text(f"warning: {warning}", style="yellow"), soft_wrap=True)


@app.callback()
def aistock() -> None:
    """AIstock pipelines: run research results for real on A-shares."""
    warn_if_calendar_ends_soon()


app.add_typer(data_cli.app, name="data")
app.add_typer(calendar_cli.app, name="calendar")
app.add_typer(catalog_cli.app, name="catalog")
app.add_typer(factors_cli.app, name="factors")
app.add_typer(alerts_cli.app, name="alerts")
app.command("demo")(demo_cli.demo)
app.command("backtest")(backtest_cli.backtest)

if __name__ == "__main__":
    app()
