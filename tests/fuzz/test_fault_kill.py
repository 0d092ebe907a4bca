"""Each writing command SIGKILLed part-way, then run again: the rerun succeeds and leaves exactly what an
uninterrupted run leaves (issue 15). ``catalog sync`` on a fresh home includes the first migration; it also
runs on PostgreSQL. Kill points are spread over the command's own duration; the benchmark draws many more."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.xdist_group("fuzz")

#: Fractions of an uninterrupted run's duration at which the command is killed.
KILL_AT = (0.25, 0.6)


def _duration(harness, world, command, work) -> float:
    work.mkdir(parents=True)
    outcome = harness.run_cli(command.argv(world, work), {"AISTOCK_HOME": str(work / "home")}, work)
    assert outcome.exit_code == 0, outcome.stderr + outcome.error
    return outcome.seconds


@pytest.mark.parametrize("index", range(4), ids=["catalog-sync", "export-qlib", "backtest", "factors-compute"])
def test_a_killed_writing_command_reruns_to_the_same_data(harness, fuzz_world, tmp_path, index):
    world, _ = fuzz_world
    command = harness.writing_commands()[index]
    window = _duration(harness, world, command, tmp_path / "timing")
    for k, fraction in enumerate(KILL_AT):
        ok, detail = harness.kill_and_rerun(world, command, window * fraction, tmp_path / f"kill{k}")
        assert ok, f"{command.name} killed at {fraction:.0%} of {window:.2f} s: {detail}"


@pytest.mark.postgres
def test_a_killed_first_sync_on_postgres_reruns_to_the_same_data(harness, fuzz_world, pg_url, tmp_path):
    world, _ = fuzz_world
    new_db, cleanup = harness.pg_schemas(pg_url.partition("?")[0], "t")
    command = harness.writing_commands()[0]
    try:
        for k, delay in enumerate((0.3, 0.8)):
            ok, detail = harness.kill_and_rerun(world, command, delay, tmp_path / f"kill{k}", new_db)
            assert ok, f"{command.name} on PostgreSQL killed at {delay} s: {detail}"
    finally:
        cleanup()
