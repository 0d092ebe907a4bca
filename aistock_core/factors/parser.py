"""Parse Qlib expression strings (``Mean($close, 5)/$close``) into a small, hashable AST.

Qlib evaluates a field string by rewriting it into Python and calling ``eval``; the operators and their
precedence are therefore *Python's*. We parse the same language with a recursive-descent parser that follows
Python's precedence (lowest first: comparison < ``|`` < ``&`` < ``+ -`` < ``* /`` < unary ``-`` < ``**``), so
an expression means here exactly what it meant in research — ``$a > 0 & $b > 0`` is Python's chained
``$a > (0 & $b) > 0``, which Qlib silently mis-evaluates; we reject chained comparisons instead of guessing.

Nodes are frozen dataclasses: equal sub-expressions compare and hash equal, which is what lets the engine
compute each shared sub-expression once across all expressions of a call (hash-consing by value).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from aistock_core.data.fields import ALL_FIELDS
from aistock_core.errors import FactorError
from aistock_core.factors.expr import Call, Const, Expr, Feature
from aistock_core.factors.ops import OPERATORS

# -- tokenizer --------------------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
      | (?P<field>\$[A-Za-z_]\w*)
      | (?P<name>[A-Za-z_]\w*)
      | (?P<op>\*\*|>=|<=|==|!=|[-+*/()<>&|,])
    )""",
    re.VERBOSE,
)

_BINARY = {"+": "Add", "-": "Sub", "*": "Mul", "/": "Div", "**": "Power", "&": "And", "|": "Or",
           ">": "Gt", ">=": "Ge", "<": "Lt", "<=": "Le", "==": "Eq", "!=": "Ne"}
#: Python's reflected comparison when the constant is on the left (``0 < $x`` is ``$x > 0`` in Qlib).
_MIRROR = {"Gt": "Lt", "Ge": "Le", "Lt": "Gt", "Le": "Ge", "Eq": "Eq", "Ne": "Ne"}


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _error(text: str, pos: int, message: str, hint: str = "") -> FactorError:
    """A FactorError with the expression and a caret under the offending position."""
    caret = " " * pos + "^"
    return FactorError(f"{message} at position {pos}\n  {text}\n  {caret}" + (f"\n{hint}" if hint else ""))


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            bad = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise _error(text, bad, f"unexpected character {text[bad]!r}")
        kind = m.lastgroup or ""
        start = m.start(kind)
        toks.append(_Tok(kind, m.group(kind), start))
        pos = m.end()
    toks.append(_Tok("end", "", len(text)))
    return toks


