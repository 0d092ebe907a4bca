"""``aistock``: entry point; each command group lives in its own module and is registered here.

Two things every command gets from here rather than doing itself:

- errors: an `AistockError` is the project telling the user something they can fix (a wrong code, a date
  outside the data, a missing directory), so it is printed as one red line on stderr with exit code 2 and no
  traceback; so is a usage error click finds on the command line (a missing option, a value that is not a
  number), in the same shape. Anything else is a bug and keeps its traceback.
- the calendar horizon: exchange_calendars only knows holidays a year or so ahead; when fewer than 30 days
  of authoritative future remain, every command warns on stderr (never on stdout, so ``--json`` output stays
  pure JSON), long before schedules would stop on the horizon.

Commands are loaded lazily: `COMMANDS` names the module of each, and a module is imported only when its
command runs (or its own ``--help`` is asked for). ``aistock --help`` thus imports neither pandas nor Dagster,
and ``aistock backtest`` does not pay for Dagster, SQLAlchemy or the factor kernels it never uses. A command may
also name work to start before any of that is imported (`LazyCommand.prepare`, fetched with `prepared`): the
backtest's chart process imports matplotlib on the other core while the command imports pandas and runs.
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys
import threading
from typing import Any, NamedTuple, NoReturn

import typer
from click import Context
from rich.text import Text
from typer.core import TyperCommand, TyperGroup

from aistock_core.errors import AistockError, CalendarError

#: Exit status of a command stopped by an `AistockError` (bad input or environment, not a crash).
USER_ERROR_EXIT = 2
#: Click's usage error as raised by the click typer runs on (recent typers vendor their own copy of click).
UsageError: type[Exception] = typer.BadParameter.__base__
#: Raised by a group called without arguments to show its help (click ≥ 8.2): left to click.
NoArgsIsHelpError = getattr(importlib.import_module(UsageError.__module__), "NoArgsIsHelpError", ())


def report_error(exc: AistockError | UsageError) -> None:
    """Print ``exc`` as one red line on stderr (as text, so brackets in the message are not rich markup); a usage
    error also names the command's ``--help``."""
    from aistock_pipelines.cli.render import make_console  # imported here: render pulls in pandas

    text = str(exc)
    if isinstance(exc, UsageError):
        text = exc.format_message() + (f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else "")
    message = " ".join(text.split()) or "(no message)"
    line = Text(f"error ({type(exc).__name__}): {message}", style="bold red")
    make_console(stderr=True).print(line, soft_wrap=True)


class LazyCommand(NamedTuple):
    """Where a command lives: ``module.attribute`` is a `typer.Typer` (a group) or a command function."""

    module: str
    attribute: str
    help: str
    #: ``module:attribute`` of a light factory (it must not import pandas) whose result, a context manager, is
    #: created before the command's module is imported and closed when the command ends, however it ends.
    prepare: str | None = None
    #: End the process as soon as the command is done (`AistockTyper`): for a command that leaves no thread,
    #: open file or pending cleanup behind, so the interpreter's teardown is not worth waiting for. True: the
    #: command; a tuple: those sub-commands of a group.
    exit_fast: bool | tuple[str, ...] = False


#: Every command, in the order ``aistock --help`` lists them; ``help`` is the one line shown there (a test
#: checks it against the command's own help, so the two cannot drift apart).
COMMANDS: dict[str, LazyCommand] = {
    "data": LazyCommand("aistock_pipelines.cli.data", "app",
                        "Market data: export the synthetic market as Qlib bins, show bars, snapshots."),
    "calendar": LazyCommand("aistock_pipelines.cli.calendar", "app", "Trading calendar: sessions, holidays, horizon."),
    "catalog": LazyCommand("aistock_pipelines.cli.catalog", "app",
                           "Research catalogs from RD-Agent: sync, browse, mark candidates."),
    "factors": LazyCommand("aistock_pipelines.cli.factors", "app",
                           "Factors: compute Qlib expressions, check migrated factors.", exit_fast=("compute",)),
    "demo": LazyCommand("aistock_pipelines.cli.demo", "demo",
                        "Materialise every asset (partitioned ones for the last --days trading days) into the "
                        "local instance."),
    "backtest": LazyCommand("aistock_pipelines.cli.backtest", "backtest",
                            "Backtest a score file; print the KPIs and write the outputs.",
                            prepare="aistock_core.strategy.backtest.chart_process:NavChartProcess",
                            exit_fast=True),
    "preview": LazyCommand("aistock_pipelines.cli.preview", "app",
                           "Strategy preview: virtual accounts traded on live prices."),
    "models": LazyCommand("aistock_pipelines.cli.models", "app",
                          "Train, score, list and promote models (Qlib workflow configs, MLflow registry)."),
    "trade": LazyCommand("aistock_pipelines.cli.trade", "app",
                         "Trading instances: plan, run, status, reconcile, halt, resume, approve."),
    "alerts": LazyCommand("aistock_pipelines.cli.alerts", "app",
                          "Monitoring alerts: channels, daemon heartbeat, delivery history."),
    "feedback": LazyCommand("aistock_pipelines.cli.feedback", "app",
                            "LiveFeedback to research: build feedback files and ExperimentRequests."),
    "loop": LazyCommand("aistock_pipelines.cli.loop", "app",
                        "The closed loop: instances, signals, evaluations, optimizer proposals and their approval."),
}


