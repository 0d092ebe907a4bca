"""Options and arguments several command modules declare the same way (light: no pandas)."""

from __future__ import annotations

from typing import Annotated

import typer

#: The largest row id the databases store (a signed 64-bit integer): a longer number names no row, and the
#: drivers cannot even send it, so the command line refuses it as a usage error.
MAX_ROW_ID = 2**63 - 1

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
PreviewId = Annotated[int, typer.Argument(min=1, max=MAX_ROW_ID, help="Instance id.")]
