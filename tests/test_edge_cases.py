"""The edge cases of the issue's "Semantics" section, each checked on every backend.

Exact equalities are asserted where the semantics promise exact values; every
call runs under ``np.errstate(all="raise")`` (see ``tests.util.call``).
"""

import math

import mpmath
import numpy as np
import pytest

from tests.util import (
    BACKWARD,
    ELEMENTWISE,
    FUNCTIONS,
    HUGE_MAXIMA,
    MASKED,
    call,
    check,
    inputs_for,
    maxima_across_unshifted_range,
    tied_huge_maxima,
)

FLOATS = ["float32", "float64"]
inf, nan = np.inf, np.nan


def test_worked_example(backend):
    """A three-class classifier: logits [1.6, 3.1, 0.5]."""
    probs = call("softmax", [1.6, 3.1, 0.5], backend=backend)
    np.testing.assert_allclose(probs, [0.17198205, 0.77077009, 0.05724785], rtol=0, atol=5e-9)
    assert probs.argmax() == 1
    probs32 = call("softmax", np.array([1.6, 3.1, 0.5], np.float32), backend=backend)
    assert probs32.dtype == np.float32
    np.testing.assert_allclose(probs32, [0.17198205, 0.77077009, 0.05724785], rtol=2e-7)


@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_large_gap(dtype, backend):
    got = call("softmax", np.array([1000, 0], dtype), backend=backend)
    np.testing.assert_array_equal(got, [1, 0])
    got = call("softmax", np.array([0, 1000], dtype), backend=backend)
    np.testing.assert_array_equal(got, [0, 1])


@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_large_negative_equal(dtype, backend):
    got = call("softmax", np.array([-1000, -1000], dtype), backend=backend)
    np.testing.assert_array_equal(got, [0.5, 0.5])


def test_softmax_float32_near_max(backend):
    got = call("softmax", np.array([3e38, 1e38], np.float32), backend=backend)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [1, 0])
    got = call("softmax", np.array([-3e38, 3e38], np.float32), backend=backend)
    np.testing.assert_array_equal(got, [0, 1])


@pytest.mark.parametrize("dtype", FLOATS)
def test_sigmoid_saturates(dtype, backend):
    got = call("sigmoid", np.array([-1000, 1000], dtype), backend=backend)
    np.testing.assert_array_equal(got, [0, 1])
    assert not np.isnan(got).any()


@pytest.mark.parametrize("dtype", FLOATS)
def test_log_sigmoid_saturates(dtype, backend):
    got = call("log_sigmoid", np.array([-1000, 1000], dtype), backend=backend)
    np.testing.assert_array_equal(got, [-1000, 0])


def test_sigmoid_minus_100_full_relative_precision(backend):
    # exact = 1 / (1 + e^100), computed with mpmath at 50 digits.
    mpmath.mp.dps = 50
    exact = float(1 / (1 + mpmath.exp(100)))
    assert math.isclose(exact, 3.720075976020836e-44, rel_tol=1e-15)
    got = call("sigmoid", -100.0, backend=backend)
    assert got.shape == () and got.dtype == np.float64
    # 1 - sigmoid(100) would be 0: only the split on the sign keeps these digits.
    assert math.isclose(float(got), exact, rel_tol=2 * np.finfo(np.float64).eps)
    got = call("log_sigmoid", -100.0, backend=backend)
    exact_log = float(-mpmath.log1p(mpmath.exp(100)))
    assert math.isclose(float(got), exact_log, rel_tol=2 * np.finfo(np.float64).eps)


@pytest.mark.parametrize("dtype", FLOATS)
def test_log_softmax_exact_shift(dtype, backend):
    got = call("log_softmax", np.array([0, -1e4], dtype), backend=backend)
    np.testing.assert_array_equal(got, [0, -1e4])


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_sigmoid_nonfinite(dtype, backend):
    got = call("sigmoid", np.array([-inf, inf, nan, 0.0, -0.0], dtype), backend=backend)
    np.testing.assert_array_equal(got, [0, 1, nan, 0.5, 0.5])
    got = call("log_sigmoid", np.array([-inf, inf, nan], dtype), backend=backend)
    np.testing.assert_array_equal(got, [-inf, 0, nan])


