"""``aistock models``: train a Qlib workflow config, score with a registered model, inspect and promote.

The tracking store is `Settings.tracking_uri` (SQLite under AISTOCK_HOME unless MLFLOW_TRACKING_URI says
otherwise). LightGBM and MLflow are imported inside the commands: the CLI must start fast. Read commands
take ``--json`` and then print pure JSON on stdout.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from aistock_core.config import get_settings
from aistock_core.errors import ModelError
from aistock_pipelines.cli.render import kv_table, make_console, print_frame

app = typer.Typer(help="Train, score, list and promote models (Qlib workflow configs, MLflow registry).",
                  no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


def _service(provider_uri: str | None):
    from aistock_core.data.factory import build_service
    from aistock_core.data.qlib_bin import QlibBinProvider
    from aistock_core.data.service import DataService

    if provider_uri:
        path = Path(provider_uri).expanduser()
        if not path.is_dir():
            raise ModelError(f"provider uri {path} is not a directory (expected a Qlib data dir)")
        return DataService(QlibBinProvider(path))
    return build_service(get_settings())


@app.command("train")
def train_cmd(
    config: Annotated[Path, typer.Option("--config", help="Qlib workflow YAML (task.model, task.dataset).")],
    out: Annotated[Path, typer.Option("--out", help="Output directory (pred.parquet, metrics.json).")],
    provider_uri: Annotated[str | None, typer.Option("--provider-uri", help="Qlib dir; overrides qlib_init.")] = None,
    experiment: Annotated[str, typer.Option("--experiment", help="MLflow experiment.")] = "aistock",
    register: Annotated[str | None, typer.Option("--register", help="Register as this model name.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Train the workflow's model Qlib-exactly, log it to MLflow, write the test segment's scores."""
    from aistock_core.models.config import load_workflow
    from aistock_core.models.tracking import log_training
    from aistock_core.models.train import train

    spec = load_workflow(config)
    if out.exists() and not (out / "metrics.json").exists():
        raise ModelError(f"--out {out} exists and was not written by `aistock models train`; choose another path")
    uri = provider_uri or (None if get_settings().data_source == "synthetic" and spec.provider_uri is None
                           else spec.provider_uri)
    result = train(spec, _service(uri))
    pred = result.test_predictions()  # before any MLflow write: a missing test segment changes nothing
    settings = get_settings()
    logged = log_training(result, uri=settings.tracking_uri, experiment=experiment, model_name=register,
                          artifact_root=settings.artifact_root)
    summary = {"run_id": logged.run_id, "experiment_id": logged.experiment_id, "registered_version":
               logged.version, "failed_checks": logged.failed_checks, "metrics": result.metrics,
               "best_iteration": result.model.best_iteration, "window": result.window,
               "data_fingerprint": result.data_fingerprint}
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent if out.parent.exists() else None))
    pred.to_parquet(tmp / "pred.parquet", index=False)
    (tmp / "metrics.json").write_text(json.dumps(summary, indent=1))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    if json_out:
        typer.echo(json.dumps(summary))
        return
    console = make_console()
    console.print(kv_table({"run id": logged.run_id, "version": logged.version or "-", "rows": len(pred),
                            **{f"{k} ({seg})": v for seg, m in result.metrics.items() for k, v in m.items()}},
                           title=f"trained {spec.model.name} → {out}"))


@app.command("predict")
def predict_cmd(
    model: Annotated[str, typer.Option("--model", help="NAME, NAME@alias or NAME/version.")],
    out: Annotated[Path, typer.Option("--out", help="Parquet file: datetime, instrument, score.")],
    date: Annotated[str | None, typer.Option("--date", help="One trading day.")] = None,
    start: Annotated[str | None, typer.Option("--start")] = None,
    end: Annotated[str | None, typer.Option("--end")] = None,
    provider_uri: Annotated[str | None, typer.Option("--provider-uri", help="Qlib dir (default: settings).")] = None,
    force: Annotated[bool, typer.Option(help="Replace --out even if it is not a Parquet file.")] = False,
) -> None:
    """Score days with a registered model (its handler's features, its fitted processors)."""
    from aistock_core.data.store import PARQUET_MAGIC, atomic_path, check_output_target
    from aistock_core.models.scoring import ServedModel
    from aistock_pipelines.cli.calendar import parse_day

    if (date is None) == (start is None or end is None):
        raise ModelError("give --date D, or both --start and --end")
    if date:
        first = last = parse_day(date, "--date")
    else:
        first, last = parse_day(start, "--start"), parse_day(end, "--end")
    out = out.expanduser().resolve()
    check_output_target(out, folder=False, force=force, magic=PARQUET_MAGIC)  # before the work, not after it
    served = ServedModel.load(get_settings().tracking_uri, model)
    scores = served.score(_service(provider_uri), first, last)
    with atomic_path(out, force=force, magic=PARQUET_MAGIC) as tmp:
        scores.reset_index().to_parquet(tmp, index=False)
    make_console(stderr=True).print(f"{len(scores)} scores from {served.name} v{served.version} → {out}")


