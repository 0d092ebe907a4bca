"""The error hierarchy: one base to catch at the edges (CLI, Dagster), specific classes to catch inside."""

from __future__ import annotations

import inspect

import pytest

from aistock_core import errors
from aistock_core.errors import AistockError, DataError, InstrumentError, SchemaError

ALL = [cls for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, Exception)]


def test_every_project_error_is_an_aistock_error():
    assert len(ALL) >= 12
    assert all(issubclass(cls, AistockError) for cls in ALL)


@pytest.mark.parametrize("cls", ALL)
def test_every_error_has_a_docstring_saying_when_it_is_raised(cls):
    assert cls.__doc__ and len(cls.__doc__.split()) >= 4


def test_specific_relations():
    assert issubclass(SchemaError, DataError)  # a schema violation is bad data
    assert issubclass(InstrumentError, ValueError)  # code parsing is also a ValueError for generic callers
    with pytest.raises(AistockError, match="bad code"):
        raise InstrumentError("bad code")
