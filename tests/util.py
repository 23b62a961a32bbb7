"""Shared test helpers: the awkward-input generator, the oracle and the tolerance model.

Every test module draws its inputs from :func:`awkward` (or :func:`values` and
:func:`arrange`), calls fastsoft through :func:`call` (which checks that no
floating-point warning is raised and that no input is modified) and judges the
result with :func:`assert_matches` against :func:`expected`, which is
``fastsoft.reference`` in a precision finer than the result dtype.

Tolerance model.  For a result of dtype ``D`` with machine epsilon ``eps``::

    |got - exact| <= K * eps * (|exact| + scale) + K * smallest_subnormal(D)

with ``K = 4`` (rounding the result costs 0.5 eps; the kernels claim a few
eps).  ``scale`` is 0 for functions whose result has full relative precision
(softmax, sigmoid, log_sigmoid) and otherwise the size of the terms that the
formula adds with opposite signs, where cancellation leaves only absolute
accuracy: see :func:`error_scale`.  The ``smallest_subnormal`` term covers
results below the normal range, which have no relative precision.  float16
results use float16's eps (they are computed in float32 and rounded once).
Non-finite expected values must be matched exactly (same NaN positions, same
signed infinities).

The oracle is the reference run on the inputs cast to the compute dtype, in
long double for float64 results (float64 cannot settle its own last bits:
``exp(x - max)`` inherits the rounding of ``x - max``) and in float64 otherwise.
The float64 reference still decides which results are NaN or infinite.
"""

import contextlib
import math
import zlib

import numpy as np
import pytest

import fastsoft
from fastsoft import reference
from fastsoft._comparisons import BACKWARD, ELEMENTWISE, FORWARD, FUNCTIONS  # noqa: F401

# (The function tables above are the benchmark registry's, so tests and
# benchmarks cover the same functions.)
MASKED = ("softmax", "log_softmax", "logsumexp")
# Functions that may write their result over their (first) input.
IN_PLACE = ("softmax", "log_softmax", "sigmoid", "log_sigmoid")

DTYPES = ("float16", "float32", "float64", "int64", "bool")
FLOAT_DTYPES = ("float16", "float32", "float64")
LAYOUTS = ("C", "F", "strided", "negative", "transposed", "big-endian", "readonly")
KINDS = ("normal", "nonfinite", "huge", "tiny")
SHAPE = (5, 7, 3)
# -1, 0, a middle axis, adjacent and non-adjacent tuples, all axes.
AXES = (-1, 0, 1, (1, 2), (0, -1), None)

K = 4
# The oracle for float64 results: extended precision where NumPy has it.
EXTENDED = np.finfo(np.longdouble).eps < np.finfo(np.float64).eps


@contextlib.contextmanager
def cython_kernels(variant, parallel):
    """The Cython backend's SIMD `variant` while the block runs, with every
    array split across threads when `parallel` (one element per thread is
    enough: small test arrays reach the parallel and split-row paths)."""
    from fastsoft import _cython

    previous_variant = _cython.set_simd(variant)
    previous_work = _cython.set_min_work_per_thread(1) if parallel else None
    try:
        yield _cython
    finally:
        _cython.set_simd(previous_variant)
        if previous_work is not None:
            _cython.set_min_work_per_thread(previous_work)


def axis_id(axis):
    """A readable test id for an axis value."""
    if axis is None:
        return "axisNone"
    if isinstance(axis, tuple):
        return "axis(" + ",".join(map(str, axis)) + ")"
    return f"axis{axis}"


def function_axes(functions, axes):
    """pytest params ``(name, axis)``: row functions over ``axes``, element-wise ones once."""
    cases = []
    for name in functions:
        if name in ELEMENTWISE:
            cases.append(pytest.param(name, None, id=name))
        else:
            cases += [pytest.param(name, axis, id=f"{name}-{axis_id(axis)}") for axis in axes]
    return cases


def seed_of(*key):
    """A stable seed derived from a test's parameters (not Python's salted hash)."""
    return zlib.crc32(repr(key).encode())


# --------------------------------------------------------------------------
# Inputs