def test_sigmoid_zero_is_half(backend):
    got = call("sigmoid", 0.0, backend=backend)
    assert got.shape == () and isinstance(got, np.ndarray)
    assert got == 0.5
    assert call("log_sigmoid", 0.0, backend=backend) == -math.log(2)


# Rows of one 2-D input: what each function gives, per the semantics.
NONFINITE_ROWS = np.array([
    [0.0, -inf, 0.0],     # a -inf entry gets probability 0
    [-inf, -inf, -inf],   # all -inf: NaN (softmax, log_softmax), -inf (logsumexp)
    [inf, 0.0, 1.0],      # +inf: NaN row, logsumexp +inf
    [nan, 0.0, 1.0],      # NaN: NaN row
    [inf, -inf, 0.0],     # +inf with -inf: NaN row, logsumexp +inf
    [inf, nan, 0.0],      # NaN beats +inf in logsumexp
    [inf, inf, 0.0],
    [-inf, 5.0, -inf],    # one finite entry: probability 1
])
EXPECTED_ROWS = {
    "softmax": [[0.5, 0, 0.5], [nan] * 3, [nan] * 3, [nan] * 3, [nan] * 3, [nan] * 3,
                [nan] * 3, [0, 1, 0]],
    "log_softmax": [[-math.log(2), -inf, -math.log(2)], [nan] * 3, [nan] * 3, [nan] * 3,
                    [nan] * 3, [nan] * 3, [nan] * 3, [-inf, 0, -inf]],
    "logsumexp": [math.log(2), -inf, inf, nan, inf, nan, inf, 5.0],
}


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("name", MASKED)
def test_nonfinite_rows(name, dtype, backend):
    x = NONFINITE_ROWS.astype(dtype)
    got = call(name, x, backend=backend)
    want = np.array(EXPECTED_ROWS[name], dtype=dtype)
    np.testing.assert_allclose(got, want, rtol=np.finfo(dtype).eps, atol=0)
    # The same along axis 0 (the strided kernel) and in the reversed column order.
    np.testing.assert_allclose(call(name, np.ascontiguousarray(x.T), axis=0, backend=backend),
                               want.T, rtol=np.finfo(dtype).eps, atol=0)
    np.testing.assert_allclose(call(name, x[:, ::-1], backend=backend),
                               want[:, ::-1] if want.ndim == 2 else want,
                               rtol=np.finfo(dtype).eps, atol=0)


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_scalar_with_axis_none(name, backend):
    want = {"softmax": 1.0, "log_softmax": 0.0, "logsumexp": 3.0}[name]
    for x in (3.0, np.float64(3.0), np.array(3.0), 3):
        got = call(name, x, axis=None, backend=backend)
        assert isinstance(got, np.ndarray) and got.shape == () and got.dtype == np.float64
        assert got == want
    got = call(name, np.float32(3.0), axis=None, backend=backend)
    assert got.shape == () and got.dtype == np.float32 and got == want


@pytest.mark.parametrize("name", MASKED)
@pytest.mark.parametrize("value", [inf, -inf, nan])
def test_scalar_nonfinite(name, value, backend):
    got = call(name, value, axis=None, backend=backend)
    if name == "logsumexp":
        np.testing.assert_array_equal(got, value)
    else:
        assert np.isnan(got)


@pytest.mark.parametrize("name", [n for n in FUNCTIONS if n not in ELEMENTWISE])
def test_scalar_with_default_axis_is_axis_error(name, backend):
    """NumPy's rule: a 0-d array has no axis -1 (use axis=None)."""
    args = (3.0,) if name not in BACKWARD else (1.0, 1.0)
    with pytest.raises(np.exceptions.AxisError, match="out of bounds for array of dimension 0"):
        call(name, *args, backend=backend)


