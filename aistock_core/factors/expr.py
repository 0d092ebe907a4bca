"""The expression tree a parsed Qlib expression becomes: `Feature` (``$close``), `Const` and `Call` (an operator
applied to arguments; binary operators are calls too).

Its own module so that the operator table (`ops`) and the parser (`parser`) both build on it without importing
each other: ops needs `Const`/`Call` to fold and expand, the parser needs the table to check arity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aistock_core.factors.ops import OpSpec

Scalar = int | float


class Expr:
    """Base of the AST. ``extent()`` = (left, right) sessions of history/future one value needs."""

    def extent(self) -> tuple[int, int]:  # pragma: no cover - overridden
        raise NotImplementedError

    def window(self) -> int:
        """Sessions of look-back needed before the first date for a value equal to a full-history one.

        Same arithmetic as Qlib's ``get_extended_window_size`` (a rolling N adds N-1, ``Ref(x, N)`` adds N),
        so a window computed with this look-back sees the same rows Qlib's ``D.features`` would load.
        """
        return self.extent()[0]

    def future(self) -> int:
        """Sessions after a date that a value reads (``Ref($close, -2)`` needs 2): labels only."""
        return self.extent()[1]


@dataclass(frozen=True)
class Feature(Expr):
    """``$name``: a panel field."""

    name: str

    def extent(self) -> tuple[int, int]:
        return 0, 0

    def __str__(self) -> str:
        return f"${self.name}"


@dataclass(frozen=True)
class Const(Expr):
    """A numeric literal. ``is_int`` is part of the identity: ``1`` and ``1.0`` promote dtypes differently."""

    value: Scalar
    is_int: bool

    def extent(self) -> tuple[int, int]:
        return 0, 0

    def __str__(self) -> str:
        return repr(self.value)


@dataclass(frozen=True)
class Call(Expr):
    """An operator applied to argument expressions (binary operators are calls too: ``Add``, ``Gt`` ...)."""

    op: str
    args: tuple[Expr, ...]

    @property
    def spec(self) -> OpSpec:
        from aistock_core.factors.ops import OPERATORS  # the table's helpers build Calls: resolved at use

        return OPERATORS[self.op]

    def extent(self) -> tuple[int, int]:
        return self.spec.extent(self.args)

    def __str__(self) -> str:
        return f"{self.op}({', '.join(str(a) for a in self.args)})"