def load_command(name: str) -> TyperCommand | TyperGroup:
    """Import the module of command ``name`` and build its click command (a group for a `typer.Typer`)."""
    where = COMMANDS[name]
    target = getattr(importlib.import_module(where.module), where.attribute)
    if not isinstance(target, typer.Typer):
        target = typer.Typer()
        target.command(name)(getattr(importlib.import_module(where.module), where.attribute))
    command = typer.main.get_command(target)
    command.name = name
    return command


#: Where `start_prepared` keeps what it started (``ctx.meta``, shared by a context and its children), by command.
PREPARED_META = "aistock.prepared"


def start_prepared(ctx: Context, name: str, args: list[str]) -> None:
    """Start command ``name``'s `LazyCommand.prepare` (not for its ``--help``); ``ctx`` closes it at its end.

    What is prepared only saves time, so a start that fails for the operating system (no process could be
    spawned) leaves nothing prepared and the command does that work itself.
    """
    factory = COMMANDS[name].prepare
    if factory is None or "--help" in args:
        return
    module, _, attribute = factory.partition(":")
    try:
        resource = getattr(importlib.import_module(module), attribute)()
    except OSError:
        return
    ctx.meta.setdefault(PREPARED_META, {})[name] = ctx.with_resource(resource)


def prepared(ctx: Context, name: str) -> Any:
    """What `start_prepared` started for command ``name`` (``ctx``: the command's context), or None when nothing
    was (the command invoked without the root group)."""
    return ctx.meta.get(PREPARED_META, {}).get(name)


class AistockGroup(TyperGroup):
    """The root group: loads commands lazily (`COMMANDS`) and turns an `AistockError` or a usage error raised
    anywhere below it into `report_error` + exit 2 (a group called without arguments still shows its help)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        # Stand-ins carrying only the name and the one-line help: enough to list the commands (and suggest one
        # for a typo) without importing them.
        self.commands.update({name: TyperCommand(name, help=entry.help) for name, entry in COMMANDS.items()})

    def resolve_command(self, ctx: Context, args: list[str]):
        """The real command, imported now that it is about to run (``self.commands`` holds stand-ins)."""
        name, _, rest = super().resolve_command(ctx, args)
        start_prepared(ctx, name, rest)
        return name, load_command(name), rest

    def invoke(self, ctx: Context):
        try:
            return super().invoke(ctx)
        except NoArgsIsHelpError:
            raise
        except (AistockError, UsageError) as exc:
            report_error(exc)
            raise typer.Exit(USER_ERROR_EXIT) from None


class AistockTyper(typer.Typer):
    """The root app. Run as the process's entry point (``aistock``), a command marked `LazyCommand.exit_fast`
    ends the process as soon as it is done (`end_process`): the interpreter's teardown, freeing every module of
    pandas, pyarrow and the rest one by one, costs about 0.1 s that nobody waits for on purpose. Tests invoke
    the group through `CliRunner`, not through here, so they keep their process."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except SystemExit as exc:
            words = kwargs.get("args") or (args[0] if args else None) or sys.argv[1:]
            if exits_fast([word for word in words if not word.startswith("-")]) and threading.active_count() == 1:
                end_process(exc.code)
            raise


def exits_fast(names: list[str]) -> bool:
    """Whether the command line's command (``names``: its words that are not options) is `LazyCommand.exit_fast`."""
    command = COMMANDS.get(names[0]) if names else None
    if command is None or isinstance(command.exit_fast, bool):
        return bool(command and command.exit_fast)
    return len(names) > 1 and names[1] in command.exit_fast


def end_process(code: object) -> NoReturn:
    """``sys.exit(code)`` without the interpreter's teardown: the exit handlers run (logging's among them) and
    stdout/stderr are flushed, then the process ends at once."""
    if code is None or isinstance(code, int):
        status = code or 0
    else:  # sys.exit("message"): Python prints it and exits with 1
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


app = AistockTyper(
    cls=AistockGroup,
    help="AIstock pipelines: run research results for real on A-shares.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def warn_if_calendar_ends_soon() -> None:
    """The horizon warning of `TradingCalendar.horizon_warning`, on stderr (never stdout), when one is due
    (`aistock_core.calendar.xshg.horizon_warning`: the same words without building the session index),
    remembered for the day (`aistock_core.calendar.horizon_cache`: no exchange_calendars import after the first).

    A calendar that cannot be built (a malformed holiday file) is only a warning here: the commands that need
    the calendar fail with the full message, and ``calendar holidays verify|add`` stay usable to fix it.
    """
    from aistock_core.calendar import exchange_today  # imported here: pandas is not free
    from aistock_core.calendar.horizon_cache import cached_horizon_warning
    from aistock_pipelines.cli.render import make_console

    try:
        warning = cached_horizon_warning(exchange_today())
    except CalendarError as exc:
        warning = str(exc)
    if warning:
        make_console(stderr=True).print(Text(f"warning: {warning}", style="yellow"), soft_wrap=True)


@app.callback()
def aistock() -> None:
    """AIstock pipelines: run research results for real on A-shares."""
    warn_if_calendar_ends_soon()


if __name__ == "__main__":
    app()