def test_scalar_backward(backend):
    assert call("softmax_backward", 1.0, 2.0, axis=None, backend=backend) == 0.0
    assert call("log_softmax_backward", 0.0, 2.0, axis=None, backend=backend) == 0.0
    assert call("sigmoid_backward", 0.5, 2.0, backend=backend) == 0.5


@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 3), (2, 0, 4)])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_empty(name, shape, backend):
    arrays = [np.empty(shape, np.float32)] * (2 if name in BACKWARD else 1)
    axes = [None] if name in ELEMENTWISE else [-1, 0, None]
    for axis in axes:
        kwargs = {} if name in ELEMENTWISE else {"axis": axis}
        got = call(name, *arrays, backend=backend, **kwargs)
        assert got.dtype == np.float32
        if name == "logsumexp":
            want_shape = np.zeros(shape).sum(axis=axis).shape
            assert got.shape == want_shape
            assert np.all(got == -inf)  # nothing summed: log(0)
        else:
            assert got.shape == shape


def test_logsumexp_zero_length_axis(backend):
    got = call("logsumexp", np.zeros((3, 0)), backend=backend)
    np.testing.assert_array_equal(got, [-inf] * 3)
    got = call("logsumexp", np.zeros((0,)), axis=None, backend=backend)
    assert got.shape == () and got == -inf
    got = call("logsumexp", np.zeros((2, 0, 3)), axis=1, keepdims=True, backend=backend)
    assert got.shape == (2, 1, 3) and np.all(got == -inf)
    got = call("logsumexp", np.zeros((2, 0, 3)), axis=0, backend=backend)
    assert got.shape == (0, 3)


@pytest.mark.parametrize("name", MASKED)
def test_where_on_empty(name, backend):
    x = np.zeros((3, 0))
    got = call(name, x, where=np.zeros((3, 0), bool), backend=backend)
    assert got.shape == ((3,) if name == "logsumexp" else (3, 0))


@pytest.mark.parametrize("name", MASKED)
def test_where_fully_masked_row(name, backend):
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    where = np.array([[True, False, True], [False, False, False]])
    got = call(name, x, where=where, backend=backend)
    if name == "softmax":
        e = math.exp(-2)
        np.testing.assert_allclose(got, [[e / (1 + e), 0, 1 / (1 + e)], [0, 0, 0]], rtol=1e-15)
    elif name == "log_softmax":
        np.testing.assert_array_equal(got[1], [-inf] * 3)
        assert got[0, 1] == -inf
    else:
        assert got[1] == -inf
        np.testing.assert_allclose(got[0], 3 + math.log1p(math.exp(-2)), rtol=1e-15)


def test_where_example_from_docs(backend):
    got = call("softmax", [1.0, 2.0, 3.0], where=[True, True, False], backend=backend)
    np.testing.assert_allclose(got, [0.26894142, 0.73105858, 0.0], atol=1e-8)


