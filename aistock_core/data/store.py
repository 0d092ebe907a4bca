"""The Parquet store for large tables (bars, factor matrices, predictions), one file per trading day.

Layout ``root/<dataset>/date=YYYY-MM-DD/part.parquet`` (hive style, so pyarrow reads a range as one dataset
with a ``date`` partition column). Each partition is written to a temporary file and renamed into place, and
written deterministically (no pandas metadata timestamps, fixed compression), so rewriting the same frame
gives the same bytes and the same sha256: a re-run of a day is idempotent and detectable as unchanged.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from aistock_core.errors import DataError

_DATASET = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_PART = "part.parquet"


def _day(value) -> pd.Timestamp:
    try:
        return pd.Timestamp(value).normalize()
    except (ValueError, TypeError) as exc:
        raise DataError(f"{value!r} is not a date; pass e.g. '2024-01-02'") from exc


#: Written into every output folder an aistock command creates; a folder holding it may be replaced by the next
#: run of a command. A folder without it (the user's own files) is never replaced without ``force``.
OUTPUT_MARKER = ".aistock-output"
#: First bytes of the file formats written through `atomic_path`; an existing file is replaced only when it is
#: of the same kind (a re-run rewriting its own output), never some other file that happened to be named.
PARQUET_MAGIC = b"PAR1"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _protected(target: Path) -> str | None:
    """Why ``target`` may never be replaced, even with ``force`` (the working directory, an ancestor, home)."""
    cwd = Path.cwd().resolve()
    resolved = target.resolve()
    if resolved == cwd or resolved in cwd.parents:
        return "it is the working directory or one of its parents"
    if resolved == Path.home().resolve() or resolved == Path(resolved.anchor):
        return "it is the home directory or the filesystem root"
    return None


def check_output_target(target: Path, *, folder: bool | None, force: bool = False, magic: bytes | None = None) -> None:
    """Raise `DataError` unless writing ``target`` can only replace something this project wrote.

    ``folder``: the output is a folder (True), a file (False), or not known yet (None: only what neither may
    replace is refused). A folder replaces a missing path, an empty folder or a folder holding `OUTPUT_MARKER`;
    a file replaces a missing path or a file starting with ``magic``. ``force`` lifts those two rules, never
    the working directory/home/root rule, and a file never replaces a folder (nor a folder a file).
    """
    why = _protected(target)
    if why:
        raise DataError(f"refusing to write output to {target}: {why}; give a new or dedicated folder")
    if not (target.exists() or target.is_symlink()):
        return
    where = f"output path {target}"
    if target.is_dir() and not target.is_symlink():
        if folder is False:
            raise DataError(f"{where} is a directory; give a file path")
        if force or not any(target.iterdir()) or (target / OUTPUT_MARKER).is_file():
            return
        raise DataError(f"{where} exists and was not written by aistock (no {OUTPUT_MARKER} in it); it would be "
                        f"replaced entirely. Choose an empty or new folder, or pass --force")
    if not target.is_file():
        raise DataError(f"{where} is not a regular file or folder (a link or a device); give another path")
    if folder is True:
        raise DataError(f"{where} is a file; give a directory path")
    if folder is False and magic is not None and not force:
        try:
            with open(target, "rb") as fh:
                head = fh.read(len(magic))
        except OSError as exc:
            raise DataError(f"{where} cannot be read ({exc.strerror}); give another path") from None
        if head != magic:
            raise DataError(f"{where} exists and is not a file this command writes; choose another path, or pass "
                            f"--force to replace it")


@contextmanager
def atomic_path(target: Path, *, force: bool = False, magic: bytes | None = None) -> Iterator[Path]:
    """A temporary sibling of ``target`` to write a file or a folder at, renamed onto ``target`` when the block
    succeeds and removed when it fails, so a reader never sees a half-written ``target``.

    Only what this project wrote is ever replaced (`check_output_target`): refused before the block runs
    when that is already clear, and checked again, knowing file or folder, right before the rename. A folder
    gets `OUTPUT_MARKER` so a later run may replace it; an existing folder is replaced only once the new one
    is complete.
    """
    check_output_target(target, folder=None, force=force, magic=magic)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the folder {target.parent} for output {target}: {exc.strerror} (is a part of "
                        f"that path a file?)") from None
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        try:
            yield tmp
            folder = tmp.is_dir()
            check_output_target(target, folder=folder, force=force, magic=magic)
            if folder:
                (tmp / OUTPUT_MARKER).write_text("written by aistock; this folder may be replaced by the next run\n")
                _swap_in(tmp, target)
            else:
                os.replace(tmp, target)
        except OSError as exc:  # unwritable folder, disk full, a path component that is a file
            raise DataError(f"cannot write output {target}: {exc.strerror or exc}; check the path and its "
                            f"permissions") from exc
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def _swap_in(tmp: Path, out: Path) -> None:
    """Rename the finished folder ``tmp`` to ``out``, replacing an existing ``out`` only after ``tmp`` is complete."""
    if out.exists():
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(out, old)
        try:
            os.replace(tmp, out)
        except BaseException:
            os.replace(old, out)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ParquetStore:
    """Day-partitioned Parquet datasets under ``root`` (normally ``Settings.store_dir``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()

    def _dataset_dir(self, dataset: str) -> Path:
        if not _DATASET.match(dataset):
            raise DataError(f"dataset name {dataset!r} is not a plain name (letters, digits, _ . -)")
        return self.root / dataset

    def partition_path(self, dataset: str, day) -> Path:
        return self._dataset_dir(dataset) / f"date={_day(day):%Y-%m-%d}" / _PART

    def write_partition(self, dataset: str, day, frame: pd.DataFrame) -> tuple[Path, str, int]:
        """Write one day's frame atomically; return (path, sha256 of the file, rows).

        The index is stored as columns (restored by `read_partition`); a ``date`` column would clash with the
        partition key and is refused.
        """
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"write_partition({dataset!r}) needs a DataFrame, got {type(frame).__name__}")
        if "date" in frame.columns or "date" in (frame.index.names or []):
            raise DataError(f"frame for {dataset!r} has a 'date' column, which is the partition key; rename it")
        path = self.partition_path(dataset, day)
        try:
            table = pa.Table.from_pandas(frame, preserve_index=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DataError(f"frame for {dataset!r} on {_day(day):%Y-%m-%d} cannot be stored as Parquet: {exc}") \
                from exc
        with atomic_path(path, magic=PARQUET_MAGIC) as tmp:
            pq.write_table(table, tmp, compression="zstd", write_statistics=True, store_schema=True)
        return path, sha256_of(path), len(frame)

    def read_partition(self, dataset: str, day) -> pd.DataFrame:
        path = self.partition_path(dataset, day)
        if not path.is_file():
            raise DataError(f"no partition {dataset}/{_day(day):%Y-%m-%d} in {self.root}; materialise it first")
        return pq.read_table(path).to_pandas()

    def partitions(self, dataset: str) -> list[pd.Timestamp]:
        """Days that have a partition, sorted."""
        folder = self._dataset_dir(dataset)
        if not folder.is_dir():
            return []
        days = [p.parent.name[5:] for p in folder.glob(f"date=*/{_PART}")]
        return sorted(pd.Timestamp(d) for d in days)

    def read_range(self, dataset: str, start=None, end=None) -> pd.DataFrame:
        """All partitions with start ≤ day ≤ end as one frame (one pyarrow dataset scan, partition-pruned)."""
        days = [d for d in self.partitions(dataset)
                if (start is None or d >= _day(start)) and (end is None or d <= _day(end))]
        if not days:
            raise DataError(
                f"no partitions of {dataset!r} between {start or 'the start'} and {end or 'the end'} in {self.root}"
            )
        files = [str(self.partition_path(dataset, d)) for d in days]
        schema = pq.read_schema(files[0])
        table = ds.dataset(files, format="parquet", schema=schema).to_table()
        return table.to_pandas()
