"""Mathematical properties, checked on inputs that hypothesis generates.

Tolerances follow ``tests/util.py``: ``K = 4`` eps of the result dtype, with
the extra terms each identity needs spelled out next to it.
"""

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.util import ELEMENTWISE, FUNCTIONS, K, call, check

FLOAT_DTYPES = st.sampled_from([np.dtype(np.float32), np.dtype(np.float64)])


def _elements(dtype, bound=None, allow_infinity=False, allow_nan=False):
    """Floats of ``dtype``: all of them, or finite ones within +-``bound``."""
    if bound is None:
        return st.floats(width=8 * dtype.itemsize, allow_infinity=allow_infinity,
                         allow_nan=allow_nan)
    return st.floats(-bound, bound, width=8 * dtype.itemsize)


@st.composite
def arrays_and_axis(draw, bound=None, allow_infinity=False, allow_nan=False, dtypes=FLOAT_DTYPES,
                    max_dims=3):
    """A float array (1 to ``max_dims`` dims) and an axis: int, tuple or None."""
    dtype = draw(dtypes)
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=max_dims, min_side=1, max_side=6))
    x = draw(hnp.arrays(dtype, shape, elements=_elements(dtype, bound, allow_infinity,
                                                          allow_nan)))
    ndim = len(shape)
    axis = draw(st.one_of(
        st.none(),
        st.integers(-ndim, ndim - 1),
        st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple),
    ))
    return x, axis


def _eps(a):
    return float(np.finfo(a.dtype).eps)


def _tiny(a):
    return float(np.finfo(a.dtype).smallest_subnormal)


def _sum(a, axis):
    return np.sum(a.astype(np.float64), axis=axis)


# --------------------------------------------------------------------------
# Agreement with the reference on arbitrary input, non-finite values included


@given(data=st.data(), name=st.sampled_from(FUNCTIONS))
def test_matches_reference(data, name, backend):
    x, axis = data.draw(arrays_and_axis(allow_infinity=True, allow_nan=True))
    if name in ELEMENTWISE:
        axis = None
    arrays = (x,)
    if name.endswith("_backward"):
        if x.dtype == np.float64:
            # A sum of huge finite float64 terms of both signs overflows or not
            # depending on the summation order, which the semantics leave open.
            x = np.where(np.isfinite(x), np.clip(x, -1e300, 1e300), x)
        dy = data.draw(hnp.arrays(x.dtype, x.shape, elements=_elements(x.dtype, 1e3)))
        arrays = (x, dy)
    check(name, arrays, backend=backend, axis=axis)


# --------------------------------------------------------------------------
# Softmax


@given(x_axis=arrays_and_axis())
def test_softmax_rows_sum_to_one(x_axis, backend):
    x, axis = x_axis
    y = call("softmax", x, axis=axis, backend=backend)
    # Each probability is within K eps (relative) of exact: the sum within K eps of 1,
    # plus the absolute floor of every subnormal result.
    np.testing.assert_allclose(_sum(y, axis), 1.0, rtol=0,
                               atol=K * _eps(y) + x.size * K * _tiny(y))


@given(x_axis=arrays_and_axis(allow_infinity=True))
def test_softmax_in_unit_interval(x_axis, backend):
    """Probabilities lie in [0, 1]; NaN exactly for groups with +inf or only -inf."""
    x, axis = x_axis
    y = call("softmax", x, axis=axis, backend=backend)
    assert np.all(np.isnan(y) | ((y >= 0) & (y <= 1)))
    row_max = np.max(x, axis=axis, keepdims=True)
    np.testing.assert_array_equal(np.isnan(y), np.broadcast_to(~np.isfinite(row_max), y.shape))
    ls = call("log_softmax", x, axis=axis, backend=backend)
    assert np.all(np.isnan(ls) | (ls <= 0))
    lse = call("logsumexp", x, axis=axis, keepdims=True, backend=backend)
    assert np.all(np.isnan(lse) | (lse >= row_max))


# x on a grid of 1/64 with |x| <= 64 and integer shifts c with |c| <= 1000:
# x + c is exact in float32 and float64, so any difference is the function's.
GRID = hnp.arrays(
    st.sampled_from([np.float32, np.float64]),
    hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=8),
    elements=st.integers(-64 * 64, 64 * 64).map(lambda i: i / 64),
)


@given(x=GRID, c=st.integers(-1000, 1000))
def test_shift_invariance(x, c, backend):
    shifted = x + x.dtype.type(c)
    assert np.all(shifted - x.dtype.type(c) == x)  # the shift itself is exact
    eps = _eps(x)
    for name in ("softmax", "log_softmax"):
        a = call(name, x, backend=backend)
        b = call(name, shifted, backend=backend)
        # Both within K eps of the same exact values (log_softmax: absolute floor 1).
        floor = 0 if name == "softmax" else 1
        np.testing.assert_allclose(b, a, rtol=2 * K * eps, atol=2 * K * eps * floor
                                   + 2 * K * _tiny(x), err_msg=name)
    a = call("logsumexp", x, backend=backend)
    b = call("logsumexp", shifted, backend=backend)
    # logsumexp(x + c) = logsumexp(x) + c; scale |max| + 1 on each side.
    atol = 2 * K * eps * (np.max(np.abs(shifted), axis=-1) + np.max(np.abs(x), axis=-1) + 2)
    assert np.all(np.abs(b.astype(np.float64) - (a.astype(np.float64) + c)) <= atol)


