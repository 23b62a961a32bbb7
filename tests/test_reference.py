"""The oracle itself: fastsoft.reference against mpmath and against scipy.special.

mpmath recipe (the exact values, at ``mp.dps = 60`` decimal digits, from the
float64 inputs, which mpmath converts exactly)::

    mp.dps = 60
    e = [mp.exp(mp.mpf(v)) for v in row]; s = mp.fsum(e)
    softmax = [ei / s for ei in e];  logsumexp = mp.log(s)
    log_softmax = [mp.mpf(v) - mp.log(s) for v in row]
    sigmoid = 1 / (1 + mp.exp(-v));  log_sigmoid = -mp.log1p(mp.exp(-v))
    softmax_backward = [y_i * (dy_i - mp.fsum(dy_j * y_j))]
    log_softmax_backward = [dy_i - mp.exp(y_i) * mp.fsum(dy_j)]
    sigmoid_backward = dy * y * (1 - y)

The same rows also judge each backend directly, so a platform whose long
double is only float64 still has an exact oracle for float64 results.
"""

import mpmath
import numpy as np
import pytest
import scipy.special as special

import fastsoft
from fastsoft import reference
from tests.util import (
    BACKWARD,
    ELEMENTWISE,
    EXTENDED,
    FUNCTIONS,
    assert_matches,
    error_scale,
    function_axes,
)

DPS = 60


def _exact_to_longdouble(values):
    """mpmath numbers as long doubles (two float64 parts, so nothing is lost above float64)."""
    out = []
    for v in values:
        if not mpmath.isfinite(v):
            out.append(np.longdouble(float(v)))
            continue
        hi = float(v)
        lo = float(v - hi)
        out.append(np.longdouble(hi) + np.longdouble(lo))
    return np.array(out, dtype=np.longdouble)


def mp_exact(name, row, dy=None):
    """The exact result of ``name`` on one row (a 1-D float64 array), as long doubles."""
    mpmath.mp.dps = DPS
    xs = [mpmath.mpf(float(v)) for v in row]
    if name in ("softmax", "log_softmax", "logsumexp"):
        s = mpmath.fsum(mpmath.exp(v) for v in xs)
        if name == "softmax":
            res = [mpmath.exp(v) / s for v in xs]
        elif name == "log_softmax":
            res = [v - mpmath.log(s) for v in xs]
        else:
            res = [mpmath.log(s)]
    elif name == "sigmoid":
        res = [1 / (1 + mpmath.exp(-v)) for v in xs]
    elif name == "log_sigmoid":
        res = [-mpmath.log1p(mpmath.exp(-v)) for v in xs]
    else:
        ds = [mpmath.mpf(float(v)) for v in dy]
        if name == "softmax_backward":
            dot = mpmath.fsum(d * y for d, y in zip(ds, xs))
            res = [y * (d - dot) for d, y in zip(ds, xs)]
        elif name == "log_softmax_backward":
            total = mpmath.fsum(ds)
            res = [d - mpmath.exp(y) * total for d, y in zip(ds, xs)]
        else:
            res = [d * y * (1 - y) for d, y in zip(ds, xs)]
    exact = _exact_to_longdouble(res)
    return exact[0] if name == "logsumexp" else exact


def sample_rows(seed=0):
    """Rows of varied lengths and magnitudes, plus hand-picked hard ones."""
    rng = np.random.default_rng(seed)
    rows = []
    for scale in (0.1, 1.0, 10.0, 100.0, 700.0):
        for n in (1, 2, 3, 7, 16):
            rows.append(scale * rng.standard_normal(n))
    rows += [
        np.array([1.6, 3.1, 0.5]),
        np.array([0.0, -40.0]),         # log_softmax/logsumexp near 0
        np.array([0.0, -1e4]),
        np.array([1000.0, 0.0]),
        np.array([-1000.0, -1000.0]),
        np.array([-745.0, 0.0, -1.0]),  # exp at the bottom of float64's range
        np.array([709.0, 708.0, -709.0]),
        np.array([-0.5, 1e-10, -1e-10]),
        np.array([-100.0, -36.0, 36.0, 100.0]),
    ]
    return rows


ROWS = sample_rows()


def _inputs(name, row, rng):
    """(y, dy) for backward passes (y the exact-enough forward output), x otherwise."""
    if name in BACKWARD:
        forward = getattr(reference, BACKWARD[name])
        y = forward(row, precision=np.longdouble).astype(np.float64) if EXTENDED \
            else forward(row)
        return (y, rng.standard_normal(row.size))
    return (row,)


