"""Outputs replace only what aistock wrote (issue 15, finding 1): `atomic_path` and `check_output_target`."""

from __future__ import annotations

import pytest

from aistock_core.data.store import OUTPUT_MARKER, PARQUET_MAGIC, atomic_path, check_output_target
from aistock_core.errors import DataError


def _tree(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _write_folder(target, force: bool = False, name: str = "a.txt") -> None:
    with atomic_path(target, force=force) as tmp:
        tmp.mkdir()
        (tmp / name).write_text("new")


def test_a_folder_of_someone_elses_files_is_never_replaced(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("years of work")
    before = _tree(tmp_path)
    with pytest.raises(DataError, match="not written by aistock"):
        _write_folder(foreign)
    assert _tree(tmp_path) == before  # nothing deleted, no temporary sibling left


def test_an_output_folder_of_ours_is_replaced_and_marked(tmp_path):
    out = tmp_path / "out"
    _write_folder(out, name="first.txt")
    assert (out / OUTPUT_MARKER).is_file()
    _write_folder(out, name="second.txt")
    assert sorted(p.name for p in out.iterdir()) == [OUTPUT_MARKER, "second.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    _write_folder(empty)  # an empty folder holds nothing to lose
    assert (empty / "a.txt").read_text() == "new"


def test_force_replaces_a_foreign_folder(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "x").write_text("x")
    _write_folder(foreign, force=True)
    assert sorted(p.name for p in foreign.iterdir()) == [OUTPUT_MARKER, "a.txt"]


def test_the_working_directory_and_its_parents_are_never_replaced_even_with_force(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / OUTPUT_MARKER).write_text("")  # even a folder we once wrote, when it is where the user stands
    (work / "code.py").write_text("print(1)")
    monkeypatch.chdir(work)
    before = _tree(tmp_path)
    for target in (work, tmp_path):
        with pytest.raises(DataError, match="working directory"):
            _write_folder(target, force=True)
    assert _tree(tmp_path) == before


def test_a_file_never_replaces_a_folder_nor_a_folder_a_file(tmp_path):
    folder = tmp_path / "f.parquet"
    folder.mkdir()
    with pytest.raises(DataError, match="is a directory"), atomic_path(folder, force=True) as tmp:
        tmp.write_bytes(PARQUET_MAGIC)
    a_file = tmp_path / "out"
    a_file.write_text("notes")
    with pytest.raises(DataError, match="is a file"):
        _write_folder(a_file, force=True)
    assert a_file.read_text() == "notes" and folder.is_dir() and not any(folder.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.parquet", "out"]


def test_a_file_output_replaces_only_a_file_of_its_own_format(tmp_path):
    target = tmp_path / "factors.parquet"
    target.write_text("not parquet: someone's notes")
    with pytest.raises(DataError, match="not a file this command writes"):
        check_output_target(target, folder=False, magic=PARQUET_MAGIC)
    target.write_bytes(PARQUET_MAGIC + b"...")
    with atomic_path(target, magic=PARQUET_MAGIC) as tmp:
        tmp.write_bytes(PARQUET_MAGIC + b"new")
    assert target.read_bytes() == PARQUET_MAGIC + b"new"


def test_an_unwritable_output_path_is_one_data_error(tmp_path):
    blocker = tmp_path / "plain_file"
    blocker.write_text("x")
    with pytest.raises(DataError, match="plain_file"):
        _write_folder(blocker / "sub")
    with pytest.raises(DataError, match="cannot write output"), atomic_path(tmp_path / "x.bin") as tmp:
        (tmp / "inside").write_bytes(b"x")  # tmp is not a folder: the OS refuses, reported as one line
