"""Pipeline specs from configuration: a TOML file, else the demo's; mistakes name the file and the entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from aistock_core.config import Settings
from aistock_core.errors import ConfigError
from aistock_core.factors.alpha158 import alpha158_expressions
from aistock_core.specs import load_specs, read_specs_file

SPECS = """
targets = "equal"

[[backtest]]
name = "dropout"
strategy = { class = "TopkDropoutStrategy", kwargs = { topk = 30, n_drop = 3 } }
backtest = { account = 5000000, benchmark = "SH000905" }
sessions = 120
recorded_loop = ["run-1", 4]
tolerances = { "1day.excess_return_with_cost.mean" = [1e-4, 1e-7] }

[[backtest]]
name = "equal"
mode = "ashare"
strategy = { class = "topk-equal", kwargs = { topk = 10 } }
score_path = "/data/scores.parquet"

[[factor_set]]
name = "a158"
kind = "alpha158"

[[factor_set]]
name = "momentum"
expressions = { mom5 = "$close/Ref($close, 5) - 1" }
universe = ["600000.SH", "000001.SZ"]
lookback = 10
"""


def test_a_specs_file_names_backtests_factor_sets_and_the_targets_spec(tmp_path):
    path = tmp_path / "specs.toml"
    path.write_text(SPECS)
    specs = load_specs(Settings(specs_file=path))
    dropout, equal = specs.backtests
    assert (dropout.name, dropout.sessions, dropout.recorded_loop) == ("dropout", 120, ("run-1", 4))
    assert dropout.settings().benchmark == "000905.SH" and dropout.settings().account == 5e6
    assert dropout.tolerances == {"1day.excess_return_with_cost.mean": (1e-4, 1e-7)}
    assert (equal.mode, equal.score_path) == ("ashare", "/data/scores.parquet")
    assert specs.targets_spec() is equal
    a158, momentum = specs.factor_sets
    assert a158.name == "a158" and dict(a158.expressions) == alpha158_expressions() and a158.reference == "qlib"
    assert momentum.universe == ("600000.SH", "000001.SZ") and momentum.lookback == 10


def test_without_a_file_the_pipelines_run_the_demo():
    specs = load_specs(Settings(specs_file=None))
    assert [s.name for s in specs.backtests] == ["topk_dropout"] and specs.backtests[0].recorded_tag
    assert [s.name for s in specs.factor_sets] == ["alpha158_factors", "rdagent_factors"]
    names = [d.name for d in specs.previews]
    assert len(names) >= 10 and len(set(names)) == len(names) and [d.name for d in specs.paper] == ["demo-paper"]
    loops = [d.loop for d in specs.previews if d.loop]
    assert len(loops) == 5 and all(len(key.split("/")[0]) == 32 for key in loops), "RUN/LOOP of each demo loop"


def test_a_specs_file_declares_preview_and_paper_instances(tmp_path):
    path = tmp_path / "specs.toml"
    path.write_text("[[preview]]\nname = 'top20'\nmodel = 'lgb@champion'\nparams = {topk = 20, n_drop = 3}\n"
                    "[[paper]]\nname = 'paper'\ncapital = 500000\nloop = 'run/1'\n")
    specs = read_specs_file(path)
    (top20,), (paper,) = specs.previews, specs.paper
    assert (top20.model, top20.params, top20.capital) == ("lgb@champion", {"topk": 20, "n_drop": 3}, 1_000_000.0)
    assert (paper.capital, paper.loop, paper.model) == (500000, "run/1", None)


@pytest.mark.parametrize(("text", "message"), [
    ("[[backtest]]\nname = 'x'\n", "needs name and strategy"),
    ("[[backtest]]\nname = 'x'\nstrategy = {class = 'TopkDropoutStrategy'}\nwindow = 3\n", "unknown key(s) ['window']"),
    ("targets = 'nope'\n", "names no backtest"),
    ("[[backtest]]\nname = 'x'\nstrategy = {class = 'TopkDropoutStrategy', kwargs = {top_k = 5}}\n",
     "unknown kwarg(s) ['top_k']"),
    ("[[backtest]]\nname = 'x'\nstrategy = {class = 'TopkDropoutStrategy'}\nrecorded_loop = 3\n", "invalid entry"),
    ("[[factor_set]]\nname = 'x'\nkind = 'magic'\n", "kind 'magic'"),
    ("[[factor_set]]\nname = 'x'\nexpressions = {a = '$close'}\nreference = 'oracle'\n", "reference 'oracle'"),
    ("backtests = []\n", "unknown top-level key(s) ['backtests']"),
    ("[[backtest]\n", "cannot read it as TOML"),
    ("[[preview]]\nname = 'a'\ncapital = 0\n", "capital must be a positive amount"),
    ("[[preview]]\ncapital = 5\n", "needs name"),
    ("[[preview]]\nname = 'a'\n[[preview]]\nname = 'a'\n", "preview names must be unique"),
    ("[[paper]]\nname = 'p'\nparams = {topk = 5}\n", "unknown key(s) ['params']"),
])
def test_mistakes_are_config_errors_naming_the_file(tmp_path, text, message):
    path = tmp_path / "specs.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        read_specs_file(path)
    assert message in str(info.value)


def test_the_readme_example_is_a_valid_specs_file(tmp_path):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "specs.toml"
    path.write_text(block)
    specs = read_specs_file(path)
    assert [s.name for s in specs.backtests] == ["topk_dropout"] and specs.targets_spec().recorded_loop[1] == 3
    assert [s.name for s in specs.factor_sets] == ["alpha158_factors"]
