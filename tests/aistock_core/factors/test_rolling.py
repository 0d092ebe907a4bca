"""`rolling.largest_var_within`: the variance bound that replaces a square root in Corr's mask."""

from __future__ import annotations

import numpy as np
import pytest

from aistock_core.factors.rolling import STD_EPS, largest_var_within


@pytest.mark.parametrize("eps", [STD_EPS, 1e-3, 0.1, 1.0, 3.0, 1e-300])
def test_the_bound_is_the_last_variance_whose_root_is_within_eps(eps):
    cap = largest_var_within(eps)
    assert np.sqrt(cap) <= eps < np.sqrt(np.nextafter(cap, np.inf))


def test_the_bound_answers_like_the_square_root_around_it():
    """Every double near the bound (and negatives, zero, NaN) gets the answer ``v < 0 or sqrt(v) ≤ eps`` gives."""
    cap = largest_var_within(STD_EPS)
    near = [cap]
    for _ in range(50):
        near.append(np.nextafter(near[-1], np.inf))
        near.insert(0, np.nextafter(near[0], -np.inf))
    values = np.array([*near, -1.0, -0.0, 0.0, np.nan, STD_EPS**2, 1e-9, 1e-11])
    with np.errstate(invalid="ignore"):
        expected = (values < 0) | (np.sqrt(values) <= STD_EPS)
    np.testing.assert_array_equal(values <= cap, expected)
