"""``out=``: the result is written there and ``out`` is returned; in place, overlapping and
non-contiguous outputs; errors are raised before anything is written."""

import re

import numpy as np
import pytest

from tests.util import (
    AXES,
    BACKWARD,
    ELEMENTWISE,
    FUNCTIONS,
    IN_PLACE,
    MASKED,
    SHAPE,
    arrange,
    assert_matches,
    axis_id,
    call,
    check,
    expected,
    function_axes,
    inputs_for,
    seed_of,
)

SENTINEL = -12345.0


def _kwargs(name, axis):
    return {} if name in ELEMENTWISE else {"axis": axis}


def _result_shape(name, shape, axis, keepdims=False):
    if name != "logsumexp":
        return shape
    return np.zeros(shape).sum(axis=axis, keepdims=keepdims).shape


def _sentinel_out(shape, dtype, layout="C"):
    out = arrange(np.full(shape, SENTINEL, dtype=dtype), layout)
    assert out.flags.writeable
    return out


OUT_LAYOUTS = ("C", "F", "strided", "negative", "transposed", "big-endian")


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("out_layout", OUT_LAYOUTS)
@pytest.mark.parametrize(("name", "axis"), function_axes(FUNCTIONS, [-1, 0, (0, 2), None]))
def test_out_is_written_and_returned(name, axis, out_layout, dtype, backend):
    arrays = inputs_for(name, SHAPE, dtype, axis=axis, seed=seed_of(name, dtype))
    out = _sentinel_out(_result_shape(name, SHAPE, axis), dtype, out_layout)
    got = check(name, arrays, backend=backend, axis=axis, out=out)
    assert got is out
    # Written in full, and exactly what the call without out= returns.
    fresh = call(name, *arrays, backend=backend, **_kwargs(name, axis))
    np.testing.assert_array_equal(out, fresh)
    assert not np.shares_memory(fresh, arrays[0])


@pytest.mark.parametrize("axis", AXES, ids=axis_id)
def test_logsumexp_out_keepdims(axis, backend):
    x = inputs_for("logsumexp", SHAPE, "float64", seed=1)[0]
    out = _sentinel_out(_result_shape("logsumexp", SHAPE, axis, keepdims=True), "float64", "F")
    got = check("logsumexp", (x,), backend=backend, axis=axis, keepdims=True, out=out)
    assert got is out


@pytest.mark.parametrize("name", MASKED)
def test_out_with_where(name, rng, backend):
    x = inputs_for(name, SHAPE, "float32", kind="nonfinite", seed=2)[0]
    where = rng.random(SHAPE) < 0.5
    out = _sentinel_out(_result_shape(name, SHAPE, 1), "float32", "strided")
    assert check(name, (x,), backend=backend, axis=1, where=where, out=out) is out


def test_out_as_one_tuple(backend):
    """Like NumPy ufuncs, ``out=(array,)`` is accepted."""
    x = np.linspace(-3, 3, 12).reshape(3, 4)
    out = np.empty_like(x)
    got = call("softmax", x, out=(out,), backend=backend)
    assert got is out
    np.testing.assert_array_equal(out, call("softmax", x, backend=backend))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("layout", ["C", "F", "strided", "negative", "transposed"])
@pytest.mark.parametrize(("name", "axis"), function_axes(IN_PLACE, [-1, 0, 1, (0, 2), None]))
def test_in_place(name, axis, layout, dtype, backend):
    x = inputs_for(name, SHAPE, dtype, layout, kind="nonfinite", seed=seed_of(name, layout))[0]
    original = x.copy()
    exact, scale, result = expected(name, (original,), axis=axis)
    got = call(name, x, out=x, backend=backend, **_kwargs(name, axis))
    assert got is x
    assert_matches(x, exact, scale, result, what=f"{name} in place")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(ELEMENTWISE - set(BACKWARD)))
def test_elementwise_in_place_across_blocks(name, dtype, backend):
    """In place over many blocks and tasks: the element-wise kernels take a
    block's exps first and then write the block, so each block must read
    its input before writing over it.  Bit for bit the result out of place
    (the same arithmetic)."""
    x = inputs_for(name, (20011,), dtype, kind="nonfinite", seed=seed_of(name, dtype))[0]
    want = call(name, x, backend=backend)
    got = call(name, x, out=x, backend=backend)
    assert got is x
    np.testing.assert_array_equal(x, want)