def _shift_condition(name, row):
    """Extra error scale of the plain float64 reference: it rounds x - max.

    exp(x - max) inherits a relative error u * |x - max|; logsumexp's sum
    inherits the softmax-weighted mean of those, at most n / e.
    """
    d = np.abs(row - row.max())
    if name == "softmax":
        return d  # times |result|, applied by the caller
    if name == "logsumexp":
        return row.size
    return 0.0


IMPLEMENTATIONS = ["reference-float64", "reference-extended", "backend-float64",
                   "backend-float32"]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_against_mpmath(name, impl, backend):
    if impl == "reference-extended" and not EXTENDED:
        pytest.skip("long double is float64 here")
    rng = np.random.default_rng(11)
    for i, row in enumerate(ROWS):
        arrays = _inputs(name, row, rng)
        result = np.dtype(np.float32 if impl == "backend-float32" else np.float64)
        if impl == "backend-float32":
            with np.errstate(over="ignore"):
                arrays = tuple(a.astype(np.float32) for a in arrays)
            if not all(np.all(np.isfinite(a)) for a in arrays):
                continue  # beyond float32's range
        exact = mp_exact(name, *[a.astype(np.float64) for a in arrays])
        kwargs = {} if name in ELEMENTWISE else {"axis": -1}
        if impl.startswith("backend"):
            with np.errstate(all="raise"):
                got = getattr(fastsoft, name)(*arrays, backend=backend, **kwargs)
        else:
            precision = np.longdouble if impl == "reference-extended" else np.float64
            got = getattr(reference, name)(*arrays, precision=precision, **kwargs)
            got = got.astype(np.float64)
        scale = error_scale(name, [a.astype(np.longdouble) for a in arrays])
        if impl == "reference-float64":
            extra = _shift_condition(name, arrays[0])
            scale = scale + (np.abs(exact) * extra if name == "softmax" else extra)
        assert_matches(np.asarray(got), exact, scale, result, what=f"{impl} {name} row {i}")


def test_reference_is_float64_inside():
    """Whatever the input dtype, the reference returns float64 (its default precision)."""
    for dtype in (np.float16, np.float32, np.int32, np.bool_):
        x = np.ones((2, 3), dtype)
        for name in ("softmax", "log_softmax", "logsumexp", "sigmoid", "log_sigmoid"):
            kwargs = {} if name in ELEMENTWISE else {"axis": -1}
            assert getattr(reference, name)(x, **kwargs).dtype == np.float64


# --------------------------------------------------------------------------
# scipy.special

SCIPY = {
    "softmax": special.softmax,
    "log_softmax": special.log_softmax,
    "logsumexp": special.logsumexp,
    "sigmoid": special.expit,
    "log_sigmoid": special.log_expit,
}


def _scipy_input(name, rng):
    """Moderate logits with -inf entries, an all -inf row and (where SciPy agrees) +inf/NaN.

    SciPy's log_softmax gives [nan, -inf, -inf] for a row [inf, 0, 0] where
    fastsoft (and SciPy's own softmax) give an all-NaN row: no +inf there.
    """
    x = rng.uniform(-5, 5, (4, 5, 6))
    x[rng.random(x.shape) < 0.15] = -np.inf
    x[1, 2, :] = -np.inf
    x[:, 3, 4] = -np.inf
    if name != "log_softmax":
        x[2, 0, 1] = np.inf
        x[3, 4, 5] = np.nan
        x[0, 1, 2] = np.inf
        x[0, 1, 3] = -np.inf
    return x


@pytest.mark.parametrize(("name", "axis"), function_axes(SCIPY, [-1, 0, 1, (0, 2), None]))
def test_reference_against_scipy(name, axis, rng):
    x = _scipy_input(name, rng)
    kwargs = {} if name in ELEMENTWISE else {"axis": axis}
    # SciPy computes these in float64 and warns on -inf rows; silence it, not us.
    with np.errstate(all="ignore"):
        theirs = SCIPY[name](x, **kwargs)
    ours = getattr(reference, name)(x, **kwargs)
    # Both sides round x - max (|x - max| <= 10 here, up to 10 ulp each in exp)
    # and a log: 16 eps with the usual absolute floor covers both.
    scale = error_scale(name, [x], axis)
    assert_matches(np.asarray(theirs), ours, scale, np.dtype(np.float64), k=16,
                   what=f"scipy.special vs reference {name}")


def test_scipy_default_axis_differs(backend):
    """SciPy's softmax reduces over all elements by default; fastsoft over the last axis."""
    x = np.arange(6.0).reshape(2, 3)
    ours = fastsoft.softmax(x, backend=backend)
    np.testing.assert_allclose(ours, special.softmax(x, axis=-1), rtol=1e-15)
    np.testing.assert_allclose(fastsoft.softmax(x, axis=None, backend=backend),
                               special.softmax(x), rtol=1e-15)
    assert not np.allclose(ours, special.softmax(x))
