"""``aistock demo``: one command from a fresh checkout to a populated Dagster instance.

Builds the configured market (the synthetic one by default), then materialises every asset of the project's
`Definitions` for the most recent trading days (`aistock_pipelines.demo`), with a progress bar, and ends with a
summary of what was written and where to look next.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import dagster as dg
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import make_url

from aistock_core.config import get_settings
from aistock_pipelines.cli.render import kv_table, make_console
from aistock_pipelines.demo import AssetOutcome, DemoReport, Stage, key_figures, plan_size, run_demo
from aistock_pipelines.resources import DataServiceResource

#: The DAGSTER_HOME the Makefile's ``ui`` target serves (relative to the working directory).
MAKE_UI_HOME = Path(".aistock") / "dagster"
#: The checkout's workspace (code location ``aistock``), when running from a source checkout.
WORKSPACE = Path(__file__).resolve().parents[2] / "workspace.yaml"

Days = Annotated[int, typer.Option("--days", min=1, help="Trading days to materialise for partitioned assets.")]


def demo(days: Days = 5) -> None:
    """Materialise every asset (partitioned ones for the last --days trading days) into the local instance."""
    from aistock_pipelines.definitions import defs  # imported here: loading the graph is not free

    settings = get_settings()
    console = make_console()
    with console.status("building the market data service"):
        # Through the resource: the runs below then reuse this very market (cached per process when synthetic).
        service = DataServiceResource().get_service()
        first, last = service.provider.data_range()
    console.print(f"data: {service.provider.name} ({first:%Y-%m-%d}..{last:%Y-%m-%d})")

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        task = progress.add_task("materialising", total=plan_size(defs, days, last))

        def on_run(index: int, stage: Stage, partition: str | None) -> None:
            label = stage.label + (f" @ {partition}" if partition else "")
            progress.update(task, completed=index, description=label)

        report = run_demo(defs, settings, days=days, last_day=last, on_run=on_run)
        progress.update(task, completed=progress.tasks[0].total, description="done")
    _print_summary(report, settings.sqlalchemy_url, settings.store_dir)


def _print_summary(report: DemoReport, db_url: str, store_dir: Path) -> None:
    console = make_console()
    table = Table(title="materialised assets", title_justify="left")
    table.add_column("asset", style="bold")
    table.add_column("partitions")
    table.add_column("key figures (last partition)")
    for outcome in report.assets.values():
        parts = outcome.partitions
        span = "—" if not parts else (parts[0] if len(parts) == 1 else f"{parts[0]}..{parts[-1]} ({len(parts)})")
        table.add_row(outcome.key.to_user_string(), span, Text("  ".join(key_figures(outcome.metadata))))
    console.print(table)
    for check in _latest_checks(report):
        style = "green" if check.passed else ("yellow" if check.severity.value == "WARN" else "red")
        verdict = "passed" if check.passed else check.severity.value.lower()
        text = f"check {check.asset_check_key.name} on {check.asset_key.to_user_string()}: {verdict}"
        console.print(Text(text + (f" ({check.description})" if check.description else ""), style=style))
    _print_preview(console, report)
    console.print(kv_table({
        "runs": len(report.run_ids),
        "dagster instance": str(report.dagster_home),
        "parquet store": str(store_dir),
        "app database": make_url(db_url).render_as_string(hide_password=True),
        "LiveFeedback + ExperimentRequests": str(get_settings().feedback_root),
        "optimizer proposals (none applied)": "aistock loop proposals",
    }, title="where to look next"))
    # Commands on lines of their own, never folded, so they can be copied as they are. `make ui` serves
    # ./.aistock/dagster, so it is offered only when that is where the runs went.
    console.print("see the runs and the asset graph:")
    if report.dagster_home == (Path.cwd() / MAKE_UI_HOME).resolve():
        console.print("  make ui")
    # From inside DAGSTER_HOME (`dagster dev` warns about a repository's dagster.yaml in its working directory).
    target = f"-w {WORKSPACE}" if WORKSPACE.is_file() else "-m aistock_pipelines.definitions"
    console.print(Text(f"  cd {report.dagster_home} && AISTOCK_HOME={get_settings().resolved_home} "
                       f"DAGSTER_HOME={report.dagster_home} dagster dev {target}"), soft_wrap=True)


def _print_preview(console, report: DemoReport) -> None:
    """The preview instances' NAV table and where their comparison page is (the ``preview_report`` asset)."""
    outcome = report.assets.get(dg.AssetKey("preview_report"))
    if outcome is None or "html" not in outcome.metadata:
        return
    console.print(Text(f"preview instances (NAV and KPIs to {report_day(outcome)}):"))
    console.print(Text(str(outcome.metadata["kpis"].value)), soft_wrap=True)
    console.print(Text(f"preview report (open in a browser): {outcome.metadata['html'].value}"), soft_wrap=True)


def report_day(outcome: AssetOutcome) -> str:
    day = outcome.metadata.get("last_day")
    return str(day.value) if day is not None else "the last settled day"


def _latest_checks(report: DemoReport) -> list[dg.AssetCheckEvaluation]:
    """One evaluation per check (the last run's): the summary states where things stand now."""
    latest: dict[dg.AssetCheckKey, dg.AssetCheckEvaluation] = {}
    for evaluation in report.checks:
        latest[evaluation.asset_check_key] = evaluation
    return list(latest.values())


__all__ = ["demo"]
