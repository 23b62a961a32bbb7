"""Balanced parallel loops in the Cython backend: the same bits as equal shares.

On arrays of 16 MB and more, the row, short-row and element-wise loops hand
out their rows or blocks to threads in chunks as the threads come for them
(a dynamic schedule), rather than one equal share per thread.  Which thread
takes which row must not change any result: here the threshold is set to 0
and the work per thread to one element, so that small arrays run both kinds
of loop on every thread, and each result must equal, bit for bit, the one the
equal shares give (and match the reference).
"""

import pytest

import fastsoft
from tests.test_streaming import assert_same
from tests.util import (
    ELEMENTWISE,
    FUNCTIONS,
    assert_matches,
    call,
    expected,
    inputs_for,
    seed_of,
)

pytestmark = pytest.mark.skipif("cython" not in fastsoft.backends(),
                                reason="the Cython backend is not built")

# Short rows (blocks of rows), rows, and element-wise blocks of 8192 elements
# (several per thread, one with a tail).
SHAPES = ((3000, 10), (40, 700), (5, 9000))


def _run(cython, name, arrays, balance_min_bytes):
    previous = cython.set_balance_min_bytes(balance_min_bytes)
    try:
        kwargs = {} if name in ELEMENTWISE else {"axis": -1}
        return call(name, *arrays, backend="cython", **kwargs)
    finally:
        cython.set_balance_min_bytes(previous)


@pytest.mark.parametrize("kind", ["normal", "nonfinite"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_balanced_loops_match_equal_shares(name, dtype, shape, kind, cython_variant,
                                           restore_config):
    fastsoft.set_num_threads(2)
    arrays = inputs_for(name, shape, dtype, kind=kind, seed=seed_of(name, shape, dtype, kind))
    shares = _run(cython_variant, name, arrays, 1 << 62)
    balanced = _run(cython_variant, name, arrays, 0)
    assert_same(balanced, shares)
    exact, scale, result = expected(name, arrays)
    assert_matches(balanced, exact, scale, result, what=f"{name} balanced")


def test_set_balance_min_bytes_returns_the_previous_value():
    from fastsoft import _cython

    default = _cython.set_balance_min_bytes(1000)
    try:
        assert default == 1 << 24
        assert _cython.set_balance_min_bytes(-5) == 1000  # clamped to 0
        assert _cython.set_balance_min_bytes(default) == 0
    finally:
        _cython.set_balance_min_bytes(default)