def _versions(c, name: str) -> list[dict]:
    return [{"name": v.name, "version": str(v.version), "run_id": v.run_id, "aliases": list(v.aliases),
             "created": v.creation_timestamp}
            for v in sorted(c.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))]


@app.command("list")
def list_cmd(json_out: JsonFlag = False) -> None:
    """Registered models with their aliases."""
    import pandas as pd

    from aistock_core.models.tracking import client, store_exists

    uri = get_settings().tracking_uri
    c = client(uri) if store_exists(uri) else None
    rows = [] if c is None else [{"name": m.name, "aliases": {k: str(v) for k, v in m.aliases.items()},
                                  "versions": len(c.search_model_versions(f"name='{m.name}'"))}
                                 for m in c.search_registered_models()]
    if json_out:
        typer.echo(json.dumps(rows))
        return
    print_frame(pd.DataFrame(rows, columns=["name", "aliases", "versions"]).astype(str), console=make_console())


@app.command("show")
def show_cmd(name: str, json_out: JsonFlag = False) -> None:
    """Versions of one registered model, with run ids and aliases."""
    import pandas as pd

    from aistock_core.models.tracking import client, require_store

    uri = get_settings().tracking_uri
    require_store(uri, name)
    rows = _versions(client(uri), name)
    if not rows:
        raise ModelError(f"model {name!r} is not in the registry; see `aistock models list`")
    if json_out:
        typer.echo(json.dumps(rows))
        return
    print_frame(pd.DataFrame(rows).astype(str), console=make_console())


@app.command("promote")
def promote_cmd(name: str, version: str, alias: Annotated[str, typer.Option(help="Alias to set.")] = "champion",
                ) -> None:
    """Point an alias (default champion) at a version."""
    from aistock_core.models.tracking import client, promote, require_store

    uri = get_settings().tracking_uri
    require_store(uri, f"{name}/{version}")
    promote(client(uri), name, version, alias)
    make_console(stderr=True).print(f"{name}@{alias} → version {version}")


@app.command("select")
def select_cmd(
    loop: Annotated[str, typer.Option("--loop", help="The research loop, <task_run_id>/<loop_id>.")],
    date: Annotated[str, typer.Option("--date", help="The trading day whose close the scores use.")],
    universe: Annotated[str | None, typer.Option("--universe", help="Market or instrument list name "
                                                                    "(default: settings' market).")] = None,
    source: Annotated[str, typer.Option("--source", help="auto (exported model if the loop has one, else our "
                                                         "retrain), exported or retrained.")] = "auto",
    retrain: Annotated[bool, typer.Option("--retrain", help="Retrain the loop's workflow on our data and register "
                                                            "it first.")] = False,
    limit: Annotated[int, typer.Option("--limit", help="Rows in the table (JSON lists every candidate).")] = 30,
    provider_uri: Annotated[str | None, typer.Option("--provider-uri", help="Qlib dir (default: settings).")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Stock selection for a loop: score, rank and target weight from the loop's own model and strategy block."""
    import pandas as pd

    from aistock_core.db import Database
    from aistock_core.models import loops
    from aistock_core.research.bundles import BlobStore
    from aistock_core.research.defaults import blob_root

    settings = get_settings()
    entry = loops.load_loop(Database(settings.sqlalchemy_url), loop, BlobStore(blob_root(settings)))
    service = _service(provider_uri)
    day = loops.check_session(service, date)
    market = universe or settings.market
    if retrain:
        loops.retrain(service, entry, uri=settings.tracking_uri, artifact_root=settings.artifact_root)
    scored = loops.loop_scores(service, entry, day, market, uri=settings.tracking_uri, source=source)
    table = loops.select(service, entry, scored, day, market)
    if json_out:
        typer.echo(json.dumps({
            "loop": entry.key, "date": f"{day:%Y-%m-%d}", "universe": market, "source": scored.source,
            "model": scored.model, "strategy": entry.strategy,
            "candidates": [{"instrument": k, **{c: (int(v) if c == "rank" else float(v)) for c, v in row.items()}}
                           for k, row in table.iterrows()]}))
        return
    chosen = table[table["weight"] > 0]
    shown = pd.concat([chosen, table.head(limit)]).pipe(lambda t: t[~t.index.duplicated()]).sort_values("rank")
    console = make_console()
    console.print(kv_table({"loop": entry.key, "date": f"{day:%Y-%m-%d}", "universe": market,
                            "model": f"{scored.source}: {scored.model}", "strategy": entry.strategy.get("class"),
                            "candidates": len(table), "selected": len(chosen),
                            "weight": f"{chosen['weight'].sum():.4f}"}, title="selection"))
    print_frame(shown.reset_index(), console=console)