def values(shape, dtype, kind="normal", rng=None):
    """A C-contiguous array of ``shape`` and ``dtype`` holding values of ``kind``.

    kind:
      normal     standard normal times 3 (floats), small integers, random bools;
      nonfinite  normal values mixed with -inf (often), +inf and NaN (rarely), one
                 row along the last axis entirely -inf, and signed zeros;
      huge       magnitudes at the edge of exp's range and beyond: +-88 and +-3e38 for
                 float32, +-709 and +-1.7e308 for float64, +-11 and +-65504 for float16;
      tiny       magnitudes near and below the smallest normal, and signed zeros.
    Integer and bool dtypes only have ``normal`` and ``huge`` values.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    dtype = np.dtype(dtype)
    shape = tuple(shape)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if kind == "huge":
            return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
        low = max(info.min, -5)
        return rng.integers(low, 6, size=shape, dtype=dtype)
    finfo = np.finfo(dtype)
    if kind == "normal":
        x = 3.0 * rng.standard_normal(shape)
    elif kind == "nonfinite":
        x = np.array(3.0 * rng.standard_normal(shape))
        u = rng.random(shape)
        x[u < 0.25] = -np.inf
        x[(u >= 0.25) & (u < 0.29)] = np.inf
        x[(u >= 0.29) & (u < 0.33)] = np.nan
        x[(u >= 0.33) & (u < 0.36)] = -0.0
        if x.ndim >= 1 and x.size:
            x.reshape(-1, shape[-1])[0] = -np.inf  # one row entirely -inf
    elif kind == "huge":
        edge = math.log(float(finfo.max))  # where exp overflows: 11.09, 88.7, 709.8
        x = np.array(rng.uniform(-edge, edge, shape))
        u = rng.random(shape)
        big = float(finfo.max) * rng.uniform(0.5, 1.0, shape)
        x[u < 0.1] = big[u < 0.1]
        x[u > 0.9] = -big[u > 0.9]
    elif kind == "tiny":
        x = np.array(float(finfo.smallest_normal) * rng.uniform(-4, 4, shape))
        u = rng.random(shape)
        x[u < 0.2] = float(finfo.smallest_subnormal) * rng.integers(-3, 4, shape)[u < 0.2]
        x[u > 0.9] = -0.0
    else:
        raise ValueError(f"unknown kind {kind!r}")
    with np.errstate(over="ignore"):
        return np.asarray(x).astype(dtype)


HUGE_MAXIMA = (2.0 ** 60, 1e30, -1e30)


def maxima_across_unshifted_range(n, dtype):
    """Rows of n entries whose max runs across and past the range where the
    Cython rows take exp(x) unshifted (|max| <= 40 float32, 600 float64),
    each spread evenly from its max down to 120 (float32) or 800 (float64)
    below it: their exps of x reach the subnormals, and past the range's ends
    they would overflow or lose results that are normal numbers."""
    top = 120.0 if np.dtype(dtype) == np.float32 else 800.0
    maxima = [-1e4, -750.0, -601.0, -599.0, -200.0, -100.0, -61.0, -41.0, -39.0, -5.0, -0.5,
              0.0, 0.5, 5.0, 39.0, 41.0, 44.0, 89.0, 100.0, 599.0, 601.0, 665.0, 700.0, 1e4]
    spread = np.linspace(0.0, top, n)[::-1]
    return (np.array(maxima)[:, None] - spread).astype(dtype)


def tied_huge_maxima(n, big, dtype):
    """Four rows of n entries whose max is ``big``, taken by 1, 2, 7 and n
    entries, the rest 2^-10 * |big| below (so their exps are 0): the
    log_softmax of a tied max is -log(ties), lost by a kernel that folds max +
    log(sum) into one float64 shift at this magnitude."""
    rng = np.random.default_rng(n)
    x = np.full((4, n), big * (1 - np.sign(big) * 2.0 ** -10), dtype)
    for r, ties in enumerate((1, 2, 7, n)):
        x[r, rng.choice(n, size=ties, replace=False)] = big
    return x


def arrange(a, layout):
    """The values of ``a`` in memory layout ``layout`` (a new array or view).

    C, F, strided (every other element of a larger buffer, offset by one),
    negative (negative strides on every axis), transposed (neither C- nor
    F-contiguous), big-endian (``>`` byte order), readonly.
    """
    a = np.asarray(a)
    if layout == "C":
        return a.copy(order="C")  # (np.ascontiguousarray makes a 0-d array 1-d)
    if layout == "F":
        return a.copy(order="F")
    if a.ndim == 0 and layout in ("strided", "negative", "transposed"):
        return a.copy()  # a 0-d array has no strides to play with
    if layout == "strided":
        base = np.zeros(tuple(2 * n + 1 for n in a.shape), dtype=a.dtype)
        view = base[tuple(slice(1, None, 2) for _ in a.shape)]
        view[...] = a
        return view
    if layout == "negative":
        base = np.zeros(tuple(2 * n for n in a.shape), dtype=a.dtype)
        view = base[tuple(slice(None, None, -2) for _ in a.shape)]
        view[...] = a
        return view
    if layout == "transposed":
        if a.ndim < 2:
            return a[::-1].copy()[::-1]
        # Memory order (1, 2, ..., 0): a permutation that is neither C nor F.
        stored = np.ascontiguousarray(np.moveaxis(a, 0, -1))
        return np.moveaxis(stored, -1, 0)
    if layout == "big-endian":
        return a.astype(a.dtype.newbyteorder(">"))
    if layout == "readonly":
        c = a.copy()
        c.flags.writeable = False
        return c
    raise ValueError(f"unknown layout {layout!r}")


def awkward(shape, dtype, layout="C", kind="normal", seed=0):
    """:func:`values` of ``kind`` arranged in ``layout``."""
    return arrange(values(shape, dtype, kind, np.random.default_rng(seed)), layout)


def backward_inputs(name, shape, dtype, layout="C", kind="normal", axis=-1, seed=0):
    """``(y, dy)`` for a backward pass: ``y`` the forward output on awkward logits.

    For float dtypes ``y`` is the reference forward result rounded to ``dtype``
    (the values a backward pass sees in training); for integer and bool dtypes
    the formula is exercised on the raw values.  ``dy`` is an awkward array of
    the same ``kind`` (so +-inf, NaN and huge upstream gradients are covered).
    """
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    x = values(shape, dtype, kind, rng)
    if dtype.kind == "f":
        forward = getattr(reference, BACKWARD[name])
        kwargs = {} if name in ELEMENTWISE else {"axis": axis}
        with np.errstate(over="ignore"):
            y = forward(x, **kwargs).astype(dtype)
    else:
        y = x
    dy = values(shape, dtype, kind, rng)
    if kind == "huge" and dtype == np.float64:
        # Whether a float64 sum of huge terms of both signs overflows depends on
        # the order of summation, which the semantics leave open: keep every
        # partial sum finite.  (Overflow that no order avoids is tested in
        # test_edge_cases.py; float32 and float16 sums run in wider precision.)
        dy = dy / (4 * max(dy.size, 1))
    return arrange(y, layout), arrange(dy, layout)


def inputs_for(name, shape, dtype, layout="C", kind="normal", axis=-1, seed=0):
    """The positional array arguments of function ``name``."""
    if name in BACKWARD:
        return backward_inputs(name, shape, dtype, layout, kind, axis, seed)
    return (awkward(shape, dtype, layout, kind, seed),)


# --------------------------------------------------------------------------
# Calling fastsoft


def _snapshot(a):
    if isinstance(a, np.ndarray):
        return (a.dtype, a.shape, a.strides, a.tobytes())
    return repr(a)


def call(name, *arrays, **kwargs):
    """``fastsoft.<name>(*arrays, **kwargs)`` under ``np.errstate(all="raise")``.

    Asserts afterwards that no input was modified (byte for byte, so a NaN
    payload or the sign of a zero counts), except an input that is ``out``.
    """
    out = kwargs.get("out")
    before = [_snapshot(a) for a in arrays]
    with np.errstate(all="raise"):
        result = getattr(fastsoft, name)(*arrays, **kwargs)
    for i, (a, snap) in enumerate(zip(arrays, before)):
        if out is not None and isinstance(a, np.ndarray) and np.shares_memory(a, out):
            continue
        assert _snapshot(a) == snap, f"{name} modified its input #{i}"
    return result


# --------------------------------------------------------------------------
# Dtype rules


def result_dtype_of(in_dtype, dtype=None):
    """The documented result dtype: floats keep theirs, bool and integers give float64."""
    if dtype is not None:
        return np.dtype(dtype).newbyteorder("=")
    in_dtype = np.dtype(in_dtype)
    if in_dtype.kind == "f":
        return in_dtype.newbyteorder("=")
    return np.dtype(np.float64)


def compute_dtype_of(result):
    """float16 results are computed in float32."""
    result = np.dtype(result)
    return np.dtype(np.float32) if result == np.float16 else result


def oracle_precision(result):
    """The precision the reference runs in to judge a result of dtype ``result``."""
    if np.dtype(result) == np.float64 and EXTENDED:
        return np.longdouble
    return np.float64


# --------------------------------------------------------------------------
# The oracle and the tolerance


def _axes(name, axis, ndim):
    """``axis`` as a tuple of non-negative ints (no validation: the inputs are valid)."""
    if name in ELEMENTWISE or axis is None:
        return tuple(range(ndim))
    if isinstance(axis, tuple):
        return tuple(a % ndim for a in axis)
    return (axis % ndim,)


def expected(name, arrays, *, axis=-1, where=None, keepdims=False, result=None, dtype=None):
    """The reference result for ``fastsoft.<name>(*arrays, ...)`` and its error scale.

    The inputs are first cast to the compute dtype (as fastsoft does: float16
    and ``dtype=float16`` compute in float32), then the reference runs in
    extended precision for float64 results (where the float64 reference is
    finite) and in float64 otherwise.
    Returns ``(exact, scale, result_dtype)``.
    """
    arrays = [np.asarray(a) for a in arrays]
    if result is None:
        in_dtype = np.result_type(*[a.dtype for a in arrays]) if len(arrays) > 1 \
            else arrays[0].dtype
        result = result_dtype_of(in_dtype, dtype)
    compute = compute_dtype_of(result)
    precision = oracle_precision(result)
    with np.errstate(all="ignore"):
        cast = [a.astype(compute) for a in arrays]
    func = getattr(reference, name)
    kwargs = {"precision": precision}
    if name not in ELEMENTWISE:
        kwargs["axis"] = axis
    if where is not None:
        kwargs["where"] = where
    if name == "logsumexp":
        kwargs["keepdims"] = keepdims
    exact = func(*cast, **kwargs)
    if precision is not np.float64:
        # The float64 reference defines which results are NaN or infinite (long
        # double's wider exponent range would keep exp(710) finite); long double
        # only refines the finite values.
        kwargs["precision"] = np.float64
        defined = func(*cast, **kwargs)
        exact = np.where(np.isfinite(defined), exact, defined.astype(exact.dtype))
    scale = error_scale(name, [c.astype(precision) for c in cast], axis, where, keepdims,
                        result=result)
    return exact, scale, np.dtype(result)


def error_scale(name, arrays, axis=-1, where=None, keepdims=False, result=None):
    """The magnitude of the terms each result element is summed from.

    log_softmax = (x - max) - log(sum): both terms are <= 0, no cancellation, but
        log(sum) with sum >= 1 is only accurate to eps absolutely (log of a
        rounded sum), so results near 0 get an absolute floor: scale 1.
    logsumexp = max + log(sum): cancels when max < 0; scale |max| + 1.
    softmax_backward = y * (dy - sum(dy * y)): scale |y| * (|dy| + sum|dy * y|).
    log_softmax_backward = dy - exp(y) * sum(dy): scale |dy| + exp(y) * sum|dy|.
    The others have full relative precision: scale 0.

    With ``result`` (the result dtype), the backward passes also get the error of
    intermediate products that underflow (up to one subnormal of ``result`` each),
    amplified by the factor they are multiplied with afterwards: only y values
    far outside what a forward pass produces make this visible.
    """
    underflow = 0.0
    if result is not None:
        finfo = np.finfo(result)
        underflow = float(finfo.smallest_subnormal) / float(finfo.eps)
    with np.errstate(all="ignore"):
        if name == "log_softmax":
            return 1.0
        if name == "logsumexp":
            (x,) = arrays
            axes = _axes(name, axis, x.ndim)
            mask = np.ones(x.shape, bool) if where is None else np.broadcast_to(where, x.shape)
            big = np.where(mask & np.isfinite(x), np.abs(x), 0)
            return np.max(big, axis=axes, keepdims=keepdims, initial=0) + 1
        if name == "softmax_backward":
            y, dy = arrays
            axes = _axes(name, axis, y.ndim)
            dot = np.sum(np.abs(dy * y), axis=axes, keepdims=True)
            n = y.size // max(1, dot.size)
            return np.abs(y) * (np.abs(dy) + dot + n * underflow)
        if name == "log_softmax_backward":
            y, dy = arrays
            axes = _axes(name, axis, y.ndim)
            total = np.sum(np.abs(dy), axis=axes, keepdims=True)
            return np.abs(dy) + (np.exp(y) + underflow) * total
        if name == "sigmoid_backward":
            y, dy = arrays
            return (np.abs(y) + 1) * underflow
    return 0.0


def tolerance(result, exact, scale, k=K):
    """The allowed absolute error per element (see the module docstring)."""
    finfo = np.finfo(result)
    with np.errstate(all="ignore"):
        tol = k * float(finfo.eps) * (np.abs(exact) + scale) + k * float(finfo.smallest_subnormal)
        fallback = k * float(finfo.eps) * np.abs(exact) + k * float(finfo.smallest_subnormal)
    # An infinite scale next to a finite result would accept anything.
    return np.where(np.isfinite(tol), tol, fallback)


def assert_matches(got, exact, scale, result, *, k=K, what="", native=True):
    """``got`` has dtype ``result``, the shape of ``exact``, and is within tolerance.

    Where the exact value rounded to ``result`` is not finite, ``got`` must be
    the same value (NaN where NaN, the same infinity).  ``native=False`` accepts
    ``result`` in either byte order (a user's ``out=`` array).
    """
    assert isinstance(got, np.ndarray), f"{what}: result is {type(got).__name__}, not ndarray"
    dtype = got.dtype if native else got.dtype.newbyteorder("=")
    assert dtype == result, f"{what}: dtype {got.dtype}, expected {result}"
    assert dtype.isnative, f"{what}: result is not in native byte order"
    exact = np.asarray(exact)
    assert got.shape == exact.shape, f"{what}: shape {got.shape}, expected {exact.shape}"
    with np.errstate(all="ignore"):
        rounded = exact.astype(result)
    special = ~np.isfinite(rounded)
    np.testing.assert_array_equal(
        got[special], rounded[special], err_msg=f"{what}: non-finite values differ"
    )
    finite = ~special
    got_f = got[finite].astype(exact.dtype)
    assert np.all(np.isfinite(got_f)), f"{what}: non-finite result where the reference is finite"
    tol = np.broadcast_to(tolerance(result, exact, scale, k), exact.shape)[finite]
    err = np.abs(got_f - exact[finite])
    if err.size and not np.all(err <= tol):
        i = int(np.argmax(err - tol))
        where = np.argwhere(finite)[i]
        raise AssertionError(
            f"{what}: error {float(err[i]):.3e} > tolerance {float(tol[i]):.3e} at "
            f"{tuple(int(j) for j in where)}: got {got_f[i]!r}, exact {exact[finite][i]!r}"
        )


def check(name, arrays, *, backend, axis=-1, where=None, keepdims=None, dtype=None,
          out=None, k=K):
    """Call fastsoft ``name`` and compare it to the reference; returns the result."""
    kwargs = {"backend": backend}
    if name not in ELEMENTWISE:
        kwargs["axis"] = axis
    if where is not None:
        kwargs["where"] = where
    if keepdims is not None:
        kwargs["keepdims"] = keepdims
    if dtype is not None:
        kwargs["dtype"] = dtype
    if out is not None:
        kwargs["out"] = out
    exact, scale, result = expected(name, arrays, axis=axis, where=where,
                                    keepdims=bool(keepdims), dtype=dtype)
    got = call(name, *arrays, **kwargs)
    assert_matches(got, exact, scale, result, k=k, what=f"{name}(axis={axis!r})",
                   native=out is None)
    if out is not None:
        assert got is out
    return got
