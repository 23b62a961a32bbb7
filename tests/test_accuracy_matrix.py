"""Accuracy across the benchmark matrix's row lengths: speed is not bought with error.

The oracle is fastsoft.reference: in float64 for float32 results, and in
extended precision (``precision=np.longdouble``, 64-bit significand on x86-64)
for float64 results, since float64 arithmetic cannot settle their last bits.
Rows keep the benchmark shapes' lengths (accuracy depends on the length of
the reduced group, not on how many rows there are), so each case is cheap;
the long single row exercises the path that splits one row across threads.

Bounds (float32 eps = 2**-23, float64 eps = 2**-52), counted from the exact
result *before* it is rounded to the output dtype (that rounding alone costs
up to 0.5 eps):

* softmax: relative error <= 4 eps (float32 and float64); sigmoid: <= 2 eps
  (float32) and 4 eps (float64); results below the dtype's smallest normal
  are judged against that floor, since subnormals carry no relative precision.
* log_softmax, logsumexp, log_sigmoid: error <= 2 eps * max(|ref|, 1) for
  float32 and 4 eps * max(|ref|, 1) for float64.
* backward passes: error <= 4 eps times the magnitude of the terms summed,
  since dy - sum(dy * y) may cancel.
"""

import zlib

import numpy as np
import pytest

import fastsoft
from fastsoft import reference

# (shape, axis): the matrix of issue 4 with fewer rows of the same length.
CASES = [
    ((256, 10), -1),
    ((64, 1000), -1),
    ((4, 50257), -1),
    ((16, 4096), -1),
    ((1000, 64), 0),
    ((1, 1_000_000), -1),
]
SCALES = [1.0, 10.0, 100.0]
DTYPES = [np.float32, np.float64]

# Bound on the relative error in eps, per function and dtype.
RELATIVE = {"softmax": (4, 4), "sigmoid": (2, 4)}
ABSOLUTE = {"log_softmax": (2, 4), "logsumexp": (2, 4), "log_sigmoid": (2, 4)}


def _logits(shape, dtype, scale, seed):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale).astype(dtype)


EXTENDED = np.finfo(np.longdouble).eps < 1e-18


def _oracle(name, *args, dtype, **kwargs):
    if dtype == np.float64:
        if not EXTENDED:
            pytest.skip("no extended precision long double to judge float64 results")
        kwargs["precision"] = np.longdouble
    return getattr(reference, name)(*args, **kwargs).astype(np.float64)


def _seed(*key):
    return zlib.crc32(repr(key).encode())


def _ulps(dtype, which):
    return which[0] if dtype == np.float32 else which[1]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-axis{c[1]}")
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp", "sigmoid",
                                  "log_sigmoid"])
def test_forward_accuracy(name, case, scale, dtype, backend):
    _check_forward(name, case, scale, dtype, backend)


def _check_forward(name, case, scale, dtype, backend):
    shape, axis = case
    x = _logits(shape, dtype, scale, seed=_seed(name, shape, scale))
    finfo = np.finfo(dtype)
    kwargs = {} if name in ("sigmoid", "log_sigmoid") else {"axis": axis}
    got = getattr(fastsoft, name)(x, backend=backend, **kwargs).astype(np.float64)
    ref = _oracle(name, x, dtype=dtype, **kwargs)
    if name in RELATIVE:
        bound = _ulps(dtype, RELATIVE[name]) * finfo.eps
        err = np.abs(got - ref) / np.maximum(np.abs(ref), finfo.tiny)
    else:
        bound = _ulps(dtype, ABSOLUTE[name]) * finfo.eps
        err = np.abs(got - ref) / np.maximum(np.abs(ref), 1.0)
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err[worst] <= bound, (
        f"{name} {dtype.__name__} max error {err[worst] / finfo.eps:.2f} eps at {worst}: "
        f"got {got[worst]!r}, reference {ref[worst]!r}"
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-axis{c[1]}")
@pytest.mark.parametrize("name", ["softmax_backward", "log_softmax_backward",
                                  "sigmoid_backward"])
def test_backward_accuracy(name, case, dtype, backend):
    _check_backward(name, case, dtype, backend)


def _check_backward(name, case, dtype, backend):
    shape, axis = case
    rng = np.random.default_rng(7)
    x = _logits(shape, dtype, 3.0, seed=11)
    forward = {"softmax_backward": "softmax", "log_softmax_backward": "log_softmax",
               "sigmoid_backward": "sigmoid"}[name]
    kwargs = {} if name == "sigmoid_backward" else {"axis": axis}
    y = getattr(fastsoft, forward)(x, **kwargs)
    dy = rng.standard_normal(shape).astype(dtype)
    got = getattr(fastsoft, name)(y, dy, backend=backend, **kwargs).astype(np.float64)
    ref = _oracle(name, y, dy, dtype=dtype, **kwargs)
    y64, dy64 = y.astype(np.float64), dy.astype(np.float64)
    # Magnitude of the terms that make up each result element.
    if name == "softmax_backward":
        dot = np.sum(np.abs(dy64 * y64), axis=axis, keepdims=True)
        scale = np.abs(y64) * (np.abs(dy64) + dot)
    elif name == "log_softmax_backward":
        total = np.sum(np.abs(dy64), axis=axis, keepdims=True)
        scale = np.abs(dy64) + np.exp(y64) * total
    else:
        scale = np.abs(dy64 * y64)
    eps = np.finfo(dtype).eps
    err = np.abs(got - ref) - 4 * eps * scale
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err[worst] <= np.finfo(dtype).tiny, (
        f"{name} {dtype.__name__}: error {abs(got[worst] - ref[worst])!r} exceeds "
        f"4 eps * {scale[worst]!r} at {worst}"
    )


# The Cython backend runs large slabs along a non-last axis by bands of rows
# (tests/test_bands.py); the matrix's column case is too small to take them,
# so here they are forced, with every thread given a band.
COLUMNS = [c for c in CASES if c[1] != -1]


@pytest.fixture
def cython_bands():
    if "cython" not in fastsoft.backends():
        pytest.skip("the Cython backend is not built")
    from fastsoft import _cython

    previous = _cython.set_band_mode(1), _cython.set_min_work_per_thread(1)
    try:
        yield "cython"
    finally:
        _cython.set_band_mode(previous[0])
        _cython.set_min_work_per_thread(previous[1])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("case", COLUMNS, ids=lambda c: f"{c[0]}-axis{c[1]}")
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_forward_accuracy_in_bands(name, case, scale, dtype, cython_bands):
    _check_forward(name, case, scale, dtype, cython_bands)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", COLUMNS, ids=lambda c: f"{c[0]}-axis{c[1]}")
@pytest.mark.parametrize("name", ["softmax_backward", "log_softmax_backward"])
def test_backward_accuracy_in_bands(name, case, dtype, cython_bands):
    _check_backward(name, case, dtype, cython_bands)