@pytest.mark.parametrize("dtype", FLOATS)
def test_extreme_magnitudes(dtype, backend):
    """+-88 (float32) and +-709 (float64) are where exp overflows; nothing may overflow."""
    edge = 88.0 if dtype == "float32" else 709.0
    top = float(np.finfo(dtype).max)
    x = np.array([[edge, -edge, 0.0], [top, -top, 0.0], [-top, -top, -top], [top, top, top],
                  [edge, edge, edge]], dtype)
    for name in ("softmax", "log_softmax", "logsumexp", "sigmoid", "log_sigmoid"):
        got = check(name, (x,), backend=backend)
        assert not np.isnan(got).any(), name
    got = call("softmax", x, backend=backend)
    np.testing.assert_array_equal(got[1], [1, 0, 0])
    np.testing.assert_allclose(got[2:], 1 / 3, rtol=np.finfo(dtype).eps)
    got = call("logsumexp", x, backend=backend)
    np.testing.assert_allclose(got[3], top, rtol=np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", FLOATS)
def test_backward_infinite_sums(dtype, backend):
    """Sums that are infinite in any order of summation give the reference's infinities:
    y * (dy - inf) and dy - p * inf are -inf where dy is finite, NaN where dy is inf."""
    y = np.array([0.5, 0.5], dtype)
    dy = np.array([inf, 1.0], dtype)
    got = call("softmax_backward", y, dy, backend=backend)
    np.testing.assert_array_equal(got, [nan, -inf])
    got = call("log_softmax_backward", np.log(y), dy, backend=backend)
    np.testing.assert_array_equal(got, [nan, -inf])
    # Finite upstream gradients whose sum overflows (float64 only: float32 sums
    # run in float64).
    if dtype == "float64":
        y = np.log(np.array([0.5, 0.25, 0.25]))
        got = call("log_softmax_backward", y, np.array([1.5e308, 1.5e308, -1.0]),
                   backend=backend)
        np.testing.assert_array_equal(got, [-inf, -inf, -inf])


BACKWARD_BEYOND_DOMAIN = {
    # exp(89) overflows float32, not the float64 arithmetic that defines the result.
    "log_softmax_backward-float32": ("log_softmax_backward", np.array([89.0, -1.0], np.float32),
                                     np.array([1e-3, 0.0], np.float32)),
    # y * (1 - y) overflows for |y| > 1.34e154 but dy * y * (1 - y) need not; long
    # enough for a vectorized loop.
    "sigmoid_backward-small-dy": ("sigmoid_backward", np.full(64, 1.5e154),
                                  np.full(64, 1e-300)),
    "sigmoid_backward-zero-dy": ("sigmoid_backward", np.full(64, 1.5e154), np.zeros(64)),
    "softmax_backward-huge-y": ("softmax_backward", np.full(64, 1e200), np.ones(64)),
    # float32 products y * dy of +-2e39 overflow float32 (to +inf and -inf: a
    # NaN sum) but cancel exactly in float64: the last column's results are
    # finite.  Short rows in blocks (40 rows of 3) and one long row.
    "softmax_backward-float32-products-overflow": (
        "softmax_backward", np.tile(np.float32([2e19, 2e19, 1e-30]), (40, 1)),
        np.tile(np.float32([1e20, -1e20, 1.0]), (40, 1))),
    "softmax_backward-float32-products-overflow-long-row": (
        "softmax_backward", np.float32([2e19, 2e19] + [1e-30] * 62),
        np.float32([1e20, -1e20] + [1.0] * 62)),
    # Found by fuzzing.  exp(-708.2) to exp(-745) are float64 subnormals, not 0:
    # times an infinite sum of dy they are infinite, not NaN (float32 data,
    # whose exps are taken in float64 when the sum is this large); exp(-800)
    # is 0 in float64 too.  Short rows and a long row.
    "log_softmax_backward-float32-subnormal-exp-infinite-sum": (
        "log_softmax_backward",
        np.tile(np.float32([0.0, -708.2, -720.0, -745.0, -800.0]), (40, 1)),
        np.tile(np.float32([-inf, 1.0, -1.0, 1.0, 1.0]), (40, 1))),
    "log_softmax_backward-float32-subnormal-exp-infinite-sum-long-row": (
        "log_softmax_backward", np.float32([0.0, -708.1, -720.0, -745.0] + [-709.0] * 60),
        np.float32([-inf, 1.0, 1.0, 1.0] + [2.0] * 60)),
    # Products y * dy that overflow float64 to -inf, then +inf: summed in the
    # reference's order, NaN (a fused multiply-add would keep -inf).
    "softmax_backward-float64-products-overflow": (
        "softmax_backward", np.tile([2.0, 2.0, 0.5], (40, 1)),
        np.tile([-1e308, 1.7e308, 1.0], (40, 1))),
    "softmax_backward-float64-products-overflow-long-row": (
        "softmax_backward", np.array([2.0, 2.0] + [0.5] * 62),
        np.array([-1e308, 1.7e308] + [1.0] * 62)),
    # float32 dy * y overflows float32 although dy * y * (1 - y) is finite.
    "sigmoid_backward-float32-product-overflows": (
        "sigmoid_backward", np.full(64, 1.6006285, np.float32),
        np.full(64, 3.0981669e38, np.float32)),
    # ... and y * (1 - y) overflows float32 (|y| > 1.8e19) where the result
    # does not; one such element among ordinary ones.
    "sigmoid_backward-float32-factor-overflows": (
        "sigmoid_backward", np.float32([0.25] * 40 + [1e20] + [0.5] * 23),
        np.float32([1.0] * 40 + [-1e-5] + [2.0] * 23)),
}


@pytest.mark.parametrize("case", list(BACKWARD_BEYOND_DOMAIN))
def test_backward_beyond_forward_range(case, backend):
    """y values no forward pass produces still follow the reference formula, evaluated
    in its order ((dy * y) * (1 - y)) and in float64."""
    name, y, dy = BACKWARD_BEYOND_DOMAIN[case]
    check(name, (y, dy), backend=backend, axis=None if name in ELEMENTWISE else -1)


@pytest.mark.parametrize("into", [0, 1], ids=["out-is-y", "out-is-dy"])
@pytest.mark.parametrize("case", list(BACKWARD_BEYOND_DOMAIN))
def test_backward_beyond_forward_range_in_place(case, into, backend):
    """The same, written over y or over dy: a kernel that takes another look at
    its inputs (a block redone in double) must not find its own results there."""
    name, y, dy = BACKWARD_BEYOND_DOMAIN[case]
    arrays = (y.copy(), dy.copy())
    check(name, arrays, backend=backend, axis=None if name in ELEMENTWISE else -1,
          out=arrays[into])


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int64"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_no_floating_point_errors(name, dtype, backend):
    """No overflow/invalid/divide/underflow error from any function on any input.

    ``call`` runs fastsoft under ``np.errstate(all="raise")``; pytest also turns
    RuntimeWarnings into errors.
    """
    for kind in ("nonfinite", "huge", "tiny"):
        for axis in ([None] if name in ELEMENTWISE else [-1, 0, None]):
            arrays = inputs_for(name, (4, 6), dtype, kind=kind, axis=axis, seed=9)
            kwargs = {} if name in ELEMENTWISE else {"axis": axis}
            got = call(name, *arrays, backend=backend, **kwargs)
            shape = arrays[0].shape
            assert got.shape == (np.zeros(shape).sum(axis=axis).shape if name == "logsumexp"
                                 else shape)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("special", [nan, inf, -inf, 1e4], ids=["nan", "inf", "-inf", "big"])
@pytest.mark.parametrize("n", [129, 161, 200])
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_special_value_in_head_middle_and_tail(name, n, special, dtype, backend):
    """Rows longer than the short-row path, whose first elements (up to the
    first 64-byte boundary) and last ones (past the last whole vector) are
    padded into vector loops: a special value in each of those places, in
    rows that start at every alignment (17 rows of n elements)."""
    rng = np.random.default_rng(n)
    base = rng.standard_normal((17, n)).astype(dtype)
    for position in (0, 1, 7, 15, n // 2, n - 33, n - 17, n - 2, n - 1):
        x = base.copy()
        x[:, position] = special
        check(name, (x,), backend=backend, axis=-1)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_equal_inputs_in_different_pieces(name, dtype, backend):
    """Equal values give equal results, and larger values larger ones, also when
    the parallel Cython fixture splits the row into pieces with different
    maxima (hypothesis found [1, -0.5, -0.5, -0.5, -0.5] giving two different
    softmax values for -0.5 when each piece was scaled from its own max)."""
    for values in ([1.0, -0.5, -0.5, -0.5, -0.5], [-0.5, -0.5, 1.0, -0.5, -0.5],
                   [0.25, 3.0, 0.25, 0.25, 2.0, 0.25, 0.25, 0.25]):
        x = np.array(values, dtype=dtype)
        y = check(name, (x,), backend=backend)
        for v in np.unique(x):
            assert np.unique(y[x == v]).size == 1, (values, y)
        order = np.argsort(x, kind="stable")
        assert np.all(np.diff(y[order]) >= 0), (values, y)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("n", [1, 2, 10, 1000])
def test_bounds_and_exact_values_at_the_max(n, dtype, backend):
    """softmax <= 1, log_softmax <= 0 and logsumexp >= max hold exactly (not
    only within rounding), and a group with one finite entry gives exactly 1,
    0 and that entry, for maxima of any size, along rows and columns: the max's
    own term of the sum is exactly 1.  (exp(x) / sum(exp(x)) unshifted, tried
    where no exp could overflow, gave logsumexp of [0.25] below 0.25 and failed
    20 of these; the Cython rows now take the sum of unshifted exps relative
    to the max's own exp, whose scalar and vectorized bits must agree: 2000
    maxima, most of them in the range of unshifted exps.)"""
    rng = np.random.default_rng(n)
    maxima = np.concatenate([rng.uniform(-50, 50, 60), [0.0, 0.25, 1.0, 5.0, 39.5, -0.25]])
    x = (maxima[:, None] - rng.uniform(0, 20, (maxima.size, n))).astype(dtype)
    x[np.arange(maxima.size), rng.integers(0, n, maxima.size)] = maxima.astype(dtype)
    many = np.concatenate([rng.uniform(-41, 41, 1000), rng.uniform(-601, 601, 900),
                           rng.uniform(-41, 41, 100) * 2.0 ** -rng.integers(1, 100, 100)])
    lonely = np.full((many.size, n), -inf, dtype=dtype)
    lonely[np.arange(many.size), rng.integers(0, n, many.size)] = many.astype(dtype)
    for axis, a, one in ((-1, x, n == 1), (0, np.ascontiguousarray(x.T), n == 1),
                         (-1, lonely, True), (0, np.ascontiguousarray(lonely.T), True)):
        top = a.max(axis=axis, keepdims=True)
        y = call("softmax", a, axis=axis, backend=backend)
        ls = call("log_softmax", a, axis=axis, backend=backend)
        lse = call("logsumexp", a, axis=axis, keepdims=True, backend=backend)
        assert np.all(y <= 1) and np.all(ls <= 0) and np.all(lse >= top)
        if one:  # one finite entry per group
            at_max = a == top
            np.testing.assert_array_equal(y[at_max], 1)
            np.testing.assert_array_equal(ls[at_max], 0)
            np.testing.assert_array_equal(lse, top)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("n", [10, 200, 1000])
def test_row_maxima_across_the_unshifted_range(n, name, dtype, backend):
    """Rows whose max m runs across and past the range where the Cython rows
    take exp(x) unshifted for log_softmax and logsumexp (|m| <= 40 float32,
    600 float64), each spread from m down to m - 120 (float32) or m - 800
    (float64): their exps of x reach the subnormals, and past the range's ends
    they would overflow or lose results that are normal numbers."""
    check(name, (maxima_across_unshifted_range(n, dtype),), backend=backend, axis=-1)


@pytest.mark.parametrize("masked", [False, True], ids=["", "where"])
@pytest.mark.parametrize("n", [10, 40, 1000, 70_000])
def test_subnormal_softmax_results_take_the_same_bits_either_way(n, masked, backend):
    """float32 softmax rows whose x - max run down to -110, so that some
    results are subnormal (exp(x - max) for x - max in [-104, -87.3]),
    beside NaN, +-inf, -1e4 and a lone finite entry.  The Cython backend
    forms subnormal results without the slow path of a multiply that rounds
    to one (fs_expf_diff_nonpositive_exact) when the first 4096 elements
    span more than 87.33, and with that multiply otherwise: the same rows
    after 4096 elements of narrow range and before them must give the same
    results, bit for bit, and match the reference; with where= too (rows
    and short rows take the exact form then, split rows do not)."""
    rng = np.random.default_rng(n)
    rows = max(8, 8192 // n)
    wide = rng.uniform(-110.0, 0.0, (rows, n)).astype(np.float32)
    wide[:, 0] = 0.0
    wide[1, n // 2] = nan
    wide[2, :] = -inf
    wide[2, n - 1] = -95.5  # a lone finite entry: exactly 1
    wide[3, n // 3] = inf
    wide[4, 1:] = -1e4
    wide[5, ::3] = -inf
    narrow = rng.uniform(-1.0, 1.0, (4096 // n + 1, n)).astype(np.float32)
    where = {}
    if masked:
        keep_wide = rng.random(wide.shape) < 0.9
        keep_wide[:, 0] = True
        keep_narrow = rng.random(narrow.shape) < 0.9
        where = {"after": np.concatenate([keep_narrow, keep_wide]),
                 "first": np.concatenate([keep_wide, keep_narrow])}
    after = check("softmax", (np.concatenate([narrow, wide]),), backend=backend, axis=-1,
                  where=where.get("after"))
    first = call("softmax", np.concatenate([wide, narrow]), axis=-1, backend=backend,
                 **({"where": where["first"]} if masked else {}))
    np.testing.assert_array_equal(after[len(narrow):], first[:rows])
    results = first[:rows]
    assert np.any((results > 0) & (results < np.finfo(np.float32).smallest_normal))


@pytest.mark.parametrize("size", [100, 10_000, 100_000])
def test_float32_sigmoid_beyond_87_takes_the_same_bits_either_way(size, backend):
    """float32 sigmoid and log_sigmoid of x out to +-120, where exp(-|x|) is
    subnormal beyond 87.33 and 0 beyond 104, beside NaN, +-inf, +-0 and the
    thresholds themselves.  The Cython backend keeps exp(-|x|) normal where
    the result cannot depend on it (sigmoid of x > 87.33, which is 1, when
    the first 4096 elements hold such an x; log_sigmoid of x < -87.33, which
    is x, always), and log1p(e) leaves out its e^2 term below 2^-60: the same
    data after 4096 elements of narrow range and before them must give the
    same results, bit for bit, and match the reference; sigmoid of x < -87.33
    and log_sigmoid of x > 87.33 stay subnormal."""
    rng = np.random.default_rng(size)
    wide = rng.uniform(-120.0, 120.0, size).astype(np.float32)
    special = [nan, inf, -inf, 0.0, -0.0, 87.33, -87.33, 87.34, -87.34, 103.9, -103.9,
               104.0, -104.0, 43.6, -43.6, 43.7, -43.7, 1e30, -1e30]
    wide[rng.choice(size, len(special), replace=False)] = special
    narrow = rng.uniform(-1.0, 1.0, 4096).astype(np.float32)
    tiny = np.finfo(np.float32).smallest_normal
    for name in ("sigmoid", "log_sigmoid"):
        after = check(name, (np.concatenate([narrow, wide]),), backend=backend)[len(narrow):]
        first = call(name, np.concatenate([wide, narrow]), backend=backend)[:size]
        np.testing.assert_array_equal(after, first)
        beyond = wide > 87.34 if name == "sigmoid" else wide < -87.34
        assert beyond.any()
        np.testing.assert_array_equal(first[beyond], 1.0 if name == "sigmoid" else wide[beyond])
        subnormal = wide < -87.34 if name == "sigmoid" else wide > 87.34
        assert np.any(subnormal & (first != 0) & (np.abs(first) < tiny))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_long_row_in_many_pieces(name, dtype, backend):
    """One row of 300,001 elements: the Cython backend splits it into pieces of
    at most 256 KB (6 to 10 of them here) on every thread count, each shifted
    by its own max first.  A piece of only -inf before the piece holding the
    max, a NaN, a +inf, and equal values in every piece (equal results)."""
    n = 300_001
    base = np.random.default_rng(5).standard_normal(n).astype(dtype)
    minus = base.copy()
    minus[:40_000] = -inf
    minus[250_000] = 30.0
    with_nan = base.copy()
    with_nan[123_457] = nan
    with_inf = base.copy()
    with_inf[7] = inf
    ties = base.copy()
    ties[::1000] = 2.5
    for x in (minus, with_nan, with_inf, ties):
        y = check(name, (x,), backend=backend, axis=-1)
    if name != "logsumexp":
        assert np.unique(y[ties == 2.5]).size == 1


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("n", [10, 100, 1000, 50_257])
def test_huge_row_maxima_with_ties(n, name, dtype, backend):
    """Rows whose max is of 2^60, 1e30 or -1e30 and taken by several entries, the
    rest far below (exp of the gap is 0): log_softmax of a tied max is -log(ties),
    which a kernel that folded max + log(sum) into one float64 shift would lose
    (2^60 + log 7 rounds to 2^60).  Short rows, rows, and both axes."""
    for big in HUGE_MAXIMA:
        x = tied_huge_maxima(n, big, dtype)
        got = check(name, (x,), backend=backend, axis=-1)
        if name == "log_softmax":
            np.testing.assert_allclose(got[2][x[2] == big], -math.log(7), rtol=1e-6)
        check(name, (np.ascontiguousarray(x.T),), backend=backend, axis=0)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("exps_twice", [False, True], ids=["max-first", "exps-twice"])
def test_split_softmax_either_way(exps_twice, dtype, cython_variant):
    """Softmax's long rows split across threads go one of two ways, chosen by
    build and CPU (set_cheap_exps): the row's max first and each exp once, or
    each piece shifted by its own max and the exps taken twice.  Either way
    the reference's results, on rows whose pieces differ and on one row long
    enough to split on any thread count, whose equal entries stay equal."""
    rng = np.random.default_rng(11)
    x = 3.0 * rng.standard_normal((6, 40))
    x[0, :20] = -inf
    x[1, :20] = nan
    x[2, 25] = inf
    x[3, :] = -inf
    x[4, :20] -= 300.0
    x[5, 20:] += 300.0
    long_row = rng.standard_normal(300_001)
    long_row[::1000] = 2.5
    previous = cython_variant.set_cheap_exps(exps_twice)
    try:
        for row in x.astype(dtype):
            check("softmax", (row[None, :],), backend="cython", axis=-1)
        y = check("softmax", (long_row.astype(dtype),), backend="cython", axis=-1)
    finally:
        restored = cython_variant.set_cheap_exps(previous)
    assert restored == exps_twice
    assert np.unique(y[long_row == 2.5]).size == 1


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_rows_whose_halves_differ(name, dtype, backend):
    """Rows whose first or second half holds only -inf, only NaN, or a +inf, next
    to finite values, and halves far apart in magnitude.  With the parallel
    Cython fixture each row is split across threads and each half is shifted by
    its own max first; the combined results must be those of the whole row."""
    rng = np.random.default_rng(7)
    x = 3.0 * rng.standard_normal((8, 40))
    x[0, :20] = -inf             # a piece of only -inf beside finite values
    x[1, 20:] = -inf
    x[2, :20] = nan              # a piece of only NaN: the row is NaN
    x[3, :20], x[3, 20:] = nan, -inf
    x[4, 25] = inf               # a +inf max
    x[5, :] = -inf               # all -inf
    x[6, :20] -= 300.0           # a piece far below the other (exps underflow)
    x[7, 20:] += 300.0
    for row in x.astype(dtype):  # one row per call: few rows are what gets split
        check(name, (row[None, :],), backend=backend, axis=-1)