@given(x=hnp.arrays(FLOAT_DTYPES, st.integers(1, 12),
                    elements=st.floats(-1e4, 1e4, width=32)))
def test_order_preserved(x, backend):
    """x_i < x_j implies f(x)_i <= f(x)_j; ties give identical values."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    for name in ("softmax", "log_softmax", "sigmoid", "log_sigmoid"):
        y = call(name, x, backend=backend)[order]
        assert np.all(np.diff(y) >= 0), name
        ties = np.diff(xs) == 0
        assert np.all(np.diff(y)[ties] == 0), name


@given(dtype=FLOAT_DTYPES, a=st.floats(-1e4, 1e4, width=32),
       b=st.floats(-1e4, 1e4, width=32))
def test_two_class_softmax_is_sigmoid_of_difference(dtype, a, b, backend):
    x = np.array([a, b], dtype)
    p = call("softmax", x, backend=backend)
    d = x[0] - x[1]  # rounded in dtype: relative error eps/2 * |a - b| in sigmoid(d)
    s = call("sigmoid", np.array([d, -d]), backend=backend)
    eps = _eps(x)
    tol = K * eps * np.abs(p.astype(np.float64)) * (2 + abs(float(d))) + 2 * K * _tiny(x)
    assert np.all(np.abs(p.astype(np.float64) - s.astype(np.float64)) <= tol), (p, s)


@given(x_axis=arrays_and_axis(bound=1e3))
def test_log_softmax_is_log_of_softmax(x_axis, backend):
    x, axis = x_axis
    ls = call("log_softmax", x, axis=axis, backend=backend).astype(np.float64)
    sm = call("softmax", x, axis=axis, backend=backend).astype(np.float64)
    # Where softmax is a normal number its log is accurate to K eps absolutely
    # (plus eps |log|); log_softmax itself is within K eps (|ls| + 1).
    normal = sm >= float(np.finfo(x.dtype).smallest_normal)
    assume(normal.any())
    eps = _eps(x)
    with np.errstate(divide="ignore"):
        log_sm = np.log(sm)
    tol = 2 * K * eps * (np.abs(ls) + 1)
    assert np.all(np.abs(log_sm - ls)[normal] <= tol[normal])


# --------------------------------------------------------------------------
# Sigmoid


@given(x=hnp.arrays(FLOAT_DTYPES, hnp.array_shapes(max_dims=2, max_side=10),
                    elements=st.floats(allow_nan=False, allow_infinity=True, width=32)))
def test_sigmoid_symmetry_and_range(x, backend):
    s = call("sigmoid", x, backend=backend).astype(np.float64)
    s_neg = call("sigmoid", -x, backend=backend).astype(np.float64)
    assert np.all((s >= 0) & (s <= 1))
    # sigmoid(-x) = 1 - sigmoid(x): values in [0, 1], each within K eps.
    np.testing.assert_allclose(s_neg, 1 - s, rtol=0, atol=2 * K * _eps(x))


@given(x=hnp.arrays(FLOAT_DTYPES, hnp.array_shapes(max_dims=2, max_side=10),
                    elements=st.floats(-1e4, 1e4, width=32)))
def test_exp_log_sigmoid_is_sigmoid(x, backend):
    ls = call("log_sigmoid", x, backend=backend).astype(np.float64)
    s = call("sigmoid", x, backend=backend).astype(np.float64)
    assert np.all(ls <= 0)
    normal = s >= float(np.finfo(x.dtype).smallest_normal)
    # log_sigmoid is within K eps |ls|, so exp(ls) within K eps |ls| relative, plus
    # sigmoid's own K eps.
    tol = 2 * K * _eps(x) * (1 + np.abs(ls)) * s
    assert np.all(np.abs(np.exp(ls) - s)[normal] <= tol[normal])


# --------------------------------------------------------------------------
# Backward passes


@given(x_axis=arrays_and_axis(bound=30.0, max_dims=2), data=st.data())
def test_backward_gradients_sum_to_zero(x_axis, data, backend):
    """softmax ignores a constant shift of its group, so the gradient sums to 0 over it."""
    x, axis = x_axis
    dy = data.draw(hnp.arrays(x.dtype, x.shape, elements=_elements(x.dtype, 10.0)))
    d64 = np.abs(dy.astype(np.float64))
    for forward, backward in (("softmax", "softmax_backward"),
                              ("log_softmax", "log_softmax_backward")):
        y = call(forward, x, axis=axis, backend=backend)
        g = call(backward, y, dy, axis=axis, backend=backend)
        total = _sum(g, axis)
        n = x.size // max(1, total.size)  # group size
        # Each element is within K eps of its terms' size and sum(exp(y)) within
        # K eps (1 + n) of 1: |sum(g)| <= K eps sum|dy| (2 + n); doubled for margin.
        bound = 2 * K * _eps(x) * (np.sum(d64, axis=axis) + 1) * (2 + n)
        assert np.all(np.abs(total) <= bound), backward
