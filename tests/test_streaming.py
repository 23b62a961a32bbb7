"""Streaming stores in the Cython backend: the same bits as plain stores.

Large results of the memory-bound kernels (float32 sigmoid, sigmoid_backward,
softmax_backward, along any axis, and softmax and log_softmax along a
non-last axis) are
computed into an L1 buffer and written out with
non-temporal stores (fastsoft/_cython/fs_platform.h).  Only results of 16 MB
and more take that path by default; here the threshold is set to 0, so that
small arrays run it at every alignment of ``out``, with chunk tails, split
rows and several threads, and each result must equal, bit for bit, the one
the plain stores give (and match the reference).
"""

import numpy as np
import pytest

import fastsoft
from tests.util import (
    ELEMENTWISE,
    IN_PLACE,
    KINDS,
    assert_matches,
    call,
    expected,
    inputs_for,
    seed_of,
)

pytestmark = pytest.mark.skipif("cython" not in fastsoft.backends(),
                                reason="the Cython backend is not built")

STREAMED = ("sigmoid", "sigmoid_backward", "softmax_backward", "softmax", "log_softmax")
# A chunk is 1024 elements and an element-wise task 8192: shorter than one
# chunk, chunks with a tail, several tasks (and rows of the row path).
SHAPES = {
    "elementwise": ((1000,), (3, 1001), (2, 8200)),
    "rows": ((3, 1000), (2, 2500), (1, 5000)),
    # Along axis 0: chunks of at most 1024 columns, one with a tail.
    "columns": ((300, 40), (50, 2100)),
}
# Elements by which out starts after a 64-byte boundary of its buffer.
OFFSETS = (0, 1, 5)


def _out_at(shape, dtype, offset):
    """A NaN-filled array of `shape` starting `offset` elements past a 64-byte
    boundary."""
    size = int(np.prod(shape))
    itemsize = np.dtype(dtype).itemsize
    raw = np.full(size + 64 // itemsize + offset, np.nan, dtype=dtype)
    skip = (-raw.ctypes.data % 64) // itemsize
    return raw[skip + offset:skip + offset + size].reshape(shape)


def _axis(name):
    return 0 if name in ("softmax", "log_softmax") else -1


def _run(cython, name, arrays, out, stream_min_bytes):
    previous = cython.set_stream_min_bytes(stream_min_bytes)
    try:
        kwargs = {} if name in ELEMENTWISE else {"axis": _axis(name)}
        return call(name, *arrays, out=out, backend="cython", **kwargs)
    finally:
        cython.set_stream_min_bytes(previous)


def assert_same(got, want):
    """Equal bit for bit (so the sign of a zero counts), NaN where NaN: the
    sign and payload of a NaN are not part of any result (compiled loops
    with and without vectors can give a NaN different signs)."""
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan)
    bits = np.uint32 if want.dtype == np.float32 else np.uint64
    np.testing.assert_array_equal(got.view(bits)[~nan], want.view(bits)[~nan])


def _cases():
    for name in STREAMED:
        group = ("elementwise" if name in ELEMENTWISE
                 else "columns" if _axis(name) == 0 else "rows")
        for shape in SHAPES[group]:
            yield pytest.param(name, shape, id=f"{name}-{'x'.join(map(str, shape))}")


@pytest.mark.parametrize("offset", OFFSETS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("name", "shape"), list(_cases()))
def test_streamed_result_is_the_plain_result(cython_variant, name, shape, dtype, kind, offset):
    arrays = inputs_for(name, shape, dtype, kind=kind,
                        seed=seed_of(name, shape, dtype, kind))
    plain = _run(cython_variant, name, arrays, _out_at(shape, dtype, offset), 2**62)
    streamed = _run(cython_variant, name, arrays, _out_at(shape, dtype, offset), 0)
    assert_same(streamed, plain)
    exact, scale, result = expected(name, arrays, axis=_axis(name))
    assert_matches(streamed, exact, scale, result, what=f"{name} streamed")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", [n for n in STREAMED if n in IN_PLACE])
def test_streamed_in_place(cython_variant, name, dtype):
    (x,) = inputs_for(name, (3, 1001), dtype, kind="nonfinite", seed=seed_of(name, dtype))
    plain = _run(cython_variant, name, (x,), np.empty_like(x), 2**62)
    previous = cython_variant.set_stream_min_bytes(0)
    try:
        kwargs = {} if name in ELEMENTWISE else {"axis": _axis(name)}
        result = getattr(fastsoft, name)(x, out=x, backend="cython", **kwargs)
    finally:
        cython_variant.set_stream_min_bytes(previous)
    assert result is x
    assert_same(x, plain)


# Along a middle axis: several (outer) blocks of several column chunks each,
# so that a thread's run of chunks (cols_pipelined) crosses from one block to
# the next; and columns longer than its buffer of exps holds (softmax's
# other streaming path).
LONG_COLUMNS = 8200


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("shape", "axis"), [((3, 50, 2100), 1), ((LONG_COLUMNS, 20), 0)])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_streamed_columns_of_other_shapes(cython_variant, name, shape, axis, dtype):
    (x,) = inputs_for(name, shape, dtype, kind="nonfinite", seed=seed_of(name, shape, dtype))
    outs = []
    for nbytes in (2**62, 0):
        previous = cython_variant.set_stream_min_bytes(nbytes)
        try:
            outs.append(call(name, x, axis=axis, out=_out_at(x.shape, dtype, 1),
                             backend="cython"))
        finally:
            cython_variant.set_stream_min_bytes(previous)
    assert_same(outs[1], outs[0])
    exact, scale, result = expected(name, (x,), axis=axis)
    assert_matches(outs[1], exact, scale, result, what=f"{name} streamed")


# softmax_backward by bands of rows (see tests/test_bands.py), whose rows of
# 2 KB and more stream: rows across two pieces of 1024 columns (the float32
# choice of lanes is per piece, the chunks of the stream start on out's cache
# lines), a second group of columns too short to stream, several slabs, and
# rows that stream in float64 only.
BAND_SHAPES = [((9, 1100), 0), ((37, 8200), 0), ((3, 20, 1100), 1), ((9, 300), 0)]


@pytest.mark.parametrize("offset", OFFSETS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("shape", "axis"), BAND_SHAPES)
def test_streamed_bands(cython_variant, shape, axis, dtype, kind, offset):
    name = "softmax_backward"
    arrays = inputs_for(name, shape, dtype, kind=kind, axis=axis,
                        seed=seed_of(name, shape, dtype, kind))
    outs = []
    previous = cython_variant.set_band_mode(1)
    try:
        for nbytes in (2**62, 0):
            previous_bytes = cython_variant.set_stream_min_bytes(nbytes)
            try:
                outs.append(call(name, *arrays, axis=axis, out=_out_at(shape, dtype, offset),
                                 backend="cython"))
            finally:
                cython_variant.set_stream_min_bytes(previous_bytes)
    finally:
        cython_variant.set_band_mode(previous)
    assert_same(outs[1], outs[0])
    exact, scale, result = expected(name, arrays, axis=axis)
    assert_matches(outs[1], exact, scale, result, what=f"{name} streamed bands")


def test_threshold_is_settable_and_restored():
    if "cython" not in fastsoft.backends():
        pytest.skip("the Cython backend is not built")
    from fastsoft import _cython

    default = _cython.set_stream_min_bytes(123)
    try:
        assert default == 2**24
        assert _cython.set_stream_min_bytes(0) == 123
    finally:
        _cython.set_stream_min_bytes(default)
    assert _cython.set_stream_min_bytes(default) == default