class _Parser:
    """Recursive descent with Python's precedence; constants fold the way Python folds them before Qlib."""

    def __init__(self, text: str, fields: frozenset[str]) -> None:
        self.text = text
        self.fields = fields
        self.toks = _tokenize(text)
        self.i = 0

    # helpers
    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> _Tok:
        if self.tok.text != text or self.tok.kind != "op":
            got = "end of expression" if self.tok.kind == "end" else repr(self.tok.text)
            raise _error(self.text, self.tok.pos, f"expected {text!r}, got {got}")
        return self.take()

    def parse(self) -> Expr:
        node, _ = self.comparison()
        if self.tok.kind != "end":
            raise _error(self.text, self.tok.pos, f"unexpected {self.tok.text!r} after a complete expression")
        return node

    # grammar (lowest precedence first)
    def comparison(self) -> tuple[Expr, int]:
        left, pos = self.bitor()
        if self.tok.kind == "op" and self.tok.text in (">", ">=", "<", "<=", "==", "!="):
            op_tok = self.take()
            right, _ = self.bitor()
            if self.tok.kind == "op" and self.tok.text in (">", ">=", "<", "<=", "==", "!="):
                raise _error(
                    self.text, self.tok.pos, "chained comparison is ambiguous",
                    "Python (and so Qlib) reads `a > b > c` as `(a > b) and (b > c)` and Qlib keeps only the "
                    "second; add parentheses, e.g. `($a > 0) & ($b > 0)`",
                )
            left = self.binary(_BINARY[op_tok.text], left, right, op_tok.pos)
        return left, pos

    def bitor(self) -> tuple[Expr, int]:
        return self._left_assoc(self.bitand, ("|",))

    def bitand(self) -> tuple[Expr, int]:
        return self._left_assoc(self.arith, ("&",))

    def arith(self) -> tuple[Expr, int]:
        return self._left_assoc(self.term, ("+", "-"))

    def term(self) -> tuple[Expr, int]:
        return self._left_assoc(self.unary, ("*", "/"))

    def _left_assoc(self, sub, ops: tuple[str, ...]) -> tuple[Expr, int]:
        left, pos = sub()
        while self.tok.kind == "op" and self.tok.text in ops:
            op_tok = self.take()
            right, _ = sub()
            left = self.binary(_BINARY[op_tok.text], left, right, op_tok.pos)
        return left, pos

    def unary(self) -> tuple[Expr, int]:
        if self.tok.kind == "op" and self.tok.text in ("-", "+"):
            op_tok = self.take()
            operand, _ = self.unary()
            if op_tok.text == "+":
                return operand, op_tok.pos
            if isinstance(operand, Const):
                return Const(-operand.value, operand.is_int), op_tok.pos
            # Qlib has no __neg__; -x is written -1*x there, which is Mul(x, -1): bit-identical to negation.
            return Call("Mul", (operand, Const(-1, True))), op_tok.pos
        return self.power()

    def power(self) -> tuple[Expr, int]:
        base, pos = self.primary()
        if self.tok.kind == "op" and self.tok.text == "**":
            op_tok = self.take()
            exponent, _ = self.unary()  # right-associative, binds tighter than a unary minus on its left
            return self.binary("Power", base, exponent, op_tok.pos), pos
        return base, pos

    def primary(self) -> tuple[Expr, int]:
        tok = self.tok
        if tok.kind == "num":
            self.take()
            is_int = re.fullmatch(r"\d+", tok.text) is not None
            return Const(int(tok.text) if is_int else float(tok.text), is_int), tok.pos
        if tok.kind == "field":
            self.take()
            name = tok.text[1:]
            if name not in self.fields:
                raise _error(self.text, tok.pos, f"unknown field {tok.text!r}",
                             f"known fields: {', '.join('$' + f for f in sorted(self.fields))}")
            return Feature(name), tok.pos
        if tok.kind == "name":
            return self.call(), tok.pos
        if tok.kind == "op" and tok.text == "(":
            self.take()
            node, _ = self.comparison()
            self.expect(")")
            return node, tok.pos
        got = "end of expression" if tok.kind == "end" else repr(tok.text)
        raise _error(self.text, tok.pos, f"expected a field, number, call or '(', got {got}")

    def call(self) -> Expr:
        name_tok = self.take()
        spec = None if name_tok.text.startswith("_") else OPERATORS.get(name_tok.text)
        if spec is None:
            public = [n for n in OPERATORS if not n.startswith("_")]  # _Reg etc. are engine helpers
            close = [n for n in public if n.lower() == name_tok.text.lower()]
            raise _error(self.text, name_tok.pos, f"unknown operator {name_tok.text!r}",
                         f"did you mean {close[0]}?" if close else f"known operators: {', '.join(public)}")
        self.expect("(")
        args: list[tuple[Expr, int]] = []
        if not (self.tok.kind == "op" and self.tok.text == ")"):
            args.append(self.comparison())
            while self.tok.kind == "op" and self.tok.text == ",":
                self.take()
                args.append(self.comparison())
        self.expect(")")
        problem = spec.check([a for a, _ in args])
        if problem is not None:
            index, message = problem
            pos = args[index][1] if 0 <= index < len(args) else name_tok.pos
            raise _error(self.text, pos, f"{name_tok.text}: {message}", f"usage: {spec.usage}")
        return Call(spec.name, tuple(a for a, _ in args))

    def binary(self, op: str, left: Expr, right: Expr, pos: int) -> Expr:
        if isinstance(left, Const) and isinstance(right, Const):
            return _fold(op, left, right, self.text, pos)
        if isinstance(left, Const) and op in _MIRROR:
            return Call(_MIRROR[op], (right, left))
        if isinstance(left, Const) and op == "Mul":
            return Call("Mul", (right, left))  # Expression.__rmul__ is Mul(self, other) in Qlib
        return Call(op, (left, right))


def _fold(op: str, left: Const, right: Const, text: str, pos: int) -> Const:
    """Python evaluates constant sub-expressions before Qlib sees them; so do we."""
    a, b = left.value, right.value
    try:
        value = {
            "Add": lambda: a + b, "Sub": lambda: a - b, "Mul": lambda: a * b, "Div": lambda: a / b,
            "Power": lambda: a**b,
        }[op]()
    except KeyError:
        raise _error(text, pos, f"operator {op} between two numbers has no series to act on") from None
    except (ZeroDivisionError, OverflowError) as exc:
        raise _error(text, pos, f"constant arithmetic fails: {exc}") from None
    if isinstance(value, complex) or (isinstance(value, float) and not math.isfinite(value)):
        raise _error(text, pos, f"constant arithmetic gives {value!r}")
    return Const(value, isinstance(value, int))


def parse(text: str, fields: frozenset[str] | set[str] | None = None) -> Expr:
    """Parse one Qlib expression; FactorError (with a caret under the position) on anything wrong.

    ``fields``: names ``$field`` may use (default: every field a provider can serve).
    """
    if not isinstance(text, str) or not text.strip():
        raise FactorError(f"empty factor expression {text!r}: write e.g. 'Mean($close, 5)/$close'")
    return _Parser(text, frozenset(fields) if fields is not None else frozenset(ALL_FIELDS)).parse()
