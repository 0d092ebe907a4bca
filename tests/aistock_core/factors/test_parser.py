"""Parser: Qlib's (Python's) precedence, constant folding, look-back arithmetic and errors with a caret."""

from __future__ import annotations

import pytest

from aistock_core.errors import FactorError
from aistock_core.factors.alpha158 import ALPHA158_LABEL, alpha158_expressions
from aistock_core.factors.parser import Call, Const, Feature, parse


def test_call_and_binary_operators_map_to_qlib_operator_names():
    expr = parse("Mean($close, 5)/$close")
    assert expr == Call("Div", (Call("Mean", (Feature("close"), Const(5, True))), Feature("close")))
    assert str(expr) == "Div(Mean($close, 5), $close)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$open+$high*$low", "Add($open, Mul($high, $low))"),
        ("($open+$high)*$low", "Mul(Add($open, $high), $low)"),
        ("$open-$high-$low", "Sub(Sub($open, $high), $low)"),
        ("$close>$open", "Gt($close, $open)"),
        ("($close>$open) & ($high<$low) | ($open==$close)",
         "Or(And(Gt($close, $open), Lt($high, $low)), Eq($open, $close))"),
        # Python: & binds tighter than a comparison, so this is $close > ($open & $high)
        ("$close > $open & $high", "Gt($close, And($open, $high))"),
        ("-$close", "Mul($close, -1)"),
        ("2*$close", "Mul($close, 2)"),  # Expression.__rmul__ is Mul(self, other)
        ("1-$close", "Sub(1, $close)"),
        ("0 < $close", "Gt($close, 0)"),  # reflected comparison
        ("$close ** 2", "Power($close, 2)"),
        ("-$close ** 2", "Mul(Power($close, 2), -1)"),
        ("Mean($close, 2*3)", "Mean($close, 6)"),  # constants fold before the operator sees them
        ("$close + 1/2", "Add($close, 0.5)"),
    ],
)
def test_precedence_follows_python(text, expected):
    assert str(parse(text)) == expected


def test_int_and_float_constants_are_distinct_nodes():
    assert parse("$close*1") != parse("$close*1.0")
    assert parse("$close*1") == parse("$close * 1")


def test_equal_subexpressions_hash_equal():
    a = parse("Mean($close, 5) / Std($close, 5)")
    b = parse("Mean($close,5)-1")
    assert a.args[0] == b.args[0] and hash(a.args[0]) == hash(b.args[0])


@pytest.mark.parametrize(
    ("text", "window", "future"),
    [
        ("$close", 0, 0),
        ("Mean($close, 5)", 4, 0),
        ("Ref($close, 5)", 5, 0),
        ("Mean(Ref($close, 1), 5)", 5, 0),
        ("Corr($close, Log($volume+1), 10)", 9, 0),
        ("Max($high, 60)/$close", 59, 0),
        (ALPHA158_LABEL, 0, 2),
        ("Delta($close, 3)", 3, 0),
        ("Mean($close, 0)", 0, 0),
    ],
)
def test_window_and_future(text, window, future):
    expr = parse(text)
    assert expr.window() == window
    assert expr.future() == future


def test_alpha158_lookback_is_sixty_sessions():
    assert max(parse(e).window() for e in alpha158_expressions().values()) == 60


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("Mean($close, 5", 14, "expected ')'"),
        ("Foo($close)", 0, "unknown operator 'Foo'"),
        ("mean($close, 5)", 0, "did you mean Mean"),
        ("$close + $clos", 9, "unknown field '$clos'"),
        ("Mean($close, 5.5)", 13, "window must be an integer"),
        ("Mean($close)", 0, "takes 2 argument(s), got 1"),
        ("Quantile($close, 5, 2)", 20, "quantile must be in [0, 1]"),
        ("Ref($close, $open)", 12, "must be a number literal"),
        ("Mean(5, 5)", 5, "expression over fields"),
        ("$close > $open > $low", 15, "chained comparison"),
        ("$close # 2", 7, "unexpected character '#'"),
        ("$close $open", 7, "unexpected '$open'"),
        ("EMA($close, 1.5)", 12, "float alpha in (0, 1)"),
        ("IdxMax($close, 0)", 15, "integer ≥ 1"),
    ],
)
def test_errors_point_at_the_offending_position(text, position, fragment):
    with pytest.raises(FactorError) as info:
        parse(text)
    message = str(info.value)
    assert fragment in message
    assert f"at position {position}" in message
    lines = message.splitlines()
    assert lines[1].strip() == text
    assert lines[2].index("^") - lines[1].index(text[0]) == position


def test_empty_expression_is_rejected():
    with pytest.raises(FactorError, match="empty"):
        parse("   ")


def test_custom_field_set():
    assert parse("$adjclose", fields={"adjclose"}) == Feature("adjclose")
    with pytest.raises(FactorError, match="unknown field"):
        parse("$close", fields={"adjclose"})