@pytest.mark.parametrize("shape", [(7, 700), (300, 10)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_where_in_place(name, dtype, shape, rng, backend):
    """where= with out= the input, rows of several 256-element blocks: the
    masked kernels write a block's exps straight into out only when out is
    not the input; and short rows, whose blocks read a masked copy.  Bit for
    bit the result out of place."""
    x = inputs_for(name, shape, dtype, seed=seed_of(name, dtype))[0]
    where = rng.random(x.shape) < 0.8
    want = call(name, x, axis=1, where=where, backend=backend)
    got = call(name, x, axis=1, where=where, out=x, backend=backend)
    assert got is x
    np.testing.assert_array_equal(x, want)


@pytest.mark.parametrize("which", ["y", "dy"])
@pytest.mark.parametrize("layout", ["C", "F", "negative"])
@pytest.mark.parametrize(("name", "axis"), function_axes(BACKWARD, [-1, 0, (0, 2)]))
def test_backward_in_place(name, axis, layout, which, backend):
    y, dy = inputs_for(name, SHAPE, "float64", layout, axis=axis, seed=seed_of(name, which))
    exact, scale, result = expected(name, (y.copy(), dy.copy()), axis=axis)
    target = y if which == "y" else dy
    got = call(name, y, dy, out=target, backend=backend, **_kwargs(name, axis))
    assert got is target
    assert_matches(target, exact, scale, result, what=f"{name} out={which}")


def test_in_place_dtype_must_match(backend):
    """An int input cannot hold its float64 result: out=x is a dtype error."""
    x = np.arange(6).reshape(2, 3)
    with pytest.raises(TypeError, match="'out' has dtype int64, expected float64"):
        call("softmax", x, out=x, backend=backend)
    np.testing.assert_array_equal(x, np.arange(6).reshape(2, 3))


# Partial overlaps: ``x`` and ``out`` are different views of one buffer.
def _overlaps(shape):
    """(x index, out index) pairs into a buffer one longer than ``shape`` on an axis."""
    rows, cols = shape
    return {
        "shift-rows-forward": ((slice(0, rows), slice(0, cols)), (slice(1, rows + 1),
                                                                  slice(0, cols))),
        "shift-rows-back": ((slice(1, rows + 1), slice(0, cols)), (slice(0, rows),
                                                                   slice(0, cols))),
        "shift-cols": ((slice(0, rows), slice(0, cols)), (slice(0, rows), slice(1, cols + 1))),
        "reversed": ((slice(0, rows), slice(0, cols)), (slice(rows - 1, None, -1),
                                                        slice(0, cols))),
    }


@pytest.mark.parametrize("overlap", list(_overlaps((6, 5))))
@pytest.mark.parametrize(("name", "axis"), function_axes(IN_PLACE, [-1, 0]))
def test_partial_overlap(name, axis, overlap, rng, backend):
    shape = (6, 5)
    x_index, out_index = _overlaps(shape)[overlap]
    buf = 3 * rng.standard_normal((shape[0] + 1, shape[1] + 1))
    x, out = buf[x_index], buf[out_index]
    assert np.shares_memory(x, out) and not (x.shape == out.shape and x.strides == out.strides
                                             and x.ctypes.data == out.ctypes.data)
    exact, scale, result = expected(name, (x.copy(),), axis=axis)
    got = call(name, x, out=out, backend=backend, **_kwargs(name, axis))
    assert got is out
    assert_matches(out, exact, scale, result, what=f"{name} overlap {overlap}")


def _contiguous_inputs(name, shape, rng):
    """(inputs, buffer): the first input a C-contiguous view at the start of a
    1-D buffer with room for ``out`` views shifted along it."""
    size = int(np.prod(shape))
    buf = 3 * rng.standard_normal(2 * size + 8)
    if name in BACKWARD:
        buf[:size] = rng.random(size)  # y, a forward result
        return (buf[:size].reshape(shape), rng.standard_normal(shape)), buf
    return (buf[:size].reshape(shape),), buf


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shift", [1, 5, -1, -3])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_contiguous_partial_overlap(name, shift, dtype, rng, backend):
    """Every array C-contiguous, out a shifted view of the same buffer as the
    first input (ahead of it or behind it, by less than a row or more): the
    short path must see the overlap and leave the call to the general one,
    which computes from the input as it was.  (logsumexp's out is smaller
    than its input and starts inside it.)"""
    shape = (4, 7)
    inputs, buf = _contiguous_inputs(name, shape, rng)
    buf = buf.astype(dtype)
    start = 8 if shift < 0 else 0
    size = int(np.prod(shape))
    first = buf[start:start + size].reshape(shape)
    inputs = (first,) + tuple(a.astype(dtype) for a in inputs[1:])
    result_shape = shape[:-1] if name == "logsumexp" else shape
    o = start + shift
    out = buf[o:o + int(np.prod(result_shape))].reshape(result_shape)
    assert out.flags.c_contiguous and np.shares_memory(out, first)
    exact, scale, result = expected(name, tuple(a.copy() for a in inputs))
    got = call(name, *inputs, out=out, backend=backend)
    assert got is out
    assert_matches(out, exact, scale, result, what=f"{name} out shifted by {shift}")


@pytest.mark.parametrize("name", [f for f in FUNCTIONS if f != "logsumexp"])
def test_out_is_another_view_of_an_input(name, rng, backend):
    """out a different ndarray over exactly the first input's memory (or,
    for backward passes, dy's): computed as in place."""
    shape = (5, 6)
    inputs, _ = _contiguous_inputs(name, shape, rng)
    which = 1 if name in BACKWARD else 0
    out = inputs[which].view()
    assert out is not inputs[which] and out.ctypes.data == inputs[which].ctypes.data
    exact, scale, result = expected(name, tuple(a.copy() for a in inputs))
    got = call(name, *inputs, out=out, backend=backend)
    assert got is out
    assert_matches(out, exact, scale, result, what=f"{name} into a view of input {which}")


@pytest.mark.parametrize("which", ["y", "dy"])
@pytest.mark.parametrize("name", list(BACKWARD))
def test_backward_partial_overlap(name, which, rng, backend):
    buf = rng.random((7, 5))
    other = rng.standard_normal((6, 5))
    y, dy = (buf[:-1], other) if which == "y" else (other, buf[:-1])
    out = buf[1:]
    exact, scale, result = expected(name, (y.copy(), dy.copy()))
    got = call(name, y, dy, out=out, backend=backend)
    assert got is out
    assert_matches(out, exact, scale, result, what=f"{name} overlapping {which}")


def test_logsumexp_out_overlaps_input(rng, backend):
    buf = 3 * rng.standard_normal((5, 7))
    out = buf[:, 3]  # the result lands on a column of the input
    exact, scale, result = expected("logsumexp", (buf.copy(),))
    got = call("logsumexp", buf, out=out, backend=backend)
    assert got is out
    assert_matches(out, exact, scale, result, what="logsumexp into its own column")


def _spy_on_fresh(kernels, name, which, monkeypatch):
    """Replace ``kernels.<name>`` (and ``kernels.whole`` where there is one)
    by a spy that records, per call, whether the kernel was told ``fresh``
    and whether its out is memory the caller did not give (``which[0]``, set
    before each call)."""
    original = getattr(kernels, name)
    seen = []

    def record(out, fresh):
        given = which[0]
        seen.append((bool(fresh), given is None or not np.shares_memory(out, given)))

    def spy_keyword(*args, fresh=False):  # the backend interface (fastsoft._api)
        record(args[-2], fresh)
        return original(*args, fresh=fresh)

    def spy_positional(*args):  # the compiled Cython module, called by its wrappers
        record(args[-3], args[-1])
        return original(*args)

    monkeypatch.setattr(kernels, name, spy_positional if which[1] else spy_keyword)
    original_whole = getattr(kernels, "whole", None)
    if original_whole is not None:  # whole arrays in one call: (op, x, dy, out, n, nthreads, fresh)

        def spy_whole(op, x, dy, out, n, nthreads, fresh):
            done = original_whole(op, x, dy, out, n, nthreads, fresh)
            if done and op == name:  # declined calls go on to the kernel spied on above
                record(out, fresh)
            return done

        monkeypatch.setattr(kernels, "whole", spy_whole)
    return seen


@pytest.mark.parametrize("layer", ["numba", "cython"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_kernels_are_told_whether_out_is_fresh(name, layer, monkeypatch):
    """A CPU kernel gets fresh=True exactly when the out it writes was
    allocated for the call, not given by the caller (the Cython kernels then
    write large results with plain stores instead of streaming ones): with
    and without out=, by the short path (C-contiguous) and the general one
    (Fortran-ordered input, a strided out=).  For Cython, the spy sits on the
    compiled module, so the wrappers must pass fresh on."""
    import fastsoft
    from fastsoft import _config

    if layer not in fastsoft.backends():
        pytest.skip(f"the {layer} backend is not available")
    if layer == "cython":
        from fastsoft import _cython

        kernels = _cython._impl or _cython._load()
    else:
        kernels = _config.load_backend(layer)
    which = [None, layer == "cython"]
    seen = _spy_on_fresh(kernels, name, which, monkeypatch)
    kwargs = _kwargs(name, -1)
    shape = _result_shape(name, SHAPE, -1)
    for layout in ("C", "F"):
        arrays = inputs_for(name, SHAPE, "float64", layout, seed=seed_of("fresh", name, layout))
        for out in (None, np.empty(shape), np.empty(shape + (2,))[..., 0]):
            which[0] = out
            getattr(fastsoft, name)(*arrays, out=out, backend=layer, **kwargs)
    assert len(seen) == 6
    assert [fresh for fresh, _ in seen] == [allocated for _, allocated in seen]
    assert {fresh for fresh, _ in seen} == {True, False}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_cython_short_path_takes_whole_arrays(name, dtype, monkeypatch):
    """The Cython backend's short path (``whole``) computes C-contiguous calls
    along the last axis itself, with and without out=, in place too, and
    declines (for the general way) an out= that partially overlaps an input
    or is not C-contiguous: what keeps small calls at a few microseconds."""
    import fastsoft

    if "cython" not in fastsoft.backends():
        pytest.skip("the cython backend is not available")
    from fastsoft import _cython

    kernels = _cython._impl or _cython._load()
    original = kernels.whole
    answers = []

    def spy(op, *args):
        done = original(op, *args)
        answers.append((op, done))
        return done

    monkeypatch.setattr(kernels, "whole", spy)
    arrays = inputs_for(name, SHAPE, dtype, seed=seed_of("whole", name, dtype))
    shape = _result_shape(name, SHAPE, -1)
    kwargs = dict(_kwargs(name, -1), backend="cython")
    expect = [True, True]
    getattr(fastsoft, name)(*arrays, **kwargs)
    getattr(fastsoft, name)(*arrays, out=np.empty(shape, dtype), **kwargs)
    if name in IN_PLACE:
        getattr(fastsoft, name)(*arrays, out=arrays[0], **kwargs)
        expect.append(True)
    size = int(np.prod(shape))
    buf = np.zeros(arrays[0].size + size, dtype)
    buf[1:1 + arrays[0].size] = arrays[0].ravel()
    first = buf[1:1 + arrays[0].size].reshape(SHAPE)
    getattr(fastsoft, name)(first, *arrays[1:], out=buf[:size].reshape(shape), **kwargs)
    getattr(fastsoft, name)(*arrays, out=np.empty(shape + (2,), dtype)[..., 0], **kwargs)
    expect += [False, False]
    assert answers == [(name, done) for done in expect]


# --------------------------------------------------------------------------
# Errors: each leaves ``out`` untouched.


def _error_cases(name):
    shape = _result_shape(name, SHAPE, -1)
    wrong_shape = shape[:-1] + (shape[-1] + 1,)
    return {
        "shape": (np.full(wrong_shape, SENTINEL), ValueError,
                  re.escape(f"'out' has shape {wrong_shape}, expected {shape}")),
        "transposed-shape": (np.full(shape[::-1], SENTINEL), ValueError, "'out' has shape"),
        "dtype": (np.full(shape, SENTINEL, np.float32), TypeError,
                  "'out' has dtype float32, expected float64"),
        "int-dtype": (np.full(shape, -1, np.int64), TypeError,
                      "'out' has dtype int64, expected float64"),
        "readonly": (arrange(np.full(shape, SENTINEL), "readonly"), ValueError,
                     "'out' is read-only"),
        "list": ([SENTINEL] * shape[-1], TypeError, "'out' must be a numpy.ndarray"),
    }


@pytest.mark.parametrize("case", list(_error_cases("softmax")))
@pytest.mark.parametrize("name", FUNCTIONS)
def test_out_errors(name, case, backend):
    arrays = inputs_for(name, SHAPE, "float64", seed=3)
    out, error, message = _error_cases(name)[case]
    before = np.array(out, copy=True)
    with pytest.raises(error, match=message):
        call(name, *arrays, out=out, backend=backend)
    np.testing.assert_array_equal(out, before)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_out_float16_result_needs_float16_out(name, backend):
    arrays = inputs_for(name, SHAPE, "float16", seed=4)
    out = np.full(_result_shape(name, SHAPE, -1), SENTINEL, np.float32)
    with pytest.raises(TypeError, match="'out' has dtype float32, expected float16"):
        call(name, *arrays, out=out, backend=backend)
    assert np.all(out == SENTINEL)


def test_out_with_dtype_override(backend):
    x = np.linspace(-2, 2, 8, dtype=np.float16).reshape(2, 4)
    out = np.empty((2, 4), np.float32)
    got = check("softmax", (x,), backend=backend, dtype=np.float32, out=out)
    assert got is out
    with pytest.raises(TypeError, match="'out' has dtype float32, expected float64"):
        call("softmax", x, dtype=np.float64, out=out, backend=backend)


def test_logsumexp_keepdims_out_shape(backend):
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match=re.escape("'out' has shape (3,), expected (3, 1)")):
        call("logsumexp", x, keepdims=True, out=np.empty(3), backend=backend)
    with pytest.raises(ValueError, match=re.escape("'out' has shape (3, 4), expected (3,)")):
        call("logsumexp", x, out=np.empty((3, 4)), backend=backend)


# Failing calls with a valid out= (including out = the input): nothing is written.
def _bad_calls(name):
    cases = {
        "axis": ({"axis": 3}, np.exceptions.AxisError, "axis 3 is out of bounds"),
        "repeated-axis": ({"axis": (0, -3)}, ValueError, "repeated axis"),
        "dtype": ({"dtype": "int32"}, TypeError, "'dtype' must be float16, float32 or float64"),
        "backend": ({"backend": "nope"}, ValueError, "unknown backend 'nope'"),
    }
    if name in MASKED:
        cases["where-dtype"] = ({"where": np.ones(SHAPE, int)}, TypeError,
                                "'where' must be a boolean array")
        cases["where-shape"] = ({"where": np.ones((4,), bool)}, ValueError,
                                "'where' of shape")
    if name in BACKWARD:
        cases = {k: v for k, v in cases.items() if k not in ("dtype",)}
        cases["dy-shape"] = ({"dy": np.ones((5, 7, 1))}, ValueError,
                             "'y' and 'dy' must have the same shape")
    if name in ELEMENTWISE:
        cases = {k: v for k, v in cases.items() if "axis" not in k}
    return cases


BAD_CALLS = [
    pytest.param(name, case, in_place, id=f"{name}-{case}-{'out=input' if in_place else 'out'}")
    for name in FUNCTIONS
    for case in _bad_calls(name)
    # logsumexp's result does not have the input's shape: it cannot be in place.
    for in_place in ([False] if name == "logsumexp" else [False, True])
]


@pytest.mark.parametrize(("name", "case", "in_place"), BAD_CALLS)
def test_errors_write_nothing(name, case, in_place, backend):
    kwargs, error, message = _bad_calls(name)[case]
    arrays = list(inputs_for(name, SHAPE, "float64", seed=5))
    if "dy" in kwargs:
        arrays[1] = kwargs.pop("dy")
    out = arrays[0] if in_place else np.full(_result_shape(name, SHAPE, -1), SENTINEL)
    before = out.copy()
    kwargs = {"backend": backend, **kwargs}
    with pytest.raises(error, match=message):
        call(name, *arrays, out=out, **kwargs)
    np.testing.assert_array_equal(out, before)
