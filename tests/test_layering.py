"""The arrows the README promises, checked on the source: which package may import which, and what the command
line imports before a command runs (a fast ``aistock --help`` is an import graph, not a timing)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(package: str) -> dict[str, set[str]]:
    """``file → modules it imports`` (absolute names, at any depth of the file) for every file under ``package``."""
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
        out[str(path.relative_to(ROOT))] = names
    return out


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{file} imports {name}" for file, names in imported_modules(package).items() for name in sorted(names)
            if any(name == f or name.startswith(f + ".") for f in forbidden)]


@pytest.mark.parametrize(("package", "forbidden"), [
    ("aistock_core", ("dagster", "aistock_pipelines")),
    ("aistock_core/research", ("aistock_core.strategy", "aistock_core.demo")),
    ("aistock_pipelines/defs", ("aistock_core.demo",)),
])
def test_imports_point_one_way(package, forbidden):
    assert offenders(package, forbidden) == []


#: Where the demo may be named: its own package, the configuration that picks it when nothing else is configured
#: (`aistock_core.specs`), and the demo command.
DEMO_IMPORTERS = ("aistock_core/demo/", "aistock_core/specs.py", "aistock_pipelines/demo.py",
                  "aistock_pipelines/cli/demo.py")


def test_production_code_does_not_read_demo_constants():
    found = offenders("aistock_core", ("aistock_core.demo",)) + offenders("aistock_pipelines", ("aistock_core.demo",))
    assert [line for line in found if not line.startswith(DEMO_IMPORTERS)] == []


def test_the_checker_sees_an_offending_import(tmp_path, monkeypatch):
    """The check above can fail: a file with a nested forbidden import is reported."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("def f():\n    from aistock_core.demo.export import REPLAY_TAG\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert offenders("pkg", ("aistock_core.demo",)) == ["pkg/mod.py imports aistock_core.demo.export"]


def test_the_command_line_imports_no_command_before_it_runs():
    """``aistock --help`` lists every command without importing any of them, pandas or Dagster."""
    script = ("import sys, json\nfrom aistock_pipelines.cli.main import app\n"
              "from typer.testing import CliRunner\n"
              "res = CliRunner().invoke(app, ['--help'])\n"
              "print(json.dumps({'out': res.output, 'modules': sorted(sys.modules)}))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    heavy = [m for m in result["modules"] if m.split(".")[0] in ("pandas", "dagster", "numba", "matplotlib",
                                                                  "sqlalchemy", "exchange_calendars")
             or (m.startswith("aistock_pipelines.cli.") and m != "aistock_pipelines.cli.main")]
    assert heavy == []
    from aistock_pipelines.cli.main import COMMANDS

    assert all(name in result["out"] for name in COMMANDS)


def test_a_score_file_backtest_loads_no_engine_it_does_not_run():
    """``aistock backtest`` replays a score file: loading it must not pull in the factor kernels (numba), the
    app database, Dagster or matplotlib (drawn lazily, once the chart is due) — each a few tenths of a second."""
    script = ("import sys, json\nfrom aistock_pipelines.cli.main import load_command\n"
              "load_command('backtest')\nprint(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    modules = json.loads(done.stdout.strip().splitlines()[-1])
    heavy = {m.split(".")[0] for m in modules} & {"numba", "dagster", "sqlalchemy", "matplotlib", "mlflow",
                                                   "lightgbm", "torch"}
    assert heavy == set()


def test_each_listed_help_line_is_the_commands_own():
    """The one-line help `COMMANDS` shows in ``aistock --help`` is the first line of the command's own help."""
    from aistock_pipelines.cli.main import COMMANDS, load_command

    for name, entry in COMMANDS.items():
        command = load_command(name)
        assert command.name == name
        assert (command.help or "").strip().splitlines()[0] == entry.help, name


def test_a_mistyped_command_is_refused_with_a_suggestion():
    from typer.testing import CliRunner

    from aistock_pipelines.cli.main import app

    result = CliRunner().invoke(app, ["backtst"])
    assert result.exit_code == 2 and "Did you mean 'backtest'?" in result.output
