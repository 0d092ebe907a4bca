"""``aistock``: entry point; each command group lives in its own module and is registered here."""

import typer

app = typer.Typer(help="AIstock pipelines: run research results for real on A-shares.", no_args_is_help=True)

if __name__ == "__main__":
    app()
